"""Memory building: ingestion, segmentation, consolidation, facts, upkeep."""

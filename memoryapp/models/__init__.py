"""Database models, one module per area (conversation, memory)."""

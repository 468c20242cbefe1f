"""Runs memoryapp and its tests on one machine, with embedded Postgres and Redis."""

"""Writes and side effects: service functions named `<entity>_<verb>`."""

"""Redis clients for the app's own keys: one per URL and process, with short timeouts.

A client holds a connection pool, so building one per call would open a connection per call
(the stop flag is read five times a second while an answer is written). redis-py resets a
pool inherited through a fork, so a cached client is safe in Celery's worker processes.
"""

from __future__ import annotations

from functools import lru_cache

import redis

# A hung Redis (one that accepts and never answers) holds a person's request or a worker's
# answer this long per attempt, then the caller's fallback takes over.
TIMEOUT_SECONDS = 2


@lru_cache(maxsize=8)
def redis_client(url: str) -> redis.Redis:
    """The client of the Redis at `url` (keyed by URL: tests point the app at other ones)."""
    return redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )

"""`python -m memoryapp.devstack.scratch_guard DIRECTORY POSTGRES_PORT [REDIS_PORT]`: removes
scratch servers (`memoryapp.devstack.scratch`) once the process that started them is gone,
however it went.

`make manage` runs a command under `subprocess.run`, which answers Ctrl-C by killing its
child outright, so the command's own clean-up may never run; the servers (which start in
sessions of their own) would then keep running with gigabytes of data. The command starts
this guard in a new session, out of reach of the terminal's Ctrl-C, with the read end of a
pipe as its stdin. The pipe reaches end of file when the command closes its end or dies;
the guard then stops the servers and deletes the directory, if the command has not already.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from pathlib import Path

from memoryapp.devstack.services import EmbeddedPostgres, EmbeddedRedis, ServiceError

POSTGRES_DIR = "postgres"
REDIS_DIR = "redis"


def remove_scratch(directory: Path, postgres_port: int, redis_port: int | None = None) -> None:
    """Stop the scratch servers in `directory` if they still run, then delete the directory."""
    if not directory.exists():
        return
    if redis_port is not None:
        with contextlib.suppress(ServiceError):
            EmbeddedRedis(directory / REDIS_DIR, redis_port).stop()
    EmbeddedPostgres(directory / POSTGRES_DIR, postgres_port).stop()
    shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    directory, postgres_port = Path(argv[0]), int(argv[1])
    redis_port = int(argv[2]) if len(argv) > 2 and argv[2] else None
    sys.stdin.buffer.read()  # returns at end of file: the command has finished or died
    remove_scratch(directory, postgres_port, redis_port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

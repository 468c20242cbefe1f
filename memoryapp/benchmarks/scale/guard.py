"""`python -m memoryapp.benchmarks.scale.guard DIRECTORY PORT`: removes a scratch Postgres
once the process that started it is gone, however it went.

`make manage` runs the command under `subprocess.run`, which answers Ctrl-C by killing its
child outright, so the command's own clean-up may never run; the server (which pg_ctl starts
in a session of its own) would then keep running with gigabytes of data. The command starts
this guard in a new session, out of reach of the terminal's Ctrl-C, with the read end of a
pipe as its stdin. The pipe reaches end of file when the command closes its end or dies;
the guard then stops the server and deletes the directory, if the command has not already.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from memoryapp.devstack.services import EmbeddedPostgres

DATA_DIR_NAME = "postgres"


def remove_scratch(directory: Path, port: int) -> None:
    """Stop the scratch server in `directory` if it still runs, then delete the directory."""
    if not directory.exists():
        return
    EmbeddedPostgres(directory / DATA_DIR_NAME, port).stop()
    shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    directory, port = Path(argv[0]), int(argv[1])
    sys.stdin.buffer.read()  # returns at end of file: the benchmark has finished or died
    remove_scratch(directory, port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

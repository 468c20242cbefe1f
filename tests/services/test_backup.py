"""Backup and restore (`manage.py backup` / `restore`, memoryapp/services/backup.py) on the real
embedded Postgres: the test database is the installation backed up, each restore goes into a
scratch database of its own on the same server, and the commands run as processes of their
own, as a person runs them (`DATABASE_URL` says which database)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from psycopg import sql

from memoryapp.models import Message, Passage, Segment
from memoryapp.services.backup import MANIFEST, BackupError, backup_read
from memoryapp.services.imports import (
    ImportedConversation,
    ImportedHistory,
    ImportedMessage,
    history_import,
)
from tests.support.household import ALICE, BOB, person_data
from tests.support.workers import PROJECT_DIR, subprocess_database_url, subprocess_environ

pytestmark = pytest.mark.timeout(600)

SAID = (
    "I keep bees in my garden in Lisbon, three hives by the lemon tree.",
    "How lovely! Do they give much honey?",
    "About twenty kilos a year; my sister Ana sells it at the market in Porto.",
    "That is a good harvest.",
)
# Every table's rows in one order, as text (vectors included), hashed.
TABLE_HASH = "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} AS t"


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def scratch_databases() -> Iterator[list[str]]:
    """A function's worth of new, empty databases (URLs) on the test server; dropped after."""
    made: list[str] = []
    yield made
    admin = subprocess_database_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        for url in made:
            name = url.rsplit("/", 1)[1]
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _new_database(made: list[str]) -> str:
    name = f"restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(subprocess_database_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(subprocess_database_url(), name)
    made.append(url)
    return url


def _manage(
    *args: str, database_url: str | None = None, **variables: str
) -> subprocess.CompletedProcess[str]:
    env = subprocess_environ(MEMORY_LLM="off", **variables)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _table_hashes(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1"
        ).fetchall()
        hashes = {}
        for (name,) in tables:
            row = conn.execute(sql.SQL(TABLE_HASH).format(sql.Identifier(name))).fetchone()
            assert row is not None
            hashes[name] = row[0]
        return hashes


def _tables_of(url: str) -> list[str]:
    return list(_table_hashes(url))


@pytest.fixture
def household(transactional_db: None, settings: Any) -> dict[str, User]:
    """alice, whose memory of her bees was built by the pipeline (real vectors), and bob; both
    with a row of every kind a person owns (household data, fixed vectors)."""
    settings.MEMORY_LLM = "off"
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    turns = tuple(
        ImportedMessage(
            role="user" if number % 2 == 0 else "assistant",
            speaker="alice" if number % 2 == 0 else "assistant",
            content=text,
            created_at=start + timedelta(minutes=number),
            external_id=f"turn-{number}",
            by_person=number % 2 == 0,
        )
        for number, text in enumerate(SAID)
    )
    alice = history_import(
        history=ImportedHistory(
            username="alice", conversations=(ImportedConversation("Bees", turns),)
        )
    ).user
    bob = User.objects.create_user("bob", password="a long test passphrase 16")
    person_data(alice, ALICE)
    person_data(bob, BOB)
    assert Segment.objects.filter(owner=alice, key_embedding__isnull=False).exists()
    return {"alice": alice, "bob": bob}


@pytest.fixture
def backup(household: dict[str, User], tmp_path: Path) -> Path:
    out = tmp_path / "backups" / "2026-12-03"
    result = _manage("backup", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"to {out} (" in result.stdout
    return out


def test_backup_writes_the_dump_the_exports_and_a_manifest_of_one_snapshot(
    backup: Path, household: dict[str, User]
) -> None:
    manifest = backup_read(backup)

    assert manifest.postgres_version.startswith("18.")
    assert manifest.pgvector_version
    assert manifest.migrations["memoryapp"][0] == "0001_extensions"
    assert manifest.tables["auth_user"] == 2
    assert manifest.tables["memoryapp_message"] == Message.objects.count()
    assert manifest.tables["memoryapp_passage"] == Passage.objects.count()
    assert [entry.username for entry in manifest.exports] == ["alice", "bob"]
    alice_export = json.loads((backup / manifest.exports[0].path).read_text())
    assert alice_export["format"] == "memoryapp-export"
    assert SAID[0] in json.dumps(alice_export)
    assert (backup / manifest.database.path).stat().st_size == manifest.database.size
    assert oct(backup.stat().st_mode & 0o777) == "0o700"


def test_the_manifest_lists_the_model_files_and_restore_names_those_missing(
    household: dict[str, User], tmp_path: Path, scratch_databases: list[str]
) -> None:
    """Listed, not copied: a hub download (a link into the hub's cache) once, a file of the
    person's own; their checksums unless --no-model-checksums."""
    models = tmp_path / "models"
    blob = models / "models--org--tiny-GGUF" / "blobs" / "0123abcd"
    snapshot = models / "models--org--tiny-GGUF" / "snapshots" / "main"
    blob.parent.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    blob.write_bytes(b"GGUF" + bytes(1000))
    (snapshot / "tiny.Q4_K_M.gguf").symlink_to(blob)
    (models / "own.gguf").write_bytes(b"GGUF" + bytes(10))
    made = _manage("backup", "--out", str(tmp_path / "full"), LLM_MODEL_DIR=str(models))
    sizes_only = _manage(
        "backup", "--out", str(tmp_path / "sizes"), "--no-model-checksums",
        LLM_MODEL_DIR=str(models),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert sizes_only.returncode == 0, sizes_only.stderr

    listed = backup_read(tmp_path / "full").models
    assert [(Path(model.path).name, model.size, model.sha256) for model in listed] == [
        ("tiny.Q4_K_M.gguf", 1004, hashlib.sha256(blob.read_bytes()).hexdigest()),
        ("own.gguf", 14, hashlib.sha256(b"GGUF" + bytes(10)).hexdigest()),
    ]
    assert [model.sha256 for model in backup_read(tmp_path / "sizes").models] == [None, None]
    (tmp_path / "no-models").mkdir()
    restored = _manage(
        "restore", str(tmp_path / "full"),
        database_url=_new_database(scratch_databases), LLM_MODEL_DIR=str(tmp_path / "no-models"),
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert f"Model file not found here: {models / 'own.gguf'} (14 bytes)" in restored.stdout


def test_backup_wipe_restore_gives_identical_rows_and_a_working_chat(
    backup: Path, scratch_databases: list[str]
) -> None:
    source = _table_hashes(subprocess_database_url())
    target = _new_database(scratch_databases)

    restored = _manage("restore", str(backup), database_url=target)

    assert restored.returncode == 0, restored.stderr
    assert "every table's row count matches the manifest" in restored.stdout
    assert _table_hashes(target) == source
    chat = subprocess.run(
        [sys.executable, "-m", "tests.support.restored_chat", "alice", "What is in my garden?"],
        cwd=PROJECT_DIR,
        env={**subprocess_environ(MEMORY_LLM="off"), "DATABASE_URL": target},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert chat.returncode == 0, chat.stderr
    answered = json.loads(chat.stdout.strip().splitlines()[-1])
    assert answered["status"] == "done"
    assert answered["content"] == "You keep bees."
    # The model was shown the restored memory, and the answer cites the restored turn.
    assert "three hives by the lemon tree" in answered["prompt"]
    first_turn = Message.objects.get(external_id="turn-0")
    assert str(first_turn.pk) in answered["cited_messages"]


def test_restore_refuses_a_database_with_accounts_and_changes_nothing(backup: Path) -> None:
    before = _table_hashes(subprocess_database_url())

    refused = _manage("restore", str(backup))

    assert refused.returncode != 0
    assert "The database already holds data (2 account(s))" in refused.stderr
    assert "--force" in refused.stderr
    assert "Nothing was changed." in refused.stderr
    assert _table_hashes(subprocess_database_url()) == before


def test_restore_with_force_replaces_an_installation_in_use(
    backup: Path, scratch_databases: list[str]
) -> None:
    """The rollback after an upgrade: the backup from before it over the upgraded data."""
    target = _new_database(scratch_databases)
    assert _manage("restore", str(backup), database_url=target).returncode == 0
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("DELETE FROM memoryapp_passage")

    forced = _manage("restore", str(backup), "--force", database_url=target)

    assert forced.returncode == 0, forced.stderr
    assert _table_hashes(target) == _table_hashes(subprocess_database_url())


def test_restore_into_a_migrated_empty_installation(
    backup: Path, scratch_databases: list[str]
) -> None:
    """A new Docker stack has run `migrate` before the restore: tables, but no accounts."""
    target = _new_database(scratch_databases)
    assert _manage("migrate", database_url=target).returncode == 0

    restored = _manage("restore", str(backup), database_url=target)

    assert restored.returncode == 0, restored.stderr
    assert _table_hashes(target) == _table_hashes(subprocess_database_url())


def test_an_older_backup_is_migrated_forward(
    backup: Path, tmp_path: Path, scratch_databases: list[str]
) -> None:
    """A backup of an installation one migration behind this code (axes' last, which adds a
    table) is restored, then migrated to this code."""
    older = _new_database(scratch_databases)
    assert _manage("restore", str(backup), database_url=older).returncode == 0
    assert _manage("migrate", "axes", "0009", database_url=older).returncode == 0
    assert _manage("backup", "--out", str(tmp_path / "old"), database_url=older).returncode == 0
    assert "axes_accessattemptexpiration" not in backup_read(tmp_path / "old").tables
    target = _new_database(scratch_databases)

    restored = _manage("restore", str(tmp_path / "old"), database_url=target)

    assert restored.returncode == 0, restored.stderr
    assert "Migrated forward: axes.0010_accessattemptexpiration." in restored.stdout
    assert "axes_accessattemptexpiration" in _tables_of(target)
    check = _manage("migrate", "--check", database_url=target)
    assert check.returncode == 0, check.stdout
    # Every row as it was; django_migrations has axes 0010 applied anew (its id and time).
    restored_rows = _table_hashes(target)
    source_rows = _table_hashes(subprocess_database_url())
    del restored_rows["django_migrations"], source_rows["django_migrations"]
    assert restored_rows == source_rows


def _copy(backup: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(backup, copy)
    return copy


def _rewrite_manifest(directory: Path, **changes: Any) -> None:
    manifest = json.loads((directory / MANIFEST).read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key].update(value)
        else:
            manifest[key] = value
    (directory / MANIFEST).write_text(json.dumps(manifest))


def test_a_truncated_dump_is_refused_and_nothing_is_changed(
    backup: Path, tmp_path: Path, scratch_databases: list[str]
) -> None:
    copy = _copy(backup, tmp_path)
    dump = copy / "database.dump"
    size = dump.stat().st_size
    with dump.open("r+b") as file:
        file.truncate(size // 2)
    target = _new_database(scratch_databases)

    refused = _manage("restore", str(copy), database_url=target)

    assert refused.returncode != 0
    assert f"is {size // 2:,} bytes, the manifest says {size:,}" in refused.stderr
    assert "Nothing was changed." in refused.stderr
    assert _tables_of(target) == []


def test_a_dump_that_ends_early_rolls_everything_back(
    backup: Path, tmp_path: Path, scratch_databases: list[str]
) -> None:
    """Cut short before the manifest was written (so size and SHA-256 agree): pg_restore
    lists it, then meets the end of the file while psql is loading it. Over an installation
    in use (--force), its tables dropped in the same transaction come back too."""
    copy = _copy(backup, tmp_path)
    dump = copy / "database.dump"
    with dump.open("r+b") as file:
        file.truncate(dump.stat().st_size - 64)
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    _rewrite_manifest(copy, database={"size": dump.stat().st_size, "sha256": digest})
    target = _new_database(scratch_databases)
    assert _manage("restore", str(backup), database_url=target).returncode == 0
    before = _table_hashes(target)

    refused = _manage("restore", str(copy), "--force", database_url=target)

    assert refused.returncode != 0
    assert "pg_restore could not read" in refused.stderr
    assert "to its end (pg_restore: error: could not read from input file" in refused.stderr
    assert "the restore was rolled back. Nothing was changed." in refused.stderr
    assert _table_hashes(target) == before


def test_a_manifest_whose_counts_differ_from_the_dump_rolls_everything_back(
    backup: Path, tmp_path: Path, scratch_databases: list[str]
) -> None:
    copy = _copy(backup, tmp_path)
    _rewrite_manifest(copy, tables={"auth_user": 3})
    target = _new_database(scratch_databases)
    assert _manage("migrate", database_url=target).returncode == 0
    before = _table_hashes(target)

    refused = _manage("restore", str(copy), database_url=target)

    assert refused.returncode != 0
    assert (
        "rolled back (ERROR:  table auth_user has 2 rows after the restore, the manifest says 3)"
    ) in refused.stderr
    assert _table_hashes(target) == before


# What is wrong with a backup, and what the refusal says.
DAMAGES = {
    "missing directory": "is not a directory",
    "no manifest": "has no manifest.json: it is not a memoryapp backup",
    "manifest not JSON": "manifest.json cannot be read",
    "another format": "format: Input should be 'memoryapp-backup'",
    "dump missing": "database.dump is missing from the backup",
    "dump outside": "database.path: Value error, must be a path inside the backup directory",
    "dump altered": "does not have the SHA-256 the manifest gives",
    "tables differ": "The manifest and the dump name different tables",
    "newer migrations": "made by a newer memoryapp",
}


def _damage(copy: Path, damage: str) -> None:
    dump = copy / "database.dump"
    manifest = json.loads((copy / MANIFEST).read_text())
    if damage == "missing directory":
        shutil.rmtree(copy)
    elif damage == "no manifest":
        (copy / MANIFEST).unlink()
    elif damage == "manifest not JSON":
        (copy / MANIFEST).write_text("{not json")
    elif damage == "another format":
        _rewrite_manifest(copy, format="something-else")
    elif damage == "dump missing":
        dump.unlink()
    elif damage == "dump outside":
        _rewrite_manifest(copy, database={"path": "../copy-of-database.dump"})
    elif damage == "dump altered":
        data = bytearray(dump.read_bytes())
        data[-10] ^= 0xFF
        dump.write_bytes(bytes(data))
    elif damage == "tables differ":
        manifest["tables"]["memoryapp_unheard_of"] = 1
        (copy / MANIFEST).write_text(json.dumps(manifest))
    elif damage == "newer migrations":
        manifest["migrations"]["memoryapp"].append("9999_from_the_future")
        (copy / MANIFEST).write_text(json.dumps(manifest))


def test_bad_backups_are_refused_before_anything_is_touched(backup: Path, tmp_path: Path) -> None:
    """Each damage on a copy of one backup (making a backup per case costs seconds each)."""
    refusals = {}
    for number, damage in enumerate(DAMAGES):
        copy = tmp_path / f"damaged-{number}"
        shutil.copytree(backup, copy)
        _damage(copy, damage)
        with pytest.raises(BackupError, match="Nothing was changed") as refused:
            backup_read(copy)
        refusals[damage] = str(refused.value)

    for damage, message in DAMAGES.items():
        assert message in refusals[damage], damage


def test_backup_never_writes_into_a_directory_that_has_files(
    household: dict[str, User], tmp_path: Path
) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    refused = _manage("backup", "--out", str(out))

    assert refused.returncode != 0
    assert "exists and is not an empty directory" in refused.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken"]
    assert (out / "notes.txt").read_text() == "mine"

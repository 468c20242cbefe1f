"""`memory_export --user NAME --out FILE` writes the person's export, or says why not."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from tests.support.household import ALICE, BOB, PersonData

pytestmark = pytest.mark.django_db


def test_it_writes_the_users_export_to_the_file(
    alices: PersonData, bobs: PersonData, tmp_path: Path
) -> None:
    out = tmp_path / "alice.json"

    call_command("memory_export", "--user", "alice", "--out", str(out), stdout=io.StringIO())

    document = json.loads(out.read_text(encoding="utf-8"))
    assert (document["format"], document["version"]) == ("memoryapp-export", 1)
    assert [c["id"] for c in document["conversations"]] == [str(alices.conversation.pk)]
    text = out.read_text(encoding="utf-8")
    assert ALICE in text
    assert BOB not in text


def test_a_dash_writes_it_to_standard_output(alices: PersonData) -> None:
    stdout = io.StringIO()

    call_command("memory_export", "--user", "alice", "--out", "-", stdout=stdout)

    assert json.loads(stdout.getvalue())["user"]["username"] == "alice"


def test_an_unknown_user_is_refused_and_nothing_is_written(alice: User, tmp_path: Path) -> None:
    out = tmp_path / "nobody.json"

    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("memory_export", "--user", "nobody", "--out", str(out))

    assert not out.exists()

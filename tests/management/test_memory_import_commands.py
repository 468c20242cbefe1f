"""`memory_import json|chatgpt FILE --user NAME`: the Memory page's imports from the command
line, into an account created when missing; a bad file is refused before the account exists."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from memoryapp.models import Conversation, Fact, JobStatus, Message, Segment
from memoryapp.services.memory.export import memory_export
from tests.services.memory.test_importing import normalised, rich_memory
from tests.support.household import PersonData

pytestmark = pytest.mark.django_db

FIXTURE = (
    Path(__file__).parents[1] / "services" / "memory" / "fixtures" / "chatgpt_conversations.json"
)


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("memory_import", *args, stdout=out)
    return out.getvalue()


def _export_file(owner: User, path: Path) -> Path:
    path.write_text(json.dumps(memory_export(owner=owner)))
    return path


def test_json_restores_an_export_into_a_new_user(
    alice: User, alices: PersonData, tmp_path: Path
) -> None:
    rich_memory(alice, alices)
    original = memory_export(owner=alice)
    path = _export_file(alice, tmp_path / "alice.json")

    out = _run("json", str(path), "--user", "carol")

    carol = User.objects.get(username="carol")
    assert not carol.has_usable_password()
    assert "Created the user carol" in out
    assert "Imported into carol: 3 conversations, " in out
    restored = normalised(memory_export(owner=carol))
    expected = normalised(original)
    assert restored.pop("segments") != expected.pop("segments")  # one was consolidated since:
    assert restored == expected
    # what was pending when exported was built here.
    assert [s["job_status"] for s in original["segments"]] == ["done", "pending"]
    assert set(Segment.objects.filter(owner=carol).values_list("job_status", flat=True)) == {
        JobStatus.DONE
    }


def test_json_refuses_an_account_with_history_unless_merge(
    alice: User, alices: PersonData, bob: User, tmp_path: Path
) -> None:
    path = _export_file(alice, tmp_path / "alice.json")
    conversations = Conversation.objects.filter(owner=alice).count()

    with pytest.raises(CommandError, match="already has conversations or memories"):
        _run("json", str(path), "--user", "alice")
    assert Conversation.objects.filter(owner=alice).count() == conversations

    out = _run("json", str(path), "--user", "alice", "--merge")

    assert "Imported into alice: 1 conversations" in out
    assert Conversation.objects.filter(owner=alice).count() == 2 * conversations
    assert not Conversation.objects.filter(owner=bob).exists()


def test_a_bad_json_file_is_refused_and_no_user_is_created(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": "memoryapp-export", "version": 1, "conversations": [')

    with pytest.raises(CommandError, match=r"not valid JSON \(it ends too early"):
        _run("json", str(path), "--user", "carol")
    path.write_text(json.dumps({"format": "memoryapp-export", "version": 1}))
    with pytest.raises(CommandError, match="exported_at: Field required"):
        _run("json", str(path), "--user", "carol")
    with pytest.raises(CommandError, match=r"This is a ChatGPT conversations\.json"):
        _run("json", str(FIXTURE), "--user", "carol")

    assert not User.objects.filter(username="carol").exists()


def test_chatgpt_imports_the_zip_into_a_new_user_and_builds_memory(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("conversations.json", FIXTURE.read_bytes())
        zipped.writestr("chat.html", "<html></html>")

    out = _run("chatgpt", str(archive), "--user", "dora")

    dora = User.objects.get(username="dora")
    assert "ingested 2/2 conversations" in out
    assert "Imported into dora: 2 conversations, 8 messages, " in out
    assert Message.objects.filter(owner=dora).count() == 8
    segments = Segment.objects.filter(owner=dora)
    assert segments.exists()
    assert set(segments.values_list("job_status", flat=True)) == {JobStatus.DONE}
    assert not Fact.objects.filter(owner=dora).exists()  # the demo model: no LLM stages


def test_chatgpt_twice_adds_nothing(alice: User) -> None:
    _run("chatgpt", str(FIXTURE), "--user", "alice")
    messages = Message.objects.filter(owner=alice).count()

    out = _run("chatgpt", str(FIXTURE), "--user", "alice")

    assert "Imported into alice: 0 conversations (2 imported before, skipped), 0 messages" in out
    assert Message.objects.filter(owner=alice).count() == messages


def test_chatgpt_refuses_a_file_over_the_limit_before_creating_the_user(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    with path.open("wb") as sparse:
        sparse.truncate(200 * 1024 * 1024)

    with pytest.raises(CommandError, match="The file is 200 MB; the largest import accepted"):
        _run("chatgpt", str(path), "--user", "erin")
    assert not User.objects.filter(username="erin").exists()


def test_chatgpt_refuses_a_zip_without_conversations(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("user.json", "{}")

    with pytest.raises(CommandError, match=r"The \.zip has no conversations\.json"):
        _run("chatgpt", str(archive), "--user", "erin")
    assert not User.objects.filter(username="erin").exists()


def test_the_account_and_its_options_are_asked_for_where_they_belong(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="chatgpt needs --user NAME"):
        _run("chatgpt", str(FIXTURE))
    with pytest.raises(CommandError, match="--user and --merge are for json and chatgpt"):
        _run("locomo", str(FIXTURE), "--user", "alice")
    with pytest.raises(CommandError, match="--merge is for json"):
        _run("chatgpt", str(FIXTURE), "--user", "alice", "--merge")
    with pytest.raises(CommandError, match="cannot be a username"):
        _run("chatgpt", str(FIXTURE), "--user", "no spaces please")
    assert not User.objects.exists()

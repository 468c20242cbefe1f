"""Importing a ChatGPT data export: the current branch of each conversation, the user's and
the assistant's words only, at their original times, once, then memory built from them; a
file that is not one is refused and nothing changes."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import override_settings

from memoryapp.models import Conversation, JobStatus, MemberSettings, Message, Passage, Segment
from memoryapp.services.memory.export import memory_export
from memoryapp.services.memory.importing import chatgpt_import
from tests import factories

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent / "fixtures" / "chatgpt_conversations.json"
LISBON = "6650a1b2-1111-4000-8000-00000000000a"
SOURDOUGH = "6650a1b2-2222-4000-8000-00000000000b"
T0 = 1714552800.0


def _sample() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(FIXTURE.read_text())
    return data


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def _texts(owner: User, external_id: str) -> list[tuple[str, str]]:
    conversation = Conversation.objects.get(owner=owner, external_id=external_id)
    return list(conversation.messages.order_by("sequence").values_list("role", "content"))


def _counts(owner: User) -> tuple[int, int, int]:
    return (
        Conversation.objects.filter(owner=owner).count(),
        Message.objects.filter(owner=owner).count(),
        Segment.objects.filter(owner=owner).count(),
    )


def test_the_current_branch_is_imported_with_the_users_and_assistants_words(
    alice: User,
) -> None:
    outcome = chatgpt_import(owner=alice, path=FIXTURE)

    assert _texts(alice, LISBON) == [
        ("user", "I'm planning a trip to Lisbon in May with my sister Ana."),
        ("assistant", "Lisbon in May is lovely: warm days and few crowds."),
        ("user", "We will stay in Alfama for five nights, at 120 euros a night."),
        ("assistant", "Five nights at 120 euros comes to 600 euros."),
        ("user", "Here is the hotel's map.\nIs it near the tram 28 line?"),
        ("assistant", "Yes: tram 28 stops a few minutes from Alfama."),
    ]
    assert (outcome.conversations, outcome.messages, outcome.skipped) == (2, 8, 0)
    assert outcome.empty == 1  # the conversation with nothing but a hidden system message


def test_an_edited_away_branch_hidden_system_tool_and_code_nodes_are_left_out(
    alice: User,
) -> None:
    chatgpt_import(owner=alice, path=FIXTURE)

    everything = " ".join(Message.objects.filter(owner=alice).values_list("content", flat=True))
    for left_out in (
        "Porto",  # the edited-away branch
        "custom instruction",  # a hidden user_editable_context node
        "print(5 * 120)",  # the code the assistant sent to the python tool
        "Martim Moniz",  # browsing display of a tool node
        "runs through Alfama",  # a tether quote of a tool node
        "file-service",  # the image part of the multimodal message
    ):
        assert left_out not in everything
    assert "600" not in [m.content for m in Message.objects.filter(owner=alice)]


def test_roles_speakers_and_who_said_it(alice: User) -> None:
    chatgpt_import(owner=alice, path=FIXTURE)

    rows = Message.objects.filter(owner=alice, conversation__external_id=SOURDOUGH)
    question, answer = rows.order_by("sequence")
    assert (question.role, question.speaker, question.by_person) == ("user", "alice", True)
    assert (answer.role, answer.speaker, answer.by_person) == ("assistant", "assistant", False)
    assert (answer.model_name, question.model_name) == ("gpt-4o-mini", "")
    assert (question.external_id, answer.external_id) == ("s1", "s2")
    assert {m.status for m in rows} == {Message.Status.DONE}
    assert not any(m.private for m in rows)


def test_original_times_and_titles_are_kept(alice: User) -> None:
    chatgpt_import(owner=alice, path=FIXTURE)

    lisbon = Conversation.objects.get(owner=alice, external_id=LISBON)
    assert lisbon.title == "Trip to Lisbon"
    assert Conversation.objects.get(owner=alice, external_id=SOURDOUGH).title == ""
    times = list(lisbon.messages.order_by("sequence").values_list("created_at", flat=True))
    assert times[0] == datetime.fromtimestamp(T0 + 10, tz=UTC)
    assert times[4] == datetime.fromtimestamp(T0 + 80, tz=UTC)
    # The last answer has no time of its own: the conversation's is used.
    assert times[5] == datetime.fromtimestamp(T0, tz=UTC)
    assert lisbon.created_at == times[0]


def test_the_zip_as_downloaded_is_read(alice: User, tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "export.zip",
        {
            "chat.html": b"<html></html>",
            "user.json": b'{"id": "user-1"}',
            "conversations.json": FIXTURE.read_bytes(),
            "file-MAP123-map.png": b"\x89PNG",
        },
    )

    outcome = chatgpt_import(owner=alice, path=archive)

    assert outcome.conversations == 2
    assert _texts(alice, SOURDOUGH)[0][1].startswith("My sourdough starter is called Bubbles")


def test_the_same_file_twice_does_not_duplicate(alice: User, tmp_path: Path) -> None:
    chatgpt_import(owner=alice, path=FIXTURE)
    before = _counts(alice)
    archive = _zip(tmp_path / "export.zip", {"conversations.json": FIXTURE.read_bytes()})

    again = chatgpt_import(owner=alice, path=archive)

    assert _counts(alice) == before
    assert (again.conversations, again.messages, again.skipped) == (0, 0, 2)


def test_a_later_export_adds_only_the_new_conversations(alice: User, tmp_path: Path) -> None:
    chatgpt_import(owner=alice, path=FIXTURE)
    later = _sample()
    later[1] = {**later[1], "conversation_id": "new-conversation", "id": "new-conversation"}
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(later))

    outcome = chatgpt_import(owner=alice, path=path)

    assert (outcome.conversations, outcome.skipped) == (1, 1)
    assert Conversation.objects.filter(owner=alice).count() == 3


def test_memory_is_built_with_the_normal_pipeline(alice: User) -> None:
    reports: list[tuple[int, int]] = []

    chatgpt_import(
        owner=alice, path=FIXTURE, progress=lambda *r: reports.append(r), build_here=True
    )

    segments = Segment.objects.filter(owner=alice)
    assert segments.exists()
    assert set(segments.values_list("status", flat=True)) == {Segment.Status.CLOSED}
    assert set(segments.values_list("job_status", flat=True)) == {JobStatus.DONE}
    assert not Message.objects.filter(owner=alice, segment=None).exists()
    assert not Message.objects.filter(owner=alice, embedding=None).exists()
    assert Passage.objects.filter(owner=alice).exists()  # the two-sentence question
    assert reports[0] == (0, 2)
    assert reports[-1] == (2, 2)


def test_ingestion_alone_queues_consolidation(alice: User) -> None:
    chatgpt_import(owner=alice, path=FIXTURE)

    segments = Segment.objects.filter(owner=alice)
    assert set(segments.values_list("status", flat=True)) == {Segment.Status.CLOSED}
    assert set(segments.values_list("job_status", flat=True)) == {JobStatus.PENDING}


def test_while_memory_is_paused_it_is_chat_history_only(alice: User) -> None:
    MemberSettings.objects.create(user=alice, memory_paused=True)

    outcome = chatgpt_import(owner=alice, path=FIXTURE, build_here=True)

    assert outcome.private
    assert set(Message.objects.filter(owner=alice).values_list("private", flat=True)) == {True}
    assert not Segment.objects.filter(owner=alice).exists()


def test_each_person_gets_their_own_copy(alice: User, bob: User) -> None:
    chatgpt_import(owner=alice, path=FIXTURE)
    alices = _counts(alice)

    outcome = chatgpt_import(owner=bob, path=FIXTURE)

    assert outcome.conversations == 2
    assert _counts(bob)[:2] == alices[:2]
    assert _counts(alice) == alices
    assert "Bubbles" not in json.dumps(memory_export(owner=factories.user("carol")))


def _refused(owner: User, path: Path, match: str) -> None:
    before = _counts(owner)
    with pytest.raises(ValidationError, match=match):
        chatgpt_import(owner=owner, path=path)
    assert _counts(owner) == before


def test_truncated_json_is_refused(alice: User, tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_bytes(FIXTURE.read_bytes()[:5000])

    _refused(alice, path, "not valid JSON .*truncated")


def test_a_zip_without_conversations_json_is_refused(alice: User, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "export.zip", {"chat.html": b"<html></html>"})

    _refused(alice, archive, "The .zip has no conversations.json")


def test_something_that_is_neither_zip_nor_json_is_refused(alice: User, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not an export at all")

    _refused(alice, path, "neither a ChatGPT .zip nor a conversations.json")


def test_a_memoryapp_export_is_refused_with_the_right_name(alice: User, tmp_path: Path) -> None:
    path = tmp_path / "memory.json"
    path.write_text(json.dumps(memory_export(owner=factories.user("carol"))))

    _refused(alice, path, "This is a memoryapp export, not a ChatGPT one")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"conversations": []}, "should be a list of conversations"),
        ([{"title": "x"}], r"conversations\[0\]\.mapping: Field required"),
        ([{"id": "c", "mapping": {"a": {"message": {"author": {}}}}}], "author.role"),
    ],
)
def test_json_of_another_shape_is_refused(
    alice: User, tmp_path: Path, content: Any, match: str
) -> None:
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(content))

    _refused(alice, path, match)


def test_a_broken_branch_is_refused_before_anything_is_stored(alice: User, tmp_path: Path) -> None:
    sample = _sample()
    sample[1]["mapping"]["s2"]["parent"] = "nowhere"  # the second conversation is broken
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(sample))

    _refused(alice, path, r"conversations\[1\].*a node missing from its mapping \(nowhere\)")


def test_a_file_over_the_limit_is_refused_unread(alice: User, tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    with path.open("wb") as sparse:
        sparse.truncate(200 * 1024 * 1024)

    _refused(alice, path, "The file is 200 MB; the largest import accepted is 128 MB")


@override_settings(IMPORT_MAX_BYTES=4000)
def test_a_zip_member_over_the_limit_is_refused(alice: User, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "export.zip", {"conversations.json": FIXTURE.read_bytes()})
    assert archive.stat().st_size < 4000

    _refused(alice, archive, "largest import accepted")


def test_text_with_a_nul_character_is_refused_with_the_reason(alice: User, tmp_path: Path) -> None:
    """Postgres keeps no NUL in text: said before anything is stored, not a database error."""
    sample = _sample()
    sample[0]["title"] = "Trip\u0000planning"
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(sample))

    _refused(alice, path, r"NUL character .* at conversations\[0\]\.title")


def test_json_nested_too_deeply_is_refused_with_the_reason(alice: User, tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_text("[" * 5000 + "]" * 5000)

    _refused(alice, path, "nested too deeply")

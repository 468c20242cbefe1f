"""`memory_forget --user NAME (--conversation ID | --fact ID | --segment ID | --all)
[--dry-run]` forgets what it names of that user only, or prints what would go."""

from __future__ import annotations

import io
from uuid import uuid4

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from memoryapp.models import Conversation, Fact, FactSource, Message, Passage, Segment
from memoryapp.services.memory import locks
from tests import factories
from tests.support.household import PersonData
from tests.support.memory_lock import memory_locked_elsewhere

pytestmark = pytest.mark.django_db


def forget_command(*args: str) -> str:
    stdout = io.StringIO()
    call_command("memory_forget", *args, stdout=stdout)
    return stdout.getvalue()


def rows(owner: User) -> dict[str, int]:
    return {
        model.__name__: model._default_manager.filter(owner=owner).count()
        for model in (Conversation, Message, Passage, Segment, Fact, FactSource)
    }


def test_a_dry_run_prints_what_would_go_and_changes_nothing(
    alice: User, alices: PersonData
) -> None:
    other = factories.conversation(alice)
    FactSource.objects.create(
        fact=alices.fact, message=factories.message(other, "Bees again."), owner=alice
    )
    before = rows(alice)

    out = forget_command(
        "--user", "alice", "--conversation", str(alices.conversation.pk), "--dry-run"
    )

    assert out == (
        "Would forget:\n"
        "  conversations: 1\n"
        "  messages: 2\n"
        "  segments: 1\n"
        "  passages: 1\n"
        "  facts: 0\n"
        "  citations: 1\n"
        "Would keep, with their other sources only:\n"
        f"  {alices.fact.pk}  {alices.fact.text}\n"
        "Nothing was changed (--dry-run).\n"
    )
    assert rows(alice) == before


def test_it_forgets_a_conversation_and_prints_what_went(
    alice: User, alices: PersonData, bobs: PersonData
) -> None:
    bob_before = rows(bobs.conversation.owner)

    out = forget_command("--user", "alice", "--conversation", str(alices.conversation.pk))

    assert out.startswith("Forgot:\n  conversations: 1\n  messages: 2\n  segments: 1\n")
    assert "facts: 1\n" in out
    assert not Conversation.objects.filter(pk=alices.conversation.pk).exists()
    assert not Fact.objects.filter(pk=alices.fact.pk).exists()
    assert rows(bobs.conversation.owner) == bob_before


def test_it_forgets_a_fact_or_a_topic(alice: User, alices: PersonData) -> None:
    out = forget_command("--user", "alice", "--fact", str(alices.fact.pk))

    assert "  facts: 1\n" in out and "  messages: 0\n" in out
    assert not Fact.objects.filter(pk=alices.fact.pk).exists()

    out = forget_command("--user", "alice", "--segment", str(alices.segment.pk))

    assert "  segments: 1\n" in out and "  messages: 2\n" in out
    assert not Segment.objects.filter(owner=alice).exists()
    assert Conversation.objects.filter(pk=alices.conversation.pk).exists()


def test_all_forgets_everything_of_that_user_only(
    alice: User, alices: PersonData, bobs: PersonData
) -> None:
    bob_before = rows(bobs.conversation.owner)

    out = forget_command("--user", "alice", "--all")

    assert "  conversations: 1\n  messages: 2\n" in out
    assert set(rows(alice).values()) == {0}
    assert rows(bobs.conversation.owner) == bob_before


def test_an_unknown_user_is_refused(alice: User, alices: PersonData) -> None:
    before = rows(alice)

    with pytest.raises(CommandError, match="No user named 'nobody'"):
        forget_command("--user", "nobody", "--all")

    assert rows(alice) == before


@pytest.mark.parametrize("option", ["--conversation", "--fact", "--segment"])
def test_another_users_ids_and_unknown_ids_are_refused_and_change_nothing(
    option: str, alice: User, alices: PersonData, bobs: PersonData
) -> None:
    bob = bobs.conversation.owner
    bobs_id = {
        "--conversation": bobs.conversation.pk,
        "--fact": bobs.fact.pk,
        "--segment": bobs.segment.pk,
    }[option]
    before, bob_before = rows(alice), rows(bob)

    for target in (bobs_id, uuid4()):
        with pytest.raises(CommandError, match=f"alice has no {option[2:]} {target}"):
            forget_command("--user", "alice", option, str(target))
        with pytest.raises(CommandError, match="nothing was forgotten"):
            forget_command("--user", "alice", option, str(target), "--dry-run")

    assert (rows(alice), rows(bob)) == (before, bob_before)


def test_an_id_that_is_not_an_id_is_refused(alice: User, alices: PersonData) -> None:
    with pytest.raises(CommandError, match="--fact takes an id such as"):
        forget_command("--user", "alice", "--fact", "seven")

    assert Fact.objects.filter(pk=alices.fact.pk).exists()


def test_one_target_is_required_and_only_one(alice: User) -> None:
    with pytest.raises(CommandError, match="one of the arguments"):
        forget_command("--user", "alice")
    with pytest.raises(CommandError, match="not allowed with argument"):
        forget_command("--user", "alice", "--all", "--fact", str(uuid4()))


def test_while_memory_is_being_updated_it_says_so(
    alice: User, alices: PersonData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "LOCK_WAIT_SECONDS", 0.2)

    with (
        memory_locked_elsewhere(alice.pk),
        pytest.raises(CommandError, match="being updated right now; nothing was forgotten"),
    ):
        forget_command("--user", "alice", "--all")

    assert Fact.objects.filter(pk=alices.fact.pk).exists()

"""The person's hands on their memory, as pages: Edit and Wrong on each current fact, the
review inbox with Accept and Reject, the history with Undo, and the inbox count in the chat
header. Each is the signed-in person's own (alice, bob, anonymous), refusals are said inline,
never a 500, and every text is escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import DjangoAssertNumQueries

from memoryapp.embeddings import embed_texts
from memoryapp.models import Fact, FactProposal, FactSource, MemoryChangeset, Message
from memoryapp.services.memory import locks
from memoryapp.services.memory.corrections import fact_edit, fact_retract
from memoryapp.services.memory.journal import changeset_undo
from tests import factories
from tests.support.memory_lock import memory_locked_elsewhere

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SPRING = datetime(2024, 4, 2, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


@pytest.fixture(autouse=True)
def _llm_stages_off(settings: Any) -> None:
    settings.MEMORY_LLM = "off"


def said(owner: User, line: str) -> Message:
    return factories.message(factories.conversation(owner), line, created_at=SPRING)


def known(owner: User, text: str, **fields: Any) -> Fact:
    """A current fact with its source message and vector."""
    message = said(owner, f"I told you: {text}")
    fact = Fact.objects.create(
        owner=owner, text=text, embedding=embed_texts([text])[0].tolist(), **fields
    )
    FactSource.objects.create(fact=fact, message=message, owner=owner)
    return fact


def proposed(owner: User, text: str, **fields: Any) -> FactProposal:
    message = said(owner, f"Maybe: {text}")
    fields.setdefault("action", FactProposal.Action.ADD)
    fields.setdefault("why", FactProposal.Why.UNSURE)
    return FactProposal.objects.create(
        owner=owner,
        text=text,
        confidence=0.4,
        said_at=SPRING,
        source_message_ids=[message.pk],
        embedding=embed_texts([text])[0].tolist(),
        **fields,
    )


def unchanged(fact: Fact) -> bool:
    current = Fact.objects.get(pk=fact.pk)
    return (current.text, current.status, current.valid_from, current.valid_to) == (
        fact.text,
        fact.status,
        fact.valid_from,
        fact.valid_to,
    )


# --- Who may -----------------------------------------------------------------------------------


def _urls(fact: Fact, proposal: FactProposal) -> list[tuple[str, str]]:
    return [
        ("get", f"/memory/facts/{fact.pk}/"),
        ("get", f"/memory/facts/{fact.pk}/edit"),
        ("post", f"/memory/facts/{fact.pk}/edit"),
        ("post", f"/memory/facts/{fact.pk}/retract"),
        ("post", f"/memory/review/{proposal.pk}/accept"),
        ("post", f"/memory/review/{proposal.pk}/reject"),
    ]


def test_anonymous_is_sent_to_sign_in_from_every_page_and_form(client: Client, alice: User) -> None:
    fact = known(alice, "Alice lives in Berlin.")
    proposal = proposed(alice, "Alice may like jazz.")

    for method, url in [
        *_urls(fact, proposal),
        ("get", "/memory/review/"),
        ("get", "/memory/history/"),
    ]:
        response = getattr(client, method)(url, {"text": "Bob was here."})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/"), url

    assert unchanged(fact)
    assert FactProposal.objects.get().status == FactProposal.Status.PENDING


def test_bob_reaches_none_of_alices_facts_or_proposals(
    bob_client: Client, alice: User, bob: User
) -> None:
    fact = known(alice, "Alice lives in Berlin.")
    proposal = proposed(alice, "Alice may like jazz.")

    for method, url in _urls(fact, proposal):
        response = getattr(bob_client, method)(url, {"text": "Bob was here."}, headers=HTMX)
        assert response.status_code == 404, url

    assert unchanged(fact)
    assert FactProposal.objects.get().status == FactProposal.Status.PENDING
    assert not MemoryChangeset.objects.exists()


def test_bob_sees_none_of_alices_proposals_or_history(
    alice: User, bob: User, bob_client: Client
) -> None:
    fact = known(alice, "Alice lives in alicemark Berlin.")
    fact_edit(owner=alice, fact=fact, text="Alice lives in alicemark Potsdam.")
    proposed(alice, "Alice may like alicemark jazz.")
    proposed(bob, "Bob may like bobmark opera.")

    inbox = bob_client.get("/memory/review/").content.decode()
    history = bob_client.get("/memory/history/").content.decode()

    assert "bobmark opera" in inbox
    assert "alicemark" not in inbox and "alicemark" not in history
    assert "No changes yet." in history


# --- Edit and Wrong ----------------------------------------------------------------------------


def test_the_memory_page_offers_edit_and_wrong_on_current_facts(
    alice: User, alice_client: Client
) -> None:
    fact = known(alice, "Alice lives in Berlin.")

    html = alice_client.get("/memory/").content.decode()

    item = html[html.index(f'id="fact-{fact.pk}"') :][:3000]
    assert f'hx-get="/memory/facts/{fact.pk}/edit"' in item
    assert f'hx-post="/memory/facts/{fact.pk}/retract"' in item
    assert 'href="/memory/review/"' in html and 'href="/memory/history/"' in html


def test_the_edit_form_holds_the_fact_escaped(alice: User, alice_client: Client) -> None:
    fact = known(alice, f"{SCRIPT} Alice likes tea.", valid_from=SPRING)

    response = alice_client.get(f"/memory/facts/{fact.pk}/edit", headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert f"{ESCAPED} Alice likes tea.</textarea>" in html
    assert SCRIPT not in html
    assert 'name="valid_from" value="2024-04-02"' in html


def test_an_edit_saves_and_shows_the_fact_as_it_is_now(alice: User, alice_client: Client) -> None:
    fact = known(alice, "Alice lives in Berlin.")

    response = alice_client.post(
        f"/memory/facts/{fact.pk}/edit",
        {"text": "Alice lives in Potsdam.", "valid_from": "2024-05-01", "valid_to": ""},
        headers=HTMX,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Alice lives in Potsdam." in html and "Saved." in html
    assert "true since 1 May 2024" in html and "corrected by you" in html
    fact.refresh_from_db()
    assert fact.text == "Alice lives in Potsdam."
    assert fact.valid_from == datetime(2024, 5, 1, tzinfo=UTC)
    assert fact.user_edited_at is not None
    assert MemoryChangeset.objects.get(owner=alice).source == MemoryChangeset.Source.USER


def test_an_edit_of_the_text_alone_keeps_the_dates_as_they_were(
    alice: User, alice_client: Client
) -> None:
    start = SPRING + timedelta(hours=9, minutes=30)  # a time of day the form does not show
    fact = known(alice, "Alice lives in Berlin.", valid_from=start)

    alice_client.post(
        f"/memory/facts/{fact.pk}/edit",
        {"text": "Alice lives in Potsdam.", "valid_from": "2024-04-02", "valid_to": ""},
        headers=HTMX,
    )

    fact.refresh_from_db()
    assert fact.text == "Alice lives in Potsdam." and fact.valid_from == start


@pytest.mark.parametrize(
    ("data", "message", "kept"),
    [
        ({"text": "ab"}, "at least 3 characters", ">\nab</textarea>"),
        ({"text": "x" * 400}, "at most 300 characters", "x" * 400),
        (
            {"text": "Alice lives in Rome.", "valid_from": "2024-13-45"},
            "Enter a valid date",
            "Alice lives in Rome.",
        ),
        (
            {"text": "Alice lives in Rome.", "valid_from": "2024-06-01", "valid_to": "2024-05-01"},
            "The end date is before the start date.",
            'value="2024-05-01"',
        ),
        ({"text": "Alice lives in Berlin."}, "Nothing to change", "Alice lives in Berlin."),
        ({"text": f"{SCRIPT}?", "valid_to": "nope"}, "Enter a valid date", f"{ESCAPED}?"),
    ],
)
def test_a_bad_edit_is_refused_inline_keeping_what_was_typed(
    alice: User, alice_client: Client, data: dict[str, str], message: str, kept: str
) -> None:
    fact = known(alice, "Alice lives in Berlin.")

    response = alice_client.post(f"/memory/facts/{fact.pk}/edit", data, headers=HTMX)

    assert response.status_code == 422
    html = response.content.decode()
    assert message in html and kept in html
    assert SCRIPT not in html
    assert unchanged(fact)
    assert not MemoryChangeset.objects.exists()


def test_cancel_shows_the_fact_again(alice: User, alice_client: Client) -> None:
    fact = known(alice, "Alice lives in Berlin.")

    response = alice_client.get(f"/memory/facts/{fact.pk}/", headers=HTMX)

    assert response.status_code == 200
    assert f'id="fact-body-{fact.pk}"' in response.content.decode()


def test_wrong_retracts_the_fact_and_a_second_time_says_why_not(
    alice: User, alice_client: Client
) -> None:
    fact = known(alice, "Alice has a parrot.")

    first = alice_client.post(f"/memory/facts/{fact.pk}/retract", headers=HTMX)
    again = alice_client.post(f"/memory/facts/{fact.pk}/retract", headers=HTMX)

    assert first.status_code == 200 and "Marked wrong" in first.content.decode()
    assert f"/memory/facts/{fact.pk}/retract" not in first.content.decode()
    fact.refresh_from_db()
    assert fact.status == Fact.Status.RETRACTED and fact.user_edited_at is not None
    assert again.status_code == 422 and "no longer current" in again.content.decode()
    assert MemoryChangeset.objects.filter(owner=alice).count() == 1


def test_without_htmx_a_correction_returns_to_the_memory_page(
    alice: User, alice_client: Client
) -> None:
    fact = known(alice, "Alice has a parrot.")

    edited = alice_client.post(f"/memory/facts/{fact.pk}/edit", {"text": "Alice has a budgie."})
    retracted = alice_client.post(f"/memory/facts/{fact.pk}/retract")

    assert edited.status_code == 302 and edited["Location"] == f"/memory/#fact-{fact.pk}"
    assert retracted.status_code == 302 and retracted["Location"] == "/memory/"


# --- Review inbox ------------------------------------------------------------------------------


def test_the_inbox_lists_each_proposal_with_its_sources_and_the_fact_it_would_change(
    alice: User, alice_client: Client
) -> None:
    home = known(alice, f"{SCRIPT} Alice lives in Potsdam.", user_edited_at=SPRING)
    proposal = proposed(
        alice,
        "Alice lives in Hamburg.",
        action=FactProposal.Action.SUPERSEDE,
        why=FactProposal.Why.USER_EDITED,
        target=home,
    )
    unsure = proposed(alice, f"{SCRIPT} Alice may like jazz.")

    html = alice_client.get("/memory/review/").content.decode()

    item = html[html.index(f'id="proposal-{proposal.pk}"') :][:4000]
    assert "Replace “" in item and "Alice lives in Hamburg." in item
    assert "It would change a fact you corrected." in item
    source = proposal.source_message_ids[0]
    conversation = Message.objects.get(pk=source).conversation_id
    assert f'href="/c/{conversation}/?highlight={source}#msg-{source}"' in item
    target_source = home.source_messages.get()
    assert f"highlight={target_source.pk}" in item
    assert f'hx-post="/memory/review/{proposal.pk}/accept"' in item
    assert f'hx-post="/memory/review/{proposal.pk}/reject"' in item
    assert f'id="proposal-{unsure.pk}"' in html and "The model was unsure" in html
    assert SCRIPT not in html and ESCAPED in html


def test_the_inbox_takes_a_bounded_number_of_queries(
    alice: User, alice_client: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    for index in range(15):
        target = known(alice, f"Alice fact number {index}.", user_edited_at=SPRING)
        proposed(
            alice,
            f"Alice changed fact {index}.",
            action="supersede",
            why="user_edited",
            target=target,
        )
        proposed(alice, f"Alice may like thing {index}.")

    with django_assert_max_num_queries(8):
        html = alice_client.get("/memory/review/").content.decode()

    assert html.count('class="proposal"') == 30


def test_accept_applies_the_proposal_and_says_so(alice: User, alice_client: Client) -> None:
    proposal = proposed(alice, "Alice may like jazz.")

    response = alice_client.post(f"/memory/review/{proposal.pk}/accept", headers=HTMX)

    assert response.status_code == 200 and "Accepted" in response.content.decode()
    assert Fact.objects.get(owner=alice).text == "Alice may like jazz."
    proposal.refresh_from_db()
    assert proposal.status == FactProposal.Status.ACCEPTED


def test_reject_drops_the_proposal_and_says_so(alice: User, alice_client: Client) -> None:
    proposal = proposed(alice, "Alice may like jazz.")

    response = alice_client.post(f"/memory/review/{proposal.pk}/reject", headers=HTMX)

    assert response.status_code == 200 and "Rejected" in response.content.decode()
    assert not Fact.objects.exists()
    proposal.refresh_from_db()
    assert proposal.status == FactProposal.Status.REJECTED


def test_accepting_a_change_to_a_fact_no_longer_current_is_refused_inline(
    alice: User, alice_client: Client
) -> None:
    home = known(alice, "Alice lives in Potsdam.")
    proposal = proposed(alice, "Alice lives in Hamburg.", action="supersede", target=home)
    fact_retract(owner=alice, fact=home)

    response = alice_client.post(f"/memory/review/{proposal.pk}/accept", headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 422
    assert f'id="proposal-{proposal.pk}"' in html and "no longer current" in html
    proposal.refresh_from_db()
    assert proposal.status == FactProposal.Status.PENDING
    again = alice_client.post(f"/memory/review/{proposal.pk}/reject", headers=HTMX)
    assert again.status_code == 200
    decided = alice_client.post(f"/memory/review/{proposal.pk}/accept", headers=HTMX)
    assert decided.status_code == 422 and "rejected already" in decided.content.decode()


def test_without_htmx_a_decision_returns_to_the_inbox(alice: User, alice_client: Client) -> None:
    proposal = proposed(alice, "Alice may like jazz.")

    response = alice_client.post(f"/memory/review/{proposal.pk}/reject")

    assert response.status_code == 302 and response["Location"] == "/memory/review/"


def test_the_chat_header_shows_the_pending_count_only_when_there_is_one(
    alice: User, bob: User, alice_client: Client
) -> None:
    proposed(bob, "Bob may like opera.")
    assert "to review</a>" not in alice_client.get("/", follow=True).content.decode()

    proposed(alice, "Alice may like jazz.")
    proposed(alice, "Alice may like tea.")
    proposed(alice, "Alice may like rain.", status="rejected", decided_at=SPRING)

    html = alice_client.get("/", follow=True).content.decode()
    assert '<a class="review-count" href="/memory/review/"' in html
    assert ">2 to review</a>" in html  # not the rejected one, nor bob's


# --- History and undo --------------------------------------------------------------------------


def test_the_history_lists_changesets_newest_first_with_before_and_after(
    alice: User, alice_client: Client
) -> None:
    fact = known(alice, f"{SCRIPT} Alice lives in Berlin.")
    edit = fact_edit(owner=alice, fact=fact, text="Alice lives in Potsdam.", valid_from=SPRING)
    MemoryChangeset.objects.filter(pk=edit.pk).update(created_at=timezone.now() - timedelta(1))
    retract = fact_retract(owner=alice, fact=fact)

    html = alice_client.get("/memory/history/").content.decode()

    assert html.index(f'id="changeset-{retract.pk}"') < html.index(f'id="changeset-{edit.pk}"')
    edited = html[html.index(f'id="changeset-{edit.pk}"') :]
    assert f"Before: {ESCAPED} Alice lives in Berlin." in edited
    assert "After: Alice lives in Potsdam." in edited and "from 2024-04-02" in edited
    assert "<details>" in html and SCRIPT not in html
    # The edit was followed by the retraction of the same fact: only the latter can be undone.
    assert "Cannot be undone: Later changes touched the same memories" in edited
    latest = html[
        html.index(f'id="changeset-{retract.pk}"') : html.index(f'id="changeset-{edit.pk}"')
    ]
    assert f'hx-post="/memory/changesets/{retract.pk}/undo"' in latest


def test_undo_from_the_history_and_its_refusal_said_in_words(
    alice: User, alice_client: Client
) -> None:
    fact = known(alice, "Alice has a parrot.")
    retract = fact_retract(owner=alice, fact=fact)

    done = alice_client.post(f"/memory/changesets/{retract.pk}/undo", headers=HTMX)
    again = alice_client.post(f"/memory/changesets/{retract.pk}/undo", headers=HTMX)

    assert done.status_code == 200 and "undone" in done.content.decode()
    assert Fact.objects.get(pk=fact.pk).status == Fact.Status.ACTIVE
    assert again.status_code == 409 and again["Content-Type"].startswith("text/plain")
    assert again.content.decode() == "These changes were undone already."
    html = alice_client.get("/memory/history/").content.decode()
    row = html[html.index(f'id="changeset-{retract.pk}"') :][:4000]
    assert "Undone." in row and f"/memory/changesets/{retract.pk}/undo" not in row


def test_the_history_is_paginated_and_takes_a_bounded_number_of_queries(
    alice: User, alice_client: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    facts = [known(alice, f"Alice fact number {index}.") for index in range(25)]
    for fact in facts:
        changeset = fact_edit(owner=alice, fact=fact, text=f"{fact.text} Edited.")
    changeset_undo(changeset=changeset, owner=alice)

    with django_assert_max_num_queries(12):
        first = alice_client.get("/memory/history/").content.decode()
    second = alice_client.get("/memory/history/?page=2").content.decode()

    assert first.count('class="changeset"') == 20 and second.count('class="changeset"') == 6
    assert "Page 2 of 2" in second


def test_an_undo_while_a_job_holds_the_persons_memory_says_so_and_changes_nothing(
    alice: User, alice_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    fact = known(alice, "Alice keeps a parrot.")
    retracted = fact_retract(owner=alice, fact=fact)
    monkeypatch.setattr(locks, "LOCK_WAIT_SECONDS", 0.2)

    with memory_locked_elsewhere(alice.pk):
        response = alice_client.post(f"/memory/changesets/{retracted.pk}/undo", headers=HTMX)

    assert response.status_code == 409
    assert response["Content-Type"].startswith("text/plain")
    assert "being updated right now; nothing was undone" in response.content.decode()
    assert Fact.objects.get(pk=fact.pk).status == Fact.Status.RETRACTED
    retracted.refresh_from_db()
    assert retracted.undone_by_id is None


def test_an_edit_while_a_job_holds_the_memory_is_refused_inline_keeping_what_was_typed(
    alice: User, alice_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    fact = known(alice, "Alice lives in Berlin.")
    monkeypatch.setattr(locks, "LOCK_WAIT_SECONDS", 0.2)

    with memory_locked_elsewhere(alice.pk):
        response = alice_client.post(
            f"/memory/facts/{fact.pk}/edit", {"text": "Alice lives in Potsdam."}, headers=HTMX
        )
        retract = alice_client.post(f"/memory/facts/{fact.pk}/retract", headers=HTMX)

    assert response.status_code == 422
    html = response.content.decode()
    assert "being updated right now" in html and "Alice lives in Potsdam." in html
    assert retract.status_code == 422 and "being updated right now" in retract.content.decode()
    assert unchanged(fact)
    assert not MemoryChangeset.objects.exists()


def test_an_accept_while_a_job_holds_the_memory_is_refused_inline(
    alice: User, alice_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    proposal = proposed(alice, "Alice may like jazz.")
    monkeypatch.setattr(locks, "LOCK_WAIT_SECONDS", 0.2)

    with memory_locked_elsewhere(alice.pk):
        response = alice_client.post(f"/memory/review/{proposal.pk}/accept", headers=HTMX)

    assert response.status_code == 422
    assert "being updated right now" in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.status == FactProposal.Status.PENDING
    assert not Fact.objects.filter(owner=alice).exists()

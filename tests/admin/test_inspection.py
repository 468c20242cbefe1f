"""The admin's inspection tools (issue 14, item 8): a memory's nearest memories, the failed
jobs, and the actions (retry consolidation, embed again, retract, export), for staff only and
within members' consent: alice (the owner, staff) and bob (a member)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from memoryapp import jobs
from memoryapp.embeddings import EMBEDDING_DIM, embed_texts, model_fingerprint
from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import (
    AdminAccess,
    Citation,
    Conversation,
    Fact,
    FactProposal,
    ImportJob,
    JobStatus,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Profile,
    Segment,
)
from memoryapp.retrieval import search
from memoryapp.selectors.admin_inspection import fact_neighbours
from memoryapp.services.accounts import member_settings_update
from memoryapp.services.memory.ingestion import messages_embed
from memoryapp.services.memory.upkeep import embeddings_refresh
from tests import factories
from tests.support.household import ALICE, BOB, PersonData

pytestmark = pytest.mark.django_db


def unit(*components: float) -> list[float]:
    """A unit vector whose first components point the given way."""
    vector = np.zeros(EMBEDDING_DIM, dtype=np.float64)
    vector[: len(components)] = components
    return [float(x) for x in vector / np.linalg.norm(vector)]


def distance(a: list[float], b: list[float]) -> float:
    return 1 - float(np.dot(a, b))


def fact_with(owner: User, text: str, vector: list[float] | None) -> Fact:
    return Fact.objects.create(owner=owner, text=text, embedding=vector, embedding_model="test")


def segment_with(owner: User, title: str, key_vector: list[float] | None) -> Segment:
    chat = factories.conversation(owner, title=f"{title} chat")
    segment = factories.closed_segment(chat, [factories.message(chat, f"{title}, said.")])
    Segment.objects.filter(pk=segment.pk).update(
        title=title, key_embedding=key_vector, embedding_model="test"
    )
    segment.refresh_from_db()
    return segment


def failed_segment(owner: User, marker: str, raw_output: str) -> Segment:
    segment = segment_with(owner, f"{marker} topic", None)
    Segment.objects.filter(pk=segment.pk).update(
        job_status=JobStatus.FAILED,
        attempts=3,
        last_error=f"Extraction of {marker} gave invalid output",
        raw_output=raw_output,
    )
    segment.refresh_from_db()
    return segment


def failed_import(owner: User, marker: str) -> ImportJob:
    return ImportJob.objects.create(
        owner=owner,
        format=ImportJob.Format.CHATGPT,
        filename=f"{marker}-export.zip",
        sha256="0" * 64,
        job_status=JobStatus.FAILED,
        last_error=f"{marker}-export.zip has no conversations.json",
        raw_output="<b>not html</b>",
    )


def _url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def nearest_url(row: Fact | Segment) -> str:
    return _url(type(row), "nearest", row.pk)


FAILED_URL = "/admin/memoryapp/segment/failed/"


def export_url(person: User) -> str:
    return reverse("admin:auth_user_memory_export", args=[person.pk])


def action(client: Client, model: type[Model], name: str, rows: list[Any]) -> Any:
    return client.post(
        _url(model, "changelist"),
        {"action": name, "_selected_action": [str(row.pk) for row in rows], "index": 0},
        follow=True,
    )


def recorded() -> list[tuple[int, int, str, str]]:
    return list(
        AdminAccess.objects.order_by("id").values_list("viewer", "member", "model", "object_id")
    )


# --- Staff only -------------------------------------------------------------------------------


def inspection_urls(owner: User, data: PersonData) -> list[str]:
    return [
        nearest_url(data.fact),
        nearest_url(data.segment),
        FAILED_URL,
        export_url(owner),
    ]


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_inspection_pages_send_anyone_but_staff_to_the_admin_sign_in(
    client: Client, alice: User, alices: PersonData, bob: User, who: str
) -> None:
    if who == "member":
        client.force_login(bob)

    for url in inspection_urls(alice, alices):
        response = client.get(url)
        assert response.status_code == 302, url
        # The site's sign-in for a stranger, the admin's for a member who is not staff.
        sign_in = reverse("admin:login") if who == "member" else reverse("login")
        assert response["Location"].startswith(f"{sign_in}?next="), url
    segment = failed_segment(alice, ALICE, "{}")
    response = client.post(FAILED_URL, {"segment": [str(segment.pk)]})
    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.job_status == JobStatus.FAILED
    assert ALICE not in client.get(export_url(alice)).content.decode()


def test_staff_without_permissions_are_refused(
    client: Client, alice: User, alices: PersonData
) -> None:
    client.force_login(factories.user("carol", is_staff=True))

    for url in inspection_urls(alice, alices):
        assert client.get(url).status_code == 403, url
    assert not AdminAccess.objects.exists()


# --- Nearest memories -------------------------------------------------------------------------


@pytest.fixture(params=["exact scan", "hnsw index"])
def dense_route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways retrieval finds an owner's nearest rows: an exact scan of a small owner's,
    the HNSW index for a large one (forced here by a limit of 0 rows)."""
    if request.param == "hnsw index":
        monkeypatch.setattr(search, "EXACT_SCAN_MAX_ROWS", 0)
    return str(request.param)


def test_a_facts_nearest_memories_are_its_owners_own_even_when_anothers_are_nearer(
    alice_client: Client, bob: User, alice: User, dense_route: str
) -> None:
    member_settings_update(user=bob, admin_may_inspect=True)  # visible, and still never mixed
    target = fact_with(alice, f"{ALICE} lives in Porto.", unit(1, 0))
    near = fact_with(alice, f"{ALICE} moved to Porto in spring.", unit(1, 0.3))
    far = fact_with(alice, f"{ALICE} plays chess.", unit(0, 1))
    fact_with(alice, f"{ALICE} has a fact without a vector yet.", None)
    fact_with(bob, f"{BOB} lives in Porto.", unit(1, 0.01))  # nearer than any of alice's

    page = alice_client.get(nearest_url(target))

    assert page.status_code == 200
    shown = [(n.row.pk, n.distance) for n in page.context["neighbours"]]
    assert [pk for pk, _ in shown] == [near.pk, far.pk]
    assert shown[0][1] == pytest.approx(distance(unit(1, 0), unit(1, 0.3)), abs=1e-4)
    assert shown[1][1] == pytest.approx(1.0, abs=1e-4)
    body = page.content.decode()
    assert "moved to Porto in spring." in body and "0.0422" in body
    assert BOB not in body
    assert [n.row.pk for n in fact_neighbours(fact=target)] == [near.pk, far.pk]


def test_a_segments_nearest_memories_are_by_key_and_its_owners_own(
    alice_client: Client, alice: User, bob: User, dense_route: str
) -> None:
    member_settings_update(user=bob, admin_may_inspect=True)
    target = segment_with(alice, f"{ALICE} garden", unit(0, 0, 1))
    near = segment_with(alice, f"{ALICE} vegetables", unit(0, 0.5, 1))
    segment_with(bob, f"{BOB} garden", unit(0, 0, 1))

    page = alice_client.get(nearest_url(target))

    assert [n.row.pk for n in page.context["neighbours"]] == [near.pk]
    body = page.content.decode()
    assert f"{ALICE} vegetables" in body and BOB not in body


def test_the_change_page_links_to_the_nearest_memories(
    alice_client: Client, alices: PersonData
) -> None:
    for row in (alices.fact, alices.segment):
        body = alice_client.get(_url(type(row), "change", row.pk)).content.decode()
        assert f'href="{nearest_url(row)}"' in body


def test_a_memory_without_a_vector_says_so(alice_client: Client, alice: User) -> None:
    target = fact_with(alice, f"{ALICE} is new here.", None)
    fact_with(alice, f"{ALICE} has a neighbour.", unit(1))

    page = alice_client.get(nearest_url(target))

    assert page.status_code == 200
    assert page.context["neighbours"] == []
    assert "has no vector yet" in page.content.decode()


def test_bobs_nearest_memories_need_his_consent_and_each_look_is_recorded(
    alice: User, alice_client: Client, bob: User
) -> None:
    target = fact_with(bob, f"{BOB} lives in Porto.", unit(1, 0))
    fact_with(bob, f"{BOB} likes the sun.", unit(1, 1))
    url = nearest_url(target)

    refused = alice_client.get(url, follow=True)

    assert refused.redirect_chain[-1][0] == reverse("admin:index")
    assert BOB not in refused.content.decode()
    assert not AdminAccess.objects.exists()

    member_settings_update(user=bob, admin_may_inspect=True)
    page = alice_client.get(url)

    assert page.status_code == 200
    assert f"{BOB} likes the sun." in page.content.decode()
    assert recorded() == [
        (alice.pk, bob.pk, "memoryapp.fact", str(target.pk)),
        (alice.pk, bob.pk, "memoryapp.fact", AdminAccess.LIST),
    ]


def test_a_malformed_id_is_a_missing_memory_not_an_error(alice_client: Client) -> None:
    response = alice_client.get("/admin/memoryapp/fact/not-an-id/nearest/", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("admin:index")


# --- Failed jobs ------------------------------------------------------------------------------


def test_failed_jobs_show_the_error_and_the_raw_output_escaped(
    alice: User, alice_client: Client, alices: PersonData, bob: User
) -> None:
    segment = failed_segment(alice, ALICE, '<script>alert("x")</script> {"facts": [')
    job = failed_import(alice, ALICE)
    failed_segment(bob, BOB, "bob's output")
    failed_import(bob, BOB)

    page = alice_client.get(FAILED_URL)

    assert page.status_code == 200
    assert [s.pk for s in page.context["segments"]] == [segment.pk]
    assert [j.pk for j in page.context["imports"]] == [job.pk]
    body = page.content.decode()
    assert '<pre class="raw-text">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;' in body
    assert "<script>alert" not in body
    assert f"Extraction of {ALICE} gave invalid output" in body
    assert f"{ALICE}-export.zip has no conversations.json" in body
    assert "&lt;b&gt;not html&lt;/b&gt;" in body
    assert str(alices.segment) not in body  # pending, not failed
    assert BOB not in body
    assert not AdminAccess.objects.exists()


def test_bobs_failed_jobs_are_shown_with_his_consent_and_recorded(
    alice: User, alice_client: Client, bob: User
) -> None:
    failed_segment(bob, BOB, "bob's output")
    failed_import(bob, BOB)
    member_settings_update(user=bob, admin_may_inspect=True)

    body = alice_client.get(FAILED_URL).content.decode()

    assert f"Extraction of {BOB} gave invalid output" in body and f"{BOB}-export.zip" in body
    assert recorded() == [
        (alice.pk, bob.pk, "memoryapp.segment", AdminAccess.LIST),
        (alice.pk, bob.pk, "memoryapp.importjob", AdminAccess.LIST),
    ]


def test_the_segment_list_links_to_the_failed_jobs(alice_client: Client) -> None:
    body = alice_client.get(_url(Segment, "changelist")).content.decode()

    assert f'href="{FAILED_URL}"' in body


def test_a_failed_segment_shows_its_raw_output_escaped_on_its_page(
    alice: User, alice_client: Client
) -> None:
    segment = failed_segment(alice, ALICE, "<img src=x onerror=alert(1)>")

    body = alice_client.get(_url(Segment, "change", segment.pk)).content.decode()

    assert '<pre class="raw-text">&lt;img src=x onerror=alert(1)&gt;</pre>' in body
    assert "<img src=x" not in body


# --- Retry consolidation ----------------------------------------------------------------------


def test_retry_consolidation_queues_a_failed_segment_again_and_it_runs(
    alice: User,
    alice_client: Client,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.MEMORY_LLM = "on"
    segment = failed_segment(alice, ALICE, "garbage")

    with django_capture_on_commit_callbacks() as callbacks:
        page = action(alice_client, Segment, "retry_consolidation", [segment])

    assert "1 segments queued for consolidation again" in page.content.decode()
    segment.refresh_from_db()
    assert (segment.job_status, segment.attempts, segment.next_attempt_at, segment.claim) == (
        JobStatus.PENDING, 0, None, None,
    )  # fmt: skip
    assert len(callbacks) == 1
    digest = {"title": "Bees", "summary": "Alice keeps bees.", "key": "alice: bees"}
    found = {
        "text": "Alice keeps bees.", "kind": "possession", "subject": "alice", "time": None,
        "confidence": 0.9, "sources": [1],
    }  # fmt: skip
    backend = ScriptedBackend([json.dumps(digest), json.dumps({"facts": [found]})])
    with use_backend(backend), jobs.run_here():
        callbacks[0]()  # the job queued once the retry was committed, run here
    segment.refresh_from_db()
    assert segment.job_status == JobStatus.DONE
    assert segment.raw_output == "" and segment.last_error == ""
    assert Fact.objects.filter(owner=alice, text="Alice keeps bees.").exists()


def test_retry_leaves_segments_that_did_not_fail_alone(
    alice_client: Client, alice: User, alices: PersonData
) -> None:
    failed = failed_segment(alice, ALICE, "")
    done = segment_with(alice, f"{ALICE} done", unit(1))
    Segment.objects.filter(pk=done.pk).update(job_status=JobStatus.DONE, attempts=1)

    page = action(alice_client, Segment, "retry_consolidation", [failed, done])

    assert "1 left alone" in page.content.decode()
    done.refresh_from_db()
    assert (done.job_status, done.attempts) == (JobStatus.DONE, 1)
    failed.refresh_from_db()
    assert failed.job_status == JobStatus.PENDING


def test_the_failed_jobs_page_retries_the_chosen_segments(
    alice: User, alice_client: Client
) -> None:
    chosen = failed_segment(alice, ALICE, "")
    other = failed_segment(alice, f"{ALICE}2", "")

    response = alice_client.post(FAILED_URL, {"segment": [str(chosen.pk), "not-an-id"]})

    assert response.status_code == 302 and response["Location"] == FAILED_URL
    chosen.refresh_from_db()
    other.refresh_from_db()
    assert (chosen.job_status, other.job_status) == (JobStatus.PENDING, JobStatus.FAILED)
    nothing = alice_client.post(FAILED_URL, {"segment": ["not-an-id"]}, follow=True)
    assert "nothing was retried" in nothing.content.decode()


def test_bobs_failed_segment_is_retried_only_with_his_consent(
    alice_client: Client, bob: User
) -> None:
    segment = failed_segment(bob, BOB, "")

    action(alice_client, Segment, "retry_consolidation", [segment])
    alice_client.post(FAILED_URL, {"segment": [str(segment.pk)]})

    segment.refresh_from_db()
    assert segment.job_status == JobStatus.FAILED
    member_settings_update(user=bob, admin_may_inspect=True)
    action(alice_client, Segment, "retry_consolidation", [segment])
    segment.refresh_from_db()
    assert segment.job_status == JobStatus.PENDING


# --- Embed again ------------------------------------------------------------------------------


def test_embed_again_clears_the_stamp_and_the_upkeep_embeds_the_rows_again(
    alice: User, alice_client: Client, bob: User
) -> None:
    fingerprint = model_fingerprint()
    fact = fact_with(alice, f"{ALICE} keeps bees.", unit(1))
    segment = segment_with(alice, f"{ALICE} bees", unit(1))
    Segment.objects.filter(pk=segment.pk).update(
        retrieval_key="alice: bees", summary="Alice keeps bees.", summary_embedding=unit(1)
    )
    message = factories.message(factories.conversation(alice), "I keep bees. They are calm.")
    messages_embed([message])
    bobs = fact_with(bob, f"{BOB} keeps bees.", unit(1))
    Fact.objects.filter(pk__in=[fact.pk, bobs.pk]).update(embedding_model=fingerprint)
    Segment.objects.filter(pk=segment.pk).update(embedding_model=fingerprint)

    action(alice_client, Fact, "reembed", [fact, bobs])
    action(alice_client, Segment, "reembed", [segment])
    action(alice_client, Message, "reembed", [message])

    for row in (fact, segment, message, bobs):
        row.refresh_from_db()
    assert (fact.embedding_model, segment.embedding_model, message.embedding_model) == ("", "", "")
    assert message.passages_model == ""
    assert bobs.embedding_model == fingerprint  # not his consent: not even selectable
    embeddings_refresh()
    for row in (fact, segment, message):
        row.refresh_from_db()
    vectors = embed_texts([fact.text, "alice: bees", "Alice keeps bees."])
    assert fact.embedding_model == fingerprint
    assert np.allclose(fact.embedding, vectors[0], atol=1e-5)
    assert segment.embedding_model == fingerprint
    assert np.allclose(segment.key_embedding, vectors[1], atol=1e-5)
    assert np.allclose(segment.summary_embedding, vectors[2], atol=1e-5)
    assert (message.embedding_model, message.passages_model) == (fingerprint, fingerprint)


# --- Retract ----------------------------------------------------------------------------------


def test_retract_is_the_owners_own_correction_in_the_journal(
    alice: User, alice_client: Client, alices: PersonData
) -> None:
    fact = alices.fact

    page = action(alice_client, Fact, "retract", [fact])

    assert "1 facts retracted" in page.content.decode()
    fact.refresh_from_db()
    assert fact.status == Fact.Status.RETRACTED
    assert fact.retired_at is not None and fact.user_edited_at is not None
    changeset = MemoryChangeset.objects.get(source=MemoryChangeset.Source.USER)
    assert changeset.owner == alice
    event = changeset.events.get()
    assert (event.action, event.fact_id, event.owner_id) == (
        MemoryEvent.Action.RETRACT, fact.pk, alice.pk,
    )  # fmt: skip
    assert event.before is not None and event.after is not None
    assert (event.before["status"], event.after["status"]) == ("active", "retracted")


def test_retracting_a_retired_fact_changes_nothing_and_says_why(
    alice_client: Client, alices: PersonData
) -> None:
    page = action(alice_client, Fact, "retract", [alices.old_fact])

    assert "Not retracted" in page.content.decode()
    alices.old_fact.refresh_from_db()
    assert alices.old_fact.status == Fact.Status.SUPERSEDED
    assert not MemoryChangeset.objects.filter(source=MemoryChangeset.Source.USER).exists()


def test_bobs_facts_are_never_retracted_from_the_admin_even_with_his_consent(
    alice_client: Client, bob: User, bobs: PersonData
) -> None:
    member_settings_update(user=bob, admin_may_inspect=True)

    page = action(alice_client, Fact, "retract", [bobs.fact])

    assert "1 facts of other people were left alone" in page.content.decode()
    bobs.fact.refresh_from_db()
    assert bobs.fact.status == Fact.Status.ACTIVE
    assert not MemoryChangeset.objects.filter(source=MemoryChangeset.Source.USER).exists()


# --- Export -----------------------------------------------------------------------------------


def test_staff_export_their_own_memory_as_a_json_download(
    alice: User, alice_client: Client, alices: PersonData
) -> None:
    response = alice_client.get(export_url(alice))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="memory-alice-')
    document = json.loads(response.content)
    assert (document["format"], document["version"]) == ("memoryapp-export", 1)
    assert document["user"]["username"] == "alice"
    assert ALICE in response.content.decode()
    assert not AdminAccess.objects.exists()
    change_page = alice_client.get(reverse("admin:auth_user_change", args=[alice.pk]))
    assert f'href="{export_url(alice)}"' in change_page.content.decode()


def test_bobs_memory_is_exported_only_with_his_consent_and_recorded(
    alice: User, alice_client: Client, bob: User, bobs: PersonData
) -> None:
    users = reverse("admin:auth_user_changelist")
    export_action = {"action": "export_memory", "_selected_action": [bob.pk], "index": 0}

    assert alice_client.get(export_url(bob)).status_code == 403
    refused = alice_client.post(users, export_action, follow=True)
    assert "Bob has not let the administrator inspect their memory" in refused.content.decode()
    change_page = alice_client.get(reverse("admin:auth_user_change", args=[bob.pk]))
    assert export_url(bob) not in change_page.content.decode()
    assert not AdminAccess.objects.exists()

    member_settings_update(user=bob, admin_may_inspect=True)
    response = alice_client.get(export_url(bob))

    assert response.status_code == 200
    assert BOB in response.content.decode() and ALICE not in response.content.decode()
    exported = [
        Conversation, Message, Segment, Fact, FactProposal, MemoryChangeset, Profile, Citation,
    ]  # fmt: skip
    assert recorded() == [
        (alice.pk, bob.pk, model._meta.label_lower, AdminAccess.LIST) for model in exported
    ]
    by_action = alice_client.post(users, export_action)
    assert by_action.status_code == 200
    assert json.loads(by_action.content)["user"]["username"] == "bob"


def test_the_export_action_takes_one_person(alice: User, alice_client: Client, bob: User) -> None:
    page = alice_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "export_memory", "_selected_action": [alice.pk, bob.pk], "index": 0},
        follow=True,
    )

    assert "Select one person to export." in page.content.decode()

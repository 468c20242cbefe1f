"""Privacy between household members in the admin: alice (the owner, staff and superuser)
sees bob's (a member's) data only when bob let the administrator inspect his memory, and bob
sees every time she did."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from memoryapp.models import AdminAccess, Conversation, Fact, MemoryChangeset, Message, Segment
from memoryapp.services.accounts import member_settings_update
from tests.support.household import BOB, OWNED_MODELS, PersonData

pytestmark = pytest.mark.django_db


def _url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _row_of(data: PersonData, model: type[Model]) -> Model:
    return next(row for row in data.rows() if type(row) is model)


def _listed_owners(client: Client, model: type[Model], query: str = "") -> set[str]:
    response = client.get(_url(model, "changelist") + query)
    assert response.status_code == 200
    return {row.owner.username for row in response.context["cl"].result_list}


def _owner_filter_choices(client: Client, model: type[Model]) -> set[str]:
    """The people the owner filter offers (none: the filter is hidden, with one choice)."""
    response = client.get(_url(model, "changelist"))
    specs = [spec for spec in response.context["cl"].filter_specs if spec.field_path == "owner"]
    return {label for spec in specs for _, label in spec.lookup_choices}


@pytest.mark.parametrize("model", OWNED_MODELS)
def test_lists_show_only_alices_rows_without_bobs_consent(
    alice_client: Client, alices: PersonData, bobs: PersonData, model: type[Model]
) -> None:
    response = alice_client.get(_url(model, "changelist"))

    assert {row.owner.username for row in response.context["cl"].result_list} == {"alice"}
    assert BOB not in response.content.decode()
    assert "bob" not in _owner_filter_choices(alice_client, model)
    by_bob = f"?owner__id__exact={bobs.conversation.owner_id}"
    assert "bob" not in _listed_owners(alice_client, model, by_bob)
    assert not AdminAccess.objects.exists()


@pytest.mark.parametrize("model", OWNED_MODELS)
def test_bobs_object_by_url_shows_nothing_without_his_consent(
    alice_client: Client, bobs: PersonData, model: type[Model]
) -> None:
    row = _row_of(bobs, model)

    response = alice_client.get(_url(model, "change", row.pk), follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:index")
    body = response.content.decode()
    assert "doesn\N{RIGHT SINGLE QUOTATION MARK}t exist" in body and BOB not in body
    assert alice_client.get(_url(model, "history", row.pk)).status_code == 302
    assert not AdminAccess.objects.exists()


@pytest.mark.parametrize("model", OWNED_MODELS)
def test_with_bobs_consent_his_rows_are_shown_and_each_view_recorded(
    alice: User, alice_client: Client, alices: PersonData, bobs: PersonData, bob: User,
    model: type[Model],
) -> None:  # fmt: skip
    member_settings_update(user=bob, admin_may_inspect=True)
    row = _row_of(bobs, model)

    assert _listed_owners(alice_client, model) == {"alice", "bob"}
    assert _owner_filter_choices(alice_client, model) == {"alice", "bob"}
    detail = alice_client.get(_url(model, "change", row.pk))
    assert detail.status_code == 200

    label = model._meta.label_lower
    recorded = list(AdminAccess.objects.order_by("id").values_list("model", "object_id"))
    # Two list pages (rows, then the filter's choices) and the object.
    assert recorded == [(label, "list"), (label, "list"), (label, str(row.pk))]
    assert set(AdminAccess.objects.values_list("viewer", "member")) == {(alice.pk, bob.pk)}
    # Looking only at her own rows records nothing.
    assert _listed_owners(alice_client, model, f"?owner__id__exact={alice.pk}") == {"alice"}
    alice_client.get(_url(model, "change", _row_of(alices, model).pk))
    assert AdminAccess.objects.count() == 3


@pytest.mark.parametrize("model", OWNED_MODELS)
def test_with_bobs_consent_the_history_page_of_his_row_is_recorded(
    alice: User, alice_client: Client, bob: User, bobs: PersonData, model: type[Model]
) -> None:
    member_settings_update(user=bob, admin_may_inspect=True)
    row = _row_of(bobs, model)

    page = alice_client.get(_url(model, "history", row.pk))

    assert page.status_code == 200
    recorded = list(AdminAccess.objects.values_list("viewer", "member", "model", "object_id"))
    assert recorded == [(alice.pk, bob.pk, model._meta.label_lower, str(row.pk))]


def test_a_recorded_view_appears_on_bobs_account_page(
    alice_client: Client, bob: User, bob_client: Client, bobs: PersonData
) -> None:
    member_settings_update(user=bob, admin_may_inspect=True)
    alice_client.get(_url(Fact, "change", bobs.fact.pk))
    alice_client.get(_url(Message, "changelist"))

    body = bob_client.get("/account/").content.decode()

    assert f"The administrator (alice) looked at a fact (id {bobs.fact.pk}) on" in body
    assert "The administrator (alice) looked at the list of messages on" in body


def test_bobs_rows_are_found_by_search_with_consent_and_never_by_autocomplete(
    alice_client: Client, alices: PersonData, bob: User, bobs: PersonData
) -> None:
    autocomplete = {
        "app_label": "memoryapp",
        "model_name": "citation",
        "field_name": "fact",
        "term": "bees",
    }

    assert _listed_owners(alice_client, Message, f"?q={BOB}") == set()
    found = json.loads(alice_client.get("/admin/autocomplete/", autocomplete).content)
    assert {item["text"] for item in found["results"]} == {
        "alicemark keeps bees.",
        "alicemark wants bees.",
    }

    member_settings_update(user=bob, admin_may_inspect=True)
    assert _listed_owners(alice_client, Message, f"?q={BOB}") == {"bob"}
    # Autocomplete answers could not be recorded: they offer her own rows only.
    found = json.loads(alice_client.get("/admin/autocomplete/", autocomplete).content)
    assert len(found["results"]) == 2


def test_inlines_and_related_links_of_alices_pages_stay_hers(
    alice_client: Client, alices: PersonData, bobs: PersonData
) -> None:
    for model, row in [
        (Conversation, alices.conversation),
        (Message, alices.answer),
        (Segment, alices.segment),
        (Fact, alices.fact),
        (MemoryChangeset, alices.changeset),
    ]:
        body = alice_client.get(_url(model, "change", row.pk)).content.decode()
        assert "alicemark" in body, model
        assert BOB not in body and str(bobs.question.pk) not in body, model


def test_with_consent_bobs_data_can_be_looked_at_never_changed_or_deleted(
    alice_client: Client, bob: User, bobs: PersonData
) -> None:
    member_settings_update(user=bob, admin_may_inspect=True)
    chat = bobs.conversation

    page = alice_client.get(_url(Conversation, "change", chat.pk)).content.decode()
    assert 'name="title"' not in page  # read-only
    assert (
        alice_client.post(_url(Conversation, "change", chat.pk), {"title": "x"}).status_code == 403
    )
    assert (
        alice_client.post(_url(Conversation, "delete", chat.pk), {"post": "yes"}).status_code == 403
    )
    bulk = alice_client.post(
        _url(Conversation, "changelist"),
        {"action": "delete_selected", "_selected_action": [chat.pk], "post": "yes"},
    )
    assert BOB not in bulk.content.decode()
    chat.refresh_from_db()
    assert chat.title == f"{BOB} chat" and chat.messages.count() == 2


def test_people_are_removed_on_the_members_page_not_in_the_admin(
    alice_client: Client, bob: User, bobs: PersonData
) -> None:
    response = alice_client.get(reverse("admin:auth_user_delete", args=[bob.pk]))

    assert response.status_code == 403
    assert User.objects.filter(pk=bob.pk).exists()


def test_alices_own_conversation_stays_editable(alice_client: Client, alices: PersonData) -> None:
    page = alice_client.get(_url(Conversation, "change", alices.conversation.pk))

    assert 'name="title"' in page.content.decode()

"""Memory is inspectable in the admin and read-only there."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from memoryapp.models import Conversation, Fact, MemoryChangeset, MemoryEvent, Segment
from memoryapp.services.memory.ingestion import messages_embed
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_with_memory(client: Client) -> Client:
    owner = factories.user("owner", is_staff=True, is_superuser=True)
    chat = factories.conversation(owner, title="Dogs")
    segment = factories.closed_segment(chat, [factories.message(chat, "My dog is Pixel.")])
    fact = Fact.objects.create(owner=owner, text="Owner has a dog named Pixel.", segment=segment)
    changeset = MemoryChangeset.objects.create(owner=owner, source="consolidation")
    MemoryEvent.objects.create(changeset=changeset, owner=owner, fact=fact, action="add")
    client.force_login(owner)
    return client


@pytest.mark.parametrize("model", [Segment, Fact, MemoryChangeset, MemoryEvent])
def test_memory_lists_and_details_render_without_edit_rights(
    admin_client_with_memory: Client, model: type[Model]
) -> None:
    meta = model._meta
    changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    row = model._default_manager.get()

    assert admin_client_with_memory.get(changelist).status_code == 200
    detail = admin_client_with_memory.get(
        reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
    )
    assert detail.status_code == 200
    assert "Save" not in detail.content.decode()
    add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
    assert admin_client_with_memory.get(add).status_code == 403


def test_a_message_shows_the_passages_it_can_be_found_by(client: Client) -> None:
    owner = factories.user("owner", is_staff=True, is_superuser=True)
    message = factories.message(
        factories.conversation(owner), "I moved to Porto last spring. My sister lives there too."
    )
    messages_embed([message])
    client.force_login(owner)

    page = client.get(reverse("admin:memoryapp_message_change", args=[message.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    inline = html[html.index('id="passages-group"') :]
    assert "I moved to Porto last spring." in inline and "My sister lives there too." in inline


def _owner_with_learned_fact(client: Client) -> tuple[Fact, Segment]:
    owner = factories.user("owner", is_staff=True, is_superuser=True)
    chat = factories.conversation(owner, title="Dogs")
    said = factories.message(chat, "My dog is Pixel.")
    segment = factories.closed_segment(chat, [said])
    fact = Fact.objects.create(owner=owner, text="Owner has a dog named Pixel.", segment=segment)
    fact.source_messages.add(said, through_defaults={"owner": owner})
    client.force_login(owner)
    return fact, segment


def test_deleting_a_conversation_in_the_admin_forgets_what_was_learned_from_it(
    client: Client,
) -> None:
    """A plain delete would leave the facts learned from it (their sources vanish, the text
    stays); the admin's delete is the same forget as the chat's."""
    fact, segment = _owner_with_learned_fact(client)
    url = reverse("admin:memoryapp_conversation_delete", args=[segment.conversation_id])

    response = client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert not Fact.objects.filter(pk=fact.pk).exists()
    assert MemoryChangeset.objects.filter(owner=fact.owner, source="forget").count() == 1


def test_deleting_selected_conversations_in_the_admin_forgets_each(client: Client) -> None:
    fact, segment = _owner_with_learned_fact(client)
    changelist = reverse("admin:memoryapp_conversation_changelist")

    response = client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [segment.conversation_id], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Fact.objects.filter(pk=fact.pk).exists()
    assert MemoryChangeset.objects.filter(owner=fact.owner, source="forget").count() == 1


def test_a_conversation_is_not_made_incognito_in_the_admin_behind_the_forgets_back(
    client: Client,
) -> None:
    """Incognito forgets what was learned (the chat's switch); a plain save would not."""
    fact, segment = _owner_with_learned_fact(client)
    url = reverse("admin:memoryapp_conversation_change", args=[segment.conversation_id])
    form = {
        "title": "Dogs",
        "incognito": "on",
        "external_id": "chatgpt-123",
        "messages-TOTAL_FORMS": "0",
        "messages-INITIAL_FORMS": "0",
    }

    client.post(url, form)

    conversation = Conversation.objects.get(pk=segment.conversation_id)
    assert (conversation.incognito, conversation.external_id) == (False, "")
    assert Fact.objects.filter(pk=fact.pk).exists()


def test_a_conversation_deleted_in_the_admin_leaves_its_title_in_no_admin_log(
    client: Client,
) -> None:
    _fact, segment = _owner_with_learned_fact(client)
    change = reverse("admin:memoryapp_conversation_change", args=[segment.conversation_id])
    form = {"title": "Zq-secret-heron", "messages-TOTAL_FORMS": "0", "messages-INITIAL_FORMS": "0"}
    assert client.post(change, form).status_code == 302
    assert LogEntry.objects.filter(object_repr__contains="Zq-secret-heron").exists()

    client.post(
        reverse("admin:memoryapp_conversation_delete", args=[segment.conversation_id]),
        {"post": "yes"},
    )

    assert not Conversation.objects.filter(pk=segment.conversation_id).exists()
    assert not LogEntry.objects.filter(object_repr__contains="Zq-secret-heron").exists()
    assert not LogEntry.objects.filter(change_message__contains="Zq-secret-heron").exists()

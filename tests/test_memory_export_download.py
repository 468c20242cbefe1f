"""The Memory page's download of the person's whole memory (the export document)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def test_the_download_is_the_persons_own_export_document(client: Client) -> None:
    alice, bob = factories.user("alice"), factories.user("bob")
    factories.message(factories.conversation(alice, title="Bees"), "I keep three hives.")
    factories.message(factories.conversation(bob, title="Boats"), "My boat is called Wren.")
    client.force_login(alice)

    response = client.get(reverse("memory_export"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="memory-alice-')
    document = json.loads(response.content)
    assert (document["format"], document["version"]) == ("memoryapp-export", 1)
    assert document["user"]["username"] == "alice"
    assert [c["title"] for c in document["conversations"]] == ["Bees"]
    assert "Wren" not in response.content.decode()


def test_the_memory_page_links_to_the_download(client: Client) -> None:
    client.force_login(factories.user("alice"))

    page = client.get(reverse("memory")).content.decode()

    assert f'href="{reverse("memory_export")}"' in page


def test_signed_out_visitors_get_the_sign_in_page_not_a_download(client: Client) -> None:
    response = client.get(reverse("memory_export"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))

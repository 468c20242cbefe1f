"""Account pages: password validators on every form that sets a password, the person's own
password change and privacy setting, and the owner's reset and removal of members."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.test import Client

from memoryapp.models import AdminAccess, Conversation, Message
from memoryapp.services.accounts import (
    admin_access_record,
    member_settings_update,
    setup_token_create,
)
from tests import factories
from tests.support.household import person_data

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-password-1"  # factories.user's
# Weak passwords, each with the validator's message; typed twice, they fail nothing else.
WEAK = [
    ("short1", "too short"),
    ("password123", "too common"),
    ("31415926535", "entirely numeric"),
]


def _signs_in(username: str, password: str) -> bool:
    # With a request, as every sign-in has: the sign-in limits (django-axes) count by it.
    return Client().login(request=HttpRequest(), username=username, password=password)


@pytest.mark.parametrize(("password", "error"), WEAK)
def test_the_setup_form_refuses_weak_passwords_inline(
    client: Client, password: str, error: str
) -> None:
    token = setup_token_create()

    response = client.post(
        f"/setup/{token}/",
        {"username": "olga", "password1": password, "password2": password},
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert error in body
    assert 'value="olga"' in body  # the username is kept
    assert f'value="{password}"' not in body  # passwords are not sent back
    assert not User.objects.exists()


def test_the_setup_form_refuses_a_password_like_the_username(client: Client) -> None:
    token = setup_token_create()

    response = client.post(
        f"/setup/{token}/",
        {"username": "grandmother", "password1": "grandmother1", "password2": "grandmother1"},
    )

    assert "too similar to the username" in response.content.decode()
    assert not User.objects.exists()


def test_the_setup_form_lists_the_password_rules(client: Client) -> None:
    token = setup_token_create()

    body = client.get(f"/setup/{token}/").content.decode()

    assert "at least 10 characters" in body and "entirely numeric" in body


@pytest.mark.parametrize(("password", "error"), WEAK)
def test_the_member_form_refuses_weak_passwords_inline(
    alice_client: Client, password: str, error: str
) -> None:
    response = alice_client.post(
        "/members/", {"username": "kid", "password1": password, "password2": password}
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert error in body and 'value="kid"' in body
    assert not User.objects.filter(username="kid").exists()


def test_the_member_form_refuses_a_taken_username_in_any_case(
    alice_client: Client, bob: User
) -> None:
    response = alice_client.post(
        "/members/", {"username": "BOB", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert "already exists" in response.content.decode()
    assert User.objects.count() == 2


@pytest.mark.parametrize(("password", "error"), WEAK)
def test_the_password_change_refuses_weak_passwords_inline(
    bob: User, bob_client: Client, password: str, error: str
) -> None:
    response = bob_client.post(
        "/account/password",
        {"old_password": PASSWORD, "new_password1": password, "new_password2": password},
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)


def test_a_member_changes_their_password_and_stays_signed_in(bob: User, bob_client: Client) -> None:
    wrong_old = bob_client.post(
        "/account/password",
        {"old_password": "not-it", "new_password1": "bees-and-honey", "new_password2": "x"},
    )
    assert "old password was entered incorrectly" in wrong_old.content.decode()

    response = bob_client.post(
        "/account/password",
        {
            "old_password": PASSWORD,
            "new_password1": "bees-and-honey",
            "new_password2": "bees-and-honey",
        },
    )

    assert response.status_code == 302 and response["Location"] == "/account/"
    bob.refresh_from_db()
    assert bob.check_password("bees-and-honey")
    assert bob_client.get("/").status_code == 200  # still signed in
    assert _signs_in("bob", "bees-and-honey")


def test_the_chat_links_to_the_account_page(bob_client: Client) -> None:
    body = bob_client.get("/").content.decode()

    assert 'href="/account/"' in body


@pytest.mark.parametrize(("password", "error"), WEAK)
def test_the_owners_reset_refuses_weak_passwords_inline(
    alice_client: Client, bob: User, password: str, error: str
) -> None:
    response = alice_client.post(
        f"/members/{bob.pk}/password", {"new_password1": password, "new_password2": password}
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)


def test_the_owner_resets_a_members_password(
    alice_client: Client, bob: User, bob_client: Client
) -> None:
    weak = alice_client.post(
        f"/members/{bob.pk}/password", {"new_password1": "bob-bob", "new_password2": "bob-bob"}
    )
    assert "too short" in weak.content.decode()

    response = alice_client.post(
        f"/members/{bob.pk}/password",
        {"new_password1": "bees-and-honey", "new_password2": "bees-and-honey"},
    )

    assert response.status_code == 302
    assert _signs_in("bob", "bees-and-honey")
    # Bob's session with the old password ends.
    assert bob_client.get("/").status_code == 302


def test_the_removal_preview_counts_what_goes_and_deletes_nothing(
    alice: User, alice_client: Client, bob: User
) -> None:
    person_data(bob, "bobmark")

    page = alice_client.get(f"/members/{bob.pk}/remove")

    assert page.status_code == 200
    body = page.content.decode()
    for line in [
        "<strong>1</strong> conversation<",
        "<strong>2</strong> messages<",
        "<strong>1</strong> memory segment<",
        "<strong>2</strong> facts<",
        "<strong>1</strong> citation<",
    ]:
        assert line in body, line
    assert Message.objects.filter(owner=bob).count() == 2


def test_removing_a_member_deletes_them_and_their_data_only(
    alice: User, alice_client: Client, bob: User
) -> None:
    person_data(alice, "alicemark")
    person_data(bob, "bobmark")

    response = alice_client.post(f"/members/{bob.pk}/remove", follow=True)

    assert "Removed bob and all of their data" in response.content.decode()
    assert not User.objects.filter(pk=bob.pk).exists()
    assert not Message.objects.exclude(owner=alice).exists()
    assert Message.objects.filter(owner=alice).count() == 2
    assert Conversation.objects.get().owner == alice


def test_the_owner_cannot_reset_or_remove_themselves_here(
    alice: User, alice_client: Client
) -> None:
    assert alice_client.get(f"/members/{alice.pk}/remove").status_code == 404
    assert alice_client.post(f"/members/{alice.pk}/remove").status_code == 404
    assert alice_client.post(f"/members/{alice.pk}/password").status_code == 404
    assert User.objects.filter(pk=alice.pk).exists()


def test_members_cannot_reach_owner_actions(alice: User, bob: User, bob_client: Client) -> None:
    carol = factories.user("carol")
    person_data(carol, "carolmark")
    requests = [
        ("get", "/members/", {}),
        ("post", "/members/", {"username": "eve", "password1": PASSWORD, "password2": PASSWORD}),
        ("get", f"/members/{carol.pk}/password", {}),
        ("post", f"/members/{carol.pk}/password", {"new_password1": "x" * 12}),
        ("get", f"/members/{carol.pk}/remove", {}),
        ("post", f"/members/{carol.pk}/remove", {}),
        ("post", f"/members/{alice.pk}/remove", {}),
        ("get", "/admin/", {}),
    ]
    for method, url, data in requests:
        response = getattr(bob_client, method)(url, data)
        assert response.status_code in (302, 403, 404), url
        if response.status_code == 302:  # the admin sends non-staff to its sign-in page
            assert response["Location"].startswith("/admin/login/"), url

    assert set(User.objects.values_list("username", flat=True)) == {"alice", "bob", "carol"}
    assert Message.objects.filter(owner=carol).count() == 2
    carol.refresh_from_db()
    assert carol.check_password(PASSWORD)


def test_staff_who_is_not_a_superuser_cannot_reset_or_remove_the_owner(alice: User) -> None:
    """Staff the owner made (for the admin) must not take over the owner's account."""
    sam = factories.user("sam", is_staff=True)
    client = Client()
    client.force_login(sam)
    new = {"new_password1": "Zebra-violin-42x", "new_password2": "Zebra-violin-42x"}

    assert client.get(f"/members/{alice.pk}/password").status_code == 404
    assert client.post(f"/members/{alice.pk}/password", new).status_code == 404
    assert client.get(f"/members/{alice.pk}/remove").status_code == 404
    assert client.post(f"/members/{alice.pk}/remove").status_code == 404
    assert f"/members/{alice.pk}/" not in client.get("/members/").content.decode()

    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_owner_actions_need_the_csrf_token(alice: User, bob: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(f"/members/{bob.pk}/remove").status_code == 403
    assert (
        client.post(
            f"/members/{bob.pk}/password",
            {"new_password1": "bees-and-honey", "new_password2": "bees-and-honey"},
        ).status_code
        == 403
    )
    assert User.objects.filter(pk=bob.pk).exists()


def test_the_members_page_says_who_sees_what_in_the_admin(alice_client: Client) -> None:
    body = alice_client.get("/members/").content.decode()

    assert (
        "In the admin, the administrator sees only their own conversations, messages, memory "
        "and citations, unless a member switches on “Let the administrator inspect my "
        "memory” in their account settings (it is off by default)."
    ) in body
    assert "it is recorded, and the member sees the record" in body


def test_a_member_switches_admin_inspection_on_and_off(bob: User, bob_client: Client) -> None:
    page = bob_client.get("/account/").content.decode()
    assert 'name="admin_may_inspect"' in page and "checked" not in page  # off by default

    bob_client.post("/account/privacy", {"admin_may_inspect": "on"})
    assert "checked" in bob_client.get("/account/").content.decode()
    assert bob.member_settings.admin_may_inspect

    bob_client.post("/account/privacy", {})
    bob.member_settings.refresh_from_db()
    assert not bob.member_settings.admin_may_inspect


def test_the_account_page_lists_admin_views_of_ones_data(
    alice: User, bob: User, bob_client: Client
) -> None:
    member_settings_update(user=bob, admin_may_inspect=True)
    admin_access_record(viewer=alice, member_ids=[bob.pk], model=Message, object_id="list")

    body = bob_client.get("/account/").content.decode()

    assert "The administrator (alice) looked at the list of messages on" in body
    assert AdminAccess.objects.count() == 1

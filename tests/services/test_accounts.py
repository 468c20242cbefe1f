from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from memoryapp.models import AdminAccess, Fact, ImportJob, MemberSettings, Message
from memoryapp.selectors.accounts import MemberData, admin_visible_owner_ids, member_data_count
from memoryapp.services.accounts import (
    admin_access_record,
    member_create,
    member_remove,
    member_settings_update,
    owner_create,
    setup_token_create,
    setup_token_is_valid,
    user_password_set,
)
from tests import factories
from tests.support.household import OWNED_MODELS, PersonData, person_data

pytestmark = pytest.mark.django_db


def test_the_setup_token_creates_the_owner_once() -> None:
    token = setup_token_create()
    assert token is not None and setup_token_is_valid(token)

    owner = owner_create(token=token, username="olga", password="a-long-password-1")

    assert owner.is_staff and owner.is_superuser
    assert not setup_token_is_valid(token)
    assert setup_token_create() is None  # no link is printed once an owner exists
    with pytest.raises(PermissionDenied):
        owner_create(token=token, username="mallory", password="a-long-password-1")
    assert not User.objects.filter(username="mallory").exists()


def test_a_wrong_token_creates_nothing() -> None:
    setup_token_create()

    with pytest.raises(PermissionDenied):
        owner_create(token="guessed", username="mallory", password="a-long-password-1")
    assert not User.objects.exists()


def test_only_the_newest_setup_link_works() -> None:
    first = setup_token_create()
    second = setup_token_create()

    assert first is not None and second is not None
    assert not setup_token_is_valid(first)
    assert setup_token_is_valid(second)


def test_members_are_not_staff() -> None:
    member = member_create(username="kid", password="a-long-password-1")

    assert not member.is_staff


@pytest.mark.parametrize(
    ("username", "password", "error"),
    [
        ("kid", "short1", "too short"),
        ("kid", "password123", "too common"),
        ("kid", "31415926535", "entirely numeric"),
        ("grandmother", "grandmother1", "too similar to the username"),
    ],
)
def test_members_get_no_password_the_validators_refuse(
    username: str, password: str, error: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        member_create(username=username, password=password)

    assert error in " ".join(raised.value.messages)
    assert not User.objects.exists()


def test_the_owner_gets_no_password_the_validators_refuse() -> None:
    token = setup_token_create()
    assert token is not None

    with pytest.raises(ValidationError):
        owner_create(token=token, username="olga", password="olga")

    assert not User.objects.exists()
    assert setup_token_is_valid(token)  # the link still works for a better password


def test_a_new_password_is_validated_and_replaces_the_old_one() -> None:
    member = factories.user("kid")

    with pytest.raises(ValidationError):
        user_password_set(user=member, password="kid")
    member.refresh_from_db()
    assert member.check_password("a-long-password-1")

    user_password_set(user=member, password="a-new-long-password")
    member.refresh_from_db()
    assert member.check_password("a-new-long-password")


def test_removing_a_member_deletes_all_of_theirs_and_nothing_of_the_owners(
    alice: User, bob: User, alices: PersonData, bobs: PersonData
) -> None:
    # A chain of three: each fact's successor is protected while the fact exists.
    now = timezone.now()
    Fact.objects.create(
        owner=bob,
        text="bobmark dislikes bees.",
        status=Fact.Status.SUPERSEDED,
        superseded_by=bobs.old_fact,
        valid_to=now,
        retired_at=now,
    )
    member_settings_update(user=bob, admin_may_inspect=True)
    admin_access_record(viewer=alice, member_ids=[bob.pk], model=Fact, object_id="list")
    before = member_data_count(member=alice)

    removed = member_remove(owner=alice, member=bob)

    assert removed == MemberData(conversations=1, messages=2, segments=1, facts=3, citations=1)
    assert not User.objects.filter(pk=bob.pk).exists()
    for model in OWNED_MODELS:
        assert not model._default_manager.filter(owner_id=bob.pk).exists(), model
    assert not MemberSettings.objects.filter(user_id=bob.pk).exists()
    assert not AdminAccess.objects.exists()
    assert member_data_count(member=alice) == before
    for row in alices.rows():
        assert type(row)._default_manager.filter(pk=row.pk).exists(), row


def test_the_owner_cannot_remove_themselves(alice: User) -> None:
    person_data(alice, "alicemark")

    with pytest.raises(PermissionDenied):
        member_remove(owner=alice, member=alice)

    assert member_data_count(member=alice).messages == 2


def test_the_admin_sees_only_people_who_consented(alice: User, bob: User) -> None:
    carol = factories.user("carol")
    member_settings_update(user=carol, admin_may_inspect=False)

    assert admin_visible_owner_ids(viewer=alice) == [alice.pk]

    member_settings_update(user=bob, admin_may_inspect=True)
    assert sorted(admin_visible_owner_ids(viewer=alice)) == [alice.pk, bob.pk]
    assert sorted(admin_visible_owner_ids(viewer=carol)) == [bob.pk, carol.pk]

    member_settings_update(user=bob, admin_may_inspect=False)
    assert admin_visible_owner_ids(viewer=alice) == [alice.pk]


def test_admin_views_of_ones_own_data_are_not_recorded() -> None:
    alice = factories.user("alice", is_staff=True)
    bob = factories.user("bob")

    made = admin_access_record(
        viewer=alice, member_ids=[alice.pk, bob.pk, bob.pk], model=Message, object_id="list"
    )

    assert [(row.member_id, row.model, row.object_id) for row in made] == [
        (bob.pk, "memoryapp.message", "list")
    ]
    assert made[0].what == "the list of messages"


def test_removing_a_member_removes_the_uploads_their_imports_were_waiting_with(
    alice: User,
    bob: User,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.IMPORT_DIR = tmp_path
    upload = tmp_path / "waiting-upload"
    upload.write_text('[{"title": "bob\'s chats"}]')
    ImportJob.objects.create(
        owner=bob, format="chatgpt", filename="c.json", upload_path=str(upload), sha256="0"
    )

    with django_capture_on_commit_callbacks(execute=True):
        member_remove(owner=alice, member=bob)

    assert not ImportJob.objects.filter(owner_id=bob.pk).exists()
    assert not upload.exists()

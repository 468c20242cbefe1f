from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from memoryapp.services.accounts import (
    member_create,
    owner_create,
    setup_token_create,
    setup_token_is_valid,
)

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

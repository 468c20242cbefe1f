"""Accounts: the owner created through a one-time setup link, then household members."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction

from memoryapp.models import SetupToken


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def owner_exists() -> bool:
    return User.objects.exists()


@transaction.atomic
def setup_token_create() -> str | None:
    """A new one-time token for creating the owner, or None once any user exists.

    Earlier tokens stop working: only the link printed last is valid.
    """
    if owner_exists():
        return None
    SetupToken.objects.all().delete()
    token = secrets.token_urlsafe(24)
    SetupToken.objects.create(token_hash=_hash(token))
    return token


def setup_token_is_valid(token: str) -> bool:
    return not owner_exists() and SetupToken.objects.filter(token_hash=_hash(token)).exists()


@transaction.atomic
def owner_create(*, token: str, username: str, password: str) -> User:
    """Create the owner (staff and superuser) and retire every setup token.

    Raises PermissionDenied when the token is wrong or an owner already exists.
    """
    # Locking the token row makes two simultaneous setups create one owner, not two.
    row = SetupToken.objects.select_for_update().filter(token_hash=_hash(token)).first()
    if row is None or owner_exists():
        raise PermissionDenied("This setup link is not valid (any more).")
    SetupToken.objects.all().delete()
    owner: User = User.objects.create_superuser(username=username, password=password)
    return owner


def member_create(*, username: str, password: str) -> User:
    """A household member: signs in and chats, with a memory of their own; not staff."""
    member: User = User.objects.create_user(username=username, password=password)
    return member

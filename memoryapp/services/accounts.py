"""Accounts: the owner created through a one-time setup link, then household members; their
passwords, their removal, and their privacy from the administrator.

Every password set here passes settings.AUTH_PASSWORD_VALIDATORS (forms show the errors
first; the services check again, for callers without a form).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from memoryapp.models import AdminAccess, MemberSettings, SetupToken
from memoryapp.selectors.accounts import MemberData, member_data_count
from memoryapp.services.memory.importing import import_uploads_discard


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

    Raises PermissionDenied when the token is wrong or an owner already exists, and
    ValidationError when the password fails a validator.
    """
    password_validation.validate_password(password, User(username=username))
    # Locking the token row makes two simultaneous setups create one owner, not two.
    row = SetupToken.objects.select_for_update().filter(token_hash=_hash(token)).first()
    if row is None or owner_exists():
        raise PermissionDenied("This setup link is not valid (any more).")
    SetupToken.objects.all().delete()
    owner: User = User.objects.create_superuser(username=username, password=password)
    return owner


def member_create(*, username: str, password: str) -> User:
    """A household member: signs in and chats, with a memory of their own; not staff.

    Raises ValidationError when the password fails a validator.
    """
    password_validation.validate_password(password, User(username=username))
    member: User = User.objects.create_user(username=username, password=password)
    return member


def user_password_set(*, user: User, password: str) -> User:
    """A new password (the person's own change, or the owner's reset of a member's); the
    sessions signed in with the old one end. Raises ValidationError when the password fails
    a validator."""
    password_validation.validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


@transaction.atomic
def member_remove(*, owner: User, member: User) -> MemberData:
    """Delete a member and everything of theirs (conversations, messages, memory, citations,
    settings, the record of admin views), as a forget of everything; returns what there was.

    Raises PermissionDenied when the owner tries to remove themselves.
    """
    if member.pk == owner.pk:
        raise PermissionDenied("You cannot remove your own account.")
    # Locked, so that an answer or a memory job committing meanwhile waits, then fails on
    # the missing owner instead of leaving rows behind.
    User.objects.select_for_update().filter(pk=member.pk).get()
    removed = member_data_count(member=member)
    import_uploads_discard(owner=member)
    member.delete()
    return removed


def member_settings_update(*, user: User, admin_may_inspect: bool) -> MemberSettings:
    """Switch whether the administrator may inspect the user's data in the admin."""
    row, _ = MemberSettings.objects.update_or_create(
        user=user,
        defaults={"admin_may_inspect": admin_may_inspect, "updated_at": timezone.now()},
    )
    return row


def admin_access_record(
    *, viewer: User, member_ids: Iterable[int], model: type[Model], object_id: str
) -> list[AdminAccess]:
    """Record that an admin page showed `viewer` data of these people (the viewer's own
    data is never recorded). `object_id` is the object's key, or AdminAccess.LIST."""
    label = model._meta.label_lower
    now = timezone.now()
    rows = [
        AdminAccess(viewer=viewer, member_id=member_id, model=label, object_id=object_id, at=now)
        for member_id in sorted(set(member_ids) - {viewer.pk})
    ]
    return AdminAccess.objects.bulk_create(rows)

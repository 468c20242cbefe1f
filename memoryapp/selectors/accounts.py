"""Reads about people: the household's members, what removing one deletes, and who may see
whose data in the admin."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from memoryapp.models import (
    AdminAccess,
    Citation,
    Conversation,
    Fact,
    MemberSettings,
    Message,
    Segment,
)


def person_list() -> QuerySet[User]:
    """Everyone who can sign in, the owner first (the oldest account)."""
    return User.objects.order_by("date_joined", "pk")


def member_get(*, owner: User, member_id: int) -> User:
    """Another person of the household whom `owner` may manage, or 404 (also for the owner's
    own id). Staff who are not superusers never reach a superuser: resetting the owner's
    password would hand them the owner's account."""
    people = User.objects.exclude(pk=owner.pk)
    if not owner.is_superuser:
        people = people.exclude(is_superuser=True)
    return get_object_or_404(people, pk=member_id)


@dataclass(frozen=True)
class MemberData:
    """What a member has: everything removing them deletes."""

    conversations: int
    messages: int
    segments: int
    facts: int
    citations: int


def member_data_count(*, member: User) -> MemberData:
    return MemberData(
        conversations=Conversation.objects.filter(owner=member).count(),
        messages=Message.objects.filter(owner=member).count(),
        segments=Segment.objects.filter(owner=member).count(),
        facts=Fact.objects.filter(owner=member).count(),
        citations=Citation.objects.filter(owner=member).count(),
    )


def member_settings_get(*, user: User) -> MemberSettings:
    """The person's settings (unsaved defaults when they never changed any)."""
    found = MemberSettings.objects.filter(user=user).first()
    return found if found is not None else MemberSettings(user=user)


def admin_visible_owner_ids(*, viewer: User) -> list[int]:
    """Whose data the admin shows `viewer`: their own, and that of everyone who let the
    administrator inspect their memory. Being a superuser changes nothing."""
    consenting = MemberSettings.objects.filter(admin_may_inspect=True).exclude(user=viewer)
    return [viewer.pk, *consenting.values_list("user_id", flat=True)]


def admin_access_list(*, member: User) -> QuerySet[AdminAccess]:
    """Every admin view of the member's data by someone else, newest first."""
    return AdminAccess.objects.filter(member=member).select_related("viewer")

"""The "memory updated" notice in the person's open chats, with an undo for the changeset."""

from __future__ import annotations

from django.template.loader import render_to_string

from memoryapp.models import MemoryChangeset
from memoryapp.services.notifications import user_notify


def changeset_notify(*, changeset: MemoryChangeset) -> None:
    html = render_to_string(
        "memory/notice.html#notice_oob", {"changeset": changeset, "events": changeset.events.all()}
    )
    user_notify(user_id=changeset.owner_id, html=html)

"""The Django admin: inspect conversations and memory. Derived memory is read-only here; it is
rebuilt by the pipeline, and changes to facts go through the journal (undoable)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from memoryapp.models import (
    Conversation,
    Fact,
    FactSource,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Passage,
    Profile,
    Segment,
)

EMBEDDINGS = ("embedding", "key_embedding", "summary_embedding", "search_vector")


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Everything visible, nothing editable, added or deleted from here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        model_fields = {f.name for f in self.model._meta.get_fields()}
        return [name for name in EMBEDDINGS if name in model_fields]


class ReadOnlyInline:
    """Inline rows shown, never added, changed or deleted."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(ReadOnlyInline, admin.TabularInline[Message, Conversation]):
    model = Message
    fields = ("sequence", "role", "speaker", "created_at", "status", "content", "segment")
    readonly_fields = fields
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    list_display = ("__str__", "owner", "created_at", "updated_at")
    list_filter = ("owner",)
    search_fields = ("title",)
    readonly_fields = ("owner", "created_at", "updated_at")
    exclude = ("search_vector",)
    inlines = [MessageInline]


class PassageInline(ReadOnlyInline, admin.TabularInline[Passage, Message]):
    """The sentences retrieval can find the message by, each with its own vector."""

    model = Passage
    fields = ("position", "text")
    readonly_fields = fields


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("short", "role", "speaker", "owner", "conversation", "created_at", "status")
    list_filter = ("role", "status", "owner")
    search_fields = ("content", "external_id")
    list_select_related = ("owner", "conversation")
    inlines = [PassageInline]

    @admin.display(description="content")
    def short(self, message: Message) -> str:
        return message.content[:80]


class FactInline(ReadOnlyInline, admin.TabularInline[Fact, Segment]):
    model = Fact
    fields = ("text", "kind", "status", "confidence", "valid_from", "valid_to")
    readonly_fields = fields
    show_change_link = True


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__", "owner", "conversation", "status", "job_status", "message_count",
        "start_at", "attempts", "llm_calls",
    )  # fmt: skip
    list_filter = ("status", "job_status", "summary_source", "owner")
    search_fields = ("title", "summary", "retrieval_key")
    list_select_related = ("owner", "conversation")
    inlines = [FactInline]


class FactSourceInline(ReadOnlyInline, admin.TabularInline[FactSource, Fact]):
    model = FactSource
    fields = ("message",)
    readonly_fields = fields


@admin.register(Fact)
class FactAdmin(ReadOnlyAdmin):
    list_display = ("text", "owner", "kind", "status", "confidence", "valid_from", "valid_to")
    list_filter = ("status", "kind", "owner")
    search_fields = ("text", "subject")
    list_select_related = ("owner",)
    inlines = [FactSourceInline]


class MemoryEventInline(ReadOnlyInline, admin.TabularInline[MemoryEvent, MemoryChangeset]):
    model = MemoryEvent
    fields = ("action", "fact", "reason", "before", "after")
    readonly_fields = fields


@admin.register(MemoryChangeset)
class MemoryChangesetAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "source", "segment", "undone_by")
    list_filter = ("source", "owner")
    inlines = [MemoryEventInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[MemoryChangeset]:
        return super().get_queryset(request).select_related("owner", "segment")


@admin.register(MemoryEvent)
class MemoryEventAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "action", "changeset", "created_at")
    list_filter = ("action", "owner")


@admin.register(Profile)
class ProfileAdmin(ReadOnlyAdmin):
    list_display = ("owner", "fact_count", "source", "stale", "updated_at")

"""The Django admin: inspect conversations and memory. Derived memory is read-only here; it is
rebuilt by the pipeline, and changes to facts go through the journal (undoable).

Members' privacy: every page here shows the signed-in staff user their own data, and the data
of the people who switched on "let the administrator inspect my memory", nobody else's
(being a superuser changes nothing); others' rows can be looked at, never changed. Each page
that shows someone else's rows is recorded (AdminAccess) and listed on their account page.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.contrib.admin.options import BaseModelAdmin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse

from memoryapp.models import (
    AdminAccess,
    Citation,
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
from memoryapp.selectors.accounts import admin_visible_owner_ids
from memoryapp.services.accounts import admin_access_record

EMBEDDINGS = ("embedding", "key_embedding", "summary_embedding", "search_vector")
# Filter by person, offering only the people whose rows the viewer may see.
BY_OWNER = ("owner", admin.RelatedOnlyFieldListFilter)


def _viewer(request: HttpRequest) -> User:
    return cast(User, request.user)


def _visible_owner_ids(request: HttpRequest) -> list[int]:
    """Whose rows this request may show, looked up once per request."""
    cached: list[int] | None = getattr(request, "_admin_visible_owner_ids", None)
    if cached is None:
        cached = admin_visible_owner_ids(viewer=_viewer(request))
        setattr(request, "_admin_visible_owner_ids", cached)  # noqa: B010
    return cached


class OwnDataOnly(BaseModelAdmin[Any]):
    """For every admin and inline of people's data (each such model has an `owner`): rows of
    the viewer and of the people who consented, and only the viewer's can be changed.

    Everything in the admin reads through get_queryset: lists, search, the owner filter's
    choices (RelatedOnlyFieldListFilter), objects opened by URL (another's id gives "doesn't
    exist"), inlines, autocomplete and the pages related-object links lead to. Autocomplete
    offers the viewer's own rows only: its answers are not pages that could be recorded.
    """

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        match = request.resolver_match
        if match is not None and match.view_name == "admin:autocomplete":
            owner_ids = [_viewer(request).pk]
        else:
            owner_ids = _visible_owner_ids(request)
        return super().get_queryset(request).filter(owner_id__in=owner_ids)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        mine = obj is None or obj.owner_id == request.user.pk
        return mine and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        mine = obj is None or obj.owner_id == request.user.pk
        return mine and super().has_delete_permission(request, obj)


class MemberDataAdmin(OwnDataOnly, admin.ModelAdmin[Any]):
    """An admin of people's data: OwnDataOnly, and a record of every page showing another
    person's rows (a list page only when one of its rows is theirs)."""

    def _record(self, request: HttpRequest, owner_ids: set[int], object_id: str) -> None:
        model: type[Model] = self.model
        admin_access_record(
            viewer=_viewer(request), member_ids=owner_ids, model=model, object_id=object_id
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", None) or {}
        if "cl" in changelist:
            # The page's rows, which the template then renders without another query.
            owner_ids = {row.owner_id for row in changelist["cl"].result_list}
            self._record(request, owner_ids, AdminAccess.LIST)
        return response

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None:
            self._record(request, {obj.owner_id}, str(obj.pk))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The history page shows the object too (its name, e.g. a conversation's title).
        response = super().history_view(request, object_id, extra_context)
        obj = (getattr(response, "context_data", None) or {}).get("object")
        if obj is not None:
            self._record(request, {obj.owner_id}, str(obj.pk))
        return response

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[Any, Any], set[Any], list[Any]]:
        # "Delete selected" on a list that shows another person's rows deletes nothing of
        # theirs (and its confirmation page does not list their data).
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if any(obj.owner_id != request.user.pk for obj in objs):
            perms_needed.add(f"{self.model._meta.verbose_name_plural} of other people")
        return deleted, counts, perms_needed, protected


class ReadOnlyAdmin(MemberDataAdmin):
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


class ReadOnlyInline(OwnDataOnly):
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
class ConversationAdmin(MemberDataAdmin):
    list_display = ("__str__", "owner", "created_at", "updated_at")
    list_filter = (BY_OWNER,)
    search_fields = ("title",)
    readonly_fields = ("owner", "created_at", "updated_at")
    exclude = ("search_vector",)
    inlines = [MessageInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # conversations start in the chat, which gives them their owner


class PassageInline(ReadOnlyInline, admin.TabularInline[Passage, Message]):
    """The sentences retrieval can find the message by, each with its own vector."""

    model = Passage
    fields = ("position", "text")
    readonly_fields = fields


class CitationInline(ReadOnlyInline, admin.TabularInline[Citation, Message]):
    """The memory units an answer was given, by number."""

    model = Citation
    fk_name = "answer"
    fields = ("number", "kind", "segment", "fact", "message_ids", "rank", "score", "cited")
    readonly_fields = fields
    show_change_link = True


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("short", "role", "speaker", "owner", "conversation", "created_at", "status")
    list_filter = ("role", "status", BY_OWNER)
    search_fields = ("content", "external_id")
    list_select_related = ("owner", "conversation")
    inlines = [PassageInline, CitationInline]

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
    list_filter = ("status", "job_status", "summary_source", BY_OWNER)
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
    list_filter = ("status", "kind", BY_OWNER)
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
    list_filter = ("source", BY_OWNER)
    inlines = [MemoryEventInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[MemoryChangeset]:
        return super().get_queryset(request).select_related("owner", "segment")


@admin.register(MemoryEvent)
class MemoryEventAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "action", "changeset", "created_at")
    list_filter = ("action", BY_OWNER)


@admin.register(Profile)
class ProfileAdmin(ReadOnlyAdmin):
    list_display = ("owner", "fact_count", "source", "stale", "updated_at")
    list_filter = (BY_OWNER,)


@admin.register(Passage)
class PassageAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "message", "position")
    list_filter = (BY_OWNER,)
    search_fields = ("text",)
    list_select_related = ("owner", "message")


@admin.register(FactSource)
class FactSourceAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "fact", "message")
    list_filter = (BY_OWNER,)
    list_select_related = ("owner", "fact", "message")


@admin.register(Citation)
class CitationAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "answer", "kind", "rank", "score", "cited")
    list_filter = ("kind", "cited", BY_OWNER)
    list_select_related = ("owner", "answer")


admin.site.unregister(User)


@admin.register(User)
class PersonAdmin(UserAdmin[User]):
    """Django's user admin, except that a person is removed on the Members page: Django's own
    deletion page lists every row the user owns, their conversations and memory included."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

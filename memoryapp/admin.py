"""The Django admin: inspect conversations and memory. Derived memory is read-only here; it is
rebuilt by the pipeline, and changes to facts go through the journal (undoable).

Members' privacy: every page here shows the signed-in staff user their own data, and the data
of the people who switched on "let the administrator inspect my memory", nobody else's
(being a superuser changes nothing); others' rows can be looked at, never changed. Each page
that shows someone else's rows is recorded (AdminAccess) and listed on their account page:
lists, objects, their history, a memory's nearest memories, the failed jobs and an export.

Inspection tools: filters by owner, status, kind and date; full-text search through the
tables' `search_vector`; a memory's nearest memories of the same owner; the failed jobs with
the model's raw output; and actions. The repairs (retry a consolidation, embed again) run
the pipeline's own jobs again and apply to every row the viewer may see; retracting a fact
is a decision about what is true of a person, so it applies to the viewer's own facts only,
as their own correction in the journal; an export of someone else's memory needs their
consent, like a page.

Lists stay fast on large tables: no full counts (`admin_paging`), no facets, and the columns
a list does not show (vectors, search vectors, long texts) are left out of its query. A
vector is shown as its size and model, never as numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, cast
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import (
    IS_FACETS_VAR,
    IS_POPUP_VAR,
    TO_FIELD_VAR,
    BaseModelAdmin,
)
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ALL_VAR, ERROR_FLAG, ORDER_VAR, PAGE_VAR, ChangeList
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Left
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from memoryapp.admin_paging import LargeTablePaginator
from memoryapp.models import (
    AdminAccess,
    Citation,
    Conversation,
    Fact,
    FactProposal,
    FactSource,
    ImportJob,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Passage,
    Profile,
    Segment,
)
from memoryapp.models.conversation import SEARCH_CONFIG
from memoryapp.selectors.accounts import admin_visible_owner_ids
from memoryapp.selectors.admin_inspection import (
    FAILED_LIMIT,
    NEAREST_LIMIT,
    Neighbour,
    fact_neighbours,
    failed_import_jobs,
    failed_segments,
    segment_neighbours,
)
from memoryapp.services.accounts import admin_access_record
from memoryapp.services.conversations import conversation_delete
from memoryapp.services.memory import maintenance
from memoryapp.services.memory.corrections import fact_retract
from memoryapp.services.memory.forget import ForgetTarget, forget_preview
from memoryapp.views.memory import memory_export_response

EMBEDDINGS = ("embedding", "key_embedding", "summary_embedding", "search_vector")
# Changelist parameters that neither filter nor search the list.
NOT_FILTERS = frozenset(
    {ALL_VAR, ORDER_VAR, PAGE_VAR, ERROR_FLAG, IS_POPUP_VAR, TO_FIELD_VAR, IS_FACETS_VAR}
)
# What an export holds, recorded as a look at each of these lists of the person's.
EXPORTED_MODELS: tuple[type[Model], ...] = (
    Conversation, Message, Segment, Fact, FactProposal, MemoryChangeset, Profile, Citation,
)  # fmt: skip


def _viewer(request: HttpRequest) -> User:
    return cast(User, request.user)


def _visible_owner_ids(request: HttpRequest) -> list[int]:
    """Whose rows this request may show, looked up once per request."""
    cached: list[int] | None = getattr(request, "_admin_visible_owner_ids", None)
    if cached is None:
        cached = admin_visible_owner_ids(viewer=_viewer(request))
        setattr(request, "_admin_visible_owner_ids", cached)  # noqa: B010
    return cached


def _is_filtered(request: HttpRequest) -> bool:
    return any(value for key, value in request.GET.items() if key not in NOT_FILTERS)


def _uuids(values: Iterable[str]) -> list[UUID]:
    """The values that are ids (a form's; anything else is dropped)."""
    ids = []
    for value in values:
        try:
            ids.append(UUID(value))
        except ValueError:
            continue
    return ids


def _vector(vector: Any, model: str) -> str:
    """A vector as its size and model, never its numbers."""
    if vector is None:
        return "none yet"
    stamp = f"model {model}" if model else "no model stamp: the upkeep embeds it again"
    return f"{len(vector)}-dim vector ({stamp})"


def _pre(text: str) -> SafeString | str:
    """Text kept as it came (model output, an error), escaped."""
    return format_html('<pre class="raw-text">{}</pre>', text) if text else "-"


def _snapshot(snapshot: dict[str, Any] | None) -> SafeString | str:
    """A journal snapshot of a fact, its vector shown as its size."""
    if snapshot is None:
        return "-"
    shown = dict(snapshot)
    if "embedding" in shown:
        shown["embedding"] = _vector(shown["embedding"], shown.get("embedding_model", ""))
    return _pre(json.dumps(shown, indent=2, ensure_ascii=False))


def _does_not_exist(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, object_id: str
) -> HttpResponse:
    """As the admin answers an id it does not show (another person's, without consent): a
    message and the admin's index."""
    name = model_admin.opts.verbose_name
    # Django's own words for it.
    message = (
        f"{name} with ID \N{LEFT DOUBLE QUOTATION MARK}{unquote(object_id)}"
        "\N{RIGHT DOUBLE QUOTATION MARK} doesn\N{RIGHT SINGLE QUOTATION MARK}t exist. "
        "Perhaps it was deleted?"
    )
    model_admin.message_user(request, message, messages.WARNING)
    return HttpResponseRedirect(reverse("admin:index", current_app=model_admin.admin_site.name))


class VisibleOwnerFilter(admin.RelatedFieldListFilter):
    """Filter by person, offering the people whose rows the viewer may see: read from the
    users, not from the owners of every row of the list (RelatedOnlyFieldListFilter)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False,
            ordering=ordering,
            limit_choices_to={"pk__in": _visible_owner_ids(request)},
        )


BY_OWNER = ("owner", VisibleOwnerFilter)


class UndoneFilter(admin.EmptyFieldListFilter):
    """Whether a changeset was undone: Django's filter of an empty `undone_by`, in words."""

    labels = {None: "All", "1": "Not undone", "0": "Undone"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "undone"

    def choices(self, changelist: Any) -> Iterator[Any]:
        for lookup, choice in zip(self.labels, super().choices(changelist), strict=True):
            yield {**choice, "display": self.labels[lookup]}


class LeanChangeList(ChangeList):
    """A changelist whose query leaves out what its admin's `list_queryset` says."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        return cast("MemberDataAdmin", self.model_admin).list_queryset(queryset)


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
    person's rows (a list page only when one of its rows is theirs). Lists as fast on large
    tables as on small ones (see the module's docstring); full-text search where the table
    has a `search_vector`."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = LargeTablePaginator
    # Columns the list does not show: left out of its query.
    list_defer: tuple[str, ...] = ()
    search_help_text = 'Full-text search: words, "a phrase", word or word, -word.'

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LeanChangeList

    def list_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """The changelist's rows, as its page shows them."""
        return queryset.defer(*self.list_defer) if self.list_defer else queryset

    def row_label(self, obj: Any) -> str:
        """A list row in words, from what the list reads (`list_defer`)."""
        return str(obj)

    def action_checkbox(self, obj: Any) -> SafeString:
        # Django's, labelled by `row_label`: str() of a row may read a deferred column, one
        # query per row.
        attrs = {
            "class": "action-select",
            "aria-label": format_html("Select this object for an action - {}", self.row_label(obj)),
        }
        checkbox = forms.CheckboxInput(attrs, lambda value: False)
        return checkbox.render(helpers.ACTION_CHECKBOX_NAME, str(obj.pk))

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> LargeTablePaginator:
        return LargeTablePaginator(
            queryset, per_page, orphans, allow_empty_first_page, filtered=_is_filtered(request)
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if not any(field.name == "search_vector" for field in self.model._meta.fields):
            return super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return queryset, False
        # Through the owner's full-text index (owner_id, search_vector), not a scan of LIKE.
        query = SearchQuery(term, config=SEARCH_CONFIG, search_type="websearch")
        return queryset.filter(search_vector=query), False

    def _record(self, request: HttpRequest, owner_ids: set[int], object_id: str) -> None:
        model: type[Model] = self.model
        admin_access_record(
            viewer=_viewer(request), member_ids=owner_ids, model=model, object_id=object_id
        )

    def has_maintain_permission(self, request: HttpRequest) -> bool:
        """May run the repair actions: Django's permission to change these rows (the pages
        themselves stay read-only)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

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

    # Fields a method of the admin shows instead (as text kept as it came, a snapshot).
    shown_otherwise: tuple[str, ...] = ()

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        model_fields = {f.name for f in self.model._meta.get_fields()}
        return [name for name in (*EMBEDDINGS, *self.shown_otherwise) if name in model_fields]


class NearestMemoriesAdmin(ReadOnlyAdmin):
    """A read-only admin of memories with vectors: each has a page of its nearest memories
    of the same owner, linked from its change page."""

    def neighbours(self, obj: Any) -> list[Neighbour[Any]]:
        raise NotImplementedError

    def vector_of(self, obj: Any) -> Any:
        raise NotImplementedError

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        nearest = path(
            "<path:object_id>/nearest/",
            self.admin_site.admin_view(self.nearest_view),
            name=f"{opts.app_label}_{opts.model_name}_nearest",
        )
        # Before the model's own catch-all "<object_id>/" redirect.
        return [nearest, *super().get_urls()]

    @admin.display(description="nearest memories")
    def nearest_link(self, obj: Any) -> SafeString | str:
        if obj is None or obj.pk is None:
            return "-"
        opts = self.opts
        url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_nearest",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )
        return format_html(
            '<a href="{}">The {} {} of this person nearest to it</a>',
            url,
            NEAREST_LIMIT,
            opts.verbose_name_plural,
        )

    def nearest_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return _does_not_exist(self, request, object_id)
        neighbours = self.neighbours(obj)
        self._record(request, {obj.owner_id}, str(obj.pk))
        if neighbours:
            self._record(request, {obj.owner_id}, AdminAccess.LIST)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Nearest {self.opts.verbose_name_plural}",
            "subtitle": str(obj),
            "opts": self.opts,
            "original": obj,
            "has_vector": self.vector_of(obj) is not None,
            "neighbours": neighbours,
            "limit": NEAREST_LIMIT,
        }
        return TemplateResponse(request, "admin/memoryapp/nearest.html", context)


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
    list_display = ("__str__", "owner", "incognito", "created_at", "updated_at")
    list_filter = ("incognito", ("updated_at", admin.DateFieldListFilter), BY_OWNER)
    search_fields = ("title",)
    list_select_related = ("owner",)
    list_defer = ("search_vector",)
    # Incognito is switched in the chat, which forgets what was learned from it; an import's
    # id keeps the import idempotent.
    readonly_fields = ("owner", "incognito", "external_id", "created_at", "updated_at")
    exclude = ("search_vector",)
    inlines = [MessageInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # conversations start in the chat, which gives them their owner

    # Deleting a conversation here is the chat's delete, a forget of everything learned from
    # it (`services.conversations.conversation_delete`), not Django's cascade, which would
    # leave the facts learned from it. The confirmation page shows the forget's preview.
    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[Any, Any], set[Any], list[Any]]:
        conversations = list(objs)
        if any(conversation.owner_id != request.user.pk for conversation in conversations):
            return [], {}, {"conversations of other people"}, []
        previews = [
            f"{conversation}: "
            + forget_preview(
                owner=_viewer(request), target=ForgetTarget("conversation", conversation.pk)
            ).summary()
            for conversation in conversations
        ]
        return previews, {"conversations": len(conversations)}, set(), []

    def delete_model(self, request: HttpRequest, obj: Conversation) -> None:
        conversation_delete(conversation=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        for conversation in queryset:
            conversation_delete(conversation=conversation)


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
    list_filter = (
        "role", "status", "private", ("created_at", admin.DateFieldListFilter), BY_OWNER,
    )  # fmt: skip
    search_fields = ("content",)
    list_select_related = ("owner", "conversation")
    list_defer = (
        "content", "embedding", "search_vector", "error", "note", "conversation__search_vector",
    )  # fmt: skip
    readonly_fields = ("vector",)
    inlines = [PassageInline, CitationInline]
    actions = ["reembed"]

    def list_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # The first characters only: a turn may be pages long.
        rows = super().list_queryset(queryset)
        return cast("QuerySet[Any]", rows.annotate(content_start=Left("content", 80)))

    @admin.display(description="content")
    def short(self, message: Message) -> str:
        start: str | None = getattr(message, "content_start", None)
        return start if start is not None else message.content[:80]

    def row_label(self, obj: Message) -> str:
        return f"{obj.role}: {self.short(obj)[:60]}"

    @admin.display(description="embedding")
    def vector(self, message: Message) -> str:
        return _vector(message.embedding, message.embedding_model)

    @admin.action(description="Embed again (the upkeep's next pass)", permissions=["maintain"])
    def reembed(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        marked = maintenance.messages_reembed(
            message_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(request, f"{marked} messages will be embedded again by the upkeep.")


class FactInline(ReadOnlyInline, admin.TabularInline[Fact, Segment]):
    model = Fact
    fields = ("text", "kind", "status", "confidence", "valid_from", "valid_to")
    readonly_fields = fields
    show_change_link = True


@admin.register(Segment)
class SegmentAdmin(NearestMemoriesAdmin):
    list_display = (
        "__str__", "owner", "conversation", "status", "job_status", "message_count",
        "start_at", "attempts", "llm_calls",
    )  # fmt: skip
    list_filter = (
        "status", "job_status", "summary_source", ("start_at", admin.DateFieldListFilter),
        BY_OWNER,
    )  # fmt: skip
    search_fields = ("title", "summary", "retrieval_key")
    list_select_related = ("owner", "conversation")
    list_defer = (
        "key_embedding", "summary_embedding", "search_vector", "summary", "retrieval_key",
        "keywords", "raw_output", "last_error", "conversation__search_vector",
    )  # fmt: skip
    shown_otherwise = ("raw_output", "last_error")
    readonly_fields = (
        "nearest_link", "key_vector", "summary_vector", "error_shown", "raw_output_shown",
    )  # fmt: skip
    inlines = [FactInline]
    actions = ["retry_consolidation", "reembed"]

    def neighbours(self, obj: Segment) -> list[Neighbour[Any]]:
        return list(segment_neighbours(segment=obj))

    def vector_of(self, obj: Segment) -> Any:
        return obj.key_embedding

    @admin.display(description="key embedding")
    def key_vector(self, segment: Segment) -> str:
        return _vector(segment.key_embedding, segment.embedding_model)

    @admin.display(description="summary embedding")
    def summary_vector(self, segment: Segment) -> str:
        return _vector(segment.summary_embedding, segment.embedding_model)

    @admin.display(description="last error")
    def error_shown(self, segment: Segment) -> SafeString | str:
        return _pre(segment.last_error)

    @admin.display(description="raw model output")
    def raw_output_shown(self, segment: Segment) -> SafeString | str:
        return _pre(segment.raw_output)

    @admin.action(
        description="Retry consolidation (failed, or waiting for a retry)",
        permissions=["maintain"],
    )
    def retry_consolidation(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        selected = list(queryset.values_list("pk", flat=True))
        queued = maintenance.segments_consolidation_retry(segment_ids=selected)
        left = len(selected) - len(queued)
        message = f"{len(queued)} segments queued for consolidation again, with all attempts."
        if left:
            message += f" {left} left alone: only failed or waiting consolidations are retried."
        self.message_user(request, message, messages.SUCCESS if queued else messages.WARNING)

    @admin.action(description="Embed again (the upkeep's next pass)", permissions=["maintain"])
    def reembed(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        marked = maintenance.segments_reembed(
            segment_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(request, f"{marked} segments will be embedded again by the upkeep.")

    def get_urls(self) -> list[URLPattern]:
        failed = path(
            "failed/",
            self.admin_site.admin_view(self.failed_view),
            name="memoryapp_segment_failed",
        )
        return [failed, *super().get_urls()]

    def failed_view(self, request: HttpRequest) -> HttpResponse:
        """The failed jobs of the people the viewer may see: consolidations parked after
        their attempts and imports that failed, each with its error and the model's raw
        output; failed consolidations can be queued again from here."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_maintain_permission(request):
                raise PermissionDenied
            chosen = _uuids(request.POST.getlist("segment"))
            if chosen:
                self.retry_consolidation(request, self.get_queryset(request).filter(pk__in=chosen))
            else:
                self.message_user(
                    request, "No segment was chosen: nothing was retried.", messages.WARNING
                )
            return HttpResponseRedirect(request.get_full_path())
        owner_ids = _visible_owner_ids(request)
        viewer = _viewer(request)
        segments = failed_segments(owner_ids=owner_ids)
        shown_segments = list(segments[:FAILED_LIMIT])
        admin_access_record(
            viewer=viewer,
            member_ids={segment.owner_id for segment in shown_segments},
            model=Segment,
            object_id=AdminAccess.LIST,
        )
        shown_imports: list[ImportJob] = []
        imports = failed_import_jobs(owner_ids=owner_ids)
        if self.admin_site.get_model_admin(ImportJob).has_view_permission(request):
            shown_imports = list(imports[:FAILED_LIMIT])
            admin_access_record(
                viewer=viewer,
                member_ids={job.owner_id for job in shown_imports},
                model=ImportJob,
                object_id=AdminAccess.LIST,
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Failed jobs",
            "opts": self.opts,
            "segments": shown_segments,
            "segment_total": (
                segments.count() if len(shown_segments) == FAILED_LIMIT else len(shown_segments)
            ),
            "imports": shown_imports,
            "import_total": (
                imports.count() if len(shown_imports) == FAILED_LIMIT else len(shown_imports)
            ),
            "may_retry": self.has_maintain_permission(request),
            "limit": FAILED_LIMIT,
        }
        return TemplateResponse(request, "admin/memoryapp/failed_jobs.html", context)


class FactSourceInline(ReadOnlyInline, admin.TabularInline[FactSource, Fact]):
    model = FactSource
    fields = ("message",)
    readonly_fields = fields


@admin.register(Fact)
class FactAdmin(NearestMemoriesAdmin):
    list_display = (
        "text", "owner", "kind", "status", "confidence", "valid_from", "valid_to", "recorded_at",
    )  # fmt: skip
    list_filter = (
        "status", "kind", ("recorded_at", admin.DateFieldListFilter),
        ("user_edited_at", admin.EmptyFieldListFilter), BY_OWNER,
    )  # fmt: skip
    search_fields = ("text",)
    list_select_related = ("owner",)
    list_defer = ("embedding", "search_vector")
    readonly_fields = ("nearest_link", "vector")
    inlines = [FactSourceInline]
    actions = ["retract", "reembed"]

    def neighbours(self, obj: Fact) -> list[Neighbour[Any]]:
        return list(fact_neighbours(fact=obj))

    def vector_of(self, obj: Fact) -> Any:
        return obj.embedding

    @admin.display(description="embedding")
    def vector(self, fact: Fact) -> str:
        return _vector(fact.embedding, fact.embedding_model)

    @admin.action(
        description="Retract (your own facts: a correction in your journal, undoable)",
        permissions=["maintain"],
    )
    def retract(self, request: HttpRequest, queryset: QuerySet[Fact]) -> None:
        viewer = _viewer(request)
        facts = list(queryset.order_by("recorded_at", "pk"))
        others = [fact for fact in facts if fact.owner_id != viewer.pk]
        retracted, refused = 0, []
        for fact in facts:
            if fact.owner_id != viewer.pk:
                continue
            try:
                fact_retract(owner=viewer, fact=fact, reason="Retracted in the admin.")
            except ValidationError as error:
                refused.append(f"{fact.text[:60]}: {' '.join(error.messages)}")
            else:
                retracted += 1
        if retracted:
            self.message_user(request, f"{retracted} facts retracted, each a change you can undo.")
        for line in refused:
            self.message_user(request, f"Not retracted: {line}", messages.WARNING)
        if others:
            self.message_user(
                request,
                f"{len(others)} facts of other people were left alone: only a person retracts "
                "their own facts (on their Memory page).",
                messages.WARNING,
            )

    @admin.action(description="Embed again (the upkeep's next pass)", permissions=["maintain"])
    def reembed(self, request: HttpRequest, queryset: QuerySet[Fact]) -> None:
        marked = maintenance.facts_reembed(fact_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{marked} facts will be embedded again by the upkeep.")


class MemoryEventInline(ReadOnlyInline, admin.TabularInline[MemoryEvent, MemoryChangeset]):
    model = MemoryEvent
    fields = ("action", "fact", "reason", "before_shown", "after_shown")
    readonly_fields = fields

    @admin.display(description="before")
    def before_shown(self, event: MemoryEvent) -> SafeString | str:
        return _snapshot(event.before)

    @admin.display(description="after")
    def after_shown(self, event: MemoryEvent) -> SafeString | str:
        return _snapshot(event.after)


# A list row's segment or message without its vectors and long texts.
_SEGMENT_HEAVY = (
    "key_embedding", "summary_embedding", "search_vector", "summary", "retrieval_key",
    "raw_output", "last_error",
)  # fmt: skip
_MESSAGE_HEAVY = ("embedding", "search_vector", "error", "note")


@admin.register(MemoryChangeset)
class MemoryChangesetAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "source", "segment", "undone_by")
    list_filter = (
        "source", ("created_at", admin.DateFieldListFilter), ("undone_by", UndoneFilter), BY_OWNER,
    )  # fmt: skip
    list_select_related = ("owner", "segment", "undone_by")
    list_defer = tuple(f"segment__{name}" for name in _SEGMENT_HEAVY)
    inlines = [MemoryEventInline]


@admin.register(MemoryEvent)
class MemoryEventAdmin(ReadOnlyAdmin):
    list_display = ("text", "owner", "action", "changeset", "created_at")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter), BY_OWNER)
    list_select_related = ("owner", "changeset")
    # Snapshots hold a fact's every column, its vector too.
    list_defer = ("before", "after")
    shown_otherwise = ("before", "after")
    readonly_fields = ("before_shown", "after_shown")

    def list_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        rows = super().list_queryset(queryset)
        text = Coalesce(KT("after__text"), KT("before__text"))
        return cast("QuerySet[Any]", rows.annotate(snapshot_text=text))

    @admin.display(description="event")
    def text(self, event: MemoryEvent) -> str:
        text = getattr(event, "snapshot_text", None)
        return str(event) if text is None else f"{event.action}: {text}"

    def row_label(self, obj: MemoryEvent) -> str:
        return self.text(obj)

    @admin.display(description="before")
    def before_shown(self, event: MemoryEvent) -> SafeString | str:
        return _snapshot(event.before)

    @admin.display(description="after")
    def after_shown(self, event: MemoryEvent) -> SafeString | str:
        return _snapshot(event.after)


@admin.register(Profile)
class ProfileAdmin(ReadOnlyAdmin):
    list_display = ("owner", "fact_count", "source", "stale", "updated_at")
    list_filter = ("stale", ("updated_at", admin.DateFieldListFilter), BY_OWNER)
    list_select_related = ("owner",)
    list_defer = ("summary",)


@admin.register(Passage)
class PassageAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "message", "position")
    list_filter = (BY_OWNER,)
    search_fields = ("text",)
    list_select_related = ("owner", "message")
    list_defer = ("embedding", *(f"message__{name}" for name in _MESSAGE_HEAVY))
    readonly_fields = ("vector",)

    @admin.display(description="embedding")
    def vector(self, passage: Passage) -> str:
        return _vector(passage.embedding, passage.message.passages_model)


@admin.register(FactSource)
class FactSourceAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "fact", "message")
    list_filter = (BY_OWNER,)
    list_select_related = ("owner", "fact", "message")
    list_defer = (
        "fact__embedding", "fact__search_vector",
        *(f"message__{name}" for name in _MESSAGE_HEAVY),
    )  # fmt: skip


@admin.register(Citation)
class CitationAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "answer", "kind", "rank", "score", "cited")
    list_filter = ("kind", "cited", BY_OWNER)
    list_select_related = ("owner", "answer")
    list_defer = tuple(f"answer__{name}" for name in _MESSAGE_HEAVY)


@admin.register(FactProposal)
class FactProposalAdmin(ReadOnlyAdmin):
    """The review inbox's proposals: decided by their owner on the Memory page."""

    list_display = ("text", "owner", "action", "why", "status", "confidence", "created_at")
    list_filter = (
        "status", "action", "why", "kind", ("created_at", admin.DateFieldListFilter), BY_OWNER,
    )  # fmt: skip
    search_fields = ("text",)
    list_select_related = ("owner",)
    list_defer = ("embedding", "merged_text", "reason", "source_message_ids")
    readonly_fields = ("vector",)

    @admin.display(description="embedding")
    def vector(self, proposal: FactProposal) -> str:
        return _vector(proposal.embedding, "")


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "filename", "owner", "format", "job_status", "progress", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = (
        "job_status", "format", ("created_at", admin.DateFieldListFilter), BY_OWNER,
    )  # fmt: skip
    search_fields = ("filename",)
    list_select_related = ("owner",)
    list_defer = ("raw_output", "last_error", "result")
    shown_otherwise = ("raw_output", "last_error")
    readonly_fields = ("error_shown", "raw_output_shown")

    @admin.display(description="progress")
    def progress(self, job: ImportJob) -> str:
        return f"{job.done} of {job.total}"

    @admin.display(description="last error")
    def error_shown(self, job: ImportJob) -> SafeString | str:
        return _pre(job.last_error)

    @admin.display(description="raw model output")
    def raw_output_shown(self, job: ImportJob) -> SafeString | str:
        return _pre(job.raw_output)


admin.site.unregister(User)


@admin.register(User)
class PersonAdmin(UserAdmin[User]):
    """Django's user admin, except that a person is removed on the Members page: Django's own
    deletion page lists every row the user owns, their conversations and memory included.
    A person's memory can be exported from here (their own, or with their consent)."""

    actions = ["export_memory"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "<path:object_id>/memory-export/",
            self.admin_site.admin_view(self.memory_export_view),
            name="auth_user_memory_export",
        )
        return [export, *super().get_urls()]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        context["memory_export_allowed"] = obj is not None and self._may_export(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _may_export(self, request: HttpRequest, person: User) -> bool:
        """Their own memory, or that of someone who let the administrator inspect it."""
        return person.pk in _visible_owner_ids(request)

    def memory_export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        person = self.get_object(request, unquote(object_id))
        if person is None:
            return _does_not_exist(self, request, object_id)
        if not self._may_export(request, person):
            raise PermissionDenied(
                f"{person.get_username()} has not let the administrator inspect their memory."
            )
        return self._export(request, person)

    @admin.action(description="Export the memory of the selected person (JSON)")
    def export_memory(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse | None:
        people = list(queryset[:2])
        if len(people) != 1:
            self.message_user(request, "Select one person to export.", messages.WARNING)
            return None
        person = people[0]
        if not self._may_export(request, person):
            self.message_user(
                request,
                f"{person.get_username()} has not let the administrator inspect their memory: "
                "nothing was exported.",
                messages.ERROR,
            )
            return None
        return self._export(request, person)

    def _export(self, request: HttpRequest, person: User) -> HttpResponse:
        """The person's memory export document, as a download; recorded as a look at each
        kind of their data it holds."""
        for model in EXPORTED_MODELS:
            admin_access_record(
                viewer=_viewer(request),
                member_ids={person.pk},
                model=model,
                object_id=AdminAccess.LIST,
            )
        return memory_export_response(person)

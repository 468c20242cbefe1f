"""HTTP views: thin, they authorise, call one service or selector, and render. This module
holds the chat, accounts and health; `memoryapp.views.memory*` the Memory page and its tools.

Every view requires a signed-in user (LoginRequiredMiddleware) unless marked otherwise, and
reaches conversations and messages only through owner-scoped selectors.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, SetPasswordForm
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.log import log_response
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget
from django_htmx.middleware import HtmxDetails

from memoryapp import forms
from memoryapp.models import Conversation, Message
from memoryapp.selectors import accounts as account_selectors
from memoryapp.selectors import citations as citation_selectors
from memoryapp.selectors import conversations as conversation_selectors
from memoryapp.selectors.health import chat_model_status, health_problems, system_health
from memoryapp.selectors.help import readme_section
from memoryapp.selectors.memory_privacy import privacy_state
from memoryapp.selectors.memory_review import pending_proposal_count
from memoryapp.services import accounts, conversations
from memoryapp.services.answer_control import answer_stop_request

MODEL_HELP_SECTION = "The demo model, and choosing a real one"
# The account page lists this many of the latest admin views of the person's data.
ACCESS_LIST_LENGTH = 200
LOOPBACK_ADDRESSES = {"127.0.0.1", "::1"}
LOGIN_LOCKED_OUT = (
    "Too many failed sign-in attempts: signing in from here is paused for {minutes} minutes "
    "(each new try starts the pause again)."
)


class AuthenticatedRequest(HttpRequest):
    """What views behind LoginRequiredMiddleware receive (HtmxMiddleware adds `htmx`)."""

    user: User
    htmx: HtmxDetails


def _health_details_allowed(request: HttpRequest, database_ok: bool) -> bool:
    """Staff, and (unless switched off) requests from this machine, see every component's
    details; to anyone else worker PIDs, host names, model paths and versions are nobody's
    business."""
    address = request.META.get("REMOTE_ADDR", "")
    if settings.HEALTHZ_DETAILS_FROM_LOCALHOST and address in LOOPBACK_ADDRESSES:
        return True
    if not database_ok:
        return False  # the user lives in the database
    try:
        return bool(request.user.is_staff)
    except DatabaseError:  # gone since the check
        return False


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every component is fine, else 503 (never 500: see LoginRequiredMiddleware in
    memoryapp/middleware.py)."""
    report = system_health()
    allowed = _health_details_allowed(request, report["database"]["ok"])
    body = report if allowed else {"ok": report["ok"]}
    if report["ok"]:
        return JsonResponse(body)
    response = JsonResponse(body, status=503)
    # Expected while the workers load their models, and polled every few seconds: logged
    # at INFO (Django logs a 5xx as an ERROR unless it was logged already).
    log_response(
        "Not ready: %s",
        "; ".join(health_problems(report)),
        response=response,
        request=request,
        level="info",
    )
    return response


def login_locked_out(request: HttpRequest, *_axes_arguments: object) -> HttpResponse:
    """django-axes' answer to a sign-in from where signing in is paused (settings
    AXES_LOCKOUT_CALLABLE), on the sign-in page and the admin's: the sign-in page saying so,
    429. (Axes passes other arguments under ASGI than under WSGI; none is needed.)"""
    context = {
        "form": AuthenticationForm(request, initial={"username": request.POST.get("username")}),
        "next": request.POST.get("next", ""),
        "locked_out": LOGIN_LOCKED_OUT.format(minutes=settings.LOGIN_LOCKOUT_MINUTES),
    }
    return render(request, "registration/login.html", context, status=429)


def _page(
    request: AuthenticatedRequest,
    conversation: Conversation | None,
    form: forms.MessageForm | None = None,
) -> HttpResponse:
    owner = request.user
    chat_messages = (
        list(conversation_selectors.message_list(conversation=conversation)) if conversation else []
    )
    context = {
        "conversation": conversation,
        "conversations": conversation_selectors.conversation_list(owner=owner),
        "chat_messages": chat_messages,
        # The memory every answer used, in two queries (see the `answer_memory` tag).
        "answer_memory": citation_selectors.answer_memory(owner_id=owner.pk, answers=chat_messages),
        "form": form or forms.MessageForm(),
        "model": chat_model_status(),
        "privacy": privacy_state(owner=owner, conversation=conversation),
        "review_pending": pending_proposal_count(owner=owner),
    }
    return render(request, "chat/conversation.html", context)


@require_GET
def home(request: AuthenticatedRequest) -> HttpResponse:
    newest = conversation_selectors.conversation_list(owner=request.user).first()
    if newest is not None:
        return redirect("conversation", conversation_id=newest.pk)
    return _page(request, conversation=None)


@require_GET
def conversation_detail(request: AuthenticatedRequest, conversation_id: UUID) -> HttpResponse:
    conversation = conversation_selectors.conversation_get(
        owner=request.user, conversation_id=conversation_id
    )
    return _page(request, conversation)


@require_POST
def conversation_new(request: AuthenticatedRequest) -> HttpResponse:
    form = forms.NewConversationForm(request.POST)
    incognito = form.is_valid() and form.cleaned_data["incognito"]  # a checkbox: always valid
    conversation = conversations.conversation_create(owner=request.user, incognito=incognito)
    return redirect("conversation", conversation_id=conversation.pk)


@require_POST
def conversation_rename(request: AuthenticatedRequest, conversation_id: UUID) -> HttpResponse:
    conversation = conversation_selectors.conversation_get(
        owner=request.user, conversation_id=conversation_id
    )
    form = forms.RenameForm(request.POST)
    if form.is_valid():
        try:
            conversations.conversation_rename(
                conversation=conversation, title=form.cleaned_data["title"]
            )
        except ValidationError as error:
            form.add_error("title", error)
    status = 200 if form.is_valid() else 422
    return render(
        request,
        "chat/conversation.html#title_header",
        {"conversation": conversation, "rename_form": form, "with_sidebar_item": True},
        status=status,
    )


@require_GET
def conversation_search(request: AuthenticatedRequest) -> HttpResponse:
    form = forms.SearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    return render(
        request,
        "chat/conversation.html#conversation_list",
        {
            "conversations": conversation_selectors.conversation_list(
                owner=request.user, query=query
            ),
            "query": query,
        },
    )


def _composer_error(
    request: HttpRequest, form: forms.MessageForm, conversation: Conversation | None
) -> HttpResponse:
    response = render(
        request,
        "chat/conversation.html#composer",
        {"form": form, "conversation": conversation},
        status=422,
    )
    return reswap(retarget(response, "#composer"), "outerHTML")


@require_POST
def message_send(request: AuthenticatedRequest, conversation_id: UUID) -> HttpResponse:
    conversation = conversation_selectors.conversation_get(
        owner=request.user, conversation_id=conversation_id
    )
    form = forms.MessageForm(request.POST)
    if not form.is_valid():
        return _composer_error(request, form, conversation)
    question, answer = conversations.message_send(
        conversation=conversation, content=form.cleaned_data["content"]
    )
    return render(
        request, "chat/conversation.html#new_exchange", {"question": question, "answer": answer}
    )


@require_POST
def conversation_start(request: AuthenticatedRequest) -> HttpResponse:
    """The first message of a new conversation, from the welcome page."""
    form = forms.MessageForm(request.POST)
    if not form.is_valid():
        return _composer_error(request, form, conversation=None)
    conversation = conversations.conversation_create(owner=request.user)
    conversations.message_send(conversation=conversation, content=form.cleaned_data["content"])
    return HttpResponseClientRedirect(conversation.get_absolute_url())


def _message_partial(request: HttpRequest, message: Message) -> HttpResponse:
    return render(request, "chat/conversation.html#message", {"message": message})


@require_GET
def message_detail(request: AuthenticatedRequest, message_id: UUID) -> HttpResponse:
    message = conversation_selectors.message_get(owner=request.user, message_id=message_id)
    return _message_partial(request, message)


@require_POST
def answer_stop(request: AuthenticatedRequest, message_id: UUID) -> HttpResponse:
    answer = conversation_selectors.message_get(owner=request.user, message_id=message_id)
    answer_stop_request(answer=answer)
    answer.refresh_from_db()
    if answer.is_finished:
        return _message_partial(request, answer)
    # The worker saves what it wrote and sends the final answer over the websocket.
    return HttpResponse(status=204)


def _answer_requeue(
    request: AuthenticatedRequest, message_id: UUID, requeue: Callable[..., Message]
) -> HttpResponse:
    """The answer sent back to pending by `requeue`, or why it cannot be (409)."""
    answer = conversation_selectors.message_get(owner=request.user, message_id=message_id)
    try:
        answer = requeue(answer=answer)
    except ValidationError as error:
        # Plain text: the page shows it in the message as it is (static/js/app.js).
        return HttpResponse(error.messages[0], status=409, content_type="text/plain")
    return _message_partial(request, answer)


@require_POST
def answer_retry(request: AuthenticatedRequest, message_id: UUID) -> HttpResponse:
    return _answer_requeue(request, message_id, conversations.answer_retry)


@require_POST
def answer_continue(request: AuthenticatedRequest, message_id: UUID) -> HttpResponse:
    return _answer_requeue(request, message_id, conversations.answer_continue)


@login_not_required
@never_cache
def setup(request: HttpRequest, token: str) -> HttpResponse:
    """Create the owner account; only with the link printed by `make run`, only once."""
    if not accounts.setup_token_is_valid(token):
        raise Http404("This setup link is not valid (any more).")
    form = forms.AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            owner = accounts.owner_create(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except PermissionDenied as error:
            raise Http404(str(error)) from error
        login(request, owner, backend="django.contrib.auth.backends.ModelBackend")
        flash.success(request, "Welcome! Your owner account is ready.")
        return redirect("home")
    return render(request, "accounts/setup.html", {"form": form})


def _owner_only(request: AuthenticatedRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only the owner can manage members.")


@require_http_methods(["GET", "POST"])
def members(request: AuthenticatedRequest) -> HttpResponse:
    """The owner (staff) adds household members; anyone else is refused."""
    _owner_only(request)
    form = forms.AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        member = accounts.member_create(
            username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
        )
        flash.success(request, f"Added {member.get_username()}. They can sign in now.")
        return redirect("members")
    people = account_selectors.person_list()
    return render(request, "accounts/members.html", {"form": form, "people": people})


@require_http_methods(["GET", "POST"])
def member_password(request: AuthenticatedRequest, member_id: int) -> HttpResponse:
    """The owner gives a member a new password (validated like any other)."""
    _owner_only(request)
    member = account_selectors.member_get(owner=request.user, member_id=member_id)
    form = SetPasswordForm(member, request.POST or None)
    if request.method == "POST" and form.is_valid():
        accounts.user_password_set(user=member, password=form.cleaned_data["new_password1"])
        flash.success(request, f"{member.get_username()} has a new password.")
        return redirect("members")
    return render(request, "accounts/member_password.html", {"form": form, "member": member})


@require_http_methods(["GET", "POST"])
def member_remove(request: AuthenticatedRequest, member_id: int) -> HttpResponse:
    """GET: what removing the member deletes; POST: delete the member and all of it."""
    _owner_only(request)
    member = account_selectors.member_get(owner=request.user, member_id=member_id)
    if request.method == "POST":
        removed = accounts.member_remove(owner=request.user, member=member)
        flash.success(
            request,
            f"Removed {member.get_username()} and all of their data: "
            f"{removed.conversations} conversations, {removed.messages} messages, "
            f"{removed.segments} memory segments, {removed.facts} facts, "
            f"{removed.citations} citations.",
        )
        return redirect("members")
    data = account_selectors.member_data_count(member=member)
    return render(request, "accounts/member_remove.html", {"member": member, "data": data})


def _account_page(
    request: AuthenticatedRequest, password_form: PasswordChangeForm | None = None
) -> HttpResponse:
    user = request.user
    prefs = account_selectors.member_settings_get(user=user)
    accesses = account_selectors.admin_access_list(member=user)
    context = {
        "password_form": password_form or PasswordChangeForm(user),
        "privacy_form": forms.PrivacyForm(initial={"admin_may_inspect": prefs.admin_may_inspect}),
        "accesses": accesses[:ACCESS_LIST_LENGTH],
        "access_count": accesses.count(),
    }
    return render(request, "accounts/account.html", context)


@require_GET
def account(request: AuthenticatedRequest) -> HttpResponse:
    """The signed-in person's own settings: password, privacy, and who looked at their data."""
    return _account_page(request)


@require_POST
def account_password(request: AuthenticatedRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST)
    if not form.is_valid():
        return _account_page(request, password_form=form)
    accounts.user_password_set(user=request.user, password=form.cleaned_data["new_password1"])
    # Keeps this session signed in; the person's other sessions end.
    update_session_auth_hash(request, request.user)
    flash.success(request, "Your password is changed.")
    return redirect("account")


@require_POST
def account_privacy(request: AuthenticatedRequest) -> HttpResponse:
    form = forms.PrivacyForm(request.POST)
    if form.is_valid():  # a checkbox: always
        prefs = accounts.member_settings_update(
            user=request.user, admin_may_inspect=form.cleaned_data["admin_may_inspect"]
        )
        flash.success(
            request,
            "The administrator may now inspect your memory in the admin."
            if prefs.admin_may_inspect
            else "The administrator can no longer see your data in the admin.",
        )
    return redirect("account")


@require_GET
def help_models(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "help/models.html",
        {"section": readme_section(MODEL_HELP_SECTION), "model": chat_model_status()},
    )

"""The answer job: claim a pending answer, build its prompt, stream it to the browser, save it.

Runs in the `chat` worker. Idempotent: only a `pending` answer can be claimed, so a redelivered
job finds it taken or finished and does nothing. A worker that dies mid-answer leaves it
`streaming` with a stale `in_flight_since`; `answers_requeue_stale` puts it back in the queue.
A worker that was only cut off (from the database, for longer than the stale period) finds
its answer taken back at its next save or heartbeat, or at the end: every write is
conditional on the attempt it claimed, so it stops and never overwrites the next attempt.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, QuerySet, TextField, Value, When
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape

from memoryapp import jobs
from memoryapp.heartbeats import AnswerLease
from memoryapp.llm import LLM, LLMError, LLMTimeout, get_llm
from memoryapp.llm import Message as PromptMessage
from memoryapp.llm.prompting import prompt_room
from memoryapp.models import Citation, Message
from memoryapp.retrieval import (
    AnswerContext,
    context_for_answer,
    is_overview_question,
    overview_units,
    profile_text,
)
from memoryapp.selectors.answers import CUT, QUEUE_ORDER
from memoryapp.services.answer_continuation import (
    continuation_join,
    continuation_prompt_build,
    continuation_rest,
)
from memoryapp.services.answer_control import (
    answer_stop_clear,
    answer_stop_requested,
    chat_busy_clear,
    chat_busy_mark,
)
from memoryapp.services.answer_queue import answer_waiting_end, answers_waiting_notify
from memoryapp.services.answer_timing import FirstFragmentClock
from memoryapp.services.chat_prompt import ChatPrompt, chat_prompt_build
from memoryapp.services.memory.privacy import message_is_private
from memoryapp.services.notifications import conversation_notify

logger = logging.getLogger(__name__)

# Pieces are sent to the browser at most this often (the first one at once).
FLUSH_SECONDS = 0.05
# The partial answer is saved this often, so a page loaded mid-answer shows most of it (the
# heartbeat thread, not this, tells the sweeper the worker is alive).
SAVE_SECONDS = 1.0
STOP_CHECK_SECONDS = 0.2


def answer_claim(*, answer_id: UUID) -> Message | None:
    """Move a pending answer to `streaming`; None when it is not pending (taken, done, gone).

    A continuation (an answer cut at the token cap, sent back by `answer_continue`) keeps the
    text it extends, and its note; any other answer starts empty."""
    claimed = Message.objects.filter(
        pk=answer_id, role=Message.Role.ASSISTANT, status=Message.Status.PENDING
    ).update(
        status=Message.Status.STREAMING,
        attempts=F("attempts") + 1,
        in_flight_since=timezone.now(),
        error="",
        content=Case(
            When(finish_reason=CUT, then=F("content")),
            default=Value(""),
            output_field=TextField(),
        ),
        note=Case(
            When(finish_reason=CUT, then=F("note")),
            default=Value(""),
            output_field=TextField(),
        ),
    )
    if claimed != 1:
        return None
    return Message.objects.select_related("conversation", "owner").get(pk=answer_id)


class _AnswerTakenBack(Exception):
    """The answer is no longer this worker's attempt (see the module's docstring)."""


class _Relay:
    """Collects streamed pieces, forwards them to the browser in small batches, saves progress."""

    def __init__(
        self,
        answer: Message,
        *,
        lease: AnswerLease,
        kept: str = "",
        clock: FirstFragmentClock | None = None,
    ) -> None:
        self.answer = answer
        self.lease = lease
        self.clock = clock or FirstFragmentClock(answer.pk)
        # A continuation's earlier text. Only the new text is streamed (into a placeholder
        # below the earlier text), and the saved text stays the earlier one until the
        # answer is finished: a page loaded meanwhile shows both parts without overlap.
        self.kept = kept
        self.text = ""
        self._unsent = ""
        self._sent_any = False
        self._last_flush = self._last_save = self._last_stop_check = time.monotonic()

    def add(self, piece: str) -> None:
        if self.lease.lost.is_set():
            raise _AnswerTakenBack
        self.text += piece
        self._unsent += piece
        now = time.monotonic()
        if now - self._last_save >= SAVE_SECONDS:
            self._save_progress()
        if not self._sent_any or now - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not self._unsent:
            return
        # The whole text so far, not the new piece: a tab that joined late (a page loaded
        # mid-answer, a reconnected socket) shows the answer without gaps or repeats. Of a
        # continuation, only what it adds (not the earlier text the model may write again).
        shown = continuation_rest(self.kept, self.text, final=False) if self.kept else self.text
        conversation_notify(
            conversation_id=self.answer.conversation_id,
            html=(
                f'<div id="stream-{self.answer.pk}" hx-swap-oob="innerHTML">{escape(shown)}</div>'
            ),
        )
        if not self._sent_any:
            self.clock.sent()
        self._unsent = ""
        self._sent_any = True
        self._last_flush = time.monotonic()

    @property
    def whole_text(self) -> str:
        return continuation_join(self.kept, self.text) if self.kept else self.text

    def _save_progress(self) -> None:
        progress: dict[str, Any] = {"in_flight_since": timezone.now()}
        if not self.kept:
            progress["content"] = self.text
        if not _this_attempt(self.answer).update(**progress):
            self.lease.lost.set()
            raise _AnswerTakenBack
        self.flush()
        chat_busy_mark()
        self._last_save = time.monotonic()

    def stop_requested(self) -> bool:
        now = time.monotonic()
        if now - self._last_stop_check < STOP_CHECK_SECONDS:
            return False
        self._last_stop_check = now
        return answer_stop_requested(answer_id=self.answer.pk)


@dataclass(frozen=True)
class _Result:
    """How an answer job ended: the status, a user-facing error, `Message.finish_reason` and,
    for an answer cut at the cap, its tokens (None: count them)."""

    status: Message.Status
    error: str = ""
    finish_reason: str = "stop"
    cut_tokens: int | None = None


def _prompt(llm: LLM, relay: _Relay, context: AnswerContext) -> ChatPrompt:
    """The answer's prompt (with `relay.kept`, the one that continues a cut answer), within
    the model's context window."""
    room = prompt_room(
        context_size=llm.load().context_size, answer_tokens=settings.CHAT_ANSWER_MAX_TOKENS
    )
    if relay.kept:
        return continuation_prompt_build(
            context=context,
            partial=relay.kept,
            history_tokens=settings.CHAT_HISTORY_TOKENS,
            answer_tokens=settings.CHAT_ANSWER_MAX_TOKENS,
            room=room,
            count_tokens=llm.count_tokens,
        )
    return chat_prompt_build(
        context=context,
        history_tokens=settings.CHAT_HISTORY_TOKENS,
        room=room,
        count_tokens=llm.count_tokens,
    )


def _question_note(prompt: ChatPrompt) -> str:
    """What the person is told when their question was too long to be read whole."""
    cut = prompt.question_cut
    if cut is None:
        return ""
    return (
        "Your message was too long for the model: it read only its last part "
        f"(about {cut.shown_tokens:,} of {cut.tokens:,} tokens)."
    )


def _generate(llm: LLM, relay: _Relay, prompt: list[PromptMessage]) -> _Result:
    """Stream the answer (or, with `relay.kept`, the rest of a cut one) into `relay`."""
    pieces = llm.stream(prompt, max_tokens=settings.CHAT_ANSWER_MAX_TOKENS)
    try:
        for piece in pieces:
            relay.clock.mark("model")
            relay.add(piece)
            if relay.stop_requested():
                return _Result(Message.Status.STOPPED)
    except LLMTimeout as exc:
        return _Result(
            Message.Status.FAILED,
            f"The model did not finish within {exc.seconds:.0f} seconds; "
            "what it wrote so far is kept.",
        )
    finally:
        pieces.close()
    if llm.last_finish_reason == CUT:
        usage = llm.last_usage
        tokens = None if usage is None else usage.completion_tokens
        return _Result(Message.Status.DONE, finish_reason=CUT, cut_tokens=tokens)
    return _Result(Message.Status.DONE)


def _overview(answer: Message, relay: _Relay) -> AnswerContext:
    """ "What do you know about me?": the profile and key facts, each citing its source,
    written from memory itself rather than by the model (which could get them wrong)."""
    units = overview_units(owner=answer.owner)
    profile = profile_text(answer.owner)
    if not units and not profile:
        relay.add("I don't know anything about you yet: tell me about yourself and I'll remember.")
    else:
        relay.add("Here is what I remember about you.\n\n")
        if profile:
            relay.add(profile + "\n\n")
        for unit in units:
            relay.add(f"- {unit.text} [{unit.number}]\n")
    return AnswerContext(turns=[], units=units, profile=profile)


def _store_citations(answer: Message, context: AnswerContext) -> None:
    cited = {int(n) for n in re.findall(r"\[(\d{1,3})\]", answer.content)}
    Citation.objects.filter(answer=answer).delete()
    Citation.objects.bulk_create(
        [
            Citation(
                answer=answer,
                owner_id=answer.owner_id,
                number=unit.number,
                kind=unit.kind,
                segment_id=unit.ref_id if unit.kind == "segment" else None,
                fact_id=unit.ref_id if unit.kind == "fact" else None,
                message_ids=list(unit.message_ids),
                rank=rank,
                score=unit.score,
                cited=unit.number in cited,
            )
            for rank, unit in enumerate(context.units, start=1)
        ]
    )


def _this_attempt(answer: Message) -> QuerySet[Message]:
    """The answer's row while it is still the attempt `answer` claimed."""
    return Message.objects.filter(
        pk=answer.pk, status=Message.Status.STREAMING, attempts=answer.attempts
    )


def _taken_back(answer: Message) -> None:
    """None, said in the log, for an answer taken back from this worker; a deleted one
    raises, as a missing row does everywhere in a job."""
    if not Message.objects.filter(pk=answer.pk).exists():
        raise Message.DoesNotExist(f"answer {answer.pk} was deleted while it was written")
    logger.warning(
        "answer %s was taken back while this worker wrote it (re-queued after its marks "
        "stopped); what this worker wrote is dropped",
        answer.pk,
    )


def answer_generate(*, answer_id: UUID, lease: AnswerLease | None = None) -> Message | None:
    """Generate, stream and store one answer. Returns it, or None if it was not claimable or
    was taken back meanwhile. `lease` is the worker's heartbeat's, if it has one."""
    clock = FirstFragmentClock(answer_id)
    answer = answer_claim(answer_id=answer_id)
    if answer is None:
        logger.info("answer %s is not pending; nothing to do", answer_id)
        return None
    lease = lease or AnswerLease(answer_id=answer_id)
    lease.attempts = answer.attempts
    answer_waiting_end(answer=answer)
    # Continuing a cut answer: the claim kept its text, the model writes the rest.
    continuing = answer.finish_reason == CUT and answer.content != ""
    if answer_stop_requested(answer_id=answer.pk):
        if continuing:  # stopped before it started: the answer stays as it was
            return _finish(
                answer,
                text=answer.content,
                result=_Result(Message.Status.DONE, finish_reason=CUT),
                llm=None,
            )
        return _finish(answer, text="", result=_Result(Message.Status.STOPPED), llm=None)
    llm = get_llm()
    relay = _Relay(answer, lease=lease, kept=answer.content if continuing else "", clock=clock)
    context: AnswerContext | None = None
    chat_busy_mark()
    clock.mark("claim")
    try:
        question = answer.reply_to.content if answer.reply_to else ""
        if is_overview_question(question) and not continuing:
            context, result = _overview(answer, relay), _Result(Message.Status.DONE)
        else:
            # What did not fit the prompt is left out of the context, and of its citations.
            found = context_for_answer(answer=answer)
            clock.mark("context")
            prompt = _prompt(llm, relay, found)
            clock.mark("prompt")
            context = prompt.context
            answer.note = _question_note(prompt) or answer.note
            result = _generate(llm, relay, prompt.messages)
    except _AnswerTakenBack:
        _taken_back(answer)
        return None
    except LLMError as exc:
        logger.warning("answer %s failed: %s", answer.pk, exc)
        result = _Result(Message.Status.FAILED, f"The model could not answer: {exc}")
    except Exception:
        logger.exception("answer %s failed", answer.pk)
        result = _Result(Message.Status.FAILED, "Something went wrong while answering.")
    finally:
        chat_busy_clear()
    relay.flush()
    text = relay.whole_text
    if continuing:
        result = _continuation_result(result, earlier_tokens=answer.token_count)
    # A continuation that added nothing keeps its citations.
    citations = (context or AnswerContext(turns=[])) if not continuing or relay.text else None
    return _finish(answer, text=text, result=result, llm=llm, citations=citations)


def _continuation_result(result: _Result, *, earlier_tokens: int | None) -> _Result:
    if result.status == Message.Status.FAILED:
        # The answer stays whole and cut (with what the continuation added, if anything):
        # still remembered, and Retry continues it again.
        return _Result(
            Message.Status.DONE, f"The answer could not be continued. {result.error}", CUT
        )
    if result.cut_tokens is not None and earlier_tokens is not None:
        return replace(result, cut_tokens=earlier_tokens + result.cut_tokens)
    return replace(result, cut_tokens=None)


def _finish(
    answer: Message,
    *,
    text: str,
    result: _Result,
    llm: LLM | None,
    citations: AnswerContext | None = None,
) -> Message | None:
    """Save the finished answer (with `citations`, unless None) and send it, rendered, to the
    conversation's tabs. None, and nothing saved, when it was taken back meanwhile."""
    answer.content = text
    answer.status = result.status
    answer.error = result.error
    answer.finish_reason = result.finish_reason
    answer.finished_at = timezone.now()
    answer.in_flight_since = None
    fields = [
        "content",
        "status",
        "error",
        "note",
        "finish_reason",
        "finished_at",
        "in_flight_since",
    ]
    if llm is not None:
        answer.model_name = _model_name(llm)
        answer.token_count = _count(llm, text) if result.cut_tokens is None else result.cut_tokens
        fields += ["model_name", "token_count"]
    # Stored now: private if the conversation went incognito or memory was paused meanwhile.
    # Only ever set here, so an incognito switch committed in between is never undone.
    if not answer.private and message_is_private(
        conversation_id=answer.conversation_id, owner_id=answer.owner_id
    ):
        answer.private = True
        fields.append("private")
    with transaction.atomic():
        saved = _this_attempt(answer).update(**{name: getattr(answer, name) for name in fields})
        if saved and citations is not None:
            _store_citations(answer, citations)
    if not saved:
        _taken_back(answer)
        return None
    answer_stop_clear(answer_id=answer.pk)
    conversation_notify(
        conversation_id=answer.conversation_id,
        html=render_to_string("chat/conversation.html#message", {"message": answer, "oob": True}),
    )
    answers_waiting_notify()  # every answer still waiting has one fewer ahead
    return answer


def _model_name(llm: LLM) -> str:
    try:
        return llm.info.name
    except LLMError:
        return ""


def _count(llm: LLM, text: str) -> int | None:
    try:
        return llm.count_tokens(text) if text else 0
    except LLMError:
        return None


# A pending answer's job is queued within milliseconds of its commit: one still without it
# after this long never got it (the broker was down), or the broker lost it.
LOST_JOB_GRACE_SECONDS = 5


def answers_requeue_stale() -> int:
    """Re-queue answers whose worker died or whose job was lost; fail those out of attempts.

    A streaming answer's worker marks it every few seconds (`answer_heartbeat`): one left
    unmarked for `CHAT_STALE_ANSWER_SECONDS` lost its worker. A pending answer may wait its
    turn for minutes behind others; it is queued again only when the broker does not hold
    its job (never queued while the broker was down, or lost with a restarted Redis).

    Returns how many answers were re-queued or failed.
    """
    now = timezone.now()
    answers = Message.objects.filter(role=Message.Role.ASSISTANT)
    pending = list(
        answers.filter(
            status=Message.Status.PENDING,
            in_flight_since__lt=now - timedelta(seconds=LOST_JOB_GRACE_SECONDS),
        ).order_by(*QUEUE_ORDER)  # re-queued first come, first served
    )
    queued = jobs.answers_queued([answer.pk for answer in pending])
    stale = [
        *answers.filter(
            status=Message.Status.STREAMING,
            in_flight_since__lt=now - timedelta(seconds=settings.CHAT_STALE_ANSWER_SECONDS),
        ),
        *(answer for answer in pending if answer.pk not in queued),
    ]
    handled = 0
    for answer in stale:
        # Unchanged since it was read: not marked alive, claimed or re-queued meanwhile.
        unchanged = Message.objects.filter(
            pk=answer.pk, status=answer.status, in_flight_since=answer.in_flight_since
        )
        if answer.attempts >= settings.CHAT_ANSWER_ATTEMPTS:
            updated = unchanged.update(
                status=Message.Status.FAILED,
                error="The answer was interrupted too many times.",
                finished_at=timezone.now(),
                in_flight_since=None,
            )
        else:
            updated = unchanged.update(
                status=Message.Status.PENDING, in_flight_since=timezone.now()
            )
            if updated:
                jobs.answer_enqueue(answer_id=answer.pk)
        handled += updated
    if handled:
        answers_waiting_notify()  # re-queued answers go to the back, failed ones leave
    return handled

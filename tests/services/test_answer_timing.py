"""The answer job's first-fragment line: logged once per answer, with every stage, and read
back by `first_fragments` (as `chat_bench` reads its worker's log)."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from django.contrib.auth.models import User

from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Message
from memoryapp.services.answer_timing import STAGES, FirstFragmentClock, first_fragments
from memoryapp.services.conversations import message_send
from memoryapp.tasks import answer_message
from tests import factories


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "memoryapp.services.answer_timing"]


def test_the_clock_logs_each_marked_stage_once_and_the_line_reads_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    answer_id = uuid.uuid4()
    clock = FirstFragmentClock(answer_id)
    for stage in ("claim", "context", "prompt", "model"):
        time.sleep(0.002)
        clock.mark(stage)
    clock.mark("claim")  # a stage ends once: a later mark changes nothing

    clock.sent()
    clock.sent()

    lines = _lines(caplog)
    assert len(lines) == 1
    found = first_fragments("INFO memoryapp.services.answer_timing: " + lines[0] + "\n")
    line = found[str(answer_id)]
    assert list(line.stages_ms) == list(STAGES)
    assert all(ms >= 0 for ms in line.stages_ms.values())
    assert line.stages_ms["context"] >= 1.5  # slept 2 ms between the claim and the context
    assert line.total_ms == pytest.approx(sum(line.stages_ms.values()), abs=0.6)
    assert line.started == pytest.approx(clock.started, abs=1e-5)


def test_first_fragments_ignores_other_lines() -> None:
    assert first_fragments("INFO memoryapp.tasks: answer 1 is not pending\nrandom text\n") == {}


@pytest.mark.django_db
def test_an_answer_job_logs_its_first_fragment_with_every_stage(
    caplog: pytest.LogCaptureFixture, backend: ScriptedBackend
) -> None:
    caplog.set_level(logging.INFO)
    alice: User = factories.user("alice")
    backend.add_replies("Lisbon is the capital.")
    _, answer = message_send(conversation=factories.conversation(alice), content="Capital?")

    answer_message.apply(args=(str(answer.pk),))

    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE
    found = first_fragments("\n".join(_lines(caplog)))
    assert list(found) == [str(answer.pk)]
    assert list(found[str(answer.pk)].stages_ms) == list(STAGES)

"""Import jobs: claimed once, retried after an unexpected error, picked up again when their
worker died, and never duplicating what an earlier run imported."""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from memoryapp import jobs
from memoryapp.models import Conversation, ImportJob, JobStatus, Message
from memoryapp.services.imports import Progress
from memoryapp.services.memory import importing
from memoryapp.services.memory.importing import (
    ImportOutcome,
    chatgpt_import,
    import_job_run,
    import_jobs_requeue,
)
from memoryapp.tasks import import_history

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).parent / "fixtures" / "chatgpt_conversations.json"


@pytest.fixture
def job(alice: User, settings: Any, tmp_path: Path) -> ImportJob:
    """A pending ChatGPT import of alice, its upload under IMPORT_DIR."""
    settings.IMPORT_DIR = tmp_path / "imports"
    settings.IMPORT_DIR.mkdir()
    job_id = uuid.uuid4()
    upload = settings.IMPORT_DIR / str(job_id)
    shutil.copy(FIXTURE, upload)
    return ImportJob.objects.create(
        id=job_id,
        owner=alice,
        format=ImportJob.Format.CHATGPT,
        filename="conversations.json",
        upload_path=str(upload),
        size=upload.stat().st_size,
        sha256="0" * 64,
    )


def _stale(job: ImportJob, **fields: Any) -> None:
    long_ago = timezone.now() - timedelta(hours=2)
    ImportJob.objects.filter(pk=job.pk).update(
        job_status=JobStatus.RUNNING, in_flight_since=long_ago, claim=uuid.uuid4(), **fields
    )


def test_a_job_whose_worker_died_is_picked_up_and_finishes_without_duplicates(
    alice: User, job: ImportJob
) -> None:
    # The dead worker had stored the conversations (and ingested none of them).
    chatgpt_import(owner=alice, path=Path(job.upload_path), progress=None)
    Message.objects.filter(owner=alice).update(segment=None)
    _stale(job, attempts=1, total=2, done=0)

    with jobs.run_here():
        queued = import_jobs_requeue()

    job.refresh_from_db()
    assert queued == 1
    assert (job.job_status, job.attempts) == (JobStatus.DONE, 2)
    assert (job.result["conversations"], job.result["skipped"]) == (0, 2)
    assert Conversation.objects.filter(owner=alice).count() == 2
    assert Message.objects.filter(owner=alice).count() == 8
    assert not Message.objects.filter(owner=alice, segment=None).exists()
    assert not Path(job.upload_path).exists()


def test_a_job_whose_worker_died_too_often_is_given_up(job: ImportJob, settings: Any) -> None:
    _stale(job, attempts=settings.MEMORY_JOB_ATTEMPTS)

    assert import_jobs_requeue() == 0

    job.refresh_from_db()
    assert job.job_status == JobStatus.FAILED
    assert "given up" in job.last_error
    assert not Path(job.upload_path).exists()


def test_a_pending_job_lost_on_its_way_is_queued_again(job: ImportJob) -> None:
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    with jobs.run_here():
        assert import_jobs_requeue() == 1

    job.refresh_from_db()
    assert job.job_status == JobStatus.DONE


def test_an_unexpected_error_is_retried_then_given_up(
    job: ImportJob, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> ImportOutcome:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(importing, "chatgpt_import", broken)

    first = import_job_run(job_id=job.pk)

    assert first is not None
    assert first.job_status == JobStatus.RETRY
    assert first.last_error == "Interrupted (RuntimeError); it will be tried again."
    assert first.next_attempt_at is not None and first.next_attempt_at > timezone.now()
    assert Path(job.upload_path).exists()
    assert import_job_run(job_id=job.pk) is None  # not due yet

    ImportJob.objects.filter(pk=job.pk).update(
        next_attempt_at=timezone.now(), attempts=settings.MEMORY_JOB_ATTEMPTS - 1
    )
    last = import_job_run(job_id=job.pk)

    assert last is not None and last.job_status == JobStatus.FAILED
    assert "given up" in last.last_error
    assert not Path(job.upload_path).exists()


def test_a_run_taken_over_stops_without_touching_the_job(
    job: ImportJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    def overtaken(*, progress: Progress, **kwargs: Any) -> ImportOutcome:
        ImportJob.objects.filter(pk=job.pk).update(claim=uuid.uuid4())  # another run took it
        progress(0, 2)
        raise AssertionError("a run that lost its claim goes on")

    monkeypatch.setattr(importing, "chatgpt_import", overtaken)

    assert import_job_run(job_id=job.pk) is None

    job.refresh_from_db()
    assert job.job_status == JobStatus.RUNNING and job.finished_at is None
    assert Path(job.upload_path).exists()


def test_a_finished_job_is_not_run_again(alice: User, job: ImportJob) -> None:
    assert import_history.apply(args=(str(job.pk),)).get() == JobStatus.DONE
    messages = Message.objects.filter(owner=alice).count()

    assert import_history.apply(args=(str(job.pk),)).get() is None
    assert Message.objects.filter(owner=alice).count() == messages


def test_a_job_deleted_meanwhile_ends_quietly() -> None:
    assert import_history.apply(args=(str(uuid.uuid4()),)).get() is None

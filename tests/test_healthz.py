"""/healthz is 200 only when the database, Redis and a worker per queue with its models are fine."""

from __future__ import annotations

import logging
import signal
from typing import Any

import pytest
from django.test import Client

from tests.support.workers import WorkerProcess


def _health(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/healthz")
    return response.status_code, response.json()


@pytest.mark.django_db
def test_without_workers_health_is_503_and_names_the_queues(client: Client) -> None:
    status, report = _health(client)

    assert status == 503
    assert report["ok"] is False
    assert report["database"]["ok"] is True
    assert report["database"]["pgvector"]
    assert report["redis"] == {"ok": True}
    assert "no worker" in report["queues"]["chat"]["error"]
    assert "no worker" in report["queues"]["memory"]["error"]


@pytest.mark.django_db
def test_a_503_while_workers_start_is_logged_as_info_not_as_an_error(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    status, _ = _health(client)

    assert status == 503
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.INFO
    assert "no worker is serving the 'chat' queue" in record.getMessage()


def test_all_green_with_a_worker_then_503_when_it_stops(
    client: Client, worker: WorkerProcess
) -> None:
    worker.wait_for(worker.models_loaded, 120, "models loaded")

    status, report = _health(client)
    assert status == 200, report
    chat_worker = report["queues"]["chat"]["workers"][0]
    assert chat_worker["hostname"] == worker.hostname
    assert chat_worker["llm"]["state"] == "loaded"
    assert chat_worker["llm"]["demo"] is True
    assert chat_worker["embeddings"]["state"] == "loaded"

    worker.stop()

    status, report = _health(client)
    assert status == 503
    assert report["queues"]["chat"]["ok"] is False


def test_a_killed_worker_turns_unhealthy_when_its_heartbeat_expires(
    client: Client, worker: WorkerProcess
) -> None:
    worker.stop(signal.SIGKILL)

    # Heartbeats live three beats (1 s each in tests) after the last one.
    worker.wait_for(lambda: worker.heartbeat() is None, 10, "heartbeat expiry")
    status, report = _health(client)
    assert status == 503
    assert "no worker" in report["queues"]["memory"]["error"]

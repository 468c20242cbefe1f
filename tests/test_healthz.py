"""/healthz is 200 only when the database, Redis and a worker per queue with its models are fine."""

from __future__ import annotations

import http.client
import json
import logging
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from memoryapp.devstack.services import free_port
from tests.support.webserver import WebServer
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


ELSEWHERE = "203.0.113.7"  # an address that is not this machine's


@pytest.mark.django_db
def test_anonymous_requests_from_elsewhere_get_only_the_status(client: Client) -> None:
    response = client.get("/healthz", REMOTE_ADDR=ELSEWHERE)

    assert response.status_code == 503
    assert response.json() == {"ok": False}


@pytest.mark.django_db
def test_a_member_who_is_not_staff_gets_only_the_status(bob_client: Client) -> None:
    response = bob_client.get("/healthz", REMOTE_ADDR=ELSEWHERE)

    assert response.json() == {"ok": False}


@pytest.mark.django_db
def test_staff_get_the_details_from_anywhere(alice_client: Client) -> None:
    report = alice_client.get("/healthz", REMOTE_ADDR=ELSEWHERE).json()

    assert report["database"]["version"]
    assert "no worker" in report["queues"]["chat"]["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_requests_from_this_machine_get_the_details_unless_switched_off(
    client: Client, settings: Any, address: str
) -> None:
    assert client.get("/healthz", REMOTE_ADDR=address).json()["database"]["ok"] is True

    settings.HEALTHZ_DETAILS_FROM_LOCALHOST = False

    assert client.get("/healthz", REMOTE_ADDR=address).json() == {"ok": False}


@pytest.fixture(params=["true", "false"], ids=["details", "no-details"])
def server_without_database(request: pytest.FixtureRequest) -> Iterator[WebServer]:
    """The web process with its database on a port where nothing listens (with and without
    details for this machine: the latter asks the user, who lives in the database)."""
    closed = free_port()
    env = {
        "DATABASE_URL": f"postgres://memoryapp:x@127.0.0.1:{closed}/memoryapp",
        "HEALTHZ_DETAILS_FROM_LOCALHOST": request.param,
    }
    server = WebServer(env=env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_a_request_with_a_session_cookie_gets_503_not_500(
    server_without_database: WebServer, alice_client: Client, settings: Any
) -> None:
    cookie = alice_client.cookies[settings.SESSION_COOKIE_NAME].OutputString(attrs=[])
    connection = http.client.HTTPConnection("127.0.0.1", server_without_database.port, timeout=10)

    connection.request("GET", "/healthz", headers={"Cookie": cookie})
    response = connection.getresponse()

    assert response.status == 503
    report = json.loads(response.read())
    assert report["ok"] is False
    if server_without_database.extra_env["HEALTHZ_DETAILS_FROM_LOCALHOST"] == "true":
        assert report["database"]["ok"] is False
    else:
        assert report == {"ok": False}  # staff, but the database cannot say so
    assert "ERROR" not in server_without_database.log()

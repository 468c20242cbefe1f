"""What /healthz reports: database, Redis, a live worker per queue, the models they loaded."""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from memoryapp.heartbeats import WorkerHeartbeat, heartbeats_read


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "error": str(exc).strip()}
    if row is None:
        return {"ok": False, "version": version, "error": "pgvector extension missing"}
    return {"ok": True, "version": version, "pgvector": row[0]}


def _redis() -> tuple[dict[str, Any], list[WorkerHeartbeat]]:
    try:
        beats = heartbeats_read()
    except redis.RedisError as exc:
        return {"ok": False, "error": str(exc)}, []
    return {"ok": True}, beats


def _models_ok(beat: WorkerHeartbeat) -> bool:
    return beat.llm.get("state") == "loaded" and beat.embeddings.get("state") == "loaded"


def _queue(name: str, beats: list[WorkerHeartbeat]) -> dict[str, Any]:
    workers = [beat for beat in beats if name in beat.queues]
    report: dict[str, Any] = {
        "ok": bool(workers) and all(_models_ok(beat) for beat in workers),
        "workers": [
            {
                "hostname": beat.hostname,
                "pid": beat.pid,
                "last_heartbeat": beat.at,
                "llm": beat.llm,
                "embeddings": beat.embeddings,
            }
            for beat in workers
        ],
    }
    if not workers:
        report["error"] = f"no worker is serving the {name!r} queue"
    elif not report["ok"]:
        report["error"] = "models not loaded yet (or failed to load)"
    return report


def _model(beats: list[WorkerHeartbeat], database_ok: bool) -> dict[str, Any]:
    """Which model answers (the chat workers' report) and which one the model manager made
    active (None: the settings' model); workers switch to it before their next job."""
    from memoryapp.services.model_manager.choice import active_choice

    answering = sorted(
        {beat.llm["model"] for beat in beats if settings.CHAT_QUEUE in beat.queues} - {None, ""}
    )
    active = None
    if database_ok:
        try:
            choice = active_choice()
        except DatabaseError:
            choice = None
        active = None if choice is None else choice.path.name
    return {"answering": answering, "active": active}


def system_health() -> dict[str, Any]:
    """The state of every component; `ok` is true only when all of them are fine."""
    redis_report, beats = _redis()
    database = _database()
    components: dict[str, Any] = {
        "database": database,
        "redis": redis_report,
        "queues": {
            name: _queue(name, beats) for name in (settings.CHAT_QUEUE, settings.MEMORY_QUEUE)
        },
        "model": _model(beats, database["ok"]),
    }
    queues_ok = all(queue["ok"] for queue in components["queues"].values())
    ok = components["database"]["ok"] and redis_report["ok"] and queues_ok
    return {"ok": ok, **components}


def chat_model_status() -> dict[str, Any] | None:
    """The LLM a live chat worker reports (name, demo flag), or None when none is up."""
    try:
        beats = heartbeats_read()
    except redis.RedisError:
        return None
    for beat in beats:
        if settings.CHAT_QUEUE in beat.queues and beat.llm.get("model"):
            return beat.llm
    return None


def health_problems(report: dict[str, Any]) -> list[str]:
    """What `system_health()` found wrong, one line per component (empty when all is fine)."""
    problems = [
        f"{name}: {report[name].get('error', 'not ok')}"
        for name in ("database", "redis")
        if not report[name]["ok"]
    ]
    problems += [
        f"{name} queue: {queue.get('error', 'not ok')}"
        for name, queue in report["queues"].items()
        if not queue["ok"]
    ]
    return problems

"""``/readyz/isDirty`` (database reachable, schema migrated) and ``/readyz/health`` (plus the registry answers),
with the reference's plain ``OK`` body, or the JSON report with ``?format=json``.

Both answer within ``DEADLINE_SECONDS`` whatever the database does: the checks run in a thread of their own, and a
probe that waited that long reports the database as not answering. One check runs at a time; probes arriving while
it runs share its result, so a hung database holds one thread, not one per probe, and no result outlives its run.

Once the process is told to stop (SIGTERM, SIGINT), both answer 503 "shutting down" while in-flight requests drain,
whichever one is the readiness probe (the reference reads readiness on ``/readyz/health``, issue 13 on
``/readyz/isDirty``); the kubelet runs no liveness probe on a terminating pod (docs/scaling.md, "Graceful shutdown").
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import FrameType
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import select, text
from starlette.responses import PlainTextResponse, Response

from modelreg.api.registry.common import json_response
from modelreg.db import migrations, tables
from modelreg.db.database import Database, DatabaseUnavailable

router = APIRouter(prefix="/readyz", tags=["Health"])
log = logging.getLogger("modelreg")
DEADLINE_SECONDS = 0.8  # a Kubernetes probe's default timeout is 1 s
SHUTTING_DOWN = "shutting down"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Check = dict[str, Any]

_CHECK_SCHEMA = {
    "type": "object",
    "properties": {
        "Name": {"type": "string"},
        "Status": {"type": "string", "enum": ["pass", "fail"]},
        "Message": {"type": "string"},
        "Details": {"type": "object"},
    },
}
_REPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["pass", "fail"]},
        "checks": {"type": "object", "additionalProperties": _CHECK_SCHEMA},
        "meta": {
            "type": "object",
            "properties": {"check_duration_ms": {"type": "number"}, "timestamp": {"type": "number"}},
        },
    },
}


def _responses(what: str) -> dict[int | str, dict[str, Any]]:
    """Both media types: text by default, the JSON report with ``?format=json``."""
    text_ok = {"schema": {"type": "string"}, "example": "OK"}
    text_fail = {"schema": {"type": "string"}, "example": "the database did not answer within 0.8 s"}
    return {
        200: {
            "description": f"{what}: `OK` as text/plain, or the JSON report with `?format=json`",
            "content": {"text/plain": text_ok, "application/json": {"schema": _REPORT_SCHEMA}},
        },
        503: {
            "description": "Not ready: the first failing check's message as text/plain, or the JSON report",
            "content": {"text/plain": text_fail, "application/json": {"schema": _REPORT_SCHEMA}},
        },
    }


# Documented, not declared: any other value gives the text answer, as on the reference server, never a 422.
_FORMAT_PARAMETER = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["json"]},
    "description": "`json` for the JSON report (application/json); otherwise the text/plain status",
}


class HealthProbe:
    """Runs the checks on one worker thread, one run at a time; callers wait for a run at most a deadline."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelreg-health")
        self._lock = threading.Lock()
        self._running: Future[list[Check]] | None = None

    async def checks(self, registry: bool) -> list[Check]:
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._executor.submit(self._run)
            running = self._running
        try:
            found = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(running)), DEADLINE_SECONDS)
        except TimeoutError:
            message = f"the database did not answer within {DEADLINE_SECONDS:g} s"
            found = [{"Name": "database", "Status": "fail", "Message": message}, _skipped()]
        return found if registry else found[:1]

    def _run(self) -> list[Check]:
        database = self._database_check()
        return [database, self._registry_check() if database["Status"] == "pass" else _skipped()]

    def _database_check(self) -> Check:
        try:
            with self.db.read() as conn:
                conn.execute(text("SELECT 1"))
                current = migrations.current_revision(conn)
        except Exception as exc:  # any failure means not ready
            return _failed("database", "the database is unreachable", exc)
        head = migrations.head_revision()
        dirty = current != head
        return {
            "Name": "database",
            "Status": "fail" if dirty else "pass",
            "Message": f"schema at {current}, expected {head}" if dirty else "database is healthy",
            "Details": {"schema_version": current, "schema_dirty": dirty},
        }

    def _registry_check(self) -> Check:
        try:
            with self.db.read() as conn:
                for table in (tables.registered_models, tables.model_versions, tables.artifacts):
                    conn.execute(select(table.c.id).limit(1)).all()
        except Exception as exc:
            return _failed("model-registry", "the registry query failed", exc)
        return {"Name": "model-registry", "Status": "pass", "Message": "model registry is healthy"}


def _failed(name: str, message: str, exc: Exception) -> Check:
    """A failed check: the probe's caller is unauthenticated, so the cause (host, port, driver) goes to the log."""
    detail = exc.detail if isinstance(exc, DatabaseUnavailable) else str(getattr(exc, "orig", None) or exc).strip()
    log.warning("health check %s failed: %s", name, detail.splitlines()[0] if detail else type(exc).__name__)
    return {"Name": name, "Status": "fail", "Message": message}


def _skipped() -> Check:
    return {"Name": "model-registry", "Status": "fail", "Message": "not checked: the database check failed"}


def probe(request: Request) -> HealthProbe:
    state = request.app.state
    if getattr(state, "health", None) is None:  # on the first probe; no await in between, so one per app
        state.health = HealthProbe(state.db)
    return state.health  # type: ignore[no-any-return]


def _report(request: Request, checks: list[Check], started: float) -> Response:
    failed = [c for c in checks if c["Status"] != "pass"]
    status = 503 if failed else 200
    if request.query_params.get("format") == "json":
        body = {
            "status": "fail" if failed else "pass",
            "checks": {c["Name"]: c for c in checks},
            "meta": {"check_duration_ms": round((time.perf_counter() - started) * 1000, 3), "timestamp": time.time()},
        }
        return json_response(body, status)
    return PlainTextResponse(failed[0]["Message"] if failed else "OK", status_code=status)


def _documented(what: str) -> dict[str, Any]:
    return {
        "response_class": PlainTextResponse,
        "responses": _responses(what),
        "openapi_extra": {"parameters": [_FORMAT_PARAMETER]},
    }


@router.get("/isDirty", **_documented("The database answers and its schema is current (and no shutdown began)"))
async def is_dirty(request: Request) -> Response:
    return await _answer(request, registry=False)


@router.get("/health", **_documented("The database and the registry answer (and no shutdown began)"))
async def health(request: Request) -> Response:
    return await _answer(request, registry=True)


async def _answer(request: Request, registry: bool) -> Response:
    started = time.perf_counter()
    if getattr(request.app.state, "draining", False):
        return _report(request, [{"Name": "server", "Status": "fail", "Message": SHUTTING_DOWN}], started)
    return _report(request, await probe(request).checks(registry=registry), started)


def start_draining(app: FastAPI) -> None:
    """From now on the probes fail with "shutting down" (the process is stopping)."""
    app.state.draining = True


def drain_on_signals(app: FastAPI) -> Callable[[], None]:
    """Chain a handler in front of the server's own for SIGTERM and SIGINT (uvicorn's, which starts the graceful
    stop), which first calls `start_draining`. Returns the function that puts the server's handlers back (at the
    lifespan's end). Only the main thread gets signals: elsewhere (a server in a test's thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    found = {int(sig): signal.getsignal(sig) for sig in _STOP_SIGNALS}
    previous = {sig: handler for sig, handler in found.items() if handler is not None}  # None: set outside Python

    def on_signal(sig: int, frame: FrameType | None) -> None:
        start_draining(app)
        before = previous[sig]
        if callable(before):
            before(sig, frame)
        elif before == signal.SIG_DFL:  # nobody else handles it: its default action, as without this handler
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for sig in previous:
        signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, before in previous.items():
            if signal.getsignal(sig) is on_signal:
                signal.signal(sig, before)

    return restore

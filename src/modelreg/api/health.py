"""``/readyz/isDirty`` (database reachable, schema migrated) and ``/readyz/health`` (plus the registry answers),
with the reference's plain ``OK`` body, or the JSON report with ``?format=json``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select, text
from starlette.responses import PlainTextResponse, Response

from modelreg.api.registry.common import json_response
from modelreg.storage import migrations, tables

router = APIRouter(prefix="/readyz", tags=["Health"])


def _database_check(request: Request) -> dict[str, Any]:
    db = request.app.state.db
    try:
        with db.read() as conn:
            conn.execute(text("SELECT 1"))
            current = migrations.current_revision(conn)
    except Exception as exc:  # any failure means not ready
        return {"Name": "database", "Status": "fail", "Message": f"database unreachable: {exc}"}
    head = migrations.head_revision()
    dirty = current != head
    return {
        "Name": "database",
        "Status": "fail" if dirty else "pass",
        "Message": f"schema at {current}, expected {head}" if dirty else "database is healthy",
        "Details": {"schema_version": current, "schema_dirty": dirty},
    }


def _registry_check(request: Request) -> dict[str, Any]:
    db = request.app.state.db
    try:
        with db.read() as conn:
            for table in (tables.registered_models, tables.model_versions, tables.artifacts):
                conn.execute(select(table.c.id).limit(1)).all()
    except Exception as exc:
        return {"Name": "model-registry", "Status": "fail", "Message": f"registry query failed: {exc}"}
    return {"Name": "model-registry", "Status": "pass", "Message": "model registry is healthy"}


def _report(request: Request, checks: list[dict[str, Any]], started: float) -> Response:
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


@router.get("/isDirty")
def is_dirty(request: Request) -> Response:
    started = time.perf_counter()
    return _report(request, [_database_check(request)], started)


@router.get("/health")
def health(request: Request) -> Response:
    started = time.perf_counter()
    return _report(request, [_database_check(request), _registry_check(request)], started)

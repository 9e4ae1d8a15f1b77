"""The telemetry of one app in this process (SQLite): switched off, and an unexpected error."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conftest import ServerThread
from modelreg.app import create_app
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.settings import Settings
from modelreg.telemetry.logs import JsonFormatter
from telemetry.scrape import requests, scrape


def _app(tmp_path: Path, **metrics: object) -> FastAPI:
    db = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    migrations.upgrade(db.engine)
    settings = {"database_url": db.url, "data_dir": tmp_path, "metrics": metrics, "bridge": {"enabled": False}}
    return create_app(Settings.model_validate(settings), db)


class _Lines(logging.Handler):
    """JSON lines formatted as they are logged (in the request's context, as a stream handler would)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def modelreg_log() -> Iterator[_Lines]:
    handler = _Lines()
    logger = logging.getLogger("modelreg")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_disabled_metrics_are_not_served(tmp_path: Path) -> None:
    app = _app(tmp_path, enabled=False, scrape_token="let-me-in")
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/api/model_registry/v1alpha3/registered_models").status_code == 200
        for headers in ({}, {"Authorization": "Bearer let-me-in"}):
            response = http.get("/metrics", headers=headers)
            assert response.status_code == 404
            assert "modelreg_http" not in response.text
            assert response.headers["X-Request-ID"]


def test_an_unexpected_error_is_answered_counted_and_logged_with_the_request_id(
    tmp_path: Path, modelreg_log: _Lines
) -> None:
    app = _app(tmp_path)

    def broken() -> None:
        raise RuntimeError("a bug")

    route = "/api/model_registry/v1alpha3/broken/{thing}"
    app.add_api_route(route, broken)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        before = requests(scrape(server.url), route, "GET", 500)
        response = http.get("/api/model_registry/v1alpha3/broken/1", headers={"X-Request-ID": "bug-report-7"})
        assert response.status_code == 500
        assert response.headers["X-Request-ID"] == "bug-report-7"
        assert response.json() == {"code": "Internal Server Error", "message": "internal server error"}
        assert requests(scrape(server.url), route, "GET", 500) - before == 1
    (logged,) = [line for line in modelreg_log.lines if line.get("request_id") == "bug-report-7"]
    assert logged["level"] == "ERROR" and "RuntimeError: a bug" in str(logged["exception"])

"""``/metrics``, request ids and JSON logs on a real ``modelreg serve`` with token authentication, a scrape token,
``--log-format json`` and ``--access-log``: one server for the module (SQLite; nothing here depends on the
database, tests/telemetry/test_counts.py is the part that does).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from modelreg.auth import context
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.services.access import AccessService
from processes import ServeProcess
from telemetry.scrape import GET_ONE, LIST, requests, scrape, value

STORAGE = "/api/storage/v1"
GOVERNANCE = "/api/governance/v1"


@dataclass
class Served:
    url: str
    log: Path
    viewer: str
    admin: str
    scrape_token: str

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def log_lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("telemetry")
    url = f"sqlite:///{data / 'registry.db'}"
    db = Database(url)
    migrations.upgrade(db.engine)
    try:
        with context.acting_as(context.cli_context()):
            access = AccessService(db)
            access.create_binding("user", "ai-viewer", "viewer")
            access.create_binding("user", "ai-admin", "admin")
            viewer, _ = access.create_token("ai-viewer")
            admin, _ = access.create_token("ai-admin")
    finally:
        db.dispose()
    scrape_token = secrets.token_urlsafe(24)
    log = data / "serve.log"
    args = ["--database-url", url, "--auth", "token", "--log-format", "json", "--access-log", "--log-level", "info"]
    env = {"MODELREG_DATA_DIR": str(data), "MODELREG_METRICS__SCRAPE_TOKEN": scrape_token}
    with ServeProcess(free_port(), *args, env=env, log=log) as server:
        yield Served(server.url, log, viewer, admin, scrape_token)


def test_metrics_parse_and_count_each_request_under_its_route_template(served: Served) -> None:
    auth = served.bearer(served.scrape_token)
    before = scrape(served.url, auth)
    with httpx.Client(base_url=served.url, headers=served.bearer(served.viewer), timeout=30) as viewer:
        for _ in range(3):
            assert viewer.get(LIST).status_code == 200
        for missing in ("998", "999"):
            assert viewer.get(f"{LIST}/{missing}").status_code == 404
    after = scrape(served.url, auth)

    assert requests(after, LIST, "GET", 200) - requests(before, LIST, "GET", 200) == 3
    assert requests(after, GET_ONE, "GET", 404) - requests(before, GET_ONE, "GET", 404) == 2
    errors = "modelreg_http_errors_total"
    assert (
        value(after, errors, route=GET_ONE, method="GET", status="404")
        - value(before, errors, route=GET_ONE, method="GET", status="404")
        == 2
    )
    assert value(after, errors, route=LIST, method="GET", status="200") == 0  # a 200 is no error
    buckets = "modelreg_http_request_duration_seconds_bucket"
    listed = {"route": LIST, "method": "GET", "status": "200"}
    assert value(after, buckets, le="+Inf", **listed) == requests(after, LIST, "GET", 200)
    assert value(after, buckets, le="+Inf", **listed) - value(before, buckets, le="+Inf", **listed) == 3
    durations = "modelreg_http_request_duration_seconds_sum"
    assert value(after, durations, **listed) > value(before, durations, **listed)
    routes = {dict(labels).get("route") for name, labels in after if name.startswith("modelreg_http_")}
    assert not [r for r in routes if r and r.endswith(("/998", "/999"))], routes


def test_unmatched_paths_and_refusals_before_routing_are_one_label_each(served: Served) -> None:
    auth = served.bearer(served.scrape_token)
    before = scrape(served.url, auth)
    for path in ("/no/such/page", "/no/such/other-page", "/api/model_registry/v1alpha3/no_such_kind"):
        assert httpx.get(f"{served.url}{path}", headers=served.bearer(served.viewer), timeout=30).status_code == 404
    for _ in range(2):  # anonymous: the authentication refuses it before any route is matched
        assert httpx.get(f"{served.url}{LIST}", timeout=30).status_code == 401
    after = scrape(served.url, auth)

    assert requests(after, "(unmatched)", "GET", 404) - requests(before, "(unmatched)", "GET", 404) == 3
    assert requests(after, "(before routing)", "GET", 401) - requests(before, "(before routing)", "GET", 401) == 2
    routes = {dict(labels)["route"] for name, labels in after if name.startswith("modelreg_http_request_duration")}
    assert not [r for r in routes if "no/such" in r or "no_such" in r], routes


def test_metrics_are_read_with_a_viewer_token_or_the_scrape_token(served: Served) -> None:
    def get(headers: dict[str, str]) -> httpx.Response:
        return httpx.get(f"{served.url}/metrics", headers=headers, timeout=60)

    anonymous = get({})
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert "modelreg_" not in anonymous.text
    assert get(served.bearer(served.viewer)).status_code == 200
    assert get(served.bearer(served.scrape_token)).status_code == 200
    assert get(served.bearer(served.scrape_token + "x")).status_code == 401
    assert get(served.bearer("mrt_" + secrets.token_urlsafe(32))).status_code == 401
    assert get({"Authorization": f"Basic {served.scrape_token}"}).status_code == 401


def test_background_workers_report_their_health(served: Served) -> None:
    deadline = time.monotonic() + 60
    while True:  # the upload sweep runs once at start-up, in the background
        samples = scrape(served.url, served.bearer(served.scrape_token))
        if value(samples, "modelreg_worker_healthy", worker="upload-sweep") == 1:
            break
        assert time.monotonic() < deadline, "the upload sweep never reported"
        time.sleep(0.2)
    last = value(samples, "modelreg_worker_last_success_timestamp_seconds", worker="upload-sweep")
    assert 0 < last <= time.time()
    assert value(samples, "modelreg_db_pool_size") >= 1


def test_each_response_carries_a_request_id(served: Served) -> None:
    def request_id(path: str = LIST, headers: dict[str, str | bytes] | None = None, token: str = "") -> str:
        sent = {**(headers or {}), **(served.bearer(token) if token else {})}
        response = httpx.get(f"{served.url}{path}", headers=sent, timeout=30)
        return response.headers["X-Request-ID"]

    sane = "".join(chr(c) for c in range(0x21, 0x7F))[:128]  # every visible ASCII character, 128 of them
    assert request_id(headers={"X-Request-ID": sane}, token=served.viewer) == sane
    assert request_id(headers={"X-Request-ID": "trace-42"}) == "trace-42"  # a 401 carries it too
    generated = {request_id(token=served.viewer) for _ in range(5)}
    generated |= {request_id("/no/such/page"), request_id("/readyz/health"), request_id()}
    assert len(generated) == 8
    for insane in ("two words", "x" * 129, "tab\there", b"caf\xc3\xa9"):
        got = request_id(headers={"X-Request-ID": insane}, token=served.viewer)
        assert got not in generated and got != insane
        generated.add(got)
    for got in generated:
        assert re.fullmatch(r"[\x21-\x7e]{1,128}", got), got


def test_the_audit_trail_records_the_request_id_the_caller_got(served: Served) -> None:
    with httpx.Client(base_url=served.url, headers=served.bearer(served.admin), timeout=30) as admin:
        created = admin.post(LIST, json={"name": "audited-" + secrets.token_hex(4)})
        assert created.status_code == 201, created.text
        query = {"entityKind": "registered_model", "entityId": created.json()["id"]}
        records = admin.get(f"{GOVERNANCE}/audit/records", params=query).json()["items"]
    assert [r["requestId"] for r in records] == [created.headers["X-Request-ID"]]


def test_json_log_lines_carry_the_request_id_and_no_secret(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as http:
        created = http.post(
            f"{STORAGE}/connections",
            params={"check": "false"},
            json={"name": "logged-" + secrets.token_hex(4), "type": "uri", "baseUrl": "https://example.com/m/"},
            headers={**served.bearer(served.admin), "X-Request-ID": "log-test-create"},
        )
        assert created.status_code == 201, created.text
        listed = http.get(
            LIST,
            params={"pageSize": "5", "token": "query-secret-1"},
            headers={**served.bearer(served.viewer), "X-Request-ID": "log-test-list"},
        )
        assert listed.status_code == 200
        assert http.get("/metrics", headers=served.bearer(served.scrape_token)).status_code == 200

    deadline = time.monotonic() + 30
    while not any('"log-test-list"' in line for line in served.log_lines()):
        assert time.monotonic() < deadline, "no access line for the request"
        time.sleep(0.1)
    lines = [json.loads(line) for line in served.log_lines()]  # every line is one JSON object
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        assert line["time"].endswith("Z") and datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own lines too

    (service_line,) = [
        line for line in lines if line.get("request_id") == "log-test-create" and line["logger"] != "modelreg.access"
    ]
    assert service_line["logger"].startswith("modelreg.") and "created by ai-admin" in service_line["message"]
    (access,) = [line for line in lines if line.get("request_id") == "log-test-list"]
    assert access["logger"] == "modelreg.access"
    assert (access["method"], access["route"], access["path"], access["status"]) == ("GET", LIST, LIST, 200)
    assert access["duration_ms"] >= 0 and access["client"].startswith("127.0.0.1:")
    assert [line for line in lines if line.get("request_id") is None and line["logger"] == "modelreg.access"] == []

    text = served.log.read_text()
    for secret in (served.viewer, served.admin, served.scrape_token, "query-secret-1"):
        assert secret not in text

"""``Server-Timing: app;dur=<ms>`` on web UI responses (ui/timing.py), and only there."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from modelreg.ui.timing import ServerTiming
from ui.conftest import UiApp

BENCH = Path(__file__).resolve().parents[2] / "bench" / "catalog_ui.py"
TIMING = re.compile(r"^app;dur=(\d+\.\d)$")


def _duration(response: httpx.Response) -> float:
    match = TIMING.match(response.headers.get("server-timing", ""))
    assert match, f"no Server-Timing header: {dict(response.headers)}"
    return float(match.group(1))


def test_pages_redirects_and_error_pages_carry_the_server_time(ui_app: UiApp) -> None:
    ui_app.add_user("alice", role="viewer")
    browser = ui_app.logged_in("alice")
    for path, status in (("/catalog", 200), ("/", 303), ("/registry/models/999999", 404)):
        answer = browser.get(path)
        assert answer.status_code == status, answer.text
        assert _duration(answer) >= 0
    visitor = ui_app.client()
    answer = visitor.get("/registry")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert _duration(answer) >= 0
    assert answer.headers.get("x-content-type-options") == "nosniff"  # the other UI headers are still there


def test_api_responses_have_no_server_timing(ui_app: UiApp) -> None:
    client = ui_app.client()
    for path in ("/api/model_registry/v1alpha3/registered_models", "/api/model_catalog/v1alpha1/sources"):
        answer = client.get(path)
        assert answer.status_code == 401, answer.text
        assert "server-timing" not in answer.headers


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_the_figure_is_the_time_until_the_response_starts(delay: float) -> None:
    """The header measures the app's work before the response starts, not the time the body takes to stream."""
    sent: list[Message] = []

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep(delay)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await anyio.sleep(0.05)  # a slow body: not counted
        await send({"type": "http.response.body", "body": b"<p>ok</p>"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "path": "/catalog", "method": "GET", "headers": []}
    started = time.perf_counter()
    anyio.run(ServerTiming(page), scope, receive, send)
    total_ms = (time.perf_counter() - started) * 1000
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"text/html"
    match = TIMING.match(headers[b"server-timing"].decode())
    assert match
    figure = float(match.group(1))
    assert delay * 1000 - 0.1 <= figure <= total_ms - 50 + 0.1
    assert sent[1] == {"type": "http.response.body", "body": b"<p>ok</p>"}


def test_the_catalog_ui_benchmark_runs(tmp_path: Path) -> None:
    """A smoke run of bench/catalog_ui.py (a real server, login, every figure, one reload, the page weight)."""
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--models", "300", "--registry-models", "30", "--requests", "5",
         "--warmup", "1", "--idle", "0.3", "--json", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    pages = [f for f in result["figures"].values() if f["path"].startswith(("/catalog", "/registry"))]
    assert pages and all(f["server_p50_ms"] > 0 and f["requests"] == 5 for f in pages)
    assert result["weight"]["total_bytes"] > 0 and not result["weight"]["other_hosts"]
    assert len(result["reload"]["visible_after_s"]) == 1
    assert "first page load" in done.stdout

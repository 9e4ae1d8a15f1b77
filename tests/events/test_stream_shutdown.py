"""SIGTERM with an event stream open: the stream ends at once and ``modelreg serve`` exits 0, instead of uvicorn
waiting the whole drain timeout for a response that never finishes (a stream lasts ``events.stream_max_seconds``).

SQLite is enough: the drain is uvicorn's and the app's, whatever the database."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from conftest import free_port
from events.sse import open_stream
from processes import ServeProcess

DRAIN_SECONDS = 600  # far beyond the waits below: the stream must end because the server stops, not time out
WAIT = 60  # seconds: a bound on every wait, generous for a loaded machine


def test_sigterm_ends_open_streams_and_the_server_exits(tmp_path: Path) -> None:
    env = {
        "MODELREG_DATA_DIR": str(tmp_path),
        "MODELREG_SHUTDOWN_TIMEOUT_SECONDS": str(DRAIN_SECONDS),
        "MODELREG_EVENTS__STREAM_HEARTBEAT_SECONDS": "0.2",
    }
    log = tmp_path / "serve.log"
    with ServeProcess(free_port(), env=env, log=log) as server:
        assert server.proc is not None
        with httpx.Client(base_url=server.url, timeout=WAIT) as client, open_stream(client) as stream:
            assert next(stream.messages()).retry is not None
            server.proc.send_signal(signal.SIGTERM)
            rest = list(stream.messages(seconds=WAIT))
        assert stream.ended
        assert {m.comment for m in rest} <= {"keepalive"}
        assert server.proc.wait(timeout=WAIT) == 0
    assert "timeout graceful shutdown exceeded" not in log.read_text()

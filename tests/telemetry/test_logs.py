"""The log formats themselves: what a line holds, and what it never holds."""

from __future__ import annotations

import contextvars
import json
import logging
import sys

import pytest

from modelreg.telemetry import request_ids
from modelreg.telemetry.logs import JsonFormatter, TextFormatter, scrub


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("Authorization: Bearer mrt_Zm9vYmFyYmF6cXV4", "Bearer [redacted]", "Zm9vYmFy"),
        ("sent basic dXNlcjpwYXNzd29yZA== to it", "basic [redacted]", "dXNlcjpw"),
        ("token mrt_abc-DEF_123 refused", "[redacted token] refused", "abc-DEF"),
        ("fetch https://user:hunter2@example.com/x?sig=abc failed", "https://example.com/x", "hunter2"),
        ("invalid bearer token", "invalid bearer token", "[redacted]"),
    ],
)
def test_scrub_removes_credentials_and_keeps_prose(text: str, kept: str, gone: str) -> None:
    assert kept in scrub(text) and gone not in scrub(text)


def _record(name: str, msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad https://u:p4ss@host/ thing")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, exc_info)


def test_a_json_line_has_the_fields_and_the_request_id_in_a_request() -> None:
    def in_request() -> str:
        request_ids.begin([(b"x-request-id", b"req-9")])
        return JsonFormatter().format(_record("modelreg.x", "hello %s", "world", exc=True))

    line = json.loads(contextvars.copy_context().run(in_request))
    assert (line["level"], line["logger"], line["message"], line["request_id"]) == (
        "WARNING",
        "modelreg.x",
        "hello world",
        "req-9",
    )
    assert "ValueError" in line["exception"] and "p4ss" not in line["exception"]
    outside = json.loads(contextvars.copy_context().run(JsonFormatter().format, _record("modelreg.x", "bye")))
    assert "request_id" not in outside and "exception" not in outside


def test_uvicorns_access_lines_lose_the_query_string() -> None:
    record = _record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/x?token=s3cret", "1.1", 200)
    line = json.loads(JsonFormatter().format(record))
    assert (line["path"], line["status"], line["method"]) == ("/x", 200, "GET")
    assert "s3cret" not in json.dumps(line)


def test_text_lines_are_scrubbed_and_name_the_request() -> None:
    def in_request() -> str:
        request_ids.begin([])
        return TextFormatter("%(levelprefix)s %(message)s", use_colors=False).format(
            _record("modelreg.x", "pulled from %s", "https://me:secret@host/m")
        )

    text = contextvars.copy_context().run(in_request)
    assert text.startswith("WARNING:") and "https://host/m" in text and "secret" not in text
    assert "[request " in text

"""Shared by the scenarios, which run inside an upstream client's venv (``.venvs/mr-<version>``), not the project's.

Only the standard library and the upstream ``model-registry`` client (with its generated ``mr_openapi``) are
importable here. Usage: ``python <scenario>.py <server-url> [args...]``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from importlib.metadata import version as _dist_version
from typing import Any
from urllib.parse import urlsplit

warnings.simplefilter("ignore")  # "User access token is missing", deprecations

if len(sys.argv) < 2:
    sys.exit(f"usage: {sys.argv[0]} <server-url> [args...]")

SERVER_URL = sys.argv[1].rstrip("/")
ARGS = sys.argv[2:]
CLIENT_VERSION = _dist_version("model-registry")
# the client generation decides the API base path: 0.3.10 speaks v1alpha3, 0.3.12+ speak v1
# the server runs with --auth token; the runner hands the scenario an admin's token (tests/compat/conftest.py)
TOKEN = os.environ.get("MODELREG_COMPAT_TOKEN")
API_BASE = "/api/model_registry/v1alpha3" if CLIENT_VERSION.startswith("0.3.10") else "/api/model_registry/v1"


def connect(url: str = SERVER_URL, **kwargs: Any):
    """The client as a user would build it: ``ModelRegistry("http://127.0.0.1", port, author=..., is_secure=False)``."""
    from model_registry import ModelRegistry

    parts = urlsplit(url)
    if TOKEN and "user_token" not in kwargs:
        kwargs["user_token"] = TOKEN
    return ModelRegistry(
        f"{parts.scheme}://{parts.hostname}",
        parts.port,
        author="tester",
        is_secure=False,
        log_level=logging.ERROR,  # no "port does not end with 80" hint on stderr
        **kwargs,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def step(title: str) -> None:
    """Progress marker: the last one printed tells where a failing scenario stopped."""
    print(f"-- {title}", flush=True)


def expect(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise AssertionError(f"{what}:\n  expected {expected!r}\n  got      {actual!r}")


def check(condition: bool, what: str, *context: Any) -> None:
    if not condition:
        details = "".join(f"\n  {item!r}" for item in context)
        raise AssertionError(f"{what}{details}")


def raises(exc_type: type[BaseException] | tuple[type[BaseException], ...], what: str, fn, *args, **kwargs):
    """Call ``fn`` and return the exception it raises, which must be an ``exc_type``."""
    try:
        result = fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    except Exception as exc:
        raise AssertionError(f"{what}: expected {exc_type}, got {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"{what}: expected {exc_type}, but it returned {result!r}")


def status_of(exc: BaseException) -> int | None:
    """HTTP status of an ``mr_openapi`` ApiException."""
    return getattr(exc, "status", None)


def millis(value: str | None, what: str) -> int:
    check(isinstance(value, str) and value.isdigit(), f"{what} must be a string of epoch milliseconds", value)
    number = int(value)
    check(abs(number - time.time() * 1000) < 24 * 3600 * 1000, f"{what} is not a recent epoch in ms", value)
    return number


def http_get(path: str) -> tuple[int, Any]:
    """Raw GET on the server (for what the client hides), returns (status, decoded JSON or text)."""
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
        with urllib.request.urlopen(
            urllib.request.Request(f"{SERVER_URL}{path}", headers=headers), timeout=30
        ) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read().decode()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def done() -> None:
    print("SCENARIO OK", flush=True)

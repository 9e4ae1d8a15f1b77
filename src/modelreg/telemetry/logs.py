"""The server's log format: ``text`` for people (uvicorn's lines, as always) or ``json`` for collectors, one JSON
object per line: ``time`` (ISO-8601, UTC), ``level``, ``logger``, ``message``, ``request_id`` (in a request),
``exception`` (the traceback, when there is one) and, on access lines, ``method``, ``route`` (the template),
``path`` (without the query string), ``status``, ``duration_ms`` and ``client``.

``logging_config`` is the ``logging.config.dictConfig`` of ``modelreg serve``, handed to uvicorn, which applies it
in every worker process: modelreg's loggers and uvicorn's (error and access) in the one format, ``--log-level`` for
both. Every message and traceback is scrubbed of credentials (``scrub``): URLs by ``modelreg.redact``, and bearer
or basic credentials and modelreg API tokens wherever they appear. Headers and query strings are never logged.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from typing import Any, Literal

import orjson
from uvicorn.config import LOG_LEVELS
from uvicorn.logging import DefaultFormatter

from modelreg.redact import public_text
from modelreg.telemetry import request_ids

LogFormat = Literal["text", "json"]
# a credential after "Bearer"/"Basic": 8+ characters with a digit or punctuation ("invalid bearer token" is prose)
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)(\s+)(?=[^\s\"',;]*[0-9_.=+/\-])[^\s\"',;]{8,}")
_API_TOKEN = re.compile(r"\bmrt_[A-Za-z0-9_\-]+")  # auth/tokens.py's TOKEN_PREFIX
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ACCESS_ARGS = 5  # uvicorn's access records: (client, method, path with query, HTTP version, status)


def scrub(text: str) -> str:
    """``text`` without credentials (see the module docstring)."""
    return _API_TOKEN.sub("[redacted token]", _CREDENTIAL.sub(r"\1\2[redacted]", public_text(text)))


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(_ANSI.sub("", record.getMessage())),
        }
        request_id = request_ids.current()
        if request_id is not None:
            line["request_id"] = request_id
        http = getattr(record, "http", None)
        if isinstance(http, dict):
            line.update(http)
        elif record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == _ACCESS_ARGS:
            client, method, path, _version, status = record.args
            line.update(method=method, path=str(path).partition("?")[0], status=status, client=client)
            line["message"] = f'{client} - "{method} {line["path"]}" {status}'
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = scrub(record.exc_text)
        if record.stack_info:
            line["stack"] = scrub(self.formatStack(record.stack_info))
        return orjson.dumps(line, default=str).decode()


class TextFormatter(DefaultFormatter):
    """uvicorn's text lines, scrubbed, with the request id at the end of the lines logged in a request."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        request_id = request_ids.current()
        return f"{text} [request {request_id}]" if request_id is not None else text

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """The ``dictConfig`` for uvicorn's ``log_config``: ``level`` (``--log-level``) for modelreg's loggers (uvicorn
    sets its own); access lines (``modelreg.access``, written only with ``access_log`` on) and what ``serve``
    prints at start (``modelreg.serve``) at INFO whatever the level, as in text mode."""
    if log_format == "json":
        default: dict[str, Any] = {"()": f"{__name__}.JsonFormatter"}
        access = default
    else:
        default = {"()": f"{__name__}.TextFormatter", "fmt": "%(levelprefix)s %(message)s", "use_colors": None}
        access = {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        }
    stderr = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    stdout = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": default, "access": access},
        "handlers": {
            "default": {**stderr, "formatter": "default"},
            "access": {**stdout, "formatter": "access"},
            "modelreg_access": {**stdout, "formatter": "default"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "modelreg": {"handlers": ["default"], "level": LOG_LEVELS.get(level.lower(), level), "propagate": False},
            "modelreg.serve": {"level": "INFO"},
            "modelreg.access": {"handlers": ["modelreg_access"], "level": "INFO", "propagate": False},
        },
    }


class LogLines(io.StringIO):
    """A text stream whose lines become log records: the start-up lines ``modelreg serve`` prints (rich's console
    writes here in JSON mode, so that every line of the output is JSON)."""

    def __init__(self, logger: str) -> None:
        super().__init__()
        self.log = logging.getLogger(logger)
        self._pending = ""

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            if line.strip():
                self.log.info("%s", _ANSI.sub("", line).strip())
        return len(text)

    def isatty(self) -> bool:
        return False

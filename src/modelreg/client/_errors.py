"""The SDK's errors: one class per kind of failure the caller may want to handle differently.

ModelRegistryError          message, status (None when no HTTP status applies), code (the server's "code")
├── BadRequest              400 and 422: the request itself is wrong
├── Unauthorized            401: no token, or a bad or expired one
├── Forbidden               403: the caller's role does not allow it
├── NotFound                404
├── Conflict                409: e.g. a name already taken
├── ServerError             5xx
├── ServerUnavailable       the server could not be reached or did not answer in time (no status)
└── DigestMismatch          what arrived differs from what was recorded (size or SHA-256)
"""

from __future__ import annotations

from typing import Any

import httpx


class ModelRegistryError(Exception):
    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}" if self.status else self.message


class BadRequest(ModelRegistryError):
    pass


class Unauthorized(ModelRegistryError):
    pass


class Forbidden(ModelRegistryError):
    pass


class NotFound(ModelRegistryError):
    pass


class Conflict(ModelRegistryError):
    pass


class ServerError(ModelRegistryError):
    pass


class ServerUnavailable(ModelRegistryError):
    """No answer from the server: it is down, unreachable, or slower than the client's timeout. The message names
    the URL; ``__cause__`` is httpx's error."""


class DigestMismatch(ModelRegistryError):
    pass


_BY_STATUS: dict[int, type[ModelRegistryError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: BadRequest,
}


def unavailable(exc: httpx.TransportError, url: str, timeout: float | None) -> ServerUnavailable:
    """The SDK's error for a request that got no answer, instead of httpx's."""
    waited = f"no answer within {timeout:g} s" if timeout is not None else "no answer"
    if isinstance(exc, httpx.ConnectTimeout):
        return ServerUnavailable(f"cannot connect to the modelreg server at {url}: {waited}")
    if isinstance(exc, httpx.ConnectError):
        return ServerUnavailable(f"cannot connect to the modelreg server at {url}: {_reason(exc)}")
    if isinstance(exc, httpx.TimeoutException):
        return ServerUnavailable(
            f"{waited} from the modelreg server at {url} (a write may or may not have been applied)"
        )
    return ServerUnavailable(f"the connection to the modelreg server at {url} failed: {_reason(exc)}")


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def error_from(response: httpx.Response) -> ModelRegistryError:
    """The error for a failed response, keeping the server's Kubeflow body ``{"code", "message"}`` when there is
    one (a proxy in front of the registry may answer with HTML instead)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        message, code = str(body["message"]), body.get("code")
    else:
        message, code = response.text[:500] or response.reason_phrase, response.reason_phrase
    cls = _BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else ModelRegistryError)
    return cls(message, response.status_code, None if code is None else str(code))

"""Outbound HTTP: the one way modelreg calls another service's JSON API (a remote registry, a Kubernetes API server,
a model catalog, a Backstage catalog).

A `Target` describes the service once (base URL, TLS, bearer token, timeout, whether redirects are followed) and
`Client` calls it. Every failure is an `OutboundError` (like `blobs.base.BlobError` for stores):

    OutboundError   calling the service failed; the message names the request and never a credential
     ├── Unreachable  no answer: connection refused, DNS, TLS, timeout (a retry later may work)
     ├── HttpStatus   an answer with a status the caller did not accept (`status`; a redirect is one)
     └── BadResponse  an answer that is not what the caller needs (a body not JSON or of the wrong shape)

Messages go to status rows, logs and published records, so they pass through `redact.public_text`, and a request is
named by method, scheme, host and path only: queries (page tokens, signatures) are never shown. Redirects are not
followed unless the target asks: a base URL was configured, not whatever it redirects to, and httpx would resend
the bearer token to a redirect on the same host. This module sits low: it imports only `redact` and `tls`.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from modelreg import tls
from modelreg.redact import public_text, public_url

DETAIL_CHARS = 300  # of an error answer's message kept in an error


class OutboundError(Exception):
    """Calling another service failed. The message holds no credential (see the module docstring)."""

    def __init__(self, message: str) -> None:
        super().__init__(public_text(message))
        self.message = str(self)


class Unreachable(OutboundError):
    """No answer: connection refused, DNS, TLS handshake, timeout."""


class HttpStatus(OutboundError):
    """An answer with a status the caller does not accept; `status` lets callers handle 404 or 409 themselves."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class BadResponse(OutboundError):
    """An answer that is not what the caller needs: a body that is not JSON or not of the expected shape."""


@dataclass(frozen=True)
class Target:
    """One service to call. `bearer` is asked at every request, so rotated token files work; `verify_tls=False`
    turns certificate checks off whatever `ca_file` says (an explicit opt-out wins over a default CA)."""

    base_url: str = ""
    verify_tls: bool = True
    ca_file: Path | str | None = None
    bearer: Callable[[], str | None] | None = None
    timeout: float = 30.0
    follow_redirects: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx verifies against: the CA bundle (read now, so a bad path fails at start), httpx's default
        bundle (`tls.default_context`), or nothing."""
        if not self.verify_tls:
            return False
        if not self.ca_file:
            return tls.default_context()
        try:
            return ssl.create_default_context(cafile=str(self.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot read the CA bundle {self.ca_file}: {exc}") from None


def shown(url: httpx.URL | str) -> str:
    """`url` fit for a message: scheme, host, port and path, without user info, query or fragment."""
    text = str(url).partition("#")[0].partition("?")[0]
    return public_url(text)[:300] or "the URL"


class Client:
    """JSON calls against one `Target`. `transport` is for tests (recording or faking requests)."""

    def __init__(self, target: Target, *, transport: httpx.BaseTransport | None = None) -> None:
        self.target = target
        self.base_url = target.base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            verify=target.verify(),
            timeout=target.timeout,
            follow_redirects=target.follow_redirects,
            headers={"Accept": "application/json", **target.headers},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _headers(self) -> dict[str, str]:
        token = self.target.bearer() if self.target.bearer is not None else None
        return {"Authorization": f"Bearer {token}"} if token else {}

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """The answer when its status is 2xx or in `accept`; `Unreachable` without one, `HttpStatus` otherwise."""
        request = self._http.build_request(method, url, params=params, json=body, headers=self._headers())
        where = f"{method} {shown(request.url)}"
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise Unreachable(f"{where}: {type(exc).__name__}: {str(exc) or 'no answer'}") from None
        if 200 <= response.status_code < 300 or response.status_code in accept:
            return response
        answered = f"{where} answered {response.status_code} {response.reason_phrase}".rstrip()
        if response.is_redirect:
            location = urlsplit(response.headers.get("location", ""))
            to = f"{location.scheme}://{location.hostname or ''}" if location.scheme else "another location"
            raise HttpStatus(f"{answered}, a redirect to {to}: not followed", response.status_code)
        detail = _detail(response)
        raise HttpStatus(f"{answered}: {detail}" if detail else answered, response.status_code)

    def json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        accept: Collection[int] = (),
    ) -> Any:
        """The decoded body of a 2xx answer; None for an empty one or an accepted error status (`accept`, e.g. a 404
        that means "none"). `BadResponse` when the body is not JSON; otherwise as `request`."""
        response = self.request(method, url, params=params, body=body, accept=accept)
        if not response.is_success or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise BadResponse(f"{method} {shown(response.request.url)} returned invalid JSON") from None


def _detail(response: httpx.Response) -> str:
    """The server's own message of an error answer (`message` or `error.message` of a JSON body, else the text),
    on one line and short: enough to tell a 403 from RBAC from one from a proxy."""
    text = response.text
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        message = body.get("message") or (error.get("message") if isinstance(error, dict) else None)
        if isinstance(message, str) and message.strip():
            text = message
    return " ".join(text.split())[:DETAIL_CHARS]

"""One delivery attempt: POST the event's body, signed, to a checked destination; no redirects, bounded time and
answer size. The result is recorded by the worker.

The request goes to the address `destinations.resolve` checked, not to a second lookup of the name: the connection
is made to that address, the ``Host`` header and the TLS server name (SNI, and so the certificate check, against
the CA bundle httpx uses) stay the name. No proxy is used (it would do its own lookup). Errors never show the URL
(a path may hold a token, as chat webhooks' do) nor, of course, the secret.

It is ``http.client`` rather than httpx: a delivery is one small POST and its status, and at hundreds of events a
second httpx's per-request work was most of what events cost the server (bench/events.py). Connections are kept
alive per destination and checked before reuse (a receiver that closed an idle one is not sent to)."""

from __future__ import annotations

import http.client
import select
import ssl
import threading
import time
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import httpx

from modelreg import __version__
from modelreg.events import destinations, signing
from modelreg.redact import public_text
from modelreg.settings import EventsSettings

CONTENT_TYPE = "application/cloudevents+json"
MAX_ANSWER_BYTES = 64 * 1024  # read of a receiver's answer, at most
DETAIL_CHARS = 200  # of a failed answer's body kept in the error
IDLE_PER_DESTINATION = 4  # kept-alive connections per destination

_Key = tuple[str, str, str, int]  # scheme, host name, address, port


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool  # a 2xx answer
    status_code: int | None
    seconds: float
    error: str | None  # why it failed, for the deliveries list (never the secret)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to a checked address, with the name as server name: the certificate must be the name's."""

    def __init__(self, address: str, port: int, server_name: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self.server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)  # type: ignore[attr-defined]


class Sender:
    """Sends, keeping connections alive per destination (scheme, host name, address, port), so deliveries to a
    receiver reuse them and a TLS connection verified for one name never carries a request meant for another.
    Thread-safe; `close` when done."""

    def __init__(self, settings: EventsSettings) -> None:
        self.settings = settings
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def send(self, url: str, secret: str, msg_id: str, body: bytes) -> Attempt:
        started = time.perf_counter()
        try:
            destination = destinations.resolve(url, self.settings)
        except (destinations.Refused, destinations.Unresolved) as exc:
            return Attempt(False, None, time.perf_counter() - started, public_text(f"not sent: {exc}"))
        parts = urlsplit(destination.url)
        port = parts.port or destinations.DEFAULT_PORTS[parts.scheme]
        key = (parts.scheme, destination.host, destination.address, port)
        timestamp = int(time.time())
        headers = {
            "Host": destination.host_header,
            "Content-Type": CONTENT_TYPE,
            "User-Agent": f"modelreg/{__version__}",
            "Accept-Encoding": "identity",  # the answer's start is read as it is, for the error message
            signing.ID_HEADER: msg_id,
            signing.TIMESTAMP_HEADER: str(timestamp),
            signing.SIGNATURE_HEADER: signing.sign(secret, msg_id, timestamp, body),
        }
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = self._connection(key)
        timeout = self.settings.delivery_timeout_seconds
        try:
            conn.request("POST", target, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read(MAX_ANSWER_BYTES)
        except TimeoutError:
            conn.close()
            return Attempt(False, None, time.perf_counter() - started, f"no answer within {timeout:g} s")
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            reason = str(exc).replace(url, "the webhook URL") or "the connection failed"
            error = f"cannot reach the receiver: {type(exc).__name__}: {reason}"
            return Attempt(False, None, time.perf_counter() - started, public_text(error)[:1000])
        self._release(key, conn, response)
        seconds = time.perf_counter() - started
        code = response.status
        if 200 <= code < 300:
            return Attempt(True, code, seconds, None)
        if 300 <= code < 400:
            return Attempt(False, code, seconds, f"the receiver answered {code}, a redirect (not followed)")
        detail = " ".join(answer.decode("utf-8", "replace").split())[:DETAIL_CHARS]
        error = f"the receiver answered {code}" + (f": {detail}" if detail else "")
        return Attempt(False, code, seconds, public_text(error))

    def _connection(self, key: _Key) -> http.client.HTTPConnection:
        scheme, host, address, port = key
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                break
            if _still_open(conn):
                return conn
            conn.close()
        timeout = self.settings.delivery_timeout_seconds
        if scheme == "https":
            return _PinnedHTTPS(address, port, host, timeout, _tls_context())
        return http.client.HTTPConnection(address, port, timeout=timeout)

    def _release(self, key: _Key, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        """Keep ``conn`` for the next delivery when its answer was read whole and it may stay open."""
        if not response.isclosed() or response.will_close:
            conn.close()
            return
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < IDLE_PER_DESTINATION:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def send(url: str, secret: str, msg_id: str, body: bytes, settings: EventsSettings) -> Attempt:
    """One attempt on a connection of its own (a webhook's test delivery); the worker keeps a `Sender`."""
    sender = Sender(settings)
    try:
        return sender.send(url, secret, msg_id, body)
    finally:
        sender.close()


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """An idle connection the receiver has not closed: nothing to read on it (a closed one reads as EOF)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


@cache
def _tls_context() -> ssl.SSLContext:
    """Certificates checked against the CA bundle the rest of modelreg's outbound HTTP (httpx) uses."""
    return httpx.create_ssl_context()

"""How ``modelreg serve`` runs uvicorn, one process or several, so that SIGTERM is a graceful stop that exits 0.

uvicorn on SIGTERM (or Ctrl-C) closes its listening socket, closes idle keep-alive connections, lets in-flight
requests finish (up to ``timeout_graceful_shutdown``), then runs the app's lifespan shutdown (background workers,
the database pool). Three things are changed here (docs/scaling.md, "Graceful shutdown"):

* one process: once stopped, uvicorn raises the signal again with its default action, so the process dies of
  SIGTERM (exit status 143) where Kubernetes and systemd expect a clean stop. Here it returns, and exits 0.
* several workers: the supervisor keeps its own copy of the listening socket while the workers drain, so the
  kernel goes on accepting connections that no worker will read, and resets them (the request already sent)
  when the supervisor exits. Here the supervisor closes its copy first: new connections are refused at once,
  which a client sees before it sends anything. A worker still starting holds a copy too, and would hold it
  through its whole start-up before it stops: it is killed instead (it has nothing in flight).
* idle keep-alive connections: uvicorn closes them at once, so a request that a client sent on one a moment
  before is reset unread, and the client cannot tell whether it was carried out. Here such a connection stays
  open for ``LINGER_SECONDS``: a request arriving meanwhile is answered (with ``Connection: close``), and the
  connection is closed after it, or when the time is up.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
LINGER_SECONDS = 1.0  # ample for a request already on its way; a longer idle connection closes as usual
STARTING_PING_SECONDS = 1.0  # a worker that does not say it serves within this is still starting
logger = logging.getLogger("uvicorn.error")


class _DrainingHttp(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), which answers a request that arrives on an idle keep-alive
    connection during the drain instead of resetting it."""

    _draining = False

    def shutdown(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()  # in flight: answered, then closed
            return
        self._draining = True
        self._unset_keepalive_if_required()  # a request arriving cancels this timer, as uvicorn's keep-alive one
        self.timeout_keep_alive_task = self.loop.call_later(LINGER_SECONDS, self.timeout_keep_alive_handler)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # the answer says Connection: close, and the connection closes after it


class _Server(uvicorn.Server):
    """uvicorn's server, which returns after a graceful stop instead of dying of the signal that asked for it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _Supervisor(Multiprocess):
    """uvicorn's worker supervisor, which stops listening before it asks the workers to drain."""

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()  # the workers hold their own copies, which they close as they stop
        for process in self.processes:
            if process.is_ready(timeout=STARTING_PING_SECONDS):
                process.terminate()
            else:
                logger.info("Killed child process [%s]: it had not started serving", process.pid)
                process.kill()


def run(app: Any, *, workers: int, **options: Any) -> None:
    """Serve ``app`` (an ASGI app, or an import string with ``factory=True`` when ``workers`` > 1) with uvicorn's
    ``options`` (``uvicorn.Config``'s keywords) until SIGTERM or SIGINT."""
    if options.get("http", "auto") in ("auto", "httptools"):  # "auto" is httptools, in uvicorn[standard]
        options["http"] = _DrainingHttp
    config = uvicorn.Config(app, workers=workers, **options)
    if workers > 1:
        _Supervisor(config, sockets=[config.bind_socket()]).run()
        return
    server = _Server(config)
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)

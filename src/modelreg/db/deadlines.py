"""Limits on every wait for PostgreSQL and MariaDB, so that a hung database gives errors (503s) instead of hung
requests (``DatabaseSettings``; docs/security.md, "operations").

Three layers, as each catches what the others cannot:

- The server's own limits, set once per connection in the ``connect`` event (no round trip per request):
  PostgreSQL ``statement_timeout`` and ``lock_timeout``; MariaDB ``max_statement_time``, ``innodb_lock_wait_timeout``
  and ``lock_wait_timeout`` (metadata locks). They end a slow statement or a lock wait cleanly and keep the
  connection.
- A client-side deadline on every wait for an answer, the statement timeout plus ``GRACE_SECONDS`` (so that the
  server's own error normally comes first): only the client notices a server, or a proxy, that stopped answering.
  PyMySQL has socket read and write timeouts; psycopg waits without a limit unless its connection passes one, which
  the connection class below does. A connection that missed its deadline is closed, and the pool discards it.
- The connect timeout bounds connecting (the handshake and the login too, which PyMySQL would otherwise bound by its
  read timeout) and the rollback of a connection given back inside a transaction. TCP keepalives and
  ``tcp_user_timeout`` end PostgreSQL connections to a peer that vanished.

The connection classes also keep requests at the round trips they need (``db/database.py``): connections run in
autocommit mode, and ``commit``/``rollback`` send nothing when no transaction is open (psycopg already skips them;
PyMySQL would send a COMMIT or ROLLBACK every time). A pooled connection is checked at checkout without a round
trip: if the driver saw it break, or the server closed it while it sat in the pool (a restart, ``KILL``,
``pg_terminate_backend``, ``wait_timeout``: the socket is readable, with the server's goodbye or end of file), the
pool replaces it (``DisconnectionError``), where a pre-ping would have paid a round trip on every checkout.
"""

from __future__ import annotations

import functools
import math
import select
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

from modelreg.settings import DatabaseSettings

if TYPE_CHECKING:
    import psycopg  # imported when a PostgreSQL engine is made: the other backends never load it

GRACE_SECONDS = 1.0
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def install(engine: Engine, limits: DatabaseSettings) -> None:
    """Apply ``limits`` to every connection ``engine`` opens (PostgreSQL and MariaDB/MySQL; SQLite has its own)."""
    backend = engine.dialect.name
    if backend == "postgresql":
        factory, driver_args, session = _postgres_connection_class().connect, _postgres_args, _postgres_session
    elif backend in ("mysql", "mariadb"):
        factory, driver_args, session = _mysql_connection_class(), _mysql_args, _mysql_session
    else:
        return
    statement = limits.statement_timeout_seconds + GRACE_SECONDS if limits.statement_timeout_seconds else None
    ping = limits.connect_timeout_seconds

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        for key, value in driver_args(limits, statement).items():
            cparams.setdefault(key, value)  # what the database URL says wins
        connection: Any = factory(*cargs, **cparams)  # a DeadlineConnection of either driver
        connection.deadline = limits.connect_timeout_seconds  # the dialect's first queries and ours: logging in
        return connection

    @event.listens_for(engine, "connect")
    def _session(dbapi_connection: Any, _record: Any) -> None:
        session(dbapi_connection, limits)

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # Only a connection that sat in the pool: the pool tries one replacement, and if a kill took that one too
        # between its connect and here, raising again would end the checkout in SQLAlchemy's "This connection is
        # closed" (a 500). A just-made connection that is gone is found by its first query, as a lost one.
        if dbapi_connection.pooled and closed_by_server(dbapi_connection.socket_fd()):
            raise DisconnectionError("the database closed this pooled connection")  # the pool connects anew
        dbapi_connection.pooled = False
        dbapi_connection.deadline = statement

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:  # None once invalidated
            dbapi_connection.pooled = True
            dbapi_connection.deadline = ping  # the rollback of a transaction left open: as quick as a connect


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def closed_by_server(fd: int | None) -> bool:
    """Whether an idle connection's socket is gone (``None``) or has something to read: an idle connection is sent
    nothing but the server's farewell (an error such as "terminating connection", then end of file)."""
    if fd is None or fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


# --- PostgreSQL (psycopg 3) -----------------------------------------------------------------------------------------


def _postgres_args(limits: DatabaseSettings, statement: float | None) -> dict[str, Any]:
    args: dict[str, Any] = {"connect_timeout": max(2, math.ceil(limits.connect_timeout_seconds)), **_KEEPALIVES}
    # unacknowledged data this long means the peer is gone (keepalives cover an idle connection)
    args["tcp_user_timeout"] = _ms(max(statement or 0, limits.connect_timeout_seconds, 10))
    return args


def _postgres_session(connection: Any, limits: DatabaseSettings) -> None:
    settings = []
    if limits.statement_timeout_seconds:
        settings.append(f"SET statement_timeout = {_ms(limits.statement_timeout_seconds)}")
    if limits.lock_timeout_seconds:
        settings.append(f"SET lock_timeout = {_ms(limits.lock_timeout_seconds)}")
    if settings:
        connection.execute("; ".join(settings))
        connection.commit()  # a SET inside a transaction that is rolled back would be undone


@functools.cache
def _postgres_connection_class() -> type[psycopg.Connection[Any]]:
    import psycopg
    from psycopg.errors import _WaitTimeout  # what Connection.wait(timeout=...) raises (psycopg >= 3.3)

    class DeadlineConnection(psycopg.Connection[Any]):
        """psycopg's connection, passing ``deadline`` (seconds, None: no limit) to every wait for the server."""

        deadline: float | None = None
        pooled = False  # has sat in the pool since it was last used (checked at checkout)

        def socket_fd(self) -> int | None:
            return None if self.broken or self.closed else self.pgconn.socket

        def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
            if self.deadline is None or kwargs.get("timeout") is not None or len(args) > 1:
                return super().wait(gen, *args, **kwargs)
            try:
                return super().wait(gen, *args, **{**kwargs, "timeout": self.deadline})
            except _WaitTimeout:
                self.pgconn.finish()  # a query may still be running: the connection's state is unknown
                raise psycopg.OperationalError(f"the database did not answer within {self.deadline:g} s") from None

    return DeadlineConnection


# --- MariaDB / MySQL (PyMySQL) --------------------------------------------------------------------------------------


def _mysql_args(limits: DatabaseSettings, statement: float | None) -> dict[str, Any]:
    return {"connect_timeout": limits.connect_timeout_seconds, "read_timeout": statement, "write_timeout": statement}


def _mysql_session(connection: Any, limits: DatabaseSettings) -> None:
    with connection.cursor() as cursor:  # transactions begin explicitly (db/database.py): they are READ COMMITTED
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    settings = []
    if limits.statement_timeout_seconds:
        if "mariadb" in connection.get_server_info().lower():
            settings.append(f"max_statement_time = {limits.statement_timeout_seconds:g}")
        else:
            settings.append(f"max_execution_time = {_ms(limits.statement_timeout_seconds)}")  # MySQL: SELECTs only
    if limits.lock_timeout_seconds:
        seconds = max(1, math.ceil(limits.lock_timeout_seconds))
        settings += [f"innodb_lock_wait_timeout = {seconds}", f"lock_wait_timeout = {seconds}"]
    if settings:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION " + ", ".join(settings))


@functools.cache
def _mysql_connection_class() -> Callable[..., Any]:
    import pymysql
    from pymysql.constants import SERVER_STATUS

    in_transaction = SERVER_STATUS.SERVER_STATUS_IN_TRANS

    class DeadlineConnection(pymysql.connections.Connection):
        """PyMySQL's connection; ``deadline`` is its read and write timeout. PyMySQL bounds the handshake and login
        by the read timeout, not the connect timeout: this connects with the connect timeout for both. In autocommit
        mode, ``commit`` and ``rollback`` outside a transaction send nothing (the server status of the last answer
        says whether one is open), as psycopg's do."""

        pooled = False  # as above

        def socket_fd(self) -> int | None:
            sock = getattr(self, "_sock", None)  # None once closed (PyMySQL's stubs leave it out)
            return None if sock is None else int(sock.fileno())

        def _idle(self) -> bool:
            return bool(self.autocommit_mode) and not (getattr(self, "server_status", 0) or 0) & in_transaction

        def commit(self) -> None:
            if not self._idle():
                super().commit()

        def rollback(self) -> None:
            if not self._idle():
                super().rollback()

        @property
        def deadline(self) -> float | None:
            return self._read_timeout

        @deadline.setter
        def deadline(self, seconds: float | None) -> None:
            self._read_timeout = self._write_timeout = seconds

        def connect(self, sock: Any = None) -> None:
            after = self.deadline
            self.deadline = self.connect_timeout
            try:
                super().connect(sock)
            finally:
                self.deadline = after

    return DeadlineConnection

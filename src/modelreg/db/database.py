"""Engine and transactions for the three supported databases.

Reads and writes are separate context managers because each database wants them begun differently, and the
``begin`` event below sends what ``conn.info["begin"]`` names (``BEGINS``):

- SQLite needs writers to take the write lock up front (``BEGIN IMMEDIATE``): a deferred transaction that later
  upgrades to a writer fails at once with "database is locked" when another process writes, instead of waiting for
  the busy timeout.
- PostgreSQL and MariaDB connections stay in autocommit mode, so a read is its statements and nothing more: no
  BEGIN, no COMMIT, no reset when the connection goes back to the pool (the drivers' ``commit``/``rollback`` send
  nothing outside a transaction: ``db/deadlines.py``). At READ COMMITTED, which both run, each statement of a read
  transaction saw its own snapshot anyway, so a read loses no consistency. Writes begin explicitly; anything else
  that begins a transaction on these engines (Alembic, backups, ``engine.begin()``) gets a real one too. A
  consistent view across statements is ``snapshot()`` (REPEATABLE READ).

There is no pre-ping: a pooled connection the server closed is found without a round trip when it is checked out
(``db/deadlines.py``), and a read whose connection is lost under it is retried once (``retry_read``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from modelreg.db import audit_chain, deadlines, disconnects
from modelreg.db import prepared as prepared_sql
from modelreg.db.audit_channel import AuditEntry, CommitListener, CommitListeners, close_staging, open_staging
from modelreg.errors import Unavailable
from modelreg.settings import DatabaseSettings

log = logging.getLogger("modelreg")

# Deadlock / serialization failures that a retry of the whole transaction resolves. Not a lock wait timeout
# (MariaDB 1205): it already waited as long as configured, and retrying would multiply that wait.
_RETRYABLE_CODES = {1213, "40001", "40P01"}
# How the drivers say that their connect timeout expired (psycopg, PyMySQL).
_TIMED_OUT = ("timeout expired", "timed out")
# Tries of one write transaction that keeps hitting deadlocks or serialization failures.
_WRITE_ATTEMPTS = 5
# What begins each kind of transaction, per backend (dialect name). Server databases read in autocommit mode.
BEGINS: dict[str, dict[str, tuple[str, ...]]] = {
    "sqlite": {"read": ("BEGIN",), "write": ("BEGIN IMMEDIATE",), "snapshot": ("BEGIN",)},
    "postgresql": {"read": (), "write": ("BEGIN",), "snapshot": ("BEGIN ISOLATION LEVEL REPEATABLE READ",)},
    "mysql": {
        "read": (),
        "write": ("START TRANSACTION",),
        # for the next transaction only: the session stays at READ COMMITTED
        "snapshot": ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION"),
    },
}
BEGINS["mariadb"] = BEGINS["mysql"]

P = ParamSpec("P")
T = TypeVar("T")


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached or did not answer in time. The message is all an HTTP caller sees: the
    ``detail`` (which names the host) goes to the server log and to the CLI user, who configured it."""

    def __init__(self, detail: str, *, lost: bool = False) -> None:
        super().__init__("the database is unavailable; try again later")
        self.detail = detail
        self.lost = lost  # the database answered, then dropped the new connection (not refused, not timed out)


def create_db_engine(url: str, limits: DatabaseSettings | None = None) -> Engine:
    limits = limits or DatabaseSettings()
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    # waiting for a free pooled connection counts as connecting
    kwargs: dict[str, Any] = {} if backend == "sqlite" else {"pool_timeout": limits.connect_timeout_seconds}
    if backend == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if parsed.database not in (None, "", ":memory:"):  # in-memory databases use a single-connection pool
            kwargs.update(pool_size=16, max_overflow=16)
    elif backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    if backend != "sqlite":  # the connection budget: docs/scaling.md
        recycle = limits.pool_recycle_seconds or -1
        # Autocommit: transactions begin explicitly (module docstring); the session's READ COMMITTED is set per
        # connection by db/deadlines.py. No pre-ping: deadlines.py checks a connection at checkout without a
        # round trip.
        kwargs.update(
            pool_size=limits.pool_size,
            max_overflow=limits.max_overflow,
            pool_recycle=recycle,
            isolation_level="AUTOCOMMIT",
        )
    engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        _configure_sqlite(engine)
    else:
        deadlines.install(engine, limits)
        disconnects.install(engine)
    _begin_explicitly(engine)
    return engine


def _begin_explicitly(engine: Engine) -> None:
    begins = BEGINS[engine.dialect.name]

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the driver's connection: through exec_driver_sql the BEGIN of every transaction paid SQLAlchemy's
        # execution machinery (db/prepared.py). Errors (a lock not had within busy_timeout) are wrapped the same.
        # Unset (Alembic, backups, engine.begin(), autobegin): a real transaction, as a writer's.
        for sql in begins[conn.info.get("begin", "write")]:
            with prepared_sql.DriverCursor(conn, sql, ()) as cursor:
                cursor.execute(sql)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "foreign_keys = ON",
            "case_sensitive_like = ON",  # LIKE is case-sensitive on every database
            "busy_timeout = 30000",
            "cache_size = -65536",
            "wal_autocheckpoint = 4000",  # fewer, larger checkpoints on a write-heavy registry
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()


class Database:
    """The registry's database: an engine plus read and write transactions, within ``limits``. A failure to connect
    is logged (the server's record of why it answered 503) unless ``log_unavailable`` is off (the CLI prints it)."""

    def __init__(self, url: str, limits: DatabaseSettings | None = None, *, log_unavailable: bool = True) -> None:
        self.url = url
        self.limits = limits or DatabaseSettings()
        self.log_unavailable = log_unavailable
        self.engine = create_db_engine(url, self.limits)
        self.backend = self.engine.dialect.name
        # SQLite answers in microseconds from the same process, so handlers call it on the event loop: a hop to
        # a worker thread costs more than the query. Server databases wait on the network, so they get threads.
        self.inline = self.backend == "sqlite"
        self._writer_lock = _writer_lock_path(self.engine) if self.backend == "sqlite" else None
        self._local = threading.local()
        self._committed = CommitListeners()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read: on SQLite a read transaction (one snapshot); on the server databases autocommit statements, each
        at READ COMMITTED, without a round trip to begin or end (module docstring)."""
        with self._connection() as conn, begun_as(conn, "read"), conn.begin():
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction that sees one state of the whole database throughout, on every backend (REPEATABLE
        READ on the server databases; a read transaction is one already on SQLite)."""
        with self._connection() as conn, begun_as(conn, "snapshot"), conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction. Audit entries staged on the connection (``audit_channel.stage``) are numbered and
        appended to the chain just before commit, so a change never commits without its record; once committed,
        the ``on_commit`` listeners get them. A rollback discards them."""
        committed: list[AuditEntry] | None = None
        with self._connection() as conn, _exclusive(self._writer_lock), begun_as(conn, "write"):
            staged = open_staging(conn)
            try:
                with conn.begin():
                    yield conn
                    if staged:
                        committed = audit_chain.append(conn, staged, commit=True)
            finally:
                close_staging(conn)
        if committed:
            self._committed.notify(committed)

    def on_commit(self, listener: CommitListener) -> Callable[[], None]:
        """Call ``listener`` with the numbered audit entries of each write transaction of this database once it
        has committed (in the writer's thread, after its locks are released: it must be quick). Returns the
        function that unsubscribes it."""
        return self._committed.add(listener)

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection for one transaction. With SQLite each thread keeps its own open connection across
        transactions: checking one out of the pool costs more than most of the queries it then runs."""
        if self.inline:
            conn = getattr(self._local, "conn", None)
            if conn is None or conn.closed or conn.invalidated:
                conn = self._local.conn = self._connect()
            yield conn
            return
        with self._connect() as conn:
            yield conn

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except (OperationalError, PoolTimeout) as exc:
            unavailable = self.unavailable(exc)
            if self.log_unavailable:
                log.warning("database %s unavailable: %s", self.safe_url, unavailable.detail)
            raise unavailable from exc

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs and the CLI."""
        return self.engine.url.render_as_string(hide_password=True)

    def unavailable(self, exc: Exception) -> DatabaseUnavailable:
        """``exc`` (a failure to connect or to get an answer) as the error to raise, with the driver's reason."""
        if isinstance(exc, PoolTimeout):
            return DatabaseUnavailable(f"no free connection within {self.limits.connect_timeout_seconds:g} s")
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        reason = lines[0] if lines else type(cause).__name__
        if any(words in reason.lower() for words in _TIMED_OUT):
            return DatabaseUnavailable(
                f"did not answer within {self.limits.connect_timeout_seconds:g} s (database.connect_timeout_seconds)"
            )
        return DatabaseUnavailable(reason, lost=getattr(exc, "connection_invalidated", False))

    @contextmanager
    def migration_engine(self) -> Iterator[Engine]:
        """An engine without statement and lock timeouts, for schema migrations: a migration may rightly run long,
        and waits for another process's migration lock. The connect timeout still applies."""
        if self.backend == "sqlite":
            yield self.engine
            return
        engine = create_db_engine(
            self.url, self.limits.model_copy(update={"statement_timeout_seconds": 0, "lock_timeout_seconds": 0})
        )
        try:
            yield engine
        finally:
            engine.dispose()

    def run_write(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(conn, ...)`` in a write transaction, retrying on deadlocks and serialization failures."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self.write() as conn:
                    return fn(conn, *args, **kwargs)
            except DBAPIError as exc:
                if attempt + 1 < _WRITE_ATTEMPTS and _is_retryable(exc):
                    time.sleep(0.005 * (2**attempt))
                    continue
                raise
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self.engine.dispose()


@contextmanager
def begun_as(conn: Connection, kind: str) -> Iterator[None]:
    """Transactions begun on ``conn`` (of an engine made by ``create_db_engine``) inside are of ``kind``: "read",
    "write" or "snapshot" (``BEGINS``). ``conn.info`` outlives the checkout, so the kind is removed afterwards: the
    next user of the pooled connection gets the default (a write's)."""
    conn.info["begin"] = kind
    try:
        yield
    finally:
        conn.info.pop("begin", None)


def retry_read(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(...)``, a read, once more if its connection was lost under it (the server restarted, or killed it): the
    pool has replaced the connection by then. Only for reads: a write whose connection was lost may have committed,
    so it fails (503) instead of running twice."""
    try:
        return fn(*args, **kwargs)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.info("database connection lost during a read; retrying once: %s", exc.orig)
    except DatabaseUnavailable as exc:
        if not exc.lost:  # refused or timed out: a second try would only double the wait
            raise
        log.info("database connection lost while connecting for a read; retrying once: %s", exc.detail)
    return fn(*args, **kwargs)


def _writer_lock_path(engine: Engine) -> str | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return f"{database}.writer-lock"


@contextmanager
def _exclusive(path: str | None) -> Iterator[None]:
    """Serialise SQLite writers of every process with a kernel lock.

    SQLite's own busy handler polls with sleeps of 1 ms and more while another process holds the write lock; the
    kernel wakes a waiter on ``flock`` the moment the lock is released, so several server processes can share
    the write path without idling (measured in ``bench/``).
    """
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _is_retryable(exc: DBAPIError) -> bool:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or (orig.args[0] if orig is not None and orig.args else None)
    return code in _RETRYABLE_CODES

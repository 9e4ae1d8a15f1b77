"""Which driver errors mean that the database connection is gone, beyond what SQLAlchemy's dialects recognise.

SQLAlchemy's psycopg dialect calls an error a disconnect only when psycopg has already marked the connection
broken; when PostgreSQL terminates a session (``pg_terminate_backend``, a failover, a restart), psycopg often
raises the server's "terminating connection" (SQLSTATE 57P01), or libpq's "server closed the connection
unexpectedly", before it has. Measured with a killer loop against three readers: about one failure in five went
unrecognised, so a read was answered 503 instead of being retried on a fresh connection, and the pool kept the
other dead connections. An error that psycopg raises while leaving a pipeline (the audit chain's) hides the
server's error in its context, hence the walk along the chain.

The MySQL dialect's own list (2013, 1927, ...) already covers MariaDB's ``KILL``.
"""

from __future__ import annotations

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

# admin_shutdown, crash_shutdown, connection_exception, connection_does_not_exist, connection_failure
_LOST_SQLSTATES = frozenset({"57P01", "57P02", "08000", "08003", "08006"})
# libpq's and psycopg's words for a connection that went away under a query (no SQLSTATE: the client says so)
_LOST_MESSAGES = (
    "server closed the connection unexpectedly",
    "could not receive data from server",
    "could not send data to server",
    "no connection to the server",
    "the connection is closed",
)
_CHAIN_LIMIT = 5


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (a PostgreSQL driver error), or an error it was raised while handling, says the server
    ended the connection."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN_LIMIT):
        if seen is None:
            return False
        if getattr(seen, "sqlstate", None) in _LOST_SQLSTATES:
            return True
        text = str(seen)
        if any(message in text for message in _LOST_MESSAGES):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def install(engine: Engine) -> None:
    """Tell SQLAlchemy about the disconnects it misses on PostgreSQL engines, so that it invalidates the connection
    (and the pool's older ones) and marks the error ``connection_invalidated`` (``retry_read`` retries a read),
    for errors of queries and of connecting alike."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "handle_error")
    def _recognise(context: ExceptionContext) -> None:
        if not context.is_disconnect and connection_lost(context.original_exception):
            context.is_disconnect = True

"""The connection pool settings (``database.pool_size``, ``max_overflow``, ``pool_recycle_seconds``) bound what one
process holds on PostgreSQL and MariaDB: past the budget a caller waits ``connect_timeout_seconds`` and is told
the database is unavailable (a 503 over HTTP, tests/test_operations.py), and old connections are replaced.
SQLite is a file with no connection budget: skipped."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from modelreg.db.database import Database, DatabaseUnavailable
from modelreg.settings import DatabaseSettings

SESSION_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}


def _database(url: str, **pool: float) -> Database:
    if make_url(url).get_backend_name() == "sqlite":
        pytest.skip("SQLite has no connection pool budget")
    return Database(url, DatabaseSettings.model_validate({"connect_timeout_seconds": 1, **pool}))


def _session(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(text(SESSION_ID[db.backend])).scalar_one())


@pytest.mark.parametrize(("pool_size", "max_overflow"), [(1, 0), (2, 1)])
def test_a_process_holds_at_most_pool_size_plus_max_overflow(
    database_url: str, pool_size: int, max_overflow: int
) -> None:
    db = _database(database_url, pool_size=pool_size, max_overflow=max_overflow)
    try:
        with ExitStack() as held:
            sessions = {
                held.enter_context(db.read()).execute(text(SESSION_ID[db.backend])).scalar_one()
                for _ in range(pool_size + max_overflow)
            }
            assert len(sessions) == pool_size + max_overflow  # that many at once are fine
            with pytest.raises(DatabaseUnavailable) as refused, db.read():
                pass
        assert refused.value.detail == "no free connection within 1 s"
        _session(db)  # given back: the next caller gets one again
    finally:
        db.dispose()


def test_pooled_connections_are_reused_then_replaced_after_pool_recycle_seconds(database_url: str) -> None:
    db = _database(database_url, pool_size=1, max_overflow=0, pool_recycle_seconds=1)
    try:
        first = _session(db)
        assert _session(db) == first  # reused within the recycle time
        time.sleep(1.2)
        assert _session(db) != first  # older than pool_recycle_seconds: a new session
    finally:
        db.dispose()

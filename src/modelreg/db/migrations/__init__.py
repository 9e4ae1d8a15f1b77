"""Alembic migrations. ``upgrade(engine)`` takes a database-wide lock so several processes may start at once: the
first one migrates, the others wait for it and then find the schema current (tests/scaleout/test_replicas.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from modelreg.db.database import DatabaseUnavailable

_HERE = Path(__file__).parent
_LOCK_NAME = "modelreg_migrations"
_LOCK_KEY = 0x6D6F64656C726567  # "modelreg"
_LOCK_WAIT_SECONDS = 120  # MariaDB's GET_LOCK needs a limit; PostgreSQL's pg_advisory_lock waits as long as it takes


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(
    engine: Engine, revision: str = "head", *, announce: Callable[[str | None, str | None], None] | None = None
) -> None:
    """Migrate to ``revision`` under the lock. ``announce(current, target)`` is called, holding the lock, only when
    this process is the one that will migrate (a process that waited for another one's migration finds nothing
    to do), so that the logs of several replicas started at once show one migration."""
    with engine.connect() as conn, _migration_lock(conn):
        if announce is not None:
            current = current_revision(conn)
            target = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
            conn.commit()  # end the read: alembic then runs its transaction as without ``announce``
            if target is not None and current != target.revision:
                announce(current, target.revision)
        command.upgrade(alembic_config(conn), revision)
        conn.commit()


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    backend = conn.dialect.name
    if backend == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
    elif backend in ("mysql", "mariadb"):
        got = conn.execute(text("SELECT GET_LOCK(:n, :s)"), {"n": _LOCK_NAME, "s": _LOCK_WAIT_SECONDS}).scalar()
        if got != 1:  # 0: timed out; NULL: an error (killed). Migrating unlocked would race the holder.
            raise DatabaseUnavailable(
                f"another process has held the migration lock {_LOCK_NAME!r} for {_LOCK_WAIT_SECONDS} s"
            )
        try:
            yield
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _LOCK_NAME})
    else:
        # SQLite: alembic's own transaction plus the busy timeout serialise concurrent upgrades.
        yield

"""Alembic migrations. ``upgrade(engine)`` takes a database-wide lock so several processes may start at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

_HERE = Path(__file__).parent
_LOCK_NAME = "modelreg_migrations"
_LOCK_KEY = 0x6D6F64656C726567  # "modelreg"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.connect() as conn, _migration_lock(conn):
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
        conn.execute(text("SELECT GET_LOCK(:n, 120)"), {"n": _LOCK_NAME})
        try:
            yield
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _LOCK_NAME})
    else:
        # SQLite: alembic's own transaction plus the busy timeout serialise concurrent upgrades.
        yield

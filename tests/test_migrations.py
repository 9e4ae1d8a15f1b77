"""The Alembic migrations build exactly the schema ``tables.py`` declares, on every database."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Float

from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.db.tables import metadata


def _compare_type(_ctx: Any, _reflected_col: Any, _declared_col: Any, reflected: Any, declared: Any) -> bool | None:
    """MariaDB reflects ``Float(53)`` as ``DOUBLE``: the same type, which alembic would report as a change."""
    if isinstance(declared, Float) and isinstance(reflected, Float):
        return False
    return None  # alembic's own comparison


def test_migrated_schema_matches_the_declared_tables(database: Database) -> None:
    with database.engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
        context = MigrationContext.configure(conn, opts={"compare_type": _compare_type})
        assert compare_metadata(context, metadata) == []


def test_upgrade_is_idempotent(database: Database) -> None:
    migrations.upgrade(database.engine)
    with database.engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()

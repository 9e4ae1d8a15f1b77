"""Options and set-up shared by every command that works on the database directly."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError

from modelreg.auth import context
from modelreg.db import migrations
from modelreg.db.database import Database, DatabaseUnavailable
from modelreg.errors import RegistryError, Unavailable
from modelreg.settings import Settings, load_settings

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="MODELREG_DATABASE_URL",
        help="SQLAlchemy URL (sqlite:///…, mysql+pymysql://…, postgresql+psycopg://…). Default: SQLite in the data "
        "directory.",
        show_default=False,
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="MODELREG_CONFIG",
        help="YAML settings file (auth, OIDC, proxy, policy, ...); options and MODELREG_* variables win over it.",
        show_default=False,
    ),
]


def settings_for(database_url: str | None, config: Path | None = None, **overrides: object) -> Settings:
    try:
        return load_settings(config, database_url=database_url, **overrides)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@contextmanager
def database_session(
    settings: Settings, *, migrate: bool, exit_code: int = 1, check_schema: bool = True
) -> Iterator[Database]:
    """The database of ``settings``, with the command acting as ``cli:<OS user>`` (an admin: whoever holds the
    database URL is one anyway). ``migrate``: bring the schema up to date first (commands that bootstrap a fresh
    registry), else refuse a database whose schema is not current. A refusal, or a database that cannot be reached
    within ``settings.database``'s timeouts, is printed as ``error: ...`` and ends the command with ``exit_code``.
    ``check_schema=False`` (with ``migrate=False``): neither, the command looks at the schema itself (``db import``)."""
    db = Database(settings.resolved_database_url(), settings.database, log_unavailable=False)
    try:
        if migrate:
            upgrade_schema(db)
        elif check_schema:
            require_current_schema(db)
        with context.acting_as(context.cli_context()):
            yield db
    except (DatabaseUnavailable, OperationalError) as exc:
        _error(database_failure(db, exc))
        raise typer.Exit(exit_code) from None
    except RegistryError as exc:
        _error(exc.message)
        raise typer.Exit(exit_code) from None
    finally:
        db.dispose()


def from_env(env_var: str | None) -> str | None:
    """The value of the environment variable an option names (how secrets reach a command without showing in the
    process list); a variable that is not set or empty ends the command (exit 2)."""
    if not env_var:
        return None
    value = os.environ.get(env_var)
    if not value:
        _error(f"the environment variable {env_var} is not set or empty")
        raise typer.Exit(2)
    return value


def _error(message: str) -> None:
    Console(stderr=True, soft_wrap=True).print(f"error: {message}", markup=False, highlight=False)


def upgrade_schema(db: Database, announce: Callable[[str | None, str | None], None] | None = None) -> None:
    """Apply pending migrations, without the statement and lock timeouts (``Database.migration_engine``);
    ``announce(current, target)`` when this process is the one migrating (``migrations.upgrade``)."""
    with db.migration_engine() as engine:
        migrations.upgrade(engine, announce=announce)


def database_failure(db: Database, exc: Exception) -> str:
    """What to tell the operator (who configured the URL) when the database cannot be used."""
    detail = exc.detail if isinstance(exc, DatabaseUnavailable) else db.unavailable(exc).detail
    return f"cannot use the database {db.safe_url}: {detail}"


def require_current_schema(db: Database) -> None:
    """A clear message instead of a SQL error when the URL points at an empty or older database."""
    with db.read() as conn:
        current = migrations.current_revision(conn)
    if current != migrations.head_revision():
        raise Unavailable(
            f"the database schema is at revision {current or 'none'}, this modelreg needs "
            f"{migrations.head_revision()}: check --database-url, or run 'modelreg db upgrade'"
        )


def when(ms: int | None) -> str:
    """An epoch-millisecond time for a table cell."""
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")

"""``modelreg db``: schema migrations and wiping the registry."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from sqlalchemy import delete

from modelreg.cli.options import DatabaseUrl, database_session, settings_for
from modelreg.db import migrations
from modelreg.db.tables import REGISTRY_TABLES

app = typer.Typer(no_args_is_help=True, help="Database schema and maintenance.")
console = Console(stderr=True, soft_wrap=True)


@app.command()
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply every pending schema migration."""
    with database_session(settings_for(database_url), migrate=True):
        console.print(f"schema at revision {migrations.head_revision()}")


@app.command()
def reset(
    database_url: DatabaseUrl = None,
    yes: bool = typer.Option(False, "--yes", help="Confirm deleting every registry record."),
) -> None:
    """Delete every registry record (for demos and tests); the schema stays."""
    if not yes:
        console.print("refusing to delete every record without --yes")
        raise typer.Exit(2)
    started = time.perf_counter()
    with database_session(settings_for(database_url), migrate=True) as db, db.write() as conn:
        for table in REGISTRY_TABLES:
            conn.execute(delete(table))
    console.print(f"registry emptied in {time.perf_counter() - started:.2f}s")

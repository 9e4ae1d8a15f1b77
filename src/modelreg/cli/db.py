"""``modelreg db``: schema migrations, wiping the registry, and export/import of every table (``db/backup.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import delete

from modelreg import __version__
from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, settings_for
from modelreg.db import backup, migrations
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


FileArg = typer.Argument(..., metavar="FILE", help="JSON Lines; - for stdout/stdin; gzip when the name ends in .gz.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary.")


@app.command("export")
def export_(
    file: str = FileArg, quiet: bool = QuietOpt, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """Write every table to FILE from one consistent snapshot, for `db import` on SQLite, MariaDB or PostgreSQL.

    Secrets stay as stored: connection credentials encrypted with this server's secret key (the target needs the
    same key file), tokens and passwords as hashes."""
    with (
        database_session(settings_for(database_url, config), migrate=False) as db,
        _progress("export", quiet) as progress,
        backup.open_output(file) as out,
    ):
        summary = backup.export_backup(db, out, modelreg_version=__version__, progress=progress)
    _summarise("exported", summary, quiet)


@app.command("import")
def import_(
    file: str = FileArg, quiet: bool = QuietOpt, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """Load FILE (from `db export`) into an empty database, migrating its schema first; all or nothing.

    Exit code 2, with nothing changed, when the database is not empty or the file is damaged, truncated or of
    another schema revision; 1 when the database refuses a row (rolled back) or cannot be reached."""
    settings = settings_for(database_url, config)
    with database_session(settings, migrate=False, check_schema=False) as db:
        try:
            with backup.open_input(file) as source, _progress("import", quiet) as progress:
                summary = backup.import_backup(db, source, progress=progress)
        except backup.BackupRefused as exc:
            console.print(f"error: {exc.message}", markup=False, highlight=False)
            raise typer.Exit(2) from None
    _summarise("imported", summary, quiet)


class _Bar:
    """``backup.Progress`` as one Rich bar over all rows, named after the table being copied."""

    def __init__(self, bar: Progress, verb: str) -> None:
        self.bar = bar
        self.verb = verb
        self.task = bar.add_task(verb, total=None)

    def begin(self, totals: Mapping[str, int]) -> None:
        self.bar.update(self.task, total=sum(totals.values()))

    def advance(self, table: str, rows: int) -> None:
        self.bar.update(self.task, advance=rows, description=f"{self.verb} {table}")


@contextmanager
def _progress(verb: str, quiet: bool) -> Iterator[_Bar]:
    """A progress bar on stderr when it is a terminal (and not ``--quiet``)."""
    columns = (TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=quiet or not console.is_terminal) as bar:
        yield _Bar(bar, verb)


def _summarise(verb: str, summary: backup.Summary, quiet: bool) -> None:
    if quiet:
        return
    tables = ", ".join(f"{name} {count}" for name, count in summary.rows.items() if count)
    console.print(
        f"{verb} {summary.total} rows in {summary.seconds:.1f} s ({tables or 'no rows'})", markup=False, highlight=False
    )
    if summary.audit_head is not None:
        seq, hash_ = summary.audit_head
        anchor = f"audit chain head: seq {seq} hash {hash_} (modelreg audit verify --anchor {seq}:{hash_})"
        console.print(anchor, markup=False, highlight=False)

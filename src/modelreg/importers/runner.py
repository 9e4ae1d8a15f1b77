"""Runs an import: progress bar, ``--dry-run``, the summary at the end; resumable by construction (the ledger).

Every write of a run is audited as the current caller (the CLI's user) with the client ``import <source>`` and the
run's id as request id, so the audit trail says who imported what from where, and which run did it. An entity that
fails is listed and the run goes on (its children fail with it: their parent was not imported); a source that
cannot be read stops the run (`SourceError`), after writing what it read. Re-running picks up where a stopped run
ended: what it wrote is in the ledger, unchanged, so it is skipped (a crashed run lost the transaction it was
writing, at most ``writer.BATCH_SIZE`` entities: the next run writes them)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field, replace

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelreg.auth import context
from modelreg.auth.context import CallContext
from modelreg.db.database import Database
from modelreg.importers import ledger
from modelreg.importers.model import Kind, Source, SourceError
from modelreg.importers.writer import Applied, Outcome, Writer
from modelreg.services.imports import ImportService
from modelreg.settings import LimitSettings

CLIENT_LENGTH = 64  # audit_log.client


@dataclass
class Summary:
    source: str
    run_id: str
    dry_run: bool
    counts: Counter[tuple[Kind, Outcome]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # "<kind> <name> (source id <id>): <why>"
    planned: list[str] = field(default_factory=list)  # a dry run's "create <kind> <name> (source id <id>)"
    aborted: str | None = None  # why the run stopped early (the source could not be read)

    @property
    def ok(self) -> bool:
        return not self.errors and self.aborted is None

    def count(self, kind: Kind | None = None, outcome: Outcome | None = None) -> int:
        return sum(n for (k, o), n in self.counts.items() if kind in (None, k) and outcome in (None, o))


def importing(source: Source, run_id: str) -> CallContext:
    """The current caller, naming the source (``client``) and the run (``request_id``) in each audit record."""
    return replace(context.current(), client=f"import {source.name}"[:CLIENT_LENGTH], request_id=run_id)


def run(
    source: Source,
    db: Database,
    *,
    dry_run: bool = False,
    progress: Console | None = None,
    limits: LimitSettings | None = None,
) -> Summary:
    """Import everything ``source`` yields; ``progress``: where the progress bar goes (None: nowhere)."""
    summary = Summary(source.name, uuid.uuid4().hex, dry_run)
    writer = Writer(ImportService(db), source.name, ledger.load(db, source.name), limits=limits, dry_run=dry_run)
    try:
        with context.acting_as(importing(source, summary.run_id)):
            _run(source, writer, summary, progress)
    except SourceError as exc:
        summary.aborted = str(exc)
    return summary


def _run(source: Source, writer: Writer, summary: Summary, console: Console | None) -> None:
    """Read the source (``total``: a source may read everything first) and apply what it yields, with a progress
    bar once there is something to count."""
    if console is not None:
        with console.status(f"reading {source.name}"):
            total = source.total()
    else:
        total = source.total()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=console is None, redirect_stdout=False) as bar:
        task = bar.add_task(f"import from {source.name}", total=total)
        try:
            for done, entity in enumerate(source.entities(), 1):
                _count(writer.apply(entity), summary)
                if total is not None and done > total:  # the source found more than it announced
                    total = done
                bar.update(task, completed=done, total=total)
        finally:  # what was read before the end (or before the source failed, or Ctrl-C) is written
            _count(writer.flush(), summary)


def _count(applied: list[Applied], summary: Summary) -> None:
    for done in applied:
        entity, result = done.entity, done.result
        summary.counts[entity.kind, result.outcome] += 1
        kind = str(entity.fields.get("artifactType") or "artifact") if entity.kind == "artifact" else entity.kind
        name = str(entity.fields.get("name") or "")
        described = f"{kind.replace('_', ' ')} {name!r} (source id {entity.source_id})"
        if result.outcome is Outcome.FAILED:
            summary.errors.append(f"{described}: {result.message}")
        elif summary.dry_run and result.outcome is not Outcome.UNCHANGED:
            verb = "create" if result.outcome is Outcome.CREATED else "update"
            summary.planned.append(f"{verb} {described}")

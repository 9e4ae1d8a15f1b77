"""``modelreg audit``: verify, list and export the audit trail, reading the database directly.

Read-only on purpose: these commands never migrate the schema, so an auditor can run them with read-only
database credentials; they refuse a database whose schema is not the one this version expects.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, settings_for
from modelreg.cli.output import stdout_console
from modelreg.errors import InvalidInput
from modelreg.services.audit import (
    VERIFY_BATCH,
    AuditService,
    iso_time,
    parse_anchor,
    parse_entity_id,
    parse_time,
    to_wire,
)

app = typer.Typer(no_args_is_help=True, help="The audit trail: verify its hash chain, list and export records.")
out = stdout_console()
err = Console(stderr=True, soft_wrap=True)
_CELL = 48  # longest value shown per changed field in the table

EntityOpt = typer.Option(None, "--entity", help="KIND:ID, e.g. model_version:12.", show_default=False)
EntityKindOpt = typer.Option(None, "--entity-kind", help="e.g. registered_model.", show_default=False)
EntityIdOpt = typer.Option(None, "--entity-id", help="Needs --entity-kind.", show_default=False)
ActorOpt = typer.Option(None, "--actor", help="Only records of this user.", show_default=False)
ActionOpt = typer.Option(None, "--action", help="create, update, archive, restore, delete, ...", show_default=False)
SinceOpt = typer.Option(None, "--since", help="ISO-8601 (naive = UTC) or epoch ms; inclusive.", show_default=False)
UntilOpt = typer.Option(None, "--until", help="ISO-8601 (naive = UTC) or epoch ms; exclusive.", show_default=False)


@contextmanager
def audit_service(database_url: str | None, config: ConfigFile) -> Iterator[AuditService]:
    """Read-only: never migrates, so it works with read-only credentials; exit 2 when it cannot check at all."""
    with database_session(settings_for(database_url, config), migrate=False, exit_code=2) as db:
        yield AuditService(db)


def _filters(
    entity: str | None,
    entity_kind: str | None,
    entity_id: str | None,
    actor: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
) -> dict[str, Any]:
    """The service's filter arguments from the command's options (``--entity`` is short for kind and id)."""
    if entity is not None:
        if entity_kind is not None or entity_id is not None:
            raise InvalidInput("give either --entity KIND:ID or --entity-kind/--entity-id, not both")
        entity_kind, sep, entity_id = entity.rpartition(":")
        if not sep or not entity_kind:
            raise InvalidInput(f"invalid --entity {entity!r}: use KIND:ID, e.g. model_version:12")
    return {
        "entity_kind": entity_kind,
        "entity_id": None if entity_id is None else parse_entity_id(entity_id, "entity id"),
        "actor": actor,
        "action": action,
        "since_ms": None if since is None else parse_time(since, "--since"),
        "until_ms": None if until is None else parse_time(until, "--until"),
    }


@app.command()
def verify(
    batch: int = typer.Option(VERIFY_BATCH, "--batch", min=1, help="Records read per transaction."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    anchor: str = typer.Option(
        None, "--anchor", help="SEQ:HASH from an earlier verify: the chain must still hold that record unchanged."
    ),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Recompute every hash and link: exit 0 if intact, 1 at the first bad record, 2 if it could not check.

    Note the last seq and hash somewhere else and pass them as --anchor next time: removing records from the end
    of the chain, or rewriting its tail, is only detectable against such an anchor."""
    with audit_service(database_url, config) as svc:
        result = svc.verify(batch, None if anchor is None else parse_anchor(anchor))
    if as_json:
        print(orjson.dumps(result.to_dict()).decode())
    elif result.first_bad is None:
        out.print(f"audit trail intact: {result.checked} records, last seq {result.last_seq} hash {result.last_hash}")
    else:
        bad = result.first_bad
        where = f"seq {bad.seq}" + (f" (expected {bad.expected_seq})" if bad.seq != bad.expected_seq else "")
        out.print(f"audit trail BROKEN at {where}: {bad.kind}: {escape(bad.message)}")
        out.print(f"intact up to seq {result.last_seq} hash {result.last_hash}; {result.checked} records checked")
        if bad.record is not None:
            out.print(escape(orjson.dumps(to_wire(bad.record)).decode()))
    if result.first_bad is not None:
        raise typer.Exit(1)


@app.command("list")
def list_records(
    entity: str = EntityOpt,
    entity_kind: str = EntityKindOpt,
    entity_id: str = EntityIdOpt,
    actor: str = ActorOpt,
    action: str = ActionOpt,
    since: str = SinceOpt,
    until: str = UntilOpt,
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many records."),
    oldest_first: bool = typer.Option(False, "--oldest-first", help="Chain order instead of newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON Lines (one record per line) instead of a table."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Show records, newest first."""
    records: list[dict[str, Any]] = []
    with audit_service(database_url, config) as svc:
        filters = _filters(entity, entity_kind, entity_id, actor, action, since, until)
        token: str | None = None
        while len(records) < limit:
            page, token = svc.query(
                **filters, page_size=limit - len(records), page_token=token, newest_first=not oldest_first
            )
            records.extend(page)
            if not token:
                break
    if as_json:
        for record in records:
            sys.stdout.buffer.write(orjson.dumps(to_wire(record), option=orjson.OPT_APPEND_NEWLINE))
        return
    table = Table("seq", "time (UTC)", "actor", "via", "action", "entity", "name", "changes")
    for r in records:
        wire = to_wire(r)
        entity_ref = wire["entityKind"] + (f":{wire['entityId']}" if wire["entityId"] is not None else "")
        table.add_row(
            str(r["seq"]),
            (iso_time(r["time_ms"]) or str(r["time_ms"])).replace("T", " ").rstrip("Z"),
            escape(r["actor"]),
            r["via"],
            r["action"],
            entity_ref,
            escape(r["entity_name"] or ""),
            escape(_summary(wire["before"], wire["after"])),
        )
    out.print(table)


@app.command()
def export(
    output: str = typer.Option("-", "--output", "-o", help="File to write, or - for stdout."),
    entity: str = EntityOpt,
    entity_kind: str = EntityKindOpt,
    entity_id: str = EntityIdOpt,
    actor: str = ActorOpt,
    action: str = ActionOpt,
    since: str = SinceOpt,
    until: str = UntilOpt,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Write records in chain order as JSON Lines.

    An unfiltered export holds every hashed field, so it can be verified offline."""
    with audit_service(database_url, config) as svc:
        filters = _filters(entity, entity_kind, entity_id, actor, action, since, until)
        if output == "-":
            count = svc.export(sys.stdout.buffer, **filters)
            sys.stdout.buffer.flush()
        else:
            with _open(Path(output)) as stream:
                count = svc.export(stream, **filters)
    err.print(f"exported {count} records to {'stdout' if output == '-' else escape(output)}")


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    try:
        stream = path.open("wb")
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None
    with stream:
        yield stream


def _summary(before: Any, after: Any) -> str:
    """``field: old → new`` per changed field; a create shows the new values, a delete only that it happened."""
    if not isinstance(after, dict):
        return "(removed)" if after is None and isinstance(before, dict) else ""
    before = before if isinstance(before, dict) else {}
    parts = []
    for key, new in after.items():
        shown = _short(new)
        parts.append(f"{key}: {_short(before[key])} → {shown}" if key in before else f"{key}={shown}")
    return ", ".join(parts)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"

"""``modelreg bridge``: export the Backstage bridge's documents and show its sync status, on the database directly.

``export`` first runs a full resync (the same code the server runs at start), so its output is current even when
no server is running, then writes every document under the path its location URI names, with the directory
output's writer (`bridge.outputs.write_documents`: atomic, never outside the directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from modelreg.bridge import store
from modelreg.bridge.cards import CatalogCards
from modelreg.bridge.kserve import KServeStatus
from modelreg.bridge.normalize import Defaults
from modelreg.bridge.outputs import write_documents
from modelreg.bridge.sync import BridgeSync
from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, settings_for, when
from modelreg.cli.output import AsJson, print_json, stdout_console
from modelreg.kube.client import Kube
from modelreg.settings import Settings

app = typer.Typer(no_args_is_help=True, help="The Backstage bridge: export its documents, show its sync status.")
out = stdout_console()


def export(
    directory: Annotated[Path, typer.Argument(help="Where to write the documents (created if missing).")],
    format: Annotated[str, typer.Option("--format", help="json (model catalog) or yaml (catalog-info).")] = "json",
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Resync, then write one file per location URI: <model>/<version>/model-catalog.json or
    <model>/catalog-info.yaml."""
    if format not in ("json", "yaml"):
        raise typer.BadParameter(f"--format must be json or yaml, not {format!r}")
    fmt: store.Format = "yaml" if format == "yaml" else "json"
    settings = settings_for(database_url, config)
    try:  # the process's one cluster client, as the server builds it
        kube = Kube.from_settings(settings.kubernetes, field_manager=settings.deploy.field_manager)
    except ValueError as exc:  # a broken kubernetes setting, named
        raise typer.BadParameter(str(exc)) from None
    try:
        count = _export(settings, kube, directory, fmt)
    finally:
        if kube is not None:
            kube.close()
    out.print(f"wrote {count} {format} document(s) to {escape(str(directory))}", highlight=False)


def _export(settings: Settings, kube: Kube | None, directory: Path, fmt: store.Format) -> int:
    with database_session(settings, migrate=False) as db:
        bridge = settings.bridge
        # the server's endpoint and card sources too, or this resync would drop what they contributed
        kserve = KServeStatus.configured(bridge.kubernetes, kube)
        if kserve is not None and not kserve.refresh():
            out.print(f"warning: KServe status not read: {escape(kserve.last_error or '')}", highlight=False)
        cards = CatalogCards(bridge.catalog, background=False) if bridge.catalog else None
        defaults = Defaults.create(bridge.default_owner, bridge.default_lifecycle)
        resolver = kserve.resolver if kserve is not None and kserve.loaded else None
        BridgeSync(db, defaults, resolver=resolver, cards=cards).full_sync()
        with db.read() as conn:
            return write_documents(store.all_documents(conn, fmt), directory)


def status(as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Sources, their last (full) sync, record counts and the last error."""
    settings = settings_for(database_url, config)
    with database_session(settings, migrate=False) as db, db.read() as conn:
        rows = store.status(conn)
    bridge = settings.bridge
    if as_json:
        sources = [
            {
                "name": row.name,
                "versions": row.versions,
                "models": row.models,
                "lastSync": row.last_sync,
                "lastFullSync": row.last_full_sync,
                "lastError": row.last_error,
                "lastErrorTime": row.last_error_time,
            }
            for row in rows
        ]
        print_json({"enabled": bridge.enabled, "format": bridge.format, "access": bridge.access, "sources": sources})
        return
    out.print(
        f"bridge {'enabled' if bridge.enabled else 'disabled'}, format {bridge.format}, access {bridge.access}",
        highlight=False,
    )
    table = Table("source", "versions", "models", "last sync", "last full sync", "last error")
    for row in rows:
        error = f"{when(row.last_error_time)}: {row.last_error}" if row.last_error else ""
        table.add_row(
            escape(row.name),
            str(row.versions),
            str(row.models),
            when(row.last_sync),
            when(row.last_full_sync),
            escape(error),
        )
    out.print(table)
    if not rows:
        out.print("no sync has run yet: start 'modelreg serve' or run 'modelreg bridge export'", highlight=False)


app.command("export")(export)
app.command("status")(status)

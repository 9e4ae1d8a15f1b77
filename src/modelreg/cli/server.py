"""``modelreg serve`` and ``modelreg seed``."""

from __future__ import annotations

import os

import typer
import uvicorn
from rich.console import Console

from modelreg.app import create_app
from modelreg.cli.options import DatabaseUrl, settings_for
from modelreg.services.registry import RegistryService
from modelreg.services.seed import DEMO_MODEL
from modelreg.services.seed import seed as seed_demo
from modelreg.storage import migrations
from modelreg.storage.db import Database

console = Console(stderr=True, soft_wrap=True)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8080, help="Port to listen on."),
    database_url: DatabaseUrl = None,
    workers: int = typer.Option(1, min=1, help="Worker processes (they share the database)."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Run the registry server (migrates the database first)."""
    settings = settings_for(database_url, host=host, port=port, workers=workers)
    url = settings.resolved_database_url()
    db = Database(url)
    migrations.upgrade(db.engine)
    where = f"SQLite database {settings.data_dir / 'registry.db'}" if not settings.database_url else db.engine.url
    console.print(f"modelreg: {where!s} (schema {migrations.head_revision()})")
    console.print(f"modelreg: serving on http://{host}:{port}")
    if workers == 1:
        uvicorn.run(create_app(settings, db), host=host, port=port, log_level=log_level, access_log=False)
        return
    db.dispose()
    os.environ["MODELREG_DATABASE_URL"] = url
    uvicorn.run(
        "modelreg.asgi:create_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )


def seed(database_url: DatabaseUrl = None) -> None:
    """Register the demo model (idempotent), as a platform's seed job does."""
    db = Database(settings_for(database_url).resolved_database_url())
    migrations.upgrade(db.engine)
    rm_id, mv_id, artifact_id = seed_demo(RegistryService(db))
    console.print(f"seeded {DEMO_MODEL}: registered model {rm_id}, version {mv_id}, model artifact {artifact_id}")

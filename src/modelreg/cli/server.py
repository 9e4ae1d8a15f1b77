"""``modelreg serve`` and ``modelreg seed``."""

from __future__ import annotations

import contextlib
import ipaddress
import logging.config
import math
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from sqlalchemy.exc import OperationalError

from modelreg.cli.deploy_targets import cluster, targets_for
from modelreg.cli.options import (
    ConfigFile,
    DatabaseUrl,
    database_failure,
    database_session,
    settings_for,
    upgrade_schema,
)
from modelreg.db import migrations
from modelreg.db.database import Database, DatabaseUnavailable
from modelreg.errors import InvalidInput
from modelreg.services.access import AccessService
from modelreg.services.registry import RegistryService
from modelreg.services.seed import DEMO_BINDINGS, DEMO_MODEL, seed_bindings
from modelreg.services.seed import seed as seed_demo
from modelreg.services.users import DEMO_USERS, UserService, check_password, seed_demo_users
from modelreg.settings import Settings

console = Console(stderr=True, soft_wrap=True)
SETTINGS_ENV = "MODELREG_SERVE_SETTINGS"  # the resolved settings, handed to worker processes
# How ``serve`` runs uvicorn, whatever the worker count (bench/noop_app.py serves the benchmark's ceiling with the
# same). uvicorn's "auto" loop and HTTP parser are uvloop and httptools, both in ``uvicorn[standard]``. No access
# log: a log line per request costs more CPU than a get-by-id. proxy_headers off: uvicorn would replace the
# socket's peer address with X-Forwarded-For (from 127.0.0.1) before modelreg decides whether the peer is a trusted
# proxy (api/auth.py reads the header itself).
UVICORN_OPTIONS: dict[str, Any] = {"loop": "auto", "http": "auto", "access_log": False, "proxy_headers": False}


def serve(
    host: str = typer.Option(None, help="Address to bind.  [default: 127.0.0.1]", show_default=False),
    port: int = typer.Option(None, help="Port to listen on.  [default: 8080]", show_default=False),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    auth: str = typer.Option(
        None,
        "--auth",
        help="Authentication methods, comma-separated: token, oidc, proxy, password (the web UI's local accounts). "
        "None = local mode (loopback only, every caller an anonymous admin).",
        show_default=False,
    ),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Allow local mode (no authentication) on a non-loopback address."
    ),
    workers: int = typer.Option(None, min=1, help="Worker processes (they share the database).  [default: 1]"),
    log_level: str = typer.Option("warning", help="Log level of uvicorn and of modelreg's own loggers."),
    log_format: str = typer.Option(
        None,
        "--log-format",
        help="text, or json: one JSON object per line, with the request id (docs/telemetry.md). "
        "[default: text; MODELREG_LOG_FORMAT]",
        show_default=False,
    ),
    access_log: bool = typer.Option(
        None,
        "--access-log/--no-access-log",
        help="One log line per request: method, route, path (no query string), status, duration, client.  "
        "[default: off; MODELREG_ACCESS_LOG]",
        show_default=False,
    ),
    catalog_sources: list[Path] = typer.Option(
        None,
        "--catalog-sources",
        help="A model catalog sources file (Kubeflow format); repeat for several. None: the demo catalog.",
        show_default=False,
    ),
    no_registry_source: bool = typer.Option(
        False, "--no-registry-source", help="Do not list registered models in the catalog (source 'registry')."
    ),
) -> None:
    """Run the registry server (migrates the database first)."""
    settings = settings_for(
        database_url,
        config,
        host=host,
        port=port,
        workers=workers,
        auth__methods=auth,
        auth__insecure_no_auth=insecure_no_auth or None,
        catalog__sources=catalog_sources or None,
        catalog__registry_source=False if no_registry_source else None,
        log_format=log_format,
        access_log=access_log,
    )
    from modelreg.telemetry import logs, multiprocess

    log_config = logs.logging_config(settings.log_format, log_level)
    if settings.log_format == "json":  # from here on: what this command prints is JSON lines too
        logging.config.dictConfig(log_config)
        console.file = logs.LogLines("modelreg.serve")
    _check_exposure(settings)
    url = settings.resolved_database_url()
    db = Database(url, settings.database)
    try:
        upgrade_schema(db, announce=_announce_migration)
    except (DatabaseUnavailable, OperationalError) as exc:
        console.print(f"modelreg: {database_failure(db, exc)}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    # here, after the database answered: other commands, and a failure, come sooner without uvicorn
    from modelreg.app import create_app
    from modelreg.cli import graceful

    where = f"SQLite database {settings.data_dir / 'registry.db'}" if not settings.database_url else db.safe_url
    console.print(f"modelreg: {where!s} (schema {migrations.head_revision()})")
    if settings.auth.local_mode:
        console.print(
            "modelreg: [bold yellow]no authentication configured: local mode, every caller is an anonymous "
            "admin[/]" + ("" if _loopback(settings.host) else " [bold red](--insecure-no-auth on a network address)[/]")
        )
    else:
        console.print(f"modelreg: authentication: {', '.join(settings.auth.methods)}")
    base = f"http://{_url_host(settings.host)}:{settings.port}"
    console.print(f"modelreg: serving on {base}", markup=False, highlight=False)
    console.print(f"modelreg: API docs: {base}/docs", markup=False, highlight=False)
    try:
        app = create_app(settings, db)  # also checks the policy file and the OIDC settings before any worker starts
    except ValueError as exc:
        console.print(f"modelreg: {exc}")
        raise typer.Exit(2) from None
    # SIGTERM: stop accepting, finish in-flight requests for up to shutdown_timeout_seconds, stop the background
    # workers, close the pool, exit 0 (cli/graceful.py, docs/scaling.md)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level,
        "log_config": log_config,
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_timeout_seconds),
        "timeout_keep_alive": settings.keep_alive_seconds,
        **UVICORN_OPTIONS,
    }
    if settings.workers == 1:
        graceful.run(app, workers=1, **options)
        return
    db.dispose()
    os.environ[SETTINGS_ENV] = settings.model_copy(update={"database_url": url}).model_dump_json()
    # the workers' metrics are summed from files in a fresh private directory (telemetry/multiprocess.py)
    with multiprocess.directory() if settings.metrics.enabled else contextlib.nullcontext():
        graceful.run("modelreg.asgi:create_from_env", factory=True, workers=settings.workers, **options)


def _announce_migration(current: str | None, target: str | None) -> None:
    """The one line a migration leaves in the log: with several replicas starting at once, only the process that
    holds the migration lock and finds the schema behind prints it."""
    console.print(f"modelreg: migrating the database schema from {current or 'empty'} to {target}", highlight=False)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_exposure(settings: Settings) -> None:
    """Without authentication the server is everyone's admin: only on loopback, unless explicitly insecure."""
    if settings.auth.local_mode and not _loopback(settings.host) and not settings.auth.insecure_no_auth:
        console.print(
            f"modelreg: refusing to serve on {settings.host} without authentication: every caller would be an "
            "admin. Enable authentication (--auth token, oidc or proxy), bind to 127.0.0.1, or pass "
            "--insecure-no-auth."
        )
        raise typer.Exit(2)


def seed(
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    demo_users: bool = typer.Option(
        False,
        "--demo-users",
        help="Also create the local users ai-admin (group rhoai-admins), ai-developer (group rhoai-users) and "
        "ai-viewer (role viewer) for the web UI's password login; a re-run resets their password.",
    ),
    password: str = typer.Option(
        None,
        "--password",
        envvar="MODELREG_DEMO_PASSWORD",
        help="The demo users' password (or MODELREG_DEMO_PASSWORD).",
        show_default=False,
        show_envvar=True,
    ),
    wait: float = typer.Option(
        0,
        "--wait",
        min=0,
        metavar="SECONDS",
        help="Wait up to SECONDS for the database (and --registry-url) to answer, saying so every few seconds; "
        "exit 1 when the time runs out. 0: try once.",
    ),
    registry_url: str = typer.Option(
        None,
        "--registry-url",
        help="Also wait until URL/readyz/health answers 200: the registry is up and has migrated the database.",
        show_default=False,
    ),
) -> None:
    """Register the demo model and the demo role bindings, and (without a cluster) the usual hardware profiles and
    serving runtimes to deploy with; idempotent, as a platform's seed job is."""
    if demo_users:
        if not password:
            console.print("error: --demo-users needs a password: --password or MODELREG_DEMO_PASSWORD")
            raise typer.Exit(2)
        try:
            check_password(password)
        except InvalidInput as exc:
            console.print(f"error: {exc.message}", markup=False)
            raise typer.Exit(2) from None
    settings = settings_for(database_url, config)
    if wait or registry_url:
        _wait_for(settings, wait, registry_url)
    targets: list[str] = []
    with cluster(settings) as kube, database_session(settings, migrate=True) as db:
        rm_id, mv_id, artifact_id = seed_demo(RegistryService(db))
        seed_bindings(AccessService(db))
        users = seed_demo_users(UserService(db), AccessService(db), password) if demo_users and password else []
        if settings.deploy.enabled:
            targets = targets_for(settings, db, kube).seed_defaults()
    console.print(f"seeded {DEMO_MODEL}: registered model {rm_id}, version {mv_id}, model artifact {artifact_id}")
    for kind, subject, role in DEMO_BINDINGS:
        console.print(f"role binding: {kind} {subject} → {role}")
    for username, groups, own_role in DEMO_USERS:
        if username in users:
            via = f"groups {', '.join(groups)}" if groups else f"role {own_role}"
            console.print(f"local user: {username} ({via})")
    for line in targets:
        console.print(f"deploy: {line}", markup=False, highlight=False)


def _wait_for(settings: Settings, seconds: float, registry_url: str | None) -> None:
    """Before seeding: the database answers (the seed then migrates it, under the lock, if no registry has yet),
    and the registry, when given, is ready."""
    from modelreg.cli import waiting  # only here: httpx costs every other command its import time

    waiter = waiting.Waiter(seconds, lambda line: console.print(f"seed: {line}", markup=False, highlight=False))
    db = Database(settings.resolved_database_url(), settings.database, log_unavailable=False)
    try:
        waiter.until(f"the database {db.safe_url}", waiting.database_check(db))
        if registry_url:
            waiter.until(f"the registry at {registry_url}", waiting.registry_check(registry_url))
    except waiting.GaveUp as exc:
        console.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    finally:
        db.dispose()

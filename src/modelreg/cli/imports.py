"""``modelreg import mlflow|kubeflow``: bring another registry's models in (docs/import.md).

Like ``modelreg connection``, it works on the database directly, acting as ``cli:<OS user>``; each write is
audited naming the source (client ``import <source>``) and the run (its id is the request id, printed at the end).
Re-running the same command skips what is unchanged and updates what changed at the source; a run interrupted
(Ctrl-C, a lost source) resumes where it stopped. The token is best given by environment variable (``--token-env``):
an argument shows in the process list and the shell history."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, get_args

import typer
from rich.console import Console
from rich.table import Table

from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, from_env, settings_for
from modelreg.cli.output import stdout_console
from modelreg.importers import runner
from modelreg.importers.kubeflow import KubeflowSource
from modelreg.importers.mlflow import MlflowSource
from modelreg.importers.model import Kind, Source, SourceError
from modelreg.importers.runner import Summary
from modelreg.importers.writer import Outcome

app = typer.Typer(no_args_is_help=True, help="Import from another registry: MLflow or a Kubeflow Model Registry.")
out = stdout_console()
err = Console(stderr=True, soft_wrap=True, highlight=False)
MAX_ERRORS_SHOWN = 100

Url = Annotated[str, typer.Option("--url", help="The registry's base URL (http or https).", show_default=False)]
Token = Annotated[
    str | None,
    typer.Option("--token", help="Bearer token (shows in the process list: prefer --token-env).", show_default=False),
]
TokenEnv = Annotated[
    str | None,
    typer.Option(
        "--token-env", metavar="VAR", help="The environment variable that holds the token.", show_default=False
    ),
]
DryRun = Annotated[
    bool,
    typer.Option("--dry-run", help="Print what would change; write nothing (a new database still gets its tables)."),
]
OpenSource = Callable[[str | None], AbstractContextManager[Source]]


def _command(name: str, open_source: Callable[[str, str | None], AbstractContextManager[Source]], doc: str) -> None:
    """``modelreg import <name>``: the same options for every source."""

    def command(
        url: Url,
        token: Token = None,
        token_env: TokenEnv = None,
        dry_run: DryRun = False,
        database_url: DatabaseUrl = None,
        config: ConfigFile = None,
    ) -> None:
        _import(lambda secret: open_source(url, secret), token, token_env, dry_run, database_url, config)

    command.__doc__ = doc
    app.command(name)(command)


_command(
    "mlflow",
    MlflowSource,
    """Import an MLflow tracking server's model registry: registered models, versions (stages, aliases, tags) and
    the runs they came from, with their params and metrics.""",
)
_command(
    "kubeflow",
    KubeflowSource,
    """Import a Kubeflow Model Registry (or another modelreg): models, versions, artifacts, experiments, runs,
    serving environments and inference services.""",
)


def _import(
    open_source: OpenSource,
    token: str | None,
    token_env: str | None,
    dry_run: bool,
    database_url: str | None,
    config: Path | None,
) -> None:
    secret = _token(token, token_env)
    settings = settings_for(database_url, config)
    try:
        with open_source(secret) as source, database_session(settings, migrate=True) as db:
            summary = runner.run(source, db, dry_run=dry_run, progress=err, limits=settings.limits)
    except SourceError as exc:  # the URL itself is unusable
        _fail(str(exc))
    except KeyboardInterrupt:
        err.print("interrupted: what was imported is kept; run the same command again to resume", markup=False)
        raise typer.Exit(130) from None
    _print(summary)
    if not summary.ok:
        raise typer.Exit(1)


def _token(token: str | None, token_env: str | None) -> str | None:
    if token is not None and token_env is not None:
        err.print("error: give at most one of --token and --token-env", markup=False)
        raise typer.Exit(2)
    return token if token_env is None else from_env(token_env)


def _fail(message: str) -> None:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(1)


def _print(summary: Summary) -> None:
    """The plan (a dry run), the table of outcomes by kind, then the errors; a run stopped before it read anything
    is its error alone."""
    if summary.aborted is not None and not summary.counts:
        _fail(summary.aborted)
    for line in summary.planned:
        out.print(f"would {line}", markup=False, highlight=False)
    outcomes = list(Outcome)
    table = Table("kind", *(o.value for o in outcomes), title=_title(summary), title_justify="left")
    for kind in get_args(Kind):
        if summary.count(kind):
            table.add_row(kind.replace("_", " "), *(str(summary.count(kind, o)) for o in outcomes))
    table.add_row("total", *(str(summary.count(None, o)) for o in outcomes), style="bold")
    out.print(table)
    for line in summary.errors[:MAX_ERRORS_SHOWN]:
        err.print(f"failed: {line}", markup=False)
    if len(summary.errors) > MAX_ERRORS_SHOWN:
        err.print(f"... and {len(summary.errors) - MAX_ERRORS_SHOWN} more failures", markup=False)
    if summary.aborted is not None:
        err.print(f"error: {summary.aborted} (run the same command again to resume)", markup=False)


def _title(summary: Summary) -> str:
    if summary.dry_run:
        return f"Dry run of the import from {summary.source}: what it would do (nothing was written)"
    return f"Import from {summary.source} (run {summary.run_id}: the request id of its audit records)"

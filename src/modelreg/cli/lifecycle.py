"""``modelreg promote MODEL VERSION --to STAGE``: works on the database directly, acting as ``cli:<OS user>`` (an
admin), under the lifecycle policy of the settings file, so its checks hold here as they do on the server. It
never migrates the schema (unlike ``token``/``rolebinding``, which bootstrap a fresh database): a registry with
versions to promote has been migrated by its server, and a wrong URL should fail plainly rather than get a schema."""

from __future__ import annotations

import typer
from rich.console import Console

from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, settings_for
from modelreg.services.lifecycle import LifecycleService, Policy, PolicyError, stage_of
from modelreg.services.registry import RegistryService
from modelreg.stages import STAGES

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def promote(
    model: str = typer.Argument(..., help="Name of the registered model."),
    version: str = typer.Argument(..., help="Name of the model version."),
    to: str = typer.Option(..., "--to", help=f"The stage to move the version to: {', '.join(STAGES)}."),
    comment: str = typer.Option(None, "--comment", help="Why; kept in the audit record."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Move a model version to another lifecycle stage, as the policy allows (exit 1 with the reason if not)."""
    settings = settings_for(database_url, config)
    try:
        policy = Policy.load(settings.governance.policy_file)
    except PolicyError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None
    with database_session(settings, migrate=False) as db:
        done = LifecycleService(RegistryService(db), policy).promote_by_name(model, version, to, comment)
    where = f"{model!r} version {version!r} (id {done.record.row['id']})"
    now = stage_of(done.record.props)
    if not done.changed:
        out.print(f"{where} is already in stage {now!r}", markup=False)
        return
    out.print(f"{where}: {done.from_stage} → {now}", markup=False)
    for other in done.deprecated:
        out.print(
            f"{model!r} version {other.row['name']!r} (id {other.row['id']}): production → deprecated", markup=False
        )

"""``modelreg deploy`` and ``modelreg deployments list|status|stop|start|undeploy|history``: on the database directly
and the configured cluster (``kubernetes`` settings), acting as ``cli:<OS user>`` like ``modelreg promote``, under
the deploy policy of the settings file. ``--dry-run`` prints the objects as multi-document YAML (secret values
redacted) and writes nothing, in the database or in the cluster. Errors print ``error: <message>`` and exit 1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, settings_for, when
from modelreg.cli.output import AsJson, print_json, stdout_console
from modelreg.deploy.policy import DeployPolicyError
from modelreg.deploy.requests import MAX_REPLICAS, DeployRequest
from modelreg.deploy.service import DeployService, make_validator
from modelreg.deploy.store import Deployment
from modelreg.deploy.targets import TargetService
from modelreg.kube.client import Kube
from modelreg.services import entities as e
from modelreg.services.connections import ConnectionService
from modelreg.services.registry import RegistryService
from modelreg.services.secrets import SecretBox

deployments = typer.Typer(help="Deployments: list, status, stop, start, undeploy, history.", no_args_is_help=True)
out = stdout_console()
err = Console(stderr=True, soft_wrap=True, highlight=False)
DeploymentId = typer.Argument(..., min=1, help="The deployment's id (modelreg deployments list).")


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False)
    return typer.Exit(1)


@contextmanager
def deploy_service(database_url: str | None, config: Path | None) -> Iterator[DeployService]:
    """The service as the server builds it, on the settings' database and cluster."""
    settings = settings_for(database_url, config)
    try:
        kube = Kube.from_settings(settings.kubernetes, field_manager=settings.deploy.field_manager)
        validator = make_validator(settings.deploy)
    except (ValueError, OSError) as exc:  # a broken kubernetes, crd_dir or policy setting
        raise _fail(str(exc)) from None
    try:
        with database_session(settings, migrate=False) as db:
            connections = ConnectionService(
                db,
                SecretBox(settings.storage, settings.data_dir),
                settings.data_dir / "artifacts",
                sign_s3_payloads=settings.storage.sign_s3_payloads,
            )
            try:
                service = DeployService(
                    db,
                    RegistryService(db, settings.limits),
                    TargetService(db, connections, kube, settings.deploy),
                    kube,
                    validator,
                    settings.deploy,
                )
            except DeployPolicyError as exc:
                raise _fail(str(exc)) from None
            yield service
    finally:
        if kube is not None:
            kube.close()


def deploy(
    model: str = typer.Argument(..., help="Name of the registered model."),
    version: str = typer.Argument(..., help="Name of the model version."),
    profile: str = typer.Option(..., "--profile", help="Hardware profile (modelreg hardware-profile list)."),
    namespace: str = typer.Option(..., "--namespace", help="The Kubernetes namespace (project) to deploy into."),
    connection: str = typer.Option(
        None, "--connection", help="Data connection; default: the artifact's storage key, else the only match."
    ),
    runtime: str = typer.Option(
        None, "--runtime", help="Serving runtime; default: the only one for the model format and the profile."
    ),
    name: str = typer.Option(None, "--name", help="The deployment's Kubernetes name; default: from the model."),
    replicas: int = typer.Option(1, "--replicas", min=1, max=MAX_REPLICAS, help=f"Replicas (1-{MAX_REPLICAS})."),
    external_route: bool = typer.Option(False, "--external-route", help="Reachable from outside the cluster."),
    token_auth: bool = typer.Option(False, "--token-auth", help="Require a service-account token to call it."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the objects as YAML and touch nothing."),
    gitops: Path = typer.Option(None, "--gitops", metavar="DIR", help="Write a kustomize folder under DIR instead."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Deploy a model version to KServe: to the configured cluster, as a GitOps folder, or as a dry run."""
    if dry_run and gitops is not None:
        raise _fail("give at most one of --dry-run and --gitops")
    with deploy_service(database_url, config) as svc:
        found = svc.registry.find(e.REGISTERED_MODEL, model, None)
        mv = svc.registry.find(e.MODEL_VERSION, version, None, found.row["id"])
        request = DeployRequest(
            namespace=namespace,
            hardware_profile=profile,
            model_version_id=str(mv.row["id"]),
            connection=connection,
            runtime=runtime,
            name=name,
            replicas=replicas,
            external_route=external_route,
            token_auth=token_auth,
        )
        if dry_run:
            result = svc.preview(request)
        elif gitops is not None:
            result = svc.deploy_to_directory(request, gitops.expanduser().absolute())
        else:
            result = svc.deploy(request, "apply")
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False)
    if result.deployment is None:
        sys.stdout.write(result.yaml)
        return
    done = result.deployment
    where = f"{done.namespace}/{done.name} (id {done.id})"
    if result.directory is not None:
        err.print(f"deployment {where}: written to {result.directory}", markup=False)
    else:
        err.print(f"deployment {where}: {done.status}", markup=False)


@deployments.command("list")
def list_(
    model: str = typer.Option(None, "--model", help="Only this registered model's deployments."),
    namespace: str = typer.Option(None, "--namespace", help="Only this namespace's."),
    all_: bool = typer.Option(False, "--all", help="Undeployed ones too."),
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Deployments, newest first."""
    with deploy_service(database_url, config) as svc:
        model_id = None if model is None else int(svc.registry.find(e.REGISTERED_MODEL, model, None).row["id"])
        items, token = svc.list(
            registered_model_id=model_id, namespace=namespace, include_undeployed=all_, page_size=500
        )
        while token:
            more, token = svc.list(
                registered_model_id=model_id,
                namespace=namespace,
                include_undeployed=all_,
                page_size=500,
                page_token=token,
            )
            items += more
    if as_json:
        print_json([d.to_dict() for d in items])
        return
    table = Table("id", "namespace/name", "model version", "status", "desired", "url", "created", "created by")
    for d in items:
        table.add_row(
            str(d.id),
            f"{d.namespace}/{d.name}",
            str(d.model_version_id or f"{d.catalog_source}/{d.catalog_model}"),
            d.status + (f": {d.status_message}" if d.status_message else ""),
            d.desired_state,
            d.external_url or d.internal_url or "-",
            when(d.create_time),
            d.created_by or "-",
        )
    out.print(table)


def _show(deployment: Deployment, as_json: bool) -> None:
    if as_json:
        print_json(deployment.to_dict())
        return
    for key, value in deployment.to_dict().items():
        if value is not None:
            out.print(f"{key}: {value}", markup=False)


@deployments.command("status")
def status(
    deployment_id: int = DeploymentId,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """One deployment: its status (as last seen in the cluster), URLs, model and settings."""
    with deploy_service(database_url, config) as svc:
        _show(svc.get(deployment_id), as_json)


def _switch(deployment_id: int, stop: bool, database_url: str | None, config: Path | None) -> None:
    with deploy_service(database_url, config) as svc:
        done = svc.stop(deployment_id) if stop else svc.start(deployment_id)
    err.print(f"deployment {done.namespace}/{done.name} (id {done.id}): {done.desired_state}", markup=False)


@deployments.command("stop")
def stop(deployment_id: int = DeploymentId, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Stop serving (KServe scales it to zero; start brings it back)."""
    _switch(deployment_id, True, database_url, config)


@deployments.command("start")
def start(deployment_id: int = DeploymentId, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Serve a stopped deployment again."""
    _switch(deployment_id, False, database_url, config)


@deployments.command("undeploy")
def undeploy(
    deployment_id: int = DeploymentId,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Delete the InferenceService and its ServingRuntime (or the GitOps folder); the history stays."""
    with deploy_service(database_url, config) as svc:
        current = svc.get(deployment_id)
        where = f"{current.namespace}/{current.name} (id {current.id})"
        if not yes and not typer.confirm(f"Undeploy {where}?"):
            raise _fail("not confirmed: nothing was undeployed")
        svc.undeploy(deployment_id)
    err.print(f"deployment {where}: undeployed", markup=False)


@deployments.command("history")
def history(
    deployment_id: int = DeploymentId,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Every deploy, edit, stop, start, undeploy and status change of a deployment, newest first."""
    with deploy_service(database_url, config) as svc:
        events = svc.history(deployment_id=deployment_id)
    if as_json:
        print_json([ev.to_dict() for ev in events])
        return
    table = Table("time", "event", "status", "actor", "message")
    for ev in events:
        table.add_row(when(ev.time), ev.event, ev.status or "-", ev.actor, ev.message or "")
    out.print(table)

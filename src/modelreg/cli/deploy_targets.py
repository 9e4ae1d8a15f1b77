"""``modelreg hardware-profile create|list|delete`` and ``modelreg runtime create|list|delete``: modelreg's own
deployment targets, on the database directly (acting as ``cli:<OS user>``, audited) like ``modelreg connection``.
With a cluster configured, the lists are the cluster's and changes are refused: they are made there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, settings_for
from modelreg.cli.output import AsJson, print_json, stdout_console
from modelreg.db.database import Database
from modelreg.deploy import profile_spec
from modelreg.deploy.targets import HardwareProfile, TargetService
from modelreg.kube.client import Kube
from modelreg.services.connections import ConnectionService
from modelreg.services.secrets import SecretBox
from modelreg.settings import Settings

profiles = typer.Typer(
    help="Hardware profiles to deploy with (without a cluster: modelreg's own).", no_args_is_help=True
)
runtimes = typer.Typer(help="Serving-runtime templates to deploy with.", no_args_is_help=True)
out = stdout_console()
err = Console(stderr=True, soft_wrap=True)
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_READ_ONLY = ("namespace", "resourceVersion", "origin")  # `list --json` fields a create does not take


@contextmanager
def cluster(settings: Settings) -> Iterator[Kube | None]:
    """The configured cluster's client (None without one), closed at the end."""
    try:
        kube = Kube.from_settings(settings.kubernetes, field_manager=settings.deploy.field_manager)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        yield kube
    finally:
        if kube is not None:
            kube.close()


def targets_for(settings: Settings, db: Database, kube: Kube | None) -> TargetService:
    """The service as a command uses it: no cache (one command, one read)."""
    connections = ConnectionService(db, SecretBox(settings.storage, settings.data_dir), settings.data_dir / "artifacts")
    return TargetService(db, connections, kube, settings.deploy, cache_seconds=0)


@contextmanager
def target_service(database_url: str | None, config: ConfigFile) -> Iterator[TargetService]:
    settings = settings_for(database_url, config)
    with cluster(settings) as kube, database_session(settings, migrate=True) as db:
        yield targets_for(settings, db, kube)


def _fail(message: str) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False)
    return typer.Exit(2)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _fail(f"cannot read {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise _fail(f"{path} must hold one object (a mapping)")
    return loaded


def _counts(option: str, text: str) -> tuple[str, str, str]:
    parts = text.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise _fail(f"{option} {text!r}: give MIN:DEFAULT:MAX, e.g. 1:2:4 or 2Gi:4Gi:8Gi")
    low, default, high = (p.strip() for p in parts)
    return low, default, high


def _identifier(identifier: str, display: str, kind: str | None, option: str, text: str) -> dict[str, Any]:
    low, default, high = _counts(option, text)

    def count(value: str) -> int | str:
        return int(value) if value.isdigit() else value

    item: dict[str, Any] = {"identifier": identifier, "displayName": display}
    if kind:
        item["resourceType"] = kind
    item.update(minCount=count(low), defaultCount=count(default), maxCount=count(high))
    return item


def _toleration(text: str) -> dict[str, Any]:
    """``key[=value]:Effect`` (Equal with a value, Exists without)."""
    spec, _, effect = text.rpartition(":")
    if not spec or effect not in _EFFECTS:
        raise _fail(f"--toleration {text!r}: give key[=value]:Effect, Effect one of {', '.join(_EFFECTS)}")
    key, has_value, value = spec.partition("=")
    if has_value:
        return {"key": key, "operator": "Equal", "value": value, "effect": effect}
    return {"key": key, "operator": "Exists", "effect": effect}


def _profile_body(obj: dict[str, Any]) -> dict[str, Any]:
    """The wire shape from a file holding it (``list --json`` output included) or a HardwareProfile object."""
    if obj.get("kind") == "HardwareProfile":
        return profile_spec.wire_from_object(obj)
    return {k: v for k, v in obj.items() if k not in _READ_ONLY}


@profiles.command("create")
def create_profile(
    name: str = typer.Argument(None, help="The profile's name (a Kubernetes name)."),
    display_name: str = typer.Option(None, "--display-name", help="What people see (default: the name)."),
    description: str = typer.Option(None, "--description"),
    cpu: str = typer.Option(None, "--cpu", metavar="MIN:DEFAULT:MAX", help="CPU cores, e.g. 1:2:4 (or 500m:1:2)."),
    memory: str = typer.Option(None, "--memory", metavar="MIN:DEFAULT:MAX", help="Memory, e.g. 2Gi:4Gi:8Gi."),
    gpu: list[str] = typer.Option(
        None, "--gpu", metavar="IDENTIFIER=MIN:DEFAULT:MAX", help="An accelerator, e.g. nvidia.com/gpu=1:1:1."
    ),
    node_selector: list[str] = typer.Option(None, "--node-selector", metavar="KEY=VALUE", help="Repeatable."),
    toleration: list[str] = typer.Option(
        None, "--toleration", metavar="KEY[=VALUE]:EFFECT", help="e.g. nvidia.com/gpu:NoSchedule. Repeatable."
    ),
    queue: str = typer.Option(None, "--queue", metavar="LOCALQUEUE", help="Kueue scheduling: the local queue."),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled (not offered for deployments)."),
    from_file: Path = typer.Option(
        None, "--from-file", help="A YAML file: the profile's wire shape, or a HardwareProfile object."
    ),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Create a hardware profile from options or from a file."""
    if from_file is not None:
        if any(v for v in (name, display_name, description, cpu, memory, gpu, node_selector, toleration, queue)):
            raise _fail("--from-file takes no other profile options")
        body = _profile_body(_read_yaml(from_file))
    else:
        if not name:
            raise _fail("give the profile's NAME, or --from-file")
        if queue and (node_selector or toleration):
            raise _fail(
                "--queue (Kueue scheduling) and --node-selector/--toleration (node scheduling) exclude each other"
            )
        identifiers = []
        if cpu:
            identifiers.append(_identifier("cpu", "CPU", "CPU", "--cpu", cpu))
        if memory:
            identifiers.append(_identifier("memory", "Memory", "Memory", "--memory", memory))
        for item in gpu or ():
            identifier, sep, counts = item.partition("=")
            if not sep or not identifier:
                raise _fail(f"--gpu {item!r}: give IDENTIFIER=MIN:DEFAULT:MAX, e.g. nvidia.com/gpu=1:1:1")
            identifiers.append(_identifier(identifier, identifier, "Accelerator", "--gpu", counts))
        selector = {}
        for item in node_selector or ():
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise _fail(f"--node-selector {item!r}: give KEY=VALUE")
            selector[key] = value
        scheduling: dict[str, Any] | None = None
        if queue:
            scheduling = {"type": "Queue", "kueue": {"localQueueName": queue}}
        elif selector or toleration:
            node: dict[str, Any] = {}
            if selector:
                node["nodeSelector"] = selector
            if toleration:
                node["tolerations"] = [_toleration(t) for t in toleration]
            scheduling = {"type": "Node", "node": node}
        body = {
            "name": name,
            "displayName": display_name,
            "description": description,
            "identifiers": identifiers,
            "scheduling": scheduling,
            "enabled": not disabled,
        }
    with target_service(database_url, config) as targets:
        created = targets.create_profile(body)
    err.print(f"hardware profile {created.name!r} ({created.display_name}) created", markup=False)


def _counts_text(profile: HardwareProfile) -> str:
    parts = []
    for i in profile.identifiers:
        high = "-" if i.max_count is None else i.max_count
        parts.append(f"{i.identifier} {i.min_count}/{i.default_count}/{high}")
    return ", ".join(parts)


def _scheduling_text(scheduling: dict[str, Any] | None) -> str:
    if not scheduling:
        return "-"
    if scheduling.get("type") == "Queue":
        return f"queue {(scheduling.get('kueue') or {}).get('localQueueName')}"
    node = scheduling.get("node") or {}
    parts = [f"node {k}={v}" for k, v in (node.get("nodeSelector") or {}).items()]
    for t in node.get("tolerations") or ():
        value = f"={t['value']}" if t.get("value") else ""
        parts.append(f"tolerates {t.get('key', '*')}{value}:{t.get('effect', '*')}")
    return ", ".join(parts) or "node"


@profiles.command("list")
def list_profiles(
    all_: bool = typer.Option(False, "--all", help="Also the disabled ones."),
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """List hardware profiles (min/default/max per resource)."""
    with target_service(database_url, config) as targets:
        items = targets.profiles(include_disabled=all_)
    if as_json:
        print_json([p.to_dict() for p in items])
        return
    table = Table("name", "display name", "resources (min/default/max)", "scheduling", "enabled", "origin")
    for p in items:
        table.add_row(
            p.name,
            p.display_name,
            _counts_text(p),
            _scheduling_text(p.scheduling),
            "yes" if p.enabled else "no",
            p.origin,
        )
    out.print(table)


@profiles.command("delete")
def delete_profile(
    name: str = typer.Argument(..., help="The profile's name."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Delete a hardware profile (deployments made with it keep running)."""
    with target_service(database_url, config) as targets:
        gone = targets.delete_profile(name)
    err.print(f"hardware profile {gone.name!r} deleted", markup=False)


@runtimes.command("create")
def create_runtime(
    from_file: Path = typer.Option(
        ..., "--from-file", help="A YAML file: a ServingRuntime, or an OpenShift Template wrapping one."
    ),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Add a serving-runtime template."""
    body = _read_yaml(from_file)
    with target_service(database_url, config) as targets:
        created = targets.create_runtime(body)
    err.print(f"serving runtime {created.name!r} ({created.display_name}) created", markup=False)


@runtimes.command("list")
def list_runtimes(as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """List serving-runtime templates with the model formats they serve."""
    with target_service(database_url, config) as targets:
        items = targets.runtimes()
    if as_json:
        print_json([r.to_dict() for r in items])
        return
    table = Table("name", "display name", "model formats", "accelerators", "model types", "template", "origin")
    for r in items:
        formats = ", ".join(f.name + (f" {f.version}" if f.version else "") for f in r.model_formats)
        table.add_row(
            r.name,
            r.display_name,
            formats,
            ", ".join(r.accelerators) or "-",
            ", ".join(r.model_types) or "-",
            r.template_name,
            r.origin,
        )
    out.print(table)


@runtimes.command("delete")
def delete_runtime(
    name: str = typer.Argument(..., help="The runtime's (ServingRuntime's) name."),
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Delete a serving-runtime template (deployments made with it keep their own copy)."""
    with target_service(database_url, config) as targets:
        gone = targets.delete_runtime(name)
    err.print(f"serving runtime {gone.name!r} deleted", markup=False)

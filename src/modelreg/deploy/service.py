"""`DeployService`: deploy, edit, stop, start and undeploy, in three modes that produce the same objects.

- ``apply``: to the cluster. The deployment's name is claimed in the database first (``deployments.active_key``,
  unique), so two deploys of one name refuse one of them before anything reaches the cluster; every object is
  validated against its schema before the first is sent; objects are written with server-side apply in the
  dashboard's order; a failed step deletes what this deploy created and releases the name.
- ``gitops``: the same objects as a kustomize-ready folder per deployment (no cluster needed).
- ``dry_run``: the objects as multi-document YAML, touching nothing (secret values redacted).
Every write is authorized (``deploy`` permission), checked against the deploy policy, recorded in the deployment's
history and in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from modelreg.deploy.store import Deployment

Mode = Literal["apply", "gitops", "dry_run"]


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """What the REST body, the CLI options and the UI wizard give. Exactly one of ``model_version_id`` and
    (``catalog_source``, ``catalog_model``) names the model."""

    namespace: str
    hardware_profile: str
    model_version_id: str | None = None
    catalog_source: str | None = None
    catalog_model: str | None = None
    connection: str | None = None  # default: the artifact's storageKey, else the only matching connection
    runtime: str | None = None  # default: the only runtime matching the model format and the profile's accelerator
    name: str | None = None  # default: from the display name
    display_name: str | None = None  # default: "<model> - <version>"
    description: str | None = None
    replicas: int = 1
    external_route: bool = False
    token_auth: bool = False
    model_type: Literal["generative", "predictive"] | None = None
    resources: dict[str, str] = field(default_factory=dict)  # identifier → count, within the profile's bounds
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DeployResult:
    deployment: Deployment | None  # None for a dry run
    objects: list[dict[str, Any]]  # as sent / written; Secret values redacted
    yaml: str  # the objects as multi-document YAML (redacted)
    directory: Path | None = None  # gitops


class DeployService:
    """Built in ``create_app`` (and by the CLI) from the database, the registry, the targets, the Kubernetes client
    (None without a cluster), the schema validator and the deploy settings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

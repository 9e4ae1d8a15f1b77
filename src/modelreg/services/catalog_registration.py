"""Register a catalog model into the registry: a registered model (or the existing one the caller picked), a version
and the version's model artifact, in one transaction, as the current caller.

One transaction, so a refused version never leaves a registered model without versions behind. The rows go through
``entities.create`` / ``create_linked_artifact`` like every other registry write (name rules, lifecycle, audit
records). The values are database columns, already converted and length-checked by the caller (``wire.to_db``, as
the REST routers do); this layer knows nothing of catalogs or forms. A refusal that belongs to one of the names is a
``NameConflict`` (409) saying which, so a form can show it next to that field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.errors import Conflict, NotFound
from modelreg.services import entities as e
from modelreg.services.entities import Record
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService, create_linked_artifact

CATALOG_SOURCE_KIND = "catalog"  # the artifact's modelSourceKind, as the Kubeflow UI writes it


class NameConflict(Conflict):
    """A name the registration cannot use: ``field`` is ``"model"`` or ``"version"``; ``offer_existing`` when the
    model name belongs to a live registered model the version could be added to instead."""

    def __init__(self, field: str, message: str, offer_existing: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.offer_existing = offer_existing


@dataclass(frozen=True, slots=True)
class CatalogRegistration:
    """What to write, as database columns. ``model`` must hold ``name``; its other columns are used only when the
    registered model is created. ``artifact`` holds at least ``uri``."""

    model: Mapping[str, Any]
    version: Mapping[str, Any]
    artifact: Mapping[str, Any]
    source_id: str  # the catalog source and model the artifact records it came from
    source_model: str
    version_props: Mapping[str, PropValue] = field(default_factory=dict)
    use_existing: bool = False  # add the version to the live registered model of that name


def register_from_catalog(registry: RegistryService, reg: CatalogRegistration) -> Record:
    """Create the registered model (unless ``reg.use_existing``), the version and its model artifact; returns the
    new version. Needs the WRITE permission; the audit trail names the caller."""
    context.require(Permission.WRITE, "register models")
    name = reg.model["name"]
    version_name = reg.version.get("name")
    artifact = {
        "name": version_name,
        **reg.artifact,
        "model_source_kind": CATALOG_SOURCE_KIND,
        "model_source_class": reg.source_id,
        "model_source_name": reg.source_model,
    }

    def run(conn: Connection) -> Record:
        model_id = _model_id(conn, reg)
        try:
            version = e.create(
                conn, e.MODEL_VERSION, {**reg.version, "registered_model_id": model_id}, reg.version_props, model_id
            )
        except IntegrityError:
            raise NameConflict("version", f"Model {name} already has a version named {version_name}.") from None
        create_linked_artifact(conn, "model_version", version.row["id"], "model-artifact", artifact, {})
        return version

    return registry.db.run_write(run)


def _model_id(conn: Connection, reg: CatalogRegistration) -> int:
    name = reg.model["name"]
    try:
        existing = e.find_by_name(conn, e.REGISTERED_MODEL, name, None)
    except NotFound:
        try:
            return int(e.create(conn, e.REGISTERED_MODEL, dict(reg.model), {}).row["id"])
        except IntegrityError:  # registered by someone else a moment ago
            raise _taken(name) from None
    if existing.row["state"] == "ARCHIVED":
        raise NameConflict(
            "model",
            f"A registered model named {name} exists but is archived: restore it first, or choose another name.",
        )
    if not reg.use_existing:
        raise _taken(name)
    return int(existing.row["id"])


def _taken(name: str) -> NameConflict:
    return NameConflict("model", f"A registered model named {name} already exists.", offer_existing=True)


def live_model_named(registry: RegistryService, name: str) -> bool:
    """Whether a live registered model has this name (a form then offers to add a version to it)."""
    with registry.db.read() as conn:
        try:
            found = e.find_by_name(conn, e.REGISTERED_MODEL, name, None)
        except NotFound:
            return False
    return bool(found.row["state"] != "ARCHIVED")

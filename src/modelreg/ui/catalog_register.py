"""Register a catalog model into the registry from the web form: the form's fields, their checks, and their
conversion to the registry's columns (``wire.to_db``: length limits, as the REST API's routers do).

The write itself, one transaction creating the registered model (or reusing the one the user picked), its version
and the version's model artifact, is the services layer's ``catalog_registration.register_from_catalog``. The
catalog's metadata comes along on the new registered model; the artifact records where it came from in the Kubeflow
fields the reference UI writes (``modelSourceKind=catalog``, ``modelSourceClass=<source id>``,
``modelSourceName=<model name>``), which the version page reads back as "Registered from catalog".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelreg import wire
from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.catalog.models import CatalogModel
from modelreg.db.tables import NAME_LENGTH
from modelreg.errors import InvalidInput
from modelreg.services.catalog_registration import (
    CatalogRegistration,
    NameConflict,
    live_model_named,
    register_from_catalog,
)
from modelreg.services.entities import Record
from modelreg.services.registry import RegistryService

FIRST_VERSION = "Version 1"


class FieldError(Exception):
    """A problem the form shows next to ``field`` (the page answers with ``status``)."""

    def __init__(self, field: str, message: str, status: int = 400, offer_existing: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status
        self.offer_existing = offer_existing  # the name is taken by a live model: offer "add a version to it"


@dataclass(frozen=True, slots=True)
class Registration:
    model_name: str
    model_description: str = ""
    version_name: str = FIRST_VERSION
    version_description: str = ""
    use_existing: bool = False  # add the version to the registered model of that name

    @classmethod
    def defaults(cls, model: CatalogModel) -> Registration:
        """The form as the reference pre-fills it: the short name, the description, "Version 1"."""
        return cls(model.short_name, model.description or "")

    @classmethod
    def from_form(cls, fields: Mapping[str, str]) -> Registration:
        return cls(
            model_name=fields.get("model_name", "").strip(),
            model_description=fields.get("model_description", "").strip(),
            version_name=fields.get("version_name", "").strip(),
            version_description=fields.get("version_description", "").strip(),
            use_existing=fields.get("use_existing") == "on",
        )

    def check(self) -> None:
        for field, value, what in (("model_name", self.model_name, "model"), ("version_name", self.version_name,
                                                                               "version")):  # fmt: skip
            if not value:
                raise FieldError(field, f"Enter a {what} name.")
            if len(value) > NAME_LENGTH - 20:  # the registry prefixes a version's name with its model's id
                raise FieldError(field, f"The {what} name is too long: at most {NAME_LENGTH - 20} characters.")


def _string_props(values: Mapping[str, str], registry: RegistryService) -> dict[str, Any]:
    wire_props = {k: {"metadataType": "MetadataStringValue", "string_value": v} for k, v in values.items()}
    return wire.properties_to_db(wire_props, registry.limits)


def _model_values(model: CatalogModel, reg: Registration, owner: str, registry: RegistryService) -> dict[str, Any]:
    """The new registered model: the catalog's metadata comes along, so the registry source shows the same card."""
    body = {
        "name": reg.model_name,
        "description": reg.model_description or None,
        "owner": owner,
        "readme": model.readme,
        "maturity": model.maturity,
        "language": list(model.language) or None,
        "tasks": list(model.tasks) or None,
        "provider": model.provider,
        "logo": model.logo,
        "license": model.license,
        "licenseLink": model.license_link,
        "libraryName": model.library_name,
    }
    return wire.to_db("registered_models", body, limits=registry.limits)


def _version_props(model: CatalogModel, registry: RegistryService) -> dict[str, Any]:
    """The reference's version properties: License, Provider, and each task as a label (a ``""`` string)."""
    values = {task: "" for task in model.tasks}
    if model.license:
        values["License"] = model.license
    if model.provider:
        values["Provider"] = model.provider
    return _string_props(values, registry)


def register(registry: RegistryService, model: CatalogModel, reg: Registration) -> Record:
    """Check the form, convert it to the registry's columns and register it as the current caller; returns the new
    version. Refusals that belong next to a field raise ``FieldError``."""
    user = context.require(Permission.WRITE, "register models").user  # before the checks: a viewer learns nothing
    reg.check()
    uri = model.model_uri
    if uri is None:
        raise InvalidInput(f"catalog model {model.name!r} has no model location to register")
    try:
        values = CatalogRegistration(
            model=_model_values(model, reg, user, registry),
            version=wire.to_db(
                "model_versions",
                {"name": reg.version_name, "description": reg.version_description or None, "author": user},
                limits=registry.limits,
            ),
            artifact=wire.to_db("artifacts", {"uri": uri}, "model-artifact", registry.limits),
            source_id=model.source_id,
            source_model=model.name,
            version_props=_version_props(model, registry),
            use_existing=reg.use_existing,
        )
    except InvalidInput as exc:
        raise FieldError("form", str(exc)) from None
    try:
        return register_from_catalog(registry, values)
    except NameConflict as exc:
        raise FieldError(f"{exc.field}_name", exc.message, exc.status_code, exc.offer_existing) from None


def name_taken(registry: RegistryService, name: str) -> bool:
    """Whether a live registered model has this name (the form then offers to add a version to it)."""
    return live_model_named(registry, name)

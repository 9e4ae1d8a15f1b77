"""Registry and governance operations, written once as generators (see ``_call``) for both clients.

A model or version may be named by its typed object, its id (``int``) or its name (``str``); a version name
needs its model. Strings are always names, so a model called ``"42"`` is still found by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from modelreg.client._call import Call, Op, Page, Pager, get
from modelreg.client._errors import NotFound
from modelreg.client._models import (
    AuditRecord,
    AuditVerification,
    ModelArtifact,
    ModelVersion,
    PropertyValue,
    RegisteredModel,
    WhoAmI,
    properties_to_wire,
)

REGISTRY = "/api/model_registry/v1alpha3"
GOVERNANCE = "/api/governance/v1"

ModelRef = RegisteredModel | int | str
VersionRef = ModelVersion | int | str
Properties = dict[str, PropertyValue]


class Context(Protocol):
    """What operations need from the client besides I/O."""

    author: str | None


def drop_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _properties(values: Properties | None) -> dict[str, Any] | None:
    return None if values is None else properties_to_wire(values)


# --- resolving references --------------------------------------------------------------------------------------


def _find_model(model: ModelRef) -> Op[RegisteredModel]:
    if isinstance(model, RegisteredModel):
        return model
    if isinstance(model, int):
        return RegisteredModel.from_wire((yield get(f"{REGISTRY}/registered_models/{model}")))
    return RegisteredModel.from_wire((yield get(f"{REGISTRY}/registered_model", name=model)))


def resolve_model_id(model: ModelRef) -> Op[str]:
    if isinstance(model, int):
        return str(model)
    return (yield from _find_model(model)).id


def _find_version(model: ModelRef | None, version: VersionRef) -> Op[ModelVersion]:
    if isinstance(version, ModelVersion):
        return version
    if isinstance(version, int):
        return ModelVersion.from_wire((yield get(f"{REGISTRY}/model_versions/{version}")))
    if model is None:
        raise ValueError(f"version {version!r} is a name: name its registered model too")
    parent = yield from resolve_model_id(model)
    return ModelVersion.from_wire((yield get(f"{REGISTRY}/model_version", name=version, parentResourceId=parent)))


def resolve_version_id(model: ModelRef | None, version: VersionRef) -> Op[str]:
    if isinstance(version, int):
        return str(version)
    return (yield from _find_version(model, version)).id


# --- registered models and versions -----------------------------------------------------------------------------


def get_registered_model(ctx: Context, model: ModelRef) -> Op[RegisteredModel]:
    """The registered model, by object (fetched again, so it is current), id or name."""
    return (yield from _find_model(int(model.id) if isinstance(model, RegisteredModel) else model))


def get_model_version(ctx: Context, model: ModelRef | None, version: VersionRef) -> Op[ModelVersion]:
    """The version, by object (fetched again), id, or name within ``model`` (only needed for a name)."""
    return (yield from _find_version(model, int(version.id) if isinstance(version, ModelVersion) else version))


def register_model(
    ctx: Context,
    name: str,
    *,
    description: str | None = None,
    owner: str | None = None,
    custom_properties: Properties | None = None,
) -> Op[RegisteredModel]:
    """Create a registered model; a name already taken is a ``Conflict``."""
    body = drop_none(name=name, description=description, owner=owner, customProperties=_properties(custom_properties))
    return RegisteredModel.from_wire((yield Call("POST", f"{REGISTRY}/registered_models", json=body)))


def register_model_version(
    ctx: Context,
    registered_model: ModelRef,
    name: str,
    *,
    uri: str | None = None,
    description: str | None = None,
    author: str | None = None,
    model_format_name: str | None = None,
    model_format_version: str | None = None,
    custom_properties: Properties | None = None,
) -> Op[ModelVersion]:
    """Create a version of the model and, given a ``uri``, its model artifact (what serving platforms deploy)."""
    model = yield from _find_model(registered_model)
    body = drop_none(
        name=name,
        registeredModelId=model.id,
        description=description,
        author=author or ctx.author,
        customProperties=_properties(custom_properties),
    )
    version = ModelVersion.from_wire((yield Call("POST", f"{REGISTRY}/model_versions", json=body)))
    if uri is not None:
        artifact = drop_none(
            artifactType="model-artifact",
            name=model.name,
            uri=uri,
            modelFormatName=model_format_name,
            modelFormatVersion=model_format_version,
        )
        yield Call("POST", f"{REGISTRY}/model_versions/{version.id}/artifacts", json=artifact)
    return version


def get_model_artifact(ctx: Context, model: ModelRef | None, version: VersionRef) -> Op[ModelArtifact]:
    """The version's model artifact; ``NotFound`` when it has none."""
    version_id = yield from resolve_version_id(model, version)
    page = yield get(f"{REGISTRY}/model_versions/{version_id}/artifacts", artifactType="model-artifact")
    if not page["items"]:
        raise NotFound(f"model version {version_id} has no model artifact", 404, "Not Found")
    return ModelArtifact.from_wire(page["items"][0])


def update_registered_model(
    ctx: Context,
    model: ModelRef,
    *,
    description: str | None = None,
    owner: str | None = None,
    custom_properties: Properties | None = None,
) -> Op[RegisteredModel]:
    """Change the given fields; ``custom_properties`` replaces the whole set, as the REST API does."""
    model_id = yield from resolve_model_id(model)
    body = drop_none(description=description, owner=owner, customProperties=_properties(custom_properties))
    return RegisteredModel.from_wire((yield Call("PATCH", f"{REGISTRY}/registered_models/{model_id}", json=body)))


def update_model_version(
    ctx: Context,
    model: ModelRef | None,
    version: VersionRef,
    *,
    description: str | None = None,
    author: str | None = None,
    custom_properties: Properties | None = None,
) -> Op[ModelVersion]:
    """Change the given fields; ``custom_properties`` replaces the whole set, as the REST API does."""
    version_id = yield from resolve_version_id(model, version)
    body = drop_none(description=description, author=author, customProperties=_properties(custom_properties))
    return ModelVersion.from_wire((yield Call("PATCH", f"{REGISTRY}/model_versions/{version_id}", json=body)))


def _list_params(filter: str | None, order_by: str | None, descending: bool, page_size: int) -> dict[str, str]:
    return drop_none(
        filterQuery=filter,
        orderBy=None if order_by is None else order_by.upper(),
        sortOrder="DESC" if descending else "ASC",
        pageSize=str(page_size),
    )


T = TypeVar("T")


def _pages(path: str, params: dict[str, str], parse: Callable[[dict[str, Any]], T]) -> Pager[T]:
    def page(token: str) -> Op[Page[T]]:
        body = yield get(path, **params, nextPageToken=token or None)
        return Page([parse(item) for item in body["items"]], body.get("nextPageToken") or "")

    return page


def list_registered_models(
    ctx: Context,
    filter: str | None = None,
    order_by: str | None = None,
    descending: bool = False,
    page_size: int = 100,
) -> Op[Pager[RegisteredModel]]:
    """Registered models matching the Kubeflow ``filterQuery``; ``order_by`` is create_time, last_update_time
    or id. Pages are fetched as the iteration reaches them."""
    params = _list_params(filter, order_by, descending, page_size)
    return _pages(f"{REGISTRY}/registered_models", params, RegisteredModel.from_wire)
    yield  # a generator, so that both clients drive every operation the same way


def list_model_versions(
    ctx: Context,
    model: ModelRef | None = None,
    filter: str | None = None,
    order_by: str | None = None,
    descending: bool = False,
    page_size: int = 100,
) -> Op[Pager[ModelVersion]]:
    """Versions of ``model`` (every model's when ``None``), otherwise as ``list_registered_models``."""
    path = f"{REGISTRY}/model_versions"
    if model is not None:
        path = f"{REGISTRY}/registered_models/{(yield from resolve_model_id(model))}/versions"
    return _pages(path, _list_params(filter, order_by, descending, page_size), ModelVersion.from_wire)


# --- governance -------------------------------------------------------------------------------------------------


def whoami(ctx: Context) -> Op[WhoAmI]:
    """Who the server takes the caller for, with roles and permissions: the quickest check of a token."""
    return WhoAmI.from_wire((yield get(f"{GOVERNANCE}/whoami")))


def promote(
    ctx: Context, model: ModelRef | None, version: VersionRef, stage: str, *, comment: str | None = None
) -> Op[ModelVersion]:
    """Move the version to a lifecycle stage; the server's policy decides who may, and from where."""
    version_id = yield from resolve_version_id(model, version)
    body = drop_none(stage=stage, comment=comment)
    return ModelVersion.from_wire((yield Call("POST", f"{GOVERNANCE}/model_versions/{version_id}/promote", json=body)))


def _set_archived(collection: str, entity_id: str, action: str) -> Call:
    return Call("POST", f"{GOVERNANCE}/{collection}/{entity_id}/{action}")


def archive_model(ctx: Context, model: ModelRef) -> Op[RegisteredModel]:
    """Archive the model (admins): hidden from default listings, kept with its history."""
    model_id = yield from resolve_model_id(model)
    return RegisteredModel.from_wire((yield _set_archived("registered_models", model_id, "archive")))


def restore_model(ctx: Context, model: ModelRef) -> Op[RegisteredModel]:
    model_id = yield from resolve_model_id(model)
    return RegisteredModel.from_wire((yield _set_archived("registered_models", model_id, "restore")))


def archive_version(ctx: Context, model: ModelRef | None, version: VersionRef) -> Op[ModelVersion]:
    version_id = yield from resolve_version_id(model, version)
    return ModelVersion.from_wire((yield _set_archived("model_versions", version_id, "archive")))


def restore_version(ctx: Context, model: ModelRef | None, version: VersionRef) -> Op[ModelVersion]:
    version_id = yield from resolve_version_id(model, version)
    return ModelVersion.from_wire((yield _set_archived("model_versions", version_id, "restore")))


def audit(
    ctx: Context,
    entity: RegisteredModel | ModelVersion | tuple[str, int | str] | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    newest_first: bool = False,
    page_size: int = 100,
) -> Op[Pager[AuditRecord]]:
    """Audit records, oldest first unless ``newest_first``. ``entity`` is a model, a version, or
    ``(kind, id)`` such as ``("model_version", 3)``; ``since``/``until`` are ISO-8601 or epoch milliseconds."""
    kind: str | None = None
    entity_id: str | None = None
    if isinstance(entity, RegisteredModel):
        kind, entity_id = "registered_model", entity.id
    elif isinstance(entity, ModelVersion):
        kind, entity_id = "model_version", entity.id
    elif entity is not None:
        kind, entity_id = entity[0], str(entity[1])
    params = drop_none(
        entityKind=kind,
        entityId=entity_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
        order="desc" if newest_first else "asc",
        pageSize=str(page_size),
    )
    return _pages(f"{GOVERNANCE}/audit/records", params, AuditRecord.from_wire)
    yield  # a generator, as list_registered_models


def verify_audit(ctx: Context, anchor: str | None = None) -> Op[AuditVerification]:
    """Check the audit trail's hash chain on the server; ``anchor`` (``"SEQ:HASH"``) also detects a cut tail."""
    return AuditVerification.from_wire((yield get(f"{GOVERNANCE}/audit/verify", anchor=anchor)))

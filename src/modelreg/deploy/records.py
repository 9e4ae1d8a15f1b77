"""The registry records the platform's InferenceService controller writes (kubeflow/hub's, wired in by
odh-model-controller), written by modelreg for what it watches: a ServingEnvironment named after the namespace, an
InferenceService record ``<isvc name>/<uid>`` with registeredModelId, modelVersionId, runtime, desiredState
DEPLOYED (UNDEPLOYED once the InferenceService is gone) and the custom property ``url``; and the label
``modelregistry.opendatahub.io/inference-service-id`` written back on the InferenceService, so a controller that
also runs finds the record instead of making a second one.

Every write goes through `RegistryService` as the current caller (the status watcher acts as
``system:deploy-watch``), so it is audited like any other registry write. Names are unique in the database; a
create that loses a race with another process (Conflict) reads the winner's record instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modelreg.deploy import keys
from modelreg.errors import Conflict, NotFound
from modelreg.services import entities as e
from modelreg.services.entities import Record
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

REGISTERED_MODEL_LABEL = keys.REGISTERED_MODEL
MODEL_VERSION_LABEL = keys.MODEL_VERSION
REGISTRY_NAME_LABEL = keys.REGISTRY_NAME
INFERENCE_SERVICE_LABEL = keys.INFERENCE_SERVICE
URL_PROPERTY = "url"
DEPLOYED, UNDEPLOYED = "DEPLOYED", "UNDEPLOYED"


def record_name(isvc: Mapping[str, Any]) -> str:
    """``<name>/<uid>``, as the hub controller names the record (just the name for an object without a uid)."""
    metadata = isvc.get("metadata") or {}
    uid = metadata.get("uid")
    return f"{metadata.get('name')}/{uid}" if uid else str(metadata.get("name"))


def label_id(isvc: Mapping[str, Any], label: str) -> int | None:
    """A registry id from one of the InferenceService's labels; None when absent or not a registry id."""
    value = ((isvc.get("metadata") or {}).get("labels") or {}).get(label)
    if not isinstance(value, str) or not value.isdigit():
        return None
    number = int(value)
    return number if 0 < number < 2**63 else None


def ensure(registry: RegistryService, isvc: Mapping[str, Any], url: str | None) -> int:
    """The id of the InferenceService record of ``isvc`` (found by its ``inference-service-id`` label, else by
    name in the namespace's ServingEnvironment, else created with both), DEPLOYED and with ``url`` (when given)
    up to date. Idempotent: a second call with the same inputs writes nothing. NotFound when the registered model
    the labels name does not exist here."""
    existing = _by_label(registry, isvc)
    if existing is None:
        environment = _get_or_create(
            lambda: registry.find(e.SERVING_ENVIRONMENT, _namespace(isvc), None),
            lambda: registry.create(e.SERVING_ENVIRONMENT, {"name": _namespace(isvc)}, {}),
        )
        existing = _get_or_create(
            lambda: registry.find(e.INFERENCE_SERVICE, record_name(isvc), None, environment.row["id"]),
            lambda: _create(registry, isvc, environment.row["id"], url),
        )
    _bring_up_to_date(registry, existing, url)
    return int(existing.row["id"])


def mark_undeployed(registry: RegistryService, inference_service_id: int) -> None:
    """desiredState UNDEPLOYED (the InferenceService is gone); nothing when it already is, or the record is."""
    try:
        record = registry.get(e.INFERENCE_SERVICE, inference_service_id)
    except NotFound:
        return
    if record.row["desired_state"] != UNDEPLOYED:
        registry.update(e.INFERENCE_SERVICE, inference_service_id, {"desired_state": UNDEPLOYED}, None)


def _by_label(registry: RegistryService, isvc: Mapping[str, Any]) -> Record | None:
    record_id = label_id(isvc, INFERENCE_SERVICE_LABEL)
    if record_id is None:
        return None
    try:
        return registry.get(e.INFERENCE_SERVICE, record_id)
    except NotFound:  # a stale label (the record was deleted, or it names another registry's record)
        return None


def _create(registry: RegistryService, isvc: Mapping[str, Any], environment_id: int, url: str | None) -> Record:
    model_id = label_id(isvc, REGISTERED_MODEL_LABEL)
    if model_id is None:
        raise NotFound(f"InferenceService {_namespace(isvc)}/{record_name(isvc)} names no registered model")
    runtime = (((isvc.get("spec") or {}).get("predictor") or {}).get("model") or {}).get("runtime")
    values: dict[str, Any] = {
        "name": record_name(isvc),
        "serving_environment_id": environment_id,
        "registered_model_id": model_id,
        "model_version_id": label_id(isvc, MODEL_VERSION_LABEL),
        "runtime": runtime if isinstance(runtime, str) and runtime else None,
        "desired_state": DEPLOYED,
    }
    props = {URL_PROPERTY: PropValue("string", url)} if url else {}
    return registry.create_inference_service(values, props)


def _bring_up_to_date(registry: RegistryService, record: Record, url: str | None) -> None:
    values: dict[str, Any] = {}
    if record.row["desired_state"] != DEPLOYED:
        values["desired_state"] = DEPLOYED
    props = None
    if url and record.props.get(URL_PROPERTY) != PropValue("string", url):
        props = {**record.props, URL_PROPERTY: PropValue("string", url)}
    if values or props is not None:
        registry.update(e.INFERENCE_SERVICE, int(record.row["id"]), values, props)


def _get_or_create(find: Callable[[], Record], create: Callable[[], Record]) -> Record:
    try:
        return find()
    except NotFound:
        pass
    try:
        return create()
    except Conflict:  # another process created it between our read and our insert
        return find()


def _namespace(isvc: Mapping[str, Any]) -> str:
    return str((isvc.get("metadata") or {}).get("namespace"))

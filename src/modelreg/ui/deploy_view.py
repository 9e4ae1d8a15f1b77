"""How the deploy pages read: what a wizard deploys (a registry version or a catalog model), the wizard's fields
carried from step to step as hidden inputs and checked again on every post, the deploy request they make, and the
words and colours of a deployment's status. No I/O except `subject`, which reads the model the wizard starts from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request

from modelreg.catalog.models import ArtifactType, CatalogModel
from modelreg.db.pagination import PageRequest
from modelreg.deploy.requests import MAX_REPLICAS, DeployRequest
from modelreg.deploy.service import DeployService
from modelreg.deploy.status import Condition
from modelreg.deploy.store import Deployment
from modelreg.deploy.watcher import StatusWatcher
from modelreg.errors import InvalidInput, RegistryError
from modelreg.services import entities as e
from modelreg.services.registry import RegistryService
from modelreg.ui import app_state, web
from modelreg.wire import SCALAR_TYPES, VALUE_KEYS

STEPS = ("targets", "details", "review")
STEP_TITLES = {"targets": "Hardware, connection and runtime", "details": "Deployment details", "review": "Review"}
# Polled by the page while in one of these; every other status stays until someone acts.
MOVING = frozenset({"Pending", "Standby", "Loading", "Redeploying"})
STATUS_KINDS = {
    "Loaded": "success",
    "Loading": "info",
    "Pending": "info",
    "Standby": "info",
    "Redeploying": "info",
    "FailedToLoad": "danger",
    "Stopped": "dark",
    "Undeployed": "dark",
}
STATUS_TEXT = {"FailedToLoad": "Failed", "Redeploying": "Redeploying", "Undeployed": "Undeployed"}
# A service message names its field; the first match wins (the rest go to the top of the form).
_MESSAGE_FIELDS = (
    ("hardware profile", "profile"),
    ("hardware-profile", "profile"),
    ("profile", "profile"),
    ("runtime", "runtime"),
    ("connection", "connection"),
    ("replica", "replicas"),
    ("namespace", "namespace"),
    ("project", "namespace"),
    ("display name", "display_name"),
    ("name", "name"),
)
# The list's state filter: "" the live ones (deployed or stopped), or one desired state, or all.
STATE_FILTERS = (
    ("", "Live"),
    ("deployed", "Deployed"),
    ("stopped", "Stopped"),
    ("undeployed", "Undeployed"),
    ("all", "All"),
)
_FIELDS = ("profile", "connection", "runtime", "display_name", "name", "namespace", "replicas")
_FLAGS = ("external_route", "token_auth")


def status_kind(status: str | None) -> str:
    """The pill colour of a status: green loaded, blue on its way, red failed, dark stopped or gone."""
    return STATUS_KINDS.get(status or "", "")


def status_text(status: str | None) -> str:
    return STATUS_TEXT.get(status or "", status or "Unknown")


def moving(status: str | None, desired_state: str) -> bool:
    """Whether the page keeps asking for the status (it changes without anyone acting)."""
    return desired_state != "undeployed" and (status or "") in MOVING


@dataclass(frozen=True, slots=True)
class ListFilters:
    """The Deployments page's query: project, state (STATE_FILTERS) and registered model id."""

    namespace: str = ""
    state: str = ""
    model: str = ""

    @classmethod
    def parse(cls, namespace: str | None, state: str | None, model: str | None) -> ListFilters:
        state = (state or "").strip()
        if state not in {value for value, _ in STATE_FILTERS}:
            raise InvalidInput(f"invalid state {state[:40]!r}: {', '.join(v for v, _ in STATE_FILTERS if v)}")
        model = (model or "").strip()
        if model:
            e.parse_id(model, e.REGISTERED_MODEL.label)
        return cls((namespace or "").strip(), state, model)

    @property
    def model_id(self) -> int | None:
        return int(self.model) if self.model else None

    def url(self, **extra: str) -> str:
        query = {
            k: v
            for k, v in {"namespace": self.namespace, "state": self.state, "model": self.model, **extra}.items()
            if v
        }
        return "/deployments" + ("?" + urlencode(query) if query else "")


# --- what the wizard deploys --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subject:
    """The model a wizard deploys, as its pages name it and as the deploy request names it."""

    model_name: str
    version_name: str | None
    format_name: str | None
    format_version: str | None
    uri: str | None
    storage_key: str | None
    model_version_id: str | None = None
    registered_model_id: str | None = None
    catalog_source: str | None = None
    catalog_model: str | None = None

    @property
    def title(self) -> str:
        return f"{self.model_name} {self.version_name}" if self.version_name else self.model_name

    @property
    def default_display_name(self) -> str:
        """ "<model> - <version>", cut to 63 characters: the dashboard's prefill."""
        text = f"{self.model_name} - {self.version_name}" if self.version_name else self.model_name
        return text[:63]

    @property
    def format(self) -> str | None:
        if not self.format_name:
            return None
        return f"{self.format_name} {self.format_version}" if self.format_version else self.format_name

    @property
    def back_url(self) -> str:
        """The page the wizard was started from."""
        if self.model_version_id is not None:
            return f"/registry/models/{self.registered_model_id}/versions/{self.model_version_id}"
        return f"/catalog/{quote(self.catalog_source or '', safe='')}/models/{quote(self.catalog_model or '')}"

    @property
    def hidden(self) -> dict[str, str]:
        """The fields that name the model in every step's form (and in the wizard's URL)."""
        if self.model_version_id is not None:
            return {"model_version_id": self.model_version_id}
        return {"source": self.catalog_source or "", "model": self.catalog_model or ""}

    @property
    def wizard_url(self) -> str:
        return "/deployments/new?" + urlencode(self.hidden)


def subject(ui: web.Ui, params: Mapping[str, str]) -> Subject:
    """The model ``params`` name: ``model_version_id``, or ``source`` and ``model`` (a catalog model; a model of
    the registry source deploys its latest version). Read as the caller (404 for what it may not see)."""
    version_id = (params.get("model_version_id") or "").strip()
    source, model = (params.get("source") or "").strip(), (params.get("model") or "").strip()
    if version_id and (source or model):
        raise InvalidInput("name the model either by model_version_id or by source and model, not both")
    with web.acting(ui):
        if version_id:
            return _version_subject(ui, e.parse_id(version_id, e.MODEL_VERSION.label))
        if source and model:
            catalog_model = app_state.catalog(ui.request).get_model(source, model)
            if catalog_model.registry is not None and catalog_model.registry.latest_version_id is not None:
                return _version_subject(ui, catalog_model.registry.latest_version_id)
            return _catalog_subject(catalog_model)
    raise InvalidInput("say what to deploy: ?model_version_id=ID, or ?source=SOURCE&model=NAME for a catalog model")


def _version_subject(ui: web.Ui, version_id: int) -> Subject:
    registry = app_state.registry(ui.request)
    version = registry.get(e.MODEL_VERSION, version_id)
    if version.row["state"] == "ARCHIVED":
        raise InvalidInput(f"model version {version.row['name']} is archived: restore it to deploy it")
    model = registry.get(e.REGISTERED_MODEL, version.row["registered_model_id"])
    artifacts, _ = registry.list_artifacts(PageRequest.parse(100, "ID", "ASC"), parent=("model_version", version_id))
    artifact = next((a.row for a in artifacts if a.row["artifact_type"] == "model-artifact"), None) or {}
    return Subject(
        model_name=model.row["name"],
        version_name=version.row["name"],
        format_name=artifact.get("model_format_name"),
        format_version=artifact.get("model_format_version"),
        uri=artifact.get("uri"),
        storage_key=artifact.get("storage_key"),
        model_version_id=str(version_id),
        registered_model_id=str(model.row["id"]),
    )


def _catalog_subject(model: CatalogModel) -> Subject:
    artifact = next((a for a in model.artifacts if a.artifact_type == ArtifactType.MODEL), None)
    props: Mapping[str, Any] = {**model.custom_properties, **(artifact.custom_properties if artifact else {})}

    def text(*names: str) -> str | None:
        """A scalar custom property (Kubeflow's MetadataValue wire form) as text."""
        for name in names:
            value = props.get(name)
            if isinstance(value, Mapping) and value.get("metadataType") in SCALAR_TYPES:
                found = value.get(VALUE_KEYS[value["metadataType"]])
                if found not in (None, ""):
                    return str(found)
        return None

    return Subject(
        model_name=model.name,
        version_name=None,
        format_name=text("model_format_name", "modelFormatName"),
        format_version=text("model_format_version", "modelFormatVersion"),
        uri=artifact.uri if artifact else None,
        storage_key=None,
        catalog_source=model.source_id,
        catalog_model=model.name,
    )


# --- the wizard's form ---------------------------------------------------------------------------------------------


@dataclass
class WizardForm:
    """The wizard's fields as posted (every step posts all of them, the other steps' as hidden inputs) and the
    errors found, per field ("" for the form as a whole)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, fields: Mapping[str, str]) -> WizardForm:
        values = {name: (fields.get(name) or "").strip()[:300] for name in _FIELDS}
        for flag in _FLAGS:
            values[flag] = "on" if fields.get(flag) else ""
        return cls(values)

    def checked(self, step: str) -> WizardForm:
        """Check the fields of ``step`` and the steps before it (hidden fields can be forged like any other)."""
        for name in ("profile", "connection", "runtime"):
            if not self.values[name] and name != "runtime":
                self.errors.setdefault(name, f"Choose a {'hardware profile' if name == 'profile' else name}.")
        if STEPS.index(step) >= 1:
            self._check_details()
        return self

    def _check_details(self) -> None:
        if not self.values["display_name"]:
            self.errors.setdefault("display_name", "Enter a name for the deployment.")
        if not self.values["name"]:
            self.errors.setdefault("name", "Enter a resource name.")
        if not self.values["namespace"]:
            self.errors.setdefault("namespace", "Enter the project (namespace) to deploy into.")
        replicas = self.values["replicas"]
        if not replicas.isdigit() or not 1 <= int(replicas) <= MAX_REPLICAS:
            self.errors.setdefault("replicas", f"Enter a whole number from 1 to {MAX_REPLICAS}.")

    def check_name(self, check: Callable[[str, str], None]) -> None:
        """The deploy module's name rules (the dashboard's), the message next to the field it is about."""
        try:
            check(self.values["name"], self.values["namespace"])
        except InvalidInput as exc:
            self.errors.setdefault("namespace" if exc.message.startswith("namespace") else "name", exc.message)

    def first_step_with_error(self) -> str:
        details = {"display_name", "name", "namespace", "replicas"}
        if any(name in self.errors for name in ("profile", "connection", "runtime")):
            return "targets"
        return "details" if details & self.errors.keys() else "review"

    def service_error(self, error: RegistryError) -> None:
        """Put a service's refusal next to the field it names; a policy refusal, a cluster problem or a message
        that names no field goes to the top of the form."""
        message = error.message
        lowered = message.lower()
        name = ""
        if error.status_code in (400, 404, 409):
            if "already exists" in lowered:
                name = "name"
            else:
                name = next((f for key, f in _MESSAGE_FIELDS if key in lowered), "")
        self.errors.setdefault(name, message)

    def request(self, target: Subject) -> DeployRequest:
        """The deploy request of a checked form."""
        values = self.values
        return DeployRequest(
            namespace=values["namespace"],
            hardware_profile=values["profile"],
            model_version_id=target.model_version_id,
            catalog_source=target.catalog_source if target.model_version_id is None else None,
            catalog_model=target.catalog_model if target.model_version_id is None else None,
            connection=values["connection"] or None,
            runtime=values["runtime"] or None,
            name=values["name"] or None,
            display_name=values["display_name"] or None,
            replicas=int(values["replicas"]) if values["replicas"].isdigit() else 1,
            external_route=bool(values["external_route"]),
            token_auth=bool(values["token_auth"]),
        )

    def carried(self, step: str) -> dict[str, str]:
        """The fields the page for ``step`` does not show, as hidden inputs."""
        shown = {"targets": {"profile", "connection", "runtime"}, "details": {*_FIELDS[3:], *_FLAGS}}.get(step, set())
        return {k: v for k, v in self.values.items() if k not in shown and v}


# --- a deployment's model ------------------------------------------------------------------------------------------


def model_links(ui: web.Ui, deployments: Iterable[Deployment]) -> dict[int, tuple[str, str]]:
    """Deployment id → (text, url) of the model it serves: "<model> <version>" linking to the version's page, or the
    catalog model's page. One read per distinct version; a version the caller cannot read (or gone) is left out."""
    registry = app_state.registry(ui.request)
    versions: dict[int, tuple[str, str] | None] = {}
    out: dict[int, tuple[str, str]] = {}
    for d in deployments:
        if d.model_version_id is not None:
            if d.model_version_id not in versions:
                versions[d.model_version_id] = _version_link(registry, d.model_version_id)
            link = versions[d.model_version_id]
            if link is not None:
                out[d.id] = link
        elif d.catalog_source and d.catalog_model:
            url = f"/catalog/{quote(d.catalog_source, safe='')}/models/{quote(d.catalog_model)}"
            out[d.id] = (d.catalog_model, url)
    return out


def conditions(request: Request, deployment: Deployment) -> tuple[Condition, ...]:
    """The InferenceService's status timeline from this process's status watcher (its informer cache: no API call);
    none without a cluster, or when the watcher does not have the deployment's object."""
    watcher: StatusWatcher | None = getattr(request.app.state, "deploy_watcher", None)
    return (watcher.conditions(deployment) or ()) if watcher is not None else ()


CONDITION_KINDS = {"True": "success", "False": "danger"}  # Unknown: no colour


def condition_title(kind: str) -> str:
    """``PredictorReady`` → "Predictor ready"."""
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", kind) or [kind]
    return " ".join([words[0], *(w.lower() for w in words[1:])])


def condition_ms(time: str | None) -> int | None:
    """A condition's RFC 3339 time as milliseconds since the epoch (for the pages' relative times)."""
    if not time:
        return None
    try:
        return int(datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def objects_yaml(deploy: DeployService, deployment: Deployment) -> tuple[str | None, str | None]:
    """The objects of a live deployment as modelreg builds them from its stored request (secret values redacted),
    or why they cannot be shown (a profile or runtime deleted since, the cluster unreachable)."""
    if not deployment.active:
        return None, None
    try:
        return deploy.objects_of(deployment).yaml, None
    except RegistryError as exc:
        return None, exc.message


def model_names(ui: web.Ui, model_ids: Iterable[int]) -> dict[int, str]:
    """Registered model id → name, for the ids the caller can read."""
    registry = app_state.registry(ui.request)
    out: dict[int, str] = {}
    for model_id in model_ids:
        try:
            out[model_id] = registry.get(e.REGISTERED_MODEL, model_id).row["name"]
        except RegistryError:
            continue
    return out


def _version_link(registry: RegistryService, version_id: int) -> tuple[str, str] | None:
    try:
        version = registry.get(e.MODEL_VERSION, version_id)
        model = registry.get(e.REGISTERED_MODEL, version.row["registered_model_id"])
    except RegistryError:
        return None
    url = f"/registry/models/{model.row['id']}/versions/{version_id}"
    return f"{model.row['name']} {version.row['name']}", url

"""The settings pages' form handling: posted fields → service arguments, and service errors → the field they are
about. The rules stay in the services; this module only checks what a form adds (a blank field, a comma list) and
says where an error belongs, so the page can show it next to the field that caused it. Also the words the sources
page uses for a catalog source's status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import yaml

from modelreg.auth.principal import Role
from modelreg.catalog.models import Source, SourceStatus
from modelreg.errors import InvalidInput
from modelreg.services.access import SUBJECT_KINDS, check_subject, parse_duration
from modelreg.services.users import check_password

ROLES = tuple(r.value for r in Role)
# As the tokens API accepts: a positive number (at most 6 digits, so the expiry always fits) and a unit.
_EXPIRY = re.compile(r"^[1-9][0-9]{0,5}[smhdw]$")
_DESCRIPTION_LENGTH = 1000
_MAX_GROUPS = 100

# The connection form's fields per type (the service refuses the others), and the write-only ones, which are never
# put back into a re-rendered form.
CONNECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "s3": ("endpoint", "region", "bucket", "prefix", "access_key_id", "secret_access_key"),
    "uri": ("base_url",),
    "local": ("directory",),
    "oci": ("registry", "repository_prefix", "username", "password", "dockerconfig"),
}
CONNECTION_FLAGS = {"s3": ("path_style", "use_workload_identity"), "oci": ("plain_http",)}  # checkboxes per type
WRITE_ONLY = frozenset({"access_key_id", "secret_access_key", "password", "dockerconfig"})
# A service message names its field by its wire name; the first match wins (so "give both accessKeyId and
# secretAccessKey" lands on the first of the two).
_MESSAGE_FIELDS = (
    ("displayName", "display_name"),
    ("connection name", "name"),
    ("'name'", "name"),
    ("already exists", "name"),
    ("reserved", "name"),
    ("connection type", "type"),
    ("accessKeyId", "access_key_id"),
    ("secretAccessKey", "secret_access_key"),
    ("useWorkloadIdentity", "use_workload_identity"),
    ("repositoryPrefix", "repository_prefix"),
    ("username", "username"),
    ("password", "password"),
    ("dockerconfig", "dockerconfig"),
    ("registry", "registry"),
    ("plainHttp", "plain_http"),
    ("bucket", "bucket"),
    ("endpoint", "endpoint"),
    ("region", "region"),
    ("prefix", "prefix"),
    ("baseUrl", "base_url"),
    ("directory", "directory"),
)

STATUS_TEXT = {
    SourceStatus.AVAILABLE: "Available",
    SourceStatus.PARTIALLY_AVAILABLE: "Partially available",
    SourceStatus.ERROR: "Failed",
    SourceStatus.DISABLED: "Disabled",
}


def source_status(source: Source) -> str:
    """The settings page's words for a source's status (the reference UI's), "Starting" before its first load."""
    if not source.enabled:
        return "Disabled"
    return "Starting" if source.status is None else STATUS_TEXT[source.status]


@dataclass
class FormResult:
    """A parsed form: the values to show again, the errors per field ("" for the form as a whole)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def check(self, name: str, test: Callable[[], Any]) -> Any:
        """``test()``, or None with its InvalidInput message recorded against ``name``."""
        try:
            return test()
        except InvalidInput as exc:
            self.errors.setdefault(name, exc.message)
            return None


def _text(fields: Mapping[str, str], name: str) -> str:
    return fields.get(name, "").strip()


def _groups(form: FormResult, text: str) -> tuple[str, ...]:
    """A comma-separated list of group names (blank entries dropped)."""
    groups = tuple(dict.fromkeys(g.strip() for g in text.split(",") if g.strip()))
    if len(groups) > _MAX_GROUPS:
        form.errors["groups"] = f"At most {_MAX_GROUPS} groups."
    for group in groups:
        form.check("groups", partial(check_subject, group, "group name"))
    return groups


@dataclass
class BindingForm(FormResult):
    def parse(self, fields: Mapping[str, str]) -> BindingForm:
        self.values = {
            "kind": _text(fields, "kind"),
            "subject": _text(fields, "subject"),
            "role": _text(fields, "role"),
        }
        if self.values["kind"] not in SUBJECT_KINDS:
            self.errors["kind"] = "Choose user or group."
        if self.values["role"] not in ROLES:
            self.errors["role"] = f"Choose one of {', '.join(ROLES)}."
        if not self.values["subject"]:
            self.errors["subject"] = "Enter a user or group name."
        else:
            self.check("subject", lambda: check_subject(self.values["subject"], "name"))
        return self


@dataclass
class TokenForm(FormResult):
    groups: tuple[str, ...] = ()
    expires_in: timedelta | None = None

    def parse(self, fields: Mapping[str, str]) -> TokenForm:
        self.values = {
            "user": _text(fields, "user"),
            "groups": _text(fields, "groups"),
            "expires": _text(fields, "expires"),
            "description": _text(fields, "description"),
        }
        if not self.values["user"]:
            self.errors["user"] = "Enter the user the token acts as."
        else:
            self.check("user", lambda: check_subject(self.values["user"], "user name"))
        self.groups = _groups(self, self.values["groups"])
        expires = self.values["expires"]
        if expires and not _EXPIRY.match(expires):
            self.errors["expires"] = f"Invalid expiry {expires[:40]!r}: a number and a unit, e.g. 30d, 12h, 90m, 2w."
        elif expires:
            self.expires_in = self.check("expires", lambda: parse_duration(expires))
        if len(self.values["description"]) > _DESCRIPTION_LENGTH:
            self.errors["description"] = f"At most {_DESCRIPTION_LENGTH} characters."
        return self


@dataclass
class ConnectionForm(FormResult):
    """The create form's fields, narrowed to the chosen type. Write-only fields never reach ``values``."""

    arguments: dict[str, Any] = field(default_factory=dict)

    def parse(self, fields: Mapping[str, str]) -> ConnectionForm:
        kind = _text(fields, "type")
        self.values = {
            "name": _text(fields, "name"),
            "display_name": _text(fields, "display_name"),
            "type": kind,
            "description": _text(fields, "description"),
        }
        if not self.values["name"]:
            self.errors["name"] = "Enter a name."
        if kind not in CONNECTION_FIELDS:
            self.errors["type"] = f"Choose one of {', '.join(CONNECTION_FIELDS)}."
            return self
        if len(self.values["description"]) > _DESCRIPTION_LENGTH:
            self.errors["description"] = f"At most {_DESCRIPTION_LENGTH} characters."
        for name in CONNECTION_FIELDS[kind]:
            # Secrets are taken as typed (a key may end in a space); the other fields are trimmed.
            value = fields.get(name, "") if name in WRITE_ONLY else _text(fields, name)
            if name not in WRITE_ONLY:
                self.values[name] = value
            self.arguments[name] = value or None
        for flag in CONNECTION_FLAGS.get(kind, ()):
            self.arguments[flag] = bool(fields.get(flag))
            self.values[flag] = "on" if self.arguments[flag] else ""
        self.values["check"] = "on" if fields.get("check") else ""
        self.arguments.update(
            name=self.values["name"],
            type=kind,
            display_name=self.values["display_name"] or None,
            description=self.values["description"] or None,
            check=bool(fields.get("check")),
        )
        return self

    def service_error(self, message: str) -> None:
        """Put a service error next to the field it names (the form as a whole when it names none)."""
        self.errors.setdefault(field_for(message), message)


def field_for(message: str) -> str:
    return next((name for key, name in _MESSAGE_FIELDS if key in message), "")


def _password(form: FormResult, fields: Mapping[str, str]) -> str:
    """The new password and its confirmation, checked; neither ever goes back into ``values``."""
    password, confirm = fields.get("password", ""), fields.get("confirm", "")
    if form.check("password", lambda: check_password(password)) is not None and password != confirm:
        form.errors["confirm"] = "The two passwords differ."
    return password


@dataclass
class UserForm(FormResult):
    groups: tuple[str, ...] = ()
    password: str = ""

    def parse(self, fields: Mapping[str, str]) -> UserForm:
        self.values = {"username": _text(fields, "username"), "groups": _text(fields, "groups")}
        if not self.values["username"]:
            self.errors["username"] = "Enter a user name."
        else:
            self.check("username", lambda: check_subject(self.values["username"], "user name"))
        self.groups = _groups(self, self.values["groups"])
        self.password = _password(self, fields)
        return self


@dataclass
class PasswordForm(FormResult):
    password: str = ""

    def parse(self, fields: Mapping[str, str]) -> PasswordForm:
        self.password = _password(self, fields)
        return self


# --- deployment targets: hardware profiles and serving runtimes --------------------------------------------------

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?([KMGTPE]i?|m)?$")
_YAML_LENGTH = 256 * 1024


def _count(form: FormResult, name: str, value: str) -> int | str | None:
    """A resource count as the profile's wire takes it: an integer, or a quantity such as 16Gi or 500m."""
    if not value:
        return None
    if value.isdigit():
        return int(value)
    if not _QUANTITY.match(value):
        form.errors.setdefault(name, f"{value[:40]!r} is no count: a number, or a quantity such as 16Gi or 500m.")
    return value


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_yaml(form: FormResult, text: str) -> Any:
    """The YAML document of a form's text area, or None with the error recorded against ``yaml``."""
    if not text.strip():
        form.errors["yaml"] = "Paste a YAML document."
        return None
    if len(text) > _YAML_LENGTH:
        form.errors["yaml"] = f"At most {_YAML_LENGTH // 1024} KiB."
        return None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        form.errors["yaml"] = f"Not valid YAML: {str(exc).splitlines()[0][:200]}"
        return None
    if not isinstance(document, dict):
        form.errors["yaml"] = "The YAML must be one object (a mapping)."
        return None
    return document


@dataclass
class ProfileForm(FormResult):
    """A hardware profile from the form's fields (CPU, memory, an optional accelerator, scheduling), or from a
    pasted YAML: the wire shape, or a HardwareProfile object as ``kubectl get -o yaml`` prints it."""

    wire: dict[str, Any] = field(default_factory=dict)

    def parse(self, fields: Mapping[str, str]) -> ProfileForm:
        names = [
            "name",
            "display_name",
            "description",
            "cpu_min",
            "cpu_default",
            "cpu_max",
            "memory_min",
            "memory_default",
            "memory_max",
            "accelerator",
            "accelerator_name",
            "accelerator_min",
            "accelerator_default",
            "accelerator_max",
            "scheduling",
            "node_selector",
            "toleration",
            "queue",
        ]
        self.values = {name: _text(fields, name) for name in names}
        v = self.values
        if not v["name"]:
            self.errors["name"] = "Enter a name."
        identifiers = [
            self._identifier("cpu", "CPU", "CPU", "cpu"),
            self._identifier("memory", "Memory", "Memory", "memory"),
        ]
        if v["accelerator"]:
            identifiers.append(
                self._identifier(
                    v["accelerator"], v["accelerator_name"] or v["accelerator"], "Accelerator", "accelerator"
                )
            )
        self.wire = {
            "name": v["name"],
            "displayName": v["display_name"] or v["name"],
            "description": v["description"] or None,
            "identifiers": identifiers,
            "scheduling": self._scheduling(),
        }
        return self

    def _identifier(self, identifier: str, display: str, kind: str, prefix: str) -> dict[str, Any]:
        counts = {
            key: _count(self, f"{prefix}_{part}", self.values[f"{prefix}_{part}"])
            for key, part in (("minCount", "min"), ("defaultCount", "default"), ("maxCount", "max"))
        }
        if counts["minCount"] is None:
            self.errors.setdefault(f"{prefix}_min", "Enter the minimum.")
        if counts["defaultCount"] is None:
            counts["defaultCount"] = counts["minCount"]
        return {"identifier": identifier, "displayName": display, "resourceType": kind, **counts}

    def _scheduling(self) -> dict[str, Any] | None:
        v = self.values
        if v["scheduling"] == "node":
            selector: dict[str, str] = {}
            for line in _lines(fields_text(v["node_selector"])):
                key, sep, value = line.partition("=")
                if not sep or not key.strip():
                    self.errors.setdefault("node_selector", f"{line[:60]!r}: write one key=value a line.")
                selector[key.strip()] = value.strip()
            node: dict[str, Any] = {"nodeSelector": selector}
            if v["toleration"]:
                node["tolerations"] = [{"key": v["toleration"], "operator": "Exists", "effect": "NoSchedule"}]
            return {"type": "Node", "node": node}
        if v["scheduling"] == "queue":
            if not v["queue"]:
                self.errors.setdefault("queue", "Enter the local queue's name.")
            return {"type": "Queue", "kueue": {"localQueueName": v["queue"]}}
        if v["scheduling"] not in ("", "none"):
            self.errors["scheduling"] = "Choose none, node or queue."
        return None

    def parse_yaml(self, fields: Mapping[str, str]) -> ProfileForm:
        self.values = {"yaml": fields.get("yaml", "")}
        document = parse_yaml(self, self.values["yaml"])
        if document is not None:
            self.wire = wire_of_profile(document)
        return self


def fields_text(value: str) -> str:
    """A text area's value with the CRLF line ends browsers send made plain."""
    return value.replace("\r\n", "\n")


def wire_of_profile(document: dict[str, Any]) -> dict[str, Any]:
    """A HardwareProfile object becomes the wire shape create takes; anything else is taken as that shape (the
    service says what is wrong with it)."""
    if document.get("kind") != "HardwareProfile":
        return document
    metadata = _mapping(document.get("metadata"))
    spec = _mapping(document.get("spec"))
    annotations = _mapping(metadata.get("annotations"))
    return {
        "name": metadata.get("name"),
        "displayName": annotations.get("opendatahub.io/display-name") or metadata.get("name"),
        "description": annotations.get("opendatahub.io/description"),
        "identifiers": spec.get("identifiers") or [],
        "scheduling": spec.get("scheduling"),
        "enabled": str(annotations.get("opendatahub.io/disabled", "false")).lower() != "true",
    }


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class RuntimeForm(FormResult):
    """A serving runtime from the form's fields (one kserve-container), or from a pasted ServingRuntime or Template
    wrapping one."""

    body: dict[str, Any] = field(default_factory=dict)

    def parse(self, fields: Mapping[str, str]) -> RuntimeForm:
        names = ["name", "display_name", "image", "formats", "accelerators", "model_type", "port", "args"]
        self.values = {name: _text(fields, name) for name in names}
        self.values["args"] = fields_text(fields.get("args", ""))
        v = self.values
        for name, message in (("name", "Enter a name."), ("image", "Enter the container image.")):
            if not v[name]:
                self.errors[name] = message
        formats = []
        for item in (part.strip() for part in v["formats"].split(",")):
            if item:
                fmt_name, _, fmt_version = item.partition(" ")
                fmt: dict[str, Any] = {"name": fmt_name, "autoSelect": True}
                if fmt_version.strip():
                    fmt["version"] = fmt_version.strip()
                formats.append(fmt)
        if not formats:
            self.errors["formats"] = "Enter at least one model format, e.g. vLLM or onnx 1."
        if v["model_type"] not in ("generative", "predictive"):
            self.errors["model_type"] = "Choose generative or predictive."
        port = v["port"] or "8080"
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            self.errors["port"] = "Enter a port number from 1 to 65535."
            port = "8080"
        accelerators = [a.strip() for a in v["accelerators"].split(",") if a.strip()]
        annotations = {
            "openshift.io/display-name": v["display_name"] or v["name"],
            "opendatahub.io/apiProtocol": "REST",
            "opendatahub.io/model-type": json.dumps([v["model_type"]]),
            "opendatahub.io/recommended-accelerators": json.dumps(accelerators),
        }
        container = {
            "name": "kserve-container",
            "image": v["image"],
            "args": _lines(v["args"]),
            "ports": [{"containerPort": int(port), "protocol": "TCP"}],
        }
        self.body = {
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "ServingRuntime",
            "metadata": {"name": v["name"], "annotations": annotations},
            "spec": {"multiModel": False, "supportedModelFormats": formats, "containers": [container]},
        }
        return self

    def parse_yaml(self, fields: Mapping[str, str]) -> RuntimeForm:
        self.values = {"yaml": fields.get("yaml", "")}
        document = parse_yaml(self, self.values["yaml"])
        if document is not None:
            self.body = document
        return self


def profile_field(message: str) -> str:
    """The profile form's field a service message is about ("" for the form as a whole)."""
    return (
        "name"
        if message.startswith(("a hardware profile", "invalid hardware profile name")) or "exists" in message
        else ""
    )


def runtime_field(message: str) -> str:
    """The runtime form's field a service message is about ("" for the form as a whole)."""
    if "exists" in message or "name" in message.split(":")[0]:
        return "name"
    return "formats" if "supportedModelFormats" in message else ""

"""Validation of generated objects before they are sent or written: custom kinds against their CRD's
``openAPIV3Schema`` (as a structural schema: an unknown field is an error, `x-kubernetes-int-or-string` is an
integer or a string), core kinds with kubernetes-validate's strict schemas. Every problem is reported with its path.

How a CRD schema becomes a JSON Schema (Draft 2020-12) here, to behave like the API server does:
- ``x-kubernetes-int-or-string`` → ``anyOf: [integer, string]`` (when the CRD does not spell it out already);
- ``nullable: true`` → ``null`` is accepted besides the declared type;
- an object with ``properties``, no ``additionalProperties`` and no ``x-kubernetes-preserve-unknown-fields`` gets
  ``additionalProperties: false``: the API server would prune the unknown field silently, which for generated
  objects is always a bug (a ``storageURI`` typo would deploy a model without storage), so it is an error here;
- ``x-kubernetes-embedded-resource`` objects also accept ``apiVersion``, ``kind`` and ``metadata``;
- the top-level ``metadata`` is checked as a minimal ObjectMeta (known fields, string maps for labels and
  annotations, a DNS-1123 name, owner references with their required fields).
Not evaluated: CEL rules (``x-kubernetes-validations``, e.g. a HardwareProfile's Node/Queue exclusivity) and
``format`` (the API server checks few of them); the platform's admission webhooks are not emulated either.

Compiling is lazy and cached per (apiVersion, kind): the InferenceService CRD is 2 MB; reading the four reference
CRDs takes about 0.5 s (libyaml), converting the InferenceService schema about 30 ms, validating one object against
a compiled schema 0.1-0.3 ms (measured on the project's machine type).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError  # type: ignore[import-untyped]
from kubernetes_validate import utils as kubernetes_validate  # type: ignore[import-untyped]
from referencing import Registry, Resource

Json = dict[str, Any]
DEFAULT_KUBERNETES_VERSION = "1.33.0"

DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class SchemaError(ValueError):
    """An object does not match its schema; ``problems`` are "<Kind> <namespace>/<name>: <path>: <message>" lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
        self.problems = problems


class NoSchema(ValueError):
    """No schema is known for this kind (a custom kind whose CRD was not given)."""


def _string_map() -> Json:
    return {"type": ["object", "null"], "additionalProperties": {"type": "string"}}


_OWNER_REFERENCE: Json = {
    "type": "object",
    "required": ["apiVersion", "kind", "name", "uid"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "name": {"type": "string"},
        "uid": {"type": "string"},
        "controller": {"type": "boolean"},
        "blockOwnerDeletion": {"type": "boolean"},
    },
}

# ObjectMeta as far as generated objects use it; server-set fields are accepted with their types
OBJECT_META: Json = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS1123_SUBDOMAIN},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63, "pattern": DNS1123_LABEL},
        "labels": _string_map(),
        "annotations": _string_map(),
        "ownerReferences": {"type": "array", "items": _OWNER_REFERENCE},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "selfLink": {"type": "string"},
        "managedFields": {"type": "array", "items": {"type": "object"}},
    },
}

_JUNCTORS = ("allOf", "anyOf", "oneOf")


def structural(schema: Mapping[str, Any], *, strict_objects: bool = True) -> Json:
    """A CRD ``openAPIV3Schema`` node → a JSON Schema that rejects what the API server would prune or refuse.
    Inside ``allOf``/``anyOf``/``oneOf``/``not`` objects are not closed: there they only restrict values."""
    out: Json = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: structural(sub, strict_objects=strict_objects) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = structural(value, strict_objects=strict_objects)
        elif key in _JUNCTORS:
            out[key] = [structural(sub, strict_objects=False) for sub in value]
        elif key == "not":
            out[key] = structural(value, strict_objects=False)
        elif key == "description":
            continue  # most of the 2 MB; never needed to validate
        else:
            out[key] = copy.deepcopy(value)
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-embedded-resource") and "properties" in out:
        props = out["properties"]
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if (
        strict_objects
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def crd_object_schema(openapi_schema: Mapping[str, Any]) -> Json:
    """The JSON Schema of a whole custom object: the converted CRD schema with ObjectMeta in ``metadata``."""
    converted = structural(openapi_schema)
    props = converted.setdefault("properties", {})
    props["metadata"] = OBJECT_META
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    converted.setdefault("type", "object")
    if "additionalProperties" not in converted and not converted.get("x-kubernetes-preserve-unknown-fields"):
        converted["additionalProperties"] = False
    return converted


def json_path(parts: Iterable[str | int]) -> str:
    """``spec.predictor.tolerations[0].key``; keys that are not plain words are quoted: ``labels["a.io/b"]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out or "(object)"


def _messages(error: ValidationError) -> Iterator[tuple[list[str | int], str]]:
    """(path, message) for one jsonschema error, worded for people: the unknown field's own path, the missing one."""
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {})
        for name in error.instance:
            if name not in known:
                yield [*path, name], "unknown field"
        return
    if error.validator == "required" and isinstance(error.validator_value, list) and isinstance(error.instance, dict):
        for name in error.validator_value:
            if name not in error.instance:
                yield [*path, name], "required field is missing"
        return
    if error.validator == "anyOf" and error.schema.get("x-kubernetes-int-or-string"):
        yield path, f"must be an integer or a string, not {error.instance!r}"
        return
    yield path, error.message


def _kind_title(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    namespace, name = meta.get("namespace"), meta.get("name")
    where = f"{namespace}/{name}" if namespace else f"{name}"
    return f"{obj.get('kind', '?')} {where}"


class Validator:
    """Compiled schemas, cached per kind (the InferenceService CRD is 2 MB; compiling it once matters).

    Custom kinds are checked against the CRDs given (the served versions; see the module docstring for how the
    schema is read), every other kind against kubernetes-validate's strict local schemas of ``kubernetes_version``
    (the newest bundled version not newer than it). Thread-safe."""

    def __init__(
        self, crds: Iterable[Mapping[str, Any]] = (), kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    ) -> None:
        self._crd_schemas: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._compiled: dict[tuple[str, str], Draft202012Validator] = {}
        self._lock = threading.Lock()
        self._core_dir = f"v{_bundled_version(kubernetes_version)}-local-strict"
        self._core_registry: Registry[Any] | None = None
        for crd in crds:
            self.add_crd(crd)

    def add_crd(self, crd: Mapping[str, Any]) -> None:
        """Register every served version of a CustomResourceDefinition (replacing an earlier one of the kind)."""
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        if crd.get("kind") != "CustomResourceDefinition" or not group or not kind:
            raise ValueError("not a CustomResourceDefinition with spec.group and spec.names.kind")
        for version in spec.get("versions") or ():
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if version.get("served", True) and schema is not None:
                key = (f"{group}/{version['name']}", kind)
                with self._lock:
                    self._crd_schemas[key] = schema
                    self._compiled.pop(key, None)

    def knows(self, api_version: str, kind: str) -> bool:
        if (api_version, kind) in self._crd_schemas:
            return True
        return _core_schema_file(self._core_dir, api_version, kind) is not None

    def compile(self, api_version: str, kind: str) -> Draft202012Validator:
        """The validator of a kind, compiled on first use; `NoSchema` when none is known."""
        key = (api_version, kind)
        with self._lock:
            found = self._compiled.get(key)
            if found is None:
                found = self._compile(api_version, kind)
                self._compiled[key] = found
            return found

    def problems(self, obj: Mapping[str, Any]) -> list[str]:
        """Every problem of an object as "<Kind> <namespace>/<name>: <path>: <message>"; [] when it is valid."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return [f"{_kind_title(obj)}: (object): apiVersion and kind must be strings"]
        validator = self.compile(api_version, kind)
        title = _kind_title(obj)
        found = {
            (json_path(path), message) for error in validator.iter_errors(obj) for path, message in _messages(error)
        }
        return [f"{title}: {path}: {message}" for path, message in sorted(found)]

    def validate(self, obj: Mapping[str, Any]) -> None:
        """Raise `SchemaError` listing every problem, `NoSchema` when the kind has no known schema."""
        found = self.problems(obj)
        if found:
            raise SchemaError(found)

    def _compile(self, api_version: str, kind: str) -> Draft202012Validator:
        crd_schema = self._crd_schemas.get((api_version, kind))
        if crd_schema is not None:
            return Draft202012Validator(crd_object_schema(crd_schema))
        filename = _core_schema_file(self._core_dir, api_version, kind)
        if filename is None:
            raise NoSchema(f"no schema for {kind} ({api_version}): neither a CRD given nor a core Kubernetes kind")
        if self._core_registry is None:
            definitions = kubernetes_validate.schema_contents(f"{_SCHEMA_ROOT}/{self._core_dir}/_definitions.json", "")
            self._core_registry = Resource.from_contents(definitions) @ Registry()
        schema = kubernetes_validate.schema_contents(filename, "")
        return Draft202012Validator(schema, registry=Resource.from_contents(schema) @ self._core_registry)


_SCHEMA_ROOT = "kubernetes-json-schema"
# libyaml's loader when PyYAML has it: the InferenceService CRD takes 2.7 s with the pure-Python one, 0.3 s with it
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def _bundled_version(wanted: str) -> str:
    """The newest schema version kubernetes-validate bundles that is not newer than ``wanted`` (major.minor)."""
    want = _version_key(wanted.removeprefix("v"))[:2]
    versions = [str(v) for v in kubernetes_validate.all_versions() if _version_key(str(v))[:2] <= want]
    if not versions:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {wanted}")
    return max(versions, key=_version_key)


def _core_schema_file(schema_dir: str, api_version: str, kind: str) -> str | None:
    """kubernetes-validate's file for a kind: ``rbac.authorization.k8s.io/v1`` Role → ``role-rbac-v1.json``."""
    group, _, version = api_version.rpartition("/")
    suffix = f"{group.split('.')[0]}-{version}" if group else version
    name = f"{_SCHEMA_ROOT}/{schema_dir}/{kind.lower()}-{suffix}.json"
    if not re.fullmatch(r"[A-Za-z0-9./_-]+", name) or ".." in name:
        return None
    return name if files("kubernetes_validate").joinpath(name).is_file() else None


def load_crds(directory: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the ``*.yaml`` / ``*.yml`` files of a directory (multi-document files
    too), in file name order; other documents are skipped."""
    found: list[dict[str, Any]] = []
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for path in paths:
        with path.open(encoding="utf-8") as stream:
            for doc in yaml.load_all(stream, Loader=_YamlLoader):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    found.append(doc)
    return found

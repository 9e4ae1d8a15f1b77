"""Typed, immutable views of what the server returns, and the custom-property mapping both ways.

Every object keeps ``raw``, the wire dict it was made from, so fields this SDK does not model yet (and fields a
newer server adds) stay reachable without a new SDK release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PropertyValue = str | int | float | bool
LIFECYCLE_PROPERTY = "Lifecycle"  # how the server shows a version's stage


def properties_to_wire(values: dict[str, PropertyValue]) -> dict[str, dict[str, Any]]:
    """Plain values to Kubeflow's typed values. ``bool`` is tested before ``int`` because it is one."""
    wire: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            wire[key] = {"metadataType": "MetadataBoolValue", "bool_value": value}
        elif isinstance(value, int):
            wire[key] = {"metadataType": "MetadataIntValue", "int_value": str(value)}  # int64 travels as a string
        elif isinstance(value, float):
            wire[key] = {"metadataType": "MetadataDoubleValue", "double_value": value}
        elif isinstance(value, str):
            wire[key] = {"metadataType": "MetadataStringValue", "string_value": value}
        else:
            raise TypeError(f"custom property {key!r}: {type(value).__name__} is not str, int, float or bool")
    return wire


def properties_from_wire(wire: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Typed values to plain ones; struct and proto values, which have no plain form, stay as their wire dict."""
    plain: dict[str, Any] = {}
    for key, value in (wire or {}).items():
        kind = value.get("metadataType")
        if kind == "MetadataIntValue":
            plain[key] = int(value["int_value"])
        elif kind == "MetadataDoubleValue":
            plain[key] = float(value["double_value"])
        elif kind == "MetadataBoolValue":
            plain[key] = bool(value["bool_value"])
        elif kind == "MetadataStringValue":
            plain[key] = value["string_value"]
        else:
            plain[key] = value
    return plain


def _time(millis: str | int | None) -> datetime | None:
    return None if millis in (None, "") else datetime.fromtimestamp(int(millis) / 1000, tz=UTC)


def _common(raw: dict[str, Any]) -> dict[str, Any]:
    """The fields every registry entity has."""
    return {
        "id": raw["id"],
        "name": raw.get("name"),
        "description": raw.get("description"),
        "external_id": raw.get("externalId"),
        "state": raw.get("state"),
        "custom_properties": properties_from_wire(raw.get("customProperties")),
        "create_time": _time(raw.get("createTimeSinceEpoch")),
        "last_update_time": _time(raw.get("lastUpdateTimeSinceEpoch")),
        "raw": raw,
    }


@dataclass(frozen=True)
class _Entity:
    id: str
    name: str | None
    description: str | None
    external_id: str | None
    state: str | None
    custom_properties: dict[str, Any]
    create_time: datetime | None
    last_update_time: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class RegisteredModel(_Entity):
    name: str
    owner: str | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> RegisteredModel:
        return cls(**_common(raw), owner=raw.get("owner"))


@dataclass(frozen=True)
class ModelVersion(_Entity):
    name: str
    registered_model_id: str
    author: str | None = None

    @property
    def stage(self) -> str:
        """The lifecycle stage (development, staging, production, deprecated): the server's ``Lifecycle`` property,
        which a version carries once its stage was set through governance; until then it is in development."""
        stage = self.custom_properties.get(LIFECYCLE_PROPERTY)
        return stage if isinstance(stage, str) else "development"

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> ModelVersion:
        return cls(**_common(raw), registered_model_id=raw["registeredModelId"], author=raw.get("author"))


@dataclass(frozen=True)
class ModelArtifact(_Entity):
    uri: str | None = None
    model_format_name: str | None = None
    model_format_version: str | None = None
    storage_key: str | None = None
    storage_path: str | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> ModelArtifact:
        return cls(
            **_common(raw),
            uri=raw.get("uri"),
            model_format_name=raw.get("modelFormatName"),
            model_format_version=raw.get("modelFormatVersion"),
            storage_key=raw.get("storageKey"),
            storage_path=raw.get("storagePath"),
        )


@dataclass(frozen=True)
class WhoAmI:
    user: str
    groups: tuple[str, ...]
    method: str
    roles: tuple[str, ...]
    permissions: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> WhoAmI:
        return cls(
            raw["user"], tuple(raw["groups"]), raw["method"], tuple(raw["roles"]), tuple(raw["permissions"]), raw
        )


@dataclass(frozen=True)
class AuditRecord:
    """One link of the server's hash-chained audit trail; ``before``/``after`` are the entity's changed fields."""

    seq: int
    time: datetime
    actor: str
    via: str | None
    action: str
    entity_kind: str
    entity_id: str | None
    entity_name: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    hash: str
    prev_hash: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> AuditRecord:
        return cls(
            seq=raw["seq"],
            time=datetime.fromtimestamp(raw["timeMs"] / 1000, tz=UTC),
            actor=raw["actor"],
            via=raw.get("via"),
            action=raw["action"],
            entity_kind=raw["entityKind"],
            entity_id=raw.get("entityId"),
            entity_name=raw.get("entityName"),
            before=raw.get("before"),
            after=raw.get("after"),
            request_id=raw.get("requestId"),
            hash=raw["hash"],
            prev_hash=raw["prevHash"],
            raw=raw,
        )


@dataclass(frozen=True)
class AuditVerification:
    """``last_seq``/``last_hash`` are the anchor to keep elsewhere: only against it can a cut-off tail be seen."""

    valid: bool
    checked: int
    last_seq: int | None
    last_hash: str | None
    first_bad: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> AuditVerification:
        return cls(raw["valid"], raw["checked"], raw.get("lastSeq"), raw.get("lastHash"), raw.get("firstBad"), raw)


@dataclass(frozen=True)
class FileDigest:
    path: str
    size: int
    sha256: str | None  # None: the server has not recorded it (an artifact registered by URI only)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> FileDigest:
        return cls(raw["path"], int(raw["size"]), raw.get("sha256"))


@dataclass(frozen=True)
class UploadResult:
    registered_model: RegisteredModel
    model_version: ModelVersion
    model_artifact: ModelArtifact
    files: tuple[FileDigest, ...]
    total_size: int
    raw: dict[str, Any] = field(repr=False, compare=False)
    # what failed after the registration, which stands (e.g. an OCI image registered by digest but not tagged)
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> UploadResult:
        return cls(
            RegisteredModel.from_wire(raw["registeredModel"]),
            ModelVersion.from_wire(raw["modelVersion"]),
            ModelArtifact.from_wire(raw["modelArtifact"]),
            tuple(FileDigest.from_wire(f) for f in raw["files"]),
            int(raw["totalSize"]),
            raw,
            tuple(raw.get("warnings", ())),
        )


@dataclass(frozen=True)
class FileCheck:
    path: str
    status: str  # ok, mismatch, missing or unrecorded
    expected: dict[str, Any] | None
    actual: dict[str, Any] | None


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    recorded: bool
    items: tuple[FileCheck, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> VerifyReport:
        items = tuple(FileCheck(i["path"], i["status"], i.get("expected"), i.get("actual")) for i in raw["items"])
        return cls(bool(raw["ok"]), bool(raw["recorded"]), items, raw)

"""Database rows <-> Kubeflow Model Registry wire dicts. The only place that knows both shapes; the REST routers
and the Backstage bridge both use it, so it sits below them.

Each entity has a list of ``Wire`` fields: the API name, the database column and a codec. Ids and epoch
milliseconds are strings on the wire and integers in the database; absent (NULL) values are omitted from
responses, as the reference server does, and ``customProperties`` is always present.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import String

from modelreg.db.repository import AnyRow
from modelreg.db.tables import metadata
from modelreg.errors import InvalidInput
from modelreg.services.properties import PropValue
from modelreg.settings import LimitSettings

_INT64 = (-(2**63), 2**63 - 1)


def _int_from_wire(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"invalid integer string {value!r}") from None
    if not _INT64[0] <= number <= _INT64[1]:
        raise InvalidInput(f"integer {value} does not fit in 64 bits")
    return number


def _json_list_to_db(value: Any) -> str:
    return orjson.dumps(list(value)).decode()


def _json_list_from_db(value: str) -> list[Any]:
    items: list[Any] = orjson.loads(value)  # written by _json_list_to_db
    return items


@dataclass(frozen=True)
class Codec:
    to_db: Callable[[Any], Any]
    to_wire: Callable[[Any], Any]


def _same(v: Any) -> Any:
    return v


TEXT = Codec(_same, _same)
INT_STRING = Codec(_int_from_wire, str)  # ids and epoch milliseconds
NUMBER = Codec(float, _same)
INTEGER = Codec(_int_from_wire, _same)
JSON_LIST = Codec(_json_list_to_db, _json_list_from_db)


@dataclass(frozen=True)
class Wire:
    api: str
    column: str
    codec: Codec = TEXT


def _w(*names: str) -> list[Wire]:
    """Text fields whose column is the snake_case form of the API name."""
    return [Wire(n, _snake(n)) for n in names]


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


_COMMON = [
    Wire("id", "id", INT_STRING),
    Wire("createTimeSinceEpoch", "create_time", INT_STRING),
    Wire("lastUpdateTimeSinceEpoch", "last_update_time", INT_STRING),
    *_w("name", "externalId", "description"),
]

FIELDS: dict[str, list[Wire]] = {
    "registered_models": [
        *_COMMON,
        *_w("owner", "state", "readme", "maturity", "provider", "logo", "license", "licenseLink", "libraryName"),
        Wire("language", "language", JSON_LIST),
        Wire("tasks", "tasks", JSON_LIST),
    ],
    "model_versions": [*_COMMON, *_w("author", "state"), Wire("registeredModelId", "registered_model_id", INT_STRING)],
    "serving_environments": _COMMON,
    "inference_services": [
        *_COMMON,
        *_w("runtime", "desiredState"),
        Wire("registeredModelId", "registered_model_id", INT_STRING),
        Wire("servingEnvironmentId", "serving_environment_id", INT_STRING),
        Wire("modelVersionId", "model_version_id", INT_STRING),
    ],
    "serve_models": [*_COMMON, *_w("lastKnownState"), Wire("modelVersionId", "model_version_id", INT_STRING)],
    "experiments": [*_COMMON, *_w("owner", "state")],
    "experiment_runs": [
        *_COMMON,
        *_w("owner", "state", "status"),
        Wire("experimentId", "experiment_id", INT_STRING),
        Wire("startTimeSinceEpoch", "start_time", INT_STRING),
        Wire("endTimeSinceEpoch", "end_time", INT_STRING),
    ],
}

_ARTIFACT_COMMON = [
    *_COMMON,
    *_w("artifactType", "state"),
    Wire("experimentId", "experiment_id", INT_STRING),
    Wire("experimentRunId", "experiment_run_id", INT_STRING),
]
_METRIC = [Wire("value", "number_value", NUMBER), Wire("timestamp", "timestamp"), Wire("step", "step", INTEGER)]

ARTIFACT_FIELDS: dict[str, list[Wire]] = {
    "model-artifact": [
        *_ARTIFACT_COMMON,
        *_w("uri", "modelFormatName", "modelFormatVersion", "storageKey", "storagePath", "serviceAccountName"),
        *_w("modelSourceKind", "modelSourceClass", "modelSourceGroup", "modelSourceId", "modelSourceName"),
    ],
    "doc-artifact": [*_ARTIFACT_COMMON, *_w("uri")],
    "dataset-artifact": [*_ARTIFACT_COMMON, *_w("uri", "digest", "sourceType", "source", "schema", "profile")],
    "metric": [*_ARTIFACT_COMMON, *_METRIC],
    "parameter": [*_ARTIFACT_COMMON, Wire("value", "string_value"), *_w("parameterType")],
}
METRIC_HISTORY_FIELDS = [
    *_COMMON,
    *_w("state", "uri"),
    Wire("experimentId", "experiment_id", INT_STRING),
    Wire("experimentRunId", "experiment_run_id", INT_STRING),
    *_METRIC,
]


def fields_for(table: str, row_or_type: AnyRow | str | None = None) -> list[Wire]:
    if table == "artifacts":
        artifact_type = row_or_type if isinstance(row_or_type, str) else (row_or_type or {}).get("artifact_type")
        return ARTIFACT_FIELDS[artifact_type or "model-artifact"]
    if table == "metric_history":
        return METRIC_HISTORY_FIELDS
    return FIELDS[table]


# --- custom properties -----------------------------------------------------------------------------------------

# The value key of each MetadataValue type: for every reader of wire-form custom properties (the registry API, the
# catalog's files, the Backstage bridge).
VALUE_KEYS: Mapping[str, str] = {
    "MetadataStringValue": "string_value",
    "MetadataIntValue": "int_value",
    "MetadataDoubleValue": "double_value",
    "MetadataBoolValue": "bool_value",
    "MetadataStructValue": "struct_value",
    "MetadataProtoValue": "proto_value",
}
SCALAR_TYPES = frozenset({"MetadataStringValue", "MetadataIntValue", "MetadataDoubleValue", "MetadataBoolValue"})
_DB_TYPE_OF = {
    "MetadataStringValue": "string",
    "MetadataIntValue": "int",
    "MetadataDoubleValue": "double",
    "MetadataBoolValue": "bool",
    "MetadataStructValue": "struct",
}
_WIRE_TYPES = {wire: (db, VALUE_KEYS[wire]) for wire, db in _DB_TYPE_OF.items()}  # proto is stored apart
_DB_TYPES = {db: (wire, key) for wire, (db, key) in _WIRE_TYPES.items()}


def properties_to_db(props: Mapping[str, Mapping[str, Any]], limits: LimitSettings) -> dict[str, PropValue]:
    """Custom properties as stored, within ``limits``: how many, key length, string value length."""
    if len(props) > limits.max_custom_properties:
        raise InvalidInput(f"too many custom properties: {len(props)}, at most {limits.max_custom_properties} allowed")
    out: dict[str, PropValue] = {}
    for name, value in props.items():
        if len(name) > limits.max_property_key_length:
            raise InvalidInput(
                f"custom property key is too long: {len(name)} characters, "
                f"at most {limits.max_property_key_length} allowed"
            )
        metadata_type = value.get("metadataType")
        if metadata_type == "MetadataProtoValue":
            _check_value(name, value["type"] + value["proto_value"], limits)
            out[name] = PropValue("proto", orjson.dumps({"type": value["type"], "proto_value": value["proto_value"]}))
            continue
        if metadata_type not in _WIRE_TYPES:
            raise InvalidInput(f"metadataType not found for {name}")
        db_type, key = _WIRE_TYPES[metadata_type]
        raw = value[key]
        if isinstance(raw, str):
            _check_value(name, raw, limits)
        if db_type == "int":
            raw = _int_from_wire(raw)
        out[name] = PropValue(db_type, raw)
    return out


def _check_value(name: str, value: str, limits: LimitSettings) -> None:
    if len(value) > limits.max_property_value_length:
        raise InvalidInput(
            f"custom property {name!r} is too long: {len(value)} characters, "
            f"at most {limits.max_property_value_length} allowed"
        )


def properties_to_wire(props: Mapping[str, PropValue]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, prop in props.items():
        if prop.type == "proto":
            out[name] = {"metadataType": "MetadataProtoValue", **orjson.loads(prop.value)}
            continue
        wire_type, key = _DB_TYPES[prop.type]
        out[name] = {"metadataType": wire_type, key: str(prop.value) if prop.type == "int" else prop.value}
    return out


# --- whole entities --------------------------------------------------------------------------------------------


def to_wire(table: str, row: AnyRow, props: Mapping[str, PropValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields_for(table, row):
        value = row[f.column]
        if value is not None:
            out[f.api] = f.codec.to_wire(value)
    if table == "metric_history":
        out["artifactType"] = "metric"  # history entries are returned as Metric artifacts
    out["customProperties"] = properties_to_wire(props)
    return out


def to_db(
    table: str, body: Mapping[str, Any], artifact_type: str | None = None, limits: LimitSettings | None = None
) -> dict[str, Any]:
    """Columns for the fields present in ``body`` (a ``model_dump(exclude_unset=True, by_alias=True)``).

    Server-owned fields (id, timestamps, artifactType) are never taken from the body. With ``limits``, a string
    longer than its column holds (a 255-character column) or than ``max_text_length`` is refused, the same way on
    every database (SQLite would store it, PostgreSQL and MariaDB refuse it); names have their own rule.
    """
    skip = _ARTIFACT_SERVER_OWNED if table == "artifacts" else _SERVER_OWNED
    lengths = _column_lengths(table) if limits is not None else {}
    out: dict[str, Any] = {}
    for f in fields_for(table, artifact_type):
        if f.api in skip:
            continue
        value = body.get(f.api)
        if value is not None:
            stored = f.codec.to_db(value)
            if limits is not None and isinstance(stored, str) and f.api != "name":
                most = lengths.get(f.column) or limits.max_text_length
                if len(stored) > most:
                    raise InvalidInput(f"{f.api} is too long: {len(stored)} characters, at most {most} allowed")
            out[f.column] = stored
    return out


@cache
def _column_lengths(table: str) -> dict[str, int]:
    """The declared length of each bounded string column (``String(255)``); text columns are not listed."""
    return {
        column.name: column.type.length
        for column in metadata.tables[table].columns
        if isinstance(column.type, String) and column.type.length
    }


_SERVER_OWNED = frozenset({"id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch"})
_ARTIFACT_SERVER_OWNED = _SERVER_OWNED | {"artifactType", "experimentId", "experimentRunId"}


def page_to_wire(items: list[dict[str, Any]], next_token: str, page_size: int) -> dict[str, Any]:
    return {"items": items, "nextPageToken": next_token, "pageSize": page_size, "size": len(items)}

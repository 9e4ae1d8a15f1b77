"""Which names each REST entity can be filtered by, and the column that stores each one.

Every field is a real column of the entity's table (see ``db/tables.py``); any other name is a custom
property in ``properties``. Each field answers to its camelCase API name and to the snake_case spelling the
reference server uses for the same value (``libraryName`` and ``library_name``), because the reference
stores most built-in values as properties and clients filter on them by those names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from sqlalchemy import ColumnElement, Table, func, literal_column

from modelreg.db import tables
from modelreg.stages import INITIAL_STAGE

FieldType: TypeAlias = Literal["int", "float", "str", "bool"]


# eq=False: identity semantics; comparing SQLAlchemy columns with == builds SQL instead of a bool.
@dataclass(frozen=True, eq=False)
class Field:
    column: ColumnElement[Any]
    type: FieldType


@dataclass(frozen=True, eq=False)
class Target:
    """What a filter runs against: the entity table, its filterable fields, and its custom properties' kind."""

    table: Table
    fields: Mapping[str, Field]
    owner_kind: str  # properties.owner_kind of this entity's custom properties (the table name)


_Spec: TypeAlias = tuple[str, "str | ColumnElement[Any]", FieldType]  # API name, column name (or expression), type

_COMMON: tuple[_Spec, ...] = (
    ("id", "id", "int"),
    ("name", "name", "str"),
    ("externalId", "external_id", "str"),
    ("description", "description", "str"),
    ("createTimeSinceEpoch", "create_time", "int"),
    ("lastUpdateTimeSinceEpoch", "last_update_time", "int"),
)
_OWNED: tuple[_Spec, ...] = (("owner", "owner", "str"), ("state", "state", "str"))


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _target(table: Table, *specs: _Spec) -> Target:
    fields: dict[str, Field] = {}
    aliases: dict[str, Field] = {}
    for api_name, column, field_type in specs:
        field = Field(table.c[column] if isinstance(column, str) else column, field_type)
        fields[api_name] = field
        aliases[_snake_case(api_name)] = field
    return Target(table, MappingProxyType(aliases | fields), owner_kind=table.name)


REGISTERED_MODEL = _target(
    tables.registered_models,
    *_COMMON,
    *_OWNED,
    ("readme", "readme", "str"),
    ("maturity", "maturity", "str"),
    ("provider", "provider", "str"),
    ("logo", "logo", "str"),
    ("license", "license", "str"),
    ("licenseLink", "license_link", "str"),
    ("libraryName", "library_name", "str"),
)

MODEL_VERSION = _target(
    tables.model_versions,
    *_COMMON,
    ("registeredModelId", "registered_model_id", "int"),
    ("author", "author", "str"),
    ("state", "state", "str"),
    # The lifecycle stage, which clients see as this custom property: a version whose stage was never set (NULL)
    # is in the first one.
    ("Lifecycle", func.coalesce(tables.model_versions.c.stage, literal_column(f"'{INITIAL_STAGE}'")), "str"),
)

SERVING_ENVIRONMENT = _target(tables.serving_environments, *_COMMON)

INFERENCE_SERVICE = _target(
    tables.inference_services,
    *_COMMON,
    ("servingEnvironmentId", "serving_environment_id", "int"),
    ("registeredModelId", "registered_model_id", "int"),
    ("modelVersionId", "model_version_id", "int"),
    ("runtime", "runtime", "str"),
    ("desiredState", "desired_state", "str"),
)

SERVE_MODEL = _target(
    tables.serve_models,
    *_COMMON,
    ("inferenceServiceId", "inference_service_id", "int"),
    ("modelVersionId", "model_version_id", "int"),
    ("lastKnownState", "last_known_state", "str"),
)

EXPERIMENT = _target(tables.experiments, *_COMMON, *_OWNED)

EXPERIMENT_RUN = _target(
    tables.experiment_runs,
    *_COMMON,
    *_OWNED,
    ("experimentId", "experiment_id", "int"),
    ("status", "status", "str"),
    ("startTimeSinceEpoch", "start_time", "int"),
    ("endTimeSinceEpoch", "end_time", "int"),
)

METRIC_HISTORY = _target(
    tables.metric_history,
    *_COMMON,
    ("experimentRunId", "experiment_run_id", "int"),
    ("experimentId", "experiment_id", "int"),
    ("uri", "uri", "str"),
    ("state", "state", "str"),
    ("value", "number_value", "float"),
    ("timestamp", "timestamp", "str"),  # epoch milliseconds as a string, as the API sends it
    ("step", "step", "int"),
)

_ARTIFACT_COMMON: tuple[_Spec, ...] = (
    *_COMMON,
    ("artifactType", "artifact_type", "str"),
    ("uri", "uri", "str"),
    ("state", "state", "str"),
    ("experimentId", "experiment_id", "int"),
    ("experimentRunId", "experiment_run_id", "int"),
)

_ARTIFACT_SPECIFIC: dict[str, tuple[_Spec, ...]] = {
    "model-artifact": (
        ("modelFormatName", "model_format_name", "str"),
        ("modelFormatVersion", "model_format_version", "str"),
        ("storageKey", "storage_key", "str"),
        ("storagePath", "storage_path", "str"),
        ("serviceAccountName", "service_account_name", "str"),
        ("modelSourceKind", "model_source_kind", "str"),
        ("modelSourceClass", "model_source_class", "str"),
        ("modelSourceGroup", "model_source_group", "str"),
        ("modelSourceId", "model_source_id", "str"),
        ("modelSourceName", "model_source_name", "str"),
    ),
    "doc-artifact": (),
    "dataset-artifact": (
        ("digest", "digest", "str"),
        ("sourceType", "source_type", "str"),
        ("source", "source", "str"),
        ("schema", "schema", "str"),
        ("profile", "profile", "str"),
    ),
    "metric": (
        ("value", "number_value", "float"),
        ("timestamp", "timestamp", "str"),
        ("step", "step", "int"),
    ),
    "parameter": (
        ("value", "string_value", "str"),
        ("parameterType", "parameter_type", "str"),
    ),
}


def _artifact_targets() -> dict[str, Target]:
    targets = {kind: _target(tables.artifacts, *_ARTIFACT_COMMON, *specs) for kind, specs in _ARTIFACT_SPECIFIC.items()}
    everything = [spec for specs in _ARTIFACT_SPECIFIC.values() for spec in specs if spec[0] != "value"]
    # In the union ``value`` is the metric's number; a parameter's value is a string, filter those as "parameter".
    targets["*"] = _target(tables.artifacts, *_ARTIFACT_COMMON, *everything, ("value", "number_value", "float"))
    return targets


_ARTIFACT_TARGETS = _artifact_targets()


def artifact_target(artifact_type: str | None) -> Target:
    """The target for one artifact type; ``None`` (or a type we do not know) gets every artifact field."""
    return _ARTIFACT_TARGETS.get(artifact_type or "*", _ARTIFACT_TARGETS["*"])


ARTIFACT = artifact_target(None)

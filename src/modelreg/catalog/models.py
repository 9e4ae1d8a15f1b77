"""The catalog's immutable shapes. A reload builds new objects and swaps them in whole, so a request never sees a
half-loaded catalog and needs no lock.

Custom properties keep the Kubeflow ``MetadataValue`` wire form (``{"metadataType": "MetadataStringValue",
"string_value": "..."}``), since that is what the API returns and what filterQuery's ``<prop>.<type>_value`` names.
Times are milliseconds since the epoch (the API sends them as strings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MetadataValue = Mapping[str, Any]
REGISTRY_SOURCE_ID = "registry"
REGISTRY_SOURCE_LABEL = "Registered models"


class ArtifactType(StrEnum):
    MODEL = "model-artifact"
    METRICS = "metrics-artifact"


class SourceStatus(StrEnum):
    AVAILABLE = "available"
    PARTIALLY_AVAILABLE = "partially-available"
    ERROR = "error"
    DISABLED = "disabled"


def stable_id(*parts: str) -> str:
    """A decimal id derived from ``parts`` (e.g. source id and model name): the same in every process and after
    every reload, and never below 2**32, so it cannot meet a registry id (registry models use their own id)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return str(2**32 + int.from_bytes(digest, "big") % (2**53 - 2**32))


@dataclass(frozen=True, slots=True)
class CatalogArtifact:
    id: str
    artifact_type: ArtifactType
    uri: str | None = None  # model artifacts
    metrics_type: str | None = None  # metrics artifacts: "performance-metrics" | "accuracy-metrics"
    name: str | None = None
    custom_properties: Mapping[str, MetadataValue] = field(default_factory=dict)
    create_time_ms: int = 0
    last_update_time_ms: int = 0


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """Where a catalog model of the ``registry`` source lives in the registry (the UI links its versions)."""

    registered_model_id: int
    latest_version_id: int | None = None
    latest_version_name: str | None = None
    stage: str | None = None  # the latest version's lifecycle stage
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogModel:
    source_id: str
    name: str  # unique per source; may contain "/" and "."
    id: str
    description: str | None = None
    readme: str | None = None  # Markdown model card
    maturity: str | None = None
    language: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    provider: str | None = None
    logo: str | None = None  # a data: URL (or https URL, never fetched by the server)
    license: str | None = None  # human-readable (licenses.py: "apache-2.0" → "Apache 2.0")
    license_link: str | None = None
    library_name: str | None = None
    custom_properties: Mapping[str, MetadataValue] = field(default_factory=dict)
    create_time_ms: int = 0
    last_update_time_ms: int = 0
    artifacts: tuple[CatalogArtifact, ...] = ()
    registry: RegistryRef | None = None  # set for the registry source only

    @property
    def short_name(self) -> str:
        """The name after its first ``/`` (``ibm-granite/granite-3.1-8b`` → ``granite-3.1-8b``), as cards show."""
        return self.name.split("/", 1)[1] if "/" in self.name else self.name

    @property
    def labels(self) -> tuple[str, ...]:
        """String custom properties whose value is ``""`` (the reference UI's labels, e.g. ``validated``)."""
        return tuple(
            k
            for k, v in self.custom_properties.items()
            if v.get("metadataType", "MetadataStringValue") == "MetadataStringValue" and v.get("string_value") == ""
        )

    @property
    def validated(self) -> bool:
        return "validated" in self.labels

    @property
    def model_uri(self) -> str | None:
        """The first model artifact's URI: the model's location."""
        return next((a.uri for a in self.artifacts if a.artifact_type is ArtifactType.MODEL and a.uri), None)


@dataclass(frozen=True, slots=True)
class Source:
    """A configured source as ``GET /sources`` lists it (disabled ones included)."""

    id: str
    name: str
    enabled: bool = True
    labels: tuple[str, ...] = ()
    included_models: tuple[str, ...] = ()
    excluded_models: tuple[str, ...] = ()
    asset_type: str = "models"
    status: SourceStatus | None = None  # None: not loaded yet
    error: str | None = None
    type: str = "yaml"
    origin: str | None = None  # the sources file that defined it (for the settings page), None for built-ins


@dataclass(frozen=True, slots=True)
class Label:
    """An entry of the sources files' ``labels:`` list; ``name`` None is the label of sources without labels."""

    name: str | None
    display_name: str | None = None
    description: str | None = None
    asset_type: str = "models"
    extra: Mapping[str, Any] = field(default_factory=dict)  # other keys, passed through as-is


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    asset_type: str
    filters: Mapping[str, Mapping[str, Any]]  # field → {"operator": ..., "value": ...}


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: ``next_page_token`` is "" on the last page."""

    items: tuple[Any, ...]
    page_size: int
    next_page_token: str = ""

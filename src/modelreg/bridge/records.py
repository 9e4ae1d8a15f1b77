"""Normalized bridge records: one per live (registered model, model version).

Every source (the local registry, a remote Kubeflow registry) is reduced to these types before any output format
sees it, so the formats never look at Kubeflow wire shapes and both sources render identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True, slots=True)
class Artifact:
    """A model artifact of a version; `uri` is kept verbatim, formats decide whether it is a link."""

    id: str
    name: str
    uri: str | None = None
    description: str = ""
    model_source_class: str | None = None
    model_source_group: str | None = None
    model_source_name: str | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A deployed endpoint of a version (an inference service).

    `name` is the Backstage-safe entity name; `service_name` the raw inference-service name, for display.
    `authentication` is None when the source cannot tell (the registry records do not say; KServe status can).
    """

    id: str
    name: str
    service_name: str
    url: str
    namespace: str | None = None
    internal_url: str | None = None
    authentication: bool | None = None


@dataclass(frozen=True, slots=True)
class WellKnown:
    """The well-known custom properties, version value first, then the model's (None when neither has one)."""

    license: str | None = None
    provider: str | None = None
    registered_from: str | None = None
    source_model: str | None = None
    source_model_version: str | None = None
    ethics: str | None = None
    how_to_use: str | None = None
    support: str | None = None
    training: str | None = None
    usage: str | None = None
    homepage_url: str | None = None
    api_spec: str | None = None
    api_type: str | None = None
    techdocs: str | None = None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One live model version as the bridge publishes it.

    `name` is the Backstage entity name of the version and doubles as its record key: unique per source and
    version, stable across runs, and URL-safe. `model_key` names the registered model (the YAML Component).
    """

    source: str
    registered_model_id: str
    model_version_id: str
    model_name: str
    version_name: str
    name: str
    model_key: str
    description: str
    model_description: str
    owner: str
    lifecycle: str
    last_update: int
    properties: WellKnown = field(default_factory=WellKnown)
    tags: tuple[str, ...] = ()
    model_tags: tuple[str, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def key(self) -> str:
        return self.name


def record_json(record: ModelRecord) -> str:
    """The record as stored beside its JSON document, so the per-model YAML can be rendered when it is read."""
    return orjson.dumps(record).decode()


def record_from_json(text: str | bytes) -> ModelRecord:
    data = orjson.loads(text)
    return ModelRecord(
        **{k: v for k, v in data.items() if k not in ("properties", "tags", "model_tags", "artifacts", "endpoints")},
        properties=WellKnown(**data["properties"]),
        tags=tuple(data["tags"]),
        model_tags=tuple(data["model_tags"]),
        artifacts=tuple(Artifact(**a) for a in data["artifacts"]),
        endpoints=tuple(Endpoint(**e) for e in data["endpoints"]),
    )

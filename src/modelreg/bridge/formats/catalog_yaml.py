"""`CatalogInfoYamlFormat`: Backstage `catalog-info.yaml`, one multi-document file per registered model.

Entities: a `Component` (type `model-server`) for the registered model, a `Resource` (type `ai-model`) per live
version, an `API` per deployed endpoint. One file per model rather than per version, because the Component
would otherwise be emitted by several locations and Backstage rejects an entity claimed twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any

from modelreg.bridge.formats import block_yaml
from modelreg.bridge.formats._common import (
    ANNOTATION_PREFIX,
    api_spec,
    api_type,
    endpoint_annotations,
    http_url,
    link_url,
    record_annotations,
)
from modelreg.bridge.names import unique_tags
from modelreg.bridge.records import Endpoint, ModelRecord

API_VERSION = "backstage.io/v1alpha1"
TECHDOCS_ANNOTATION = "backstage.io/techdocs-ref"


def _link(url: str | None, title: str) -> list[dict[str, str]]:
    return [{"url": url, "title": title}] if url else []


def _metadata(
    name: str,
    title: str,
    description: str,
    tags: Sequence[str],
    links: list[dict[str, str]],
    annotations: dict[str, str],
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "title": title}
    if description:
        meta["description"] = description
    if tags:
        meta["tags"] = list(tags)
    if links:
        meta["links"] = links
    meta["annotations"] = annotations
    return meta


class CatalogInfoYamlFormat:
    """Backstage entities as multi-document YAML (URL locations)."""

    name = "yaml"
    media_type = "application/yaml"
    filename = "catalog-info.yaml"

    def resource(self, record: ModelRecord) -> dict[str, Any]:
        props = record.properties
        links = [
            *({"url": u, "title": f"Artifact {a.name}".strip()} for a in record.artifacts if (u := link_url(a.uri))),
            *_link(link_url(props.license), "License"),
            *_link(link_url(props.how_to_use), "How to use"),
            *_link(link_url(props.homepage_url), "Homepage"),
        ]
        annotations = record_annotations(record)
        if techdocs := http_url(props.techdocs):
            annotations[TECHDOCS_ANNOTATION] = f"url:{techdocs}"
        if props.homepage_url and not link_url(props.homepage_url):
            annotations[f"{ANNOTATION_PREFIX}homepage"] = props.homepage_url
        return {
            "apiVersion": API_VERSION,
            "kind": "Resource",
            "metadata": _metadata(
                record.name,
                f"{record.model_name} {record.version_name}",
                record.description,
                record.tags,
                links,
                annotations,
            ),
            "spec": {
                "type": "ai-model",
                "owner": f"user:{record.owner}",
                "lifecycle": record.lifecycle,
                "dependencyOf": [f"component:{record.model_key}"],
            },
        }

    def api(self, record: ModelRecord, endpoint: Endpoint) -> dict[str, Any]:
        tags = list(record.tags)
        if endpoint.authentication is not None:
            tags.append("auth-required" if endpoint.authentication else "auth-not-required")
        return {
            "apiVersion": API_VERSION,
            "kind": "API",
            "metadata": _metadata(
                endpoint.name,
                endpoint.service_name,
                record.description,
                unique_tags(tags),
                _link(endpoint.url, "API"),
                endpoint_annotations(endpoint),
            ),
            "spec": {
                "type": api_type(record),
                "lifecycle": record.lifecycle,
                "owner": f"user:{record.owner}",
                "definition": api_spec(record),
            },
        }

    def component(self, records: Sequence[ModelRecord]) -> dict[str, Any]:
        """The registered model; owner and lifecycle follow its most recently updated version."""
        latest = max(records, key=lambda r: (r.last_update, r.model_version_id))
        spec: dict[str, Any] = {
            "type": "model-server",
            "lifecycle": latest.lifecycle,
            "owner": f"user:{latest.owner}",
            "dependsOn": [f"resource:{r.name}" for r in records],
        }
        apis = [f"api:{e.name}" for r in records for e in self._endpoints(r)]
        if apis:
            spec["providesApis"] = apis
        annotations = {
            f"{ANNOTATION_PREFIX}registered-model": latest.model_name,
            f"{ANNOTATION_PREFIX}registered-model-id": latest.registered_model_id,
        }
        if latest.source:
            annotations[f"{ANNOTATION_PREFIX}source"] = latest.source
        links = [{"url": e.url, "title": f"API {e.service_name}"} for r in records for e in self._endpoints(r)]
        return {
            "apiVersion": API_VERSION,
            "kind": "Component",
            "metadata": _metadata(
                latest.model_key, latest.model_name, latest.model_description, latest.model_tags, links, annotations
            ),
            "spec": spec,
        }

    @staticmethod
    def _endpoints(record: ModelRecord) -> list[Endpoint]:
        return [e for e in record.endpoints if link_url(e.url)]

    def entities(self, records: Sequence[ModelRecord]) -> list[dict[str, Any]]:
        """All entities of one registered model's live versions (records must share `model_key`)."""
        entities = [self.component(records)]
        for record in records:
            entities.append(self.resource(record))
            entities.extend(self.api(record, e) for e in self._endpoints(record))
        return entities

    def render(self, records: Sequence[ModelRecord]) -> bytes:
        return block_yaml.dump_all(self.entities(records))

    def export(self, records: Iterable[ModelRecord]) -> dict[str, bytes]:
        """Model key → YAML bytes; records of one model are grouped whatever their order."""
        ordered = sorted(records, key=lambda r: (r.model_key, r.model_name, r.version_name))
        return {key: self.render(list(group)) for key, group in groupby(ordered, key=lambda r: r.model_key)}

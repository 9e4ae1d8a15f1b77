"""`JsonArrayFormat`: one model-catalog JSON document per model version.

The shape is the shared model catalog schema; the Backstage module (0.7.0 and 1.1.0) turns it into entities, so
every value it turns into a link must be a URL (reference bug §7.8) and names must already be valid object names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from modelreg.bridge.formats._common import (
    ANNOTATION_PREFIX,
    api_spec,
    api_type,
    artifact_url,
    endpoint_annotations,
    http_url,
    link_url,
    record_annotations,
)
from modelreg.bridge.records import Endpoint, ModelRecord


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value:
        target[key] = value


class JsonArrayFormat:
    """Model catalog JSON: `{"models": [one model], "modelServer": {...}}`, the server only when deployed."""

    name = "json"
    media_type = "application/json"
    filename = "model-catalog.json"

    def model(self, record: ModelRecord) -> dict[str, Any]:
        props = record.properties
        annotations = record_annotations(record)
        _put(annotations, "TechDocs", http_url(props.techdocs))
        model: dict[str, Any] = {
            "name": record.name,
            "description": record.description,
            "owner": record.owner,
            "lifecycle": record.lifecycle,
        }
        _put(model, "artifactLocationURL", artifact_url(record))
        _put(model, "license", link_url(props.license))
        _put(model, "howToUseURL", link_url(props.how_to_use))
        _put(model, "ethics", props.ethics)
        _put(model, "support", props.support)
        _put(model, "training", props.training)
        _put(model, "usage", props.usage)
        _put(model, "tags", list(record.tags))
        model["annotations"] = annotations
        return model

    def model_server(self, record: ModelRecord, endpoint: Endpoint) -> dict[str, Any]:
        """The schema allows one server per document, so a version deployed twice shows its first endpoint."""
        props = record.properties
        api: dict[str, Any] = {"url": endpoint.url, "type": api_type(record), "spec": api_spec(record)}
        _put(api, "tags", list(record.tags))
        api["annotations"] = endpoint_annotations(endpoint)
        server: dict[str, Any] = {
            "name": endpoint.name,
            "owner": record.owner,
            "lifecycle": record.lifecycle,
            "description": record.description,
            "API": api,
        }
        if endpoint.authentication is not None:
            server["authentication"] = endpoint.authentication
        _put(server, "homepageURL", link_url(props.homepage_url))
        _put(server, "usage", props.usage)
        _put(server, "tags", list(record.tags))
        if props.homepage_url and not link_url(props.homepage_url):
            server["annotations"] = {f"{ANNOTATION_PREFIX}homepage": props.homepage_url}
        return server

    def document(self, record: ModelRecord) -> dict[str, Any]:
        doc: dict[str, Any] = {"models": [self.model(record)]}
        endpoint = next((e for e in record.endpoints if link_url(e.url)), None)
        if endpoint is not None:
            doc["modelServer"] = self.model_server(record, endpoint)
        return doc

    def render(self, record: ModelRecord) -> bytes:
        return orjson.dumps(self.document(record))

    def export(self, records: Iterable[ModelRecord]) -> dict[str, bytes]:
        """Record key → document bytes."""
        return {r.key: self.render(r) for r in records}

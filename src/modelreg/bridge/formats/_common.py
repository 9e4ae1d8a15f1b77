"""What both output formats share: link-URL checks, API type, annotations."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from modelreg.bridge.records import Endpoint, ModelRecord

ANNOTATION_PREFIX = "modelreg.io/"
MODEL_NAME_ANNOTATION = "rhdh.modelcatalog.io/model-name"
INTERNAL_URL_ANNOTATION = "rhdh.modelcatalog.io/internal-service-url"
EXTERNAL_URL_ANNOTATION = "rhdh.modelcatalog.io/external-route-url"
API_TYPES = frozenset({"openapi", "asyncapi", "graphql", "grpc"})
NO_API_SPEC = "No API definition registered (set the model's 'API Spec' property)."

_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_SPECIAL_SCHEMES = frozenset({"http", "https", "ftp", "ws", "wss"})


def link_url(value: str | None) -> str | None:
    """`value` if Backstage will accept it as a link URL, else None.

    A strict subset of what WHATWG `new URL()` parses: `scheme://` and no whitespace, plus a host for the schemes
    the URL standard calls special. Prose such as `Apache-2` is refused; `s3://` and `oci://` pass.
    """
    if value is None:
        return None
    value = value.strip()
    if not _SCHEME_RE.match(value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port, which WHATWG rejects too
    except ValueError:
        return None
    if parts.scheme.lower() in _SPECIAL_SCHEMES and not parts.hostname:
        return None
    return value


def http_url(value: str | None) -> str | None:
    url = link_url(value)
    return url if url and urlsplit(url).scheme.lower() in ("http", "https") else None


def api_type(record: ModelRecord) -> str:
    value = (record.properties.api_type or "").strip().lower()
    return value if value in API_TYPES else "openapi"


def api_spec(record: ModelRecord) -> str:
    spec = record.properties.api_spec
    return spec if spec and spec.strip() else NO_API_SPEC


def artifact_url(record: ModelRecord) -> str | None:
    return next((u for u in (link_url(a.uri) for a in record.artifacts) if u), None)


def record_annotations(record: ModelRecord) -> dict[str, str]:
    """Provenance, plus the text of link-valued properties that are not URLs so that nothing is lost."""
    notes = {
        MODEL_NAME_ANNOTATION: record.name,
        f"{ANNOTATION_PREFIX}registered-model": record.model_name,
        f"{ANNOTATION_PREFIX}registered-model-id": record.registered_model_id,
        f"{ANNOTATION_PREFIX}model-version": record.version_name,
        f"{ANNOTATION_PREFIX}model-version-id": record.model_version_id,
    }
    if record.source:
        notes[f"{ANNOTATION_PREFIX}source"] = record.source
    props = record.properties
    for key, value in (("license", props.license), ("how-to-use", props.how_to_use)):
        if value and not link_url(value):
            notes[f"{ANNOTATION_PREFIX}{key}"] = value
    first_uri = next((a.uri for a in record.artifacts if a.uri), None)
    if first_uri and not link_url(first_uri):
        notes[f"{ANNOTATION_PREFIX}artifact-location"] = first_uri
    return notes


def endpoint_annotations(endpoint: Endpoint) -> dict[str, str]:
    notes = {f"{ANNOTATION_PREFIX}inference-service": endpoint.service_name}
    if endpoint.namespace:
        notes[f"{ANNOTATION_PREFIX}namespace"] = endpoint.namespace
    if endpoint.internal_url:
        notes[INTERNAL_URL_ANNOTATION] = endpoint.internal_url
    if endpoint.url != endpoint.internal_url:
        notes[EXTERNAL_URL_ANNOTATION] = endpoint.url
    return notes

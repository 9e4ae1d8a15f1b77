"""Backstage's entity rules (catalog-model, behaviour doc §6.3) and the 0.7.0 JSON → entity mapping (§6.2), in Python.

Not the real validator (that runs under node later); a strict port of the rules the bridge output must meet.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from modelreg.bridge.names import is_valid_object_name, is_valid_tag

_KIND_RE = re.compile(r"^[a-zA-Z][a-z0-9A-Z]*$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_REF_RE = re.compile(r"^(?:([a-zA-Z][a-z0-9A-Z]*):)?(?:([^:/]+)/)?([^:/]+)$")
_ROOT_FIELDS = {"apiVersion", "kind", "metadata", "spec", "relations", "status"}
_REQUIRED_SPEC = {
    "Component": ("type", "lifecycle", "owner"),
    "Resource": ("type", "owner"),
    "API": ("type", "lifecycle", "owner", "definition"),
}


def _valid_dns_subdomain(value: str) -> bool:
    return 1 <= len(value) <= 253 and all(len(p) <= 63 and _DNS_LABEL_RE.match(p) for p in value.split("."))


def valid_annotation_key(key: str) -> bool:
    parts = key.split("/")
    if len(parts) == 1:
        return is_valid_object_name(key)
    return len(parts) == 2 and _valid_dns_subdomain(parts[0]) and is_valid_object_name(parts[1])


def valid_url(value: str) -> bool:
    """Close to WHATWG `new URL()` for absolute URLs: a scheme, no spaces, a host for special schemes."""
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", value) or re.search(r"\s", value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018
    except ValueError:
        return False
    return not (parts.scheme in ("http", "https", "ftp", "ws", "wss") and not parts.hostname)


def valid_ref(ref: str) -> bool:
    match = _REF_RE.match(ref)
    return bool(match and is_valid_object_name(match.group(3)))


def entity_errors(entity: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    if set(entity) - _ROOT_FIELDS:
        errors.append(f"unknown root fields {set(entity) - _ROOT_FIELDS}")
    if entity.get("apiVersion") not in ("backstage.io/v1alpha1", "backstage.io/v1beta1"):
        errors.append("apiVersion")
    kind = entity.get("kind", "")
    if not _KIND_RE.match(kind) or kind not in _REQUIRED_SPEC:
        errors.append(f"kind {kind!r}")
    meta = entity.get("metadata", {})
    name = meta.get("name")
    if not isinstance(name, str) or not is_valid_object_name(name):
        errors.append(f"name {name!r}")
    namespace = meta.get("namespace", "default")
    if not (len(namespace) <= 63 and _DNS_LABEL_RE.match(namespace)):
        errors.append(f"namespace {namespace!r}")
    for tag in meta.get("tags", []):
        if not isinstance(tag, str) or not is_valid_tag(tag):
            errors.append(f"tag {tag!r}")
    for key, value in meta.get("annotations", {}).items():
        if not valid_annotation_key(key) or not isinstance(value, str):
            errors.append(f"annotation {key!r}")
    for key, value in meta.get("labels", {}).items():
        if not valid_annotation_key(key) or not (value == "" or is_valid_object_name(value)):
            errors.append(f"label {key!r}")
    for link in meta.get("links", []):
        if not isinstance(link.get("url"), str) or not valid_url(link["url"]):
            errors.append(f"link url {link.get('url')!r}")
        if "title" in link and not (isinstance(link["title"], str) and link["title"]):
            errors.append("empty link title")
        if "icon" in link and not is_valid_object_name(link["icon"]):
            errors.append("link icon")
    for key in ("title", "description"):
        if key in meta and not isinstance(meta[key], str):
            errors.append(key)
    spec = entity.get("spec", {})
    for key in _REQUIRED_SPEC.get(kind, ()):
        if not isinstance(spec.get(key), str) or not spec[key]:
            errors.append(f"spec.{key}")
    for key in ("dependsOn", "dependencyOf", "providesApis", "consumesApis"):
        for ref in spec.get(key, []):
            if not valid_ref(ref):
                errors.append(f"spec.{key} ref {ref!r}")
    if "owner" in spec and not valid_ref(spec["owner"]):
        errors.append(f"owner ref {spec['owner']!r}")
    return errors


def _strip(value: str) -> str:
    return re.sub(r"\s", "", value)


def _sanitize_tags(tags: list[str] | None) -> list[str]:
    return [t for t in (_strip(t) for t in tags or []) if is_valid_tag(t)]


def entities_from_catalog(catalog: dict[str, Any]) -> list[dict[str, Any]]:
    """What the 0.7.0 model-catalog module generates from one model catalog document (§6.2)."""
    server = catalog.get("modelServer")
    entities: list[dict[str, Any]] = []
    for model in catalog["models"]:
        links = [
            {"title": t, "url": model[k]}
            for k, t in (
                ("artifactLocationURL", "Artifact Location"),
                ("howToUseURL", "How to use"),
                ("license", "License"),
            )
            if k in model
        ]
        annotations = {k: v for k, v in model.get("annotations", {}).items() if k != "TechDocs"}
        techdocs = model.get("annotations", {}).get("TechDocs", "").strip()
        if techdocs:
            annotations["backstage.io/techdocs-ref"] = f"url:{techdocs}"
        entities.append(
            {
                "apiVersion": "backstage.io/v1beta1",
                "kind": "Resource",
                "metadata": {
                    "name": _strip(model["name"]),
                    "description": model["description"],
                    "tags": _sanitize_tags(model.get("tags")),
                    "links": links,
                    "annotations": annotations,
                },
                "spec": {
                    "owner": f"user:{model['owner']}",
                    "type": "ai-model",
                    "dependencyOf": [f"component:{server['name']}"] if server else [],
                },
            }
        )
    if server:
        auth = "auth-required" if server.get("authentication") else "auth-not-required"
        api = server.get("API")
        links = ([{"title": "API", "url": api["url"]}] if api else []) + (
            [{"title": "Homepage", "url": server["homepageURL"]}] if "homepageURL" in server else []
        )
        entities.append(
            {
                "apiVersion": "backstage.io/v1beta1",
                "kind": "Component",
                "metadata": {
                    "name": _strip(server["name"]),
                    "description": server["description"],
                    "tags": [*_sanitize_tags(server.get("tags")), auth],
                    "links": links,
                    "annotations": {**(api or {}).get("annotations", {}), **server.get("annotations", {})},
                },
                "spec": {
                    "type": "model-server",
                    "lifecycle": server["lifecycle"],
                    "owner": f"user:{server['owner']}",
                    "dependsOn": [f"resource:{_strip(m['name'])}" for m in catalog["models"]],
                    "providesApis": [server["name"]] if api else [],
                },
            }
        )
        if api:
            entities.append(
                {
                    "apiVersion": "backstage.io/v1beta1",
                    "kind": "API",
                    "metadata": {
                        "name": _strip(server["name"]),
                        "tags": [*_sanitize_tags(api.get("tags")), auth],
                        "links": [{"url": api["url"], "title": "API"}],
                    },
                    "spec": {
                        "type": api["type"],
                        "owner": f"user:{server['owner']}",
                        "lifecycle": server["lifecycle"],
                        "definition": api["spec"],
                    },
                }
            )
    return entities

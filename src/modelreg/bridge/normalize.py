"""Kubeflow Model Registry REST shapes → `ModelRecord`s.

Input is the JSON the `/api/model_registry/v1alpha3` endpoints return, so the local registry and any remote one
normalize through the same code. Pure: no I/O; the caller fetches and passes a `RegistrySnapshot`.

This is also where credentials leave: every URL and text a record carries goes through `modelreg.redact`, so the
stored records, every output format and the model cards are safe to publish whatever a registry user wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from modelreg.bridge.names import backstage_name, owner_name, unique_tags
from modelreg.bridge.records import Artifact, Endpoint, ModelRecord, WellKnown
from modelreg.redact import is_secret_parameter, public_text, public_url
from modelreg.wire import SCALAR_TYPES, VALUE_KEYS

Json = Mapping[str, Any]

FALLBACK_OWNER = "rhdh-rhoai-bridge"
FALLBACK_LIFECYCLE = "development"

# Custom property key → WellKnown field. Both spellings of "Registered from" exist in the wild.
WELL_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "license": ("License",),
    "provider": ("Provider",),
    "registered_from": ("Registered from", "Registered From"),
    "source_model": ("Source model",),
    "source_model_version": ("Source model version",),
    "ethics": ("Ethics",),
    "how_to_use": ("How to use",),
    "support": ("Support",),
    "training": ("Training",),
    "usage": ("Usage",),
    "homepage_url": ("Homepage URL",),
    "api_spec": ("API Spec",),
    "api_type": ("API Type",),
    "techdocs": ("TechDocs",),
}
URL_FIELDS = frozenset({"homepage_url", "techdocs"})  # always a URL; the others may be prose or a link
OWNER_KEY = "Owner"
LIFECYCLE_KEY = "Lifecycle"

# Keys whose (lower-cased) value is itself the tag, as the RHOAI model catalog sets them.
VALUE_TAG_KEYS = frozenset(
    {
        "Source model version",
        "Source model",
        "Registered from",
        "Registered From",
        "Provider",
        "API Type",
        "_registeredFromCatalogRepositoryName",
    }
)
# Never tags: link-valued, and the other internal `_` keys (`_lastModified` would change the tags on every edit).
NON_TAG_KEYS = frozenset({"License", "TechDocs"})

_SCALAR_FIELDS = {wire: key for wire, key in VALUE_KEYS.items() if wire in SCALAR_TYPES}


@dataclass(frozen=True, slots=True)
class Defaults:
    """Fallback owner and lifecycle (the reference's DEFAULT_OWNER / DEFAULT_LIFECYCLE)."""

    owner: str = FALLBACK_OWNER
    lifecycle: str = FALLBACK_LIFECYCLE

    @classmethod
    def create(cls, owner: str | None = None, lifecycle: str | None = None) -> Defaults:
        """Sanitize configured values; an empty or unusable value falls back like the reference."""
        return cls(owner=owner_name(owner) or FALLBACK_OWNER, lifecycle=owner_name(lifecycle) or FALLBACK_LIFECYCLE)


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """What one registry returned, as REST JSON: lists of each kind, artifacts grouped by model version id."""

    registered_models: Sequence[Json] = ()
    model_versions: Sequence[Json] = ()
    artifacts_by_version: Mapping[str, Sequence[Json]] = field(default_factory=dict)
    inference_services: Sequence[Json] = ()
    serving_environments: Sequence[Json] = ()


# Turns an inference service (+ its serving environment) into an endpoint URL set: `registry_endpoint` from the
# registry's own fields, or `kserve.py`'s resolver from the cluster's status. Returning None means "no usable endpoint".
EndpointResolver = Callable[[Json, Json | None], Endpoint | None]


def string_property(props: Json | None, key: str) -> str | None:
    """A custom property's string value; other types count as absent, like the reference."""
    value = props.get(key) if props else None
    if value is None:  # most look-ups: no such property (and no costly Mapping check)
        return None
    if isinstance(value, Mapping) and value.get("metadataType") == "MetadataStringValue":
        text = value.get("string_value")
        if isinstance(text, str):
            return text
    return None


def scalar_property(value: Any) -> str | None:
    """A custom property value as text (strings, ints, doubles, bools); None for struct/proto values."""
    if not isinstance(value, Mapping):
        return None
    attr = _SCALAR_FIELDS.get(str(value.get("metadataType")))
    raw = value.get(attr) if attr else None
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _lookup(version_props: Json | None, model_props: Json | None, keys: Iterable[str]) -> str | None:
    """Version value first, then the model's; an empty string counts as unset."""
    for props in (version_props, model_props):
        for key in keys:
            value = string_property(props, key)
            if value is not None and value.strip():
                return value
    return None


# Property key → (field, rank among the field's spellings), to visit only the keys an entity has.
_WELL_KNOWN_BY_KEY = {key: (attr, rank) for attr, keys in WELL_KNOWN_KEYS.items() for rank, key in enumerate(keys)}


def _well_known_values(version_props: Json | None, model_props: Json | None) -> dict[str, str | None]:
    """What `_lookup` finds for every well-known field (version first, then model; the first spelling first),
    visiting the properties an entity has rather than every spelling of every field (this runs per version)."""
    found: dict[str, str | None] = {}
    for props in (version_props, model_props):
        if not props:
            continue
        present = sorted((_WELL_KNOWN_BY_KEY[key][1], key) for key in props.keys() & _WELL_KNOWN_BY_KEY.keys())
        for _, key in present:
            attr = _WELL_KNOWN_BY_KEY[key][0]
            if attr not in found:
                value = string_property(props, key)
                if value is not None and value.strip():
                    found[attr] = value
    return {attr: found.get(attr) for attr in WELL_KNOWN_KEYS}


def well_known(version_props: Json | None, model_props: Json | None) -> WellKnown:
    found = _well_known_values(version_props, model_props)
    return WellKnown(**{attr: _public(value, url=attr in URL_FIELDS) for attr, value in found.items()})


def _public(value: str | None, *, url: bool = False) -> str | None:
    """`value` as it may be published: credentials out of the URL (``url``) or of every URL in the text."""
    if value is None:
        return None
    return (public_url(value) if url else public_text(value)) or None


def resolve_owner(version_props: Json | None, model: Json, defaults: Defaults) -> str:
    """`Owner` property → the model's `owner` field → the configured default."""
    return (
        owner_name(_lookup(version_props, model.get("customProperties"), (OWNER_KEY,)))
        or owner_name(model.get("owner"))
        or defaults.owner
    )


def resolve_lifecycle(version_props: Json | None, model_props: Json | None, defaults: Defaults) -> str:
    """`Lifecycle` property (the governance stage) → the configured default."""
    return owner_name(_lookup(version_props, model_props, (LIFECYCLE_KEY,))) or defaults.lifecycle


def property_tags(props: Json | None) -> dict[str, str]:
    """Tag candidates keyed by property key, so a later layer (version, artifact) overrides an earlier one."""
    tags: dict[str, str] = {}
    for key, value in (props or {}).items():
        if key in NON_TAG_KEYS or (key.startswith("_") and key not in VALUE_TAG_KEYS):
            continue
        text = scalar_property(value)
        if is_secret_parameter(key, text or ""):
            continue  # `apikey-abc123` would publish the key
        if key in VALUE_TAG_KEYS:
            if text:
                tags[key] = text.strip().lower()
        elif text is None or not text.strip():
            tags[key] = key
        else:
            tags[key] = f"{key}-{text.strip().lower()}"
    return tags


def _tags(*layers: Json | None, base: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Tags of property layers, later ones overriding earlier ones by key; `base`: an earlier layer's already
    computed `property_tags` (the model's, once per model)."""
    merged: dict[str, str] = dict(base or {})
    for props in layers:
        merged.update(property_tags(props))
    return unique_tags(merged.values())


def _is_live(entity: Json) -> bool:
    return bool(entity.get("state", "LIVE") != "ARCHIVED")


def _epoch(entity: Json) -> int:
    try:
        return int(entity.get("lastUpdateTimeSinceEpoch") or 0)
    except (TypeError, ValueError):
        return 0


def _description(*texts: str | None) -> str:
    return public_text("\n\n".join(t.strip() for t in texts if t and t.strip()))


def registry_endpoint(source: str) -> EndpointResolver:
    """The default resolver: the inference service's `url` custom property, as the KServe controller writes it."""

    def resolve(service: Json, environment: Json | None) -> Endpoint | None:
        url = string_property(service.get("customProperties"), "url")
        if not url or not url.strip():
            return None
        namespace = environment.get("name") if environment else None
        service_name = str(service.get("runtime") or service.get("name") or service.get("id"))
        parts = [p for p in (source, namespace or "", service_name) if p]
        return Endpoint(
            id=str(service.get("id")),
            name=backstage_name(*parts),
            service_name=service_name,
            url=url.strip(),
            namespace=namespace,
        )

    return resolve


def _public_endpoint(endpoint: Endpoint) -> Endpoint:
    """Whichever resolver made it (registry property, KServe status), an endpoint is published without credentials."""
    return replace(endpoint, url=public_url(endpoint.url), internal_url=_public(endpoint.internal_url, url=True))


def _artifact(raw: Json) -> Artifact:
    return Artifact(
        id=str(raw.get("id")),
        name=public_text(str(raw.get("name") or "")),
        uri=_public(raw.get("uri") or None, url=True),
        description=public_text(raw.get("description") or ""),
        model_source_class=raw.get("modelSourceClass"),
        model_source_group=raw.get("modelSourceGroup"),
        model_source_name=raw.get("modelSourceName"),
    )


def normalize(
    snapshot: RegistrySnapshot,
    *,
    source: str = "",
    defaults: Defaults | None = None,
    endpoint_resolver: EndpointResolver | None = None,
    pace: Callable[[], None] | None = None,
) -> list[ModelRecord]:
    """One record per live version of a live model, sorted by (model name, version name) for stable output.

    `source` is empty for the local registry and a short name for others; it becomes the first name part, so
    the same model in two registries gets two distinct entities.
    """
    defaults = defaults or Defaults()
    resolve = endpoint_resolver or registry_endpoint(source)
    models = {str(m.get("id")): m for m in snapshot.registered_models if _is_live(m)}
    environments = {str(e.get("id")): e for e in snapshot.serving_environments}
    services_by_version: dict[str, list[Json]] = {}
    for service in snapshot.inference_services:
        if service.get("desiredState", "DEPLOYED") == "DEPLOYED" and _is_live(service):
            services_by_version.setdefault(str(service.get("modelVersionId")), []).append(service)

    prefix = (source,) if source else ()
    records: list[ModelRecord] = []
    per_model: dict[str, tuple[str, str, tuple[str, ...], dict[str, str]]] = {}  # what each version repeats
    for version in snapshot.model_versions:
        if pace is not None:
            pace()  # a background caller hands the GIL back now and then (bridge/pacing.py)
        model = models.get(str(version.get("registeredModelId")))
        if model is None or not _is_live(version):
            continue
        version_id = str(version.get("id"))
        model_props = model.get("customProperties")
        version_props = version.get("customProperties")
        raw_artifacts = snapshot.artifacts_by_version.get(version_id, ())
        endpoints = []
        for service in sorted(services_by_version.get(version_id, ()), key=lambda s: str(s.get("id"))):
            endpoint = resolve(service, environments.get(str(service.get("servingEnvironmentId"))))
            if endpoint is not None:
                endpoints.append(_public_endpoint(endpoint))
        model_name, version_name = str(model.get("name")), str(version.get("name"))
        model_id = str(model.get("id"))
        if model_id not in per_model:
            model_layer = property_tags(model_props)
            model_description = _description(model.get("description"))
            model_tags = unique_tags(model_layer.values())
            per_model[model_id] = (backstage_name(*prefix, model_name), model_description, model_tags, model_layer)
        model_key, model_description, model_tags, model_layer = per_model[model_id]
        layers = [version_props, *(a.get("customProperties") for a in raw_artifacts)]
        records.append(
            ModelRecord(
                source=source,
                registered_model_id=model_id,
                model_version_id=version_id,
                model_name=model_name,
                version_name=version_name,
                name=backstage_name(*prefix, model_name, version_name),
                model_key=model_key,
                description=_description(model.get("description"), version.get("description")),
                model_description=model_description,
                owner=resolve_owner(version_props, model, defaults),
                lifecycle=resolve_lifecycle(version_props, model_props, defaults),
                last_update=max(_epoch(model), _epoch(version)),
                properties=well_known(version_props, model_props),
                tags=_tags(*layers, base=model_layer),
                model_tags=model_tags,
                artifacts=tuple(_artifact(a) for a in raw_artifacts),
                endpoints=tuple(endpoints),
            )
        )
    records.sort(key=lambda r: (r.model_name, r.version_name, r.name))
    return records

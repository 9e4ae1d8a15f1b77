"""Catalog shapes → the contract's wire dicts (``CatalogModel``, ``CatalogArtifact``, ``CatalogSource``,
``CatalogLabel``): the only place that knows both. Times are strings of epoch milliseconds, absent fields are left
out, and every model carries its ``source_id``."""

from __future__ import annotations

from typing import Any

from modelreg.catalog.models import ArtifactType, CatalogArtifact, CatalogModel, Label, Page, Source


def _optional(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body.update((k, v) for k, v in fields.items() if v is not None and v != ())
    return body


def model(m: CatalogModel) -> dict[str, Any]:
    body: dict[str, Any] = {"id": m.id, "name": m.name, "source_id": m.source_id}
    _optional(
        body,
        description=m.description,
        readme=m.readme,
        maturity=m.maturity,
        language=list(m.language) or None,
        tasks=list(m.tasks) or None,
        provider=m.provider,
        logo=m.logo,
        license=m.license,
        licenseLink=m.license_link,
        libraryName=m.library_name,
    )
    body["customProperties"] = dict(m.custom_properties)
    body["createTimeSinceEpoch"] = str(m.create_time_ms)
    body["lastUpdateTimeSinceEpoch"] = str(m.last_update_time_ms)
    return body


def artifact(a: CatalogArtifact) -> dict[str, Any]:
    body: dict[str, Any] = {"artifactType": a.artifact_type.value, "id": a.id}
    if a.artifact_type is ArtifactType.MODEL:
        body["uri"] = a.uri or ""
    else:
        _optional(body, metricsType=a.metrics_type)
    _optional(body, name=a.name)
    body["customProperties"] = dict(a.custom_properties)
    body["createTimeSinceEpoch"] = str(a.create_time_ms)
    body["lastUpdateTimeSinceEpoch"] = str(a.last_update_time_ms)
    return body


def source(s: Source) -> dict[str, Any]:
    body: dict[str, Any] = {"id": s.id, "name": s.name, "enabled": s.enabled, "labels": list(s.labels)}
    _optional(body, includedModels=list(s.included_models) or None, excludedModels=list(s.excluded_models) or None)
    body["assetType"] = s.asset_type
    if s.status is not None:  # not known until the source has been loaded once
        body["status"] = s.status.value
        body["error"] = s.error
    return body


def label(lb: Label) -> dict[str, Any]:
    """The sources file's entry as written: extra keys pass through, ``assetType`` only when it is not the default."""
    body: dict[str, Any] = {**lb.extra, "name": lb.name}
    _optional(body, displayName=lb.display_name, description=lb.description)
    if lb.asset_type != "models":
        body["assetType"] = lb.asset_type
    return body


def page(p: Page, convert: Any) -> dict[str, Any]:
    items = [convert(item) for item in p.items]
    return {"items": items, "size": len(items), "pageSize": p.page_size, "nextPageToken": p.next_page_token}

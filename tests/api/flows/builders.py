"""Small data builders for the API tests: each returns the created entity's JSON."""

from __future__ import annotations

from typing import Any

import httpx


def ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def model(api: httpx.Client, name: str = "model", **fields: Any) -> dict[str, Any]:
    return ok(api.post("/registered_models", json={"name": name, **fields}))


def version(api: httpx.Client, model_id: str, name: str = "v1", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "registeredModelId": model_id, **fields}
    return ok(api.post(f"/registered_models/{model_id}/versions", json=body))


def artifact(api: httpx.Client, version_id: str, name: str = "weights", **fields: Any) -> dict[str, Any]:
    body = {"artifactType": "model-artifact", "name": name, "uri": f"s3://bucket/{name}", **fields}
    response = api.post(f"/model_versions/{version_id}/artifacts", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def prop(value: Any) -> dict[str, Any]:
    """A custom property value as the wire format types it."""
    if isinstance(value, bool):
        return {"metadataType": "MetadataBoolValue", "bool_value": value}
    if isinstance(value, int):
        return {"metadataType": "MetadataIntValue", "int_value": str(value)}
    if isinstance(value, float):
        return {"metadataType": "MetadataDoubleValue", "double_value": value}
    return {"metadataType": "MetadataStringValue", "string_value": value}


def props(**values: Any) -> dict[str, Any]:
    return {k: prop(v) for k, v in values.items()}


def names(listing: httpx.Response) -> list[str]:
    body = ok(listing, 200)
    return [item["name"] for item in body["items"]]

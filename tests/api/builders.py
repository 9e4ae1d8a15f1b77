"""Small data builders and assertion helpers for the API tests: each builder returns the created entity's JSON."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import httpx


def ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    """The JSON body of a response that must have ``status``."""
    assert response.status_code == status, (response.request.method, str(response.request.url), response.text)
    return response.json()


def error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """Assert an error response: status, the ``{"code", "message"}`` body, and fragments of the message."""
    assert response.status_code == status, (response.request.method, str(response.request.url), response.text)
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert isinstance(body["message"], str) and body["message"], body
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body)
    return body


def upserted(response: httpx.Response) -> dict[str, Any]:
    """An artifact POSTed to a version or run: 201 created or 200 updated."""
    assert response.status_code in (200, 201), (str(response.request.url), response.text)
    return response.json()


# --- registry entities -----------------------------------------------------------------------------------------


def model(api: httpx.Client, name: str = "model", **fields: Any) -> dict[str, Any]:
    return ok(api.post("/registered_models", json={"name": name, **fields}))


def version(api: httpx.Client, model_id: str, name: str = "v1", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "registeredModelId": model_id, **fields}
    return ok(api.post(f"/registered_models/{model_id}/versions", json=body))


def model_with_version(api: httpx.Client, name: str = "model", version_name: str = "v1") -> tuple[dict, dict]:
    m = model(api, name)
    return m, version(api, m["id"], version_name)


def artifact(api: httpx.Client, version_id: str, name: str = "weights", **fields: Any) -> dict[str, Any]:
    """A model artifact under a version (other types: pass ``artifactType`` and its fields)."""
    body: dict[str, Any] = {"artifactType": "model-artifact", "name": name, **fields}
    if body["artifactType"] in ("model-artifact", "doc-artifact", "dataset-artifact"):
        body.setdefault("uri", f"s3://bucket/{name}")
    return upserted(api.post(f"/model_versions/{version_id}/artifacts", json=body))


def environment(api: httpx.Client, name: str = "prod", **fields: Any) -> dict[str, Any]:
    return ok(api.post("/serving_environments", json={"name": name, **fields}))


def inference_service(api: httpx.Client, env_id: str, model_id: str, **fields: Any) -> dict[str, Any]:
    body = {"servingEnvironmentId": env_id, "registeredModelId": model_id, **fields}
    return ok(api.post("/inference_services", json=body))


def experiment(api: httpx.Client, name: str = "exp", **fields: Any) -> dict[str, Any]:
    return ok(api.post("/experiments", json={"name": name, **fields}))


def run(api: httpx.Client, experiment_id: str, name: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"experimentId": experiment_id, **fields}
    if name is not None:
        body["name"] = name
    return ok(api.post("/experiment_runs", json=body))


def log_metric(api: httpx.Client, run_id: str, name: str, value: float, step: int = 0, **fields: Any) -> dict:
    body = {"artifactType": "metric", "name": name, "value": value, "step": step, **fields}
    return upserted(api.post(f"/experiment_runs/{run_id}/artifacts", json=body))


# --- custom properties -----------------------------------------------------------------------------------------


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


# --- lists -----------------------------------------------------------------------------------------------------


def listing(api: httpx.Client, path: str, **params: str) -> dict[str, Any]:
    """A list response (checking its shape); a query string in ``path`` is merged with ``params``."""
    path, _, query = path.partition("?")
    body = ok(api.get(path, params={**dict(parse_qsl(query)), **params}), 200)
    assert {"items", "size", "pageSize", "nextPageToken"} <= set(body), body
    assert body["size"] == len(body["items"]), body
    return body


def names(response: httpx.Response) -> list[str]:
    body = ok(response, 200)
    return [item["name"] for item in body["items"]]


def listed_names(api: httpx.Client, path: str, **params: str) -> list[str]:
    return [item["name"] for item in listing(api, path, **params)["items"]]


def all_pages(api: httpx.Client, path: str, **params: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every item of a listing, following ``nextPageToken``; also returns the tokens seen."""
    items: list[dict[str, Any]] = []
    tokens: list[str] = []
    token = params.pop("nextPageToken", "")
    for _ in range(1000):
        body = listing(api, path, **params, nextPageToken=token)
        items += body["items"]
        token = body["nextPageToken"]
        tokens.append(token)
        if not token:
            return items, tokens
    raise AssertionError(f"{path}: pagination never ended")

"""What sits around the registry API: the v1 prefix, health, the OpenAPI document, content types."""

from __future__ import annotations

import httpx

from api.flows.builders import ok
from conftest import ServerThread


def test_v1_serves_the_registry_without_experiments(server: ServerThread, api: httpx.Client) -> None:
    v1 = f"{server.url}/api/model_registry/v1"
    created = ok(httpx.post(f"{v1}/registered_models", json={"name": "m"}))
    assert ok(api.get(f"/registered_models/{created['id']}"), 200)["name"] == "m"  # same data on both prefixes
    assert httpx.get(f"{v1}/experiments").status_code == 404
    assert ok(api.get("/experiments"), 200)["items"] == []


def test_health(server: ServerThread, api: httpx.Client) -> None:
    for path in ("/readyz/health", "/readyz/isDirty"):
        response = httpx.get(server.url + path)
        assert response.status_code == 200 and response.text == "OK"
        report = httpx.get(server.url + path, params={"format": "json"}).json()
        assert report["status"] == "pass"
        assert report["checks"]["database"]["Details"]["schema_dirty"] is False


def test_openapi_document(server: ServerThread, api: httpx.Client) -> None:
    doc = httpx.get(f"{server.url}/openapi.json").json()
    assert "/api/model_registry/v1alpha3/experiments" in doc["paths"]
    assert "/api/model_registry/v1/experiments" not in doc["paths"]


def test_body_without_content_type_is_json(api: httpx.Client) -> None:
    response = api.post("/registered_models", content=b'{"name": "curl-style"}')
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"

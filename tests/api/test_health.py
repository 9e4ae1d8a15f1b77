"""What sits around the registry API: health probes, the OpenAPI document, and the v1 prefix."""

from __future__ import annotations

import httpx
import pytest

from api.builders import ok
from conftest import ServerThread


@pytest.mark.parametrize("path", ["/readyz/health", "/readyz/isDirty"])
def test_health_probes(server: ServerThread, api: httpx.Client, path: str) -> None:
    response = httpx.get(server.url + path)
    assert response.status_code == 200 and response.text == "OK"
    report = httpx.get(server.url + path, params={"format": "json"})
    assert report.status_code == 200
    body = report.json()
    assert body["status"] == "pass"
    assert body["checks"]["database"]["Status"] == "pass"
    assert body["checks"]["database"]["Details"]["schema_dirty"] is False


def test_health_checks_the_registry(server: ServerThread, api: httpx.Client) -> None:
    body = httpx.get(f"{server.url}/readyz/health", params={"format": "json"}).json()
    assert body["checks"]["model-registry"]["Status"] == "pass"


def test_openapi_document(server: ServerThread, api: httpx.Client) -> None:
    response = httpx.get(f"{server.url}/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/model_registry/v1alpha3/registered_models",
        "/api/model_registry/v1alpha3/model_versions/{modelversionId}/artifacts",
        "/api/model_registry/v1alpha3/experiments",
        "/api/model_registry/v1alpha3/experiment_runs/{experimentrunId}/metric_history",
        "/api/model_registry/v1/registered_models",
        "/api/model_registry/v1/inference_services/{inferenceserviceId}/serves",
    ):
        assert path in paths, path
    assert "/api/model_registry/v1/experiments" not in paths


def test_v1_serves_the_registry_without_experiments(server: ServerThread, api: httpx.Client) -> None:
    with httpx.Client(base_url=f"{server.url}/api/model_registry/v1") as v1:
        created = ok(v1.post("/registered_models", json={"name": "m"}))
        assert ok(api.get(f"/registered_models/{created['id']}"), 200) == created  # same data on both prefixes
        version = ok(v1.post("/model_versions", json={"name": "v", "registeredModelId": created["id"]}))
        assert ok(v1.get(f"/registered_models/{created['id']}/versions"), 200)["items"] == [version]
        assert ok(v1.get("/registered_model", params={"name": "m"}), 200) == created
        env = ok(v1.post("/serving_environments", json={"name": "prod"}))
        assert ok(v1.get("/serving_environments"), 200)["items"] == [env]
        for path in ("/experiments", "/experiment_runs", "/experiment", "/experiment_runs/metric_history"):
            assert v1.get(path).status_code == 404, path
        assert v1.post("/experiments", json={"name": "x"}).status_code == 404
    assert ok(api.get("/experiments"), 200)["items"] == []


def test_v1_errors_use_the_same_body(server: ServerThread, api: httpx.Client) -> None:
    with httpx.Client(base_url=f"{server.url}/api/model_registry/v1") as v1:
        missing = v1.post("/registered_models", json={})
        assert missing.status_code == 422
        assert missing.json() == {"code": "Bad Request", "message": "required field 'name' is zero value."}
        assert v1.get("/registered_models/999999").json()["code"] == "Not Found"

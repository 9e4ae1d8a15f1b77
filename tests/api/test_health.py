"""What sits around the registry API: health probes, the OpenAPI document, and the v1 prefix."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

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


def test_readyz_documents_both_media_types(server: ServerThread, api: httpx.Client) -> None:
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for path in ("/readyz/health", "/readyz/isDirty"):
        operation = paths[path]["get"]
        assert set(operation["responses"]) == {"200", "503"}  # no 422: any other format answers text
        for status in ("200", "503"):
            content = operation["responses"][status]["content"]
            assert set(content) == {"text/plain", "application/json"}, (path, status, content)
            assert content["text/plain"]["schema"]["type"] == "string"
            assert content["application/json"]["schema"]["properties"]["status"]["enum"] == ["pass", "fail"]
        assert operation["responses"]["200"]["content"]["text/plain"]["example"] == "OK"
        assert [p["name"] for p in operation["parameters"]] == ["format"]
    # and the server answers as documented
    assert httpx.get(f"{server.url}/readyz/health").headers["content-type"].startswith("text/plain")
    as_json = httpx.get(f"{server.url}/readyz/health", params={"format": "json"})
    assert as_json.headers["content-type"].startswith("application/json") and as_json.json()["status"] == "pass"


def test_api_docs_load_nothing_from_another_host(server: ServerThread, api: httpx.Client) -> None:
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"(https?:)?//[\w.-]", page.text), page.text  # no absolute URL at all
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page.text)
    assert len(references) >= 3, page.text  # the stylesheet, the icon, the script
    origin = urlsplit(server.url)
    for reference in references:
        target = urljoin(f"{server.url}/docs", reference)
        assert (urlsplit(target).scheme, urlsplit(target).netloc) == (origin.scheme, origin.netloc), reference
        asset = httpx.get(target)
        assert asset.status_code == 200 and len(asset.content) > 100, (reference, asset.status_code)
        if reference.endswith(".css"):  # a stylesheet's url(...) must not leave the server either
            for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", asset.text):
                assert url.startswith("data:") or not re.match(r"(https?:)?//", url), url
    spec = re.search(r"""url:\s*['"]([^'"]+)['"]""", page.text)
    assert spec is not None and httpx.get(urljoin(server.url, spec.group(1))).json()["openapi"].startswith("3.")
    assert '"validatorUrl": null' in page.text  # no badge image from validator.swagger.io
    assert httpx.get(f"{server.url}/docs/oauth2-redirect").status_code == 200
    assert httpx.get(f"{server.url}/redoc").status_code == 404  # ReDoc would load from a CDN: it is off
    assert httpx.get(f"{server.url}/docs/assets/index.html").status_code == 404  # the bundle's demo page is not served

"""Where the Kubeflow registry API follows the reference server's shape beyond status codes: the sentinel that ends
core error messages (clients match on it), 404 for a trailing slash, a metric's required value, and an OpenAPI
document that says which fields the server requires."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.builders import error, experiment, listing, model, model_with_version, ok, run, upserted
from conftest import ServerThread

# --- the sentinel of core errors (registry-api-behaviour.md §0, "Error body and status mapping") -----------------


def test_not_found_ends_with_the_sentinel(api: httpx.Client) -> None:
    assert error(api.get("/registered_models/99"), 404)["message"] == "no registered model found for id 99: not found"
    assert error(api.get("/model_versions/7"), 404)["message"] == "no model version found for id 7: not found"
    assert error(api.get("/registered_model", params={"name": "x"}), 404)["message"].endswith(": not found")


def test_conflict_ends_with_the_sentinel(api: httpx.Client) -> None:
    model(api, "m")
    body = error(api.post("/registered_models", json={"name": "m"}), 409)
    assert body["message"] == "registered model with name 'm' already exists: conflict"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/registered_models", {"filterQuery": "name = "}),
        ("/registered_models", {"nextPageToken": "garbage"}),
        ("/registered_model", {}),
        ("/registered_models/abc", {}),
        ("/registered_models", {"pageSize": "ten"}),
    ],
)
def test_core_bad_requests_end_with_the_sentinel(api: httpx.Client, path: str, params: dict[str, str]) -> None:
    message = error(api.get(path, params=params), 400)["message"]
    assert message.endswith(": bad request"), message
    assert message.count("bad request") == 1, message


def test_core_bad_request_in_a_body_ends_with_the_sentinel(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    wrong_type = {"artifactType": "banana", "name": "a"}
    message = error(api.post(f"/model_versions/{v['id']}/artifacts", json=wrong_type), 400)["message"]
    assert message.startswith("invalid artifact type") and message.endswith(": bad request"), message
    big = {"name": "n", "customProperties": {"i": {"metadataType": "MetadataIntValue", "int_value": "9" * 19}}}
    assert error(api.post("/registered_models", json=big), 400)["message"].endswith(": bad request")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "m", "ext_id": "x"}, 400, 'json: unknown field "ext_id"'),
        ({}, 422, "required field 'name' is zero value."),
        ({"name": ""}, 422, "required field 'name' is zero value."),
    ],
)
def test_decode_errors_have_no_sentinel(api: httpx.Client, body: dict, status: int, message: str) -> None:
    assert error(api.post("/registered_models", json=body), status)["message"] == message


def test_bad_enum_has_no_sentinel(api: httpx.Client) -> None:
    message = error(api.post("/registered_models", json={"name": "m", "state": "GONE"}), 400)["message"]
    assert "state" in message and "bad request" not in message


def test_the_sentinel_is_the_registry_apis_alone(server: ServerThread, api: httpx.Client) -> None:
    """The governance and storage APIs are modelreg's own: their messages (shown by the SDK and the CLI) stay as
    written, the status and ``code`` already say what kind of error it is."""
    governance = httpx.get(f"{server.url}/api/governance/v1/audit/records", params={"nextPageToken": "x"})
    assert governance.status_code == 400 and "bad request" not in governance.json()["message"]
    promote = httpx.post(f"{server.url}/api/governance/v1/model_versions/99/promote", json={"stage": "staging"})
    assert promote.status_code == 404 and not promote.json()["message"].endswith("not found")
    upload = httpx.get(f"{server.url}/api/storage/v1/uploads/{'0' * 32}")
    assert upload.status_code == 404 and not upload.json()["message"].endswith(": not found")
    v1 = httpx.get(f"{server.url}/api/model_registry/v1/registered_models/99")
    assert v1.json()["message"] == "no registered model found for id 99: not found"


# --- trailing slashes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/model_registry/v1alpha3/registered_models/",
        "/api/model_registry/v1/registered_models/",
        "/api/model_registry/v1alpha3/registered_models/1/versions/",
        "/api/governance/v1/lifecycle/policy/",
        "/api/storage/v1/connections/",
        "/readyz/health/",
    ],
)
def test_a_trailing_slash_is_404_not_a_redirect(server: ServerThread, path: str) -> None:
    response = httpx.get(f"{server.url}{path}", follow_redirects=False)
    assert response.status_code == 404, (path, response.status_code, response.headers.get("location"))
    created = httpx.post(f"{server.url}/api/model_registry/v1alpha3/registered_models/", json={"name": "slash"})
    assert created.status_code == 404
    listed = httpx.get(f"{server.url}/api/model_registry/v1alpha3/registered_models").json()["items"]
    assert "slash" not in [model["name"] for model in listed]  # (other tests' models may be there)


# --- a metric needs its value ----------------------------------------------------------------------------------


def test_a_metric_without_value_is_400_on_every_create_path(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    r = run(api, experiment(api)["id"], "r")
    metric = {"artifactType": "metric", "name": "loss", "step": 1}
    for path in (f"/model_versions/{v['id']}/artifacts", f"/experiment_runs/{r['id']}/artifacts", "/artifacts"):
        assert error(api.post(path, json=metric), 400)["message"] == "metric value is required: bad request"
        error(api.post(path, json={**metric, "value": None}), 400, "metric value is required")
    assert listing(api, "/artifacts")["items"] == []
    assert listing(api, f"/experiment_runs/{r['id']}/metric_history")["items"] == []
    # With a value it is stored; later writes may leave the value out (it is kept).
    logged = upserted(api.post(f"/experiment_runs/{r['id']}/artifacts", json={**metric, "value": 0.5}))
    again = upserted(api.post(f"/experiment_runs/{r['id']}/artifacts", json={**metric, "step": 2}))
    assert (again["id"], again["value"], again["step"]) == (logged["id"], 0.5, 2)
    patched = ok(api.patch(f"/artifacts/{logged['id']}", json={"artifactType": "metric", "description": "d"}), 200)
    assert patched["value"] == 0.5
    # Parameters have no such rule.
    upserted(api.post(f"/experiment_runs/{r['id']}/artifacts", json={"artifactType": "parameter", "name": "lr"}))


# --- the OpenAPI document --------------------------------------------------------------------------------------


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_openapi_marks_artifact_type_required_on_artifact_bodies(server: ServerThread) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            body = _resolve(spec, content["schema"])
            for member in body.get("oneOf", []):
                member = _resolve(spec, member)
                assert "artifactType" in member.get("required", []), (method, path, member.get("title"))
                checked += 1
            if body.get("oneOf"):
                assert body["discriminator"]["propertyName"] == "artifactType"
    assert checked >= 5 * 6, checked  # POST/PATCH /artifacts, the two upserts, under both prefixes
    metric = spec["components"]["schemas"]["Metric"]
    assert "value" in metric.get("required", []) and "artifactType" in metric["required"]

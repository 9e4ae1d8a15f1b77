"""Error statuses and bodies across endpoints: strict bodies, required fields, bad ids, malformed input, never 500."""

from __future__ import annotations

import httpx
import pytest

from api.builders import environment, error, experiment, inference_service, listing, model, ok, version

CREATE_ENDPOINTS = {
    "/registered_models": {"name": "m"},
    "/model_versions": {"name": "v", "registeredModelId": "1"},
    "/model_artifacts": {"name": "a"},
    "/serving_environments": {"name": "e"},
    "/inference_services": {"registeredModelId": "1", "servingEnvironmentId": "1"},
    "/experiments": {"name": "x"},
    "/experiment_runs": {"experimentId": "1"},
}


@pytest.mark.parametrize("path", list(CREATE_ENDPOINTS))
def test_unknown_body_field_is_400(api: httpx.Client, path: str) -> None:
    body = error(api.post(path, json={**CREATE_ENDPOINTS[path], "ext_id": "x"}), 400)
    assert body == {"code": "Bad Request", "message": 'json: unknown field "ext_id"'}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/registered_models", "name"),
        ("/model_versions", "name"),
        ("/model_versions", "registeredModelId"),
        ("/serving_environments", "name"),
        ("/inference_services", "registeredModelId"),
        ("/inference_services", "servingEnvironmentId"),
        ("/experiments", "name"),
        ("/experiment_runs", "experimentId"),
    ],
)
def test_missing_required_field_is_422(api: httpx.Client, path: str, field: str) -> None:
    body = {k: v for k, v in CREATE_ENDPOINTS[path].items() if k != field}
    assert error(api.post(path, json=body), 422) == {
        "code": "Bad Request",
        "message": f"required field '{field}' is zero value.",
    }


@pytest.mark.parametrize("path", ["/registered_models", "/serving_environments", "/experiments"])
def test_empty_name_is_422(api: httpx.Client, path: str) -> None:
    assert error(api.post(path, json={"name": ""}), 422) == {
        "code": "Bad Request",
        "message": "required field 'name' is zero value.",
    }


def test_unknown_field_wins_over_missing_field(api: httpx.Client) -> None:
    error(api.post("/registered_models", json={"ext_id": "x"}), 400, 'unknown field "ext_id"')


@pytest.mark.parametrize(
    "body",
    [
        {"name": 5},
        {"name": ["m"]},
        {"name": "m", "description": 1},
        {"name": "m", "state": "GONE"},
        {"name": "m", "state": "live"},
        {"name": "m", "language": "en"},
        {"name": "m", "customProperties": []},
        {"name": "m", "externalId": {"a": 1}},
    ],
)
def test_wrong_types_and_bad_enums_are_400(api: httpx.Client, body: dict) -> None:
    assert error(api.post("/registered_models", json=body), 400)["code"] == "Bad Request"
    assert listing(api, "/registered_models")["items"] == []


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"not json", b"[]", b'"m"', b"null", b"42", b'{"name": "m"} trailing', b"\xff\xfe"],
)
def test_malformed_bodies_are_400(api: httpx.Client, content: bytes) -> None:
    response = api.post("/registered_models", content=content, headers={"content-type": "application/json"})
    error(response, 400)
    assert listing(api, "/registered_models")["items"] == []


def test_patch_with_bad_bodies(api: httpx.Client) -> None:
    m = model(api, "m")
    for content in (b"", b"[]", b"{"):
        error(
            api.patch(f"/registered_models/{m['id']}", content=content, headers={"content-type": "application/json"}),
            400,
        )
    error(api.patch(f"/registered_models/{m['id']}", json={"state": "GONE"}), 400)
    error(api.patch(f"/registered_models/{m['id']}", json={"unknown": 1}), 400, 'unknown field "unknown"')
    assert ok(api.get(f"/registered_models/{m['id']}"), 200) == m


def test_empty_patch_is_accepted_and_changes_nothing_else(api: httpx.Client) -> None:
    m = model(api, "m", description="d")
    updated = ok(api.patch(f"/registered_models/{m['id']}", json={}), 200)
    assert {k: v for k, v in updated.items() if k != "lastUpdateTimeSinceEpoch"} == {
        k: v for k, v in m.items() if k != "lastUpdateTimeSinceEpoch"
    }


ID_PATHS = [
    "/registered_models/{}",
    "/model_versions/{}",
    "/model_artifacts/{}",
    "/artifacts/{}",
    "/serving_environments/{}",
    "/inference_services/{}",
    "/experiments/{}",
    "/experiment_runs/{}",
]


@pytest.mark.parametrize("path", ID_PATHS)
@pytest.mark.parametrize("bad", ["abc", "1.5", "0x10", "1e3", "%20", "99999999999999999999999"])
def test_non_numeric_path_ids_are_400(api: httpx.Client, path: str, bad: str) -> None:
    assert error(api.get(path.format(bad)), 400)["code"] == "Bad Request"


@pytest.mark.parametrize("path", ID_PATHS)
@pytest.mark.parametrize("unknown", ["999999", "0", "2147483648", "9223372036854775807"])
def test_unknown_path_ids_are_404(api: httpx.Client, path: str, unknown: str) -> None:
    assert error(api.get(path.format(unknown)), 404)["code"] == "Not Found"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "v", "registeredModelId": "abc"},
        {"name": "v", "registeredModelId": "-1"},
        {"name": "v", "registeredModelId": 1.5},
        {"name": "v", "registeredModelId": "99999999999999999999999"},
    ],
)
def test_bad_body_ids_are_400_or_404(api: httpx.Client, body: dict) -> None:
    response = api.post("/model_versions", json=body)
    assert response.status_code in (400, 404), response.text
    error(response, response.status_code)


def test_conflict_body(api: httpx.Client) -> None:
    model(api, "m")
    body = error(api.post("/registered_models", json={"name": "m"}), 409)
    assert body["code"] == "Conflict" and "m" in body["message"]


def test_not_found_body(api: httpx.Client) -> None:
    assert error(api.get("/registered_models/999999"), 404)["code"] == "Not Found"


def test_unknown_path_and_wrong_method(api: httpx.Client) -> None:
    assert api.get("/no_such_thing").status_code == 404
    m = model(api, "m")
    assert api.delete(f"/registered_models/{m['id']}").status_code == 405
    assert api.put(f"/registered_models/{m['id']}", json={"name": "x"}).status_code == 405
    assert ok(api.get(f"/registered_models/{m['id']}"), 200) == m


def test_responses_are_json(api: httpx.Client) -> None:
    created = api.post("/registered_models", json={"name": "m"})
    assert created.headers["content-type"].startswith("application/json")
    failed = api.get("/registered_models/999999")
    assert failed.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_json_bodies_are_read_whatever_the_content_type(api: httpx.Client, content_type: str | None) -> None:
    """The reference decodes every body as JSON; ``curl -d`` sends ``application/x-www-form-urlencoded``."""
    headers = {"content-type": content_type} if content_type else {}
    response = api.post("/registered_models", content=b'{"name": "curl-style"}', headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "curl-style"


def test_authorization_header_is_ignored(api: httpx.Client) -> None:
    response = api.post("/registered_models", json={"name": "m"}, headers={"Authorization": "Bearer whatever"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "\u202e\u0301", "'; DROP TABLE registered_models; --", "x" * 5000, "\\", "%_%"],
)
def test_odd_strings_never_cause_500(api: httpx.Client, value: str) -> None:
    m = model(api, "m")
    responses = [
        api.post("/registered_models", json={"name": value}),
        api.post("/registered_models", json={"name": "n", "description": value}),
        api.patch(f"/registered_models/{m['id']}", json={"description": value}),
        api.get("/registered_model", params={"name": value}),
        api.get("/registered_model", params={"externalId": value}),
        api.get("/model_version", params={"name": value, "parentResourceId": "1"}),
        api.get(f"/registered_models/{m['id']}/versions", params={"name": value}),
        api.get("/registered_models", params={"filterQuery": f"name = '{value}'"}),
        api.get("/registered_models", params={"nextPageToken": value}),
        api.post(
            "/registered_models",
            json={
                "name": "p",
                "customProperties": {value: {"metadataType": "MetadataStringValue", "string_value": value}},
            },
        ),
    ]
    for response in responses:
        assert response.status_code < 500, (str(response.request.url)[:200], response.text[:300])
        if response.status_code >= 400:
            error(response, response.status_code)
    assert ok(api.get("/registered_models"), 200)["items"][0] == ok(api.get(f"/registered_models/{m['id']}"), 200)


def test_huge_numbers_never_cause_500(api: httpx.Client) -> None:
    m = model(api, "m")
    v = version(api, m["id"])
    env = environment(api)
    service = inference_service(api, env["id"], m["id"])
    exp = experiment(api)
    responses = [
        api.post(
            f"/model_versions/{v['id']}/artifacts",
            json={"artifactType": "metric", "name": "m", "value": 1e308, "step": 2**70},
        ),
        api.post(
            f"/model_versions/{v['id']}/artifacts", json={"artifactType": "metric", "name": "t", "timestamp": "9" * 30}
        ),
        api.post("/experiment_runs", json={"experimentId": exp["id"], "startTimeSinceEpoch": "9" * 30}),
        api.patch(f"/inference_services/{service['id']}", json={"modelVersionId": "9" * 30}),
        api.get("/registered_models", params={"pageSize": "9" * 30}),
        api.get("/registered_models", params={"filterQuery": f"id = {'9' * 40}"}),
        api.get("/registered_models", params={"filterQuery": f"x = {'9' * 40}"}),
        api.get("/model_version", params={"name": "v", "parentResourceId": "9" * 30}),
    ]
    for response in responses:
        assert response.status_code < 500, (str(response.request.url)[:200], response.text[:300])

"""Listing: pages, orderings, opaque tokens, and filterQuery on every list endpoint."""

from __future__ import annotations

import httpx
import pytest

from api.flows.builders import artifact, model, names, ok, props, version


def _all_pages(api: httpx.Client, path: str, **params: str) -> tuple[list[str], list[str]]:
    items, tokens, token = [], [], params.pop("nextPageToken", "")
    while True:
        body = ok(api.get(path, params={**params, "nextPageToken": token}), 200)
        items += [i["name"] for i in body["items"]]
        token = body["nextPageToken"]
        tokens.append(token)
        if not token:
            return items, tokens


@pytest.mark.parametrize("order_by", ["ID", "CREATE_TIME", "LAST_UPDATE_TIME"])
def test_pages_in_every_order(api: httpx.Client, order_by: str) -> None:
    created = [model(api, f"m{i:02d}")["name"] for i in range(21)]
    asc, tokens = _all_pages(api, "/registered_models", pageSize="10", orderBy=order_by, sortOrder="ASC")
    assert asc == created
    assert len(tokens) == 3 and tokens[-1] == "" and len(set(tokens)) == 3
    desc, _ = _all_pages(api, "/registered_models", pageSize="10", orderBy=order_by, sortOrder="DESC")
    assert desc == created[::-1]


def test_page_shape_and_defaults(api: httpx.Client) -> None:
    for i in range(3):
        model(api, f"m{i}")
    body = ok(api.get("/registered_models"), 200)
    assert body["size"] == 3 and body["pageSize"] == 100 and body["nextPageToken"] == ""
    clamped = ok(api.get("/registered_models", params={"pageSize": "5000"}), 200)
    assert clamped["pageSize"] == 1000
    first = ok(api.get("/registered_models", params={"pageSize": "2"}), 200)
    again = ok(api.get("/registered_models", params={"pageSize": "2", "nextPageToken": ""}), 200)
    assert first == again  # an empty token means the first page, as the upstream Pager relies on


def test_last_update_order_follows_updates(api: httpx.Client) -> None:
    ids = [model(api, f"m{i}")["id"] for i in range(5)]
    for i in (3, 0, 4):
        ok(api.patch(f"/registered_models/{ids[i]}", json={"description": "touched"}), 200)
    listed = names(api.get("/registered_models", params={"orderBy": "LAST_UPDATE_TIME", "sortOrder": "DESC"}))
    assert listed[:3] == ["m4", "m0", "m3"]


def test_pages_are_stable_under_concurrent_inserts(api: httpx.Client) -> None:
    for i in range(10):
        model(api, f"old{i}")
    first = ok(api.get("/registered_models", params={"pageSize": "4"}), 200)
    for i in range(5):
        model(api, f"new{i}")  # inserted between page fetches
    rest, _ = _all_pages(api, "/registered_models", pageSize="4", nextPageToken=first["nextPageToken"])
    seen = [i["name"] for i in first["items"]] + rest
    assert len(seen) == len(set(seen)) == 15
    assert [n for n in seen if n.startswith("old")] == [f"old{i}" for i in range(10)]


@pytest.mark.parametrize(
    "params",
    [{"pageSize": "0"}, {"pageSize": "ten"}, {"orderBy": "NAME"}, {"sortOrder": "down"}, {"nextPageToken": "garbage!"}],
)
def test_bad_list_parameters_are_400(api: httpx.Client, params: dict[str, str]) -> None:
    response = api.get("/registered_models", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "Bad Request"


def test_token_of_another_ordering_is_400(api: httpx.Client) -> None:
    for i in range(3):
        model(api, f"m{i}")
    token = ok(api.get("/registered_models", params={"pageSize": "1"}), 200)["nextPageToken"]
    response = api.get("/registered_models", params={"pageSize": "1", "orderBy": "CREATE_TIME", "nextPageToken": token})
    assert response.status_code == 400


@pytest.fixture
def catalog(api: httpx.Client) -> dict[str, dict]:
    a = model(api, "bert-base", owner="alice", customProperties=props(framework="pytorch", accuracy=0.91, epochs=3))
    b = model(api, "Bert-Large", owner="bob", customProperties=props(framework="onnx", accuracy=0.97, gpu=True))
    c = model(
        api, "resnet", owner="alice", customProperties={**props(accuracy=2), "mlflow.source.type": props(x="nb")["x"]}
    )
    ok(api.patch(f"/registered_models/{c['id']}", json={"state": "ARCHIVED"}), 200)
    return {"a": a, "b": b, "c": c}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name = 'bert-base'", ["bert-base"]),
        ('name LIKE "bert%"', ["bert-base"]),  # LIKE is case-sensitive on every database
        ("name ILIKE 'bert%'", ["bert-base", "Bert-Large"]),
        ("state = 'LIVE' AND owner = 'alice'", ["bert-base"]),
        ("owner = 'bob' OR state = 'ARCHIVED'", ["Bert-Large", "resnet"]),
        ("(owner = 'alice' OR owner = 'bob') AND accuracy > 0.95", ["Bert-Large", "resnet"]),
        ("accuracy > 0.95", ["Bert-Large", "resnet"]),  # the int property 2 is compared too
        ("accuracy.double_value >= 0.9", ["bert-base", "Bert-Large"]),
        ("framework.string_value = 'pytorch'", ["bert-base"]),
        ("epochs = 3", ["bert-base"]),
        ("gpu = true", ["Bert-Large"]),
        ("`mlflow.source.type` = 'nb'", ["resnet"]),
        ("framework IN ('onnx', 'tf')", ["Bert-Large"]),
        ("framework NOT IN ('onnx')", ["bert-base"]),
        ("framework != 'onnx'", ["bert-base"]),
        ("framework <> 'onnx'", ["bert-base"]),
        ("name in ('resnet') or NAME = 'x'", ["resnet"]),
        ("id IN ()", []),
        ("  ", ["bert-base", "Bert-Large", "resnet"]),
    ],
)
def test_filter_query(api: httpx.Client, catalog: dict[str, dict], query: str, expected: list[str]) -> None:
    assert names(api.get("/registered_models", params={"filterQuery": query})) == expected


def test_filter_by_id_and_times(api: httpx.Client, catalog: dict[str, dict]) -> None:
    a = catalog["a"]
    assert names(api.get("/registered_models", params={"filterQuery": f"id = '{a['id']}'"})) == ["bert-base"]
    since = catalog["b"]["createTimeSinceEpoch"]
    later = names(api.get("/registered_models", params={"filterQuery": f"createTimeSinceEpoch >= {since}"}))
    assert later == ["Bert-Large", "resnet"]


@pytest.mark.parametrize("query", ["name = ", 'name "x"', "(name = 'x'", "name === 'x'", "invalid <<< syntax"])
def test_bad_filter_is_400_with_position(api: httpx.Client, query: str) -> None:
    response = api.get("/registered_models", params={"filterQuery": query})
    assert response.status_code == 400
    assert "position" in response.json()["message"]


def test_type_mismatch_in_filter_is_400(api: httpx.Client) -> None:
    response = api.get("/registered_models", params={"filterQuery": "id = 'abc'"})
    assert response.status_code == 400
    assert "type mismatch" in response.json()["message"]


def test_filter_on_every_list_endpoint(api: httpx.Client) -> None:
    m = model(api, "m")
    v1, v2 = version(api, m["id"], "v1"), version(api, m["id"], "v2", author="x")
    artifact(api, v1["id"], "keep")
    artifact(api, v1["id"], "drop")
    env = ok(api.post("/serving_environments", json={"name": "prod"}))
    ok(api.post("/serving_environments", json={"name": "dev"}))
    body = {"registeredModelId": m["id"], "servingEnvironmentId": env["id"]}
    ok(api.post("/inference_services", json={**body, "name": "is-a", "runtime": "vllm"}))
    ok(api.post("/inference_services", json={**body, "name": "is-b", "runtime": "ovms"}))
    cases = {
        "/model_versions": ("author = 'x'", ["v2"]),
        f"/registered_models/{m['id']}/versions": ("name = 'v1'", ["v1"]),
        f"/model_versions/{v1['id']}/artifacts": ("name = 'keep'", ["keep"]),
        "/model_artifacts": ("uri LIKE '%drop'", ["drop"]),
        "/artifacts": ("name != 'keep'", ["drop"]),
        "/serving_environments": ("name = 'dev'", ["dev"]),
        "/inference_services": ("runtime = 'ovms'", ["is-b"]),
        f"/serving_environments/{env['id']}/inference_services": ("name = 'is-a'", ["is-a"]),
    }
    for path, (query, expected) in cases.items():
        assert names(api.get(path, params={"filterQuery": query})) == expected, path
    assert v2["name"] == "v2"

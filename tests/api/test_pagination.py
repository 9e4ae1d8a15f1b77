"""Listing: page sizes, orderings, opaque keyset tokens, stability under concurrent inserts, every list endpoint."""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api.builders import (
    all_pages,
    artifact,
    environment,
    error,
    experiment,
    inference_service,
    listing,
    log_metric,
    model,
    ok,
    run,
    version,
)


def _names(items: list[dict]) -> list[str]:
    return [i["name"] for i in items]


@pytest.mark.parametrize("order_by", ["ID", "CREATE_TIME", "LAST_UPDATE_TIME"])
def test_pages_in_every_order(api: httpx.Client, order_by: str) -> None:
    created = [model(api, f"m{i:02d}")["name"] for i in range(21)]
    asc, tokens = all_pages(api, "/registered_models", pageSize="10", orderBy=order_by, sortOrder="ASC")
    assert _names(asc) == created
    assert len(tokens) == 3 and tokens[-1] == "" and all(tokens[:2]) and tokens[0] != tokens[1]
    desc, _ = all_pages(api, "/registered_models", pageSize="10", orderBy=order_by, sortOrder="DESC")
    assert _names(desc) == created[::-1]


def test_default_order_is_creation_order(api: httpx.Client) -> None:
    created = [model(api, name)["name"] for name in ("zeta", "alpha", "mid")]
    assert _names(listing(api, "/registered_models")["items"]) == created
    assert _names(listing(api, "/registered_models", sortOrder="DESC")["items"]) == created[::-1]


def test_page_shape_and_defaults(api: httpx.Client) -> None:
    for i in range(3):
        model(api, f"m{i}")
    body = listing(api, "/registered_models")
    assert set(body) == {"items", "size", "pageSize", "nextPageToken"}
    assert (body["size"], body["pageSize"], body["nextPageToken"]) == (3, 100, "")
    assert listing(api, "/registered_models", pageSize="5000")["pageSize"] == 1000
    assert listing(api, "/registered_models", pageSize="1000")["pageSize"] == 1000
    assert listing(api, "/registered_models", pageSize="2")["pageSize"] == 2


def test_default_page_holds_100_and_the_maximum_is_1000(api: httpx.Client) -> None:
    with httpx.Client(base_url=api.base_url, timeout=60) as client, ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: ok(client.post("/serving_environments", json={"name": f"e{i:04d}"})), range(1001)))
    default = listing(api, "/serving_environments")
    assert default["size"] == 100 and default["pageSize"] == 100 and default["nextPageToken"]
    clamped = listing(api, "/serving_environments", pageSize="5000")
    assert clamped["size"] == 1000 and clamped["pageSize"] == 1000 and clamped["nextPageToken"]
    rest = listing(api, "/serving_environments", pageSize="5000", nextPageToken=clamped["nextPageToken"])
    assert rest["size"] == 1 and rest["nextPageToken"] == ""
    seen = [e["name"] for e in clamped["items"] + rest["items"]]
    assert sorted(seen) == [f"e{i:04d}" for i in range(1001)]


def test_empty_list(api: httpx.Client) -> None:
    body = listing(api, "/registered_models", pageSize="5")
    assert (body["items"], body["size"], body["nextPageToken"]) == ([], 0, "")


def test_empty_token_means_first_page(api: httpx.Client) -> None:
    for i in range(5):
        model(api, f"m{i}")
    first = listing(api, "/registered_models", pageSize="2")
    again = listing(api, "/registered_models", pageSize="2", nextPageToken="")
    assert first == again  # the upstream Pager sends an empty token after the last page and expects page one


def test_a_full_last_page_has_an_empty_token(api: httpx.Client) -> None:
    for i in range(4):
        model(api, f"m{i}")
    first = listing(api, "/registered_models", pageSize="2")
    assert first["nextPageToken"]
    second = listing(api, "/registered_models", pageSize="2", nextPageToken=first["nextPageToken"])
    assert _names(second["items"]) == ["m2", "m3"] and second["nextPageToken"] == ""
    exact = listing(api, "/registered_models", pageSize="4")
    assert exact["size"] == 4 and exact["nextPageToken"] == ""


def test_page_size_one_walks_everything(api: httpx.Client) -> None:
    created = [model(api, f"m{i}")["name"] for i in range(5)]
    items, tokens = all_pages(api, "/registered_models", pageSize="1")
    assert _names(items) == created
    assert len(tokens) == 5 and len(set(tokens[:-1])) == 4


def test_last_update_order_follows_updates(api: httpx.Client) -> None:
    ids = [model(api, f"m{i}")["id"] for i in range(5)]
    for i in (3, 0, 4):
        ok(api.patch(f"/registered_models/{ids[i]}", json={"description": "touched"}), 200)
    desc = _names(listing(api, "/registered_models", orderBy="LAST_UPDATE_TIME", sortOrder="DESC")["items"])
    assert desc[:3] == ["m4", "m0", "m3"]
    asc, _ = all_pages(api, "/registered_models", orderBy="LAST_UPDATE_TIME", pageSize="2")
    assert _names(asc) == ["m1", "m2", "m3", "m0", "m4"]
    by_create = _names(listing(api, "/registered_models", orderBy="CREATE_TIME")["items"])
    assert by_create == ["m0", "m1", "m2", "m3", "m4"]


@pytest.mark.parametrize(
    ("order_by", "sort"),
    [
        ("ID", "ASC"),
        ("ID", "DESC"),
        ("CREATE_TIME", "ASC"),
        ("CREATE_TIME", "DESC"),
        ("LAST_UPDATE_TIME", "ASC"),
        ("LAST_UPDATE_TIME", "DESC"),
    ],
)
def test_pages_are_stable_under_concurrent_inserts(api: httpx.Client, order_by: str, sort: str) -> None:
    for i in range(10):
        model(api, f"old{i}")
    params = {"pageSize": "4", "orderBy": order_by, "sortOrder": sort}
    first = listing(api, "/registered_models", **params)
    seen = _names(first["items"])
    token = first["nextPageToken"]
    while token:
        model(api, f"new{len(seen)}")  # inserted between page fetches
        page = listing(api, "/registered_models", **params, nextPageToken=token)
        seen += _names(page["items"])
        token = page["nextPageToken"]
    assert len(seen) == len(set(seen)), seen
    old = [n for n in seen if n.startswith("old")]
    expected = [f"old{i}" for i in range(10)]
    assert old == (expected if sort == "ASC" else expected[::-1])


def test_pages_with_a_filter(api: httpx.Client) -> None:
    for i in range(9):
        model(api, f"m{i}", owner="even" if i % 2 == 0 else "odd")
    items, tokens = all_pages(api, "/registered_models", pageSize="2", filterQuery="owner = 'even'")
    assert _names(items) == ["m0", "m2", "m4", "m6", "m8"]
    assert len(tokens) == 3


@pytest.mark.parametrize(
    "params",
    [
        {"pageSize": "0"},
        {"pageSize": "-1"},
        {"pageSize": "ten"},
        {"pageSize": "1.5"},
        {"orderBy": "NAME"},
        {"orderBy": "id; DROP TABLE x"},
        {"sortOrder": "down"},
        {"sortOrder": "desc"},
        {"orderBy": "id"},
        {"nextPageToken": "garbage!"},
        {"nextPageToken": base64.b64encode(b"not a token").decode()},
        {"nextPageToken": base64.b64encode(b"1:2").decode()},
        {"nextPageToken": "A" * 5000},
    ],
)
def test_bad_list_parameters_are_400(api: httpx.Client, params: dict[str, str]) -> None:
    model(api, "m")
    assert error(api.get("/registered_models", params=params), 400)["code"] == "Bad Request"


def test_token_of_another_ordering_is_400(api: httpx.Client) -> None:
    for i in range(3):
        model(api, f"m{i}")
    token = listing(api, "/registered_models", pageSize="1")["nextPageToken"]
    assert token
    error(
        api.get("/registered_models", params={"pageSize": "1", "orderBy": "CREATE_TIME", "nextPageToken": token}), 400
    )
    error(
        api.get("/registered_models", params={"pageSize": "1", "orderBy": "LAST_UPDATE_TIME", "nextPageToken": token}),
        400,
    )
    token = listing(api, "/registered_models", pageSize="1", orderBy="CREATE_TIME")["nextPageToken"]
    error(api.get("/registered_models", params={"pageSize": "1", "nextPageToken": token}), 400)


def test_tokens_are_opaque_strings(api: httpx.Client) -> None:
    for i in range(3):
        model(api, f"m{i}")
    token = listing(api, "/registered_models", pageSize="1")["nextPageToken"]
    assert isinstance(token, str) and token.isascii() and " " not in token
    second = listing(api, "/registered_models", pageSize="1", nextPageToken=token)
    assert _names(second["items"]) == ["m1"]


# --- every list endpoint pages ---------------------------------------------------------------------------------

Setup = Callable[[httpx.Client], str]


def _registered_models(api: httpx.Client) -> str:
    for i in range(5):
        model(api, f"x{i}")
    return "/registered_models"


def _versions(api: httpx.Client, nested: bool) -> str:
    m = model(api, "m")
    other = model(api, "other")
    version(api, other["id"], "elsewhere")
    for i in range(5):
        version(api, m["id"], f"x{i}")
    return f"/registered_models/{m['id']}/versions" if nested else "/model_versions?filterQuery=name LIKE 'x%25'"


def _artifacts(api: httpx.Client, where: str) -> str:
    m = model(api, "m")
    v, other = version(api, m["id"], "v"), version(api, m["id"], "other")
    artifact(api, other["id"], "elsewhere", artifactType="doc-artifact")
    for i in range(5):
        artifact(api, v["id"], f"x{i}")
    return {"nested": f"/model_versions/{v['id']}/artifacts", "all": "/artifacts?artifactType=model-artifact"}.get(
        where, "/model_artifacts"
    )


def _environments(api: httpx.Client) -> str:
    for i in range(5):
        environment(api, f"x{i}")
    return "/serving_environments"


def _services(api: httpx.Client, nested: bool) -> str:
    m = model(api, "m")
    env, other = environment(api, "env"), environment(api, "other")
    inference_service(api, other["id"], m["id"], name="elsewhere")
    for i in range(5):
        inference_service(api, env["id"], m["id"], name=f"x{i}")
    if nested:
        return f"/serving_environments/{env['id']}/inference_services"
    return f"/inference_services?filterQuery=servingEnvironmentId = {env['id']}"


def _serves(api: httpx.Client) -> str:
    m = model(api, "m")
    v = version(api, m["id"])
    env = environment(api, "env")
    service = inference_service(api, env["id"], m["id"])
    other = inference_service(api, env["id"], m["id"], name="other")
    ok(api.post(f"/inference_services/{other['id']}/serves", json={"modelVersionId": v["id"], "name": "elsewhere"}))
    for i in range(5):
        ok(api.post(f"/inference_services/{service['id']}/serves", json={"modelVersionId": v["id"], "name": f"x{i}"}))
    return f"/inference_services/{service['id']}/serves"


def _experiments(api: httpx.Client) -> str:
    for i in range(5):
        experiment(api, f"x{i}")
    return "/experiments"


def _runs(api: httpx.Client, nested: bool) -> str:
    exp, other = experiment(api, "exp"), experiment(api, "other")
    run(api, other["id"], "elsewhere")
    for i in range(5):
        run(api, exp["id"], f"x{i}")
    return f"/experiments/{exp['id']}/experiment_runs" if nested else "/experiment_runs?filterQuery=name LIKE 'x%25'"


def _run_artifacts(api: httpx.Client) -> str:
    exp = experiment(api)
    r, other = run(api, exp["id"], "r"), run(api, exp["id"], "other")
    log_metric(api, other["id"], "elsewhere", 1.0)
    for i in range(5):
        log_metric(api, r["id"], f"x{i}", float(i))
    return f"/experiment_runs/{r['id']}/artifacts"


def _history(api: httpx.Client, nested: bool) -> str:
    exp = experiment(api)
    r, other = run(api, exp["id"], "r"), run(api, exp["id"], "other")
    log_metric(api, other["id"], "elsewhere", 1.0)
    for i in range(5):
        log_metric(api, r["id"], f"x{i}", float(i))
    return f"/experiment_runs/{r['id']}/metric_history" if nested else "/experiment_runs/metric_history?name=x"


ENDPOINTS: dict[str, Setup] = {
    "registered_models": _registered_models,
    "model_versions": lambda api: _versions(api, nested=False),
    "registered_model_versions": lambda api: _versions(api, nested=True),
    "version_artifacts": lambda api: _artifacts(api, "nested"),
    "artifacts": lambda api: _artifacts(api, "all"),
    "model_artifacts": lambda api: _artifacts(api, "model"),
    "serving_environments": _environments,
    "inference_services": lambda api: _services(api, nested=False),
    "environment_inference_services": lambda api: _services(api, nested=True),
    "serves": _serves,
    "experiments": _experiments,
    "experiment_runs": lambda api: _runs(api, nested=False),
    "experiment_experiment_runs": lambda api: _runs(api, nested=True),
    "run_artifacts": _run_artifacts,
    "run_metric_history": lambda api: _history(api, nested=True),
    "all_metric_history": lambda api: _history(api, nested=False),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_list_endpoint_pages(api: httpx.Client, endpoint: str) -> None:
    path = ENDPOINTS[endpoint](api)
    expected = [f"x{i}" for i in range(5)]
    asc, tokens = all_pages(api, path, pageSize="2")
    assert _names(asc) == expected and len(tokens) == 3
    desc, _ = all_pages(api, path, pageSize="2", sortOrder="DESC", orderBy="CREATE_TIME")
    assert _names(desc) == expected[::-1]
    assert listing(api, path, pageSize="3")["pageSize"] == 3
    path = path.partition("?")[0]
    error(api.get(path, params={"orderBy": "NAME"}), 400)
    error(api.get(path, params={"nextPageToken": "garbage!"}), 400)

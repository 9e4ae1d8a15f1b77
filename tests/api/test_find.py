"""Find-by-params endpoints: exact name (scoped by parent where names are scoped) or externalId."""

from __future__ import annotations

import httpx
import pytest

from api.builders import (
    artifact,
    environment,
    error,
    experiment,
    inference_service,
    model,
    ok,
    run,
    version,
)


@pytest.fixture
def world(api: httpx.Client) -> dict[str, dict]:
    m = model(api, "m_1%", externalId="rm-ext")
    other = model(api, "other")
    v = version(api, m["id"], "v1", externalId="mv-ext")
    other_v = version(api, other["id"], "v1")
    ma = artifact(api, v["id"], "weights", externalId="ma-ext")
    doc = artifact(api, v["id"], "readme", artifactType="doc-artifact", externalId="doc-ext")
    other_ma = artifact(api, other_v["id"], "weights")
    env = environment(api, "prod", externalId="se-ext")
    service = inference_service(api, env["id"], m["id"], name="svc", externalId="is-ext")
    exp = experiment(api, "exp", externalId="exp-ext")
    r = run(api, exp["id"], "r1", externalId="run-ext")
    return {
        "m": m,
        "other": other,
        "v": v,
        "other_v": other_v,
        "ma": ma,
        "doc": doc,
        "other_ma": other_ma,
        "env": env,
        "service": service,
        "exp": exp,
        "run": r,
    }


def _found(api: httpx.Client, path: str, **params: str) -> str:
    return ok(api.get(path, params=params), 200)["id"]


def test_top_level_entities_by_name_and_external_id(api: httpx.Client, world: dict[str, dict]) -> None:
    assert _found(api, "/registered_model", name="m_1%") == world["m"]["id"]
    assert _found(api, "/registered_model", externalId="rm-ext") == world["m"]["id"]
    assert _found(api, "/serving_environment", name="prod") == world["env"]["id"]
    assert _found(api, "/serving_environment", externalId="se-ext") == world["env"]["id"]
    assert _found(api, "/experiment", name="exp") == world["exp"]["id"]
    assert _found(api, "/experiment", externalId="exp-ext") == world["exp"]["id"]
    assert ok(api.get("/registered_model", params={"name": "other"}), 200) == world["other"]


def test_name_wins_over_external_id(api: httpx.Client, world: dict[str, dict]) -> None:
    assert _found(api, "/registered_model", name="other", externalId="rm-ext") == world["other"]["id"]


def test_names_are_exact_not_patterns(api: httpx.Client, world: dict[str, dict]) -> None:
    for name in ("m_1_", "m%", "M_1%", "m_1", "%", "_"):
        error(api.get("/registered_model", params={"name": name}), 404)
    error(api.get("/registered_model", params={"externalId": "rm-%"}), 404)
    error(api.get("/registered_model", params={"externalId": "RM-EXT"}), 404)


def test_owned_entities_need_their_parent(api: httpx.Client, world: dict[str, dict]) -> None:
    m, other, v = world["m"], world["other"], world["v"]
    assert _found(api, "/model_version", name="v1", parentResourceId=m["id"]) == v["id"]
    assert _found(api, "/model_version", name="v1", parentResourceId=other["id"]) == world["other_v"]["id"]
    assert _found(api, "/model_version", externalId="mv-ext") == v["id"]
    assert ok(api.get("/model_version", params={"externalId": "mv-ext"}), 200) == v
    error(api.get("/model_version", params={"name": "v1", "parentResourceId": "999999"}), 404)
    service = world["service"]
    assert _found(api, "/inference_service", name="svc", parentResourceId=world["env"]["id"]) == service["id"]
    assert _found(api, "/inference_service", externalId="is-ext") == service["id"]
    assert _found(api, "/experiment_run", name="r1", parentResourceId=world["exp"]["id"]) == world["run"]["id"]
    assert _found(api, "/experiment_run", externalId="run-ext") == world["run"]["id"]


def test_artifacts_by_name_under_a_version(api: httpx.Client, world: dict[str, dict]) -> None:
    v, other_v = world["v"], world["other_v"]
    assert _found(api, "/model_artifact", name="weights", parentResourceId=v["id"]) == world["ma"]["id"]
    assert _found(api, "/model_artifact", name="weights", parentResourceId=other_v["id"]) == world["other_ma"]["id"]
    assert _found(api, "/model_artifact", externalId="ma-ext") == world["ma"]["id"]
    assert _found(api, "/artifact", name="readme", parentResourceId=v["id"]) == world["doc"]["id"]
    assert _found(api, "/artifact", externalId="doc-ext") == world["doc"]["id"]
    assert ok(api.get("/artifact", params={"externalId": "ma-ext"}), 200) == world["ma"]
    error(api.get("/artifact", params={"name": "readme", "parentResourceId": other_v["id"]}), 404)


def test_model_artifact_finder_ignores_other_types(api: httpx.Client, world: dict[str, dict]) -> None:
    error(api.get("/model_artifact", params={"name": "readme", "parentResourceId": world["v"]["id"]}), 404)
    error(api.get("/model_artifact", params={"externalId": "doc-ext"}), 404)


def test_run_artifacts_are_found_under_their_run(api: httpx.Client, world: dict[str, dict]) -> None:
    r = world["run"]
    body = {"artifactType": "parameter", "name": "lr", "value": "0.1"}
    created = api.post(f"/experiment_runs/{r['id']}/artifacts", json=body)
    assert created.status_code in (200, 201)
    assert _found(api, "/artifact", name="lr", parentResourceId=r["id"]) == created.json()["id"]


@pytest.mark.parametrize(
    "path",
    [
        "/registered_model",
        "/model_version",
        "/model_artifact",
        "/artifact",
        "/serving_environment",
        "/inference_service",
        "/experiment",
        "/experiment_run",
    ],
)
def test_neither_name_nor_external_id_is_400(api: httpx.Client, path: str) -> None:
    assert error(api.get(path), 400, "supply either")["code"] == "Bad Request"
    error(api.get(path, params={"parentResourceId": "1"}), 400)


@pytest.mark.parametrize(
    "path", ["/model_version", "/model_artifact", "/artifact", "/inference_service", "/experiment_run"]
)
def test_name_without_parent_is_400(api: httpx.Client, world: dict[str, dict], path: str) -> None:
    error(api.get(path, params={"name": "v1"}), 400)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/registered_model", {"name": "nope"}),
        ("/registered_model", {"externalId": "nope"}),
        ("/model_version", {"name": "nope", "parentResourceId": "1"}),
        ("/model_version", {"externalId": "nope"}),
        ("/model_artifact", {"externalId": "nope"}),
        ("/artifact", {"name": "nope", "parentResourceId": "1"}),
        ("/serving_environment", {"name": "nope"}),
        ("/inference_service", {"externalId": "nope"}),
        ("/experiment", {"name": "nope"}),
        ("/experiment_run", {"externalId": "nope"}),
    ],
)
def test_no_match_is_404(api: httpx.Client, world: dict[str, dict], path: str, params: dict[str, str]) -> None:
    assert error(api.get(path, params=params), 404)["code"] == "Not Found"


def test_bad_parent_id_is_400(api: httpx.Client) -> None:
    error(api.get("/model_version", params={"name": "v1", "parentResourceId": "abc"}), 400)

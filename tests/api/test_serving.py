"""Serving records: environments, inference services (model/version resolution), serves and their rules."""

from __future__ import annotations

import time

import httpx

from api.builders import (
    environment,
    error,
    inference_service,
    listed_names,
    listing,
    model,
    ok,
    props,
    version,
)


def test_serving_environment_lifecycle(api: httpx.Client) -> None:
    env = environment(api, "prod", description="production", externalId="se-1")
    assert env["id"].isdigit() and env["customProperties"] == {}
    assert env["createTimeSinceEpoch"] == env["lastUpdateTimeSinceEpoch"]
    assert ok(api.get(f"/serving_environments/{env['id']}"), 200) == env
    updated = ok(api.patch(f"/serving_environments/{env['id']}", json={"customProperties": props(region="eu")}), 200)
    assert updated["description"] == "production" and updated["externalId"] == "se-1"
    assert updated["customProperties"] == props(region="eu")
    assert int(updated["lastUpdateTimeSinceEpoch"]) > int(env["lastUpdateTimeSinceEpoch"])
    assert updated["createTimeSinceEpoch"] == env["createTimeSinceEpoch"]
    error(api.patch(f"/serving_environments/{env['id']}", json={"name": "x"}), 400, 'unknown field "name"')
    assert listed_names(api, "/serving_environments") == ["prod"]


def test_serving_environment_uniqueness(api: httpx.Client) -> None:
    environment(api, "prod", externalId="e")
    environment(api, "Prod")  # case-sensitive
    error(api.post("/serving_environments", json={"name": "prod"}), 409)
    error(api.post("/serving_environments", json={"name": "dev", "externalId": "e"}), 409)
    body = error(api.post("/serving_environments", json={}), 422)
    assert body == {"code": "Bad Request", "message": "required field 'name' is zero value."}
    assert listed_names(api, "/serving_environments") == ["prod", "Prod"]


def test_inference_service_lifecycle(api: httpx.Client) -> None:
    m = model(api, "m")
    old = version(api, m["id"], "v1")
    time.sleep(0.002)
    new = version(api, m["id"], "v2")
    env = environment(api, "prod")
    body = {"registeredModelId": m["id"], "servingEnvironmentId": env["id"], "runtime": "vllm"}
    service = ok(api.post(f"/serving_environments/{env['id']}/inference_services", json=body))
    assert service["desiredState"] == "DEPLOYED" and service["name"]  # a name is generated when absent
    assert service["registeredModelId"] == m["id"] and service["servingEnvironmentId"] == env["id"]
    assert "modelVersionId" not in service and service["customProperties"] == {}
    assert ok(api.get(f"/inference_services/{service['id']}"), 200) == service
    assert ok(api.get(f"/inference_services/{service['id']}/model"), 200) == ok(
        api.get(f"/registered_models/{m['id']}"), 200
    )
    assert ok(api.get(f"/inference_services/{service['id']}/version"), 200) == new  # newest version
    pinned = ok(api.patch(f"/inference_services/{service['id']}", json={"modelVersionId": old["id"]}), 200)
    assert pinned["modelVersionId"] == old["id"] and pinned["desiredState"] == "DEPLOYED"
    assert pinned["runtime"] == "vllm"
    assert ok(api.get(f"/inference_services/{service['id']}/version"), 200) == old
    undeployed = ok(api.patch(f"/inference_services/{service['id']}", json={"desiredState": "UNDEPLOYED"}), 200)
    assert undeployed["modelVersionId"] == old["id"] and undeployed["desiredState"] == "UNDEPLOYED"
    described = ok(api.patch(f"/inference_services/{service['id']}", json={"description": "x"}), 200)
    assert described["desiredState"] == "UNDEPLOYED"  # the reference would reset it to DEPLOYED
    assert int(described["lastUpdateTimeSinceEpoch"]) > int(undeployed["lastUpdateTimeSinceEpoch"])
    assert listed_names(api, f"/serving_environments/{env['id']}/inference_services") == [service["name"]]


def test_newest_version_follows_new_versions(api: httpx.Client) -> None:
    m = model(api, "m")
    env = environment(api, "prod")
    service = inference_service(api, env["id"], m["id"])
    error(api.get(f"/inference_services/{service['id']}/version"), 404)  # the model has no version yet
    first = version(api, m["id"], "a")
    assert ok(api.get(f"/inference_services/{service['id']}/version"), 200)["id"] == first["id"]
    time.sleep(0.002)
    second = version(api, m["id"], "b")
    assert ok(api.get(f"/inference_services/{service['id']}/version"), 200)["id"] == second["id"]
    other = model(api, "other")
    time.sleep(0.002)
    version(api, other["id"], "c")  # newer, but of another model
    assert ok(api.get(f"/inference_services/{service['id']}/version"), 200)["id"] == second["id"]


def test_inference_service_names_are_scoped_to_their_environment(api: httpx.Client) -> None:
    m = model(api, "m")
    prod, dev = environment(api, "prod"), environment(api, "dev")
    a = inference_service(api, prod["id"], m["id"], name="svc", externalId="is-1")
    b = inference_service(api, dev["id"], m["id"], name="svc")
    assert a["id"] != b["id"]
    error(
        api.post(
            "/inference_services",
            json={"registeredModelId": m["id"], "servingEnvironmentId": prod["id"], "name": "svc"},
        ),
        409,
    )
    body = {"registeredModelId": m["id"], "servingEnvironmentId": dev["id"], "name": "other", "externalId": "is-1"}
    error(api.post("/inference_services", json=body), 409)
    assert listed_names(api, f"/serving_environments/{prod['id']}/inference_services") == ["svc"]
    assert listed_names(api, f"/serving_environments/{dev['id']}/inference_services") == ["svc"]
    assert listed_names(api, "/inference_services") == ["svc", "svc"]


def test_nested_inference_service_list_by_name(api: httpx.Client) -> None:
    m = model(api, "m")
    env = environment(api, "prod")
    inference_service(api, env["id"], m["id"], name="a", externalId="x-a")
    inference_service(api, env["id"], m["id"], name="b", externalId="x-b")
    path = f"/serving_environments/{env['id']}/inference_services"
    assert listed_names(api, path, name="b") == ["b"]
    assert listed_names(api, path, externalId="x-a") == ["a"]


def test_path_id_wins_for_nested_create(api: httpx.Client) -> None:
    m = model(api, "m")
    prod, dev = environment(api, "prod"), environment(api, "dev")
    body = {"registeredModelId": m["id"], "servingEnvironmentId": dev["id"]}
    created = ok(api.post(f"/serving_environments/{prod['id']}/inference_services", json=body))
    assert created["servingEnvironmentId"] == prod["id"]
    body = {"registeredModelId": m["id"], "servingEnvironmentId": prod["id"]}
    error(api.post("/serving_environments/999999/inference_services", json=body), 404)


def test_inference_service_parents_must_exist(api: httpx.Client) -> None:
    m = model(api, "m")
    env = environment(api, "prod")
    for body in (
        {"registeredModelId": m["id"], "servingEnvironmentId": "999999"},
        {"registeredModelId": "999999", "servingEnvironmentId": env["id"]},
        {"registeredModelId": m["id"], "servingEnvironmentId": env["id"], "modelVersionId": "999999"},
    ):
        error(api.post("/inference_services", json=body), 404)
    service = inference_service(api, env["id"], m["id"])
    error(api.patch(f"/inference_services/{service['id']}", json={"modelVersionId": "999999"}), 404)
    assert ok(api.get(f"/inference_services/{service['id']}"), 200) == service
    assert listing(api, "/inference_services")["size"] == 1


def test_inference_service_required_and_immutable_fields(api: httpx.Client) -> None:
    m = model(api, "m")
    env = environment(api, "prod")
    missing_model = error(api.post("/inference_services", json={"servingEnvironmentId": env["id"]}), 422)
    assert missing_model == {"code": "Bad Request", "message": "required field 'registeredModelId' is zero value."}
    missing_env = error(api.post("/inference_services", json={"registeredModelId": m["id"]}), 422)
    assert missing_env == {"code": "Bad Request", "message": "required field 'servingEnvironmentId' is zero value."}
    error(api.post("/inference_services", json={**_is(m, env), "desiredState": "RUNNING"}), 400)
    service = inference_service(api, env["id"], m["id"])
    for field in ("registeredModelId", "servingEnvironmentId", "name"):
        error(api.patch(f"/inference_services/{service['id']}", json={field: "1"}), 400, field)
    assert listing(api, "/inference_services")["size"] == 1


def _is(m: dict, env: dict) -> dict:
    return {"registeredModelId": m["id"], "servingEnvironmentId": env["id"]}


def test_serves(api: httpx.Client) -> None:
    m = model(api, "m")
    v = version(api, m["id"])
    env = environment(api, "prod")
    service = inference_service(api, env["id"], m["id"])
    path = f"/inference_services/{service['id']}/serves"
    serve = ok(api.post(path, json={"modelVersionId": v["id"], "description": "d", "customProperties": props(a=1)}))
    assert serve["lastKnownState"] == "UNKNOWN" and serve["modelVersionId"] == v["id"] and serve["name"]
    assert serve["customProperties"] == props(a=1) and serve["id"].isdigit()
    running = ok(api.post(path, json={"modelVersionId": v["id"], "name": "named", "lastKnownState": "RUNNING"}))
    assert running["lastKnownState"] == "RUNNING" and running["name"] == "named"
    error(api.post(path, json={"modelVersionId": v["id"], "name": "named"}), 409)
    error(api.post(path, json={"modelVersionId": "999999"}), 404)
    error(api.post("/inference_services/999999/serves", json={"modelVersionId": v["id"]}), 404)
    error(api.post(path, json={"modelVersionId": v["id"], "lastKnownState": "EXPLODED"}), 400)
    body = error(api.post(path, json={}), 422)
    assert body == {"code": "Bad Request", "message": "required field 'modelVersionId' is zero value."}
    assert [s["id"] for s in listing(api, path)["items"]] == [serve["id"], running["id"]]
    assert listed_names(api, path, name="named") == ["named"]


def test_serves_refuse_gated_and_private_hugging_face_versions(api: httpx.Client) -> None:
    m = model(api, "m")
    env = environment(api, "prod")
    service = inference_service(api, env["id"], m["id"])
    path = f"/inference_services/{service['id']}/serves"
    gated = version(api, m["id"], "gated", customProperties=props(hf_gated="true"))
    manual = version(api, m["id"], "manual", customProperties=props(hf_gated="manual"))
    private = version(api, m["id"], "private", customProperties=props(hf_private="true"))
    ungated = version(api, m["id"], "ungated", customProperties=props(hf_gated="false", hf_private="false"))
    error(api.post(path, json={"modelVersionId": gated["id"]}), 400, "gated")
    error(api.post(path, json={"modelVersionId": manual["id"]}), 400, "gated")
    error(api.post(path, json={"modelVersionId": private["id"]}), 400, "private")
    ok(api.post(path, json={"modelVersionId": ungated["id"]}))
    assert [s["modelVersionId"] for s in listing(api, path)["items"]] == [ungated["id"]]


def test_serves_of_other_services_are_not_listed(api: httpx.Client) -> None:
    m = model(api, "m")
    v = version(api, m["id"])
    env = environment(api, "prod")
    a, b = inference_service(api, env["id"], m["id"], name="a"), inference_service(api, env["id"], m["id"], name="b")
    ok(api.post(f"/inference_services/{a['id']}/serves", json={"modelVersionId": v["id"], "name": "s"}))
    ok(api.post(f"/inference_services/{b['id']}/serves", json={"modelVersionId": v["id"], "name": "s"}))
    assert listed_names(api, f"/inference_services/{a['id']}/serves") == ["s"]
    assert listing(api, f"/inference_services/{b['id']}/serves")["size"] == 1


def test_unknown_and_malformed_ids(api: httpx.Client) -> None:
    for path in ("/serving_environments", "/inference_services"):
        error(api.get(f"{path}/999999"), 404)
        error(api.patch(f"{path}/999999", json={"description": "x"}), 404)
        error(api.get(f"{path}/abc"), 400)
    for sub in ("model", "version"):
        error(api.get(f"/inference_services/999999/{sub}"), 404)
    for sub in ("model", "version", "serves"):
        error(api.get(f"/inference_services/abc/{sub}"), 400)
    error(api.get("/serving_environments/abc/inference_services"), 400)

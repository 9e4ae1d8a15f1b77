"""Serving records (environments, inference services, serves) and experiments with run logging."""

from __future__ import annotations

import httpx

from api.flows.builders import model, names, ok, props, version


def test_inference_service_lifecycle(api: httpx.Client) -> None:
    m = model(api, "m")
    old, new = version(api, m["id"], "v1"), version(api, m["id"], "v2")
    env = ok(api.post("/serving_environments", json={"name": "prod"}))
    body = {"registeredModelId": m["id"], "servingEnvironmentId": env["id"]}
    service = ok(api.post(f"/serving_environments/{env['id']}/inference_services", json=body))
    assert service["desiredState"] == "DEPLOYED" and service["name"]  # a name is generated when absent
    assert ok(api.get(f"/inference_services/{service['id']}/model"), 200)["id"] == m["id"]
    assert ok(api.get(f"/inference_services/{service['id']}/version"), 200)["id"] == new["id"]  # newest
    pinned = ok(api.patch(f"/inference_services/{service['id']}", json={"modelVersionId": old["id"]}), 200)
    assert pinned["desiredState"] == "DEPLOYED"
    assert ok(api.get(f"/inference_services/{service['id']}/version"), 200)["id"] == old["id"]
    undeployed = ok(api.patch(f"/inference_services/{service['id']}", json={"desiredState": "UNDEPLOYED"}), 200)
    assert undeployed["modelVersionId"] == old["id"]
    found = ok(api.get("/inference_service", params={"name": service["name"], "parentResourceId": env["id"]}), 200)
    assert found["id"] == service["id"]


def test_inference_service_parents_must_exist(api: httpx.Client) -> None:
    m = model(api, "m")
    env = ok(api.post("/serving_environments", json={"name": "prod"}))
    for body in (
        {"registeredModelId": m["id"], "servingEnvironmentId": "999"},
        {"registeredModelId": "999", "servingEnvironmentId": env["id"]},
        {"registeredModelId": m["id"], "servingEnvironmentId": env["id"], "modelVersionId": "999"},
    ):
        assert api.post("/inference_services", json=body).status_code == 404, body
    missing = api.post("/inference_services", json={"registeredModelId": m["id"]})
    assert missing.status_code == 422
    assert ok(api.get("/inference_services"), 200)["items"] == []


def test_serves(api: httpx.Client) -> None:
    m = model(api, "m")
    v = version(api, m["id"])
    gated = version(api, m["id"], "gated", customProperties=props(hf_gated="true"))
    env = ok(api.post("/serving_environments", json={"name": "prod"}))
    service = ok(
        api.post("/inference_services", json={"registeredModelId": m["id"], "servingEnvironmentId": env["id"]})
    )
    serve = ok(api.post(f"/inference_services/{service['id']}/serves", json={"modelVersionId": v["id"]}))
    assert serve["lastKnownState"] == "UNKNOWN"
    assert api.post(f"/inference_services/{service['id']}/serves", json={"modelVersionId": "999"}).status_code == 404
    assert api.post("/inference_services/999/serves", json={"modelVersionId": v["id"]}).status_code == 404
    refused = api.post(f"/inference_services/{service['id']}/serves", json={"modelVersionId": gated["id"]})
    assert refused.status_code == 400 and "gated" in refused.json()["message"]
    assert [s["id"] for s in ok(api.get(f"/inference_services/{service['id']}/serves"), 200)["items"]] == [serve["id"]]


def test_experiment_runs_and_metric_history(api: httpx.Client) -> None:
    exp = ok(api.post("/experiments", json={"name": "exp", "owner": "me"}))
    run = ok(api.post(f"/experiments/{exp['id']}/experiment_runs", json={"experimentId": exp["id"], "name": "r1"}))
    assert run["status"] == "RUNNING" and run["state"] == "LIVE" and run["experimentId"] == exp["id"]
    for step, value in ((1, 0.5), (2, 0.7), (3, 0.9)):
        metric = {"artifactType": "metric", "name": "accuracy", "value": value, "step": step, "timestamp": "1"}
        response = api.post(f"/experiment_runs/{run['id']}/artifacts", json=metric)
        assert response.status_code in (200, 201)
        assert response.json()["experimentRunId"] == run["id"] and response.json()["experimentId"] == exp["id"]
    ok(api.post(f"/experiment_runs/{run['id']}/artifacts", json={"artifactType": "metric", "name": "loss", "value": 1}))
    ok(
        api.post(
            f"/experiment_runs/{run['id']}/artifacts", json={"artifactType": "parameter", "name": "lr", "value": "0.1"}
        )
    )
    listed = ok(api.get(f"/experiment_runs/{run['id']}/artifacts"), 200)["items"]
    assert sorted(a["name"] for a in listed) == ["accuracy", "loss", "lr"]  # history is not an artifact
    assert [a["value"] for a in listed if a["name"] == "accuracy"] == [0.9]
    history = ok(api.get(f"/experiment_runs/{run['id']}/metric_history"), 200)["items"]
    assert [(h["name"], h["value"]) for h in history] == [
        ("accuracy", 0.5),
        ("accuracy", 0.7),
        ("accuracy", 0.9),
        ("loss", 1.0),
    ]
    accuracy = ok(api.get(f"/experiment_runs/{run['id']}/metric_history", params={"name": "accu"}), 200)["items"]
    assert len(accuracy) == 3
    steps = ok(api.get("/experiment_runs/metric_history", params={"stepIds": "1,3"}), 200)["items"]
    assert [h["value"] for h in steps] == [0.5, 0.9]
    assert api.get("/experiment_runs/999/metric_history").status_code == 404
    by_run = api.get(
        "/artifacts",
        params={
            "artifactType": "metric",
            "filterQuery": f"experimentRunId IN ('{run['id']}', '999') AND name LIKE '%acc%'",
        },
    )
    assert names(by_run) == ["accuracy"]


def test_experiment_run_rules(api: httpx.Client) -> None:
    exp = ok(api.post("/experiments", json={"name": "exp"}))
    missing = api.post("/experiment_runs", json={"experimentId": "999"})
    assert missing.status_code == 404
    backwards = api.post(
        "/experiment_runs", json={"experimentId": exp["id"], "startTimeSinceEpoch": "10", "endTimeSinceEpoch": "5"}
    )
    assert backwards.status_code == 400
    run = ok(api.post("/experiment_runs", json={"experimentId": exp["id"], "startTimeSinceEpoch": "10"}))
    finished = ok(
        api.patch(f"/experiment_runs/{run['id']}", json={"status": "FINISHED", "endTimeSinceEpoch": "20"}), 200
    )
    assert finished["status"] == "FINISHED" and finished["state"] == "LIVE"
    described = ok(api.patch(f"/experiment_runs/{run['id']}", json={"description": "x"}), 200)
    assert described["status"] == "FINISHED"  # the reference would reset it to RUNNING
    assert api.patch(f"/experiment_runs/{run['id']}", json={"endTimeSinceEpoch": "1"}).status_code == 400
    assert names(api.get(f"/experiments/{exp['id']}/experiment_runs")) == [run["name"]]
    assert api.get("/experiments/999/experiment_runs").status_code == 404
    assert (
        ok(api.get("/experiment_run", params={"name": run["name"], "parentResourceId": exp["id"]}), 200)["id"]
        == run["id"]
    )


def test_run_ids_never_equal_experiment_ids(api: httpx.Client) -> None:
    """The 0.3.10 client resolves a run name via GET /experiment_runs/{experimentId}: that must not find a run."""
    first = ok(api.post("/experiments", json={"name": "a"}))
    runs = [ok(api.post("/experiment_runs", json={"experimentId": first["id"]})) for _ in range(3)]
    second = ok(api.post("/experiments", json={"name": "b"}))
    ids = [first["id"], second["id"], *(r["id"] for r in runs)]
    assert len(set(ids)) == len(ids)
    assert api.get(f"/experiment_runs/{second['id']}").status_code == 404

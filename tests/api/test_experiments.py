"""Experiments and runs: lifecycle, run rules, run artifacts, and metric history."""

from __future__ import annotations

import httpx

from api.builders import (
    error,
    experiment,
    listed_names,
    listing,
    log_metric,
    ok,
    props,
    run,
    upserted,
)


def test_experiment_lifecycle(api: httpx.Client) -> None:
    exp = experiment(api, "exp", owner="me", description="d", externalId="e1")
    assert exp["state"] == "LIVE" and exp["customProperties"] == {} and exp["id"].isdigit()
    assert ok(api.get(f"/experiments/{exp['id']}"), 200) == exp
    archived = ok(api.patch(f"/experiments/{exp['id']}", json={"state": "ARCHIVED"}), 200)
    assert archived["state"] == "ARCHIVED" and archived["owner"] == "me"
    described = ok(api.patch(f"/experiments/{exp['id']}", json={"description": "new"}), 200)
    assert described["state"] == "ARCHIVED"  # the reference would reset it to LIVE
    assert described["createTimeSinceEpoch"] == exp["createTimeSinceEpoch"]
    assert int(described["lastUpdateTimeSinceEpoch"]) > int(archived["lastUpdateTimeSinceEpoch"])
    error(api.patch(f"/experiments/{exp['id']}", json={"name": "x"}), 400, 'unknown field "name"')
    assert listed_names(api, "/experiments") == ["exp"]


def test_experiment_uniqueness(api: httpx.Client) -> None:
    experiment(api, "exp", externalId="e")
    experiment(api, "Exp")
    error(api.post("/experiments", json={"name": "exp"}), 409)
    error(api.post("/experiments", json={"name": "other", "externalId": "e"}), 409)
    body = error(api.post("/experiments", json={"owner": "me"}), 422)
    assert body == {"code": "Bad Request", "message": "required field 'name' is zero value."}
    assert listed_names(api, "/experiments") == ["exp", "Exp"]


def test_run_lifecycle(api: httpx.Client) -> None:
    exp = experiment(api)
    created = ok(api.post(f"/experiments/{exp['id']}/experiment_runs", json={"experimentId": exp["id"], "name": "r1"}))
    assert created["status"] == "RUNNING" and created["state"] == "LIVE" and created["experimentId"] == exp["id"]
    assert created["customProperties"] == {}
    assert "startTimeSinceEpoch" not in created and "endTimeSinceEpoch" not in created  # never auto-filled
    assert ok(api.get(f"/experiment_runs/{created['id']}"), 200) == created
    generated = run(api, exp["id"])
    assert generated["name"] and generated["name"] != "r1"
    assert listed_names(api, f"/experiments/{exp['id']}/experiment_runs") == ["r1", generated["name"]]
    assert listed_names(api, "/experiment_runs") == ["r1", generated["name"]]


def test_run_patch_merges(api: httpx.Client) -> None:
    exp = experiment(api)
    r = run(api, exp["id"], "r", startTimeSinceEpoch="10", owner="me", customProperties=props(a=1))
    assert r["startTimeSinceEpoch"] == "10"
    finished = ok(api.patch(f"/experiment_runs/{r['id']}", json={"status": "FINISHED", "endTimeSinceEpoch": "20"}), 200)
    assert (finished["status"], finished["state"], finished["endTimeSinceEpoch"]) == ("FINISHED", "LIVE", "20")
    described = ok(api.patch(f"/experiment_runs/{r['id']}", json={"description": "x"}), 200)
    assert described["status"] == "FINISHED"  # the reference would reset it to RUNNING
    assert described["owner"] == "me" and described["customProperties"] == props(a=1)
    assert described["startTimeSinceEpoch"] == "10" and described["endTimeSinceEpoch"] == "20"
    archived = ok(api.patch(f"/experiment_runs/{r['id']}", json={"state": "ARCHIVED"}), 200)
    assert archived["state"] == "ARCHIVED" and archived["status"] == "FINISHED"
    for field, value in (("experimentId", exp["id"]), ("startTimeSinceEpoch", "1"), ("name", "n")):
        error(api.patch(f"/experiment_runs/{r['id']}", json={field: value}), 400, field)


def test_every_run_status(api: httpx.Client) -> None:
    exp = experiment(api)
    r = run(api, exp["id"])
    for status in ("SCHEDULED", "RUNNING", "FINISHED", "FAILED", "KILLED"):
        assert ok(api.patch(f"/experiment_runs/{r['id']}", json={"status": status}), 200)["status"] == status
    error(api.patch(f"/experiment_runs/{r['id']}", json={"status": "PAUSED"}), 400)


def test_run_filters(api: httpx.Client) -> None:
    a, b = experiment(api, "a"), experiment(api, "b")
    run(api, a["id"], "early", startTimeSinceEpoch="100", owner="me")
    run(api, a["id"], "late", startTimeSinceEpoch="200", status="FAILED")
    run(api, b["id"], "other", state="ARCHIVED")
    assert listed_names(api, "/experiment_runs", filterQuery=f"experimentId = '{a['id']}'") == ["early", "late"]
    assert listed_names(api, "/experiment_runs", filterQuery=f"experimentId = {b['id']}") == ["other"]
    assert listed_names(api, "/experiment_runs", filterQuery="startTimeSinceEpoch > 150") == ["late"]
    assert listed_names(api, "/experiment_runs", filterQuery="status = 'FAILED' OR owner = 'me'") == ["early", "late"]
    assert listed_names(api, "/experiment_runs", filterQuery="state = 'ARCHIVED'") == ["other"]
    assert listed_names(api, f"/experiments/{a['id']}/experiment_runs", filterQuery="status = 'RUNNING'") == ["early"]
    assert listed_names(api, "/experiments", filterQuery="name IN ('b')") == ["b"]


def test_run_time_rules(api: httpx.Client) -> None:
    exp = experiment(api)
    body = {"experimentId": exp["id"], "startTimeSinceEpoch": "10", "endTimeSinceEpoch": "5"}
    error(api.post("/experiment_runs", json=body), 400)
    error(api.post(f"/experiments/{exp['id']}/experiment_runs", json=body), 400)
    error(api.post("/experiment_runs", json={"experimentId": exp["id"], "startTimeSinceEpoch": "soon"}), 400)
    r = run(api, exp["id"], startTimeSinceEpoch="10")
    error(api.patch(f"/experiment_runs/{r['id']}", json={"endTimeSinceEpoch": "9"}), 400)
    same = ok(api.patch(f"/experiment_runs/{r['id']}", json={"endTimeSinceEpoch": "10"}), 200)
    assert same["endTimeSinceEpoch"] == "10"
    assert listing(api, "/experiment_runs")["size"] == 1


def test_runs_need_an_existing_experiment(api: httpx.Client) -> None:
    error(api.post("/experiment_runs", json={"experimentId": "999999"}), 404)
    error(api.post("/experiments/999999/experiment_runs", json={"experimentId": "999999"}), 404)
    body = error(api.post("/experiment_runs", json={"name": "r"}), 422)
    assert body == {"code": "Bad Request", "message": "required field 'experimentId' is zero value."}
    error(api.get("/experiments/999999/experiment_runs"), 404)
    assert listing(api, "/experiment_runs")["items"] == []


def test_run_names_are_scoped_to_their_experiment(api: httpx.Client) -> None:
    a, b = experiment(api, "a"), experiment(api, "b")
    run(api, a["id"], "r", externalId="run-1")
    run(api, b["id"], "r")
    error(api.post("/experiment_runs", json={"experimentId": a["id"], "name": "r"}), 409)
    error(api.post("/experiment_runs", json={"experimentId": b["id"], "name": "s", "externalId": "run-1"}), 409)
    assert listed_names(api, f"/experiments/{a['id']}/experiment_runs") == ["r"]
    assert listed_names(api, f"/experiments/{b['id']}/experiment_runs") == ["r"]


def test_nested_post_with_id_updates_that_run(api: httpx.Client) -> None:
    exp = experiment(api)
    r = run(api, exp["id"], "r")
    body = {"id": r["id"], "experimentId": exp["id"], "status": "FINISHED"}
    updated = ok(api.post(f"/experiments/{exp['id']}/experiment_runs", json=body))
    assert updated["id"] == r["id"] and updated["status"] == "FINISHED" and updated["name"] == "r"
    assert listed_names(api, f"/experiments/{exp['id']}/experiment_runs") == ["r"]


def test_path_id_wins_for_nested_run_create(api: httpx.Client) -> None:
    a, b = experiment(api, "a"), experiment(api, "b")
    created = ok(api.post(f"/experiments/{a['id']}/experiment_runs", json={"experimentId": b["id"], "name": "r"}))
    assert created["experimentId"] == a["id"]


def test_run_ids_never_equal_experiment_ids(api: httpx.Client) -> None:
    """The 0.3.10 client resolves a run name via GET /experiment_runs/{experimentId}: that must not find a run."""
    first = experiment(api, "a")
    runs = [run(api, first["id"]) for _ in range(3)]
    second = experiment(api, "b")
    ids = [first["id"], second["id"], *(r["id"] for r in runs)]
    assert len(set(ids)) == len(ids)
    error(api.get(f"/experiment_runs/{second['id']}"), 404)


def test_run_artifacts_carry_their_run_and_experiment(api: httpx.Client) -> None:
    exp = experiment(api)
    r = run(api, exp["id"], "r")
    bodies = [
        {"artifactType": "parameter", "name": "lr", "value": "0.1", "parameterType": "number"},
        {"artifactType": "dataset-artifact", "name": "train", "uri": "s3://d"},
        {"artifactType": "model-artifact", "name": "model", "uri": "s3://m"},
        {"artifactType": "metric", "name": "acc", "value": 0.5, "step": 1, "timestamp": "0"},
    ]
    for body in bodies:
        response = api.post(f"/experiment_runs/{r['id']}/artifacts", json=body)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["experimentRunId"] == r["id"] and created["experimentId"] == exp["id"]
        assert "experiment_id" not in created["customProperties"]
        assert ok(api.get(f"/artifacts/{created['id']}"), 200) == created
    listed = listing(api, f"/experiment_runs/{r['id']}/artifacts")["items"]
    assert sorted(a["name"] for a in listed) == ["acc", "lr", "model", "train"]
    assert listed_names(api, f"/experiment_runs/{r['id']}/artifacts", artifactType="metric") == ["acc"]
    metric = next(a for a in listed if a["name"] == "acc")
    assert metric["timestamp"] == "0" and metric["value"] == 0.5 and metric["step"] == 1
    error(api.post("/experiment_runs/999999/artifacts", json=bodies[0]), 404)


def test_metric_history(api: httpx.Client) -> None:
    exp = experiment(api)
    r = run(api, exp["id"], "r1")
    for step, value in ((1, 0.5), (2, 0.7), (3, 0.9)):
        log_metric(api, r["id"], "accuracy", value, step=step, timestamp=str(1700000000000 + step))
    log_metric(api, r["id"], "loss", 1.0, step=1)
    ok(
        api.post(
            f"/experiment_runs/{r['id']}/artifacts", json={"artifactType": "parameter", "name": "lr", "value": "0.1"}
        )
    )
    listed = listing(api, f"/experiment_runs/{r['id']}/artifacts")["items"]
    assert sorted(a["name"] for a in listed) == ["accuracy", "loss", "lr"]  # history entries are not artifacts
    assert [a["value"] for a in listed if a["name"] == "accuracy"] == [0.9]  # the metric holds its latest value
    assert len(listing(api, "/artifacts", artifactType="metric")["items"]) == 2
    history = listing(api, f"/experiment_runs/{r['id']}/metric_history")["items"]
    assert [(h["name"], h["value"], h["step"]) for h in history] == [
        ("accuracy", 0.5, 1),
        ("accuracy", 0.7, 2),
        ("accuracy", 0.9, 3),
        ("loss", 1.0, 1),
    ]
    assert all(h["artifactType"] == "metric" for h in history)
    assert [h["timestamp"] for h in history[:3]] == ["1700000000001", "1700000000002", "1700000000003"]
    accuracy = listing(api, f"/experiment_runs/{r['id']}/metric_history", name="ccur")["items"]
    assert [h["value"] for h in accuracy] == [0.5, 0.7, 0.9]  # a substring of the name
    assert listing(api, f"/experiment_runs/{r['id']}/metric_history", name="%")["items"] == []  # not a pattern
    steps = listing(api, f"/experiment_runs/{r['id']}/metric_history", stepIds="1,3")["items"]
    assert [(h["name"], h["step"]) for h in steps] == [("accuracy", 1), ("accuracy", 3), ("loss", 1)]
    both = listing(api, f"/experiment_runs/{r['id']}/metric_history", stepIds="2", name="acc")["items"]
    assert [h["value"] for h in both] == [0.7]


def test_metric_history_across_runs(api: httpx.Client) -> None:
    exp = experiment(api)
    a, b = run(api, exp["id"], "a"), run(api, exp["id"], "b")
    log_metric(api, a["id"], "loss", 0.9, step=1)
    log_metric(api, b["id"], "loss", 0.8, step=1)
    log_metric(api, a["id"], "loss", 0.4, step=2)
    every = listing(api, "/experiment_runs/metric_history")["items"]
    assert [h["value"] for h in every] == [0.9, 0.8, 0.4]
    assert [h["value"] for h in listing(api, f"/experiment_runs/{b['id']}/metric_history")["items"]] == [0.8]
    assert [h["value"] for h in listing(api, "/experiment_runs/metric_history", stepIds="2")["items"]] == [0.4]
    error(api.get("/experiment_runs/999999/metric_history"), 404)
    error(api.get("/experiment_runs/metric_history", params={"stepIds": "1,x"}), 400)


def test_metrics_logged_to_versions_have_no_history(api: httpx.Client) -> None:
    m = ok(api.post("/registered_models", json={"name": "m"}))
    v = ok(api.post("/model_versions", json={"name": "v", "registeredModelId": m["id"]}))
    upserted(
        api.post(f"/model_versions/{v['id']}/artifacts", json={"artifactType": "metric", "name": "acc", "value": 1})
    )
    assert listing(api, "/experiment_runs/metric_history")["items"] == []


def test_unknown_and_malformed_ids(api: httpx.Client) -> None:
    for path in ("/experiments", "/experiment_runs"):
        error(api.get(f"{path}/999999"), 404)
        error(api.patch(f"{path}/999999", json={"description": "x"}), 404)
        error(api.get(f"{path}/abc"), 400)
    error(api.get("/experiment_runs/abc/artifacts"), 400)
    error(api.get("/experiment_runs/abc/metric_history"), 400)

"""Artifacts of every type: upsert under versions, standalone creation, merges, type immutability, scoping."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api.builders import artifact, error, listed_names, listing, model, model_with_version, ok, props, upserted

BODIES = {
    "model-artifact": {
        "artifactType": "model-artifact",
        "name": "weights",
        "uri": "s3://bucket/weights",
        "description": "the weights",
        "externalId": "ma-1",
        "state": "LIVE",
        "modelFormatName": "onnx",
        "modelFormatVersion": "1",
        "storageKey": "aws-connection",
        "storagePath": "/models/w",
        "serviceAccountName": "sa",
        "modelSourceKind": "kfp",
        "modelSourceClass": "pipelinerun",
        "modelSourceGroup": "ns",
        "modelSourceId": "run-1",
        "modelSourceName": "train",
    },
    "doc-artifact": {"artifactType": "doc-artifact", "name": "readme", "uri": "https://x/readme", "state": "PENDING"},
    "dataset-artifact": {
        "artifactType": "dataset-artifact",
        "name": "train",
        "uri": "s3://data/train",
        "digest": "sha256:abc",
        "sourceType": "s3",
        "source": "s3://data",
        "schema": '{"type": "object"}',
        "profile": "profile.json",
    },
    "metric": {"artifactType": "metric", "name": "accuracy", "value": 0.93, "step": 3, "timestamp": "1700000000000"},
    "parameter": {"artifactType": "parameter", "name": "lr", "value": "0.01", "parameterType": "number"},
}


@pytest.mark.parametrize("artifact_type", list(BODIES))
def test_every_type_round_trips_under_a_version(api: httpx.Client, artifact_type: str) -> None:
    _, v = model_with_version(api)
    body = BODIES[artifact_type]
    response = api.post(f"/model_versions/{v['id']}/artifacts", json=body)
    assert response.status_code == 201, response.text  # created
    created = response.json()
    assert {k: created[k] for k in body} == body
    assert created["id"].isdigit() and created["customProperties"] == {}
    assert created["createTimeSinceEpoch"] == created["lastUpdateTimeSinceEpoch"]
    assert "experimentId" not in created and "experimentRunId" not in created
    assert ok(api.get(f"/artifacts/{created['id']}"), 200) == created
    assert listing(api, f"/model_versions/{v['id']}/artifacts")["items"] == [created]


@pytest.mark.parametrize("artifact_type", list(BODIES))
def test_every_type_round_trips_standalone(api: httpx.Client, artifact_type: str) -> None:
    body = BODIES[artifact_type]
    created = ok(api.post("/artifacts", json=body))
    assert {k: created[k] for k in body} == body
    assert ok(api.get(f"/artifacts/{created['id']}"), 200) == created
    assert listing(api, "/artifacts", artifactType=artifact_type)["items"] == [created]


def test_default_state_and_generated_names(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    standalone = ok(api.post("/model_artifacts", json={"uri": "s3://b/x"}))
    assert standalone["state"] == "UNKNOWN" and standalone["artifactType"] == "model-artifact"
    assert standalone["name"]  # a name is generated when absent
    nested = upserted(api.post(f"/model_versions/{v['id']}/artifacts", json={"artifactType": "doc-artifact"}))
    assert nested["name"] and nested["name"] != standalone["name"]


def test_client_supplied_timestamps_are_ignored(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    body = {**BODIES["model-artifact"], "createTimeSinceEpoch": "1", "lastUpdateTimeSinceEpoch": "2"}
    created = upserted(api.post(f"/model_versions/{v['id']}/artifacts", json=body))
    assert int(created["createTimeSinceEpoch"]) > 1_600_000_000_000
    assert int(created["lastUpdateTimeSinceEpoch"]) > 1_600_000_000_000


def test_upsert_with_id_updates_and_returns_200(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    body = {"artifactType": "model-artifact", "name": "w", "uri": "s3://b/w", "modelFormatName": "onnx"}
    first = api.post(f"/model_versions/{v['id']}/artifacts", json=body)
    assert first.status_code == 201
    created = first.json()
    again = api.post(
        f"/model_versions/{v['id']}/artifacts",
        json={"artifactType": "model-artifact", "id": created["id"], "uri": "s3://b/w2"},
    )
    assert again.status_code == 200, again.text
    updated = again.json()
    assert updated["id"] == created["id"] and updated["uri"] == "s3://b/w2"
    assert updated["modelFormatName"] == "onnx" and updated["name"] == "w"  # merged
    assert updated["createTimeSinceEpoch"] == created["createTimeSinceEpoch"]
    assert int(updated["lastUpdateTimeSinceEpoch"]) > int(created["lastUpdateTimeSinceEpoch"])
    assert listed_names(api, f"/model_versions/{v['id']}/artifacts") == ["w"]


def test_upsert_with_id_of_another_type_is_400(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    doc = artifact(api, v["id"], "doc", artifactType="doc-artifact")
    error(
        api.post(f"/model_versions/{v['id']}/artifacts", json={"artifactType": "model-artifact", "id": doc["id"]}), 400
    )
    assert ok(api.get(f"/artifacts/{doc['id']}"), 200) == doc


def test_upsert_with_unknown_id_creates_nothing(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    response = api.post(f"/model_versions/{v['id']}/artifacts", json={"artifactType": "model-artifact", "id": "999999"})
    assert response.status_code in (400, 404), response.text
    assert listing(api, "/artifacts")["items"] == []


def test_duplicate_names_under_one_version_conflict_per_type(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    for artifact_type in ("model-artifact", "doc-artifact", "dataset-artifact"):
        artifact(api, v["id"], "same", artifactType=artifact_type)
        body = {"artifactType": artifact_type, "name": "same", "uri": "s3://other"}
        assert error(api.post(f"/model_versions/{v['id']}/artifacts", json=body), 409)["code"] == "Conflict"
    types = [a["artifactType"] for a in listing(api, f"/model_versions/{v['id']}/artifacts")["items"]]
    assert sorted(types) == ["dataset-artifact", "doc-artifact", "model-artifact"]


def test_same_artifact_name_in_different_versions(api: httpx.Client) -> None:
    m = model(api, "m")
    v1 = ok(api.post("/model_versions", json={"name": "v1", "registeredModelId": m["id"]}))
    v2 = ok(api.post("/model_versions", json={"name": "v2", "registeredModelId": m["id"]}))
    a1, a2 = artifact(api, v1["id"], "weights"), artifact(api, v2["id"], "weights")
    assert a1["id"] != a2["id"]
    found = ok(api.get("/model_artifact", params={"name": "weights", "parentResourceId": v2["id"]}), 200)
    assert found["id"] == a2["id"]


def test_metric_and_parameter_upsert_by_name(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    path = f"/model_versions/{v['id']}/artifacts"
    first = api.post(path, json={"artifactType": "metric", "name": "acc", "value": 0.5})
    second = api.post(path, json={"artifactType": "metric", "name": "acc", "value": 0.7})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"] and second.json()["value"] == 0.7
    p1 = api.post(path, json={"artifactType": "parameter", "name": "lr", "value": "0.1"})
    p2 = api.post(path, json={"artifactType": "parameter", "name": "lr", "value": "0.2"})
    assert (p1.status_code, p2.status_code) == (201, 200)
    assert p2.json()["id"] == p1.json()["id"] and p2.json()["value"] == "0.2"
    assert sorted(listed_names(api, path)) == ["acc", "lr"]
    assert ok(api.get(f"/artifacts/{first.json()['id']}"), 200)["value"] == 0.7


def test_upsert_under_a_missing_version_is_404(api: httpx.Client) -> None:
    error(api.post("/model_versions/999999/artifacts", json=BODIES["model-artifact"]), 404)
    error(api.post("/model_versions/abc/artifacts", json=BODIES["model-artifact"]), 400)
    assert listing(api, "/artifacts")["items"] == []


def test_standalone_artifact_linked_to_versions_keeps_its_id(api: httpx.Client) -> None:
    standalone = ok(api.post("/model_artifacts", json={"name": "shared", "uri": "s3://b/shared"}))
    assert standalone["state"] == "UNKNOWN"
    _, v1 = model_with_version(api, "a")
    _, v2 = model_with_version(api, "b")
    for v in (v1, v2):
        linked = api.post(f"/model_versions/{v['id']}/artifacts", json={**standalone, "artifactType": "model-artifact"})
        assert linked.status_code == 200, linked.text
        assert linked.json()["id"] == standalone["id"]
        assert listed_names(api, f"/model_versions/{v['id']}/artifacts") == ["shared"]
    assert len(listing(api, "/artifacts")["items"]) == 1


def test_standalone_artifacts_may_repeat_names(api: httpx.Client) -> None:
    first = ok(api.post("/model_artifacts", json={"name": "shared"}))
    second = ok(api.post("/model_artifacts", json={"name": "shared"}))
    third = ok(api.post("/artifacts", json={"artifactType": "model-artifact", "name": "shared"}))
    assert len({first["id"], second["id"], third["id"]}) == 3
    assert listed_names(api, "/model_artifacts") == ["shared"] * 3


def test_duplicate_external_id_conflicts_across_artifact_types(api: httpx.Client) -> None:
    ok(api.post("/artifacts", json={"artifactType": "doc-artifact", "name": "a", "externalId": "art-1"}))
    error(api.post("/artifacts", json={"artifactType": "model-artifact", "name": "b", "externalId": "art-1"}), 409)
    error(api.post("/model_artifacts", json={"name": "c", "externalId": "art-1"}), 409)
    other = ok(api.post("/model_artifacts", json={"name": "d"}))
    error(api.patch(f"/model_artifacts/{other['id']}", json={"externalId": "art-1"}), 409)


def test_patch_artifact_merges(api: httpx.Client) -> None:
    created = ok(api.post("/artifacts", json={**BODIES["model-artifact"], "customProperties": props(a=1)}))
    body = {"artifactType": "model-artifact", "uri": "s3://bucket/v2", "state": "DELETED"}
    updated = ok(api.patch(f"/artifacts/{created['id']}", json=body), 200)
    assert updated["uri"] == "s3://bucket/v2" and updated["state"] == "DELETED"
    unchanged = {k: v for k, v in created.items() if k not in ("uri", "state", "lastUpdateTimeSinceEpoch")}
    assert {k: updated[k] for k in unchanged} == unchanged
    assert int(updated["lastUpdateTimeSinceEpoch"]) > int(created["lastUpdateTimeSinceEpoch"])
    assert ok(api.get(f"/artifacts/{created['id']}"), 200) == updated


def test_patch_model_artifact_keeps_absent_state(api: httpx.Client) -> None:
    created = ok(api.post("/model_artifacts", json={"name": "w", "uri": "s3://w", "state": "LIVE"}))
    updated = ok(api.patch(f"/model_artifacts/{created['id']}", json={"description": "x"}), 200)
    assert updated["state"] == "LIVE"  # the reference would reset it to UNKNOWN
    assert updated["description"] == "x" and updated["uri"] == "s3://w" and updated["name"] == "w"
    error(api.patch(f"/model_artifacts/{created['id']}", json={"name": "other"}), 400, 'unknown field "name"')


def test_artifact_type_is_immutable(api: httpx.Client) -> None:
    doc = ok(api.post("/artifacts", json=BODIES["doc-artifact"]))
    change = error(api.patch(f"/artifacts/{doc['id']}", json={"artifactType": "model-artifact"}), 400)
    assert "doc-artifact" in change["message"] and "model-artifact" in change["message"]
    error(api.patch(f"/artifacts/{doc['id']}", json={"description": "no type"}), 400)
    assert ok(api.get(f"/artifacts/{doc['id']}"), 200) == doc


def test_model_artifact_endpoints_only_see_model_artifacts(api: httpx.Client) -> None:
    doc = ok(api.post("/artifacts", json=BODIES["doc-artifact"]))
    ma = ok(api.post("/artifacts", json=BODIES["model-artifact"]))
    error(api.get(f"/model_artifacts/{doc['id']}"), 404)
    error(api.patch(f"/model_artifacts/{doc['id']}", json={"description": "x"}), 404)
    assert ok(api.get(f"/artifacts/{doc['id']}"), 200) == doc
    assert ok(api.get(f"/model_artifacts/{ma['id']}"), 200) == ma
    assert [a["id"] for a in listing(api, "/model_artifacts")["items"]] == [ma["id"]]


def test_bad_artifact_types(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    error(api.post("/artifacts", json={"artifactType": "painting", "name": "x"}), 400)
    error(api.post("/artifacts", json={"name": "x"}), 400)
    error(api.post(f"/model_versions/{v['id']}/artifacts", json={"artifactType": "painting", "name": "x"}), 400)
    error(api.get("/artifacts", params={"artifactType": "painting"}), 400)
    error(api.get(f"/model_versions/{v['id']}/artifacts", params={"artifactType": "painting"}), 400)
    assert listing(api, "/artifacts")["items"] == []


def test_bad_field_values_are_400(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    path = f"/model_versions/{v['id']}/artifacts"
    error(api.post(path, json={"artifactType": "model-artifact", "name": "a", "state": "BROKEN"}), 400)
    error(api.post(path, json={"artifactType": "metric", "name": "m", "value": "high"}), 400)
    error(api.post(path, json={"artifactType": "parameter", "name": "p", "parameterType": "complex"}), 400)
    error(api.post("/model_artifacts", json={"name": "a", "experimentId": "1"}), 400, 'unknown field "experimentId"')
    assert listing(api, "/artifacts")["items"] == []


@pytest.mark.parametrize(
    "state", ["UNKNOWN", "PENDING", "LIVE", "MARKED_FOR_DELETION", "DELETED", "ABANDONED", "REFERENCE"]
)
def test_every_artifact_state(api: httpx.Client, state: str) -> None:
    created = ok(api.post("/model_artifacts", json={"name": "a", "state": state}))
    assert ok(api.get(f"/model_artifacts/{created['id']}"), 200)["state"] == state


def test_nested_artifact_list_by_type_name_and_external_id(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    for body in BODIES.values():
        upserted(api.post(f"/model_versions/{v['id']}/artifacts", json=body))
    path = f"/model_versions/{v['id']}/artifacts"
    assert len(listing(api, path)["items"]) == 5
    assert listed_names(api, path, artifactType="doc-artifact") == ["readme"]
    assert listed_names(api, path, artifactType="metric") == ["accuracy"]
    assert listed_names(api, path, name="train") == ["train"]
    assert listed_names(api, path, externalId="ma-1") == ["weights"]
    assert listed_names(api, path, name="nope") == []


def test_artifacts_of_other_versions_are_not_listed(api: httpx.Client) -> None:
    _, v1 = model_with_version(api, "a")
    _, v2 = model_with_version(api, "b")
    artifact(api, v1["id"], "one")
    artifact(api, v2["id"], "two")
    assert listed_names(api, f"/model_versions/{v1['id']}/artifacts") == ["one"]
    assert listed_names(api, f"/model_versions/{v2['id']}/artifacts") == ["two"]
    assert listed_names(api, "/artifacts") == ["one", "two"]


def test_unknown_and_malformed_artifact_ids(api: httpx.Client) -> None:
    error(api.get("/artifacts/999999"), 404)
    error(api.get("/model_artifacts/999999"), 404)
    error(api.patch("/artifacts/999999", json={"artifactType": "doc-artifact"}), 404)
    error(api.patch("/model_artifacts/999999", json={"description": "x"}), 404)
    error(api.get("/artifacts/x1"), 400)
    error(api.get("/model_artifacts/x1"), 400)


def test_artifact_name_limits_count_the_reference_prefix(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    limit = 255 - len(v["id"]) - 1  # stored as "<versionId>:<name>"
    assert artifact(api, v["id"], "a" * limit)["name"] == "a" * limit
    too_long = {"artifactType": "model-artifact", "name": "b" * (limit + 1)}
    error(api.post(f"/model_versions/{v['id']}/artifacts", json=too_long), 400)
    standalone = 255 - 36 - 1  # standalone artifacts: "<uuid>:<name>"
    assert ok(api.post("/model_artifacts", json={"name": "c" * standalone}))["name"] == "c" * standalone
    error(api.post("/model_artifacts", json={"name": "d" * (standalone + 1)}), 400)
    assert len(listing(api, "/artifacts")["items"]) == 2


def test_concurrent_metric_upserts_by_name_make_one_metric(api: httpx.Client) -> None:
    """Upsert by name is atomic: racing logs of one metric all succeed (one 201, the rest 200), never 409."""
    exp = ok(api.post("/experiments", json={"name": "exp"}))
    r = ok(api.post("/experiment_runs", json={"experimentId": exp["id"], "name": "r"}))
    path = f"/experiment_runs/{r['id']}/artifacts"
    metrics = [f"loss{i}" for i in range(8)]

    def log(job: tuple[str, int]) -> httpx.Response:
        name, step = job
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            return client.post(path, json={"artifactType": "metric", "name": name, "value": step / 10, "step": step})

    with ThreadPoolExecutor(max_workers=8) as pool:
        for name in metrics:
            responses = list(pool.map(log, [(name, step) for step in range(8)]))
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [200] * 7 + [201], (name, statuses, [r.text for r in responses if r.status_code >= 300])
            assert len({r.json()["id"] for r in responses}) == 1
    assert sorted(listed_names(api, path)) == metrics
    history = listing(api, f"/experiment_runs/{r['id']}/metric_history")["items"]
    assert sorted((h["name"], h["step"]) for h in history) == [(n, s) for n in metrics for s in range(8)]


def test_concurrent_links_of_one_artifact_all_succeed(api: httpx.Client) -> None:
    """Re-posting an existing artifact to a version is idempotent, also when the requests race."""
    standalone = [ok(api.post("/model_artifacts", json={"name": f"a{i}"})) for i in range(4)]
    _, v = model_with_version(api)
    path = f"/model_versions/{v['id']}/artifacts"

    def link(artifact_id: str) -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            return client.post(path, json={"artifactType": "model-artifact", "id": artifact_id})

    with ThreadPoolExecutor(max_workers=8) as pool:
        for a in standalone:
            responses = list(pool.map(link, [a["id"]] * 8))
            assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses if r.status_code != 200]
    assert sorted(listed_names(api, path)) == ["a0", "a1", "a2", "a3"]

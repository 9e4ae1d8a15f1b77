"""Model versions and artifacts: scoping, the 255-character rule, upsert, types, find endpoints."""

from __future__ import annotations

import httpx

from api.flows.builders import artifact, model, names, ok, props, version


def test_version_names_are_scoped_to_their_model(api: httpx.Client) -> None:
    a, b = model(api, "a"), model(api, "b")
    version(api, a["id"], "v1")
    version(api, b["id"], "v1")
    assert (
        api.post(
            f"/registered_models/{a['id']}/versions", json={"name": "v1", "registeredModelId": a["id"]}
        ).status_code
        == 409
    )
    assert names(api.get(f"/registered_models/{a['id']}/versions")) == ["v1"]
    by_name = ok(api.get("/model_version", params={"name": "v1", "parentResourceId": b["id"]}), 200)
    assert by_name["registeredModelId"] == b["id"]


def test_name_limit_counts_the_parent_prefix_like_the_reference(api: httpx.Client) -> None:
    parent = model(api, "m")
    limit = 255 - len(parent["id"]) - 1
    assert version(api, parent["id"], "x" * limit)["name"] == "x" * limit
    too_long = api.post("/model_versions", json={"name": "y" * (limit + 1), "registeredModelId": parent["id"]})
    assert too_long.status_code == 400
    assert "too long" in too_long.json()["message"]


def test_path_id_wins_over_body_id_for_nested_create(api: httpx.Client) -> None:
    a, b = model(api, "a"), model(api, "b")
    created = ok(api.post(f"/registered_models/{a['id']}/versions", json={"name": "v", "registeredModelId": b["id"]}))
    assert created["registeredModelId"] == a["id"]


def test_nested_post_with_id_updates_that_version(api: httpx.Client) -> None:
    parent = model(api, "m")
    v = version(api, parent["id"], "v1")
    body = {**v, "description": "changed"}
    del body["customProperties"]
    updated = ok(api.post(f"/registered_models/{parent['id']}/versions", json=body))
    assert updated["id"] == v["id"] and updated["description"] == "changed"
    assert names(api.get(f"/registered_models/{parent['id']}/versions")) == ["v1"]


def test_artifact_upsert_creates_then_updates(api: httpx.Client) -> None:
    v = version(api, model(api, "m")["id"])
    body = {"artifactType": "model-artifact", "name": "w", "uri": "s3://b/w", "modelFormatName": "onnx"}
    first = api.post(f"/model_versions/{v['id']}/artifacts", json=body)
    assert first.status_code == 201
    again = api.post(
        f"/model_versions/{v['id']}/artifacts", json={**body, "id": first.json()["id"], "uri": "s3://b/w2"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["uri"] == "s3://b/w2"
    duplicate = api.post(f"/model_versions/{v['id']}/artifacts", json=body)
    assert duplicate.status_code == 409
    missing = api.post("/model_versions/9999/artifacts", json=body)
    assert missing.status_code == 404


def test_standalone_artifact_linked_to_versions_keeps_its_id(api: httpx.Client) -> None:
    standalone = ok(api.post("/model_artifacts", json={"name": "shared", "uri": "s3://b/shared"}))
    assert standalone["state"] == "UNKNOWN"
    v1, v2 = (version(api, model(api, name)["id"]) for name in ("a", "b"))
    for v in (v1, v2):
        linked = api.post(f"/model_versions/{v['id']}/artifacts", json={**standalone, "artifactType": "model-artifact"})
        assert linked.status_code == 200 and linked.json()["id"] == standalone["id"]
        assert names(api.get(f"/model_versions/{v['id']}/artifacts")) == ["shared"]
    assert ok(api.post("/model_artifacts", json={"name": "shared"}))["id"] != standalone["id"]  # standalone repeats


def test_every_artifact_type_and_type_immutability(api: httpx.Client) -> None:
    v = version(api, model(api, "m")["id"])
    bodies = [
        {"artifactType": "model-artifact", "name": "m", "uri": "s3://m", "modelSourceKind": "kfp"},
        {"artifactType": "doc-artifact", "name": "readme", "uri": "https://x/readme"},
        {"artifactType": "dataset-artifact", "name": "train", "uri": "s3://d", "digest": "sha256:1", "schema": "{}"},
        {"artifactType": "metric", "name": "accuracy", "value": 0.93, "step": 3, "timestamp": "1700000000000"},
        {"artifactType": "parameter", "name": "lr", "value": "0.01", "parameterType": "number"},
    ]
    created = {}
    for body in bodies:
        response = api.post(f"/model_versions/{v['id']}/artifacts", json=body)
        assert response.status_code in (200, 201), response.text
        got = response.json()
        assert {k: got[k] for k in body} == body
        created[body["artifactType"]] = got
    listed = ok(api.get(f"/model_versions/{v['id']}/artifacts"), 200)
    assert sorted(a["artifactType"] for a in listed["items"]) == sorted(b["artifactType"] for b in bodies)
    only_docs = ok(api.get(f"/model_versions/{v['id']}/artifacts", params={"artifactType": "doc-artifact"}), 200)
    assert [a["name"] for a in only_docs["items"]] == ["readme"]
    doc_id = created["doc-artifact"]["id"]
    change = api.patch(f"/artifacts/{doc_id}", json={"artifactType": "model-artifact"})
    assert change.status_code == 400
    assert "doc-artifact" in change.json()["message"] and "model-artifact" in change.json()["message"]
    assert api.get(f"/model_artifacts/{doc_id}").status_code == 404
    assert ok(api.get(f"/artifacts/{doc_id}"), 200)["artifactType"] == "doc-artifact"
    bad_type = api.post("/artifacts", json={"artifactType": "painting", "name": "x"})
    assert bad_type.status_code == 400


def test_metric_and_parameter_upsert_by_name(api: httpx.Client) -> None:
    v = version(api, model(api, "m")["id"])
    first = api.post(
        f"/model_versions/{v['id']}/artifacts", json={"artifactType": "metric", "name": "acc", "value": 0.5}
    )
    second = api.post(
        f"/model_versions/{v['id']}/artifacts", json={"artifactType": "metric", "name": "acc", "value": 0.7}
    )
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"] and second.json()["value"] == 0.7


def test_find_endpoints(api: httpx.Client) -> None:
    m = model(api, "m_1%", externalId="rm-ext")
    v = version(api, m["id"], "v1", externalId="mv-ext")
    a = artifact(api, v["id"], "weights", externalId="ma-ext")
    assert ok(api.get("/registered_model", params={"name": "m_1%"}), 200)["id"] == m["id"]
    assert api.get("/registered_model", params={"name": "m_1_"}).status_code == 404  # no LIKE wildcards
    assert ok(api.get("/registered_model", params={"externalId": "rm-ext"}), 200)["id"] == m["id"]
    assert ok(api.get("/model_version", params={"externalId": "mv-ext"}), 200)["id"] == v["id"]
    assert ok(api.get("/model_artifact", params={"name": "weights", "parentResourceId": v["id"]}), 200)["id"] == a["id"]
    assert ok(api.get("/artifact", params={"externalId": "ma-ext"}), 200)["id"] == a["id"]
    for path in ("/registered_model", "/model_version", "/model_artifact", "/artifact"):
        neither = api.get(path)
        assert neither.status_code == 400, path
        assert "supply either" in neither.json()["message"]
    assert api.get("/model_version", params={"name": "v1"}).status_code == 400  # name needs its parent
    assert api.get("/registered_model", params={"name": "nope"}).status_code == 404


def test_nested_lists_take_name_and_external_id(api: httpx.Client) -> None:
    m = model(api, "m")
    version(api, m["id"], "v1", externalId="e1")
    version(api, m["id"], "v2", externalId="e2")
    assert names(api.get(f"/registered_models/{m['id']}/versions", params={"name": "v2"})) == ["v2"]
    assert names(api.get(f"/registered_models/{m['id']}/versions", params={"externalId": "e1"})) == ["v1"]


def test_version_custom_properties_and_archive(api: httpx.Client) -> None:
    m = model(api, "m")
    v = version(api, m["id"], "v1", author="me", customProperties=props(License="apache-2.0", epochs=3))
    archived = ok(api.patch(f"/model_versions/{v['id']}", json={"state": "ARCHIVED"}), 200)
    assert archived["state"] == "ARCHIVED" and archived["author"] == "me"
    assert archived["customProperties"] == props(License="apache-2.0", epochs=3)

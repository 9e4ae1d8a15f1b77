"""Model versions: scoping to their registered model, the 255-character rule, nested create/update, merges."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from api.builders import error, listed_names, model, ok, props, version


def test_create_through_both_endpoints(api: httpx.Client) -> None:
    m = model(api, "m")
    nested = version(api, m["id"], "v1", author="alice", description="first")
    flat = ok(api.post("/model_versions", json={"name": "v2", "registeredModelId": m["id"], "author": "bob"}))
    for created, name in ((nested, "v1"), (flat, "v2")):
        assert created["name"] == name and created["registeredModelId"] == m["id"]
        assert created["state"] == "LIVE" and created["customProperties"] == {}
        assert created["id"].isdigit() and created["createTimeSinceEpoch"] == created["lastUpdateTimeSinceEpoch"]
        assert ok(api.get(f"/model_versions/{created['id']}"), 200) == created
    assert listed_names(api, f"/registered_models/{m['id']}/versions") == ["v1", "v2"]
    assert listed_names(api, "/model_versions") == ["v1", "v2"]


def test_version_names_are_scoped_to_their_model(api: httpx.Client) -> None:
    a, b = model(api, "a"), model(api, "b")
    in_a = version(api, a["id"], "v1")
    in_b = version(api, b["id"], "v1")
    assert in_a["id"] != in_b["id"]
    body = error(
        api.post(f"/registered_models/{a['id']}/versions", json={"name": "v1", "registeredModelId": a["id"]}), 409
    )
    assert body["code"] == "Conflict"
    error(api.post("/model_versions", json={"name": "v1", "registeredModelId": b["id"]}), 409)
    assert listed_names(api, f"/registered_models/{a['id']}/versions") == ["v1"]
    assert listed_names(api, f"/registered_models/{b['id']}/versions") == ["v1"]


def test_version_names_are_case_sensitive(api: httpx.Client) -> None:
    m = model(api, "m")
    version(api, m["id"], "V1")
    version(api, m["id"], "v1")
    assert listed_names(api, f"/registered_models/{m['id']}/versions") == ["V1", "v1"]


def test_version_name_may_equal_its_model_name_and_contain_colons(api: httpx.Client) -> None:
    m = model(api, "m")
    assert version(api, m["id"], "m")["name"] == "m"
    assert version(api, m["id"], "model:latest")["name"] == "model:latest"
    assert version(api, m["id"], "2:3")["name"] == "2:3"


def test_name_limit_counts_the_parent_prefix_like_the_reference(api: httpx.Client) -> None:
    parent = model(api, "m")
    limit = 255 - len(parent["id"]) - 1  # stored as "<registeredModelId>:<name>"
    if limit >= 250:  # ids below 10000: a 250-character name fits, as the upstream client test expects
        assert version(api, parent["id"], "x" * 250)["name"] == "x" * 250
    else:
        version(api, parent["id"], "x" * 10)
    assert version(api, parent["id"], "y" * limit)["name"] == "y" * limit
    error(api.post("/model_versions", json={"name": "z" * (limit + 1), "registeredModelId": parent["id"]}), 400)
    error(api.post("/model_versions", json={"name": "z" * 255, "registeredModelId": parent["id"]}), 400)
    assert len(listed_names(api, f"/registered_models/{parent['id']}/versions")) == 2


def test_version_of_a_missing_model_is_404(api: httpx.Client) -> None:
    error(api.post("/model_versions", json={"name": "v", "registeredModelId": "999999"}), 404)
    error(api.post("/registered_models/999999/versions", json={"name": "v", "registeredModelId": "999999"}), 404)
    assert listed_names(api, "/model_versions") == []


def test_path_id_wins_over_body_id_for_nested_create(api: httpx.Client) -> None:
    a, b = model(api, "a"), model(api, "b")
    created = ok(api.post(f"/registered_models/{a['id']}/versions", json={"name": "v", "registeredModelId": b["id"]}))
    assert created["registeredModelId"] == a["id"]
    assert listed_names(api, f"/registered_models/{b['id']}/versions") == []


def test_nested_post_with_id_updates_that_version(api: httpx.Client) -> None:
    parent = model(api, "m")
    v = version(api, parent["id"], "v1", author="me", customProperties=props(a=1))
    body = {**v, "description": "changed"}
    del body["customProperties"]
    updated = ok(api.post(f"/registered_models/{parent['id']}/versions", json=body))
    assert updated["id"] == v["id"] and updated["description"] == "changed"
    assert updated["author"] == "me" and updated["customProperties"] == props(a=1)
    assert int(updated["lastUpdateTimeSinceEpoch"]) > int(v["lastUpdateTimeSinceEpoch"])
    assert listed_names(api, f"/registered_models/{parent['id']}/versions") == ["v1"]


def test_patch_merges(api: httpx.Client) -> None:
    m = model(api, "m")
    v = version(api, m["id"], "v1", author="me", description="d", customProperties=props(License="apache-2.0"))
    archived = ok(api.patch(f"/model_versions/{v['id']}", json={"state": "ARCHIVED"}), 200)
    assert archived["state"] == "ARCHIVED" and archived["author"] == "me" and archived["description"] == "d"
    assert archived["customProperties"] == props(License="apache-2.0")
    described = ok(api.patch(f"/model_versions/{v['id']}", json={"description": "new"}), 200)
    assert described["state"] == "ARCHIVED"  # the reference would reset it to LIVE
    assert described["name"] == "v1" and described["registeredModelId"] == m["id"]
    assert described["createTimeSinceEpoch"] == v["createTimeSinceEpoch"]
    assert int(described["lastUpdateTimeSinceEpoch"]) > int(archived["lastUpdateTimeSinceEpoch"])
    restored = ok(api.patch(f"/model_versions/{v['id']}", json={"state": "LIVE", "author": "you"}), 200)
    assert (restored["state"], restored["author"]) == ("LIVE", "you")


def test_name_and_model_are_immutable(api: httpx.Client) -> None:
    a, b = model(api, "a"), model(api, "b")
    v = version(api, a["id"])
    error(api.patch(f"/model_versions/{v['id']}", json={"name": "v2"}), 400, 'unknown field "name"')
    error(api.patch(f"/model_versions/{v['id']}", json={"registeredModelId": b["id"]}), 400, "registeredModelId")
    assert ok(api.get(f"/model_versions/{v['id']}"), 200) == v


def test_duplicate_external_id_conflicts(api: httpx.Client) -> None:
    a, b = model(api, "a"), model(api, "b")
    version(api, a["id"], "v1", externalId="mv-1")
    error(api.post("/model_versions", json={"name": "v2", "registeredModelId": b["id"], "externalId": "mv-1"}), 409)
    other = version(api, b["id"], "v2")
    error(api.patch(f"/model_versions/{other['id']}", json={"externalId": "mv-1"}), 409)


def test_versions_of_an_archived_model_can_still_be_created(api: httpx.Client) -> None:
    m = model(api, "m", state="ARCHIVED")
    assert version(api, m["id"], "late")["state"] == "LIVE"


def test_model_versions_list_spans_models(api: httpx.Client) -> None:
    a, b = model(api, "a"), model(api, "b")
    version(api, a["id"], "a1")
    version(api, b["id"], "b1")
    version(api, a["id"], "a2")
    assert listed_names(api, "/model_versions") == ["a1", "b1", "a2"]
    assert listed_names(api, f"/registered_models/{a['id']}/versions") == ["a1", "a2"]


def test_missing_required_fields(api: httpx.Client) -> None:
    m = model(api, "m")
    body = error(api.post("/model_versions", json={"registeredModelId": m["id"]}), 422)
    assert body == {"code": "Bad Request", "message": "required field 'name' is zero value."}
    body = error(api.post("/model_versions", json={"name": "v"}), 422)
    assert body == {"code": "Bad Request", "message": "required field 'registeredModelId' is zero value."}
    error(api.post(f"/registered_models/{m['id']}/versions", json={"registeredModelId": m["id"]}), 422)
    assert listed_names(api, "/model_versions") == []


def test_unknown_and_malformed_ids(api: httpx.Client) -> None:
    error(api.get("/model_versions/999999"), 404)
    error(api.patch("/model_versions/999999", json={"description": "x"}), 404)
    error(api.get("/model_versions/v1"), 400)
    error(api.get("/registered_models/abc/versions"), 400)
    error(api.post("/model_versions", json={"name": "v", "registeredModelId": "abc"}), 400)


def test_concurrent_creates_of_one_name_make_one_version(api: httpx.Client) -> None:
    m = model(api, "m")

    def create(name: str) -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            return client.post("/model_versions", json={"name": name, "registeredModelId": m["id"]})

    with ThreadPoolExecutor(max_workers=8) as pool:
        same = list(pool.map(create, ["contested"] * 8))
        distinct = list(pool.map(create, [f"v{i}" for i in range(8)]))
    assert sorted(r.status_code for r in same) == [201] + [409] * 7, [r.text for r in same]
    assert [r.status_code for r in distinct] == [201] * 8, [r.text for r in distinct]
    assert sorted(listed_names(api, f"/registered_models/{m['id']}/versions")) == sorted(
        ["contested", *(f"v{i}" for i in range(8))]
    )

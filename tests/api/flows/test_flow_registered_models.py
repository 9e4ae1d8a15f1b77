"""Registered models: create, read, merge-update, archive, uniqueness, error bodies."""

from __future__ import annotations

import httpx

from api.flows.builders import model, ok, props


def test_create_returns_string_ids_and_millisecond_strings(api: httpx.Client) -> None:
    created = model(api, "mnist", description="digits", owner="ai-admin", language=["en"], tasks=["vision"])
    assert created["id"].isdigit()
    assert created["createTimeSinceEpoch"].isdigit() and len(created["createTimeSinceEpoch"]) == 13
    assert created["createTimeSinceEpoch"] == created["lastUpdateTimeSinceEpoch"]
    assert created["state"] == "LIVE"
    assert created["customProperties"] == {}
    assert created["language"] == ["en"] and created["tasks"] == ["vision"]
    assert "externalId" not in created  # absent fields are omitted, never null
    assert ok(api.get(f"/registered_models/{created['id']}"), 200) == created


def test_patch_merges_and_keeps_state(api: httpx.Client) -> None:
    created = model(api, "m", description="first", owner="me", customProperties=props(License="mit"))
    archived = ok(api.patch(f"/registered_models/{created['id']}", json={"state": "ARCHIVED"}), 200)
    assert archived["state"] == "ARCHIVED"
    updated = ok(api.patch(f"/registered_models/{created['id']}", json={"description": "second"}), 200)
    assert updated["state"] == "ARCHIVED"  # the reference would reset it to LIVE
    assert updated["owner"] == "me"
    assert updated["customProperties"] == props(License="mit")
    assert updated["createTimeSinceEpoch"] == created["createTimeSinceEpoch"]
    assert int(updated["lastUpdateTimeSinceEpoch"]) > int(archived["lastUpdateTimeSinceEpoch"])
    restored = ok(api.patch(f"/registered_models/{created['id']}", json={"state": "LIVE"}), 200)
    assert restored["state"] == "LIVE"


def test_custom_properties_replace_the_whole_map(api: httpx.Client) -> None:
    created = model(api, "m", customProperties=props(a="1", b="2"))
    updated = ok(api.patch(f"/registered_models/{created['id']}", json={"customProperties": props(c="3")}), 200)
    assert updated["customProperties"] == props(c="3")
    cleared = ok(api.patch(f"/registered_models/{created['id']}", json={"customProperties": {}}), 200)
    assert cleared["customProperties"] == {}


def test_last_update_time_increases_on_every_update(api: httpx.Client) -> None:
    created = model(api, "m")
    seen = [int(created["lastUpdateTimeSinceEpoch"])]
    for i in range(5):
        body = ok(api.patch(f"/registered_models/{created['id']}", json={"description": str(i)}), 200)
        seen.append(int(body["lastUpdateTimeSinceEpoch"]))
    assert seen == sorted(set(seen))


def test_all_six_custom_property_types_round_trip(api: httpx.Client) -> None:
    values = {
        "s": {"metadataType": "MetadataStringValue", "string_value": "text"},
        "label": {"metadataType": "MetadataStringValue", "string_value": ""},
        "i": {"metadataType": "MetadataIntValue", "int_value": "-42"},
        "big": {"metadataType": "MetadataIntValue", "int_value": "9007199254740993"},
        "d": {"metadataType": "MetadataDoubleValue", "double_value": 0.125},
        "b": {"metadataType": "MetadataBoolValue", "bool_value": False},
        "st": {"metadataType": "MetadataStructValue", "struct_value": "eyJhIjogMX0="},
        "p": {"metadataType": "MetadataProtoValue", "type": "type.googleapis.com/x", "proto_value": "AQI="},
    }
    created = model(api, "typed", customProperties=values)
    assert created["customProperties"] == values
    assert ok(api.get(f"/registered_models/{created['id']}"), 200)["customProperties"] == values


def test_duplicate_name_and_external_id_conflict(api: httpx.Client) -> None:
    model(api, "taken", externalId="ext-1")
    for body in ({"name": "taken"}, {"name": "other", "externalId": "ext-1"}):
        response = api.post("/registered_models", json=body)
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "Conflict"
    second = model(api, "second")
    clash = api.patch(f"/registered_models/{second['id']}", json={"externalId": "ext-1"})
    assert clash.status_code == 409
    assert [m["name"] for m in ok(api.get("/registered_models"), 200)["items"]] == ["taken", "second"]


def test_names_are_case_sensitive(api: httpx.Client) -> None:
    model(api, "Model")
    model(api, "model")
    found = ok(api.get("/registered_model", params={"name": "model"}), 200)
    assert found["name"] == "model"


def test_strict_bodies(api: httpx.Client) -> None:
    unknown = api.post("/registered_models", json={"name": "m", "ext_id": "x"})
    assert unknown.status_code == 400
    assert unknown.json() == {"code": "Bad Request", "message": 'json: unknown field "ext_id"'}
    missing = api.post("/registered_models", json={"description": "no name"})
    assert missing.status_code == 422
    assert missing.json() == {"code": "Bad Request", "message": "required field 'name' is zero value."}
    empty = api.post("/registered_models", json={"name": ""})
    assert empty.status_code == 422
    wrong_type = api.post("/registered_models", json={"name": 5})
    assert wrong_type.status_code == 400
    bad_enum = api.post("/registered_models", json={"name": "m", "state": "GONE"})
    assert bad_enum.status_code == 400
    rename = api.patch("/registered_models/1", json={"name": "new"})
    assert rename.status_code == 400
    assert ok(api.get("/registered_models"), 200)["items"] == []


def test_unknown_and_malformed_ids(api: httpx.Client) -> None:
    missing = api.get("/registered_models/999")
    assert missing.status_code == 404
    assert missing.json() == {"code": "Not Found", "message": "no registered model found for id 999"}
    assert api.get("/registered_models/abc").status_code == 400
    assert api.patch("/registered_models/999", json={"description": "x"}).status_code == 404

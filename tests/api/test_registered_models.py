"""Registered models: create, read, merge-update, archive, uniqueness and case sensitivity."""

from __future__ import annotations

import itertools

import httpx

from api.builders import error, listed_names, model, ok, props, version


def test_create_returns_string_ids_and_millisecond_strings(api: httpx.Client) -> None:
    created = model(api, "mnist", description="digits", owner="ai-admin")
    assert isinstance(created["id"], str) and created["id"].isdigit()
    assert created["createTimeSinceEpoch"].isdigit() and len(created["createTimeSinceEpoch"]) == 13
    assert created["createTimeSinceEpoch"] == created["lastUpdateTimeSinceEpoch"]
    assert created["name"] == "mnist" and created["description"] == "digits" and created["owner"] == "ai-admin"
    assert created["state"] == "LIVE"
    assert created["customProperties"] == {}
    assert "externalId" not in created and None not in created.values()  # absent fields are omitted, never null
    assert ok(api.get(f"/registered_models/{created['id']}"), 200) == created


def test_every_field_round_trips(api: httpx.Client) -> None:
    fields = {
        "description": "a model",
        "externalId": "ext-1",
        "owner": "alice",
        "state": "ARCHIVED",
        "readme": "# Readme\n\nwith *markdown*",
        "maturity": "Technology preview",
        "language": ["en", "fr"],
        "tasks": ["text-generation", "summarization"],
        "provider": "IBM",
        "logo": "data:image/svg+xml;base64,PHN2Zz4=",
        "license": "apache-2.0",
        "licenseLink": "https://www.apache.org/licenses/LICENSE-2.0",
        "libraryName": "transformers",
        "customProperties": props(framework="pytorch"),
    }
    created = model(api, "granite", **fields)
    assert {k: created[k] for k in fields} == fields
    assert ok(api.get(f"/registered_models/{created['id']}"), 200) == created


def test_unicode_names_round_trip(api: httpx.Client) -> None:
    created = model(api, "модель-é-模型 🚀", description="ünïcödé")
    fetched = ok(api.get(f"/registered_models/{created['id']}"), 200)
    assert fetched["name"] == "модель-é-模型 🚀" and fetched["description"] == "ünïcödé"
    found = ok(api.get("/registered_model", params={"name": "модель-é-模型 🚀"}), 200)
    assert found["id"] == created["id"]


def test_ids_are_distinct(api: httpx.Client) -> None:
    ids = [model(api, f"m{i}")["id"] for i in range(5)]
    assert len(set(ids)) == 5


def test_patch_merges_absent_fields_and_keeps_state(api: httpx.Client) -> None:
    created = model(api, "m", description="first", owner="me", customProperties=props(License="mit"))
    archived = ok(api.patch(f"/registered_models/{created['id']}", json={"state": "ARCHIVED"}), 200)
    assert archived["state"] == "ARCHIVED" and archived["description"] == "first"
    updated = ok(api.patch(f"/registered_models/{created['id']}", json={"description": "second"}), 200)
    assert updated["state"] == "ARCHIVED"  # the reference would reset it to LIVE
    assert updated["owner"] == "me"
    assert updated["customProperties"] == props(License="mit")
    assert updated["createTimeSinceEpoch"] == created["createTimeSinceEpoch"]
    assert ok(api.get(f"/registered_models/{created['id']}"), 200) == updated


def test_patch_with_null_keeps_the_value(api: httpx.Client) -> None:
    created = model(api, "m", description="kept", owner="me", externalId="e1")
    body = {"description": None, "owner": None, "externalId": None, "state": None, "customProperties": None}
    updated = ok(api.patch(f"/registered_models/{created['id']}", json=body), 200)
    assert (updated["description"], updated["owner"], updated["externalId"], updated["state"]) == (
        "kept",
        "me",
        "e1",
        "LIVE",
    )


def test_patch_every_updatable_field(api: httpx.Client) -> None:
    created = model(api, "m")
    fields = {
        "description": "d",
        "externalId": "x",
        "owner": "o",
        "readme": "r",
        "maturity": "GA",
        "language": ["de"],
        "tasks": ["t"],
        "provider": "p",
        "logo": "https://logo",
        "license": "mit",
        "licenseLink": "https://mit",
        "libraryName": "lib",
    }
    updated = ok(api.patch(f"/registered_models/{created['id']}", json=fields), 200)
    assert {k: updated[k] for k in fields} == fields
    assert updated["name"] == "m" and updated["id"] == created["id"]


def test_archive_and_restore(api: httpx.Client) -> None:
    created = model(api, "m")
    archived = ok(api.patch(f"/registered_models/{created['id']}", json={"state": "ARCHIVED"}), 200)
    assert archived["state"] == "ARCHIVED"
    assert ok(api.get(f"/registered_models/{created['id']}"), 200)["state"] == "ARCHIVED"
    assert listed_names(api, "/registered_models") == []  # archived models leave the default listing
    assert listed_names(api, "/registered_models", filterQuery="state = 'ARCHIVED'") == ["m"]
    restored = ok(api.patch(f"/registered_models/{created['id']}", json={"state": "LIVE"}), 200)
    assert restored["state"] == "LIVE"
    assert listed_names(api, "/registered_models") == ["m"]


def test_archiving_a_model_archives_its_live_versions_and_restoring_brings_back_those(api: httpx.Client) -> None:
    m = model(api, "m")
    v = version(api, m["id"], "v")
    alone = version(api, m["id"], "alone")
    ok(api.patch(f"/model_versions/{alone['id']}", json={"state": "ARCHIVED"}), 200)
    ok(api.patch(f"/registered_models/{m['id']}", json={"state": "ARCHIVED"}), 200)
    assert ok(api.get(f"/model_versions/{v['id']}"), 200)["state"] == "ARCHIVED"
    assert listed_names(api, f"/registered_models/{m['id']}/versions") == []
    ok(api.patch(f"/registered_models/{m['id']}", json={"state": "LIVE"}), 200)
    assert ok(api.get(f"/model_versions/{v['id']}"), 200)["state"] == "LIVE"
    assert ok(api.get(f"/model_versions/{alone['id']}"), 200)["state"] == "ARCHIVED"  # archived on its own


def test_custom_properties_replace_the_whole_map(api: httpx.Client) -> None:
    created = model(api, "m", customProperties=props(a="1", b="2"))
    updated = ok(api.patch(f"/registered_models/{created['id']}", json={"customProperties": props(c="3")}), 200)
    assert updated["customProperties"] == props(c="3")
    kept = ok(api.patch(f"/registered_models/{created['id']}", json={"description": "x"}), 200)
    assert kept["customProperties"] == props(c="3")
    cleared = ok(api.patch(f"/registered_models/{created['id']}", json={"customProperties": {}}), 200)
    assert cleared["customProperties"] == {}
    assert ok(api.get(f"/registered_models/{created['id']}"), 200)["customProperties"] == {}


def test_last_update_time_increases_on_every_update_and_create_time_never_changes(api: httpx.Client) -> None:
    created = model(api, "m")
    seen = [int(created["lastUpdateTimeSinceEpoch"])]
    bodies = [{"description": str(i)} for i in range(4)] + [{"state": "ARCHIVED"}, {"customProperties": props(a=1)}]
    for body in bodies:
        updated = ok(api.patch(f"/registered_models/{created['id']}", json=body), 200)
        seen.append(int(updated["lastUpdateTimeSinceEpoch"]))
        assert updated["createTimeSinceEpoch"] == created["createTimeSinceEpoch"]
    assert all(later > earlier for earlier, later in itertools.pairwise(seen)), seen


def test_duplicate_name_and_external_id_conflict(api: httpx.Client) -> None:
    model(api, "taken", externalId="ext-1")
    error(api.post("/registered_models", json={"name": "taken"}), 409)
    error(api.post("/registered_models", json={"name": "other", "externalId": "ext-1"}), 409)
    second = model(api, "second")
    body = error(api.patch(f"/registered_models/{second['id']}", json={"externalId": "ext-1"}), 409)
    assert body["code"] == "Conflict"
    assert "externalId" not in ok(api.get(f"/registered_models/{second['id']}"), 200)
    assert listed_names(api, "/registered_models") == ["taken", "second"]


def test_external_id_is_unique_per_entity_type_only(api: httpx.Client) -> None:
    m = model(api, "m", externalId="shared")
    v = version(api, m["id"], "v1", externalId="shared")
    env = ok(api.post("/serving_environments", json={"name": "env", "externalId": "shared"}))
    exp = ok(api.post("/experiments", json={"name": "exp", "externalId": "shared"}))
    assert {m["externalId"], v["externalId"], env["externalId"], exp["externalId"]} == {"shared"}


def test_names_are_case_sensitive(api: httpx.Client) -> None:
    upper = model(api, "Model", externalId="Ext")
    lower = model(api, "model", externalId="ext")
    assert upper["id"] != lower["id"]
    assert ok(api.get("/registered_model", params={"name": "model"}), 200)["id"] == lower["id"]
    assert ok(api.get("/registered_model", params={"name": "Model"}), 200)["id"] == upper["id"]
    assert ok(api.get("/registered_model", params={"externalId": "ext"}), 200)["id"] == lower["id"]
    assert ok(api.get("/registered_model", params={"externalId": "Ext"}), 200)["id"] == upper["id"]
    error(api.get("/registered_model", params={"name": "MODEL"}), 404)
    error(api.post("/registered_models", json={"name": "Model"}), 409)


def test_names_may_contain_colons_and_spaces(api: httpx.Client) -> None:
    created = model(api, "org/model:latest v2")
    assert ok(api.get(f"/registered_models/{created['id']}"), 200)["name"] == "org/model:latest v2"


def test_name_of_255_characters_fits_and_256_does_not(api: httpx.Client) -> None:
    assert model(api, "n" * 255)["name"] == "n" * 255
    error(api.post("/registered_models", json={"name": "n" * 256}), 400)


def test_name_cannot_be_changed(api: httpx.Client) -> None:
    created = model(api, "m")
    error(api.patch(f"/registered_models/{created['id']}", json={"name": "new"}), 400, 'unknown field "name"')
    assert ok(api.get(f"/registered_models/{created['id']}"), 200)["name"] == "m"


def test_read_only_fields_are_refused_on_create(api: httpx.Client) -> None:
    for field, value in (("id", "7"), ("createTimeSinceEpoch", "1"), ("lastUpdateTimeSinceEpoch", "1")):
        error(api.post("/registered_models", json={"name": "m", field: value}), 400, f'unknown field "{field}"')
    assert listed_names(api, "/registered_models") == []


def test_unknown_and_malformed_ids(api: httpx.Client) -> None:
    body = error(api.get("/registered_models/999999"), 404, "999999")
    assert body["code"] == "Not Found"
    error(api.patch("/registered_models/999999", json={"description": "x"}), 404)
    assert error(api.get("/registered_models/abc"), 400)["code"] == "Bad Request"
    error(api.patch("/registered_models/abc", json={"description": "x"}), 400)


def test_names_differing_only_in_trailing_spaces_are_distinct(api: httpx.Client) -> None:
    """Exact, byte-wise names on every database (MariaDB's PAD SPACE collations would equate "m" and "m ")."""
    plain = model(api, "m", externalId="e", customProperties=props(tag="x"))
    padded = model(api, "m ", externalId="e ", customProperties=props(tag="x "))
    assert plain["id"] != padded["id"] and padded["name"] == "m "
    assert ok(api.get("/registered_model", params={"name": "m "}), 200)["id"] == padded["id"]
    assert ok(api.get("/registered_model", params={"externalId": "e "}), 200)["id"] == padded["id"]
    error(api.get("/registered_model", params={"name": "m  "}), 404)
    assert listed_names(api, "/registered_models", filterQuery="name = 'm'") == ["m"]
    assert listed_names(api, "/registered_models", filterQuery="name = 'm '") == ["m "]
    assert listed_names(api, "/registered_models", filterQuery="externalId = 'e'") == ["m"]
    assert listed_names(api, "/registered_models", filterQuery="tag = 'x'") == ["m"]
    assert listed_names(api, "/registered_models", filterQuery="name = 'm  '") == []

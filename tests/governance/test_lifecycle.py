"""Lifecycle stages through the governance REST API under the built-in default policy, and the ``Lifecycle``
custom property as Kubeflow API clients see it (readable, never writable)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from governance.conftest import Governed
from modelreg.db.database import Database
from modelreg.db.tables import audit_log
from modelreg.services.lifecycle import DEFAULT_POLICY


def string_prop(value: str) -> dict[str, str]:
    return {"metadataType": "MetadataStringValue", "string_value": value}


def new_version(
    gov: Governed,
    model: str = "m",
    version: str = "v1",
    *,
    uri: str | None = None,
    license: str | None = None,
    model_id: str | None = None,
) -> dict[str, Any]:
    """A version registered by the developer; with ``uri`` a model artifact, with ``license`` the model's License."""
    api = gov.registry("developer")
    if model_id is None:
        body: dict[str, Any] = {"name": model}
        if license is not None:
            body["customProperties"] = {"License": string_prop(license)}
        created = api.post("/registered_models", json=body)
        assert created.status_code == 201, created.text
        model_id = created.json()["id"]
    made = api.post("/model_versions", json={"name": version, "registeredModelId": model_id})
    assert made.status_code == 201, made.text
    if uri is not None:
        artifact = {"artifactType": "model-artifact", "name": f"{version}-weights", "uri": uri}
        linked = api.post(f"/model_versions/{made.json()['id']}/artifacts", json=artifact)
        assert linked.status_code == 201, linked.text
    return made.json()


def promote(gov: Governed, caller: str, version_id: str, stage: str, **extra: Any) -> httpx.Response:
    return gov.governance(caller).post(f"/model_versions/{version_id}/promote", json={"stage": stage, **extra})


def stage_of(gov: Governed, version_id: str) -> str:
    """The stage as a Kubeflow client sees it: ``Lifecycle`` once set, and a version without one is in development."""
    got = gov.registry("viewer").get(f"/model_versions/{version_id}")
    assert got.status_code == 200, got.text
    return got.json()["customProperties"].get("Lifecycle", string_prop("development"))["string_value"]


def promotions(database: Database) -> list[dict[str, Any]]:
    a = audit_log.c
    query = select(a.actor, a.entity_id, a.entity_name, a.changes).where(a.action == "promote").order_by(a.seq)
    with database.read() as conn:
        return [{**row._asdict(), "changes": orjson.loads(row.changes)} for row in conn.execute(query)]


def to_production(gov: Governed, version_id: str) -> None:
    assert promote(gov, "developer", version_id, "staging").status_code == 200
    done = promote(gov, "admin", version_id, "production")
    assert done.status_code == 200, done.text


def test_new_version_starts_in_development_visible_to_kubeflow_clients(gov: Governed) -> None:
    version = new_version(gov)
    assert "Lifecycle" not in version["customProperties"]  # not set yet: only what the client wrote is shown
    listed = gov.registry("viewer").get("/model_versions", params={"filterQuery": "Lifecycle = 'development'"})
    assert [v["id"] for v in listed.json()["items"]] == [version["id"]]


def test_developer_promotes_to_staging_with_an_audit_record(gov: Governed) -> None:
    version = new_version(gov)
    done = promote(gov, "developer", version["id"], "staging", comment="ready for QA")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["id"] == version["id"]
    assert body["customProperties"]["Lifecycle"] == string_prop("staging")
    assert int(body["lastUpdateTimeSinceEpoch"]) > int(version["lastUpdateTimeSinceEpoch"])
    assert stage_of(gov, version["id"]) == "staging"
    assert promotions(gov.database) == [
        {
            "actor": "ai-developer",
            "entity_id": int(version["id"]),
            "entity_name": "v1",
            "changes": {
                "before": {"Lifecycle": "development"},
                "after": {"Lifecycle": "staging", "comment": "ready for QA"},
            },
        }
    ]
    # A developer bound through a group qualifies as well, here sending the version back.
    assert promote(gov, "group-developer", version["id"], "development").status_code == 200
    assert stage_of(gov, version["id"]) == "development"


def test_developer_cannot_enter_production_admin_can(gov: Governed) -> None:
    version = new_version(gov, uri="s3://models/m/v1", license="apache-2.0")
    assert promote(gov, "developer", version["id"], "staging").status_code == 200
    refused = promote(gov, "developer", version["id"], "production")
    assert refused.status_code == 403
    assert "needs role admin" in refused.json()["message"]
    assert "ai-developer" in refused.json()["message"]
    assert stage_of(gov, version["id"]) == "staging"
    done = promote(gov, "admin", version["id"], "production")
    assert done.status_code == 200, done.text
    assert stage_of(gov, version["id"]) == "production"
    assert promote(gov, "group-admin", version["id"], "deprecated").status_code == 200


@pytest.mark.parametrize("caller", ["viewer", "nobody"])
def test_callers_without_the_promote_permission_are_refused(gov: Governed, caller: str) -> None:
    version = new_version(gov)
    refused = promote(gov, caller, version["id"], "staging")
    assert refused.status_code == 403
    assert "lacks the" in refused.json()["message"]  # the baseline write permission, before the promote one
    assert stage_of(gov, version["id"]) == "development"
    assert promotions(gov.database) == []


def test_production_checks_are_listed_when_failing(gov: Governed) -> None:
    version = new_version(gov)
    assert promote(gov, "developer", version["id"], "staging").status_code == 200
    refused = promote(gov, "admin", version["id"], "production")
    assert refused.status_code == 409
    message = refused.json()["message"]
    assert "no model artifact with a URI" in message
    assert "'License'" in message

    api = gov.registry("developer")
    # An artifact without a URI, and an empty License on the version, satisfy nothing.
    artifact = api.post(
        f"/model_versions/{version['id']}/artifacts", json={"artifactType": "model-artifact", "name": "weights"}
    )
    assert artifact.status_code == 201, artifact.text
    patched = api.patch(
        f"/model_versions/{version['id']}",
        json={"customProperties": {"License": string_prop(" "), "Lifecycle": string_prop("staging")}},
    )
    assert patched.status_code == 200, patched.text
    refused = promote(gov, "admin", version["id"], "production")
    assert refused.status_code == 409
    assert "no model artifact with a URI" in refused.json()["message"]
    assert "'License'" in refused.json()["message"]

    # The URI set on the linked artifact, the License on the version itself: both hold.
    set_uri = api.patch(f"/model_artifacts/{artifact.json()['id']}", json={"uri": "s3://models/m/v1"})
    assert set_uri.status_code == 200, set_uri.text
    licensed = api.patch(f"/model_versions/{version['id']}", json={"customProperties": {"License": string_prop("mit")}})
    assert licensed.status_code == 200, licensed.text
    assert promote(gov, "admin", version["id"], "production").status_code == 200
    assert stage_of(gov, version["id"]) == "production"


def test_license_on_the_registered_model_is_enough(gov: Governed) -> None:
    version = new_version(gov, uri="s3://models/m/v1")
    assert promote(gov, "developer", version["id"], "staging").status_code == 200
    refused = promote(gov, "admin", version["id"], "production")
    assert refused.status_code == 409
    assert "model artifact" not in refused.json()["message"]
    model = gov.registry("developer").patch(
        f"/registered_models/{version['registeredModelId']}", json={"customProperties": {"License": string_prop("mit")}}
    )
    assert model.status_code == 200, model.text
    assert promote(gov, "admin", version["id"], "production").status_code == 200


@pytest.mark.parametrize(
    ("path", "to", "sources"),
    [
        ((), "production", "'staging', 'deprecated'"),  # development straight to production
        (("staging", "production", "deprecated"), "staging", "'development'"),  # deprecated back to staging
        (("staging", "production"), "development", "'staging'"),
    ],
)
def test_transitions_not_in_the_policy_are_refused(gov: Governed, path: tuple[str, ...], to: str, sources: str) -> None:
    version = new_version(gov, uri="s3://models/m/v1", license="mit")
    for stage in path:
        assert promote(gov, "admin", version["id"], stage).status_code == 200
    before = stage_of(gov, version["id"])
    refused = promote(gov, "admin", version["id"], to)
    assert refused.status_code == 409
    assert refused.json()["message"].endswith(f"{to!r} can only be entered from {sources}")
    assert f"is in stage {before!r}" in refused.json()["message"]
    assert stage_of(gov, version["id"]) == before
    assert len(promotions(gov.database)) == len(path)


def test_bad_requests(gov: Governed) -> None:
    version = new_version(gov)
    unknown = promote(gov, "developer", version["id"], "released")
    assert unknown.status_code == 400
    assert "stage" in unknown.json()["message"]
    assert "'development', 'staging', 'production' or 'deprecated'" in unknown.json()["message"]
    extra = promote(gov, "developer", version["id"], "staging", force=True)
    assert extra.status_code == 400
    assert "force" in extra.json()["message"]
    wrong_type = gov.governance("developer").post(f"/model_versions/{version['id']}/promote", json={"stage": 2})
    assert wrong_type.status_code == 400
    missing = promote(gov, "developer", "999999", "staging")
    assert missing.status_code == 404
    assert stage_of(gov, version["id"]) == "development"
    assert promotions(gov.database) == []


def test_same_stage_is_a_no_op_and_archived_versions_are_refused(gov: Governed) -> None:
    version = new_version(gov)
    again = promote(gov, "developer", version["id"], "development")
    assert again.status_code == 200
    assert again.json()["lastUpdateTimeSinceEpoch"] == version["lastUpdateTimeSinceEpoch"]
    assert promotions(gov.database) == []

    archived = gov.governance("admin").post(f"/model_versions/{version['id']}/archive")
    assert archived.status_code == 200, archived.text
    refused = promote(gov, "developer", version["id"], "staging")
    assert refused.status_code == 409
    assert "archived" in refused.json()["message"]


def test_single_production_deprecates_the_previous_one(gov: Governed) -> None:
    v1 = new_version(gov, uri="s3://models/m/v1", license="mit")
    v2 = new_version(gov, version="v2", uri="s3://models/m/v2", model_id=v1["registeredModelId"])
    other = new_version(gov, model="other", uri="s3://models/other/v1", license="mit")
    to_production(gov, v1["id"])
    to_production(gov, other["id"])
    v1_before = gov.registry("viewer").get(f"/model_versions/{v1['id']}").json()

    to_production(gov, v2["id"])
    assert stage_of(gov, v2["id"]) == "production"
    assert stage_of(gov, v1["id"]) == "deprecated"
    assert stage_of(gov, other["id"]) == "production"  # another model's production version is left alone
    v1_after = gov.registry("viewer").get(f"/model_versions/{v1['id']}").json()
    assert int(v1_after["lastUpdateTimeSinceEpoch"]) > int(v1_before["lastUpdateTimeSinceEpoch"])
    last_two = promotions(gov.database)[-2:]
    assert [(r["entity_id"], r["changes"]["after"]["Lifecycle"]) for r in last_two] == [
        (int(v1["id"]), "deprecated"),
        (int(v2["id"]), "production"),
    ]
    assert last_two[0]["changes"]["before"] == {"Lifecycle": "production"}
    assert "superseded by model version 'v2'" in last_two[0]["changes"]["after"]["comment"]

    # Rolling back: the deprecated release returns to production and the newer one is deprecated in turn.
    assert promote(gov, "admin", v1["id"], "production").status_code == 200
    assert (stage_of(gov, v1["id"]), stage_of(gov, v2["id"])) == ("production", "deprecated")


def test_kubeflow_api_cannot_change_lifecycle(gov: Governed) -> None:
    version = new_version(gov)
    assert promote(gov, "developer", version["id"], "staging").status_code == 200
    api = gov.registry("admin")  # not even an admin: the governance API is the only way
    path = f"/model_versions/{version['id']}"

    changed = api.patch(path, json={"customProperties": {"Lifecycle": string_prop("production")}})
    assert changed.status_code == 403
    assert "governance API" in changed.json()["message"]
    assert stage_of(gov, version["id"]) == "staging"

    kept = api.patch(path, json={"description": "tuned", "customProperties": {"owner": string_prop("team-a")}})
    assert kept.status_code == 200, kept.text
    assert kept.json()["customProperties"] == {"owner": string_prop("team-a"), "Lifecycle": string_prop("staging")}
    same = api.patch(path, json={"customProperties": {"Lifecycle": string_prop("staging")}})
    assert same.status_code == 200, same.text
    assert stage_of(gov, version["id"]) == "staging"

    model_id = version["registeredModelId"]
    production = {
        "name": "v2",
        "registeredModelId": model_id,
        "customProperties": {"Lifecycle": string_prop("production")},
    }
    assert api.post("/model_versions", json=production).status_code == 403
    nested = api.post(f"/registered_models/{model_id}/versions", json=production)
    assert nested.status_code == 403
    listed = api.get(f"/registered_models/{model_id}/versions").json()["items"]
    assert [v["name"] for v in listed] == ["v1"]


def test_promote_by_names(gov: Governed) -> None:
    version = new_version(gov, model="granite", version="1.0")
    client = gov.governance("developer")
    body = {"registeredModelName": "granite", "versionName": "1.0", "stage": "staging"}
    done = client.post("/promote", json=body)
    assert done.status_code == 200, done.text
    assert done.json()["id"] == version["id"]
    assert stage_of(gov, version["id"]) == "staging"
    assert client.post("/promote", json={**body, "versionName": "2.0"}).status_code == 404
    assert client.post("/promote", json={**body, "registeredModelName": "nope"}).status_code == 404
    assert client.post("/promote", json={"versionName": "1.0", "stage": "staging"}).status_code in (400, 422)


def test_effective_policy_is_readable_by_every_role(gov: Governed) -> None:
    got = gov.governance("viewer").get("/lifecycle/policy")
    assert got.status_code == 200
    assert got.json() == DEFAULT_POLICY.to_json()
    assert list(got.json()["stages"]) == ["development", "staging", "production", "deprecated"]
    assert got.json()["stages"]["production"]["require"]["properties"] == ["License"]
    assert gov.governance(None).get("/lifecycle/policy").status_code == 401


def test_kubeflow_clients_filter_by_stage(gov: Governed) -> None:
    """The stage is a column shown as the custom property ``Lifecycle``; filters on it work like on any property."""
    first = new_version(gov, "m", "v1")
    second = new_version(gov, model_id=first["registeredModelId"], version="v2")
    assert promote(gov, "developer", second["id"], "staging").status_code == 200
    viewer = gov.registry("viewer")
    for query, expected in (
        ("Lifecycle = 'staging'", [second["id"]]),
        ("Lifecycle.string_value = 'development'", [first["id"]]),
        ("Lifecycle IN ('development', 'staging')", [first["id"], second["id"]]),
        ("Lifecycle = 'production'", []),
    ):
        listed = viewer.get("/model_versions", params={"filterQuery": query})
        assert listed.status_code == 200, listed.text
        assert [v["id"] for v in listed.json()["items"]] == expected, query

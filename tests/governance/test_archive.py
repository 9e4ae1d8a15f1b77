"""Archive, restore and hard delete of registered models and model versions.

Archiving is a soft delete: the entity leaves the default listings, stays readable by id and can be found by
asking about ``state``. A model takes its live versions with it and brings exactly those back. Hard delete is for
archived entities only, admin only, and removes the model, its versions and their artifacts.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from governance.conftest import Governed
from modelreg.db.tables import audit_log

METHODS = ["governance", "patch"]


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, str(response.request.url), response.text)
    return response.json()


def refused(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, (response.request.method, str(response.request.url), response.text)
    body = response.json()
    assert set(body) == {"code", "message"}, body
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body)


class Registry:
    """The admin's view of the registry, with the two ways to archive and restore."""

    def __init__(self, gov: Governed) -> None:
        self.api = gov.registry("admin")
        self.gov = gov.governance("admin")

    def model(self, name: str) -> dict[str, Any]:
        return ok(self.api.post("/registered_models", json={"name": name}), 201)

    def version(self, model_id: str, name: str) -> dict[str, Any]:
        body = {"name": name, "registeredModelId": model_id}
        return ok(self.api.post(f"/registered_models/{model_id}/versions", json=body), 201)

    def artifact(self, version_id: str, name: str) -> dict[str, Any]:
        body = {"artifactType": "model-artifact", "name": name, "uri": f"s3://bucket/{name}"}
        response = self.api.post(f"/model_versions/{version_id}/artifacts", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def set_state(self, method: str, collection: str, id_: str, state: str) -> dict[str, Any]:
        if method == "governance":
            action = "archive" if state == "ARCHIVED" else "restore"
            return ok(self.gov.post(f"/{collection}/{id_}/{action}"))
        return ok(self.api.patch(f"/{collection}/{id_}", json={"state": state}))

    def state(self, collection: str, id_: str) -> str:
        return ok(self.api.get(f"/{collection}/{id_}"))["state"]

    def names(self, path: str, **params: str) -> list[str]:
        return [item["name"] for item in ok(self.api.get(path, params={"pageSize": "100", **params}))["items"]]


@pytest.fixture
def reg(gov: Governed) -> Registry:
    return Registry(gov)


@pytest.mark.parametrize("method", METHODS)
def test_archive_and_restore_a_model_with_its_versions(gov: Governed, reg: Registry, method: str) -> None:
    model = reg.model("granite")
    other = reg.model("other")
    old, v1, v2 = (reg.version(model["id"], name) for name in ("old", "v1", "v2"))
    reg.set_state(method, "model_versions", old["id"], "ARCHIVED")  # on its own, before the model

    archived = reg.set_state(method, "registered_models", model["id"], "ARCHIVED")
    assert archived["state"] == "ARCHIVED" and archived["id"] == model["id"]
    assert reg.names("/registered_models") == ["other"]
    assert reg.names("/registered_models", filterQuery="state='ARCHIVED'") == ["granite"]
    assert sorted(reg.names("/registered_models", filterQuery="state='LIVE' OR state='ARCHIVED'")) == [
        "granite",
        "other",
    ]
    for caller in ("admin", "viewer"):  # readable by id, also for a viewer
        read = ok(gov.registry(caller).get(f"/registered_models/{model['id']}"))
        assert read["state"] == "ARCHIVED" and read["name"] == "granite"
    assert {v: reg.state("model_versions", x["id"]) for v, x in (("old", old), ("v1", v1), ("v2", v2))} == {
        "old": "ARCHIVED",
        "v1": "ARCHIVED",
        "v2": "ARCHIVED",
    }
    assert reg.names("/model_versions") == []
    assert reg.names(f"/registered_models/{model['id']}/versions") == []
    assert sorted(reg.names("/model_versions", filterQuery="state='ARCHIVED'")) == ["old", "v1", "v2"]
    assert ok(reg.api.get(f"/registered_models/{other['id']}"))["state"] == "LIVE"

    # archiving again changes nothing, and does not forget which versions went with the model
    assert reg.set_state(method, "registered_models", model["id"], "ARCHIVED")["state"] == "ARCHIVED"

    restored = reg.set_state(method, "registered_models", model["id"], "LIVE")
    assert restored["state"] == "LIVE"
    assert sorted(reg.names("/registered_models")) == ["granite", "other"]
    assert reg.state("model_versions", v1["id"]) == "LIVE"
    assert reg.state("model_versions", v2["id"]) == "LIVE"
    assert reg.state("model_versions", old["id"]) == "ARCHIVED", "a version archived on its own came back"
    assert reg.names(f"/registered_models/{model['id']}/versions") == ["v1", "v2"]

    with gov.database.read() as conn:
        records = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.entity_kind, audit_log.c.entity_name)
            .where(audit_log.c.action.in_(["archive", "restore"]))
            .order_by(audit_log.c.seq)
        ).all()
    assert {tuple(r) for r in records} >= {
        ("ai-admin", "archive", "registered_model", "granite"),
        ("ai-admin", "archive", "model_version", "v1"),
        ("ai-admin", "archive", "model_version", "v2"),
        ("ai-admin", "restore", "registered_model", "granite"),
        ("ai-admin", "restore", "model_version", "v1"),
    }
    assert ("ai-admin", "restore", "model_version", "old") not in {tuple(r) for r in records}


@pytest.mark.parametrize("method", METHODS)
def test_a_version_restored_on_its_own_stays_live(reg: Registry, method: str) -> None:
    """A version brought back while its model is archived is live on its own account: archiving and restoring
    the model again treats it like any other live version."""
    model = reg.model("m")
    v1 = reg.version(model["id"], "v1")
    reg.set_state(method, "registered_models", model["id"], "ARCHIVED")
    reg.set_state(method, "model_versions", v1["id"], "LIVE")
    reg.set_state(method, "registered_models", model["id"], "LIVE")
    assert reg.state("model_versions", v1["id"]) == "LIVE"
    reg.set_state(method, "registered_models", model["id"], "ARCHIVED")
    assert reg.state("model_versions", v1["id"]) == "ARCHIVED"
    reg.set_state(method, "registered_models", model["id"], "LIVE")
    assert reg.state("model_versions", v1["id"]) == "LIVE"


@pytest.mark.parametrize("caller", ["developer", "viewer"])
def test_archive_refused_for_non_admins(gov: Governed, reg: Registry, caller: str) -> None:
    model = reg.model("m")
    version = reg.version(model["id"], "v1")
    permission = "archive" if caller == "developer" else "write"
    for collection, id_ in (("registered_models", model["id"]), ("model_versions", version["id"])):
        refused(gov.governance(caller).post(f"/{collection}/{id_}/archive"), 403, f"'{permission}'")
        refused(gov.registry(caller).patch(f"/{collection}/{id_}", json={"state": "ARCHIVED"}), 403, f"'{permission}'")
        assert reg.state(collection, id_) == "LIVE"


def test_hard_delete_of_a_model(gov: Governed, reg: Registry) -> None:
    model = reg.model("doomed")
    keep = reg.model("keep")
    versions = [reg.version(model["id"], name) for name in ("v1", "v2")]
    artifacts = [reg.artifact(v["id"], f"weights-{v['name']}") for v in versions]
    kept_version = reg.version(keep["id"], "v1")
    kept_artifact = reg.artifact(kept_version["id"], "weights")

    refused(reg.gov.delete(f"/registered_models/{model['id']}"), 409, "not archived")
    assert reg.state("registered_models", model["id"]) == "LIVE"
    reg.set_state("governance", "registered_models", model["id"], "ARCHIVED")
    refused(gov.governance("developer").delete(f"/registered_models/{model['id']}"), 403, "'delete'")
    refused(gov.governance("viewer").delete(f"/registered_models/{model['id']}"), 403, "'write'")
    assert reg.state("registered_models", model["id"]) == "ARCHIVED"

    deleted = reg.gov.delete(f"/registered_models/{model['id']}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"deleted": {"kind": "registered_model", "id": model["id"]}}
    refused(reg.api.get(f"/registered_models/{model['id']}"), 404)
    for v in versions:
        refused(reg.api.get(f"/model_versions/{v['id']}"), 404)
    for a in artifacts:
        refused(reg.api.get(f"/artifacts/{a['id']}"), 404)
        refused(reg.api.get(f"/model_artifacts/{a['id']}"), 404)
    assert reg.names("/registered_models", filterQuery="state='ARCHIVED' OR state='LIVE'") == ["keep"]
    assert reg.names("/model_versions", filterQuery="state='ARCHIVED' OR state='LIVE'") == ["v1"]
    assert [a["id"] for a in ok(reg.api.get("/artifacts"))["items"]] == [kept_artifact["id"]]
    refused(reg.gov.delete(f"/registered_models/{model['id']}"), 404)

    with gov.database.read() as conn:
        tombstones = conn.execute(
            select(audit_log.c.entity_kind, audit_log.c.entity_id).where(audit_log.c.action == "delete")
        ).all()
    assert {(k, str(i)) for k, i in tombstones} >= {
        ("registered_model", model["id"]),
        *(("model_version", v["id"]) for v in versions),
    }


def test_hard_delete_of_a_version(gov: Governed, reg: Registry) -> None:
    model = reg.model("m")
    doomed, kept = reg.version(model["id"], "doomed"), reg.version(model["id"], "kept")
    doomed_artifact, kept_artifact = reg.artifact(doomed["id"], "a"), reg.artifact(kept["id"], "b")
    refused(reg.gov.delete(f"/model_versions/{doomed['id']}"), 409, "not archived")
    reg.set_state("patch", "model_versions", doomed["id"], "ARCHIVED")
    refused(gov.governance("developer").delete(f"/model_versions/{doomed['id']}"), 403, "'delete'")
    ok(reg.gov.delete(f"/model_versions/{doomed['id']}"))
    refused(reg.api.get(f"/model_versions/{doomed['id']}"), 404)
    refused(reg.api.get(f"/artifacts/{doomed_artifact['id']}"), 404)
    assert reg.state("registered_models", model["id"]) == "LIVE"
    assert reg.state("model_versions", kept["id"]) == "LIVE"
    assert ok(reg.api.get(f"/artifacts/{kept_artifact['id']}"))["name"] == "b"


def test_unknown_and_malformed_ids(reg: Registry) -> None:
    for action in ("archive", "restore"):
        refused(reg.gov.post(f"/registered_models/999999/{action}"), 404)
    refused(reg.gov.delete("/model_versions/999999"), 404)
    refused(reg.gov.post("/experiments/1/archive"), 400)  # not an archivable collection here
    refused(reg.gov.post("/registered_models/abc/archive"), 400)


def test_a_served_model_or_version_cannot_be_deleted(reg: Registry) -> None:
    model = reg.model("served")
    pinned, served = reg.version(model["id"], "pinned"), reg.version(model["id"], "served")
    env = ok(reg.api.post("/serving_environments", json={"name": "prod"}), 201)
    isvc_body = {"servingEnvironmentId": env["id"], "registeredModelId": model["id"], "modelVersionId": pinned["id"]}
    isvc = ok(reg.api.post("/inference_services", json=isvc_body), 201)
    ok(reg.api.post(f"/inference_services/{isvc['id']}/serves", json={"modelVersionId": served["id"]}), 201)

    reg.set_state("governance", "registered_models", model["id"], "ARCHIVED")
    refused(reg.gov.delete(f"/registered_models/{model['id']}"), 409, "inference service", isvc["id"])
    refused(reg.gov.delete(f"/model_versions/{pinned['id']}"), 409, "inference service")
    refused(reg.gov.delete(f"/model_versions/{served['id']}"), 409, "inference service")
    assert reg.state("registered_models", model["id"]) == "ARCHIVED"
    assert reg.state("model_versions", pinned["id"]) == "ARCHIVED"
    assert reg.state("model_versions", served["id"]) == "ARCHIVED"
    assert ok(reg.api.get(f"/inference_services/{isvc['id']}"))["registeredModelId"] == model["id"]


def test_a_nested_upsert_does_not_move_a_version_out_of_its_model(gov: Governed, reg: Registry) -> None:
    """``POST /registered_models/{other}/versions`` with the id of an existing version updates that version; it must
    not re-parent it, which would take a version archived with its model out of that model (and of its restore)."""
    archived, live = reg.model("archived"), reg.model("live")
    version = reg.version(archived["id"], "v")
    reg.set_state("governance", "registered_models", archived["id"], "ARCHIVED")
    body = {"id": version["id"], "name": "v", "registeredModelId": live["id"], "description": "moved?"}
    response = gov.registry("developer").post(f"/registered_models/{live['id']}/versions", json=body)
    assert 400 <= response.status_code < 500 or response.json()["registeredModelId"] == archived["id"], response.text
    assert ok(reg.api.get(f"/model_versions/{version['id']}"))["registeredModelId"] == archived["id"]
    assert reg.names(f"/registered_models/{live['id']}/versions", filterQuery="state='ARCHIVED' OR state='LIVE'") == []
    reg.set_state("governance", "registered_models", archived["id"], "LIVE")
    assert reg.state("model_versions", version["id"]) == "LIVE"

"""``/api/deploy/v1/deployments`` over HTTP without a cluster, on every backend: dry run, GitOps, the life of a
deployment, strict bodies, errors in the registry's ``{"code", "message"}`` shape, and who may do what. (With the
emulator: test_service_cluster.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.service_env import ACCESS_KEY, SECRET_KEY, AppEnv, make_app
from kube_emulator import Emulator
from modelreg.db.database import Database
from modelreg.kube.kinds import INFERENCE_SERVICE


@pytest.fixture
def env(database: Database, tmp_path: Path) -> AppEnv:
    return make_app(database, tmp_path)


def test_a_dry_run_answers_the_objects_and_creates_nothing(env: AppEnv) -> None:
    dev = env.client("developer")
    answer = dev.post("/deployments", json=env.body(mode="dryRun", tokenAuth=True))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"yaml", "objects", "warnings"}
    assert [d["kind"] for d in yaml.safe_load_all(body["yaml"])][:3] == ["Secret", "ServingRuntime", "InferenceService"]
    assert SECRET_KEY not in answer.text and ACCESS_KEY not in answer.text
    assert any("not validated" in w for w in body["warnings"])  # this app has no deploy.crd_dir
    assert dev.get("/deployments", params={"includeUndeployed": True}).json()["items"] == []


def test_the_life_of_a_gitops_deployment(env: AppEnv, tmp_path: Path) -> None:
    dev, viewer = env.client("developer"), env.client("viewer")
    created = dev.post("/deployments", json=env.body(mode="gitops", replicas=2))
    assert created.status_code == 201, created.text
    deployment = created.json()
    assert deployment["status"] == "Pending" and deployment["mode"] == "gitops" and deployment["replicas"] == 2
    assert deployment["createdBy"] == "ai-developer" and deployment["warnings"]
    assert (tmp_path / "gitops" / "team-a" / deployment["name"] / "kustomization.yaml").is_file()
    path = f"/deployments/{deployment['id']}"

    assert viewer.get(path).json()["id"] == deployment["id"]
    listed = viewer.get("/deployments", params={"modelVersionId": env.version_id}).json()
    assert [d["id"] for d in listed["items"]] == [deployment["id"]] and listed["nextPageToken"] == ""
    by_version = viewer.get(f"/model_versions/{env.version_id}/deployments").json()
    assert [d["id"] for d in by_version["items"]] == [deployment["id"]]

    edited = dev.patch(path, json={"replicas": 3, "displayName": "Granite for team A"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["replicas"] == 3 and edited.json()["displayName"] == "Granite for team A"
    assert dev.post(f"{path}/stop").json()["desiredState"] == "stopped"
    assert dev.post(f"{path}/start").json()["desiredState"] == "deployed"
    undeployed = dev.delete(path)
    assert undeployed.status_code == 200 and undeployed.json()["status"] == "Undeployed"

    events = viewer.get(f"{path}/history").json()["items"]
    assert [ev["event"] for ev in events] == ["undeploy", "start", "stop", "edit", "deploy"]
    assert {ev["actor"] for ev in events} == {"ai-developer"}
    assert viewer.get(f"/model_versions/{env.version_id}/deployments/history").json()["size"] == 5
    assert viewer.get("/deployments").json()["items"] == []
    assert len(viewer.get("/deployments", params={"state": "undeployed"}).json()["items"]) == 1


def test_viewers_read_but_cannot_deploy(env: AppEnv) -> None:
    viewer = env.client("viewer")
    for mode in ("dryRun", "gitops", "apply"):
        refused = viewer.post("/deployments", json=env.body(mode=mode))
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "Forbidden"
    assert viewer.get("/deployments").status_code == 200
    created = env.client("admin").post("/deployments", json=env.body(mode="gitops")).json()
    for method, suffix in (("post", "/stop"), ("post", "/start"), ("delete", ""), ("patch", "")):
        kwargs = {"json": {"replicas": 2}} if method == "patch" else {}
        answer = getattr(viewer, method)(f"/deployments/{created['id']}{suffix}", **kwargs)
        assert answer.status_code == 403, (method, suffix, answer.text)


def test_apply_without_a_cluster_is_a_409(env: AppEnv) -> None:
    answer = env.client("developer").post("/deployments", json=env.body())
    assert answer.status_code == 409
    assert answer.json() == {
        "code": "Conflict",
        "message": "no Kubernetes cluster is configured: deploy with mode dry_run or gitops",
    }


@pytest.mark.sqlite_only("request body validation")
@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"surprise": 1}, 400, 'unknown field "surprise"'),
        ({"replicas": 0}, 400, "replicas"),
        ({"replicas": 100}, 400, "replicas"),
        ({"replicas": "2"}, 400, "replicas"),
        ({"mode": "yolo"}, 400, "mode"),
        ({"modelVersionId": "x1"}, 400, "modelVersionId"),
        ({"resources": {"cpu": 99}}, 400, "cpu 99 is outside hardware profile 'nvidia-l4-1gpu''s bounds"),
        ({"hardwareProfile": "nope"}, 404, "nope"),
        ({"modelVersionId": "424242"}, 404, "424242"),
        ({"env": [{"name": "A", "value": "b", "secret": True}]}, 400, 'unknown field "secret"'),
    ],
)
def test_bad_bodies(env: AppEnv, change: dict[str, object], status: int, message: str) -> None:
    answer = env.client("developer").post("/deployments", json={**env.body(mode="dryRun"), **change})
    assert answer.status_code == status, answer.text
    assert message in answer.json()["message"]


def test_unknown_deployments_and_bad_ids(env: AppEnv) -> None:
    dev = env.client("developer")
    missing = dev.get("/deployments/424242")
    assert missing.status_code == 404 and "no deployment with id 424242" in missing.json()["message"]
    assert dev.post("/deployments/424242/stop").status_code == 404
    assert dev.get("/deployments/abc").status_code == 400
    assert dev.get("/deployments", params={"pageSize": 0}).status_code == 400
    assert dev.get("/deployments", params={"nextPageToken": "zz"}).status_code == 400
    for beyond in ("9223372036854775808", "9999999999999999999"):  # past the ids' 64 bits: they name nothing
        for key in ("modelVersionId", "registeredModelId"):
            listed = dev.get("/deployments", params={key: beyond})
            assert listed.status_code == 200 and listed.json()["items"] == [], listed.text
    created = dev.post("/deployments", json=env.body(mode="gitops")).json()
    assert dev.patch(f"/deployments/{created['id']}", json={"replicas": 0}).status_code == 400
    assert dev.patch(f"/deployments/{created['id']}", json={"name": "renamed"}).status_code == 400


def test_gitops_over_rest_needs_the_setting(database: Database, tmp_path: Path) -> None:
    env = make_app(database, tmp_path, gitops_dir=None)
    answer = env.client("developer").post("/deployments", json=env.body(mode="gitops"))
    assert answer.status_code == 409 and "deploy.gitops_dir is not set" in answer.json()["message"]


def test_deploy_can_be_turned_off(database: Database, tmp_path: Path) -> None:
    env = make_app(database, tmp_path, enabled=False)
    assert env.app.state.deploy is None
    assert env.client("developer").get("/deployments").status_code == 404


def test_with_a_cluster(database: Database, tmp_path: Path, emulator: Emulator) -> None:
    env = make_app(database, tmp_path, emulator)
    dev, viewer = env.client("developer"), env.client("viewer")
    assert viewer.post("/deployments", json=env.body()).status_code == 403
    assert emulator.objects(INFERENCE_SERVICE, "team-a") == []
    created = dev.post("/deployments", json=env.body(tokenAuth=True))
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "Pending" and created.json()["tokenAuth"] is True
    assert SECRET_KEY not in created.text
    assert [o["metadata"]["name"] for o in emulator.objects(INFERENCE_SERVICE, "team-a")] == [created.json()["name"]]
    again = dev.post("/deployments", json=env.body())
    assert again.status_code == 409 and "already exists in namespace team-a (by ai-developer at " in again.text
    stopped = dev.post(f"/deployments/{created.json()['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "Stopped"
    emulator.unreachable()
    unreachable = dev.post("/deployments", json=env.body("team-b"))
    assert unreachable.status_code == 503 and "is unreachable" in unreachable.json()["message"]
    emulator.reachable()
    assert dev.delete(f"/deployments/{created.json()['id']}").json()["desiredState"] == "undeployed"
    assert emulator.objects(INFERENCE_SERVICE, "team-a") == []

"""Deployments modelreg did not build, through the REST API and the web UI, with the app's status watcher running
(the emulator as the cluster), on every backend: one adopted from the cluster (made by the dashboard) refuses edits
with a 409 that says why and what to do, shows its page, and stops, starts and undeploys (its own ServingRuntime,
named in its spec, goes with it); a GitOps deployment does all of it through its folder. Never a 500."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from deploy.service_env import AppEnv, make_app
from kube_emulator import Emulator, wait_until
from modelreg.db.database import Database
from modelreg.deploy import defaults
from modelreg.kube.kinds import INFERENCE_SERVICE, SERVING_RUNTIME
from modelreg.services import entities as e
from ui.conftest import csrf_of

NS = "team-a"


@pytest.fixture
def env(database: Database, tmp_path: Path, emulator: Emulator) -> Iterator[AppEnv]:
    made = make_app(database, tmp_path, emulator, proxy=True)
    with made.client("admin"):  # the lifespan: the status watcher runs until the test ends
        yield made


def dashboard_deployment(env: AppEnv, emulator: Emulator) -> None:
    """What the OpenShift AI dashboard makes for the demo version: a ServingRuntime named apart from the
    InferenceService (the dashboard names it in spec.predictor.model.runtime) and the InferenceService."""
    model_id = env.app.state.registry.get(e.MODEL_VERSION, env.version_id).row["registered_model_id"]
    runtime = copy.deepcopy(defaults.RUNTIMES[0]["objects"][0])
    runtime["metadata"] = {"name": "fraud-runtime", "namespace": NS}
    emulator.put_object(runtime)
    emulator.put_object(
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {
                "name": "fraud",
                "namespace": NS,
                "labels": {
                    "opendatahub.io/dashboard": "true",
                    "modelregistry.opendatahub.io/registered-model-id": str(model_id),
                    "modelregistry.opendatahub.io/model-version-id": str(env.version_id),
                },
                "annotations": {"openshift.io/display-name": "Fraud", "opendatahub.io/connections": "minio"},
            },
            "spec": {"predictor": {"model": {"runtime": "fraud-runtime", "modelFormat": {"name": "vLLM"}}}},
        }
    )


def adopted(dev: TestClient) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((d for d in dev.get("/deployments").json()["items"] if d["name"] == "fraud"), None)

    found: dict[str, Any] = wait_until(find, timeout=15)  # the watcher starts with the app, then adopts it
    return found


def test_an_adopted_deployment_refuses_edits_and_does_the_rest(env: AppEnv, emulator: Emulator) -> None:
    dashboard_deployment(env, emulator)
    dev = env.client("developer")
    deployment = adopted(dev)
    path = f"/deployments/{deployment['id']}"

    edit = dev.patch(path, json={"replicas": 2})
    assert edit.status_code == 409, edit.text
    message = edit.json()["message"]
    assert "adopted from the cluster" in message and "undeploy it and deploy the model again" in message
    assert deployment["adopted"] is True and deployment["createdBy"] == "system:deploy-watch"
    assert emulator.get(INFERENCE_SERVICE, NS, "fraud")["spec"]["predictor"].get("minReplicas") is None  # type: ignore[index]

    browser = env.browser("developer")
    page = browser.get(path)
    assert page.status_code == 200, page.text[:500]
    assert "adopted from the cluster" in page.text and "kind: InferenceService" not in page.text

    stopped = dev.post(f"{path}/stop")
    assert stopped.status_code == 200 and stopped.json()["desiredState"] == "stopped", stopped.text
    annotations = emulator.get(INFERENCE_SERVICE, NS, "fraud")["metadata"]["annotations"]  # type: ignore[index]
    assert annotations["serving.kserve.io/stop"] == "true"
    assert dev.post(f"{path}/start").json()["desiredState"] == "deployed"

    confirm = browser.get(f"{path}/undeploy")
    assert confirm.status_code == 200
    gone = browser.post(f"{path}/undeploy", data={"csrf_token": csrf_of(confirm), "confirm_name": "fraud"})
    assert gone.status_code == 303, gone.text[:500]
    assert emulator.get(INFERENCE_SERVICE, NS, "fraud") is None
    assert emulator.get(SERVING_RUNTIME, NS, "fraud-runtime") is None
    assert dev.get(path).json()["desiredState"] == "undeployed"


def test_a_gitops_deployment_is_edited_stopped_and_undeployed_through_its_folder(env: AppEnv, tmp_path: Path) -> None:
    dev = env.client("developer")
    created = dev.post("/deployments", json=env.body(mode="gitops"))
    assert created.status_code == 201, created.text
    deployment = created.json()
    assert deployment["adopted"] is False
    path = f"/deployments/{deployment['id']}"
    folder = tmp_path / "gitops" / NS / deployment["name"]
    isvc_file = next(folder.glob("*-inferenceservice-*.yaml"))

    assert dev.patch(path, json={"replicas": 2}).status_code == 200
    assert "minReplicas: 2" in isvc_file.read_text()
    assert dev.post(f"{path}/stop").json()["desiredState"] == "stopped"
    assert "serving.kserve.io/stop" in isvc_file.read_text()
    assert dev.post(f"{path}/start").json()["desiredState"] == "deployed"
    page = env.browser("developer").get(path)
    assert page.status_code == 200 and "kind: InferenceService" in page.text
    assert dev.delete(path).json()["desiredState"] == "undeployed"
    assert not folder.exists()
    events = [ev["event"] for ev in dev.get(f"{path}/history").json()["items"]]
    assert events == ["undeploy", "start", "stop", "edit", "deploy"]

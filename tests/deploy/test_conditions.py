"""The status timeline (KServe's conditions) of a deployment, from the status watcher's cache of the app that answers
(the emulator as the cluster), on every backend: in ``GET /deployments/{id}`` as ``conditions`` and on the
deployment's page; null where the app has no watcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.service_env import make_app
from kube_emulator import Emulator, wait_until
from modelreg.db.database import Database
from modelreg.kube.kinds import INFERENCE_SERVICE

NOT_SCHEDULED = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
STATUS = {
    "conditions": [
        {"type": "IngressReady", "status": "True", "lastTransitionTime": "2026-11-20T10:02:11Z"},
        {
            "type": "PredictorReady",
            "status": "False",
            "reason": "MinimumReplicasUnavailable",
            "message": NOT_SCHEDULED,
            "lastTransitionTime": "2026-11-20T10:03:00Z",
        },
        {"type": "Ready", "status": "False", "lastTransitionTime": "2026-11-20T10:03:00Z"},
    ],
    "modelStatus": {"states": {"targetModelState": "Pending"}},
}


def test_the_conditions_of_a_live_deployment(database: Database, tmp_path: Path, emulator: Emulator) -> None:
    env = make_app(database, tmp_path, emulator, proxy=True)
    with env.client("developer") as dev:  # the lifespan: the watcher (and its cache) runs
        created = dev.post("/deployments", json=env.body())
        assert created.status_code == 201, created.text
        deployment = created.json()
        path = f"/deployments/{deployment['id']}"
        emulator.patch_status(INFERENCE_SERVICE, "team-a", deployment["name"], STATUS)

        def predictor() -> dict[str, Any] | None:
            conditions = dev.get(path).json()["conditions"] or []
            return next((c for c in conditions if c["type"] == "PredictorReady"), None)

        wait_until(predictor, timeout=10)
        conditions = dev.get(path).json()["conditions"]
        assert [c["type"] for c in conditions] == ["DeploymentRequested", "PredictorReady", "IngressReady"]
        assert conditions[1] == {
            "type": "PredictorReady",
            "status": "False",
            "reason": "MinimumReplicasUnavailable",
            "message": NOT_SCHEDULED,
            "time": "2026-11-20T10:03:00Z",
        }
        assert conditions[2]["status"] == "True" and conditions[2]["message"] is None

        page = env.browser("viewer").get(path)
        assert page.status_code == 200
        assert "Predictor ready" in page.text and "MinimumReplicasUnavailable" in page.text
        fragment = env.browser("viewer").get(f"{path}/status")
        assert fragment.status_code == 200 and NOT_SCHEDULED in fragment.text

        assert dev.delete(path).status_code == 200
        assert dev.get(path).json()["conditions"] is None  # undeployed: nothing to show


def test_no_watcher_no_conditions(database: Database, tmp_path: Path) -> None:
    env = make_app(database, tmp_path)  # no cluster
    dev = env.client("developer")
    created = dev.post("/deployments", json=env.body(mode="gitops"))
    assert created.status_code == 201, created.text
    shown = dev.get(f"/deployments/{created.json()['id']}").json()
    assert "conditions" in shown and shown["conditions"] is None

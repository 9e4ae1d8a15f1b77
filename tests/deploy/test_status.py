"""deploy/status.py: InferenceService (+ pods) → the status the dashboard shows, table-driven over shapes like
KServe's (ready, load failure, unschedulable, replacement, stopped), with our own names and values."""

from __future__ import annotations

from typing import Any

import pytest

from modelreg.deploy.status import Condition, status_of

NS = "fraud-team"
NAME = "scorer"


def isvc(
    *,
    target: str | None = None,
    active: str | None = None,
    failure: str | None = None,
    conditions: list[dict[str, Any]] | None = None,
    url: str | None = None,
    address: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if target is not None or active is not None:
        status["modelStatus"] = {"states": {"targetModelState": target or "", "activeModelState": active or ""}}
        if failure is not None:
            status["modelStatus"]["lastFailureInfo"] = {"reason": "ModelLoadFailed", "exitCode": 2, "message": failure}
    if conditions is not None:
        status["conditions"] = conditions
    if url is not None:
        status["url"] = url
    if address is not None:
        status["address"] = {"url": address}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "creationTimestamp": "2026-12-01T08:00:00Z",
            "labels": labels or {},
            "annotations": annotations or {},
        },
        "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}}}},
        "status": status,
    }


def pod(
    *,
    isvc_name: str = NAME,
    namespace: str = NS,
    phase: str = "Pending",
    reason: str | None = "Unschedulable",
    message: str | None = None,
    condition: str = "PodScheduled",
) -> dict[str, Any]:
    cond: dict[str, Any] = {"type": condition, "status": "False"}
    if reason is not None:
        cond["reason"] = reason
    if message is not None:
        cond["message"] = message
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{isvc_name}-predictor-5d8c7-x2k9q",
            "namespace": namespace,
            "labels": {"serving.kserve.io/inferenceservice": isvc_name},
        },
        "status": {"phase": phase, "conditions": [cond]},
    }


INTERNAL = f"http://{NAME}-predictor.{NS}.svc.cluster.local"
EXTERNAL = f"https://{NAME}-{NS}.apps.lab.example.org"
NO_GPU = "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
EXPOSED = {"networking.kserve.io/visibility": "exposed"}

STATES = [
    # (case, isvc, pods, state, message)
    ("no status yet", isvc(), [], "Pending", "Waiting for KServe to report on the InferenceService"),
    ("status without model states", isvc(conditions=[]), [], "Unknown", "Unknown"),
    ("pending", isvc(target="Pending"), [], "Pending", "Pending"),
    ("loading", isvc(target="Loading", active=""), [], "Loading", "Loading"),
    ("loaded", isvc(target="Loaded", active="Loaded"), [], "Loaded", "Loaded"),
    ("active only", isvc(target="", active="Standby"), [], "Standby", "Standby"),
    (
        "load failed",
        isvc(target="FailedToLoad", failure="RuntimeError: no weights under /mnt/models"),
        [],
        "FailedToLoad",
        "RuntimeError: no weights under /mnt/models",
    ),
    ("load failed, no detail", isvc(target="FailedToLoad"), [], "FailedToLoad", "FailedToLoad"),
    ("unschedulable", isvc(target="Pending"), [pod(message=NO_GPU)], "FailedToLoad", NO_GPU),
    ("unschedulable, no message", isvc(target="Pending"), [pod()], "FailedToLoad", "Insufficient resources"),
    ("scheduled pod", isvc(target="Loading"), [pod(phase="Running", reason=None)], "Loading", "Loading"),
    ("pending pod, other reason", isvc(target="Pending"), [pod(reason="SchedulingGated")], "Pending", "Pending"),
    ("other condition", isvc(target="Pending"), [pod(condition="Ready")], "Pending", "Pending"),
    ("pod of another isvc", isvc(target="Pending"), [pod(isvc_name="other", message=NO_GPU)], "Pending", "Pending"),
    ("pod in another namespace", isvc(target="Pending"), [pod(namespace="elsewhere")], "Pending", "Pending"),
    ("replacing: loading", isvc(target="Loading", active="Loaded"), [], "Redeploying", None),
    ("replacing: pending", isvc(target="Pending", active="Loaded"), [], "Redeploying", None),
    ("replacement failed", isvc(target="FailedToLoad", active="Loaded", failure="OOM"), [], "FailedToLoad", "OOM"),
    ("stop annotation", isvc(target="Loaded", active="Loaded", annotations={"serving.kserve.io/stop": "true"}), [],
     "Stopped", "Stopped"),
    ("stop annotation false", isvc(target="Loaded", annotations={"serving.kserve.io/stop": "false"}), [],
     "Loaded", "Loaded"),
    ("stopped condition", isvc(target="Pending", conditions=[{"type": "Stopped", "status": "True"}]), [pod()],
     "Stopped", "Stopped"),
    ("stopped condition false", isvc(target="Loaded", conditions=[{"type": "Stopped", "status": "False"}]), [],
     "Loaded", "Loaded"),
]  # fmt: skip


@pytest.mark.parametrize(("obj", "pods", "state", "message"), [c[1:] for c in STATES], ids=[c[0] for c in STATES])
def test_state_and_message(obj: dict[str, Any], pods: list[dict[str, Any]], state: str, message: str | None) -> None:
    result = status_of(obj, pods)
    assert result.state == state
    if message is not None:
        assert result.message == message
    else:  # Redeploying: the message says so and names the new revision's state
        assert result.message is not None and "Redeploying" in result.message
        assert obj["status"]["modelStatus"]["states"]["targetModelState"] in result.message
    assert result.stopped == (state == "Stopped")


URLS = [
    # (case, labels, status.url, address, internal, external)
    ("exposed route", EXPOSED, EXTERNAL, INTERNAL, INTERNAL, EXTERNAL),
    ("not exposed", {}, EXTERNAL, INTERNAL, INTERNAL, None),
    ("exposed but only the service", EXPOSED, INTERNAL, INTERNAL, INTERNAL, None),
    ("exposed, service with a port", EXPOSED, INTERNAL.replace(".local", ".local:8080"), INTERNAL, INTERNAL, None),
    ("no address yet", EXPOSED, None, None, None, None),
    ("visibility other", {"networking.kserve.io/visibility": "cluster-local"}, EXTERNAL, INTERNAL, INTERNAL, None),
]


@pytest.mark.parametrize(
    ("labels", "url", "address", "internal", "external"), [c[1:] for c in URLS], ids=[c[0] for c in URLS]
)
def test_urls(
    labels: dict[str, str], url: str | None, address: str | None, internal: str | None, external: str | None
) -> None:
    result = status_of(isvc(target="Loaded", active="Loaded", labels=labels, url=url, address=address))
    assert (result.internal_url, result.external_url) == (internal, external)


def test_conditions_timeline_in_the_dashboards_order() -> None:
    obj = isvc(
        target="Loading",
        conditions=[
            {"type": "Ready", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "not yet"},
            {
                "type": "IngressReady",
                "status": "True",
                "message": "ignored",
                "lastTransitionTime": "2026-12-01T08:01:00Z",
            },
            {
                "type": "PredictorReady",
                "status": "False",
                "reason": "MinimumReplicasUnavailable",
                "message": "Deployment does not have minimum availability.",
                "lastTransitionTime": "2026-12-01T08:00:30Z",
            },
            {"type": "Stopped", "status": "False"},
        ],
    )
    assert status_of(obj).conditions == (
        Condition("DeploymentRequested", "True", None, None, "2026-12-01T08:00:00Z"),
        Condition(
            "PredictorReady",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            "2026-12-01T08:00:30Z",
        ),
        Condition("IngressReady", "True", None, None, "2026-12-01T08:01:00Z"),
    )


def test_timeline_ends_with_stopped_when_true() -> None:
    obj = isvc(
        target="Loaded",
        conditions=[
            {"type": "Stopped", "status": "True", "lastTransitionTime": "2026-12-01T09:00:00Z"},
            {"type": "LatestDeploymentReady", "status": "False", "message": "scaled to zero"},
        ],
    )
    assert [(c.type, c.status, c.message) for c in status_of(obj).conditions] == [
        ("DeploymentRequested", "True", None),
        ("LatestDeploymentReady", "False", "scaled to zero"),
        ("Stopped", "True", None),
    ]


@pytest.mark.parametrize(
    ("garbage", "state"),
    [
        ({}, "Pending"),
        ({"metadata": None, "status": "broken"}, "Pending"),
        ({"status": {"modelStatus": {"states": None}, "conditions": [1]}}, "Unknown"),
    ],
)
def test_malformed_objects_do_not_break_the_mapping(garbage: dict[str, Any], state: str) -> None:
    result = status_of(garbage, [{"metadata": None}, {"status": {"phase": "Pending", "conditions": "x"}}])
    assert (result.state, result.internal_url, result.external_url, result.stopped) == (state, None, None, False)

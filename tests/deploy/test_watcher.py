"""deploy/watcher.py end to end against the emulator: KServe's status changes reach the deployment row, its history
and the audit trail within 2 s; the registry records and the label written back; adoption; deletion; one writer
among several processes; reconciliation of what changed while nobody watched; no CPU when idle."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import empty
from cpu import threads_cpu_share
from deploy.service_env import make_app
from kube_emulator import Emulator, wait_until
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import audit_log
from modelreg.deploy import history, store
from modelreg.deploy.watcher import StatusWatcher
from modelreg.kube.client import Kube
from modelreg.kube.kinds import INFERENCE_SERVICE, POD
from modelreg.services import entities as e
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService
from modelreg.settings import DeploySettings

NS = "team-a"
VISIBLE = 2.0  # seconds: a status change is in the database this soon
RM_LABEL = "modelregistry.opendatahub.io/registered-model-id"
MV_LABEL = "modelregistry.opendatahub.io/model-version-id"
NAME_LABEL = "modelregistry.opendatahub.io/name"
ID_LABEL = "modelregistry.opendatahub.io/inference-service-id"
INTERNAL = "http://fraud-predictor.team-a.svc.cluster.local"
EXTERNAL = "https://fraud-team-a.apps.cluster.example"

Model = tuple[int, int]


@pytest.fixture
def registry(database: Database) -> RegistryService:
    empty(database)
    return RegistryService(database)


@pytest.fixture
def model(registry: RegistryService) -> Model:
    with context.acting_as(context.system("tests")):
        rm = registry.create(e.REGISTERED_MODEL, {"name": "fraud-detector"}, {})
        mv = registry.create_model_version({"registered_model_id": rm.row["id"], "name": "2.1"}, {})
    return int(rm.row["id"]), int(mv.row["id"])


@pytest.fixture
def watchers(database: Database, kube: Kube, registry: RegistryService) -> Iterator[Callable[..., StatusWatcher]]:
    """Start watchers (each standing for one server process); all are stopped at the end."""
    with contextlib.ExitStack() as running:

        def start(**settings: Any) -> StatusWatcher:
            watcher = StatusWatcher(database, kube, registry, DeploySettings(status_lease_seconds=3, **settings))
            watcher.start()
            running.callback(watcher.stop)
            return watcher

        yield start


def isvc(model: Model, name: str = "fraud", namespace: str = NS, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                RM_LABEL: str(model[0]),
                MV_LABEL: str(model[1]),
                NAME_LABEL: "modelreg",
                "networking.kserve.io/visibility": "exposed",
                **labels,
            },
            "annotations": {"openshift.io/display-name": "Fraud detector", "opendatahub.io/connections": "minio"},
        },
        "spec": {"predictor": {"minReplicas": 2, "model": {"runtime": name, "modelFormat": {"name": "onnx"}}}},
    }


def claim(database: Database, model: Model, name: str = "fraud", mode: str = "apply") -> int:
    """A deployment row as the deploy service writes it before applying the objects."""
    values = {
        "namespace": NS,
        "name": name,
        "registered_model_id": model[0],
        "model_version_id": model[1],
        "mode": mode,
        "desired_state": "deployed",
        "status": "Pending",
        "created_by": "ai-developer",
    }
    with context.acting_as(context.system("tests")), database.write() as conn:
        deployment_id = store.claim(conn, values, {"replicas": 1})
        history.record(conn, deployment_id, model[1], "deploy", status="Pending")
    return deployment_id


def row(database: Database, deployment_id: int) -> store.Deployment:
    with database.read() as conn:
        return store.get(conn, deployment_id)


def events(database: Database, deployment_id: int) -> list[tuple[str, str | None, str | None, str]]:
    with database.read() as conn:
        found = history.events(conn, deployment_id=deployment_id)
    return [(ev.event, ev.status, ev.message, ev.actor) for ev in reversed(found)]


def model_state(target: str, active: str = "", **extra: Any) -> dict[str, Any]:
    return {"modelStatus": {"states": {"targetModelState": target, "activeModelState": active}, **extra}}


def status_becomes(
    database: Database, deployment_id: int, state: str, message: str | None = None, timeout: float = VISIBLE
) -> store.Deployment:
    started = time.monotonic()
    found = wait_until(
        lambda: (r := row(database, deployment_id)).status == state and message in (None, r.status_message) and r,
        timeout=timeout,
    )
    assert time.monotonic() - started <= timeout
    return found


def test_kserve_status_reaches_the_deployment(
    database: Database, emulator: Emulator, registry: RegistryService, model: Model, watchers: Any
) -> None:
    deployment_id = claim(database, model)
    emulator.put_object(isvc(model))
    watcher = watchers()
    assert watcher.wait_idle(10) and watcher.writing

    uid = emulator.get(INFERENCE_SERVICE, NS, "fraud")["metadata"]["uid"]  # type: ignore[index]
    status_becomes(database, deployment_id, "Pending", "Waiting for KServe to report on the InferenceService")
    emulator.patch_status(INFERENCE_SERVICE, NS, "fraud", model_state("Pending"))
    status_becomes(database, deployment_id, "Pending", "Pending")
    emulator.patch_status(INFERENCE_SERVICE, NS, "fraud", model_state("Loading"))
    status_becomes(database, deployment_id, "Loading")
    emulator.patch_status(
        INFERENCE_SERVICE,
        NS,
        "fraud",
        {**model_state("Loaded", "Loaded"), "url": EXTERNAL, "address": {"url": INTERNAL}},
    )
    loaded = status_becomes(database, deployment_id, "Loaded")
    assert (loaded.internal_url, loaded.external_url, loaded.isvc_uid) == (INTERNAL, EXTERNAL, uid)
    assert loaded.status_message == "Loaded" and loaded.status_time is not None

    # the registry records the platform's controller would write, and the label written back
    record_id = wait_until(lambda: row(database, deployment_id).inference_service_id)
    record = wait_until(lambda: (r := registry.get(e.INFERENCE_SERVICE, record_id)).props and r)
    assert record.row["name"] == f"fraud/{uid}" and record.row["desired_state"] == "DEPLOYED"
    assert (record.row["registered_model_id"], record.row["model_version_id"]) == model
    assert record.props["url"] == PropValue("string", EXTERNAL)
    assert registry.get(e.SERVING_ENVIRONMENT, record.row["serving_environment_id"]).row["name"] == NS
    wait_until(lambda: emulator.get(INFERENCE_SERVICE, NS, "fraud")["metadata"]["labels"].get(ID_LABEL))  # type: ignore[index]
    assert emulator.get(INFERENCE_SERVICE, NS, "fraud")["metadata"]["labels"][ID_LABEL] == str(record_id)  # type: ignore[index]

    statuses = [(ev, status) for ev, status, _m, _a in events(database, deployment_id)]
    assert statuses == [
        ("deploy", "Pending"),
        ("status", "Pending"),  # KServe has not reported yet
        ("status", "Pending"),  # it has: the message changed
        ("status", "Loading"),
        ("status", "Loaded"),
    ]
    assert {actor for ev, _s, _m, actor in events(database, deployment_id) if ev == "status"} == {"system:deploy-watch"}
    with database.read() as conn:
        audited = conn.execute(
            select(audit_log.c.action, audit_log.c.actor).where(
                audit_log.c.entity_kind == "deployment", audit_log.c.entity_id == deployment_id
            )
        ).all()
    assert audited == [("status", "system:deploy-watch")] * 4

    # the label patch and any event that changes nothing write nothing
    assert watcher.wait_idle(5)
    emulator.patch_status(INFERENCE_SERVICE, NS, "fraud", {"observedGeneration": 1}, merge=True)
    assert watcher.wait_idle(5)
    assert len(events(database, deployment_id)) == 5


def test_failures_and_stop(database: Database, emulator: Emulator, kube: Kube, model: Model, watchers: Any) -> None:
    deployment_id = claim(database, model)
    emulator.put_object(isvc(model))
    watchers()
    failure = {"reason": "ModelLoadFailed", "message": "onnxruntime: invalid model file /mnt/models/model.onnx"}
    emulator.patch_status(INFERENCE_SERVICE, NS, "fraud", model_state("FailedToLoad", lastFailureInfo=failure))
    failed = status_becomes(database, deployment_id, "FailedToLoad")
    assert failed.status_message == failure["message"]

    emulator.patch_status(INFERENCE_SERVICE, NS, "fraud", model_state("Pending"))
    status_becomes(database, deployment_id, "Pending")
    no_gpu = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    emulator.put_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "fraud-predictor-6f9d-abcde",
                "namespace": NS,
                "labels": {"serving.kserve.io/inferenceservice": "fraud"},
            },
            "status": {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": no_gpu}
                ],
            },
        }
    )
    unschedulable = status_becomes(database, deployment_id, "FailedToLoad")
    assert unschedulable.status_message == no_gpu
    emulator.delete_object(POD, NS, "fraud-predictor-6f9d-abcde")
    status_becomes(database, deployment_id, "Pending")

    kube.patch(INFERENCE_SERVICE, "fraud", NS, {"metadata": {"annotations": {"serving.kserve.io/stop": "true"}}})
    stopped = status_becomes(database, deployment_id, "Stopped")
    assert stopped.desired_state == "deployed"  # stop/start are the deploy service's; the watcher reports


def test_deleted_from_the_cluster_is_undeployed(
    database: Database, emulator: Emulator, registry: RegistryService, model: Model, watchers: Any
) -> None:
    deployment_id = claim(database, model)
    emulator.put_object(isvc(model))
    watchers()
    record_id = wait_until(lambda: row(database, deployment_id).inference_service_id)
    emulator.delete_object(INFERENCE_SERVICE, NS, "fraud")
    gone = status_becomes(database, deployment_id, "Undeployed")
    assert gone.desired_state == "undeployed" and not gone.active
    assert (gone.internal_url, gone.external_url) == (None, None)
    assert events(database, deployment_id)[-1][:2] == ("undeploy", "Undeployed")
    wait_until(lambda: registry.get(e.INFERENCE_SERVICE, record_id).row["desired_state"] == "UNDEPLOYED")
    # the name is free again: a new deploy of it is a new deployment
    assert claim(database, model) != deployment_id


def test_undeployed_by_modelreg_records_the_status_only(
    database: Database, emulator: Emulator, model: Model, watchers: Any
) -> None:
    deployment_id = claim(database, model)
    emulator.put_object(isvc(model))
    watcher = watchers()
    wait_until(lambda: row(database, deployment_id).isvc_uid)
    assert watcher.wait_idle(5)
    with context.acting_as(context.system("tests")), database.write() as conn:  # as the deploy service does
        store.set_fields(conn, deployment_id, desired_state="undeployed")
        history.record(conn, deployment_id, model[1], "undeploy")
    emulator.delete_object(INFERENCE_SERVICE, NS, "fraud")
    status_becomes(database, deployment_id, "Undeployed")
    assert [ev for ev, *_ in events(database, deployment_id)].count("undeploy") == 1
    assert events(database, deployment_id)[-1][:2] == ("status", "Undeployed")


def test_isvcs_made_elsewhere_are_adopted(
    database: Database, emulator: Emulator, registry: RegistryService, model: Model, watchers: Any
) -> None:
    emulator.put_object(isvc(model, name="from-dashboard"))
    unnamed = isvc(model, name="no-registry-name")
    del unnamed["metadata"]["labels"][NAME_LABEL]
    emulator.put_object(unnamed)
    emulator.put_object(isvc(model, name="other-registry", **{NAME_LABEL: "another-registry"}))
    gitops_id = claim(database, model, name="from-git", mode="gitops")
    emulator.put_object(isvc(model, name="from-git"))
    watcher = watchers()
    assert watcher.wait_idle(10)

    with database.read() as conn:
        adopted = {d.name: d for d in store.page(conn, store.Filters(), 100) if d.created_by == "system:deploy-watch"}
        assert store.find_active(conn, NS, "other-registry") is None  # another registry's deployment
        gitops = store.get(conn, gitops_id)
    assert sorted(adopted) == ["from-dashboard", "no-registry-name"]
    dashboard = adopted["from-dashboard"]
    assert (dashboard.mode, dashboard.desired_state, dashboard.status) == ("apply", "deployed", "Pending")
    assert (dashboard.registered_model_id, dashboard.model_version_id) == model
    assert (dashboard.display_name, dashboard.connection, dashboard.runtime) == (
        "Fraud detector",
        "minio",
        "from-dashboard",
    )
    assert (dashboard.request["replicas"], dashboard.request["externalRoute"]) == (2, True)
    assert events(database, dashboard.id) == [("deploy", "Pending", "adopted from the cluster", "system:deploy-watch")]
    wait_until(lambda: row(database, dashboard.id).inference_service_id)
    # the GitOps deployment found its InferenceService: same row, still gitops, no second deploy event
    assert gitops.mode == "gitops" and gitops.isvc_uid is not None
    assert [ev for ev, *_ in events(database, gitops_id)] == ["deploy", "status"]


def test_one_writer_among_processes(database: Database, emulator: Emulator, model: Model, watchers: Any) -> None:
    deployment_id = claim(database, model)
    emulator.put_object(isvc(model))
    first, second = watchers(), watchers()
    wait_until(lambda: first.writing or second.writing)
    writer, standby = (first, second) if first.writing else (second, first)
    assert writer.wait_idle(5)
    for state in ("Loading", "Loaded", "FailedToLoad"):
        emulator.patch_status(INFERENCE_SERVICE, NS, "fraud", model_state(state))
        status_becomes(database, deployment_id, state)
        assert writer.wait_idle(5) and standby.wait_idle(5)
    assert not standby.writing

    writer.stop()  # releases the lease: the standby takes over at its next renewal (a third of the lease)
    wait_until(lambda: standby.writing, timeout=3)
    emulator.patch_status(INFERENCE_SERVICE, NS, "fraud", model_state("Loading", "Loaded"))
    status_becomes(database, deployment_id, "Redeploying")
    statuses = [status for ev, status, *_ in events(database, deployment_id) if ev == "status"]
    assert statuses == ["Pending", "Loading", "Loaded", "FailedToLoad", "Redeploying"]  # each once


def test_changes_while_nobody_watched_are_reconciled(
    database: Database, emulator: Emulator, registry: RegistryService, model: Model, watchers: Any
) -> None:
    kept, removed = claim(database, model, "kept"), claim(database, model, "removed")
    emulator.put_object(isvc(model, name="kept"))
    emulator.put_object(isvc(model, name="removed"))
    earlier = watchers()
    wait_until(lambda: row(database, removed).inference_service_id and row(database, kept).isvc_uid)
    earlier.stop()

    emulator.patch_status(INFERENCE_SERVICE, NS, "kept", model_state("Loaded", "Loaded"))
    emulator.delete_object(INFERENCE_SERVICE, NS, "removed")
    record_id = row(database, removed).inference_service_id
    assert record_id is not None

    later = watchers()
    assert later.wait_idle(10)
    assert row(database, kept).status == "Loaded"
    assert (row(database, removed).status, row(database, removed).desired_state) == ("Undeployed", "undeployed")
    assert registry.get(e.INFERENCE_SERVICE, record_id).row["desired_state"] == "UNDEPLOYED"


def test_watched_namespaces_only(database: Database, emulator: Emulator, model: Model, watchers: Any) -> None:
    emulator.put_object(isvc(model, name="here"))
    emulator.put_object(isvc(model, name="there", namespace="team-b"))
    watcher = watchers(namespaces=["team-b"])
    assert watcher.wait_idle(10)
    with database.read() as conn:
        assert store.find_active(conn, NS, "here") is None
        assert store.find_active(conn, "team-b", "there") is not None


@pytest.mark.sqlite_only("idleness, the watches' and the lease's (adopting 1,000 takes a minute on a server database)")
def test_idle_with_a_thousand_inference_services(
    database: Database, emulator: Emulator, model: Model, watchers: Any
) -> None:
    count = 1000
    for i in range(count):
        emulator.put_object(isvc(model, name=f"svc-{i:04d}"))
    watcher = watchers()
    wait_until(lambda: watcher.wait_idle(1) and watcher.writing, timeout=300)
    # every one adopted and labelled with its registry record (the label patches come back as events)
    labelled = wait_until(
        lambda: sum(ID_LABEL in o["metadata"]["labels"] for o in emulator.objects(INFERENCE_SERVICE)) == count,
        timeout=120,
    )
    assert labelled
    assert watcher.wait_idle(60)
    with database.read() as conn:
        assert len(store.page(conn, store.Filters(), 2 * count)) == count

    used = threads_cpu_share(lambda name: name.startswith("modelreg-informer") or name == "deploy-status-watcher", 3)
    assert used < 0.05, f"{used:.1%} of a core while idle"


def test_the_server_runs_the_watcher(database: Database, emulator: Emulator, tmp_path: Path) -> None:
    """The app's lifespan starts it: a status KServe reports shows in the deploy API within 2 s."""
    env = make_app(database, tmp_path, emulator)
    with env.client("developer") as dev:  # with: the lifespan runs
        assert env.app.state.deploy_watcher is not None
        created = dev.post("/deployments", json=env.body(externalRoute=True))
        assert created.status_code == 201, created.text
        deployment = created.json()
        emulator.patch_status(
            INFERENCE_SERVICE,
            "team-a",
            deployment["name"],
            {**model_state("Loaded", "Loaded"), "url": EXTERNAL, "address": {"url": INTERNAL}},
        )
        shown = wait_until(
            lambda: (d := dev.get(f"/deployments/{deployment['id']}").json())["status"] == "Loaded" and d,
            timeout=VISIBLE,
        )
        assert (shown["internalUrl"], shown["externalUrl"]) == (INTERNAL, EXTERNAL)
        assert wait_until(lambda: dev.get(f"/deployments/{deployment['id']}").json()["inferenceServiceId"])
    assert not env.app.state.deploy_watcher.writing  # stopped with the app, lease released


def test_a_missing_cache_entry_is_checked_with_the_api(
    database: Database, emulator: Emulator, model: Model, watchers: Any
) -> None:
    """At reconciliation, a deployment whose InferenceService the cache lacks is undeployed only when the API
    confirms it is gone (here the cache never has it: it lost its registry label; a deploy a moment old is the
    real case)."""
    deployment_id = claim(database, model)
    unlabelled = isvc(model)
    del unlabelled["metadata"]["labels"][RM_LABEL]
    uid = emulator.put_object(unlabelled)["metadata"]["uid"]
    with context.acting_as(context.system("tests")), database.write() as conn:
        store.set_fields(conn, deployment_id, isvc_uid=uid)  # as the deploy service records what it applied
    watcher = watchers()
    assert watcher.wait_idle(10) and watcher.writing
    assert row(database, deployment_id).desired_state == "deployed"
    assert emulator.delete_object(INFERENCE_SERVICE, NS, "fraud")
    watcher.stop()
    later = watchers()
    assert later.wait_idle(10)
    assert (row(database, deployment_id).desired_state, row(database, deployment_id).status) == (
        "undeployed",
        "Undeployed",
    )

"""A deployment's history and audit records while the status watcher runs beside the deploy service (the emulator
as the cluster), on every backend, with the races forced: the watcher records the new InferenceService before the
deploy call returns, and the deletion before the undeploy call records it. The deploy event still comes first, an
undeploy is one event (the caller's), a failed delete leaves the deployment as it was, and every audit record of a
deployment uses the wire names of the deploy API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from deploy.service_env import DeployEnv, as_user, make_env
from kube_emulator import Emulator, wait_until
from modelreg.auth.principal import Role
from modelreg.db.database import Database
from modelreg.db.tables import audit_log
from modelreg.deploy import service as service_module
from modelreg.deploy import status_rows, store
from modelreg.deploy.status import NOT_YET, status_of
from modelreg.deploy.watcher import StatusWatcher
from modelreg.errors import BadGateway, Conflict
from modelreg.kube.client import Kube
from modelreg.kube.kinds import INFERENCE_SERVICE, Kind
from modelreg.settings import DeploySettings

pytestmark = pytest.mark.usefixtures("as_system")
NS = "team-a"
DEV = "ai-developer"


@pytest.fixture
def env(database: Database, tmp_path: Path, emulator: Emulator, kube: Kube) -> DeployEnv:
    return make_env(database, tmp_path, kube, emulator=emulator)


@pytest.fixture
def watcher(env: DeployEnv, kube: Kube) -> Iterator[StatusWatcher]:
    running = StatusWatcher(env.db, kube, env.registry, DeploySettings(status_lease_seconds=3))
    running.start()
    assert running.wait_idle(10) and running.writing
    yield running
    running.stop()


def row(env: DeployEnv, deployment_id: int) -> store.Deployment:
    with env.db.read() as conn:
        return store.get(conn, deployment_id)


def history(env: DeployEnv, deployment_id: int) -> list[tuple[str, str]]:
    """(event, actor), oldest first."""
    return [(ev.event, ev.actor) for ev in reversed(env.service.history(deployment_id=deployment_id))]


def the_only_deployment(env: DeployEnv) -> int:
    with env.db.read() as conn:
        [found] = store.page(conn, store.Filters(include_undeployed=True), 10)
    return found.id


def test_the_deploy_event_comes_before_what_the_watcher_saw(
    env: DeployEnv, watcher: StatusWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    roll_out = service_module.roll_out

    def seen_by_the_watcher_first(*args: Any) -> Any:
        applied = roll_out(*args)
        wait_until(lambda: row(env, the_only_deployment(env)).isvc_uid, timeout=10)  # the watcher recorded it
        return applied

    monkeypatch.setattr(service_module, "roll_out", seen_by_the_watcher_first)
    with as_user(DEV, Role.DEVELOPER):
        deployed = env.service.deploy(env.request()).deployment
    assert deployed is not None
    assert history(env, deployed.id) == [("deploy", DEV), ("status", "system:deploy-watch")]
    assert (deployed.status, deployed.status_message) == ("Pending", NOT_YET)  # the watcher's, kept


def test_an_undeploy_is_one_event_while_the_watcher_sees_the_deletion(
    env: DeployEnv, emulator: Emulator, watcher: StatusWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    with as_user(DEV, Role.DEVELOPER):
        deployed = env.service.deploy(env.request()).deployment
    assert deployed is not None
    wait_until(lambda: row(env, deployed.id).inference_service_id, timeout=10)
    delete_quietly = service_module.delete_quietly
    during: list[str] = []  # the desired state while the InferenceService is deleted, and what a stop then says

    def deletion_seen_first(kube: Kube, kind: Kind, name: str, namespace: str) -> None:
        if kind is INFERENCE_SERVICE:
            during.append(row(env, deployed.id).desired_state)
            try:
                with as_user(DEV, Role.DEVELOPER):
                    env.service.stop(deployed.id)
            except Conflict as exc:
                during.append(exc.message)
        delete_quietly(kube, kind, name, namespace)
        if kind is INFERENCE_SERVICE:  # the watcher has handled the DELETED event before the undeploy goes on
            wait_until(lambda: watcher.isvcs.get(namespace, name) is None, timeout=10)
            assert watcher.wait_idle(5)

    monkeypatch.setattr(service_module, "delete_quietly", deletion_seen_first)
    with as_user(DEV, Role.DEVELOPER):
        gone = env.service.undeploy(deployed.id)
    assert (gone.desired_state, gone.status, gone.status_message) == ("undeployed", "Undeployed", None)
    assert emulator.get(INFERENCE_SERVICE, NS, deployed.name) is None
    assert watcher.wait_idle(5)
    events = history(env, deployed.id)
    assert [e for e in events if e[0] == "undeploy"] == [("undeploy", DEV)]
    assert events[-1] == ("undeploy", DEV)
    assert during[0] == "undeploying" and "is being undeployed" in during[1]


def test_a_failed_delete_leaves_the_deployment_as_it_was(
    env: DeployEnv, emulator: Emulator, watcher: StatusWatcher
) -> None:
    deployed = env.service.deploy(env.request()).deployment
    assert deployed is not None
    env.service.stop(deployed.id)
    before = [event for event in history(env, deployed.id) if event[0] != "status"]  # the watcher may add those
    emulator.fail_next("DELETE", "inferenceservices", status=500, message="etcd is having a bad day")
    with pytest.raises(BadGateway, match="etcd is having a bad day"):
        env.service.undeploy(deployed.id)
    assert row(env, deployed.id).desired_state == "stopped"
    assert emulator.get(INFERENCE_SERVICE, NS, deployed.name) is not None
    assert [event for event in history(env, deployed.id) if event[0] != "status"] == before
    assert env.service.undeploy(deployed.id).desired_state == "undeployed"


def test_every_audit_record_of_a_deployment_uses_the_wire_names(
    env: DeployEnv, emulator: Emulator, watcher: StatusWatcher
) -> None:
    deployed = env.service.deploy(env.request(external_route=True)).deployment
    assert deployed is not None
    wait_until(lambda: row(env, deployed.id).status_message == NOT_YET, timeout=10)  # the watcher's first status
    status = {
        "url": "https://granite.apps.example.com",
        "address": {"url": "http://granite-predictor.team-a.svc.cluster.local"},
        "modelStatus": {"states": {"targetModelState": "Loaded", "activeModelState": "Loaded"}},
    }
    emulator.patch_status(INFERENCE_SERVICE, NS, deployed.name, status)
    wait_until(lambda: row(env, deployed.id).status == "Loaded", timeout=10)
    env.service.stop(deployed.id)
    emulator.delete_object(INFERENCE_SERVICE, NS, deployed.name)  # deleted behind modelreg's back
    wait_until(lambda: not row(env, deployed.id).active, timeout=10)
    assert watcher.wait_idle(5)

    wire = set(row(env, deployed.id).to_dict())
    with env.db.read() as conn:
        query = select(audit_log.c.action, audit_log.c.actor, audit_log.c.changes).where(
            audit_log.c.entity_kind == "deployment", audit_log.c.entity_id == deployed.id
        )
        audited = conn.execute(query.order_by(audit_log.c.seq)).all()
    for action, _actor, changes in audited:
        for side in json.loads(changes).values():
            assert set(side or {}) <= wire, (action, sorted(set(side or {}) - wire))
    actions = [(action, actor) for action, actor, _ in audited]
    assert actions[0] == ("deploy", "system:tests") and actions[-1] == ("undeploy", "system:deploy-watch")
    assert actions.count(("stop", "system:tests")) == 1  # (the watcher's Stopped may come just before it)
    assert {actor for action, actor in actions if action == "status"} == {"system:deploy-watch"}
    [loaded] = [
        json.loads(c) for a, _, c in audited if a == "status" and json.loads(c)["after"].get("status") == "Loaded"
    ]
    assert loaded["after"]["externalUrl"] == "https://granite.apps.example.com"


def test_a_stale_copy_of_the_inference_service_never_writes_an_older_status_back(
    env: DeployEnv, emulator: Emulator, watcher: StatusWatcher
) -> None:
    """The watcher's cache may still hold the copy from before a stop when the stop's own record has committed (its
    informer lags behind the API call's response): handling that copy must not record "Loaded" a second time."""
    deployed = env.service.deploy(env.request()).deployment
    assert deployed is not None
    loaded = {"modelStatus": {"states": {"targetModelState": "Loaded", "activeModelState": "Loaded"}}}
    emulator.patch_status(INFERENCE_SERVICE, NS, deployed.name, loaded)
    wait_until(lambda: row(env, deployed.id).status == "Loaded", timeout=10)
    assert watcher.wait_idle(5)
    stale = watcher.inference_service(NS, deployed.name)
    assert stale is not None and status_of(stale).state == "Loaded"

    stopped = env.service.stop(deployed.id)
    assert watcher.wait_idle(5)
    with as_user("system:deploy-watch", Role.ADMIN):
        env.db.run_write(status_rows.record_status, stale, status_of(stale))  # what a lagging informer hands over

    assert (row(env, deployed.id).status, stopped.status) == ("Stopped", "Stopped")
    statuses = [event.status for event in env.service.history(deployment_id=deployed.id)]
    assert statuses.count("Loaded") == 1, statuses

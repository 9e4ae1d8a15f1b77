"""What the status watcher follows and how it writes the registry label back, against the emulator, on every
backend: every InferenceService modelreg deploys carries ``modelreg.io/registry``, so a catalog model's deployment
(no registry labels) is followed too; one carrying both kinds of labels is handled once; another modelreg's is left
alone; a label the API refuses is tried again per object after a pause that doubles, warned about once."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from deploy.service_env import DeployEnv, make_env
from kube_emulator import Emulator, wait_until
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import audit_log
from modelreg.deploy import store
from modelreg.deploy.requests import CatalogModelRef
from modelreg.deploy.service import DeployService
from modelreg.deploy.status import NOT_YET
from modelreg.deploy.watcher import StatusWatcher
from modelreg.kube.client import Kube
from modelreg.kube.kinds import INFERENCE_SERVICE
from modelreg.settings import DeploySettings

pytestmark = pytest.mark.usefixtures("as_system")
NS = "team-a"
LABEL = "modelreg.io/registry"
RECORD_LABEL = "modelregistry.opendatahub.io/inference-service-id"
LOADED = {"modelStatus": {"states": {"targetModelState": "Loaded", "activeModelState": "Loaded"}}}
# The pauses between label attempts are the watcher's own timing, kept in memory: on SQLite only (the statuses
# written meanwhile are tested on every backend above and in test_watcher.py).
LABEL_RETRIES = pytest.mark.sqlite_only("the watcher's pauses between label attempts")
GRANITE = CatalogModelRef("redhat", "granite-3.1-8b", "Granite 3.1", "s3://models/granite-3.1/8b/", "vLLM", None)


@pytest.fixture
def env(database: Database, tmp_path: Path, emulator: Emulator, kube: Kube) -> DeployEnv:
    return make_env(database, tmp_path, kube, emulator=emulator)


@pytest.fixture
def watchers(env: DeployEnv, kube: Kube) -> Iterator[Callable[..., StatusWatcher]]:
    """Start a status watcher (lease 3 s: renewed every second); stopped at the end. Keywords set its attributes."""
    with ExitStack() as running:

        def start(**attributes: Any) -> StatusWatcher:
            settings = DeploySettings(status_lease_seconds=3)
            watcher = StatusWatcher(env.db, kube, env.registry, settings)
            for name, value in attributes.items():
                setattr(watcher, name, value)
            watcher.start()
            running.callback(watcher.stop)
            assert watcher.wait_idle(10) and watcher.writing
            return watcher

        yield start


def with_catalog(env: DeployEnv) -> DeployService:
    service = env.service
    return DeployService(
        env.db,
        env.registry,
        env.targets,
        service.kube,
        service.validator,
        service.settings,
        catalog_lookup=lambda source, name: GRANITE if (source, name) == (GRANITE.source_id, GRANITE.name) else None,
    )


def row(env: DeployEnv, deployment_id: int) -> store.Deployment:
    with env.db.read() as conn:
        return store.get(conn, deployment_id)


def test_a_catalog_models_deployment_is_followed(env: DeployEnv, emulator: Emulator, watchers: Any) -> None:
    watchers()
    request = env.request(model_version_id=None, catalog_source="redhat", catalog_model="granite-3.1-8b")
    deployed = with_catalog(env).deploy(request).deployment
    assert deployed is not None
    labels = emulator.get(INFERENCE_SERVICE, NS, deployed.name)["metadata"]["labels"]  # type: ignore[index]
    assert labels[LABEL] == "modelreg" and not any(k.startswith("modelregistry.") for k in labels)

    emulator.patch_status(INFERENCE_SERVICE, NS, deployed.name, LOADED)
    wait_until(lambda: row(env, deployed.id).status == "Loaded", timeout=10)  # (latency: test_watcher.py)
    assert row(env, deployed.id).isvc_uid is not None


def test_one_with_both_labels_is_handled_once(env: DeployEnv, emulator: Emulator, watchers: Any) -> None:
    watcher = watchers()
    deployed = env.service.deploy(env.request()).deployment
    assert deployed is not None
    labels = emulator.get(INFERENCE_SERVICE, NS, deployed.name)["metadata"]["labels"]  # type: ignore[index]
    assert labels[LABEL] == "modelreg" and "modelregistry.opendatahub.io/registered-model-id" in labels
    wait_until(lambda: row(env, deployed.id).status_message == NOT_YET, timeout=10)  # the watcher's first status
    emulator.patch_status(INFERENCE_SERVICE, NS, deployed.name, LOADED)
    wait_until(
        lambda: row(env, deployed.id).inference_service_id and row(env, deployed.id).status == "Loaded", timeout=10
    )
    assert watcher.wait_idle(5)
    events = [(ev.event, ev.status) for ev in reversed(env.service.history(deployed.id))]
    assert events == [("deploy", "Pending"), ("status", "Pending"), ("status", "Loaded")]
    with env.db.read() as conn:
        query = select(audit_log.c.action).where(
            audit_log.c.entity_kind == "inference_service", audit_log.c.action == "create"
        )
        assert len(conn.execute(query).all()) == 1  # one registry record


def test_another_modelregs_deployment_is_left_alone(env: DeployEnv, emulator: Emulator, watchers: Any) -> None:
    """Deployed by a modelreg whose deploy.registry_name is "other": its labels name no registry (a catalog
    model), only the other modelreg."""
    request = env.request(model_version_id=None, catalog_source="redhat", catalog_model="granite-3.1-8b")
    isvc = with_catalog(env).preview(request).objects[2]
    isvc["metadata"]["labels"][LABEL] = "other"
    isvc["metadata"]["labels"]["modelregistry.opendatahub.io/registered-model-id"] = str(env.model_id)
    emulator.put_object(isvc)
    watcher = watchers()
    assert watcher.wait_idle(5)
    with env.db.read() as conn:
        assert store.find_active(conn, NS, isvc["metadata"]["name"]) is None


def label_attempts(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests if r.method == "PATCH" and r.plural == "inferenceservices")


@LABEL_RETRIES
def test_a_refused_label_is_tried_again_after_a_pause(
    env: DeployEnv, emulator: Emulator, watchers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The service account may not patch InferenceServices: the status is still recorded, the label is tried once
    in the next 2.5 s (not at every lease renewal, each second here), and that failure is one warning."""
    deployed = env.service.deploy(env.request()).deployment  # (server-side apply is a PATCH too)
    assert deployed is not None
    emulator.fail_next("PATCH", "inferenceservices", status=403, count=100, message="patch is forbidden")
    emulator.clear_requests()
    watchers()
    wait_until(lambda: label_attempts(emulator) == 1 and row(env, deployed.id).inference_service_id, timeout=10)
    time.sleep(2.5)  # what is measured: attempts in this window (the lease is renewed twice meanwhile)
    assert label_attempts(emulator) == 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "cannot label" in r.getMessage()]
    assert len(warnings) == 1 and "patch is forbidden" in warnings[0].getMessage()


@LABEL_RETRIES
def test_the_pause_doubles_and_repeats_are_debug(
    env: DeployEnv, emulator: Emulator, watchers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelreg.deploy")
    deployed = env.service.deploy(env.request()).deployment
    assert deployed is not None
    emulator.fail_next("PATCH", "inferenceservices", status=403, count=4)
    watchers(label_retry_first=0.2, label_retry_max=0.8)
    record_id = wait_until(lambda: row(env, deployed.id).inference_service_id, timeout=10)
    labelled = wait_until(
        lambda: (emulator.get(INFERENCE_SERVICE, NS, deployed.name) or {})["metadata"]["labels"].get(RECORD_LABEL),
        timeout=10,
    )
    assert labelled == str(record_id)  # the fifth try, once the API allows it
    failures = [r for r in caplog.records if "cannot label" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.WARNING] + [logging.DEBUG] * 3
    gaps = [later.created - earlier.created for earlier, later in itertools.pairwise(failures)]
    assert [gap >= low for gap, low in zip(gaps, (0.2, 0.4, 0.8), strict=True)] == [True] * 3, gaps
    with context.acting_as(context.system("tests")):
        assert env.service.get(deployed.id).inference_service_id == record_id


def test_the_newer_copy_wins_when_one_watch_lags(env: DeployEnv, emulator: Emulator, watchers: Any) -> None:
    """Both informers hold a registered version's deployment, each from its own watch; one falling behind (here the
    registry labels' watch, stopped) must not bring its older copy back: the status and the deletion are the
    newer copy's."""
    watcher = watchers()
    deployed = env.service.deploy(env.request()).deployment
    assert deployed is not None
    wait_until(lambda: row(env, deployed.id).status_message == NOT_YET, timeout=10)
    watcher.isvcs.stop()  # its cache keeps the InferenceService as it is now
    emulator.patch_status(INFERENCE_SERVICE, NS, deployed.name, LOADED)
    wait_until(lambda: row(env, deployed.id).status == "Loaded", timeout=10)
    emulator.delete_object(INFERENCE_SERVICE, NS, deployed.name)
    gone = wait_until(lambda: (r := row(env, deployed.id)).desired_state == "undeployed" and r, timeout=10)
    assert gone.status == "Undeployed"
    assert watcher.isvcs.get(NS, deployed.name) is not None  # the stale copy is still there, and was not believed

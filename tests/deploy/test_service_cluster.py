"""`DeployService` against the Kubernetes API emulator, on every backend: the objects and their order, rollback of
a failed step, two deploys of one name at once, an unreachable cluster, a missing CRD, the API's refusals, stop,
start, edit, undeploy, namespace-label policies, and dry runs that touch nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from deploy.service_env import SECRET_KEY, DeployEnv, make_env
from kube_emulator import Emulator, wait_until
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import deployments
from modelreg.deploy import store
from modelreg.deploy.policy import DeployPolicy
from modelreg.deploy.requests import DeployChanges
from modelreg.deploy.watcher import StatusWatcher
from modelreg.errors import BadGateway, Conflict, Forbidden, NotFound, RegistryError, Unavailable, Unprocessable
from modelreg.kube.client import Kube
from modelreg.kube.kinds import INFERENCE_SERVICE, ROLE, ROLE_BINDING, SECRET, SERVICE_ACCOUNT, SERVING_RUNTIME
from modelreg.services import entities as e

pytestmark = pytest.mark.usefixtures("as_system")
NAME = "granite-7b-inference-100"
ISVC_CRD = "inferenceservices.serving.kserve.io"


@pytest.fixture
def env(
    database: Database, tmp_path: Path, emulator: Emulator, kube: Kube, as_system: context.CallContext
) -> DeployEnv:
    made = make_env(database, tmp_path, kube, emulator=emulator)
    emulator.clear_requests()
    return made


def writes(emulator: Emulator) -> list[tuple[str, str]]:
    """(method, "plural/name") of every request that changes something, in order."""
    return [
        (r.method, f"{r.plural}/{r.path.rsplit('/', 1)[-1]}") for r in emulator.requests if r.method not in ("GET",)
    ]


def names(emulator: Emulator, kind: Any, namespace: str = "team-a") -> list[str]:
    return [o["metadata"]["name"] for o in emulator.objects(kind, namespace)]


def active_rows(db: Database) -> int:
    with db.read() as conn:
        query = select(func.count()).select_from(deployments).where(deployments.c.active_key.is_not(None))
        return int(conn.execute(query).scalar_one())


def nothing_deployed(emulator: Emulator, db: Database) -> None:
    assert names(emulator, INFERENCE_SERVICE) == [] and names(emulator, SERVING_RUNTIME) == []
    assert names(emulator, SECRET) == [] and names(emulator, SERVICE_ACCOUNT) == []
    assert active_rows(db) == 0


# --- deploying -----------------------------------------------------------------------------------------------------


def test_deploy_applies_the_objects_in_the_dashboards_order(env: DeployEnv, emulator: Emulator) -> None:
    result = env.service.deploy(env.request(token_auth=True, external_route=True))
    assert writes(emulator) == [
        ("PATCH", "secrets/minio-storage"),
        ("PATCH", f"servingruntimes/{NAME}"),
        ("PATCH", f"inferenceservices/{NAME}"),
        ("PATCH", f"serviceaccounts/{NAME}-sa"),
        ("PATCH", f"roles/{NAME}-view-role"),
        ("PATCH", f"rolebindings/{NAME}-view"),
        ("PATCH", f"secrets/default-name-{NAME}-sa"),
    ]
    assert all(r.content_type == "application/apply-patch+yaml" for r in emulator.requests if r.method == "PATCH")
    assert all(r.params.get("fieldManager") == "modelreg" for r in emulator.requests if r.method == "PATCH")

    isvc = emulator.get(INFERENCE_SERVICE, "team-a", NAME)
    assert isvc is not None
    labels, annotations = isvc["metadata"]["labels"], isvc["metadata"]["annotations"]
    assert labels["modelregistry.opendatahub.io/registered-model-id"] == str(env.model_id)
    assert labels["modelregistry.opendatahub.io/model-version-id"] == str(env.version_id)
    assert labels["networking.kserve.io/visibility"] == "exposed"
    assert annotations["opendatahub.io/connections"] == "minio-storage"
    assert annotations["opendatahub.io/hardware-profile-name"] == "nvidia-l4-1gpu"
    assert annotations["security.opendatahub.io/enable-auth"] == "true"
    owned = [
        emulator.get(kind, "team-a", name)
        for kind, name in (
            (SERVICE_ACCOUNT, f"{NAME}-sa"),
            (ROLE, f"{NAME}-view-role"),
            (ROLE_BINDING, f"{NAME}-view"),
            (SECRET, f"default-name-{NAME}-sa"),
        )
    ]
    for obj in owned:
        assert obj is not None
        [owner] = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("InferenceService", NAME, isvc["metadata"]["uid"])

    deployment = result.deployment
    assert deployment is not None
    assert (deployment.status, deployment.desired_state, deployment.mode) == ("Pending", "deployed", "apply")
    assert deployment.isvc_uid == isvc["metadata"]["uid"]
    assert [ev.event for ev in env.service.history(deployment_id=deployment.id)] == ["deploy"]
    secret = emulator.get(SECRET, "team-a", "minio-storage")
    assert secret is not None and "AWS_SECRET_ACCESS_KEY" in (secret.get("data") or secret.get("stringData") or {})
    assert SECRET_KEY not in result.yaml


def test_an_existing_connection_secret_is_left_alone_but_for_its_protocol(env: DeployEnv, emulator: Emulator) -> None:
    theirs = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "minio-storage", "namespace": "team-a", "labels": {"opendatahub.io/dashboard": "true"}},
        "stringData": {"AWS_S3_BUCKET": "models", "AWS_S3_ENDPOINT": "http://minio.minio.svc:9000"},
    }
    emulator.put_object(theirs)
    emulator.clear_requests()
    env.service.deploy(env.request())
    assert ("PATCH", "secrets/minio-storage") in writes(emulator)  # the protocol annotation, a merge patch
    secret = emulator.get(SECRET, "team-a", "minio-storage")
    assert secret is not None
    assert secret["metadata"]["annotations"] == {"opendatahub.io/connection-type-protocol": "s3"}
    assert "AWS_SECRET_ACCESS_KEY" not in str(secret)  # not replaced by modelreg's


def test_a_failed_step_removes_what_this_deploy_created(env: DeployEnv, emulator: Emulator, database: Database) -> None:
    emulator.fail_next("PATCH", "inferenceservices", status=500, message="admission webhook exploded")
    with pytest.raises(BadGateway, match="admission webhook exploded"):
        env.service.deploy(env.request())
    nothing_deployed(emulator, database)
    [row] = env.service.list(include_undeployed=True)[0]
    assert (row.desired_state, row.status) == ("undeployed", "Undeployed")
    assert row.status_message is not None and "admission webhook exploded" in row.status_message
    failed, deploy = env.service.history(deployment_id=row.id)  # newest first: the deploy was recorded with the claim
    assert (deploy.event, deploy.status) == ("deploy", "Pending")
    assert failed.event == "failed" and failed.message == row.status_message
    again = env.service.deploy(env.request())  # the name is free again
    assert again.deployment is not None and names(emulator, INFERENCE_SERVICE) == [NAME]


def test_rollback_keeps_objects_that_were_there_before(env: DeployEnv, emulator: Emulator) -> None:
    emulator.put_object(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"{NAME}-sa", "namespace": "team-a"}}
    )
    emulator.fail_next("PATCH", "roles", status=422, message="roles are refused here")
    with pytest.raises(Unprocessable, match="roles are refused here"):
        env.service.deploy(env.request(token_auth=True))
    assert names(emulator, SERVICE_ACCOUNT) == [f"{NAME}-sa"]  # it existed: not ours to delete
    assert names(emulator, INFERENCE_SERVICE) == [] and names(emulator, SECRET) == []


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (403, BadGateway, "modelreg's Kubernetes service account may not apply ServingRuntime team-a/"),
        (409, Conflict, "cannot apply ServingRuntime"),
        (422, Unprocessable, "the Kubernetes API refused to apply ServingRuntime"),
    ],
)
def test_the_apis_refusals_become_clear_errors(
    env: DeployEnv, emulator: Emulator, database: Database, status: int, error: type[RegistryError], message: str
) -> None:
    emulator.fail_next("PATCH", "servingruntimes", status=status)
    with pytest.raises(error, match=message):
        env.service.deploy(env.request())
    nothing_deployed(emulator, database)


def test_an_unreachable_cluster_is_a_503_and_creates_nothing(
    env: DeployEnv, emulator: Emulator, database: Database
) -> None:
    emulator.unreachable()
    with pytest.raises(Unavailable, match=r"the Kubernetes API at .* is unreachable"):
        env.service.deploy(env.request())
    emulator.reachable()
    nothing_deployed(emulator, database)
    emulator.drop_next("PATCH", "inferenceservices")  # the network fails in the middle of the deploy
    with pytest.raises(Unavailable, match="is unreachable"):
        env.service.deploy(env.request())
    nothing_deployed(emulator, database)


def test_a_missing_crd_is_named_and_nothing_is_left(env: DeployEnv, emulator: Emulator, database: Database) -> None:
    emulator.remove_crd(ISVC_CRD)
    emulator.clear_requests()
    with pytest.raises(
        Conflict, match=r"the cluster has no InferenceService CRD \(serving.kserve.io/v1beta1\): is KServe installed\?"
    ):
        env.service.deploy(env.request())
    assert writes(emulator) == []
    nothing_deployed(emulator, database)


def test_a_missing_namespace_and_a_foreign_isvc(env: DeployEnv, emulator: Emulator, database: Database) -> None:
    with pytest.raises(NotFound, match="namespace team-z does not exist in the cluster"):
        env.service.deploy(env.request("team-z"))
    foreign = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": NAME, "namespace": "team-b"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}}}},
    }
    emulator.put_object(foreign)
    with pytest.raises(Conflict, match=f"an InferenceService named {NAME} already exists in namespace team-b"):
        env.service.deploy(env.request("team-b"))
    assert emulator.get(INFERENCE_SERVICE, "team-b", NAME) is not None
    assert names(emulator, SERVING_RUNTIME, "team-b") == [] and active_rows(database) == 0


def test_two_deploys_of_one_name_at_once(env: DeployEnv, emulator: Emulator, database: Database) -> None:
    """Both plan, both validate; the database lets one claim the name, the other is a 409 before any write."""
    emulator.delay(0.02)  # widen the window in which both are between planning and claiming
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def attempt() -> None:
        with context.acting_as(context.system("tests")):
            barrier.wait()
            try:
                outcomes.append(env.service.deploy(env.request()))
            except RegistryError as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(outcomes) == 2 and len(conflicts) == 1, outcomes
    assert f"a deployment named {NAME} already exists in namespace team-a" in conflicts[0].message
    assert names(emulator, INFERENCE_SERVICE) == [NAME] and names(emulator, SERVING_RUNTIME) == [NAME]
    assert active_rows(database) == 1


def test_a_dry_run_touches_nothing(env: DeployEnv, emulator: Emulator, database: Database) -> None:
    result = env.service.preview(env.request(token_auth=True))
    assert writes(emulator) == []
    assert result.objects[0]["kind"] == "Secret"  # not yet in the namespace
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(deployments)).scalar_one() == 0


def test_a_label_policy_reads_the_namespace(database: Database, tmp_path: Path, emulator: Emulator, kube: Kube) -> None:
    policy = DeployPolicy.parse(
        {"rules": [{"namespaces": {"labels": {"environment": "production"}}, "requireStage": "production"}]}
    )
    env = make_env(database, tmp_path, kube, policy=policy, emulator=emulator)
    with pytest.raises(Forbidden) as caught:
        env.service.deploy(env.request("prod-a"))
    assert caught.value.message == (
        "deploy policy rule 1 (labels environment=production): namespace prod-a (labels environment=production) "
        "requires stage 'production'; version '1.0.0' of 'Granite-7b-Inference' is in 'development'"
    )
    assert names(emulator, INFERENCE_SERVICE, "prod-a") == []
    assert env.service.deploy(env.request("team-a")).deployment is not None


# --- after the deploy ----------------------------------------------------------------------------------------------


def deployed(env: DeployEnv, **overrides: Any) -> int:
    result = env.service.deploy(env.request(**overrides))
    assert result.deployment is not None
    return result.deployment.id


def isvc_of(emulator: Emulator, namespace: str = "team-a") -> dict[str, Any]:
    found = emulator.get(INFERENCE_SERVICE, namespace, NAME)
    assert found is not None
    return found


def test_stop_and_start_set_the_annotation(env: DeployEnv, emulator: Emulator) -> None:
    deployment_id = deployed(env)
    stopped = env.service.stop(deployment_id)
    assert isvc_of(emulator)["metadata"]["annotations"]["serving.kserve.io/stop"] == "true"
    assert (stopped.desired_state, stopped.status) == ("stopped", "Stopped")
    started = env.service.start(deployment_id)
    assert isvc_of(emulator)["metadata"]["annotations"]["serving.kserve.io/stop"] == "false"
    assert started.desired_state == "deployed"
    events = env.service.history(deployment_id=deployment_id)
    assert [(ev.event, ev.actor) for ev in events] == [
        ("start", "system:tests"),
        ("stop", "system:tests"),
        ("deploy", "system:tests"),
    ]


def test_an_edit_reapplies_the_isvc_and_adds_or_removes_tokens(env: DeployEnv, emulator: Emulator) -> None:
    deployment_id = deployed(env)
    runtime_version = emulator.get(SERVING_RUNTIME, "team-a", NAME)["metadata"]["resourceVersion"]  # type: ignore[index]
    env.service.stop(deployment_id)
    edited = env.service.edit(deployment_id, DeployChanges(replicas=2, token_auth=True, resources={"cpu": "8"}))
    isvc = isvc_of(emulator)
    assert isvc["spec"]["predictor"]["minReplicas"] == 2
    assert isvc["spec"]["predictor"]["model"]["resources"]["requests"]["cpu"] == "8"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/stop"] == "true"  # still stopped
    assert names(emulator, SERVICE_ACCOUNT) == [f"{NAME}-sa"]
    assert emulator.get(SERVING_RUNTIME, "team-a", NAME)["metadata"]["resourceVersion"] == runtime_version  # type: ignore[index]
    assert edited.to_dict()["tokenAuth"] is True and edited.desired_state == "stopped"
    env.service.edit(deployment_id, DeployChanges(token_auth=False))
    assert names(emulator, SERVICE_ACCOUNT) == [] and names(emulator, ROLE) == []
    assert f"default-name-{NAME}-sa" not in names(emulator, SECRET)
    message = env.service.history(deployment_id=deployment_id)[1].message
    assert message is not None and "replicas: 1 → 2" in message and "tokenAuth: false → true" in message


def test_undeploy_deletes_the_isvc_and_its_runtime(env: DeployEnv, emulator: Emulator) -> None:
    deployment_id = deployed(env, token_auth=True)
    environment = env.registry.create(e.SERVING_ENVIRONMENT, {"name": "team-a"}, {})
    record = env.registry.create(
        e.INFERENCE_SERVICE,
        {
            "name": f"{NAME}/uid",
            "serving_environment_id": environment.row["id"],
            "registered_model_id": env.model_id,
            "model_version_id": env.version_id,
        },
        {},
    )
    with env.db.write() as conn:  # as the status watcher records it
        store.set_fields(conn, deployment_id, inference_service_id=record.row["id"])
    gone = env.service.undeploy(deployment_id)
    assert (gone.desired_state, gone.status) == ("undeployed", "Undeployed")
    assert names(emulator, INFERENCE_SERVICE) == [] and names(emulator, SERVING_RUNTIME) == []
    assert names(emulator, SERVICE_ACCOUNT) == []  # collected with its owner
    assert names(emulator, SECRET) == ["minio-storage"]  # a saved connection stays
    assert env.registry.get(e.INFERENCE_SERVICE, record.row["id"]).row["desired_state"] == "UNDEPLOYED"
    env.service.deploy(env.request())  # the name is free again


def test_undeploy_tolerates_objects_already_gone_and_needs_the_cluster(env: DeployEnv, emulator: Emulator) -> None:
    deployment_id = deployed(env)
    emulator.delete_object(SERVING_RUNTIME, "team-a", NAME)
    emulator.unreachable()
    with pytest.raises(Unavailable):
        env.service.undeploy(deployment_id)
    assert env.service.get(deployment_id).active  # nothing recorded while nothing happened
    emulator.reachable()
    assert env.service.undeploy(deployment_id).status == "Undeployed"


def test_stop_of_an_isvc_deleted_behind_our_back(env: DeployEnv, emulator: Emulator) -> None:
    deployment_id = deployed(env)
    emulator.delete_object(INFERENCE_SERVICE, "team-a", NAME)
    call: Callable[[int], object] = env.service.stop
    with pytest.raises(NotFound, match=f"InferenceService team-a/{NAME}"):
        call(deployment_id)


def test_status_is_pending_then_what_kserve_reports(env: DeployEnv, emulator: Emulator, kube: Kube) -> None:
    """With the status watcher running, as the server runs it: Pending at once, then Loaded with the URL KServe
    reports, within 2 s."""
    watcher = StatusWatcher(env.db, kube, env.registry, env.service.settings)
    watcher.start()
    try:
        deployment_id = deployed(env, external_route=True)
        assert env.service.get(deployment_id).status == "Pending"
        emulator.patch_status(
            INFERENCE_SERVICE,
            "team-a",
            NAME,
            {
                "url": f"https://{NAME}-team-a.apps.example.com",
                "address": {"url": f"http://{NAME}-predictor.team-a.svc.cluster.local"},
                "modelStatus": {"states": {"activeModelState": "Loaded", "targetModelState": "Loaded"}},
            },
        )
        loaded = wait_until(lambda: (d := env.service.get(deployment_id)).status == "Loaded" and d, timeout=2)
        assert loaded.external_url == f"https://{NAME}-team-a.apps.example.com"
        assert loaded.internal_url == f"http://{NAME}-predictor.team-a.svc.cluster.local"
        assert env.service.history(deployment_id=deployment_id)[0].status == "Loaded"
    finally:
        watcher.stop()

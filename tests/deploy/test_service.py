"""`DeployService` without a cluster, on every backend: dry runs, GitOps output, the resolution of connection and
runtime, profile bounds, the policy, permissions, edits, stop/start, undeploy, listing and history. (With the
emulator: test_service_cluster.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from deploy.service_env import ACCESS_KEY, SECRET_KEY, DeployEnv, as_user, deploy_settings, make_env
from modelreg.auth.principal import Role
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, deployment_events, deployments
from modelreg.deploy.policy import DeployPolicy
from modelreg.deploy.requests import CatalogModelRef, DeployChanges
from modelreg.deploy.service import DeployService
from modelreg.errors import Conflict, Forbidden, InvalidInput, NotFound
from modelreg.services import entities as e
from modelreg.services.lifecycle import LifecycleService

pytestmark = pytest.mark.usefixtures("as_system")


@pytest.fixture
def env(database: Database, tmp_path: Path) -> DeployEnv:
    return make_env(database, tmp_path, None)


def counts(db: Database) -> tuple[int, int, int]:
    with db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (deployments, deployment_events, audit_log)
        )


def files_of(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in directory.iterdir() if p.is_file()}


# --- dry run -------------------------------------------------------------------------------------------------------


def test_a_dry_run_builds_validated_redacted_objects_and_writes_nothing(env: DeployEnv) -> None:
    before = counts(env.db)
    result = env.service.preview(env.request(token_auth=True))
    assert counts(env.db) == before
    assert result.deployment is None
    kinds = [o["kind"] for o in result.objects]
    assert kinds == ["Secret", "ServingRuntime", "InferenceService", "ServiceAccount", "Role", "RoleBinding", "Secret"]
    assert SECRET_KEY not in result.yaml and ACCESS_KEY not in result.yaml
    assert SECRET_KEY not in str(result.objects)
    docs = list(yaml.safe_load_all(result.yaml))
    assert [d["kind"] for d in docs] == kinds
    isvc = docs[2]
    assert isvc["metadata"]["name"] == "granite-7b-inference-100"
    assert isvc["metadata"]["labels"]["modelregistry.opendatahub.io/model-version-id"] == str(env.version_id)
    assert isvc["metadata"]["labels"]["modelregistry.opendatahub.io/registered-model-id"] == str(env.model_id)
    assert isvc["metadata"]["labels"]["modelregistry.opendatahub.io/name"] == "modelreg"
    assert isvc["metadata"]["annotations"]["opendatahub.io/connection-path"] == "granite-7b-instruct/1.0.0/"
    assert isvc["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert result.warnings == ()  # every kind had a schema (deploy.crd_dir)


def test_without_a_schema_a_kind_is_skipped_and_the_result_says_so(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path, None, deploy_settings(tmp_path, crd_dir=None))
    result = env.service.preview(env.request())
    assert any("InferenceService (serving.kserve.io/v1beta1)" in w and "not validated" in w for w in result.warnings)
    assert any("ServingRuntime" in w for w in result.warnings)


def test_connection_and_runtime_are_chosen_as_the_dashboard_would(env: DeployEnv) -> None:
    _, info = env.service.plan(env.request(connection=None, runtime=None))
    assert info.request.connection == "minio-storage"  # the artifact's storageKey
    assert info.request.runtime == "vllm-cuda-runtime"  # vLLM + the profile's nvidia.com/gpu
    _, info = env.service.plan(env.request(connection=None, runtime=None, hardware_profile="default-profile"))
    assert info.request.runtime == "vllm-cpu-runtime"  # no accelerator: the CPU runtime


def test_a_runtime_that_does_not_serve_the_format_is_refused(env: DeployEnv) -> None:
    with pytest.raises(InvalidInput, match="runtime 'kserve-ovms' does not serve model format vLLM 1"):
        env.service.preview(env.request(runtime="kserve-ovms"))


def test_resources_stay_within_the_profile(env: DeployEnv) -> None:
    plan, _ = env.service.plan(env.request(resources={"cpu": "8", "memory": "32Gi"}))
    assert plan.resources == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
    with pytest.raises(
        InvalidInput, match=r"cpu 32 is outside hardware profile 'nvidia-l4-1gpu''s bounds: min 1, max 16"
    ):
        env.service.plan(env.request(resources={"cpu": "32"}))
    with pytest.raises(InvalidInput, match=r"memory 4Gi is outside .*: min 8Gi, max 64Gi"):
        env.service.plan(env.request(resources={"memory": "4Gi"}))
    with pytest.raises(InvalidInput, match=r"has no resource 'amd.com/gpu' \(it has: cpu, memory, nvidia.com/gpu\)"):
        env.service.plan(env.request(resources={"amd.com/gpu": "1"}))
    with pytest.raises(InvalidInput, match="invalid cpu count"):
        env.service.plan(env.request(resources={"cpu": "four"}))


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"hardware_profile": "nope"}, NotFound, "nope"),
        ({"connection": "nope"}, NotFound, "nope"),
        ({"runtime": "nope"}, NotFound, "nope"),
        ({"model_version_id": "999999"}, NotFound, "999999"),
        ({"replicas": 100}, InvalidInput, "1 to 99"),
        ({"name": "Bad_Name"}, InvalidInput, "deployment name 'Bad_Name' is not valid"),
        ({"namespace": "Team A"}, InvalidInput, "namespace 'Team A' is not valid"),
        ({"env": (("1BAD", "x"),)}, InvalidInput, "environment variable name"),
        ({"model_version_id": None}, InvalidInput, "modelVersionId"),
    ],
)
def test_bad_requests_are_clear_errors(
    env: DeployEnv, overrides: dict[str, object], status: type, message: str
) -> None:
    with pytest.raises(status, match=message):
        env.service.preview(env.request(**overrides))


def test_an_archived_version_is_not_deployed(env: DeployEnv) -> None:
    env.registry.update(e.MODEL_VERSION, env.version_id, {"state": "ARCHIVED"}, None)
    with pytest.raises(Conflict, match="is archived: restore it before deploying"):
        env.service.preview(env.request())


def test_a_catalog_model_deploys_through_the_lookup(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path, None)
    ref = CatalogModelRef("redhat", "granite-3.1-8b", "Granite 3.1", "s3://models/granite-3.1/8b/", "vLLM", None)
    service = DeployService(
        env.db,
        env.registry,
        env.targets,
        None,
        env.service.validator,
        env.service.settings,
        catalog_lookup=lambda source, name: ref if (source, name) == ("redhat", "granite-3.1-8b") else None,
    )
    request = env.request(model_version_id=None, catalog_source="redhat", catalog_model="granite-3.1-8b")
    result = service.preview(request)
    isvc = result.objects[2]
    assert isvc["metadata"]["name"] == "granite-31-8b"
    assert not any(k.startswith("modelregistry.") for k in isvc["metadata"]["labels"])
    assert isvc["metadata"]["annotations"]["opendatahub.io/connection-path"] == "granite-3.1/8b/"
    with pytest.raises(NotFound, match="no catalog model 'other' in source 'redhat'"):
        service.preview(env.request(model_version_id=None, catalog_source="redhat", catalog_model="other"))


# --- permissions and policy ----------------------------------------------------------------------------------------


def test_viewers_cannot_deploy_developers_can(env: DeployEnv) -> None:
    with as_user("ai-viewer", Role.VIEWER), pytest.raises(Forbidden, match="lacks the 'deploy' permission"):
        env.service.preview(env.request())
    with as_user("ai-viewer", Role.VIEWER), pytest.raises(Forbidden):
        env.service.deploy(env.request(), "gitops")
    with as_user("ai-developer", Role.DEVELOPER):
        assert env.service.deploy(env.request(), "gitops").deployment is not None
        assert env.service.list()[0][0].created_by == "ai-developer"


def test_the_policy_refuses_with_its_reason_and_writes_nothing(database: Database, tmp_path: Path) -> None:
    policy = DeployPolicy.parse({"rules": [{"namespaces": {"names": ["prod-*"]}, "requireStage": "production"}]})
    env = make_env(database, tmp_path, None, policy=policy)
    before = counts(env.db)
    with pytest.raises(Forbidden) as caught:
        env.service.deploy(env.request("prod-a"), "gitops")
    assert caught.value.message == (
        "deploy policy rule 1 (names prod-*): namespace prod-a requires stage 'production'; version '1.0.0' of "
        "'Granite-7b-Inference' is in 'development'"
    )
    assert counts(env.db) == before
    env.service.preview(env.request("team-a"))  # another namespace: the rule does not apply
    lifecycle = LifecycleService(env.registry)
    lifecycle.promote(env.version_id, "staging")
    lifecycle.promote(env.version_id, "production")
    env.service.preview(env.request("prod-a"))


def test_verified_digests_need_an_uploaded_manifest(database: Database, tmp_path: Path) -> None:
    policy = DeployPolicy.parse({"rules": [{"namespaces": {"names": ["*"]}, "requireVerifiedDigests": True}]})
    env = make_env(database, tmp_path, None, policy=policy)
    with pytest.raises(Forbidden, match=r"requires verified digests; .*registered by URI alone"):
        env.service.preview(env.request())


# --- GitOps, and the life of a deployment ---------------------------------------------------------------------------


def test_gitops_writes_a_folder_and_a_pending_deployment(env: DeployEnv, tmp_path: Path) -> None:
    result = env.service.deploy(env.request(token_auth=True), "gitops")
    deployment = result.deployment
    assert deployment is not None and result.directory == tmp_path / "gitops" / "team-a" / deployment.name
    assert (deployment.mode, deployment.desired_state, deployment.status) == ("gitops", "deployed", "Pending")
    written = files_of(result.directory)
    assert "kustomization.yaml" in written
    assert not any(SECRET_KEY in text or ACCESS_KEY in text for text in written.values())
    events = env.service.history(deployment_id=deployment.id)
    assert [(ev.event, ev.actor) for ev in events] == [("deploy", "system:tests")]
    with pytest.raises(Conflict, match=r"a deployment named granite-7b-inference-100 already exists in namespace "):
        env.service.deploy(env.request(), "gitops")
    with pytest.raises(Conflict, match=r"\(by system:tests at 20"):
        env.service.deploy(env.request(), "gitops")


def test_gitops_needs_a_configured_directory(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path, None, deploy_settings(tmp_path, gitops_dir=None))
    with pytest.raises(Conflict, match=r"deploy\.gitops_dir is not set"):
        env.service.deploy(env.request(), "gitops")
    result = env.service.deploy_to_directory(env.request(), tmp_path / "elsewhere")
    assert result.directory is not None and result.directory.is_dir()


def test_apply_without_a_cluster_says_what_to_do(env: DeployEnv) -> None:
    before = counts(env.db)
    with pytest.raises(Conflict, match="no Kubernetes cluster is configured: deploy with mode dry_run or gitops"):
        env.service.deploy(env.request(), "apply")
    assert counts(env.db) == before


def test_edit_stop_start_and_undeploy_of_a_gitops_deployment(env: DeployEnv) -> None:
    result = env.service.deploy(env.request(), "gitops")
    assert result.deployment is not None and result.directory is not None
    deployment_id, folder = result.deployment.id, result.directory

    edited = env.service.edit(deployment_id, DeployChanges(replicas=3, external_route=True))
    assert edited.to_dict()["replicas"] == 3 and edited.to_dict()["externalRoute"] is True
    isvc_file = next(text for name, text in files_of(folder).items() if "inferenceservice" in name)
    isvc = yaml.safe_load(isvc_file)
    assert isvc["spec"]["predictor"]["minReplicas"] == 3
    assert isvc["metadata"]["labels"]["networking.kserve.io/visibility"] == "exposed"
    assert env.service.edit(deployment_id, DeployChanges(replicas=3)) == edited  # no change: nothing recorded

    stopped = env.service.stop(deployment_id)
    assert (stopped.desired_state, stopped.status) == ("stopped", "Stopped")
    isvc_file = next(text for name, text in files_of(folder).items() if "inferenceservice" in name)
    assert yaml.safe_load(isvc_file)["metadata"]["annotations"]["serving.kserve.io/stop"] == "true"
    assert env.service.start(deployment_id).desired_state == "deployed"

    gone = env.service.undeploy(deployment_id)
    assert (gone.desired_state, gone.status, gone.active) == ("undeployed", "Undeployed", False)
    assert not folder.exists()
    assert env.service.undeploy(deployment_id) == gone  # again: nothing to do
    with pytest.raises(Conflict, match="is undeployed"):
        env.service.stop(deployment_id)

    events = [ev.event for ev in env.service.history(deployment_id=deployment_id)]
    assert events == ["undeploy", "start", "stop", "edit", "deploy"]
    edit_event = env.service.history(deployment_id=deployment_id)[3]
    assert edit_event.message == "externalRoute: false → true; replicas: 1 → 3"
    again = env.service.deploy(env.request(), "gitops")  # the name is free again
    assert again.deployment is not None and again.deployment.id != deployment_id


def test_a_deployments_objects_are_shown_to_readers_without_credentials(env: DeployEnv) -> None:
    result = env.service.deploy(env.request(token_auth=True), "gitops")
    assert result.deployment is not None
    with as_user("ai-viewer", Role.VIEWER):
        shown = env.service.objects_of(result.deployment)
    assert shown.yaml == result.yaml and shown.deployment == result.deployment
    docs = list(yaml.safe_load_all(shown.yaml))
    assert [d["kind"] for d in docs][:3] == ["Secret", "ServingRuntime", "InferenceService"]
    assert docs[0]["stringData"]["AWS_SECRET_ACCESS_KEY"].startswith("<redacted")
    assert SECRET_KEY not in shown.yaml and ACCESS_KEY not in shown.yaml
    with as_user("nobody", None), pytest.raises(Forbidden):
        env.service.objects_of(result.deployment)
    gone = env.service.undeploy(result.deployment.id)
    with pytest.raises(Conflict, match="is undeployed: it has no objects"):
        env.service.objects_of(gone)


def test_only_an_apply_decrypts_the_connections_credentials(env: DeployEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(name: str) -> None:
        raise AssertionError(f"the credentials of {name} were decrypted")

    monkeypatch.setattr(env.targets.connection_service, "resolve", refuse)
    assert env.service.preview(env.request()).objects[0]["kind"] == "Secret"
    deployment = env.service.deploy(env.request(), "gitops").deployment
    assert deployment is not None
    env.service.objects_of(deployment)
    env.service.edit(deployment.id, DeployChanges(replicas=2))
    env.service.stop(deployment.id)
    with pytest.raises(AssertionError, match="were decrypted"):
        env.service.plan(env.request(), credentials=True)


def test_edits_stay_within_the_profile_and_hide_env_values(env: DeployEnv) -> None:
    result = env.service.deploy(env.request(), "gitops")
    assert result.deployment is not None
    with pytest.raises(InvalidInput, match="outside hardware profile"):
        env.service.edit(result.deployment.id, DeployChanges(resources={"cpu": "64"}))
    env.service.edit(result.deployment.id, DeployChanges(env=(("API_KEY", "very-secret-value"),)))
    latest = env.service.history(deployment_id=result.deployment.id)[0]
    assert latest.message == "env changed"
    with env.db.read() as conn:
        trail = " ".join(str(r) for r in conn.execute(select(audit_log.c.changes)).scalars())
    assert "very-secret-value" not in trail and SECRET_KEY not in trail


def test_lists_and_history_filter(env: DeployEnv) -> None:
    first = env.service.deploy(env.request("team-a"), "gitops").deployment
    second = env.service.deploy(env.request("team-b"), "gitops").deployment
    assert first is not None and second is not None
    env.service.undeploy(first.id)
    items, token = env.service.list()
    assert [d.id for d in items] == [second.id] and token == ""
    items, _ = env.service.list(include_undeployed=True)
    assert [d.id for d in items] == [second.id, first.id]
    items, token = env.service.list(include_undeployed=True, page_size=1)
    assert [d.id for d in items] == [second.id] and token
    items, _ = env.service.list(include_undeployed=True, page_size=1, page_token=token)
    assert [d.id for d in items] == [first.id]
    assert [d.id for d in env.service.list(namespace="team-a", include_undeployed=True)[0]] == [first.id]
    assert [d.id for d in env.service.list(state="undeployed")[0]] == [first.id]
    assert [d.id for d in env.service.list(model_version_id=env.version_id)[0]] == [second.id]
    assert env.service.list(registered_model_id=env.model_id + 1)[0] == []
    assert len(env.service.history(model_version_id=env.version_id)) == 3
    with pytest.raises(NotFound):
        env.service.get(999999)
    with pytest.raises(InvalidInput, match="nextPageToken"):
        env.service.list(page_token="x")

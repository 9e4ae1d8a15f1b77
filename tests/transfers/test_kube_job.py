"""The kubernetes runner against the Kubernetes API emulator (tests/kube_emulator): the objects a transfer job
creates (ConfigMap, Secrets, Job; their labels, annotations, security and owner references), the undo of a start
that fails half-way, the state read back from the Job and its pods, cancel, and the executor's token. No cluster
runs here, so no pod runs: the tests set the Job's and pods' status as the Job controller and kubelet would."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import SQLITE_ONLY, empty
from kube_emulator import Emulator
from kube_emulator.fixtures import NAMESPACES, kube_for
from kube_emulator.fixtures import emulator as emulator
from modelreg.auth import context
from modelreg.auth.principal import Role
from modelreg.db.database import Database
from modelreg.errors import Unauthenticated
from modelreg.kube.kinds import CONFIG_MAP, JOB, POD, SECRET
from modelreg.services.access import AccessService
from modelreg.services.connections import ConnectionService
from modelreg.services.secrets import SecretBox
from modelreg.services.transfers import Destination, Metadata, Source, TransferJob, TransferService
from modelreg.settings import Settings
from modelreg.transfers.kube_job import PREFIX, REPORTED_FAILURE, KubeJobError, KubernetesRunner, token_user

pytestmark = [pytest.mark.usefixtures("as_system"), getattr(pytest.mark, SQLITE_ONLY)("the cluster side only")]
S3_SECRET = "s3-secret-never-shown"
OCI_PASSWORD = "oci-password-never-shown"
NAMESPACE = "team-a"
assert NAMESPACE in NAMESPACES


@pytest.fixture
def runner(database: Database, tmp_path: Path, emulator: Emulator) -> Iterator[KubernetesRunner]:
    empty(database)
    settings = Settings(
        database_url=database.url,
        data_dir=tmp_path / "data",
        storage={"transfer_server_url": "http://modelreg.modelreg.svc:8080", "transfer_job_image": "q.io/m/modelreg:1"},
    )
    secrets = SecretBox(settings.storage, settings.data_dir)
    connections = ConnectionService(database, secrets, tmp_path / "artifacts")
    connections.create(
        "lake",
        "s3",
        endpoint="http://minio:9000",
        bucket="raw",
        access_key_id="AKIAX",
        secret_access_key=S3_SECRET,
        check=False,
    )
    connections.create(
        "quay", "oci", registry="quay.example:5000", username="robot", password=OCI_PASSWORD, check=False
    )
    transfers = TransferService(database, connections, secrets, kubernetes=True, default_namespace=NAMESPACE)
    kube = kube_for(emulator)
    yield KubernetesRunner(kube, transfers, connections, AccessService(database), settings)
    kube.close()


def a_job(**overrides: object) -> TransferJob:
    values: dict[str, object] = {
        "id": "0123456789abcdef0123456789abcdef",
        "name": "granite-copy",
        "intent": "create_model",
        "state": "RUNNING",
        "runner": "kubernetes",
        "source": Source("s3", "lake", key="models/granite/"),
        "destination": Destination("oci", "quay", repository="models/granite", tag="1.0"),
        "metadata": Metadata(
            model_name="granite", version_name="1.0", version_author="ann", model_custom_properties={"team": "a"}
        ),
        "created_by": "ann",
        "create_time": 1,
        "last_update_time": 1,
        "namespace": NAMESPACE,
        "display_name": "Granite copy",
    }
    values.update(overrides)
    return TransferJob(**values)  # type: ignore[arg-type]


def decoded(secret: dict[str, object]) -> dict[str, str]:
    data = secret.get("data") or {}
    assert isinstance(data, dict)
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def owned(emulator: Emulator, kind: object) -> list[dict[str, object]]:
    return [o for o in emulator.objects(kind, NAMESPACE) if o["metadata"]["name"].startswith("granite-copy-")]


def test_submit_creates_the_objects_with_labels_annotations_and_owners(
    runner: KubernetesRunner, emulator: Emulator
) -> None:
    runner.submit(a_job())
    job = emulator.get(JOB, NAMESPACE, "granite-copy")
    assert job is not None
    labels = job["metadata"]["labels"]
    assert labels == {
        f"{PREFIX}job-type": "async-upload",
        f"{PREFIX}job-id": "0123456789abcdef0123456789abcdef",
        f"{PREFIX}model-registry-name": "modelreg",
    }
    notes = job["metadata"]["annotations"]
    assert notes[f"{PREFIX}display-name"] == "Granite copy"
    assert notes[f"{PREFIX}upload-intent"] == "create_model"
    assert notes[f"{PREFIX}source-type"] == "s3"
    assert notes[f"{PREFIX}dest-type"] == "oci"
    assert notes[f"{PREFIX}dest-uri"] == "quay.example:5000/models/granite:1.0"
    assert notes[f"{PREFIX}model-name"] == "granite"
    assert notes[f"{PREFIX}version-name"] == "1.0"
    spec = job["spec"]
    assert spec["backoffLimit"] == 3
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"] == "q.io/m/modelreg:1"
    assert container["command"] == ["modelreg", "transfer", "execute", "--job", "0123456789abcdef0123456789abcdef"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    env = {e["name"]: e for e in container["env"]}
    assert env["MODELREG_URL"]["value"] == "http://modelreg.modelreg.svc:8080"
    token_ref = env["MODELREG_TOKEN"]["valueFrom"]["secretKeyRef"]
    # a failure the executor reported ends the Job at once; a crash is retried
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailJob" and rules[0]["onExitCodes"]["values"] == [REPORTED_FAILURE]

    (configmap,) = owned(emulator, CONFIG_MAP)
    assert configmap["metadata"]["name"].startswith("granite-copy-metadata-")
    metadata = json.loads(configmap["data"]["metadata.json"])
    assert metadata["model_name"] == "granite" and metadata["model_custom_properties"] == {"team": "a"}
    assert json.loads(configmap["data"]["destination.json"])["store"]["registry"] == "quay.example:5000"
    secrets = {s["metadata"]["name"].rsplit("-", 1)[0]: s for s in owned(emulator, SECRET)}
    assert set(secrets) == {"granite-copy-source-creds", "granite-copy-dest-creds", "granite-copy-token"}
    source = secrets["granite-copy-source-creds"]
    assert source["type"] == "Opaque"
    assert decoded(source) == {"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    dest = secrets["granite-copy-dest-creds"]
    assert dest["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(decoded(dest)[".dockerconfigjson"])["auths"]
    assert base64.b64decode(auths["quay.example:5000"]["auth"]).decode() == f"robot:{OCI_PASSWORD}"
    assert token_ref["name"] == secrets["granite-copy-token"]["metadata"]["name"]
    mounted = {v["name"]: v for v in pod["volumes"]}
    assert mounted["metadata"]["configMap"]["name"] == configmap["metadata"]["name"]
    assert mounted["source-creds"]["secret"]["secretName"] == source["metadata"]["name"]
    assert mounted["dest-creds"]["secret"]["secretName"] == dest["metadata"]["name"]
    for obj in [configmap, *secrets.values()]:
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", "granite-copy", job["metadata"]["uid"])
        assert obj["metadata"]["labels"][f"{PREFIX}job-id"] == "0123456789abcdef0123456789abcdef"
    # no secret outside the Secrets
    for obj in [job, configmap]:
        text = json.dumps(obj)
        assert S3_SECRET not in text and OCI_PASSWORD not in text and "AKIAX" not in text


def test_the_token_acts_as_the_job_with_the_developer_role_until_the_job_ends(
    runner: KubernetesRunner, emulator: Emulator
) -> None:
    job = a_job()
    runner.submit(job)
    (secret,) = [s for s in owned(emulator, SECRET) if "-token-" in s["metadata"]["name"]]
    token = decoded(secret)["token"]
    identity, expires = runner.access.identity_for_token(token)
    assert identity.user == token_user(job) == "system:transfer-granite-copy"
    assert expires is not None
    roles = runner.access.binding_table().get(("user", identity.user))
    assert roles == frozenset({Role.DEVELOPER})
    runner.cleanup(job)
    with pytest.raises(Unauthenticated):
        runner.access.identity_for_token(token)
    assert ("user", identity.user) not in runner.access.binding_table()


@pytest.mark.parametrize("failing", ["jobs", "secrets"])
def test_a_failed_create_leaves_nothing_and_revokes_the_token(
    runner: KubernetesRunner, emulator: Emulator, failing: str
) -> None:
    emulator.fail_next("POST", failing, 403, message="jobs.batch is forbidden: User cannot create")
    with pytest.raises(KubeJobError, match="service account may not create"):
        runner.submit(a_job())
    assert owned(emulator, CONFIG_MAP) == []
    assert owned(emulator, SECRET) == []
    assert emulator.get(JOB, NAMESPACE, "granite-copy") is None
    assert runner.access.list_tokens(user="system:transfer-granite-copy") == []


def test_a_job_without_the_server_url_setting_is_refused_before_anything_is_created(
    runner: KubernetesRunner, emulator: Emulator
) -> None:
    runner.settings = runner.settings.model_copy(
        update={"storage": runner.settings.storage.model_copy(update={"transfer_server_url": None})}
    )
    with pytest.raises(KubeJobError, match="transfer_server_url"):
        runner.submit(a_job())
    assert owned(emulator, CONFIG_MAP) == [] and owned(emulator, SECRET) == []


def a_pod(container_state: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "granite-copy-abcde",
            "namespace": NAMESPACE,
            "labels": {f"{PREFIX}job-id": "0123456789abcdef0123456789abcdef"},
        },
        "spec": {"containers": [{"name": "transfer", "image": "q.io/m/modelreg:1"}]},
        "status": {"containerStatuses": [{"name": "transfer", "state": container_state}]},
    }


def test_poll_follows_the_job_and_its_pods(runner: KubernetesRunner, emulator: Emulator) -> None:
    job = a_job()
    runner.submit(job)
    assert runner.poll(job).state == "PENDING"
    emulator.patch_status(JOB, NAMESPACE, "granite-copy", {"active": 1})
    emulator.put_object(a_pod({"running": {"startedAt": "2026-01-01T00:00:00Z"}}))
    assert runner.poll(job).state == "RUNNING"

    emulator.put_object(a_pod({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image q.io/m"}}))
    polled = runner.poll(job)
    assert polled.state == "FAILED"
    assert polled.cause == "ImagePullBackOff: Back-off pulling image q.io/m"

    done = {"RegisteredModel": {"id": "4"}, "ModelVersion": {"id": "5"}, "ModelArtifact": {"id": "6"}}
    emulator.put_object(
        a_pod({"terminated": {"exitCode": 0, "message": json.dumps({"intent": "create_model", **done})}})
    )
    emulator.patch_status(
        JOB, NAMESPACE, "granite-copy", {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    )
    polled = runner.poll(job)
    assert polled.state == "COMPLETED"
    assert polled.ids == {"RegisteredModel": "4", "ModelVersion": "5", "ModelArtifact": "6"}


def test_poll_names_why_a_job_failed(runner: KubernetesRunner, emulator: Emulator) -> None:
    job = a_job()
    runner.submit(job)
    emulator.put_object(a_pod({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}))
    emulator.patch_status(
        JOB,
        NAMESPACE,
        "granite-copy",
        {
            "failed": 4,
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ],
        },
    )
    polled = runner.poll(job)
    assert (polled.state, polled.error) == ("FAILED", "the Kubernetes Job failed")
    assert polled.cause == "Job has reached the specified backoff limit"

    emulator.put_object(
        a_pod(
            {
                "terminated": {
                    "exitCode": REPORTED_FAILURE,
                    "message": json.dumps(
                        {"error": "copying s3://raw/models/granite/ failed", "cause": "AccessDenied"}
                    ),
                }
            }
        )
    )
    assert runner.poll(job).cause == "AccessDenied"


def test_poll_of_a_vanished_job_and_an_unreachable_cluster(runner: KubernetesRunner, emulator: Emulator) -> None:
    job = a_job()
    assert runner.poll(job).state == "GONE"
    emulator.unreachable()
    with pytest.raises(KubeJobError, match="unreachable"):
        runner.poll(job)
    emulator.reachable()


def test_delete_takes_the_owned_objects_and_the_token(runner: KubernetesRunner, emulator: Emulator) -> None:
    job = a_job()
    runner.submit(job)
    assert runner.delete(job) is True
    assert emulator.get(JOB, NAMESPACE, "granite-copy") is None
    assert owned(emulator, CONFIG_MAP) == [] and owned(emulator, SECRET) == []
    assert runner.access.list_tokens(user=token_user(job)) == []
    assert emulator.objects(POD, NAMESPACE) == []
    assert runner.delete(job) is False


def test_an_s3_destination_gets_an_opaque_secret_and_a_job_without_source_credentials(
    runner: KubernetesRunner, emulator: Emulator
) -> None:
    with context.acting_as(context.system("tests")):
        runner.connections.create("site", "uri", base_url="https://models.example/", check=False)
    job = a_job(
        source=Source("uri", "site", url="https://models.example/granite.tar"),
        destination=Destination("s3", "lake", key="copies/granite"),
    )
    runner.submit(replace(job))
    secrets = {s["metadata"]["name"].rsplit("-", 1)[0]: s for s in owned(emulator, SECRET)}
    assert set(secrets) == {"granite-copy-dest-creds", "granite-copy-token"}
    assert secrets["granite-copy-dest-creds"]["type"] == "Opaque"
    assert decoded(secrets["granite-copy-dest-creds"])["AWS_SECRET_ACCESS_KEY"] == S3_SECRET
    stored = emulator.get(JOB, NAMESPACE, "granite-copy")
    assert stored is not None
    volumes = {v["name"] for v in stored["spec"]["template"]["spec"]["volumes"]}
    assert "source-creds" not in volumes

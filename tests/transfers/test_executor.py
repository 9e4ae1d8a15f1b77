"""``modelreg transfer execute`` as a real subprocess, as a transfer Job's pod runs it: against a live modelreg server
(uvicorn on 127.0.0.1), the real database and moto's S3 server. The Kubernetes side is the API emulator, and the
pod's mounts are made by hand from the ConfigMap and Secrets the runner created (what the kubelet would do): no
cluster runs here, so no pod can. Everything else is real: the Job's command, its environment (MODELREG_URL, the
token from its Secret), the REST reports, the registration by the server, the termination message."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blobs.conftest import S3Server
from blobs.conftest import s3_server as s3_server
from conftest import SQLITE_ONLY, ServerThread, empty
from kube_emulator import Emulator
from kube_emulator.fixtures import emulator as emulator
from kube_emulator.fixtures import kube_for
from modelreg import wire
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.blobs.s3 import S3Store
from modelreg.db.database import Database
from modelreg.kube.kinds import JOB
from modelreg.services import entities as e
from modelreg.services.access import AccessService
from modelreg.services.connections import ConnectionService
from modelreg.services.registry import RegistryService
from modelreg.services.transfers import Destination, Metadata, Source, TransferJob, TransferService
from modelreg.settings import Settings
from modelreg.transfers.kube_job import REPORTED_FAILURE, KubernetesRunner, token_user
from transfers.helpers import make_env, sha

pytestmark = [pytest.mark.usefixtures("as_system"), getattr(pytest.mark, SQLITE_ONLY)("one server process")]
FILES = {"granite/config.json": b'{"layers": 2}', "granite/weights/model.safetensors": os.urandom(300_000)}


@dataclass
class Env:
    server: ServerThread
    s3: S3Server
    buckets: tuple[str, str]
    transfers: TransferService
    runner: KubernetesRunner
    registry: RegistryService
    emulator: Emulator
    tmp: Path

    def start(self, **metadata: Any) -> TransferJob:
        values: dict[str, Any] = {
            "model_name": "granite",
            "version_name": "1.0",
            "version_author": "ann",
            "model_custom_properties": {"team": "a"},
            "artifact_description": "weights",
            "model_format_name": "safetensors",
        }
        values.update(metadata)
        job = self.transfers.create(
            "create_model",
            Source("s3", "lake", key="granite/"),
            Destination("s3", "vault", key="copies/granite"),
            Metadata(**values),
            runner="kubernetes",
        )
        self.runner.tick()  # the server's worker: starts the Job
        return job

    def run_pod(self, job: TransferJob, token: str | None = None) -> subprocess.CompletedProcess[str]:
        """The Job's container: its command and environment, its volumes mounted as files."""
        stored = self.emulator.get(JOB, "team-a", job.name)
        assert stored is not None
        pod = stored["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        mounts = {m["name"]: self.tmp / job.name / m["name"] for m in container["volumeMounts"]}
        secrets: dict[str, dict[str, str]] = {}
        for volume in pod["volumes"]:
            if "configMap" in volume:
                found = self.emulator.get("configmaps", "team-a", volume["configMap"]["name"])
                assert found is not None
                files = dict(found["data"])
            elif "secret" in volume:
                files = secrets[volume["secret"]["secretName"]] = self._secret(volume["secret"]["secretName"])
            else:
                continue
            mounts[volume["name"]].mkdir(parents=True)
            for name, text in files.items():
                (mounts[volume["name"]] / name).write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
        for item in container["env"]:
            if "value" in item:
                env[item["name"]] = item["value"]
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = self._secret(ref["name"])[ref["key"]]
        if token is not None:
            env["MODELREG_TOKEN"] = token
        env["TERMINATION_MESSAGE_PATH"] = str(self.tmp / job.name / "termination-log")
        env["HOME"] = str(self.tmp)
        command = [sys.executable, "-m", "modelreg", *container["command"][1:]]
        command += ["--metadata-dir", str(mounts["metadata"]), "--dest-creds", str(mounts["dest-creds"])]
        if "source-creds" in mounts:
            command += ["--source-creds", str(mounts["source-creds"])]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    def _secret(self, name: str) -> dict[str, str]:
        found = self.emulator.get("secrets", "team-a", name)
        assert found is not None
        return {k: base64.b64decode(v).decode() for k, v in found["data"].items()}

    def termination(self, job: TransferJob) -> dict[str, Any]:
        message: dict[str, Any] = json.loads((self.tmp / job.name / "termination-log").read_text())
        return message

    def dest(self) -> S3Store:
        return S3Store(self.s3.config(self.buckets[1]))


@pytest.fixture
def env(
    database: Database, tmp_path: Path, s3_server: S3Server, emulator: Emulator, as_system: context.CallContext
) -> Iterator[Env]:
    empty(database)
    settings = Settings(
        database_url=database.url,
        data_dir=tmp_path / "data",
        storage={"transfer_workers": 0},
        auth={"methods": ["token"]},
    )
    buckets = (
        f"src-{tmp_path.name[-12:]}".lower().replace("_", "-"),
        f"dst-{tmp_path.name[-12:]}".lower().replace("_", "-"),
    )
    client = s3_server.boto3()
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    for key, data in FILES.items():
        client.put_object(Bucket=buckets[0], Key=key, Body=data)
    app = create_app(settings, database)
    base = make_env(database, settings.data_dir, s3_server, _NoFiles(), buckets)
    connections: ConnectionService = base.connections
    transfers = TransferService(
        database,
        connections,
        connections.secrets,
        kubernetes=True,
        default_namespace="team-a",
        properties=lambda props: wire.properties_to_db(props, settings.limits),
    )
    with ServerThread(app) as server:
        runner_settings = settings.model_copy(
            update={"storage": settings.storage.model_copy(update={"transfer_server_url": server.url})}
        )
        kube = kube_for(emulator)
        runner = KubernetesRunner(kube, transfers, connections, AccessService(database), runner_settings)
        yield Env(server, s3_server, buckets, transfers, runner, RegistryService(database), emulator, tmp_path)
        kube.close()


class _NoFiles:
    url = "http://127.0.0.1:9/"


def test_the_pod_copies_reports_and_the_server_registers(env: Env) -> None:
    job = env.start()
    done = env.run_pod(job)
    ended = env.transfers.get(job.id)
    assert done.returncode == 0, (ended.error, ended.cause, done.stderr[-3000:])
    assert ended.state == "COMPLETED", (ended.error, ended.cause)
    assert ended.bytes_done == sum(len(d) for d in FILES.values())
    message = env.termination(job)
    assert message == {
        "intent": "create_model",
        "RegisteredModel": {"id": str(ended.registered_model_id)},
        "ModelVersion": {"id": str(ended.model_version_id)},
        "ModelArtifact": {"id": str(ended.model_artifact_id)},
    }
    assert ended.model_artifact_id is not None
    artifact = env.registry.get(e.ARTIFACT, ended.model_artifact_id)
    assert artifact.row["state"] == "LIVE"
    assert artifact.row["model_source_kind"] == "transfer_job"
    assert artifact.row["model_source_group"] == "team-a"
    assert artifact.row["model_source_name"] == job.name
    assert artifact.row["uri"] == ended.result_uri
    assert ended.registered_model_id is not None
    model = env.registry.get(e.REGISTERED_MODEL, ended.registered_model_id)
    assert model.row["name"] == "granite"
    assert "team" in model.props
    store = env.dest()
    for key, data in FILES.items():
        with store.open_read(f"copies/granite/{key.removeprefix('granite/')}") as read:
            assert sha(read.read()) == sha(data)

    env.runner.tick()  # the job has ended: its token goes
    assert AccessService(env.transfers.db).list_tokens(user=token_user(job)) == []


def test_a_failed_copy_is_reported_with_its_cause_and_ends_the_job(env: Env) -> None:
    job = env.start()
    env.s3.boto3().delete_bucket(Bucket=env.buckets[1])  # the destination is gone by the time the pod runs
    done = env.run_pod(job)
    assert done.returncode == REPORTED_FAILURE, done.stderr[-3000:]
    ended = env.transfers.get(job.id)
    assert ended.state == "FAILED"
    assert ended.error and "failed" in ended.error
    assert ended.registered_model_id is None
    message = env.termination(job)
    assert message["state"] == "FAILED" and message["error"] == ended.error and message["cause"] == ended.cause
    assert ended.cause and env.buckets[1] in ended.cause


def test_a_job_cancelled_before_its_pod_ran_copies_nothing(env: Env) -> None:
    job = env.start()
    assert env.transfers.cancel(job.id).state == "CANCELLED"
    done = env.run_pod(job)
    assert done.returncode == 0, done.stderr[-3000:]
    assert env.termination(job)["state"] == "CANCELLED"
    assert list(env.dest().iter_keys("")) == []
    env.runner.tick()  # a cancelled job's Job is deleted, its token revoked
    assert env.emulator.get(JOB, "team-a", job.name) is None
    assert AccessService(env.transfers.db).list_tokens(user=token_user(job)) == []


def test_a_pod_that_cannot_reach_the_server_exits_for_a_retry(env: Env) -> None:
    job = env.start()
    done = env.run_pod(job, token="mrt_not-a-token")
    assert done.returncode == 1
    message = env.termination(job)
    assert "401" in message["cause"]
    assert env.transfers.get(job.id).state == "PENDING"  # nothing reported: the Job's next pod tries again

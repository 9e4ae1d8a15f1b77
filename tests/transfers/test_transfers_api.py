"""``/api/storage/v1/transfers`` on the governed server (tokens per role), run by the server's own worker: create
(201 + Location), get, list by state, the strict body, who may cancel and retry, and that the runner's endpoints
take only the job's runner or an admin."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from blobs.conftest import S3Server
from blobs.conftest import s3_server as s3_server
from cli_runner import invoke_cli
from conftest import SQLITE_ONLY
from governance.conftest import Governed
from governance.conftest import auth_server as auth_server
from governance.conftest import gov as gov
from governance.conftest import oidc_keys as oidc_keys
from modelreg.client import Conflict as ClientConflict
from modelreg.client import ModelRegistry
from modelreg.transfers.worker import TransferWorker

pytestmark = getattr(pytest.mark, SQLITE_ONLY)("the REST surface; the service's rules are tested beside it")
STORAGE = "/api/storage/v1"


@pytest.fixture(autouse=True)
def runs_jobs(auth_server: Any) -> Iterator[None]:
    """The governed server runs the jobs (test servers run none by default: tests/conftest.py)."""
    app = auth_server.app
    idle = app.state.transfer_worker
    app.state.transfer_worker = worker = TransferWorker(app.state.transfers, app.state.connections, workers=2)
    worker.start()
    yield
    worker.stop()
    app.state.transfer_worker = idle


def storage(gov: Governed, caller: str) -> httpx.Client:
    return gov.client(caller, prefix=STORAGE)


@pytest.fixture
def buckets(gov: Governed, s3_server: S3Server) -> tuple[str, str]:
    names = (f"src-{uuid.uuid4().hex[:16]}", f"dst-{uuid.uuid4().hex[:16]}")
    admin = storage(gov, "admin")
    for connection, bucket in zip(("lake", "vault"), names, strict=True):
        s3_server.boto3().create_bucket(Bucket=bucket)
        assert admin.post("/connections", json=s3_server.connection_body(connection, bucket)).status_code == 201
    s3_server.boto3().put_object(Bucket=names[0], Key="raw/m/model.bin", Body=b"weights")
    return names


def body(model: str = "rest-model", **extra: Any) -> dict[str, Any]:
    return {
        "intent": "create_model",
        "source": {"type": "s3", "connection": "lake", "key": "raw/m"},
        "destination": {"type": "s3", "connection": "vault"},
        "registeredModel": {"name": model, "customProperties": {"team": "a"}},
        "modelVersion": {"name": "v1", "author": "dev"},
        "modelArtifact": {"modelFormatName": "onnx", "description": "the weights"},
        **extra,
    }


def wait(client: httpx.Client, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job = client.get(location).json()
        if job["state"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_create_runs_in_the_server_and_registers(gov: Governed, buckets: tuple[str, str]) -> None:
    dev = storage(gov, "developer")
    created = dev.post("/transfers", json=body(name="rest-job", displayName="REST job"))
    assert created.status_code == 201, created.text
    job = created.json()
    assert created.headers["location"].endswith(f"/transfers/{job['id']}")
    assert (job["name"], job["displayName"], job["state"]) == ("rest-job", "REST job", "PENDING")
    done = wait(gov.client("developer", prefix=""), created.headers["location"])
    assert done["state"] == "COMPLETED", done
    assert done["progress"] == {"bytesDone": 7, "bytesTotal": 7, "filesDone": 1, "filesTotal": 1}
    assert done["uri"].startswith(f"s3://{buckets[1]}/")
    assert done["modelArtifact"]["id"] and done["registeredModel"]["id"]
    artifact = gov.registry("viewer").get(f"/model_artifacts/{done['modelArtifact']['id']}").json()
    assert artifact["modelSourceKind"] == "transfer_job" and artifact["modelSourceName"] == "rest-job"
    assert artifact["description"] == "the weights" and artifact["state"] == "LIVE"
    viewer = storage(gov, "viewer")
    assert viewer.get("/transfers/rest-job").json()["id"] == job["id"]
    assert [j["name"] for j in viewer.get("/transfers", params={"state": "COMPLETED"}).json()["items"]] == ["rest-job"]
    assert viewer.get("/transfers", params={"state": "PENDING"}).json()["items"] == []


def test_refusals(gov: Governed, buckets: tuple[str, str]) -> None:
    dev = storage(gov, "developer")
    assert storage(gov, "viewer").post("/transfers", json=body()).status_code == 403
    assert dev.post("/transfers", json=body(extra="field")).status_code == 400
    inline = {"type": "s3", "connection": "lake", "key": "k", "endpoint": "http://elsewhere", "accessKeyId": "x"}
    refused = dev.post("/transfers", json=body(source=inline))
    assert refused.status_code == 400, refused.text  # inline endpoints and keys are not taken
    assert dev.post("/transfers", json=body(model="")).status_code == 400
    assert dev.get("/transfers/no-such-job").status_code == 404
    assert (
        dev.post("/transfers", json=body(source={"type": "s3", "connection": "lake", "key": "raw/none"})).status_code
        == 404
    )


def test_cancel_and_retry_belong_to_the_creator_or_an_admin(gov: Governed, buckets: tuple[str, str]) -> None:
    dev, other = storage(gov, "developer"), storage(gov, "group-developer")
    job = dev.post("/transfers", json=body(model="owned")).json()
    assert other.post(f"/transfers/{job['id']}/cancel").status_code == 403
    reports = {
        "progress": {"bytesDone": 1, "filesDone": 0},
        "complete": {
            "uri": "s3://x/y",
            "files": [{"path": "f", "size": 1, "sha256": "0" * 64}],
            "storageKey": "vault",
            "storagePath": "y",
        },
        "fail": {"error": "forged"},
    }
    for report, report_body in reports.items():  # only the job's own runner (or an admin) reports on it
        assert dev.post(f"/transfers/{job['id']}/{report}", json=report_body).status_code == 403, report
    done = wait(gov.client("developer", prefix=""), f"{STORAGE}/transfers/{job['id']}")
    assert done["state"] == "COMPLETED"
    assert dev.post(f"/transfers/{job['id']}/cancel").status_code == 409
    assert dev.post(f"/transfers/{job['id']}/retry").status_code == 409
    second = dev.post("/transfers", json=body(model="owned"))
    assert second.status_code == 409  # the model exists now


def test_sdk_and_cli(gov: Governed, buckets: tuple[str, str]) -> None:
    with ModelRegistry(gov.url, token=gov.tokens["developer"], author="ai-developer") as registry:
        _sdk_and_cli(gov, registry)


def _sdk_and_cli(gov: Governed, registry: ModelRegistry) -> None:
    job = registry.start_transfer(
        {"type": "s3", "connection": "lake", "key": "raw/m"},
        {"type": "s3", "connection": "vault"},
        model="sdk-model",
        version="v2",
        model_format_name="onnx",
        artifact_properties={"origin": "sdk"},
        name="sdk-job",
    )
    assert (job.name, job.intent) == ("sdk-job", "create_model")
    env = {"MODELREG_URL": gov.url, "MODELREG_TOKEN": gov.tokens["developer"]}
    waited = invoke_cli("transfer", "wait", "sdk-job", "--timeout", "60", "--json", env=env)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["state"] == "COMPLETED"
    done = registry.get_transfer(job.id)
    assert done.done and done.uri and done.model_artifact_id
    artifact = registry.get_model_artifact("sdk-model", "v2")
    assert artifact.id == done.model_artifact_id and artifact.custom_properties["origin"] == "sdk"
    assert [t.name for t in registry.list_transfers(state="COMPLETED")] == ["sdk-job"]
    with pytest.raises(ClientConflict):
        registry.cancel_transfer("sdk-job")
    listed = invoke_cli("transfer", "list", env=env)
    assert listed.returncode == 0 and "sdk-job" in listed.stdout and "COMPLETED" in listed.stdout
    command = ("transfer", "create", "--source", "s3:raw/m", "--from", "lake", "--to", "vault", "--s3")
    created = invoke_cli(*command, "--model", "cli-model", "--wait", env=env)
    assert created.returncode == 0, created.stderr
    assert "COMPLETED" in created.stdout
    refused = invoke_cli(*command, "--model", "cli-model", env=env)
    assert refused.returncode == 1 and "already exists" in refused.stderr

"""The registry the backup tests export: a SQLite database with rows in every table, made as a server makes them
(REST API with an admin's token, and the services where there is no endpoint), and the JSON of every list and get
endpoint, which the imported copies must answer identically."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.testclient import TestClient

from deploy.service_env import SECRET_KEY, create_minio
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db import migrations
from modelreg.db.backup import backup_tables
from modelreg.db.database import Database
from modelreg.db.leases import Lease
from modelreg.db.tables import import_records, transfer_jobs
from modelreg.deploy.targets import TargetService
from modelreg.events import relay
from modelreg.services.seed import seed
from modelreg.services.users import UserService
from modelreg.settings import AuthSettings, ClusterSettings, DeploySettings, Settings
from modelreg.ui.sessions import SessionStore

ADMIN = "ops-admin"
S3_SECRET = SECRET_KEY  # the S3 secret key of the connection "minio-storage"
PASSWORD = "correct horse battery staple"
REGISTRY = "/api/model_registry/v1alpha3"
# Doubles whose shortest text is long, or that are not exactly representable in decimal: a lossy float encoding
# changes them.
DOUBLES = (0.1 + 0.2, 1e-300, -2.5e300, 1 / 3)


@dataclass
class Source:
    url: str
    data_dir: Path
    token: str  # the admin's, valid on every copy (only its hash is stored, and moves)

    def settings(self, url: str) -> Settings:
        """The server settings of a registry at ``url``: the source's data directory, so the same secret key."""
        return Settings(
            database_url=url,
            data_dir=self.data_dir,
            auth=AuthSettings(methods=["token"], cache_seconds=0),
            kubernetes=ClusterSettings(mode="none"),
            deploy=DeploySettings(gitops_dir=self.data_dir / "gitops", crd_dir=None),
        )

    @contextmanager
    def app(self, url: str) -> Iterator[tuple[FastAPI, TestClient]]:
        """The app on the database at ``url`` (no lifespan: nothing runs in the background) and an admin client."""
        db = Database(url)
        try:
            app = create_app(self.settings(url), db)
            headers = {"Authorization": f"Bearer {self.token}"}
            client = TestClient(app, headers=headers, client=("127.0.0.1", 50000))  # not entered: no lifespan
            try:
                yield app, client
            finally:
                client.close()
        finally:
            db.dispose()


def build(tmp: Path) -> Source:
    """Fill a new SQLite registry under ``tmp``."""
    url = f"sqlite:///{tmp / 'source.db'}"
    db = Database(url)
    migrations.upgrade(db.engine)
    with context.acting_as(context.system("tests")):
        access = create_app(Source(url, tmp, "").settings(url), db).state.access
        access.create_binding("user", ADMIN, "admin")
        token, _ = access.create_token(ADMIN, description="backup tests")
    source = Source(url, tmp, token)
    try:
        with source.app(url) as (app, client), context.acting_as(context.system("tests")):
            _services(app, source)
            _webhook(app)
            _rest(client)
            app.state.bridge_sync.full_sync()
            _relayed_and_imported(app.state.db)
    finally:
        db.dispose()
    return source


def _services(app: FastAPI, source: Source) -> None:
    """What has no REST endpoint here, or is simpler through its service: accounts, sessions, leases, tokens,
    connections (one with an encrypted secret), the deploy targets, the demo model and an upload."""
    state = app.state
    db = state.db
    state.access.create_binding("group", "ml-team", "developer")
    _, revoked = state.access.create_token("someone", groups=["ml-team"], expires_in=timedelta(days=1))
    state.access.revoke_token(revoked.id)
    UserService(db).create("alice", PASSWORD, ["ml-team"])
    SessionStore(db, state.settings.ui).create("password", "alice", ("ml-team",))
    Lease(db, "deploy-status", owner="old-process", seconds=30).acquire_or_renew()
    create_minio(state.connections)  # "minio-storage", with an access key and a secret key
    state.connections.create("files", "local", directory=str(source.data_dir / "files"), check=False)
    TargetService(db, state.connections, None, state.settings.deploy).seed_defaults()
    seed(state.registry)
    upload = state.uploads.begin("uploaded", "v1", connection="files", model_format_name="onnx")
    for path, data in (("model.onnx", b"\x00\x01weights" * 100), ("config.json", b'{"layers": 3}')):
        state.uploads.put(upload.id, path, io.BytesIO(data), len(data))
    state.uploads.commit(upload.id)
    state.uploads.begin("uploaded", "v2", connection="files")  # left open
    _transfer_job(db)


def _transfer_job(db: Database) -> None:
    """A failed transfer job, as the worker leaves one (creating one needs its source and destination to answer)."""
    source = {"type": "s3", "connection": "minio-storage", "key": "raw/model"}
    row = {
        "id": "0" * 31 + "1",
        "name": "copy-granite",
        "intent": "create_model",
        "state": "FAILED",
        "runner": "server",
        "source": json.dumps(source),
        "destination": json.dumps({"type": "s3", "connection": "minio-storage", "key": "copies/granite"}),
        "metadata": json.dumps({"model_name": "granite", "version_name": "1.0.0"}),
        "bytes_total": 2048,
        "bytes_done": 1024,
        "error": "copying s3://models/raw/model failed",
        "cause": "the bucket 'models' does not exist",
        "created_by": "ai-developer",
        "create_time": 1_700_000_000_000,
        "last_update_time": 1_700_000_001_000,
    }
    with db.write() as conn:
        conn.execute(transfer_jobs.insert().values(**row))


def _webhook(app: FastAPI) -> None:
    """A webhook, and the relay's cursor at the audit head (the relay runs by hand here: no lifespan)."""
    app.state.webhooks.create("ci", "https://ci.example.com/hooks/modelreg", ["io.modelreg.model_version.*"])
    relay.relay_once(app.state.db, "/modelreg")


def _relayed_and_imported(db: Database) -> None:
    """The events of everything since the webhook, its queued deliveries, and what an import brought in."""
    while relay.relay_once(db, "/modelreg"):
        pass
    row = {
        "source": "mlflow:http://mlflow:5000",
        "source_kind": "registered_model",
        "source_id": "fraud",
        "entity_kind": "registered_model",
        "entity_id": 1,
        "fingerprint": "0" * 64,
        "import_time": 1_700_000_002_000,
    }
    with db.write() as conn:
        conn.execute(import_records.insert().values(**row))


def _rest(client: TestClient) -> None:
    """Models, versions and artifacts of every type with custom properties of every type, a promotion, an
    archived model, experiments with metric history, serving records and a GitOps deployment."""
    props = {
        "team": {"metadataType": "MetadataStringValue", "string_value": "fraud ✓"},
        "epochs": {"metadataType": "MetadataIntValue", "int_value": "9007199254740993"},
        "ratio": {"metadataType": "MetadataDoubleValue", "double_value": DOUBLES[0]},
        "tiny": {"metadataType": "MetadataDoubleValue", "double_value": DOUBLES[1]},
        "gpu": {"metadataType": "MetadataBoolValue", "bool_value": True},
        "cfg": {"metadataType": "MetadataStructValue", "struct_value": "eyJhIjogMX0="},
    }
    model = _post(client, "/registered_models", name="fraud", owner="ops", customProperties=props)
    v1 = _post(client, "/model_versions", name="v1", registeredModelId=model["id"], customProperties=props)
    v2 = _post(client, "/model_versions", name="v2", registeredModelId=model["id"], author="bob")
    uri = "s3://models/fraud/v1/?endpoint=http://minio.minio.svc:9000&defaultRegion=us-east-1"
    _post(client, f"/model_versions/{v1['id']}/artifacts", artifactType="model-artifact", name="weights", uri=uri,
          modelFormatName="vLLM", customProperties=props)  # fmt: skip
    _post(client, f"/model_versions/{v2['id']}/artifacts", artifactType="doc-artifact", name="card", uri="s3://d")
    _post(client, f"/model_versions/{v2['id']}/artifacts", artifactType="dataset-artifact", name="train",
          uri="s3://data/train", digest="sha256:ab", sourceType="s3", schema='{"x": "int"}')  # fmt: skip
    promoted = client.post(f"/api/governance/v1/model_versions/{v1['id']}/promote", json={"stage": "staging"})
    assert promoted.status_code == 200, promoted.text
    old = _post(client, "/registered_models", name="old")
    _post(client, "/model_versions", name="v1", registeredModelId=old["id"])
    archived = client.patch(f"{REGISTRY}/registered_models/{old['id']}", json={"state": "ARCHIVED"})
    assert archived.status_code == 200, archived.text

    experiment = _post(client, "/experiments", name="tuning")
    run = _post(client, "/experiment_runs", experimentId=experiment["id"], name="run-1")
    for step, value in enumerate(DOUBLES):
        _post(client, f"/experiment_runs/{run['id']}/artifacts", artifactType="metric", name="loss", value=value,
              step=step)  # fmt: skip
    _post(client, f"/experiment_runs/{run['id']}/artifacts", artifactType="parameter", name="lr", value="0.01",
          parameterType="number")  # fmt: skip

    environment = _post(client, "/serving_environments", name="team-a")
    service = _post(client, "/inference_services", name="fraud-svc", servingEnvironmentId=environment["id"],
                    registeredModelId=model["id"], modelVersionId=v1["id"], runtime="vllm")  # fmt: skip
    _post(client, f"/inference_services/{service['id']}/serves", modelVersionId=v1["id"])

    body = {"mode": "gitops", "modelVersionId": v1["id"], "namespace": "team-a", "hardwareProfile": "nvidia-l4-1gpu",
            "connection": "minio-storage", "runtime": "vllm-cuda-runtime"}  # fmt: skip
    deployed = client.post("/api/deploy/v1/deployments", json=body)
    assert deployed.status_code in (200, 201), deployed.text


def _post(client: TestClient, path: str, **body: Any) -> dict[str, Any]:
    answer = client.post(REGISTRY + path, json=body)
    assert answer.status_code in (200, 201), answer.text
    result: dict[str, Any] = answer.json()
    return result


def row_counts(db: Database) -> dict[str, int]:
    with db.read() as conn:
        return {str(t.name): conn.execute(select(func.count()).select_from(t)).scalar_one() for t in backup_tables()}


# --- what the API answers -------------------------------------------------------------------------------------------

# every list endpoint of the registry API → the lists under each of its entities
_KINDS = {
    "registered_models": ("versions",),
    "model_versions": ("artifacts",),
    "artifacts": (),
    "model_artifacts": (),
    "serving_environments": ("inference_services",),
    "inference_services": ("serves", "model", "version"),
    "experiments": ("experiment_runs",),
    "experiment_runs": ("artifacts", "metric_history"),
}
_GLOBAL = (
    "/api/governance/v1/rolebindings",
    "/api/governance/v1/tokens?includeInactive=true",
    "/api/governance/v1/audit/records?pageSize=1000",
    "/api/governance/v1/audit/verify",
    "/api/storage/v1/connections",
    "/api/deploy/v1/deployments?includeUndeployed=true",
    "/api/deploy/v1/hardware-profiles",
    "/api/deploy/v1/runtimes",
    "/api/deploy/v1/connections",
    "/bridge/list",
)


def answers(client: TestClient) -> dict[str, Any]:
    """Path → JSON of every list endpoint, every entity's get, and the lists under each entity."""
    seen: dict[str, Any] = {}

    def get(path: str) -> Any:
        answer = client.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
        seen[path] = answer.json()
        return seen[path]

    for kind, children in _KINDS.items():
        for item in get(f"{REGISTRY}/{kind}?pageSize=1000")["items"]:
            get(f"{REGISTRY}/{kind}/{item['id']}")
            for child in children:
                get(f"{REGISTRY}/{kind}/{item['id']}/{child}")
    for path in _GLOBAL:
        get(path)
    for deployment in seen["/api/deploy/v1/deployments?includeUndeployed=true"]["items"]:
        get(f"/api/deploy/v1/deployments/{deployment['id']}/history")
    uploaded = [
        m["id"] for m in seen[f"{REGISTRY}/registered_models?pageSize=1000"]["items"] if m["name"] == "uploaded"
    ]
    for version in seen[f"{REGISTRY}/model_versions?pageSize=1000"]["items"]:
        if version["registeredModelId"] in uploaded:  # files in a local directory (the others are in an S3 nowhere)
            get(f"/api/storage/v1/model_versions/{version['id']}/files")
    return seen

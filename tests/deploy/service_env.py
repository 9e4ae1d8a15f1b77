"""What the deploy service tests share: a `DeployService` on a test database (the seed's profiles and runtimes,
the "MinIO Storage" connection and the Granite demo version), with or without a cluster (the emulator's `Kube`).
Tests act as ``system:tests`` unless they say otherwise (``as_user``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import FastAPI
from starlette.testclient import TestClient

from conftest import empty
from kube_emulator import CRD_DIR, Emulator
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.auth.principal import Identity, Principal, Role
from modelreg.db.database import Database
from modelreg.deploy import defaults
from modelreg.deploy.policy import DeployPolicy
from modelreg.deploy.service import DeployRequest, DeployService, make_validator
from modelreg.deploy.targets import TargetService
from modelreg.kube.client import Kube
from modelreg.kube.schemas import Validator
from modelreg.services.connections import ConnectionService
from modelreg.services.registry import RegistryService
from modelreg.services.secrets import SecretBox
from modelreg.services.seed import seed
from modelreg.settings import AuthSettings, ClusterSettings, DeploySettings, Settings

CRDS = CRD_DIR
SECRET_KEY = "minio-secret-key-do-not-show"
ACCESS_KEY = "minio-access-key"


@dataclass
class DeployEnv:
    service: DeployService
    db: Database
    registry: RegistryService
    targets: TargetService
    version_id: int
    model_id: int

    def request(self, namespace: str = "team-a", **overrides: object) -> DeployRequest:
        values: dict[str, object] = {
            "namespace": namespace,
            "hardware_profile": "nvidia-l4-1gpu",
            "model_version_id": str(self.version_id),
            "connection": "minio-storage",
            "runtime": "vllm-cuda-runtime",
        }
        values.update(overrides)
        return DeployRequest(**values)  # type: ignore[arg-type]


def deploy_settings(tmp: Path, **overrides: object) -> DeploySettings:
    values: dict[str, object] = {"crd_dir": CRDS if CRDS.is_dir() else None, "gitops_dir": tmp / "gitops"}
    values.update(overrides)
    return DeploySettings(**values)  # type: ignore[arg-type]


def create_minio(connections: ConnectionService) -> None:
    """The seed values' example connection (with credentials, which no output may show)."""
    connections.create(
        "minio-storage",
        "s3",
        display_name="MinIO Storage",
        endpoint="http://minio.minio.svc:9000",
        region="us-east-1",
        bucket="models",
        path_style=True,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        check=False,
    )


def seed_cluster(emulator: Emulator, local: TargetService) -> None:
    """The seed set's profiles and runtime templates into the cluster's platform namespace, where the targets of a
    connected modelreg read them."""
    namespace = local.settings.platform_namespace
    for obj in [p.body for p in local.profiles()] + defaults.RUNTIMES:
        placed = copy.deepcopy(obj)
        placed["metadata"]["namespace"] = namespace
        emulator.put_object(placed)


def make_env(
    db: Database,
    tmp: Path,
    kube: Kube | None,
    settings: DeploySettings | None = None,
    policy: DeployPolicy | None = None,
    emulator: Emulator | None = None,
) -> DeployEnv:
    """An emptied registry with the seed set (also put into ``emulator``), then the service. Call it as
    ``system:tests``."""
    empty(db)
    settings = settings or deploy_settings(tmp)
    app_settings = Settings(database_url=db.url, data_dir=tmp / "data")
    connections = ConnectionService(db, SecretBox(app_settings.storage, app_settings.data_dir), tmp / "artifacts")
    registry = RegistryService(db)
    targets = TargetService(db, connections, None, settings)
    targets.seed_defaults()  # modelreg's own profiles and runtimes (a cluster's are read from it instead)
    create_minio(connections)
    model_id, version_id, _ = seed(registry)
    if emulator is not None:
        seed_cluster(emulator, targets)
    targets = TargetService(db, connections, kube, settings, cache_seconds=0)
    validator = shared_validator() if settings.crd_dir == CRDS else make_validator(settings)
    service = DeployService(db, registry, targets, kube, validator, settings, policy=policy)
    return DeployEnv(service, db, registry, targets, version_id, model_id)


@cache
def shared_validator() -> Validator:
    """The reference CRDs, read and compiled once for the session (the InferenceService CRD is 2 MB)."""
    return make_validator(DeploySettings(crd_dir=CRDS))


def caller(user: str, role: Role | None) -> context.CallContext:
    roles = frozenset() if role is None else frozenset({role})
    return context.CallContext(Principal(Identity(user, (), "token"), roles))


@contextmanager
def as_user(user: str, role: Role | None) -> Iterator[None]:
    with context.acting_as(caller(user, role)):
        yield


# --- the whole app, over HTTP (TestClient) -------------------------------------------------------------------------

ROLES = {"admin": "ai-admin", "developer": "ai-developer", "viewer": "ai-viewer"}
API = "/api/deploy/v1"


@dataclass
class AppEnv:
    """``create_app`` with token authentication, the seed set, and one token per role."""

    app: FastAPI
    version_id: int
    tokens: dict[str, str]

    def client(self, role: str) -> TestClient:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return TestClient(self.app, base_url=f"http://testserver{API}", headers=headers)

    def browser(self, role: str) -> TestClient:
        """The web UI as the user of ``role``, named by an authenticating proxy (``make_app(proxy=True)``)."""
        headers = {"X-Remote-User": ROLES[role]}
        return TestClient(self.app, client=("127.0.0.1", 50000), headers=headers, follow_redirects=False)

    def body(self, namespace: str = "team-a", **overrides: object) -> dict[str, object]:
        values: dict[str, object] = {
            "modelVersionId": str(self.version_id),
            "namespace": namespace,
            "hardwareProfile": "nvidia-l4-1gpu",
            "connection": "minio-storage",
            "runtime": "vllm-cuda-runtime",
        }
        values.update(overrides)
        return values


def make_app(
    db: Database, tmp: Path, emulator: Emulator | None = None, *, proxy: bool = False, **deploy: object
) -> AppEnv:
    """The app on ``db`` (emptied), with or without a cluster; no lifespan (no watcher): tests look at rows.
    ``proxy``: the UI too, through proxy identity headers (`AppEnv.browser`)."""
    empty(db)
    kubernetes = ClusterSettings(mode="none")
    if emulator is not None:
        kubernetes = ClusterSettings(mode="url", api_url=emulator.url, token="t")
    settings = Settings(
        database_url=db.url,
        data_dir=tmp / "data",
        auth=AuthSettings(methods=["token", "proxy"] if proxy else ["token"], cache_seconds=0),
        kubernetes=kubernetes,
        deploy=deploy_settings(tmp, **{"crd_dir": None, **deploy}),
    )
    app = create_app(settings, db)
    tokens = {}
    with context.acting_as(context.system("tests")):
        local = TargetService(db, app.state.connections, None, settings.deploy)
        local.seed_defaults()
        if emulator is not None:
            seed_cluster(emulator, local)
        create_minio(app.state.connections)
        _, version_id, _ = seed(app.state.registry)
        for role, user in ROLES.items():
            app.state.access.create_binding("user", user, role)
            tokens[role], _ = app.state.access.create_token(user)
    return AppEnv(app, version_id, tokens)

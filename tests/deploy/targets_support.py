"""What the deployment-target tests share: a `TargetService` on an empty registry (any backend, no cluster),
callers of each role, the reference CRDs, and the seed set's example data connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import empty
from kube_emulator import CRD_DIR
from modelreg.auth import context
from modelreg.auth.principal import Identity, Principal, Role
from modelreg.db.database import Database
from modelreg.deploy.targets import TargetService
from modelreg.kube.client import Kube
from modelreg.kube.schemas import Validator, load_crds
from modelreg.services.connections import ConnectionService
from modelreg.services.secrets import SecretBox
from modelreg.settings import DeploySettings, StorageSettings

CRDS = CRD_DIR
MINIO: dict[str, Any] = {
    "display_name": "MinIO Storage",
    "bucket": "models",
    "endpoint": "http://minio.minio.svc:9000",
    "region": "us-east-1",
    "access_key_id": "minio-access",
    "secret_access_key": "minio-s3cr3t-value",
}


def connection_service(database: Database, data_dir: Path) -> ConnectionService:
    return ConnectionService(database, SecretBox(StorageSettings(), data_dir), data_dir / "artifacts")


def target_service(
    database: Database, data_dir: Path, kube: Kube | None = None, *, cache_seconds: float = 0, **settings: Any
) -> TargetService:
    return TargetService(
        database, connection_service(database, data_dir), kube, DeploySettings(**settings), cache_seconds=cache_seconds
    )


@pytest.fixture
def targets(database: Database, tmp_path: Path, as_system: context.CallContext) -> TargetService:
    """modelreg's own targets (no cluster) on an empty registry, acting as an admin."""
    empty(database)
    return target_service(database, tmp_path)


@contextmanager
def acting(role: Role, user: str | None = None) -> Iterator[None]:
    principal = Principal(Identity(user or f"a-{role.value}", (), "token"), frozenset({role}))
    with context.acting_as(context.CallContext(principal)):
        yield


def validator() -> Validator:
    if not CRDS.is_dir():
        pytest.skip(f"the reference CRDs are not at {CRDS}")
    return Validator(load_crds(CRDS))

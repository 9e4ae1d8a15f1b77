"""Deploying a version whose artifact is an ``oci://`` ModelCar with one of modelreg's ``oci`` connections, against
the Kubernetes API emulator: the pull secret (``kubernetes.io/dockerconfigjson``, annotated as the dashboard's oci-v1
connections) built from the connection's password or its stored dockerconfig, ``storageUri`` = the artifact URI,
the Secret in ``imagePullSecrets``; the connection chosen by the artifact's storageKey or its registry; an image
outside the connection's registry or prefix refused; nothing decrypted for a dry run."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import SQLITE_ONLY
from deploy.service_env import DeployEnv, make_env
from kube_emulator import Emulator
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.errors import InvalidInput
from modelreg.kube.client import Kube
from modelreg.kube.kinds import INFERENCE_SERVICE, SECRET

sqlite_only = getattr(pytest.mark, SQLITE_ONLY)("the objects of an oci deploy, not the database")

pytestmark = pytest.mark.usefixtures("as_system")
PASSWORD = "quay-robot-t0ken-do-not-show"
DIGEST = "sha256:" + "ab" * 32
URI = f"oci://quay.io/team-a/granite:1.0.0@{DIGEST}"
PULL_SECRET = json.dumps({"auths": {"quay.io": {"auth": base64.b64encode(b"puller:pull-t0ken").decode()}}})


@pytest.fixture
def env(
    database: Database, tmp_path: Path, emulator: Emulator, kube: Kube, as_system: context.CallContext
) -> DeployEnv:
    made = make_env(database, tmp_path, kube, emulator=emulator)
    connections = made.targets.connection_service
    connections.create(
        "quay", "oci", display_name="Quay", registry="quay.io", repository_prefix="team-a", username="robot",
        password=PASSWORD, check=False,
    )  # fmt: skip
    connections.create("pull", "oci", registry="quay.io", dockerconfig=PULL_SECRET, check=False)
    emulator.clear_requests()
    return made


def oci_version(env: DeployEnv, uri: str = URI, storage_key: str | None = "quay", name: str = "oci-1") -> int:
    version = env.registry.create_model_version({"name": name, "registered_model_id": env.model_id}, {})
    values: dict[str, Any] = {"name": name, "uri": uri, "model_format_name": "vLLM", "state": "LIVE"}
    if storage_key:
        values["storage_key"] = storage_key
    env.registry.upsert_artifact("model_version", int(version.row["id"]), "model-artifact", values, {})
    return int(version.row["id"])


def only(emulator: Emulator, kind: Any, namespace: str = "team-a") -> list[dict[str, Any]]:
    return emulator.objects(kind, namespace)


def isvc_of(emulator: Emulator) -> dict[str, Any]:
    (isvc,) = only(emulator, INFERENCE_SERVICE)
    return isvc


def secret_named(emulator: Emulator, name: str) -> dict[str, Any]:
    return next(s for s in only(emulator, SECRET) if s["metadata"]["name"] == name)


def dockerconfig_of(secret: dict[str, Any]) -> dict[str, Any]:
    raw = (secret.get("stringData") or {}).get(".dockerconfigjson")
    if raw is None:
        raw = base64.b64decode(secret["data"][".dockerconfigjson"]).decode()
    return json.loads(raw)  # type: ignore[no-any-return]


def test_deploy_creates_the_pull_secret_and_pulls_the_artifact_uri(env: DeployEnv, emulator: Emulator) -> None:
    version = oci_version(env)
    env.service.deploy(env.request(model_version_id=str(version), connection="quay"))
    secret = secret_named(emulator, "quay")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    annotations = secret["metadata"]["annotations"]
    assert annotations["opendatahub.io/connection-type-ref"] == "oci-v1"
    assert annotations["opendatahub.io/connection-type-protocol"] == "oci"
    assert annotations["openshift.io/display-name"] == "Quay"
    assert secret["metadata"]["labels"]["opendatahub.io/dashboard"] == "true"
    auth = dockerconfig_of(secret)["auths"]["quay.io"]["auth"]
    assert base64.b64decode(auth).decode() == f"robot:{PASSWORD}"
    values = secret.get("stringData") or {
        k: base64.b64decode(v).decode() for k, v in secret["data"].items() if k != ".dockerconfigjson"
    }
    assert values.get("OCI_HOST") == "quay.io/team-a"

    isvc = isvc_of(emulator)
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == URI
    assert predictor["imagePullSecrets"] == [{"name": "quay"}]
    assert "storage" not in predictor["model"]
    assert isvc["metadata"]["annotations"]["opendatahub.io/connections"] == "quay"


@sqlite_only
def test_a_stored_dockerconfig_is_the_pull_secret_as_given(env: DeployEnv, emulator: Emulator) -> None:
    version = oci_version(env, storage_key="pull")
    env.service.deploy(env.request(model_version_id=str(version), connection="pull"))
    assert dockerconfig_of(secret_named(emulator, "pull")) == json.loads(PULL_SECRET)
    assert isvc_of(emulator)["spec"]["predictor"]["imagePullSecrets"] == [{"name": "pull"}]


@sqlite_only
def test_the_connection_follows_the_storage_key_or_the_registry(env: DeployEnv, emulator: Emulator) -> None:
    by_key = oci_version(env, storage_key="pull", name="by-key")
    plan, info = env.service.plan(env.request(model_version_id=str(by_key), connection=None))
    assert info.connection.name == "pull" and plan.storage.uri == URI

    # no storageKey: the connections whose OCI_HOST (registry and prefix) appear in the URI; two here, so choose
    ambiguous = oci_version(env, storage_key=None, name="no-key")
    with pytest.raises(InvalidInput, match="several data connections match"):
        env.service.plan(env.request(model_version_id=str(ambiguous), connection=None))
    other_team = oci_version(env, uri="oci://quay.io/team-b/granite:2", storage_key=None, name="team-b")
    _, info = env.service.plan(env.request(model_version_id=str(other_team), connection=None))
    assert info.connection.name == "pull"  # "quay" covers team-a only
    similar = oci_version(env, uri="oci://quay.io/team-ab/granite:2", storage_key=None, name="team-ab")
    _, info = env.service.plan(env.request(model_version_id=str(similar), connection=None))
    assert info.connection.name == "pull"  # a prefix covers whole path components, not a string's start


@sqlite_only
def test_an_image_the_connection_does_not_cover_is_refused(env: DeployEnv, emulator: Emulator) -> None:
    elsewhere = oci_version(env, uri="oci://ghcr.io/team-a/granite:1", name="ghcr")
    with pytest.raises(InvalidInput, match=r"pulls from quay\.io/team-a only"):
        env.service.deploy(env.request(model_version_id=str(elsewhere), connection="quay"))
    other_prefix = oci_version(env, uri="oci://quay.io/team-b/granite:1", name="team-b")
    with pytest.raises(InvalidInput, match=r"pulls from quay\.io/team-a only"):
        env.service.deploy(env.request(model_version_id=str(other_prefix), connection="quay"))
    not_an_image = oci_version(env, uri="s3://models/granite/", name="s3")
    with pytest.raises(InvalidInput, match="not an oci:// image reference"):
        env.service.deploy(env.request(model_version_id=str(not_an_image), connection="quay"))
    assert only(emulator, INFERENCE_SERVICE) == [] and only(emulator, SECRET) == []


@sqlite_only
def test_a_dry_run_shows_no_credential(env: DeployEnv, emulator: Emulator) -> None:
    version = oci_version(env)
    result = env.service.deploy(env.request(model_version_id=str(version), connection="quay"), mode="dry_run")
    shown = json.dumps(result.objects) + result.yaml
    assert PASSWORD not in shown and base64.b64encode(f"robot:{PASSWORD}".encode()).decode() not in shown
    assert "storageUri: " + URI in result.yaml and "imagePullSecrets" in result.yaml
    assert only(emulator, SECRET) == [] and only(emulator, INFERENCE_SERVICE) == []


@sqlite_only
def test_the_targets_offer_oci_connections(env: DeployEnv) -> None:
    offered = {c.name: c for c in env.targets.connections("team-a")}
    assert offered["quay"].type == "oci" and offered["quay"].endpoint == "quay.io/team-a"
    assert offered["quay"].origin == "modelreg" and offered["pull"].endpoint == "quay.io"
    with context.acting_as(context.system("tests")):
        shown = env.targets.connection_secret("quay", credentials=False)
    assert PASSWORD not in json.dumps(shown) and shown["type"] == "kubernetes.io/dockerconfigjson"

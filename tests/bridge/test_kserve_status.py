"""KServe InferenceService status as an endpoint source, followed through the one cluster client against the
Kubernetes API emulator (kmock over real HTTP, tests/kube_emulator): status changes patched in as KServe would
reach the view by watch, a cluster outage keeps the last view, and the bridge's records follow."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from conftest import ServerThread
from kube_emulator import Emulator, wait_until
from kube_emulator.fixtures import kube_for
from modelreg.app import create_app
from modelreg.bridge.kserve import AUTH_ANNOTATION, KServeStatus
from modelreg.cli.main import app
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.kube.client import Kube
from modelreg.kube.kinds import INFERENCE_SERVICE
from modelreg.services import entities as e
from modelreg.services.registry import RegistryService
from modelreg.settings import BridgeSettings, KubernetesSettings, Settings

API = "/api/model_registry/v1alpha3"
TOKEN = "bridge-k8s-s3cret"  # the bearer token of `secret_kube`: never in an error
WATCHED = 1.0  # seconds: a status change must reach the view this soon (the target is 2 s to the UI)


def isvc(namespace: str, name: str, url: str | None, internal: str | None, auth: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if url:
        status["url"] = url
    if internal:
        status["address"] = {"url": internal}
    annotations = {AUTH_ANNOTATION: "true"} if auth else {}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}, "storageUri": "s3://models/x"}}},
        "status": status,
    }


@pytest.fixture
def cluster(emulator: Emulator) -> Emulator:
    emulator.put_object(
        isvc("team-a", "mnist-v1", "https://mnist-v1-team-a.apps.example.com", "http://mnist-v1.team-a.svc", True)
    )
    emulator.put_object(isvc("team-a", "internal", "http://internal.team-a.svc.cluster.local", None))
    emulator.put_object(isvc("team-b", "other", "https://other.example.com", None))
    return emulator


class Changes:
    """An `on_change` that counts its calls (made from the informer's thread)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1


@pytest.fixture
def following(cluster: Emulator, kube: Kube) -> Iterator[tuple[KServeStatus, Changes]]:
    """A started status source over the three services, counting its `on_change` calls."""
    status = KServeStatus(kube)
    status.on_change = changes = Changes()
    status.start()
    try:
        wait_until(lambda: status.loaded and changes.count == 3, WATCHED)  # one per service listed
        yield status, changes
    finally:
        status.stop()


@pytest.fixture
def secret_kube(emulator: Emulator) -> Iterator[Kube]:
    client = kube_for(emulator, token=TOKEN)
    yield client
    client.close()


def service(runtime: str) -> dict[str, Any]:
    return {"id": "7", "name": f"{runtime}/x", "runtime": runtime, "servingEnvironmentId": "1"}


def test_view_and_resolver(following: tuple[KServeStatus, Changes]) -> None:
    status, _ = following
    assert status.last_error is None
    resolve = status.resolver("")
    endpoint = resolve(service("mnist-v1"), {"id": "1", "name": "team-a"})
    assert endpoint is not None
    assert endpoint.url == "https://mnist-v1-team-a.apps.example.com"
    assert endpoint.internal_url == "http://mnist-v1.team-a.svc"
    assert endpoint.authentication is True and endpoint.name == "team-a.mnist-v1"
    internal = resolve(service("internal"), {"id": "1", "name": "team-a"})
    assert internal is not None and internal.url == internal.internal_url == "http://internal.team-a.svc.cluster.local"
    assert internal.authentication is False
    # not in the cluster (or another namespace): the registry's url property, with no auth claim
    props = {"url": {"metadataType": "MetadataStringValue", "string_value": "https://from-registry"}}
    fallback = resolve({**service("other"), "customProperties": props}, {"id": "1", "name": "team-a"})
    assert fallback is not None and fallback.url == "https://from-registry" and fallback.authentication is None
    assert resolve(service("absent"), {"id": "1", "name": "team-a"}) is None
    remote = status.resolver("up")(service("mnist-v1"), {"id": "1", "name": "team-a"})
    assert remote is not None and remote.name == "up.team-a.mnist-v1"


def test_status_changes_arrive_by_watch(cluster: Emulator, following: tuple[KServeStatus, Changes]) -> None:
    status, changes = following

    def lists() -> int:
        return sum(
            r.method == "GET" and "watch" not in r.params for r in cluster.requests if r.plural == "inferenceservices"
        )

    listed = lists()
    cluster.patch_status(INFERENCE_SERVICE, "team-b", "other", {"url": "https://moved.example.com"})
    wait_until(lambda: (s := status.get("team-b", "other")) and s.url == "https://moved.example.com", WATCHED)
    wait_until(lambda: changes.count == 4, WATCHED)

    # status changes the resolver does not see (conditions only) do not resync the bridge; new and deleted
    # services do
    conditions = {"conditions": [{"type": "Ready", "status": "False"}]}
    cluster.patch_status(INFERENCE_SERVICE, "team-b", "other", conditions, merge=True)
    cluster.put_object(isvc("team-b", "late", None, None))  # no status yet
    cluster.patch_status(INFERENCE_SERVICE, "team-b", "late", conditions, merge=True)
    cluster.delete_object(INFERENCE_SERVICE, "team-a", "internal")
    wait_until(lambda: status.get("team-a", "internal") is None, WATCHED)
    late = status.get("team-b", "late")
    assert late is not None and late.url is None
    status.stop()  # joins the informer's thread: every event received has been handled
    assert changes.count == 6
    assert lists() == listed  # all of it by watch: no list after the first


def test_a_cluster_outage_keeps_the_last_view(cluster: Emulator, secret_kube: Kube) -> None:
    status = KServeStatus(secret_kube, namespaces=["team-b"])
    status.start()
    try:
        wait_until(lambda: status.get("team-b", "other"), WATCHED)
        assert status.get("team-a", "mnist-v1") is None  # not a watched namespace
        cluster.unreachable()
        wait_until(lambda: status.last_error, 5)
        assert "ClusterUnreachable" in (status.last_error or "") and TOKEN not in (status.last_error or "")
        assert status.get("team-b", "other") is not None and status.loaded
        cluster.patch_status(INFERENCE_SERVICE, "team-b", "other", {"url": "https://meanwhile.example.com"})
        cluster.reachable()
        wait_until(lambda: (s := status.get("team-b", "other")) and s.url == "https://meanwhile.example.com", 10)
        wait_until(lambda: status.last_error is None, 5)
    finally:
        status.stop()


def test_a_first_list_that_fails_is_retried(cluster: Emulator, kube: Kube) -> None:
    cluster.fail_next("GET", "inferenceservices", 403, reason="Forbidden", message="no right to list")
    status = KServeStatus(kube)
    status.start()
    try:
        wait_until(lambda: status.last_error, 5)
        assert "Forbidden" in (status.last_error or "") and "403" in (status.last_error or "")
        wait_until(lambda: status.loaded and status.get("team-a", "mnist-v1"), 5)
    finally:
        status.stop()


def test_one_listing_for_the_cli(cluster: Emulator, secret_kube: Kube) -> None:
    status = KServeStatus(secret_kube, namespaces=["team-a", "team-b"])
    assert status.refresh() and status.loaded and status.get("team-b", "other") is not None
    assert not status.refresh()  # nothing changed
    cluster.fail_next("GET", "inferenceservices", 500)
    assert not status.refresh()
    assert status.last_error and "500" in status.last_error and TOKEN not in status.last_error
    assert status.get("team-a", "mnist-v1") is not None  # the last view stays
    cluster.delete_object(INFERENCE_SERVICE, "team-a", "mnist-v1")
    assert status.refresh() and status.get("team-a", "mnist-v1") is None and status.last_error is None


def test_configured_only_with_a_cluster_and_not_turned_off(kube: Kube) -> None:
    assert KServeStatus.configured(KubernetesSettings(), None) is None
    assert KServeStatus.configured(KubernetesSettings(enabled=False), kube) is None
    found = KServeStatus.configured(KubernetesSettings(namespaces=["team-a"]), kube)
    assert found is not None and found.namespaces == ("team-a",)


def test_local_sync_publishes_cluster_endpoints(
    cluster: Emulator, tmp_path: Path, catalog_validator: Callable[[Any], None]
) -> None:
    """End to end, with the deprecated `bridge.kubernetes` connection keys configuring the one client."""
    db = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    migrations.upgrade(db.engine)
    bridge = BridgeSettings(access="open", kubernetes={"api_url": cluster.url, "token": TOKEN})
    settings = Settings(database_url=db.url, data_dir=tmp_path, bridge=bridge)
    assert settings.kubernetes.api_url == cluster.url
    with (
        ServerThread(create_app(settings, db)) as server,
        httpx.Client(base_url=f"{server.url}{API}", timeout=10) as api,
    ):
        rm = api.post("/registered_models", json={"name": "mnist"}).json()
        mv = api.post("/model_versions", json={"name": "v1", "registeredModelId": rm["id"]}).json()
        env = api.post("/serving_environments", json={"name": "team-a"}).json()
        created = api.post(
            "/inference_services",
            json={
                "name": "mnist-v1/1",
                "runtime": "mnist-v1",
                "servingEnvironmentId": env["id"],
                "registeredModelId": rm["id"],
                "modelVersionId": mv["id"],
            },
        )
        assert created.status_code == 201, created.text

        def server_of() -> dict[str, Any] | None:
            got = httpx.get(f"{server.url}/bridge/mnist/mnist.v1/model-catalog.json")
            return got.json()["modelServer"] if got.status_code == 200 and "modelServer" in got.text else None

        model_server = wait_until(server_of, 5)
        assert model_server["API"]["url"] == "https://mnist-v1-team-a.apps.example.com"
        assert model_server["authentication"] is True
        catalog_validator(httpx.get(f"{server.url}/bridge/mnist/mnist.v1/model-catalog.json").json())

        # the cluster changes: the watch event resyncs the local records
        moved = isvc("team-a", "mnist-v1", "https://moved.example.com", None, False)
        cluster.put_object(moved)
        published = wait_until(lambda: (s := server_of()) and s["API"]["url"] == "https://moved.example.com" and s, 5)
        assert published["authentication"] is False
    db.dispose()


@pytest.mark.usefixtures("as_system")
def test_cli_export_reads_the_cluster_once(cluster: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`modelreg bridge export` builds the one client from the settings, as the server does, and lists once."""
    db = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    migrations.upgrade(db.engine)
    registry = RegistryService(db)
    model = registry.create(e.REGISTERED_MODEL, {"name": "mnist"}, {}).row["id"]
    version = registry.create_model_version({"name": "v1", "registered_model_id": model}, {}).row["id"]
    environment = registry.create(e.SERVING_ENVIRONMENT, {"name": "team-a"}, {}).row["id"]
    service = {
        "name": "mnist-v1/1",
        "runtime": "mnist-v1",
        "serving_environment_id": environment,
        "registered_model_id": model,
        "model_version_id": version,
    }
    registry.create(e.INFERENCE_SERVICE, service, {})
    db.dispose()
    monkeypatch.setenv("MODELREG_KUBERNETES__API_URL", cluster.url)
    monkeypatch.setenv("MODELREG_KUBERNETES__TOKEN", TOKEN)
    document = tmp_path / "out" / "mnist" / "mnist.v1" / "model-catalog.json"

    exported = CliRunner().invoke(app, ["bridge", "export", str(tmp_path / "out"), "--database-url", db.url])
    assert exported.exit_code == 0, exported.output
    assert json.loads(document.read_text())["modelServer"]["API"]["url"] == "https://mnist-v1-team-a.apps.example.com"

    cluster.unreachable()  # the export goes on without the cluster's view, and says so
    exported = CliRunner().invoke(app, ["bridge", "export", str(tmp_path / "out"), "--database-url", db.url])
    assert exported.exit_code == 0, exported.output
    assert "warning: KServe status not read: ClusterUnreachable" in exported.output and TOKEN not in exported.output

    monkeypatch.setenv("MODELREG_KUBERNETES__CA_FILE", str(tmp_path / "missing.crt"))
    broken = CliRunner().invoke(app, ["bridge", "export", str(tmp_path / "out"), "--database-url", db.url])
    assert broken.exit_code == 2 and "kubernetes.ca_file" in broken.output

"""KServe InferenceService status as an endpoint source. No Kubernetes API can run here, so a small fake
(`http.server` in a thread) serves `serving.kserve.io/v1beta1` InferenceService lists, paginated with
`limit`/`continue` and guarded by a bearer token, the way the API server does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conftest import ServerThread
from modelreg.app import create_app
from modelreg.bridge.kserve import AUTH_ANNOTATION, KServeStatus
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.settings import BridgeSettings, KubernetesSettings, Settings

from .fake_http import FakeHTTP, JsonHandler, eventually

TOKEN = "k8s-secret-token"
API = "/api/model_registry/v1alpha3"


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
        "status": status,
    }


class FakeKubernetes(FakeHTTP):
    """The InferenceService list endpoints of a Kubernetes API server, from `items`; `fail` makes them 500."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.fail = False
        self.requests: list[str] = []
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                fake.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"kind": "Status", "code": 401})
                if fake.fail:
                    return self._send(500, {"kind": "Status", "code": 500})
                segments = parts.path.strip("/").split("/")
                if segments[:3] != ["apis", "serving.kserve.io", "v1beta1"] or segments[-1] != "inferenceservices":
                    return self._send(404, {"kind": "Status", "code": 404})
                namespace = segments[4] if len(segments) == 6 else None
                items = [i for i in fake.items if namespace in (None, i["metadata"]["namespace"])]
                query = parse_qs(parts.query)
                start = int(query.get("continue", ["0"])[0])
                limit = int(query.get("limit", ["500"])[0])
                limit = min(limit, 2)  # force pagination
                page = items[start : start + limit]
                more = str(start + limit) if start + limit < len(items) else ""
                self._send(200, {"kind": "InferenceServiceList", "metadata": {"continue": more}, "items": page})

        self.serve(Handler)


@pytest.fixture
def cluster() -> Iterator[FakeKubernetes]:
    fake = FakeKubernetes()
    fake.items = [
        isvc("team-a", "mnist-v1", "https://mnist-v1-team-a.apps.example.com", "http://mnist-v1.team-a.svc", True),
        isvc("team-a", "internal", "http://internal.team-a.svc.cluster.local", None),
        isvc("team-b", "other", "https://other.example.com", None),
    ]
    yield fake
    fake.close()


def settings(url: str, **extra: Any) -> KubernetesSettings:
    return KubernetesSettings(api_url=url, token=TOKEN, **extra)


def service(runtime: str) -> dict[str, Any]:
    return {"id": "7", "name": f"{runtime}/x", "runtime": runtime, "servingEnvironmentId": "1"}


def test_view_and_resolver(cluster: FakeKubernetes) -> None:
    status = KServeStatus(settings(cluster.url))
    assert status.refresh() and status.loaded
    assert sum("continue=" in r for r in cluster.requests) == 1  # 3 items, pages of 2
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
    status.stop()


def test_namespaces_and_errors_keep_the_last_view(cluster: FakeKubernetes) -> None:
    status = KServeStatus(settings(cluster.url, namespaces=["team-b"]))
    assert status.refresh()
    assert status.get("team-b", "other") is not None and status.get("team-a", "mnist-v1") is None
    cluster.fail = True
    assert not status.refresh()
    assert status.last_error and "500" in status.last_error and TOKEN not in status.last_error
    assert status.get("team-b", "other") is not None
    cluster.fail = False
    wrong = KServeStatus(KubernetesSettings(api_url=cluster.url, token="nope"))
    assert not wrong.refresh() and not wrong.loaded
    status.stop()
    wrong.stop()


def test_local_sync_publishes_cluster_endpoints(
    cluster: FakeKubernetes, tmp_path: Path, catalog_validator: Callable[[Any], None]
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    migrations.upgrade(db.engine)
    bridge = BridgeSettings(access="open", kubernetes=settings(cluster.url, interval_seconds=1))
    with (
        ServerThread(create_app(Settings(database_url=db.url, data_dir=tmp_path, bridge=bridge), db)) as server,
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

        model_server = eventually(server_of, "the cluster endpoint")
        assert model_server["API"]["url"] == "https://mnist-v1-team-a.apps.example.com"
        assert model_server["authentication"] is True
        catalog_validator(httpx.get(f"{server.url}/bridge/mnist/mnist.v1/model-catalog.json").json())

        # the cluster changes: the refresh thread resyncs the local records
        cluster.items[0] = isvc("team-a", "mnist-v1", "https://moved.example.com", None, False)
        moved = eventually(
            lambda: (s := server_of()) and s["API"]["url"] == "https://moved.example.com" and s, "the moved endpoint"
        )
        assert moved["authentication"] is False
    db.dispose()

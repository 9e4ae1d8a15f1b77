"""The location service under /bridge, end to end: changes through the registry API reach it within a second."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from conftest import ServerThread, free_port
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.services.access import AccessService
from modelreg.settings import BridgeSettings, Settings
from processes import ServeProcess

GOVERNANCE = "/api/governance/v1"
DEADLINE = 1.0


def eventually(probe: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll `probe` until it returns a truthy value; fail unless that happens within `deadline` seconds."""
    start = time.monotonic()
    while True:
        value = probe()
        elapsed = time.monotonic() - start
        if value:
            assert elapsed < deadline, f"{what} took {elapsed:.3f} s"
            return value
        if elapsed > deadline:
            pytest.fail(f"{what} not seen within {deadline} s")
        time.sleep(0.01)


@pytest.fixture
def bridge(server: ServerThread, api: httpx.Client) -> Iterator[httpx.Client]:
    """A client for /bridge on the session server (whose registry `api` has just emptied)."""
    # `api` emptied the registry, audit trail included, behind the sync's back (no server ever does): let the sync
    # finish the previous test's changes, whose audit records it may wait for in vain, before timing this test's.
    assert server.server.config.app.state.bridge_sync.wait_idle(10)
    with httpx.Client(base_url=f"{server.url}/bridge", timeout=10) as client:
        yield client


def uris(bridge: httpx.Client) -> list[str]:
    response = bridge.get("/list")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()["uris"]  # type: ignore[no-any-return]


def register(api: httpx.Client, model: str = "mnist", version: str = "v1", **version_props: str) -> dict[str, str]:
    rm = api.post("/registered_models", json={"name": model, "owner": "kube:admin"})
    assert rm.status_code == 201, rm.text
    props = {k: {"metadataType": "MetadataStringValue", "string_value": v} for k, v in version_props.items()}
    mv = api.post(
        "/model_versions", json={"name": version, "registeredModelId": rm.json()["id"], "customProperties": props}
    )
    assert mv.status_code == 201, mv.text
    art = api.post(
        f"/model_versions/{mv.json()['id']}/artifacts",
        json={"artifactType": "model-artifact", "name": "onnx", "uri": "https://user:secret@example.com/mnist.onnx"},
    )
    assert art.status_code in (200, 201), art.text
    return {"model": rm.json()["id"], "version": mv.json()["id"]}


def governance(api: httpx.Client, method: str, path: str) -> None:
    url = str(api.base_url).split("/api/")[0] + GOVERNANCE + path
    response = api.request(method, url)
    assert response.status_code == 200, response.text


def test_list_is_empty_not_null(bridge: httpx.Client) -> None:
    assert bridge.get("/list").json() == {"uris": []}


def test_registration_appears_in_both_generations(
    api: httpx.Client, bridge: httpx.Client, catalog_validator: Callable[[Any], None]
) -> None:
    register(api, "my_model", "v1.0")
    (uri,) = eventually(lambda: uris(bridge), "the new version on /list")
    eventually(lambda: "artifactLocationURL" in bridge.get(uri).json()["models"][0], "its artifact")
    assert uri.endswith("/model-catalog.json")
    for path in (uri, f"/models/{uri}", f"/models{uri}"):  # 0.7.0; 1.1.0 with its double slash; and without
        response = bridge.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json"
        document = response.json()
        catalog_validator(document)
    model = document["models"][0]
    assert model["owner"] == "kubeadmin"
    assert model["artifactLocationURL"] == "https://example.com/mnist.onnx"  # no userinfo, ever
    assert b"secret" not in response.content
    key = model["name"]
    card = bridge.get("/modelcard", params={"key": key})
    assert card.status_code == 200 and card.headers["content-type"].startswith("text/markdown")
    assert "# my_model v1.0" in card.text
    assert bridge.get(f"/modelcards/{key}.md").text == card.text


def test_updates_archive_and_delete_follow(
    api: httpx.Client, bridge: httpx.Client, catalog_validator: Callable[[Any], None]
) -> None:
    ids = register(api, "fraud", "v1")
    register(api, "other", "v1")
    eventually(lambda: len(uris(bridge)) == 2, "two records")
    fraud = next(u for u in uris(bridge) if u.startswith("/fraud/"))

    patch = api.patch(
        f"/model_versions/{ids['version']}",
        json={
            "description": "detects fraud",
            "customProperties": {"License": {"metadataType": "MetadataStringValue", "string_value": "Apache-2.0"}},
        },
    )
    assert patch.status_code == 200, patch.text

    def updated() -> bool:
        doc = bridge.get(fraud).json()
        catalog_validator(doc)
        return doc["models"][0]["description"] == "detects fraud"

    eventually(updated, "the updated description")
    assert bridge.get(fraud).json()["models"][0]["annotations"]["modelreg.io/license"] == "Apache-2.0"

    # Deploy it: the serving environment and inference service change the document too.
    env = api.post("/serving_environments", json={"name": "team-ns"}).json()
    isvc = api.post(
        "/inference_services",
        json={
            "servingEnvironmentId": env["id"],
            "registeredModelId": ids["model"],
            "modelVersionId": ids["version"],
            "runtime": "fraud-kserve",
            "customProperties": {
                "url": {"metadataType": "MetadataStringValue", "string_value": "https://fraud.apps.example.com"}
            },
        },
    )
    assert isvc.status_code == 201, isvc.text
    eventually(lambda: "modelServer" in bridge.get(fraud).json(), "the deployed endpoint")
    catalog_validator(bridge.get(fraud).json())
    api.patch(f"/inference_services/{isvc.json()['id']}", json={"desiredState": "UNDEPLOYED"})
    eventually(lambda: "modelServer" not in bridge.get(fraud).json(), "the undeployed endpoint")

    api.patch(f"/model_versions/{ids['version']}", json={"state": "ARCHIVED"})  # the Kubeflow way to archive
    eventually(lambda: fraud not in uris(bridge), "the archived version vanishing")
    assert bridge.get(fraud).status_code == 404
    api.patch(f"/model_versions/{ids['version']}", json={"state": "LIVE"})
    eventually(lambda: fraud in uris(bridge), "the restored version")

    governance(api, "POST", f"/registered_models/{ids['model']}/archive")
    eventually(lambda: fraud not in uris(bridge), "the archived model's versions vanishing")
    governance(api, "POST", f"/registered_models/{ids['model']}/restore")
    eventually(lambda: fraud in uris(bridge), "the restored model")

    # Hard delete (of an archived model) leaves it gone for good, and the rest untouched.
    other = register(api, "doomed", "v1")
    eventually(lambda: len(uris(bridge)) == 3, "three records")
    governance(api, "POST", f"/registered_models/{other['model']}/archive")
    governance(api, "DELETE", f"/registered_models/{other['model']}")
    eventually(lambda: len(uris(bridge)) == 2, "the deleted model vanishing")
    assert fraud in uris(bridge) and not any(u.startswith("/doomed/") for u in uris(bridge))


def test_unknown_paths_are_404(bridge: httpx.Client) -> None:
    for path in ("/nope/nope.v1/model-catalog.json", "/models/nope", "/nope/catalog-info.yaml", "/modelcards/x.md"):
        assert bridge.get(path).status_code == 404, path
    assert bridge.get("/modelcard", params={"key": "x"}).status_code == 404


@pytest.fixture
def app_server(database: Database, tmp_path: Path) -> Iterator[Callable[..., ServerThread]]:
    """Start further in-process servers on the session database with their own settings."""
    started: list[ServerThread] = []

    def start(**settings: Any) -> ServerThread:
        running = ServerThread(create_app(Settings(database_url=database.url, data_dir=tmp_path, **settings), database))
        started.append(running.__enter__())
        return running

    yield start
    for running in started:
        running.__exit__(None, None, None)


def test_yaml_format(api: httpx.Client, app_server: Callable[..., ServerThread]) -> None:
    running = app_server(bridge=BridgeSettings(format="yaml"))
    register(api, "mnist", "v1")
    register(api, "mnist-two", "v2")
    listed = eventually(
        lambda: len(got := httpx.get(f"{running.url}/bridge/list").json()["uris"]) == 2 and got, "two YAML locations"
    )
    assert sorted(listed) == ["/mnist-two/catalog-info.yaml", "/mnist/catalog-info.yaml"]
    response = httpx.get(f"{running.url}/bridge/models//mnist/catalog-info.yaml")
    assert response.status_code == 200 and response.headers["content-type"] == "application/yaml"
    kinds = [(e["kind"], e["metadata"]["name"]) for e in yaml.safe_load_all(response.text)]
    assert kinds == [("Component", "mnist"), ("Resource", "mnist.v1")]


def test_access_by_address_and_token(
    api: httpx.Client, database: Database, app_server: Callable[..., ServerThread]
) -> None:
    elsewhere = app_server(bridge=BridgeSettings(allowed_addresses=["10.0.0.0/8"]))
    assert httpx.get(f"{elsewhere.url}/bridge/list").status_code == 403
    open_ = app_server(bridge=BridgeSettings(access="open", allowed_addresses=["10.0.0.0/8"]))
    assert httpx.get(f"{open_.url}/bridge/list").status_code == 200

    tokened = app_server(auth={"methods": ["token"]}, bridge=BridgeSettings(access="token"))
    assert httpx.get(f"{tokened.url}/bridge/list").status_code == 401
    assert httpx.get(f"{tokened.url}/bridge/list", headers={"Authorization": "Bearer nope"}).status_code == 401
    access = AccessService(database)
    with context.acting_as(context.cli_context()):
        secret, _ = access.create_token("backstage")
        access.create_binding("user", "backstage", "viewer")
    response = httpx.get(f"{tokened.url}/bridge/list", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200 and response.json() == {"uris": []}


def test_disabled_bridge_has_no_routes(app_server: Callable[..., ServerThread]) -> None:
    running = app_server(bridge=BridgeSettings(enabled=False))
    assert httpx.get(f"{running.url}/bridge/list").status_code == 404


def test_changes_through_another_server_process(
    api: httpx.Client, bridge: httpx.Client, database: Database, tmp_path: Path
) -> None:
    """A second `modelreg serve` on the same database: its writes show on our /bridge, and ours on its."""
    if database.backend != "sqlite":
        pytest.skip("one subprocess backend is enough")
    with (
        ServeProcess(free_port(), "--database-url", database.url, env={"MODELREG_DATA_DIR": str(tmp_path)}) as other,
        httpx.Client(base_url=f"{other.url}/api/model_registry/v1alpha3", timeout=10) as other_api,
    ):
        register(other_api, "from-other", "v1")
        eventually(lambda: uris(bridge) == ["/from-other/from-other.v1/model-catalog.json"], "the other's write")
        register(api, "from-here", "v1")
        eventually(lambda: len(httpx.get(f"{other.url}/bridge/list").json()["uris"]) == 2, "our write over there")
        document = httpx.get(f"{other.url}/bridge/from-here/from-here.v1/model-catalog.json")
        assert orjson.loads(document.content)["models"][0]["name"] == "from-here.v1"

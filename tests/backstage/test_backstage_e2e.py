"""End to end with the real consumer: a Backstage backend reads a live `modelreg serve` through the bridge.

JSON format: the RHDH model-catalog module 1.1.0 (`discovery.endpoints` maps its provider id to `<modelreg>/bridge`);
only deployed versions (with an endpoint URL) become entities, one `AiModelServerAPI` each.
YAML format: each `catalog-info.yaml` URI of `/bridge/list` is a `url` location in the app config (static, so the
models are registered first). An entity its location stops emitting is marked `backstage.io/orphan: "true"` at the
next refresh and deleted by a cleanup task that runs every 30 s (orphanStrategy delete); the test accepts the mark.

Processing errors are read from the catalog's refresh state through the unprocessed-entities module
(`/api/catalog/entities/unprocessed/{failed,pending}`: entities the catalog rejected never reach
`/api/catalog/entities`) plus `status.items` of the entities that landed (see conftest.BackstageProcess).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from conftest import free_port
from modelreg.bridge.names import backstage_name
from processes import ServeProcess

from .conftest import BACKEND, BackstageProcess

pytestmark = pytest.mark.slow

API = "/api/model_registry/v1alpha3"
DEADLINE = 60.0
T = TypeVar("T")

DEPLOYED = ("fraud-detector", "v1")
UNDEPLOYED = ("sentiment", "v1")
ARCHIVED = ("old-model", "v1")
AWKWARD = ("team_a/Granite 3.1: chat", "v 2.0_rc:1")
DEPLOYED_URL = "http://fraud-detector.models.example.com/v1"
AWKWARD_URL = "https://granite.models.example.com"


@dataclass
class Registered:
    """Ids of what `register` created."""

    models: dict[str, str]
    versions: dict[str, str]


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), (response.request.method, str(response.request.url), response.text)
    return dict(response.json())


def _string(value: str) -> dict[str, str]:
    return {"metadataType": "MetadataStringValue", "string_value": value}


def register(api: httpx.Client) -> Registered:
    """A deployed model, an undeployed one, an archived one and a deployed one with awkward names."""
    env = _ok(api.post("/serving_environments", json={"name": "team-models"}))
    reg = Registered({}, {})
    for model_name, version_name in (DEPLOYED, UNDEPLOYED, ARCHIVED, AWKWARD):
        model = _ok(
            api.post(
                "/registered_models",
                json={
                    "name": model_name,
                    "owner": "alice",
                    "description": f"{model_name} model",
                    "customProperties": {"License": _string("https://www.apache.org/licenses/LICENSE-2.0")},
                },
            )
        )
        version = _ok(
            api.post(
                f"/registered_models/{model['id']}/versions",
                json={"name": version_name, "registeredModelId": model["id"], "description": "first version"},
            )
        )
        api.post(
            f"/model_versions/{version['id']}/artifacts",
            json={"artifactType": "model-artifact", "name": "weights", "uri": f"s3://models/{model['id']}/w.onnx"},
        ).raise_for_status()
        reg.models[model_name], reg.versions[model_name] = model["id"], version["id"]
    for (model_name, _), url in ((DEPLOYED, DEPLOYED_URL), (AWKWARD, AWKWARD_URL)):
        _ok(
            api.post(
                "/inference_services",
                json={
                    "name": f"isvc-{reg.models[model_name]}",
                    "servingEnvironmentId": env["id"],
                    "registeredModelId": reg.models[model_name],
                    "modelVersionId": reg.versions[model_name],
                    "desiredState": "DEPLOYED",
                    "customProperties": {"url": _string(url)},
                },
            )
        )
    _ok(api.patch(f"/registered_models/{reg.models[ARCHIVED[0]]}", json={"state": "ARCHIVED"}))
    return reg


def eventually(check: Callable[[], T | None], what: str, backstage: BackstageProcess, deadline: float = DEADLINE) -> T:
    """Polls `check` until it returns a truthy value; fails with Backstage's log tail after `deadline` seconds."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
        except (httpx.HTTPError, AssertionError) as err:
            last = err
        else:
            if last:
                return last
        time.sleep(0.5)
    pytest.fail(f"{what} not seen within {deadline:.0f} s (last: {last!r})\nBackstage log:\n{backstage.tail()}")


@pytest.fixture(autouse=True)
def _needs_node(node: str) -> None:
    """Skips (with the reason) when node or tests/backstage/node_modules is missing."""


@pytest.fixture
def modelreg_factory(tmp_path: Path) -> Iterator[Callable[[str], ServeProcess]]:
    """Starts `modelreg serve` on an empty SQLite database with the bridge in the given format."""
    servers: list[ServeProcess] = []

    def start(fmt: str) -> ServeProcess:
        db = tmp_path / f"registry-{fmt}.db"
        env = {"MODELREG_BRIDGE__FORMAT": fmt, "MODELREG_BRIDGE__ACCESS": "open", "MODELREG_BRIDGE__ENABLED": "true"}
        server = ServeProcess(
            free_port(), "--database-url", f"sqlite:///{db}", env=env, log=tmp_path / f"modelreg-{fmt}.log"
        )
        servers.append(server.__enter__())
        return server

    yield start
    for server in reversed(servers):
        server.__exit__(None, None, None)


def _bridge_uris(server: ServeProcess) -> list[str]:
    response = httpx.get(f"{server.url}/bridge/list", timeout=5)
    assert response.status_code == 200, f"GET /bridge/list: {response.status_code} {response.text[:200]}"
    uris = response.json()["uris"]
    assert isinstance(uris, list)
    return [str(u) for u in uris]


def _wait_for_uris(server: ServeProcess, count: int, *models: str) -> list[str]:
    """The bridge's URIs once there are ``count`` of them, of exactly the registered ``models``. The count alone
    is not enough: the sync runs behind the writes, and a moment with the archived model still listed and a later
    one not yet listed has the right count (Backstage was then handed a location that soon answered 404)."""
    wanted = {backstage_name(model) for model in models}

    def done(uris: list[str]) -> bool:
        return len(uris) == count and {uri.split("/")[1] for uri in uris} == wanted

    end = time.monotonic() + 5
    uris = _bridge_uris(server)
    while not done(uris) and time.monotonic() < end:
        time.sleep(0.1)
        uris = _bridge_uris(server)
    assert done(uris), (uris, wanted)
    return uris


def _by_kind(entities: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {e["metadata"]["name"]: e for e in entities if e["kind"] == kind}


def test_model_catalog_module_ingests_deployed_models(
    modelreg_factory: Callable[[str], ServeProcess], tmp_path: Path
) -> None:
    server = modelreg_factory("json")
    with httpx.Client(base_url=server.url + API, timeout=10) as api:
        reg = register(api)
        # One JSON document per live version: deployed, undeployed, awkward (the archived model is left out).
        _wait_for_uris(server, 3, DEPLOYED[0], UNDEPLOYED[0], AWKWARD[0])

        host = server.url.removeprefix("http://")
        env = {"MODELREG_URL": server.url, "MODELREG_HOST": host}
        configs = [BACKEND / "app-config.yaml", BACKEND / "app-config.model-catalog.yaml"]
        with BackstageProcess(free_port(), configs, env, tmp_path / "backstage-json.log") as backstage:

            def servers_landed() -> dict[str, dict[str, Any]] | None:
                found = _by_kind(backstage.entities(filter="kind=AiModelServerAPI"), "AiModelServerAPI")
                return found if len(found) >= 2 else None

            started = time.monotonic()
            servers = eventually(servers_landed, "two AiModelServerAPI entities", backstage)
            landed = time.monotonic() - started
            by_url = {e["spec"]["serverUrl"]: e for e in servers.values()}
            assert set(by_url) == {DEPLOYED_URL, AWKWARD_URL}, by_url
            deployed, awkward = by_url[DEPLOYED_URL], by_url[AWKWARD_URL]
            assert deployed["spec"]["models"]["available"] == [backstage_name(*DEPLOYED)]
            assert awkward["spec"]["models"]["available"] == [backstage_name(*AWKWARD)]
            for entity in (deployed, awkward):
                assert entity["apiVersion"] == "backstage.io/v1alpha1"
                assert entity["spec"]["type"] == "ai-model-server"
                assert entity["spec"]["owner"] == "user:alice"
                assert entity["spec"]["requiresApiKey"] is False
                assert "auth-not-required" in entity["metadata"]["tags"]
                annotations = entity["metadata"]["annotations"]
                assert annotations["backstage.io/managed-by-location"] == "ModelCatalogResourceEntityProvider:modelreg"
            # Undeployed and archived models yield no entity through 1.1.0; nothing else was emitted either.
            everything = backstage.entities()
            assert {e["kind"] for e in everything} == {"AiModelServerAPI"}, everything
            assert len(everything) == 2
            assert backstage.processing_errors() == []

            # Archiving a visible model removes its entity on the next provider run.
            _ok(api.patch(f"/registered_models/{reg.models[AWKWARD[0]]}", json={"state": "ARCHIVED"}))
            archived_at = time.monotonic()
            _wait_for_uris(server, 2, DEPLOYED[0], UNDEPLOYED[0])

            def awkward_gone() -> bool:
                urls = {e["spec"]["serverUrl"] for e in backstage.entities(filter="kind=AiModelServerAPI")}
                assert DEPLOYED_URL in urls
                return AWKWARD_URL not in urls

            eventually(awkward_gone, "the archived model's AiModelServerAPI gone", backstage)
            assert backstage.processing_errors() == []
            print(
                f"json: Backstage up in {backstage.startup_seconds:.1f} s, entities in {landed:.1f} s more, "
                f"archived model gone after {time.monotonic() - archived_at:.1f} s"
            )


def test_catalog_info_yaml_as_url_locations(modelreg_factory: Callable[[str], ServeProcess], tmp_path: Path) -> None:
    server = modelreg_factory("yaml")
    with httpx.Client(base_url=server.url + API, timeout=10) as api:
        reg = register(api)
        # A second version of the deployed model, archived later while Backstage watches.
        extra = _ok(
            api.post(
                f"/registered_models/{reg.models[DEPLOYED[0]]}/versions",
                json={"name": "v2", "registeredModelId": reg.models[DEPLOYED[0]]},
            )
        )
        # One catalog-info.yaml per live registered model: deployed, undeployed, awkward.
        uris = _wait_for_uris(server, 3, DEPLOYED[0], UNDEPLOYED[0], AWKWARD[0])
        locations = [{"type": "url", "target": f"{server.url}/bridge{uri}"} for uri in uris]
        extra_config = tmp_path / "app-config.locations.yaml"
        extra_config.write_text(yaml.safe_dump({"catalog": {"locations": locations}}))

        host = server.url.removeprefix("http://")
        env = {"MODELREG_URL": server.url, "MODELREG_HOST": host}
        configs = [BACKEND / "app-config.yaml", extra_config]
        with BackstageProcess(free_port(), configs, env, tmp_path / "backstage-yaml.log") as backstage:
            resources_expected = {backstage_name(*v) for v in (DEPLOYED, UNDEPLOYED, AWKWARD)}
            resources_expected.add(backstage_name(DEPLOYED[0], "v2"))
            components_expected = {backstage_name(m) for m, _ in (DEPLOYED, UNDEPLOYED, AWKWARD)}

            def all_landed() -> list[dict[str, Any]] | None:
                entities = backstage.entities()
                ok = (
                    set(_by_kind(entities, "Resource")) >= resources_expected
                    and set(_by_kind(entities, "Component")) >= components_expected
                    and len(_by_kind(entities, "API")) >= 2
                )
                return entities if ok else None

            started = time.monotonic()
            entities = eventually(all_landed, "the Components, Resources and APIs", backstage)
            landed = time.monotonic() - started
            resources, components = _by_kind(entities, "Resource"), _by_kind(entities, "Component")
            apis = _by_kind(entities, "API")
            assert set(resources) == resources_expected
            assert set(components) == components_expected
            assert len(apis) == 2
            assert {link["url"] for a in apis.values() for link in a["metadata"].get("links", [])} >= {
                DEPLOYED_URL,
                AWKWARD_URL,
            }
            archived_names = {backstage_name(ARCHIVED[0]), backstage_name(*ARCHIVED)}
            assert not archived_names & {e["metadata"]["name"] for e in entities}
            for entity in entities:
                if entity["kind"] in ("Component", "Resource", "API"):
                    assert entity["spec"]["owner"] in ("user:alice", "alice"), entity
            # Every relation target exists: Backstage resolved the refs the documents declare.
            refs = {f"{e['kind']}:default/{e['metadata']['name']}".lower() for e in entities}
            for entity in entities:
                for relation in entity.get("relations", []):
                    if relation["type"] in ("dependsOn", "dependencyOf", "providesApi", "apiProvidedBy"):
                        assert relation["targetRef"].lower() in refs, (entity["metadata"]["name"], relation)
            assert backstage.processing_errors() == []

            # Archiving a version drops its Resource from the document; at the location's next refresh it is orphaned.
            _ok(api.patch(f"/model_versions/{extra['id']}", json={"state": "ARCHIVED"}))
            archived_at = time.monotonic()
            gone = backstage_name(DEPLOYED[0], "v2")

            def version_orphaned_or_gone() -> bool:
                resources = _by_kind(backstage.entities(filter="kind=Resource"), "Resource")
                assert backstage_name(*DEPLOYED) in resources
                if gone not in resources:
                    return True
                # Backstage marks an entity its location no longer emits as an orphan at once, but deletes orphans
                # only in a cleanup task that runs every 30 s (not configurable), so accept the mark.
                return resources[gone]["metadata"].get("annotations", {}).get("backstage.io/orphan") == "true"

            eventually(version_orphaned_or_gone, "the archived version's Resource orphaned", backstage)
            assert backstage.processing_errors() == []
            print(
                f"yaml: Backstage up in {backstage.startup_seconds:.1f} s, entities in {landed:.1f} s more, "
                f"archived version orphaned after {time.monotonic() - archived_at:.1f} s"
            )

"""Issue 14 item 4, end to end: URLs with credentials registered through the registry API never reach `/bridge`,
in the JSON format, the YAML format or the model cards, while the rest of each URL does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import ServerThread
from modelreg.app import create_app
from modelreg.db.database import Database
from modelreg.settings import BridgeSettings, Settings

from .fixtures import cprops
from .test_location_service import eventually
from .test_normalize import LEAKY_MODEL_PROPS, LEAKY_SERVICE_URL, LEAKY_URIS, LEAKY_VERSION_PROPS

README = "Weights: https://hf:s3cr3t-readme@huggingface.co/org/mnist?download=1&hf_token=s3cr3t-readme-token"
DEADLINE = 5.0  # generous: this test is about what is published, test_location_service about how fast


@pytest.fixture
def yaml_server(database: Database, tmp_path: Path) -> Iterator[ServerThread]:
    """A second server on the session database publishing catalog-info.yaml."""
    settings = Settings(database_url=database.url, data_dir=tmp_path, bridge=BridgeSettings(format="yaml"))
    with ServerThread(create_app(settings, database)) as running:
        yield running


def created(response: httpx.Response) -> str:
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def register_leaky_version(api: httpx.Client) -> None:
    """A deployed version whose every URL-bearing field, written through the registry API, holds a credential."""
    model = {
        "name": "mnist",
        "description": "Mirrored at https://bob:s3cr3t-description@files.example.com/mnist.",
        "readme": README,
        "customProperties": cprops(LEAKY_MODEL_PROPS),
    }
    model_id = created(api.post("/registered_models", json=model))
    version = {"name": "v1", "registeredModelId": model_id, "customProperties": cprops(LEAKY_VERSION_PROPS)}
    version_id = created(api.post("/model_versions", json=version))
    for name, uri in LEAKY_URIS.items():
        artifact = {"artifactType": "model-artifact", "name": name, "uri": uri, "description": f"also at {uri}"}
        created(api.post(f"/model_versions/{version_id}/artifacts", json=artifact))
    environment_id = created(api.post("/serving_environments", json={"name": "team-ns"}))
    service = {
        "name": "mnist-v1",
        "registeredModelId": model_id,
        "modelVersionId": version_id,
        "servingEnvironmentId": environment_id,
        "customProperties": cprops({"url": LEAKY_SERVICE_URL}),
    }
    created(api.post("/inference_services", json=service))


def published(base: str, path: str) -> httpx.Response:
    response = httpx.get(f"{base}/bridge{path}", timeout=10)
    assert response.status_code == 200, (path, response.text)
    return response


def listed(base: str) -> list[str]:
    return published(base, "/list").json()["uris"]  # type: ignore[no-any-return]


def test_registry_credentials_never_reach_the_bridge(
    api: httpx.Client, server: ServerThread, yaml_server: ServerThread, catalog_validator: Callable[[Any], None]
) -> None:
    register_leaky_version(api)

    def deployed() -> httpx.Response | None:
        uris = listed(server.url)
        document = published(server.url, uris[0]) if uris else None
        return document if document is not None and "modelServer" in document.json() else None

    document = eventually(deployed, "the deployed version on /bridge", DEADLINE)
    body = document.json()
    catalog_validator(body)
    model, api_doc = body["models"][0], body["modelServer"]["API"]
    assert model["artifactLocationURL"] == LEAKY_URIS["nested"].replace("minio:s3cr3t-endpoint@", "")
    assert api_doc["url"] == "https://mnist.apps.example.com/v1/models/mnist"
    assert body["modelServer"]["homepageURL"] == "https://mymodel.example.com/welcome"

    card = published(server.url, "/modelcard?key=" + model["name"])
    assert "https://huggingface.co/org/mnist?download=1" in card.text

    (yaml_uri,) = eventually(lambda: listed(yaml_server.url), "the model on the YAML server's /list", DEADLINE)
    catalog_info = published(yaml_server.url, yaml_uri)
    kinds = sorted(entity["kind"] for entity in yaml.safe_load_all(catalog_info.text))
    assert kinds == ["API", "Component", "Resource"]

    for response in (document, card, catalog_info):
        assert "s3cr3t" not in response.text, response.text

"""POST /sources/preview: multipart config (+ catalogData), filterStatus, paging; a developer may call it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api_catalog.conftest import PREFIX, CatalogServer
from api_catalog.test_models import bad, ok

CONFIG = b"""type: yaml
includedModels: ["ibm-granite/*", "meta-llama/*"]
excludedModels: ["*-draft"]
"""
CATALOG = b"""source: test
models:
  - name: ibm-granite/granite-3.0-8b-instruct
  - name: ibm-granite/granite-3.0-2b-draft
  - name: meta-llama/Llama-2-7b-hf
  - name: mistralai/Mistral-7B
"""


@pytest.fixture
def dev(loaded: CatalogServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {loaded.developer_token}"}
    with httpx.Client(base_url=f"{loaded.url}{PREFIX}", headers=headers, timeout=30) as client:
        yield client


def preview(
    client: httpx.Client, config: bytes | None = CONFIG, catalog: bytes | None = CATALOG, **params: Any
) -> httpx.Response:
    files = {}
    if config is not None:
        files["config"] = ("config.yaml", config, "application/yaml")
    if catalog is not None:
        files["catalogData"] = ("catalog.yaml", catalog, "application/yaml")
    return client.post("/sources/preview", files=files or {"other": ("x", b"x")}, params=params)


def test_preview_lists_every_model_with_its_status(dev: httpx.Client) -> None:
    body = ok(preview(dev))
    assert body["items"] == [
        {"name": "ibm-granite/granite-3.0-8b-instruct", "included": True},
        {"name": "ibm-granite/granite-3.0-2b-draft", "included": False},
        {"name": "meta-llama/Llama-2-7b-hf", "included": True},
        {"name": "mistralai/Mistral-7B", "included": False},
    ]
    assert body["summary"] == {"totalModels": 4, "includedModels": 2, "excludedModels": 2}
    assert (body["size"], body["pageSize"], body["nextPageToken"]) == (4, 10, "")


def test_filter_status_and_paging(dev: httpx.Client) -> None:
    included = ok(preview(dev, filterStatus="included"))
    assert [i["name"] for i in included["items"]] == ["ibm-granite/granite-3.0-8b-instruct", "meta-llama/Llama-2-7b-hf"]
    assert included["summary"]["totalModels"] == 4  # the summary counts before filterStatus
    excluded = ok(preview(dev, filterStatus="excluded", pageSize=1))
    assert [i["name"] for i in excluded["items"]] == ["ibm-granite/granite-3.0-2b-draft"]
    rest = ok(preview(dev, filterStatus="excluded", pageSize=1, nextPageToken=excluded["nextPageToken"]))
    assert ([i["name"] for i in rest["items"]], rest["nextPageToken"]) == (["mistralai/Mistral-7B"], "")
    bad(preview(dev, filterStatus="all", nextPageToken=excluded["nextPageToken"]), "invalid nextPageToken")


def test_config_as_a_multipart_field_without_a_file_name(dev: httpx.Client) -> None:
    response = dev.post("/sources/preview", files={"config": (None, CONFIG), "catalogData": (None, CATALOG)})
    assert ok(response)["summary"]["includedModels"] == 2


def test_bad_previews(dev: httpx.Client) -> None:
    bad(preview(dev, config=None), "config is required")
    bad(preview(dev, filterStatus="some"), "filterStatus")
    bad(preview(dev, pageSize="0"), "pageSize must be at least 1, got 0")
    assert preview(dev, config=b"type: hf\nincludedModels: ['']\n").status_code == 422
    assert preview(dev, config=b": : :").status_code == 422
    assert preview(dev, catalog=b"models: [").status_code == 422
    assert preview(dev, catalog=None).status_code == 422  # neither catalogData nor yamlCatalogPath
    traversal = b"type: yaml\nproperties:\n  yamlCatalogPath: /etc/passwd\n"
    assert preview(dev, config=traversal, catalog=None).status_code == 422

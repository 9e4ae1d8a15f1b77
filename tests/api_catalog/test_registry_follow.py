"""The catalog's ``registry`` source follows writes made through the registry REST API of a running server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from api.builders import artifact, model, ok, version
from conftest import ServerThread

# seconds: the registry source is told of this process's commits at once, and its latency (target: 1 s) is
# measured by bench/catalog_registry_source.py; this is only a bound for a loaded CI machine (1 s failed there once)
FOLLOW_WITHIN = 10.0


@pytest.fixture
def catalog(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/api/model_catalog/v1alpha1", timeout=30) as client:
        yield client


def registry_models(catalog: httpx.Client) -> dict[str, dict[str, Any]]:
    body = ok(catalog.get("/models", params={"source": "registry", "pageSize": 1000}), 200)
    return {item["name"]: item for item in body["items"]}


def eventually(check: Callable[[], bool], what: str) -> None:
    """Fail when a check that began after the deadline still finds the change missing: what a check sees is the
    catalog of the moment its requests are answered, and under load a check can take longer than the deadline
    itself, so the time it returns says nothing about when the catalog changed."""
    deadline = time.monotonic() + FOLLOW_WITHIN
    while True:
        began = time.monotonic()
        if check():
            return
        if began > deadline:
            raise AssertionError(f"not within {FOLLOW_WITHIN} s: {what}")
        time.sleep(0.02)


def test_registered_models_appear_leave_when_archived_and_come_back(api: httpx.Client, catalog: httpx.Client) -> None:
    eventually(lambda: "follow-me" not in registry_models(catalog), "the emptied registry is followed")
    created = model(api, "follow-me", description="Followed by the catalog", owner="team-a")
    v1 = version(api, created["id"], "v1")
    artifact(api, v1["id"], "weights", uri="s3://models/follow-me/v1")

    def listed_with_uri() -> bool:
        found = registry_models(catalog).get("follow-me")
        if found is None:
            return False
        uris = ok(catalog.get(f"/sources/registry/models/{found['name']}/artifacts"), 200)["items"]
        return found["description"] == "Followed by the catalog" and "s3://models/follow-me/v1" in [
            a.get("uri") for a in uris
        ]

    eventually(listed_with_uri, "the new model is listed with its artifact URI")
    assert registry_models(catalog)["follow-me"]["id"] == created["id"]  # registry models keep their registry id

    ok(api.patch(f"/registered_models/{created['id']}", json={"state": "ARCHIVED"}), 200)
    eventually(lambda: "follow-me" not in registry_models(catalog), "the archived model leaves the catalog")
    missing = catalog.get("/sources/registry/models/follow-me")
    assert missing.status_code == 404, missing.text

    ok(api.patch(f"/registered_models/{created['id']}", json={"state": "LIVE"}), 200)
    eventually(listed_with_uri, "the restored model is back with its artifact")

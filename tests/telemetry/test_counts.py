"""The registry's counts in ``/metrics`` on every database: the one part of the metrics that queries it."""

from __future__ import annotations

import time

import httpx

from conftest import ServerThread
from telemetry.scrape import Samples, scrape, value


def _versions(samples: Samples, state: str, stage: str = "development") -> float:
    return value(samples, "modelreg_model_versions", state=state, stage=stage)


def test_counts_match_what_was_registered(api: httpx.Client, server: ServerThread) -> None:
    models = [api.post("/registered_models", json={"name": f"counted-{i}"}).json()["id"] for i in range(3)]
    versions = [
        api.post("/model_versions", json={"name": f"v{i}", "registeredModelId": models[i % 2]}).json()["id"]
        for i in range(4)
    ]
    archived = api.patch(f"/model_versions/{versions[0]}", json={"state": "ARCHIVED"})
    assert archived.status_code == 200, archived.text
    assert api.patch(f"/registered_models/{models[2]}", json={"state": "ARCHIVED"}).status_code == 200

    expected = {"models": (2, 1), "versions": (3, 1)}  # (LIVE, ARCHIVED)
    deadline = time.monotonic() + 30  # this process's writes show at once; the wait only guards a slow machine
    while True:
        samples = scrape(server.url)
        found = {
            "models": tuple(value(samples, "modelreg_registered_models", state=s) for s in ("LIVE", "ARCHIVED")),
            "versions": (_versions(samples, "LIVE"), _versions(samples, "ARCHIVED")),
        }
        if found == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert found == expected
    assert sum(_versions(samples, "LIVE", stage) for stage in ("staging", "production", "deprecated")) == 0
    assert sum(v for (name, _), v in samples.items() if name == "modelreg_deployments") == 0
    size = value(samples, "modelreg_db_pool_size")
    assert size >= 1 and 0 <= value(samples, "modelreg_db_pool_checked_out") <= size + value(
        samples, "modelreg_db_pool_max_overflow"
    )

"""Two server processes on one database: concurrent creates never duplicate, corrupt or lose anything."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import empty, free_port
from modelreg.db.database import Database
from processes import ServeProcess

PREFIX = "/api/model_registry/v1alpha3"


@pytest.fixture(scope="module")
def servers(
    database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    """Two server processes on the backend's (migrated) database, shared by the module's tests: starting them costs
    more than the tests themselves."""
    logs = tmp_path_factory.mktemp("two-servers")
    with (
        ServeProcess(free_port(), "--database-url", database.url, log=logs / "a.log") as a,
        ServeProcess(free_port(), "--database-url", database.url, log=logs / "b.log") as b,
    ):
        yield a, b


@pytest.fixture
def two_servers(servers: tuple[ServeProcess, ServeProcess], database: Database) -> tuple[ServeProcess, ServeProcess]:
    """The two servers on an emptied registry."""
    empty(database)
    return servers


def _post(url: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}{PREFIX}{path}", json=body, timeout=60)


def test_same_name_created_once(two_servers: tuple[ServeProcess, ServeProcess]) -> None:
    urls = [s.url for s in two_servers] * 10
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda u: _post(u, "/registered_models", {"name": "contested"}), urls))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code not in (201, 409)]
    listed = httpx.get(f"{urls[0]}{PREFIX}/registered_models", timeout=30).json()
    assert [m["name"] for m in listed["items"]] == ["contested"]


def test_same_version_name_created_once(two_servers: tuple[ServeProcess, ServeProcess]) -> None:
    a, b = two_servers
    model_id = _post(a.url, "/registered_models", {"name": "m"}).json()["id"]
    body = {"name": "v1", "registeredModelId": model_id}
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda u: _post(u, "/model_versions", body), [a.url, b.url] * 8))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 15


def test_parallel_distinct_creates_are_all_kept(two_servers: tuple[ServeProcess, ServeProcess]) -> None:
    a, b = two_servers
    model_id = _post(a.url, "/registered_models", {"name": "m"}).json()["id"]
    jobs = [(a.url if i % 2 else b.url, f"v{i}") for i in range(60)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(
            pool.map(lambda j: _post(j[0], "/model_versions", {"name": j[1], "registeredModelId": model_id}), jobs)
        )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == 60
    listed = httpx.get(f"{a.url}{PREFIX}/registered_models/{model_id}/versions?pageSize=1000", timeout=30).json()
    assert sorted(v["name"] for v in listed["items"]) == sorted(name for _, name in jobs)
    assert sorted(v["id"] for v in listed["items"]) == sorted(ids)

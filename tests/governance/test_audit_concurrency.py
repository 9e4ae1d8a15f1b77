"""Two ``modelreg serve`` processes writing to one database at once: the audit chain stays gap-free and valid,
with exactly one record per write (appends from both processes serialise on the chain's head)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import empty, free_port
from modelreg.db.database import Database
from modelreg.services.audit import AuditService
from processes import ServeProcess

pytestmark = pytest.mark.usefixtures("as_system")  # the test reads the trail through the service

THREADS_PER_SERVER = 8
CREATES_PER_THREAD = 20


@pytest.fixture
def two_servers(database: Database, database_url: str, tmp_path: Path) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    empty(database)
    with (
        ServeProcess(free_port(), "--database-url", database_url, log=tmp_path / "a.log") as a,
        ServeProcess(free_port(), "--database-url", database_url, log=tmp_path / "b.log") as b,
    ):
        yield a, b


def _creates(url: str, worker: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=f"{url}/api/model_registry/v1alpha3", timeout=60) as client:
        for i in range(CREATES_PER_THREAD):
            response = client.post("/registered_models", json={"name": f"w{worker}-{i}"})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


def test_concurrent_writes_from_two_processes_keep_the_chain(
    database: Database, two_servers: tuple[ServeProcess, ServeProcess]
) -> None:
    a, b = two_servers
    urls = [server.url for _ in range(THREADS_PER_SERVER) for server in (a, b)]
    workers = list(zip(urls, range(len(urls)), strict=True))
    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        created = [id_ for ids in pool.map(lambda w: _creates(*w), workers) for id_ in ids]
    writes = len(workers) * CREATES_PER_THREAD
    assert len(set(created)) == writes

    svc = AuditService(database)
    result = svc.verify(batch=97)  # batches that do not divide the trail
    assert result.valid, result.first_bad
    assert (result.checked, result.last_seq) == (writes, writes)

    records, token = svc.query(page_size=1000)
    assert token == ""
    assert [r["seq"] for r in records] == list(range(1, writes + 1))
    assert {(r["action"], r["entity_kind"], r["via"]) for r in records} == {("create", "registered_model", "local")}
    assert sorted(r["entity_id"] for r in records) == sorted(int(i) for i in created)

    for server in (a, b):  # the servers' own view of the chain
        body = httpx.get(f"{server.url}/api/governance/v1/audit/verify", timeout=60).json()
        assert (body["valid"], body["checked"], body["lastHash"]) == (True, writes, result.last_hash)

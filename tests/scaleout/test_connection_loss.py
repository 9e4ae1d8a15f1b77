"""The database kills the server's connections mid-load (PostgreSQL ``pg_terminate_backend``, MariaDB ``KILL``), as
a failover, a restart or an operator does: a real ``modelreg serve`` takes reads and registrations from a few client
threads over keep-alive connections while every connection it has to its database is killed, several times.

What must hold (issue 17): reads recover by themselves (a read that lost its connection is retried once on a fresh
one), so every GET is a 200; a write is never retried on a lost connection, so every registration is a 201 or a
503 with the error body that names nothing, never a 500; nothing is half-written: every model answered 201 is stored
once under the id it was given, one answered 503 at most once (its commit may have gone through), no model lacks
its audit record and no record lacks its model, and the chain verifies; once the kills stop, the server answers as
before.

SQLite is left out: it has no connection a server could drop.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from conftest import ADMIN_URLS, BACKENDS, _scratch_database, free_port
from modelreg.db import prepared as prepared_sql
from modelreg.db.database import Database, DatabaseUnavailable
from modelreg.db.tables import audit_log, registered_models
from processes import ServeProcess

PREFIX = "/api/model_registry/v1alpha3"
VERIFY = "/api/governance/v1/audit/verify"
PRELOADED = 6  # models the readers get by id
READERS = 3
WRITERS = 2
KILLS = 5
ANSWERS_BETWEEN_KILLS = 60  # the load's progress awaited before each kill: the pools have live connections again
WAIT = 60  # seconds: a bound on every wait, generous for a loaded 2-core machine
# A read answers 503 only if both its tries lost their connection: the server retries a read once on a fresh
# connection, and a later kill round (ANSWERS_BETWEEN_KILLS answers on, a fraction of a second on a fast machine)
# can take the retry's connection too. So every read 503 must be a request the server logged as retried and then
# as unavailable (``_lost_twice``); a read 503 without its retry fails the test.
RETRIED = "database connection lost"  # the server's info line when it retries a read ("... retrying once")
_REQUEST_ID = re.compile(r"\[request ([0-9a-f]+)\]")
_UNKNOWN_THREAD = 1094  # MariaDB's KILL of a connection that has gone in the meantime


@pytest.fixture(params=["mariadb", "postgresql"])
def server_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param not in BACKENDS:
        pytest.skip(f"{request.param} is not in MODELREG_TEST_BACKENDS")
    yield from _scratch_database(request.param, tmp_path, suffix="_connloss")


@dataclass(frozen=True)
class Answer:
    kind: str  # "get" (by id), "list" or "post"
    target: str  # the path read, or the name registered
    status: int | None  # None: the HTTP connection failed (a crashed worker)
    body: str

    def __str__(self) -> str:
        return f"{self.kind} {self.target}: {self.status} {self.body[:200]}"


class Load:
    """The answers of every client thread; the killer waits on their count (a condition, not a sleep)."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self._changed = threading.Condition()

    def record(self, kind: str, target: str, send: Callable[[], httpx.Response]) -> None:
        try:
            response = send()
            answer = Answer(kind, target, response.status_code, response.text)
        except httpx.TransportError as exc:
            answer = Answer(kind, target, None, f"{type(exc).__name__}: {exc}")
        with self._changed:
            self.answers.append(answer)
            self._changed.notify_all()

    def advance(self, count: int) -> None:
        """Wait until ``count`` more answers have come in."""
        with self._changed:
            target = len(self.answers) + count
            assert self._changed.wait_for(lambda: len(self.answers) >= target, timeout=WAIT), "the load stalled"

    def of(self, *kinds: str) -> list[Answer]:
        return [a for a in self.answers if a.kind in kinds]


def _reader(load: Load, url: str, ids: list[str], offset: int) -> None:
    """GETs the preloaded models by id, and every fourth request a page of the list."""
    with httpx.Client(base_url=f"{url}{PREFIX}", timeout=WAIT) as client:
        for i in itertools.count(offset):
            if load.stop.is_set():
                return
            if i % 4:
                path = f"/registered_models/{ids[i % len(ids)]}"
                load.record("get", path, functools.partial(client.get, path))
            else:
                load.record(
                    "list", "/registered_models", functools.partial(client.get, "/registered_models?pageSize=20")
                )


def _writer(load: Load, url: str, writer: int) -> None:
    """Registers models with names of its own, back to back."""
    with httpx.Client(base_url=f"{url}{PREFIX}", timeout=WAIT) as client:
        for i in itertools.count():
            if load.stop.is_set():
                return
            name = f"load-{writer}-{i}"
            load.record("post", name, functools.partial(client.post, "/registered_models", json={"name": name}))


class Killer:
    """Kills every connection to ``database`` from an administrative connection to another database."""

    def __init__(self, backend: str, database: str) -> None:
        self.backend, self.database = backend, database
        self.engine = create_engine(ADMIN_URLS[backend], isolation_level="AUTOCOMMIT")
        self.conn: Connection = self.engine.connect()

    def kill(self) -> int:
        """Kill them all; return how many there were."""
        if self.backend == "postgresql":
            killed = self.conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": self.database},
            )
            return sum(1 for (done,) in killed if done)
        ids = self.conn.execute(
            text("SELECT id FROM information_schema.processlist WHERE db = :db AND id <> CONNECTION_ID()"),
            {"db": self.database},
        ).scalars()
        count = 0
        for id_ in list(ids):
            try:
                self.conn.execute(text(f"KILL CONNECTION {int(id_)}"))
                count += 1
            except DBAPIError as exc:  # closed between the list and the kill
                if exc.orig is None or exc.orig.args[0] != _UNKNOWN_THREAD:
                    raise
        return count

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def _unavailable(answer: Answer, database: str) -> bool:
    """A 503 with the Kubeflow error body, saying the database is unavailable and naming nothing."""
    if answer.status != 503:
        return False
    try:
        body = json.loads(answer.body)
    except json.JSONDecodeError:
        return False
    message = str(body.get("message", "")).lower() if isinstance(body, dict) else ""
    return (
        isinstance(body, dict)
        and set(body) == {"code", "message"}
        and body["code"] == "Service Unavailable"
        and "unavailable" in message
        and "try again later" in message
        and database not in message
        and "127.0.0.1" not in message
    )


def _lost_twice(log: str) -> set[str]:
    """Ids of the requests the server retried as reads and then answered as unavailable: both tries lost their
    connection."""
    retried: set[str] = set()
    twice: set[str] = set()
    for line in log.splitlines():
        found = _REQUEST_ID.search(line)
        if found is None:
            continue
        if RETRIED in line and "retrying once" in line:
            retried.add(found.group(1))
        elif "unavailable" in line and found.group(1) in retried:
            twice.add(found.group(1))
    return twice


def _exceptions(log: str) -> Counter[str]:
    """The exceptions a server log names (the last line of each traceback), for the summary and failures."""
    return Counter(match[:160] for match in re.findall(r"^(?:\w+\.)*\w+(?:Error|Exception)\b.*$", log, re.M))


def _stored(database_url: str) -> tuple[list[tuple[str, str]], Counter[str], list[str]]:
    """The models (name, id), the create records of models by entity id, and the other records' actions."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            models = [
                (name, str(id_)) for id_, name in conn.execute(select(registered_models.c.id, registered_models.c.name))
            ]
            records = conn.execute(select(audit_log.c.action, audit_log.c.entity_kind, audit_log.c.entity_id)).all()
    finally:
        engine.dispose()
    creates = Counter(str(r.entity_id) for r in records if (r.action, r.entity_kind) == ("create", "registered_model"))
    others = [
        f"{r.action} {r.entity_kind}" for r in records if r.entity_kind == "registered_model" and r.action != "create"
    ]
    return models, creates, others


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_database_connections_under_load(server_database: str, workers: int, tmp_path: Path) -> None:
    url = make_url(server_database)
    database = str(url.database)
    backend = "postgresql" if url.get_backend_name() == "postgresql" else "mariadb"
    log = tmp_path / "serve.log"
    args = ["--database-url", server_database, "--workers", str(workers), "--log-level", "info"]  # retries logged
    load = Load()
    kills: list[int] = []
    with ServeProcess(free_port(), *args, env={"MODELREG_DATA_DIR": str(tmp_path)}, log=log) as server:
        with httpx.Client(base_url=f"{server.url}{PREFIX}", timeout=WAIT) as client:
            ids = [
                client.post("/registered_models", json={"name": f"preloaded-{n}"}).raise_for_status().json()["id"]
                for n in range(PRELOADED)
            ]
        threads = [
            *(threading.Thread(target=_reader, args=(load, server.url, ids, n), daemon=True) for n in range(READERS)),
            *(threading.Thread(target=_writer, args=(load, server.url, n), daemon=True) for n in range(WRITERS)),
        ]
        killer = Killer(backend, database)
        try:
            for thread in threads:
                thread.start()
            for _ in range(KILLS):
                load.advance(ANSWERS_BETWEEN_KILLS)
                kills.append(killer.kill())
            load.advance(ANSWERS_BETWEEN_KILLS)  # the load goes on after the last kill
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(timeout=WAIT)
            killer.close()

        # Once the kills have stopped, the server answers as before: on new HTTP connections (with two workers, the
        # kernel hands them to either) a registration, a read of it, and a verified audit chain.
        after = []
        for n in range(2 * workers):
            created = httpx.post(f"{server.url}{PREFIX}/registered_models", json={"name": f"after-{n}"}, timeout=WAIT)
            assert created.status_code == 201, created.text
            read = httpx.get(f"{server.url}{PREFIX}/registered_models/{created.json()['id']}", timeout=WAIT)
            assert read.status_code == 200, read.text
            after.append((f"after-{n}", created.json()["id"]))
        verify = httpx.get(f"{server.url}{VERIFY}", timeout=WAIT)
        assert verify.status_code == 200, verify.text
        assert server.proc is not None and server.proc.poll() is None, log.read_text()
    output = log.read_text()
    exceptions, retried = _exceptions(output), output.count(RETRIED)
    reads, posts = load.of("get", "list"), load.of("post")
    refused = [a for a in reads if a.status == 503]
    accepted = {a.target: json.loads(a.body)["id"] for a in posts if a.status == 201}
    unavailable = {a.target for a in posts if a.status == 503}
    models, creates, others = _stored(server_database)
    stored = dict(models)
    committed = len(unavailable & set(stored))
    print(
        f"{backend} workers={workers}: kills {kills}; {len(reads)} reads ({retried} retried, {len(refused)} 503); "
        f"{len(posts)} registrations: {len(accepted)} 201, {len(unavailable)} 503 ({committed} committed); "
        f"exceptions in the server log: {dict(exceptions)}"
    )

    assert kills and all(kills), f"a kill found no connection of the server: {kills}"
    failed = [str(a) for a in load.answers if a.status is None or (a.status >= 500 and a.status != 503)]
    assert not failed, f"answers neither a success nor a 503 ({log}):\n" + "\n".join(failed[:20])

    not_ok = [str(a) for a in reads if a.status != 200]
    lost_twice = _lost_twice(output)
    assert len(refused) <= len(lost_twice) and len(not_ok) == len(refused), (
        f"{len(not_ok)} of {len(reads)} reads not answered 200, {len(lost_twice)} lost their connection on both "
        "tries:\n" + "\n".join(not_ok[:20])
    )
    wrong = [str(a) for a in posts if a.status != 201 and not _unavailable(a, database)]
    assert not wrong, "registrations neither 201 nor a clear 503:\n" + "\n".join(wrong[:20])

    names = Counter(name for name, _ in models)
    assert [name for name, count in names.items() if count > 1] == []
    lost = {name: id_ for name, id_ in accepted.items() if stored.get(name) != id_}
    assert not lost, f"registrations answered 201 but not stored under their id: {lost}"
    sent = accepted.keys() | unavailable | {f"preloaded-{n}" for n in range(PRELOADED)} | {n for n, _ in after}
    assert set(stored) <= sent, f"models nobody registered: {sorted(set(stored) - sent)}"

    # nothing half-written: one create record per model, none for a model that is not there
    assert creates == Counter(id_ for _, id_ in models), (
        sorted(set(creates) ^ {id_ for _, id_ in models}),
        [id_ for id_, count in creates.items() if count > 1],
    )
    assert others == [], others
    body = verify.json()
    assert body["valid"] is True, body
    assert body["checked"] >= len(models), body


def test_every_error_of_a_killed_connection_is_recognised_as_lost(server_database: str) -> None:
    """Below the server: readers of one `Database` while a killer ends every session of its database every few
    milliseconds (connections are killed while idle in the pool, mid-query, and while connecting). Each failure
    must be one that `retry_read` retries: an error marked ``connection_invalidated`` or an unavailable database
    marked ``lost``. PostgreSQL's "terminating connection" raised before psycopg had marked the connection broken
    went unrecognised (a read answered 503 without its retry; the CI run of 2026-12-06), and a replacement
    connection killed before its checkout ended in SQLAlchemy's "This connection is closed" (a 500)."""
    url = make_url(server_database)
    backend = "postgresql" if url.get_backend_name() == "postgresql" else "mariadb"
    db = Database(server_database, log_unavailable=False)
    killer = Killer(backend, str(url.database))
    stop = threading.Event()
    failures: list[BaseException] = []
    reads = itertools.count()

    def kill() -> None:
        while not stop.is_set():
            killer.kill()
            stop.wait(0.002)

    def read(n: int) -> None:
        table = select(text("1 AS one"))  # through the driver cursor (repository reads) and SQLAlchemy's execute
        while not stop.is_set():
            try:
                with db.read() as conn:
                    if n % 2:
                        assert prepared_sql.fetch(conn, table, {})[1] == [[1]]
                    else:
                        assert conn.execute(text("SELECT 1")).scalar() == 1
                next(reads)
            except Exception as exc:  # every failure is judged below
                failures.append(exc)

    threads = [threading.Thread(target=kill), *(threading.Thread(target=read, args=(n,)) for n in range(4))]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10  # MariaDB's killer (a KILL per session) is the slower: ~20 failures/s
        while len(failures) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)
        killer.close()
        db.dispose()

    def recognised(exc: BaseException) -> bool:
        if isinstance(exc, DBAPIError):
            return exc.connection_invalidated
        return isinstance(exc, DatabaseUnavailable) and exc.lost

    unrecognised = Counter(f"{type(e).__name__}: {str(e).splitlines()[0][:120]}" for e in failures if not recognised(e))
    assert len(failures) >= 50, f"the killer hit too few reads to judge: {len(failures)} failures, {next(reads)} reads"
    assert not unrecognised, f"of {len(failures)} failures, not recognised as a lost connection: {dict(unrecognised)}"

"""Deliveries across real ``modelreg serve`` processes: a server killed (SIGKILL) while a receiver holds one of its
deliveries leaves it pending, and the server started after it delivers that one and the rest, so the receiver
gets every audit sequence number of the writes made (at least once); two servers on one database deliver each
event once per webhook (the lease ``events``: one relays and sends, the other stands by)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from conftest import BACKENDS, _scratch_database, free_port
from events.conftest import LOCAL_EVENTS, add_webhook, event_seqs_in_audit
from events.receivers import HANG, Receiver, Request
from modelreg.db.database import Database
from modelreg.db.tables import webhook_deliveries, webhooks
from modelreg.services.secrets import SecretBox, generate_key
from processes import ServeProcess, stop_process

MODELS = "/api/model_registry/v1alpha3/registered_models"


def server_env(key: str, data_dir: Path, **events: object) -> dict[str, str]:
    settings = {**LOCAL_EVENTS, **events}
    env = {f"MODELREG_EVENTS__{name.upper()}": str(value) for name, value in settings.items()}
    env["MODELREG_EVENTS__ALLOWED_NETWORKS"] = ",".join(LOCAL_EVENTS["allowed_networks"])  # type: ignore[arg-type]
    return {**env, "MODELREG_STORAGE__SECRET_KEY": key, "MODELREG_DATA_DIR": str(data_dir)}


def write_models(server: ServeProcess, names: list[str]) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for name in names:
            response = client.post(MODELS, json={"name": name})
            assert response.status_code == 201, response.text


@pytest.fixture
def server_database(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL or MariaDB when one is reachable (what several replicas share), else a SQLite file."""
    for backend in ("postgresql", "mariadb"):
        if backend not in BACKENDS:
            continue
        scratch = _scratch_database(backend, tmp_path, suffix="_events_procs")
        try:
            url = next(scratch)
        except pytest.skip.Exception:
            continue
        yield url
        scratch.close()
        return
    yield f"sqlite:///{tmp_path / 'registry.db'}"


def test_a_server_killed_mid_delivery_leaves_nothing_undelivered(tmp_path: Path, receiver: Receiver) -> None:
    seen: list[str] = []

    def script(request: Request, attempt: int) -> int | str:
        if request.msg_id not in seen:
            seen.append(request.msg_id)
        return HANG if seen.index(request.msg_id) == 2 and attempt == 1 else 200  # the third event's first try

    receiver.script(script)
    key, url = generate_key(), f"sqlite:///{tmp_path / 'registry.db'}"
    db: Database | None = None
    try:
        with ServeProcess(free_port(), "--database-url", url, env=server_env(key, tmp_path / "a")) as first:
            db = Database(url)
            add_webhook(db, SecretBox.from_key(key), receiver.url)
            [since_seq] = since_seqs(db)
            write_models(first, [f"before-{n}" for n in range(6)])
            receiver.wait_for(lambda got: any(r.answer == HANG for r in got.requests))
            assert first.proc is not None
            first.proc.kill()  # SIGKILL: no stop, no lease release, the delivery in flight
            first.proc.wait()
        with ServeProcess(free_port(), "--database-url", url, env=server_env(key, tmp_path / "b")) as second:
            write_models(second, [f"after-{n}" for n in range(4)])
            expected = set(event_seqs_in_audit(db, since_seq))
            assert len(expected) == 10
            got = receiver.wait_for(lambda got: set(got.delivered()) == expected, timeout=60)
        hung = seen[2]
        assert [r.answer for r in got.attempts(hung)][:2] == [HANG, 200]
    finally:
        if db is not None:
            db.dispose()


def test_two_servers_deliver_each_event_once_per_webhook(server_database: str, tmp_path: Path) -> None:
    key = generate_key()
    # the default lease: on a loaded machine a two-second one could pass to the other server mid-delivery
    servers = [
        ServeProcess(
            free_port(), "--database-url", server_database, env=server_env(key, tmp_path / n, lease_seconds=15)
        )
        for n in ("a", "b")
    ]
    db = Database(server_database)
    try:
        with Receiver() as one, Receiver() as two, ExitStack() as running:
            for server in servers:
                running.callback(lambda s=server: s.proc and stop_process(s.proc))
            with ThreadPoolExecutor(2) as pool:  # both start at once, as replicas do
                list(pool.map(ServeProcess.__enter__, servers))
            box = SecretBox.from_key(key)
            add_webhook(db, box, one.url, name="one")
            add_webhook(db, box, two.url, name="two")
            since_seq = min(since_seqs(db))
            names = [f"m{n}" for n in range(24)]
            with ThreadPoolExecutor(4) as pool:
                list(
                    pool.map(
                        write_models, itertools.islice(itertools.cycle(servers), 4), [names[n::4] for n in range(4)]
                    )
                )
            expected = set(event_seqs_in_audit(db, since_seq))
            assert len(expected) == 24
            for receiver in (one, two):
                receiver.wait_for(lambda got: set(got.delivered()) == expected, timeout=60)
            with ThreadPoolExecutor(2) as pool:  # each finishes what it has in flight
                list(pool.map(stop_process, [server.proc for server in servers]))
            counts = [Counter(r.msg_id for r in receiver.received().requests) for receiver in (one, two)]
        assert counts == [Counter(expected), Counter(expected)]  # everything, each once
        with db.read() as conn:
            rows = conn.execute(select(webhook_deliveries.c.state, webhook_deliveries.c.attempts)).all()
        assert Counter(map(tuple, rows)) == Counter({("delivered", 1): 48})
    finally:
        db.dispose()


def since_seqs(db: Database) -> list[int]:
    with db.read() as conn:
        return [int(s) for s in conn.execute(select(webhooks.c.since_seq)).scalars()]

"""The event worker against a real receiver: a delivery signed as documented (checked with the receiver's own ten
lines), retried after a 500, a timeout or a dropped connection, in order per entity while other entities go on,
given up after ``retry_for_seconds``, a webhook paused after repeated failures and delivering its queue once
resumed, and a stop that leaves an unfinished attempt pending for the next worker (at least once)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update

from conftest import SQLITE_ONLY, empty
from events.conftest import add_webhook, event_seqs_in_audit
from events.receivers import CLOSE, HANG, Receiver, Request
from events.test_signing import receivers_own_check
from modelreg.db.database import Database
from modelreg.db.tables import webhook_deliveries, webhooks
from modelreg.events import signing
from modelreg.events.webhooks import WebhookService
from modelreg.events.worker import EventWorker
from modelreg.services import entities as e
from modelreg.services.registry import RegistryService
from modelreg.services.secrets import SecretBox
from modelreg.settings import EventsSettings

pytestmark = [pytest.mark.usefixtures("as_system"), getattr(pytest.mark, SQLITE_ONLY)("the worker's logic")]
_d = webhook_deliveries.c
Worker = Callable[..., EventWorker]


@pytest.fixture
def db(sqlite_events_database: Database) -> Database:
    empty(sqlite_events_database)
    return sqlite_events_database


@pytest.fixture
def worker(db: Database, secret_box: SecretBox, events_settings: EventsSettings) -> Iterator[Worker]:
    """Start an event worker with the test settings changed by keyword arguments; stopped after the test."""
    started: list[EventWorker] = []

    def start(**changes: Any) -> EventWorker:
        running = EventWorker(db, secret_box, events_settings.model_copy(update=changes))
        running.start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def deliveries(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [dict(r) for r in conn.execute(select(webhook_deliveries).order_by(_d.seq)).mappings()]


def webhook(db: Database, id_: int) -> dict[str, Any]:
    with db.read() as conn:
        return dict(conn.execute(select(webhooks).where(webhooks.c.id == id_)).mappings().one())


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)


def model(db: Database, name: str) -> int:
    return int(RegistryService(db).create(e.REGISTERED_MODEL, {"name": name}, {}).row["id"])


def rename(db: Database, id_: int, description: str) -> None:
    RegistryService(db).update(e.REGISTERED_MODEL, id_, {"description": description}, None)


def test_a_delivery_is_signed_as_documented_and_recorded(
    db: Database, secret_box: SecretBox, receiver: Receiver, worker: Worker
) -> None:
    hook, secret = add_webhook(db, secret_box, receiver.url)
    running = worker()
    model(db, "fraud")
    got = receiver.wait_for(lambda got: len(got.delivered()) == 1).requests[0]
    assert running.wait_idle(10)

    assert receivers_own_check(secret, got.headers, got.body)
    assert signing.verify(secret, got.headers, got.body)
    assert got.msg_id == event_seqs_in_audit(db)[-1]
    assert got.headers["content-type"] == "application/cloudevents+json"
    assert got.headers["user-agent"].startswith("modelreg/")
    cloud = got.json()
    assert (cloud["id"], cloud["type"]) == (got.msg_id, "io.modelreg.registered_model.created")
    assert cloud["data"]["entity"]["name"] == "fraud"
    [row] = deliveries(db)
    assert (row["webhook_id"], row["state"], row["attempts"], row["status_code"]) == (hook, "delivered", 1, 200)
    assert row["latency_ms"] is not None and row["latency_ms"] >= 0 and row["last_error"] is None
    assert webhook(db, hook)["consecutive_failures"] == 0


@pytest.mark.parametrize("failure", [500, HANG, CLOSE])
def test_a_failed_attempt_is_retried(
    db: Database, secret_box: SecretBox, receiver: Receiver, worker: Worker, failure: int | str
) -> None:
    """A 500, no answer within the delivery timeout, a connection closed without an answer: each fails the
    attempt, and the next one delivers."""
    receiver.script(lambda _request, attempt: failure if attempt <= 2 else 200)
    hook, _ = add_webhook(db, secret_box, receiver.url)
    running = worker(delivery_timeout_seconds=0.3)
    model(db, "fraud")
    got = receiver.wait_for(lambda got: len(got.delivered()) == 1)
    assert [r.answer for r in got.requests] == [failure, failure, 200]
    assert len({r.body for r in got.requests}) == 1  # the same event each time
    assert running.wait_idle(10)
    [row] = deliveries(db)
    assert (row["state"], row["attempts"], row["status_code"], row["last_error"]) == ("delivered", 3, 200, None)
    assert webhook(db, hook)["consecutive_failures"] == 0


def test_failures_are_recorded_with_their_reason(
    db: Database, secret_box: SecretBox, receiver: Receiver, worker: Worker
) -> None:
    receiver.script(lambda _request, _attempt: 503)
    hook, _ = add_webhook(db, secret_box, receiver.url)
    worker(pause_after_failures=1000)
    model(db, "fraud")
    receiver.wait_for(lambda got: len(got.requests) >= 2)
    wait_until(lambda: deliveries(db)[0]["attempts"] >= 2)
    row = deliveries(db)[0]
    assert (row["state"], row["status_code"]) == ("pending", 503)
    assert row["last_error"] == "the receiver answered 503: answer 503"
    assert row["next_attempt_ms"] is not None and row["last_attempt_time"] is not None
    assert webhook(db, hook)["consecutive_failures"] >= 2


def test_events_of_one_entity_wait_for_the_earlier_one_others_go_on(
    db: Database, secret_box: SecretBox, receiver: Receiver, worker: Worker
) -> None:
    failing = threading.Event()
    failing.set()
    first_of_x: list[str] = []

    def script(request: Request, _attempt: int) -> int:
        body = request.json()
        if body["data"]["entity"]["name"] == "x" and (not first_of_x or first_of_x[0] == request.msg_id):
            first_of_x[:] = [request.msg_id]
            return 500 if failing.is_set() else 200
        return 200

    receiver.script(script)
    add_webhook(db, secret_box, receiver.url)
    running = worker(pause_after_failures=1000)
    x = model(db, "x")
    rename(db, x, "second")
    rename(db, x, "third")
    y = model(db, "y")
    rename(db, y, "second")
    x_seqs, y_seqs = event_seqs_in_audit(db)[:3], event_seqs_in_audit(db)[3:]

    got = receiver.wait_for(lambda got: got.delivered() == y_seqs and len(got.attempts(x_seqs[0])) >= 3)
    assert {r.msg_id for r in got.requests} == {x_seqs[0], *y_seqs}  # x's later events wait
    failing.clear()
    got = receiver.wait_for(lambda got: len(got.delivered()) == 5)
    assert [s for s in got.delivered() if s in x_seqs] == x_seqs
    assert all(len(got.attempts(s)) == 1 for s in x_seqs[1:])
    assert running.wait_idle(10)


def test_a_delivery_is_given_up_after_retry_for_seconds_and_its_entity_goes_on(
    db: Database, secret_box: SecretBox, receiver: Receiver, worker: Worker
) -> None:
    doomed: list[str] = []

    def script(request: Request, _attempt: int) -> int:
        doomed[:] = doomed or [request.msg_id]
        return 500 if request.msg_id == doomed[0] else 200

    receiver.script(script)
    add_webhook(db, secret_box, receiver.url)
    running = worker(retry_for_seconds=1, pause_after_failures=1000)
    x = model(db, "x")
    rename(db, x, "later")
    first, later = event_seqs_in_audit(db)
    got = receiver.wait_for(lambda got: got.delivered() == [later])
    assert len(got.attempts(first)) >= 2
    assert running.wait_idle(10)
    states = {str(d["seq"]): d["state"] for d in deliveries(db)}
    assert states == {first: "failed", later: "delivered"}


def test_a_webhook_that_keeps_failing_is_paused_and_delivers_its_queue_when_resumed(
    db: Database, secret_box: SecretBox, receiver: Receiver, worker: Worker, events_settings: EventsSettings
) -> None:
    up = threading.Event()
    receiver.script(lambda _request, _attempt: 200 if up.is_set() else 500)
    hook, _ = add_webhook(db, secret_box, receiver.url)
    running = worker(pause_after_failures=3)
    x = model(db, "x")
    wait_until(lambda: webhook(db, hook)["paused_time"] is not None)
    paused = webhook(db, hook)
    assert paused["consecutive_failures"] == 3
    assert paused["paused_reason"] == "the receiver answered 500: answer 500"
    rename(db, x, "queued")
    model(db, "y")
    assert running.wait_idle(10)  # nothing is due for a paused webhook
    assert len(receiver.received().requests) == 3
    assert [d["state"] for d in deliveries(db)] == ["pending"] * 3

    up.set()
    WebhookService(db, secret_box, events_settings).resume(hook)
    got = receiver.wait_for(lambda got: len(got.delivered()) == 3)
    x_created, x_updated, y_created = event_seqs_in_audit(db)
    assert [s for s in got.delivered() if s != y_created] == [x_created, x_updated]
    assert set(got.delivered()) == {x_created, x_updated, y_created}
    assert running.wait_idle(10)
    assert [d["state"] for d in deliveries(db)] == ["delivered"] * 3


def test_deliveries_parked_for_a_pause_that_is_over_are_sent(
    db: Database, secret_box: SecretBox, receiver: Receiver, worker: Worker
) -> None:
    """A relay that read the webhook paused may commit parked deliveries just after the resume made the others due."""
    hook, _ = add_webhook(db, secret_box, receiver.url, paused_time=1, paused_reason="the receiver answered 500")
    running = worker()
    model(db, "x")
    assert running.wait_idle(10)
    assert [d["next_attempt_ms"] for d in deliveries(db)] == [None] and receiver.received().requests == []
    with db.write() as conn:  # the pause is over, and nothing made the delivery due
        conn.execute(update(webhooks).where(webhooks.c.id == hook).values(paused_time=None, paused_reason=None))
    got = receiver.wait_for(lambda got: len(got.delivered()) == 1)
    assert got.delivered() == event_seqs_in_audit(db)


def test_an_attempt_cut_short_by_a_stop_stays_pending_and_the_next_worker_sends_it(
    db: Database, secret_box: SecretBox, receiver: Receiver, worker: Worker
) -> None:
    receiver.script(lambda _request, attempt: HANG if attempt == 1 else 200)
    add_webhook(db, secret_box, receiver.url)
    first = worker(delivery_timeout_seconds=30)
    model(db, "x")
    receiver.wait_for(lambda got: len(got.requests) == 1)
    stopped = threading.Thread(target=first.stop)
    stopped.start()
    receiver.release()  # the hung answer ends without one: the attempt fails, or is still running at stop
    stopped.join(timeout=60)
    assert deliveries(db)[0]["state"] == "pending"
    second = worker()
    got = receiver.wait_for(lambda got: len(got.delivered()) == 1)
    assert got.delivered() == event_seqs_in_audit(db)
    assert second.wait_idle(10)
    assert orjson.loads(got.requests[-1].body)["id"] == event_seqs_in_audit(db)[0]

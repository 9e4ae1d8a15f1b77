"""`WebhookService`'s rules: only admins (reads included), validation with messages that name the problem, the
secret shown once and never audited, renames and rotation keeping deliveries verifiable, resume, deliveries pages,
and a test delivery to a real receiver that checks the signature. The rules are checked on SQLite; the queries
(pages, cascade, the audit head) on every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import insert, select, update

from conftest import empty
from events.receivers import Receiver, Request
from modelreg.auth import context
from modelreg.auth.principal import Identity, Principal, Role
from modelreg.db.database import Database
from modelreg.db.tables import audit_log, webhook_deliveries, webhooks
from modelreg.errors import Conflict, Forbidden, InvalidInput, MissingField, NotFound
from modelreg.events import signing
from modelreg.events.webhooks import WebhookService
from modelreg.services.audit import stage
from modelreg.services.secrets import SecretBox, generate_key
from modelreg.settings import EventsSettings

LOCAL = EventsSettings(allow_http=True, allowed_networks=["127.0.0.0/8"])
BOX = SecretBox.from_key(generate_key())


def _service(db: Database) -> Iterator[WebhookService]:
    empty(db)
    with context.acting_as(context.system("tests")):
        yield WebhookService(db, BOX, LOCAL)


@pytest.fixture
def svc(sqlite_events_database: Database) -> Iterator[WebhookService]:
    """For the rules: on SQLite (tests/events/conftest.py: a database no server's event worker delivers from)."""
    yield from _service(sqlite_events_database)


@pytest.fixture
def db_svc(events_database: Database) -> Iterator[WebhookService]:
    """For the queries: on every backend."""
    yield from _service(events_database)


def _last(receiver: Receiver) -> Request:
    return receiver.received().requests[-1]


def _signed(request: Request, secret: str) -> bool:
    """The docs' recipe: the Standard Webhooks signature of the body, checked with ``secret``."""
    return signing.verify(secret, request.headers, request.body)


def _as(role: Role) -> context.CallContext:
    return context.CallContext(Principal(Identity(f"ai-{role.value}"), frozenset({role})))


def _audit(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(audit_log.c.action, audit_log.c.entity_name, audit_log.c.changes)
                .where(audit_log.c.entity_kind == "webhook")
                .order_by(audit_log.c.seq)
            ).all()
        )


def _deliveries(db: Database, webhook_id: int, count: int, **values: Any) -> None:
    rows = [
        {
            "webhook_id": webhook_id,
            "seq": 1000 + n,
            "entity_key": f"model_version:{n % 2}",
            "event_type": "io.modelreg.model_version.created",
            "state": "pending",
            "attempts": 0,
            "next_attempt_ms": 4_000_000_000_000,
            "create_time": 1_700_000_000_000 + n,
            **values,
        }
        for n in range(count)
    ]
    with db.write() as conn:
        conn.execute(insert(webhook_deliveries), rows)


def test_viewers_and_developers_are_refused_everything(svc: WebhookService) -> None:
    hook, _ = svc.create("ci", "https://ci.example.com/hooks")
    calls: list[Callable[[], Any]] = [
        lambda: svc.create("other", "https://ci.example.com/hooks"),
        svc.list,
        lambda: svc.get(hook.id),
        lambda: svc.update(hook.id, active=False),
        lambda: svc.delete(hook.id),
        lambda: svc.rotate_secret(hook.id),
        lambda: svc.resume(hook.id),
        lambda: svc.test(hook.id),
        lambda: svc.deliveries(hook.id),
    ]
    for role in (Role.VIEWER, Role.DEVELOPER):
        with context.acting_as(_as(role)):
            for call in calls:
                with pytest.raises(Forbidden, match="lacks the 'manage' permission"):
                    call()
    assert [w.name for w in svc.list()] == ["ci"] and svc.get("ci").active
    assert [a.action for a in _audit(svc.db)] == ["create"]


def test_the_secret_is_shown_once_stored_encrypted_and_never_audited(svc: WebhookService) -> None:
    database = svc.db
    hook, secret = svc.create(
        "ci",
        "https://ci.example.com/hooks?token=t0ps3cret&team=a",
        ["io.modelreg.model_version.*", "io.modelreg.upload.committed"],
        model_filter="fraud-*",
        stage_filter="production",
        description="start the rollout",
    )
    assert secret.startswith("whsec_") and len(secret) > 40
    wire = hook.to_dict()
    assert wire["state"] == "active" and wire["eventTypes"] == [
        "io.modelreg.model_version.*",
        "io.modelreg.upload.committed",
    ]
    assert (
        wire["modelFilter"] == "fraud-*" and wire["stageFilter"] == "production" and wire["createdBy"] == "system:tests"
    )
    assert wire["lastDelivery"] is None and "secret" not in wire
    assert svc.get(hook.id) == svc.get("ci") == svc.list()[0]
    _, rotated = svc.rotate_secret("ci")
    assert rotated != secret and rotated.startswith("whsec_")
    with database.read() as conn:
        stored = conn.execute(select(webhooks.c.secret)).scalar_one()
    assert stored.startswith("v1:") and secret not in stored and rotated not in stored
    records = _audit(database)
    assert [r.action for r in records] == ["create", "rotate_secret"]
    for record in records:
        assert secret not in record.changes and rotated not in record.changes
        assert "t0ps3cret" not in record.changes
    after = orjson.loads(records[0].changes)["after"]
    assert after["url"].startswith("https://ci.example.com/hooks?") and "team=a" in after["url"]
    assert after["stageFilter"] == "production" and after["active"] is True


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"name": ""}, MissingField, "'name'"),
        ({"name": " padded"}, InvalidInput, "invalid webhook name"),
        ({"name": "42"}, InvalidInput, "not only digits"),
        ({"url": ""}, MissingField, "'url'"),
        ({"url": "https://ci.example.com/a b"}, InvalidInput, "no spaces"),
        ({"url": "ftp://ci.example.com/"}, InvalidInput, "webhook URL refused"),
        ({"url": "https://bob:pw@ci.example.com/"}, InvalidInput, "webhook URL refused"),
        ({"url": "https://10.1.2.3/hooks"}, InvalidInput, "webhook URL refused"),
        ({"event_types": ["io.modelreg.modle_version.*"]}, InvalidInput, "unknown event type pattern"),
        ({"event_types": ["io.modelreg.webhook.*"]}, InvalidInput, "matches no event type"),
        ({"event_types": []}, InvalidInput, "at least one pattern"),
        ({"event_types": ["io.modelreg.model version"]}, InvalidInput, "invalid event type pattern"),
        ({"stage_filter": "prod"}, InvalidInput, "must be one of development, staging, production, deprecated"),
        ({"model_filter": "a\nb"}, InvalidInput, "invalid modelFilter"),
        ({"description": "x" * 1001}, InvalidInput, "at most 1000 characters"),
    ],
)
def test_bad_fields_are_refused_with_the_reason(
    svc: WebhookService, fields: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments = {"name": "ci", "url": "https://ci.example.com/hooks", **fields}
    name, url = arguments.pop("name"), arguments.pop("url")
    with pytest.raises(error, match=message):
        svc.create(name, url, **arguments)
    assert svc.list() == []


def test_destination_rules_follow_the_settings(svc: WebhookService) -> None:
    database = svc.db
    strict = WebhookService(database, svc.secrets, EventsSettings())
    for url in ("http://ci.example.com/hooks", "https://127.0.0.1:9000/hooks"):
        with pytest.raises(InvalidInput, match="webhook URL refused"):
            strict.create("ci", url)
    listed = WebhookService(database, svc.secrets, EventsSettings(allowed_urls=["https://ci.example.com/hooks"]))
    with pytest.raises(InvalidInput, match="webhook URL refused"):
        listed.create("ci", "https://other.example.com/hooks")
    assert listed.create("ci", "https://ci.example.com/hooks/build")[0].name == "ci"
    assert svc.create("local", "http://127.0.0.1:9000/hooks")[0].url == "http://127.0.0.1:9000/hooks"


def test_names_are_unique_and_refs_are_ids_or_names(svc: WebhookService) -> None:
    hook, _ = svc.create("ci", "https://ci.example.com/hooks")
    with pytest.raises(Conflict, match="a webhook named 'ci' already exists"):
        svc.create("ci", "https://ci.example.com/other")
    svc.create("cd", "https://cd.example.com/hooks")
    with pytest.raises(Conflict, match="'cd' already exists"):
        svc.update("ci", name="cd")
    assert svc.get(str(hook.id)).name == "ci"
    for missing in ("nope", 999_999, "99999999999999999999", "0"):
        with pytest.raises(NotFound, match="no webhook found"):
            svc.get(missing)


def test_update_changes_what_is_given_and_audits_the_difference(svc: WebhookService) -> None:
    database = svc.db
    hook, _ = svc.create("ci", "https://ci.example.com/hooks", model_filter="fraud", stage_filter="staging")
    same = svc.update("ci", url="https://ci.example.com/hooks", model_filter="fraud")
    assert same == svc.get("ci") and [r.action for r in _audit(database)] == ["create"]  # nothing changed
    changed = svc.update("ci", event_types=["io.modelreg.model_version.stage_changed"], model_filter=None, active=False)
    assert changed.event_types == ("io.modelreg.model_version.stage_changed",) and changed.model_filter is None
    assert changed.stage_filter == "staging" and changed.state == "inactive" and changed.url == hook.url
    assert changed.last_update_time >= hook.last_update_time
    record = _audit(database)[-1]
    assert record.action == "update"
    assert orjson.loads(record.changes) == {
        "before": {"active": True, "eventTypes": ["*"], "modelFilter": "fraud"},
        "after": {"active": False, "eventTypes": ["io.modelreg.model_version.stage_changed"], "modelFilter": None},
    }


def test_test_delivery_is_signed_and_recorded(svc: WebhookService, receiver: Receiver) -> None:
    hook, secret = svc.create("ci", f"{receiver.url}?token=abc")
    sent = svc.test("ci")
    assert sent.state == "test" and sent.attempts == 1 and sent.status_code == 200 and sent.last_error is None
    assert sent.delivered_time is not None and sent.latency_ms is not None and sent.seq is None
    (got,) = receiver.received().requests
    assert got.path == "/hook?token=abc" and _signed(got, secret)
    assert got.headers["webhook-id"] == f"test-{sent.id}" == sent.event_id
    assert got.headers["content-type"] == "application/cloudevents+json"
    event = got.json()
    assert event["type"] == "io.modelreg.webhook.test" and event["id"] == f"test-{sent.id}"
    assert event["subject"] == f"webhooks/{hook.id}" and event["data"]["webhook"] == {"id": str(hook.id), "name": "ci"}
    assert event["specversion"] == "1.0" and event["source"] == "/modelreg" and event["time"].endswith("Z")
    with svc.db.read() as conn:
        assert conn.execute(select(webhook_deliveries.c.test_body)).scalar_one().encode() == got.body

    # a rename seals the secret again; a rotation replaces it: the receiver checks with the new one only
    svc.update("ci", name="ci-renamed")
    assert svc.test("ci-renamed").status_code == 200 and _signed(_last(receiver), secret)
    _, rotated = svc.rotate_secret("ci-renamed")
    svc.test(hook.id)
    assert _signed(_last(receiver), rotated) and not _signed(_last(receiver), secret)

    receiver.script(lambda _request, _attempt: 503)
    failed = svc.test(hook.id)
    assert failed.state == "test" and failed.status_code == 503 and failed.delivered_time is None
    assert failed.last_error is not None and "503" in failed.last_error and "token=abc" not in failed.last_error
    after = svc.get(hook.id)
    assert after.consecutive_failures == 0 and after.state == "active"  # a test neither counts nor pauses
    assert after.last_delivery is not None and after.last_delivery.id == failed.id


def test_a_test_of_an_unreachable_receiver_says_why(svc: WebhookService) -> None:
    with Receiver() as gone:
        url = gone.url
    svc.create("gone", url)
    sent = svc.test("gone")
    assert sent.status_code is None and sent.delivered_time is None and sent.last_error


def test_resume_clears_the_pause_and_makes_queued_deliveries_due(db_svc: WebhookService) -> None:
    svc, database = db_svc, db_svc.db
    hook, _ = svc.create("ci", "https://ci.example.com/hooks")
    _deliveries(database, hook.id, 3)
    with database.write() as conn:  # as the worker pauses a webhook that keeps failing
        conn.execute(
            update(webhooks)
            .where(webhooks.c.id == hook.id)
            .values(paused_time=1_700_000_000_000, paused_reason="the receiver answered 500", consecutive_failures=20)
        )
    paused = svc.get("ci")
    assert paused.state == "paused" and paused.to_dict()["pausedReason"] == "the receiver answered 500"
    resumed = svc.resume("ci")
    assert resumed.state == "active" and resumed.paused_reason is None and resumed.consecutive_failures == 0
    _, pending, _ = svc.deliveries("ci", state="pending")
    assert len(pending) == 3 and all(d.next_attempt_ms is not None and d.next_attempt_ms < 4e12 for d in pending)
    record = _audit(database)[-1]
    assert record.action == "resume"
    assert orjson.loads(record.changes)["before"] == {
        "consecutiveFailures": 20,
        "pausedReason": "the receiver answered 500",
    }


def test_deliveries_come_newest_first_in_pages(db_svc: WebhookService) -> None:
    svc, database = db_svc, db_svc.db
    hook, _ = svc.create("ci", "https://ci.example.com/hooks")
    other, _ = svc.create("cd", "https://cd.example.com/hooks")
    _deliveries(database, hook.id, 5)
    _deliveries(database, other.id, 2)
    with database.write() as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.seq == 1001, webhook_deliveries.c.webhook_id == hook.id)
            .values(state="delivered", attempts=2, status_code=204, latency_ms=35, last_attempt_time=1_700_000_000_500)
        )
    seen: list[str] = []
    token: str | None = None
    while True:
        _, page, token = svc.deliveries("ci", page_size=2, page_token=token)
        assert len(page) <= 2
        seen += [d.event_id for d in page]
        if not token:
            break
    assert seen == ["1004", "1003", "1002", "1001", "1000"]
    _, delivered, _ = svc.deliveries(hook.id, state="delivered")
    assert [d.to_dict()["statusCode"] for d in delivered] == [204]
    assert svc.get("ci").last_delivery == delivered[0]  # the latest attempted one
    with pytest.raises(InvalidInput, match="invalid state"):
        svc.deliveries("ci", state="lost")
    with pytest.raises(InvalidInput, match="invalid nextPageToken"):
        svc.deliveries("ci", page_token="bm90LWEtdG9rZW4")


def test_delete_drops_the_deliveries_and_a_new_webhook_starts_at_the_audit_head(db_svc: WebhookService) -> None:
    svc, database = db_svc, db_svc.db
    with database.write() as conn:
        stage(conn, "create", "registered_model", 1, "fraud", None, {"name": "fraud"})
    with database.read() as conn:
        head = conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq.desc()).limit(1)).scalar_one()
    hook, _ = svc.create("ci", "https://ci.example.com/hooks")
    assert hook.since_seq == head
    _deliveries(database, hook.id, 2)
    gone = svc.delete("ci")
    assert gone.name == "ci"
    with database.read() as conn:
        assert conn.execute(select(webhook_deliveries.c.id)).all() == []
    with pytest.raises(NotFound):
        svc.delete("ci")
    record = _audit(database)[-1]
    assert record.action == "delete" and orjson.loads(record.changes)["after"] is None

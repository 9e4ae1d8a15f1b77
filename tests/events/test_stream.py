"""The SSE event stream (``GET /api/events/v1/stream``) on a real server whose event worker relays the audit log:
writes made over REST arrive as events with their audit sequence numbers as ids; a client that disconnects while
writes go on and reconnects with ``Last-Event-ID`` misses none and gets none twice; ``since``; filters; who may
listen; the stream limit; heartbeats; retention gaps; a revoked token ends the stream."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import delete

from conftest import empty
from events.sse import STREAM, EventStream, Message, open_stream
from events.stream_support import (
    EVENTS,
    GOVERNANCE,
    Callers,
    events_server,
    ids,
    register,
    until_ids,
    viewer_token,
)
from events.stream_support import callers as callers  # the fixtures
from events.stream_support import server as server
from modelreg.auth import context
from modelreg.db import tables
from modelreg.db.database import Database


def test_writes_arrive_as_cloudevents_with_audit_ids(callers: Callers) -> None:
    admin, viewer = callers.client("admin"), callers.client("viewer")
    with open_stream(viewer) as stream:
        headers = stream.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-cache"
        assert headers["x-accel-buffering"] == "no"
        model_id, version_id = register(admin, "fraud")
        promoted = admin.post(f"{GOVERNANCE}/model_versions/{version_id}/promote", json={"stage": "staging"})
        assert promoted.status_code == 200, promoted.text
        received = stream.collect(3)
    seqs = callers.audit_seqs()
    assert ids(received) == seqs
    assert [m.event for m in received] == [
        "io.modelreg.registered_model.created",
        "io.modelreg.model_version.created",
        "io.modelreg.model_version.stage_changed",
    ]
    for message in received:
        body = message.json()
        assert body["specversion"] == "1.0"
        assert (body["id"], body["type"]) == (message.id, message.event)
    created, _, staged = (m.json() for m in received)
    assert str(created["data"]["entity"]["id"]) == model_id
    assert created["data"]["entity"]["name"] == "fraud"
    assert str(staged["data"]["entity"]["id"]) == version_id
    assert staged["data"]["entity"]["stage"] == "staging"
    assert staged["data"]["actor"] == "ai-admin"


def test_reconnect_with_last_event_id_misses_nothing(callers: Callers) -> None:
    """The client drops the connection while writes go on and reconnects with the last id it saw: the events of
    both connections together are every write's, each once, in order."""
    admin, viewer = callers.client("admin"), callers.client("viewer")
    writing = threading.Event()
    errors: list[str] = []

    def write() -> None:
        for i in range(12):
            try:
                register(admin, f"model-{i}")
            except AssertionError as exc:  # reported by the test, not lost in the thread
                errors.append(str(exc))
            if i == 2:
                writing.set()

    writer = threading.Thread(target=write)
    with open_stream(viewer) as stream:
        writer.start()
        assert writing.wait(30)
        first = stream.collect(4)
    assert len(first) == 4
    last_seen = first[-1].id
    assert last_seen is not None
    with open_stream(viewer, headers={"Last-Event-ID": last_seen}) as stream:
        writer.join()
        assert not errors
        expected = callers.audit_seqs()
        second = until_ids(stream, set(expected) - set(ids(first)))
    received = ids(first) + ids(second)
    assert received == expected  # none missed, none twice, in order
    assert len(expected) == 24


def test_since_sends_what_came_after(callers: Callers) -> None:
    admin, viewer = callers.client("admin"), callers.client("viewer")
    register(admin, "a")
    register(admin, "b")
    seqs = callers.audit_seqs()
    assert len(seqs) == 4
    with open_stream(viewer, params={"since": "0"}) as stream:
        assert ids(until_ids(stream, set(seqs))) == seqs
    with open_stream(viewer, params={"since": str(seqs[1])}) as stream:
        assert ids(until_ids(stream, set(seqs[2:]))) == seqs[2:]
    # Last-Event-ID, what a reconnecting client sends, wins over the since it first opened the stream with
    with open_stream(viewer, params={"since": "0"}, headers={"Last-Event-ID": str(seqs[2])}) as stream:
        assert ids(stream.collect(1)) == seqs[3:]


def test_a_stream_names_its_start_so_a_reconnection_before_any_event_misses_nothing(callers: Callers) -> None:
    admin, viewer = callers.client("admin"), callers.client("viewer")
    with open_stream(viewer) as stream:
        start = next(stream.messages())
    assert start.retry is not None
    assert start.id is not None
    assert start.data is None  # sets the client's last event id without being an event
    register(admin, "while-away")
    with open_stream(viewer, headers={"Last-Event-ID": start.id}) as stream:
        assert ids(stream.collect(2)) == callers.audit_seqs()


@pytest.mark.sqlite_only("the type and model filters")
def test_filters_by_type_and_model(callers: Callers) -> None:
    admin, viewer = callers.client("admin"), callers.client("viewer")
    register(admin, "fraud-a")
    register(admin, "churn")
    register(admin, "fraud-b")
    with open_stream(viewer, params={"since": "0", "types": "io.modelreg.model_version.*"}) as stream:
        assert [m.json()["data"]["entity"]["registeredModelName"] for m in stream.collect(3)] == [
            "fraud-a",
            "churn",
            "fraud-b",
        ]
    params = {"since": "0", "model": "fraud-*", "types": "io.modelreg.registered_model.created"}
    with open_stream(viewer, params=params) as stream:
        register(admin, "fraud-c")  # the stream ends with its event: none of churn came in between
        assert [m.json()["data"]["entity"]["name"] for m in stream.collect(3)] == ["fraud-a", "fraud-b", "fraud-c"]


@pytest.mark.sqlite_only("refusals before the stream starts")
def test_bad_resume_points_and_types_are_400(callers: Callers) -> None:
    viewer = callers.client("viewer")
    for params, headers in (
        ({"types": "io.modelreg.no_such_kind.*"}, {}),
        ({"since": "-1"}, {}),
        ({"since": "soon"}, {}),
        ({"since": "9999999999999999999"}, {}),  # beyond the ids' BIGINT
        ({}, {"Last-Event-ID": "abc"}),
    ):
        response = viewer.get(STREAM, params=params, headers=headers)
        assert response.status_code == 400, (params, headers, response.text)
        assert response.json()["code"] == "Bad Request"


@pytest.mark.sqlite_only("authentication, as on every /api route")
def test_viewers_listen_anonymous_callers_do_not(callers: Callers) -> None:
    anonymous = callers.client(None).get(STREAM)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert callers.client("nobody").get(STREAM).status_code == 403
    with open_stream(callers.client("viewer")) as stream:
        assert next(stream.messages()).retry is not None  # the headers and the first lines came at once


@pytest.mark.sqlite_only("the per-process stream count")
def test_streams_beyond_the_limit_get_503_until_one_closes(callers: Callers) -> None:
    viewer = callers.client("viewer")
    with open_stream(viewer), open_stream(viewer), open_stream(viewer):
        refused = viewer.get(STREAM)
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) > 0
    # the slots come back as the server sees the clients go
    for message in _retrying_until_open(viewer):
        assert message.retry is not None


def _retrying_until_open(client: httpx.Client, seconds: float = 30) -> Iterator[Message]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with client.stream("GET", STREAM) as response:
            if response.status_code == 200:
                yield next(EventStream(response).messages())
                return
            assert response.status_code == 503
        time.sleep(0.02)
    raise AssertionError("no stream slot came back")


@pytest.mark.sqlite_only("the heartbeat on an idle stream")
def test_an_idle_stream_gets_heartbeats(callers: Callers) -> None:
    with open_stream(callers.client("viewer")) as stream:
        comments = [m.comment for m in _first(stream.messages(), 3, lambda m: m.comment is not None)]
    assert comments == ["keepalive"] * 3


def _first(messages: Iterator[Message], count: int, keep: Callable[[Message], bool]) -> list[Message]:
    found = []
    for message in messages:
        if keep(message):
            found.append(message)
            if len(found) == count:
                break
    return found


def test_a_resume_point_older_than_retention_gets_a_gap_event(callers: Callers) -> None:
    admin, viewer = callers.client("admin"), callers.client("viewer")
    register(admin, "old")
    register(admin, "new")
    seqs = callers.audit_seqs()
    with open_stream(viewer, params={"since": "0"}) as stream:
        until_ids(stream, set(seqs))  # all relayed
    with callers.database.write() as conn:  # what retention does to the two oldest
        conn.execute(delete(tables.events).where(tables.events.c.seq <= seqs[1]))
    with open_stream(viewer, params={"since": "0"}) as stream:
        gap, *rest = stream.collect(3)
    assert gap.event == "io.modelreg.stream.gap"
    assert gap.id is None  # the client's Last-Event-ID stays where it was
    assert gap.json()["data"] == {"missedAfter": "0", "resumedAt": str(seqs[2])}
    assert ids(rest) == seqs[2:]
    # resuming after what was deleted: nothing is missing, so no gap
    with open_stream(viewer, headers={"Last-Event-ID": str(seqs[1])}) as stream:
        assert ids(stream.collect(2)) == seqs[2:]


@pytest.mark.sqlite_only("re-authentication at heartbeats")
def test_a_revoked_token_ends_the_stream(callers: Callers) -> None:
    with open_stream(callers.client("viewer")) as stream:
        next(stream.messages())
        with context.acting_as(context.cli_context()):
            callers.access.revoke_token(callers.tokens["viewer"][1])
        remaining = list(stream.messages())
    assert stream.ended
    assert {m.comment for m in remaining} <= {"keepalive"}


@pytest.mark.sqlite_only("the stream's time limit")
def test_a_stream_ends_after_stream_max_seconds(database: Database, tmp_path_factory: pytest.TempPathFactory) -> None:
    empty(database)
    short = EVENTS.model_copy(update={"stream_max_seconds": 1})
    with events_server(database, tmp_path_factory.mktemp("data"), short) as running:
        auth = {"Authorization": f"Bearer {viewer_token(database)}"}
        with httpx.Client(base_url=running.url, headers=auth, timeout=30) as viewer, open_stream(viewer) as stream:
            messages = list(stream.messages(seconds=60))
    assert stream.ended
    assert messages[0].retry is not None
    assert {m.comment for m in messages[1:]} == {"keepalive"}  # heartbeats until the server ended it

"""``/api/events/v1/webhooks`` on every backend, with callers of every role: an admin's whole flow (create with the
secret once, list, get, change, test against a real receiver that checks the signature, deliveries, resume, rotate,
delete), viewers and developers refused on every route (reads too: URLs carry tokens), and the API's 400s."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conftest import ServerThread
from events.receivers import Receiver
from governance.conftest import Governed, OidcKeys, auth_settings, gov, oidc_keys
from modelreg.app import create_app
from modelreg.db.database import Database
from modelreg.events import signing
from modelreg.settings import EventsSettings, Settings

__all__ = ["gov", "oidc_keys"]
EVENTS = "/api/events/v1"


@pytest.fixture(scope="module")
def auth_server(
    database: Database, oidc_keys: OidcKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    """``gov``'s server (governance/conftest.py), allowed to send to receivers on 127.0.0.1 over http."""
    settings = Settings(
        database_url=database.url,
        data_dir=tmp_path_factory.mktemp("data"),
        auth=auth_settings(oidc_keys),
        events=EventsSettings(allow_http=True, allowed_networks=["127.0.0.0/8"]),
    )
    app = create_app(settings, database)
    with ServerThread(app) as running:
        running.app = app  # type: ignore[attr-defined]
        yield running


def _admin(gov: Governed) -> httpx.Client:
    return gov.client("admin", prefix=EVENTS)


def test_an_admin_manages_a_webhook(gov: Governed, receiver: Receiver) -> None:
    api = _admin(gov)
    body = {
        "name": "ci",
        "url": f"{receiver.url}?token=abc",
        "eventTypes": ["io.modelreg.model_version.stage_changed"],
        "stageFilter": "production",
        "description": "start the rollout",
    }
    created = api.post("/webhooks", json=body)
    assert created.status_code == 201, created.text
    hook = created.json()
    secret = hook.pop("secret")
    assert secret.startswith("whsec_") and created.headers["cache-control"] == "no-store"
    assert created.headers["location"].endswith(f"/webhooks/{hook['id']}")
    assert hook["state"] == "active" and hook["createdBy"] == "ai-admin" and hook["modelFilter"] is None
    assert hook["eventTypes"] == ["io.modelreg.model_version.stage_changed"] and hook["lastDelivery"] is None

    listed = api.get("/webhooks")
    assert listed.status_code == 200 and [w["name"] for w in listed.json()["items"]] == ["ci"]
    got = api.get(f"/webhooks/{hook['id']}")
    assert got.json() == hook and api.get("/webhooks/ci").json() == hook
    for answer in (listed, got):
        assert secret not in answer.text

    tested = api.post("/webhooks/ci/test")
    assert tested.status_code == 200, tested.text
    sent = tested.json()
    assert sent["state"] == "test" and sent["statusCode"] == 200 and sent["attempts"] == 1
    (test_request,) = [r for r in receiver.received().requests if r.msg_id.startswith("test-")]
    assert signing.verify(secret, test_request.headers, test_request.body) and test_request.msg_id == sent["eventId"]
    assert test_request.json()["type"] == "io.modelreg.webhook.test"

    changed = api.patch("/webhooks/ci", json={"active": False, "stageFilter": None, "name": "cd"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["state"] == "inactive" and changed.json()["stageFilter"] is None
    assert changed.json()["name"] == "cd" and changed.json()["url"] == body["url"]

    deliveries = api.get("/webhooks/cd/deliveries", params={"state": "test", "pageSize": 1})
    assert deliveries.status_code == 200, deliveries.text
    page = deliveries.json()
    assert page["size"] == 1 and page["pageSize"] == 1 and page["items"][0]["id"] == sent["id"]

    resumed = api.post("/webhooks/cd/resume")
    assert resumed.status_code == 200 and resumed.json()["consecutiveFailures"] == 0
    rotated = api.post("/webhooks/cd/secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (secret, None)
    assert rotated.headers["cache-control"] == "no-store"
    api.post("/webhooks/cd/test")
    last = receiver.received().requests[-1]
    assert signing.verify(rotated.json()["secret"], last.headers, last.body)

    deleted = api.delete("/webhooks/cd")
    assert deleted.status_code == 200 and deleted.json()["name"] == "cd"
    assert api.get("/webhooks/cd").status_code == 404
    audit = gov.governance("admin").get("/audit/records", params={"entityKind": "webhook"})
    assert audit.status_code == 200, audit.text
    assert sorted(r["action"] for r in audit.json()["items"]) == [
        "create",
        "delete",
        "resume",
        "rotate_secret",
        "update",
    ]
    assert secret not in audit.text and rotated.json()["secret"] not in audit.text and "token=abc" not in audit.text


def test_viewers_and_developers_get_403_on_every_route(gov: Governed) -> None:
    created = _admin(gov).post("/webhooks", json={"name": "ci", "url": "https://ci.example.com/hooks"})
    assert created.status_code == 201, created.text
    routes = [
        ("GET", "/webhooks", None),
        ("POST", "/webhooks", {"name": "x", "url": "https://ci.example.com/x"}),
        ("GET", "/webhooks/ci", None),
        ("PATCH", "/webhooks/ci", {"active": False}),
        ("DELETE", "/webhooks/ci", None),
        ("POST", "/webhooks/ci/test", None),
        ("POST", "/webhooks/ci/resume", None),
        ("POST", "/webhooks/ci/secret", None),
        ("GET", "/webhooks/ci/deliveries", None),
    ]
    for caller in ("viewer", "developer", "group-developer"):
        api = gov.client(caller, prefix=EVENTS)
        for method, path, json in routes:
            answer = api.request(method, path, json=json)
            assert answer.status_code == 403, f"{caller} {method} {path}: {answer.status_code} {answer.text}"
            assert "https://ci.example.com" not in answer.text
    assert gov.client(None, prefix=EVENTS).get("/webhooks").status_code == 401
    hook = _admin(gov).get("/webhooks/ci").json()
    assert hook["active"] is True and gov.client("group-admin", prefix=EVENTS).get("/webhooks").status_code == 200


@pytest.mark.sqlite_only("the API's validation")
def test_bad_requests_are_400_with_the_reason(gov: Governed) -> None:
    api = _admin(gov)
    cases = [
        (
            {"name": "ci", "url": "http://ci.example.com/hooks?x=1", "eventTypes": ["io.modelreg.nope.*"]},
            "unknown event",
        ),
        ({"name": "ci", "url": "https://ci.example.com/hooks", "stageFilter": "live"}, "Input should be 'development'"),
        ({"name": "ci", "url": "https://10.0.0.8/hooks"}, "webhook URL refused"),
        ({"name": "ci", "url": "https://ci.example.com/hooks", "secret": "mine"}, "secret"),
    ]
    for body, message in cases:
        answer = api.post("/webhooks", json=body)
        assert answer.status_code == 400 and message in answer.json()["message"], answer.text
    assert api.post("/webhooks", json={"url": "https://ci.example.com/hooks"}).status_code == 422
    assert api.post("/webhooks", json={"name": "ci", "url": "https://ci.example.com/hooks"}).status_code == 201
    assert api.post("/webhooks", json={"name": "ci", "url": "https://ci.example.com/hooks"}).status_code == 409
    nulled = api.patch("/webhooks/ci", json={"url": None})
    assert nulled.status_code == 400 and "url cannot be null" in nulled.json()["message"]
    assert api.get("/webhooks/ci/deliveries", params={"state": "lost"}).status_code == 400
    assert api.get("/webhooks/ci/deliveries", params={"nextPageToken": "garbage"}).status_code == 400
    assert api.get("/webhooks/404").status_code == 404

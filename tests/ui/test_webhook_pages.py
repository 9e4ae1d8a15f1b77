"""The Webhooks settings pages (ui/webhook_pages.py): admins only; the create form (errors next to their field, the
secret shown once on the POST's own no-store page), the list's state badges, a webhook's page with its deliveries
and the Test, Resume, Activate/Deactivate, Rotate secret and Delete buttons, against a real receiver."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from events.conftest import receiver
from events.receivers import Receiver
from modelreg.auth.principal import Role
from modelreg.db.tables import webhooks
from modelreg.events import signing
from ui.conftest import MakeUiApp, UiApp, csrf_of

__all__ = ["receiver"]
LIST = "/settings/webhooks"
_TAGS = re.compile(r"<[^>]+>")
_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{20,}")


def text(html: str) -> str:
    """The visible text, whitespace collapsed (``<wbr>``, a place a URL may wrap, is none)."""
    return " ".join(unescape(_TAGS.sub(" ", html.replace("<wbr>", ""))).split())


@pytest.fixture
def app(make_ui_app: MakeUiApp) -> UiApp:
    return make_ui_app(events={"allow_http": True, "allowed_networks": ["127.0.0.0/8"]})


@pytest.fixture
def admin(app: UiApp) -> TestClient:
    app.add_user("the-admin", role="admin")
    return app.logged_in("the-admin")


def _signed_last(receiver: Receiver, secret: str) -> bool:
    last = receiver.received().requests[-1]
    return signing.verify(secret, last.headers, last.body)


def post(client: TestClient, action: str, page: str = LIST, **fields: str) -> Any:
    """Post ``fields`` to ``action`` with the CSRF token of ``page``."""
    return client.post(action, data={"csrf_token": csrf_of(client.get(page)), **fields})


def _create(client: TestClient, url: str, **fields: str) -> tuple[int, str]:
    """Create through the form; the id and the secret its answer shows."""
    answer = post(client, LIST, name="ci", url=url, event_types="*", active="on", **fields)
    assert answer.status_code == 200, answer.text
    (secret,) = set(_SECRET.findall(answer.text))
    (webhook_id,) = set(re.findall(r'href="/settings/webhooks/(\d+)"', answer.text))
    return int(webhook_id), secret


def test_create_shows_the_secret_once_and_the_list_shows_the_webhook(admin: TestClient, receiver: Receiver) -> None:
    answer = post(
        admin,
        LIST,
        name="ci",
        url=f"{receiver.url}?token=abc",
        event_types="io.modelreg.model_version.*, io.modelreg.upload.committed",
        model_filter="fraud-*",
        stage_filter="production",
        description="start the rollout",
        active="on",
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert "will not be shown again" in answer.text and 'class="btn btn-small btn-secondary copy-button"' in answer.text
    (secret,) = set(_SECRET.findall(answer.text))

    listing = admin.get(LIST)
    row = text(listing.text[listing.text.index("<tbody>") :])
    assert "ci start the rollout Active" in row and "io.modelreg.model_version.*, io.modelreg.upload.committed" in row
    assert "model fraud-*, stage production" in row and "None yet" in row
    assert "token=abc" not in listing.text and receiver.url in row  # the URL without its token
    page = admin.get(f"{LIST}/1")
    assert page.status_code == 200 and "No deliveries yet" in page.text
    for shown in (listing, page):
        assert secret not in shown.text and "whsec_" not in shown.text
    assert f'<a href="{LIST}" aria-current="page">Webhooks</a>' in listing.text


def test_form_errors_sit_next_to_their_field(admin: TestClient) -> None:
    bad = post(admin, LIST, name="42", url="ftp://ci.example.com/", event_types="io.modelreg.nope.*", stage_filter="x")
    assert bad.status_code == 400
    for field in ("name", "url", "event_types", "stage_filter"):
        assert f'id="webhook-{field}-error"' in bad.text, field
    assert "webhook URL refused" in bad.text and "unknown event type pattern" in bad.text
    assert 'value="ftp://ci.example.com/"' in bad.text  # what was typed stays
    assert "whsec_" not in bad.text

    assert post(admin, LIST, name="ci", url="https://ci.example.com/", event_types="*").status_code == 200
    taken = post(admin, LIST, name="ci", url="https://ci.example.com/", event_types="*")
    assert taken.status_code == 409 and 'id="webhook-name-error"' in taken.text and "already exists" in taken.text


def test_test_rotate_deactivate_resume_and_delete(app: UiApp, admin: TestClient, receiver: Receiver) -> None:
    webhook_id, secret = _create(admin, receiver.url)
    page = f"{LIST}/{webhook_id}"

    tested = post(admin, f"{page}/test", page)
    assert tested.status_code == 303 and tested.headers["location"] == page
    shown = admin.get(page).text
    assert re.search(r"Test delivery test-\d+: HTTP 200 in \d+ ms", shown)
    assert _signed_last(receiver, secret)
    row = text(shown[shown.index("<tbody>") :])
    assert "webhook:1 webhook.test Test delivered 200 1" in row

    receiver.script(lambda _request, _attempt: 500)
    post(admin, f"{page}/test", page)
    shown = admin.get(page).text
    assert "failed (HTTP 500): the receiver answered 500" in shown and "Test failed" in shown
    only_tests = admin.get(page, params={"state": "delivered"})
    assert "No deliveries in this state yet" in only_tests.text

    rotated = post(admin, f"{page}/rotate-secret", page)
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    (new_secret,) = set(_SECRET.findall(rotated.text))
    assert new_secret != secret
    receiver.script(lambda _request, _attempt: 200)
    post(admin, f"{page}/test", page)
    assert _signed_last(receiver, new_secret)

    assert post(admin, f"{page}/deactivate", page).status_code == 303
    shown = text(admin.get(page).text)
    assert "Inactive" in shown and "Activate" in shown and "Deactivate" not in shown
    assert post(admin, f"{page}/activate", page).status_code == 303
    assert "Deactivate" in text(admin.get(page).text)

    with app.db.write() as conn:  # as the delivery worker pauses a webhook that keeps failing
        conn.execute(update(webhooks).values(paused_time=1_700_000_000_000, paused_reason="the receiver answered 500"))
    listing = text(admin.get(LIST).text)
    assert "Paused the receiver answered 500" in listing
    shown = text(admin.get(page).text)
    assert "Events are queued, not sent, until it is resumed" in shown and "Resume" in shown
    assert post(admin, f"{page}/resume", page).status_code == 303
    shown = text(admin.get(page).text)
    assert "resumed: queued events are sent again" in shown and "Resume" not in shown

    deleted = post(admin, f"{page}/delete", page)
    assert deleted.status_code == 303 and deleted.headers["location"] == LIST
    assert "Webhook ci deleted" in admin.get(LIST).text
    assert admin.get(page).status_code == 404


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER])
def test_other_roles_are_refused_every_page_and_post(app: UiApp, admin: TestClient, role: Role) -> None:
    webhook_id, _ = _create(admin, "https://ci.example.com/hooks")
    app.add_user("someone", role=role.value)
    client = app.logged_in("someone")
    token = csrf_of(client.get("/catalog"))
    page = f"{LIST}/{webhook_id}"
    for url in (LIST, page):
        assert client.get(url).status_code == 403, url
    for url in (
        LIST,
        *(f"{page}/{action}" for action in ("test", "resume", "activate", "deactivate", "rotate-secret", "delete")),
    ):
        answer = client.post(url, data={"csrf_token": token, "name": "x", "url": "https://x.example.com/"})
        assert answer.status_code == 403, url
    shown = admin.get(LIST).text
    assert shown.count('href="/settings/webhooks/') == 1 and "Active" in text(shown)

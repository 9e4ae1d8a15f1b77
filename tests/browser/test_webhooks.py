"""Webhooks in a browser: an admin creates one from the settings page, copies its secret from the page that shows it
once, sends a test event to a real receiver (which checks the signature with that secret), sees the delivery on the
webhook's page, resumes it once paused, deactivates and deletes it; each page passes axe. (The live server may send
to 127.0.0.1 over http: tests/browser/conftest.py.)"""

from __future__ import annotations

import re
import time
import uuid

from sqlalchemy import update

from browser.conftest import Browse
from browser.helpers import press_action
from events.conftest import receiver
from events.receivers import Receiver
from modelreg.db.database import Database
from modelreg.db.tables import webhooks
from modelreg.events import signing

__all__ = ["receiver"]


def _pause(browse: Browse, name: str) -> None:
    db = Database(browse.server.database_url)
    try:
        with db.write() as conn:
            conn.execute(
                update(webhooks)
                .where(webhooks.c.name == name)
                .values(
                    paused_time=int(time.time() * 1000),
                    paused_reason="the receiver answered 500",
                    consecutive_failures=20,
                )
            )
    finally:
        db.dispose()


def test_admin_creates_tests_and_deletes_a_webhook(browse: Browse, receiver: Receiver) -> None:
    name = f"ci-{uuid.uuid4().hex[:8]}"
    page = browse.login("ai-admin")
    page.goto("/settings/webhooks")
    browse.check(page, "webhooks")
    page.get_by_label("Name").fill(name)
    page.get_by_label("URL", exact=True).fill(f"{receiver.url}?token=abc")
    page.get_by_label("Event types").fill("io.modelreg.model_version.*, io.modelreg.upload.committed")
    page.get_by_label("Stage").select_option("production")
    page.get_by_label("Description").fill("Start the rollout when a version reaches production")
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name=re.compile("create webhook", re.I)).click()
    main = page.locator("main")
    assert "will not be shown again" in main.inner_text(), main.inner_text()[:500]
    secret = page.locator("#webhook-secret").input_value()
    assert secret.startswith("whsec_")
    assert main.get_by_role("button", name=re.compile("copy", re.I)).is_visible()
    browse.check(page, "webhook-secret")

    with page.expect_navigation():
        main.get_by_role("link", name=re.compile("continue to the webhook", re.I)).click()
    webhook_url = page.url
    press_action(page, r"send test event")
    assert re.search(r"Test delivery test-\d+: HTTP 200", page.locator("main").inner_text())
    (request,) = receiver.received().requests
    assert signing.verify(secret, request.headers, request.body)
    row = page.locator("main tbody tr").first
    assert "webhook.test" in row.inner_text() and "Test delivered" in row.inner_text()
    assert secret not in page.content() and "token=abc" not in page.content()
    browse.check(page, "webhook")

    _pause(browse, name)  # as the delivery worker pauses a webhook whose receiver keeps failing
    page.goto("/settings/webhooks")
    row = page.locator("main tr", has_text=name)
    assert "Paused" in row.inner_text() and "the receiver answered 500" in row.inner_text()
    browse.check(page, "webhooks-paused")
    page.goto(webhook_url)
    assert "Events are queued, not sent, until it is resumed" in page.locator("main").inner_text()
    browse.check(page, "webhook-paused")
    press_action(page, r"^\s*resume\s*$")
    assert "resumed" in page.locator("main").inner_text() and "Active" in page.locator("main").inner_text()

    press_action(page, r"^\s*deactivate\s*$")
    assert "Inactive" in page.locator("main").inner_text()
    page.goto("/settings/webhooks")
    row = page.locator("main tr", has_text=name)
    assert row.count() == 1 and "Inactive" in row.inner_text() and "production" in row.inner_text()
    browse.check(page, "webhooks-list")

    page.goto(webhook_url)
    press_action(page, r"^\s*delete\s*$")
    assert "/settings/webhooks" in page.url and f"Webhook {name} deleted" in page.locator("main").inner_text()
    assert page.locator("main tr", has_text=name).count() == 0

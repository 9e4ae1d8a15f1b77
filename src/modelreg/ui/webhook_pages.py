"""The Webhooks settings pages: the list (each webhook's state as a badge: active, paused with the reason,
inactive) with the create form, the page showing the signing secret once (the POST's own answer, ``no-store``, as
for a new API token), and a webhook's page with its recent deliveries and the Test, Resume, Activate/Deactivate,
Rotate secret and Delete buttons. Admins only (``manage``); `WebhookService` checks again, validates and audits.
Only URLs without credentials are shown (``Webhook.public_url``): a webhook's URL often carries a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from modelreg.errors import Conflict, RegistryError
from modelreg.events import cloudevents
from modelreg.events import webhook_model as rules
from modelreg.events.webhook_model import Delivery, Webhook
from modelreg.events.webhooks import WebhookService
from modelreg.services.entities import parse_id
from modelreg.settings import EventsSettings
from modelreg.stages import STAGES
from modelreg.ui import web
from modelreg.ui.settings_forms import FormResult
from modelreg.ui.settings_pages import AdminDep, call

router = APIRouter(include_in_schema=False)
LIST = "/settings/webhooks"
PAGE_SIZE = 25
STATES = {  # webhook state → (badge text, pill kind)
    "active": ("Active", "success"),
    "paused": ("Paused", "warning"),
    "inactive": ("Inactive", "dark"),
}
DELIVERY_STATES = {  # delivery state → (badge text, pill kind)
    "pending": ("Pending", "info"),
    "delivered": ("Delivered", "success"),
    "failed": ("Failed", "danger"),
}
STATE_FILTERS = [("", "All deliveries"), *((s, label) for s, (label, _) in DELIVERY_STATES.items()), ("test", "Tests")]
STAGE_OPTIONS = [("", "Any stage"), *((s, s) for s in STAGES)]
Token = Annotated[str | None, Query(max_length=1024)]


def service(request: Request) -> WebhookService:
    webhooks: WebhookService = request.app.state.webhooks
    return webhooks


def breakable(url: str) -> Markup:
    """A URL that may wrap after its separators (``<wbr>``): a table cell is narrower than most webhook URLs."""
    return Markup("<wbr>").join(re.split(r"(?<=[/?&.])(?!/)", url))  # join escapes the parts


def delivery_badge(delivery: Delivery) -> tuple[str, str]:
    """A test delivery says how it went (tests have no pending or failed state of their own)."""
    if delivery.state == "test":
        return ("Test delivered", "success") if delivery.delivered_time else ("Test failed", "danger")
    return DELIVERY_STATES.get(delivery.state, (delivery.state.title(), ""))


@dataclass
class WebhookForm(FormResult):
    """The create form: each field checked by the service's own rules, so an error lands next to its field."""

    event_types: tuple[str, ...] = field(default_factory=tuple)

    def parse(self, fields: Mapping[str, str], settings: EventsSettings) -> WebhookForm:
        self.values = {
            name: fields.get(name, "").strip()
            for name in ("name", "url", "event_types", "model_filter", "stage_filter", "description")
        }
        self.values["active"] = "on" if fields.get("active") else ""
        v = self.values
        self.check("name", partial(rules.check_name, v["name"]))
        self.check("url", partial(rules.check_url, v["url"], settings))
        patterns = v["event_types"].replace(",", " ").split()
        self.event_types = self.check("event_types", partial(rules.check_event_types, patterns)) or ()
        self.check("model_filter", partial(rules.check_model_filter, v["model_filter"]))
        self.check("stage_filter", partial(rules.check_stage_filter, v["stage_filter"]))
        self.check("description", partial(rules.check_description, v["description"]))
        return self

    def arguments(self) -> dict[str, Any]:
        v = self.values
        return {
            "name": v["name"],
            "url": v["url"],
            "event_types": self.event_types,
            "model_filter": v["model_filter"] or None,
            "stage_filter": v["stage_filter"] or None,
            "description": v["description"] or None,
            "active": bool(v["active"]),
        }


def _render(ui: web.Ui, template: str, crumb: str | None, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    crumbs = [("Settings", "/settings"), ("Webhooks", LIST if crumb else None)]
    if crumb:
        crumbs.append((crumb, None))
    enabled = ui.request.app.state.settings.events.enabled
    ctx.update(crumbs=crumbs, events_enabled=enabled, breakable=breakable)
    return web.render(ui, f"settings/{template}", status_code=status_code, **ctx)


def _list_page(ui: web.Ui, form: WebhookForm | None = None, status_code: int = 200) -> HTMLResponse:
    with web.acting(ui):
        webhooks = service(ui.request).list()
    return _render(
        ui,
        "webhooks.html",
        None,
        status_code,
        webhooks=webhooks,
        form=form or WebhookForm(values={"event_types": "*", "active": "on"}),
        states=STATES,
        delivery_badge=delivery_badge,
        stage_options=STAGE_OPTIONS,
        event_types=cloudevents.event_types(),
    )


def _secret_page(ui: web.Ui, webhook: Webhook, secret: str, created: bool) -> HTMLResponse:
    response = _render(ui, "webhook_secret.html", webhook.name, webhook=webhook, secret=secret, created=created)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get(LIST)
def webhooks_page(ui: AdminDep) -> HTMLResponse:
    return _list_page(ui)


@router.post(LIST)
async def create_webhook(ui: AdminDep, request: Request) -> Response:
    settings: EventsSettings = request.app.state.settings.events
    form = WebhookForm().parse(await web.form(ui), settings)
    if not form.errors:
        try:
            webhook, secret = await call(ui, service(request).create, **form.arguments())
        except RegistryError as exc:
            if exc.status_code >= 500:
                raise
            form.errors.setdefault("name" if isinstance(exc, Conflict) else "", exc.message)
            return await anyio.to_thread.run_sync(_list_page, ui, form, exc.status_code)
        return _secret_page(ui, webhook, secret, created=True)
    return await anyio.to_thread.run_sync(_list_page, ui, form, 400)


@router.get(LIST + "/{webhook_id}")
def webhook_page(ui: AdminDep, webhook_id: str, state: str = "", page: Token = None) -> HTMLResponse:
    with web.acting(ui):
        webhook, deliveries, token = service(ui.request).deliveries(
            parse_id(webhook_id, "webhook"), state=state or None, page_size=PAGE_SIZE, page_token=page
        )
    query = urlencode({"state": state}) + "&" if state else ""
    return _render(
        ui,
        "webhook.html",
        webhook.name,
        webhook=webhook,
        deliveries=deliveries,
        next_url=f"{LIST}/{webhook.id}?{query}page={token}" if token else None,
        first_url=f"{LIST}/{webhook.id}?{query}" if page else None,
        state=state,
        state_filters=STATE_FILTERS,
        states=STATES,
        delivery_badge=delivery_badge,
    )


async def _act(ui: web.Ui, webhook_id: str) -> tuple[WebhookService, int]:
    await web.form(ui)
    return service(ui.request), parse_id(webhook_id, "webhook")


@router.post(LIST + "/{webhook_id}/test")
async def test_webhook(ui: AdminDep, webhook_id: str) -> Response:
    svc, number = await _act(ui, webhook_id)
    sent = await call(ui, svc.test, number)
    answer = f"HTTP {sent.status_code}" if sent.status_code is not None else "no answer"
    if sent.delivered_time is not None:
        return web.redirect(
            f"{LIST}/{number}", flash=f"Test delivery {sent.event_id}: {answer} in {sent.latency_ms} ms"
        )
    why = f": {sent.last_error}" if sent.last_error else ""
    return web.redirect(
        f"{LIST}/{number}", flash=f"Test delivery {sent.event_id} failed ({answer}){why}", kind="danger"
    )


@router.post(LIST + "/{webhook_id}/resume")
async def resume_webhook(ui: AdminDep, webhook_id: str) -> Response:
    svc, number = await _act(ui, webhook_id)
    webhook = await call(ui, svc.resume, number)
    return web.redirect(f"{LIST}/{number}", flash=f"Webhook {webhook.name} resumed: queued events are sent again")


@router.post(LIST + "/{webhook_id}/activate")
async def activate_webhook(ui: AdminDep, webhook_id: str) -> Response:
    svc, number = await _act(ui, webhook_id)
    webhook = await call(ui, svc.update, number, active=True)
    return web.redirect(f"{LIST}/{number}", flash=f"Webhook {webhook.name} activated")


@router.post(LIST + "/{webhook_id}/deactivate")
async def deactivate_webhook(ui: AdminDep, webhook_id: str) -> Response:
    svc, number = await _act(ui, webhook_id)
    webhook = await call(ui, svc.update, number, active=False)
    return web.redirect(f"{LIST}/{number}", flash=f"Webhook {webhook.name} deactivated: no events are queued for it")


@router.post(LIST + "/{webhook_id}/rotate-secret")
async def rotate_secret(ui: AdminDep, webhook_id: str) -> Response:
    svc, number = await _act(ui, webhook_id)
    webhook, secret = await call(ui, svc.rotate_secret, number)
    return _secret_page(ui, webhook, secret, created=False)


@router.post(LIST + "/{webhook_id}/delete")
async def delete_webhook(ui: AdminDep, webhook_id: str) -> Response:
    svc, number = await _act(ui, webhook_id)
    gone = await call(ui, svc.delete, number)
    return web.redirect(LIST, flash=f"Webhook {gone.name} deleted")

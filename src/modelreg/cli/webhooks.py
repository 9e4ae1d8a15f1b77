"""``modelreg webhook``: webhooks on the database directly like ``connection``, acting as ``cli:<OS user>`` (an
admin) and audited. The signing secret is printed once, by ``create`` and ``rotate-secret``, on stdout (so a script
can capture it), with a warning on stderr to store it; nothing else ever shows it. ``test`` sends from this
machine, with this configuration's destination rules (``events.*``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from modelreg.cli.options import ConfigFile, DatabaseUrl, database_session, settings_for, when
from modelreg.cli.output import AsJson, print_json, stdout_console
from modelreg.events.webhook_model import DELIVERY_STATES, Delivery, Webhook
from modelreg.events.webhooks import WebhookService
from modelreg.services.secrets import SecretBox
from modelreg.stages import STAGES

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Webhooks: signed CloudEvents POSTed to other systems when the registry changes.",
)
out = stdout_console()
err = Console(stderr=True, soft_wrap=True)
Ref = Annotated[str, typer.Argument(help="The webhook's id or name.")]
EventTypes = Annotated[
    list[str] | None,
    typer.Option(
        "--event-type",
        "-e",
        metavar="PATTERN",
        help="An event type pattern with * wildcards, e.g. 'io.modelreg.model_version.*' (repeat for more; "
        "default: every event).",
    ),
]
ModelFilter = Annotated[
    str | None, typer.Option("--model-filter", help="Only events of this model (a name or a glob); '' clears it.")
]
StageFilter = Annotated[
    str | None,
    typer.Option("--stage-filter", help=f"Only versions in this stage ({', '.join(STAGES)}); '' clears it."),
]
Description = Annotated[str | None, typer.Option("--description", help="What the webhook is for.")]


@contextmanager
def webhook_service(database_url: str | None, config: ConfigFile) -> Iterator[WebhookService]:
    settings = settings_for(database_url, config)
    with database_session(settings, migrate=True) as db:
        yield WebhookService(db, SecretBox(settings.storage, settings.data_dir), settings.events)


def _state(webhook: Webhook) -> str:
    if webhook.state == "paused":
        return f"paused ({webhook.paused_reason or 'repeated failures'})"
    return webhook.state


def _outcome(delivery: Delivery | None) -> str:
    if delivery is None:
        return "-"
    answer = f"HTTP {delivery.status_code}" if delivery.status_code is not None else "no answer"
    return f"{delivery.state}, {answer} {when(delivery.last_attempt_time)}"


def _show(webhook: Webhook, as_json: bool) -> None:
    if as_json:
        print_json(webhook.to_dict())
        return
    table = Table("field", "value", show_header=False)
    rows: list[tuple[str, Any]] = [
        ("id", webhook.id),
        ("name", webhook.name),
        ("url", webhook.url),
        ("state", _state(webhook)),
        ("event types", ", ".join(webhook.event_types)),
        ("model filter", webhook.model_filter or "-"),
        ("stage filter", webhook.stage_filter or "-"),
        ("description", webhook.description or ""),
        ("failures in a row", webhook.consecutive_failures),
        ("last delivery", _outcome(webhook.last_delivery)),
        ("created", f"{when(webhook.create_time)} by {webhook.created_by or '-'}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    out.print(table)


def _print_secret(webhook: Webhook, secret: str, as_json: bool) -> None:
    if as_json:
        print_json({**webhook.to_dict(), "secret": secret})
    else:
        out.print(secret, markup=False, highlight=False)
    err.print(
        f"the signing secret of webhook {webhook.id} {webhook.name!r} is shown this once: store it now (receivers "
        "verify the webhook-signature header with it)",
        markup=False,
    )


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The webhook's name.")],
    url: Annotated[str, typer.Option("--url", help="Where events are POSTed (https unless events.allow_http).")],
    event_types: EventTypes = None,
    model_filter: ModelFilter = None,
    stage_filter: StageFilter = None,
    description: Description = None,
    active: Annotated[bool, typer.Option("--active/--inactive", help="Send events from now on.")] = True,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Create a webhook; prints its signing secret, once. It gets the events committed from now on."""
    with webhook_service(database_url, config) as svc:
        webhook, secret = svc.create(
            name,
            url,
            event_types or None,
            model_filter=model_filter,
            stage_filter=stage_filter,
            description=description,
            active=active,
        )
    err.print(f"webhook {webhook.id} {webhook.name!r} created", markup=False)
    _print_secret(webhook, secret, as_json)


@app.command("list")
def list_(as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """List webhooks with their state and latest delivery."""
    with webhook_service(database_url, config) as svc:
        items = svc.list()
    if as_json:
        print_json([w.to_dict() for w in items])
        return
    table = Table("id", "name", "state", "url", "event types", "filters", "last delivery", "created")
    for w in items:
        filters = ", ".join(f for f in (w.model_filter and f"model {w.model_filter}", w.stage_filter) if f)
        table.add_row(
            str(w.id),
            w.name,
            _state(w),
            w.public_url,
            ", ".join(w.event_types),
            filters or "-",
            _outcome(w.last_delivery),
            when(w.create_time),
        )
    out.print(table)


@app.command("get")
def get(ref: Ref, as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Show one webhook (never its secret)."""
    with webhook_service(database_url, config) as svc:
        webhook = svc.get(ref)
    _show(webhook, as_json)


@app.command("update")
def update(
    ref: Ref,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="A new URL.")] = None,
    event_types: EventTypes = None,
    model_filter: ModelFilter = None,
    stage_filter: StageFilter = None,
    description: Description = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="Switch it on or off.")] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Change what is given; the rest stays. The secret: rotate-secret."""
    given: dict[str, Any] = {
        "name": name,
        "url": url,
        "event_types": event_types or None,
        "model_filter": model_filter,
        "stage_filter": stage_filter,
        "description": description,
        "active": active,
    }
    changes = {k: v for k, v in given.items() if v is not None}  # '' clears a filter or the description
    with webhook_service(database_url, config) as svc:
        webhook = svc.update(ref, **changes)
    err.print(f"webhook {webhook.id} {webhook.name!r} updated", markup=False)
    _show(webhook, as_json)


@app.command("delete")
def delete(ref: Ref, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Delete a webhook and its deliveries (queued events are not sent)."""
    with webhook_service(database_url, config) as svc:
        gone = svc.delete(ref)
    err.print(f"webhook {gone.id} {gone.name!r} deleted", markup=False)


@app.command("resume")
def resume(ref: Ref, as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Resume a paused webhook: its queued deliveries are sent again, in order, by the server."""
    with webhook_service(database_url, config) as svc:
        webhook = svc.resume(ref)
    err.print(f"webhook {webhook.id} {webhook.name!r} resumed", markup=False)
    _show(webhook, as_json)


@app.command("rotate-secret")
def rotate_secret(
    ref: Ref, as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """Give the webhook a new signing secret (printed once); the old one stops at once."""
    with webhook_service(database_url, config) as svc:
        webhook, secret = svc.rotate_secret(ref)
    _print_secret(webhook, secret, as_json)


@app.command("test")
def test(ref: Ref, as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Send a signed test event from this machine now; exit 1 unless the receiver answered 2xx."""
    with webhook_service(database_url, config) as svc:
        sent = svc.test(ref)
    if as_json:
        print_json(sent.to_dict())
    else:
        answer = f"HTTP {sent.status_code}" if sent.status_code is not None else "no answer"
        out.print(f"test delivery {sent.event_id}: {answer} in {sent.latency_ms} ms", markup=False)
        if sent.last_error:
            out.print(f"error: {sent.last_error}", markup=False)
    if sent.delivered_time is None:
        raise typer.Exit(1)


@app.command("deliveries")
def deliveries(
    ref: Ref,
    state: Annotated[
        str | None, typer.Option("--state", help=f"Only these: {', '.join(DELIVERY_STATES)}.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many (a page).")] = 20,
    page_token: Annotated[str | None, typer.Option("--page-token", help="The next page, as printed.")] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """A webhook's deliveries, newest first."""
    with webhook_service(database_url, config) as svc:
        _, items, token = svc.deliveries(ref, state=state, page_size=limit, page_token=page_token)
    if as_json:
        print_json({"items": [d.to_dict() for d in items], "nextPageToken": token})
        return
    table = Table("id", "event", "type", "state", "status", "attempts", "latency", "last attempt", "last error")
    for d in items:
        table.add_row(
            str(d.id),
            d.event_id,
            d.event_type,
            d.state,
            "-" if d.status_code is None else str(d.status_code),
            str(d.attempts),
            "-" if d.latency_ms is None else f"{d.latency_ms} ms",
            when(d.last_attempt_time),
            d.last_error or "",
        )
    out.print(table)
    if token:
        err.print(f"more: --page-token {token}", markup=False)

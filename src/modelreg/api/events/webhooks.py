"""``/api/events/v1/webhooks``: thin over `events.webhooks.WebhookService`. Admins only, reads included (a
webhook's URL often carries a token); the signing secret is in the answers of create and of ``POST .../secret``
(rotate), and nowhere else."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelreg.api.governance.common import requires
from modelreg.api.registry.common import ERRORS, RegistryRouter, json_response
from modelreg.auth.principal import Permission
from modelreg.db.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from modelreg.errors import InvalidInput
from modelreg.events.webhook_model import Webhook
from modelreg.events.webhooks import WebhookService
from modelreg.services.lifecycle import Stage

router = RegistryRouter(
    responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}}, dependencies=[requires(Permission.MANAGE)]
)
Ref = Annotated[str, Path(min_length=1, max_length=255, description="The webhook's id or name.")]
Pattern = Annotated[str, Field(min_length=1, max_length=128)]
# wire name → WebhookService.update's argument
_UPDATABLE = {
    "name": "name",
    "url": "url",
    "eventTypes": "event_types",
    "modelFilter": "model_filter",
    "stageFilter": "stage_filter",
    "description": "description",
    "active": "active",
}
_NOT_NULL = ("name", "url", "eventTypes", "active")


async def _service(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhooks
    return service


WebhooksDep = Annotated[WebhookService, Depends(_service)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class WebhookCreate(_Strict):
    name: str = Field(min_length=1, max_length=255)
    url: str = Field(min_length=1, max_length=2048, examples=["https://ci.example.com/hooks/modelreg"])
    eventTypes: list[Pattern] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        max_length=50,
        description="Event type patterns with * wildcards; each must match a type modelreg emits (docs/events.md).",
        examples=[["io.modelreg.model_version.stage_changed", "io.modelreg.upload.*"]],
    )
    modelFilter: str | None = Field(default=None, max_length=255, description="A model name, or a glob of names.")
    stageFilter: Stage | None = Field(default=None, description="Only model versions in this lifecycle stage.")
    description: str | None = Field(default=None, max_length=1000)
    active: bool = True


class WebhookUpdate(_Strict):
    """The fields given are changed; ``null`` clears a filter or the description."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    eventTypes: list[Pattern] | None = Field(default=None, min_length=1, max_length=50)
    modelFilter: str | None = Field(default=None, max_length=255)
    stageFilter: Stage | None = None
    description: str | None = Field(default=None, max_length=1000)
    active: bool | None = None


def _with_secret(webhook: Webhook, secret: str, status_code: int = 200) -> Response:
    response = json_response({**webhook.to_dict(), "secret": secret}, status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/webhooks", tags=["Events"])
def list_webhooks(svc: WebhooksDep) -> Response:
    return json_response({"items": [w.to_dict() for w in svc.list()]})


@router.post("/webhooks", status_code=201, tags=["Events"])
def create_webhook(svc: WebhooksDep, body: WebhookCreate, request: Request) -> Response:
    """The answer carries ``secret``, the signing secret: store it now, it is not shown again."""
    webhook, secret = svc.create(
        body.name,
        body.url,
        body.eventTypes,
        model_filter=body.modelFilter,
        stage_filter=body.stageFilter,
        description=body.description,
        active=body.active,
    )
    response = _with_secret(webhook, secret, 201)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{webhook.id}"
    return response


@router.get("/webhooks/{ref}", tags=["Events"])
def get_webhook(svc: WebhooksDep, ref: Ref) -> Response:
    return json_response(svc.get(ref).to_dict())


@router.patch("/webhooks/{ref}", tags=["Events"])
def update_webhook(svc: WebhooksDep, ref: Ref, body: WebhookUpdate) -> Response:
    given = body.model_fields_set
    nulls = [name for name in _NOT_NULL if name in given and getattr(body, name) is None]
    if nulls:
        raise InvalidInput(f"{', '.join(nulls)} cannot be null (leave a field out to keep it as it is)")
    changes = {argument: getattr(body, name) for name, argument in _UPDATABLE.items() if name in given}
    return json_response(svc.update(ref, **changes).to_dict())


@router.delete("/webhooks/{ref}", tags=["Events"])
def delete_webhook(svc: WebhooksDep, ref: Ref) -> Response:
    return json_response(svc.delete(ref).to_dict())


@router.post("/webhooks/{ref}/test", tags=["Events"])
async def test_webhook(svc: WebhooksDep, ref: Ref) -> Response:
    """Send a signed ``io.modelreg.webhook.test`` event now and answer with the delivery (state ``test``): 200
    whatever the receiver answered; ``statusCode`` and ``lastError`` say how it went."""
    return json_response((await run_in_threadpool(svc.test, ref)).to_dict())


@router.post("/webhooks/{ref}/resume", tags=["Events"])
def resume_webhook(svc: WebhooksDep, ref: Ref) -> Response:
    """Undo a pause: queued deliveries are sent from now on, in order."""
    return json_response(svc.resume(ref).to_dict())


@router.post("/webhooks/{ref}/secret", tags=["Events"])
def rotate_secret(svc: WebhooksDep, ref: Ref) -> Response:
    """A new signing secret, in the answer only; the old one stops at once."""
    return _with_secret(*svc.rotate_secret(ref))


@router.get("/webhooks/{ref}/deliveries", tags=["Events"])
def list_deliveries(
    svc: WebhooksDep,
    ref: Ref,
    state: Annotated[Literal["pending", "delivered", "failed", "test"] | None, Query()] = None,
    pageSize: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
    nextPageToken: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """Newest first."""
    _, items, token = svc.deliveries(ref, state=state, page_size=pageSize, page_token=nextPageToken)
    return json_response(
        {
            "items": [d.to_dict() for d in items],
            "size": len(items),
            "pageSize": pageSize or DEFAULT_PAGE_SIZE,
            "nextPageToken": token,
        }
    )

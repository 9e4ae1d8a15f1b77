"""Who am I, role bindings and API tokens. Bindings and tokens are admin-only (the ``manage`` permission)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import Response

from modelreg.api.deps import AccessDep, AuthenticatorDep
from modelreg.api.governance.common import requires
from modelreg.api.registry.common import ERRORS, PathId, RegistryRouter, json_response
from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.services.access import parse_duration
from modelreg.services.entities import parse_id

# A user or group name: printable, no surrounding spaces (services/access.py::check_subject says the same).
Subject = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=255, pattern=r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
    ),
]
router = RegistryRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})
MANAGE = requires(Permission.MANAGE, "manage role bindings and API tokens")


class BindingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subjectKind: Literal["user", "group"]
    subject: Subject
    role: Literal["admin", "developer", "viewer"]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Subject
    groups: list[Subject] = Field(default_factory=list, max_length=100)
    expiresIn: str | None = Field(
        default=None, pattern=r"^[1-9][0-9]{0,5}[smhdw]$", description="e.g. 30d, 12h; default: never", examples=["30d"]
    )
    description: str | None = Field(default=None, max_length=1000)


@router.get("/whoami", tags=["Governance"])
async def whoami() -> Response:
    principal = context.current().principal
    return json_response(
        {
            "user": principal.user,
            "groups": list(principal.groups),
            "method": principal.identity.method,
            "roles": sorted(principal.roles),
            "permissions": sorted(principal.permissions),
        }
    )


@router.get("/rolebindings", tags=["Governance"], dependencies=[MANAGE])
def list_bindings(
    svc: AccessDep,
    subject: Annotated[str | None, Query()] = None,
    role: Annotated[str | None, Query()] = None,
) -> Response:
    return json_response({"items": [b.to_dict() for b in svc.list_bindings(subject, role)]})


@router.post("/rolebindings", status_code=201, tags=["Governance"], dependencies=[MANAGE])
def create_binding(svc: AccessDep, auth: AuthenticatorDep, body: BindingCreate) -> Response:
    binding = svc.create_binding(body.subjectKind, body.subject, body.role)
    auth.forget()
    return json_response(binding.to_dict(), 201)


@router.delete("/rolebindings/{bindingId}", tags=["Governance"], dependencies=[MANAGE])
def delete_binding(svc: AccessDep, auth: AuthenticatorDep, bindingId: PathId) -> Response:
    binding = svc.delete_binding(parse_id(bindingId, "role binding"))
    auth.forget()
    return json_response(binding.to_dict())


@router.get("/tokens", tags=["Governance"], dependencies=[MANAGE])
def list_tokens(
    svc: AccessDep,
    user: Annotated[str | None, Query()] = None,
    includeInactive: Annotated[bool, Query()] = False,
) -> Response:
    return json_response({"items": [t.to_dict() for t in svc.list_tokens(user, includeInactive)]})


@router.post("/tokens", status_code=201, tags=["Governance"], dependencies=[MANAGE])
def create_token(svc: AccessDep, body: TokenCreate) -> Response:
    """The response carries the token itself, the only time it is ever shown."""
    expires = parse_duration(body.expiresIn) if body.expiresIn else None
    secret, info = svc.create_token(body.user, body.groups, expires, body.description)
    return json_response({**info.to_dict(), "token": secret}, 201)


@router.delete("/tokens/{tokenId}", tags=["Governance"], dependencies=[MANAGE])
def revoke_token(svc: AccessDep, auth: AuthenticatorDep, tokenId: PathId) -> Response:
    info = svc.revoke_token(parse_id(tokenId, "API token"))
    auth.forget()
    return json_response(info.to_dict())

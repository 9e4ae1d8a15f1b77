"""Lifecycle stages of model versions: promote by id or by names, and read the effective policy.

The service decides everything (permission, policy roles, allowed sources, checks); these handlers only parse.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelreg.api.deps import LifecycleDep
from modelreg.api.governance.common import requires
from modelreg.api.registry.common import ERRORS, PathId, RegistryRouter, json_response, one
from modelreg.auth.principal import Permission
from modelreg.services import entities as e
from modelreg.services.entities import parse_id
from modelreg.services.lifecycle import Stage

router = RegistryRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})


Comment = Annotated[str | None, Field(max_length=1000, description="Why; kept in the audit record.")]


class PromoteRequest(BaseModel):
    """Strict, as every body here: an unknown field or stage is a 400 naming it (the stage's enum is in the
    OpenAPI document, so clients and the schema fuzzers know the allowed values)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    stage: Stage = Field(description="The stage to move the version to.")
    comment: Comment = None


class PromoteByNameRequest(PromoteRequest):
    registeredModelName: str = Field(min_length=1)
    versionName: str = Field(min_length=1)


@router.post(
    "/model_versions/{modelversionId}/promote", tags=["Governance"], dependencies=[requires(Permission.PROMOTE)]
)
def promote(svc: LifecycleDep, modelversionId: PathId, body: Annotated[PromoteRequest, Body()]) -> Response:
    """Move the version to ``stage``; the answer is the version in Kubeflow shape (``customProperties.Lifecycle``)."""
    version_id = parse_id(modelversionId, e.MODEL_VERSION.label)
    return one(svc.promote(version_id, body.stage, body.comment))


@router.post("/promote", tags=["Governance"], dependencies=[requires(Permission.PROMOTE)])
def promote_by_name(svc: LifecycleDep, body: Annotated[PromoteByNameRequest, Body()]) -> Response:
    """As above, naming the registered model and the version (what a CI pipeline knows)."""
    return one(svc.promote_by_name(body.registeredModelName, body.versionName, body.stage, body.comment).record)


@router.get("/lifecycle/policy", tags=["Governance"], dependencies=[requires(Permission.READ)])
async def policy(svc: LifecycleDep) -> Response:
    """The effective policy, in the policy file's format (the built-in default when no file is configured)."""
    return json_response(svc.policy.to_json())

"""The audit trail over REST: list records (filtered, keyset pages) and verify the hash chain.

Every role holds the ``audit`` permission: "who promoted this, and when" is a question for everyone, not only
admins. Parameters are parsed by the service's helpers, so REST and CLI accept the same values.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from starlette.responses import Response

from modelreg.api.deps import AuditDep
from modelreg.api.governance.common import requires
from modelreg.api.registry.common import ERRORS, RegistryRouter, json_response
from modelreg.auth.principal import Permission
from modelreg.errors import InvalidInput
from modelreg.services.audit import DEFAULT_PAGE_SIZE, parse_anchor, parse_entity_id, parse_time, to_wire

router = RegistryRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})
AUDIT = requires(Permission.AUDIT, "read the audit trail")


_WORD = r"^[a-z_]{1,32}$"  # as services/audit.py checks entity kinds and actions
TimeQuery = Annotated[str | None, Query(max_length=64, description="ISO-8601 (naive = UTC) or epoch milliseconds.")]


@router.get("/audit/records", tags=["Governance"], dependencies=[AUDIT])
def list_records(
    svc: AuditDep,
    entityKind: Annotated[str | None, Query(pattern=_WORD, description="e.g. model_version.")] = None,
    entityId: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,18}$", description="Needs entityKind.")] = None,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    action: Annotated[str | None, Query(pattern=_WORD, description="create, update, archive, ...")] = None,
    since: TimeQuery = None,
    until: TimeQuery = None,
    pageSize: Annotated[
        str | None, Query(pattern=r"^[1-9][0-9]{0,8}$", description="Records per page, at most 1000.")
    ] = None,
    nextPageToken: Annotated[str | None, Query(max_length=1024)] = None,
    order: Annotated[
        Literal["asc", "desc"] | None, Query(description="asc (oldest first, the default) or desc.")
    ] = None,
) -> Response:
    """Records in chain order; ``since`` is inclusive, ``until`` exclusive."""
    if entityId is not None and int(entityId) >= 2**63:  # no entity has such an id
        return json_response({"items": [], "nextPageToken": "", "size": 0})
    records, token = svc.query(
        entity_kind=entityKind,
        entity_id=None if entityId is None else parse_entity_id(entityId),
        actor=actor,
        action=action,
        since_ms=None if since is None else parse_time(since, "since"),
        until_ms=None if until is None else parse_time(until, "until"),
        page_size=_page_size(pageSize),
        page_token=nextPageToken or None,
        newest_first=_newest_first(order),
    )
    items = [to_wire(r) for r in records]
    return json_response({"items": items, "nextPageToken": token, "size": len(items)})


@router.get("/audit/verify", tags=["Governance"], dependencies=[AUDIT])
def verify(
    svc: AuditDep,
    anchor: Annotated[
        str | None, Query(pattern=r"^[1-9][0-9]{0,18}:[0-9a-f]{64}$", description="SEQ:HASH from an earlier verify.")
    ] = None,
) -> Response:
    """200 either way: ``valid`` says whether the chain is intact, ``firstBad`` where it breaks."""
    return json_response(svc.verify(anchor=None if anchor is None else parse_anchor(anchor)).to_dict())


def _page_size(value: str | None) -> int:
    if value in (None, ""):
        return DEFAULT_PAGE_SIZE
    if not (value.isascii() and value.isdigit()) or int(value) <= 0:
        raise InvalidInput(f"invalid pageSize {value!r}: must be a positive integer")
    return int(value)


def _newest_first(value: str | None) -> bool:
    order = (value or "asc").lower()
    if order not in ("asc", "desc"):
        raise InvalidInput(f"invalid order {value!r}: must be asc or desc")
    return order == "desc"

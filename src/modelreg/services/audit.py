"""The audit trail: every write through any interface stages one record here, in its own transaction.

Records carry who (actor, how they authenticated, client address, request id), what (action, entity kind, id and
name) and the changed fields before and after. ``storage/audit_chain.py`` numbers and chains them at commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import Connection

from modelreg.auth import context
from modelreg.services import clock
from modelreg.services.properties import PropValue

CUSTOM_PROPERTIES = "customProperties"


def stage(
    conn: Connection,
    action: str,
    entity_kind: str,
    entity_id: int | None,
    entity_name: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    """Stage one record on the write transaction of ``conn`` (see ``Database.write``)."""
    ctx = context.current()
    identity = ctx.principal.identity
    changes = orjson.dumps({"before": before, "after": after}, option=orjson.OPT_SORT_KEYS, default=str).decode()
    conn.info["audit"].append(
        {
            "time_ms": clock.now_ms(),
            "actor": identity.user[:255],
            "via": identity.method,
            "action": action,
            "entity_kind": entity_kind,
            "entity_id": entity_id,
            "entity_name": entity_name,
            "changes": changes,
            "request_id": (ctx.request_id or None) and ctx.request_id[:64],
            "client": (ctx.client or None) and ctx.client[:64],
        }
    )


def snapshot(values: Mapping[str, Any], props: Mapping[str, PropValue] | None) -> dict[str, Any]:
    """The non-empty fields of a row plus its custom properties, as an audit record shows them."""
    out = {k: v for k, v in values.items() if v is not None and k not in ("create_time", "last_update_time")}
    if props:
        out[CUSTOM_PROPERTIES] = {name: p.value for name, p in props.items()}
    return out


def diff(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    props_before: Mapping[str, PropValue] | None = None,
    props_after: Mapping[str, PropValue] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields that changed, before and after; custom properties compared by name (``None`` = not given)."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for key, value in after.items():
        if key in ("last_update_time", "create_time", "id"):
            continue
        if before.get(key) != value:
            old[key], new[key] = before.get(key), value
    if props_after is not None:
        props_before = props_before or {}
        changed = {
            name for name in props_before.keys() | props_after.keys() if props_before.get(name) != props_after.get(name)
        }
        if changed:
            old[CUSTOM_PROPERTIES] = {n: _value(props_before.get(n)) for n in sorted(changed)}
            new[CUSTOM_PROPERTIES] = {n: _value(props_after.get(n)) for n in sorted(changed)}
    return old, new


def _value(prop: PropValue | None) -> Any:
    return None if prop is None else prop.value

"""Custom properties: typed values kept in the ``properties`` table, keyed by (owner kind, owner id, name)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, select

from modelreg.db import prepared, repository
from modelreg.db.tables import properties

_COLUMN = {"string": "string_value", "int": "int_value", "double": "double_value", "bool": "bool_value"}
_VALUE_AT = {"string_value": 0, "int_value": 1, "double_value": 2, "bool_value": 3}  # in rows as read


class PropValue(NamedTuple):
    type: str  # string | int | double | bool | struct | proto
    value: Any


_p = properties.c
_SELECT = select(_p.owner_id, _p.name, _p.value_type, _p.string_value, _p.int_value, _p.double_value, _p.bool_value)
# Statements built once: the single-owner case is on every get-by-id.
_FOR_ONE = _SELECT.where(_p.owner_kind == bindparam("kind"), _p.owner_id == bindparam("id"))
_INSERT_COLUMNS = (
    "owner_kind",
    "owner_id",
    "name",
    "value_type",
    "string_value",
    "int_value",
    "double_value",
    "bool_value",
)
_POSITION = {name: i for i, name in enumerate(_INSERT_COLUMNS)}
_FOR_MANY = _SELECT.where(_p.owner_kind == bindparam("kind"), _p.owner_id.in_(bindparam("ids", expanding=True)))


def load(conn: Connection, owner_kind: str, ids: Iterable[int]) -> dict[int, dict[str, PropValue]]:
    ids = list(ids)
    out: dict[int, dict[str, PropValue]] = {i: {} for i in ids}
    if not ids:
        return out
    rows: Iterable[Sequence[Any]]
    if len(ids) == 1:  # every get-by-id and every write: on the driver's cursor (db/prepared.py)
        rows = prepared.fetch(conn, _FOR_ONE, {"kind": owner_kind, "id": ids[0]})[1]
    else:
        rows = conn.execute(_FOR_MANY, {"kind": owner_kind, "ids": ids})
    for owner_id, name, value_type, s, i, d, b in rows:
        out[owner_id][name] = _typed(value_type, s, i, d, b)
    return out


def typed(rows: Iterable[Sequence[Any]]) -> dict[str, PropValue]:
    """Properties as ``repository.Entity.properties`` holds them, (name, value type, string, int, double, bool)
    rows, as the map ``load`` gives."""
    return {name: _typed(value_type, s, i, d, b) for name, value_type, s, i, d, b in rows}


def _typed(value_type: str, s: str | None, i: int | None, d: float | None, b: Any) -> PropValue:
    """The value from the column its type is stored in (``_COLUMN``: struct and proto values are text), a boolean
    as ``bool`` whatever integer the driver gives."""
    value = (s, i, d, b)[_VALUE_AT[_COLUMN.get(value_type, "string_value")]]
    return PropValue(value_type, bool(value) if value_type == "bool" else value)


def typed_scalar(value: Any) -> dict[str, Any] | None:
    """A plain JSON scalar as the REST API's typed custom property value of its JSON type (a bool stays a bool),
    ``None`` for anything else: how transfer jobs and imports take plain values."""
    if isinstance(value, bool):
        return {"metadataType": "MetadataBoolValue", "bool_value": value}
    if isinstance(value, int):
        return {"metadataType": "MetadataIntValue", "int_value": str(value)}
    if isinstance(value, float):
        return {"metadataType": "MetadataDoubleValue", "double_value": value}
    if isinstance(value, str):
        return {"metadataType": "MetadataStringValue", "string_value": value}
    return None


def replace(conn: Connection, owner_kind: str, owner_id: int, props: Mapping[str, PropValue]) -> None:
    """Replace the whole map, as a PATCH with ``customProperties`` does."""
    conn.execute(delete(properties).where(properties.c.owner_kind == owner_kind, properties.c.owner_id == owner_id))
    add(conn, owner_kind, owner_id, props)


def add(conn: Connection, owner_kind: str, owner_id: int, props: Mapping[str, PropValue]) -> None:
    if not props:
        return
    rows = []
    for name, prop in props.items():
        values: list[Any] = [owner_kind, owner_id, name, prop.type, None, None, None, None]
        values[_POSITION[_COLUMN.get(prop.type, "string_value")]] = (
            prop.value if prop.type != "proto" else _text(prop.value)
        )
        rows.append(tuple(values))
    repository.insert_raw(conn, properties, _INSERT_COLUMNS, rows)


def delete_all(conn: Connection, owner_kind: str, owner_ids: Iterable[int]) -> None:
    conn.execute(
        delete(properties).where(properties.c.owner_kind == owner_kind, properties.c.owner_id.in_(list(owner_ids)))
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

"""Keyset pagination with opaque tokens.

A token names the last row of the previous page (its sort value and id) and the ordering it belongs to, so pages
stay stable while rows are inserted concurrently: new rows never shift an already-issued page boundary.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson
from sqlalchemy import ColumnElement, Table, and_, or_

from modelreg.errors import InvalidInput

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_ORDER_COLUMNS = {"ID": "id", "CREATE_TIME": "create_time", "LAST_UPDATE_TIME": "last_update_time"}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class PageRequest:
    size: int = DEFAULT_PAGE_SIZE
    order_by: str = "ID"
    descending: bool = False
    after: tuple[int, int] | None = None  # (sort value, id) of the previous page's last row

    @classmethod
    def parse(
        cls,
        page_size: str | int | None = None,
        order_by: str | None = None,
        sort_order: str | None = None,
        next_page_token: str | None = None,
    ) -> PageRequest:
        size = DEFAULT_PAGE_SIZE
        if page_size not in (None, ""):
            try:
                size = int(page_size)
            except ValueError:
                raise InvalidInput(f"invalid pageSize {page_size!r}: must be a positive integer") from None
            if size <= 0:
                raise InvalidInput(f"invalid pageSize {size}: must be a positive integer")
            size = min(size, MAX_PAGE_SIZE)
        order = (order_by or "ID").upper()
        if order not in _ORDER_COLUMNS:
            raise InvalidInput(f"invalid orderBy {order_by!r}: must be one of ID, CREATE_TIME, LAST_UPDATE_TIME")
        sort = (sort_order or "ASC").upper()
        if sort not in ("ASC", "DESC"):
            raise InvalidInput(f"invalid sortOrder {sort_order!r}: must be ASC or DESC")
        after = _decode(next_page_token, order) if next_page_token else None
        return cls(size=size, order_by=order, descending=sort == "DESC", after=after)

    def sort_column(self, table: Table) -> Any:
        return table.c[_ORDER_COLUMNS[self.order_by]]

    def order_clause(self, table: Table) -> list[Any]:
        col, id_col = self.sort_column(table), table.c.id
        if self.order_by == "ID":
            return [id_col.desc() if self.descending else id_col.asc()]
        if self.descending:
            return [col.desc(), id_col.desc()]
        return [col.asc(), id_col.asc()]

    def after_clause(self, table: Table) -> ColumnElement[bool] | None:
        if self.after is None:
            return None
        value, last_id = self.after
        col, id_col = self.sort_column(table), table.c.id
        if self.order_by == "ID":
            return id_col < last_id if self.descending else id_col > last_id
        if self.descending:
            return or_(col < value, and_(col == value, id_col < last_id))
        return or_(col > value, and_(col == value, id_col > last_id))

    def token_for(self, row: Any) -> str:
        value = row[_ORDER_COLUMNS[self.order_by]]
        raw = orjson.dumps([self.order_by, value, row["id"]])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def is_int64(value: Any) -> TypeGuard[int]:
    """A JSON integer every database can bind as BIGINT: not a bool (an ``int`` in Python), not beyond 64 bits."""
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


def _decode(token: str, order: str) -> tuple[int, int]:
    """``(sort value, id)`` of a token this server issued for ``order``. Anything else is a 400, whatever JSON it
    holds (booleans, floats, lists, 2^63...), so no token value ever reaches the database unchecked."""
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):  # binascii.Error and orjson.JSONDecodeError are ValueErrors
        payload = None
    valid = (
        isinstance(payload, list)
        and len(payload) == 3
        and isinstance(payload[0], str)
        and payload[0] in _ORDER_COLUMNS
        and is_int64(payload[1])
        and is_int64(payload[2])
    )
    if not valid:
        raise InvalidInput("invalid nextPageToken: not a token issued by this server")
    token_order, value, last_id = payload
    if token_order != order:
        raise InvalidInput(f"invalid nextPageToken: it was issued for orderBy={token_order}, not {order}")
    return value, last_id

"""Keyset pagination with opaque tokens.

A token names the last row of the previous page (its sort value and id) and the ordering it belongs to, so pages
stay stable while rows are inserted concurrently: new rows never shift an already-issued page boundary.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Table, and_, or_

from modelreg.errors import InvalidInput

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_ORDER_COLUMNS = {"ID": "id", "CREATE_TIME": "create_time", "LAST_UPDATE_TIME": "last_update_time"}


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
                size = int(page_size)  # type: ignore[arg-type]
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


def _decode(token: str, order: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        token_order, value, last_id = orjson.loads(raw)
        if not isinstance(value, int) or not isinstance(last_id, int):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidInput("invalid nextPageToken: not a token issued by this server") from None
    if token_order != order:
        raise InvalidInput(f"invalid nextPageToken: it was issued for orderBy={token_order}, not {order}")
    return value, last_id

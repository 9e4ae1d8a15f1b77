"""Table ``import_records``: which modelreg entity each source entity became, and the fingerprint of what the source
said when it was last imported.

A run reads its source's rows once (`load`) and keeps them in memory; each write records its row (`Rows`) in the
transaction that writes the entity, so a crash never leaves an entity without its row (the next run would create it
twice) nor a row without its entity."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, select, update

from modelreg.db.database import Database
from modelreg.db.tables import import_records
from modelreg.importers.model import SourceEntity
from modelreg.services import clock

_r = import_records.c
Key = tuple[str, str]  # (source kind, source id)


@dataclass(frozen=True)
class Entry:
    entity_kind: str
    entity_id: int  # 0 for an entity a dry run plans to create
    fingerprint: str


def fingerprint(entity: SourceEntity) -> str:
    """SHA-256 of the entity's canonical JSON: equal exactly when the source says the same thing again."""
    canonical = orjson.dumps(entity, option=orjson.OPT_SORT_KEYS, default=_plain)  # orjson encodes dataclasses
    return hashlib.sha256(canonical).hexdigest()


def _plain(value: Any) -> Any:
    """What orjson cannot encode by itself: read-only mappings (a source may hand ``MappingProxyType``s), bytes."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    try:
        return dict(value)
    except (TypeError, ValueError):
        return str(value)


def load(db: Database, source: str) -> dict[Key, Entry]:
    """Everything this source brought in before, by (source kind, source id)."""
    query = select(_r.source_kind, _r.source_id, _r.entity_kind, _r.entity_id, _r.fingerprint).where(
        _r.source == source
    )
    with db.read() as conn:
        return {
            (kind, id_): Entry(entity_kind, entity_id, fp)
            for kind, id_, entity_kind, entity_id, fp in conn.execute(query)
        }


# Built once: a run writes one row per entity, and building the statement costs more than SQLite runs it.
_INSERT = insert(import_records)
_UPDATE = (
    update(import_records)
    .where(_r.source == bindparam("s"), _r.source_kind == bindparam("k"), _r.source_id == bindparam("i"))
    .values(
        entity_kind=bindparam("entity_kind"),
        entity_id=bindparam("entity_id"),
        fingerprint=bindparam("fingerprint"),
        import_time=bindparam("import_time"),
    )
)


class Rows:
    """The ledger rows of one transaction's entities, written together at its end (``write``): one statement for
    all, where a row per entity cost a round trip each on a server database. Still in the entities' transaction."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.new: dict[Key, dict[str, Any]] = {}
        self.known: dict[Key, dict[str, Any]] = {}

    def recorder(self, entity: SourceEntity, entry: Entry, *, known: bool) -> Callable[[Connection, int], None]:
        """What the import service calls inside the entity's transaction, with the entity's id: keeps its row (a
        new one unless ``known``) for ``write``."""

        def record(_conn: Connection, entity_id: int) -> None:
            key = (entity.kind, entity.source_id)
            values = {
                "entity_kind": entry.entity_kind,
                "entity_id": entity_id,
                "fingerprint": entry.fingerprint,
                "import_time": clock.now_ms(),
            }
            if known:
                self.known[key] = {"s": self.source, "k": entity.kind, "i": entity.source_id, **values}
            else:
                self.new[key] = {
                    "source": self.source,
                    "source_kind": entity.kind,
                    "source_id": entity.source_id,
                    **values,
                }

        return record

    def write(self, conn: Connection) -> None:
        """Write the rows kept since the last ``write`` (new ones first: a later update may be of one of them)."""
        if self.new:
            conn.execute(_INSERT, list(self.new.values()))
        if self.known:
            conn.execute(_UPDATE, list(self.known.values()))
        self.new.clear()
        self.known.clear()

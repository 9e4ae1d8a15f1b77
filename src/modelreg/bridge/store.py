"""The bridge's records in the registry database: written by the sync, read by the location service and the CLI.

One row per live version holds its model catalog JSON (the served format, rendered when the row is written), its
markdown model card and its normalized record. The per-model catalog-info.yaml is rendered from the records of the
model's rows when it is read, and cached by what it was rendered from: a write renders only the changed version's
JSON, never a whole model's YAML that may not even be served. Serving a JSON document is one primary-key read,
a YAML one an index range read of the model's rows, and `/bridge/list` one index scan, whichever process asks.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import groupby
from typing import Any, Literal

from sqlalchemy import BindParameter, Connection, and_, bindparam, delete, func, insert, or_, select

from modelreg.bridge import driver
from modelreg.bridge.formats import CatalogInfoYamlFormat, JsonArrayFormat, link_url
from modelreg.bridge.pacing import pace
from modelreg.bridge.records import ModelRecord, record_from_json, record_json
from modelreg.db.repository import upsert
from modelreg.db.tables import bridge_records, bridge_sources
from modelreg.redact import public_text

Format = Literal["json", "yaml"]
Row = dict[str, Any]  # a bridge_records row without `synced_at`
JSON = JsonArrayFormat()
YAML = CatalogInfoYamlFormat()
_CHUNK = 2000
_r, _s = bridge_records.c, bridge_sources.c
# What a row is compared on: everything but when it was written.
COLUMNS = tuple(c for c in bridge_records.c if c.name != "synced_at")


def record_uri(model_key: str, key: str) -> str:
    return f"/{model_key}/{key}/{JSON.filename}"


def model_uri(model_key: str) -> str:
    return f"/{model_key}/{YAML.filename}"


def model_card(record: ModelRecord, readme: str | None = None) -> str:
    """Markdown for TechDocs: the model's readme when it has one, under a summary of the record."""
    props = record.properties
    lines = [f"# {record.model_name} {record.version_name}", ""]
    if record.description:
        lines += [record.description, ""]
    lines += ["| | |", "|---|---|", f"| Owner | {record.owner} |", f"| Lifecycle | {record.lifecycle} |"]
    for label, value in (("License", props.license), ("Provider", props.provider)):
        if value:
            lines.append(f"| {label} | {value} |")
    lines.append("")
    for title, text in (
        ("How to use", props.how_to_use),
        ("Usage", props.usage),
        ("Training", props.training),
        ("Ethics", props.ethics),
        ("Support", props.support),
    ):
        if text:
            lines += [f"## {title}", "", text, ""]
    if record.artifacts:
        lines += ["## Artifacts", ""]
        lines += [f"- {a.name}: `{a.uri}`" for a in record.artifacts if a.uri]
        lines.append("")
    endpoints = [ep for ep in record.endpoints if link_url(ep.url)]
    if endpoints:
        lines += ["## Endpoints", ""]
        lines += [f"- {ep.service_name}: <{ep.url}>" for ep in endpoints]
        lines.append("")
    if readme and readme.strip():
        lines += ["## Model card", "", public_text(readme.strip()), ""]  # readmes are not records: redact here
    return "\n".join(lines)


def _in_chunks(values: Collection[str]) -> Iterable[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


# --- writes --------------------------------------------------------------------------------------------------------


def record_row(record: ModelRecord, source: str, card: str) -> Row:
    return {
        "key": record.key,
        "source": source,
        "model_key": record.model_key,
        "registered_model_id": record.registered_model_id,
        "model_version_id": record.model_version_id,
        "last_update_time": record.last_update,
        "document": JSON.render(record).decode(),
        "model_card": card,
        "record": record_json(record),
    }


def rows_for(
    records: Sequence[ModelRecord],
    source: str,
    readmes: Mapping[str, str | None],
    existing: Mapping[str, Row],
    *,
    cards: Mapping[str, str] | None = None,
    keep_cards: Collection[str] = (),
) -> dict[str, Row]:
    """The rows `records` should have. `cards` (record key → catalog readme) take precedence over the registry
    readme; records in `keep_cards` keep their stored card (the catalog failed, and an error never removes a card)."""
    cards = cards or {}
    rows: dict[str, Row] = {}
    for r in records:
        kept = existing[r.key]["model_card"] if r.key in keep_cards and r.key in existing else None
        card = kept or model_card(r, cards.get(r.key) or readmes.get(r.registered_model_id))
        rows[r.key] = record_row(r, source, card)
        pace()
    return rows


@cache
def _stored_query(*, models: bool = False, versions: bool = False, keys: bool = False, every: bool = False) -> Any:
    """Rows of `:source` (`every`), or of its registered models `:models` and versions `:versions`, or with the
    keys `:keys`; each term has its index. Built once per shape: building IN clauses costs per value."""
    source: BindParameter[str] = bindparam("source")
    terms: list[Any] = []
    if every:
        terms.append(_r.source == source)
    if models:
        terms.append(and_(_r.source == source, _r.registered_model_id.in_(bindparam("models", expanding=True))))
    if versions:
        terms.append(and_(_r.source == source, _r.model_version_id.in_(bindparam("versions", expanding=True))))
    if keys:
        terms.append(_r.key.in_(bindparam("keys", expanding=True)))
    return select(*COLUMNS).where(or_(*terms))


def stored(
    conn: Connection,
    source: str,
    *,
    model_ids: Collection[str] | None = None,
    version_ids: Collection[str] = (),
    keys: Collection[str] = (),
    every: bool = False,
) -> dict[str, Row]:
    """Stored rows of `source`: all of them (`every`), or those of `model_ids` and `version_ids`; plus the rows
    with one of `keys` whatever they belong to (a model deleted and re-created under the same name)."""
    models, versions, named = sorted(model_ids or ()), sorted(version_ids), sorted(keys)
    queries: list[tuple[Any, dict[str, Any]]] = []
    if every:
        queries.append((_stored_query(every=True), {"source": source}))
    elif len(models) + len(versions) + len(named) <= _CHUNK:  # the usual refresh: one statement
        if models or versions or named:
            query = _stored_query(models=bool(models), versions=bool(versions), keys=bool(named))
            queries.append((query, {"source": source, "models": models, "versions": versions, "keys": named}))
        named = []
    else:
        queries += [(_stored_query(models=True), {"source": source, "models": c}) for c in _in_chunks(models)]
        queries += [(_stored_query(versions=True), {"source": source, "versions": c}) for c in _in_chunks(versions)]
    queries += [(_stored_query(keys=True), {"keys": c}) for c in _in_chunks(named)]
    found: dict[str, Row] = {}
    for query, params in queries:
        lists = {k: v for k, v in params.items() if isinstance(v, list)}
        values = {k: v for k, v in params.items() if not isinstance(v, list)}
        for row in driver.rows(conn, query, lists, **values):
            found[row["key"]] = row
    return found


@dataclass
class Diff:
    """What to write so that the stored rows become the wanted ones: rows to delete and rows to (re)insert."""

    deletes: list[Row] = field(default_factory=list)
    inserts: list[Row] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.deletes or self.inserts)

    def split(self, conflicts: Callable[[Row], bool]) -> tuple[Diff, Diff]:
        """(the rows for which `conflicts` is false, the rest)."""
        keep, drop = Diff(), Diff()
        for row in self.deletes:
            (drop if conflicts(row) else keep).deletes.append(row)
        for row in self.inserts:
            (drop if conflicts(row) else keep).inserts.append(row)
        return keep, drop


def diff(existing: Mapping[str, Row], wanted: Mapping[str, Row]) -> Diff:
    """Unchanged rows are left alone, so a refresh that changes nothing writes nothing."""
    return Diff(
        deletes=[row for key, row in existing.items() if key not in wanted],
        inserts=[row for key, row in wanted.items() if existing.get(key) != row],
    )


def apply(conn: Connection, changes: Diff, now: int) -> bool:
    """Write `changes`; True if any row changed. A row is replaced by key (delete, then insert), which also takes
    over a key another process wrote in the meantime."""
    keys = {row["key"] for row in changes.deletes} | {row["key"] for row in changes.inserts}
    for chunk in _in_chunks(keys):
        driver.execute(conn, _DELETE_KEYS, {"keys": chunk})
    driver.insert_many(conn, _INSERT, [{**row, "synced_at": now} for row in changes.inserts])
    return bool(keys)


_DELETE_KEYS = delete(bridge_records).where(_r.key.in_(bindparam("keys", expanding=True)))
_INSERT = insert(bridge_records)


def replace(
    conn: Connection,
    source: str,
    model_ids: Collection[str] | None,
    records: Sequence[ModelRecord],
    readmes: Mapping[str, str | None],
    now: int,
    *,
    cards: Mapping[str, str] | None = None,
    keep_cards: Collection[str] = (),
) -> bool:
    """Make the stored rows of `model_ids` (every model of `source` for None) exactly `records`, in the caller's
    transaction (a failure rolls back to the previous rows); True if any changed. For a source read whole, such
    as a remote registry: the local sync computes its `Diff` outside the write transaction instead."""
    existing = stored(conn, source, model_ids=model_ids, keys=[r.key for r in records], every=model_ids is None)
    wanted = rows_for(records, source, readmes, existing, cards=cards, keep_cards=keep_cards)
    return apply(conn, diff(existing, wanted), now)


def count(conn: Connection, source: str, model_ids: Collection[str]) -> int:
    total = 0
    for chunk in _in_chunks(model_ids):
        query = select(func.count()).where(_r.source == source, _r.registered_model_id.in_(chunk))
        total += int(conn.execute(query).scalar_one())
    return total


# --- the YAML, rendered when read ------------------------------------------------------------------------------------


class _YamlCache:
    """Rendered catalog-info.yaml per model key, valid while the model's stored records are the same: a model's
    YAML is rendered once per change of the model, however often it is read (LRU, `size` models)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def render(self, model_key: str, texts: Sequence[str]) -> bytes:
        digest = hashlib.blake2b("\0".join(texts).encode(), digest_size=16).digest()
        with self._lock:
            hit = self._entries.get(model_key)
            if hit is not None and hit[0] == digest:
                self._entries.move_to_end(model_key)
                return hit[1]
        records = sorted(map(record_from_json, texts), key=lambda r: (r.model_name, r.version_name, r.name))
        document = YAML.render(records)
        with self._lock:
            self._entries[model_key] = (digest, document)
            self._entries.move_to_end(model_key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return document


YAML_CACHE = _YamlCache()
_WITH_RECORD = _r.record.is_not(None)


def yaml_document(conn: Connection, model_key: str) -> bytes | None:
    query = select(_r.record).where(_r.model_key == model_key, _WITH_RECORD).order_by(_r.key)
    texts = list(conn.execute(query).scalars())
    return YAML_CACHE.render(model_key, texts) if texts else None


def _yaml_documents(conn: Connection) -> Iterator[tuple[str, bytes]]:
    rows = conn.execute(select(_r.model_key, _r.record).where(_WITH_RECORD).order_by(_r.model_key, _r.key))
    for model_key, group in groupby(rows, key=lambda row: row[0]):
        yield model_key, YAML_CACHE.render(model_key, [row[1] for row in group])


# --- reads -------------------------------------------------------------------------------------------------------

_LIST_JSON = select(_r.model_key, _r.key).order_by(_r.key)
_LIST_YAML = select(_r.model_key).distinct().order_by(_r.model_key)


def uris(conn: Connection, fmt: Format) -> list[str]:
    if fmt == "yaml":
        return [f"/{model_key}/{YAML.filename}" for (model_key,) in conn.execute(_LIST_YAML)]
    return [f"/{model_key}/{key}/{JSON.filename}" for model_key, key in conn.execute(_LIST_JSON)]


def document(conn: Connection, path: str) -> tuple[bytes, str] | None:
    """The stored document a location URI names, with its media type; None when there is none."""
    parts = path.strip("/").split("/")
    if len(parts) == 3 and parts[2] == JSON.filename:
        row = conn.execute(select(_r.document).where(_r.key == parts[1], _r.model_key == parts[0])).first()
        return (row[0].encode(), JSON.media_type) if row else None
    if len(parts) == 2 and parts[1] == YAML.filename:
        rendered = yaml_document(conn, parts[0])
        return (rendered, YAML.media_type) if rendered is not None else None
    return None


def card(conn: Connection, key: str) -> str | None:
    row = conn.execute(select(_r.model_card).where(_r.key == key)).first()
    return row[0] if row and row[0] is not None else None


def all_documents(conn: Connection, fmt: Format) -> Iterable[tuple[str, str]]:
    """(URI, document) of every stored record in `fmt`, for the CLI export and the outputs."""
    if fmt == "yaml":
        for model_key, rendered in _yaml_documents(conn):
            yield model_uri(model_key), rendered.decode()
    else:
        for model_key, key, doc in conn.execute(select(_r.model_key, _r.key, _r.document).order_by(_r.key)):
            yield record_uri(model_key, key), doc


# --- sync status ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceStatus:
    name: str
    last_sync: int | None
    last_full_sync: int | None
    last_error: str | None
    last_error_time: int | None
    versions: int
    models: int


def _upsert_status(conn: Connection, name: str, values: dict[str, Any]) -> None:
    """Replicas starting together on a new database each record their first sync: one inserts, the others update."""
    upsert(conn, bridge_sources, {"name": name}, values)


def mark_synced(conn: Connection, name: str, now: int, *, full: bool) -> None:
    values: dict[str, Any] = {"last_sync": now, "last_error": None, "last_error_time": None}
    if full:
        values["last_full_sync"] = now
    _upsert_status(conn, name, values)


def mark_failed(conn: Connection, name: str, now: int, error: str) -> None:
    _upsert_status(conn, name, {"last_error": error[:4000], "last_error_time": now})


def status(conn: Connection) -> list[SourceStatus]:
    counts: dict[str, int] = dict(conn.execute(select(_r.source, func.count()).group_by(_r.source)).all())
    models = select(_r.source, func.count(_r.model_key.distinct())).group_by(_r.source)
    model_counts: dict[str, int] = dict(conn.execute(models).all())
    out = []
    for row in conn.execute(select(bridge_sources).order_by(_s.name)).mappings():
        source = "" if row["name"] == "local" else row["name"]
        out.append(
            SourceStatus(
                name=row["name"],
                last_sync=row["last_sync"],
                last_full_sync=row["last_full_sync"],
                last_error=row["last_error"],
                last_error_time=row["last_error_time"],
                versions=int(counts.get(source, 0)),
                models=int(model_counts.get(source, 0)),
            )
        )
    return out

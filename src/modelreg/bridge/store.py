"""The bridge's records in the registry database: written by the sync, read by the location service and the CLI.

Documents are stored rendered (JSON per version, YAML per registered model, markdown model card per version), so
serving one is a primary-key read and `/bridge/list` one index scan, whichever server process asks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Column, Connection, Table, and_, delete, func, insert, select, update

from modelreg.bridge.formats import CatalogInfoYamlFormat, JsonArrayFormat, link_url
from modelreg.bridge.records import ModelRecord
from modelreg.storage.tables import bridge_models, bridge_records, bridge_sources

Format = Literal["json", "yaml"]
JSON = JsonArrayFormat()
YAML = CatalogInfoYamlFormat()
_CHUNK = 2000
_r, _m, _s = bridge_records.c, bridge_models.c, bridge_sources.c


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
        lines += ["## Model card", "", readme.strip(), ""]
    return "\n".join(lines)


def _in_chunks(values: Collection[str]) -> Iterable[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


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
    """Make the stored rows of `model_ids` (every model of `source` for None) exactly `records`; True if any changed.

    Runs in the caller's transaction, so a failure rolls back to the previous rows instead of leaving half a model.
    `cards` (record key → catalog readme) take precedence over the registry readme; records in `keep_cards` keep
    their stored card (the catalog failed, and an error never removes a card). Unchanged rows are left alone (a
    refresh that changes nothing writes nothing). Rows that now carry another model's key (a model deleted and
    re-created under the same name) are replaced by key.
    """
    cards = cards or {}
    kept = _stored_cards(conn, keep_cards) if keep_cards else {}
    versions = {
        r.key: {
            "key": r.key,
            "source": source,
            "model_key": r.model_key,
            "registered_model_id": r.registered_model_id,
            "model_version_id": r.model_version_id,
            "last_update_time": r.last_update,
            "document": JSON.render(r).decode(),
            "model_card": kept.get(r.key) or model_card(r, cards.get(r.key) or readmes.get(r.registered_model_id)),
            "synced_at": now,
        }
        for r in records
    }
    models = {}
    ordered = sorted(records, key=lambda r: (r.model_key, r.model_name, r.version_name))
    for model_key, group in groupby(ordered, key=lambda r: r.model_key):
        listed = list(group)
        models[model_key] = {
            "model_key": model_key,
            "source": source,
            "registered_model_id": listed[0].registered_model_id,
            "document": YAML.render(listed).decode(),
            "synced_at": now,
        }
    changed = _merge(conn, bridge_records, _r.key, source, model_ids, versions)
    return _merge(conn, bridge_models, _m.model_key, source, model_ids, models) or changed


def _stored_cards(conn: Connection, keys: Collection[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in _in_chunks(keys):
        out.update((k, c) for k, c in conn.execute(select(_r.key, _r.model_card).where(_r.key.in_(chunk))) if c)
    return out


def _merge(
    conn: Connection,
    table: Table,
    key: Column[str],
    source: str,
    model_ids: Collection[str] | None,
    wanted: dict[str, dict[str, Any]],
) -> bool:
    """Delete, insert and update rows of `table` so that those of `model_ids` (and `wanted`'s keys) are `wanted`."""
    columns = [c for c in table.c if c.name != "synced_at"]
    query = select(*columns)
    existing: dict[str, tuple[Any, ...]] = {}
    scopes: list[Any] = []
    if model_ids is None:
        scopes.append(table.c.source == source)
    else:
        scopes += [and_(table.c.source == source, table.c.registered_model_id.in_(c)) for c in _in_chunks(model_ids)]
        scopes += [key.in_(c) for c in _in_chunks(wanted)]
    for scope in scopes:
        for row in conn.execute(query.where(scope)):
            existing[row[0]] = tuple(row)
    names = [c.name for c in columns]
    stale = [k for k, row in existing.items() if k not in wanted or tuple(wanted[k][n] for n in names) != row]
    fresh = [v for k, v in wanted.items() if k not in existing or k in stale]
    for chunk in _in_chunks(stale):
        conn.execute(delete(table).where(key.in_(chunk)))
    if fresh:
        conn.execute(insert(table), fresh)
    return bool(stale or fresh)


# --- reads -------------------------------------------------------------------------------------------------------

_LIST_JSON = select(_r.model_key, _r.key).order_by(_r.key)
_LIST_YAML = select(_m.model_key).order_by(_m.model_key)


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
        row = conn.execute(select(_m.document).where(_m.model_key == parts[0])).first()
        return (row[0].encode(), YAML.media_type) if row else None
    return None


def card(conn: Connection, key: str) -> str | None:
    row = conn.execute(select(_r.model_card).where(_r.key == key)).first()
    return row[0] if row and row[0] is not None else None


def all_documents(conn: Connection, fmt: Format) -> Iterable[tuple[str, str]]:
    """(URI, document) of every stored record in `fmt`, for the CLI export."""
    if fmt == "yaml":
        for model_key, doc in conn.execute(select(_m.model_key, _m.document).order_by(_m.model_key)):
            yield model_uri(model_key), doc
    else:
        for model_key, key, doc in conn.execute(select(_r.model_key, _r.key, _r.document).order_by(_r.key)):
            yield record_uri(model_key, key), doc


def write_documents(conn: Connection, fmt: Format, directory: Path) -> int:
    """Write every stored document in `fmt` under `directory`, at the path its URI names; how many were written.
    `modelreg bridge export` after its resync."""
    count = 0
    for uri, document in all_documents(conn, fmt):
        target = directory / uri.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(document)
        count += 1
    return count


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
    if conn.execute(update(bridge_sources).where(_s.name == name).values(**values)).rowcount == 0:
        conn.execute(insert(bridge_sources).values(name=name, **values))


def mark_synced(conn: Connection, name: str, now: int, *, full: bool) -> None:
    values: dict[str, Any] = {"last_sync": now, "last_error": None, "last_error_time": None}
    if full:
        values["last_full_sync"] = now
    _upsert_status(conn, name, values)


def mark_failed(conn: Connection, name: str, now: int, error: str) -> None:
    _upsert_status(conn, name, {"last_error": error[:4000], "last_error_time": now})


def status(conn: Connection) -> list[SourceStatus]:
    counts = dict(conn.execute(select(_r.source, func.count()).group_by(_r.source)).all())
    model_counts = dict(conn.execute(select(_m.source, func.count()).group_by(_m.source)).all())
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

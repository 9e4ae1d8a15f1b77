"""Reads the web UI's registry pages need that the Kubeflow API has no call for: a page of registered models sorted
by name or last change with a name search, the latest version of each model on a page in one query (not one per
row), the files modelreg recorded for a version's artifacts, and the experiment runs a version came from.

Each function is one read transaction with a constant number of statements, whatever the page holds, so a page
of 50 models costs the same with 100,000 versions in the database as with ten.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from sqlalchemy import ColumnElement, and_, func, or_, select

from modelreg.blobs.base import StoredFile
from modelreg.db.database import Database
from modelreg.db.pagination import is_int64
from modelreg.db.tables import (
    artifact_attributions,
    experiment_runs,
    experiments,
    model_versions,
    registered_models,
)
from modelreg.errors import InvalidInput
from modelreg.services import entities as e
from modelreg.services import uploads
from modelreg.services.entities import Record

SortKey = Literal["name", "modified"]
MAX_PAGE_SIZE = 200
# Version custom properties that name the run a version came from (written by pipelines and notebooks).
RUN_PROPERTIES = ("experiment_run_id", "experimentRunId")


@dataclass(frozen=True)
class ModelSort:
    key: SortKey = "modified"
    descending: bool = True

    @classmethod
    def parse(cls, text: str | None) -> ModelSort:
        """``name``, ``-name``, ``modified`` or ``-modified`` (a leading ``-``: descending); default ``-modified``."""
        if not text:
            return cls()
        key = text.removeprefix("-")
        if key not in ("name", "modified"):
            raise InvalidInput(f"invalid sort {text!r}: use name, -name, modified or -modified")
        return cls(key, text.startswith("-"))  # type: ignore[arg-type]  # checked just above

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.key


_m = registered_models.c


def models_page(
    db: Database,
    *,
    archived: bool = False,
    search: str | None = None,
    sort: ModelSort | None = None,
    size: int = 50,
    token: str | None = None,
) -> tuple[list[Record], str]:
    """One page of live (or archived) registered models whose name contains ``search`` (any case), and the next
    page's token (``""`` on the last page). Keyset paging on (sort value, id): pages stay stable while models
    are added."""
    sort = sort or ModelSort()
    if not 0 < size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"invalid page size {size}: 1 to {MAX_PAGE_SIZE}")
    column = _m.name if sort.key == "name" else _m.last_update_time
    where: list[ColumnElement[bool]] = [_m.state == "ARCHIVED" if archived else _m.state != "ARCHIVED"]
    if search:
        where.append(func.lower(_m.name).contains(search.lower(), autoescape=True))
    if token:
        value, last_id = _decode(token, sort)
        if sort.descending:
            where.append(or_(column < value, and_(column == value, _m.id < last_id)))
        else:
            where.append(or_(column > value, and_(column == value, _m.id > last_id)))
    order = [column.desc(), _m.id.desc()] if sort.descending else [column.asc(), _m.id.asc()]
    with db.read() as conn:
        page = e.select_records(conn, e.REGISTERED_MODEL, where, order, size + 1)
    if len(page) <= size:
        return page, ""
    page = page[:size]
    last = page[-1].row
    return page, _encode(sort, last["name"] if sort.key == "name" else last["last_update_time"], last["id"])


def latest_versions(db: Database, model_ids: Sequence[int], include_archived: bool = False) -> dict[int, Record]:
    """The newest version (highest id: ids grow with creation) of each model, live ones only unless
    ``include_archived``: one statement for the whole page, custom properties included."""
    if not model_ids:
        return {}
    v = model_versions.c
    newest = select(func.max(v.id)).where(v.registered_model_id.in_(list(model_ids)))
    if not include_archived:
        newest = newest.where(v.state != "ARCHIVED")
    newest = newest.group_by(v.registered_model_id)
    with db.read() as conn:
        found = e.select_records(conn, e.MODEL_VERSION, [v.id.in_(newest.scalar_subquery())], [v.id], len(model_ids))
    return {r.row["registered_model_id"]: r for r in found}


def recorded_files(db: Database, artifact_records: Iterable[Record]) -> dict[int, tuple[StoredFile, ...]]:
    """The files modelreg stored for each of these artifacts at upload (path, size, SHA-256), by artifact id.
    Artifacts registered by URI alone have no entry: their files are only known by listing the store."""
    out: dict[int, tuple[StoredFile, ...]] = {}
    with db.read() as conn:
        for artifact in artifact_records:
            uri = artifact.row["uri"]
            if artifact.row["artifact_type"] != "model-artifact" or not uri:
                continue
            upload = uploads.for_artifact(conn, artifact.row["id"], uri)
            if upload is not None:
                out[artifact.row["id"]] = upload.files
    return out


@dataclass(frozen=True)
class RunLink:
    """An experiment run a version's artifacts were logged to (or that the version names), with its experiment."""

    run_id: int
    run_name: str | None
    experiment_id: int | None
    experiment_name: str | None


def lineage(db: Database, version: Record, artifact_records: Iterable[Record]) -> list[RunLink]:
    """The runs this version came from: runs its artifacts were logged to (the artifact's own run, or a link to
    one), and a run id in the version's custom properties. Unknown ids are shown as ids, without names."""
    run_ids: set[int] = set()
    artifact_ids = []
    for artifact in artifact_records:
        artifact_ids.append(artifact.row["id"])
        if artifact.row.get("experiment_run_id") is not None:
            run_ids.add(int(artifact.row["experiment_run_id"]))
    for name in RUN_PROPERTIES:
        prop = version.props.get(name)
        if prop is not None and _as_id(prop.value) is not None:
            run_ids.add(_as_id(prop.value))  # type: ignore[arg-type]  # not None: checked above
    a = artifact_attributions.c
    r, x = experiment_runs.c, experiments.c
    with db.read() as conn:
        if artifact_ids:
            linked = select(a.parent_id).where(a.parent_kind == "experiment_run", a.artifact_id.in_(artifact_ids))
            run_ids.update(int(row[0]) for row in conn.execute(linked))
        if not run_ids:
            return []
        query = (
            select(r.id, r.name, r.experiment_id, x.name.label("experiment_name"))
            .join(experiments, x.id == r.experiment_id)
            .where(r.id.in_(sorted(run_ids)))
        )
        found = {row.id: row for row in conn.execute(query)}
    return [
        RunLink(i, found[i].name, found[i].experiment_id, found[i].experiment_name)
        if i in found
        else RunLink(i, None, None, None)
        for i in sorted(run_ids)
    ]


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if is_int64(value) and value > 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value) or None
    return None


def _encode(sort: ModelSort, value: Any, id_: int) -> str:
    raw = orjson.dumps(["models", str(sort), value, id_])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, sort: ModelSort) -> tuple[Any, int]:
    """The (sort value, id) a token names; a token of another sort order or a forged one is a 400."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        tag, order, value, id_ = orjson.loads(raw)
    except (ValueError, TypeError, binascii.Error):  # orjson.JSONDecodeError is a ValueError
        raise InvalidInput("invalid page token: not one this server issued") from None
    if tag != "models" or not isinstance(order, str):
        raise InvalidInput("invalid page token: not one this server issued")
    if order != str(sort):
        raise InvalidInput(f"invalid page token: it was issued for sort={order[:20]}, not sort={sort}")
    value_ok = isinstance(value, str) if sort.key == "name" else is_int64(value)
    if not (value_ok and is_int64(id_)):
        raise InvalidInput("invalid page token: not one this server issued")
    return value, id_

"""Applies a source's entities: create, update or skip each, by the ledger; parents resolved through it.

The writer is to an import what a router is to a request: it turns the source's REST-shaped fields into columns and
typed custom properties with ``wire.py`` (so an imported entity holds exactly what the same body POSTed to the REST
API would), then writes it with `ImportService` (``Batch.create``/``update``). It keeps the source's ledger in
memory (read once per run), so a skipped entity costs no database round trip and a dry run plans children of
entities it would create.

Writes are batched: entities queue until ``BATCH_SIZE`` wait or the oldest has waited ``BATCH_SECONDS``, then go in
by transactions of at most ``BATCH_SIZE`` entities or ``BATCH_SECONDS`` of work (on a server database a commit
costs as much as an entity's writes; a transaction's ledger rows and kept times are one statement each). Parents
are resolved through the ledger plus what the open transaction wrote. Each entity's ledger row commits with it, so
a crash loses at most the transaction in flight, which the next run redoes. When one entity's write fails, its
whole transaction rolls back, audit records with it (no savepoint: ``Database.write`` numbers the staged records at
commit, and rolling back to a savepoint would leave the failed entity's behind); the entities before it are written
again in a transaction of their own, then it alone, so it fails with its own message and the others land."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

import orjson

from modelreg import wire
from modelreg.errors import InvalidInput, RegistryError, Unavailable
from modelreg.importers import ledger
from modelreg.importers.ledger import Entry, Key
from modelreg.importers.model import SourceEntity
from modelreg.services import properties
from modelreg.services.imports import KINDS, Batch, Gone, HistoryEntry, Imported, ImportService
from modelreg.services.properties import PropValue
from modelreg.settings import LimitSettings

BATCH_SIZE = 200  # entities per transaction, at most
BATCH_SECONDS = 0.2  # of work per transaction, and of waiting in the queue, at most
# Parent ids in REST bodies: an import names parents by `Ref`, never by the source's ids.
_PARENT_FIELDS = frozenset(
    {
        "registeredModelId",
        "modelVersionId",
        "servingEnvironmentId",
        "inferenceServiceId",
        "experimentId",
        "experimentRunId",
    }
)


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    message: str | None = None  # why it failed


@dataclass(frozen=True)
class Applied:
    """An entity whose outcome is final: written and committed, failed, or needing no write."""

    entity: SourceEntity
    result: Result


class Writer:
    """Applies a source's entities to the registry (or, ``dry_run``, only decides what it would do)."""

    def __init__(
        self,
        service: ImportService,
        source: str,
        known: dict[Key, Entry],
        *,
        limits: LimitSettings | None = None,
        dry_run: bool = False,
        batch_size: int = BATCH_SIZE,
        batch_seconds: float = BATCH_SECONDS,
    ) -> None:
        self.service = service
        self.source = source
        self.known = known  # ``ledger.load``'s map, kept up to date as transactions commit
        self.limits = limits or LimitSettings()
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.queue: list[tuple[SourceEntity, str]] = []  # (entity, fingerprint)
        self._queued_since = 0.0
        self._written: dict[Key, Entry] = {}  # by the open transaction: known once it commits
        self._rows = ledger.Rows(source)  # their ledger rows, written at the end of the transaction
        self._writing = 0  # the position in its batch of the entity being written (when a write fails: the one)

    def apply(self, entity: SourceEntity) -> list[Applied]:
        """Take ``entity``; returns the entities whose outcome is now final: it alone when it needs no write
        (unchanged, or a dry run), those of the transactions written now when the queue is due, or none."""
        fingerprint = ledger.fingerprint(entity)
        before = self.known.get((entity.kind, entity.source_id))
        if before is not None and before.fingerprint == fingerprint:
            return [Applied(entity, Result(Outcome.UNCHANGED))]
        if self.dry_run:
            return [Applied(entity, self._plan(entity, fingerprint, before))]
        if not self.queue:
            self._queued_since = time.monotonic()
        self.queue.append((entity, fingerprint))
        if len(self.queue) >= self.batch_size or time.monotonic() - self._queued_since >= self.batch_seconds:
            return self.flush()
        return []

    def flush(self) -> list[Applied]:
        """Write every queued entity; returns their outcomes. When the database fails (or the run is interrupted)
        the queue is dropped: what did not commit is for the next run."""
        applied: list[Applied] = []
        size = self.batch_size
        try:
            while self.queue:
                batch = self.queue[:size]
                try:
                    done = self.service.batch(partial(self._write_all, batch))
                except Unavailable:
                    raise
                except RegistryError as exc:
                    if self._writing > 0:
                        size = self._writing  # those before it, then it alone
                        continue
                    done = [Applied(batch[0][0], Result(Outcome.FAILED, exc.message))]
                else:
                    self.known.update(self._written)
                del self.queue[: len(done)]
                applied += done
                size = self.batch_size
        except BaseException:
            self.queue.clear()
            raise
        return applied

    def _write_all(self, batch: Sequence[tuple[SourceEntity, str]], writes: Batch) -> list[Applied]:
        """Write ``batch``'s entities in order, in one transaction, until ``batch_seconds`` have passed. From
        scratch on each call: ``ImportService.batch`` calls it again after a deadlock."""
        self._written = {}
        self._rows = ledger.Rows(self.source)
        started = time.monotonic()
        done: list[Applied] = []
        for position, (entity, fingerprint) in enumerate(batch):
            self._writing = position
            done.append(Applied(entity, self._write(writes, entity, fingerprint)))
            if time.monotonic() - started >= self.batch_seconds:
                break
        self._rows.write(writes.conn)
        return done

    def _write(self, writes: Batch, entity: SourceEntity, fingerprint: str) -> Result:
        """One entity in the open transaction; raises when its write failed (the transaction must roll back)."""
        key = (entity.kind, entity.source_id)
        before = self._written.get(key) or self.known.get(key)
        if before is not None and before.fingerprint == fingerprint:
            return Result(Outcome.UNCHANGED)  # the source named it twice
        try:
            item = self._imported(entity)
        except RegistryError as exc:  # nothing written: the transaction goes on
            return Result(Outcome.FAILED, exc.message)
        entry = Entry(entity.kind, 0, fingerprint)
        record = self._rows.recorder(entity, entry, known=before is not None)
        id_ = None
        if before is not None:
            try:
                writes.update(before.entity_id, item, record)
                id_ = before.entity_id
            except Gone:  # deleted here since its import (nothing written): the source still has it, so it comes back
                pass
        if id_ is None:
            id_ = writes.create(item, record)
        self._written[key] = Entry(entity.kind, id_, fingerprint)
        return Result(Outcome.CREATED if before is None else Outcome.UPDATED)

    def _plan(self, entity: SourceEntity, fingerprint: str, before: Entry | None) -> Result:
        """A dry run's decision: what ``_write`` would do, with what it would create known by id 0."""
        try:
            self._imported(entity)
        except RegistryError as exc:
            return Result(Outcome.FAILED, exc.message)
        self.known[entity.kind, entity.source_id] = Entry(entity.kind, before.entity_id if before else 0, fingerprint)
        return Result(Outcome.CREATED if before is None else Outcome.UPDATED)

    def _imported(self, entity: SourceEntity) -> Imported:
        provenance = f"{self.source}#{entity.kind}/{entity.source_id}"
        return imported(entity, self._parents(entity), provenance, self.limits)

    def _parents(self, entity: SourceEntity) -> tuple[tuple[str, int], ...]:
        parents = []
        for ref in entity.parents:
            key = (ref.kind, ref.source_id)
            found = self._written.get(key) or self.known.get(key)
            if found is None:
                raise InvalidInput(f"its parent {ref.kind} {ref.source_id} was not imported")
            parents.append((ref.kind, found.entity_id))
        return tuple(parents)


def imported(
    entity: SourceEntity, parents: tuple[tuple[str, int], ...], provenance: str, limits: LimitSettings
) -> Imported:
    """The entity as columns and typed custom properties, as the REST API would store the same body."""
    if entity.kind not in KINDS:
        raise InvalidInput(f"cannot import a {entity.kind!r}")
    table = KINDS[entity.kind].name
    fields = {k: v for k, v in entity.fields.items() if k not in _PARENT_FIELDS}
    artifact_type = _artifact_type(entity)
    try:
        values = wire.to_db(table, fields, artifact_type, limits)
        history = tuple(_history_entry(h, limits) for h in entity.metric_history)
    except (ValueError, TypeError) as exc:  # a number that is none (wire.py's codecs)
        raise InvalidInput(f"invalid field value: {exc}") from None
    if artifact_type is not None:
        values["artifact_type"] = artifact_type
    return Imported(
        kind=entity.kind,
        values=values,
        props=typed_properties(entity.custom_properties, limits),
        provenance=provenance,
        parents=parents,
        create_time=entity.create_time_ms,
        update_time=entity.update_time_ms,
        stage=entity.stage,
        metric_history=history,
    )


def _artifact_type(entity: SourceEntity) -> str | None:
    if entity.kind != "artifact":
        return None
    artifact_type = entity.fields.get("artifactType")
    if artifact_type not in wire.ARTIFACT_FIELDS:
        raise InvalidInput(f"unknown artifactType {artifact_type!r}: one of {', '.join(wire.ARTIFACT_FIELDS)}")
    return str(artifact_type)


def _history_entry(entry: Mapping[str, Any], limits: LimitSettings) -> HistoryEntry:
    fields = {k: v for k, v in entry.items() if k not in _PARENT_FIELDS}
    created = entry.get("createTimeSinceEpoch")
    return HistoryEntry(
        values=wire.to_db("metric_history", fields, limits=limits),
        props=typed_properties(entry.get("customProperties") or {}, limits),
        create_time=None if created is None else int(created),
    )


def typed_properties(values: Mapping[str, Any], limits: LimitSettings) -> dict[str, PropValue]:
    """Custom properties typed as the REST API types them: a plain value by its Python type (a dict or list is a
    struct: base64 of its JSON), a value already in the API's typed form as it is. ``None`` values are left out."""
    typed = {name: _wire_value(value) for name, value in values.items() if value is not None}
    try:
        return wire.properties_to_db(typed, limits)
    except (KeyError, TypeError, AttributeError):
        raise InvalidInput("a custom property is not a valid MetadataValue") from None


def _wire_value(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping) and "metadataType" in value:
        return value
    if isinstance(value, Mapping | list | tuple):
        struct = base64.b64encode(orjson.dumps(value, default=dict)).decode()
        return {"metadataType": "MetadataStructValue", "struct_value": struct}
    return properties.typed_scalar(value) or {"metadataType": "MetadataStringValue", "string_value": str(value)}

"""The audit trail: every write through any interface stages one record here, in its own transaction.

Records carry who (actor, how they authenticated, client address, request id), what (action, entity kind, id and
name) and the changed fields before and after. ``db/audit_chain.py`` numbers and chains them at commit.
``AuditService`` reads the trail back (query, export) and verifies the chain; REST and CLI both call it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import orjson
from sqlalchemy import ColumnElement, Connection, select

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.db import audit_chain, audit_channel
from modelreg.db.database import Database
from modelreg.db.pagination import is_int64
from modelreg.db.repository import AnyRow
from modelreg.db.tables import NAME_LENGTH, audit_log
from modelreg.errors import InvalidInput
from modelreg.services import clock
from modelreg.services.properties import PropValue

CUSTOM_PROPERTIES = "customProperties"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def stage(
    conn: Connection,
    action: str,
    entity_kind: str,
    entity_id: int | None,
    entity_name: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    """Stage one record, attributed to the current caller, on the write transaction of ``conn`` (see
    ``Database.write``). Without a caller it raises ``context.NoCaller``, so the write rolls back: no change
    commits without saying who made it."""
    ctx = context.current()
    identity = ctx.principal.identity
    changes = orjson.dumps({"before": before, "after": after}, option=orjson.OPT_SORT_KEYS, default=str).decode()
    audit_channel.stage(
        conn,
        audit_channel.AuditEntry(
            time_ms=clock.now_ms(),
            actor=identity.user[:255],
            via=identity.method,
            action=action,
            entity_kind=entity_kind,
            entity_id=entity_id,
            entity_name=entity_name,
            changes=changes,
            request_id=(ctx.request_id or None) and ctx.request_id[:64],
            client=(ctx.client or None) and ctx.client[:64],
        ),
    )


def snapshot(values: AnyRow, props: Mapping[str, PropValue] | None) -> dict[str, Any]:
    """The non-empty fields of a row plus its custom properties, as an audit record shows them.

    Keys become plain ``str``: a ``RowMapping``'s keys are SQLAlchemy ``quoted_name``s, which orjson refuses."""
    out = {str(k): v for k, v in values.items() if v is not None and k not in ("create_time", "last_update_time")}
    if props:
        out[CUSTOM_PROPERTIES] = {name: p.value for name, p in props.items()}
    return out


def diff(
    before: AnyRow,
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


# --- reading the trail ----------------------------------------------------------------------------------------------

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
VERIFY_BATCH = 5000
_EXPORT_PAGE = 1000
_WORD = re.compile(r"^[a-z_]{1,32}$")  # entity kinds and actions: checked for shape, not against a closed list
_a = audit_log.c


def parse_time(value: str | int, what: str = "time") -> int:
    """Epoch milliseconds from epoch milliseconds or ISO-8601 (naive means UTC), so callers may use either."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if re.fullmatch(r"\d{1,16}", text):
        return int(text)
    # an unencoded "+" in a query string arrives as a space: "2024-05-01T12:00:00 02:00"
    for candidate in (text, re.sub(r" (\d{2}(:?\d{2})?)$", r"+\1", text)):
        try:
            moment = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // timedelta(milliseconds=1)
    raise InvalidInput(f"invalid {what} {value!r}: use ISO-8601 (e.g. 2024-05-01T12:00:00Z) or epoch milliseconds")


def parse_anchor(value: str) -> tuple[int, str]:
    """``SEQ:HASH`` as ``audit verify`` prints them."""
    seq, _, digest = value.partition(":")
    if not (seq.isascii() and seq.isdigit() and int(seq) > 0) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InvalidInput(f"invalid anchor {value!r}: use SEQ:HASH, e.g. 1234:<64 hex digits> from 'audit verify'")
    return int(seq), digest


def parse_entity_id(value: str | int, what: str = "entityId") -> int:
    """Entity ids are decimal strings on the wire, as in the Kubeflow API."""
    try:
        id_ = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"invalid {what} {value!r}: must be a decimal integer") from None
    if not 0 < id_ < 2**63:
        raise InvalidInput(f"invalid {what} {value!r}: must be between 1 and 2^63-1")
    return id_


def iso_time(ms: int) -> str | None:
    """ISO-8601 UTC with milliseconds, computed without floats so it round-trips exactly with ``time_ms``; ``None``
    beyond the years 1..9999, which only a tampered record has (reading it must not fail: verify shows it)."""
    try:
        moment = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_wire(record: Mapping[str, Any]) -> dict[str, Any]:
    """An audit record as the REST API, ``--json`` and exports show it: camelCase, entity ids as strings,
    ``changes`` split into parsed ``before``/``after`` (re-encoding them canonically gives back the hashed text)."""
    before, after, raw = _changes(record["changes"])
    out = {
        "seq": record["seq"],
        "time": iso_time(record["time_ms"]),
        "timeMs": record["time_ms"],
        "actor": record["actor"],
        "via": record["via"],
        "action": record["action"],
        "entityKind": record["entity_kind"],
        "entityId": None if record["entity_id"] is None else str(record["entity_id"]),
        "entityName": record["entity_name"],
        "before": before,
        "after": after,
        "requestId": record["request_id"],
        "client": record["client"],
        "hash": record["hash"],
        "prevHash": record["prev_hash"],
    }
    if raw is not None:  # only a tampered record has unparseable changes; show what is there rather than fail
        out["changesText"] = raw
    return out


def _changes(text: str) -> tuple[Any, Any, str | None]:
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, None, text
    if not isinstance(parsed, dict):
        return None, None, text
    return parsed.get("before"), parsed.get("after"), None


@dataclass(frozen=True)
class Filters:
    """Which records a query or an export selects; time bounds are half-open, ``since <= time < until``."""

    entity_kind: str | None = None
    entity_id: int | None = None
    actor: str | None = None
    action: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    def __post_init__(self) -> None:
        if self.entity_id is not None and self.entity_kind is None:
            # ids are per kind (model 3 and version 3 are different entities), and the index leads with the kind
            raise InvalidInput("entityId needs entityKind: entity ids are only unique within a kind")
        for name, value in (("entityKind", self.entity_kind), ("action", self.action)):
            if value is not None and not _WORD.match(value):
                raise InvalidInput(f"invalid {name} {value!r}: lower-case letters and underscores, e.g. model_version")
        if self.entity_id is not None:
            parse_entity_id(self.entity_id)
        if self.actor is not None and not 0 < len(self.actor) <= NAME_LENGTH:
            raise InvalidInput(f"invalid actor: 1 to {NAME_LENGTH} characters")

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.entity_kind is not None:
            clauses.append(_a.entity_kind == self.entity_kind)
        if self.entity_id is not None:
            clauses.append(_a.entity_id == self.entity_id)
        if self.actor is not None:
            clauses.append(_a.actor == self.actor)
        if self.action is not None:
            clauses.append(_a.action == self.action)
        if self.since_ms is not None:
            clauses.append(_a.time_ms >= self.since_ms)
        if self.until_ms is not None:
            clauses.append(_a.time_ms < self.until_ms)
        return clauses


@dataclass(frozen=True)
class Problem:
    """The first record where the chain breaks, and how."""

    seq: int
    kind: str  # gap | seq | prev_hash | hash | anchor | truncated
    message: str
    expected_seq: int
    record: dict[str, Any] | None  # None: the record the anchor names is missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "problem": self.kind,
            "message": self.message,
            "expectedSeq": self.expected_seq,
            "record": None if self.record is None else to_wire(self.record),
        }


@dataclass(frozen=True)
class VerifyResult:
    """``last_seq``/``last_hash``: the end of the intact part of the chain (the whole chain when valid), which an
    operator records elsewhere: removing records from the end is only detectable against such an anchor."""

    checked: int
    last_seq: int
    last_hash: str
    first_bad: Problem | None = None

    @property
    def valid(self) -> bool:
        return self.first_bad is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "checked": self.checked,
            "lastSeq": self.last_seq,
            "lastHash": self.last_hash,
            "firstBad": None if self.first_bad is None else self.first_bad.to_dict(),
        }


def check_record(record: Mapping[str, Any], expected_seq: int, prev_hash: str) -> Problem | None:
    """What is wrong with ``record`` given the record before it, checking the order first (a missing or moved
    record), then the link, then the record's own hash (an edited one)."""
    seq = record["seq"]
    if seq != expected_seq:
        if seq > expected_seq:
            gone = f"record {expected_seq} is" if seq == expected_seq + 1 else f"records {expected_seq}..{seq - 1} are"
            where = f"the chain starts at seq {seq}" if expected_seq == 1 else f"seq {seq} follows {expected_seq - 1}"
            return Problem(seq, "gap", f"{gone} missing: {where}", expected_seq, dict(record))
        return Problem(seq, "seq", f"seq {seq} out of order: expected {expected_seq}", expected_seq, dict(record))
    if record["prev_hash"] != prev_hash:
        link = "the genesis hash" if seq == 1 else f"the hash of record {seq - 1}"
        message = f"prev_hash does not match {link}: records were removed, reordered or rewritten"
        return Problem(seq, "prev_hash", message, expected_seq, dict(record))
    if audit_chain.record_hash(record) != record["hash"]:
        message = "hash mismatch: the record was changed after it was written"
        return Problem(seq, "hash", message, expected_seq, dict(record))
    return None


class AuditService:
    """Reading, verifying and exporting the trail (writing it is ``stage`` above, inside each write)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def query(
        self,
        entity_kind: str | None = None,
        entity_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of records in seq order and the next page's token (``""`` on the last page).

        Keyset pagination on seq: records appended meanwhile never shift a page boundary. An entity filter walks the
        (entity_kind, entity_id, seq) index, so its pages cost the same deep in a long trail as at its start; actor,
        action and time filters narrow a walk in seq order (no index of their own: every index on this table costs
        every write transaction, see docs/governance.md)."""
        context.require(Permission.AUDIT, "read the audit trail")
        filters = Filters(entity_kind, entity_id, actor, action, since_ms, until_ms)
        if page_size <= 0:
            raise InvalidInput(f"invalid pageSize {page_size}: must be a positive integer")
        size = min(page_size, MAX_PAGE_SIZE)
        after = _decode_token(page_token, newest_first) if page_token else None
        with self.db.read() as conn:
            rows = self._page(conn, filters, size + 1, after, newest_first)
        if len(rows) > size:
            rows = rows[:size]
            return rows, _encode_token(rows[-1]["seq"], newest_first)
        return rows, ""

    def verify(self, batch: int = VERIFY_BATCH, anchor: tuple[int, str] | None = None) -> VerifyResult:
        """Walk the whole chain in seq order, ``batch`` records per short read transaction (memory stays flat and
        no transaction stays open for minutes), and stop at the first bad record.

        ``anchor``: a (seq, hash) noted earlier, e.g. from a previous verify. The chain must still hold that record
        with that hash: this catches what the chain alone cannot, records removed from the end or a tail rewritten
        and re-hashed by someone with write access to the database."""
        context.require(Permission.AUDIT, "verify the audit trail")
        result = self._walk(batch, anchor)
        if result.valid and anchor is not None and result.last_seq < anchor[0]:
            message = (
                f"the chain ends at seq {result.last_seq}, but the anchor names seq {anchor[0]}: records were removed"
            )
            return VerifyResult(
                result.checked,
                result.last_seq,
                result.last_hash,
                Problem(result.last_seq + 1, "truncated", message, anchor[0], None),
            )
        return result

    def _walk(self, batch: int, anchor: tuple[int, str] | None) -> VerifyResult:
        if batch <= 0:
            raise InvalidInput(f"invalid batch {batch}: must be a positive integer")
        checked, last_seq, last_hash = 0, 0, audit_chain.GENESIS
        for rows in self._batches(Filters(), batch, newest_first=False):
            for row in rows:
                checked += 1
                problem = check_record(row, last_seq + 1, last_hash)
                if problem is None and anchor is not None and row["seq"] == anchor[0] and row["hash"] != anchor[1]:
                    message = f"record {row['seq']} does not carry the anchored hash: the chain was rewritten"
                    problem = Problem(row["seq"], "anchor", message, anchor[0], dict(row))
                if problem is not None:
                    return VerifyResult(checked, last_seq, last_hash, problem)
                last_seq, last_hash = row["seq"], row["hash"]
        return VerifyResult(checked, last_seq, last_hash)

    def export(
        self,
        stream: BinaryIO,
        entity_kind: str | None = None,
        entity_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        newest_first: bool = False,
    ) -> int:
        """Write the selected records to ``stream`` as JSON Lines (``to_wire``), a page per read transaction, and
        return how many. An unfiltered export can be verified offline: it holds every hashed field."""
        context.require(Permission.AUDIT, "export the audit trail")
        filters = Filters(entity_kind, entity_id, actor, action, since_ms, until_ms)
        count = 0
        for rows in self._batches(filters, _EXPORT_PAGE, newest_first):
            for row in rows:
                stream.write(orjson.dumps(to_wire(row), option=orjson.OPT_APPEND_NEWLINE))
            count += len(rows)
        return count

    def _batches(self, filters: Filters, batch: int, newest_first: bool) -> Iterator[list[dict[str, Any]]]:
        """Every selected record in seq order, ``batch`` per short read transaction (memory stays flat and no
        transaction stays open for minutes)."""
        after: int | None = None
        while True:
            with self.db.read() as conn:
                rows = self._page(conn, filters, batch, after, newest_first)
            if rows:
                yield rows
            if len(rows) < batch:
                return
            after = rows[-1]["seq"]

    @staticmethod
    def _page(
        conn: Connection, filters: Filters, limit: int, after: int | None, newest_first: bool
    ) -> list[dict[str, Any]]:
        clauses = filters.where()
        if after is not None:
            clauses.append(_a.seq < after if newest_first else _a.seq > after)
        order = _a.seq.desc() if newest_first else _a.seq.asc()
        stmt = select(audit_log).where(*clauses).order_by(order).limit(limit)
        return [dict(row) for row in conn.execute(stmt).mappings()]


def _encode_token(seq: int, newest_first: bool) -> str:
    raw = orjson.dumps(["audit", "desc" if newest_first else "asc", seq])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, newest_first: bool) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        tag, order, seq = orjson.loads(raw)
        if tag != "audit" or order not in ("asc", "desc") or not is_int64(seq):  # not a bool, not beyond 64 bits
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidInput("invalid nextPageToken: not an audit page token issued by this server") from None
    if order != ("desc" if newest_first else "asc"):
        raise InvalidInput(f"invalid nextPageToken: it was issued for order={order}")
    return seq

"""What a webhook and a delivery are (`Webhook`, `Delivery`: rows as admins see them, wire dicts, audit views) and
the rules their fields follow (the ``check_*`` functions, which the service and the web UI's form both use)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import orjson

from modelreg import redact
from modelreg.db.tables import NAME_LENGTH
from modelreg.errors import InvalidInput, MissingField
from modelreg.events import cloudevents, destinations
from modelreg.events.relay import DELIVERED, FAILED, PENDING, TEST
from modelreg.settings import EventsSettings
from modelreg.stages import STAGES

DELIVERY_STATES = (PENDING, DELIVERED, FAILED, TEST)
MAX_URL = 2048
MAX_PATTERNS = 50
MAX_PATTERN = 128
MAX_DESCRIPTION = 1000
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$")
_PATTERN = re.compile(r"^[A-Za-z0-9._*-]+$")
_PRINTABLE_URL = re.compile(r"^[^\s\x00-\x1f\x7f]+$")
_AUDITED = ("name", "url", "eventTypes", "modelFilter", "stageFilter", "description", "active")


class Unset:
    """ "Leave as it is" in ``update``, where ``None`` means "clear"."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()


@dataclass(frozen=True)
class Delivery:
    """One queued or attempted delivery of an event (or a test) to a webhook."""

    id: int
    webhook_id: int
    seq: int | None  # the event's; None for a test delivery
    event_type: str
    entity_key: str
    state: str  # pending | delivered | failed | test
    attempts: int
    status_code: int | None
    latency_ms: int | None
    last_error: str | None
    create_time: int
    last_attempt_time: int | None
    delivered_time: int | None
    next_attempt_ms: int | None

    @property
    def event_id(self) -> str:
        """What the receiver saw as ``webhook-id`` (and the CloudEvent's id)."""
        return f"test-{self.id}" if self.seq is None else str(self.seq)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "eventId": self.event_id,
            "eventType": self.event_type,
            "entityKey": self.entity_key,
            "state": self.state,
            "attempts": self.attempts,
            "statusCode": self.status_code,
            "latencyMs": self.latency_ms,
            "lastError": self.last_error,
            "createTimeSinceEpoch": _ms(self.create_time),
            "lastAttemptTimeSinceEpoch": _ms(self.last_attempt_time),
            "deliveredTimeSinceEpoch": _ms(self.delivered_time),
            "nextAttemptTimeSinceEpoch": _ms(self.next_attempt_ms if self.state == PENDING else None),
        }


@dataclass(frozen=True)
class Webhook:
    """A webhook as admins see it: everything but the secret."""

    id: int
    name: str
    url: str
    event_types: tuple[str, ...]
    model_filter: str | None
    stage_filter: str | None
    description: str | None
    active: bool
    paused_time: int | None
    paused_reason: str | None
    consecutive_failures: int
    created_by: str | None
    create_time: int
    last_update_time: int
    since_seq: int
    last_delivery: Delivery | None = None  # the latest attempted one

    @property
    def state(self) -> str:
        """inactive (an admin switched it off) | paused (it kept failing; queued, not sent) | active."""
        if not self.active:
            return "inactive"
        return "paused" if self.paused_time is not None else "active"

    @property
    def public_url(self) -> str:
        """The URL without credentials (user info, token-bearing query parameters): for pages and the audit trail."""
        return redact.public_url(self.url)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "url": self.url,
            "eventTypes": list(self.event_types),
            "modelFilter": self.model_filter,
            "stageFilter": self.stage_filter,
            "description": self.description,
            "active": self.active,
            "state": self.state,
            "pausedReason": self.paused_reason,
            "pausedTime": _ms(self.paused_time),
            "consecutiveFailures": self.consecutive_failures,
            "createdBy": self.created_by,
            "createTimeSinceEpoch": _ms(self.create_time),
            "lastUpdateTimeSinceEpoch": _ms(self.last_update_time),
            "lastDelivery": None if self.last_delivery is None else self.last_delivery.to_dict(),
        }

    def audit_view(self) -> dict[str, Any]:
        """What an audit record shows (everyone with ``audit`` reads the trail): the settings, the URL without
        credentials, never the secret."""
        wire = self.to_dict()
        out = {k: wire[k] for k in _AUDITED if wire[k] is not None}
        out["url"] = self.public_url
        return out


def _ms(value: int | None) -> str | None:
    return None if value is None else str(value)


def webhook_of(row: Any, last: Delivery | None = None) -> Webhook:
    """A ``webhooks`` row (its secret left behind) as a `Webhook`."""
    values = {name: row[name] for name in _WEBHOOK_COLUMNS}
    values.update(
        event_types=tuple(orjson.loads(row["event_types"])),
        active=bool(row["active"]),
        consecutive_failures=row["consecutive_failures"] or 0,
    )
    return Webhook(**values, last_delivery=last)


def delivery_of(row: Any) -> Delivery:
    return Delivery(**{name: row[name] for name in _DELIVERY_COLUMNS})


_WEBHOOK_COLUMNS = tuple(f.name for f in fields(Webhook) if f.name != "last_delivery")
_DELIVERY_COLUMNS = tuple(f.name for f in fields(Delivery))


# --- validation: the rules a webhook's fields follow ------------------------------------------------------------


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise MissingField("required field 'name' is zero value.")
    if len(name) > NAME_LENGTH or not _NAME.match(name):
        raise InvalidInput(
            f"invalid webhook name {name[:80]!r}: 1 to {NAME_LENGTH} printable characters, no surrounding spaces"
        )
    if name.isdigit():
        raise InvalidInput(f"invalid webhook name {name!r}: not only digits (it would read as an id)")
    return name


def check_url(url: str, settings: EventsSettings) -> str:
    """Shape here; where it may point (scheme, allowed prefixes and networks), ``destinations.check_url``."""
    if not isinstance(url, str) or not url:
        raise MissingField("required field 'url' is zero value.")
    if len(url) > MAX_URL or not _PRINTABLE_URL.match(url):
        raise InvalidInput(f"invalid url: at most {MAX_URL} characters, no spaces or control characters")
    destinations.check_url(url, settings)
    return url


def check_event_types(patterns: Sequence[str] | None) -> tuple[str, ...]:
    """Patterns (``*`` wildcards), each matching at least one type modelreg emits; none given: every event."""
    if patterns is None:
        return ("*",)
    if isinstance(patterns, str):
        raise InvalidInput('invalid eventTypes: a list of patterns, e.g. ["io.modelreg.model_version.*"]')
    cleaned = tuple(dict.fromkeys(p.strip() if isinstance(p, str) else p for p in patterns))
    if not cleaned:
        raise InvalidInput("invalid eventTypes: give at least one pattern ('*' for every event)")
    if len(cleaned) > MAX_PATTERNS:
        raise InvalidInput(f"invalid eventTypes: at most {MAX_PATTERNS} patterns")
    for pattern in cleaned:
        if not isinstance(pattern, str) or not 0 < len(pattern) <= MAX_PATTERN or not _PATTERN.match(pattern):
            raise InvalidInput(
                f"invalid event type pattern {str(pattern)[:80]!r}: 1 to {MAX_PATTERN} letters, digits, '.', '_', "
                "'-' and '*' wildcards, e.g. io.modelreg.model_version.*"
            )
        if not cloudevents.selects_any(pattern):
            raise InvalidInput(
                f"unknown event type pattern {pattern!r}: it matches no event type modelreg emits (they are listed "
                "in docs/events.md, e.g. io.modelreg.model_version.stage_changed)"
            )
    return cleaned


def check_model_filter(value: str | None) -> str | None:
    """A registered model name, or a glob of names (``fraud-*``); empty: every model."""
    return _optional(
        value,
        lambda v: len(v) <= NAME_LENGTH and bool(_NAME.match(v)),
        f"a model name or a glob of names, 1 to {NAME_LENGTH} printable characters",
        "modelFilter",
    )


def check_stage_filter(value: str | None) -> str | None:
    return _optional(value, lambda v: v in STAGES, f"must be one of {', '.join(STAGES)}", "stageFilter")


def check_description(value: str | None) -> str | None:
    return _optional(value, lambda v: len(v) <= MAX_DESCRIPTION, f"at most {MAX_DESCRIPTION} characters", "description")


def _optional(value: str | None, valid: Callable[[str], bool], rule: str, field: str) -> str | None:
    """An optional field: empty is None, anything else follows ``rule``."""
    if not value:
        return None
    if not valid(value):
        raise InvalidInput(f"invalid {field} {value[:80]!r}: {rule}")
    return value

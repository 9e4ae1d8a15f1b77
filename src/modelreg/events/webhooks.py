"""`WebhookService`: the admins' rules for webhooks (create, list, change, delete, resume, rotate the secret, test,
deliveries). Every call needs the ``manage`` permission, reads included (a webhook sends registry data to a URL of
the admin's choosing, and URLs often carry a token); every change is audited (kind ``webhook``, the URL without
credentials, never the secret). The records and the field rules are `webhook_model.py`.

The signing secret is made here (``signing.new_secret``), stored encrypted (``SecretBox``, sealed for the webhook's
name: ``signing.sealed_for``, sealed again on a rename) and shown once: in what ``create`` and ``rotate_secret``
return, nowhere else.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.db import repository
from modelreg.db.database import Database
from modelreg.db.pagination import PageRequest
from modelreg.db.tables import NAME_LENGTH, audit_log, webhook_deliveries, webhooks
from modelreg.errors import Conflict, InvalidInput, NotFound
from modelreg.events import cloudevents, delivery, signing
from modelreg.events.relay import PENDING, TEST
from modelreg.events.webhook_model import (
    DELIVERY_STATES,
    UNSET,
    Delivery,
    Unset,
    Webhook,
    check_description,
    check_event_types,
    check_model_filter,
    check_name,
    check_stage_filter,
    check_url,
    delivery_of,
    webhook_of,
)
from modelreg.services import audit, clock
from modelreg.services.secrets import SecretBox
from modelreg.settings import EventsSettings

log = logging.getLogger(__name__)

ENTITY_KIND = "webhook"
TEST_TYPE = cloudevents.TYPE_PREFIX + "webhook.test"
_w = webhooks.c
_d = webhook_deliveries.c


class WebhookService:
    def __init__(self, db: Database, secrets: SecretBox, settings: EventsSettings) -> None:
        self.db = db
        self.secrets = secrets
        self.settings = settings

    def _require(self, what: str) -> str:
        return context.require(Permission.MANAGE, what).user

    def _write(self, run: Callable[[Connection], Webhook], done: str, actor: str, name: str | None = None) -> Webhook:
        """``run`` in a write transaction (retried on deadlocks); a taken ``name`` is a 409."""
        try:
            webhook = self.db.run_write(run)
        except IntegrityError:
            raise Conflict(f"a webhook named {name!r} already exists") from None
        log.info("webhook %r %s by %s", webhook.name, done, actor)
        return webhook

    def _columns(self, **fields: Any) -> dict[str, Any]:
        """The columns of the given fields, each checked by its rule (an ``InvalidInput`` naming the field)."""
        checks: dict[str, Callable[[Any], Any]] = {
            "name": check_name,
            "url": lambda url: check_url(url, self.settings),
            "event_types": lambda types: orjson.dumps(list(check_event_types(types))).decode(),
            "model_filter": check_model_filter,
            "stage_filter": check_stage_filter,
            "description": check_description,
            "active": bool,
        }
        return {name: checks[name](value) for name, value in fields.items()}

    # --- writes ----------------------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        url: str,
        event_types: Sequence[str] | None = None,
        *,
        model_filter: str | None = None,
        stage_filter: str | None = None,
        description: str | None = None,
        active: bool = True,
    ) -> tuple[Webhook, str]:
        """A new webhook and its signing secret (shown this once). It gets the events committed after it."""
        actor = self._require("manage webhooks")
        row = self._columns(
            name=name,
            url=url,
            event_types=event_types,
            model_filter=model_filter,
            stage_filter=stage_filter,
            description=description,
            active=active,
        )
        row.update(paused_time=None, paused_reason=None, consecutive_failures=0, created_by=actor[:NAME_LENGTH])
        secret = signing.new_secret()
        row["secret"] = self.secrets.encrypt(secret, signing.sealed_for(row["name"]))

        def run(conn: Connection) -> Webhook:
            now = clock.now_ms()
            head = conn.execute(select(func.max(audit_log.c.seq))).scalar()
            values = {**row, "create_time": now, "last_update_time": now, "since_seq": head or 0}
            created = webhook_of({**values, "id": repository.insert_row(conn, webhooks, values)})
            audit.stage(conn, "create", ENTITY_KIND, created.id, created.name, None, created.audit_view())
            return created

        return self._write(run, "created", actor, name), secret

    def update(
        self,
        ref: str | int,
        *,
        name: str | Unset = UNSET,
        url: str | Unset = UNSET,
        event_types: Sequence[str] | Unset | None = UNSET,
        model_filter: str | Unset | None = UNSET,
        stage_filter: str | Unset | None = UNSET,
        description: str | Unset | None = UNSET,
        active: bool | Unset = UNSET,
    ) -> Webhook:
        """Change the given fields (``None``: clear a filter or the description). Not the secret: ``rotate_secret``."""
        actor = self._require("manage webhooks")
        given = {
            "name": name,
            "url": url,
            "event_types": event_types,
            "model_filter": model_filter,
            "stage_filter": stage_filter,
            "description": description,
            "active": active,
        }
        values = self._columns(**{k: v for k, v in given.items() if not isinstance(v, Unset)})

        def run(conn: Connection) -> Webhook:
            row = self._row(conn, ref)
            changed = {k: v for k, v in values.items() if row[k] != v}
            if not changed:
                return webhook_of(row)
            changed["last_update_time"] = clock.now_ms()
            if "name" in changed:  # the secret is sealed for the name
                secret = self.secrets.decrypt(row["secret"], signing.sealed_for(row["name"]))
                changed["secret"] = self.secrets.encrypt(secret, signing.sealed_for(changed["name"]))
            conn.execute(update(webhooks).where(_w.id == row["id"]).values(**changed))
            before, after = webhook_of(row), webhook_of({**row, **changed})
            old, new = before.audit_view(), after.audit_view()
            keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            audit.stage(
                conn,
                "update",
                ENTITY_KIND,
                after.id,
                after.name,
                {k: old.get(k) for k in keys},
                {k: new.get(k) for k in keys},
            )
            return after

        return self._write(run, "updated", actor, values.get("name"))

    def delete(self, ref: str | int) -> Webhook:
        """Delete the webhook and its deliveries (queued ones are not sent)."""
        actor = self._require("manage webhooks")

        def run(conn: Connection) -> Webhook:
            row = self._row(conn, ref)
            conn.execute(delete(webhook_deliveries).where(_d.webhook_id == row["id"]))
            conn.execute(delete(webhooks).where(_w.id == row["id"]))
            gone = webhook_of(row)
            audit.stage(conn, "delete", ENTITY_KIND, gone.id, gone.name, gone.audit_view(), None)
            return gone

        return self._write(run, "deleted", actor)

    def rotate_secret(self, ref: str | int) -> tuple[Webhook, str]:
        """A new signing secret (shown this once); deliveries from now on are signed with it."""
        actor = self._require("manage webhooks")
        secret = signing.new_secret()

        def run(conn: Connection) -> Webhook:
            row = self._row(conn, ref)
            now = clock.now_ms()
            sealed = self.secrets.encrypt(secret, signing.sealed_for(row["name"]))
            conn.execute(update(webhooks).where(_w.id == row["id"]).values(secret=sealed, last_update_time=now))
            rotated = webhook_of({**row, "last_update_time": now})
            audit.stage(conn, "rotate_secret", ENTITY_KIND, rotated.id, rotated.name, None, {"secret": "rotated"})
            return rotated

        return self._write(run, "given a new signing secret", actor), secret

    def resume(self, ref: str | int) -> Webhook:
        """Undo a pause (failure count back to 0) and make the webhook's queued deliveries due now."""
        actor = self._require("manage webhooks")

        def run(conn: Connection) -> Webhook:
            row = self._row(conn, ref)
            now = clock.now_ms()
            cleared = {"paused_time": None, "paused_reason": None, "consecutive_failures": 0, "last_update_time": now}
            conn.execute(update(webhooks).where(_w.id == row["id"]).values(**cleared))
            conn.execute(
                update(webhook_deliveries)
                .where(_d.webhook_id == row["id"], _d.state == PENDING)
                .values(next_attempt_ms=now)
            )
            before = {"pausedReason": row["paused_reason"], "consecutiveFailures": row["consecutive_failures"]}
            resumed = webhook_of({**row, **cleared})
            audit.stage(conn, "resume", ENTITY_KIND, resumed.id, resumed.name, before, {"consecutiveFailures": 0})
            return resumed

        return self._write(run, "resumed", actor)

    def test(self, ref: str | int) -> Delivery:
        """Send an ``io.modelreg.webhook.test`` event now, signed as deliveries are, and record the attempt (state
        ``test``: it changes neither the failure count nor a pause). Works on paused and inactive webhooks too:
        that is when an admin wants to know whether the receiver answers."""
        actor = self._require("test webhooks")
        now = clock.now_ms()

        def start(conn: Connection) -> tuple[Webhook, str, int]:
            row = self._row(conn, ref)
            delivery_id = repository.insert_row(
                conn,
                webhook_deliveries,
                {
                    "webhook_id": row["id"],
                    "seq": None,
                    "entity_key": f"webhook:{row['id']}",
                    "event_type": TEST_TYPE,
                    "state": TEST,
                    "attempts": 0,
                    "next_attempt_ms": None,
                    "create_time": now,
                },
            )
            secret = self.secrets.decrypt(row["secret"], signing.sealed_for(row["name"]))
            return webhook_of(row), secret, delivery_id

        hook, secret, delivery_id = self.db.run_write(start)
        msg_id = f"test-{delivery_id}"
        data = {
            "webhook": {"id": str(hook.id), "name": hook.name},
            "actor": actor,
            "message": "A test delivery from modelreg: the receiver answered this request, signed with the "
            "webhook's secret.",
        }
        event = cloudevents.envelope(msg_id, self.settings.source, TEST_TYPE, now, data, subject=f"webhooks/{hook.id}")
        body = orjson.dumps(event)
        attempt = delivery.send(hook.url, secret, msg_id, body, self.settings)
        done = clock.now_ms()
        result = {
            "attempts": 1,
            "last_attempt_time": done,
            "status_code": attempt.status_code,
            "latency_ms": round(attempt.seconds * 1000),
            "last_error": attempt.error,
            "delivered_time": done if attempt.ok else None,
            "test_body": body.decode(),
        }
        with self.db.write() as conn:
            conn.execute(update(webhook_deliveries).where(_d.id == delivery_id).values(**result))
            row = conn.execute(select(webhook_deliveries).where(_d.id == delivery_id)).mappings().first()
        if row is None:  # the webhook was deleted meanwhile (its deliveries with it)
            raise NotFound(f"webhook {hook.name!r} was deleted during its test")
        return delivery_of(row)

    # --- reads -----------------------------------------------------------------------------------------------

    def list(self) -> list[Webhook]:
        """Every webhook by name, each with its latest attempted delivery."""
        self._require("read webhooks")
        with self.db.read() as conn:
            rows = conn.execute(select(webhooks).order_by(_w.name)).mappings().all()
            return [webhook_of(r, _last_delivery(conn, r["id"])) for r in rows]

    def get(self, ref: str | int) -> Webhook:
        """A webhook by id, or by name."""
        self._require("read webhooks")
        with self.db.read() as conn:
            row = self._row(conn, ref)
            return webhook_of(row, _last_delivery(conn, row["id"]))

    def deliveries(
        self,
        ref: str | int,
        *,
        state: str | None = None,
        page_size: int | str | None = None,
        page_token: str | None = None,
    ) -> tuple[Webhook, builtins.list[Delivery], str]:
        """A page of the webhook's deliveries, newest first, and the next page's token (``""``: the last page)."""
        self._require("read webhook deliveries")
        if state is not None and state not in DELIVERY_STATES:
            raise InvalidInput(f"invalid state {state[:40]!r}: must be one of {', '.join(DELIVERY_STATES)}")
        page = PageRequest.parse(page_size, "ID", "DESC", page_token or None)
        with self.db.read() as conn:
            row = self._row(conn, ref)
            where = [_d.webhook_id == row["id"]]
            if state is not None:
                where.append(_d.state == state)
            after = page.after_clause(webhook_deliveries)
            if after is not None:
                where.append(after)
            query = select(webhook_deliveries).where(*where).order_by(*page.order_clause(webhook_deliveries))
            rows = conn.execute(query.limit(page.size + 1)).mappings().all()
            hook = webhook_of(row, _last_delivery(conn, row["id"]))
        token = page.token_for(rows[page.size - 1]) if len(rows) > page.size else ""
        return hook, [delivery_of(r) for r in rows[: page.size]], token

    def _row(self, conn: Connection, ref: str | int) -> Any:
        """By name or by id (names are never only digits)."""
        found = repository.row_by_name_or_id(conn, webhooks, ref)
        if found is None:
            raise NotFound(f"no webhook found for {str(ref)[:64]!r}")
        return found


def _last_delivery(conn: Connection, webhook_id: int) -> Delivery | None:
    """The webhook's latest attempted delivery (walks its deliveries newest first on the (webhook_id, id) index)."""
    row = (
        conn.execute(
            select(webhook_deliveries)
            .where(_d.webhook_id == webhook_id, _d.last_attempt_time.is_not(None))
            .order_by(_d.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return None if row is None else delivery_of(row)

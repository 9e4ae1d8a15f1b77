"""`EventWorker`: in every server process; the one holding the lease ``events`` relays and delivers (see the package
docstring). Woken at once by this process's commits (``Database.on_commit``), otherwise every
``events.poll_seconds``.

A round of the holder: record the attempts that finished and relay (one write transaction), then hand the due
deliveries to a pool of ``events.concurrency`` threads (the attempts in flight at once). Per webhook and entity
only the oldest pending delivery is ever handed over, and it stays "in flight" until its attempt is recorded, so a
later event of an entity waits for the earlier one to be delivered or given up (in order per entity), while other
entities' events go on. A process killed mid-attempt leaves the delivery pending: its successor sends it again (at
least once). Failed attempts wait an exponential backoff with full jitter; past ``retry_for_seconds`` the delivery
is given up (failed). ``pause_after_failures`` failed attempts in a row pause the webhook: its deliveries are
parked (no next attempt) until an admin resumes it, which makes them due again.

Rounds start at most every ``ROUND_GAP_SECONDS``: a commit after a quiet spell is relayed at once, while under load
a round takes the commits of that gap together (the events of a busy second cost a few transactions, not one per
commit, and the writes of the requests are not kept waiting for the writer's lock: bench/events.py).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, exists, select, update

from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.leases import Lease
from modelreg.db.tables import events, webhook_deliveries, webhooks
from modelreg.events import relay
from modelreg.events.delivery import Attempt, Sender
from modelreg.events.relay import DELIVERED, FAILED, PENDING, now_ms
from modelreg.events.signing import sealed_for
from modelreg.services.secrets import SecretBox, SecretKeyError
from modelreg.settings import EventsSettings
from modelreg.telemetry import workers as worker_health

log = logging.getLogger("modelreg.events")

LEASE = "events"
COMPONENT = "events"
RELAY_BATCH = 500  # audit records per relay transaction
RELAY_BATCHES_PER_ROUND = 20  # then deliveries get their turn
PRUNE_EVERY_SECONDS = 3600.0
# Parked deliveries of a webhook that is not paused (any more) are made due: WebhookService.resume does it itself,
# but a relay that read the webhook paused can commit parked deliveries just after a resume (READ COMMITTED).
UNPARK_EVERY_SECONDS = 1.0
# Deliveries handed to the pool per thread at most (started and queued): a thread that finishes one takes the next
# at once, without waiting for the loop's next round.
QUEUED_PER_THREAD = 16
ROUND_GAP_SECONDS = 0.05  # the shortest time between the starts of two rounds (batching; see _loop)

_d, _e, _w = webhook_deliveries.c, events.c, webhooks.c
# One attempt's result, executed for all the attempts recorded at once (parameters: `EventWorker._attempt_row`).
_RECORD_ATTEMPT = (
    update(webhook_deliveries)
    .where(_d.id == bindparam("b_id"), _d.state == PENDING)
    .values(
        attempts=_d.attempts + 1,
        last_attempt_time=bindparam("b_time"),
        status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        state=bindparam("b_state"),
        delivered_time=bindparam("b_delivered"),
        latency_ms=bindparam("b_latency"),
        next_attempt_ms=bindparam("b_next"),
    )
)

_earlier = webhook_deliveries.alias("earlier")
# The deliveries that may be attempted (add: due by now, and a limit): pending, of an active webhook that is not
# paused, and the oldest pending one of their webhook and entity (in order per entity).
_DUE = (
    select(
        _d.id,
        _d.webhook_id,
        _w.name,
        _d.entity_key,
        _d.seq,
        _w.url,
        _w.secret,
        _e.body,
        _e.time_ms,
        _d.create_time,
        _d.attempts,
    )
    .join(webhooks, _w.id == _d.webhook_id)
    .join(events, _e.seq == _d.seq)
    .where(_d.state == PENDING, _w.active.is_(True), _w.paused_time.is_(None))
    .where(
        ~exists().where(
            _earlier.c.webhook_id == _d.webhook_id,
            _earlier.c.entity_key == _d.entity_key,
            _earlier.c.state == PENDING,
            _earlier.c.seq < _d.seq,
        )
    )
    .order_by(_d.next_attempt_ms, _d.id)  # the index (state, next_attempt_ms): a backlog is not sorted
)


@dataclass(frozen=True, slots=True)
class _Job:
    """One delivery to attempt."""

    id: int
    webhook_id: int
    webhook_name: str
    entity_key: str
    seq: int
    url: str
    secret: str  # encrypted
    body: bytes
    event_time_ms: int
    create_time: int
    attempts: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    job: _Job
    attempt: Attempt
    at_ms: int


class EventWorker:
    def __init__(
        self,
        db: Database,
        secrets: SecretBox,
        settings: EventsSettings,
        *,
        owner: str | None = None,
        on_relayed: Callable[[], None] | None = None,
    ) -> None:
        """``on_relayed``: called (from the worker's thread) after a round wrote events, e.g. the SSE feed's
        ``notify``, so this process's streams do not wait for their next poll."""
        self.db = db
        self.secrets = secrets
        self.settings = settings
        self.on_relayed = on_relayed
        self.owner = (owner or f"events-{uuid.uuid4().hex[:12]}")[:64]
        self.lease = Lease(db, LEASE, owner=self.owner, seconds=settings.lease_seconds)
        self._sender = Sender(settings)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: dict[int, tuple[int, str]] = {}  # delivery id → (webhook id, entity key), until recorded
        self._futures: set[Future[None]] = set()
        self._done: list[_Outcome] = []
        self._secrets: dict[tuple[int, str, str], str] = {}
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._next_prune = self._next_unpark = 0.0

    def start(self) -> None:
        """Start the thread(s); a no-op when ``events.enabled`` or ``events.run_worker`` is off."""
        if not (self.settings.enabled and self.settings.run_worker):
            return
        try:
            relay.ensure_cursor(self.db)
        except Exception:  # the database is away at start: the first round makes it
            log.warning("creating the event relay's cursor failed; the worker retries", exc_info=True)
        self._pool = ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="modelreg-webhook")
        self._unsubscribe = self.db.on_commit(lambda _entries: self._wake.set())
        self._thread = threading.Thread(target=context.worker(COMPONENT, self._loop), name="modelreg-events")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop within the delivery timeout; in-flight attempts that do not finish stay pending (at least once)."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        timeout = self.settings.delivery_timeout_seconds
        self._thread.join(timeout=timeout + 5)
        assert self._pool is not None
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            futures = set(self._futures)
        wait_for(futures, timeout=timeout + 1)
        try:
            self._write_round(relaying=False)
            self.lease.release()
        except Exception:
            log.warning("the event worker could not record its last attempts or give its lease up", exc_info=True)
        self._sender.close()
        self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def wait_idle(self, timeout: float) -> bool:
        """Until everything relayable is relayed and nothing deliverable is due (tests, benchmarks); False on
        timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if not relay.behind(self.db) and not self._anything_due():
                return True
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.02)

    # --- the loop ----------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        renew_every = self.lease.seconds / 3
        next_renewal = last_round = 0.0
        while not self._stopping.is_set():
            busy = False
            try:
                if time.monotonic() >= next_renewal:
                    self.lease.acquire_or_renew()
                    next_renewal = time.monotonic() + renew_every
                # Under load, commits wake the loop far more often than it can usefully go round: each round
                # then takes the commits of ROUND_GAP at once (one write transaction for their events).
                self._stopping.wait(max(0.0, ROUND_GAP_SECONDS - (time.monotonic() - last_round)))
                last_round = time.monotonic()
                busy = self._round(relaying=self.lease.held)
                worker_health.beat(COMPONENT)
            except Exception as exc:
                log.warning("the event worker's round failed", exc_info=True)
                worker_health.failed(COMPONENT, exc)
            if not busy:
                self._wake.wait(min(self.settings.poll_seconds, max(0.01, next_renewal - time.monotonic())))
            self._wake.clear()

    def _round(self, *, relaying: bool) -> bool:
        """Record the finished attempts and relay, in one write transaction, then (the lease holder) start what is
        due; True when the relay has more to read at once."""
        more = False
        for _ in range(RELAY_BATCHES_PER_ROUND):
            more = self._write_round(relaying=relaying)
            if not more:
                break
        if not relaying:
            return False
        if time.monotonic() >= self._next_unpark:
            self._next_unpark = time.monotonic() + UNPARK_EVERY_SECONDS
            self._unpark()
        self._dispatch()
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            pruned = relay.prune(self.db, now_ms() - self.settings.retention_days * 86_400_000)
            if pruned:
                log.info(
                    "deleted %d events and finished deliveries older than %d days", pruned, self.settings.retention_days
                )
        return more

    # --- deliveries --------------------------------------------------------------------------------------------

    def _due(self, conn: Connection, limit: int) -> list[_Job]:
        query = _DUE.where(_d.next_attempt_ms <= now_ms()).limit(limit)
        rows = conn.execute(query).all()
        return [_Job(*row[:7], row[7].encode(), *row[8:]) for row in rows]

    def _anything_due(self) -> bool:
        with self.db.read() as conn:
            return bool(self._due(conn, 1))

    def _dispatch(self) -> None:
        with self._lock:
            room = QUEUED_PER_THREAD * self.settings.concurrency - len(self._in_flight)
            busy_keys = set(self._in_flight.values())
            flying = len(self._in_flight)
        if room <= 0:
            return
        with self.db.read() as conn:
            jobs = self._due(conn, room + flying)
        assert self._pool is not None
        for job in jobs:
            key = (job.webhook_id, job.entity_key)
            if key in busy_keys or room <= 0 or self._stopping.is_set():
                continue
            busy_keys.add(key)
            room -= 1
            with self._lock:
                self._in_flight[job.id] = key
                future = self._pool.submit(self._attempt, job)
                self._futures.add(future)
            future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _attempt(self, job: _Job) -> None:
        """One attempt, on a thread of the pool; its outcome is recorded by the loop's next round. Whatever goes
        wrong is an outcome too: a delivery left without one would hold its entity's later events forever."""
        try:
            attempt = self._sender.send(job.url, self._secret(job), str(job.seq), job.body)
        except SecretKeyError as exc:
            attempt = Attempt(False, None, 0.0, f"not sent: the webhook's signing secret cannot be used: {exc}")
        except Exception:
            log.exception("delivering event %d to webhook %s failed", job.seq, job.webhook_name)
            attempt = Attempt(False, None, 0.0, "not sent: an internal error (see the server log)")
        with self._lock:
            self._done.append(_Outcome(job, attempt, now_ms()))
        self._wake.set()

    def _secret(self, job: _Job) -> str:
        """The webhook's signing secret, decrypted once per stored ciphertext (a rotation stores a new one)."""
        key = (job.webhook_id, job.webhook_name, job.secret)
        secret = self._secrets.get(key)
        if secret is None:
            secret = self.secrets.decrypt(job.secret, sealed_for(job.webhook_name))
            with self._lock:
                if len(self._secrets) > 1000:
                    self._secrets.clear()
                self._secrets[key] = secret
        return secret

    def _write_round(self, *, relaying: bool) -> bool:
        """Write the finished attempts (all of them at once; their entities may then go on) and relay a batch, in
        one transaction (one turn at the writer's lock); True when the relay read a full batch."""
        with self._lock:
            done, self._done = self._done, []
        # prepare reads the cursor and what follows it: None is the idle answer, with no second check beforehand
        prepared = relay.prepare(self.db, self.settings.source, RELAY_BATCH) if relaying else None
        if not done and prepared is None:
            return False

        def write(conn: Connection) -> tuple[list[tuple[str, int]], int]:
            paused = self._record(conn, done) if done else []
            return paused, relay.commit_prepared(conn, prepared) if prepared is not None else 0

        try:
            paused, read = self.db.run_write(write)
        except Exception:
            with self._lock:
                self._done[:0] = done  # recorded at the next round; their entities wait till then
            raise
        with self._lock:
            for outcome in done:
                self._in_flight.pop(outcome.job.id, None)
        if read and self.on_relayed is not None:
            self.on_relayed()
        for name, failures in paused:
            log.warning("webhook %s paused after %d failed deliveries in a row", name, failures)
        return read >= RELAY_BATCH

    def _record(self, conn: Connection, done: Sequence[_Outcome]) -> list[tuple[str, int]]:
        conn.execute(_RECORD_ATTEMPT, [self._attempt_row(outcome) for outcome in done])
        by_webhook: dict[int, list[_Outcome]] = {}
        for outcome in done:
            by_webhook.setdefault(outcome.job.webhook_id, []).append(outcome)
        return [p for id_, outcomes in by_webhook.items() if (p := self._count_failures(conn, id_, outcomes))]

    def _attempt_row(self, outcome: _Outcome) -> dict[str, Any]:
        """The parameters of `_RECORD_ATTEMPT` for one attempt: delivered, to be retried, or given up."""
        job, attempt, now = outcome.job, outcome.attempt, outcome.at_ms
        row = {
            "b_id": job.id,
            "b_time": now,
            "b_code": attempt.status_code,
            "b_error": attempt.error,
            "b_state": PENDING,
            "b_delivered": None,
            "b_latency": None,
            "b_next": None,
        }
        if attempt.ok:
            row.update(b_state=DELIVERED, b_delivered=now, b_latency=max(0, min(now - job.event_time_ms, 2**31 - 1)))
        elif now - job.create_time >= self.settings.retry_for_seconds * 1000:
            row["b_state"] = FAILED
        else:
            row["b_next"] = now + int(self._backoff(job.attempts + 1) * 1000)
        return row

    def _backoff(self, attempts: int) -> float:
        """The pause after the ``attempts``-th failed attempt: doubling from the first interval up to the longest,
        with full jitter (so receivers that come back are not hit by every retry at once)."""
        ceiling = min(
            self.settings.retry_max_interval_seconds,
            self.settings.retry_first_interval_seconds * 2 ** min(attempts - 1, 32),
        )
        return random.uniform(0, ceiling)

    def _count_failures(
        self, conn: Connection, webhook_id: int, outcomes: Sequence[_Outcome]
    ) -> tuple[str, int] | None:
        """Failures in a row: reset by a success, counted up by failures; at the limit the webhook is paused and its
        deliveries parked. Returns (name, failures) when this paused it."""
        trailing = 0
        for outcome in outcomes:
            trailing = 0 if outcome.attempt.ok else trailing + 1
        succeeded = any(o.attempt.ok for o in outcomes)
        count = trailing if succeeded else _w.consecutive_failures + trailing
        conn.execute(update(webhooks).where(_w.id == webhook_id).values(consecutive_failures=count))
        row = conn.execute(select(_w.name, _w.consecutive_failures, _w.paused_time).where(_w.id == webhook_id)).first()
        if row is None or row.paused_time is not None or row.consecutive_failures < self.settings.pause_after_failures:
            return None
        reason = next((o.attempt.error for o in reversed(outcomes) if o.attempt.error), None)
        conn.execute(
            update(webhooks).where(_w.id == webhook_id).values(paused_time=outcomes[-1].at_ms, paused_reason=reason)
        )
        conn.execute(
            update(webhook_deliveries)
            .where(_d.webhook_id == webhook_id, _d.state == PENDING)
            .values(next_attempt_ms=None)
        )
        return str(row.name), int(row.consecutive_failures)

    def _unpark(self) -> None:
        """Deliveries parked while their webhook was paused are due again once it is not (an admin resumed it)."""
        parked = (
            select(_d.id)
            .join(webhooks, _w.id == _d.webhook_id)
            .where(_d.state == PENDING, _d.next_attempt_ms.is_(None), _w.active.is_(True), _w.paused_time.is_(None))
            .limit(1)
        )
        with self.db.read() as conn:
            if conn.execute(parked).first() is None:
                return
        resumed = select(_w.id).where(_w.active.is_(True), _w.paused_time.is_(None))

        def unpark(conn: Connection) -> None:
            conn.execute(
                update(webhook_deliveries)
                .where(_d.state == PENDING, _d.next_attempt_ms.is_(None), _d.webhook_id.in_(resumed))
                .values(next_attempt_ms=now_ms())
            )

        self.db.run_write(unpark)

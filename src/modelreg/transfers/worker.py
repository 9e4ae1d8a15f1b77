"""`TransferWorker`: the server's runner of transfer jobs, one per cluster (the lease ``transfers``).

The holder claims PENDING ``server`` jobs, oldest first, and runs up to ``workers`` at once, each in its own thread
acting as ``system:transfer``; the other processes stand by. A job's copy reports progress (which is also its
heartbeat) every half second. A RUNNING job whose heartbeat is older than three lease renewals (its server died)
is FAILED with the cause "the server running it stopped", not re-queued: what a dead process half wrote is not
trusted, and the job's Retry starts it cleanly. A server that stops (SIGTERM) stops its copies at the next block
and fails their jobs the same way at once, then gives the lease up.

``wake`` makes the loop look for work now (the API calls it after a create), so a job starts without waiting for
the next poll.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from modelreg.auth import context
from modelreg.db.leases import Lease
from modelreg.services.connections import ConnectionService
from modelreg.services.transfers import TransferJob, TransferResult, TransferService
from modelreg.telemetry import workers as worker_health
from modelreg.transfers.copy import Copy
from modelreg.transfers.kube_job import KubernetesRunner

log = logging.getLogger("modelreg.transfers")

COMPONENT = "transfer"
LEASE = "transfers"
STOPPED_CAUSE = "the server running it stopped"


class ServiceReporter:
    """A copy in this process reports straight to the service."""

    def __init__(self, service: TransferService, job: TransferJob, worker: str) -> None:
        self.service = service
        self.job = job
        self.worker = worker

    def progress(self, bytes_done: int, files_done: int, bytes_total: int | None, files_total: int | None) -> bool:
        return self.service.heartbeat(
            self.job.id,
            self.worker,
            bytes_done=bytes_done,
            files_done=files_done,
            bytes_total=bytes_total,
            files_total=files_total,
        )

    def complete(self, result: TransferResult) -> None:
        self.service.complete(self.job.id, result)

    def fail(self, error: str, cause: str | None) -> None:
        self.service.fail(self.job.id, error, cause)

    def cancelled(self) -> None:
        self.service.finish_cancelled(self.job.id)


class TransferWorker:
    def __init__(
        self,
        service: TransferService,
        connections: ConnectionService,
        *,
        workers: int = 2,
        base_image: str = "embedded",
        owner: str | None = None,
        lease_seconds: float = 15.0,
        poll_seconds: float = 1.0,
        kubernetes: KubernetesRunner | None = None,
    ) -> None:
        self.service = service
        self.connections = connections
        self.workers = workers
        self.base_image = base_image
        self.owner = (owner or f"transfer-{uuid.uuid4().hex[:12]}")[:64]
        self.lease = Lease(service.db, LEASE, owner=self.owner, seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.kubernetes = kubernetes  # starts and follows the ``kubernetes`` runner's jobs (transfers/kube_job.py)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[str, tuple[Copy | None, threading.Thread]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def stale_ms(self) -> int:
        """A RUNNING job's heartbeat older than this: its server died (three lease renewals)."""
        return int(self.lease.seconds * 1000)

    def start(self) -> None:
        if self.workers <= 0:
            log.info("transfer jobs are not run by this server (storage.transfer_workers = 0)")
            return
        self._thread = threading.Thread(target=context.worker(COMPONENT, self._loop), name="modelreg-transfers")
        self._thread.daemon = True
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the copies at their next block, fail their jobs (the server stopped) and give the lease up."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        with self._lock:
            running = list(self._running.values())
        for copy, _ in running:
            if copy is not None:
                copy.stop()
        deadline = time.monotonic() + timeout
        for _, thread in running:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._thread is not None:
            try:
                self.lease.release()
            except Exception:
                log.warning("releasing the transfers lease failed", exc_info=True)

    def running(self) -> list[str]:
        """Ids of the jobs this process is copying now."""
        with self._lock:
            return list(self._running)

    # --- the loop ----------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        renew_every = self.lease.seconds / 3
        next_renewal = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_renewal:
                    self.lease.acquire_or_renew()
                    next_renewal = time.monotonic() + renew_every
                    if self.lease.held:
                        self._reap()
                if self.lease.held:
                    self._fill()
                    if self.kubernetes is not None:
                        self.kubernetes.tick()
                worker_health.beat(COMPONENT)
            except Exception as exc:
                log.warning("the transfer worker's round failed", exc_info=True)
                worker_health.failed(COMPONENT, exc)
            self._wake.wait(min(self.poll_seconds, max(0.05, next_renewal - time.monotonic())))
            self._wake.clear()

    def run_once(self) -> list[str]:
        """One round without the thread (tests, the CLI): renew the lease, fail stale jobs, claim and start what
        fits. Returns the ids of the jobs started."""
        if not self.lease.acquire_or_renew():
            return []
        self._reap()
        return self._fill()

    def join(self, timeout: float = 60.0) -> None:
        """Wait for the copies started so far to end (tests)."""
        deadline = time.monotonic() + timeout
        for _, thread in list(self._running.values()):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _reap(self) -> None:
        mine = set(self.running())
        for job in self.service.fail_stale(self.stale_ms):
            if job.id not in mine:
                log.warning("transfer job %s failed: %s", job.name, job.cause)

    def _fill(self) -> list[str]:
        started = []
        while not self._stopping.is_set():
            with self._lock:
                if len(self._running) >= self.workers:
                    break
            job = self.service.claim_next(self.owner, "server")
            if job is None:
                break
            self._launch(job)
            started.append(job.id)
        return started

    def _launch(self, job: TransferJob) -> None:
        thread = threading.Thread(
            target=context.worker(COMPONENT, lambda: self._run(job)), name=f"modelreg-transfer-{job.name}"
        )
        thread.daemon = True
        with self._lock:
            self._running[job.id] = (None, thread)
        thread.start()

    def _run(self, job: TransferJob) -> None:
        reporter = ServiceReporter(self.service, job, self.owner)
        try:
            try:
                source = self.connections.resolve(job.source.connection)
                destination = self.connections.resolve(job.destination.connection)
            except Exception as exc:
                reporter.fail("opening the job's data connections failed", str(exc))
                return
            copy = Copy(job, source, destination, _Stopping(reporter, self._stopping), base_image=self.base_image)
            with self._lock:
                self._running[job.id] = (copy, self._running[job.id][1])
            if self._stopping.is_set():
                copy.stop()
            state = copy.run()
            log.info("transfer job %s: %s", job.name, state)
        except Exception:
            log.exception("transfer job %s: the runner failed", job.name)
            try:
                reporter.fail("the transfer runner failed", "an internal error (see the server log)")
            except Exception:
                log.warning("transfer job %s: could not record its failure", job.name, exc_info=True)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            self._wake.set()


class _Stopping:
    """A reporter that, once this server is stopping, records a stopped copy as the server's failure (the job is
    not the user's to see as cancelled)."""

    def __init__(self, inner: ServiceReporter, stopping: threading.Event) -> None:
        self.inner = inner
        self.stopping = stopping

    def progress(self, bytes_done: int, files_done: int, bytes_total: int | None, files_total: int | None) -> bool:
        return self.inner.progress(bytes_done, files_done, bytes_total, files_total)

    def complete(self, result: TransferResult) -> None:
        self.inner.complete(result)

    def fail(self, error: str, cause: str | None) -> None:
        self.inner.fail(error, cause)

    def cancelled(self) -> None:
        job = self.inner.service.get(self.inner.job.id)
        if self.stopping.is_set() and not job.cancel_requested:
            self.inner.fail("the transfer was interrupted", STOPPED_CAUSE)
        else:
            self.inner.cancelled()

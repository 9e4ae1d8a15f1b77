"""db/leases.py: one holder at a time, on every backend, including processes racing for a lease nobody held."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from modelreg.db.database import Database
from modelreg.db.leases import Lease


def fresh_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def test_one_holder_until_released(database: Database) -> None:
    name = fresh_name()
    first, second = Lease(database, name, seconds=30), Lease(database, name, seconds=30)
    assert first.acquire_or_renew() and first.held
    assert not second.acquire_or_renew() and not second.held
    assert first.acquire_or_renew()  # renewing its own
    assert first.holder() == first.owner
    first.release()
    assert not first.held and first.holder() is None
    assert second.acquire_or_renew() and second.held
    assert not first.acquire_or_renew()
    assert second.holder() == second.owner


def test_an_expired_lease_is_taken_over(database: Database) -> None:
    name = fresh_name()
    stale, standby = Lease(database, name, seconds=0.3), Lease(database, name, seconds=30)
    assert stale.acquire_or_renew()
    assert not standby.acquire_or_renew()
    deadline = time.monotonic() + 5
    while not standby.acquire_or_renew():
        assert time.monotonic() < deadline, "the expired lease was never taken over"
        time.sleep(0.05)
    assert not stale.held  # its own clock says it ran out, without asking the database
    assert not stale.acquire_or_renew()
    stale.release()  # not the owner any more: changes nothing
    assert standby.holder() == standby.owner


def test_same_owner_is_the_same_holder(database: Database) -> None:
    """A restarted process that keeps its owner id gets its lease back at once."""
    name, owner = fresh_name(), f"pod-{uuid.uuid4().hex[:8]}"
    assert Lease(database, name, owner=owner, seconds=30).acquire_or_renew()
    assert Lease(database, name, owner=owner, seconds=30).acquire_or_renew()
    assert not Lease(database, name, seconds=30).acquire_or_renew()


@pytest.mark.parametrize("rounds", [8])
def test_racing_processes_elect_exactly_one(database: Database, rounds: int) -> None:
    """Threads stand in for server processes: each round, eight fresh contenders hit a lease at once, both for a
    name with no row yet (the insert race) and, after a release, for an existing free row (the row lock)."""
    contenders = 8
    with ThreadPoolExecutor(contenders) as pool:
        for _ in range(rounds):
            name = fresh_name()
            for _phase in ("no row", "free row"):
                leases = [Lease(database, name, seconds=30) for _ in range(contenders)]
                barrier = threading.Barrier(contenders)

                def contend(lease: Lease, barrier: threading.Barrier = barrier) -> bool:
                    barrier.wait(timeout=10)
                    return lease.acquire_or_renew()

                won = [lease for lease, ok in zip(leases, pool.map(contend, leases), strict=True) if ok]
                assert len(won) == 1
                assert won[0].holder() == won[0].owner
                assert [lease.held for lease in leases].count(True) == 1
                won[0].release()


def test_seconds_must_be_positive(database: Database) -> None:
    with pytest.raises(ValueError, match="positive"):
        Lease(database, fresh_name(), seconds=0)

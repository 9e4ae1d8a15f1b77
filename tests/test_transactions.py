"""How ``Database`` begins and ends transactions on each backend (db/database.py): reads leave nothing open, a
snapshot sees one state, writes are atomic at READ COMMITTED, and lost connections are replaced or retried."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from modelreg.db.database import Database, retry_read
from modelreg.settings import DatabaseSettings

SERVER_ONLY = "SQLite has no server connection to leave open, kill or lose"


@pytest.fixture
def one_connection(database_url: str) -> Iterator[Database]:
    """A Database whose pool holds one connection, so that consecutive transactions share it."""
    db = Database(database_url, DatabaseSettings(pool_size=1, max_overflow=0))
    yield db
    db.dispose()


@pytest.fixture
def admin(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def scratch(admin: Engine) -> Iterator[str]:
    with admin.connect() as conn:
        conn.execute(text("DROP TABLE IF EXISTS txn_scratch"))
        conn.execute(text("CREATE TABLE txn_scratch (id INTEGER PRIMARY KEY, v INTEGER)"))
        conn.execute(text("INSERT INTO txn_scratch VALUES (1, 1)"))
    yield "txn_scratch"
    with admin.connect() as conn:
        conn.execute(text("DROP TABLE IF EXISTS txn_scratch"))


def _value(conn: Connection) -> int:
    return int(conn.execute(text("SELECT v FROM txn_scratch WHERE id = 1")).scalar_one())


def _set_value(admin: Engine, value: int) -> None:
    with admin.connect() as conn:
        conn.execute(text("UPDATE txn_scratch SET v = :v WHERE id = 1"), {"v": value})


def _backend_pid(conn: Connection) -> int:
    sql = "SELECT pg_backend_pid()" if conn.dialect.name == "postgresql" else "SELECT CONNECTION_ID()"
    return int(conn.execute(text(sql)).scalar_one())


def _kill(admin: Engine, pid: int) -> None:
    """End the server session ``pid`` from another connection and wait until it is gone."""
    with admin.connect() as conn:
        if admin.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = :p"
        else:
            conn.execute(text(f"KILL CONNECTION {int(pid)}"))
            alive = "SELECT count(*) FROM information_schema.processlist WHERE id = :p"
        deadline = time.monotonic() + 10
        while conn.execute(text(alive), {"p": pid}).scalar_one():
            assert time.monotonic() < deadline, f"session {pid} outlived its kill"
            time.sleep(0.02)


def test_a_read_leaves_no_transaction_open(one_connection: Database, admin: Engine, scratch: str) -> None:
    """After a read, the pooled connection holds no locks: a DROP TABLE from elsewhere does not wait for it (an
    open transaction would hold MariaDB's metadata lock or PostgreSQL's ACCESS SHARE lock until it ended)."""
    if admin.dialect.name == "sqlite":
        pytest.skip(SERVER_ONLY)
    with one_connection.read() as conn:
        assert _value(conn) == 1
    with admin.connect() as conn:
        if admin.dialect.name == "postgresql":
            conn.execute(text("SET lock_timeout = '2s'"))
        else:
            conn.execute(text("SET SESSION lock_wait_timeout = 2"))
        conn.execute(text(f"DROP TABLE {scratch}"))  # raises after 2 s if the read left a lock behind


def test_a_snapshot_sees_one_state_and_a_read_the_latest(one_connection: Database, admin: Engine, scratch: str) -> None:
    with one_connection.snapshot() as conn:
        assert _value(conn) == 1
        _set_value(admin, 2)
        assert _value(conn) == 1
    with one_connection.read() as conn:
        assert _value(conn) == 2


def test_writes_stay_read_committed_after_a_snapshot(one_connection: Database, admin: Engine, scratch: str) -> None:
    """A snapshot's REPEATABLE READ is for its own transaction: the next write on the same connection sees what
    others committed meanwhile, statement by statement."""
    if admin.dialect.name == "sqlite":
        pytest.skip("SQLite writers hold the database's write lock: nobody else commits during their transaction")
    with one_connection.snapshot() as conn:
        _value(conn)
    with one_connection.write() as conn:
        assert _value(conn) == 1
        _set_value(admin, 3)
        assert _value(conn) == 3


def test_a_failed_write_leaves_nothing(one_connection: Database, scratch: str) -> None:
    with pytest.raises(RuntimeError), one_connection.write() as conn:
        conn.execute(text("INSERT INTO txn_scratch VALUES (2, 2)"))
        raise RuntimeError("give up")
    with one_connection.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM txn_scratch")).scalar_one() == 1


def test_a_connection_killed_in_the_pool_is_replaced(one_connection: Database, admin: Engine, scratch: str) -> None:
    if admin.dialect.name == "sqlite":
        pytest.skip(SERVER_ONLY)
    with one_connection.read() as conn:
        pid = _backend_pid(conn)
    _kill(admin, pid)
    with one_connection.read() as conn:  # no error: found closed at checkout, without a ping
        assert _value(conn) == 1
        assert _backend_pid(conn) != pid


def test_a_read_whose_connection_is_lost_runs_once_more(one_connection: Database, admin: Engine, scratch: str) -> None:
    if admin.dialect.name == "sqlite":
        pytest.skip(SERVER_ONLY)
    calls: list[int] = []

    def read() -> int:
        with one_connection.read() as conn:
            pid = _backend_pid(conn)
            calls.append(pid)
            if len(calls) == 1:
                _kill(admin, pid)  # lost between two statements of the read
            return _value(conn)

    assert retry_read(read) == 1
    assert len(calls) == 2 and calls[0] != calls[1]


def test_a_write_whose_connection_is_lost_is_not_run_again(
    one_connection: Database, admin: Engine, scratch: str
) -> None:
    if admin.dialect.name == "sqlite":
        pytest.skip(SERVER_ONLY)
    calls = 0

    def write(conn: Connection) -> None:
        nonlocal calls
        calls += 1
        conn.execute(text("UPDATE txn_scratch SET v = 9 WHERE id = 1"))
        _kill(admin, _backend_pid(conn))
        conn.execute(text("UPDATE txn_scratch SET v = 10 WHERE id = 1"))

    with pytest.raises(DBAPIError) as raised:
        one_connection.run_write(write)
    assert raised.value.connection_invalidated
    assert calls == 1
    with one_connection.read() as conn:
        assert _value(conn) == 1  # the first UPDATE died with its session: nothing half-written

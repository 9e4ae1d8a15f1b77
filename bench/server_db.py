"""Scratch databases on the MariaDB and PostgreSQL servers for the benchmarks, and the servers' own counters.

Every benchmark server gets a database of its own (``bench_...``), created empty and dropped at the end, so runs
never see each other's rows. The counters are what the database server itself counted, which is how round trips
per request are shown from outside the process (``bench/round_trips.py`` counts them exactly, in process):

* MariaDB: ``SHOW GLOBAL STATUS`` (``Questions``, ``Com_*``, ``Connections``). They are server-wide: every client
  of the server counts, so a quiet server matters; ``idle_rate`` measures what the others send meanwhile.
* PostgreSQL: ``pg_stat_database`` of the bench database alone. It has transactions and rows but no statement
  count (that needs ``pg_stat_statements``, which is not preloaded on this server). A backend reports its counts
  at most once a second and an idle one up to 10 s later (PostgreSQL 15's ``PGSTAT_IDLE_INTERVAL``), so a sample
  is exact only ``FLUSH_WAIT_S`` after the load stopped.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

BACKENDS = ("sqlite", "mariadb", "postgresql")
SERVER_BACKENDS = BACKENDS[1:]
DEFAULT_ADMIN_URLS = {
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432",
}
MARIADB_COUNTERS = (
    "Questions",
    "Com_select",
    "Com_insert",
    "Com_update",
    "Com_delete",
    "Com_commit",
    "Com_rollback",
    "Com_begin",
    "Connections",
)
POSTGRES_COUNTERS = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated")
POSTGRES_SESSIONS = "sessions"  # connections opened to the database (PostgreSQL 14+)
FLUSH_WAIT_S = {"mariadb": 0.0, "postgresql": 11.0}
_MAX_NAME = 63  # PostgreSQL's identifier limit (MariaDB's is 64)


def scratch_name(*parts: str) -> str:
    """``bench_<parts>_<pid>_<random>``: a database name no other run uses, valid on both servers."""
    words = [re.sub(r"[^a-z0-9]+", "_", part.lower()).strip("_") for part in parts]
    suffix = f"_{os.getpid()}_{secrets.token_hex(3)}"
    return ("_".join(["bench", *filter(None, words)]))[: _MAX_NAME - len(suffix)] + suffix


def server_pids(backend: str) -> list[int]:
    """The database server's processes on this machine (to count its CPU time); every client's work is in them."""
    names = {"mariadb": ("mariadbd", "mysqld"), "postgresql": ("postgres",)}[backend]
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                name = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if name in names:
                found.append(int(entry))
    return found


class ServerDatabases:
    """Creates ``bench_`` databases on one server through its admin URL and drops them again (``drop_all``)."""

    def __init__(self, backend: str, admin_url: str) -> None:
        if backend not in SERVER_BACKENDS:
            raise ValueError(f"not a database server: {backend}")
        self.backend = backend
        url = make_url(admin_url)
        if backend == "postgresql" and not url.database:
            url = url.set(database="postgres")  # PostgreSQL connects to some database; this one always exists
        self.admin_url = url
        self.created: list[str] = []
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
        return self._engine

    def url(self, name: str) -> str:
        """The URL of database ``name`` (the admin URL's driver, user and host), password included."""
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def create(self, name: str) -> str:
        with self.engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        self.created.append(name)
        return self.url(name)

    def drop(self, name: str) -> None:
        force = " WITH (FORCE)" if self.backend == "postgresql" else ""  # the servers may still hold connections
        with self.engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop(name)
        self.dispose()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def version(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(text("SELECT version()")).scalar_one())

    def counters(self, database: str) -> dict[str, int]:
        """The server's counters now: global on MariaDB, ``database``'s on PostgreSQL (see the module doc)."""
        with self.engine.connect() as conn:
            if self.backend == "mariadb":
                names = ", ".join(f"'{name}'" for name in MARIADB_COUNTERS)
                rows = conn.execute(text(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")).all()
                return {str(name): int(value) for name, value in rows}
            columns = ", ".join((*POSTGRES_COUNTERS, POSTGRES_SESSIONS))
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = conn.execute(
                text(f"SELECT {columns} FROM pg_stat_database WHERE datname = :name"), {"name": database}
            ).one()
            return {name: int(value or 0) for name, value in row._mapping.items()}

    def idle_rate(self, database: str, seconds: float = 1.0) -> dict[str, float]:
        """Counter increments per second while the benchmark sends nothing: what other clients (and the idle
        servers' background work) add to a window. Only meaningful for MariaDB's global counters."""
        before = self.counters(database)
        time.sleep(seconds)
        after = self.counters(database)
        return {name: (after[name] - before[name]) / seconds for name in before}


def counter_deltas(
    before: dict[str, int], after: dict[str, int], ops: int, seconds: float, idle: dict[str, float] | None = None
) -> dict[str, Any]:
    """Per-operation increments between two samples; with ``idle`` rates, also with the idle share removed."""
    delta = {name: after[name] - before[name] for name in before}
    out: dict[str, Any] = {"ops": ops, "seconds": round(seconds, 2), "delta": delta}
    if ops:
        out["per_op"] = {name: round(value / ops, 2) for name, value in delta.items()}
        if idle is not None:
            out["idle_per_s"] = {name: round(rate, 2) for name, rate in idle.items()}
            out["per_op_less_idle"] = {
                name: round((value - idle.get(name, 0.0) * seconds) / ops, 2) for name, value in delta.items()
            }
    return out

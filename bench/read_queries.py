#!/usr/bin/env python3
"""Statements and time per read, in process, on each database (issue 17: an entity and its custom properties in
one query, a list page likewise).

Seeds ``--versions`` model versions in ``--models`` registered models (each with a ``framework`` custom property,
every tenth archived: the shapes of ``registry_vs_mlflow.py``) and two registered models with 20 and 1,000
properties, then times what a request's service call does, without HTTP: a get-by-id (``entities.load`` in a read
transaction, as ``RegistryService.get``), list pages (first page, a later one, by last update, the two filtered
lists of the HTTP benchmark) and a find-by-name. The statements of one call are counted on the engine's
``before_cursor_execute`` event and on the driver cursors of ``db/prepared.py`` (SQLite's ``BEGIN`` included,
commits counted apart).

With ``--baseline REF`` the modules issue 17 changed (``BASELINE_MODULES``) are also loaded as they are at the git
revision REF, beside this tree's, and every workload alternates a baseline call and a current call (in turns,
``--number`` pairs): on a shared, noisy machine only such pairs compare. The report gives each side's median per
call and the median of the per-pair ratios (current / baseline).

    .venv/bin/python bench/read_queries.py                         # all three databases (seeded once, kept)
    .venv/bin/python bench/read_queries.py --baseline HEAD         # against the last commit
    .venv/bin/python bench/read_queries.py --backends sqlite --explain

The seeded databases are kept between runs (``modelreg_bench_reads`` on the servers, ``bench/results/`` for
SQLite); ``--drop`` removes them. Results are also written to ``bench/results/read_queries-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import registry_vs_mlflow as rb
from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

import modelreg
from modelreg.auth import context
from modelreg.db import migrations, prepared
from modelreg.db import tables as t
from modelreg.db.database import Database
from modelreg.db.pagination import PageRequest
from modelreg.services import entities as e

NAME = "modelreg_bench_reads"
URLS = {
    "sqlite": f"sqlite:///{rb.RESULTS_DIR / (NAME + '.sqlite')}",
    "mariadb": f"mysql+pymysql://root@127.0.0.1:3306/{NAME}",
    "postgresql": f"postgresql+psycopg://postgres@127.0.0.1:5432/{NAME}",
}
ADMIN = {
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/mysql",
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the data ------------------------------------------------------------------------------------------------------


def create_database(backend: str) -> None:
    if backend == "sqlite":
        rb.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        return
    engine = create_engine(ADMIN[backend], isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if backend == "postgresql":
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": NAME}).first() is None:
                conn.execute(text(f"CREATE DATABASE {NAME}"))
        else:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS {NAME}"))
    engine.dispose()


def drop_database(backend: str) -> None:
    if backend == "sqlite":
        path = make_url(URLS["sqlite"]).database or ""
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
        return
    engine = create_engine(ADMIN[backend], isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {NAME}" + (" WITH (FORCE)" if backend == "postgresql" else "")))
    engine.dispose()


def seed(backend: str, models: int, per_model: int) -> None:
    """A database with the seeded shape, kept from an earlier run if it has it, else made anew: bulk inserts (what
    the server would write, minus HTTP and audit), then fresh statistics (and no dead rows from an earlier seed)."""
    create_database(backend)
    engine = create_engine(URLS[backend])
    try:
        with engine.connect() as conn:
            have = conn.execute(select(func.count()).select_from(t.model_versions)).scalar_one()
            models_had = conn.execute(select(func.count()).select_from(t.registered_models)).scalar_one()
        if have == models * per_model and models_had == models + len(WIDE):
            return
    except DBAPIError:  # no tables yet
        pass
    finally:
        engine.dispose()
    drop_database(backend)
    create_database(backend)
    db = Database(URLS[backend])
    try:
        migrations.upgrade(db.engine)
        # the HTTP benchmark's own seeding: it needs only the database's URL and backend of its Server
        rb.seed_modelreg_sql(SimpleNamespace(db_url=URLS[backend], db_backend=backend), models, per_model)
        for n, (props, description) in enumerate(WIDE):
            _seed_wide_model(db, models + 1 + n, props, description)
    finally:
        db.dispose()
    engine = create_engine(URLS[backend], isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if backend == "mariadb":
            conn.execute(text("ANALYZE TABLE model_versions, registered_models, properties")).all()
        else:
            conn.execute(text("VACUUM ANALYZE" if backend == "postgresql" else "ANALYZE"))
    engine.dispose()


# Registered models after the seeded ones: (custom properties, description length). A get-by-id reads their
# properties with the row; the second is the worst case the API limits allow (1,000 properties, 64 KB texts).
WIDE = ((20, 1_000), (1_000, 60_000))


def _seed_wide_model(db: Database, id_: int, props: int, description: int) -> None:
    now = int(time.time() * 1000)
    with db.engine.begin() as conn:
        conn.execute(
            insert(t.registered_models),
            {
                "id": id_,
                "name": f"wide-{id_}",
                "description": "d" * description,
                "state": "LIVE",
                "create_time": now,
                "last_update_time": now,
            },
        )
        conn.execute(
            insert(t.properties),
            [
                {
                    "owner_kind": t.registered_models.name,
                    "owner_id": id_,
                    "name": f"p{i:04}",
                    "value_type": "string",
                    "string_value": f"value {i}",
                }
                for i in range(props)
            ],
        )


# --- counting and timing -------------------------------------------------------------------------------------------


class Counts:
    """Statements sent, by first word, and commits: SQLAlchemy's executions and the DriverCursor ones."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.commits = 0
        self.sql: list[tuple[str, Any]] = []

    def note(self, statement: str, params: Any) -> None:
        self.statements[statement.split(None, 1)[0].upper()] += 1
        self.sql.append((statement, params))


class _CountingCursor:
    def __init__(self, cursor: Any, counts: Counts) -> None:
        self._cursor, self._counts = cursor, counts

    def execute(self, statement: str, params: Any = None) -> Any:
        self._counts.note(statement, params)
        return self._cursor.execute(statement, params) if params is not None else self._cursor.execute(statement)

    def executemany(self, statement: str, rows: Any) -> Any:
        self._counts.note(statement, rows)
        return self._cursor.executemany(statement, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@contextmanager
def counting(db: Database) -> Iterator[Counts]:
    counts = Counts()

    def before(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        counts.note(statement, params)

    def commit(_conn: Any) -> None:
        counts.commits += 1

    original = prepared.DriverCursor.__enter__

    def enter(self: prepared.DriverCursor) -> Any:
        return _CountingCursor(original(self), counts)

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "commit", commit)
    prepared.DriverCursor.__enter__ = enter  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        prepared.DriverCursor.__enter__ = original  # type: ignore[method-assign]
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "commit", commit)


Workload = Callable[[int], Any]
# What issue 17 changed; loaded from the baseline revision in this order, each seeing the previous ones.
BASELINE_MODULES = (
    ("modelreg.db.repository", "src/modelreg/db/repository.py"),
    ("modelreg.services.properties", "src/modelreg/services/properties.py"),
    ("modelreg.services.entities", "src/modelreg/services/entities.py"),
)


def baseline_entities(ref: str) -> Any:
    """``services/entities.py`` as of ``ref``, over that revision's ``repository`` and ``properties``."""
    loaded: dict[str, ModuleType] = {}
    for name, path in BASELINE_MODULES:
        source = subprocess.run(["git", "-C", str(rb.ROOT), "show", f"{ref}:{path}"], capture_output=True, text=True)
        if source.returncode != 0:
            raise SystemExit(f"cannot read {path} at {ref}: {source.stderr.strip()}")
        module = ModuleType(f"baseline_{name}")
        module.__file__ = f"{ref}:{path}"
        sys.modules[module.__name__] = module
        exec(compile(source.stdout, module.__file__, "exec"), module.__dict__)
        for other, done in loaded.items():  # the baseline's modules use each other, not this tree's
            short = other.rsplit(".", 1)[1]
            if hasattr(module, short):
                setattr(module, short, done)
        loaded[name] = module
    return loaded["modelreg.services.entities"]


def workloads(ent: Any, db: Database, models: int, per_model: int) -> dict[str, Workload]:
    """The service calls, through ``ent`` (``services/entities.py``, this tree's or the baseline's)."""
    rng = random.Random(17)
    version_ids = [rng.randint(1, models * per_model) for _ in range(1000)]
    model_ids = [rng.randint(1, models) for _ in range(1000)]
    first = PageRequest(size=100)
    with db.read() as conn:
        _, token = ent.list_page(conn, ent.MODEL_VERSION, first)
    later = PageRequest.parse(100, None, None, token)
    by_update = PageRequest.parse(100, "LAST_UPDATE_TIME", "DESC")

    def get(kind: Any, id_: int) -> Any:
        with db.read() as conn:
            return ent.load(conn, kind, id_)

    def page(kind: Any, request: PageRequest, query: str | None = None) -> Any:
        with db.read() as conn:
            return ent.list_page(conn, kind, request, query)

    def find(i: int) -> Any:
        with db.read() as conn:
            return ent.find_by_name(conn, ent.MODEL_VERSION, f"v{i % per_model}", None, 1 + i % models)

    wide = {
        f"get model, {props} properties, {length // 1000} KB description": (
            lambda i, id_=models + 1 + n: get(ent.REGISTERED_MODEL, id_)
        )
        for n, (props, length) in enumerate(WIDE)
    }
    return {
        "get version": lambda i: get(ent.MODEL_VERSION, version_ids[i % len(version_ids)]),
        "get model": lambda i: get(ent.REGISTERED_MODEL, model_ids[i % len(model_ids)]),
        **wide,
        "list versions, page 1": lambda i: page(ent.MODEL_VERSION, first),
        "list versions, page 2": lambda i: page(ent.MODEL_VERSION, later),
        "list versions by update desc": lambda i: page(ent.MODEL_VERSION, by_update),
        "list models, page 1": lambda i: page(ent.REGISTERED_MODEL, first),
        f"list {rb.LIST_FILTER}": lambda i: page(ent.MODEL_VERSION, first, rb.LIST_FILTER),
        f"list {rb.LIST_PROP_FILTER}": lambda i: page(ent.MODEL_VERSION, first, rb.LIST_PROP_FILTER),
        "find version by name": find,
    }


def statements(db: Database, work: Workload) -> Counts:
    with counting(db) as counts:
        work(0)
    return counts


def measure(db: Database, sides: dict[str, Workload], number: int) -> dict[str, Any]:
    """Each side ``number`` times, in turns (the order alternating), after a warm-up: medians and paired ratios."""
    for i in range(20):  # compiled statements, pool, caches
        for work in sides.values():
            work(i)
    times: dict[str, list[float]] = {label: [] for label in sides}
    labels = list(sides)
    for i in range(number):
        for label in labels if i % 2 == 0 else labels[::-1]:
            start = time.perf_counter()
            sides[label](i)
            times[label].append(time.perf_counter() - start)
    out: dict[str, Any] = {}
    for label, work in sides.items():
        counts = statements(db, work)
        out[label] = {
            "statements": sum(counts.statements.values()),
            "by_verb": dict(counts.statements),
            "commits": counts.commits,
            "median_ms": statistics.median(times[label]) * 1000,
            "p90_ms": statistics.quantiles(times[label], n=10)[-1] * 1000,
            "sql": counts.sql,
        }
    if "baseline" in times:
        pairs = zip(times["baseline"], times["current"], strict=True)
        out["ratio"] = statistics.median(c / b for b, c in pairs)
    return out


# --- EXPLAIN -------------------------------------------------------------------------------------------------------


def explain(db: Database, sql: str, params: Any) -> str:
    prefix = {
        "postgresql": "EXPLAIN (ANALYZE, BUFFERS) ",
        "mysql": "ANALYZE ",
        "mariadb": "ANALYZE ",
        "sqlite": "EXPLAIN QUERY PLAN ",
    }
    with db.engine.connect() as conn:
        cursor = conn.connection.cursor()
        try:
            cursor.execute(prefix[db.backend] + sql, params)
            rows = cursor.fetchall()
            names = [d[0] for d in cursor.description or ()]
        finally:
            cursor.close()
        conn.rollback()
    if db.backend in ("mysql", "mariadb"):
        return "\n".join(" | ".join(f"{n}={v}" for n, v in zip(names, row, strict=True)) for row in rows)
    return "\n".join(" | ".join(str(v) for v in row) for row in rows)


# --- main ----------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    per_model = args.versions // args.models
    baseline = baseline_entities(args.baseline) if args.baseline else None
    for backend in args.backends:
        seed(backend, args.models, per_model)
        db = Database(URLS[backend])
        try:
            current = workloads(e, db, args.models, per_model)
            previous = workloads(baseline, db, args.models, per_model) if baseline else {}
            out: dict[str, Any] = {}
            for name, work in current.items():
                if args.only and not any(word in name for word in args.only):
                    continue
                sides = {"baseline": previous[name], "current": work} if baseline else {"current": work}
                out[name] = measure(db, sides, args.number)
                log(f"{backend:10} {name:48} " + line(out[name]))
                if args.explain and ("LIKE" in name or "framework" in name or name.startswith("get version")):
                    for sql, params in out[name]["current"]["sql"]:
                        if sql.lstrip().upper().startswith(("SELECT", "WITH", "(")):
                            log(f"--- EXPLAIN {backend}: {name}\n{sql}\n{explain(db, sql, params)}\n")
                for side in sides:
                    out[name][side]["sql"] = [sql for sql, _ in out[name][side]["sql"]]
            results[backend] = out
        finally:
            db.dispose()
        if args.drop:
            drop_database(backend)
    return results


def line(m: dict[str, Any]) -> str:
    """``statements, median ms`` per side, and the paired ratio."""
    sides = [
        f"{m[side]['statements']} stmt {m[side]['median_ms']:7.3f} ms" for side in ("baseline", "current") if side in m
    ]
    return " -> ".join(sides) + (f"  ratio {m['ratio']:.2f}" if "ratio" in m else "")


def report(results: dict[str, Any]) -> str:
    paired = any("ratio" in m for out in results.values() for m in out.values())
    head = "statements, median ms: baseline -> current, paired ratio" if paired else "statements, median ms"
    lines = [f"{'backend':10} {'workload':48} {head}"]
    for backend, out in results.items():
        lines += [f"{backend:10} {name:48} {line(m)}" for name, m in out.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backends", default="sqlite,mariadb,postgresql", type=lambda s: s.split(","))
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=1_000)
    parser.add_argument("--number", type=int, default=300, help="calls per workload (per side with --baseline)")
    parser.add_argument("--baseline", metavar="REF", help="also run the changed modules as of this git revision")
    parser.add_argument("--only", nargs="*", help="run the workloads whose name contains one of these words")
    parser.add_argument("--explain", action="store_true", help="print the plans of the filtered lists and a get")
    parser.add_argument("--drop", action="store_true", help="drop the seeded databases afterwards")
    args = parser.parse_args(argv)
    with context.acting_as(context.system("bench")):
        results = run(args)
    print(f"modelreg from {modelreg.__file__}" + (f", baseline {args.baseline}" if args.baseline else ""))
    print(report(results))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = rb.RESULTS_DIR / f"read_queries-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=1, default=str))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

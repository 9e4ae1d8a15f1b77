#!/usr/bin/env python3
"""Round trips per request: what each registry request sends to the database, counted exactly, in process.

The app is built as ``modelreg serve`` builds it (``create_app(Settings(...), Database(url, ...))`` on a database
migrated with ``modelreg.db.migrations.upgrade``) on a fresh database of each backend, and driven with starlette's
TestClient from 127.0.0.1 (local mode answers loopback only). Every request is counted where it reaches the driver:

* MariaDB (PyMySQL): every command packet the connection sends (its ``_execute_command``: queries, COMMIT,
  ROLLBACK, COM_PING), each one round trip;
* PostgreSQL (psycopg): libpq's own protocol trace (``PQtrace``) of each connection; a round trip is what the
  client sent up to each ReadyForQuery, so psycopg's implicit BEGIN and its extra Parse when it starts preparing a
  statement count, and a COMMIT that psycopg skips does not;
* SQLite: every statement SQLite runs (``set_trace_callback``); nothing travels, so these are statements, not round
  trips.

Beside them: the statements SQLAlchemy executed (``before_cursor_execute``; the others went past it on the driver's
cursors, ``modelreg.db.prepared.DriverCursor``) and new connections. Only the requests' own work is counted: an
ASGI wrapper marks each request in a context variable, which anyio copies into the thread pool; background threads
(the catalog's registry source, telemetry) do not have it. On PostgreSQL, where the trace is per connection, a
connection's messages between its checkout (or the pre-ping before it) and its checkin go to whoever checked it out.

    .venv/bin/python bench/round_trips.py                                   # this checkout, all three backends
    .venv/bin/python bench/round_trips.py --src before=../modelreg-before/src --src after=src --verbose

With ``--src LABEL=PATH`` (repeated), each label runs in a subprocess with ``PYTHONPATH=PATH`` and the tables are
printed side by side (``before → after``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import server_db as sdb  # bench/: scratch databases on MariaDB and PostgreSQL

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/api/model_registry/v1alpha3"
CLIENT = ("127.0.0.1", 5000)
LIST_QUERY = "name LIKE 'v%' AND state = 'LIVE'"
KINDS = ("statement", "begin", "commit", "rollback", "ping", "prepare", "other")
COM_QUERY, COM_PING = 3, 14  # MySQL protocol commands


Trip = list[tuple[str, str]]  # the (kind, text) of each statement sent in one round trip; [] for an empty one


@dataclass
class Trace:
    """What one request sent to the database."""

    trips: list[Trip] = field(default_factory=list)  # SQLite: one per statement run
    sqlalchemy: list[str] = field(default_factory=list)  # statements executed through SQLAlchemy
    connects: int = 0

    def summary(self) -> dict[str, int]:
        sent = [kind for trip in self.trips for kind, _ in trip]
        kinds = {kind: sent.count(kind) for kind in KINDS}
        return {
            "round_trips": len(self.trips),
            **kinds,
            "via_sqlalchemy": len(self.sqlalchemy),
            "past_sqlalchemy": kinds["statement"] - len(self.sqlalchemy),
            "pipelined": sum(1 for trip in self.trips if len(trip) > 1),
            "empty": sum(1 for trip in self.trips if not trip),
            "connects": self.connects,
        }


REQUEST: ContextVar[Trace | None] = ContextVar("round_trips_request", default=None)


def classify(sql: str) -> str:
    words = sql.split(None, 1)
    word = words[0].upper().rstrip(";") if words else ""
    if word in ("BEGIN", "START"):
        return "begin"
    if word in ("COMMIT", "ROLLBACK"):
        return word.lower()
    if word in ("SET", "PRAGMA", "SAVEPOINT", "RELEASE", "SHOW"):
        return "other"
    if " ".join(sql.split()).lower().rstrip(";").strip() in ("", "select 1"):  # SQLAlchemy's pre-ping: ";"
        return "ping"
    return "statement"


def record(kind: str, text: str) -> None:
    trace = REQUEST.get()
    if trace is not None:
        trace.trips.append([(kind, text)])


# --- counting at the driver ----------------------------------------------------------------------------------------


def install(engine: Any, tmp: Path) -> None:
    """Count what ``engine``'s connections send from now on (install before the app opens any)."""
    from sqlalchemy import event

    backend = engine.dialect.name

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        trace = REQUEST.get()
        if trace is not None:
            trace.sqlalchemy.append(statement)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        trace = REQUEST.get()
        if trace is not None:
            trace.connects += 1
        if backend == "sqlite":
            dbapi_connection.set_trace_callback(lambda sql: record(classify(sql), sql))
        elif backend in ("mysql", "mariadb"):
            _count_mysql_commands(dbapi_connection)
        elif backend == "postgresql":
            dbapi_connection._round_trips = PgTrace(dbapi_connection, tmp)
            dbapi_connection._round_trips.start()

    if backend != "postgresql":
        return

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection._round_trips.start()

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:  # None once invalidated
            dbapi_connection._round_trips.end()

    ping = engine.dialect.do_ping

    def do_ping(dbapi_connection: Any) -> Any:  # the pool pings before its checkout event
        dbapi_connection._round_trips.start()
        return ping(dbapi_connection)

    engine.dialect.do_ping = do_ping


def _count_mysql_commands(connection: Any) -> None:
    """Every command PyMySQL sends goes through ``_execute_command`` (queries, COMMIT, ROLLBACK, pings)."""
    send = connection._execute_command

    def execute_command(command: int, sql: Any) -> Any:
        text = sql.decode(errors="replace") if isinstance(sql, bytes | bytearray) else str(sql)
        if command == COM_QUERY:
            record(classify(text), text)
        else:
            record("ping" if command == COM_PING else "other", f"<command {command}>")
        return send(command, sql)

    connection._execute_command = execute_command


class PgTrace:
    """libpq's protocol trace of one psycopg connection, in a file; read (and flushed) at each checkin."""

    def __init__(self, connection: Any, tmp: Path) -> None:
        self.connection = connection
        self.fd, path = tempfile.mkstemp(prefix="pq-", suffix=".trace", dir=tmp)
        self.path = Path(path)
        self.read_to = 0
        self.owner: Trace | None = None
        self.active = False
        self.prepared: dict[str, str] = {}  # statement name -> text
        self._trace()

    def _trace(self) -> None:
        from psycopg import pq

        self.connection.pgconn.trace(self.fd)
        self.connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def _take(self) -> list[Trip]:
        self.connection.pgconn.untrace()  # flushes libpq's buffer into the file
        with self.path.open("rb") as f:
            f.seek(self.read_to)
            data = f.read()
        self.read_to += len(data)
        self._trace()
        return round_trips_of(data.decode(errors="replace"), self.prepared)

    def start(self) -> None:
        """The connection is about to be used by the current context (a request, or background work)."""
        if not self.active:
            self._take()  # anything before belongs to no request
            self.owner, self.active = REQUEST.get(), True

    def end(self) -> None:
        trips = self._take()
        if self.owner is not None:
            self.owner.trips.extend(trips)
        self.owner, self.active = None, False


_PARSE = re.compile(r'\s*"([^"]*)" "(.*)" \d+', re.DOTALL)
_BIND = re.compile(r'\s*"[^"]*" "([^"]*)"')
_QUERY = re.compile(r'\s*"(.*)"\s*$', re.DOTALL)


def round_trips_of(trace: str, prepared: dict[str, str]) -> list[Trip]:
    """The round trips in a libpq trace: each run of messages the client sent that the server then answered (a
    pipeline's statements share one; the Sync psycopg sends when a pipeline ends is one of its own)."""
    messages: list[list[str]] = []  # [direction, message type, rest]
    for line in trace.split("\n"):
        parts = line.split("\t", 3)
        if len(parts) >= 3 and parts[0] in ("F", "B") and parts[1].isdigit():
            messages.append([parts[0], parts[2], parts[3] if len(parts) > 3 else ""])
        elif messages and line:
            messages[-1][2] += "\n" + line  # a statement's text spans lines
    trips: list[Trip] = []
    sent: list[tuple[str, str]] = []
    for direction, kind, rest in messages:
        if direction == "F":
            sent.append((kind, rest))
        elif sent:  # the first answer after the client sent something
            trips.append(_statements(sent, prepared))
            sent = []
    return trips


def _statements(sent: list[tuple[str, str]], prepared: dict[str, str]) -> Trip:
    """The statements in one round trip's messages: each Query or Execute, and each Parse of a named statement
    that is not executed in it (psycopg preparing a statement: a round trip of its own)."""
    trip: Trip = []
    unnamed, current, unexecuted = "", "", []
    for kind, rest in sent:
        if kind == "Query":
            match = _QUERY.match(rest)
            text = match.group(1) if match else rest
            trip.append((classify(text), text))
        elif kind == "Parse" and (match := _PARSE.match(rest)):
            name, text = match.groups()
            if name:
                prepared[name] = text
                unexecuted.append(name)
            else:
                unnamed = text
        elif kind == "Bind" and (match := _BIND.match(rest)):
            name = match.group(1)
            current = prepared.get(name, f"<prepared {name}>") if name else unnamed
            if name in unexecuted:
                unexecuted.remove(name)
        elif kind == "Execute":
            trip.append((classify(current), current))
    trip += [("prepare", prepared[name]) for name in unexecuted]
    return trip


# --- the requests --------------------------------------------------------------------------------------------------


class Marked:
    """ASGI wrapper: the HTTP request under way has ``trace`` (None: not counted) in the context variable."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.trace: Trace | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.trace is None:
            await self.app(scope, receive, send)
            return
        token = REQUEST.set(self.trace)
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST.reset(token)


@dataclass
class Fixture:
    model: str = ""
    model_name: str = ""
    version: str = ""
    counter: Iterator[int] = field(default_factory=lambda: iter(range(1_000_000)))


Request = tuple[str, str, Callable[[Fixture], str], Callable[[Fixture], dict[str, Any] | None]]
REQUESTS: list[Request] = [
    ("get model by id", "GET", lambda f: f"/registered_models/{f.model}", lambda f: None),
    ("get version by id", "GET", lambda f: f"/model_versions/{f.version}", lambda f: None),
    (
        "list versions, filterQuery, page 100",
        "GET",
        lambda f: f"/model_versions?filterQuery={LIST_QUERY}&pageSize=100",
        lambda f: None,
    ),
    ("find model by name", "GET", lambda f: f"/registered_model?name={f.model_name}", lambda f: None),
    ("create model", "POST", lambda f: "/registered_models", lambda f: {"name": f"rt-model-{next(f.counter)}"}),
    (
        "create version",
        "POST",
        lambda f: f"/registered_models/{f.model}/versions",
        lambda f: {"name": f"rt-version-{next(f.counter)}", "registeredModelId": f.model},
    ),
    (
        "create artifact under a version",
        "POST",
        lambda f: f"/model_versions/{f.version}/artifacts",
        lambda f: {
            "artifactType": "model-artifact",
            "name": f"rt-artifact-{next(f.counter)}",
            "uri": "s3://bucket/path",
            "modelFormatName": "onnx",
            "modelFormatVersion": "1",
        },
    ),
    (
        "PATCH a version",
        "PATCH",
        lambda f: f"/model_versions/{f.version}",
        lambda f: {"description": f"edited {next(f.counter)}"},
    ),
]


def call(client: Any, method: str, path: str, body: dict[str, Any] | None) -> Any:
    response = client.request(method, PREFIX + path, json=body)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
    return response.json()


def prop(value: str) -> dict[str, Any]:
    return {"metadataType": "MetadataStringValue", "string_value": value}


def setup(client: Any, list_versions: int) -> Fixture:
    """A model, a version and an artifact with custom properties, and ``list_versions`` versions (v0, v1, ...,
    each with a custom property) for the list, so that a page holds 100 rows."""
    model = call(client, "POST", "/registered_models", {"name": "rt-model", "customProperties": {"team": prop("a")}})
    fixture = Fixture(model=model["id"], model_name="rt-model")
    body = {"name": "1.0", "registeredModelId": model["id"], "customProperties": {"framework": prop("onnx")}}
    fixture.version = call(client, "POST", f"/registered_models/{model['id']}/versions", body)["id"]
    artifact = {"artifactType": "model-artifact", "name": "rt-artifact", "uri": "s3://bucket/path"}
    call(client, "POST", f"/model_versions/{fixture.version}/artifacts", artifact)
    listed = call(client, "POST", "/registered_models", {"name": "rt-list-model"})["id"]
    for j in range(list_versions):
        body = {"name": f"v{j}", "registeredModelId": listed, "customProperties": {"framework": prop("onnx")}}
        call(client, "POST", f"/registered_models/{listed}/versions", body)
    return fixture


def measure(backend: str, url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from starlette.testclient import TestClient

    import modelreg
    from modelreg.app import create_app
    from modelreg.db import migrations
    from modelreg.db.database import Database
    from modelreg.settings import Settings

    data_dir = tmp / f"data-{backend}"
    data_dir.mkdir()
    settings = Settings(database_url=url, data_dir=data_dir, bridge={"enabled": args.bridge})
    db = Database(url, settings.database)
    migrate = getattr(db, "migration_engine", None)
    with migrate() if migrate else contextlib.nullcontext(db.engine) as engine:
        migrations.upgrade(engine)
    install(db.engine, tmp)
    app = Marked(create_app(settings, db))
    out: dict[str, Any] = {"backend": backend, "modelreg": str(Path(modelreg.__file__).parent), "requests": {}}
    with TestClient(app, client=CLIENT) as client:
        fixture = setup(client, args.list_versions)
        for name, method, path, body in REQUESTS:
            runs, texts = [], []
            for i in range(args.warmup + args.repeat):
                app.trace = Trace() if i >= args.warmup else None
                call(client, method, path(fixture), body(fixture))
                if app.trace is not None:
                    runs.append(app.trace.summary())
                    texts = app.trace.trips
            app.trace = None
            keys = runs[0].keys()
            out["requests"][name] = {
                "median": {k: statistics.median(r[k] for r in runs) for k in keys},
                "min": {k: min(r[k] for r in runs) for k in keys},
                "max": {k: max(r[k] for r in runs) for k in keys},
                "runs": runs,
                "last": [[list(statement) for statement in trip] for trip in texts],
            }
            print(f"  {backend:<10} {name:<38} {out['requests'][name]['median']['round_trips']:g}", file=sys.stderr)
    return out


@contextlib.contextmanager
def fresh_database(backend: str, args: argparse.Namespace, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'registry.db'}"
        return
    admin = args.mariadb_admin_url if backend == "mariadb" else args.postgresql_admin_url
    databases = sdb.ServerDatabases(backend, admin)
    name = sdb.scratch_name("rt", backend)
    try:
        yield databases.create(name)
    finally:
        if args.keep_data:
            print(f"kept database {name}", file=sys.stderr)
            databases.dispose()
        else:
            databases.drop_all()


def run_here(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"backends": {}}
    for backend in args.backends:
        tmp = Path(tempfile.mkdtemp(prefix=f"round-trips-{backend}-"))
        try:
            with fresh_database(backend, args, tmp) as url:
                results["backends"][backend] = measure(backend, url, args, tmp)
        finally:
            if not args.keep_data:
                shutil.rmtree(tmp, ignore_errors=True)
    return results


def run_sources(args: argparse.Namespace, argv: list[str]) -> dict[str, dict[str, Any]]:
    """Each ``--src LABEL=PATH`` in a subprocess of this script with ``PYTHONPATH=PATH``."""
    passed, skip = [], False
    for arg in argv:  # the same options, without --src and --json
        if skip:
            skip = False
        elif arg in ("--src", "--json"):
            skip = True
        elif not arg.startswith(("--src=", "--json=")):
            passed.append(arg)
    found = {}
    for label, path in args.src:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [path, os.environ.get("PYTHONPATH")])))
            print(f"{label}: PYTHONPATH={path}", file=sys.stderr)
            subprocess.run([sys.executable, __file__, *passed, "--json", out.name], env=env, check=True)
            found[label] = json.loads(Path(out.name).read_text())
    return found


# --- report --------------------------------------------------------------------------------------------------------


def cell(entry: dict[str, Any], key: str) -> str:
    value = entry["median"][key]
    low, high = entry["min"][key], entry["max"][key]
    text = f"{value:g}"
    return text if low == high else f"{text} ({low:g}-{high:g})"


def describe(trip: list[list[str]], width: int = 150) -> str:
    """One round trip on a line: each statement's kind and its text, shortened."""
    if not trip:
        return "(empty: a Sync alone)"
    parts = []
    for kind, text in trip:
        short = " ".join(text.split())
        limit = width // len(trip)
        parts.append(f"{kind:<10}{short[:limit]}{'…' if len(short) > limit else ''}")
    return " + ".join(parts)


def report(runs: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    labels = list(runs)
    backends = [b for b in args.backends if all(b in runs[label]["backends"] for label in labels)]
    lines = [
        f"round trips per request, median of {args.repeat} after {args.warmup} warm-up requests "
        f"(SQLite: statements run, in process); bridge {'on' if args.bridge else 'off'}"
    ]
    for label in labels:
        where = {runs[label]["backends"][b]["modelreg"] for b in backends}
        lines.append(f"  {label + ': ' if label else ''}modelreg from {', '.join(sorted(where))}")
    lines.append("")
    width = 38
    head = f"{'request':<{width}}" + "".join(f"{b:>22}" for b in backends)
    lines += [head, "-" * len(head)]
    for name, *_ in REQUESTS:
        cells = []
        for backend in backends:
            values = [cell(runs[label]["backends"][backend]["requests"][name], "round_trips") for label in labels]
            cells.append(" → ".join(values))
        lines.append(f"{name:<{width}}" + "".join(f"{c:>22}" for c in cells))
    if len(labels) > 1:
        lines.append(f"({' → '.join(labels)})")
    keys = ("statement", "via_sqlalchemy", "past_sqlalchemy", "begin", "commit", "rollback", "ping", "prepare")
    keys += ("other", "pipelined", "empty", "connects")
    for backend in backends:
        for label in labels:
            lines.append("")
            lines.append(
                f"{backend}{' ' + label if label else ''}: round trips, then what they carried (statements by "
                "kind; SA: executed through SQLAlchemy, past SA: on the driver's cursor; pipelined: round trips with "
                "several statements; empty: a Sync alone)"
            )
            head = f"{'request':<{width}}{'trips':>7}" + "".join(f"{k.replace('_sqlalchemy', ' SA'):>10}" for k in keys)
            lines += [head, "-" * len(head)]
            for name, *_ in REQUESTS:
                entry = runs[label]["backends"][backend]["requests"][name]
                row = f"{name:<{width}}{cell(entry, 'round_trips'):>7}" + "".join(f"{cell(entry, k):>10}" for k in keys)
                lines.append(row)
                if args.verbose:
                    for trip in entry["last"]:
                        lines.append(f"{'':<6}{describe(trip)}")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default=",".join(sdb.BACKENDS), help="comma-separated (default: all three)")
    p.add_argument("--repeat", type=int, default=5, help="counted requests of each kind (default 5)")
    p.add_argument(
        "--warmup",
        type=int,
        default=25,
        help="requests of each kind before counting, so that the pool's connections are open and psycopg has "
        "prepared what it prepares (after 5 runs on a connection) (default 25)",
    )
    p.add_argument("--list-versions", type=int, default=150, help="versions the filtered list finds (page of 100)")
    p.add_argument("--verbose", action="store_true", help="the statements of the last counted request of each kind")
    p.add_argument(
        "--src",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="run with PYTHONPATH=PATH in a subprocess, once per --src, and print them side by side",
    )
    p.add_argument("--bridge", action="store_true", help="with the Backstage bridge on (off by default)")
    p.add_argument("--mariadb-admin-url", default=sdb.DEFAULT_ADMIN_URLS["mariadb"])
    p.add_argument("--postgresql-admin-url", default=sdb.DEFAULT_ADMIN_URLS["postgresql"])
    p.add_argument("--keep-data", action="store_true", help="keep the databases and temporary files")
    p.add_argument("--json", type=Path, default=None, help="write the counts to this file (and print no table)")
    p.add_argument("--output", type=Path, default=None, help="results file (default bench/results/<time>.json)")
    args = p.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(args.backends) - set(sdb.BACKENDS):
        p.error(f"unknown backends: {', '.join(sorted(unknown))}")
    try:
        args.src = [(label, str(Path(path).resolve())) for label, path in (item.split("=", 1) for item in args.src)]
        for _label, path in args.src:
            if not Path(path).is_dir():
                p.error(f"--src: no directory {path}")
    except ValueError:
        p.error("--src takes LABEL=PATH")
    if args.repeat < 1 or args.warmup < 0:
        p.error("--repeat must be >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    runs = run_sources(args, argv) if args.src else {"": run_here(args)}
    if args.json:
        args.json.write_text(json.dumps(runs[""] if not args.src else runs, indent=1) + "\n")
        return 0
    text = report(runs, args)
    output = args.output or ROOT / "bench" / "results" / f"round_trips-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    command = shlex.join([sys.executable, *sys.argv])
    output.write_text(json.dumps({"command": command, "runs": runs, "report": text}, indent=1) + "\n")
    print(text)
    print(f"\nresults: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Run the same workloads against ``modelreg serve`` and an MLflow tracking server in one run.

Workloads (closed loop, ``--concurrency`` connections, fixed duration after a warm-up, ``--repeats`` times, medians):

* get-by-id      modelreg ``GET /registered_models/{id}``  vs  MLflow ``GET registered-models/get?name=``
* registration   modelreg registered model + version + model artifact (3 POSTs)  vs
                 MLflow registered model + model version (2 POSTs); a complete chain counts as one registration
* list           modelreg ``GET /model_versions?filterQuery=name LIKE 'v1%' AND state = 'LIVE'&pageSize=100``
                 over ``--list-versions`` seeded versions  vs  MLflow ``GET model-versions/search?filter=name='...'``
* RSS            of the modelreg server (all its processes) after seeding and the list workload

``--database mariadb|postgresql`` runs every server (modelreg and MLflow) on a database of its own on that server,
created empty and dropped at the end, with the Backstage bridge off, judges the issue-17 targets and samples the
database server's statement counters around each load (``bench/server_db.py``).

The load generator is a minimal keep-alive HTTP/1.1 client on asyncio streams (uvloop when available), so it needs
nothing beyond modelreg's own environment. Run it with the project's interpreter:

    .venv/bin/python bench/registry_vs_mlflow.py            # see bench/README.md

Only loopback traffic; every server is a subprocess on a fresh temporary SQLite file (or a fresh database on the
local MariaDB or PostgreSQL server) and is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import server_db as sdb  # bench/: scratch databases and statement counters on MariaDB and PostgreSQL

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
PREFIX = "/api/model_registry/v1alpha3"
MLFLOW = "/api/2.0/mlflow"
HOST = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")

# MLflow figures measured earlier on this kind of machine (concurrency 16); used for the ratios with --no-mlflow.
REFERENCE_MLFLOW = {"get": 170.0, "register": 60.0}
TARGET_RATIO = 10.0
# Issue 15 item 7 ("a leaner request path"): registrations against MLflow, and get-by-id with two workers.
TARGET_REGISTER_RATIO = 20.0
TARGET_GET_W2 = 5000.0
TARGET_LIST_P50_MS = 20.0
TARGET_RSS_MB = 250.0
# Issue 17, on MariaDB and PostgreSQL (MLflow on the same database server in the same run).
TARGET_DB_GET_W2 = 2000.0
TARGET_DB_GET_RATIO = 20.0
TARGET_DB_REGISTER = 300.0
TARGET_DB_REGISTER_RATIO = 6.0
# MLflow 3.17.2 on the same MariaDB, as issue 17 measured it (used for the ratios with --no-mlflow).
REFERENCE_MLFLOW_DB = {"mariadb": {"get": 102.0, "register": 53.0}}
NOISY_OTHER_CPU_PCT = 25.0  # busy CPU outside the server and the load generator, in % of one core

LIST_FILTER = "name LIKE 'v1%' AND state = 'LIVE'"
LIST_PROP_FILTER = "framework = 'onnx' AND state = 'LIVE'"
FRAMEWORKS = ("onnx", "pytorch", "tensorflow", "sklearn", "xgboost")
ARTIFACT_BODY = {
    "artifactType": "model-artifact",
    "uri": "s3://bucket/path",
    "modelFormatName": "onnx",
    "modelFormatVersion": "1",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def save_results(name: str, results: dict[str, Any], path: Path | None = None) -> Path:
    """Write a benchmark's ``results`` as JSON, stamped with the commit and the time it finished, to ``path`` or
    ``bench/results/<name>-<UTC time>.json``; returns where."""
    finished = dt.datetime.now(dt.UTC)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    results.update(commit=commit.stdout.strip(), finished=finished.isoformat(timespec="seconds"))
    out = path or RESULTS_DIR / f"{name}-{finished:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    log(f"results in {out}")
    return out


# --- a minimal keep-alive HTTP/1.1 client ------------------------------------------------------------------------


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive connection; requests are sequential (one coroutine owns it)."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.host_header = f"Host: {host}:{port}\r\n{extra}".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        head = b"%s %s HTTP/1.1\r\n" % (method.encode(), path.encode()) + self.host_header
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        self.writer.write(head + b"\r\n" + (body or b""))
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            self.close()
            raise HttpError("connection closed by the server") from exc
        status = int(raw[9:12])
        lower = raw.lower()
        close = b"\r\nconnection: close" in lower
        i = lower.find(b"\r\ncontent-length:")
        if i >= 0:
            length = int(lower[i + 17 : lower.index(b"\r\n", i + 2)])
            data = await self.reader.readexactly(length)
        elif b"\r\ntransfer-encoding: chunked" in lower:
            data = await self._read_chunked()
        else:
            data = await self.reader.read()
            close = True
        if close:
            self.close()
        return status, data

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        for _ in range(1_000_000):
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        raise HttpError("too many chunks")


async def call(conn: Connection, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
    """One request that must succeed; returns the decoded JSON body (or None for an empty body)."""
    status, data = await conn.request(method, path, None if body is None else json.dumps(body).encode())
    if status not in ok:
        raise HttpError(f"{method} {path} -> {status}: {data[:300]!r}")
    return json.loads(data) if data and data[:1] in (b"{", b"[") else None


# --- processes ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's worker processes, MLflow's uvicorn children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat), to see what else ran during a measurement."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / TICKS


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_by_pid(pids).values())


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each process still running."""
    found = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return found


def db_server_cpu(backend: str) -> dict[int, float]:
    """CPU seconds of the database server's processes (PostgreSQL starts one per connection), by pid."""
    return cpu_by_pid(sdb.server_pids(backend)) if backend in sdb.SERVER_BACKENDS else {}


@dataclass
class Server:
    label: str  # "modelreg-w1", "noop-w1", "mlflow"
    kind: str  # "modelreg" | "noop" (the ceiling: bench/noop_app.py) | "mlflow"
    workers: int
    port: int
    data_dir: Path
    db_path: Path
    proc: subprocess.Popen[bytes] | None = None
    log_file: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (e.g. Authorization)
    db_url: str = ""  # the server's database (SQLAlchemy URL with the driver this venv has)
    db_backend: str = "sqlite"  # "sqlite" | "mariadb" | "postgresql"
    db_name: str | None = None  # its database on a MariaDB/PostgreSQL server (counters, dropped at the end)
    databases: sdb.ServerDatabases | None = None  # that server's admin access
    busy_at: float = 0.0  # time.monotonic() when the benchmark last sent it work (PostgreSQL's counters lag)

    @property
    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def rss(self) -> dict[str, Any]:
        per = {pid: round(rss_mb(pid), 1) for pid in self.pids}
        return {"total_mb": round(sum(per.values()), 1), "processes": len(per), "per_process_mb": list(per.values())}

    def launch(self, cmd: list[str], env: dict[str, str], note: str = "") -> Server:
        """Start ``cmd`` as this server: in its data directory, output to ``server.log``, in a session of its own
        (so ``stop_server`` can signal the whole process group). Every benchmark starts its servers through this."""
        self.info["command"] = shlex.join(cmd)
        self.log_file = (self.data_dir / "server.log").open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log(f"started {self.label} (pid {self.proc.pid}, port {self.port}{note})")
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.data_dir / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_server(
    kind: str,
    workers: int | None,
    args: argparse.Namespace,
    tmp_root: Path,
    label: str,
    databases: sdb.ServerDatabases | None = None,
) -> Server:
    """Start one server on a fresh database: a SQLite file in its data directory or, with ``databases``, a new
    ``bench_`` database on that MariaDB/PostgreSQL server."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=tmp_root))
    port = free_port()
    env = dict(os.environ)
    backend, db_name = "sqlite", None
    db_path = data_dir / ("mlflow.db" if kind == "mlflow" else "registry.db" if kind == "modelreg" else "none")
    db_url = f"sqlite:///{db_path}"
    if databases is not None and kind != "noop":
        backend, db_name = databases.backend, sdb.scratch_name(label)
        db_url = databases.create(db_name)
    if kind == "modelreg":
        cmd = [
            str(args.modelreg_bin),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--database-url",
            db_url,
            "--workers",
            str(workers),
        ]
        env["MODELREG_DATA_DIR"] = str(data_dir)
        bridge = getattr(args, "bridge", "auto")
        if bridge != "auto":  # auto keeps the environment's choice (on unless MODELREG_BRIDGE__ENABLED says no)
            env["MODELREG_BRIDGE__ENABLED"] = "true" if bridge == "on" else "false"
    elif kind == "noop":
        cmd = [
            sys.executable,
            str(ROOT / "bench" / "noop_app.py"),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
    else:
        cmd = [
            str(args.mlflow_venv / "bin" / "mlflow"),
            "server",
            "--host",
            HOST,
            "--port",
            str(port),
            "--backend-store-uri",
            db_url,
            "--default-artifact-root",
            str(data_dir / "artifacts"),
        ]
        if workers:
            cmd += ["--workers", str(workers)]
        if args.mlflow_uvicorn_opts:
            cmd += ["--uvicorn-opts", args.mlflow_uvicorn_opts]
        # No telemetry (this machine reaches no other host), no run-time downloads.
        env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    server = Server(label, kind, workers or 0, port, data_dir, db_path, db_url=db_url, db_backend=backend)
    server.db_name, server.databases = db_name, databases if db_name else None
    if db_name:
        server.info["database"] = db_name
    note = f", database {db_name}" if db_name else ""
    return server.launch(cmd, env, note)


async def wait_ready(server: Server, timeout: float) -> None:
    path = {"modelreg": "/readyz/health", "noop": "/noop/0"}.get(server.kind, "/health")
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while time.monotonic() < deadline:
        assert server.proc is not None
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.label} exited with {server.proc.returncode}:\n{server.log_tail()}")
        conn = Connection(HOST, server.port)
        try:
            status, _ = await asyncio.wait_for(conn.request("GET", path), 5)
            if status == 200:
                server.info["ready_after_s"] = round(time.monotonic() - started, 1)
                log(f"{server.label} ready after {server.info['ready_after_s']} s")
                return
        except (OSError, HttpError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            conn.close()
        await asyncio.sleep(0.25)
    raise RuntimeError(f"{server.label} not ready after {timeout} s:\n{server.log_tail()}")


async def settle(server: Server, timeout: float, idle_cores: float = 0.1) -> None:
    """Wait until the server's processes are idle: MLflow 3 starts its job runner and huey consumers after it
    answers /health, and their start-up would otherwise eat into the first measurement."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pids = server.pids
        before = cpu_seconds(pids)
        await asyncio.sleep(1.0)
        if cpu_seconds(pids) - before < idle_cores and len(server.pids) == len(pids):
            break
    server.info["settled_after_s"] = round(time.monotonic() - started, 1)
    log(f"{server.label} idle after {server.info['settled_after_s']} s more ({len(server.pids)} processes)")


def stop_server(server: Server) -> None:
    proc = server.proc
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the group this script created for the server (start_new_session)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # uvicorn's worker processes share the group; make sure none outlives the server.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if server.log_file:
        server.log_file.close()
    server.proc = None
    log(f"stopped {server.label}")


# --- closed-loop load ----------------------------------------------------------------------------------------------

Op = Callable[[Connection], Awaitable[bool]]


@dataclass
class Measurement:
    ops: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_s: float
    loadgen_cpu_s: float
    other_cpu_s: float  # busy CPU on the machine that was neither the server nor the load generator
    error_samples: list[str]
    all_ops: int = 0  # every op completed in the load, warm-up and the last ones past the window included
    load_seconds: float = 0.0  # from the first request to the last answer
    db_cpu_s: float | None = None  # the database server's processes (all their clients), within ``other_cpu_s``

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None

        return {
            "throughput": round(self.ops / self.seconds, 1),
            "ops": self.ops,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
            "server_cpu_pct": round(100 * self.server_cpu_s / self.seconds, 1),
            "server_cpu_ms_per_op": round(1000 * self.server_cpu_s / self.ops, 3) if self.ops else None,
            "loadgen_cpu_pct": round(100 * self.loadgen_cpu_s / self.seconds, 1),
            "other_cpu_pct": round(100 * self.other_cpu_s / self.seconds, 1),
            "db_server_cpu_pct": None if self.db_cpu_s is None else round(100 * self.db_cpu_s / self.seconds, 1),
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "error_samples": self.error_samples[:3],
        }


async def closed_loop(
    server: Server,
    concurrency: int,
    warmup: float,
    duration: float,
    make_op: Callable[[int], Op],
    timeout: float = 30.0,
) -> Measurement:
    """``concurrency`` workers, each on its own connection, run their op back to back until the end; ops that
    complete inside the measurement window (after the warm-up) are counted."""
    start = time.perf_counter()
    measure_from, end = start + warmup, start + warmup + duration
    latencies: list[float] = []
    counters = {"ops": 0, "errors": 0, "all": 0}
    samples: list[str] = []
    cpu: dict[str, float] = {}
    db_backend = getattr(server, "db_backend", "sqlite")
    db_cpu: list[dict[int, float]] = []

    async def worker(index: int) -> None:
        conn = Connection(HOST, server.port, server.headers)
        op = make_op(index)
        try:
            while (t0 := time.perf_counter()) < end:
                try:
                    async with asyncio.timeout(timeout):
                        ok = await op(conn)
                    error = None
                except (OSError, HttpError, TimeoutError, asyncio.IncompleteReadError, ValueError, KeyError) as exc:
                    ok, error = False, f"{type(exc).__name__}: {exc}"
                    conn.close()
                t1 = time.perf_counter()
                counters["all"] += 1
                if measure_from <= t0 and t1 <= end:
                    if ok:
                        counters["ops"] += 1
                        latencies.append((t1 - t0) * 1000)
                    else:
                        counters["errors"] += 1
                        if error and len(samples) < 5:
                            samples.append(error[:300])
                if not ok:
                    await asyncio.sleep(0.01)  # no hot error loop
        finally:
            conn.close()

    async def sampler() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        pids = server.pids
        cpu["server0"], cpu["self0"], cpu["all0"] = cpu_seconds(pids), time.process_time(), machine_busy_seconds()
        db_cpu.append(db_server_cpu(db_backend))
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu["server1"], cpu["self1"], cpu["all1"] = cpu_seconds(pids), time.process_time(), machine_busy_seconds()
        db_cpu.append(db_server_cpu(db_backend))

    await asyncio.gather(sampler(), *(worker(i) for i in range(concurrency)))
    db_cpu_s = None
    if db_backend in sdb.SERVER_BACKENDS:  # a backend started in the window counts from 0
        db_cpu_s = sum(used - db_cpu[0].get(pid, 0.0) for pid, used in db_cpu[1].items())
    return Measurement(
        counters["ops"],
        counters["errors"],
        duration,
        latencies,
        cpu["server1"] - cpu["server0"],
        cpu["self1"] - cpu["self0"],
        max(0.0, (cpu["all1"] - cpu["all0"]) - (cpu["server1"] - cpu["server0"]) - (cpu["self1"] - cpu["self0"])),
        samples,
        all_ops=counters["all"],
        load_seconds=time.perf_counter() - start,
        db_cpu_s=db_cpu_s,
    )


async def run_ops(
    server: Server, concurrency: int, jobs: Iterator[Any], op: Callable[[Connection, Any], Awaitable[None]]
) -> None:
    """Run ``op`` for every job with ``concurrency`` connections (setup and API seeding)."""

    async def worker() -> None:
        conn = Connection(HOST, server.port, server.headers)
        try:
            for job in jobs:
                await op(conn, job)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# --- workloads -----------------------------------------------------------------------------------------------------


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


async def prepare_get(server: Server, count: int) -> list[str]:
    """Create ``count`` registered models to read back; returns their ids (modelreg) or names (MLflow)."""
    keys: list[str] = []
    if server.kind == "noop":
        return [str(i + 1) for i in range(count)]

    async def create(conn: Connection, i: int) -> None:
        name = f"get-model-{i}"
        if server.kind == "modelreg":
            body = await call(conn, "POST", f"{PREFIX}/registered_models", {"name": name}, ok=(200, 201))
            keys.append(body["id"])
        else:
            await call(conn, "POST", f"{MLFLOW}/registered-models/create", {"name": name})
            keys.append(name)

    await run_ops(server, 4, iter(range(count)), create)
    return keys


def get_op(server: Server, keys: list[str]) -> Callable[[int], Op]:
    def make(index: int) -> Op:
        rng = random.Random(index)
        if server.kind == "modelreg":
            paths = [f"{PREFIX}/registered_models/{k}" for k in keys]
        elif server.kind == "noop":
            paths = [f"/noop/{k}" for k in keys]
        else:
            paths = [f"{MLFLOW}/registered-models/get?name={q(k)}" for k in keys]

        async def op(conn: Connection) -> bool:
            status, _ = await conn.request("GET", rng.choice(paths))
            if status != 200:
                raise HttpError(f"GET -> {status}")
            return True

        return op

    return make


def register_op(server: Server, tag: str) -> Callable[[int], Op]:
    counter = itertools.count()

    def make(index: int) -> Op:
        async def modelreg_chain(conn: Connection) -> bool:
            name = f"reg-{tag}-{next(counter)}"
            rm = await call(conn, "POST", f"{PREFIX}/registered_models", {"name": name}, ok=(200, 201))
            mv = await call(
                conn,
                "POST",
                f"{PREFIX}/registered_models/{rm['id']}/versions",
                {"name": "1.0.0", "registeredModelId": rm["id"]},
                ok=(200, 201),
            )
            await call(
                conn,
                "POST",
                f"{PREFIX}/model_versions/{mv['id']}/artifacts",
                {**ARTIFACT_BODY, "name": f"{name}-onnx"},
                ok=(200, 201),
            )
            return True

        async def mlflow_chain(conn: Connection) -> bool:
            name = f"reg-{tag}-{next(counter)}"
            await call(conn, "POST", f"{MLFLOW}/registered-models/create", {"name": name})
            await call(conn, "POST", f"{MLFLOW}/model-versions/create", {"name": name, "source": "s3://bucket/path"})
            return True

        return modelreg_chain if server.kind == "modelreg" else mlflow_chain

    return make


def list_op(server: Server, query: str | None, models: int) -> Callable[[int], Op]:
    def make(index: int) -> Op:
        rng = random.Random(index)
        if server.kind == "modelreg":
            paths = [f"{PREFIX}/model_versions?filterQuery={q(query or LIST_FILTER)}&pageSize=100"]
        else:
            filters = [q(f"name='list-model-{m}'") for m in range(models)]
            paths = [f"{MLFLOW}/model-versions/search?filter={f}&max_results=100" for f in filters]

        async def op(conn: Connection) -> bool:
            status, data = await conn.request("GET", rng.choice(paths))
            if status != 200:
                raise HttpError(f"GET -> {status}: {data[:200]!r}")
            return True

        return op

    return make


async def bridge_state(server: Server) -> dict[str, Any]:
    """Whether the Backstage bridge ran during the registrations: ``/bridge`` is mounted only when it is enabled,
    and lists the versions its commit hook synced (a second or so after the last write)."""
    await asyncio.sleep(1.0)
    conn = Connection(HOST, server.port, server.headers)
    try:
        status, data = await conn.request("GET", "/bridge/list")
    finally:
        conn.close()
    uris = len(json.loads(data).get("uris") or []) if status == 200 else None
    return {
        "enabled": status == 200,
        "list_status": status,
        "listed_after_registration": uris,
        "env_MODELREG_BRIDGE__ENABLED": os.environ.get("MODELREG_BRIDGE__ENABLED"),
    }


# --- seeding the list workload -------------------------------------------------------------------------------------


def version_shape(j: int) -> tuple[str, str, str]:
    """Version ``j`` of a model: name v0..v{n-1}; every 10th ARCHIVED; a framework custom property."""
    return f"v{j}", "ARCHIVED" if j % 10 == 9 else "LIVE", FRAMEWORKS[j % len(FRAMEWORKS)]


def seed_engine(server: Server) -> Any:
    """An engine on ``server``'s database, for seeding while the server runs."""
    from sqlalchemy import create_engine

    args = {"connect_args": {"timeout": 60}} if server.db_backend == "sqlite" else {}
    return create_engine(server.db_url, **args)


def reflected(engine: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The tables as the server created them (its own migrations, whichever modelreg or MLflow version runs)."""
    from sqlalchemy import MetaData

    metadata = MetaData()
    metadata.reflect(engine, only=names)
    return {name: metadata.tables[name] for name in names}


def insert_rows(conn: Any, table: Any, rows: list[dict[str, Any]], chunk: int = 10_000) -> None:
    """Bulk insert (SQLAlchemy Core executemany) of the columns ``table`` has, in chunks."""
    from sqlalchemy import insert

    columns = set(table.c.keys())
    for i in range(0, len(rows), chunk):
        conn.execute(insert(table), [{k: v for k, v in row.items() if k in columns} for row in rows[i : i + chunk]])


def analyze(server: Server, engine: Any, names: tuple[str, ...]) -> None:
    """Fresh planner statistics for the seeded tables on MariaDB/PostgreSQL, as their automatic statistics would
    have them shortly after such a load (measuring the plans of the minute after a bulk load tells nothing)."""
    from sqlalchemy import text

    if server.db_backend == "sqlite":  # as before: SQLite plans by its indexes without statistics
        return
    with engine.begin() as conn:
        if server.db_backend == "mariadb":
            conn.execute(text(f"ANALYZE TABLE {', '.join(names)}")).all()
        else:
            conn.execute(text(f"ANALYZE {', '.join(names)}"))


def seed_modelreg_sql(server: Server, models: int, per_model: int) -> None:
    """Bulk insert into modelreg's own tables with SQLAlchemy Core (what the server would write, minus HTTP)."""
    from sqlalchemy import func, select, text

    engine = seed_engine(server)
    t = reflected(engine, ("registered_models", "model_versions", "properties"))
    now = int(time.time() * 1000)
    with engine.begin() as conn:
        rm_base = conn.execute(select(func.coalesce(func.max(t["registered_models"].c.id), 0))).scalar_one()
        mv_base = conn.execute(select(func.coalesce(func.max(t["model_versions"].c.id), 0))).scalar_one()
        insert_rows(
            conn,
            t["registered_models"],
            [
                {
                    "id": rm_base + m + 1,
                    "name": f"list-model-{m}",
                    "state": "LIVE",
                    "create_time": now + m,
                    "last_update_time": now + m,
                }
                for m in range(models)
            ],
        )
        versions, props = [], []
        for m in range(models):
            for j in range(per_model):
                vid = mv_base + m * per_model + j + 1
                name, state, framework = version_shape(j)
                stamp = now + m * per_model + j
                versions.append(
                    {
                        "id": vid,
                        "registered_model_id": rm_base + m + 1,
                        "name": name,
                        "state": state,
                        "author": "bench",
                        "create_time": stamp,
                        "last_update_time": stamp,
                    }
                )
                props.append(
                    {
                        "owner_kind": "model_versions",
                        "owner_id": vid,
                        "name": "framework",
                        "value_type": "string",
                        "string_value": framework,
                    }
                )
        insert_rows(conn, t["model_versions"], versions)
        insert_rows(conn, t["properties"], props)
        if server.db_backend == "postgresql":  # explicit ids leave the id sequences behind: move them on
            for name in ("registered_models", "model_versions"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
    analyze(server, engine, tuple(t))
    engine.dispose()


async def seed_modelreg_api(server: Server, models: int, per_model: int, concurrency: int) -> None:
    ids: dict[int, str] = {}

    async def create_model(conn: Connection, m: int) -> None:
        body = await call(conn, "POST", f"{PREFIX}/registered_models", {"name": f"list-model-{m}"}, ok=(200, 201))
        ids[m] = body["id"]

    await run_ops(server, concurrency, iter(range(models)), create_model)

    async def create_version(conn: Connection, job: tuple[int, int]) -> None:
        m, j = job
        name, state, framework = version_shape(j)
        body = {
            "name": name,
            "registeredModelId": ids[m],
            "state": state,
            "author": "bench",
            "customProperties": {"framework": {"metadataType": "MetadataStringValue", "string_value": framework}},
        }
        await call(conn, "POST", f"{PREFIX}/registered_models/{ids[m]}/versions", body, ok=(200, 201))

    await run_ops(server, concurrency, ((m, j) for m in range(models) for j in range(per_model)), create_version)


def seed_mlflow_sql(server: Server, models: int, per_model: int) -> None:
    """Bulk insert into MLflow's registry tables (the rows model-versions/create writes)."""
    now = int(time.time() * 1000)
    engine = seed_engine(server)
    t = reflected(engine, ("registered_models", "model_versions"))
    common = {"description": "", "workspace": "default"}
    with engine.begin() as conn:
        insert_rows(
            conn,
            t["registered_models"],
            [
                {"name": f"list-model-{m}", "creation_time": now + m, "last_updated_time": now + m, **common}
                for m in range(models)
            ],
        )
        insert_rows(
            conn,
            t["model_versions"],
            [
                {
                    "name": f"list-model-{m}",
                    "version": j + 1,
                    "creation_time": now + m * per_model + j,
                    "last_updated_time": now + m * per_model + j,
                    "user_id": "bench",
                    "current_stage": "None",
                    "source": "s3://bucket/path",
                    "run_id": "",
                    "status": "READY",
                    "status_message": None,
                    "run_link": "",
                    "storage_location": "s3://bucket/path",
                    **common,
                }
                for m in range(models)
                for j in range(per_model)
            ],
        )
    analyze(server, engine, tuple(t))
    engine.dispose()


# --- the run -------------------------------------------------------------------------------------------------------


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = (
        "throughput",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "server_cpu_pct",
        "server_cpu_ms_per_op",
        "loadgen_cpu_pct",
        "other_cpu_pct",
    )
    out: dict[str, Any] = {k: median([r[k] for r in runs]) for k in keys}
    out["db_server_cpu_pct"] = median([r.get("db_server_cpu_pct") for r in runs])
    out["errors"] = sum(r["errors"] for r in runs)
    counted = [r["db_counters"] for r in runs if r.get("db_counters", {}).get("ops")]
    if counted:
        for key in ("per_op", "per_op_less_idle", "idle_per_s"):
            if key in counted[0]:
                out[f"db_counters_{key}"] = {name: median([c[key][name] for c in counted]) for name in counted[0][key]}
        out["db_counters_rounds"] = len(counted)
    out["runs"] = runs
    return out


async def db_counters_before(server: Server) -> tuple[dict[str, int], dict[str, float] | None]:
    """The database server's counters before a load (see bench/server_db.py): on PostgreSQL after the server's
    last work has been reported, on MariaDB with the rate the other clients add while this one is idle."""
    assert server.databases is not None and server.db_name is not None
    wait = sdb.FLUSH_WAIT_S[server.db_backend] - (time.monotonic() - server.busy_at)
    if wait > 0:
        await asyncio.sleep(wait)
    idle = None
    if server.db_backend == "mariadb":
        idle = await asyncio.to_thread(server.databases.idle_rate, server.db_name)
    return await asyncio.to_thread(server.databases.counters, server.db_name), idle


async def db_counters_after(
    server: Server, before: tuple[dict[str, int], dict[str, float] | None], m: Measurement
) -> dict[str, Any]:
    """Per-op counter increments over the whole load (warm-up included: PostgreSQL cannot split it)."""
    assert server.databases is not None and server.db_name is not None
    await asyncio.sleep(sdb.FLUSH_WAIT_S[server.db_backend])
    after = await asyncio.to_thread(server.databases.counters, server.db_name)
    return {
        "scope": "global" if server.db_backend == "mariadb" else f"database {server.db_name}",
        **sdb.counter_deltas(before[0], after, m.all_ops, m.load_seconds, before[1]),
    }


async def measure_phase(
    name: str,
    servers: list[Server],
    args: argparse.Namespace,
    results: dict[str, Any],
    make: Callable[[Server, int], Callable[[int], Op]],
    concurrency: int,
    only: Callable[[Server], bool] = lambda s: True,
) -> None:
    """``args.repeats`` rounds; each round measures every server once (interleaved, so drift hits all alike)."""
    targets = [s for s in servers if only(s)]
    per: dict[str, list[dict[str, Any]]] = {s.label: [] for s in targets}
    for rep in range(args.repeats):
        for server in targets:
            counted = server.databases is not None and rep < args.counter_rounds
            before = await db_counters_before(server) if counted else None
            m = await closed_loop(server, concurrency, args.warmup, args.duration, make(server, rep))
            server.busy_at = time.monotonic()
            s = m.summary()
            if before is not None:
                s["db_counters"] = await db_counters_after(server, before, m)
            per[server.label].append(s)
            log(
                f"{name:<14} {server.label:<12} #{rep + 1}: {s['throughput']:>8.1f}/s  p50 {s['p50_ms']} ms  "
                f"p95 {s['p95_ms']} ms  errors {s['errors']}  server cpu {s['server_cpu_pct']}%  "
                f"loadgen cpu {s['loadgen_cpu_pct']}%  other cpu {s['other_cpu_pct']}%"
            )
            if s["error_samples"]:
                log(f"  e.g. {s['error_samples'][0]}")
    for label, runs in per.items():
        slot = results["ceiling"] if label.startswith("noop") else results["servers"]
        slot[label].setdefault("workloads", {})[name] = {"concurrency": concurrency, **summarize(runs)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp_root = Path(tempfile.mkdtemp(prefix="modelreg-bench-"))
    results: dict[str, Any] = {"servers": {}}
    configs: list[tuple[str, str, int | None]] = [("modelreg", f"modelreg-w{w}", w) for w in args.workers]
    if not args.no_mlflow:
        configs.append(("mlflow", "mlflow", args.mlflow_workers))
    for _, label, _ in configs:
        results["servers"][label] = {}
    # The ceiling: a no-op endpoint served like modelreg (bench/noop_app.py), in phase 1's get-by-id rounds.
    ceiling = [("noop", f"noop-w{w}", w) for w in args.workers] if args.ceiling else []
    results["ceiling"] = {label: {} for _, label, _ in ceiling}
    models = args.list_models
    per_model = max(1, args.list_versions // models)
    mlflow_per_model = max(1, args.mlflow_list_versions // models)
    servers: list[Server] = []
    databases = None
    if args.database != "sqlite":
        databases = sdb.ServerDatabases(args.database, args.admin_url)
        results["database_server"] = {
            "backend": args.database,
            "admin_url": str(databases.admin_url),
            "version": databases.version(),
        }
    try:
        # Phase 1: get-by-id and registration, on fresh servers.
        log("phase 1: get-by-id and registration")
        servers = [start_server(kind, w, args, tmp_root, label, databases) for kind, label, w in [*configs, *ceiling]]
        for s in servers:
            await wait_ready(s, args.mlflow_start_timeout if s.kind == "mlflow" else args.start_timeout)
            await settle(s, args.settle_timeout)
        keys = {s.label: await prepare_get(s, args.get_models) for s in servers}
        for s in servers:
            s.busy_at = time.monotonic()
        await measure_phase(
            "get-by-id", servers, args, results, lambda s, rep: get_op(s, keys[s.label]), args.concurrency
        )
        await measure_phase(
            "registration",
            servers,
            args,
            results,
            lambda s, rep: register_op(s, f"r{rep}"),
            args.concurrency,
            only=lambda s: s.kind != "noop",
        )
        for s in servers:
            if s.kind == "noop":
                results["ceiling"][s.label]["phase1_server"] = s.info
            else:
                if s.kind == "modelreg":
                    results["servers"][s.label]["bridge"] = await bridge_state(s)
                results["servers"][s.label]["rss_after_registration"] = s.rss()
                results["servers"][s.label]["phase1_server"] = s.info
            stop_server(s)
            if databases is not None and s.db_name and not args.keep_data:
                databases.drop(s.db_name)

        # Phase 2: the list workload over seeded versions, then RSS, on fresh servers.
        log("phase 2: filtered list over seeded versions, then RSS")
        servers = [start_server(kind, w, args, tmp_root, label, databases) for kind, label, w in configs]
        for s in servers:
            await wait_ready(s, args.mlflow_start_timeout if s.kind == "mlflow" else args.start_timeout)
            await settle(s, args.settle_timeout)
            info = results["servers"][s.label]
            info["rss_idle"] = s.rss()
            started = time.perf_counter()
            if s.kind == "modelreg":
                if args.seed == "sql":
                    seed_modelreg_sql(s, models, per_model)
                else:
                    await seed_modelreg_api(s, models, per_model, args.concurrency)
                info["list_versions"] = models * per_model
            else:
                seed_mlflow_sql(s, models, mlflow_per_model)
                info["list_versions"] = models * mlflow_per_model
            info["seed_seconds"] = round(time.perf_counter() - started, 1)
            info["seed_method"] = args.seed if s.kind == "modelreg" else "sql"
            log(
                f"seeded {s.label}: {info['list_versions']} versions over {models} models "
                f"in {info['seed_seconds']} s ({info['seed_method']})"
            )
            info["rss_after_seed"] = s.rss()
            s.busy_at = time.monotonic()
        await measure_phase("list", servers, args, results, lambda s, rep: list_op(s, None, models), args.concurrency)
        if args.list_prop:
            await measure_phase(
                "list-prop",
                servers,
                args,
                results,
                lambda s, rep: list_op(s, LIST_PROP_FILTER, models),
                args.concurrency,
                only=lambda s: s.kind == "modelreg",
            )
        if args.list_c1:
            await measure_phase("list-c1", servers, args, results, lambda s, rep: list_op(s, None, models), 1)
        for s in servers:
            results["servers"][s.label]["rss_after_list"] = s.rss()
            results["servers"][s.label]["phase2_server"] = s.info
    finally:
        for s in servers:
            stop_server(s)
        if not args.keep_data:
            subprocess.run(["rm", "-rf", str(tmp_root)], check=False)
            if databases is not None:
                databases.drop_all()
        else:
            log(f"kept server data under {tmp_root}")
            if databases is not None:
                log(f"kept databases {', '.join(databases.created)} on {databases.admin_url}")
                databases.dispose()
    return results


# --- report --------------------------------------------------------------------------------------------------------


def versus_mlflow(
    results: dict[str, Any], args: argparse.Namespace, label: str, workload: str, key: str
) -> dict[str, Any]:
    """modelreg ``label``'s throughput over MLflow's on ``workload``: MLflow of this run, else the reference
    figure for the database (none for PostgreSQL), with the median of the same-round ratios as a note."""
    wl = results["servers"][label]["workloads"]
    mlflow = results["servers"].get("mlflow")
    if mlflow:
        base, source = mlflow["workloads"][workload]["throughput"], "MLflow measured in this run"
    elif args.database == "sqlite":
        base, source = REFERENCE_MLFLOW[key], "MLflow reference figure (--no-mlflow)"
    else:
        base = REFERENCE_MLFLOW_DB.get(args.database, {}).get(key)
        source = f"MLflow on {args.database} in issue 17 (--no-mlflow)" if base else "no MLflow figure (--no-mlflow)"
    ratio = wl[workload]["throughput"] / base if base else None
    note = ""
    if mlflow:  # same-round pairs: each round ran modelreg and MLflow back to back
        pairs = zip(wl[workload]["runs"], mlflow["workloads"][workload]["runs"], strict=True)
        paired = [a["throughput"] / b["throughput"] for a, b in pairs if b["throughput"]]
        if paired:
            note = f"median of same-round ratios {statistics.median(paired):.1f}x"
    return {"value": ratio, "baseline": base, "baseline_source": source, "note": note}


def evaluate_server_db(results: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Issue 17's targets on MariaDB/PostgreSQL. get-by-id is judged on 2 workers, registration on the better of
    the worker configurations, the list's p50 at concurrency 1 (when measured) on the one with the lower p50; the
    others are listed, unjudged."""
    servers = results["servers"]
    labels = [f"modelreg-w{w}" for w in args.workers]

    def wl(label: str, workload: str, key: str) -> Any:
        return servers[label]["workloads"][workload][key]

    best_register = max(labels, key=lambda label: wl(label, "registration", "throughput") or 0.0)
    lists = {
        label: servers[label]["workloads"].get("list-c1") or servers[label]["workloads"]["list"] for label in labels
    }
    best_list = min(labels, key=lambda label: lists[label]["p50_ms"] or float("inf"))
    configs = ", ".join(label.removeprefix("modelreg-") for label in labels)
    rows: list[dict[str, Any]] = []

    def add(label: str, judged: bool, target: str, value: Any, unit: str, goal: float, **extra: Any) -> None:
        ok = None if value is None else value <= goal if unit == "ms" else value >= goal
        rows.append(
            {"server": label, "headline": judged, "target": target, "value": value, "unit": unit, "goal": goal}
            | extra
            | {"pass": ok}
        )

    for label in labels:
        gets = wl(label, "get-by-id", "throughput")
        on_w2 = label == "modelreg-w2"
        add(label, on_w2, f"get-by-id >= {TARGET_DB_GET_W2:,.0f}/s (judged on w2)", gets, "/s", TARGET_DB_GET_W2)
        vs = versus_mlflow(results, args, label, "get-by-id", "get")
        add(
            label,
            on_w2,
            f"get-by-id >= {TARGET_DB_GET_RATIO:g}x MLflow (judged on w2)",
            vs.pop("value"),
            "x",
            TARGET_DB_GET_RATIO,
            **vs,
        )
    if "modelreg-w2" not in servers:
        add("modelreg-w2", True, "get-by-id with 2 workers: not measured (--workers)", None, "/s", TARGET_DB_GET_W2)
    for label in labels:
        judged = label == best_register
        chains = wl(label, "registration", "throughput")
        target = f"registration >= {TARGET_DB_REGISTER:g}/s (best of {configs})"
        add(label, judged, target, chains, "/s", TARGET_DB_REGISTER)
        vs = versus_mlflow(results, args, label, "registration", "register")
        add(
            label,
            judged,
            f"registration >= {TARGET_DB_REGISTER_RATIO:g}x MLflow (best of {configs})",
            vs.pop("value"),
            "x",
            TARGET_DB_REGISTER_RATIO,
            **vs,
        )
    for label in labels:  # at c=1 when measured: at c=16 a p50 is mostly queueing (docs/performance.md)
        versions = servers[label]["list_versions"]
        p50, c16 = servers[label]["workloads"].get("list-c1", {}).get("p50_ms"), wl(label, "list", "p50_ms")
        at = "c=1" if p50 is not None else f"c={args.concurrency}"
        target = f"list over {versions:,} p50 <= {TARGET_LIST_P50_MS:g} ms ({at}, best)"
        note = f"at c={args.concurrency}: p50 {c16} ms" if p50 is not None else ""
        add(label, label == best_list, target, c16 if p50 is None else p50, "ms", TARGET_LIST_P50_MS, note=note)
    return rows


def evaluate(results: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.database != "sqlite":
        return evaluate_server_db(results, args)
    servers = results["servers"]
    rows = []
    for w in args.workers:
        label = f"modelreg-w{w}"
        mr = servers[label]
        wl = mr["workloads"]
        headline = w == args.headline_workers
        for key, workload, what in (("get", "get-by-id", "get-by-id"), ("register", "registration", "registration")):
            vs = versus_mlflow(results, args, label, workload, key)
            ratio = vs["value"]
            rows.append(
                {
                    "server": label,
                    "headline": headline,
                    "target": f"{what} >= {TARGET_RATIO:g}x MLflow",
                    **vs,
                    "unit": "x",
                    "goal": TARGET_RATIO,
                    "pass": ratio is not None and ratio >= TARGET_RATIO,
                }
            )
        p50 = wl["list"]["p50_ms"]
        rows.append(
            {
                "server": label,
                "headline": headline,
                "target": f"list over {mr['list_versions']:,} versions p50 <= {TARGET_LIST_P50_MS:g} ms "
                f"(c={args.concurrency})",
                "value": p50,
                "unit": "ms",
                "goal": TARGET_LIST_P50_MS,
                "pass": p50 is not None and p50 <= TARGET_LIST_P50_MS,
                "note": f"at c=1: p50 {wl['list-c1']['p50_ms']} ms" if "list-c1" in wl else "",
            }
        )
        rss = mr["rss_after_list"]["total_mb"]
        rows.append(
            {
                "server": label,
                "headline": headline,
                "target": f"RSS <= {TARGET_RSS_MB:g} MB at {mr['list_versions']:,} versions",
                "value": rss,
                "unit": "MB",
                "goal": TARGET_RSS_MB,
                "pass": rss <= TARGET_RSS_MB,
            }
        )
        reg = next(r for r in rows if r["server"] == label and r["target"].startswith("registration"))
        if reg["value"] is not None:
            rows.append(
                {
                    **reg,
                    "target": f"registration >= {TARGET_REGISTER_RATIO:g}x MLflow (issue 15)",
                    "goal": TARGET_REGISTER_RATIO,
                    "pass": reg["value"] >= TARGET_REGISTER_RATIO,
                }
            )
        if w == 2:
            gets = wl["get-by-id"]["throughput"]
            noop = results.get("ceiling", {}).get("noop-w2", {}).get("workloads", {}).get("get-by-id", {})
            rows.append(
                {
                    "server": label,
                    "headline": headline,
                    "target": f"get-by-id >= {TARGET_GET_W2:,.0f}/s with 2 workers (issue 15)",
                    "value": gets,
                    "unit": "/s",
                    "goal": TARGET_GET_W2,
                    "pass": gets is not None and gets >= TARGET_GET_W2,
                    "note": f"no-op ceiling {noop['throughput']:,.0f}/s" if noop.get("throughput") else "",
                }
            )
    return rows


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    servers = results["servers"]
    labels = list(servers)
    mr_labels = [label for label in labels if label.startswith("modelreg")]
    has_mlflow = "mlflow" in servers
    cols = [*labels] + ([f"{label.removeprefix('modelreg-')}/mlflow" for label in mr_labels] if has_mlflow else [])
    lines = []
    env = results["environment"]
    lines.append(
        f"modelreg vs MLflow {env.get('mlflow_version') or '(not run)'} -- {env['cpus']} CPUs, "
        f"concurrency {args.concurrency}, {args.duration:g} s after {args.warmup:g} s warm-up, "
        f"median of {args.repeats}"
    )
    lines.append(f"command: {results['command']}")
    if args.database != "sqlite":
        lines.append(
            f"database: {args.database} at {results['database_server']['admin_url']}, a fresh bench_ database "
            f"per server (MLflow too); modelreg's Backstage bridge {args.bridge}"
        )
    lines.append("")
    width = 38
    header = f"{'workload (median)':<{width}}" + "".join(f"{c:>16}" for c in cols)
    lines.append(header)
    lines.append("-" * len(header))

    def row(title: str, getter: Callable[[dict[str, Any]], Any], ratio: bool = True, digits: int = 1) -> None:
        values = [getter(servers[label]) if label in servers else None for label in labels]
        cells = [fmt(v, digits) for v in values]
        if has_mlflow:
            base = getter(servers["mlflow"])
            for label in mr_labels:
                v = getter(servers[label])
                cells.append(f"{v / base:.1f}x" if ratio and v is not None and base else "")
        lines.append(f"{title:<{width}}" + "".join(f"{c:>16}" for c in cells))

    def wl(name: str, key: str) -> Callable[[dict[str, Any]], Any]:
        return lambda s: s.get("workloads", {}).get(name, {}).get(key)

    row("get-by-id  req/s", wl("get-by-id", "throughput"))
    row("  p50 / p95 ms", lambda s: _pair(s, "get-by-id"), ratio=False)
    row("  server CPU ms per request", wl("get-by-id", "server_cpu_ms_per_op"), ratio=False, digits=2)
    row("registration  chains/s", wl("registration", "throughput"))
    row("  p50 / p95 ms", lambda s: _pair(s, "registration"), ratio=False)
    row("  server CPU ms per chain", wl("registration", "server_cpu_ms_per_op"), ratio=False, digits=2)
    row("list (seeded versions)", lambda s: s.get("list_versions"), ratio=False)
    row("list filtered  req/s", wl("list", "throughput"))
    row("  p50 / p95 ms", lambda s: _pair(s, "list"), ratio=False)
    row("  server CPU ms per request", wl("list", "server_cpu_ms_per_op"), ratio=False, digits=2)
    if args.list_prop:
        row("list custom-prop filter  req/s", wl("list-prop", "throughput"), ratio=False)
        row("  p50 / p95 ms", lambda s: _pair(s, "list-prop"), ratio=False)
    if args.list_c1:
        row("list filtered, c=1  p50 ms", wl("list-c1", "p50_ms"), ratio=False, digits=2)
    row("RSS after seed+list  MB", lambda s: s.get("rss_after_list", {}).get("total_mb"), ratio=False)
    row("RSS after registration  MB", lambda s: s.get("rss_after_registration", {}).get("total_mb"), ratio=False)
    row("server processes", lambda s: s.get("rss_after_list", {}).get("processes"), ratio=False)
    row("  largest process MB", lambda s: max(s.get("rss_after_list", {}).get("per_process_mb") or [0]), ratio=False)

    def other(server: dict[str, Any]) -> float | None:
        runs = [r["other_cpu_pct"] for w in server.get("workloads", {}).values() for r in w["runs"]]
        return max(runs) if runs else None

    row("other CPU on the machine, max %", other, ratio=False)
    if args.database != "sqlite":

        def db_cpu(server: dict[str, Any]) -> float | None:
            runs = [r.get("db_server_cpu_pct") for w in server.get("workloads", {}).values() for r in w["runs"]]
            return max((r for r in runs if r is not None), default=None)

        row(f"  of which {args.database} server, max %", db_cpu, ratio=False)
    row("Backstage bridge (versions listed)", _bridge, ratio=False)
    errors = {label: sum(w.get("errors", 0) for w in s.get("workloads", {}).values()) for label, s in servers.items()}
    lines.append(f"{'errors (all workloads)':<{width}}" + "".join(f"{errors[label]:>16}" for label in labels))
    noisy = [label for label in labels if (other(servers[label]) or 0) > NOISY_OTHER_CPU_PCT]
    if noisy:
        lines.append(
            f"WARNING: other processes used more than {NOISY_OTHER_CPU_PCT:g}% of a core during some runs "
            f"({', '.join(noisy)}); the machine was not idle, so treat the figures as noisy."
        )
    for label, ceiling in results.get("ceiling", {}).items():
        w = ceiling.get("workloads", {}).get("get-by-id")
        if not w:
            continue
        mr = servers.get(f"modelreg-{label.removeprefix('noop-')}", {}).get("workloads", {}).get("get-by-id", {})
        share = f", modelreg get-by-id at {100 * mr['throughput'] / w['throughput']:.0f}% of it" if mr else ""
        lines.append(
            f"ceiling {label}: no-op Starlette endpoint, same uvicorn options and workers: "
            f"{w['throughput']:,.0f} req/s "
            f"(p50 {fmt(w['p50_ms'])} ms, server CPU {fmt(w['server_cpu_ms_per_op'], 3)} ms per request){share}"
        )
    lines.append("")
    lines.append(f"modelreg list: filterQuery={LIST_FILTER!r}, pageSize=100 (page 1)")
    if args.list_prop:
        lines.append(f"modelreg custom-prop list: filterQuery={LIST_PROP_FILTER!r}, pageSize=100")
    if has_mlflow:
        per_model = servers["mlflow"].get("list_versions", 0) // max(1, args.list_models)
        lines.append(
            f"MLflow list: model-versions/search?filter=name='list-model-<k>'&max_results=100 "
            f"(one random model of {args.list_models}, {per_model} versions each)"
        )
    lines.extend(counter_report(servers, args))
    lines.append("")
    if args.database == "sqlite":
        lines.append(f"targets (headline = modelreg --workers {args.headline_workers}, marked *):")
    else:
        lines.append(
            "issue 17 targets (* = the configuration each is judged on: get-by-id on 2 workers (w2), registration "
            "on the better of the worker configurations, the list (p50 at c=1) on the lower p50):"
        )
    for t in results["targets"]:
        mark = "*" if t["headline"] else " "
        value = f"{t['value']:.1f}{t['unit']}" if t["value"] is not None else "-"
        extra = f"  (vs {t['baseline']:,.1f}/s, {t['baseline_source']})" if t.get("baseline") else ""
        extra += f"  ({t['note']})" if t.get("note") else ""
        verdict = "n/a" if t["pass"] is None else "PASS" if t["pass"] else "FAIL"
        lines.append(f" {mark} {t['server']:<12} {t['target']:<58} {value:>10}  {verdict}{extra}")
    return "\n".join(lines)


def counter_report(servers: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The database server's own counters per operation (a registration chain is one operation)."""
    found = [
        (label, name, w)
        for label, s in servers.items()
        for name, w in s.get("workloads", {}).items()
        if w.get("db_counters_per_op")
    ]
    if not found:
        return []
    names = list(found[0][2]["db_counters_per_op"])
    lines = [""]
    if args.database == "mariadb":
        lines.append(
            "MariaDB counters per operation (a registration chain is one), SHOW GLOBAL STATUS over the whole load, "
            "warm-up included. They are server-wide: 'idle Q/s' is what other clients sent in the second before "
            "the load; well above 0, the figures are noisy (the JSON also has them less that rate)."
        )
    else:
        lines.append(
            "PostgreSQL counters per operation (a registration chain is one), pg_stat_database of the server's own "
            "database over the whole load. PostgreSQL counts no statements without pg_stat_statements, which this "
            "server does not preload: transactions and rows only."
        )
    idle = args.database == "mariadb"
    widths = [max(10, len(n.removeprefix("Com_")) + 2) for n in names]
    head = f"{'server / workload':<30}" + "".join(
        f"{n.removeprefix('Com_'):>{w}}" for n, w in zip(names, widths, strict=True)
    )
    head += f"{'idle Q/s':>10}" if idle else ""
    lines += [head, "-" * len(head)]
    for label, name, w in found:
        cells = "".join(f"{fmt(w['db_counters_per_op'][n], 2):>{wd}}" for n, wd in zip(names, widths, strict=True))
        if idle:
            cells += f"{fmt((w.get('db_counters_idle_per_s') or {}).get('Questions'), 0):>10}"
        lines.append(f"{label + ' ' + name:<30}" + cells)
    lines.append("(Connections / sessions: new connections per operation; a pool that keeps its connections gives 0)")
    return lines


def _bridge(server: dict[str, Any]) -> str | None:
    bridge = server.get("bridge")
    if bridge is None:
        return None
    return f"on ({bridge['listed_after_registration']})" if bridge["enabled"] else "OFF"


def _pair(server: dict[str, Any], name: str) -> str | None:
    w = server.get("workloads", {}).get(name)
    return f"{fmt(w['p50_ms'], 1)} / {fmt(w['p95_ms'], 1)}" if w else None


def environment(args: argparse.Namespace, quick: bool = False) -> dict[str, Any]:
    env: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    with contextlib.suppress(OSError):
        env["loadavg_at_start"] = os.getloadavg()
    with contextlib.suppress(Exception):
        env["modelreg_commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True, text=True, check=True
        ).stdout.strip()
        env["modelreg_src_dirty"] = bool(dirty)
    if quick:
        return env
    if not args.no_mlflow:
        env["mlflow_version"] = subprocess.run(
            [
                str(args.mlflow_venv / "bin" / "python"),
                "-c",
                "from importlib.metadata import version; print(version('mlflow'))",
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    try:
        import uvloop  # noqa: F401

        env["loadgen_loop"] = "uvloop"
    except ImportError:
        env["loadgen_loop"] = "asyncio"
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", type=int, default=16, help="connections per workload (default 16)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each run (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="runs per workload and server; medians reported")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="modelreg --workers values (default 1 2)")
    p.add_argument("--headline-workers", type=int, default=1, help="which modelreg config the targets headline")
    p.add_argument("--get-models", type=int, default=100, help="registered models the get-by-id workload reads")
    p.add_argument("--list-versions", type=int, default=100_000, help="model versions seeded for the list workload")
    p.add_argument("--list-models", type=int, default=1000, help="registered models the seeded versions belong to")
    p.add_argument(
        "--mlflow-list-versions",
        type=int,
        default=None,
        help="model versions seeded into MLflow (default: same as --list-versions)",
    )
    p.add_argument(
        "--seed",
        choices=("sql", "api"),
        default="sql",
        help="modelreg seeding: bulk insert into its tables (default) or through the REST API",
    )
    p.add_argument(
        "--no-list-prop",
        dest="list_prop",
        action="store_false",
        help="skip the extra modelreg list with a custom-property filter",
    )
    p.add_argument(
        "--no-list-c1",
        dest="list_c1",
        action="store_false",
        help="skip the extra list latency measurement at concurrency 1",
    )
    p.add_argument(
        "--no-ceiling",
        dest="ceiling",
        action="store_false",
        help="skip the no-op endpoint (bench/noop_app.py) measured beside get-by-id as the ceiling",
    )
    p.add_argument(
        "--database",
        choices=sdb.BACKENDS,
        default="sqlite",
        help="where every server keeps its data: a fresh SQLite file each (default), or a fresh bench_ database "
        "each on the MariaDB or PostgreSQL server (--mariadb-admin-url / --postgresql-admin-url)",
    )
    p.add_argument("--mariadb-admin-url", default=sdb.DEFAULT_ADMIN_URLS["mariadb"], help="creates the databases")
    p.add_argument("--postgresql-admin-url", default=sdb.DEFAULT_ADMIN_URLS["postgresql"], help="same")
    p.add_argument(
        "--bridge",
        choices=("auto", "on", "off"),
        default="auto",
        help="modelreg's Backstage bridge: auto = as the environment says (on by default) with SQLite, off with "
        "MariaDB/PostgreSQL (issue 17 measures the registry path alone)",
    )
    p.add_argument(
        "--counter-rounds",
        type=int,
        default=1,
        help="rounds in which the database server's statement counters are sampled around each load (MariaDB "
        "and PostgreSQL; PostgreSQL adds an 11 s wait per sample for its statistics to arrive); 0: none",
    )
    p.add_argument("--no-mlflow", action="store_true", help="modelreg only; ratios use the reference MLflow figures")
    p.add_argument("--mlflow-venv", type=Path, default=ROOT / ".venvs" / "mlflow")
    p.add_argument("--mlflow-workers", type=int, default=None, help="mlflow server --workers (default: MLflow's, 4)")
    p.add_argument("--mlflow-uvicorn-opts", default=None, help="passed to mlflow server --uvicorn-opts")
    p.add_argument("--modelreg-bin", type=Path, default=ROOT / ".venv" / "bin" / "modelreg")
    p.add_argument("--start-timeout", type=float, default=60.0)
    p.add_argument("--mlflow-start-timeout", type=float, default=240.0)
    p.add_argument("--settle-timeout", type=float, default=90.0, help="max wait for an idle server after start")
    p.add_argument("--output", type=Path, default=None, help="JSON results file (default bench/results/<time>.json)")
    p.add_argument("--keep-data", action="store_true", help="keep the servers' temporary data directories")
    args = p.parse_args(argv)
    if args.mlflow_list_versions is None:
        args.mlflow_list_versions = args.list_versions
    args.admin_url = {"mariadb": args.mariadb_admin_url, "postgresql": args.postgresql_admin_url}.get(args.database)
    if args.database != "sqlite" and args.bridge == "auto":
        args.bridge = "off"
    if args.headline_workers not in args.workers:
        args.headline_workers = args.workers[0]
    if args.concurrency < 1 or args.repeats < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("--concurrency and --repeats must be >= 1, --duration > 0, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.modelreg_bin.exists():
        print(f"{args.modelreg_bin} not found: run ./scripts/setup first", file=sys.stderr)
        return 2
    try:
        import modelreg  # noqa: F401
    except ImportError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.executable) != venv_python:
            os.execv(str(venv_python), [str(venv_python), __file__, *sys.argv[1:]])
        print("modelreg is not importable: run this script with .venv/bin/python", file=sys.stderr)
        return 2
    if not args.no_mlflow and not (args.mlflow_venv / "bin" / "mlflow").exists():
        print(
            f"MLflow is not installed in {args.mlflow_venv}. Create it with:\n\n    bash bench/setup_mlflow.sh\n\n"
            "or run modelreg only (ratios against the reference MLflow figures) with --no-mlflow.",
            file=sys.stderr,
        )
        return 2
    command = shlex.join([sys.executable, *sys.argv])
    started = dt.datetime.now(dt.UTC)
    env = environment(args)
    log(f"command: {command}")
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        results = runner.run(run(args))
    results = {
        "benchmark": "registry_vs_mlflow",
        "command": command,
        "cwd": os.getcwd(),
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": env,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "reference_mlflow": REFERENCE_MLFLOW,
        "list_filter": LIST_FILTER,
        "list_prop_filter": LIST_PROP_FILTER,
        **results,
    }
    results["environment"]["modelreg_commit_at_end"] = environment(args, quick=True).get("modelreg_commit")
    results["targets"] = evaluate(results, args)
    text = report(results, args)
    output = args.output or RESULTS_DIR / f"registry_vs_mlflow-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    results["report"] = text
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    print(f"\nresults: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Events and webhooks (issue 16): how soon an event reaches a local webhook receiver after its commit, and what the
outbox costs the write path.

* latency    one ``modelreg serve`` (one worker) with one webhook (all event types) to a receiver on 127.0.0.1 in a
             process of its own; ``--rate`` writes/s (registered model and model version creations, alternating, one
             event each) over REST from a pool of keep-alive connections at a fixed schedule (open loop) for
             ``--latency-duration`` s. An event's latency is the receiver's clock when the request arrived minus the
             event's ``time`` attribute, which is its audit record's time: stamped in the writing transaction just
             before its commit (so the figure slightly overstates commit → arrival). Every event must arrive. The
             server's own record (``webhook_deliveries.latency_ms``: commit to the receiver's answer) is reported
             too. Targets: p50 ≤ 100 ms, p99 ≤ 1 s.
* overhead   registration throughput (the registry benchmark's chains: model + version + model artifact, 16
             clients, closed loop) with ``events.enabled=false`` and with events on and one webhook, two servers
             side by side, in strictly alternating rounds; the median of the per-round ratios. After each run with
             events on, every event must reach the receiver (its catch-up time is reported), so an outbox that only
             falls behind cannot look cheap. Target: on keeps ≥ 95% of off's throughput.

Each server runs on a fresh SQLite file, or with ``--database mariadb|postgresql`` on a fresh database of that
server (created empty, dropped at the end); ``--database-url`` runs the latency part on a database you give (it is
migrated, and left as it is). Everything stays on 127.0.0.1.

    .venv/bin/python bench/events.py                        # both parts, about 4 minutes
    .venv/bin/python bench/events.py --part latency --database postgresql
    .venv/bin/python bench/events.py --part overhead --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import registry_vs_mlflow as rb
import server_db as sdb

PREFIX = rb.PREFIX
WEBHOOKS = "/api/events/v1/webhooks"
TARGET_P50_MS = 100.0
TARGET_P99_MS = 1000.0
TARGET_KEEP = 0.95
BASE_MODELS = 20  # created before the latency run; its versions go to these
EVENTS_ENV = {
    "MODELREG_EVENTS__ALLOWED_NETWORKS": "127.0.0.0/8",
    "MODELREG_EVENTS__ALLOW_HTTP": "true",
}


# --- the receiver (a process of its own, so the load generator's event loop does not delay its clock) -------------


def receive(port: int) -> None:
    """Answer every POST 204 and note (webhook-id, event time, arrival); ``GET /count`` and ``GET /arrivals``."""
    arrivals: dict[str, tuple[int, float]] = {}
    posts = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            arrived = time.time() * 1000
            event = json.loads(body)
            with lock:
                posts[0] += 1
                arrivals.setdefault(event["id"], (_epoch_ms(event["time"]), arrived))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            with lock:
                data = {"events": len(arrivals), "posts": posts[0]}
                if self.path == "/arrivals":
                    data["arrivals"] = arrivals
            answer = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((rb.HOST, port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever(poll_interval=0.05)


def _epoch_ms(rfc3339: str) -> int:
    moment = dt.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000 + 0.5)


class Receiver:
    def __init__(self) -> None:
        self.port = rb.free_port()
        self.url = f"http://{rb.HOST}:{self.port}/hook"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "receive", "--port", str(self.port)], stdin=subprocess.DEVNULL
        )

    async def state(self, arrivals: bool = False) -> dict[str, Any]:
        conn = rb.Connection(rb.HOST, self.port)
        try:
            for _ in range(200):
                try:
                    data: dict[str, Any] = await rb.call(conn, "GET", "/arrivals" if arrivals else "/count")
                    return data
                except OSError:
                    await asyncio.sleep(0.05)
            raise RuntimeError("the receiver does not answer")
        finally:
            conn.close()

    async def wait_for(self, events: int, timeout: float) -> float:
        """Seconds until the receiver has ``events`` distinct events."""
        started = time.perf_counter()
        while (got := (await self.state())["events"]) < events:
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"the receiver has {got} of {events} events after {timeout} s")
            await asyncio.sleep(0.02)
        return time.perf_counter() - started

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --- servers ---------------------------------------------------------------------------------------------------------


def start(
    label: str, tmp_root: Path, events: bool, databases: sdb.ServerDatabases | None, db_url: str | None
) -> rb.Server:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=tmp_root))
    db_path = data_dir / "registry.db"
    backend, db_name = "sqlite", None
    if db_url is None and databases is not None:
        backend, db_name = databases.backend, sdb.scratch_name(label)
        db_url = databases.create(db_name)
    elif db_url is not None:
        backend = db_url.split(":")[0].split("+")[0].replace("mysql", "mariadb")
    db_url = db_url or f"sqlite:///{db_path}"
    env = {**os.environ, **EVENTS_ENV, "MODELREG_DATA_DIR": str(data_dir)}
    env["MODELREG_EVENTS__ENABLED"] = "true" if events else "false"
    port = rb.free_port()
    cmd = [sys.executable, "-m", "modelreg", "serve", "--host", rb.HOST, "--port", str(port), "--database-url", db_url]
    server = rb.Server(label, "modelreg", 1, port, data_dir, db_path, db_url=db_url, db_backend=backend)
    server.db_name, server.databases = db_name, databases if db_name else None
    return server.launch(cmd, env, note=f", events {'on' if events else 'off'}")


async def ready(server: rb.Server) -> rb.Server:
    await rb.wait_ready(server, 90)
    await rb.settle(server, 20)
    return server


async def add_webhook(server: rb.Server, receiver: Receiver) -> None:
    conn = rb.Connection(rb.HOST, server.port)
    try:
        body = {"name": "bench", "url": receiver.url, "eventTypes": ["*"]}
        await rb.call(conn, "POST", WEBHOOKS, body, ok=(200, 201))
    finally:
        conn.close()


def audit_records(server: rb.Server) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(server.db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM audit_log WHERE entity_kind <> 'webhook'")).scalar_one())
    finally:
        engine.dispose()


def server_latencies(server: rb.Server, first_seq: int) -> list[float]:
    """``webhook_deliveries.latency_ms`` of the events from ``first_seq`` on."""
    from sqlalchemy import create_engine, text

    engine = create_engine(server.db_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT latency_ms FROM webhook_deliveries WHERE state = 'delivered' AND seq >= :first")
            return [float(v) for v in conn.execute(query, {"first": first_seq}).scalars()]
    finally:
        engine.dispose()


def percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)

    def pct(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else None

    return {"p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": pct(1.0), "count": len(ordered)}


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# --- latency at a fixed rate ------------------------------------------------------------------------------------------


async def fixed_rate(
    server: rb.Server, rate: float, duration: float, connections: int, base: list[str]
) -> dict[str, Any]:
    """``rate`` writes/s on a schedule (a write that cannot start on time starts as soon as a connection is free:
    counted as late); returns the client's figures."""
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    answers: list[float] = []
    late = [0]
    failures: list[str] = []

    async def write(conn: rb.Connection, i: int) -> None:
        if i % 2 == 0:
            await rb.call(conn, "POST", f"{PREFIX}/registered_models", {"name": f"lat-{i}"}, ok=(201,))
        else:
            model = base[(i // 2) % len(base)]
            body = {"name": f"v{i}", "registeredModelId": model}
            await rb.call(conn, "POST", f"{PREFIX}/registered_models/{model}/versions", body, ok=(201,))

    async def worker() -> None:
        conn = rb.Connection(rb.HOST, server.port)
        try:
            while (item := await queue.get()) is not None:
                due = started + item / rate
                if time.perf_counter() - due > 0.005:
                    late[0] += 1
                t0 = time.perf_counter()
                try:
                    await write(conn, item)
                    answers.append((time.perf_counter() - t0) * 1000)
                except (OSError, rb.HttpError) as exc:
                    conn.close()
                    failures.append(str(exc)[:200])
        finally:
            conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    started = time.perf_counter()
    total = int(rate * duration)
    for i in range(total):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(i)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    client = percentiles(answers)
    return {
        "writes": len(answers),
        "failed": len(failures),
        "failure_samples": failures[:3],
        "late_starts": late[0],
        "achieved_rate": round(len(answers) / elapsed, 1),
        "response_p50_ms": client["p50_ms"],
        "response_p99_ms": client["p99_ms"],
    }


async def latency(args: argparse.Namespace, tmp_root: Path, databases: sdb.ServerDatabases | None) -> dict[str, Any]:
    receiver = Receiver()
    server = start("events-latency", tmp_root, True, databases, args.database_url)
    out: dict[str, Any] = {"loadavg_start": loadavg(), "rate": args.rate, "duration_s": args.latency_duration}
    try:
        await ready(server)
        await add_webhook(server, receiver)
        conn = rb.Connection(rb.HOST, server.port)
        try:
            base = []
            for n in range(BASE_MODELS):
                made = await rb.call(conn, "POST", f"{PREFIX}/registered_models", {"name": f"base-{n}"}, ok=(201,))
                base.append(made["id"])
        finally:
            conn.close()
        await receiver.wait_for(BASE_MODELS, 30)
        before = set((await receiver.state(arrivals=True))["arrivals"])
        rb.log(f"latency: {args.rate:g} writes/s for {args.latency_duration:g} s")
        out["client"] = await fixed_rate(server, args.rate, args.latency_duration, args.connections, base)
        expected = BASE_MODELS + out["client"]["writes"]
        out["catch_up_s"] = round(await receiver.wait_for(expected, 120), 3)
        state = await receiver.state(arrivals=True)
        arrivals = {k: v for k, v in state["arrivals"].items() if k not in before}
        out["events"] = len(arrivals)
        out["posts"] = state["posts"]  # more than the events: a delivery sent twice (at least once)
        out["latency"] = percentiles([arrived - stamped for stamped, arrived in arrivals.values()])
        out["server_recorded_latency"] = percentiles(server_latencies(server, min(map(int, arrivals))))
        out["server_rss"] = server.rss()
    finally:
        rb.stop_server(server)
        receiver.stop()
        _drop(server, args)
    out["loadavg_end"] = loadavg()
    lat = out["latency"]
    out["pass"] = bool(lat["p50_ms"] is not None and lat["p50_ms"] <= TARGET_P50_MS and lat["p99_ms"] <= TARGET_P99_MS)
    rb.log(
        f"latency: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms over {lat['count']} events "
        f"({out['client']['achieved_rate']} writes/s, {out['client']['late_starts']} late starts)"
    )
    return out


# --- overhead: registration with events off and on -------------------------------------------------------------------


async def overhead(args: argparse.Namespace, tmp_root: Path, databases: sdb.ServerDatabases | None) -> dict[str, Any]:
    receiver = Receiver()
    servers = {
        "on": start("events-on", tmp_root, True, databases, None),
        "off": start("events-off", tmp_root, False, databases, None),
    }
    out: dict[str, Any] = {"rounds": [], "loadavg_start": loadavg(), "webhooks": args.webhooks}
    try:
        for server in servers.values():
            await ready(server)
        if args.webhooks:
            await add_webhook(servers["on"], receiver)
        for rep in range(args.rounds):
            row: dict[str, Any] = {"loadavg": loadavg()}
            for mode in ("on", "off"):  # strictly alternating, as bridge_write_tax.py (why: see there)
                server = servers[mode]
                m = await rb.closed_loop(
                    server, args.concurrency, args.warmup, args.duration, rb.register_op(server, f"r{rep}")
                )
                summary = row[mode] = m.summary()
                if mode == "on" and args.webhooks:
                    summary["catch_up_s"] = round(await receiver.wait_for(audit_records(server), 120), 3)
                rb.log(
                    f"registration {mode:<3} #{rep + 1}: {summary['throughput']:>7.1f} chains/s  "
                    f"p50 {summary['p50_ms']} ms  server cpu {summary['server_cpu_ms_per_op']} ms/chain  "
                    f"errors {summary['errors']}  other cpu {summary['other_cpu_pct']}%"
                    + (f"  all events delivered {summary['catch_up_s']} s later" if "catch_up_s" in summary else "")
                )
            row["ratio"] = round(row["on"]["throughput"] / row["off"]["throughput"], 3)
            out["rounds"].append(row)
        out["receiver_posts"] = (await receiver.state())["posts"]
    finally:
        for server in servers.values():
            rb.stop_server(server)
            _drop(server, args)
        receiver.stop()
    rounds = out["rounds"]
    for mode in ("on", "off"):  # medians over the rounds (each round's own figures stay in "rounds")
        out[mode] = {k: v for k, v in rb.summarize([r[mode] for r in rounds]).items() if k != "runs"}
    out["on"]["catch_up_s_max"] = max((r["on"].get("catch_up_s", 0.0) for r in rounds), default=0.0)
    out["ratio_median"] = rb.median([r["ratio"] for r in rounds])
    out["ratio_of_medians"] = round(out["on"]["throughput"] / out["off"]["throughput"], 3)
    out["loadavg_end"] = loadavg()
    out["pass"] = bool(out["ratio_median"] is not None and out["ratio_median"] >= TARGET_KEEP)
    return out


def _drop(server: rb.Server, args: argparse.Namespace) -> None:
    if server.databases is not None and server.db_name and not args.keep_data:
        server.databases.drop(server.db_name)


# --- report -----------------------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    lines = ["", "| measure | figure | target | |", "|---|---|---|---|"]
    if "latency" in results:
        r = results["latency"]
        lat, own = r["latency"], r["server_recorded_latency"]
        lines += [
            f"| commit → receiver, p50 | {lat['p50_ms']} ms | ≤ {TARGET_P50_MS:g} ms | "
            f"{_verdict(lat['p50_ms'], TARGET_P50_MS)} |",
            f"| commit → receiver, p99 | {lat['p99_ms']} ms | ≤ {TARGET_P99_MS:g} ms | "
            f"{_verdict(lat['p99_ms'], TARGET_P99_MS)} |",
            f"| commit → receiver, max | {lat['max_ms']} ms | | {lat['count']} events |",
            f"| commit → receiver's answer (server's record), p50 / p99 | {own['p50_ms']} / {own['p99_ms']} ms | | |",
            f"| writes/s achieved | {r['client']['achieved_rate']} | {r['rate']:g} | "
            f"{r['client']['late_starts']} late starts |",
        ]
    if "overhead" in results:
        r = results["overhead"]
        verdict = "PASS" if r["pass"] else "FAIL"
        lines += [
            f"| registrations/s, events off / on ({r['webhooks']} webhook) | {r['off']['throughput']} / "
            f"{r['on']['throughput']} | | |",
            f"| on/off, median of rounds | {r['ratio_median']} | ≥ {TARGET_KEEP:g} | {verdict} |",
            f"| server CPU per chain, off / on | {r['off']['server_cpu_ms_per_op']} / "
            f"{r['on']['server_cpu_ms_per_op']} ms | | |",
            f"| events delivered after a run, at most | {r['on']['catch_up_s_max']} s later | | |",
        ]
    return "\n".join(lines)


def _verdict(figure: float | None, most: float) -> str:
    return "PASS" if figure is not None and figure <= most else "FAIL"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    receiver = sub.add_parser("receive", help="(internal) run the webhook receiver")
    receiver.add_argument("--port", type=int, required=True)
    parser.add_argument("--part", choices=["latency", "overhead", "both"], default="both")
    parser.add_argument("--rate", type=float, default=200.0, help="writes/s in the latency part")
    parser.add_argument("--latency-duration", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32, help="client connections in the latency part")
    parser.add_argument("--concurrency", type=int, default=16, help="clients in the overhead part")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per overhead run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--webhooks", type=int, choices=[0, 1], default=1, help="0: events on without a webhook (the outbox alone)"
    )
    parser.add_argument("--database", choices=sdb.BACKENDS, default="sqlite")
    parser.add_argument("--admin-url", default=None, help="the MariaDB/PostgreSQL admin URL (bench/server_db.py)")
    parser.add_argument("--database-url", default=None, help="the latency part's database, as it is")
    parser.add_argument("--keep-data", action="store_true")
    return parser.parse_args()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp_root = Path(tempfile.mkdtemp(prefix="modelreg-events-bench-"))
    databases = None
    if args.database != "sqlite":
        databases = sdb.ServerDatabases(args.database, args.admin_url or sdb.DEFAULT_ADMIN_URLS[args.database])
    results: dict[str, Any] = {}
    try:
        if args.part in ("latency", "both"):
            results["latency"] = await latency(args, tmp_root, databases)
        if args.part in ("overhead", "both"):
            results["overhead"] = await overhead(args, tmp_root, databases)
    finally:
        if databases is not None:
            databases.dispose()
        if not args.keep_data:
            subprocess.run(["rm", "-rf", str(tmp_root)], check=False)
    return results


def main() -> None:
    args = parse_args()
    if args.command == "receive":
        receive(args.port)
        return
    started = time.time()
    results = asyncio.run(run(args))
    print(report(results))
    results.update(
        args={k: v for k, v in vars(args).items() if k != "command"},
        wall_seconds=round(time.time() - started),
        cpus=os.cpu_count(),
    )
    rb.save_results("events", results)


if __name__ == "__main__":
    main()

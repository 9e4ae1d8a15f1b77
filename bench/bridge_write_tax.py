#!/usr/bin/env python3
"""What the Backstage bridge costs the write path: the same write workloads against ``modelreg serve`` with the
bridge on (the default) and off (``MODELREG_BRIDGE__ENABLED=false``), in one run.

* registration   16 keep-alive clients, closed loop, registered model + version + model artifact chains; rounds
                 interleave on and off (on, off, on, off: each run follows the other server's); medians and the
                 median of the per-round ratios on/off. After each run the bridge must publish every registered
                 version (its catch-up time is reported), so a bridge that only falls behind cannot look cheap.
* load           1,000 models x 100 versions through the API at 32 clients, versions created round-robin over the
                 models (every model grows to 100 versions), on and off one after the other; the rate per
                 10,000-version window. With the bridge on, a probe PATCHes a version of the first model every
                 ``--probe-interval`` s and times how long until ``/bridge`` serves the change.

Each server is a fresh ``modelreg serve`` subprocess (one worker) on its own fresh SQLite file; everything stays on
127.0.0.1. ``--profile N`` samples the bridge-on server for N s with py-spy in the middle of the load (needs
``py-spy``, in the dev extras) and summarizes where the samples fall, per thread.

    .venv/bin/python bench/bridge_write_tax.py                              # both parts, about 12 minutes
    .venv/bin/python bench/bridge_write_tax.py --part registration --rounds 3
    .venv/bin/python bench/bridge_write_tax.py --part load --models 100    # a quick look at the load
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import registry_vs_mlflow as rb

PREFIX = rb.PREFIX
TARGET_REGISTRATION_KEEP = 0.90  # registration throughput with the bridge on, as a share of off
TARGET_LOAD_RATE = 500.0  # versions/s in every window of the 100,000-version load
TARGET_VISIBLE_S = 1.0  # a change shows on /bridge within this long
POLL_SECONDS = 0.02  # the probe's polls of /bridge: fine enough for the lag, light enough not to load the server


SRC: str | None = None  # --src: run the servers from another source tree (e.g. an earlier commit's, for a before/after)


def start(label: str, tmp_root: Path, bridge: bool) -> rb.Server:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=tmp_root))
    db_path = data_dir / "registry.db"
    env = {**os.environ, "MODELREG_DATA_DIR": str(data_dir), "MODELREG_BRIDGE__ENABLED": "true" if bridge else "false"}
    if SRC:
        env["PYTHONPATH"] = SRC
    port = rb.free_port()
    cmd = [sys.executable, "-m", "modelreg", "serve", "--host", rb.HOST, "--port", str(port)]
    cmd += ["--database-url", f"sqlite:///{db_path}"]
    server = rb.Server(label, "modelreg", 1, port, data_dir, db_path)
    server.info["bridge"] = bridge
    return server.launch(cmd, env, note=f", bridge {'on' if bridge else 'off'}")


async def ready(server: rb.Server) -> rb.Server:
    await rb.wait_ready(server, 60)
    await rb.settle(server, 20)
    return server


def live_versions(server: rb.Server) -> int:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM model_versions WHERE state = 'LIVE'").fetchone()[0])


async def bridge_count(conn: rb.Connection) -> int:
    status, data = await request(conn, "GET", "/bridge/list")
    if status != 200:
        raise rb.HttpError(f"/bridge/list -> {status}")
    return len(json.loads(data)["uris"])


async def catch_up(server: rb.Server, timeout: float = 120) -> float:
    """Seconds from now until /bridge lists every live version (the bridge's backlog after a workload)."""
    want = live_versions(server)
    conn = rb.Connection(rb.HOST, server.port)
    started = time.perf_counter()
    try:
        while (seen := await bridge_count(conn)) != want:
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{server.label}: /bridge lists {seen} of {want} versions after {timeout} s")
            await asyncio.sleep(0.02)
    finally:
        conn.close()
    return time.perf_counter() - started


async def request(conn: rb.Connection, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    """One request; reconnects once when the server closed an idle keep-alive connection."""
    data = None if body is None else json.dumps(body).encode()
    try:
        return await conn.request(method, path, data)
    except (rb.HttpError, OSError):
        conn.close()
        return await conn.request(method, path, data)


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# --- registration: interleaved rounds ---------------------------------------------------------------------------


async def registration(args: argparse.Namespace, tmp_root: Path) -> dict[str, Any]:
    servers = {"on": start("bridge-on", tmp_root, True), "off": start("bridge-off", tmp_root, False)}
    out: dict[str, Any] = {"rounds": [], "loadavg_start": loadavg()}
    try:
        for server in servers.values():
            await ready(server)
        for rep in range(args.rounds):
            # Strictly alternating (on, off, on, off, ...): each run follows a run of the other server. A server
            # measured right after itself is slower (its previous run's WAL still to checkpoint, ...), so orders
            # that alternate per round bias every other round's ratio one way or the other.
            order = ("on", "off")
            row: dict[str, Any] = {"loadavg": loadavg()}
            for mode in order:
                server = servers[mode]
                spy = None
                if args.profile and rep == args.rounds - 1 and mode in args.profile_modes:
                    name = f"bridge_write_tax-registration-{mode}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.pyspy.txt"
                    spy = asyncio.create_task(
                        profile(server, min(args.profile, args.duration), rb.RESULTS_DIR / name, args.warmup)
                    )
                m = await rb.closed_loop(
                    server, args.concurrency, args.warmup, args.duration, rb.register_op(server, f"r{rep}")
                )
                summary = m.summary()
                row[mode] = summary
                if spy is not None:
                    out.setdefault("profile", {})[mode] = await spy
                if mode == "on":
                    summary["catch_up_s"] = round(await catch_up(server), 3)
                rb.log(
                    f"registration {mode:<3} #{rep + 1}: {summary['throughput']:>7.1f} chains/s  "
                    f"p50 {summary['p50_ms']} ms  server cpu {summary['server_cpu_ms_per_op']} ms/chain  "
                    f"errors {summary['errors']}  other cpu {summary['other_cpu_pct']}%"
                    + (f"  bridge caught up {summary['catch_up_s']} s later" if mode == "on" else "")
                )
            row["ratio"] = round(row["on"]["throughput"] / row["off"]["throughput"], 3)
            out["rounds"].append(row)
    finally:
        for server in servers.values():
            rb.stop_server(server)
    rounds = out["rounds"]
    for mode in ("on", "off"):
        out[mode] = {
            "throughput": rb.median([r[mode]["throughput"] for r in rounds]),
            "server_cpu_ms_per_chain": rb.median([r[mode]["server_cpu_ms_per_op"] for r in rounds]),
            "p50_ms": rb.median([r[mode]["p50_ms"] for r in rounds]),
            "errors": sum(r[mode]["errors"] for r in rounds),
        }
    out["on"]["catch_up_s_max"] = max(r["on"]["catch_up_s"] for r in rounds)
    out["ratio_median"] = rb.median([r["ratio"] for r in rounds])
    out["ratio_of_medians"] = round(out["on"]["throughput"] / out["off"]["throughput"], 3)
    out["loadavg_end"] = loadavg()
    return out


# --- the 100,000-version load -----------------------------------------------------------------------------------


def version_body(model_id: str, j: int) -> dict[str, Any]:
    def text(value: str) -> dict[str, str]:
        return {"metadataType": "MetadataStringValue", "string_value": value}

    framework = rb.FRAMEWORKS[j % len(rb.FRAMEWORKS)]
    props = {"framework": text(framework), "Provider": text("bench"), "License": text("MIT")}
    return {"name": f"v{j:03d}", "registeredModelId": model_id, "author": "bench", "customProperties": props}


async def probe(
    server: rb.Server, version_id: str, uri: str, done: list[float], stop: asyncio.Event, interval: float
) -> list[dict[str, Any]]:
    """PATCH the probe version's description, then poll its bridge document until it shows; the lag is timed
    from the PATCH's answer (the commit) to the first GET that serves the new text."""
    writer, reader = rb.Connection(rb.HOST, server.port), rb.Connection(rb.HOST, server.port)
    samples: list[dict[str, Any]] = []
    try:
        for i in range(1_000_000):
            if stop.is_set():
                break
            marker = f"probe-{i}-{time.time_ns()}"
            path = f"{PREFIX}/model_versions/{version_id}"
            status, data = await request(writer, "PATCH", path, {"description": marker})
            if status != 200:
                raise rb.HttpError(f"probe PATCH -> {status}: {data[:200]!r}")
            committed = time.perf_counter()
            while True:
                status, data = await request(reader, "GET", f"/bridge{uri}")
                now = time.perf_counter()
                if status == 200 and marker.encode() in data:
                    break
                if now - committed > 30:
                    now = float("inf")
                    break
                await asyncio.sleep(POLL_SECONDS)
            samples.append({"versions_done": len(done), "lag_ms": round((now - committed) * 1000, 1)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        writer.close()
        reader.close()
    return samples


async def sample_loadavg(stop: asyncio.Event, done: list[float], out: list[tuple[int, float]]) -> None:
    while not stop.is_set():
        out.append((len(done), loadavg()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)


def py_spy_summary(raw: Path) -> dict[str, Any]:
    """Samples per thread and, per thread, the share of the busiest modelreg functions (inclusive)."""
    threads: collections.Counter[str] = collections.Counter()
    functions: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread ")), frames[0])
        if any(f.startswith(("wait (threading", "select (selectors", "_worker (concurrent")) for f in frames[-2:]):
            thread += " [idle]"
        threads[thread] += count
        total += count
        seen: set[str] = set()
        for frame in frames:
            if "modelreg/" in frame and frame not in seen:
                seen.add(frame)
                functions[thread][frame.split(" (")[0] + " (" + frame.split("modelreg/")[-1]] += count
    return {
        "samples": total,
        "threads": {t: round(100 * c / total, 1) for t, c in threads.most_common()},
        "top_functions": {
            t: {f: round(100 * c / total, 1) for f, c in counter.most_common(12)} for t, counter in functions.items()
        },
    }


async def profile(server: rb.Server, seconds: float, out: Path, delay: float = 0) -> dict[str, Any]:
    await asyncio.sleep(delay)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cmd = [spy, "record", "-p", str(server.proc.pid), "-d", str(int(seconds)), "-r", "100", "-f", "raw", "-t"]
    cmd += ["-o", str(out), "--nonblocking", "--gil"]  # samples of the thread holding the GIL: where the CPU goes
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0 or not out.exists():
        return {"error": err.decode(errors="replace")[-500:]}
    return {"file": str(out), **py_spy_summary(out)}


async def load(args: argparse.Namespace, mode: str, tmp_root: Path, results_dir: Path) -> dict[str, Any]:
    server = await ready(start(f"load-{mode}", tmp_root, mode == "on"))
    out: dict[str, Any] = {"loadavg_start": loadavg()}
    try:
        model_ids: list[str] = []

        async def create_model(conn: rb.Connection, m: int) -> None:
            body = await rb.call(conn, "POST", f"{PREFIX}/registered_models", {"name": f"load-{m:04d}"}, ok=(201,))
            model_ids.append(body["id"])

        await rb.run_ops(server, 8, iter(range(args.models)), create_model)
        model_ids.sort(key=int)
        setup = rb.Connection(rb.HOST, server.port)
        probe_version = await rb.call(
            setup, "POST", f"{PREFIX}/model_versions", {"name": "probe", "registeredModelId": model_ids[0]}, ok=(201,)
        )
        uri = ""
        if mode == "on":
            for _ in range(500):
                _, data = await setup.request("GET", "/bridge/list")
                uri = next((u for u in json.loads(data)["uris"] if "/load-0000.probe/" in u), "")
                if uri:
                    break
                await asyncio.sleep(0.02)
        setup.close()
        rb.log(f"load {mode}: {args.models} models created; {args.models * args.versions} versions to go")

        total = args.models * args.versions
        jobs = iter(range(total))
        done: list[float] = []
        errors: list[str] = []

        async def create_version(conn: rb.Connection, k: int) -> None:
            model, j = model_ids[k % args.models], k // args.models
            try:
                await rb.call(conn, "POST", f"{PREFIX}/model_versions", version_body(model, j), ok=(201,))
            except (rb.HttpError, OSError) as exc:
                errors.append(str(exc)[:200])
                conn.close()
                return
            done.append(time.perf_counter())
            if len(done) % args.window == 0:
                rb.log(f"load {mode}: {len(done)} versions, load average {loadavg()}")

        stop = asyncio.Event()
        loads: list[tuple[int, float]] = []
        side: list[asyncio.Task[Any]] = [asyncio.create_task(sample_loadavg(stop, done, loads))]
        if mode == "on" and uri:
            side.append(asyncio.create_task(probe(server, probe_version["id"], uri, done, stop, args.probe_interval)))
        spy: asyncio.Task[Any] | None = None
        if args.profile and mode in args.profile_modes:

            async def profile_midway() -> dict[str, Any]:
                while len(done) < total // 2:
                    await asyncio.sleep(0.2)
                name = f"bridge_write_tax-{mode}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.pyspy.txt"
                return await profile(server, args.profile, results_dir / name)

            spy = asyncio.create_task(profile_midway())
        cpu0, started = rb.cpu_seconds(server.pids), time.perf_counter()
        await rb.run_ops(server, args.load_concurrency, jobs, create_version)
        elapsed, cpu = time.perf_counter() - started, rb.cpu_seconds(server.pids) - cpu0
        stop.set()
        probes = await side[1] if len(side) > 1 else []
        await side[0]
        windows = []
        for w in range(0, len(done) // args.window):
            begin = started if w == 0 else done[(w * args.window) - 1]
            end = done[(w + 1) * args.window - 1]
            lags = [p["lag_ms"] for p in probes if w * args.window <= p["versions_done"] < (w + 1) * args.window]
            window_loads = [la for n, la in loads if w * args.window <= n < (w + 1) * args.window]
            windows.append(
                {
                    "versions": f"{w * args.window}-{(w + 1) * args.window}",
                    "rate": round(args.window / (end - begin), 1),
                    "probe_lag_ms_median": rb.median(lags),
                    "probe_lag_ms_max": max(lags) if lags else None,
                    "loadavg": max(window_loads) if window_loads else None,
                }
            )
            rb.log(f"load {mode} window {windows[-1]}")
        out.update(
            versions=len(done),
            errors=len(errors),
            error_samples=errors[:3],
            seconds=round(elapsed, 1),
            rate=round(len(done) / elapsed, 1),
            server_cpu_ms_per_version=round(1000 * cpu / max(1, len(done)), 3),
            windows=windows,
            loadavg_end=loadavg(),
        )
        if probes:
            lags = [p["lag_ms"] for p in probes]
            out["probe"] = {
                "count": len(lags),
                "median_ms": rb.median(lags),
                "p95_ms": sorted(lags)[int(0.95 * (len(lags) - 1))],
                "max_ms": max(lags),
                "within_1s": sum(1 for v in lags if v <= 1000),
            }
        if mode == "on":
            out["catch_up_s"] = round(await catch_up(server), 3)
        if spy is not None:
            out["profile"] = await spy
    finally:
        rb.stop_server(server)
    return out


# --- report ---------------------------------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def report(results: dict[str, Any]) -> str:
    lines = [f"bridge write tax, {results['started']} (load average at start {results['loadavg_start']})", ""]
    reg = results.get("registration")
    if reg:
        ratio = reg["ratio_median"]
        on, off = reg["on"], reg["off"]
        lines += [
            "registration (model + version + artifact chains, 16 clients), medians of "
            f"{len(reg['rounds'])} interleaved rounds:",
            f"  bridge on  {on['throughput']:>7.1f} chains/s  {on['server_cpu_ms_per_chain']} ms CPU/chain"
            f"  (bridge caught up at most {on['catch_up_s_max']} s after a round)",
            f"  bridge off {off['throughput']:>7.1f} chains/s  {off['server_cpu_ms_per_chain']} ms CPU/chain",
            f"  on/off: median of per-round ratios {ratio}, ratio of medians {reg['ratio_of_medians']}"
            f"  target >= {TARGET_REGISTRATION_KEEP}: {verdict(ratio >= TARGET_REGISTRATION_KEEP)}",
            f"  per-round ratios: {[r['ratio'] for r in reg['rounds']]}",
            f"  load averages: {[r['loadavg'] for r in reg['rounds']]}",
        ]
        for mode, prof in reg.get("profile", {}).items():
            if "threads" in prof:
                lines.append(f"  py-spy ({mode}, {prof['samples']} samples): " + json.dumps(prof["threads"]))
        lines.append("")
    loads = results.get("load", {})
    if loads:
        lines.append("load (versions created round-robin over the models, 32 clients), versions/s per window:")
        modes = [m for m in ("on", "off") if m in loads]
        header = "".join(f"{m:>10}" for m in modes)
        lines.append(f"  window          {header}   probe lag median / max (on)  load avg")
        count = max(len(loads[m]["windows"]) for m in modes)
        for w in range(count):
            cells = [loads[m]["windows"][w] if w < len(loads[m]["windows"]) else None for m in modes]
            first = next(c for c in cells if c)
            on = loads.get("on", {}).get("windows", [])
            lag = f"{on[w]['probe_lag_ms_median']} / {on[w]['probe_lag_ms_max']} ms" if w < len(on) else ""
            rates = "".join(f"{c['rate'] if c else '':>10}" for c in cells)
            lines.append(f"  {first['versions']:<16}{rates}   {lag:<28} {[c and c['loadavg'] for c in cells]}")
        for m in modes:
            lines.append(
                f"  {m}: {loads[m]['rate']} versions/s overall, {loads[m]['server_cpu_ms_per_version']} ms server "
                f"CPU/version, {loads[m]['errors']} errors"
            )
        if "on" in loads:
            on = loads["on"]
            rates = [w["rate"] for w in on["windows"]]
            ok = min(rates) >= TARGET_LOAD_RATE if rates else None
            lines.append(
                f"  bridge on, slowest window {min(rates, default=None)} versions/s, target >= "
                f"{TARGET_LOAD_RATE}: {verdict(ok)}"
            )
            if "off" in loads:
                pairs = list(zip(on["windows"], loads["off"]["windows"], strict=False))
                ratios = [round(a["rate"] / b["rate"], 3) for a, b in pairs]
                lines.append(f"  on/off per window: {ratios}")
                if pairs:
                    lines.append(f"  first/last window on/off: {ratios[0]} / {ratios[-1]}")
            if "probe" in on:
                p = on["probe"]
                lines.append(
                    f"  probe change-to-visible: {p['count']} probes, median {p['median_ms']} ms, p95 {p['p95_ms']} "
                    f"ms, max {p['max_ms']} ms, {p['within_1s']} within 1 s; target max <= "
                    f"{TARGET_VISIBLE_S * 1000:.0f} ms: {verdict(p['max_ms'] <= TARGET_VISIBLE_S * 1000)}"
                )
            lines.append(f"  bridge caught up {on.get('catch_up_s')} s after the last version")
        for m in modes:
            prof = loads[m].get("profile")
            if prof and "threads" in prof:
                lines.append(f"  py-spy ({m}, {prof['samples']} samples): " + json.dumps(prof["threads"]))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("all", "registration", "load"), default="all")
    p.add_argument("--rounds", type=int, default=5, help="registration rounds (each measures on and off)")
    p.add_argument("--duration", type=float, default=8, help="registration: measured seconds per run")
    p.add_argument("--warmup", type=float, default=2, help="registration: warm-up seconds per run")
    p.add_argument("--concurrency", type=int, default=16, help="registration clients")
    p.add_argument("--models", type=int, default=1000, help="load: registered models")
    p.add_argument("--versions", type=int, default=100, help="load: versions per model")
    p.add_argument("--load-concurrency", type=int, default=32, help="load clients")
    p.add_argument("--window", type=int, default=10_000, help="load: versions per reported window")
    p.add_argument("--load-modes", default="off,on", help="which loads to run, in this order")
    p.add_argument("--probe-interval", type=float, default=0.5, help="load: seconds between visibility probes")
    p.add_argument("--profile", type=float, default=0, help="load: py-spy this many seconds at half-way (0: off)")
    p.add_argument("--profile-modes", default="on", help="load: which servers to profile")
    p.add_argument("--src", help="PYTHONPATH of the servers: another checkout's src/ (default: this one)")
    p.add_argument("--keep-data", action="store_true", help="keep the servers' data directories")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_start": loadavg(),
        "args": vars(args),
        "commit": subprocess.run(
            ["git", "-C", str(rb.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "cpus": os.cpu_count(),
    }
    rb.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(prefix="modelreg-bridge-tax-"))
    try:
        if args.part in ("all", "registration"):
            results["registration"] = await registration(args, tmp_root)
        if args.part in ("all", "load"):
            results["load"] = {}
            for mode in args.load_modes.split(","):
                results["load"][mode] = await load(args, mode, tmp_root, rb.RESULTS_DIR)
    finally:
        if not args.keep_data:
            shutil.rmtree(tmp_root, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.profile_modes = args.profile_modes.split(",")
    global SRC
    SRC = args.src
    results = asyncio.run(run(args))
    text = report(results)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = rb.RESULTS_DIR / f"bridge_write_tax-{stamp}.json"
    path.write_text(json.dumps({**results, "report": text}, indent=2, default=str))
    print(text)
    print(f"\nfull results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

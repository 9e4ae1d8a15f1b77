#!/usr/bin/env python3
"""What metrics and JSON logs cost the hot path: the registry benchmark's get-by-id workload against two
``modelreg serve`` processes side by side, in interleaved rounds:

* ``off``  ``metrics.enabled: false``, ``--log-format text`` (request ids only: they are always on)
* ``on``   metrics on (the default), ``--log-format json``

Neither writes an access log (the default): one log line per request is a choice with its own, larger, price.
The issue's target: ``on`` keeps at least 95% of ``off``'s throughput. Reported as medians of ``--repeats``
rounds, the median of the per-round ratios and server CPU per request. On a shared machine, the steadier figure is
``--instructions N``: both servers again under ``valgrind --tool=callgrind``, the server's CPU instructions per
get-by-id over N sequential requests (``governance_instructions.py``'s servers and counter), ``--instr-repeats``
times each, with the polling background workers quieted. It also times the request id candidates in this process
(``--id-samples``).

    .venv/bin/python bench/telemetry_overhead.py                         # about 4 minutes
    .venv/bin/python bench/telemetry_overhead.py --instructions 500      # and the instruction counts: 6 more
    .venv/bin/python bench/telemetry_overhead.py --repeats 3 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import timeit
import uuid
from pathlib import Path
from typing import Any

import governance_instructions as gi
import registry_vs_mlflow as rb

ROOT = rb.ROOT
TARGET_KEEP = 0.95
MODES = {  # the servers' settings, by environment (MODELREG_ACCESS_LOG is left unset: off)
    "off": {"MODELREG_METRICS__ENABLED": "false", "MODELREG_LOG_FORMAT": "text"},
    "on": {"MODELREG_METRICS__ENABLED": "true", "MODELREG_LOG_FORMAT": "json"},
}
# For the instruction counts, the background workers that poll are quieted: they work alike in both servers, and
# their rounds would land in one count and not in another (callgrind counts every thread).
QUIET = {
    "MODELREG_BRIDGE__ENABLED": "false",
    "MODELREG_CATALOG__REGISTRY_SOURCE": "false",
    "MODELREG_CATALOG__RELOAD_INTERVAL_SECONDS": "60",  # the longest allowed
}


def start(label: str, tmp_root: Path, modelreg: str) -> rb.Server:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=tmp_root))
    env = {**os.environ, "MODELREG_DATA_DIR": str(data_dir), **MODES[label]}
    env.pop("MODELREG_ACCESS_LOG", None)
    port = rb.free_port()
    db_url = f"sqlite:///{data_dir / 'registry.db'}"
    cmd = [modelreg, "serve", "--host", rb.HOST, "--port", str(port), "--database-url", db_url]
    return rb.Server(label, "modelreg", 1, port, data_dir, data_dir / "registry.db").launch(cmd, env)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp_root = Path(tempfile.mkdtemp(prefix="modelreg-telemetry-bench-"))
    servers = [start(label, tmp_root, str(args.modelreg_bin)) for label in MODES]
    results: dict[str, Any] = {"servers": {s.label: {"command": s.info["command"]} for s in servers}}
    try:
        for s in servers:
            await rb.wait_ready(s, 60)
            await rb.settle(s, 20)
        keys = {s.label: await rb.prepare_get(s, args.get_models) for s in servers}
        await rb.measure_phase(
            "get-by-id", servers, args, results, lambda s, rep: rb.get_op(s, keys[s.label]), args.concurrency
        )
    finally:
        for s in servers:
            rb.stop_server(s)
        subprocess.run(["rm", "-rf", str(tmp_root)], check=False)
    return results


def instructions(gets: int, repeats: int) -> dict[str, list[float]]:
    """Server instructions per get-by-id, ``repeats`` measurements of ``gets`` requests per server."""
    tmp = Path(tempfile.mkdtemp(prefix="modelreg-gov-instr-"))  # where gi.read_total looks for callgrind's dumps
    saved = dict(os.environ)
    counts: dict[str, list[float]] = {}
    try:
        for label, env in MODES.items():
            os.environ.pop("MODELREG_ACCESS_LOG", None)
            os.environ.update({**env, **QUIET})  # gi.serve starts the server with this process's environment
            proc, url, headers = gi.serve(label, tmp, None, auth=False)
            try:
                ops = gi.measure(url, headers)
                for _ in range(30):  # warm-up; the first registration makes the model that is read
                    ops["registration"]()
                    ops["get-by-id"]()
                counts[label] = []
                for _ in range(repeats):
                    subprocess.run(["callgrind_control", "--zero", str(proc.pid)], capture_output=True, check=True)
                    for _ in range(gets):
                        ops["get-by-id"]()
                    counts[label].append(round(gi.read_total(proc.pid) / gets))
                    rb.log(f"{label:<4} {counts[label][-1]:>10,} instructions per get-by-id")
            finally:
                proc.terminate()
                proc.wait(timeout=120)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return counts


def request_id_costs(samples: int) -> dict[str, float]:
    """Microseconds per id of the candidates: what ``telemetry/request_ids.py`` does, and the usual ones."""
    prefix, counter = os.urandom(8).hex(), itertools.count(1)
    candidates = {
        "prefix + counter (modelreg)": lambda: f"{prefix}{next(counter):016x}",
        "os.urandom(16).hex()": lambda: os.urandom(16).hex(),
        "uuid.uuid4().hex": lambda: uuid.uuid4().hex,
    }
    return {
        name: round(min(timeit.repeat(make, number=samples, repeat=5)) / samples * 1e6, 3)
        for name, make in candidates.items()
    }


def report(results: dict[str, Any]) -> str:
    off = results["servers"]["off"]["workloads"]["get-by-id"]
    on = results["servers"]["on"]["workloads"]["get-by-id"]
    per_round = [o["throughput"] / b["throughput"] for o, b in zip(on["runs"], off["runs"], strict=True)]
    keep = statistics.median(per_round)
    cpu = on["server_cpu_ms_per_op"] / off["server_cpu_ms_per_op"] if off["server_cpu_ms_per_op"] else None
    results["ratios"] = {
        "throughput_ratio_of_medians": round(on["throughput"] / off["throughput"], 3),
        "throughput_ratio_median_per_round": round(keep, 3),
        "throughput_ratio_per_round": [round(r, 3) for r in per_round],
        "server_cpu_per_op_ratio": None if cpu is None else round(cpu, 3),
    }
    lines = [
        "",
        "| workload | off /s | on /s | on/off (medians) | on/off (per round) | CPU ms/req off → on | target |",
        "|---|---|---|---|---|---|---|",
        f"| get-by-id | {off['throughput']:,.0f} | {on['throughput']:,.0f} | "
        f"{results['ratios']['throughput_ratio_of_medians']:.3f} | {keep:.3f} | "
        f"{off['server_cpu_ms_per_op']} → {on['server_cpu_ms_per_op']} | "
        f"≥ {TARGET_KEEP:.2f}: {'PASS' if keep >= TARGET_KEEP else 'FAIL'} |",
        *_instruction_rows(results),
        "",
        "| request id | µs per id |",
        "|---|---|",
        *(f"| {name} | {cost} |" for name, cost in results["request_ids_us"].items()),
    ]
    return "\n".join(lines)


def _instruction_rows(results: dict[str, Any]) -> list[str]:
    counts = results.get("instructions_per_get")
    if not counts:
        return []
    off, on = statistics.median(counts["off"]), statistics.median(counts["on"])
    results["ratios"]["instructions_ratio"] = round(on / off, 3)
    return [
        "",
        "| instructions per get-by-id (median) | off | on | on/off |",
        "|---|---|---|---|",
        f"| callgrind, median of {len(counts['off'])} | {off:,.0f} | {on:,.0f} | {on / off:.3f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modelreg-bin", type=Path, default=ROOT / ".venv" / "bin" / "modelreg")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--get-models", type=int, default=100)
    parser.add_argument("--instructions", type=int, default=0, help="gets per callgrind measurement (0: none)")
    parser.add_argument("--instr-repeats", type=int, default=3)
    parser.add_argument("--id-samples", type=int, default=200_000, help="ids generated per timing of a candidate")
    args = parser.parse_args()
    if not args.modelreg_bin.exists():
        sys.exit(f"{args.modelreg_bin} not found: run ./scripts/setup first")
    started = dt.datetime.now(dt.UTC)
    environment = rb.environment(args, quick=True)  # machine, commit, load at the start
    results = {"benchmark": "telemetry_overhead", "environment": environment, **asyncio.run(run(args))}
    results["request_ids_us"] = request_id_costs(args.id_samples)
    if args.instructions:
        results["instructions_per_get"] = instructions(args.instructions, args.instr_repeats)
    table = report(results)
    results.update(
        settings={k: str(v) for k, v in vars(args).items()},
        started_utc=started.isoformat(timespec="seconds"),
        finished_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        loadavg_at_end=os.getloadavg(),
        report=table,
    )
    print(table)
    rb.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = rb.RESULTS_DIR / f"telemetry_overhead-{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    rb.log(f"results in {out}")


if __name__ == "__main__":
    main()

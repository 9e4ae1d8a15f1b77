#!/usr/bin/env python3
"""What authentication, authorization and the audit trail cost: the registry benchmark's get-by-id and
registration workloads against three servers side by side, in interleaved rounds:

* ``off``    modelreg at ``--baseline-ref`` (default: the last commit before governance), run from a git worktree:
             no authentication, no authorization, no audit trail
* ``local``  today's modelreg in local mode: no credentials to check, but every write audited
* ``on``     today's modelreg with ``--auth token``: every request carries a developer's API token, which is
             verified and authorized, and every write is audited

The issue's target: ``on`` keeps at least 85% of ``off``'s throughput. Reported as medians of ``--repeats``
rounds plus the median of the per-round ratios, and server CPU per operation (steadier on a shared machine).

    .venv/bin/python bench/governance_overhead.py                  # about 4 minutes
    .venv/bin/python bench/governance_overhead.py --repeats 3 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import registry_vs_mlflow as rb

ROOT = rb.ROOT
BASELINE_REF = "a86a208"  # the registry as issue 2 left it, before any governance code
TARGET_KEEP = 0.85


def start(label: str, tmp_root: Path, python: str, pythonpath: str | None, auth: bool) -> rb.Server:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=tmp_root))
    db_url = f"sqlite:///{data_dir / 'registry.db'}"
    env = {**os.environ, "MODELREG_DATA_DIR": str(data_dir)}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    headers = developer_token(python, env, db_url) if auth else {}
    port = rb.free_port()
    cmd = [python, "-m", "modelreg", "serve", "--host", rb.HOST, "--port", str(port), "--database-url", db_url]
    if auth:
        cmd += ["--auth", "token"]
    server = rb.Server(label, "modelreg", 1, port, data_dir, data_dir / "registry.db", headers=headers)
    return server.launch(cmd, env)


def developer_token(python: str, env: dict[str, str], db_url: str) -> dict[str, str]:
    """Bind the user ``bench`` to the developer role and return the headers that carry a token of it."""
    cli = [python, "-m", "modelreg"]
    run = {"check": True, "env": env, "capture_output": True, "text": True}
    subprocess.run(
        [*cli, "rolebinding", "create", "--user", "bench", "--role", "developer", "--database-url", db_url], **run
    )  # type: ignore[call-overload]
    created = subprocess.run([*cli, "token", "create", "--user", "bench", "--database-url", db_url], **run)  # type: ignore[call-overload]
    return {"Authorization": f"Bearer {created.stdout.strip()}"}


def worktree(ref: str, tmp_root: Path) -> Path:
    path = tmp_root / f"baseline-{ref}"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(path), ref], check=True, capture_output=True
    )
    return path


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp_root = Path(tempfile.mkdtemp(prefix="modelreg-gov-bench-"))
    python = sys.executable
    base = worktree(args.baseline_ref, tmp_root)
    servers = [
        start("off", tmp_root, python, str(base / "src"), auth=False),
        start("local", tmp_root, python, None, auth=False),
        start("on", tmp_root, python, None, auth=True),
    ]
    results: dict[str, Any] = {"servers": {s.label: {"command": s.info["command"]} for s in servers}}
    try:
        for s in servers:
            await rb.wait_ready(s, 60)
            await rb.settle(s, 20)
        keys = {s.label: await rb.prepare_get(s, args.get_models) for s in servers}
        await rb.measure_phase(
            "get-by-id", servers, args, results, lambda s, rep: rb.get_op(s, keys[s.label]), args.concurrency
        )
        await rb.measure_phase(
            "registration", servers, args, results, lambda s, rep: rb.register_op(s, f"r{rep}"), args.concurrency
        )
        audit_rows = _count_audit(servers[2])
        results["servers"]["on"]["audit_records"] = audit_rows
    finally:
        for s in servers:
            rb.stop_server(s)
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False, capture_output=True
        )
        subprocess.run(["rm", "-rf", str(tmp_root)], check=False)
    return results


def _count_audit(server: rb.Server) -> int:
    import sqlite3

    with sqlite3.connect(server.db_path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])


def ratios(results: dict[str, Any], workload: str, label: str) -> dict[str, Any]:
    off = results["servers"]["off"]["workloads"][workload]
    other = results["servers"][label]["workloads"][workload]
    per_round = [
        o["throughput"] / b["throughput"] for o, b in zip(other["runs"], off["runs"], strict=True) if b["throughput"]
    ]
    cpu = (other["server_cpu_ms_per_op"] / off["server_cpu_ms_per_op"]) if off["server_cpu_ms_per_op"] else None
    return {
        "throughput_ratio_of_medians": round(other["throughput"] / off["throughput"], 3),
        "throughput_ratio_median_per_round": round(statistics.median(per_round), 3),
        "server_cpu_per_op_ratio": None if cpu is None else round(cpu, 3),
    }


def report(results: dict[str, Any]) -> str:
    lines = [
        "",
        "| workload | off /s | local /s | on /s | on/off (medians) | on/off (per round) | CPU per op on/off | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workload in ("get-by-id", "registration"):
        t = {k: results["servers"][k]["workloads"][workload]["throughput"] for k in ("off", "local", "on")}
        r = ratios(results, workload, "on")
        results.setdefault("ratios", {})[workload] = {"on": r, "local": ratios(results, workload, "local")}
        keep = r["throughput_ratio_median_per_round"]
        lines.append(
            f"| {workload} | {t['off']:,.0f} | {t['local']:,.0f} | {t['on']:,.0f} | "
            f"{r['throughput_ratio_of_medians']:.2f} | {keep:.2f} | {r['server_cpu_per_op_ratio']} | "
            f"≥ {TARGET_KEEP:.2f}: {'PASS' if keep >= TARGET_KEEP else 'FAIL'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the 'off' server")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--get-models", type=int, default=1000)
    args = parser.parse_args()
    started = time.time()
    results = asyncio.run(run(args))
    table = report(results)
    print(table)
    results.update(args=vars(args), wall_seconds=round(time.time() - started), loadavg=os.getloadavg())
    rb.save_results("governance_overhead", results)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Scale-out on MariaDB: the get-by-id workload of ``registry_vs_mlflow.py`` against one ``modelreg serve``
process, against two ``serve`` processes on two ports (the load generator's connections alternate between them,
as a Service spreads connections over two pods), and against one ``serve --workers 2``. Issue 13's target: two
server processes serve at least 1.7x the reads of one.

All three share one MariaDB database (created empty for the run, dropped at the end) and the machine with MariaDB
and the load generator. The configurations take turns round by round (one, two, w2; one, two, w2; ...), and the
report shows medians with the CPU split: the modelreg processes, mariadbd, the load generator, the rest.

    .venv/bin/python bench/scale_out.py                   # ~3 minutes; see bench/README.md
    .venv/bin/python bench/scale_out.py --duration 3 --warmup 1 --repeats 1    # quick look

Only loopback traffic; every server is a subprocess, stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import registry_vs_mlflow as rvm  # bench/: the load generator, server processes, CPU accounting
import server_db as sdb  # bench/: the database server's processes

TARGET_RATIO = 1.7
DEFAULT_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
SCRATCH = "modelreg_bench_scale_out"


@dataclass
class Spread:
    """Stands in for ``rvm.Server`` in ``rvm.closed_loop`` over several servers: each load worker reads ``port``
    once, when it opens its connection, and gets the next server's, so the connections alternate between them."""

    label: str
    servers: list[rvm.Server]
    kind: str = "modelreg"
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ports = itertools.cycle([server.port for server in self.servers])

    @property
    def port(self) -> int:
        return next(self._ports)

    @property
    def pids(self) -> list[int]:
        return [pid for server in self.servers for pid in server.pids]


def database_url(admin_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=SCRATCH).render_as_string(hide_password=False)


def scratch_database(admin_url: str, create: bool) -> None:
    """Create the run's empty database (``create``) or drop it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH}"))
            if create:
                conn.execute(text(f"CREATE DATABASE {SCRATCH}"))
    finally:
        engine.dispose()


def start(label: str, workers: int, url: str, args: argparse.Namespace, tmp_root: Path) -> rvm.Server:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=tmp_root))
    port = rvm.free_port()
    cmd = [str(args.modelreg_bin), "serve", "--host", rvm.HOST, "--port", str(port), "--database-url", url]
    cmd += ["--workers", str(workers)]
    env = {**os.environ, "MODELREG_DATA_DIR": str(data_dir)}
    return rvm.Server(label, "modelreg", workers, port, data_dir, data_dir / "none").launch(cmd, env)


async def measure(target: Any, keys: list[str], args: argparse.Namespace, db_pids: list[int]) -> dict[str, Any]:
    db_before = rvm.cpu_seconds(db_pids)
    result = await rvm.closed_loop(target, args.concurrency, args.warmup, args.duration, rvm.get_op(target, keys))
    db_cpu = rvm.cpu_seconds(db_pids) - db_before  # over warm-up and window: a share, close enough
    summary = result.summary()
    summary["mariadb_cpu_pct"] = round(100 * db_cpu / (args.warmup + args.duration), 1)
    return summary


async def run(args: argparse.Namespace, url: str, tmp_root: Path) -> dict[str, Any]:
    servers: list[rvm.Server] = []
    try:
        servers.append(start("one", 1, url, args, tmp_root))
        await rvm.wait_ready(servers[0], 120)  # alone: it migrates the empty database
        servers += [start("two-a", 1, url, args, tmp_root), start("two-b", 1, url, args, tmp_root)]
        servers.append(start("w2", 2, url, args, tmp_root))
        for server in servers[1:]:
            await rvm.wait_ready(server, 120)
        keys = await rvm.prepare_get(servers[0], 100)
        for server in servers:
            await rvm.settle(server, 30)
        configs: dict[str, Any] = {
            "one": Spread("one", servers[:1]),
            "two": Spread("two", servers[1:3]),
            "w2": Spread("w2", servers[3:]),
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
        db_pids = sdb.server_pids("mariadb")
        for round_no in range(args.repeats):
            for name, target in configs.items():
                summary = await measure(target, keys, args, db_pids)
                runs[name].append(summary)
                rvm.log(
                    f"round {round_no + 1} {name}: {summary['throughput']} gets/s, modelreg "
                    f"{summary['server_cpu_pct']}% CPU, mariadbd {summary['mariadb_cpu_pct']}%, load generator "
                    f"{summary['loadgen_cpu_pct']}%, errors {summary['errors']}"
                )
        results = {name: rvm.summarize(r) for name, r in runs.items()}
        for name, r in runs.items():
            results[name]["mariadb_cpu_pct"] = rvm.median([x["mariadb_cpu_pct"] for x in r])
        return {"configs": results, "mariadb_found": bool(db_pids)}
    finally:
        for server in servers:
            rvm.stop_server(server)


def report(results: dict[str, Any]) -> str:
    configs = results["configs"]
    one = configs["one"]["throughput"] or 0.0
    lines = [
        "get-by-id on MariaDB, concurrency {c}, medians of {n} rounds".format(
            c=results["settings"]["concurrency"], n=results["settings"]["repeats"]
        ),
        "",
        f"{'configuration':<34}{'gets/s':>9}{'x one':>8}{'p50 ms':>8}{'modelreg':>10}{'mariadbd':>10}"
        f"{'loadgen':>9}{'other':>7}  (CPU, % of one core)",
    ]
    names = {"one": "one serve process", "two": "two serve processes (2 ports)", "w2": "one serve --workers 2"}
    for key, label in names.items():
        c = configs[key]
        ratio = (c["throughput"] or 0.0) / one if one else 0.0
        other = max(0.0, (c["other_cpu_pct"] or 0.0) - (c["mariadb_cpu_pct"] or 0.0))  # rvm's "other" has mariadbd
        lines.append(
            f"{label:<34}{c['throughput']:>9}{ratio:>8.2f}{c['p50_ms']:>8}{c['server_cpu_pct']:>10}"
            f"{c['mariadb_cpu_pct']:>10}{c['loadgen_cpu_pct']:>9}{other:>7.1f}"
        )
    lines += ["", *ceiling(configs["one"], results["environment"].get("cpus") or 1), ""]
    for key in ("two", "w2"):
        ratio = (configs[key]["throughput"] or 0.0) / one if one else 0.0
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        lines.append(f"target: {names[key]} ≥ {TARGET_RATIO}x one: {ratio:.2f}x {verdict}")
    return "\n".join(lines)


def ceiling(one: dict[str, Any], cores: int) -> list[str]:
    """What the machine allows, from the CPU each get costs with one process: that process is bound to one core
    (one event loop, one GIL), so it serves at most 1/m gets/s; N processes share the cores with mariadbd and the
    load generator (d per get), so they serve at most cores/(m + d). Their ratio bounds any scale-out here."""
    gets = one["throughput"] or 0.0
    if not gets:
        return []
    m = (one["server_cpu_pct"] or 0.0) / 100 / gets
    d = ((one["mariadb_cpu_pct"] or 0.0) + (one["loadgen_cpu_pct"] or 0.0)) / 100 / gets
    bound = min(2.0, cores * m / (m + d))
    return [
        f"CPU per get (one process): modelreg {1000 * m:.2f} ms, mariadbd + load generator {1000 * d:.2f} ms; "
        f"on {cores} cores shared by all of them, two processes can serve at most {bound:.2f}x one process "
        f"that saturates its core (min(2, cores x m / (m + d)))"
    ]


def _loop() -> Any:
    """uvloop for the load generator when installed (as ``registry_vs_mlflow.py``)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="a MariaDB URL allowed to create a database")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modelreg-bin", type=Path, default=rvm.ROOT / ".venv" / "bin" / "modelreg")
    p.add_argument("--output", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([sys.executable, *sys.argv])
    started = dt.datetime.now(dt.UTC)
    url = database_url(args.admin_url)
    scratch_database(args.admin_url, create=True)
    try:
        with tempfile.TemporaryDirectory(prefix="scale-out-") as tmp, asyncio.Runner(loop_factory=_loop()) as runner:
            results = runner.run(run(args, url, Path(tmp)))
    finally:
        scratch_database(args.admin_url, create=False)
    results = {
        "benchmark": "scale_out",
        "command": command,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": rvm.environment(args, quick=True),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        **results,
    }
    results["report"] = report(results)
    print(f"{results['report']}\n\nresults: {_save(results, args.output, started)}")
    return 0


def _save(results: dict[str, Any], output: Path | None, started: dt.datetime) -> Path:
    """The whole run as JSON, by default in bench/results/ (gitignored)."""
    path = output or rvm.RESULTS_DIR / f"scale_out-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())

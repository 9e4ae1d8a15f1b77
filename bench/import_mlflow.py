"""``modelreg import mlflow`` at 10,000 model versions: the time to bring a whole MLflow registry over, both sides.

Target (issue 16): 10,000 versions imported from MLflow in at most 60 s, bound by MLflow's API.

What runs, all on this machine: an MLflow 3.x tracking server (``scripts/setup-mlflow``; SQLite backend store, its
default 4 workers) seeded by bulk insert into its tables (not timed: ``--models`` registered models with two tags
and an alias each, ``--versions`` versions spread over them in every legacy stage, each with two tags and, unless
``--no-runs``, its own run in one experiment with ``--params`` params and ``--metrics`` metrics), and the import
in this process, as ``modelreg import mlflow`` runs it (``importers.runner.run``, acting as the CLI user) into a
fresh registry (a SQLite file, or ``--database-url``). Reported: the reading side (the source's HTTP calls to
MLflow: requests and wall time), the writing side (the rest: batched transactions, audited), the total, and a
re-run (everything unchanged: the ledger says so without writing).

    .venv/bin/python bench/import_mlflow.py                      # 10,000 versions, 1,000 models, a run each
    .venv/bin/python bench/import_mlflow.py --no-runs            # the registry alone
    .venv/bin/python bench/import_mlflow.py --versions 1000 --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import registry_vs_mlflow as rb  # bench/: its log and save_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from importers.mlflow_server import MLFLOW, MlflowServer, start_mlflow  # noqa: E402
from modelreg.auth import context  # noqa: E402
from modelreg.db import migrations  # noqa: E402
from modelreg.db.database import Database  # noqa: E402
from modelreg.importers import runner  # noqa: E402
from modelreg.importers.mlflow import MlflowSource  # noqa: E402
from modelreg.importers.runner import Summary  # noqa: E402
from modelreg.importers.writer import Outcome  # noqa: E402

TARGET_SECONDS = 60.0
STAGES = ("None", "Staging", "Production", "Archived")
T0 = 1_700_000_000_000


def seed(server: MlflowServer, models: int, versions: int, runs: bool, params: int, metrics: int) -> None:
    """Rows as MLflow's own SQL store writes them (checked against its REST answers by the import itself)."""
    experiment = 1
    run_rows, param_rows, metric_rows, tag_rows = [], [], [], []
    model_rows = [(f"bench-model-{m:05d}", T0 + m, T0 + m, f"bench model {m}") for m in range(models)]
    model_tags = [
        (key, f"{key}-{m % 7}", name) for m, (name, *_) in enumerate(model_rows) for key in ("team", "domain")
    ]
    aliases = [("champion", 1, name) for name, *_ in model_rows]
    version_rows, version_tags = [], []
    for i in range(versions):
        name = model_rows[i % models][0]
        number = i // models + 1
        run_id = uuid.uuid4().hex if runs else None
        created = T0 + 1000 * i
        version_rows.append(
            (name, number, created, created, f"version {number}", f"user{i % 50}", STAGES[i % 4],
             f"s3://bench/{name}/{number}", run_id or "", "READY", "")
        )  # fmt: skip
        version_tags += [("framework", "sklearn", name, number), ("dataset", f"d{i % 13}", name, number)]
        if run_id:
            run_rows.append(
                (run_id, f"run-{i}", "LOCAL", "", "", f"user{i % 50}", "FINISHED", created - 60_000, created,
                 "", "active", f"/tmp/artifacts/{experiment}/{run_id}/artifacts", experiment)
            )  # fmt: skip
            param_rows += [(f"param_{p}", str(p * i % 97), run_id) for p in range(params)]
            metric_rows += [(f"metric_{k}", (i * (k + 1)) % 100 / 100, created, 9, 0, run_id) for k in range(metrics)]
            tag_rows.append(("mlflow.runName", f"run-{i}", run_id))
    with contextlib.closing(sqlite3.connect(server.db_path, timeout=60)) as conn, conn:
        conn.execute(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
            "last_update_time) VALUES (?, 'bench', '/tmp/artifacts/1', 'active', ?, ?)",
            (experiment, T0, T0),
        )
        conn.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
            "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        conn.executemany('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)', param_rows)
        conn.executemany(
            'INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)',
            metric_rows,
        )
        conn.executemany(
            'INSERT INTO metrics ("key", value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)',
            metric_rows,
        )
        conn.executemany('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)', tag_rows)
        conn.executemany(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description) VALUES (?, ?, ?, ?)",
            model_rows,
        )
        conn.executemany('INSERT INTO registered_model_tags ("key", value, name) VALUES (?, ?, ?)', model_tags)
        conn.executemany("INSERT INTO registered_model_aliases (alias, version, name) VALUES (?, ?, ?)", aliases)
        conn.executemany(
            "INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id, "
            "current_stage, source, run_id, status, run_link) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            version_rows,
        )
        conn.executemany(
            'INSERT INTO model_version_tags ("key", value, name, version) VALUES (?, ?, ?, ?)', version_tags
        )
        conn.execute("ANALYZE")


def import_once(url: str, db: Database) -> dict[str, Any]:
    with context.acting_as(context.cli_context()), MlflowSource(url) as source:
        started = time.perf_counter()
        summary = runner.run(source, db)
        total = time.perf_counter() - started
        reading, requests = source.stats.seconds, source.stats.requests
    return {
        "total_s": round(total, 2),
        "read_s": round(reading, 2),
        "write_s": round(total - reading, 2),
        "requests": requests,
        "entities": summary.count(),
        "outcomes": {o.value: summary.count(outcome=o) for o in Outcome},
        "by_kind": _by_kind(summary),
        "errors": summary.errors[:5],
        "aborted": summary.aborted,
    }


def _by_kind(summary: Summary) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for (kind, _), n in summary.counts.items():
        kinds[kind] = kinds.get(kind, 0) + n
    return kinds


def report(args: argparse.Namespace, first: dict[str, Any], again: dict[str, Any]) -> bool:
    versions = first["by_kind"].get("model_version", 0)
    print(f"import of {versions} MLflow model versions ({first['entities']} entities: {first['by_kind']})")
    rate = first["entities"] / first["total_s"] if first["total_s"] else 0
    lines = [
        ("reading MLflow (the source's HTTP calls)", first["read_s"], f"in {first['requests']} requests"),
        (f"writing the registry ({args.database})", first["write_s"], "transactions of up to 200 entities"),
        ("total", first["total_s"], f"{rate:.0f} entities/s"),
    ]
    for label, seconds, note in lines:
        print(f"  {label + ':':<44} {seconds:>7.2f} s   ({note})")
    print(f"  outcomes: {first['outcomes']}" + (f", first errors: {first['errors']}" if first["errors"] else ""))
    print(
        f"re-run (nothing changed): {again['total_s']:.2f} s "
        f"(reading {again['read_s']:.2f} s, {again['outcomes']['unchanged']} unchanged)"
    )
    ok = first["total_s"] <= TARGET_SECONDS and not first["errors"] and versions >= args.versions
    print(f"issue 16 target, {args.versions} versions in <= {TARGET_SECONDS:.0f} s: {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=1_000)
    parser.add_argument("--no-runs", dest="runs", action="store_false", help="versions linked to no run")
    parser.add_argument("--params", type=int, default=3, help="params per run")
    parser.add_argument("--metrics", type=int, default=2, help="metrics per run")
    parser.add_argument("--mlflow-workers", type=int, default=4, help="mlflow server --workers (MLflow's default)")
    parser.add_argument("--database-url", default=None, help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if not MLFLOW.exists():
        rb.log(f"MLflow is not installed at {MLFLOW}. Create it with: scripts/setup-mlflow")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-import-mlflow-") as tmp:
        work = Path(tmp)
        rb.log(f"starting MLflow ({args.mlflow_workers} workers)...")
        server = start_mlflow(work / "mlflow", workers=args.mlflow_workers)
        try:
            started = time.perf_counter()
            seed(server, args.models, args.versions, args.runs, args.params, args.metrics)
            rb.log(f"seeded {args.versions} versions in {time.perf_counter() - started:.1f} s (not timed)")
            url = args.database_url or f"sqlite:///{work / 'registry.db'}"
            args.database = url.split(":", 1)[0]
            db = Database(url)
            migrations.upgrade(db.engine)
            rb.log("importing...")
            first = import_once(server.url, db)
            rb.log("importing again (nothing changed)...")
            again = import_once(server.url, db)
            db.dispose()
        finally:
            server.stop()
    ok = report(args, first, again)
    results = {
        "benchmark": "import_mlflow",
        "args": {k: v for k, v in vars(args).items() if k != "output"},
        "first": first,
        "rerun": again,
        "target_s": TARGET_SECONDS,
        "pass": ok,
    }
    rb.save_results("import_mlflow", results, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

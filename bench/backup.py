#!/usr/bin/env python3
"""``modelreg db export`` and ``db import`` at 100,000 model versions (issue 13: each ≤ 60 s).

    .venv/bin/python bench/backup.py [--versions 100000] [--per-model 10] [--properties 3] [--repeats 3]
                                     [--targets sqlite,mariadb,postgresql] [--verify] [--keep]

The source is a temporary SQLite registry filled by bulk inserts into modelreg's tables (not through the API, which
would take an hour), with what the API would have written: ``--versions`` versions in models of ``--per-model``, a
model artifact each (and its attribution row), ``--properties`` custom properties per version, and one ``create``
audit record per model, version and artifact, chained as ``db/audit_chain.py`` chains them (so the chain of every
copy verifies). Then, each ``--repeats`` times, the real commands in subprocesses:

* **export**: ``modelreg db export FILE --quiet`` from the SQLite source;
* **import**: ``modelreg db import FILE --quiet`` into a new, empty database of each ``--targets`` backend (a fresh
  SQLite file; a ``CREATE DATABASE`` on MariaDB at ``MODELREG_BENCH_MARIADB_URL``, default root@127.0.0.1:3306, and
  PostgreSQL at ``MODELREG_BENCH_POSTGRES_URL``, default postgres@127.0.0.1:5432), migrations included;
* **export back**: ``modelreg db export`` of that copy (server-side cursors on MariaDB and PostgreSQL), whose row
  lines must be the source export's (compared sorted: another database may order string keys otherwise).

Each figure is the command's wall time from start to exit (interpreter start included), with its peak RSS
(``VmHWM``, polled every 50 ms); the report gives medians. ``--verify`` also times ``modelreg audit verify`` once per
target. A table goes to stdout, progress to stderr, everything to bench/results/backup-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from modelreg.db import audit_chain, migrations
from modelreg.db import tables as t
from modelreg.db.database import Database

ROOT = Path(__file__).resolve().parent.parent
MODELREG = [sys.executable, "-m", "modelreg"]
TARGET_SECONDS = 60.0
SERVERS = {
    "mariadb": os.environ.get("MODELREG_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
    "postgresql": os.environ.get(
        "MODELREG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
}
SCRATCH = "modelreg_bench_backup"
CHUNK = 20_000  # rows per executemany while seeding


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the source registry --------------------------------------------------------------------------------------------


class Chain:
    """Audit records as db/audit_chain.py appends them: numbered from 1, each hashing the one before."""

    def __init__(self) -> None:
        self.seq = 0
        self.prev = audit_chain.GENESIS
        self.rows: list[dict[str, Any]] = []

    def create(self, kind: str, entity_id: int, name: str, after: dict[str, Any], at: int) -> None:
        self.seq += 1
        record = {
            "seq": self.seq,
            "time_ms": at,
            "actor": "cli:bench",
            "via": "cli",
            "action": "create",
            "entity_kind": kind,
            "entity_id": entity_id,
            "entity_name": name,
            "changes": orjson.dumps({"after": after, "before": None}, option=orjson.OPT_SORT_KEYS).decode(),
            "request_id": None,
            "client": None,
            "prev_hash": self.prev,
        }
        record["hash"] = self.prev = audit_chain.record_hash(record)
        self.rows.append(record)


def seed(url: str, versions: int, per_model: int, properties: int) -> dict[str, int]:
    """Fill the empty, migrated SQLite database at ``url``; returns rows per table."""
    engine = create_engine(url)
    now = int(time.time() * 1000)
    models, mvs, artifacts, links, props = [], [], [], [], []
    chain = Chain()
    for m in range(versions // per_model):
        model = {
            "id": m + 1,
            "name": f"model-{m}",
            "owner": "bench",
            "state": "LIVE",
            "description": "a benchmark model",
        }
        models.append({**model, "create_time": now, "last_update_time": now})
        chain.create("registered_model", m + 1, model["name"], model, now)
        for j in range(per_model):
            vid = m * per_model + j + 1
            version = {"id": vid, "registered_model_id": m + 1, "name": f"v{j}", "author": "bench", "state": "LIVE"}
            custom = {f"p{k}": f"value {k} of version {vid}" for k in range(properties)}
            mvs.append({**version, "create_time": now + vid, "last_update_time": now + vid})
            chain.create("model_version", vid, version["name"], {**version, "customProperties": custom}, now + vid)
            artifact = {
                "id": vid,
                "artifact_type": "model-artifact",
                "parent_model_version_id": vid,
                "name": f"model-{m}-v{j}",
                "uri": f"s3://models/model-{m}/v{j}/",
                "state": "LIVE",
                "model_format_name": "onnx",
                "model_format_version": "1",
            }
            artifacts.append({**artifact, "create_time": now + vid, "last_update_time": now + vid})
            chain.create("artifact", vid, artifact["name"], artifact, now + vid)
            links.append({"parent_kind": "model_version", "parent_id": vid, "artifact_id": vid})
            props.extend(
                {"owner_kind": "model_versions", "owner_id": vid, "name": k, "value_type": "string", "string_value": v}
                for k, v in custom.items()
            )
    rows = {
        t.registered_models: models,
        t.model_versions: mvs,
        t.artifacts: artifacts,
        t.artifact_attributions: links,
        t.properties: props,
        t.audit_log: chain.rows,
    }
    with engine.begin() as conn:
        for table, values in rows.items():
            for start in range(0, len(values), CHUNK):
                conn.execute(insert(table), values[start : start + CHUNK])
    engine.dispose()
    return {str(table.name): len(values) for table, values in rows.items()}


# --- targets ------------------------------------------------------------------------------------------------------


@contextmanager
def empty_database(backend: str, tmp: Path, run: int) -> Iterator[str]:
    """A new, empty database of ``backend``, dropped afterwards."""
    if backend == "sqlite":
        path = tmp / f"target-{run}.db"
        yield f"sqlite:///{path}"
        for leftover in tmp.glob(f"{path.name}*"):
            leftover.unlink()
        return
    admin = make_url(SERVERS[backend])
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    drop = f"DROP DATABASE IF EXISTS {SCRATCH}" + (" WITH (FORCE)" if backend == "postgresql" else "")
    try:
        with engine.connect() as conn:
            conn.execute(text(drop))
            conn.execute(text(f"CREATE DATABASE {SCRATCH}"))
        yield admin.set(database=SCRATCH).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(drop))
        engine.dispose()


def reachable(backend: str) -> str | None:
    """None, or why the server of ``backend`` cannot be used."""
    if backend == "sqlite":
        return None
    engine = create_engine(SERVERS[backend])
    try:
        with engine.connect():
            return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()


# --- measuring ----------------------------------------------------------------------------------------------------


def timed(args: list[str]) -> dict[str, Any]:
    """Run ``modelreg ARGS``; its wall time and peak RSS (VmHWM, polled: ``wait4``'s ``ru_maxrss`` would count the
    pages of this process, which the child had before it exec'd)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([*MODELREG, *args], stdout=out, stderr=err)
        peak_kib = 0
        while proc.poll() is None:
            peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"modelreg {' '.join(args)} exited {proc.returncode}: {err.read().decode()[-2000:]}")
        return {"seconds": seconds, "rss_mib": peak_kib / 1024, "stdout": out.read().decode()[-500:]}


def _vm_hwm_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # exited meanwhile
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def row_lines(path: Path) -> str:
    """A digest of an export's row lines, in sorted order (another database may order string keys otherwise)."""
    with path.open("rb") as lines:
        rows = sorted(line for line in lines if line.startswith(b'{"table":'))
    return hashlib.sha256(b"".join(rows)).hexdigest()


def median_of(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "rss_mib": statistics.median(r["rss_mib"] for r in runs),
    }


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--per-model", type=int, default=10, help="versions per registered model")
    parser.add_argument("--properties", type=int, default=3, help="custom properties per version")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--targets", default="sqlite,mariadb,postgresql")
    parser.add_argument("--verify", action="store_true", help="also time `modelreg audit verify` on each target")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (source, export)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="modelreg-bench-backup-"))
    result: dict[str, Any] = {
        "command": sys.argv,
        "commit": git_commit(),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_at_start": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    try:
        source = f"sqlite:///{tmp / 'source.db'}"
        db = Database(source)
        migrations.upgrade(db.engine)
        db.dispose()
        say(f"seeding {args.versions} versions into {source} ...")
        started = time.perf_counter()
        result["rows"] = seed(source, args.versions, args.per_model, args.properties)
        say(f"seeded {sum(result['rows'].values())} rows in {time.perf_counter() - started:.1f} s: {result['rows']}")

        export_file = tmp / "registry.jsonl"
        exports = []
        for run in range(args.repeats):
            export_file.unlink(missing_ok=True)
            exports.append(timed(["db", "export", str(export_file), "--quiet", "--database-url", source]))
            say(f"export {run + 1}/{args.repeats}: {exports[-1]['seconds']:.1f} s, {exports[-1]['rss_mib']:.0f} MiB")
        result["export"] = {"runs": exports, "median": median_of(exports), "bytes": export_file.stat().st_size}

        result["import"] = {}
        for backend in args.targets.split(","):
            why = reachable(backend)
            if why is not None:
                say(f"import into {backend}: skipped ({why})")
                result["import"][backend] = {"skipped": why}
                continue
            runs, exports_back = [], []
            verify = None
            same_rows = True
            for run in range(args.repeats):
                with empty_database(backend, tmp, run) as url:
                    runs.append(timed(["db", "import", str(export_file), "--quiet", "--database-url", url]))
                    say(f"import into {backend} {run + 1}/{args.repeats}: {runs[-1]['seconds']:.1f} s, "
                        f"{runs[-1]['rss_mib']:.0f} MiB")  # fmt: skip
                    back = tmp / "back.jsonl"
                    exports_back.append(timed(["db", "export", str(back), "--quiet", "--database-url", url]))
                    same_rows = same_rows and row_lines(back) == row_lines(export_file)
                    back.unlink()
                    say(f"export from {backend} {run + 1}/{args.repeats}: {exports_back[-1]['seconds']:.1f} s, "
                        f"{exports_back[-1]['rss_mib']:.0f} MiB; same rows as the source's: {same_rows}")  # fmt: skip
                    if args.verify and run == args.repeats - 1:
                        verify = timed(["audit", "verify", "--database-url", url])
                        say(f"audit verify on {backend}: {verify['seconds']:.1f} s: {verify['stdout'].strip()}")
            result["import"][backend] = {
                "runs": runs,
                "median": median_of(runs),
                "export_back": {"runs": exports_back, "median": median_of(exports_back)},
                "export_back_same_rows": same_rows,
                "verify": verify,
            }
    finally:
        result["load_average_at_end"] = os.getloadavg()
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    report(result, args.versions)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"backup-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    say(f"results: {path}")


def report(result: dict[str, Any], versions: int) -> None:
    rows = sum(result["rows"].values())
    print(f"{versions} versions, {rows} rows; export file {result['export']['bytes'] / 2**20:.0f} MiB")
    print(f"{'step':<30} {'median s':>9} {'peak RSS MiB':>13} {'target':>8}  met")
    lines = [("export of the source", result["export"]["median"])]
    for backend, r in result["import"].items():
        if "median" in r:
            lines.append((f"import into {backend}", r["median"]))
            lines.append((f"export of the {backend} copy", r["export_back"]["median"]))
    for label, median in lines:
        met = "yes" if median["seconds"] <= TARGET_SECONDS else "NO"
        print(f"{label:<30} {median['seconds']:>9.1f} {median['rss_mib']:>13.0f} {TARGET_SECONDS:>7.0f}s  {met}")
    for backend, r in result["import"].items():
        if "skipped" in r:
            print(f"import into {backend}: skipped ({r['skipped']})")
            continue
        print(f"{backend}: re-export holds the source's rows: {'yes' if r['export_back_same_rows'] else 'NO'}")
        if r.get("verify"):
            print(f"audit verify on {backend}: {r['verify']['seconds']:.1f} s")


if __name__ == "__main__":
    main()

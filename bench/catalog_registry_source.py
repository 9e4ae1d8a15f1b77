"""The registry as a catalog source at 10,000 registered models and 100,000 versions: full load and follow latency.

    .venv/bin/python bench/catalog_registry_source.py [--models 10000] [--per-model 10] [--runs 5] [--changes 20]
                                                      [--database-url URL]

Seeding: bulk INSERTs straight into the tables (the services would take minutes for 200,000 entities): every
model has a description, an owner and three custom properties; every version a readme property, two more and one
model artifact with its own property. Then:

1. full load: ``RegistryCatalogSource.load()`` on a fresh source (what a server does when it starts), median of
   ``--runs`` (target ≤ 3 s on SQLite), wall clock and this process's CPU time (the fairer figure on a shared
   machine: the wall clock grows with the load average);
2. follow latency, through the services (a new source following the database): a model's description updated, a
   new version registered (with its artifact), a model archived, each timed from the start of the write until the
   source's snapshot shows it (commit listener); and the same update made through a second ``Database`` (another
   process: seen through the audit head poll, ``interval`` 0.5 s). Medians of ``--changes`` changes each
   (target ≤ 1 s).
A table with PASS/FAIL per target goes to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from modelreg.auth import context
from modelreg.catalog.registry_source import RegistryCatalogSource
from modelreg.catalog.snapshots import SourceSnapshot
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.db.tables import artifact_attributions, artifacts, model_versions, properties, registered_models
from modelreg.services import entities as e
from modelreg.services.archive import ArchiveService
from modelreg.services.properties import PropValue
from modelreg.services.registry import RegistryService

BATCH = 5000  # rows per INSERT batch while seeding
LOAD_TARGET = 3.0
FOLLOW_TARGET = 1.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _prop(kind: str, owner: int, name: str, value: str) -> dict[str, Any]:
    return {
        "owner_kind": kind,
        "owner_id": owner,
        "name": name,
        "value_type": "string",
        "string_value": value,
        "int_value": None,
        "double_value": None,
        "bool_value": None,
    }


def seed(db: Database, models: int, per_model: int) -> None:
    now = int(time.time() * 1000)
    rows: dict[str, list[dict[str, Any]]] = {"models": [], "versions": [], "artifacts": [], "links": [], "props": []}
    tables = {
        "models": registered_models,
        "versions": model_versions,
        "artifacts": artifacts,
        "links": artifact_attributions,
        "props": properties,
    }

    def flush(force: bool = False) -> None:
        with db.write() as conn:
            for key, table in tables.items():  # parents first: foreign keys
                if rows[key] and (force or len(rows[key]) >= BATCH):
                    conn.execute(insert(table), rows[key])
                    rows[key] = []

    version_id = 0
    for m in range(1, models + 1):
        rows["models"].append(
            {
                "id": m,
                "name": f"team-{m % 20}/model-{m}",
                "description": f"Model {m} scores things",
                "owner": f"user-{m % 50}",
                "state": "LIVE",
                "create_time": now - m,
                "last_update_time": now - m,
            }
        )
        rows["props"] += [
            _prop("registered_models", m, "License", "apache-2.0"),
            _prop("registered_models", m, "Provider", "Example"),
            _prop("registered_models", m, "team", f"team-{m % 20}"),
        ]
        for j in range(per_model):
            version_id += 1
            rows["versions"].append(
                {
                    "id": version_id,
                    "registered_model_id": m,
                    "name": f"v{j}",
                    "description": f"Version {j}",
                    "author": "bench",
                    "state": "LIVE",
                    "create_time": now - m + j,
                    "last_update_time": now - m + j,
                }
            )
            rows["props"] += [
                _prop("model_versions", version_id, "readme", f"# Model {m} v{j}\n\nTrained on data."),
                _prop("model_versions", version_id, "framework", "onnx"),
                _prop("model_versions", version_id, "Usage", "Fraud scoring"),
            ]
            rows["artifacts"].append(
                {
                    "id": version_id,
                    "artifact_type": "model-artifact",
                    "parent_model_version_id": version_id,
                    "name": "weights",
                    "uri": f"s3://models/{m}/{j}/model.onnx",
                    "state": "LIVE",
                    "model_format_name": "onnx",
                    "model_format_version": "1",
                    "create_time": now,
                    "last_update_time": now,
                }
            )
            rows["links"].append({"parent_kind": "model_version", "parent_id": version_id, "artifact_id": version_id})
            rows["props"].append(_prop("artifacts", version_id, "precision", "fp16"))
        if len(rows["props"]) >= BATCH:
            flush(force=True)
    flush(force=True)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


class Watch:
    """A started source whose snapshots we can wait on."""

    def __init__(self, db: Database, interval: float = 0.5) -> None:
        self.source = RegistryCatalogSource(db, interval=interval)
        self.source.start(lambda _: None)
        self.wait(lambda snap: snap.source.status is not None, timeout=60)

    def wait(self, check: Callable[[SourceSnapshot], bool], timeout: float = 10) -> float:
        started = time.perf_counter()
        while not check(self.source.snapshot()):
            if time.perf_counter() - started > timeout:
                raise TimeoutError("the change did not become visible")
            time.sleep(0.002)
        return time.perf_counter() - started


def model_named(snapshot: SourceSnapshot, model_id: int) -> Any:
    wanted = str(model_id)
    return next((m for m in snapshot.models if m.id == wanted), None)


def bench_follow(db: Database, other: Database, models: int, changes: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"update": [], "new version": [], "archive": [], "update elsewhere": []}
    registry, elsewhere = RegistryService(db), RegistryService(other)
    archive = ArchiveService(registry)
    watch = Watch(db)
    try:
        picks = random.Random(7).sample(range(1, models + 1), 3 * changes)
        for i in range(changes):
            model_id = picks[i]
            text = f"changed {i}"
            started = time.perf_counter()
            registry.update(e.REGISTERED_MODEL, model_id, {"description": text}, None)
            watch.wait(lambda s, m=model_id, t=text: model_named(s, m).description == t)  # type: ignore[misc]
            out["update"].append(time.perf_counter() - started)

            model_id = picks[changes + i]
            started = time.perf_counter()
            version = registry.create_model_version(
                {"name": f"bench-{i}", "registered_model_id": model_id}, {"readme": PropValue("string", "new")}
            )
            registry.upsert_artifact(
                "model_version", version.row["id"], "model-artifact", {"name": "w", "uri": f"s3://new/{i}"}, None
            )
            watch.wait(lambda s, m=model_id, i=i: model_named(s, m).model_uri == f"s3://new/{i}")  # type: ignore[misc]
            out["new version"].append(time.perf_counter() - started)

            model_id = picks[2 * changes + i]
            started = time.perf_counter()
            archive.archive(e.REGISTERED_MODEL, model_id)
            watch.wait(lambda s, m=model_id: model_named(s, m) is None)  # type: ignore[misc]
            out["archive"].append(time.perf_counter() - started)

            model_id = picks[i]
            text = f"changed elsewhere {i}"
            started = time.perf_counter()
            elsewhere.update(e.REGISTERED_MODEL, model_id, {"description": text}, None)
            watch.wait(lambda s, m=model_id, t=text: model_named(s, m).description == t)  # type: ignore[misc]
            out["update elsewhere"].append(time.perf_counter() - started)
            time.sleep(random.Random(i).random() * 0.1)  # do not phase-lock with the poll
        log(f"  follow: {changes} changes of each kind done")
    finally:
        watch.source.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--per-model", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelreg-bench-") as work:
        url = args.database_url or f"sqlite:///{Path(work) / 'registry.db'}"
        db, other = Database(url), Database(url)
        try:
            migrations.upgrade(db.engine)
            started = time.perf_counter()
            seed(db, args.models, args.per_model)
            log(
                f"seeded {args.models} models, {args.models * args.per_model} versions in "
                f"{time.perf_counter() - started:.1f} s"
            )
            loads, cpu = [], []
            for run in range(args.runs):
                started, started_cpu = time.perf_counter(), time.process_time()
                snapshot = RegistryCatalogSource(db).load()
                loads.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
                assert len(snapshot.models) == args.models, len(snapshot.models)
                log(f"  full load run {run + 1}: {loads[-1]:.2f} s ({cpu[-1]:.2f} s CPU)")
            with context.acting_as(context.system("bench")):
                follow = bench_follow(db, other, args.models, args.changes)
        finally:
            other.dispose()
            db.dispose()
    print(f"\nregistry catalog source: {args.models} models, {args.models * args.per_model} versions ({db.backend})")
    print(f"{'measure':<32}{'median':>12}{'target':>10}  result")
    load = statistics.median(loads)
    print(f"{'full load':<32}{load:>10.2f} s{LOAD_TARGET:>8.1f} s  {'PASS' if load <= LOAD_TARGET else 'FAIL'}")
    print(f"{'full load, CPU time':<32}{statistics.median(cpu):>10.2f} s")
    for name, values in follow.items():
        ms = median_ms(values)
        verdict = "PASS" if ms <= FOLLOW_TARGET * 1000 else "FAIL"
        print(f"{'follow: ' + name:<32}{ms:>9.0f} ms{FOLLOW_TARGET * 1000:>7.0f} ms  {verdict}")


if __name__ == "__main__":
    main()

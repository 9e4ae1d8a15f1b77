"""How long the catalog takes to load a large YAML catalog, and whether a reload starves request handlers.

Generates a 10,000-model catalog (each model: a ~2 KB readme, a model artifact and a metrics artifact with 10
custom properties each) in a temporary folder, then reports medians over ``--runs`` runs of:

- cold load: a fresh ``CatalogLoader`` parses and builds everything (what ``modelreg serve`` does on start);
- reload after a change: one model edited, the same loader (the chunk cache re-parses only that model);
- the main thread's responsiveness while the watcher thread reloads: a loop of small Python work (the shape of a
  ``find_models`` read) records its slowest iteration and its throughput, with and without a reload running.

    .venv/bin/python bench/catalog_reload.py [--models 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import yaml

from modelreg.catalog.loader import CatalogLoader
from modelreg.catalog.snapshots import CatalogConfig
from modelreg.catalog.watcher import SourcesWatcher

README = "# Model {i}\n\n" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 35


def generate(folder: Path, count: int) -> tuple[Path, Path]:
    def props(i: int) -> dict[str, object]:
        return {
            f"prop_{k}": {"metadataType": "MetadataStringValue", "string_value": f"value {k} of {i}"} for k in range(10)
        }

    models = [
        {
            "name": f"org-{i % 50}/model-{i:05d}",
            "description": f"Model {i}, generated for the benchmark.",
            "provider": "Bench",
            "license": "apache-2.0",
            "tasks": ["text-generation"],
            "language": ["en", "fr"],
            "readme": README.format(i=i),
            "createTimeSinceEpoch": str(1_700_000_000_000 + i),
            "artifacts": [
                {"uri": f"oci://quay.io/bench/model-{i}:1", "customProperties": props(i)},
                {
                    "artifactType": "metrics-artifact",
                    "metricsType": "performance-metrics",
                    "customProperties": props(i),
                },
            ],
        }
        for i in range(count)
    ]
    catalog = folder / "catalog.yaml"
    catalog.write_text(yaml.dump({"source": "Bench", "models": models}, Dumper=yaml.CSafeDumper, sort_keys=False))
    sources = folder / "sources.yaml"
    sources.write_text(
        "model_catalogs:\n  - {id: bench, name: Bench, type: yaml, properties: {yamlCatalogPath: catalog.yaml}}\n"
    )
    return sources, catalog


def edit(catalog: Path, run: int) -> None:
    """Change one model, replacing the file atomically (as editors and ConfigMap updates do)."""
    text = re.sub(r"Model 7(?: \(edit \d+\))?,", f"Model 7 (edit {run}),", catalog.read_text(), count=1)
    staged = catalog.with_suffix(".tmp")
    staged.write_text(text)
    os.replace(staged, catalog)


def timed(fn: object) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu


def work_loop(seconds: float, stop: threading.Event | None = None) -> tuple[float, int]:
    """Small units of Python work (filtering a list of dicts); returns the slowest unit and the count done."""
    rows = [{"name": f"m{i}", "score": i % 97} for i in range(200)]
    worst, done, end = 0.0, 0, time.perf_counter() + seconds
    while time.perf_counter() < end and not (stop and stop.is_set()):
        start = time.perf_counter()
        sum(1 for r in rows if r["score"] > 50 and "9" in r["name"])
        worst = max(worst, time.perf_counter() - start)
        done += 1
    return worst, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sources, catalog = generate(Path(tmp), args.models)
        print(f"catalog: {args.models} models, {catalog.stat().st_size / 1e6:.1f} MB")
        cold, reload = [], []
        for run in range(args.runs):
            loader = CatalogLoader()
            config: list[CatalogConfig] = []
            cold.append(timed(lambda: config.append(loader.load([sources]))))  # noqa: B023
            edit(catalog, run)
            reload.append(timed(lambda: loader.load([sources], config[0])))  # noqa: B023
        for label, runs in (("cold load", cold), ("reload after a change", reload)):
            print(
                f"{label:24} median wall {statistics.median(r[0] for r in runs):.2f} s, "
                f"cpu {statistics.median(r[1] for r in runs):.2f} s"
            )

        baseline_worst, baseline_done = work_loop(1.0)
        reloaded = threading.Event()
        watcher = SourcesWatcher([sources], 0.05, lambda _config: reloaded.set())
        watcher.start()
        reloaded.clear()
        edit(catalog, args.runs)
        started = time.perf_counter()
        worst, done = work_loop(30.0, reloaded)
        took = time.perf_counter() - started
        watcher.stop()
        print(
            f"main thread, idle:        slowest unit {baseline_worst * 1000:.1f} ms, {baseline_done / 1.0:.0f} units/s"
        )
        print(
            f"main thread, during a {took:.2f} s reload: slowest unit {worst * 1000:.1f} ms, {done / took:.0f} units/s"
        )


if __name__ == "__main__":
    main()

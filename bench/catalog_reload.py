"""How long the catalog takes to load a large YAML catalog, and whether a reload starves request handlers.

Generates a 10,000-model catalog (each model: a ~2 KB readme, a model artifact and a metrics artifact with 10
custom properties each) in a temporary folder, then reports medians over ``--runs`` runs of:

- cold load: a fresh ``CatalogLoader`` parses and builds everything (what ``modelreg serve`` does on start);
- reload after a change: one model edited, the same loader (the chunk cache re-parses only that model);
- reload after a regeneration: every model changed (a pipeline rewrote the file);
each with the parse worker processes (``ParsePool``, as the watcher runs it) and, for comparison, in the calling
thread (``--no-pool`` skips the pool).
- the main thread's responsiveness while the watcher thread reloads a regenerated file: a loop of small Python
  work (the shape of a ``find_models`` read) records its p50, p99 and slowest iteration and its throughput, with
  and without a reload running.

Wall times depend on what else runs on the machine: the load average is printed next to them.

    .venv/bin/python bench/catalog_reload.py [--models 10000] [--runs 5] [--no-pool]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from modelreg.catalog.loader import CatalogLoader
from modelreg.catalog.parse_pool import ParsePool
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


def edit(catalog: Path, run: int, every: bool = False) -> None:
    """Change one model (``every``: all of them), replacing the file atomically (as editors and ConfigMap updates
    do)."""
    text = catalog.read_text()
    if every:
        text = re.sub(r"generated for the benchmark(?: \(run \d+\))?", f"generated for the benchmark (run {run})", text)
    else:
        text = re.sub(r"Model 7(?: \(edit \d+\))?,", f"Model 7 (edit {run}),", text, count=1)
    staged = catalog.with_suffix(".tmp")
    staged.write_text(text)
    os.replace(staged, catalog)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of this process (worker processes' CPU not included)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def work_loop(seconds: float, stop: threading.Event | None = None) -> tuple[list[float], int]:
    """Small units of Python work (filtering a list of rows); returns each unit's seconds, sorted."""
    rows = [(f"m{i}", i % 97) for i in range(200)]
    units: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not (stop and stop.is_set()):
        start = time.perf_counter()
        sum(1 for name, score in rows if score > 50 and "9" in name)
        units.append(time.perf_counter() - start)
    units.sort()
    return units, len(units)


def describe(units: list[float], took: float) -> str:
    p50, p99 = units[len(units) // 2], units[min(len(units) - 1, int(len(units) * 0.99))]
    return (
        f"p50 {p50 * 1e6:.0f} us, p99 {p99 * 1e6:.0f} us, slowest {units[-1] * 1000:.1f} ms, "
        f"{len(units) / took:.0f} units/s"
    )


def loads(sources: Path, catalog: Path, runs: int, pool: ParsePool | None) -> None:
    results: dict[str, list[tuple[float, float]]] = {"cold load": [], "reload, one model": [], "reload, all": []}
    for run in range(runs):
        loader = CatalogLoader(pool=pool)
        config: list[CatalogConfig] = []
        results["cold load"].append(timed(lambda: config.append(loader.load([sources]))))  # noqa: B023
        edit(catalog, run)
        results["reload, one model"].append(timed(lambda: config.append(loader.load([sources], config[-1]))))  # noqa: B023
        edit(catalog, run, every=True)
        results["reload, all"].append(timed(lambda: config.append(loader.load([sources], config[-1]))))  # noqa: B023
    where = "with parse workers" if pool is not None else "in the calling thread"
    for label, timings in results.items():
        print(
            f"{label:18} {where:22} median wall {statistics.median(r[0] for r in timings):.2f} s, "
            f"this process's cpu {statistics.median(r[1] for r in timings):.2f} s  (load {os.getloadavg()[0]:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-pool", action="store_true", help="skip the runs with parse worker processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sources, catalog = generate(Path(tmp), args.models)
        print(f"catalog: {args.models} models, {catalog.stat().st_size / 1e6:.1f} MB; {os.cpu_count()} cores")
        if not args.no_pool:
            pool = ParsePool()
            try:
                loads(sources, catalog, args.runs, pool)
            finally:
                pool.close()
        loads(sources, catalog, args.runs, None)

        idle, _ = work_loop(2.0)
        print(f"main thread, idle:              {describe(idle, 2.0)}")
        reloaded = threading.Event()
        watcher = SourcesWatcher([sources], 0.05, lambda _config: reloaded.set())
        watcher.start()
        for run in range(args.runs):
            reloaded.clear()
            edit(catalog, 100 + run, every=True)
            started = time.perf_counter()
            units, _ = work_loop(60.0, reloaded)
            took = time.perf_counter() - started
            print(
                f"main thread, during a {took:.2f} s reload: {describe(units, took)}  (load {os.getloadavg()[0]:.1f})"
            )
        watcher.stop()


if __name__ == "__main__":
    main()

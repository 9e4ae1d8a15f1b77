"""Backstage bridge at 10,000 model versions: export in both formats, `/bridge/list` latency, change-to-visible.

    .venv/bin/python bench/bridge.py [--models 5000] [--per-model 2] [--runs 5] [--changes 20]

Seeding: in-process through the services layer (`services.entities.create` / `create_linked_artifact`, the code
the REST handlers call, audit records included), many entities per write transaction instead of one HTTP request
each. Every model carries realistic custom properties; every fourth version is deployed (an inference service with
a `url`). Then:

1. export: the in-process equivalent of `modelreg bridge export` for both formats: a full resync into empty bridge
   tables (normalize + render JSON and YAML + insert), then writing both trees of files (target ≤ 5 s); also the
   steady-state resync (nothing changed), the real CLI (`modelreg bridge export`, a subprocess: interpreter start,
   resync, write) per format, and the directory output (`bridge.output_dir`) cold and unchanged;
2. `GET /bridge/list` against a real `modelreg serve` subprocess on that database: p50/p95 over 200 requests per
   run on one keep-alive connection (target p50 ≤ 50 ms);
3. change-to-visible: register (model + version), update (description) and archive (version) through the registry
   REST API, timed from sending the request until `/bridge/list` (register, archive) or the version's document
   (update) shows it (target ≤ 1 s).
Figures are medians over `--runs` runs; a table with PASS/FAIL per target goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete

from modelreg.auth import context
from modelreg.bridge import store
from modelreg.bridge.outputs import DirectoryOutput, write_documents
from modelreg.bridge.sync import BridgeSync
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.db.tables import bridge_records
from modelreg.services import entities as e
from modelreg.services.properties import PropValue
from modelreg.services.registry import create_linked_artifact

API = "/api/model_registry/v1alpha3"
CHUNK = 250  # models per write transaction while seeding


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def s(value: str) -> PropValue:
    return PropValue("string", value)


def seed(db: Database, models: int, per_model: int) -> None:
    with db.write() as conn:
        env = e.create(conn, e.SERVING_ENVIRONMENT, {"name": "models"}, {})
    env_id = env.row["id"]
    n = 0
    for start in range(0, models, CHUNK):
        with db.write() as conn:
            for m in range(start, min(start + CHUNK, models)):
                model = e.create(
                    conn,
                    e.REGISTERED_MODEL,
                    {"name": f"team_{m % 20}/model {m}", "owner": "kube:admin", "description": f"Model {m}"},
                    {
                        "License": s("https://www.apache.org/licenses/LICENSE-2.0"),
                        "Provider": s("RHOAI"),
                        "team": s(f"team-{m % 20}"),
                        "Homepage URL": s(f"https://models.example.com/{m}"),
                    },
                )
                model_id = model.row["id"]
                for j in range(per_model):
                    version = e.create(
                        conn,
                        e.MODEL_VERSION,
                        {"name": f"v{j}.0", "registered_model_id": model_id, "description": "A version"},
                        {
                            "How to use": s("pip install the-client; call /v1/predict"),
                            "Usage": s("Fraud scoring for card payments"),
                            "Training": s("Trained on 2024 transactions"),
                            "Ethics": s("No personal data"),
                            "Support": s("#ml-platform"),
                            "API Type": s("openapi"),
                            "framework": s("onnx"),
                            "gpu": PropValue("bool", n % 3 == 0),
                        },
                        model_id,
                    )
                    version_id = version.row["id"]
                    create_linked_artifact(
                        conn,
                        "model_version",
                        version_id,
                        "model-artifact",
                        {"name": "weights", "uri": f"s3://models/{m}/{j}/model.onnx", "model_format_name": "onnx"},
                        {"precision": s("fp16")},
                    )
                    if n % 4 == 0:
                        e.create(
                            conn,
                            e.INFERENCE_SERVICE,
                            {
                                "name": f"svc-{m}-{j}",
                                "serving_environment_id": env_id,
                                "registered_model_id": model_id,
                                "model_version_id": version_id,
                                "runtime": f"model-{m}-{j}",
                                "desired_state": "DEPLOYED",
                            },
                            {"url": s(f"https://model-{m}-{j}.apps.example.com")},
                            env_id,
                        )
                    n += 1


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def write_tree(db: Database, fmt: store.Format, directory: Path) -> int:
    """What `modelreg bridge export` does after its resync."""
    with db.read() as conn:
        return write_documents(store.all_documents(conn, fmt), directory)


def bench_export(db: Database, url: str, work: Path, runs: int) -> dict[str, list[float]]:
    """Trees are kept until the end: deleting 10,000 files between runs loads the file system's journal and slows
    the next run's writes several-fold on a busy disk. The CLI runs once (its resync is the steady one above)."""
    out: dict[str, list[float]] = {k: [] for k in ("cold", "resync", "json", "yaml", "cli_json", "cli_yaml")}
    out |= {"dir_cold": [], "dir_steady": []}
    modelreg = [sys.executable, "-m", "modelreg"]
    for run in range(runs):
        with db.write() as conn:  # empty bridge tables: the first export of a fresh database
            conn.execute(delete(bridge_records))
        store.YAML_CACHE.clear()  # the YAML tree below renders every model, as a fresh process would
        out["cold"].append(timed(BridgeSync(db).full_sync))
        out["resync"].append(timed(BridgeSync(db).full_sync))
        for fmt in ("json", "yaml"):
            target = work / f"export-{fmt}-{run}"
            out[fmt].append(timed(lambda t=target, f=fmt: write_tree(db, f, t)))  # type: ignore[misc]
            if run == 0:
                cli = work / f"cli-{fmt}"
                command = [*modelreg, "bridge", "export", "--format", fmt, "--database-url", url, str(cli)]
                out[f"cli_{fmt}"].append(timed(lambda c=command: subprocess.run(c, check=True, capture_output=True)))  # type: ignore[misc]
        output = DirectoryOutput(work / f"gitops-{run}", "json")
        with db.read() as conn:
            docs = list(store.all_documents(conn, "json"))
        out["dir_cold"].append(timed(lambda o=output, d=docs: o.publish(d)))  # type: ignore[misc]
        out["dir_steady"].append(timed(lambda o=output, d=docs: o.publish(d)))  # type: ignore[misc]
        log(
            f"  export run {run + 1}: cold resync {out['cold'][-1]:.2f} s, write json {out['json'][-1]:.2f} s, "
            f"yaml {out['yaml'][-1]:.2f} s"
        )
    return out


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.005) -> float:
    """Seconds until `check()` holds; raises after `timeout`."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if check():
            return time.perf_counter() - started
        time.sleep(interval)
    raise TimeoutError("the change did not become visible")


def bench_serve(url: str, expected: int, runs: int, changes: int, work: Path) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = open(work / "server.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg", "serve", "--port", str(port), "--database-url", url],
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            started = time.perf_counter()
            while True:
                try:
                    if len(http.get("/bridge/list").json()["uris"]) == expected:
                        break
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                if proc.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(f"modelreg serve not ready; see {work / 'server.log'}")
                time.sleep(0.1)
            log(f"  server ready with {expected} URIs after {time.perf_counter() - started:.1f} s")
            p50s, p95s = [], []
            for _ in range(20):
                http.get("/bridge/list")
            for run in range(runs):
                samples = []
                for _ in range(200):
                    t0 = time.perf_counter()
                    response = http.get("/bridge/list")
                    samples.append(time.perf_counter() - t0)
                    response.raise_for_status()
                samples.sort()
                p50s.append(samples[len(samples) // 2])
                p95s.append(samples[int(len(samples) * 0.95)])
                log(f"  /bridge/list run {run + 1}: p50 {p50s[-1] * 1000:.1f} ms, p95 {p95s[-1] * 1000:.1f} ms")
            visible = change_to_visible(http, changes)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        server_log.close()
    return {"p50": p50s, "p95": p95s, "visible": visible}


def change_to_visible(http: httpx.Client, changes: int) -> dict[str, list[float]]:
    """Register, update and archive in turn; each timed from sending the request until it shows on /bridge."""

    def uris() -> set[str]:
        return set(http.get("/bridge/list").json()["uris"])

    out: dict[str, list[float]] = {"register": [], "update": [], "archive": []}
    created: list[tuple[str, str]] = []  # (version id, its URI)
    for i in range(changes):
        kind = ("register", "update", "archive")[i % 3]
        if kind == "register" or not created:
            before = uris()
            t0 = time.perf_counter()
            model = http.post(f"{API}/registered_models", json={"name": f"bench-new-{i}"}).json()
            version = http.post(f"{API}/model_versions", json={"name": "v1", "registeredModelId": model["id"]}).json()
            new: set[str] = set()

            def appeared(before: set[str] = before, new: set[str] = new) -> bool:
                new.update(uris() - before)
                return bool(new)

            wait_for(appeared, 5)
            out["register"].append(time.perf_counter() - t0)
            created.append((version["id"], next(iter(new))))
        elif kind == "update":
            version_id, uri = created[-1]
            before_doc = http.get(f"/bridge{uri}").content
            t0 = time.perf_counter()
            http.patch(f"{API}/model_versions/{version_id}", json={"description": f"updated {i}"}).raise_for_status()
            wait_for(lambda u=uri, b=before_doc: http.get(f"/bridge{u}").content != b, 5)  # type: ignore[misc]
            out["update"].append(time.perf_counter() - t0)
        else:
            version_id, uri = created.pop(0)
            t0 = time.perf_counter()
            http.patch(f"{API}/model_versions/{version_id}", json={"state": "ARCHIVED"}).raise_for_status()
            wait_for(lambda u=uri: u not in uris(), 5)  # type: ignore[misc]
            out["archive"].append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--per-model", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--changes", type=int, default=21)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--export-dir", type=Path, help="where the exported trees go (default: the temporary dir)")
    args = parser.parse_args()
    versions = args.models * args.per_model
    work = Path(tempfile.mkdtemp(prefix="modelreg-bench-bridge-"))
    url = f"sqlite:///{work / 'registry.db'}"
    try:
        db = Database(url)
        migrations.upgrade(db.engine)
        with context.acting_as(context.system("bench")):  # services need a caller; the audit trail names it
            seed_seconds = timed(lambda: seed(db, args.models, args.per_model))
        log(f"seeded {args.models} models, {versions} versions in {seed_seconds:.1f} s (services layer, in-process)")
        export_dir = Path(tempfile.mkdtemp(prefix="modelreg-bench-export-", dir=args.export_dir))
        try:
            export = bench_export(db, url, export_dir, args.runs)
        finally:
            shutil.rmtree(export_dir, ignore_errors=True)
        db.dispose()
        served = bench_serve(url, versions, args.runs, args.changes, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(args, versions, os.cpu_count() or 0, export, served)


def report(args: Any, versions: int, cpus: int, export: dict[str, list[float]], served: dict[str, Any]) -> None:
    med = statistics.median
    both = [c + j + y for c, j, y in zip(export["cold"], export["json"], export["yaml"], strict=True)]
    visible = [v for values in served["visible"].values() for v in values]
    rows: list[tuple[str, str, str, str]] = [
        ("export both formats (cold resync + write JSON + YAML)", f"{med(both):.2f} s", "≤ 5 s", _pf(med(both) <= 5)),
        ("  full resync into empty tables (normalize+render+insert)", f"{med(export['cold']):.2f} s", "", ""),
        ("  steady resync (nothing changed)", f"{med(export['resync']):.2f} s", "", ""),
        ("  write JSON files", f"{med(export['json']):.2f} s", "", ""),
        ("  write YAML files", f"{med(export['yaml']):.2f} s", "", ""),
        ("  CLI `modelreg bridge export --format json`", f"{med(export['cli_json']):.2f} s", "", ""),
        ("  CLI `modelreg bridge export --format yaml`", f"{med(export['cli_yaml']):.2f} s", "", ""),
        (
            "  directory output, first publish / unchanged",
            f"{med(export['dir_cold']):.2f} / {med(export['dir_steady']):.2f} s",
            "",
            "",
        ),
        ("GET /bridge/list p50", f"{med(served['p50']) * 1000:.1f} ms", "≤ 50 ms", _pf(med(served["p50"]) <= 0.05)),
        ("GET /bridge/list p95", f"{med(served['p95']) * 1000:.1f} ms", "", ""),
    ]
    for kind, values in served["visible"].items():
        if values:
            rows.append(
                (
                    f"  change-to-visible {kind} (n={len(values)}) median / max",
                    f"{med(values) * 1000:.0f} / {max(values) * 1000:.0f} ms",
                    "",
                    "",
                )
            )
    rows.append(
        (
            "change-to-visible, all: median / max",
            f"{med(visible) * 1000:.0f} / {max(visible) * 1000:.0f} ms",
            "≤ 1 s",
            _pf(max(visible) <= 1),
        )
    )
    where = args.export_dir or tempfile.gettempdir()
    print(
        f"\nBackstage bridge, {versions} versions ({args.models} models x {args.per_model}), {cpus} CPUs, "
        f"SQLite, medians of {args.runs} runs, files written under {where}\n"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'figure':>16}  {'target':>8}  result")
    for name, figure, target, verdict in rows:
        print(f"{name:<{width}}  {figure:>16}  {target:>8}  {verdict}")


def _pf(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


if __name__ == "__main__":
    main()

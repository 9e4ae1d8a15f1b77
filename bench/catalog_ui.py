#!/usr/bin/env python3
"""Issue 11's speed figures, end to end: the web UI and the catalog API of a real ``modelreg serve``.

    .venv/bin/python bench/catalog_ui.py [--quick] [--models 10000] [--registry-models 10000] [--per-model 10]
                                         [--requests 200] [--reloads 3] [--database-url URL]

Set-up: a sources file with ``--models`` generated catalog models (``catalog_reload.generate``, made varied: eight
name families, one of them ``granite``, eight providers, six tasks), ``--registry-models`` x ``--per-model``
registered versions bulk-inserted (``catalog_registry_source.seed``), ``modelreg seed --demo-users`` with a random
password and a token for ai-developer; then ``modelreg serve --auth password,token`` (one worker, started through
``registry_vs_mlflow.Server``) on a temporary SQLite file, or on ``--database-url`` (an empty MariaDB/PostgreSQL
database). The client logs in through the login form (cookie + CSRF token), as ai-developer.

Measured, one request at a time after a warm-up, ``--requests`` each: p50/p95 of the client's latency and of the
server's own ``Server-Timing: app;dur=`` figure (ui/timing.py; the API has none), and the server's CPU per request:
the catalog page, a search, two filters, a label, a file model's and a registry model's page, ``/registry``, a
registered model, a version, and ``GET /api/model_catalog/v1alpha1/models`` with a filterQuery (with and without
``q``). Then ``--reloads`` times: every model of the catalog file changed and the file replaced, the time until the
API shows the change, while another client loops on the API (its latency during the reload against idle). Last,
the first page load's weight: ``/catalog`` and every asset it references, encoded bodies and headers.

A table (figure, target, met or not) goes to stdout, progress to stderr, everything to bench/results/*.json.
The machine is shared: the "other CPU" column says how busy it was outside the server and this client.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog_registry_source  # bench/: its generators and server launcher
import catalog_reload
import registry_vs_mlflow as rvm

from modelreg.db import migrations
from modelreg.db.database import Database

ROOT = Path(__file__).resolve().parent.parent
CATALOG_API = "/api/model_catalog/v1alpha1"
SOURCE_ID = "bench"
LABEL = "Bench models"
USER = "ai-developer"
FAMILIES = ("granite", "llama", "mistral", "gemma", "phi", "qwen", "nemotron", "bert")
PROVIDERS = ("IBM", "Meta", "Mistral AI", "Google", "Microsoft", "Alibaba", "NVIDIA", "Community")
TASKS = ("text-generation", "summarization", "translation", "feature-extraction", "image-classification", "chat")
API_FILTER = "provider = 'IBM' AND tasks = 'summarization'"
# Issue 11, "Speed" (milliseconds, p50 server time for pages; the API's p50 as the client sees it).
PAGE_TARGET_MS = 100.0
DETAILS_TARGET_MS = 50.0
API_TARGET_MS = 30.0
RELOAD_TARGET_S = 2.0
WEIGHT_TARGET_KB = 300.0
# "without blocking requests": no request during a reload waits more than this (ours: a fraction of the reload).
BLOCKED_MS = 250.0
FULL = {"models": 10_000, "registry_models": 10_000, "per_model": 10, "requests": 200, "warmup": 20, "reloads": 3,
        "idle": 3.0}  # fmt: skip
QUICK = {
    "models": 1_000,
    "registry_models": 100,
    "per_model": 10,
    "requests": 30,
    "warmup": 5,
    "reloads": 1,
    "idle": 1.0,
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ASSET = re.compile(r'<(?:link|script|img)\b[^>]*?\b(?:href|src)="([^"]+)"', re.I)
_TIMING = re.compile(r"app;dur=([0-9.]+)")


def log(message: str) -> None:
    rvm.log(message)


# --- data --------------------------------------------------------------------------------------------------------


def make_catalog(folder: Path, count: int) -> tuple[Path, Path]:
    """``catalog_reload.generate``'s catalog, with names, providers and tasks that searches and filters can tell
    apart (its models all share one provider and one task), and a labelled source."""
    sources, catalog = catalog_reload.generate(folder, count)
    text = catalog.read_text()
    text = re.sub(
        r"^- name: org-\d+/model-(\d+)$",
        lambda m: f"- name: {FAMILIES[int(m[1]) % len(FAMILIES)]}/model-{m[1]}",
        text,
        flags=re.M,
    )
    rng = random.Random(11)  # the same catalog every run, with no pattern shared by names, providers and tasks
    text = re.sub(r"^  provider: Bench$", lambda _: f"  provider: {rng.choice(PROVIDERS)}", text, flags=re.M)
    text = re.sub(r"^  tasks:\n  - text-generation$", lambda _: f"  tasks:\n  - {rng.choice(TASKS)}", text, flags=re.M)
    catalog.write_text(text)
    sources.write_text(
        "model_catalogs:\n"
        f"  - {{id: {SOURCE_ID}, name: Bench, type: yaml, labels: [{LABEL}], "
        "properties: {yamlCatalogPath: catalog.yaml}}\n"
    )
    return sources, catalog


def model_name(i: int) -> str:
    return f"{FAMILIES[i % len(FAMILIES)]}/model-{i:05d}"


def rewrite_every_model(catalog: Path, reload_no: int) -> None:
    """Change every model's description and replace the file atomically (as an editor or a ConfigMap does)."""
    text = re.sub(
        r"^  description: Model (\d+), generated for the benchmark.*$",
        rf"  description: Model \1, generated for the benchmark (reload {reload_no}).",
        catalog.read_text(),
        flags=re.M,
    )
    staged = catalog.with_suffix(".tmp")
    staged.write_text(text)
    os.replace(staged, catalog)


def seed_registry(url: str, models: int, per_model: int) -> None:
    db = Database(url)
    try:
        migrations.upgrade(db.engine)
        catalog_registry_source.seed(db, models, per_model)
    finally:
        db.dispose()


def cli(args: argparse.Namespace, env: dict[str, str], *command: str) -> str:
    done = subprocess.run(
        [str(args.modelreg_bin), *command], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"modelreg {command[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


# --- the client ----------------------------------------------------------------------------------------------------


def login(base: str, password: str) -> httpx.Client:
    """A browser logged in as ai-developer through the login form (its CSRF token and session cookie)."""
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    page = client.get("/login", params={"next": "/catalog"})
    match = _CSRF.search(page.text)
    if page.status_code != 200 or not match:
        raise RuntimeError(f"no login form: {page.status_code} {page.text[:300]}")
    answer = client.post(
        "/login", data={"csrf_token": match[1], "username": USER, "password": password, "next": "/catalog"}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"login failed: {answer.status_code} {answer.text[:300]}")
    return client


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


@dataclass
class Figure:
    name: str
    path: str
    target_ms: float | None  # on the server's p50 (pages) or the client's p50 (API)
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    cpu_ms_per_request: float = 0.0
    other_cpu_pct: float = 0.0
    bytes: int = 0

    @property
    def judged_ms(self) -> float:
        return statistics.median(self.server_ms or self.client_ms)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "target_ms": self.target_ms,
            "requests": len(self.client_ms),
            "client_p50_ms": round(statistics.median(self.client_ms), 2),
            "client_p95_ms": round(pct(self.client_ms, 0.95), 2),
            "server_cpu_ms_per_request": round(self.cpu_ms_per_request, 2),
            "other_cpu_pct": round(self.other_cpu_pct),
            "response_bytes": self.bytes,
        }
        if self.server_ms:
            out["server_p50_ms"] = round(statistics.median(self.server_ms), 2)
            out["server_p95_ms"] = round(pct(self.server_ms, 0.95), 2)
        return out


def found_something(answer: httpx.Response) -> bool:
    """An API page with items, a gallery with model cards, or any other page."""
    if answer.headers.get("content-type", "").startswith("application/json"):
        return bool(answer.json().get("items"))
    if answer.request.url.path == "/catalog":
        return f'href="/catalog/{SOURCE_ID}/models/' in answer.text or 'href="/catalog/registry/models/' in answer.text
    return True


def measure(
    client: httpx.Client,
    server: rvm.Server,
    figure: Figure,
    paths: list[str],
    requests: int,
    warmup: int,
    headers: dict[str, str] | None = None,
) -> Figure:
    """``requests`` GETs one at a time, cycling through ``paths``, after ``warmup`` unmeasured ones (which must
    each find something: a query that matches nothing would measure the cheapest page)."""
    cycle = itertools.cycle(paths)
    for _ in range(max(warmup, len(paths))):
        answer = client.get(next(cycle), headers=headers)
        if answer.status_code != 200 or not found_something(answer):
            raise RuntimeError(f"{figure.name}: GET {answer.request.url} -> {answer.status_code}: {answer.text[:300]}")
    pids = server.pids
    cpu0, busy0, self0 = rvm.cpu_seconds(pids), rvm.machine_busy_seconds(), time.process_time()
    started = time.perf_counter()
    for _ in range(requests):
        path = next(cycle)
        t0 = time.perf_counter()
        answer = client.get(path, headers=headers)
        figure.client_ms.append((time.perf_counter() - t0) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{figure.name}: GET {path} -> {answer.status_code}: {answer.text[:300]}")
        timing = _TIMING.search(answer.headers.get("server-timing", ""))
        if timing:
            figure.server_ms.append(float(timing[1]))
        figure.bytes = len(answer.content)
    wall = time.perf_counter() - started
    server_cpu = rvm.cpu_seconds(pids) - cpu0
    figure.cpu_ms_per_request = server_cpu * 1000 / requests
    other = (rvm.machine_busy_seconds() - busy0) - server_cpu - (time.process_time() - self0)
    figure.other_cpu_pct = max(0.0, 100 * other / wall)
    server_part = f", server p50 {statistics.median(figure.server_ms):.1f} ms" if figure.server_ms else ""
    log(
        f"  {figure.name}: client p50 {statistics.median(figure.client_ms):.1f} ms{server_part}, "
        f"{figure.cpu_ms_per_request:.1f} ms CPU each, other CPU {figure.other_cpu_pct:.0f}%"
    )
    return figure


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.02) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{what}: not after {timeout} s")
        time.sleep(every)
    return time.perf_counter() - started


# --- reload ----------------------------------------------------------------------------------------------------------


class LatencyLoop(threading.Thread):
    """Another client, one API request after the other, recording (start time, latency) until stopped."""

    def __init__(self, base: str, headers: dict[str, str], path: str) -> None:
        super().__init__(name="latency-loop", daemon=True)
        self.client = httpx.Client(base_url=base, headers=headers, timeout=60)
        self.path = path
        self.samples: list[tuple[float, float]] = []
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                status = self.client.get(self.path).status_code
                self.samples.append((t0, (time.perf_counter() - t0) * 1000))
                self.errors += status != 200
        finally:
            self.client.close()

    def between(self, start: float, end: float) -> list[float]:
        return [ms for t0, ms in list(self.samples) if start <= t0 <= end]


def bench_reload(
    base: str, headers: dict[str, str], catalog: Path, count: int, reloads: int, idle: float
) -> dict[str, Any]:
    """Rewrite every model, time until the API shows the change (the watcher polls every
    ``catalog.reload_interval_seconds``, 1 s by default: that wait is part of the figure)."""
    watched = [model_name(0), model_name(count - 1)]
    probe = httpx.Client(base_url=base, headers=headers, timeout=60)
    loop = LatencyLoop(base, headers, f"{CATALOG_API}/models?source={SOURCE_ID}&filterQuery={quote(API_FILTER)}")
    loop.start()
    out: dict[str, Any] = {"visible_after_s": [], "idle_ms": [], "during_ms": []}
    try:
        for n in range(1, reloads + 1):
            time.sleep(idle)  # the idle window (it also lets the previous reload settle)
            idle_end = time.perf_counter()
            out["idle_ms"] += loop.between(idle_end - idle * 0.8, idle_end)
            marker = f"(reload {n})"

            def shown(marker: str = marker) -> bool:
                for name in watched:
                    answer = probe.get(f"{CATALOG_API}/sources/{SOURCE_ID}/models/{name}")
                    if answer.status_code != 200 or marker not in answer.json().get("description", ""):
                        return False
                return True

            started = time.perf_counter()
            rewrite_every_model(catalog, n)
            took = wait_for(shown, 60, "the reloaded catalog")
            out["visible_after_s"].append(took)
            out["during_ms"] += loop.between(started, started + took)
            log(f"  reload {n}: visible after {took:.2f} s")
    finally:
        loop.stop.set()
        loop.join(timeout=60)
        probe.close()
    out["loop_errors"] = loop.errors
    return out


# --- page weight -----------------------------------------------------------------------------------------------------


def response_bytes(answer: httpx.Response) -> int:
    """What came over the wire for ``answer``: status line, headers, encoded body."""
    head = len(f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}\r\n") + 2
    head += sum(len(k) + len(v) + 4 for k, v in answer.headers.raw)
    return head + answer.num_bytes_downloaded


def page_weight(client: httpx.Client) -> dict[str, Any]:
    """``/catalog`` and every asset it references, fetched once each as a browser with an empty cache would."""
    accept = {"accept-encoding": "gzip, deflate, br", "accept": "text/html,*/*"}
    page = client.get("/catalog", headers=accept)
    items = {"/catalog": response_bytes(page)}
    foreign = []
    for url in dict.fromkeys(_ASSET.findall(page.text)):
        url = url.replace("&amp;", "&")
        if url.startswith("data:"):
            continue
        if url.startswith(("http:", "https:", "//")):
            foreign.append(url)
            continue
        answer = client.get(url, headers=accept)
        if answer.status_code != 200:
            raise RuntimeError(f"asset {url} -> {answer.status_code}")
        items[url] = response_bytes(answer)
    return {"items": items, "total_bytes": sum(items.values()), "other_hosts": foreign}


# --- main ---------------------------------------------------------------------------------------------------------


def wait_catalog(base: str, headers: dict[str, str], count: int, registry_models: int) -> float:
    client = httpx.Client(base_url=base, headers=headers, timeout=60)

    def loaded() -> bool:
        for source, name in ((SOURCE_ID, model_name(count - 1)), ("registry", None)):
            path = f"{CATALOG_API}/models?source={source}&pageSize=1" if name is None else None
            answer = client.get(path or f"{CATALOG_API}/sources/{source}/models/{name}")
            if answer.status_code != 200 or (name is None and registry_models and not answer.json().get("items")):
                return False
        return True

    try:
        return wait_for(loaded, 300, "the catalog", every=0.2)
    finally:
        client.close()


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    sources, catalog = make_catalog(work, args.models)
    size_mb, took = catalog.stat().st_size / 1e6, time.perf_counter() - started
    log(f"catalog file: {args.models} models, {size_mb:.1f} MB ({took:.1f} s)")
    data_dir = work / "server"
    data_dir.mkdir()
    db_path = data_dir / "registry.db"
    url = args.database_url or f"sqlite:///{db_path}"
    env = {**os.environ, "MODELREG_DATA_DIR": str(data_dir), "MODELREG_DATABASE_URL": url}
    env.pop("MODELREG_CONFIG", None)
    started = time.perf_counter()
    seed_registry(url, args.registry_models, args.per_model)
    versions = args.registry_models * args.per_model
    log(f"seeded {args.registry_models} registered models, {versions} versions ({time.perf_counter() - started:.1f} s)")
    password = secrets.token_urlsafe(16)
    cli(args, {**env, "MODELREG_DEMO_PASSWORD": password}, "seed", "--demo-users")
    token = cli(args, env, "token", "create", "--user", USER, "--group", "rhoai-users").strip()
    api_headers = {"authorization": f"Bearer {token}"}

    port = rvm.free_port()
    cmd = [
        str(args.modelreg_bin), "serve", "--host", rvm.HOST, "--port", str(port), "--database-url", url,
        "--auth", "password,token", "--catalog-sources", str(sources), "--workers", "1",
    ]  # fmt: skip
    server = rvm.Server("modelreg-ui", "modelreg", 1, port, data_dir, db_path).launch(cmd, env)
    base = f"http://{rvm.HOST}:{port}"
    result: dict[str, Any] = {"command": server.info["command"]}
    try:
        asyncio.run(rvm.wait_ready(server, 300))
        result["catalog_loaded_after_s"] = round(wait_catalog(base, api_headers, args.models, args.registry_models), 2)
        log(f"catalog loaded {result['catalog_loaded_after_s']} s after ready")
        asyncio.run(rvm.settle(server, 30))
        result["figures"], result["weight"], result["reload"] = measure_all(
            args, server, base, password, api_headers, catalog
        )
        result["server_rss_mb"] = server.rss()["total_mb"]
    finally:
        rvm.stop_server(server)
    return result


def measure_all(
    args: argparse.Namespace,
    server: rvm.Server,
    base: str,
    password: str,
    api_headers: dict[str, str],
    catalog: Path,
) -> tuple[list[Figure], dict[str, Any], dict[str, Any]]:
    n, w = args.requests, args.warmup
    step = max(1, args.models // 50)
    file_models = [f"/catalog/{SOURCE_ID}/models/{model_name(i)}" for i in range(0, args.models, step)]
    picks = range(1, args.registry_models + 1, max(1, args.registry_models // 50))
    registry_models = [f"/catalog/registry/models/team-{m % 20}/model-{m}" for m in picks]
    model_pages = [f"/registry/models/{m}" for m in picks]
    version_pages = [
        f"/registry/models/{m}/versions/{(m - 1) * args.per_model + 1 + m % args.per_model}" for m in picks
    ]
    filtered = "/catalog?" + urlencode({"tasks": "summarization", "provider": "IBM"})
    api = f"{CATALOG_API}/models?source={SOURCE_ID}&filterQuery={quote(API_FILTER)}"
    client = login(base, password)
    try:
        figures = []
        for name, paths, target, headers in (
            ("catalog page (first page)", ["/catalog"], PAGE_TARGET_MS, None),
            ("catalog search q=granite", ["/catalog?q=granite"], PAGE_TARGET_MS, None),
            ("catalog filters task + provider", [filtered], PAGE_TARGET_MS, None),
            (f"catalog label {LABEL!r}", ["/catalog?" + urlencode({"label": LABEL})], PAGE_TARGET_MS, None),
            ("file model details", file_models, DETAILS_TARGET_MS, None),
            ("registry model details (catalog)", registry_models, DETAILS_TARGET_MS, None),
            ("/registry (first page)", ["/registry"], None, None),
            ("registered model page", model_pages, None, None),
            ("version page", version_pages, None, None),
            ("API models + filterQuery", [api], API_TARGET_MS, api_headers),
            ("API models + filterQuery + q", [api + "&q=granite"], API_TARGET_MS, api_headers),
        ):  # fmt: skip
            figures.append(measure(client, server, Figure(name, paths[0], target), paths, n, w, headers))
        weight = page_weight(client)
        log(f"  first page load: {weight['total_bytes'] / 1024:.1f} KB in {len(weight['items'])} responses")
    finally:
        client.close()
    reload = bench_reload(base, api_headers, catalog, args.models, args.reloads, args.idle)
    return figures, weight, reload


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return "(no target)"
    return "met" if value <= target else "NOT met"


def report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    figures: list[Figure] = result["figures"]
    print(
        f"\ncatalog + web UI: {args.models} catalog models, {args.registry_models} registered models x "
        f"{args.per_model} versions, {args.requests} requests each, one at a time"
    )
    print(
        f"{'figure':<36}{'client p50/p95 ms':>19}{'server p50/p95 ms':>19}{'CPU ms':>8}{'other':>7}"
        f"{'target':>9}  result"
    )
    for f in figures:
        client = f"{statistics.median(f.client_ms):.1f} / {pct(f.client_ms, 0.95):.1f}"
        server = f"{statistics.median(f.server_ms):.1f} / {pct(f.server_ms, 0.95):.1f}" if f.server_ms else "—"
        target = f"≤ {f.target_ms:.0f} ms" if f.target_ms else "—"
        print(
            f"{f.name:<36}{client:>19}{server:>19}{f.cpu_ms_per_request:>8.1f}{f.other_cpu_pct:>6.0f}%"
            f"{target:>9}  {verdict(f.judged_ms, f.target_ms)}"
        )
    reload = result["reload"]
    visible = statistics.median(reload["visible_after_s"])
    print(
        f"{'reload: every model changed, visible':<36}{'median ' + format(visible, '.2f') + ' s':>19}"
        f"{'max ' + format(max(reload['visible_after_s']), '.2f') + ' s':>19}{'':>15}{'≤ 2 s':>9}  "
        f"{verdict(visible, RELOAD_TARGET_S)}"
    )
    idle, during = reload["idle_ms"], reload["during_ms"]
    worst = max(during) if during else 0.0
    idle_text = f"{statistics.median(idle):.1f} / {pct(idle, 0.99):.1f}"
    print(f"{'API latency idle p50/p99 ms':<36}{idle_text:>19}")
    print(
        f"{'API latency in reload p50/p99/max':<36}"
        f"{format(statistics.median(during), '.1f') + ' / ' + format(pct(during, 0.99), '.1f'):>19}"
        f"{'max ' + format(worst, '.0f') + ' ms':>19}{'':>15}{'< ' + format(BLOCKED_MS, '.0f') + ' ms':>9}  "
        f"{'not blocked' if worst < BLOCKED_MS else 'BLOCKED'}"
    )
    weight = result["weight"]["total_bytes"] / 1024
    print(
        f"{'first page load, KB':<36}{format(weight, '.1f'):>19}{'':>34}{'≤ 300 KB':>9}  "
        f"{verdict(weight, WEIGHT_TARGET_KB)}"
    )
    if result["weight"]["other_hosts"]:
        print(f"assets from other hosts: {result['weight']['other_hosts']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, help="catalog models in the sources' file (10,000)")
    parser.add_argument("--registry-models", type=int, help="registered models (10,000)")
    parser.add_argument("--per-model", type=int, help="versions per registered model (10)")
    parser.add_argument("--requests", type=int, help="measured requests per figure (200)")
    parser.add_argument("--warmup", type=int, help="unmeasured requests first (20)")
    parser.add_argument("--reloads", type=int, help="catalog reloads timed (3)")
    parser.add_argument("--idle", type=float, help="seconds of idle latency measured before each reload (3)")
    parser.add_argument("--quick", action="store_true", help="smaller defaults (1,000 models, 1,000 versions, ...)")
    parser.add_argument("--database-url", help="an empty MariaDB/PostgreSQL database (default: temporary SQLite)")
    parser.add_argument("--modelreg-bin", type=Path, default=Path(sys.executable).parent / "modelreg")
    parser.add_argument("--json", type=Path, help="where to write the results (default: bench/results/)")
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    with tempfile.TemporaryDirectory(prefix="modelreg-catalog-ui-") as work:
        result = run(args, Path(work))
    report(args, result)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.json or rvm.RESULTS_DIR / f"catalog-ui-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        **{k: v for k, v in result.items() if k != "figures"},
        "figures": {f.name: f.summary() for f in result["figures"]},
        "args": {k: str(v) for k, v in vars(args).items()},
        "loadavg": os.getloadavg(),
        "finished_utc": stamp,
    }
    path.write_text(json.dumps(payload, indent=2))
    log(f"results: {path}")


if __name__ == "__main__":
    main()

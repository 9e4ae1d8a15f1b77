#!/usr/bin/env python3
"""Issue 12's speed figures, end to end: a real ``modelreg serve`` deploying to the Kubernetes API emulator.

    .venv/bin/python bench/deploy.py [--quick] [--deploys 20] [--rounds 3] [--changes 24] [--watched 1000] [--models 50]
                                     [--idle-seconds 30] [--idle-windows 3] [--database-url URL] [--parts ...]

Set-up: the emulator (tests/kube_emulator: kmock 0.8 with the API server's rules, the reference CRDs) runs in a
child process of its own (this script with ``--serve-emulator``), so it shares no GIL with the server or with this
client; it answers ``stats`` on its stdin with its request count and the time its handlers took. The platform's
hardware profiles and runtime templates are put into its ``opendatahub`` namespace as a platform would have them.
Then ``modelreg seed --demo-users`` (the Granite demo version), the ``minio-storage`` connection ("MinIO Storage",
``--no-check``), a token for ai-developer, and ``modelreg serve --auth password,token`` (one worker) pointed at the
emulator (``kubernetes.mode=url``) on a temporary SQLite file or ``--database-url`` (an empty MariaDB/PostgreSQL
database).

1. **deploy**: ``--rounds`` rounds of ``--deploys`` deploys (fresh names) through ``POST /api/deploy/v1/deployments``
   mode apply as ai-developer, one at a time, alternately without and with token auth (7 objects instead of 3);
   the answer (201) comes once every object is applied, so the client's latency is the figure. Also: the emulator's
   handler time and request count during each deploy (the server's own share is the rest), the server's and the
   emulator's CPU per deploy, and the undeploy (``DELETE``) that ends each round.
2. **status**: ``--changes`` status changes patched into InferenceServices' ``/status`` over the API as KServe
   would (Loaded with new URLs, then Redeploying, in turn), each timed from the PATCH until
   ``GET /api/deploy/v1/deployments/{id}`` and the UI's ``/deployments/{id}/status`` fragment (logged in through
   the login form) show it, each polled every 20 ms by a thread of its own.
3. **idle**: ``--watched`` InferenceServices with the registry labels (the shape modelreg deploys) of ``--models``
   registered models (a version each, registered through the API), a predictor pod each (the watcher watches those
   too) and a Loaded status, created while the server is stopped; then the server
   is started again and timed until the deployments list shows them all adopted and Loaded (sync), left to settle,
   and its CPU (whole process tree, /proc) measured over ``--idle-windows`` windows of ``--idle-seconds`` with
   nothing changing.

A table (figure, target, met or not) goes to stdout, progress to stderr, everything to bench/results/deploy-*.json.
The machine may be shared: the "other CPU" figures say how busy it was outside the server, the emulator and this
client.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog_ui  # bench/: its login through the form and percentiles
import registry_vs_mlflow as rvm  # bench/: server processes, CPU accounting

from modelreg.deploy import defaults, profile_spec, records
from modelreg.kube import kinds

ROOT = Path(__file__).resolve().parent.parent
API = "/api/deploy/v1"
TOKEN = "t"  # the emulator takes any bearer token
DEPLOY_NAMESPACE = "team-a"
IDLE_NAMESPACE = "bench-idle"
PLATFORM_NAMESPACE = "opendatahub"  # deploy.platform_namespace's default
USER = catalog_ui.USER  # ai-developer: may deploy (developer role)
# Issue 12, "Speed".
DEPLOY_TARGET_MS = 300.0
STATUS_TARGET_S = 2.0
IDLE_TARGET_PCT = 5.0
POLL_S = 0.02
FULL = {"deploys": 20, "rounds": 3, "warmup": 2, "changes": 24, "watched": 1000, "models": 50, "idle_seconds": 30.0,
        "idle_windows": 3}  # fmt: skip
QUICK = {"deploys": 6, "rounds": 1, "warmup": 1, "changes": 6, "watched": 50, "models": 5, "idle_seconds": 5.0,
         "idle_windows": 1}  # fmt: skip
REGISTRY = "/api/model_registry/v1alpha3"
_SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "ownerReferences")


def log(message: str) -> None:
    rvm.log(message)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], unit: str = "ms", digits: int = 1) -> str:
    """p50 / p90 / max of ``values``."""
    if not values:
        return "—"
    text = " / ".join(f"{v:.{digits}f}" for v in (median(values), catalog_ui.pct(values, 0.9), max(values)))
    return f"{text} {unit}".rstrip()


# --- the emulator, in a process of its own ----------------------------------------------------------------------


def serve_emulator() -> None:
    """The child: the emulator with the reference CRDs until stdin closes; ``stats`` on stdin answers a JSON line
    with the requests served so far (watches apart) and the seconds their handlers took."""
    sys.path.insert(0, str(ROOT / "tests"))
    from kube_emulator import reference_crds, running_emulator
    from kube_emulator.server import ApiServer

    stats = {"requests": 0, "busy_s": 0.0, "watches": 0}
    handle = ApiServer.__call__

    async def timed(self: ApiServer, raw: Any) -> Any:
        if raw.query.get("watch") in ("true", "1"):  # a watch lasts as long as it is open: counted apart
            stats["watches"] += 1
            return await handle(self, raw)
        started = time.perf_counter()
        try:
            return await handle(self, raw)
        finally:
            stats["requests"] += 1
            stats["busy_s"] += time.perf_counter() - started

    ApiServer.__call__ = timed  # type: ignore[method-assign]
    namespaces: dict[str, dict[str, str]] = {DEPLOY_NAMESPACE: {}, IDLE_NAMESPACE: {}, PLATFORM_NAMESPACE: {}}
    with running_emulator(crds=reference_crds(), namespaces=namespaces) as emulator:
        print(json.dumps({"url": emulator.url}), flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                print(json.dumps({**stats, "errors": emulator.server_errors[-3:]}), flush=True)


class EmulatorProcess:
    """The bench's side of the child: its URL, its stats, its CPU."""

    def __init__(self, work: Path) -> None:
        self.log_file = (work / "emulator.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-emulator"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            tail = (work / "emulator.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the emulator did not start:\n{tail}")
        self.url = str(json.loads(line)["url"])
        self._lock = threading.Lock()
        log(f"started the Kubernetes emulator (pid {self.proc.pid}, {self.url})")

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self._lock:
            self.proc.stdin.write("stats\n")
            self.proc.stdin.flush()
            return dict(json.loads(self.proc.stdout.readline()))

    def cpu_seconds(self) -> float:
        return rvm.cpu_seconds([self.proc.pid])

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log_file.close()


class Cluster:
    """What a platform and KServe do to the cluster, over the emulator's Kubernetes API."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)

    @staticmethod
    def path(kind: kinds.Kind, namespace: str, name: str = "", sub: str = "") -> str:
        base = f"/apis/{kind.api_version}" if kind.group else f"/api/{kind.version}"
        tail = "".join(f"/{part}" for part in (name, sub) if part)
        return f"{base}/namespaces/{namespace}/{kind.plural}{tail}"

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.post(self.path(kinds.kind_of(obj), obj["metadata"]["namespace"]), json=obj)
        if answer.status_code != 201:
            raise RuntimeError(f"creating {obj['kind']} {obj['metadata']['name']}: {answer.status_code} {answer.text}")
        return dict(answer.json())

    def get(self, kind: kinds.Kind, namespace: str, name: str) -> dict[str, Any] | None:
        answer = self.http.get(self.path(kind, namespace, name))
        return dict(answer.json()) if answer.status_code == 200 else None

    def set_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Set an InferenceService's status (a merge patch of its /status subresource), as KServe's controller does."""
        answer = self.http.patch(
            self.path(kinds.INFERENCE_SERVICE, namespace, name, "status"),
            content=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if answer.status_code != 200:
            raise RuntimeError(f"status of {namespace}/{name}: {answer.status_code} {answer.text}")

    def close(self) -> None:
        self.http.close()


def platform_objects() -> list[dict[str, Any]]:
    """The seed set's hardware profiles and runtime templates, where a connected modelreg reads them."""
    found = [
        profile_spec.profile_object(profile_spec.validate_profile(p), PLATFORM_NAMESPACE) for p in defaults.PROFILES
    ]
    for template in defaults.RUNTIMES:
        placed = copy.deepcopy(template)
        placed["metadata"]["namespace"] = PLATFORM_NAMESPACE
        found.append(placed)
    return found


def loaded(name: str, namespace: str, revision: int) -> dict[str, Any]:
    """A Ready InferenceService's status (RawDeployment), with URLs that name ``revision``."""
    internal = f"http://{name}-predictor-r{revision}.{namespace}.svc.cluster.local"
    ready = [{"type": t, "status": "True", "lastTransitionTime": "2026-12-01T10:00:00Z"}
             for t in ("IngressReady", "PredictorReady", "Ready")]  # fmt: skip
    return {
        "url": f"https://{name}-r{revision}-{namespace}.apps.example.com",
        "address": {"url": internal},
        "components": {"predictor": {"url": internal}},
        "conditions": ready,
        "modelStatus": {
            "transitionStatus": "UpToDate",
            "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
            "copies": {"failedCopies": 0, "totalCopies": 1},
        },
        "deploymentMode": "RawDeployment",
        "observedGeneration": 1,
    }


def redeploying(previous: dict[str, Any]) -> dict[str, Any]:
    """The next revision loading while the last one serves: the status Redeploying."""
    status = copy.deepcopy(previous)
    status["modelStatus"] = {
        "transitionStatus": "InProgress",
        "states": {"activeModelState": "Loaded", "targetModelState": "Loading"},
        "copies": {"failedCopies": 0, "totalCopies": 1},
    }
    return status


# --- the registry server ------------------------------------------------------------------------------------------


@dataclass
class Setup:
    args: argparse.Namespace
    work: Path
    emulator: EmulatorProcess
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    password: str = ""
    token: str = ""
    version_id: str = ""  # the demo version's, once a server has said it


def prepare(args: argparse.Namespace, work: Path, emulator: EmulatorProcess) -> Setup:
    setup = Setup(args, work, emulator)
    data_dir = work / "server"
    data_dir.mkdir()
    setup.url = args.database_url or f"sqlite:///{data_dir / 'registry.db'}"
    setup.env = {
        **os.environ,
        "MODELREG_DATA_DIR": str(data_dir),
        "MODELREG_DATABASE_URL": setup.url,
        "MODELREG_KUBERNETES__MODE": "url",
        "MODELREG_KUBERNETES__API_URL": emulator.url,
        "MODELREG_KUBERNETES__TOKEN": TOKEN,
    }
    setup.env.pop("MODELREG_CONFIG", None)
    cluster = Cluster(emulator.url)
    try:
        for obj in platform_objects():
            cluster.create(obj)
    finally:
        cluster.close()
    setup.password = secrets.token_urlsafe(16)
    catalog_ui.cli(args, {**setup.env, "MODELREG_DEMO_PASSWORD": setup.password}, "seed", "--demo-users")
    catalog_ui.cli(
        args, {**setup.env, "MINIO_SECRET": secrets.token_hex(20)}, "connection", "create", "minio-storage",
        "--type", "s3", "--display-name", "MinIO Storage", "--endpoint", "http://minio.minio.svc:9000",
        "--region", "us-east-1", "--bucket", "models", "--path-style", "--access-key-id", "minio-access-key",
        "--secret-access-key-env", "MINIO_SECRET", "--no-check",
    )  # fmt: skip
    setup.token = catalog_ui.cli(args, setup.env, "token", "create", "--user", USER, "--group", "rhoai-users").strip()
    log("seeded: the demo model, the connection, a token; profiles and runtimes in the cluster")
    return setup


@contextmanager
def running_server(setup: Setup, label: str) -> Iterator[tuple[rvm.Server, httpx.Client, float]]:
    """``modelreg serve`` on the setup's database and emulator; (the server, an API client as ai-developer, the
    monotonic time it was started)."""
    port = rvm.free_port()
    data_dir = Path(setup.env["MODELREG_DATA_DIR"])
    cmd = [
        str(setup.args.modelreg_bin), "serve", "--host", rvm.HOST, "--port", str(port), "--auth", "password,token",
        "--workers", "1",
    ]  # fmt: skip
    started = time.monotonic()
    server = rvm.Server(label, "modelreg", 1, port, data_dir, data_dir / "registry.db").launch(cmd, setup.env)
    client = httpx.Client(
        base_url=f"http://{rvm.HOST}:{port}", headers={"Authorization": f"Bearer {setup.token}"}, timeout=60
    )
    try:
        asyncio.run(rvm.wait_ready(server, 120))
        if not setup.version_id:
            versions = client.get("/api/model_registry/v1alpha3/model_versions").json()["items"]
            setup.version_id = str(versions[0]["id"])  # the seed registers one
        yield server, client, started
    finally:
        client.close()
        rvm.stop_server(server)


# --- 1. deploy ------------------------------------------------------------------------------------------------------


@dataclass
class DeploySample:
    token_auth: bool
    client_ms: float
    emulator_ms: float
    emulator_requests: int


def deploy_body(setup: Setup, name: str, token_auth: bool) -> dict[str, Any]:
    return {
        "modelVersionId": setup.version_id,
        "namespace": DEPLOY_NAMESPACE,
        "hardwareProfile": "nvidia-l4-1gpu",
        "connection": "minio-storage",
        "runtime": "vllm-cuda-runtime",
        "name": name,
        "tokenAuth": token_auth,
        "mode": "apply",
    }


def deploy_one(setup: Setup, client: httpx.Client, name: str, token_auth: bool) -> tuple[dict[str, Any], DeploySample]:
    before = setup.emulator.stats()
    started = time.perf_counter()
    answer = client.post(f"{API}/deployments", json=deploy_body(setup, name, token_auth))
    took = (time.perf_counter() - started) * 1000
    after = setup.emulator.stats()
    if answer.status_code != 201:
        raise RuntimeError(f"deploy {name}: {answer.status_code} {answer.text[:500]}")
    body = answer.json()
    sample = DeploySample(
        token_auth,
        took,
        (after["busy_s"] - before["busy_s"]) * 1000,
        int(after["requests"] - before["requests"]),
    )
    return body, sample


def check_applied(cluster: Cluster, name: str, token_auth: bool) -> None:
    """Everything the deploy said it applied is in the cluster when its answer arrives."""
    wanted = [(kinds.INFERENCE_SERVICE, name), (kinds.SERVING_RUNTIME, name)]
    if token_auth:
        wanted += [(kinds.SERVICE_ACCOUNT, f"{name}-sa"), (kinds.ROLE, f"{name}-view-role")]
    missing = [f"{k.kind} {n}" for k, n in wanted if cluster.get(k, DEPLOY_NAMESPACE, n) is None]
    if missing:
        raise RuntimeError(f"deploy {name} answered before these existed: {missing}")


def bench_deploys(setup: Setup, server: rvm.Server, client: httpx.Client) -> dict[str, Any]:
    args = setup.args
    cluster = Cluster(setup.emulator.url)
    samples: list[DeploySample] = []
    undeploy_ms: list[float] = []
    rounds: list[dict[str, Any]] = []
    try:
        for i in range(args.warmup):  # the first deploy reads the cluster's CRDs for validation, and so on
            body, _ = deploy_one(setup, client, f"warmup-{i}", i % 2 == 1)
            client.delete(f"{API}/deployments/{body['id']}").raise_for_status()
        for round_no in range(1, args.rounds + 1):
            ids: list[str] = []
            cpu0, emu0, busy0, self0 = (
                rvm.cpu_seconds(server.pids), setup.emulator.cpu_seconds(), rvm.machine_busy_seconds(),
                time.process_time(),
            )  # fmt: skip
            wall0 = time.perf_counter()
            this_round: list[DeploySample] = []
            for i in range(args.deploys):
                token_auth = i % 2 == 1
                name = f"bench-r{round_no}-{i:03d}"
                body, sample = deploy_one(setup, client, name, token_auth)
                check_applied(cluster, name, token_auth)
                ids.append(str(body["id"]))
                this_round.append(sample)
                time.sleep(args.pause)  # one person's deploy, not a burst: the watcher's follow-up lands first
            wall = time.perf_counter() - wall0
            server_cpu = rvm.cpu_seconds(server.pids) - cpu0
            emulator_cpu = setup.emulator.cpu_seconds() - emu0
            other = rvm.machine_busy_seconds() - busy0 - server_cpu - emulator_cpu - (time.process_time() - self0)
            for deployment_id in ids:
                started = time.perf_counter()
                client.delete(f"{API}/deployments/{deployment_id}").raise_for_status()
                undeploy_ms.append((time.perf_counter() - started) * 1000)
            samples += this_round
            summary = {
                "round": round_no,
                "p50_ms": round(median([s.client_ms for s in this_round]), 1),
                "p50_no_token_ms": round(median([s.client_ms for s in this_round if not s.token_auth]), 1),
                "p50_token_ms": round(median([s.client_ms for s in this_round if s.token_auth]), 1),
                "server_cpu_ms_per_deploy": round(server_cpu * 1000 / args.deploys, 1),
                "emulator_cpu_ms_per_deploy": round(emulator_cpu * 1000 / args.deploys, 1),
                "other_cpu_pct": round(max(0.0, 100 * other / wall)),
            }
            rounds.append(summary)
            log(
                f"  deploy round {round_no}: p50 {summary['p50_ms']} ms (no token {summary['p50_no_token_ms']}, "
                f"token {summary['p50_token_ms']}), server CPU {summary['server_cpu_ms_per_deploy']} ms/deploy, "
                f"emulator CPU {summary['emulator_cpu_ms_per_deploy']} ms/deploy, other CPU {summary['other_cpu_pct']}%"
            )
    finally:
        cluster.close()
    out: dict[str, Any] = {"rounds": rounds, "undeploy_ms": undeploy_ms, "samples": [vars(s) for s in samples]}
    for key, chosen in (("no_token", False), ("token", True)):
        picked = [s for s in samples if s.token_auth is chosen]
        out[key] = {
            "client_ms": [round(s.client_ms, 2) for s in picked],
            "emulator_ms": [round(s.emulator_ms, 2) for s in picked],
            "server_share_ms": [round(s.client_ms - s.emulator_ms, 2) for s in picked],
            "emulator_requests": [s.emulator_requests for s in picked],
        }
    return out


# --- 2. status changes ------------------------------------------------------------------------------------------


def bench_status(setup: Setup, client: httpx.Client, base: str) -> dict[str, Any]:
    """Deploy a few, then patch their status in turn and poll the API and the UI fragment until each shows."""
    args = setup.args
    cluster = Cluster(setup.emulator.url)
    browser = catalog_ui.login(base, setup.password)
    names = [f"bench-status-{i}" for i in range(4)]
    ids = {name: str(deploy_one(setup, client, name, False)[0]["id"]) for name in names}
    current: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {"api_s": [], "ui_s": [], "changes": []}
    pollers = ThreadPoolExecutor(2, thread_name_prefix="poll")
    try:
        for n in range(args.changes):
            name = names[n % len(names)]
            revision = n // len(names)
            if name in current and current[name]["modelStatus"]["states"]["targetModelState"] == "Loaded":
                status, state, marker = redeploying(current[name]), "Redeploying", ">Redeploying<"
            else:
                status, state = loaded(name, DEPLOY_NAMESPACE, revision), "Loaded"
                marker = f"<code>{status['address']['url']}</code>"
            current[name] = status
            api_path, ui_path = f"{API}/deployments/{ids[name]}", f"/deployments/{ids[name]}/status"

            def api_shows(state: str = state, url: str = status["address"]["url"], path: str = api_path) -> bool:
                found = client.get(path).json()
                return bool(found.get("status") == state and found.get("internalUrl") == url)

            def ui_shows(marker: str = marker, path: str = ui_path) -> bool:
                return marker in browser.get(path).text

            started = time.perf_counter()
            cluster.set_status(DEPLOY_NAMESPACE, name, status)
            # two pollers side by side: one after the other, the second would be a few ms late on every tick
            polls = [pollers.submit(poll_until, check, started, 30) for check in (api_shows, ui_shows)]
            api_s, ui_s = (poll.result() for poll in polls)
            out["api_s"].append(api_s)
            out["ui_s"].append(ui_s)
            out["changes"].append({"deployment": name, "to": state, "api_s": round(api_s, 3), "ui_s": round(ui_s, 3)})
            log(f"  status {n + 1}: {name} → {state}: API after {api_s * 1000:.0f} ms, UI after {ui_s * 1000:.0f} ms")
            time.sleep(args.pause)
        for deployment_id in ids.values():
            client.delete(f"{API}/deployments/{deployment_id}").raise_for_status()
    finally:
        pollers.shutdown()
        browser.close()
        cluster.close()
    return out


def poll_until(check: Callable[[], bool], started: float, timeout: float) -> float:
    """Ask every ``POLL_S`` until ``check()`` says yes; the seconds from ``started`` to that answer."""
    while True:
        tick = time.perf_counter()
        if check():
            return time.perf_counter() - started
        if tick - started > timeout:
            raise TimeoutError(f"a status change not shown after {timeout} s")
        time.sleep(max(0.0, POLL_S - (time.perf_counter() - tick)))


# --- 3. idle with many InferenceServices --------------------------------------------------------------------------


def register_models(client: httpx.Client, count: int) -> list[tuple[str, str, str]]:
    """``count`` registered models with a version each, for the watched InferenceServices to spread over:
    (registered model id, version id, version name)."""
    found = []
    for i in range(count):
        model = client.post(f"{REGISTRY}/registered_models", json={"name": f"bench-watched-{i:03d}"})
        model.raise_for_status()
        model_id = model.json()["id"]
        body = {"name": "v1", "registeredModelId": model_id}
        version = client.post(f"{REGISTRY}/registered_models/{model_id}/versions", json=body)
        version.raise_for_status()
        found.append((str(model_id), str(version.json()["id"]), "v1"))
    return found


def populate(setup: Setup, template: dict[str, Any], versions: list[tuple[str, str, str]]) -> float:
    """``--watched`` InferenceServices shaped like ``template`` (one modelreg deployed), spread over ``versions``,
    a predictor pod each and a Loaded status; the seconds it took."""
    cluster = Cluster(setup.emulator.url)
    started = time.perf_counter()
    try:
        for i in range(setup.args.watched):
            name = f"idle-{i:04d}"
            isvc = copy.deepcopy(template)
            metadata = isvc["metadata"]
            for key in _SERVER_METADATA:
                metadata.pop(key, None)
            metadata.update(name=name, namespace=IDLE_NAMESPACE)
            model_id, version_id, version_name = versions[i % len(versions)]
            metadata["labels"].pop(records.INFERENCE_SERVICE_LABEL, None)
            metadata["labels"].update(
                {records.REGISTERED_MODEL_LABEL: model_id, records.MODEL_VERSION_LABEL: version_id}
            )
            metadata["annotations"]["modelregistry.opendatahub.io/model-version-name"] = version_name
            isvc.pop("status", None)
            cluster.create(isvc)
            cluster.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{name}-predictor-0",
                        "namespace": IDLE_NAMESPACE,
                        "labels": {"serving.kserve.io/inferenceservice": name, "component": "predictor"},
                    },
                    "spec": {"containers": [{"name": "kserve-container", "image": defaults.VLLM_CUDA_IMAGE}]},
                }
            )
            cluster.set_status(IDLE_NAMESPACE, name, loaded(name, IDLE_NAMESPACE, 1))
    finally:
        cluster.close()
    return time.perf_counter() - started


def adopted_and_loaded(client: httpx.Client) -> int:
    """How many deployments in the idle namespace are Loaded (the deployments list, every page)."""
    count, token = 0, None
    while True:
        params: dict[str, Any] = {"namespace": IDLE_NAMESPACE, "pageSize": 500}
        if token:
            params["nextPageToken"] = token
        page = client.get(f"{API}/deployments", params=params).json()
        count += sum(1 for item in page["items"] if item.get("status") == "Loaded")
        token = page.get("nextPageToken")
        if not token:
            return count


def bench_idle(setup: Setup, template: dict[str, Any], versions: list[tuple[str, str, str]]) -> dict[str, Any]:
    args = setup.args
    took = populate(setup, template, versions)
    log(
        f"  {args.watched} InferenceServices of {len(versions)} versions, their pods and statuses created in the "
        f"emulator ({took:.1f} s)"
    )
    out: dict[str, Any] = {"watched": args.watched, "versions": len(versions), "populate_s": round(took, 1)}
    out["windows"] = []
    with running_server(setup, "modelreg-idle") as (server, client, started):
        out["ready_after_s"] = round(time.monotonic() - started, 2)
        while (found := adopted_and_loaded(client)) < args.watched:
            if time.monotonic() - started > 600:
                raise TimeoutError(f"only {found} of {args.watched} adopted after 600 s")
            time.sleep(0.2)
        out["synced_after_s"] = round(time.monotonic() - started, 2)
        log(f"  all {args.watched} adopted and Loaded {out['synced_after_s']} s after the server started")
        asyncio.run(rvm.settle(server, 120, idle_cores=0.05))
        out["settled_after_s"] = server.info.get("settled_after_s")
        for n in range(args.idle_windows):
            window = measure_idle(setup, server, args.idle_seconds)
            out["windows"].append(window)
            log(
                f"  idle window {n + 1}: server {window['server_pct']:.2f}% of a core, emulator "
                f"{window['emulator_pct']:.2f}%, {window['emulator_requests']} API requests and "
                f"{window['watches_started']} watches resumed, other CPU "
                f"{window['other_cpu_pct']:.0f}%"
            )
        out["server_rss_mb"] = server.rss()["total_mb"]
        out["still_loaded"] = adopted_and_loaded(client)
    return out


def measure_idle(setup: Setup, server: rvm.Server, seconds: float) -> dict[str, Any]:
    pids = server.pids
    stats0 = setup.emulator.stats()
    cpu0, emu0, busy0, self0 = (
        rvm.cpu_seconds(pids), setup.emulator.cpu_seconds(), rvm.machine_busy_seconds(), time.process_time(),
    )  # fmt: skip
    started = time.perf_counter()
    time.sleep(seconds)
    wall = time.perf_counter() - started
    server_cpu = rvm.cpu_seconds(pids) - cpu0
    emulator_cpu = setup.emulator.cpu_seconds() - emu0
    other = rvm.machine_busy_seconds() - busy0 - server_cpu - emulator_cpu - (time.process_time() - self0)
    stats = setup.emulator.stats()
    return {
        "seconds": round(wall, 2),
        "server_pct": round(100 * server_cpu / wall, 3),
        "emulator_pct": round(100 * emulator_cpu / wall, 3),
        "emulator_requests": int(stats["requests"] - stats0["requests"]),
        "watches_started": int(stats["watches"] - stats0["watches"]),
        "other_cpu_pct": round(max(0.0, 100 * other / wall), 1),
    }


# --- main ---------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    emulator = EmulatorProcess(work)
    result: dict[str, Any] = {}
    try:
        setup = prepare(args, work, emulator)
        template: dict[str, Any] | None = None
        versions: list[tuple[str, str, str]] = []
        if args.parts:
            with running_server(setup, "modelreg") as (server, client, _):
                result["command"] = server.info["command"]
                base = str(client.base_url).rstrip("/")
                if "deploy" in args.parts:
                    result["deploy"] = bench_deploys(setup, server, client)
                if "status" in args.parts:
                    result["status"] = bench_status(setup, client, base)
                if "idle" in args.parts:
                    body, _ = deploy_one(setup, client, "idle-template", True)
                    cluster = Cluster(emulator.url)
                    template = cluster.get(kinds.INFERENCE_SERVICE, DEPLOY_NAMESPACE, "idle-template")
                    cluster.close()
                    client.delete(f"{API}/deployments/{body['id']}").raise_for_status()
                    versions = register_models(client, args.models)
        if "idle" in args.parts:
            assert template is not None
            result["idle"] = bench_idle(setup, template, versions)
        result["emulator_errors"] = emulator.stats()["errors"]
    finally:
        emulator.stop()
    return result


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def row(label: str, value: str, target: str = "", result: str = "") -> None:
    print(f"{label:<56}{value:>26}{target:>10}  {result}".rstrip())


def report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    backend = (args.database_url or "sqlite").split(":", 1)[0]
    print(f"\ndeploy to the Kubernetes emulator: modelreg serve (1 worker, {backend}), emulator in its own process")
    row("figure", "p50 / p90 / max", "target", "result")
    deploy = result.get("deploy")
    if deploy:
        for key, label in (("no_token", "without token auth"), ("token", "with token auth")):
            part = deploy[key]
            if part["client_ms"]:
                met = verdict(median(part["client_ms"]) <= DEPLOY_TARGET_MS)
                row(f"deploy {label}: client latency", spread(part["client_ms"]), "≤ 300 ms", met)
                row("  in the emulator's handlers", spread(part["emulator_ms"]))
                row("  the rest: the server's own share", spread(part["server_share_ms"]))
                row("  Kubernetes API requests during it", spread(part["emulator_requests"], "", 0))
        rounds = deploy["rounds"]
        row(
            "server CPU per deploy (median of rounds)",
            f"{median([r['server_cpu_ms_per_deploy'] for r in rounds]):.1f} ms",
        )
        row("emulator CPU per deploy", f"{median([r['emulator_cpu_ms_per_deploy'] for r in rounds]):.1f} ms")
        row("undeploy (DELETE): client latency", spread(deploy["undeploy_ms"]))
    status = result.get("status")
    if status:
        for key, label in (("api_s", "API GET /deployments/{id}"), ("ui_s", "UI /deployments/{id}/status")):
            values = status[key]
            met = verdict(max(values) <= STATUS_TARGET_S)
            row(f"status change visible: {label}", spread([v * 1000 for v in values]), "≤ 2 s", met)
    idle = result.get("idle")
    if idle:
        pcts = [w["server_pct"] for w in idle["windows"]]
        met = verdict(max(pcts) < IDLE_TARGET_PCT)
        value = f"{median(pcts):.2f} (max {max(pcts):.2f}) %"
        row(f"idle, {idle['watched']} watched ({idle['versions']} versions): server CPU, %", value, "< 5%", met)
        windows = idle["windows"]
        row("  Kubernetes API requests per idle window", spread([w["emulator_requests"] for w in windows], "", 0))
        row("  watches resumed per idle window", spread([w["watches_started"] for w in windows], "", 0))
        row("  sync: server started → all adopted and Loaded", f"{idle['synced_after_s']:.1f} s")
        row("  server RSS after", f"{idle['server_rss_mb']:.0f} MB")
    if result.get("emulator_errors"):
        print("WARNING: the emulator failed itself (its last tracebacks are in the JSON: emulator_errors)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deploys", type=int, help="deploys per round (20), alternately without and with token auth")
    parser.add_argument("--rounds", type=int, help="deploy rounds, each followed by undeploying its deployments (3)")
    parser.add_argument("--warmup", type=int, help="unmeasured deploys first (2)")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between two deploys or status changes")
    parser.add_argument("--changes", type=int, help="status changes timed (24)")
    parser.add_argument("--watched", type=int, help="InferenceServices for the idle figure (1,000)")
    parser.add_argument("--models", type=int, help="registered models (a version each) they deploy (50)")
    parser.add_argument("--idle-seconds", type=float, help="length of one idle CPU window (30)")
    parser.add_argument("--idle-windows", type=int, help="idle windows measured (3)")
    parser.add_argument("--parts", default="deploy,status,idle", help="which parts to run (deploy,status,idle)")
    parser.add_argument("--quick", action="store_true", help="a smoke run (~20 s)")
    parser.add_argument("--database-url", help="an empty MariaDB/PostgreSQL database (default: temporary SQLite)")
    parser.add_argument("--modelreg-bin", type=Path, default=Path(sys.executable).parent / "modelreg")
    parser.add_argument("--json", type=Path, help="where to write the results (default: bench/results/)")
    args = parser.parse_args()
    if args.serve_emulator:
        serve_emulator()
        return
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    with tempfile.TemporaryDirectory(prefix="modelreg-deploy-bench-") as work:
        result = run(args, Path(work))
    report(args, result)
    log(f"results: {save(args, result)}")


def save(args: argparse.Namespace, result: dict[str, Any]) -> Path:
    """Every sample, the options, the commit and the load average, as JSON (bench/results/ unless ``--json``)."""
    finished = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    result.update(
        options={k: sorted(v) if isinstance(v, set) else str(v) for k, v in vars(args).items()},
        git=head.stdout.strip(),
        loadavg=os.getloadavg(),
        finished_utc=finished,
    )
    target: Path = args.json or rvm.RESULTS_DIR / f"deploy-{finished}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2))
    return target


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The cost of authentication, authorization and audit in CPU instructions, which unlike seconds do not depend on
what else the (shared, noisy) machine is doing: each server runs under ``valgrind --tool=callgrind`` and a
sequential client sends the same requests to each; the server's instruction count per operation is read with
``callgrind_control`` around the measured requests only (start-up and warm-up are zeroed out).

Servers as in ``governance_overhead.py``: ``off`` (``--baseline-ref``, before governance), ``local`` (no
credentials, audit on), ``on`` (``--auth token``, a developer's token on every request).

    .venv/bin/python bench/governance_instructions.py          # about 5 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import governance_overhead as go  # noqa: E402
import registry_vs_mlflow as rb  # noqa: E402

PREFIX = rb.PREFIX


def serve(
    label: str, tmp: Path, pythonpath: str | None, auth: bool
) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    data = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=tmp))
    db_url = f"sqlite:///{data / 'registry.db'}"
    env = {**os.environ, "MODELREG_DATA_DIR": str(data)}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    headers = go.developer_token(sys.executable, env, db_url) if auth else {}
    cli = [sys.executable, "-m", "modelreg"]
    subprocess.run([*cli, "db", "upgrade", "--database-url", db_url], check=True, env=env, capture_output=True)
    port = rb.free_port()
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={data}/cg.%p",
        sys.executable,
        "-m",
        "modelreg",
        "serve",
        "--port",
        str(port),
        "--database-url",
        db_url,
        *(["--auth", "token"] if auth else []),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz/health", timeout=5).status_code == 200:
                return proc, url, headers
        except httpx.HTTPError:
            time.sleep(1)
    raise RuntimeError(f"{label} did not start under valgrind")


def measure(url: str, headers: dict[str, str]) -> dict[str, Callable[[], None]]:
    client = httpx.Client(base_url=f"{url}{PREFIX}", headers=headers, timeout=120)
    counter = iter(range(10**9))

    def chain() -> None:
        i = next(counter)
        rm = client.post("/registered_models", json={"name": f"m{i}"}).json()
        mv = client.post(
            f"/registered_models/{rm['id']}/versions", json={"name": "1.0.0", "registeredModelId": rm["id"]}
        ).json()
        client.post(
            f"/model_versions/{mv['id']}/artifacts", json={**rb.ARTIFACT_BODY, "name": f"m{i}-onnx"}
        ).raise_for_status()

    def get() -> None:
        client.get("/registered_models/1").raise_for_status()

    return {"registration": chain, "get-by-id": get}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-ref", default=go.BASELINE_REF)
    parser.add_argument("--chains", type=int, default=200)
    parser.add_argument("--gets", type=int, default=600)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="modelreg-gov-instr-"))
    base = go.worktree(args.baseline_ref, tmp)
    results: dict[str, dict[str, float]] = {}
    try:
        for label, path, auth in (("off", str(base / "src"), False), ("local", None, False), ("on", None, True)):
            proc, url, headers = serve(label, tmp, path, auth)
            ops = measure(url, headers)
            try:
                for _ in range(30):
                    ops["registration"]()
                    ops["get-by-id"]()
                results[label] = {}
                for name, count in (("registration", args.chains), ("get-by-id", args.gets)):
                    subprocess.run(["callgrind_control", "--zero", str(proc.pid)], capture_output=True, check=True)
                    for _ in range(count):
                        ops[name]()
                    total = read_total(proc.pid)
                    results[label][name] = total / count
                    rb.log(f"{label:<6} {name:<13} {total / count:>12,.0f} instructions per operation")
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    print("\n| workload | off | local | on | on/off | local/off |\n|---|---|---|---|---|---|")
    for name in ("get-by-id", "registration"):
        off, local, on = (results[k][name] for k in ("off", "local", "on"))
        print(f"| {name} | {off:,.0f} | {local:,.0f} | {on:,.0f} | {on / off:.3f} | {local / off:.3f} |")
    rb.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = rb.RESULTS_DIR / f"governance_instructions-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps({"args": vars(args), "instructions_per_op": results}, indent=2))
    rb.log(f"results in {out}")


def read_total(pid: int) -> float:
    """Dump the counters collected since the last ``--zero`` and read their total from the dump file."""
    subprocess.run(["callgrind_control", "--dump", str(pid)], capture_output=True, check=True)
    return float(_latest_dump_total(pid))


def _latest_dump_total(pid: int) -> int:
    files = sorted(Path(tempfile.gettempdir()).glob(f"modelreg-gov-instr-*/*/cg.{pid}*"), key=os.path.getmtime)
    for _ in range(50):
        if files:
            break
        time.sleep(0.2)
        files = sorted(Path(tempfile.gettempdir()).glob(f"modelreg-gov-instr-*/*/cg.{pid}*"), key=os.path.getmtime)
    text = files[-1].read_text(errors="replace")
    match = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
    if not match:
        raise RuntimeError(f"no totals in {files[-1]}")
    return int(match.group(1))


if __name__ == "__main__":
    main()

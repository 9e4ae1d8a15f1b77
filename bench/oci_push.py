"""ModelCar push of one big file against a plain streamed blob upload of the same bytes (curl), same registry.

Target (issue 18): a ModelCar push of 1 GB reaches at least 80% of the throughput of a plain streamed blob upload,
and the modelreg server's memory grows by less than 100 MB.

What runs, all on this machine: Debian's docker-registry (``scripts/setup-oci-registry``) on a free 127.0.0.1 port
with filesystem storage in a temp dir, and per round, interleaved so drift hits all alike:
  (a) curl through the distribution API: POST an upload, one PATCH of the file with a chunked body (``-T``), PUT
      ``?digest=`` (the digest computed once beforehand: curl does not hash);
  (b) ``ModelCarPush.add_file`` of the file in this process (tar header, file, padding; two SHA-256s on the way)
      and ``finish`` (config, manifests, index: the base image's blobs are there after the first round);
  (c) unless ``--no-server``: ``modelreg upload`` (CLI subprocess, timed start to exit) through ``modelreg serve``
      with an ``oci`` connection; its VmRSS is sampled every 10 ms. Skipped with the reason if it fails.
  (d) the same upload through the same server with the SDK (``ModelRegistry.upload``) from this process: (c) without
      the CLI's interpreter start (about 0.3 s here).
Each round pushes to its own repositories, the file under a new name (so its layer is new: nothing is skipped).

    .venv/bin/python bench/oci_push.py                     # 1 GB, 3 rounds
    .venv/bin/python bench/oci_push.py --size-mb 256 --repeats 1
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from upload_end_to_end import Sampler  # noqa: E402
from upload_vs_boto3 import free_port, make_file, wait_until_answers  # noqa: E402

from modelreg.blobs.oci import OciStore  # noqa: E402
from modelreg.client import ModelRegistry  # noqa: E402
from oci_registry import BINARY, OciRegistry, start_registry  # noqa: E402

MB = 1024 * 1024
MODELREG = [sys.executable, "-m", "modelreg"]


def curl_upload(registry: OciRegistry, repository: str, path: Path, digest: str) -> float:
    """Seconds for POST + one chunked PATCH of the file + PUT ?digest, with curl."""
    t0 = time.perf_counter()
    started = httpx.post(f"{registry.url}/v2/{repository}/blobs/uploads/")
    location = httpx.URL(registry.url).join(started.headers["location"])
    patched = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-D", "-", "-X", "PATCH", "-H", "Content-Type: application/octet-stream",
         "-H", "Transfer-Encoding: chunked", "-T", str(path), str(location)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    where = next(
        line.split(":", 1)[1].strip() for line in patched.stdout.splitlines() if line.lower().startswith("location:")
    )
    target = str(httpx.URL(registry.url).join(where))  # its query (_state) stays: httpx's params= would replace it
    finished = httpx.put(target + ("&" if "?" in target else "?") + urlencode({"digest": digest}))
    elapsed = time.perf_counter() - t0
    if finished.status_code != 201:
        raise RuntimeError(f"curl upload failed: {finished.status_code} {finished.text}")
    return elapsed


def modelcar_push(registry: OciRegistry, repository: str, path: Path) -> float:
    store = OciStore(registry.config())
    t0 = time.perf_counter()
    with store.push(repository) as push, open(path, "rb") as f:
        layer = push.add_file(path.name, f, path.stat().st_size)
        push.finish([layer], "1")
    return time.perf_counter() - t0


@contextmanager
def modelreg_server(data_dir: Path, registry: OciRegistry) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    env = {**os.environ, "MODELREG_DATA_DIR": str(data_dir)}
    created = subprocess.run(
        [*MODELREG, "connection", "create", "bench-oci", "--type", "oci", "--registry", registry.host,
         "--repository-prefix", "bench", "--plain-http"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if created.returncode != 0:
        raise RuntimeError(f"modelreg connection create failed: {created.stderr.strip()[-500:]}")
    port = free_port()
    proc = subprocess.Popen(
        [*MODELREG, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_answers(f"{url}/readyz/health"):
            raise RuntimeError("modelreg serve did not answer")
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def cli_upload(url: str, server: int, version: str, path: Path) -> tuple[float, int]:
    """Seconds and the server's RSS growth for ``modelreg upload`` through the oci connection."""
    env = {**os.environ, "MODELREG_URL": url}
    with Sampler({"server": server}) as sampler:
        t0 = time.perf_counter()
        done = subprocess.run(
            [*MODELREG, "upload", "bench", version, str(path), "--connection", "bench-oci"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"modelreg upload failed: {done.stderr.strip()[-500:]}")
    return elapsed, sampler.peak["server"] - sampler.start["server"]


def sdk_upload(url: str, server: int, version: str, path: Path) -> tuple[float, int]:
    """Seconds and the server's RSS growth for ``ModelRegistry.upload`` through the oci connection."""
    with Sampler({"server": server}) as sampler, ModelRegistry(url, timeout=300) as registry:
        t0 = time.perf_counter()
        registry.upload("bench", version, path, connection="bench-oci")
        elapsed = time.perf_counter() - t0
    return elapsed, sampler.peak["server"] - sampler.start["server"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-server", action="store_true", help="skip (c), the end-to-end modelreg upload")
    args = parser.parse_args()
    if not BINARY.exists():
        print(f"no registry at {BINARY}: run scripts/setup-oci-registry", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="modelreg-bench-oci-") as tmp:
        work = Path(tmp)
        registry = start_registry(work / "registry")
        try:
            big = work / "model.bin"
            make_file(big, args.size_mb)
            with open(big, "rb") as f:
                digest = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
            tiny = work / "tiny.bin"
            tiny.write_bytes(b"x")
            modelcar_push(registry, "bench/warmup", tiny)  # the base image's blobs are in the registry from now on
            rounds: list[dict[str, float]] = []
            with ExitStack() as stack:
                server = None if args.no_server else start_server(stack, work, registry)
                for i in range(args.repeats):
                    # the same bytes under a new name each round: a new layer, so nothing is skipped as reused
                    named = work / f"model-{i}.bin"
                    os.link(big, named)
                    row = {"curl": curl_upload(registry, f"bench/curl{i}", named, digest)}
                    row["modelcar"] = modelcar_push(registry, f"bench/push{i}", named)
                    if server is not None:
                        try:
                            row["upload"], row["server_growth"] = cli_upload(server[0], server[1].pid, f"v{i}", named)
                            # under another name again: the same path and bytes would be reused, not sent
                            other = work / f"sdk-model-{i}.bin"
                            os.link(big, other)
                            row["sdk"], growth = sdk_upload(server[0], server[1].pid, f"sdk{i}", other)
                            row["server_growth"] = max(row["server_growth"], growth)
                        except RuntimeError as exc:
                            print(f"(c) skipped: {exc}", file=sys.stderr)
                            server = None
                    rounds.append(row)
                    print({k: round(v, 2) for k, v in row.items()}, file=sys.stderr)
        finally:
            registry.stop()
    report(args.size_mb, args.repeats, rounds)
    return 0


def start_server(stack: ExitStack, work: Path, registry: OciRegistry) -> tuple[str, subprocess.Popen[bytes]] | None:
    """(c)'s server, or None with the reason on stderr when it cannot be set up."""
    try:
        return stack.enter_context(modelreg_server(work / "data", registry))
    except RuntimeError as exc:
        print(f"(c) skipped: {exc}", file=sys.stderr)
        return None


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(size_mb: int, repeats: int, rounds: list[dict[str, float]]) -> None:
    def throughput(key: str) -> float:
        return statistics.median(size_mb / r[key] for r in rounds)

    print(f"{size_mb} MB, {repeats} rounds, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()}")
    print(f"(a) curl blob upload          median {throughput('curl'):7.1f} MB/s")
    ratio = statistics.median(r["curl"] / r["modelcar"] for r in rounds)
    print(
        f"(b) ModelCarPush in-process   median {throughput('modelcar'):7.1f} MB/s   ratio {ratio:.2f}  "
        f"target >= 0.80: {verdict(ratio >= 0.8)}"
    )
    full = [r for r in rounds if "upload" in r]
    if not full:
        print("(c) modelreg upload           skipped")
        return
    e2e = statistics.median(size_mb / r["upload"] for r in full)
    e2e_ratio = statistics.median(r["curl"] / r["upload"] for r in full)
    growth = max(r["server_growth"] for r in full) / MB
    print(
        f"(c) modelreg upload (CLI)     median {e2e:7.1f} MB/s   ratio {e2e_ratio:.2f}  "
        f"target >= 0.80: {verdict(e2e_ratio >= 0.8)}"
    )
    sdk = statistics.median(size_mb / r["sdk"] for r in full)
    sdk_ratio = statistics.median(r["curl"] / r["sdk"] for r in full)
    print(
        f"(d) ModelRegistry.upload      median {sdk:7.1f} MB/s   ratio {sdk_ratio:.2f}  "
        f"target >= 0.80: {verdict(sdk_ratio >= 0.8)}"
    )
    print(f"    server memory growth      max {growth:9.1f} MB  target < 100 MB: {verdict(growth < 100)}")


if __name__ == "__main__":
    raise SystemExit(main())

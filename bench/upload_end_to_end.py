"""``modelreg upload`` end to end (CLI → server → S3) against a direct boto3 upload of the same file.

Target (artifact-storage issue): the upload through modelreg reaches at least 80% of a direct boto3
``upload_file`` of the same 1 GB file, and neither the server's nor the CLI's memory grows by 100 MB or more.

What runs, all on this machine: moto's S3 server (or ``--endpoint``), ``modelreg serve`` in a subprocess with an
S3 data connection, and per round, interleaved so drift hits both alike: boto3's ``upload_file`` from this
process (its defaults: 8 MiB parts, 10 threads), then ``modelreg upload`` as a subprocess, timed from its start
to its exit (so the CLI's own start-up counts against it). Objects are deleted after each round to keep moto's
memory down. Memory: VmRSS of both processes sampled every 10 ms; the server's growth is its peak during the
upload minus its RSS before; the CLI's is its peak minus the peak of the same command uploading a 1-byte file
(what importing the CLI costs is not growth).

    .venv/bin/python bench/upload_end_to_end.py                        # 1 GB, 3 rounds
    .venv/bin/python bench/upload_end_to_end.py --size-mb 256 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).parent))
from upload_vs_boto3 import free_port, make_file, moto_server, rss_of, wait_until_answers

MB = 1024 * 1024
MODELREG = [sys.executable, "-m", "modelreg"]
ACCESS, SECRET, REGION, BUCKET = "bench-access", "bench-secret", "us-east-1", "bench-models"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Sampler:
    """Peak VmRSS of some processes, sampled in a thread."""

    def __init__(self, pids: dict[str, int], interval: float = 0.01) -> None:
        self.pids = pids
        self.interval = interval
        self.start = {name: rss_of(pid) for name, pid in pids.items()}
        self.peak = dict(self.start)
        self.cpu_start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.cpu = dict(self.cpu_start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add(self, name: str, pid: int) -> None:
        self.pids = {**self.pids, name: pid}

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak.get(name, 0), rss_of(pid))
                self.cpu[name] = max(self.cpu.get(name, 0.0), cpu_seconds(pid))
            time.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def modelreg_server(data_dir: Path, endpoint: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "MODELREG_DATA_DIR": str(data_dir), "BENCH_SECRET": SECRET}
    created = subprocess.run(
        [*MODELREG, "connection", "create", "bench-s3", "--type", "s3", "--endpoint", endpoint, "--region", REGION,
         "--bucket", BUCKET, "--path-style", "--access-key-id", ACCESS, "--secret-access-key-env", "BENCH_SECRET"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if created.returncode != 0:
        raise RuntimeError(created.stderr)
    proc = subprocess.Popen(
        [*MODELREG, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/readyz/health")
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def pid_of_moto(endpoint: str) -> int:
    port = endpoint.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"moto.server" in cmdline and port.encode() in cmdline:
                return int(entry.name)
    return 0


def cli_upload(
    url: str, pids: dict[str, int], model: str, version: str, path: Path
) -> tuple[float, int, int, dict[str, float]]:
    """Seconds, peak CLI RSS, server RSS growth, CPU seconds per process."""
    env = {**os.environ, "MODELREG_URL": url}
    sampler = Sampler(pids)
    with sampler:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [*MODELREG, "upload", model, version, str(path), "--connection", "bench-s3"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        sampler.add("cli", proc.pid)
        _, err = proc.communicate()
        elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"modelreg upload failed: {err.decode()}")
    cpu = {name: sampler.cpu[name] - sampler.cpu_start.get(name, 0.0) for name in sampler.cpu}
    return elapsed, sampler.peak["cli"], sampler.peak["server"] - sampler.start["server"], cpu


def empty_bucket(s3: object) -> None:
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):  # type: ignore[attr-defined]
        s3.delete_object(Bucket=BUCKET, Key=obj["Key"])  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--endpoint", help="an S3-compatible endpoint (with --access-key/--secret-key); default moto")
    args = parser.parse_args()
    size = args.size_mb * MB
    with tempfile.TemporaryDirectory(prefix="modelreg-bench-") as tmp, moto_server() as endpoint:
        work = Path(tmp)
        s3 = boto3.client(
            "s3",
            endpoint_url=args.endpoint or endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS,
            aws_secret_access_key=SECRET,
            config=Config(s3={"addressing_style": "path"}),
        )
        s3.create_bucket(Bucket=BUCKET)
        big, tiny = work / "model.bin", work / "tiny.bin"
        make_file(big, args.size_mb)
        tiny.write_bytes(b"x")
        rounds = []
        with modelreg_server(work / "data", args.endpoint or endpoint) as (url, server):
            pids = {"server": server.pid, "s3": pid_of_moto(args.endpoint or endpoint)}
            _, cli_baseline, _, _ = cli_upload(url, pids, "baseline", "v0", tiny)
            for i in range(args.repeats):
                cpu0 = (time.process_time(), cpu_seconds(pids["s3"]))
                t0 = time.perf_counter()
                s3.upload_file(str(big), BUCKET, f"direct/{i}/model.bin")
                direct = time.perf_counter() - t0
                direct_cpu = {"boto3": time.process_time() - cpu0[0], "s3": cpu_seconds(pids["s3"]) - cpu0[1]}
                empty_bucket(s3)
                seconds, cli_peak, server_growth, cpu = cli_upload(url, pids, "bench", f"v{i}", big)
                empty_bucket(s3)
                rounds.append(
                    {
                        "boto3_mb_s": size / MB / direct,
                        "modelreg_mb_s": size / MB / seconds,
                        "ratio": direct / seconds,
                        "cli_growth_mb": (cli_peak - cli_baseline) / MB,
                        "server_growth_mb": server_growth / MB,
                    }
                )
                shown = {k: round(v, 2) for k, v in rounds[-1].items()}
                cpu_s = {"direct": direct_cpu, "modelreg": cpu}
                print(
                    json.dumps({"round": i, **shown, "cpu_seconds": cpu_s}, default=lambda x: round(x, 2)),
                    file=sys.stderr,
                )
    median = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    peak = {k: max(r[k] for r in rounds) for k in ("cli_growth_mb", "server_growth_mb")}
    print(f"{args.size_mb} MB, {args.repeats} rounds, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()}")
    print(f"boto3 upload_file      median {median['boto3_mb_s']:7.1f} MB/s")
    print(f"modelreg upload (CLI)  median {median['modelreg_mb_s']:7.1f} MB/s")
    ok = median["ratio"] >= 0.8
    print(f"ratio modelreg/boto3   median {median['ratio']:7.2f}   target >= 0.80: {'PASS' if ok else 'FAIL'}")
    for name in ("server", "cli"):
        growth = peak[f"{name}_growth_mb"]
        verdict = "PASS" if growth < 100 else "FAIL"
        print(f"{name} memory growth    max {growth:9.1f} MB  target < 100 MB: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

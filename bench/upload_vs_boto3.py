"""Upload speed and memory of ``S3Store`` against a direct boto3 ``upload_file`` of the same file.

Target (artifact-storage issue): our upload reaches at least 80% of boto3's throughput on a 1 GB file and the
process's resident memory grows by less than 100 MB while it runs.

Both sides use the same endpoint, addressing, part size and thread count, and run interleaved (boto3, ours, boto3,
ours, ...) so drift in the server or the page cache hits both alike; medians are reported. ``put_stream`` (a
non-seekable stream, as an HTTP request body would be) is measured too, for information.

Without ``--endpoint`` it starts moto's standalone server in a subprocess. Moto keeps every object in memory: that
makes the *server* process large and slower than real S3/MinIO (and it caps the throughput both sides see), but it
does not affect the RSS measured here, which is this process's own. Each object is deleted right after its run to
keep moto's memory down.

    .venv/bin/python bench/upload_vs_boto3.py --size-mb 256 --repeats 3
    .venv/bin/python bench/upload_vs_boto3.py --endpoint http://127.0.0.1:9000 --access-key minio --secret-key ...
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from modelreg.blobs import StoreConfig
from modelreg.blobs.s3 import S3Store

MB = 1024 * 1024


def rss_of(pid: int | str) -> int:
    """Resident memory of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_bytes() -> int:
    return rss_of("self")


class PeakRss:
    """Samples VmRSS every few milliseconds in a thread; ``growth`` is peak minus the value at start."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self.start = self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.start


def make_file(path: Path, size_mb: int) -> None:
    block = os.urandom(8 * MB)  # random enough that no layer can compress it; re-used to write quickly
    with open(path, "wb") as f:
        for i in range(0, size_mb, 8):
            f.write(block[: min(8, size_mb - i) * MB])


def free_port() -> int:
    """A local TCP port that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answers(url: str, tries: int = 300) -> bool:
    """GET `url` every 0.1 s until it answers at all (any status); False if it never did in `tries` attempts."""
    for _ in range(tries):
        try:
            httpx.get(url, timeout=1)
            return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_answers(f"{endpoint}/moto-api/"):
            raise RuntimeError("moto server did not start")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def timed(fn: Callable[[], Any], size: int) -> tuple[float, int]:
    with PeakRss() as rss:
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
    return size / MB / elapsed, rss.growth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--endpoint", help="an S3-compatible endpoint; default: start moto's server")
    parser.add_argument("--bucket", default=f"bench-{uuid.uuid4().hex[:12]}")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID", "bench"))
    parser.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"))
    parser.add_argument("--part-mb", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-stream", action="store_true", help="skip the put_stream row")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, moto_server() if not args.endpoint else _given(args.endpoint) as ep:
        path = Path(tmp) / "payload.bin"
        print(f"writing {args.size_mb} MB to {path} ...", file=sys.stderr)
        make_file(path, args.size_mb)
        size = path.stat().st_size
        client = boto3.client(
            "s3",
            endpoint_url=ep,
            region_name=args.region,
            aws_access_key_id=args.access_key,
            aws_secret_access_key=args.secret_key,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=max(10, args.concurrency + 2)),
        )
        client.create_bucket(Bucket=args.bucket)
        transfer = TransferConfig(
            multipart_threshold=args.part_mb * MB,
            multipart_chunksize=args.part_mb * MB,
            max_concurrency=args.concurrency,
            preferred_transfer_client="classic",
        )
        store = S3Store(
            StoreConfig(
                type="s3",
                endpoint=ep,
                region=args.region,
                bucket=args.bucket,
                path_style=True,
                access_key_id=args.access_key,
                secret_access_key=args.secret_key,
            ),
            part_size=args.part_mb * MB,
            concurrency=args.concurrency,
        )
        rows: dict[str, list[tuple[float, int]]] = {"boto3 upload_file": [], "S3Store.put_file": []}
        if not args.no_stream:
            rows["S3Store.put_stream"] = []

        def stream_upload() -> None:
            with open(path, "rb") as f:
                store.put_stream("ours-stream", f, size=size)

        runs: list[tuple[str, Callable[[], Any], str]] = [
            (
                "boto3 upload_file",
                lambda: client.upload_file(str(path), args.bucket, "direct", Config=transfer),
                "direct",
            ),
            ("S3Store.put_file", lambda: store.put_file("ours", str(path)), "ours"),
        ]
        if not args.no_stream:
            runs.append(("S3Store.put_stream", stream_upload, "ours-stream"))
        for i in range(args.repeats):
            for name, fn, key in runs:
                mbps, growth = timed(fn, size)
                rows[name].append((mbps, growth))
                client.delete_object(Bucket=args.bucket, Key=key)
                print(f"  run {i + 1} {name:20s} {mbps:8.1f} MB/s  rss +{growth / MB:6.1f} MB", file=sys.stderr)

    print(f"\n{args.size_mb} MB file, {args.part_mb} MB parts, {args.concurrency} threads, {args.repeats} repeats")
    print(f"{'':22s}{'median MB/s':>12s}{'max RSS growth':>16s}")
    medians = {}
    for name, values in rows.items():
        medians[name] = statistics.median(v[0] for v in values)
        print(f"{name:22s}{medians[name]:12.1f}{max(v[1] for v in values) / MB:13.1f} MB")
    ratio = medians["S3Store.put_file"] / medians["boto3 upload_file"]
    growth = max(v[1] for v in rows["S3Store.put_file"]) / MB
    ok = ratio >= 0.8 and growth < 100
    print(
        f"put_file / boto3 = {ratio:.2f} (target >= 0.80); RSS growth {growth:.1f} MB (target < 100): "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


@contextmanager
def _given(endpoint: str) -> Iterator[str]:
    yield endpoint


if __name__ == "__main__":
    raise SystemExit(main())

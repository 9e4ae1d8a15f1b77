"""A 256 MB file pushed as a ModelCar layer with flat memory: the push runs in a subprocess whose peak RSS (VmHWM)
is read before and after; the bytes are a generated stream, so the test needs no big file on disk. A push that
buffered the file would grow by its size, well past the 100 MB limit; the 1 GB case runs through the server
(tests/storage/test_oci_uploads.py)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import httpx

from oci_registry import OciRegistry
from oci_registry import oci_registry as oci_registry  # the fixture

SIZE = 256 * 1024 * 1024
BLOCK = 1024 * 1024
PUSH = """
import json, sys
from modelreg.blobs import StoreConfig
from modelreg.blobs.oci import OciStore

def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))

class Generated:
    '''SIZE bytes: a 1 MiB pseudo-random block, each copy with its index in front (so no two blocks are equal).'''
    def __init__(self, size, seed):
        import random
        self.left, self.index, self.block = size, 0, random.Random(seed).randbytes(1024 * 1024)
    def read(self, n=-1):
        n = min(self.left if n < 0 else n, self.left, 1024 * 1024)
        self.left -= n
        self.index += 1
        return (self.index.to_bytes(8, "big") + self.block[8:])[:n]

store = OciStore(StoreConfig(type="oci", registry=sys.argv[1], plain_http=True))
with store.push("models/big") as push:
    push.finish([], None)  # the base image and the client warmed up: only the layer's cost is measured below
    before = hwm()
    layer = push.add_file("weights.bin", Generated(int(sys.argv[2]), 7), int(sys.argv[2]))
    after = hwm()
print(json.dumps({"before": before, "after": after, "digest": layer.digest, "sha256": layer.sha256,
                  "layer_size": layer.layer_size}))
"""


def expected_sha256(size: int) -> str:
    import random

    block = random.Random(7).randbytes(BLOCK)
    digest = hashlib.sha256()
    for index in range(1, size // BLOCK + 1):
        digest.update(index.to_bytes(8, "big") + block[8:])
    return digest.hexdigest()


def test_a_big_file_is_pushed_with_flat_memory(oci_registry: OciRegistry) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", PUSH, oci_registry.host, str(SIZE)], capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    growth = report["after"] - report["before"]
    assert growth < 100 * 1024 * 1024, f"peak RSS grew by {growth / 1e6:.0f} MB while pushing {SIZE / 1e6:.0f} MB"
    assert report["sha256"] == expected_sha256(SIZE)
    head = httpx.head(f"{oci_registry.url}/v2/models/big/blobs/{report['digest']}")
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == report["layer_size"] > SIZE
    print(f"{SIZE / 1e6:.0f} MB pushed in {elapsed:.1f} s, peak RSS growth {growth / 1e6:.1f} MB")

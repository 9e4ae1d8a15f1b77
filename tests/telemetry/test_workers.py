"""``modelreg serve --workers 2``: ``/metrics`` sums every worker process's requests, whichever answers the scrape,
and the files they share are gone when the server stops.

Which worker accepts a connection is the kernel's choice. To know that both served, each is stopped in turn
(SIGSTOP) while the other takes a batch of requests; a stopped worker cannot accept, and the figures must add up
to both batches. Both have finished starting first (uvicorn logs it), so that each stop is brief: the supervisor
replaces a worker that does not answer its health check for 5 s.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from conftest import free_port
from processes import ServeProcess
from telemetry.scrape import requests, scrape

HEALTH = "/readyz/health"


def _workers(parent: int) -> list[int]:
    """uvicorn's worker processes: the children of ``serve`` started by multiprocessing's spawn (not its resource
    tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


@contextmanager
def _stopped(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _wait_started(log: Path, workers: int) -> None:
    deadline = time.monotonic() + 120
    while log.read_text(errors="replace").count("Application startup complete") < workers:
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.2)


def _multiproc_dir(pid: int) -> Path:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    (value,) = [v.split(b"=", 1)[1] for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return Path(value.decode())


def test_two_workers_sum_their_requests(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    env = {"MODELREG_DATA_DIR": str(tmp_path)}
    log = tmp_path / "serve.log"
    args = ("--database-url", url, "--workers", "2", "--log-level", "info")
    with ServeProcess(free_port(), *args, env=env, log=log) as s:
        assert s.proc is not None
        _wait_started(log, 2)
        first, second = _workers(s.proc.pid)
        shared = _multiproc_dir(first)
        assert shared == _multiproc_dir(second) and shared.is_dir()
        before = requests(scrape(s.url), HEALTH, "GET", 200)
        batches = {first: 4, second: 3}
        for serving, count in batches.items():
            other = second if serving == first else first
            with _stopped(other):
                for _ in range(count):  # a new connection each: the running worker accepts every one
                    assert httpx.get(f"{s.url}{HEALTH}", timeout=60).status_code == 200
        for _ in range(3):  # whichever worker answers the scrape
            assert requests(scrape(s.url), HEALTH, "GET", 200) - before == sum(batches.values())
    assert not shared.exists()

"""Start real ``modelreg`` processes for tests that need more than one server or the CLI itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

MODELREG = [sys.executable, "-m", "modelreg"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MODELREG, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminate ``proc`` and wait for it; kill it (and reap it) if it has not exited within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ServeProcess:
    """``modelreg serve`` in a subprocess, stopped on exit; ``program`` is how ``modelreg`` is run (default: this
    interpreter's)."""

    def __init__(
        self,
        port: int,
        *args: str,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        program: Sequence[str] = MODELREG,
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.program = list(program)
        self.args = ["serve", "--port", str(port), *args]
        self.env = {**os.environ, **(env or {})}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def database_url(self) -> str:
        """The ``--database-url`` the server was started with."""
        return self.args[self.args.index("--database-url") + 1]

    def __enter__(self) -> ServeProcess:
        command = [*self.program, *self.args]
        if self.log:
            with open(self.log, "wb") as out:  # the child keeps its own copy of the descriptor
                self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        else:
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=self.env)
        try:
            return self._wait_ready()
        except BaseException:
            stop_process(self.proc)  # one that never became ready is not left running
            raise

    def _wait_ready(self) -> ServeProcess:
        assert self.proc is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"modelreg serve exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("modelreg serve did not become ready in 90 s")  # ~2 s quietly; margin for a loaded CI

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        stop_process(self.proc)

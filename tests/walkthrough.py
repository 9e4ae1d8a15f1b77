"""Run a Markdown walkthrough as a reader would: its marked code blocks, in order, in a "server" and a "client" shell.

A block is marked by an HTML comment on the line before its fence (invisible on the rendered page):

- ``<!-- shell: client -->``: typed into the client shell, one persistent ``bash`` with ``set -euo pipefail``, so
  variables (``$ADMIN``), exports and the working directory carry over from block to block.
- ``<!-- shell: server -->``: typed into the server shell, where it runs in the foreground until the reader stops
  it. The reader can only type there again after Ctrl-C, so a server block must be preceded by a "Ctrl-C" in the
  text since the previous block (or in its own comments) whenever a server is still running.
- ``<!-- shell: server, client -->``: typed into both (e.g. activating the venv).
- ``<!-- shell: client; python: PATH -->`` on a ```` ```python ```` block: pasted into that interpreter, started
  from the client shell.
- ``<!-- shell: setup -->``: done once by the reader before the walkthrough; the harness stands in for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from shlex import quote

import httpx

SHELLS = {"server", "client", "setup"}
MARKED = re.compile(
    r"^<!-- shell: (?P<marker>[^>]*?) -->\n```(?P<lang>[a-z]+)\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL
)
FENCE = re.compile(r"^```(?P<lang>bash|python)\n", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One marked code block: where it is, which shell(s) it is typed into, and the text before it."""

    number: int  # 1-based, among the marked blocks
    line: int
    shells: frozenset[str]
    lang: str
    code: str
    interpreter: str | None  # python blocks: the interpreter named by the marker
    preceding_text: str  # the prose since the previous code block

    @property
    def says_ctrl_c(self) -> bool:
        return "Ctrl-C" in self.preceding_text or "Ctrl-C" in self.code

    def __str__(self) -> str:
        return f"README block {self.number} (line {self.line}, {'+'.join(sorted(self.shells))})"


def parse_marker(marker: str) -> tuple[frozenset[str], str | None]:
    """``server, client`` → ({server, client}, None); ``client; python: .venvs/x/bin/python`` → ({client}, path)."""
    shells_part, *options = [part.strip() for part in marker.split(";")]
    shells = frozenset(s.strip() for s in shells_part.split(","))
    if not shells or not shells <= SHELLS:
        raise ValueError(f"unknown shell in marker {marker!r}: one or more of {sorted(SHELLS)}")
    interpreter = None
    for option in options:
        key, _, value = option.partition(":")
        if key.strip() != "python" or not value.strip():
            raise ValueError(f"unknown option {option!r} in marker {marker!r}")
        interpreter = value.strip()
    return shells, interpreter


def parse(markdown: str) -> list[Block]:
    blocks: list[Block] = []
    previous_end = 0
    for number, match in enumerate(MARKED.finditer(markdown), 1):
        shells, interpreter = parse_marker(match["marker"])
        if match["lang"] not in ("bash", "python"):
            raise ValueError(f"marked block {number} is {match['lang']!r}: only bash and python blocks can run")
        if (match["lang"] == "python") != (interpreter is not None):
            raise ValueError(f"marked block {number}: a python block, and only it, names its interpreter")
        before = markdown[previous_end : match.start()]
        last_fence = before.rfind("```")
        blocks.append(
            Block(
                number=number,
                line=markdown.count("\n", 0, match.start()) + 2,
                shells=shells,
                lang=match["lang"],
                code=match["code"],
                interpreter=interpreter,
                preceding_text=before[last_fence + 3 :] if last_fence >= 0 else before,
            )
        )
        previous_end = match.end()
    return blocks


def unmarked_fences(markdown: str) -> list[int]:
    """Line numbers of bash/python blocks that carry no marker (``<!-- shell: … -->`` or ``<!-- sdk-example -->``)."""
    lines = []
    for match in FENCE.finditer(markdown):
        line_before = markdown[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if not (line_before.startswith("<!-- shell:") or line_before == "<!-- sdk-example -->"):
            lines.append(markdown.count("\n", 0, match.start()) + 1)
    return lines


@dataclass
class Output:
    block: Block
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


class ClientShell:
    """One ``bash`` fed the blocks one at a time; each block's output goes to files, a sentinel marks its end."""

    def __init__(self, cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.cwd, self.logs = cwd, logs
        self.stderr_log = logs / "client-shell.err"
        with open(self.stderr_log, "wb") as err:
            self.proc = subprocess.Popen(
                ["bash", "--noprofile", "--norc"],
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        self._send("set -euo pipefail\n")

    def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def run(self, block: Block, timeout: float) -> Output:
        script = self.logs / f"block-{block.number}.sh"
        code = block.code
        if block.lang == "python":  # pasted into the interpreter, started from this shell
            code = f"{block.interpreter} - <<'README_PYTHON_BLOCK'\n{code}README_PYTHON_BLOCK\n"
        script.write_text(code)
        out, err = self.logs / f"block-{block.number}.out", self.logs / f"block-{block.number}.err"
        sentinel = f"__walkthrough_block_{block.number}_done__"
        # stdin from /dev/null: a command reading stdin must not eat the lines sent to the shell after it
        self._send(f"source {quote(str(script))} >{quote(str(out))} 2>{quote(str(err))} </dev/null\necho {sentinel}\n")
        finished = self._wait_for(sentinel, timeout)
        result = Output(block, out.read_text() if out.exists() else "", err.read_text() if err.exists() else "")
        if not finished:
            code = self.proc.poll()
            why = f"the client shell exited with {code}" if code is not None else f"it did not finish in {timeout} s"
            raise AssertionError(
                f"{block} failed: {why}\n--- block ---\n{block.code}--- stdout ---\n{result.stdout[-3000:]}"
                f"--- stderr ---\n{result.stderr[-3000:]}{self.stderr_log.read_text()[-2000:]}"
            )
        return result

    def _wait_for(self, sentinel: str, timeout: float) -> bool:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while (remaining := deadline - time.monotonic()) > 0:
                if not selector.select(remaining):
                    return False
                line = self.proc.stdout.readline()
                if not line:  # EOF: set -e ended the shell
                    self.proc.wait(timeout=5)
                    return False
                if line.strip() == sentinel:
                    return True
        return False

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdout.close()
        with contextlib.suppress(BrokenPipeError):  # as Popen.__exit__: the shell is gone, nothing is left to send
            self.proc.stdin.close()


@dataclass
class ServerShell:
    """The server shell: what was typed into it before (``prelude``), and the server in its foreground, if any."""

    cwd: Path
    env: dict[str, str]
    logs: Path
    health_url: str
    prelude: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    exit_codes: list[int] = field(default_factory=list)  # of the servers stopped with Ctrl-C, in order

    @property
    def busy(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def type_in(self, block: Block) -> None:
        """A block typed into an idle server shell that returns (e.g. ``source .venv/bin/activate``)."""
        self.prelude.append(block.code)

    def start(self, block: Block, timeout: float = 30) -> None:
        """Run ``block`` in the foreground of the server shell and wait until the server answers its health check."""
        if self.busy:
            if not block.says_ctrl_c:
                raise AssertionError(
                    f"{block} is typed into the server shell while the server of an earlier block still runs in its "
                    "foreground, and the README does not say to stop it (Ctrl-C)"
                )
            self.interrupt()
        self.log = self.logs / f"server-block-{block.number}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-euo", "pipefail", "-c", "\n".join([*self.prelude, block.code])],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{block} exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.health_url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{block}: no answer from {self.health_url} in {timeout} s:\n{self.log.read_text()}")

    def interrupt(self, timeout: float = 15) -> int | None:
        """Ctrl-C: SIGINT to the foreground process group; returns the exit code (None if nothing ran)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError(f"the server did not stop on Ctrl-C within {timeout} s") from None
            self.exit_codes.append(self.proc.returncode)
        return self.proc.returncode

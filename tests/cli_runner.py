"""The ``modelreg`` command run inside the test process (Typer's runner), for tests that make many calls.

A ``modelreg`` subprocess costs a second or more of interpreter start and imports (more under load) and, once one
real process per command family has run (``processes.run_cli``), checks nothing more: the command's options, its
output and the database are the same in process. ``invoke_cli`` answers like ``run_cli`` (a ``CompletedProcess``
with the exit code, stdout and stderr), so a test can mix the two; ``process_on_sqlite`` picks one by backend, for
the calls a test makes as a real process once, not once per backend.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Mapping

from typer.testing import CliRunner

from modelreg.cli.main import app
from processes import run_cli

CliRun = Callable[..., subprocess.CompletedProcess[str]]


class _Stderr(logging.Handler):
    """What a command process does with log records when nothing configured logging (``logging.lastResort``):
    warnings and worse, the bare message, on the stderr of the moment (here the runner's), where the tests that
    look for leaked secrets in a command's output see them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


def invoke_cli(
    *args: str, env: Mapping[str, str | None] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``modelreg *args`` here, with ``env`` added to the environment (None: a variable removed) and ``input``
    on stdin (not a terminal, as in a pipe). An exception the command did not turn into an exit code is raised (a
    process would die with a traceback and exit code 1)."""
    handler = _Stderr()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        result = CliRunner().invoke(app, list(args), input=input, env=env)
    finally:
        root.removeHandler(handler)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["modelreg", *args], result.exit_code, result.stdout, result.stderr)


def process_on_sqlite(database_url: str) -> CliRun:
    """``run_cli`` on SQLite, ``invoke_cli`` on the other backends: the process is the command's, not the
    database's (the server processes of other tests use every database driver)."""
    return run_cli if database_url.startswith("sqlite") else invoke_cli

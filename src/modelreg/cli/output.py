"""What the commands print on stdout: tables that are never cut where no one reads them on a terminal, and JSON
for scripts (``--json``)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

_UNLIMITED = 1_000_000  # columns: a table as wide as its longest values

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (whole values, for scripts) instead of a table.")]


def stdout_console(**options: Any) -> Console:
    """The console for tables on stdout. On a terminal Rich fits a table to its width and cuts long cells to
    ``…``; in a pipe, a file or a CI log nothing must be cut, so there the width is unlimited (``$COLUMNS`` too
    is ignored there)."""
    console = Console(soft_wrap=True, **options)
    return console if console.is_terminal else Console(soft_wrap=True, width=_UNLIMITED, **options)


def print_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    sys.stdout.buffer.flush()

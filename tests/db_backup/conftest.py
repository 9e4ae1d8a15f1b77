"""One source registry (SQLite, every table filled) and its export, made once for the backup tests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from db_backup.source import Source, answers, build
from processes import MODELREG


@pytest.fixture(scope="package")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    return build(tmp_path_factory.mktemp("backup-source"))


@pytest.fixture(scope="package")
def source_answers(source: Source) -> dict[str, Any]:
    with source.app(source.url) as (_, client):
        return answers(client)


@pytest.fixture(scope="package")
def exported(source: Source, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``modelreg db export -`` of the source (to stdout), by the CLI in a subprocess."""
    path = tmp_path_factory.mktemp("backup-file") / "registry.jsonl"
    with path.open("wb") as out:
        result = subprocess.run(
            [*MODELREG, "db", "export", "-", "--database-url", source.url],
            stdout=out,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().startswith("exported ")
    return path

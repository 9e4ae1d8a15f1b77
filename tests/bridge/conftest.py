"""Shared fixtures: the model catalog JSON schema from the shared reference tree, when it is there, a migrated
database, and the Kubernetes API emulator with modelreg's client for it (`emulator`, `kube`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kube_emulator.fixtures import emulator, kube
from modelreg.db import migrations
from modelreg.db.database import Database

__all__ = ["emulator", "kube"]  # fixtures for the KServe status and ConfigMap output tests

SCHEMA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "model-catalog-schema"
SCHEMA_PATH = SCHEMA_DIR / "model-catalog.schema.json"


@pytest.fixture(scope="session")
def catalog_validator() -> Callable[[Any], None]:
    """Validates a document against the shared schema; raises jsonschema.ValidationError on failure."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (pip install -e .[dev])")
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"model catalog schema not found at {SCHEMA_PATH} (the shared reference tree is missing)")
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    return validator.validate


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite registry database in the test's temporary directory."""
    database = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    migrations.upgrade(database.engine)
    yield database
    database.dispose()

"""``modelreg bridge export`` and ``status``, on the database directly (in-process through Typer's runner)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from modelreg.cli.main import app
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.services import entities as e
from modelreg.services.registry import RegistryService

runner = CliRunner()

pytestmark = pytest.mark.usefixtures("as_system")  # the tests call the services directly


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    db = Database(url)
    migrations.upgrade(db.engine)
    registry = RegistryService(db)
    for name in ("mnist", "my_model"):
        model = registry.create(e.REGISTERED_MODEL, {"name": name}, {})
        for version in ("v1", "v2"):
            registry.create_model_version({"name": version, "registered_model_id": model.row["id"]}, {})
    db.dispose()
    return url


def test_status_before_and_after_export(url: str, tmp_path: Path, catalog_validator: Callable[[Any], None]) -> None:
    before = runner.invoke(app, ["bridge", "status", "--database-url", url])
    assert before.exit_code == 0, before.output
    assert "no sync has run yet" in before.output

    out = tmp_path / "json"
    exported = runner.invoke(app, ["bridge", "export", str(out), "--database-url", url])
    assert exported.exit_code == 0, exported.output
    assert "wrote 4 json document(s)" in exported.output
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert files[:2] == ["mnist/mnist.v1/model-catalog.json", "mnist/mnist.v2/model-catalog.json"]
    for path in out.rglob("*.json"):
        catalog_validator(orjson.loads(path.read_bytes()))

    after = runner.invoke(app, ["bridge", "status", "--database-url", url])
    assert after.exit_code == 0, after.output
    assert "local" in after.output and "4" in after.output and "no sync" not in after.output


def test_export_yaml(url: str, tmp_path: Path) -> None:
    out = tmp_path / "yaml"
    exported = runner.invoke(app, ["bridge", "export", "--format", "yaml", str(out), "--database-url", url])
    assert exported.exit_code == 0, exported.output
    files = sorted(out.rglob("catalog-info.yaml"))
    assert len(files) == 2
    entities = list(yaml.safe_load_all((out / "mnist" / "catalog-info.yaml").read_text()))
    assert [x["kind"] for x in entities] == ["Component", "Resource", "Resource"]


def test_export_refuses_bad_format_and_old_schema(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["bridge", "export", "--format", "xml", str(tmp_path)])
    assert bad.exit_code != 0
    empty = runner.invoke(app, ["bridge", "status", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert empty.exit_code != 0 and "schema" in empty.output

"""Where the sources files come from: MODELREG_CATALOG__SOURCES and `modelreg serve --catalog-sources`."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from modelreg.cli import server
from modelreg.cli.main import app
from modelreg.settings import Settings, load_settings


def test_environment_variable_takes_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELREG_CATALOG__SOURCES", "/etc/catalog/a.yaml, /etc/catalog/b.yaml")
    monkeypatch.setenv("MODELREG_CATALOG__REGISTRY_SOURCE", "false")
    settings = load_settings()
    assert settings.catalog.sources == [Path("/etc/catalog/a.yaml"), Path("/etc/catalog/b.yaml")]
    assert settings.catalog.registry_source is False


def test_defaults_are_the_demo_catalog_and_the_registry_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELREG_CATALOG__SOURCES", raising=False)
    monkeypatch.delenv("MODELREG_CATALOG__REGISTRY_SOURCE", raising=False)
    settings = load_settings()
    assert settings.catalog.sources == [] and settings.catalog.registry_source is True


def test_serve_options_set_the_catalog_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[Settings] = []

    def stop_before_serving(settings: Settings) -> None:  # the first step after settings are resolved
        seen.append(settings)
        raise typer.Exit(0)

    monkeypatch.setattr(server, "_check_exposure", stop_before_serving)
    monkeypatch.setenv("MODELREG_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        app, ["serve", "--catalog-sources", "one.yaml", "--catalog-sources", "/srv/two.yaml", "--no-registry-source"]
    )
    assert result.exit_code == 0, result.output
    (settings,) = seen
    assert settings.catalog.sources == [Path("one.yaml"), Path("/srv/two.yaml")]
    assert settings.catalog.registry_source is False

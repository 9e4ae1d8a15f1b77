"""Source preview: included/excluded per model, the summary, 400/422 errors, and the path confinement."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sources_builders import model, write_catalog

from modelreg.catalog.preview import MAX_INPUT_BYTES, preview
from modelreg.errors import InvalidInput, Unprocessable

NAMES = [
    "ibm-granite/granite-3.0-8b-instruct",
    "ibm-granite/granite-3.0-2b-draft",
    "meta-llama/Llama-2-7b-hf",
    "microsoft/phi-2-experimental",
]
CATALOG = yaml.safe_dump({"models": [{"name": n} for n in NAMES]})
CONFIG = (
    "type: yaml\nincludedModels: ['ibm-granite/*', 'meta-llama/*']\nexcludedModels: ['*-draft', '*-experimental']\n"
)


def test_inline_catalog_gives_included_and_summary() -> None:
    result = preview(CONFIG, CATALOG, None, [])
    assert result.items == (
        ("ibm-granite/granite-3.0-8b-instruct", True),
        ("ibm-granite/granite-3.0-2b-draft", False),
        ("meta-llama/Llama-2-7b-hf", True),
        ("microsoft/phi-2-experimental", False),
    )
    assert (result.total, result.included, result.excluded) == (4, 2, 2)


def test_without_filters_everything_is_included() -> None:
    result = preview("type: yaml\n", CATALOG, None, [])
    assert result.included == len(NAMES) and result.excluded == 0


def test_inline_data_wins_over_the_path(tmp_path: Path) -> None:
    config = CONFIG + "properties: {yamlCatalogPath: /nonexistent.yaml}\n"
    assert preview(config, CATALOG, tmp_path, [tmp_path]).total == len(NAMES)


def test_path_mode_reads_a_file_inside_a_configured_folder(tmp_path: Path) -> None:
    write_catalog(tmp_path / "models.yaml", [model("ibm-granite/a"), model("other/b")])
    result = preview(CONFIG + "properties: {yamlCatalogPath: models.yaml}\n", None, tmp_path, [tmp_path])
    assert result.items == (("ibm-granite/a", True), ("other/b", False))


@pytest.mark.parametrize("where", ["/etc/passwd", "../outside.yaml", "link.yaml"])
def test_path_mode_is_confined(tmp_path: Path, where: str) -> None:
    allowed = tmp_path / "catalogs"
    allowed.mkdir()
    write_catalog(tmp_path / "outside.yaml", [model("secret")])
    (allowed / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    with pytest.raises(Unprocessable, match="yamlCatalogPath must be inside a configured catalog folder"):
        preview(f"type: yaml\nproperties: {{yamlCatalogPath: '{where}'}}\n", None, allowed, [allowed])


@pytest.mark.parametrize("config", [None, "", "  \n"])
def test_a_missing_config_is_a_bad_request(config: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        preview(config, CATALOG, None, [])
    assert caught.value.status_code == 400


def test_inputs_are_size_limited() -> None:
    with pytest.raises(InvalidInput, match="larger than"):
        preview(CONFIG, "#" * (MAX_INPUT_BYTES + 1), None, [])


@pytest.mark.parametrize(
    ("config", "catalog", "message"),
    [
        ("type: [\n", CATALOG, "config is not valid YAML"),
        ("- type: yaml\n", CATALOG, "config must be a mapping"),
        ("type: yaml\ncolour: red\n", CATALOG, "unknown key 'colour'"),
        ("type: hf\n", CATALOG, "catalog type 'hf' is not supported"),
        ("type: yaml\nincludedModels: ['']\n", CATALOG, "may not be empty"),
        ("type: yaml\nincludedModels: [a]\nexcludedModels: [a]\n", CATALOG, "in both"),
        ("type: yaml\n", "models: [\n", "invalid catalog data"),
        ("type: yaml\n", "models: 3\n", "invalid catalog data"),
        ("type: yaml\n", None, "either catalogData or properties.yamlCatalogPath is required"),
    ],
)
def test_an_unusable_config_or_catalog_is_unprocessable(config: str, catalog: str | None, message: str) -> None:
    with pytest.raises(Unprocessable, match=message) as caught:
        preview(config, catalog, None, [])
    assert caught.value.status_code == 422


def test_a_missing_file_in_an_allowed_folder_is_unprocessable(tmp_path: Path) -> None:
    with pytest.raises(Unprocessable, match="failed to read yamlCatalogPath file"):
        preview("type: yaml\nproperties: {yamlCatalogPath: gone.yaml}\n", None, tmp_path, [tmp_path])

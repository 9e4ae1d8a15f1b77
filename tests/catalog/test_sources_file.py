"""Sources files: strict parsing, the deprecated and ignored keys, labels, named queries, merging several files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelreg.catalog.sources_file import (
    SourcesFile,
    SourcesFileError,
    merge,
    merge_labels,
    merge_named_queries,
    parse_sources_file,
)


def parse(text: str, path: Path = Path("/etc/catalog/sources.yaml")) -> SourcesFile:
    return parse_sources_file(path, text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_catalog: []\n", "unknown key 'model_catalog'"),
        ("model_catalogs:\n  - id: a\n    type: yaml\n    colour: red\n", "source 'a': unknown key 'colour'"),
        ("model_catalogs:\n  - name: no id\n", "every source needs an id"),
        ("model_catalogs:\n  - id: a\n  - id: a\n", "'a' appears more than once"),
        ("model_catalogs:\n  - id: a\n    enabled: maybe\n", "enabled must be true or false"),
        ("model_catalogs:\n  - id: a\n    labels: Organization\n", "labels must be a list of strings"),
        ("model_catalogs:\n  - id: a\n    includedModels: [1]\n", "includedModels must be a list of strings"),
        ("model_catalogs:\n  - id: a\n    properties: [x]\n", "properties must be a mapping"),
        ("model_catalogs: {a: 1}\n", "model_catalogs must be a list"),
        ("labels: [x]\n", r"labels\[0\] must be a mapping"),
        ("labels:\n  - {name: x, assetType: tables}\n", "assetType must be one of"),
        ("namedQueries:\n  q: {tasks: chat}\n", "filter 'tasks' must be {operator, value}"),
        ("- a\n- b\n", "expected a mapping"),
        ("model_catalogs: [\n", "not valid YAML"),
    ],
)
def test_strict_errors_name_the_file_and_the_key(text: str, message: str) -> None:
    with pytest.raises(SourcesFileError, match=message) as caught:
        parse(text)
    assert str(caught.value).startswith("/etc/catalog/sources.yaml: ")


def test_a_source_keeps_only_what_the_file_sets() -> None:
    parsed = parse(
        "model_catalogs:\n"
        "  - id: org\n    name: Org models\n    type: yaml\n    enabled: false\n    labels: [Org]\n"
        "    includedModels: ['ibm/*']\n    excludedModels: ['*-draft']\n"
        "    properties: {yamlCatalogPath: models/org.yaml}\n"
        "  - id: bare\n"
    )
    org, bare = parsed.sources
    assert (org.name, org.type, org.enabled, org.labels) == ("Org models", "yaml", False, ("Org",))
    assert (org.included_models, org.excluded_models) == (("ibm/*",), ("*-draft",))
    assert org.catalog_path() == Path("/etc/catalog/models/org.yaml")
    assert (bare.name, bare.type, bare.enabled, bare.labels, bare.properties) == (None, None, None, None, None)
    assert bare.catalog_path() is None


def test_absolute_catalog_path_is_kept() -> None:
    parsed = parse("model_catalogs:\n  - id: a\n    properties: {yamlCatalogPath: /srv/models.yaml}\n")
    assert parsed.sources[0].catalog_path() == Path("/srv/models.yaml")


def test_deprecated_catalogs_key_is_read_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "modelreg.catalog"):
        parsed = parse(
            "catalogs:\n  - {id: old, name: From catalogs}\n  - {id: both, name: From catalogs}\n"
            "model_catalogs:\n  - {id: both, name: From model_catalogs}\n"
        )
    assert {s.id: s.name for s in parsed.sources} == {"both": "From model_catalogs", "old": "From catalogs"}
    assert "deprecated" in caplog.text


def test_mcp_catalogs_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "modelreg.catalog"):
        parsed = parse("mcp_catalogs:\n  - {id: tools, type: yaml}\nmodel_catalogs: []\n")
    assert parsed.sources == ()
    assert "mcp_catalogs" in caplog.text


def test_empty_file_is_an_empty_config() -> None:
    assert parse("").sources == ()


def test_labels_keep_null_names_and_extra_keys() -> None:
    parsed = parse(
        "labels:\n"
        "  - {name: Validated, description: Checked by us, color: purple}\n"
        "  - {name: null, displayName: Community and custom}\n"
    )
    validated, community = parsed.labels
    assert (validated.name, validated.description, dict(validated.extra)) == (
        "Validated",
        "Checked by us",
        {"color": "purple"},
    )
    assert (community.name, community.display_name, community.asset_type) == (None, "Community and custom", "models")


def test_named_queries_in_both_forms_keep_min_and_max() -> None:
    parsed = parse(
        "namedQueries:\n"
        "  fast:\n    assetType: models\n    filters:\n"
        "      artifacts.ttft_p90.double_value: {operator: '<=', value: max}\n"
        "  legacy:\n    tasks: {operator: '=', value: text-generation}\n"
    )
    fast, legacy = parsed.named_queries
    assert fast.filters == {"artifacts.ttft_p90.double_value": {"operator": "<=", "value": "max"}}
    assert (legacy.asset_type, legacy.filters) == ("models", {"tasks": {"operator": "=", "value": "text-generation"}})


def test_several_files_merge_field_by_field(tmp_path: Path) -> None:
    base = tmp_path / "base"
    overlay = tmp_path / "overlay"
    first = parse(
        "model_catalogs:\n"
        "  - {id: org, name: Org, type: yaml, labels: [Org], properties: {yamlCatalogPath: org.yaml}}\n"
        "  - {id: other, name: Other, type: yaml}\n"
        "labels:\n  - {name: Org, description: first}\n"
        "namedQueries:\n  q: {tasks: {operator: '=', value: a}}\n",
        base / "sources.yaml",
    )
    second = parse(
        "model_catalogs:\n"
        "  - {id: org, enabled: false}\n"
        "  - {id: other, properties: {yamlCatalogPath: other.yaml}}\n"
        "  - {id: new, name: New}\n"
        "labels:\n  - {name: Org, description: second}\n"
        "namedQueries:\n  q: {tasks: {operator: '=', value: b}}\n",
        overlay / "sources.yaml",
    )
    org, other, new = merge([first, second])
    assert (org.name, org.type, org.enabled, org.labels) == ("Org", "yaml", False, ("Org",))
    assert org.catalog_path() == base / "org.yaml"  # properties set by the first file: its folder
    assert other.catalog_path() == overlay / "other.yaml"  # ... and by the second one: that folder
    assert new.name == "New"
    assert [label.description for label in merge_labels([first, second])] == ["second"]
    assert merge_named_queries([first, second])[0].filters["tasks"]["value"] == "b"

"""The demo catalog shipped in the package: it loads cleanly and its content is what the UI and docs promise."""

from __future__ import annotations

import base64
import re
from xml.etree import ElementTree

import pytest
import yaml

from modelreg.catalog.loader import DEMO_SOURCES, load
from modelreg.catalog.models import ArtifactType, CatalogModel, SourceStatus
from modelreg.catalog.yaml_catalog import ChunkCache, parse_catalog

CONFIG = load([])
MODELS = [m for s in CONFIG.sources for m in s.models]


def test_two_sources_load_without_problems() -> None:
    assert CONFIG.problems == ()
    assert [(s.source.id, s.source.labels, s.source.status) for s in CONFIG.sources] == [
        ("organization_ai", ("Organization AI",), SourceStatus.AVAILABLE),
        ("community", (), SourceStatus.AVAILABLE),
    ]
    assert {label.name: label.display_name for label in CONFIG.labels} == {
        "Organization AI": "Organization AI",
        None: "Community and custom",
    }


def test_six_to_ten_openly_licensed_models_with_varied_tasks() -> None:
    assert 6 <= len(MODELS) <= 10
    assert {m.license for m in MODELS} <= {"Apache 2.0", "MIT", "Llama 3.1 Community License"}
    assert {"text-generation", "text-embedding", "image-classification"} <= {t for m in MODELS for t in m.tasks}
    assert len({m.provider for m in MODELS}) >= 5


@pytest.mark.parametrize("m", MODELS, ids=lambda m: m.name)
def test_each_model_card_has_a_heading_list_table_and_code(m: CatalogModel) -> None:
    readme = m.readme or ""
    assert re.search(r"^# ", readme, re.M) and re.search(r"^- ", readme, re.M)
    assert re.search(r"^\|---", readme, re.M) and "```" in readme
    assert m.description and m.create_time_ms > 0


@pytest.mark.parametrize("m", MODELS, ids=lambda m: m.name)
def test_each_logo_is_a_small_inline_svg(m: CatalogModel) -> None:
    prefix = "data:image/svg+xml;base64,"
    assert (m.logo or "").startswith(prefix)
    svg = base64.b64decode((m.logo or "")[len(prefix) :])
    assert len(svg) < 2048 and b"http://www.w3.org/2000/svg" in svg
    assert ElementTree.fromstring(svg).tag.endswith("svg")
    assert b"href" not in svg  # nothing loaded from another host


@pytest.mark.parametrize("m", MODELS, ids=lambda m: m.name)
def test_model_locations_are_never_fetched_kinds(m: CatalogModel) -> None:
    assert re.match(r"(oci://quay\.io/|s3://)", m.model_uri or "")


def test_one_validated_model_with_performance_and_accuracy_metrics() -> None:
    (validated,) = [m for m in MODELS if m.validated]
    metrics = [a for a in validated.artifacts if a.artifact_type is ArtifactType.METRICS]
    performance = [a for a in metrics if a.metrics_type == "performance-metrics"]
    assert {a.custom_properties["hardware_type"]["string_value"] for a in performance} == {"H100", "L40S"}
    assert all({"ttft_p90", "tps_mean", "requests_per_second"} <= set(a.custom_properties) for a in performance)
    (accuracy,) = [a for a in metrics if a.metrics_type == "accuracy-metrics"]
    assert accuracy.custom_properties["overall_average"]["metadataType"] == "MetadataDoubleValue"


@pytest.mark.parametrize("name", ["organization-models.yaml", "community-models.yaml"])
def test_demo_files_parse_the_same_chunked_and_whole(name: str) -> None:
    data = (DEMO_SOURCES.parent / name).read_bytes()
    assert parse_catalog(data, ChunkCache())[1] == yaml.safe_load(data)["models"]

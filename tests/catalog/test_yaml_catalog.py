"""YAML catalog files: model fields, licenses, artifacts and their checks, ids and times, the chunked parse."""

from __future__ import annotations

import pytest
import yaml
from sources_builders import model

from modelreg.catalog.globs import ALL_MODELS, compile_filter
from modelreg.catalog.licenses import readable_license
from modelreg.catalog.models import ArtifactType, CatalogModel, stable_id
from modelreg.catalog.yaml_catalog import CatalogFileError, CatalogLoad, ChunkCache, parse_catalog, read_catalog


def read(
    models: list[dict[str, object]] | str,
    previous: dict[str, CatalogModel] | None = None,
    now: int = 1000,
    cache: ChunkCache | None = None,
    **kwargs: object,
) -> CatalogLoad:
    text = models if isinstance(models, str) else yaml.safe_dump({"source": "Test", "models": models})
    return read_catalog(
        text.encode(),
        source_id="src",
        model_filter=kwargs.get("model_filter", ALL_MODELS),  # type: ignore[arg-type]
        previous=previous or {},
        now_ms=now,
        cache=cache,
    )


def test_fields_come_from_camel_case_keys() -> None:
    loaded = read(
        [
            model(
                "org/m",
                description="d",
                readme="# R",
                maturity="GA",
                language=["en", "fr"],
                tasks=["text-generation"],
                provider="Org",
                logo="data:image/svg+xml;base64,PHN2Zy8+",
                license="apache-2.0",
                licenseLink="https://l",
                libraryName="transformers",
                createTimeSinceEpoch="1700000000000",
                lastUpdateTimeSinceEpoch=1700000000500,
                customProperties={
                    "validated": {"metadataType": "MetadataStringValue", "string_value": ""},
                    "layers": {"int_value": 32},
                    "score": {"double_value": "0.5"},
                    "open": {"metadataType": "MetadataBoolValue", "bool_value": True},
                },
            )
        ]
    )
    assert loaded.failures == () and loaded.source_label == "Test"
    (m,) = loaded.models
    assert (m.source_id, m.name, m.id) == ("src", "org/m", stable_id("src", "org/m"))
    assert (m.description, m.readme, m.maturity, m.provider, m.library_name) == (
        "d",
        "# R",
        "GA",
        "Org",
        "transformers",
    )
    assert (m.language, m.tasks, m.license, m.license_link) == (
        ("en", "fr"),
        ("text-generation",),
        "Apache 2.0",
        "https://l",
    )
    assert (m.create_time_ms, m.last_update_time_ms) == (1700000000000, 1700000000500)
    assert m.custom_properties["layers"] == {"metadataType": "MetadataIntValue", "int_value": "32"}
    assert m.custom_properties["score"] == {"metadataType": "MetadataDoubleValue", "double_value": 0.5}
    assert m.custom_properties["open"] == {"metadataType": "MetadataBoolValue", "bool_value": True}
    assert m.validated and m.labels == ("validated",)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("apache-2.0", "Apache 2.0"),
        ("mit", "MIT"),
        ("MIT", "MIT"),
        ("llama3.1", "Llama 3.1 Community License"),
        ("bsd-3-clause", "BSD 3-Clause"),
        ("cc-by-4.0", "CC BY 4.0"),
        ("gemma", "Gemma Terms of Use"),
        ("llama3.3", "Llama 3.3 Community License"),
        ("other", "other"),
        ("My License", "My License"),
        (None, None),
    ],
)
def test_licenses_become_readable(given: str | None, shown: str | None) -> None:
    assert readable_license(given) == shown


def test_artifacts_model_by_default_and_metrics_with_their_type() -> None:
    (m,) = read(
        [
            model(
                "m",
                artifacts=[
                    {"uri": "s3://bucket/m/", "customProperties": {"arch": {"string_value": "amd64"}}},
                    {
                        "artifactType": "metrics-artifact",
                        "metricsType": "performance-metrics",
                        "customProperties": {"ttft_p90": {"double_value": 50}},
                    },
                    {"artifactType": "metrics-artifact", "metricsType": "accuracy-metrics"},
                ],
            )
        ]
    ).models
    model_artifact, perf, accuracy = m.artifacts
    assert (model_artifact.artifact_type, model_artifact.uri, perf.artifact_type) == (
        ArtifactType.MODEL,
        "s3://bucket/m/",
        ArtifactType.METRICS,
    )
    assert (perf.metrics_type, accuracy.metrics_type) == ("performance-metrics", "accuracy-metrics")
    assert perf.custom_properties["ttft_p90"]["double_value"] == 50.0
    assert len({a.id for a in m.artifacts}) == 3
    assert m.model_uri == "s3://bucket/m/"


@pytest.mark.parametrize("scheme", ["oci", "http", "https", "s3", "gs", "az", "file", "hf", "OCI"])
def test_allowed_uri_schemes(scheme: str) -> None:
    assert read([model("m", artifacts=[{"uri": f"{scheme}://x/y"}])]).failures == ()


@pytest.mark.parametrize(
    ("artifact", "message"),
    [
        ({"uri": "ftp://host/model"}, "invalid uri 'ftp://host/model'"),
        ({"uri": "/no/scheme"}, "invalid uri"),
        ({"customProperties": {}}, "needs a uri"),
        ({"artifactType": "dataset", "uri": "s3://x"}, "unknown artifactType: dataset"),
        ({"artifactType": "metrics-artifact", "metricsType": "vibes"}, "metricsType must be one of"),
        ({"uri": "s3://x", "colour": "red"}, "unknown key 'colour'"),
        ({"uri": "s3://x", "customProperties": {"k": "plain"}}, "customProperties.k: expected a mapping"),
        ({"uri": "s3://x", "customProperties": {"k": {"int_value": "x"}}}, "int_value must be an integer"),
        ({"uri": "s3://x", "customProperties": {"k": {"metadataType": "Nope", "v": 1}}}, "unknown metadataType"),
    ],
)
def test_a_bad_artifact_fails_only_its_model(artifact: dict[str, object], message: str) -> None:
    loaded = read([model("bad", artifacts=[artifact]), model("good")])
    assert [m.name for m in loaded.models] == ["good"]
    (failure,) = loaded.failures
    assert failure.startswith("model 'bad': ") and message in failure


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tasks": "text-generation"}, "tasks must be a list of strings"),
        ({"description": ["x"]}, "description must be a string"),
        ({"createTimeSinceEpoch": "yesterday"}, "createTimeSinceEpoch must be milliseconds"),
        ({"popularity": 3}, "unknown key 'popularity'"),
    ],
)
def test_a_bad_model_field_fails_that_model(fields: dict[str, object], message: str) -> None:
    loaded = read([model("bad", **fields), model("good")])
    assert [m.name for m in loaded.models] == ["good"] and message in loaded.failures[0]


def test_nameless_and_duplicate_models_fail_alone() -> None:
    loaded = read([model("a"), {"description": "no name"}, model("a", description="again")])
    assert [m.name for m in loaded.models] == ["a"] and loaded.models[0].description is None
    assert len(loaded.failures) == 2 and "appears more than once" in loaded.failures[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: [\n", "not valid YAML"),
        ("source: x\nmodels: {}\n", "'models' must be a list"),
        ("source: x\nextra: 1\nmodels: []\n", "unknown key 'extra'"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_a_file_that_is_not_a_catalog_fails_whole(text: str, message: str) -> None:
    with pytest.raises(CatalogFileError, match=message):
        read(text)


def test_filter_applies_before_building() -> None:
    keep = compile_filter(["org/*"], ["*-draft"])
    loaded = read(
        [model("org/a"), model("org/a-draft"), model("other/b", tasks="invalid but excluded")], model_filter=keep
    )
    assert [m.name for m in loaded.models] == ["org/a"] and loaded.failures == ()


def test_models_are_sorted_by_name() -> None:
    assert [m.name for m in read([model("c"), model("a"), model("b")]).models] == ["a", "b", "c"]


def test_times_default_to_first_seen_and_survive_a_reload() -> None:
    first = read([model("m")], now=5_000)
    (m,) = first.models
    assert (m.create_time_ms, m.last_update_time_ms, m.artifacts[0].create_time_ms) == (5_000, 5_000, 5_000)
    again = read([model("m", description="edited"), model("new")], previous={m.name: m}, now=9_000)
    by_name = {x.name: x for x in again.models}
    assert by_name["m"].create_time_ms == 5_000 and by_name["m"].id == m.id
    assert by_name["m"].artifacts[0].id == m.artifacts[0].id
    assert by_name["new"].create_time_ms == 9_000


def test_explicit_last_update_defaults_to_create_time() -> None:
    (m,) = read([model("m", createTimeSinceEpoch=42)]).models
    assert m.last_update_time_ms == 42


TRICKY = """\
# a comment before
source: Tricky
models:
# a comment between
  - name: first
    readme: |
      A list inside a block scalar:
      - name: not a model
      - still text
      models:
    artifacts:
      - uri: oci://x/first
  - name: second
    description: "a quoted
      multi-line value"
    artifacts: [{uri: 's3://b/second'}]
  - name: third
    customProperties: &props
      k: {string_value: v}
    artifacts:
      - uri: gs://b/third
        customProperties: *props
"""


def test_chunked_parse_matches_a_whole_parse() -> None:
    expected = yaml.safe_load(TRICKY)
    cache = ChunkCache()
    label, items = parse_catalog(TRICKY.encode(), cache)
    assert label == expected["source"] and items == expected["models"]
    assert all(a is b for a, b in zip(parse_catalog(TRICKY.encode(), cache)[1], items, strict=True))  # chunked


def test_chunked_parse_falls_back_when_models_share_anchors() -> None:
    text = "models:\n- name: a\n  customProperties: &p {k: {string_value: v}}\n- name: b\n  customProperties: *p\n"
    _, items = parse_catalog(text.encode(), ChunkCache())
    assert items == yaml.safe_load(text)["models"]


def test_the_cache_reuses_unchanged_models_only() -> None:
    cache = ChunkCache()
    text = yaml.safe_dump({"models": [model("a"), model("b")]})
    _, first = parse_catalog(text.encode(), cache)
    _, second = parse_catalog(text.replace("quay.io/test/b", "quay.io/test/B").encode(), cache)
    assert second[0] is first[0]  # "a" was not parsed again
    assert second[1] is not first[1] and second[1]["artifacts"][0]["uri"] == "oci://quay.io/test/B:1"

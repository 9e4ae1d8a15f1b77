"""Loading sources files into snapshots: statuses, errors kept local, last good data kept, the demo fallback."""

from __future__ import annotations

from pathlib import Path

import yaml
from sources_builders import model, source, write_catalog, write_sources

from modelreg.catalog.loader import CatalogLoader, load
from modelreg.catalog.models import SourceStatus
from modelreg.catalog.snapshots import CatalogConfig, SourceSnapshot


def by_id(config: CatalogConfig) -> dict[str, SourceSnapshot]:
    return {s.source.id: s for s in config.sources}


def names(snapshot: SourceSnapshot) -> list[str]:
    return [m.name for m in snapshot.models]


def test_statuses_per_source(tmp_path: Path) -> None:
    write_catalog(tmp_path / "good.yaml", [model("b/two"), model("a/one")])
    write_catalog(tmp_path / "mixed.yaml", [model("ok"), model("bad", artifacts=[{"uri": "ftp://x"}])])
    write_catalog(tmp_path / "broken.yaml", [model("bad", artifacts=[{"artifactType": "weights"}])])
    sources = write_sources(
        tmp_path / "sources.yaml",
        [
            source("good", "good.yaml", labels=["Org"]),
            source("mixed", "mixed.yaml"),
            source("broken", "broken.yaml"),
            source("missing", "nowhere.yaml"),
            source("off", "good.yaml", enabled=False),
            source("hub", type="hf"),
            source("odd", "good.yaml", type="csv"),
            source("globs", "good.yaml", includedModels=["a/*"], excludedModels=["A/*"]),
        ],
    )
    snapshots = by_id(load([sources]))
    assert list(snapshots) == ["good", "mixed", "broken", "missing", "off", "hub", "odd", "globs"]
    good = snapshots["good"]
    assert (good.source.status, good.source.error, names(good)) == (SourceStatus.AVAILABLE, None, ["a/one", "b/two"])
    assert (good.source.labels, good.source.origin, good.source.name) == (("Org",), str(sources), "Source good")
    mixed = snapshots["mixed"]
    assert (mixed.source.status, names(mixed)) == (SourceStatus.PARTIALLY_AVAILABLE, ["ok"])
    assert "1 model failed to load: model 'bad': " in (mixed.source.error or "")
    broken = snapshots["broken"]
    assert (broken.source.status, broken.models) == (SourceStatus.ERROR, ())
    assert "unknown artifactType: weights" in (broken.source.error or "")
    missing = snapshots["missing"]
    assert missing.source.status is SourceStatus.ERROR and missing.models == ()
    assert (missing.source.error or "").startswith(f"failed to read yamlCatalogPath file: {tmp_path / 'nowhere.yaml'}")
    off = snapshots["off"]
    assert (off.source.status, off.source.enabled, off.models, off.source.error) == (
        SourceStatus.DISABLED,
        False,
        (),
        None,
    )
    assert snapshots["hub"].source.error == (
        "catalog type 'hf' is not supported: this server fetches nothing from Hugging Face"
    )
    assert "catalog type 'csv' is not supported" in (snapshots["odd"].source.error or "")
    assert "in both includedModels and excludedModels" in (snapshots["globs"].source.error or "")


def test_include_exclude_and_legacy_property(tmp_path: Path) -> None:
    write_catalog(tmp_path / "c.yaml", [model(n) for n in ("org/a", "org/a-draft", "org/b-old", "x/c")])
    sources = write_sources(
        tmp_path / "sources.yaml",
        [
            source(
                "s",
                includedModels=["ORG/*"],
                excludedModels=["*-draft"],
                properties={"yamlCatalogPath": "c.yaml", "excludedModels": ["*-old"]},
            ),
        ],
    )
    assert names(by_id(load([sources]))["s"]) == ["org/a"]


def test_a_source_in_two_files_is_merged(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write_catalog(tmp_path / "one" / "c.yaml", [model("from-one")])
    write_catalog(tmp_path / "two" / "c.yaml", [model("from-two")])
    first = write_sources(tmp_path / "one" / "sources.yaml", [source("s", "c.yaml", labels=["A"])])
    second = write_sources(tmp_path / "two" / "sources.yaml", [{"id": "s", "name": "Renamed"}])
    snapshot = by_id(load([first, second]))["s"]
    assert (snapshot.source.name, snapshot.source.labels, names(snapshot)) == ("Renamed", ("A",), ["from-one"])
    third = write_sources(tmp_path / "two" / "more.yaml", [{"id": "s", "properties": {"yamlCatalogPath": "c.yaml"}}])
    assert names(by_id(load([first, third]))["s"]) == ["from-two"]


def test_a_broken_catalog_keeps_the_last_good_models(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", [model("a"), model("b")])
    sources = write_sources(tmp_path / "sources.yaml", [source("s", "c.yaml"), source("t", "c.yaml")])
    loader = CatalogLoader()
    first = loader.load([sources])
    catalog.write_text("models: [unclosed\n")
    second = loader.load([sources], first)
    s = by_id(second)["s"]
    assert s.source.status is SourceStatus.ERROR and "failed to read yamlCatalogPath file" in (s.source.error or "")
    assert s.models == by_id(first)["s"].models
    catalog.unlink()
    third = loader.load([sources], second)
    assert by_id(third)["t"].models == by_id(first)["t"].models
    assert "No such file" in (by_id(third)["t"].source.error or "")


def test_a_broken_sources_file_keeps_its_last_good_sources(tmp_path: Path) -> None:
    write_catalog(tmp_path / "c.yaml", [model("a")])
    good = write_sources(tmp_path / "good.yaml", [source("g", "c.yaml")])
    other = write_sources(tmp_path / "other.yaml", [source("o", "c.yaml")])
    loader = CatalogLoader()
    first = loader.load([good, other])
    other.write_text("model_catalogs:\n  - id: o\n    colour: red\n")
    second = loader.load([good, other], first)
    assert list(by_id(second)) == ["g", "o"] and names(by_id(second)["o"]) == ["a"]
    (problem,) = second.problems
    assert problem.startswith(f"{other}: ") and "unknown key 'colour'" in problem
    # a fresh loader only has the previous config to go by: it keeps that file's sources as they were
    fresh = load([good, other], first)
    assert names(by_id(fresh)["o"]) == ["a"] and fresh.problems


def test_unchanged_sources_keep_their_model_objects(tmp_path: Path) -> None:
    write_catalog(tmp_path / "a.yaml", [model("a")])
    b = write_catalog(tmp_path / "b.yaml", [model("b")])
    sources = write_sources(tmp_path / "sources.yaml", [source("a", "a.yaml"), source("b", "b.yaml")])
    loader = CatalogLoader()
    first = loader.load([sources])
    write_catalog(b, [model("b"), model("b2")])
    second = loader.load([sources], first)
    assert by_id(second)["a"].models is by_id(first)["a"].models
    assert names(by_id(second)["b"]) == ["b", "b2"]
    assert set(loader.watched) == {sources, tmp_path / "a.yaml", b}


def test_without_sources_files_the_demo_catalog_is_served() -> None:
    config = load([])
    assert {s.source.id for s in config.sources} == {"organization_ai", "community"}
    assert all(s.source.origin is None and s.source.status is SourceStatus.AVAILABLE for s in config.sources)


def test_labels_and_named_queries_come_through(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        yaml.safe_dump(
            {
                "model_catalogs": [],
                "labels": [{"name": "Org", "displayName": "Organization"}],
                "namedQueries": {"q": {"assetType": "models", "filters": {"tasks": {"operator": "=", "value": "x"}}}},
            }
        )
    )
    config = load([sources])
    assert [label.display_name for label in config.labels] == ["Organization"]
    assert [q.name for q in config.named_queries] == ["q"]

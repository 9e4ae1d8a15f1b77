"""CatalogIndex and CatalogService: which sources feed models, reuse of prepared data, swaps on reload."""

from __future__ import annotations

import threading

import pytest

from api_catalog.catalog_data import config, model, snapshot, zoo
from modelreg.catalog.index import CatalogIndex
from modelreg.catalog.models import Label, SourceStatus
from modelreg.catalog.params import ArtifactQuery, ModelQuery
from modelreg.catalog.service import CatalogService
from modelreg.errors import InvalidInput, NotFound


def names(index: CatalogIndex | CatalogService, **params: object) -> list[str]:
    return [m.name for m in index.find_models(ModelQuery(page_size=1000, **params)).items]  # type: ignore[arg-type]


def test_only_enabled_sources_with_models_contribute() -> None:
    index = CatalogIndex.build(
        [
            snapshot("ok", [model("a", "ok")]),
            snapshot("partial", [model("b", "partial")], status=SourceStatus.PARTIALLY_AVAILABLE, error="1 failed"),
            snapshot("failing", [model("c", "failing")], status=SourceStatus.ERROR, error="file gone"),  # last good
            snapshot("off", [model("d", "off")], enabled=False),
        ]
    )
    assert names(index) == ["a", "b", "c"]
    assert [s.id for s in index.sources] == ["ok", "partial", "failing", "off"]
    assert index.get_model("failing", "c").name == "c"
    with pytest.raises(NotFound, match="No model found 'd' in source 'off'"):
        index.get_model("off", "d")


def test_same_name_in_two_sources() -> None:
    index = CatalogIndex.build([snapshot("one", [model("m", "one")]), snapshot("two", [model("m", "two")])])
    assert [m.source_id for m in index.find_models(ModelQuery()).items] == sorted(
        ["one", "two"], key=lambda s: int(index.get_model(s, "m").id)
    )
    assert index.get_model("two", "m").source_id == "two"


def test_unchanged_sources_are_reused_and_changed_ones_keep_unchanged_models() -> None:
    files = snapshot("files", zoo())
    registry_models = [model(f"r{i}", "registry", id=str(i)) for i in range(5)]
    first = CatalogIndex.build([files, snapshot("registry", registry_models)])
    changed = snapshot("registry", [*registry_models[:4], model("r9", "registry", id="9")])
    second = CatalogIndex.build([files, changed], previous=first)
    assert second.prepared[0] is first.prepared[0]  # the file source was not prepared again
    reused = {id(e) for e in first.prepared[1].entries} & {id(e) for e in second.prepared[1].entries}
    assert len(reused) == 4  # the registry's unchanged models kept their entries
    assert names(second, sources=("registry",)) == ["r0", "r1", "r2", "r3", "r9"]
    assert names(first, sources=("registry",)) == ["r0", "r1", "r2", "r3", "r4"]  # the old index is untouched


def test_filter_options_follow_the_index() -> None:
    first = CatalogIndex.build([snapshot("files", zoo())])
    assert "IBM" in first.filter_options()["filters"]["provider"]["values"]  # type: ignore[index]
    second = CatalogIndex.build([snapshot("files", [model("x", provider="Acme")])], previous=first)
    assert second.filter_options()["filters"]["provider"]["values"] == ["Acme"]  # type: ignore[index]
    off = CatalogIndex.build([snapshot("files", zoo(), enabled=False)])
    assert off.filter_options() == {"filters": {}, "namedQueries": {}}


def test_service_swaps_indexes_on_config_and_registry_changes() -> None:
    service = CatalogService()
    assert names(service) == []
    service.set_config(config(snapshot("files", zoo()[:2]), labels=(Label("Community"),)))
    service.set_registry(snapshot("registry", [model("mnist", "registry", id="3")], labels=("Registered models",)))
    assert names(service) == ["ibm-granite/granite-3.1-8b-instruct", "meta-llama/Llama-3.1-8B", "mnist"]
    assert [label.name for label in service.labels()] == ["Community", "Registered models"]
    assert [s.id for s in service.all_sources()] == ["files", "registry"]
    service.set_config(config())
    assert names(service) == ["mnist"]
    service.set_registry(None)
    assert names(service) == [] and service.all_sources() == ()


def test_readers_see_whole_indexes_while_rebuilding() -> None:
    """A reader during reloads sees one of the catalogs it was given, never a mix or an error."""
    service = CatalogService()
    small = config(snapshot("files", [model(f"s{i}") for i in range(50)]))
    large = config(snapshot("files", [model(f"l{i}") for i in range(500)]))
    service.set_config(small)
    stop = threading.Event()

    def reload() -> None:
        while not stop.is_set():
            service.set_config(large)
            service.set_config(small)

    writer = threading.Thread(target=reload)
    writer.start()
    try:
        for _ in range(200):
            found = names(service)
            assert len(found) in (50, 500) and len({n[0] for n in found}) == 1
    finally:
        stop.set()
        writer.join()


def test_artifact_query_errors() -> None:
    index = CatalogIndex.build([snapshot("files", zoo())])
    name = zoo()[0].name
    with pytest.raises(InvalidInput, match="invalid value 'x' for artifactType"):
        index.artifacts("files", name, ArtifactQuery(artifact_type="x"))
    with pytest.raises(NotFound):
        index.artifacts("files", "nope", ArtifactQuery())
    page = index.artifacts("files", name, ArtifactQuery(page_size=2))
    rest = index.artifacts("files", name, ArtifactQuery(page_size=2, page_token=page.next_page_token))
    assert len(page.items) == len(rest.items) == 2 and rest.next_page_token == ""
    with pytest.raises(InvalidInput, match="invalid nextPageToken"):
        index.artifacts("files", name, ArtifactQuery(page_size=2, page_token=page.next_page_token, order_by="NAME"))


@pytest.mark.parametrize("sort_order", ["ASC", "DESC"])
def test_pages_of_one_source_among_several(sort_order: str) -> None:
    index = CatalogIndex.build(
        [snapshot("one", [model(f"m{i}", "one") for i in range(7)]), snapshot("two", [model("m3b", "two")])]
    )
    whole = names(index, sources=("one",), sort_order=sort_order)
    assert whole == sorted(whole, reverse=sort_order == "DESC") and len(whole) == 7
    paged: list[str] = []
    token = None
    while True:
        page = index.find_models(ModelQuery(sources=("one",), sort_order=sort_order, page_size=2, page_token=token))
        paged += [m.name for m in page.items]
        token = page.next_page_token or None
        if token is None:
            break
    assert paged == whole

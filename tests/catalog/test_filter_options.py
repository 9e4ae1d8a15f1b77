"""filter_options merged across sources, and kept right when a source changes by a few models (a registry write)."""

from __future__ import annotations

from typing import Any

from api_catalog.catalog_data import metrics, model, snapshot
from modelreg.catalog.index import CatalogIndex
from modelreg.catalog.models import CatalogModel


def filters(index: CatalogIndex) -> dict[str, Any]:
    return index.filter_options()["filters"]  # type: ignore[return-value]


def perf(ttft: float) -> Any:
    return (metrics(f"m{ttft}", ttft_p90=ttft, hardware="H100"),)


FILES = [
    model("a", "files", provider="IBM", tasks=("chat",), props={"size_b": 8.0}, artifacts=perf(40.0)),
    model("b", "files", provider="Meta", license="MIT", props={"size_b": 70.0}),
]


def registry(*extra: CatalogModel) -> list[CatalogModel]:
    base = [
        model("r1", "registry", id="1", provider="IBM", tasks=("summarization",), props={"size_b": 2.0}),
        model("r2", "registry", id="2", provider="Acme", artifacts=perf(15.5)),
    ]
    return [*base, *extra]


def test_values_and_ranges_merge_across_sources() -> None:
    index = CatalogIndex.build([snapshot("files", FILES), snapshot("registry", registry())])
    got = filters(index)
    assert got["provider"] == {"type": "string", "values": ["Acme", "IBM", "Meta"]}  # IBM in both: listed once
    assert got["tasks"]["values"] == ["chat", "summarization"]
    assert got["license"]["values"] == ["MIT"]
    assert got["size_b"] == {"type": "number", "range": {"min": 2.0, "max": 70.0}}
    assert got["artifacts.ttft_p90.double_value"]["range"] == {"min": 15.5, "max": 40.0}
    assert got["artifacts.hardware.string_value"]["values"] == ["H100"]


def test_a_changed_source_updates_its_share_and_keeps_the_others() -> None:
    files = snapshot("files", FILES)
    first = CatalogIndex.build([files, snapshot("registry", registry())])
    filters(first)  # counted once, as a page view does; later indexes follow the changes
    base = registry()
    newcomer = model("r3", "registry", id="3", provider="Zed", props={"size_b": 0.5}, artifacts=perf(900.0))
    grown = CatalogIndex.build([files, snapshot("registry", [*base, newcomer])], previous=first)
    got = filters(grown)
    assert got["provider"]["values"] == ["Acme", "IBM", "Meta", "Zed"]
    assert got["size_b"]["range"] == {"min": 0.5, "max": 70.0}
    assert got["artifacts.ttft_p90.double_value"]["range"] == {"min": 15.5, "max": 900.0}

    # r2 goes (archived): Acme and its ttft go with it; IBM stays, since r1 and the files still give it.
    shrunk = CatalogIndex.build([files, snapshot("registry", [base[0], newcomer])], previous=grown)
    got = filters(shrunk)
    assert got["provider"]["values"] == ["IBM", "Meta", "Zed"]
    assert got["artifacts.ttft_p90.double_value"]["range"] == {"min": 40.0, "max": 900.0}
    # The same answer as an index built from scratch, and the earlier indexes are untouched.
    assert (
        shrunk.filter_options()
        == CatalogIndex.build([files, snapshot("registry", [base[0], newcomer])]).filter_options()
    )
    assert filters(grown)["provider"]["values"] == ["Acme", "IBM", "Meta", "Zed"]


def test_a_source_with_every_model_replaced_is_counted_afresh() -> None:
    first = CatalogIndex.build([snapshot("registry", registry())])
    filters(first)
    replaced = [model(f"n{i}", "registry", id=str(10 + i), provider=f"P{i}") for i in range(3)]
    second = CatalogIndex.build([snapshot("registry", replaced)], previous=first)
    assert filters(second)["provider"]["values"] == ["P0", "P1", "P2"]
    assert "size_b" not in filters(second)

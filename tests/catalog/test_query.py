"""filterQuery, q and orderBy over catalog models in memory (catalog/query.py, catalog/ordering.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api_catalog.catalog_data import metrics, model, prop, snapshot, zoo
from modelreg.catalog.index import CatalogIndex
from modelreg.catalog.models import CatalogModel
from modelreg.catalog.params import ModelQuery
from modelreg.catalog.query import compile_artifact_filter, compile_model_filter
from modelreg.errors import InvalidInput

MODELS = zoo()
GRANITE, LLAMA, MISTRAL, MINILM = (m.name for m in MODELS)


def matching(text: str, models: list[CatalogModel] = MODELS) -> set[str]:
    compiled = compile_model_filter(text)
    assert compiled is not None
    return {m.name for m in models if compiled.matches(m)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("provider = 'IBM'", {GRANITE}),
        ("provider != 'IBM'", {LLAMA, MISTRAL, MINILM}),
        ("provider <> 'IBM'", {LLAMA, MISTRAL, MINILM}),
        ("license = 'Apache 2.0' AND provider = 'Mistral AI'", {MISTRAL}),
        ("provider = 'IBM' OR provider = 'Meta'", {GRANITE, LLAMA}),
        ("provider IN ('IBM', 'Meta')", {GRANITE, LLAMA}),
        ("provider NOT IN ('IBM', 'Meta')", {MISTRAL, MINILM}),
        ("(provider = 'IBM' OR provider = 'Meta') AND license = 'Apache 2.0'", {GRANITE}),
        ("name = 'meta-llama/Llama-3.1-8B'", {LLAMA}),
        ("libraryName = 'transformers'", {GRANITE, LLAMA}),
        ("library_name = 'transformers'", {GRANITE, LLAMA}),
        ("maturity = 'Generally Available'", {GRANITE}),
        ("source_id = 'files'", {GRANITE, LLAMA, MISTRAL, MINILM}),
        ("createTimeSinceEpoch >= 1690000000000", {GRANITE, LLAMA}),
        ("createTimeSinceEpoch < '1690000000000'", {MISTRAL, MINILM}),  # times are strings on the wire
        ("lastUpdateTimeSinceEpoch > 1725000000000", {MISTRAL}),
    ],
)
def test_fields_and_operators(text: str, expected: set[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tasks = 'chat'", {GRANITE}),
        ("tasks = 'text-generation'", {GRANITE, LLAMA, MISTRAL}),
        ("language = 'fr'", {MISTRAL}),
        ("language IN ('de', 'fr')", {GRANITE, MISTRAL}),
        ("tasks != 'text-generation'", {MINILM}),  # contains no such element
        ("language NOT IN ('en')", set()),  # MiniLM has no languages: an empty array matches nothing
        ("tasks LIKE 'summ%'", {MISTRAL}),
        ("tasks ILIKE 'FEATURE%'", {MINILM}),
    ],
)
def test_array_fields_mean_contains(text: str, expected: set[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name LIKE 'ibm-granite/%'", {GRANITE}),
        ("name LIKE 'IBM-granite/%'", set()),  # LIKE is case-sensitive
        ("name ILIKE 'IBM-GRANITE/%'", {GRANITE}),
        ("name LIKE '%Mistral-7B_v0._'", {MISTRAL}),  # _ is any one character
        ("name LIKE '%7B\\_v0.3'", {MISTRAL}),  # \_ is a literal underscore
        ("name LIKE '%B\\_v0'", set()),  # anchored at both ends
        ("description LIKE '%100\\%%'", {MINILM}),
        ("description ILIKE '%CHAT%'", {GRANITE}),
        ("description NOT ILIKE '%chat%'", {LLAMA, MISTRAL, MINILM}),
        ("provider NOT LIKE 'M%'", {GRANITE, MINILM}),
    ],
)
def test_like_and_ilike(text: str, expected: set[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tensor_type = 'BF16'", {GRANITE}),
        ("tensor_type.string_value = 'FP16'", {LLAMA}),
        ("size_b = 8", {GRANITE, LLAMA}),
        ("size_b.int_value >= 7", {GRANITE, LLAMA, MISTRAL}),
        ("score.double_value > 0.68", {GRANITE, MISTRAL}),
        ("score > 0.68 AND size_b < 8", {MISTRAL}),
        ("gated = false", {GRANITE}),
        ("gated.bool_value = false", {GRANITE}),
        ("validated = ''", {GRANITE}),
        ("`tensor_type` = 'BF16'", {GRANITE}),
        ("size_b.double_value = 8", set()),  # an int property has no double value
        ("size_b.string_value = '8'", set()),
    ],
)
def test_custom_properties(text: str, expected: set[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "provider = 5",  # a string field against a number
        "size_b = '8'",  # an int property against a string
        "score > 'a'",
        "gated = 0",  # a bool against a number
        "provider > true",
        "size_b LIKE '8%'",
        "no_such_property = 'x'",  # a property no model has
        "no_such_property != 'x'",  # absent values match nothing, not even !=
        "artifacts.no_such.double_value < 1000",
    ],
)
def test_type_mismatch_and_unknown_properties_match_nothing(text: str) -> None:
    assert matching(text) == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("artifacts.ttft_p90.double_value < 50", {GRANITE}),
        ("artifacts.ttft_p90 < 70", {GRANITE, LLAMA}),
        ("artifacts.hardware_type.string_value = 'L40S'", {GRANITE}),
        ("artifacts.use_case = 'chatbot' AND artifacts.ttft_p90.double_value <= 60", {GRANITE, LLAMA}),
        ("artifacts.uri LIKE 'oci://%'", {GRANITE}),
        ("artifacts.uri ILIKE 'HF://%'", {LLAMA}),
        ("artifacts.metricsType = 'accuracy-metrics'", {GRANITE, LLAMA}),
        ("artifacts.artifactType = 'model-artifact'", {GRANITE, LLAMA, MISTRAL}),
        ("artifacts.overall_average.double_value > 65", {GRANITE}),
        ("artifacts.architecture = 'amd64' OR provider = 'Community'", {GRANITE, MINILM}),
    ],
)
def test_artifact_conditions_match_any_artifact(text: str, expected: set[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    "text", ["provider =", "provider = IBM", "(provider = 'x'", "provider = 'x' AND", "provider ~ 'x'", "= 'x'"]
)
def test_bad_queries_say_what_is_wrong(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        compile_model_filter(text)
    assert raised.value.message.startswith("invalid filter query"), raised.value.message
    assert "position" in raised.value.message


def test_empty_query_is_no_filter() -> None:
    assert compile_model_filter(None) is None
    assert compile_model_filter("   ") is None


def test_artifact_filter_over_artifacts() -> None:
    granite = MODELS[0]
    test = compile_artifact_filter("ttft_p90 < 70 AND hardware_type = 'H100'")
    assert test is not None
    assert [a.name for a in granite.artifacts if test(a)] == ["granite-h100"]
    by_type = compile_artifact_filter("artifactType = 'metrics-artifact' AND metricsType != 'performance-metrics'")
    assert by_type is not None
    assert [a.name for a in granite.artifacts if by_type(a)] == ["granite-acc"]


# -- q and orderBy through the index ------------------------------------------------------------------------------

INDEX = CatalogIndex.build([snapshot("files", MODELS)])


def names(**params: object) -> list[str]:
    page = INDEX.find_models(ModelQuery(page_size=100, **params))  # type: ignore[arg-type]
    return [m.name for m in page.items]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("granite", {GRANITE}),  # name
        ("LLAMA BASE", {LLAMA}),  # description, any case
        ("mistral ai", {MISTRAL}),  # provider
        ("transformers", {GRANITE, LLAMA}),  # libraryName
        ("summarization", {MISTRAL}),  # tasks
        ("feature-extr", {MINILM}),
        ("apache", set()),  # license is not searched
        ("", {GRANITE, LLAMA, MISTRAL, MINILM}),
    ],
)
def test_q_searches_name_description_provider_library_and_tasks(q: str, expected: set[str]) -> None:
    assert set(names(q=q)) == expected


def test_q_and_filter_combine() -> None:
    assert names(q="text", filter_query="provider = 'Meta'") == [LLAMA]


def test_default_order_is_name_case_insensitive() -> None:
    assert names() == sorted((m.name for m in MODELS), key=str.casefold)


def by_id(*model_names: str) -> list[str]:
    """Models without a value for the sort come last, by id (ids are hashes here, so compute their order)."""
    return sorted(model_names, key=lambda n: int(INDEX.get_model("files", n).id))


@pytest.mark.parametrize(
    ("order_by", "ascending", "descending"),
    [
        ("CREATE_TIME", [MINILM, MISTRAL, LLAMA, GRANITE], [GRANITE, LLAMA, MISTRAL, MINILM]),
        ("LAST_UPDATE_TIME", [MINILM, GRANITE, LLAMA, MISTRAL], [MISTRAL, LLAMA, GRANITE, MINILM]),
        ("score.double_value", [LLAMA, MISTRAL, GRANITE, MINILM], [GRANITE, MISTRAL, LLAMA, MINILM]),
        ("provider.string_value", [MINILM, GRANITE, LLAMA, MISTRAL], [MISTRAL, LLAMA, GRANITE, MINILM]),
        ("ACCURACY", [LLAMA, GRANITE, *by_id(MISTRAL, MINILM)], [GRANITE, LLAMA, *by_id(MISTRAL, MINILM)[::-1]]),
        (
            "artifacts.ttft_p90.double_value",
            [GRANITE, LLAMA, *by_id(MISTRAL, MINILM)],
            [GRANITE, LLAMA, *by_id(MISTRAL, MINILM)[::-1]],
        ),
    ],
)
def test_order_by(order_by: str, ascending: list[str], descending: list[str]) -> None:
    assert names(order_by=order_by) == ascending
    assert names(order_by=order_by, sort_order="ASC") == ascending
    assert names(order_by=order_by, sort_order="desc") == descending


def test_order_by_id_is_numeric() -> None:
    models = [model(f"m{i}", id=str(i)) for i in (10, 9, 100, 1)]
    index = CatalogIndex.build([snapshot("files", models)])
    page = index.find_models(ModelQuery(order_by="ID"))
    assert [m.id for m in page.items] == ["1", "9", "10", "100"]


def test_artifact_sort_uses_min_for_asc_max_for_desc_and_the_filter_restricts_it() -> None:
    # Granite: ttft 45.5 (H100) and 80 (L40S); Llama: 60 (H100)
    assert names(order_by="artifacts.ttft_p90.double_value")[:2] == [GRANITE, LLAMA]
    assert names(order_by="artifacts.ttft_p90.double_value", sort_order="DESC")[:2] == [GRANITE, LLAMA]
    restricted = names(
        order_by="artifacts.ttft_p90.double_value",
        sort_order="DESC",
        filter_query="artifacts.hardware_type = 'H100'",
    )
    assert restricted == [LLAMA, GRANITE]  # only H100 artifacts count: 60 > 45.5


def test_recommendations_sort_by_lowest_latency_and_ignore_order_by() -> None:
    expected = [GRANITE, LLAMA, *by_id(MISTRAL, MINILM)]
    assert names(recommendations=True, order_by="NAME", sort_order="DESC") == expected


@pytest.mark.parametrize(
    "order_by", ["COLOR", "provider", "provider.text_value", "artifacts.x", "artifacts..double_value"]
)
def test_unsupported_order_by(order_by: str) -> None:
    with pytest.raises(InvalidInput, match=f"unsupported order by field: {order_by}"):
        names(order_by=order_by)


def test_unsupported_sort_order() -> None:
    with pytest.raises(InvalidInput, match="sort order"):
        names(sort_order="UP")


# -- property-based: order and paging -----------------------------------------------------------------------------

_names = st.text(alphabet="abcAB/._-", min_size=1, max_size=6)
_catalog = st.lists(
    st.tuples(_names, st.integers(0, 5), st.one_of(st.none(), st.floats(-3, 3, allow_nan=False))),
    min_size=0,
    max_size=25,
    unique_by=lambda t: t[0],
)
_orders = st.sampled_from(["NAME", "ID", "CREATE_TIME", "score.double_value", "artifacts.lat.double_value"])


def _index(rows: list[tuple[str, int, float | None]]) -> CatalogIndex:
    models = [
        model(
            name,
            create_time_ms=created,
            props={} if score is None else {"score": score},
            artifacts=() if score is None else (metrics(f"{name}-perf", lat=score),),
        )
        for name, created, score in rows
    ]
    return CatalogIndex.build([snapshot("files", models)])


@settings(max_examples=60, deadline=None)
@given(_catalog, _orders)
def test_desc_is_the_reverse_of_asc_for_models_with_a_value(
    rows: list[tuple[str, int, float | None]], order: str
) -> None:
    index = _index(rows)
    asc = [m.name for m in index.find_models(ModelQuery(order_by=order, page_size=1000)).items]
    desc = [m.name for m in index.find_models(ModelQuery(order_by=order, sort_order="DESC", page_size=1000)).items]
    valued = {name for name, _, score in rows if score is not None or order in ("NAME", "ID", "CREATE_TIME")}
    assert [n for n in desc if n in valued] == [n for n in reversed(asc) if n in valued]
    assert asc[len(valued) :] == sorted(asc[len(valued) :], key=lambda n: int(index.get_model("files", n).id))
    assert sorted(asc) == sorted(desc) == sorted(name for name, _, _ in rows)


@settings(max_examples=60, deadline=None)
@given(_catalog, _orders, st.booleans(), st.integers(1, 7))
def test_paging_returns_every_model_once_in_order(
    rows: list[tuple[str, int, float | None]], order: str, desc: bool, size: int
) -> None:
    index = _index(rows)
    sort_order = "DESC" if desc else "ASC"
    whole = [m.name for m in index.find_models(ModelQuery(order_by=order, sort_order=sort_order, page_size=1000)).items]
    paged: list[str] = []
    token: str | None = None
    while True:
        page = index.find_models(ModelQuery(order_by=order, sort_order=sort_order, page_size=size, page_token=token))
        assert len(page.items) <= size
        paged.extend(m.name for m in page.items)
        if not page.next_page_token:
            break
        assert len(page.items) == size
        token = page.next_page_token
    assert paged == whole


def test_custom_property_wire_forms() -> None:
    assert prop(3) == {"metadataType": "MetadataIntValue", "int_value": "3"}

"""The catalog page's state and the filterQuery its checkboxes stand for (ui/catalog_view.py)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import QueryParams

from modelreg import filterquery
from modelreg.catalog.models import CatalogModel, Label, Source, SourceStatus
from modelreg.filterquery.nodes import Comparison
from modelreg.ui import catalog_view as view


def test_no_checked_value_is_no_filter() -> None:
    assert view.filter_query({}) is None
    assert view.filter_query({"provider": ()}) is None


def test_one_value_is_an_equality() -> None:
    assert view.filter_query({"license": ["Apache 2.0"]}) == "license='Apache 2.0'"


def test_several_values_of_a_plain_field_are_in_and_fields_are_anded() -> None:
    query = view.filter_query({"provider": ["IBM", "Meta"], "license": ["MIT"]})
    assert query == "provider IN ('IBM','Meta') AND license='MIT'"


def test_array_fields_match_an_element_each() -> None:
    query = view.filter_query({"tasks": ["text-generation", "summarization"], "language": ["en"]})
    assert query == "(tasks='text-generation' OR tasks='summarization') AND language='en'"


def test_quotes_and_backslashes_in_values_are_escaped() -> None:
    assert view.quote_value("it's") == r"'it\'s'"
    assert view.quote_value("a\\b") == r"'a\\b'"
    tricky = ("O'Reilly", "x''y", "back\\slash\\'", "' OR name='x", 'double "quoted"')
    query = view.filter_query({"provider": tricky})
    assert query is not None
    parsed = filterquery.parse(query)
    # The parser reads back exactly the values that were checked: nothing leaks out of a literal.
    assert isinstance(parsed, Comparison)
    assert (parsed.prop.name, parsed.op.value, parsed.value) == ("provider", "IN", tricky)


def test_unknown_keys_and_repeats_are_ignored() -> None:
    assert view.filter_query({"name": ["x"], "provider": ["IBM", "IBM"]}) == "provider='IBM'"


def test_state_from_the_query_string_and_back() -> None:
    params = QueryParams("label=Red+Hat&q=granite&tasks=text-generation&tasks=chat&sort=published&page_token=abc")
    state = view.CatalogState.parse(params)
    assert state.label == "Red Hat" and state.q == "granite" and state.sort.order_by == "LAST_UPDATE_TIME"
    assert state.checked == {"tasks": ("text-generation", "chat")}
    query = state.query()
    assert query.source_labels == ("Red Hat",) and query.page_token == "abc" and query.sort_order == "DESC"
    assert query.filter_query == "(tasks='text-generation' OR tasks='chat')"
    # The URL keeps everything but the token (a token belongs to one page of one query).
    pairs = parse_qsl(urlsplit(state.url()).query)
    assert ("tasks", "text-generation") in pairs and ("tasks", "chat") in pairs and ("q", "granite") in pairs
    assert all(k != "page_token" for k, _ in pairs)
    assert ("page_token", "n1") in parse_qsl(urlsplit(state.url(page_token="n1")).query)
    assert state.cleared() == "/catalog?label=Red+Hat&sort=published"


def test_defaults_and_bad_values() -> None:
    state = view.CatalogState.parse(QueryParams("sort=nonsense&label=&q=++"))
    assert state.label == view.ALL and state.q == "" and state.sort == view.SORTS[0]
    assert state.query().source_labels == () and state.query().q is None
    assert state.url() == "/catalog"


def _source(id_: str, labels: tuple[str, ...] = (), **kw: object) -> Source:
    return Source(id_, id_.title(), labels=labels, status=SourceStatus.AVAILABLE, **kw)  # type: ignore[arg-type]


def test_tabs_follow_labels_then_source_labels_then_community() -> None:
    sources = [_source("a", ("Red Hat",)), _source("registry", ("Registered models",)), _source("c")]
    labels = [Label("Partner", "Partner models"), Label("red hat", "Red Hat AI")]
    tabs = view.tabs(labels, sources)
    assert [(t.value, t.text) for t in tabs] == [
        ("all", "All models"),
        ("red hat", "Red Hat AI"),  # described by a labels: entry
        ("Registered models", "Registered models"),  # carried by a source only
        ("null", "Community and custom"),  # a source without labels
    ]  # "Partner" has no source: no tab
    named = view.tabs([Label(None, "Everything else")], sources)
    assert named[-1] == view.Tab("null", "Everything else")


def test_only_enabled_loaded_sources_feed_the_page() -> None:
    sources = [
        _source("ok"),
        _source("off", enabled=False),
        Source("broken", "Broken", status=SourceStatus.ERROR),
        Source("partial", "Partial", status=SourceStatus.PARTIALLY_AVAILABLE),
    ]
    assert [s.id for s in view.feeding(sources)] == ["ok", "partial"]


LABEL = {"metadataType": "MetadataStringValue", "string_value": ""}  # a label: a string property whose value is ""


def test_card_labels_three_or_two_when_validated() -> None:
    plain = CatalogModel("s", "org/m", "1", tasks=("a", "b"), provider="IBM", custom_properties={"new": LABEL})
    assert view.card_labels(plain) == ["a", "b", "IBM"]
    validated = CatalogModel("s", "org/v", "2", tasks=("a",), provider="IBM",
                             custom_properties={"validated": LABEL, "fast": LABEL})  # fmt: skip
    assert view.card_labels(validated) == ["a", "IBM"]


def test_card_labels_show_a_task_that_is_also_a_label_once() -> None:
    registered = CatalogModel("registry", "m", "3", tasks=("text-generation",),
                              custom_properties={"text-generation": LABEL, "new": LABEL})  # fmt: skip
    assert view.card_labels(registered) == ["text-generation", "new"]


def test_model_urls_keep_slashes_and_escape_the_rest() -> None:
    assert view.model_url("hf", "ibm-granite/granite-3.1-8b") == "/catalog/hf/models/ibm-granite/granite-3.1-8b"
    assert view.model_url("my src", "a b/c#d?") == "/catalog/my%20src/models/a%20b/c%23d%3F"
    assert view.register_url("hf", "org/m 1") == "/catalog/hf/register?model=org%2Fm+1"

"""GET /models over HTTP: every parameter, the wire shape, paging, and bad input as a 400 with a message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api_catalog.catalog_data import model, snapshot, zoo
from api_catalog.conftest import CatalogServer, default_config
from modelreg.catalog.snapshots import CatalogConfig

ZOO = zoo()
GRANITE, LLAMA, MISTRAL, MINILM = (m.name for m in ZOO)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def bad(response: httpx.Response, *fragments: str, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == {400: "Bad Request", 404: "Not Found", 401: "Unauthorized"}[status]
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return str(body["message"])


def names(client: httpx.Client, **params: Any) -> list[str]:
    return [m["name"] for m in ok(client.get("/models", params={"pageSize": 100, **params}))["items"]]


def test_list_body_and_model_shape(cat: httpx.Client) -> None:
    body = ok(cat.get("/models", params={"pageSize": 2}))
    assert set(body) == {"items", "size", "pageSize", "nextPageToken"}
    assert (body["size"], body["pageSize"]) == (2, 2)
    assert body["nextPageToken"]
    granite = ok(cat.get("/models", params={"q": "granite"}))["items"][0]
    assert granite["source_id"] == "files"
    assert granite["name"] == GRANITE
    assert granite["id"] == ZOO[0].id
    assert granite["createTimeSinceEpoch"] == "1700000000000"
    assert granite["lastUpdateTimeSinceEpoch"] == "1710000000000"
    assert granite["tasks"] == ["text-generation", "chat"]
    assert granite["language"] == ["en", "de"]
    assert granite["libraryName"] == "transformers"
    assert granite["customProperties"]["size_b"] == {"metadataType": "MetadataIntValue", "int_value": "8"}
    assert granite["customProperties"]["validated"] == {"metadataType": "MetadataStringValue", "string_value": ""}
    assert "artifacts" not in granite


def test_last_page_has_an_empty_token(cat: httpx.Client) -> None:
    body = ok(cat.get("/models"))
    assert (body["size"], body["pageSize"], body["nextPageToken"]) == (4, 10, "")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "LLAMA"}, [LLAMA]),
        ({"q": "transformers"}, [GRANITE, LLAMA]),
        ({"q": ""}, [GRANITE, LLAMA, MISTRAL, MINILM]),
        ({"filterQuery": "provider IN ('IBM','Meta') AND license='Apache 2.0'"}, [GRANITE]),
        ({"filterQuery": "tasks = 'text-generation'"}, [GRANITE, LLAMA, MISTRAL]),
        ({"filterQuery": "name ILIKE '%MISTRAL%'"}, [MISTRAL]),
        ({"filterQuery": "artifacts.ttft_p90.double_value < 50"}, [GRANITE]),
        ({"filterQuery": "tensor_type.string_value = 'FP16'"}, [LLAMA]),
        ({"orderBy": "CREATE_TIME", "sortOrder": "DESC"}, [GRANITE, LLAMA, MISTRAL, MINILM]),
        ({"orderBy": "LAST_UPDATE_TIME"}, [MINILM, GRANITE, LLAMA, MISTRAL]),
        ({"orderBy": "provider.string_value"}, [MINILM, GRANITE, LLAMA, MISTRAL]),
        ({"orderBy": "NAME", "sortOrder": "DESC"}, [MINILM, MISTRAL, LLAMA, GRANITE]),
        ({"source": "files"}, [GRANITE, LLAMA, MISTRAL, MINILM]),
        ({"source": "validated,nope"}, []),
        ({"source": "off"}, []),  # disabled: listed by /sources, contributes nothing
        ({"sourceLabel": "community"}, [GRANITE, LLAMA, MISTRAL, MINILM]),  # case-insensitive
        ({"sourceLabel": "Red Hat AI validated"}, []),
        ({"sourceLabel": "unknown label"}, []),
        ({"sourceLabel": "null"}, []),  # no enabled source without labels here
    ],
)
def test_parameters(cat: httpx.Client, params: dict[str, str], expected: list[str]) -> None:
    assert names(cat, **params) == expected


def test_order_by_id_and_accuracy(cat: httpx.Client) -> None:
    by_id = names(cat, orderBy="ID")
    assert by_id == [m.name for m in sorted(ZOO, key=lambda m: int(m.id))]
    assert names(cat, orderBy="ID", sortOrder="DESC") == by_id[::-1]
    assert names(cat, orderBy="ACCURACY", sortOrder="DESC")[:2] == [GRANITE, LLAMA]


def test_recommendations(cat: httpx.Client) -> None:
    assert names(cat, recommendations="true", orderBy="NAME", sortOrder="DESC")[:2] == [GRANITE, LLAMA]
    by_id = [m.name for m in sorted(ZOO, key=lambda m: int(m.id))]
    assert names(cat, recommendations="true", latencyProperty="no_such_metric") == by_id


def test_source_label_null_selects_sources_without_labels(loaded: CatalogServer, cat: httpx.Client) -> None:
    loaded.catalog.set_config(
        CatalogConfig(
            sources=(
                snapshot("files", ZOO[:2], labels=("Community",)),
                snapshot("plain", [model("plain/one", "plain")]),
            )
        )
    )
    assert names(cat, sourceLabel="null") == ["plain/one"]
    assert names(cat, sourceLabel="null,community") == [GRANITE, LLAMA, "plain/one"]
    assert names(cat, source="files", sortOrder="DESC") == [LLAMA, GRANITE]
    assert names(cat, source=["plain", "files"]) == [GRANITE, LLAMA, "plain/one"]  # repeated parameter


@pytest.mark.parametrize(
    ("params", "fragments"),
    [
        ({"pageSize": "0"}, ["pageSize must be at least 1, got 0"]),
        ({"pageSize": "-3"}, ["pageSize must be at least 1, got -3"]),
        ({"pageSize": "ten"}, ["pageSize must be at least 1, got ten"]),
        ({"filterQuery": "provider ="}, ["invalid filter query"]),
        ({"filterQuery": "provider = IBM"}, ["invalid filter query", "quoted"]),
        ({"filterQuery": "(a = 1"}, ["invalid filter query"]),
        ({"orderBy": "COLOR"}, ["unsupported order by field: COLOR"]),
        ({"orderBy": "provider.text_value"}, ["unsupported order by field"]),
        ({"sortOrder": "SIDEWAYS"}, ["SIDEWAYS"]),
        ({"nextPageToken": "not-a-token"}, ["invalid nextPageToken"]),
        ({"nextPageToken": "eyJ4IjoxfQ"}, ["invalid nextPageToken"]),  # base64 JSON, not ours
        ({"source": "files", "sourceLabel": "Community"}, ["source and sourceLabel cannot be used together"]),
        ({"recommendations": "maybe"}, ["recommendations"]),
    ],
)
def test_bad_input_is_a_400_with_a_message(cat: httpx.Client, params: dict[str, str], fragments: list[str]) -> None:
    bad(cat.get("/models", params=params), *fragments)


def test_page_size_is_capped(cat: httpx.Client) -> None:
    assert ok(cat.get("/models", params={"pageSize": "100000"}))["pageSize"] == 1000


def test_token_of_another_query_is_refused(cat: httpx.Client) -> None:
    token = ok(cat.get("/models", params={"pageSize": 1}))["nextPageToken"]
    assert ok(cat.get("/models", params={"pageSize": 1, "nextPageToken": token}))["size"] == 1
    assert ok(cat.get("/models", params={"pageSize": 3, "nextPageToken": token}))["size"] == 3  # size may change
    bad(
        cat.get("/models", params={"pageSize": 1, "nextPageToken": token, "sortOrder": "DESC"}), "invalid nextPageToken"
    )
    bad(cat.get("/models", params={"pageSize": 1, "nextPageToken": token, "q": "a"}), "invalid nextPageToken")
    bad(cat.get("/models", params={"nextPageToken": token[:-3]}), "invalid nextPageToken")


@pytest.mark.parametrize(
    "order", [{}, {"orderBy": "CREATE_TIME"}, {"orderBy": "score.double_value", "sortOrder": "DESC"}]
)
def test_paging_is_stable_while_models_are_added(
    loaded: CatalogServer, cat: httpx.Client, order: dict[str, str]
) -> None:
    """Models added between pages (a reload) do not make a page repeat or skip the models already ordered."""
    first = ok(cat.get("/models", params={"pageSize": 2, **order}))
    seen = [m["name"] for m in first["items"]]
    extra = [
        model(f"{prefix}-new", create_time_ms=t, props={"score": s})
        for prefix, t, s in (("0aaa", 1, 0.1), ("zzzz", 2_000_000_000_000, 0.99), ("m", 1_695_000_000_000, 0.7))
    ]
    loaded.catalog.set_config(CatalogConfig(sources=(snapshot("files", [*ZOO, *extra]),)))
    token = first["nextPageToken"]
    while token:
        page = ok(cat.get("/models", params={"pageSize": 2, "nextPageToken": token, **order}))
        seen.extend(m["name"] for m in page["items"])
        token = page["nextPageToken"]
    everything = names(cat, **order)
    assert len(seen) == len(set(seen))  # nothing twice
    assert {m.name for m in ZOO} <= set(seen)  # every model that was there all along, once
    # the walk goes on in the new order from the last model of the first page: new models after it are included
    assert seen[2:] == everything[everything.index(seen[1]) + 1 :]


def test_reload_swaps_the_catalog(loaded: CatalogServer, cat: httpx.Client) -> None:
    loaded.catalog.set_config(CatalogConfig(sources=(snapshot("files", ZOO[:1]),)))
    assert names(cat) == [GRANITE]
    loaded.catalog.set_config(default_config())
    assert len(names(cat)) == 4

"""GET /sources, /labels and /models/filter_options, and who may read the catalog API."""

from __future__ import annotations

import httpx

from api_catalog.catalog_data import model, snapshot, zoo
from api_catalog.conftest import PREFIX, CatalogServer
from api_catalog.test_models import bad, ok
from modelreg.catalog.models import NamedQuery, SourceStatus
from modelreg.catalog.snapshots import CatalogConfig


def test_sources_lists_every_source_with_status(cat: httpx.Client) -> None:
    body = ok(cat.get("/sources"))
    assert [s["id"] for s in body["items"]] == ["files", "off", "validated"]  # by id
    off = next(s for s in body["items"] if s["id"] == "off")
    assert (off["enabled"], off["status"], off["error"], off["labels"]) == (False, "disabled", None, ["Community"])
    files = body["items"][0]
    assert files == {
        "id": "files",
        "name": "Files",
        "enabled": True,
        "labels": ["Community"],
        "assetType": "models",
        "status": "available",
        "error": None,
    }


def test_sources_parameters(loaded: CatalogServer, cat: httpx.Client) -> None:
    loaded.catalog.set_config(
        CatalogConfig(
            sources=(
                snapshot("b_src", [], name="Alpha models"),
                snapshot("a_src", [], name="Beta models", status=SourceStatus.ERROR, error="failed to read x"),
                snapshot("c_src", [], name="Gamma", status=None),
            )
        )
    )

    def ids(**params: str) -> list[str]:
        return [s["id"] for s in ok(cat.get("/sources", params=params))["items"]]

    assert ids() == ["a_src", "b_src", "c_src"]
    assert ids(orderBy="NAME") == ["b_src", "a_src", "c_src"]
    assert ids(orderBy="NAME", sortOrder="DESC") == ["c_src", "a_src", "b_src"]
    assert ids(name="MODELS") == ["a_src", "b_src"]
    assert ids(assetType="mcp_servers") == []
    failed = ok(cat.get("/sources", params={"name": "beta"}))["items"][0]
    assert (failed["status"], failed["error"]) == ("error", "failed to read x")
    assert "status" not in ok(cat.get("/sources", params={"name": "gamma"}))["items"][0]  # not loaded yet
    first = ok(cat.get("/sources", params={"pageSize": 2}))
    assert [s["id"] for s in first["items"]] == ["a_src", "b_src"]
    rest = ok(cat.get("/sources", params={"pageSize": 2, "nextPageToken": first["nextPageToken"]}))
    assert ([s["id"] for s in rest["items"]], rest["nextPageToken"]) == (["c_src"], "")
    bad(cat.get("/sources", params={"orderBy": "CREATE_TIME"}), "unsupported order by field")
    bad(cat.get("/sources", params={"assetType": "datasets"}), "invalid value 'datasets' for assetType")
    bad(cat.get("/sources", params={"pageSize": "x"}), "pageSize must be at least 1, got x")


def test_labels(cat: httpx.Client) -> None:
    body = ok(cat.get("/labels"))
    assert body["items"] == [
        {"name": "Red Hat AI validated", "description": "Verified by Red Hat."},
        {"name": None, "displayName": "Community and custom"},
        {"name": "Community", "color": "blue"},
    ]
    assert (body["size"], body["nextPageToken"]) == (3, "")
    by_name = [lb["name"] for lb in ok(cat.get("/labels", params={"orderBy": "name"}))["items"]]
    assert by_name == ["Community", "Red Hat AI validated", None]  # a label without the key comes last
    by_color = [lb["name"] for lb in ok(cat.get("/labels", params={"orderBy": "color"}))["items"]]
    assert by_color == ["Community", "Red Hat AI validated", None]
    assert ok(cat.get("/labels", params={"assetType": "mcp_servers"}))["items"] == []
    bad(cat.get("/labels", params={"assetType": "x"}), "invalid value 'x' for assetType")


def test_registry_source_adds_its_label(loaded: CatalogServer, cat: httpx.Client) -> None:
    from modelreg.catalog.registry_source import SOURCE

    loaded.catalog.set_registry(snapshot("registry", [model("mnist", "registry", id="7")], labels=SOURCE.labels))
    assert "Registered models" in [lb["name"] for lb in ok(cat.get("/labels"))["items"]]
    assert [m["id"] for m in ok(cat.get("/models", params={"sourceLabel": "registered models"}))["items"]] == ["7"]
    assert ok(cat.get("/sources/registry/models/mnist"))["id"] == "7"


def test_filter_options(loaded: CatalogServer, cat: httpx.Client) -> None:
    nq = NamedQuery(
        "fast-chat",
        "models",
        {
            "artifacts.use_case.string_value": {"operator": "=", "value": "chatbot"},
            "artifacts.ttft_p90.double_value": {"operator": "<=", "value": "max"},
        },
    )
    loaded.catalog.set_config(CatalogConfig(sources=(snapshot("files", zoo()),), named_queries=(nq,)))
    body = ok(cat.get("/models/filter_options"))
    filters = body["filters"]
    assert filters["provider"] == {"type": "string", "values": ["Community", "IBM", "Meta", "Mistral AI"]}
    assert filters["license"]["values"] == ["Apache 2.0", "Llama 3.1 Community License", "MIT"]
    assert filters["tasks"]["values"] == ["chat", "feature-extraction", "summarization", "text-generation"]
    assert filters["language"]["values"] == ["de", "en", "fr"]
    assert filters["libraryName"]["values"] == ["transformers"]
    assert filters["maturity"]["values"] == ["Generally Available"]
    assert filters["tensor_type"] == {"type": "string", "values": ["BF16", "FP16"]}
    assert filters["size_b"] == {"type": "number", "range": {"min": 7, "max": 8}}
    assert filters["score"] == {"type": "number", "range": {"min": 0.65, "max": 0.71}}
    assert filters["artifacts.ttft_p90.double_value"] == {"type": "number", "range": {"min": 45.5, "max": 80.0}}
    assert filters["artifacts.hardware_type.string_value"]["values"] == ["H100", "L40S"]
    assert "validated" not in filters  # a label has no value
    assert not {"source_id", "logo", "license_link", "metricsType", "model_id"} & set(filters)
    assert body["namedQueries"] == {
        "fast-chat": {
            "artifacts.use_case.string_value": {"operator": "=", "value": "chatbot"},
            "artifacts.ttft_p90.double_value": {"operator": "<=", "value": 80.0},
        }
    }


def test_a_viewer_reads_and_a_caller_without_credentials_gets_401(loaded: CatalogServer) -> None:
    paths = ["/models", "/sources", "/labels", "/models/filter_options", f"/sources/files/models/{zoo()[0].name}"]
    with httpx.Client(base_url=f"{loaded.url}{PREFIX}", timeout=30) as anonymous:
        for path in paths:
            assert anonymous.get(path).status_code == 401, path
    with httpx.Client(
        base_url=f"{loaded.url}{PREFIX}", headers={"Authorization": f"Bearer {loaded.viewer_token}"}, timeout=30
    ) as viewer:
        for path in paths:
            assert viewer.get(path).status_code == 200, path
        refused = viewer.post("/sources/preview", files={"config": ("c.yaml", b"type: yaml\n")})
        assert refused.status_code == 403  # a POST needs write (developer), even one that changes nothing

"""GET /sources/{id}/models/{name}, .../artifacts and .../artifacts/performance: names with "/" and ".", 404s."""

from __future__ import annotations

import httpx
import pytest

from api_catalog.catalog_data import metrics, model, snapshot, weights, zoo
from api_catalog.conftest import CatalogServer
from api_catalog.test_models import bad, ok
from modelreg.catalog.snapshots import CatalogConfig

ZOO = zoo()
GRANITE = ZOO[0].name


@pytest.fixture
def odd_names(loaded: CatalogServer) -> None:
    odd = [
        model("org/sub/v1.2.3", artifacts=(weights("s3://b/one"),)),
        model(
            "a/artifacts", artifacts=(weights("s3://b/two"),)
        ),  # ambiguous: the reference reads it as artifacts of "a"
        model("a", artifacts=(weights("s3://b/a"), metrics("a-perf", ttft_p90=1.0))),
        model("..dots..", description="dots"),
    ]
    loaded.catalog.set_config(CatalogConfig(sources=(snapshot("files", [*ZOO, *odd]),)))


def test_get_model_with_slashes_and_dots(cat: httpx.Client, odd_names: None) -> None:
    assert ok(cat.get(f"/sources/files/models/{GRANITE}"))["name"] == GRANITE
    assert ok(cat.get("/sources/files/models/org/sub/v1.2.3"))["name"] == "org/sub/v1.2.3"
    assert ok(cat.get("/sources/files/models/org%2Fsub%2Fv1.2.3"))["name"] == "org/sub/v1.2.3"
    assert ok(cat.get("/sources/files/models/..dots.."))["description"] == "dots"
    body = ok(cat.get("/sources/files/models/mistralai/Mistral-7B_v0.3"))
    assert (body["source_id"], body["provider"]) == ("files", "Mistral AI")


def test_a_path_ending_in_artifacts_lists_artifacts(cat: httpx.Client, odd_names: None) -> None:
    listed = ok(cat.get("/sources/files/models/a/artifacts"))
    assert [a["uri"] for a in listed["items"] if "uri" in a] == ["s3://b/a"]
    assert ok(cat.get("/sources/files/models/org/sub/v1.2.3/artifacts"))["items"][0]["uri"] == "s3://b/one"


def test_unknown_model_or_source_is_a_404(cat: httpx.Client) -> None:
    message = bad(cat.get("/sources/files/models/no/such"), status=404)
    assert message == "No model found 'no/such' in source 'files'"
    bad(cat.get(f"/sources/nope/models/{GRANITE}"), "in source 'nope'", status=404)
    bad(cat.get("/sources/files/models/no/such/artifacts"), "No model found 'no/such'", status=404)
    bad(cat.get(f"/sources/off/models/{GRANITE}"), status=404)


def test_artifacts_shape_filters_and_types(cat: httpx.Client) -> None:
    path = f"/sources/files/models/{GRANITE}/artifacts"
    body = ok(cat.get(path))
    assert (body["size"], body["nextPageToken"]) == (4, "")
    model_artifact = next(a for a in body["items"] if a["artifactType"] == "model-artifact")
    assert model_artifact["uri"] == "oci://registry.example/granite:1"
    assert model_artifact["customProperties"]["architecture"]["string_value"] == "amd64"
    assert model_artifact["createTimeSinceEpoch"] == "0"
    perf = next(a for a in body["items"] if a.get("name") == "granite-h100")
    assert (perf["artifactType"], perf["metricsType"]) == ("metrics-artifact", "performance-metrics")
    assert "uri" not in perf

    def listed(**params: str) -> list[str | None]:
        return [a.get("name") for a in ok(cat.get(path, params=params))["items"]]

    assert len(listed(artifactType="metrics-artifact")) == 3
    assert len(listed(artifact_type="model-artifact")) == 1
    assert len(listed(artifactType="model-artifact,metrics-artifact")) == 4
    assert listed(filterQuery="ttft_p90 > 50") == ["granite-l40"]
    assert listed(filterQuery="metricsType = 'accuracy-metrics'") == ["granite-acc"]
    assert listed(orderBy="ttft_p90.double_value")[:2] == ["granite-h100", "granite-l40"]
    assert listed(orderBy="ttft_p90.double_value", sortOrder="DESC")[:2] == ["granite-l40", "granite-h100"]
    assert listed(orderBy="NAME")[:3] == ["granite-acc", "granite-h100", "granite-l40"]
    assert listed(orderBy="no_dot") == listed(orderBy="ID")  # no value type: ID, as the reference
    bad(cat.get(path, params={"artifactType": "doc-artifact"}), "artifactType")
    bad(cat.get(path, params={"orderBy": "ttft_p90.bad_value"}), "unsupported order by field")
    bad(cat.get(path, params={"orderBy": ".double_value"}), "unsupported order by field")
    bad(cat.get(path, params={"filterQuery": "uri LIKE"}), "invalid filter query")
    bad(cat.get(path, params={"pageSize": "0"}), "pageSize must be at least 1, got 0")


def test_artifact_pages(cat: httpx.Client) -> None:
    path = f"/sources/files/models/{GRANITE}/artifacts"
    whole = [a["id"] for a in ok(cat.get(path))["items"]]
    paged: list[str] = []
    token = ""
    while True:
        page = ok(cat.get(path, params={"pageSize": 1, **({"nextPageToken": token} if token else {})}))
        paged.extend(a["id"] for a in page["items"])
        token = page["nextPageToken"]
        if not token:
            break
    assert paged == whole == sorted(whole, key=int)


def test_performance_artifacts(cat: httpx.Client) -> None:
    body = ok(cat.get(f"/sources/files/models/{GRANITE}/artifacts/performance", params={"targetRPS": "10"}))
    assert sorted(a["name"] for a in body["items"]) == ["granite-h100", "granite-l40"]
    assert all(a["metricsType"] == "performance-metrics" for a in body["items"])
    filtered = ok(
        cat.get(
            f"/sources/files/models/{GRANITE}/artifacts/performance", params={"filterQuery": "hardware_type = 'L40S'"}
        )
    )
    assert [a["name"] for a in filtered["items"]] == ["granite-l40"]
    assert ok(cat.get(f"/sources/files/models/{ZOO[3].name}/artifacts/performance"))["items"] == []

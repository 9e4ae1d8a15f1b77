"""Doubles must be finite: NaN, Infinity, -Infinity and numbers that overflow to infinity (1e400) are refused with
a 400 at input, in every double field (custom property ``double_value``, metric ``value``), whether sent as JSON
literal tokens (which Python's JSON parser accepts) or as strings. They used to be stored and returned as ``null``,
which the API's own PATCH then refused, so a client sending an entity back could no longer update it."""

from __future__ import annotations

import httpx
import pytest

from api.builders import error, experiment, listing, model, model_with_version, ok, run, upserted

NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", '"NaN"', '"inf"', '"-Infinity"', '"1e999"']
JSON = {"Content-Type": "application/json"}


def double_prop(literal: str) -> str:
    return '{"d": {"metadataType": "MetadataDoubleValue", "double_value": ' + literal + "}}"


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_double_property_is_400(api: httpx.Client, literal: str) -> None:
    body = '{"name": "m", "customProperties": ' + double_prop(literal) + "}"
    error(api.post("/registered_models", content=body, headers=JSON), 400, "finite")
    assert listing(api, "/registered_models")["items"] == []
    created = model(api, "kept", customProperties={"d": {"metadataType": "MetadataDoubleValue", "double_value": 1.5}})
    patch = '{"customProperties": ' + double_prop(literal) + "}"
    error(api.patch(f"/registered_models/{created['id']}", content=patch, headers=JSON), 400, "finite")
    stored = ok(api.get(f"/registered_models/{created['id']}"), 200)["customProperties"]
    assert stored == {"d": {"metadataType": "MetadataDoubleValue", "double_value": 1.5}}


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_metric_value_is_400_on_every_path(api: httpx.Client, literal: str) -> None:
    _, v = model_with_version(api)
    r = run(api, experiment(api)["id"], "r")
    metric = '{"artifactType": "metric", "name": "loss", "value": ' + literal + "}"
    for path in (f"/model_versions/{v['id']}/artifacts", f"/experiment_runs/{r['id']}/artifacts", "/artifacts"):
        error(api.post(path, content=metric, headers=JSON), 400, "finite")
    assert listing(api, "/artifacts")["items"] == []
    assert listing(api, f"/experiment_runs/{r['id']}/metric_history")["items"] == []
    good = upserted(api.post("/artifacts", json={"artifactType": "metric", "name": "acc", "value": 0.5}))
    patch = '{"artifactType": "metric", "value": ' + literal + "}"
    error(api.patch(f"/artifacts/{good['id']}", content=patch, headers=JSON), 400, "finite")
    assert ok(api.get(f"/artifacts/{good['id']}"), 200)["value"] == 0.5


def test_finite_extremes_round_trip_and_can_be_sent_back(api: httpx.Client) -> None:
    extremes = {"max": 1.7976931348623157e308, "min": -1.7976931348623157e308, "tiny": 5e-324, "zero": -0.0}
    custom = {k: {"metadataType": "MetadataDoubleValue", "double_value": x} for k, x in extremes.items()}
    created = model(api, "m", customProperties=custom)
    assert created["customProperties"] == custom
    path = f"/registered_models/{created['id']}"
    again = ok(api.patch(path, json={"customProperties": created["customProperties"]}), 200)
    assert again["customProperties"] == custom
    _, v = model_with_version(api, "m2")
    metric = upserted(api.post(f"/model_versions/{v['id']}/artifacts", json={"artifactType": "metric", "value": 1e308}))
    assert metric["value"] == 1e308

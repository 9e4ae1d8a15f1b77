"""Custom properties: all six MetadataValue types on every entity, replacement on PATCH, bad values."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from api.builders import error, experiment, listing, model, model_with_version, ok, props, run

VALUES = {
    "s": {"metadataType": "MetadataStringValue", "string_value": "text"},
    "label": {"metadataType": "MetadataStringValue", "string_value": ""},
    "i": {"metadataType": "MetadataIntValue", "int_value": "-42"},
    "zero": {"metadataType": "MetadataIntValue", "int_value": "0"},
    "big": {"metadataType": "MetadataIntValue", "int_value": "9007199254740993"},
    "d": {"metadataType": "MetadataDoubleValue", "double_value": 0.125},
    "neg": {"metadataType": "MetadataDoubleValue", "double_value": -1e-300},
    "b": {"metadataType": "MetadataBoolValue", "bool_value": False},
    "st": {"metadataType": "MetadataStructValue", "struct_value": "eyJhIjogMX0="},
    "st_text": {"metadataType": "MetadataStructValue", "struct_value": '{"b": [1, 2]}'},
    "precise": {"metadataType": "MetadataDoubleValue", "double_value": 0.30000000000000004},
    "p": {"metadataType": "MetadataProtoValue", "type": "type.googleapis.com/x.Y", "proto_value": "AQI="},
    "mlflow.source.type": {"metadataType": "MetadataStringValue", "string_value": "NOTEBOOK"},
    "with space / ünïcode": {"metadataType": "MetadataStringValue", "string_value": "ok"},
}


def _created(api: httpx.Client, kind: str, custom: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Create an entity of ``kind`` with custom properties; returns (its resource path, its JSON)."""
    if kind == "registered_models":
        created = model(api, "m", customProperties=custom)
    elif kind == "model_versions":
        m = model(api, "m")
        created = ok(
            api.post("/model_versions", json={"name": "v", "registeredModelId": m["id"], "customProperties": custom})
        )
    elif kind == "artifacts":
        _, v = model_with_version(api)
        body = {"artifactType": "doc-artifact", "name": "doc", "customProperties": custom}
        response = api.post(f"/model_versions/{v['id']}/artifacts", json=body)
        created = ok(response, 201)
    elif kind == "model_artifacts":
        created = ok(api.post("/model_artifacts", json={"name": "a", "customProperties": custom}))
    elif kind == "serving_environments":
        created = ok(api.post("/serving_environments", json={"name": "env", "customProperties": custom}))
    elif kind == "inference_services":
        env = ok(api.post("/serving_environments", json={"name": "env"}))
        m = model(api, "m")
        body = {"servingEnvironmentId": env["id"], "registeredModelId": m["id"], "customProperties": custom}
        created = ok(api.post("/inference_services", json=body))
    elif kind == "experiments":
        created = experiment(api, "exp", customProperties=custom)
    elif kind == "experiment_runs":
        created = run(api, experiment(api, "exp")["id"], "r", customProperties=custom)
    else:
        raise AssertionError(kind)
    return f"/{kind}/{created['id']}", created


KINDS = [
    "registered_models",
    "model_versions",
    "artifacts",
    "model_artifacts",
    "serving_environments",
    "inference_services",
    "experiments",
    "experiment_runs",
]


@pytest.mark.parametrize("kind", KINDS)
def test_all_six_types_round_trip(api: httpx.Client, kind: str) -> None:
    path, created = _created(api, kind, VALUES)
    assert created["customProperties"] == VALUES  # exactly what was written: versions add no Lifecycle of their own
    assert ok(api.get(path), 200)["customProperties"] == VALUES


@pytest.mark.parametrize("kind", KINDS)
def test_patch_replaces_the_map_and_absent_keeps_it(api: httpx.Client, kind: str) -> None:
    path, _ = _created(api, kind, props(a="1", b=2))
    extra = {"artifactType": "doc-artifact"} if kind == "artifacts" else {}
    kept = ok(api.patch(path, json={"description": "x", **extra}), 200)
    assert kept["customProperties"] == props(a="1", b=2)
    replaced = ok(api.patch(path, json={"customProperties": props(c=True), **extra}), 200)
    assert replaced["customProperties"] == props(c=True)
    cleared = ok(api.patch(path, json={"customProperties": {}, **extra}), 200)
    assert cleared["customProperties"] == {}
    assert ok(api.get(path), 200)["customProperties"] == {}


def test_a_property_can_change_type(api: httpx.Client) -> None:
    path, _ = _created(api, "registered_models", props(x="text"))
    for value in (3, 2.5, True, "again"):
        assert ok(api.patch(path, json={"customProperties": props(x=value)}), 200)["customProperties"] == props(x=value)
    assert ok(api.get(path), 200)["customProperties"] == props(x="again")


def test_properties_are_per_entity(api: httpx.Client) -> None:
    a = model(api, "a", customProperties=props(k="a"))
    b = model(api, "b", customProperties=props(k="b"))
    ok(api.patch(f"/registered_models/{a['id']}", json={"customProperties": {}}), 200)
    assert ok(api.get(f"/registered_models/{b['id']}"), 200)["customProperties"] == props(k="b")
    assert [m["customProperties"] for m in listing(api, "/registered_models")["items"]] == [{}, props(k="b")]


def test_struct_value_sent_back_unchanged_is_accepted(api: httpx.Client) -> None:
    path, created = _created(api, "registered_models", {"st": VALUES["st"]})
    echoed = ok(api.patch(path, json={"customProperties": created["customProperties"]}), 200)
    assert echoed["customProperties"] == {"st": VALUES["st"]}


def test_large_and_long_values(api: httpx.Client) -> None:
    custom = {
        "long": {"metadataType": "MetadataStringValue", "string_value": "x" * 20_000},
        "max": {"metadataType": "MetadataIntValue", "int_value": "9223372036854775807"},
        "min": {"metadataType": "MetadataIntValue", "int_value": "-9223372036854775808"},
        "huge": {"metadataType": "MetadataDoubleValue", "double_value": 1.7976931348623157e308},
    }
    path, created = _created(api, "registered_models", custom)
    assert created["customProperties"] == custom
    assert ok(api.get(path), 200)["customProperties"] == custom


BAD_VALUES: list[Callable[[], dict[str, Any]]] = [
    lambda: {"k": {"metadataType": "MetadataFancyValue", "string_value": "x"}},
    lambda: {"k": {"string_value": "x"}},
    lambda: {"k": {"metadataType": "MetadataIntValue", "int_value": "1.5"}},
    lambda: {"k": {"metadataType": "MetadataIntValue", "int_value": "ten"}},
    lambda: {"k": {"metadataType": "MetadataIntValue", "int_value": "9223372036854775808"}},
    lambda: {"k": {"metadataType": "MetadataIntValue"}},
    lambda: {"k": {"metadataType": "MetadataBoolValue", "bool_value": "maybe"}},
    lambda: {"k": {"metadataType": "MetadataDoubleValue", "double_value": "pi"}},
    lambda: {"k": "plain string"},
    lambda: {"k": None},
    lambda: ["not", "a", "map"],
]


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_values_are_400(api: httpx.Client, bad: Callable[[], Any]) -> None:
    error(api.post("/registered_models", json={"name": "m", "customProperties": bad()}), 400)
    assert listing(api, "/registered_models")["items"] == []
    existing = model(api, "ok", customProperties=props(keep=1))
    error(api.patch(f"/registered_models/{existing['id']}", json={"customProperties": bad()}), 400)
    assert ok(api.get(f"/registered_models/{existing['id']}"), 200)["customProperties"] == props(keep=1)


def test_unknown_metadata_type_names_the_key(api: httpx.Client) -> None:
    body = {"name": "m", "customProperties": {"mykey": {"metadataType": "Nope", "string_value": "x"}}}
    error(api.post("/registered_models", json=body), 400, "mykey")


def test_concurrent_replacements_leave_one_whole_map(api: httpx.Client) -> None:
    """Each PATCH replaces the map atomically: racing PATCHes all succeed and one of the maps wins whole."""
    path, _ = _created(api, "registered_models", props(start=0))
    maps = [props(**{f"k{i}": i, "shared": f"from {i}"}) for i in range(8)]

    def replace(custom: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            return client.patch(path, json={"customProperties": custom})

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            responses = list(pool.map(replace, maps))
            assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses if r.status_code != 200]
            assert ok(api.get(path), 200)["customProperties"] in maps

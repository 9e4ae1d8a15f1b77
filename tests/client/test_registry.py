"""The blocking client against a live server: registering, finding, listing, custom properties, errors."""

from __future__ import annotations

from datetime import datetime

import pytest

from client.conftest import Sdk
from modelreg.client import (
    Conflict,
    Forbidden,
    ModelRegistry,
    ModelVersion,
    NotFound,
    RegisteredModel,
    Unauthorized,
)


def test_the_platform_documentation_example(sdk: Sdk) -> None:
    with ModelRegistry(server_address=sdk.url, author="ai-developer", token=sdk.tokens["developer"]) as registry:
        rm = registry.register_model(name="my-custom-model", description="Fine-tuned model", owner="ai-developer")
        mv = registry.register_model_version(registered_model=rm, name="v1.0", uri="s3://models/my-custom-model/v1.0/")

        assert isinstance(rm, RegisteredModel) and rm.name == "my-custom-model" and rm.owner == "ai-developer"
        assert isinstance(mv, ModelVersion) and mv.registered_model_id == rm.id and mv.author == "ai-developer"
        assert isinstance(rm.create_time, datetime) and mv.stage == "development"
        artifact = registry.get_model_artifact("my-custom-model", "v1.0")
        assert artifact.uri == "s3://models/my-custom-model/v1.0/" and artifact.name == "my-custom-model"


def test_models_and_versions_are_found_by_object_id_or_name(registry: ModelRegistry) -> None:
    rm = registry.register_model("m", description="d")
    mv = registry.register_model_version(rm, "v1", author="someone-else", model_format_name="onnx", uri="s3://b/m")

    assert registry.get_registered_model("m") == registry.get_registered_model(int(rm.id)) == rm
    assert registry.get_registered_model(rm).id == rm.id
    assert registry.get_model_version("m", "v1").id == mv.id
    assert registry.get_model_version(None, int(mv.id)).author == "someone-else"
    assert registry.get_model_version(rm, mv).name == "v1"
    assert registry.get_model_artifact(None, int(mv.id)).model_format_name == "onnx"
    assert registry.get_registered_model("m").raw["name"] == "m"


def test_update(registry: ModelRegistry) -> None:
    registry.register_model("m")
    registry.register_model_version("m", "v1")

    assert registry.update_registered_model("m", description="new", owner="team").description == "new"
    assert registry.get_registered_model("m").owner == "team"
    assert registry.update_model_version("m", "v1", description="better").description == "better"


def test_custom_properties_round_trip_each_type(registry: ModelRegistry) -> None:
    values = {"text": "x", "count": 5, "big": 2**62, "ratio": 0.25, "on": True, "off": False}
    rm = registry.register_model("m", custom_properties=values)
    mv = registry.register_model_version(rm, "v1", custom_properties=values)

    assert rm.custom_properties == values
    assert rm.raw["customProperties"]["count"] == {"metadataType": "MetadataIntValue", "int_value": "5"}
    assert rm.raw["customProperties"]["on"]["metadataType"] == "MetadataBoolValue"
    assert registry.get_registered_model("m").custom_properties == values
    fetched = registry.get_model_version(rm, "v1").custom_properties
    assert type(fetched["on"]) is bool and type(fetched["count"]) is int and type(fetched["ratio"]) is float
    assert {k: v for k, v in fetched.items() if k != "Lifecycle"} == values and mv.stage == "development"


def test_a_value_of_another_type_is_refused_before_sending(registry: ModelRegistry) -> None:
    with pytest.raises(TypeError, match="'bad'"):
        registry.register_model("m", custom_properties={"bad": [1]})  # type: ignore[dict-item]


def test_listings_fetch_pages_lazily_with_filters_and_order(registry: ModelRegistry) -> None:
    for i in range(5):
        registry.register_model(f"m{i}", custom_properties={"team": "a" if i % 2 else "b"})
    for name in ("v1", "v2", "v3"):
        registry.register_model_version("m0", name)
    registry.register_model_version("m1", "other")

    assert [m.name for m in registry.list_registered_models(page_size=2)] == ["m0", "m1", "m2", "m3", "m4"]
    newest = registry.list_registered_models(order_by="create_time", descending=True, page_size=2)
    assert [m.name for m in newest] == ["m4", "m3", "m2", "m1", "m0"]
    team_b = registry.list_registered_models(filter="team = 'b'", page_size=2)
    assert [m.name for m in team_b] == ["m0", "m2", "m4"]
    assert [v.name for v in registry.list_model_versions("m0", page_size=2)] == ["v1", "v2", "v3"]
    assert len(list(registry.list_model_versions(page_size=2))) == 4
    assert [v.name for v in registry.list_model_versions(filter="name = 'other'")] == ["other"]

    lazy = registry.list_registered_models(page_size=2)
    assert next(lazy).name == "m0"  # one page fetched; the rest only when iterated


def test_not_found(registry: ModelRegistry) -> None:
    with pytest.raises(NotFound) as caught:
        registry.get_registered_model("missing")
    assert caught.value.status == 404 and caught.value.code == "Not Found"
    with pytest.raises(NotFound):
        registry.get_model_version(None, 999)
    registry.register_model_version(registry.register_model("m"), "v1")
    with pytest.raises(NotFound, match="no model artifact"):
        registry.get_model_artifact("m", "v1")


def test_conflict_carries_the_servers_message(registry: ModelRegistry) -> None:
    registry.register_model("m")
    with pytest.raises(Conflict) as caught:
        registry.register_model("m")
    assert caught.value.status == 409 and "m" in caught.value.message and caught.value.message in str(caught.value)


def test_forbidden_and_unauthorized(sdk: Sdk) -> None:
    viewer = sdk.client("viewer")
    assert viewer.whoami().roles == ("viewer",)
    with pytest.raises(Forbidden) as caught:
        viewer.register_model("m")
    assert caught.value.status == 403
    with pytest.raises(Unauthorized):
        sdk.client("viewer", token="not-a-token").whoami()


def test_token_from_the_environment(sdk: Sdk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELREG_TOKEN", sdk.tokens["admin"])
    port = int(sdk.url.rsplit(":", 1)[1])
    with ModelRegistry("127.0.0.1", port) as registry:
        assert registry.whoami().user == "ai-admin"

"""The async client does what the blocking one does, from the same operations."""

from __future__ import annotations

import inspect

import pytest

from client.conftest import Sdk
from modelreg.client import Conflict, Forbidden, ModelRegistry, NotFound
from modelreg.client._base import BaseRegistry
from modelreg.client._methods import Listing, Operation

pytestmark = pytest.mark.anyio


async def test_register_find_list_and_errors(sdk: Sdk) -> None:
    async with sdk.async_client("developer") as registry:
        rm = await registry.register_model(name="my-custom-model", owner="ai-developer", custom_properties={"n": 1})
        mv = await registry.register_model_version(registered_model=rm, name="v1.0", uri="s3://models/x/v1.0/")
        for i in range(2, 5):
            await registry.register_model_version(rm, f"v{i}")

        assert (await registry.get_registered_model("my-custom-model")).custom_properties == {"n": 1}
        assert (await registry.get_model_version("my-custom-model", "v1.0")).author == "ai-developer"
        assert (await registry.get_model_artifact(rm, mv)).uri == "s3://models/x/v1.0/"
        assert [v.name async for v in registry.list_model_versions(rm, page_size=2)] == ["v1.0", "v2", "v3", "v4"]
        assert [m.name async for m in registry.list_registered_models()] == ["my-custom-model"]
        with pytest.raises(Conflict):
            await registry.register_model("my-custom-model")
        with pytest.raises(NotFound):
            await registry.get_registered_model("missing")


async def test_governance(sdk: Sdk) -> None:
    async with sdk.async_client("developer") as registry, sdk.async_client("admin") as admin:
        rm = await registry.register_model("m")
        mv = await registry.register_model_version(rm, "v1")
        assert (await registry.promote(rm, mv, "staging")).stage == "staging"
        with pytest.raises(Forbidden):
            await registry.archive_version(rm, mv)
        assert (await admin.archive_model("m")).state == "ARCHIVED"
        assert (await admin.restore_model("m")).state == "LIVE"
        assert [r.action async for r in registry.audit(entity=mv)] == ["create", "promote", "archive", "restore"]
        assert (await registry.verify_audit()).valid
        assert (await registry.whoami()).user == "ai-developer"


def test_every_method_is_a_coroutine_or_async_iterator_on_the_async_client(sdk: Sdk) -> None:
    methods = [name for name, value in vars(BaseRegistry).items() if isinstance(value, Operation | Listing)]
    assert {"register_model", "list_registered_models", "audit", "upload", "download"} <= set(methods)
    client = sdk.async_client()
    for name in methods:
        method = getattr(client, name)
        listing = isinstance(vars(BaseRegistry)[name], Listing)
        assert (inspect.isasyncgenfunction if listing else inspect.iscoroutinefunction)(method), name
        assert method.__doc__ == getattr(ModelRegistry, name).__doc__
    assert "ctx" not in inspect.signature(client.register_model).parameters

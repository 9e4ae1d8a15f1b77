"""The executors raise failures into an operation, so that it can clean up (as uploads abort) and re-raise."""

from __future__ import annotations

import pytest

from client.conftest import Sdk
from modelreg.client import ModelRegistry, NotFound
from modelreg.client._call import Call, Op, get
from modelreg.client._ops import REGISTRY


def _cleaning_up(seen: list[object]) -> Op[None]:
    try:
        yield get(f"{REGISTRY}/registered_models/424242")
    except NotFound:
        seen.append("cleanup")
        seen.append((yield Call("GET", f"{REGISTRY}/registered_models"))["size"])
        raise


def test_a_failure_is_raised_into_the_operation(registry: ModelRegistry) -> None:
    seen: list[object] = []
    with pytest.raises(NotFound):
        registry._run(_cleaning_up(seen))
    assert seen == ["cleanup", 0]


@pytest.mark.anyio
async def test_the_async_executor_does_the_same(sdk: Sdk) -> None:
    seen: list[object] = []
    async with sdk.async_client() as registry:
        with pytest.raises(NotFound):
            await registry._run(_cleaning_up(seen))
    assert seen == ["cleanup", 0]


def test_server_address_forms() -> None:
    for address, port, expected in [
        ("registry:8080", None, "http://registry:8080"),
        ("http://registry", 8080, "http://registry:8080"),
        ("https://registry:8443/", None, "https://registry:8443"),
    ]:
        with ModelRegistry(address, port) as registry:
            assert registry.server_address == expected

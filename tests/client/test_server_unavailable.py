"""A server that is down, or that never answers, raises the SDK's own ``ServerUnavailable`` (a
``ModelRegistryError`` naming the URL), from the blocking and the async client alike, never a raw httpx error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import free_port
from modelreg.client import AsyncModelRegistry, ModelRegistry, ModelRegistryError, ServerUnavailable
from netfaults import BlackHole


@pytest.fixture
def down() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.fixture
def silent() -> Iterator[str]:
    with BlackHole() as hole:
        yield f"http://127.0.0.1:{hole.port}"


def check(error: ModelRegistryError, url: str, *words: str) -> None:
    assert isinstance(error, ServerUnavailable)
    assert error.status is None
    assert url in str(error), str(error)
    for word in words:
        assert word in str(error), str(error)


def test_a_server_that_is_down(down: str) -> None:
    with ModelRegistry(down) as registry:
        with pytest.raises(ModelRegistryError) as caught:
            registry.get_registered_model("m")
        check(caught.value, down, "cannot connect")
        with pytest.raises(ServerUnavailable):
            list(registry.list_registered_models())


def test_a_server_that_never_answers(silent: str) -> None:
    with ModelRegistry(silent, timeout=0.5) as registry, pytest.raises(ModelRegistryError) as caught:
        registry.register_model("m")
    check(caught.value, silent, "no answer within 0.5 s")


@pytest.mark.anyio
async def test_async_a_server_that_is_down(down: str) -> None:
    async with AsyncModelRegistry(down) as registry:
        with pytest.raises(ModelRegistryError) as caught:
            await registry.get_registered_model("m")
        check(caught.value, down, "cannot connect")
        with pytest.raises(ServerUnavailable):
            [m async for m in registry.list_registered_models()]


@pytest.mark.anyio
async def test_async_a_server_that_never_answers(silent: str) -> None:
    async with AsyncModelRegistry(silent, timeout=0.5) as registry:
        with pytest.raises(ModelRegistryError) as caught:
            await registry.whoami()
    check(caught.value, silent, "no answer within 0.5 s")

"""The published ``model-registry`` clients work unchanged: 0.3.10 on v1alpha3, 0.3.18 on v1."""

from __future__ import annotations

import pytest

from processes import ServeProcess
from upstream.conftest import run_scenario


@pytest.mark.parametrize("scenario", ["register_and_update", "pager", "artifacts", "experiments"])
def test_client_0_3_10(live_server: ServeProcess, scenario: str) -> None:
    assert run_scenario("0.3.10", scenario, live_server).strip().endswith("ok")


@pytest.mark.parametrize("scenario", ["register_and_update", "pager"])
def test_client_0_3_18_on_v1(live_server: ServeProcess, scenario: str) -> None:
    assert run_scenario("0.3.18", scenario, live_server).strip().endswith("ok")

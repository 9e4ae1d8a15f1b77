"""The published Kubeflow ``model-registry`` clients work unchanged against ``modelreg serve``.

0.3.10 speaks ``/api/model_registry/v1alpha3`` (with experiments); 0.3.18 speaks ``/api/model_registry/v1``.
Each test runs one scenario script (``scenarios/<name>.py``) with the real client in its own venv; the scenario
asserts step by step, and a failure shows its output, the step it reached and the end of the server log.
"""

from __future__ import annotations

import pytest

from .conftest import LiveServer, ScenarioRunner

BOTH = pytest.mark.parametrize("version", ["0.3.10", "0.3.18"])


@BOTH
def test_register_read_update_archive(version: str, live_server: LiveServer, run_scenario: ScenarioRunner) -> None:
    """register_model with every argument; get model/version/artifact; updates; archive and restore."""
    run_scenario(version, "register_update_archive", live_server)


@BOTH
def test_pager_orderings_and_tokens(version: str, fresh_server: LiveServer, run_scenario: ScenarioRunner) -> None:
    """Exact sequences for ID/CREATE_TIME/LAST_UPDATE_TIME, both directions, several page sizes; token protocol."""
    run_scenario(version, "pager", fresh_server)


@BOTH
def test_model_and_doc_artifacts(version: str, live_server: LiveServer, run_scenario: ScenarioRunner) -> None:
    """Standalone model artifact upserted into versions (same id), doc artifacts, typed lookups and filters."""
    run_scenario(version, "artifacts", live_server)


@pytest.mark.clients("0.3.10")
def test_experiment_runs_0_3_10(live_server: LiveServer, run_scenario: ScenarioRunner) -> None:
    """start_experiment_run: params, metrics, datasets, metric history, resumed and nested runs, bulk filter."""
    run_scenario("0.3.10", "experiments", live_server)


@pytest.mark.clients("0.3.18", "0.3.10")
def test_v1_smoke_0_3_18_then_read_back_with_0_3_10(live_server: LiveServer, run_scenario: ScenarioRunner) -> None:
    """0.3.18 on /v1: register, get, update, page, archive; 0.3.10 then reads the same model on /v1alpha3."""
    output = run_scenario("0.3.18", "v1_smoke", live_server)
    model = next(line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("MODEL "))
    run_scenario("0.3.10", "read_back", live_server, model)


@BOTH
def test_bearer_token_is_accepted(version: str, live_server: LiveServer, run_scenario: ScenarioRunner) -> None:
    """``user_token`` makes the client send ``Authorization: Bearer``, which the server checks."""
    run_scenario(version, "bearer_token", live_server)

"""Every operation of the reference Kubeflow spec, with generated schema-valid and invalid requests."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from conftest import empty
from fuzz.conftest import refuses_only_for_semantic_reasons
from modelreg.db.database import Database
from processes import ServeProcess

SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference" / "kubeflow-model-registry-v1alpha3.openapi.yaml"
if not SPEC.exists():
    pytest.skip(f"reference spec not found at {SPEC}", allow_module_level=True)

schema = schemathesis.openapi.from_path(SPEC)


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_reference_operations(case: schemathesis.Case, live_server: ServeProcess, http: requests.Session) -> None:
    response = case.call(base_url=live_server.url, session=http)
    case.validate_response(response, checks=[refuses_only_for_semantic_reasons])


def test_reference_workflows(live_server: ServeProcess, http: requests.Session) -> None:
    """Stateful: chains of calls linked by the ids earlier responses returned (links inferred by schemathesis)."""
    workflow = schema.as_state_machine()
    database = Database(live_server.database_url)

    class Workflow(workflow):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            # Every scenario starts from an empty registry: which rules hypothesis can take depends on what earlier
            # responses returned (a 201 fills a bundle, a 409 does not), and its replays must see the same answers.
            empty(database)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"base_url": live_server.url, "session": http}

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case, *args, **kwargs) -> None:
            case.validate_response(response, checks=[refuses_only_for_semantic_reasons])

    Workflow.run(
        settings=settings(
            max_examples=25,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )

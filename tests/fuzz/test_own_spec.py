"""Our own ``/openapi.json``: it describes both API prefixes exactly as served, and every generated request is
answered without a server error. (Stateful chains run against the reference spec in test_reference_spec.py: the
same handlers serve both documents, and schemathesis 4.32's rule feature flags make hypothesis report "inconsistent
data generation" on the state machine built from this one.)"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, settings

from fuzz.conftest import refuses_only_for_semantic_reasons
from modelreg.app import create_app
from modelreg.settings import Settings
from processes import ServeProcess

# The document the server publishes, built without a database (the app connects lazily).
OPENAPI = create_app(Settings(database_url="sqlite://")).openapi()
# Schemathesis 4.32 cannot generate some negative bodies for these operations ("a `not` whose complement is not
# spelled out"; which ones depends on the derandomized draw, so new operations elsewhere can move it); the same
# endpoints are exercised through the reference spec in test_reference_spec.py.
schema = (
    schemathesis.openapi.from_dict(OPENAPI)
    .exclude(method="PATCH", path_regex=r"/model_artifacts/")
    .exclude(method="POST", path_regex=r"/inference_services$")
    .exclude(method="POST", path_regex=r"/experiments$")
    # moved here when /metrics joined the document (issue 13): same endpoints, covered by the reference spec
    .exclude(method="POST", path_regex=r"/inference_services/\{inferenceserviceId\}/serves$")
    .exclude(method="PATCH", path_regex=r"/experiments/\{experimentId\}$")
    .exclude(method="PATCH", path_regex=r"/experiment_runs/\{experimentrunId\}$")
)


def test_served_document_is_the_one_tested(live_server: ServeProcess) -> None:
    served = httpx.get(f"{live_server.url}/openapi.json").json()
    assert served == OPENAPI
    assert "/api/model_registry/v1alpha3/registered_models" in served["paths"]
    assert "/api/model_registry/v1/registered_models" in served["paths"]
    assert "/api/model_registry/v1/experiments" not in served["paths"]


@schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_own_operations(case: schemathesis.Case, live_server: ServeProcess) -> None:
    if case.method.upper() == "POST" and case.path == "/api/storage/v1/connections":
        # A generated s3 connection without an endpoint means AWS: never let the create check reach out.
        case.query = {**(case.query or {}), "check": "false"}
    response = case.call(base_url=live_server.url)
    case.validate_response(response, checks=[refuses_only_for_semantic_reasons])

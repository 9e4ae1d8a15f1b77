"""A live ``modelreg serve`` for schemathesis, and the rule for which refusals of schema-valid input are fine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import strategies as st

from conftest import free_port
from processes import ServeProcess

# Ids and epoch milliseconds are strings of format int64 in the spec: generate digit strings, as real clients send.
schemathesis.openapi.format("int64", st.from_regex(r"\A[1-9][0-9]{0,8}\Z"))


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    """One session for a module's cases (schemathesis would make one per case: a new connection, and a scan of the
    environment for proxies, every time, which was most of the suite's time here). Only to the local server."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp = tmp_path_factory.mktemp("fuzz")
    # Anything the server would fetch from a host the fuzzer named goes to a closed local port instead.
    closed = "http://127.0.0.1:9"
    no_egress = {"HTTP_PROXY": closed, "HTTPS_PROXY": closed, "NO_PROXY": "127.0.0.1,localhost"}
    args = ("--database-url", f"sqlite:///{tmp / 'r.db'}")
    with ServeProcess(free_port(), *args, env=no_egress, log=tmp / "serve.log") as server:
        yield server


# Schema-valid requests that the registry may still refuse, because the schema cannot express the rule:
SEMANTIC_REFUSALS = {
    404: None,  # an id that names nothing (ids are free-form digit strings in the schema)
    409: None,  # a name or externalId that is already taken
    400: (
        "invalid filter query",  # filterQuery is any printable text in the schema; the grammar is prose
        "nextPageToken",  # a token the server never issued
        "supply either",  # find endpoints called with neither name nor externalId
        "artifact type is immutable",  # PATCH /artifacts/{id} naming another type than the artifact has
        "mismatched types",  # upserting by id an artifact of another type
        "cannot be less than",  # a run whose end time is before its start time
        "name is too long",  # the parent-scoped 255-character limit (name has no maxLength in the schema)
        "is too long",  # Settings.limits: a 255-character column (owner, externalId...), or a text over 64 KiB
        "too many custom properties",  # Settings.limits.max_custom_properties
        "metric value is required",  # the reference server's rule, which its spec does not state
        "gated HuggingFace",  # serving a version marked hf_gated / hf_private
        "needs entityKind",  # an audit query by entity id alone (ids are unique per kind only)
        "use ISO-8601",  # an audit time range bound that is no date (the schema cannot say which strings are)
        "private HuggingFace",
        "does not fit in 64 bits",  # int_value beyond int64 where the spec's pattern is not applied
        "invalid artifact type",  # oneOf members in the spec allow any artifactType string
        # The reference spec leaves additionalProperties open, but the reference server (and so modelreg, as the
        # issue requires) decodes bodies strictly; our own /openapi.json says additionalProperties: false.
        "unknown field",
        # GET /models: source and sourceLabel each valid, but not together (OpenAPI has no cross-parameter rules).
        "cannot be used together",
        # POST /uploads: a tag names an OCI image, so it needs an oci connection (a rule across two fields)
        "applies to oci connections only",
    ),
    422: ("zero value",),  # an empty name: "required field 'name' is zero value.", as the reference answers
}
# Bodies whose rules live in prose, not the schema: a data connection is one object for three types (s3, uri,
# local); which fields a type takes, S3 bucket naming and URL rules are checked by the service (400/422 with a
# message naming the rule; tests/storage asserts each one). A catalog preview uploads a source's YAML (and a catalog
# YAML): a binary string in the schema, whose format docs/catalog.md describes (tests/api_catalog asserts the
# messages).
# Deploy bodies likewise: a hardware profile's rules (Node or Queue scheduling, min ≤ default ≤ max in Kubernetes
# quantities, no renames), a runtime's Template/ServingRuntime shape, and what a deploy request may name
# (docs/deploy.md; tests/deploy asserts each message). A transfer job's body: which fields each intent needs and
# which fields each source and destination type takes (docs/storage.md, "Transfer jobs"; tests/transfers).
# A webhook's URL follows the destination rules (https, events.allowed_urls and allowed_networks), its event type
# patterns must each match a type modelreg emits, its name is not only digits, and PATCH takes null only to clear
# an optional field (docs/events.md; tests/events/test_webhooks_*.py assert the messages).
PROSE_RULES = {
    ("POST", "/api/events/v1/webhooks"),
    ("PATCH", "/api/events/v1/webhooks/{ref}"),
    ("POST", "/api/storage/v1/transfers"),
    ("POST", "/api/storage/v1/connections"),
    ("POST", "/api/model_catalog/v1alpha1/sources/preview"),
    ("POST", "/api/deploy/v1/hardware-profiles"),
    ("PUT", "/api/deploy/v1/hardware-profiles/{name}"),
    ("POST", "/api/deploy/v1/runtimes"),
    ("PUT", "/api/deploy/v1/runtimes/{name}"),
    ("POST", "/api/deploy/v1/deployments"),
    ("PATCH", "/api/deploy/v1/deployments/{deploymentId}"),
}


@schemathesis.check
def refuses_only_for_semantic_reasons(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """No 5xx ever; for schema-valid input, a 4xx only for one of the reasons above."""
    status = response.status_code
    if status >= 500:
        raise AssertionError(f"server error {status}: {response.text[:500]}")
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or status < 400:
        return None
    if (case.method.upper(), case.path) in PROSE_RULES and status in (400, 422):
        return None
    if status not in SEMANTIC_REFUSALS:
        raise AssertionError(f"schema-valid request refused with {status}: {response.text[:500]}")
    reasons = SEMANTIC_REFUSALS[status]
    if reasons is None:
        return None
    message = response.json().get("message", "") if response.text.startswith("{") else response.text
    if not any(reason in message for reason in reasons):
        raise AssertionError(f"schema-valid request refused with {status}: {message}")
    return None

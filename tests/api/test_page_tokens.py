"""``nextPageToken`` values the server never issued, on every list endpoint of every API: a 400 naming the token,
never a 500 (a 2^63 id or booleans used to reach the database, which PostgreSQL and MariaDB refuse)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.builders import artifact, environment, experiment, inference_service, log_metric, model_with_version, ok, run
from conftest import ServerThread, empty
from modelreg.catalog.tokens import encode, fingerprint
from modelreg.db.database import Database

ORDERS = ("ID", "CREATE_TIME", "LAST_UPDATE_TIME")
INT64_MAX = 2**63 - 1
CATALOG = "/api/model_catalog/v1alpha1/"
# A demo catalog model (served when no sources are configured) with three performance artifacts among its four.
CATALOG_IDS = {"source_id": "organization_ai", "model_name": "ibm-granite/granite-3.1-8b-instruct"}


def token_of(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


BAD_TOKENS = {
    "2^63 id": token_of(["ID", 1, 9223372036854775808]),
    "2^63 value": token_of(["ID", 9223372036854775808, 1]),
    "-2^63-1": token_of(["CREATE_TIME", -9223372036854775809, 1]),
    "2^64": token_of(["ID", 18446744073709551616, 18446744073709551616]),
    "huge": token_of(["ID", 10**40, 1]),
    "booleans": token_of(["ID", True, False]),
    "a boolean id": token_of(["ID", 5, True]),
    "floats": token_of(["ID", 1.5, 2.0]),
    "nested lists": token_of(["ID", [1], [2]]),
    "null": token_of(["ID", None, None]),
    "strings": token_of(["ID", "1", "2"]),
    "two items": token_of(["ID", 1]),
    "four items": token_of(["ID", 1, 2, 3]),
    "empty list": token_of([]),
    "an object": token_of({"ID": 1, "value": 2, "id": 3}),
    "a three-letter string": token_of("abc"),
    "a number": token_of(42),
    "unknown order": token_of(["NAME", 1, 2]),
    "order not a string": token_of([1, 1, 2]),
    "not base64": "!!!not-base64!!!",
    "not json": base64.urlsafe_b64encode(b"1:2").decode(),
    "not utf-8": base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    "NaN": base64.urlsafe_b64encode(b'["ID", NaN, 1]').decode(),
}


@pytest.fixture
def endpoints(server: ServerThread, database: Database) -> Iterator[tuple[httpx.Client, list[str]]]:
    """Every GET with a ``nextPageToken`` parameter in ``/openapi.json``, its path ids naming real entities."""
    empty(database)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        registry = httpx.Client(base_url=f"{server.url}/api/model_registry/v1alpha3", timeout=30)
        m, v = model_with_version(registry)
        artifact(registry, v["id"])
        env = environment(registry)
        service = inference_service(registry, env["id"], m["id"], modelVersionId=v["id"])
        ok(registry.post(f"/inference_services/{service['id']}/serves", json={"modelVersionId": v["id"]}))
        exp = experiment(registry)
        r = run(registry, exp["id"], "r")
        log_metric(registry, r["id"], "loss", 0.5)
        registry.close()
        webhook = client.post("/api/events/v1/webhooks", json={"name": "ci", "url": "https://ci.example.com/hook"})
        assert webhook.status_code == 201, webhook.text
        ids = {
            "registeredmodelId": m["id"],
            "modelversionId": v["id"],
            "servingenvironmentId": env["id"],
            "inferenceserviceId": service["id"],
            "experimentId": exp["id"],
            "experimentrunId": r["id"],
            "ref": webhook.json()["id"],
            **CATALOG_IDS,
        }
        paths = []
        for path, operations in client.get("/openapi.json").json()["paths"].items():
            parameters = operations.get("get", {}).get("parameters", [])
            if any(p["name"] == "nextPageToken" for p in parameters):
                for name, value in ids.items():
                    path = path.replace("{" + name + "}", value)
                assert "{" not in path, path
                paths.append(path)
        assert len(paths) >= 20, paths  # both registry prefixes and the audit trail
        assert "/api/governance/v1/audit/records" in paths
        assert sum(path.startswith(CATALOG) for path in paths) == 5, paths  # sources, models, labels, artifacts x2
        yield client, paths


def refused(response: httpx.Response) -> None:
    assert response.status_code == 400, (str(response.request.url), response.status_code, response.text)
    assert "invalid nextPageToken" in response.json()["message"], response.text


@pytest.mark.parametrize("token", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
def test_bad_tokens_are_400_on_every_list(endpoints: tuple[httpx.Client, list[str]], token: str) -> None:
    client, paths = endpoints
    for path in paths:
        refused(client.get(path, params={"nextPageToken": token, "pageSize": "1"}))
        if not path.endswith("/audit/records"):
            order = "NAME" if path.endswith(f"{CATALOG}sources") else "CREATE_TIME"  # sources have no times
            refused(client.get(path, params={"nextPageToken": token, "orderBy": order, "sortOrder": "DESC"}))


def test_issued_tokens_still_page_on_every_list(endpoints: tuple[httpx.Client, list[str]]) -> None:
    client, paths = endpoints
    for path in paths:
        first = client.get(path, params={"pageSize": "1"})
        assert first.status_code == 200, (path, first.text)
        token = first.json()["nextPageToken"]
        if token:
            assert client.get(path, params={"pageSize": "1", "nextPageToken": token}).status_code == 200, path


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 2**64, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(ORDERS),
)
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner))
_payloads = st.one_of(
    st.tuples(st.sampled_from(ORDERS), _scalar, _scalar).map(list),  # the right shape, any values
    st.lists(_json, max_size=5),
    _json,
)


def _valid(path: str, payload: Any) -> bool:
    """A token this server could have issued for the default ordering: ``orderBy=ID`` in the registry; catalog
    tokens carry a digest of their query, which no generated payload has."""
    return (
        not path.startswith(CATALOG)
        and isinstance(payload, list)
        and len(payload) == 3
        and payload[0] == "ID"
        and all(type(x) is int and -(2**63) <= x <= INT64_MAX for x in payload[1:])
    )


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(payload=_payloads, padded=st.booleans())
def test_any_token_is_a_page_or_a_400(endpoints: tuple[httpx.Client, list[str]], payload: Any, padded: bool) -> None:
    client, paths = endpoints
    token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    token = token if padded else token.rstrip("=")
    for path in paths:
        if path.endswith("/audit/records"):
            continue  # its tokens have their own shape; the fixed cases above cover it
        if path.startswith("/api/deploy/"):
            continue  # its tokens have their own shape (newest first by id); the next test covers it
        response = client.get(path, params={"nextPageToken": token})
        if _valid(path, payload):
            assert response.status_code == 200, (path, payload, response.text)
        else:
            refused(response)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    payload=st.one_of(
        st.tuples(st.sampled_from(["audit"]), st.sampled_from(["asc", "desc"]), _scalar).map(list),
        st.lists(_json, max_size=4),
    )
)
def test_any_audit_token_is_a_page_or_a_400(endpoints: tuple[httpx.Client, list[str]], payload: Any) -> None:
    client, _ = endpoints
    response = client.get("/api/governance/v1/audit/records", params={"nextPageToken": token_of(payload)})
    valid = (
        isinstance(payload, list)
        and len(payload) == 3
        and payload[:2] == ["audit", "asc"]
        and type(payload[2]) is int
        and -(2**63) <= payload[2] <= INT64_MAX
    )
    if valid:
        assert response.status_code == 200, (payload, response.text)
    else:
        refused(response)


# Cursors of the right digest (anyone can compute it: it only tells queries apart) that the catalog never issued.
FORGED_CURSORS = ([], [0], [1], [2, "x"], [0, 1], [0, 1, 2, 3], [{}], [[0], 1, 2], [0, [1], "x"], [1, 5], [0, None, 1])


@pytest.mark.parametrize("cursor", FORGED_CURSORS, ids=[json.dumps(c) for c in FORGED_CURSORS])
def test_forged_catalog_cursors_are_400(server: ServerThread, cursor: list[Any]) -> None:
    queries = {
        "sources": fingerprint("sources", "", "models", "ID", False),
        "models": fingerprint("models", (), (), "", "", "NAME", False),
    }
    with httpx.Client(base_url=f"{server.url}{CATALOG}", timeout=30) as client:
        for path, digest in queries.items():
            refused(client.get(path, params={"nextPageToken": encode(cursor, digest)}))

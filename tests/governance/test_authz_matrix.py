"""Role x operation matrix over the registry API (v1alpha3 and v1) and the governance archive endpoints.

The endpoints come from the app's own OpenAPI document, not from a list in this file, so an endpoint added later
is in the matrix at once: a viewer must get 403 on it whatever it is, and if the generic request builder below
cannot make a valid request for it, the developer/admin cases fail and say which endpoint needs teaching.

The whole module shares one setup per backend (bindings, one token per caller, one entity of each kind created
by the admin); every case creates what it changes, so the cases do not depend on each other's order.

The role checks are decided in Python from the binding table, whatever the database: the read, write and
state-patch matrices run on SQLite only (the writes they let through are the registry API's, tested on every
backend in tests/api); the governance archive, restore and delete cases, whose hard delete cascades in the
database, run on every backend.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from conftest import ServerThread, empty
from governance.conftest import BINDINGS, CALLERS, GOVERNANCE
from modelreg.api.registry import V1, V1ALPHA3
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db import tables
from modelreg.db.database import Database
from modelreg.services.access import AccessService
from modelreg.settings import Settings

# --- the endpoints, from the OpenAPI document ------------------------------------------------------------------

SPEC: dict[str, Any] = create_app(Settings(database_url="sqlite://")).openapi()
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
PREFIXES = {"v1alpha3": V1ALPHA3, "v1": V1}
WRITE_METHODS = ("post", "patch", "put", "delete")

# caller → the role it ends up with (through its user or one of its groups); None: authenticated, no binding
ROLE = {
    "admin": "admin",
    "group-admin": "admin",
    "developer": "developer",
    "group-developer": "developer",
    "viewer": "viewer",
    "nobody": None,
}
assert set(ROLE) == set(CALLERS), "a caller was added to governance/conftest.py: give it its role here"
WRITERS = {"admin", "developer"}
READERS = {"admin", "developer", "viewer"}

# Which prerequisite entity a path segment or a body id field stands for.
COLLECTIONS = {
    "registered_models": "model",
    "model_versions": "version",
    "artifacts": "artifact",
    "model_artifacts": "artifact",
    "serving_environments": "environment",
    "inference_services": "inference_service",
    "serve_models": "serve",
    "experiments": "experiment",
    "experiment_runs": "run",
}
BODY_IDS = {
    "registeredModelId": "model",
    "modelVersionId": "version",
    "servingEnvironmentId": "environment",
    "inferenceServiceId": "inference_service",
    "experimentId": "experiment",
    "experimentRunId": "run",
}
ARTIFACT_TYPE = "model-artifact"  # the type used where a body is one of several artifact types


@dataclass(frozen=True)
class Endpoint:
    method: str  # upper case
    prefix: str  # "v1alpha3" | "v1" | "governance"
    template: str  # the path below the prefix, with its {parameters}
    operation: dict[str, Any] = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.method} {self.prefix}{self.template}"

    @property
    def base(self) -> str:
        return GOVERNANCE if self.prefix == "governance" else PREFIXES[self.prefix]

    def query_names(self) -> set[str]:
        return {p["name"] for p in self.operation.get("parameters", []) if p["in"] == "query"}

    def body_schema(self) -> dict[str, Any] | None:
        content = self.operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return None if schema is None else resolve(schema)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def registry_endpoints(methods: tuple[str, ...]) -> list[Endpoint]:
    out = []
    for prefix, base in PREFIXES.items():
        for path, operations in SPEC["paths"].items():
            if not path.startswith(base + "/"):
                continue
            for method, operation in operations.items():
                if method in methods:
                    out.append(Endpoint(method.upper(), prefix, path[len(base) :], operation))
    return out


def enum_values(schema: dict[str, Any]) -> set[str]:
    schema = resolve(schema)
    values = set(schema.get("enum", ()))
    for option in [*schema.get("anyOf", ()), *schema.get("oneOf", ())]:
        values |= enum_values(option)
    return values


WRITE_ENDPOINTS = registry_endpoints(WRITE_METHODS)
READ_ENDPOINTS = registry_endpoints(("get",))
# PATCH endpoints whose body can set ``state`` to ARCHIVED: the Kubeflow way of archiving (admin only here).
ARCHIVING_PATCHES = [
    ep
    for ep in WRITE_ENDPOINTS
    if ep.method == "PATCH"
    and (schema := ep.body_schema()) is not None
    and "ARCHIVED" in enum_values(schema.get("properties", {}).get("state", {}))
]
# The governance endpoints addressed by ``{collection}``: archive, restore and (hard) delete.
GOVERNANCE_OPS = [
    (Endpoint(method.upper(), "governance", path[len(GOVERNANCE) :], op), collection)
    for path, operations in SPEC["paths"].items()
    if path.startswith(GOVERNANCE + "/") and "{collection}" in path
    for method, op in operations.items()
    for parameter in op.get("parameters", [])
    if parameter["name"] == "collection"
    for collection in sorted(enum_values(parameter["schema"]))
]


def governance_permission(endpoint: Endpoint) -> str:
    if endpoint.method == "DELETE":
        return "delete"
    if endpoint.template.endswith(("/archive", "/restore")):
        return "archive"
    raise AssertionError(f"{endpoint.label}: new governance endpoint on {{collection}}: say which permission it needs")


def test_the_matrix_is_derived_from_the_openapi_document() -> None:
    """The derivation finds what is known to exist, and v1 leaves out the experiment endpoints."""
    labels = {ep.label for ep in WRITE_ENDPOINTS}
    for known in (
        "POST v1alpha3/registered_models",
        "PATCH v1alpha3/model_versions/{modelversionId}",
        "POST v1alpha3/model_versions/{modelversionId}/artifacts",
        "POST v1alpha3/experiment_runs/{experimentrunId}/artifacts",
        "POST v1/inference_services/{inferenceserviceId}/serves",
        "PATCH v1/artifacts/{id}",
    ):
        assert known in labels, known
    assert not any(ep.prefix == "v1" and "experiment" in ep.template for ep in WRITE_ENDPOINTS + READ_ENDPOINTS)
    assert {ep.label for ep in ARCHIVING_PATCHES} >= {
        "PATCH v1alpha3/registered_models/{registeredmodelId}",
        "PATCH v1/model_versions/{modelversionId}",
    }
    assert {(ep.label, c) for ep, c in GOVERNANCE_OPS} >= {
        ("POST governance/{collection}/{entityId}/archive", "registered_models"),
        ("POST governance/{collection}/{entityId}/restore", "model_versions"),
        ("DELETE governance/{collection}/{entityId}", "registered_models"),
    }


# --- the shared setup ------------------------------------------------------------------------------------------

_counter = itertools.count()


def unique(what: str) -> str:
    return f"{what}-{next(_counter)}-{uuid.uuid4().hex[:6]}"


@dataclass
class World:
    url: str
    database: Database
    clients: dict[str, httpx.Client]
    ids: dict[str, str] = field(default_factory=dict)  # prerequisite kind → id
    external_ids: dict[str, str] = field(default_factory=dict)

    def call(self, caller: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.clients[caller].request(method, path, **kwargs)

    def admin(self, method: str, path: str, expected: int | tuple[int, ...] = (200, 201), **kwargs: Any) -> dict:
        response = self.call("admin", method, path, **kwargs)
        expected = (expected,) if isinstance(expected, int) else expected
        assert response.status_code in expected, (method, path, response.status_code, response.text)
        return response.json()


@pytest.fixture(scope="module")
def world(auth_server: ServerThread, database: Database) -> Iterator[World]:
    empty(database)
    auth_server.app.state.authenticator.forget()  # type: ignore[attr-defined]
    access = AccessService(database)
    headers = {}
    with context.acting_as(context.cli_context()):
        for kind, subject, role in BINDINGS:
            access.create_binding(kind, subject, role)
        for caller, (user, groups) in CALLERS.items():
            secret, _ = access.create_token(user, groups)
            headers[caller] = {"Authorization": f"Bearer {secret}"}
    clients = {c: httpx.Client(base_url=auth_server.url, headers=h, timeout=30) for c, h in headers.items()}
    w = World(auth_server.url, database, clients)
    r = V1ALPHA3

    def make(kind: str, path: str, body: dict[str, Any]) -> None:
        w.external_ids[kind] = body["externalId"] = f"ext-{kind}"
        w.ids[kind] = w.admin("POST", r + path, json=body)["id"]

    make("model", "/registered_models", {"name": "matrix-model"})
    make("version", f"/registered_models/{w.ids['model']}/versions", {"name": "1", "registeredModelId": w.ids["model"]})
    make(
        "artifact",
        f"/model_versions/{w.ids['version']}/artifacts",
        {"artifactType": "model-artifact", "name": "weights", "uri": "s3://bucket/weights"},
    )
    make("environment", "/serving_environments", {"name": "prod"})
    make(
        "inference_service",
        "/inference_services",
        {"servingEnvironmentId": w.ids["environment"], "registeredModelId": w.ids["model"]},
    )
    make("serve", f"/inference_services/{w.ids['inference_service']}/serves", {"modelVersionId": w.ids["version"]})
    make("experiment", "/experiments", {"name": "matrix-experiment"})
    make("run", "/experiment_runs", {"experimentId": w.ids["experiment"]})
    w.admin(
        "POST",
        f"{r}/experiment_runs/{w.ids['run']}/artifacts",
        json={"artifactType": "metric", "name": "accuracy", "value": 0.9, "step": 1},
    )
    yield w
    for client in clients.values():
        client.close()


# --- building requests -----------------------------------------------------------------------------------------

_PARAM = re.compile(r"\{([^}]+)\}")


def concrete_path(world: World, endpoint: Endpoint, ids: dict[str, str] | None = None) -> str:
    """The template with each ``{parameter}`` replaced by the id of the entity of the collection before it."""
    ids = ids or world.ids
    segments = endpoint.template.strip("/").split("/")
    out = []
    for i, segment in enumerate(segments):
        if _PARAM.fullmatch(segment):
            collection = segments[i - 1] if i else ""
            kind = COLLECTIONS.get(collection)
            assert kind is not None, f"{endpoint.label}: which entity does {segment} after {collection!r} name?"
            out.append(ids[kind])
        else:
            out.append(segment)
    return endpoint.base + "/" + "/".join(out)


def body_for(world: World, endpoint: Endpoint, ids: dict[str, str] | None = None) -> dict[str, Any] | None:
    """A valid body: creates get a fresh name and the prerequisite ids; updates change the description."""
    ids = ids or world.ids
    schema = endpoint.body_schema()
    if schema is None:
        return None
    artifact_type = None
    if "oneOf" in schema:
        mapping = schema.get("discriminator", {}).get("mapping", {})
        assert ARTIFACT_TYPE in mapping, f"{endpoint.label}: teach body_for this kind of body: {mapping}"
        artifact_type = ARTIFACT_TYPE
        schema = resolve({"$ref": mapping[ARTIFACT_TYPE]})
    properties = schema.get("properties", {})
    body: dict[str, Any] = {}
    if endpoint.method == "PATCH":
        assert "description" in properties, f"{endpoint.label}: teach body_for how to update this entity"
        body["description"] = unique("updated")
    else:
        for name in properties:
            if name in BODY_IDS:
                body[name] = ids[BODY_IDS[name]]
        if "name" in properties:
            body["name"] = unique("matrix")
        if "uri" in properties:
            body["uri"] = f"s3://bucket/{unique('uri')}"
    if artifact_type is not None:
        body["artifactType"] = artifact_type
    missing = set(schema.get("required", ())) - set(body)
    assert not missing, f"{endpoint.label}: body_for cannot fill the required fields {sorted(missing)}"
    return body


def read_params(world: World, endpoint: Endpoint) -> dict[str, str]:
    """Find-by-parameters endpoints (``/registered_model`` ...) get the externalId of the prerequisite entity."""
    names = endpoint.query_names()
    if "externalId" not in names or "pageSize" in names:
        return {}
    singular = endpoint.template.strip("/").split("/")[-1]
    kind = COLLECTIONS.get(singular + "s")
    assert kind is not None, f"{endpoint.label}: which entity does this endpoint find?"
    return {"externalId": world.external_ids[kind]}


DERIVED = {tables.events.name, tables.event_cursors.name, tables.webhook_deliveries.name}


def snapshot(database: Database) -> dict[str, list[tuple]]:
    """Every row of every table: the database as a value, to compare before and after a refused request.

    The Backstage bridge's tables and the event relay's are left out: they are derived data that background workers
    write after earlier (allowed) writes, at any moment."""
    out = {}
    with database.read() as conn:
        for table in tables.metadata.sorted_tables:
            if table.name.startswith("bridge_") or table.name in DERIVED:
                continue
            order = list(table.primary_key.columns) or list(table.c)
            out[table.name] = [tuple(row) for row in conn.execute(select(table).order_by(*order))]
    return out


def last_audit(database: Database) -> tuple[int, str | None]:
    with database.read() as conn:
        count = conn.execute(select(func.count()).select_from(tables.audit_log)).scalar_one()
        actor = conn.execute(
            select(tables.audit_log.c.actor).order_by(tables.audit_log.c.seq.desc()).limit(1)
        ).scalar_one_or_none()
    return count, actor


def assert_forbidden(response: httpx.Response, permission: str, label: str) -> None:
    assert response.status_code == 403, (label, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"code", "message"}, (label, body)
    assert f"'{permission}' permission" in body["message"], (label, permission, body)


def case_id(caller: str, endpoint: Endpoint, extra: str = "") -> str:
    return f"{caller} x {endpoint.label}{extra}"


# --- the matrix ------------------------------------------------------------------------------------------------

ROLE_CHECKS = pytest.mark.sqlite_only("role checks, decided from the binding table")


@ROLE_CHECKS
@pytest.mark.parametrize(
    ("caller", "endpoint"),
    [pytest.param(c, ep, id=case_id(c, ep)) for ep in WRITE_ENDPOINTS for c in CALLERS],
)
def test_write_endpoint(world: World, caller: str, endpoint: Endpoint) -> None:
    role = ROLE[caller]
    path = concrete_path(world, endpoint)
    if role in WRITERS:
        body = body_for(world, endpoint)
        before, _ = last_audit(world.database)
        response = world.call(caller, endpoint.method, path, json=body)
        assert 200 <= response.status_code < 300, (endpoint.label, response.status_code, response.text)
        count, actor = last_audit(world.database)
        assert count > before, f"{endpoint.label}: a successful write left no audit record"
        assert actor == CALLERS[caller][0], f"{endpoint.label}: audit record names {actor!r}, not the caller"
        return
    try:
        body = body_for(world, endpoint)
    except AssertionError:
        body = {}  # a refused caller must be refused whatever the body: the check comes before validation
    before = snapshot(world.database)
    response = world.call(caller, endpoint.method, path, json=body)
    assert_forbidden(response, "write", endpoint.label)
    assert snapshot(world.database) == before, f"{endpoint.label}: the refused request changed the database"


@ROLE_CHECKS
@pytest.mark.parametrize(
    ("caller", "endpoint"),
    [pytest.param(c, ep, id=case_id(c, ep)) for ep in READ_ENDPOINTS for c in CALLERS],
)
def test_read_endpoint(world: World, caller: str, endpoint: Endpoint) -> None:
    response = world.call(caller, "GET", concrete_path(world, endpoint), params=read_params(world, endpoint))
    if ROLE[caller] in READERS:
        assert response.status_code == 200, (endpoint.label, response.status_code, response.text)
    else:
        assert_forbidden(response, "read", endpoint.label)


def _create_fresh(world: World, endpoint: Endpoint) -> str:
    """A new entity of the kind ``endpoint`` addresses by id, created by the admin, so archiving it changes nothing
    the other cases use. Found through the collection's own create endpoint."""
    collection_template = endpoint.template.rsplit("/", 1)[0]
    create = next(
        (
            ep
            for ep in WRITE_ENDPOINTS
            if ep.method == "POST" and ep.prefix == endpoint.prefix and ep.template == collection_template
        ),
        None,
    )
    assert create is not None, f"{endpoint.label}: no POST {collection_template} to create an entity to archive"
    return world.admin("POST", concrete_path(world, create), json=body_for(world, create))["id"]


def _state(world: World, path: str) -> str:
    return world.admin("GET", path, 200)["state"]


@ROLE_CHECKS
@pytest.mark.parametrize(
    ("caller", "endpoint", "target"),
    [
        pytest.param(c, ep, target, id=case_id(c, ep, f" state={target}"))
        for ep in ARCHIVING_PATCHES
        for target in ("ARCHIVED", "LIVE")
        for c in CALLERS
    ],
)
def test_archive_and_restore_by_patching_state(world: World, caller: str, endpoint: Endpoint, target: str) -> None:
    """Archiving (and restoring) through a PATCH of ``state`` needs the admin-only ``archive`` permission."""
    id_ = _create_fresh(world, endpoint)
    kind = COLLECTIONS[endpoint.template.strip("/").split("/")[0]]
    path = concrete_path(world, endpoint, {**world.ids, kind: id_})
    if target == "LIVE":
        world.admin("PATCH", path, 200, json={"state": "ARCHIVED"})
    start = _state(world, path)
    response = world.call(caller, "PATCH", path, json={"state": target})
    if ROLE[caller] == "admin":
        assert response.status_code == 200, (endpoint.label, response.text)
        assert response.json()["state"] == target and _state(world, path) == target, endpoint.label
        return
    assert_forbidden(response, "archive" if ROLE[caller] == "developer" else "write", endpoint.label)
    assert _state(world, path) == start, f"{endpoint.label}: the refused PATCH changed the state"


@pytest.mark.parametrize(
    ("caller", "endpoint", "collection"),
    [pytest.param(c, ep, col, id=case_id(c, ep, f" {col}")) for ep, col in GOVERNANCE_OPS for c in CALLERS],
)
def test_governance_archive_restore_delete(world: World, caller: str, endpoint: Endpoint, collection: str) -> None:
    """Archive, restore and delete are the admin's: developers and viewers get 403 and nothing changes."""
    registry_path = f"{V1ALPHA3}/{collection}"
    create = next(ep for ep in WRITE_ENDPOINTS if ep.label == f"POST v1alpha3/{collection}")
    id_ = world.admin("POST", registry_path, json=body_for(world, create))["id"]
    entity_path = f"{registry_path}/{id_}"
    if endpoint.method == "DELETE" or endpoint.template.endswith("/restore"):
        world.admin("POST", f"{GOVERNANCE}/{collection}/{id_}/archive", 200)
    path = endpoint.base + endpoint.template.replace("{collection}", collection).replace("{entityId}", id_)
    before = world.admin("GET", entity_path, 200)
    response = world.call(caller, endpoint.method, path)
    if ROLE[caller] == "admin":
        assert response.status_code == 200, (endpoint.label, response.text)
        after = world.call("admin", "GET", entity_path)
        if endpoint.method == "DELETE":
            assert after.status_code == 404, (endpoint.label, after.text)
        else:
            expected = "ARCHIVED" if endpoint.template.endswith("/archive") else "LIVE"
            assert after.json()["state"] == expected, (endpoint.label, after.text)
        return
    permission = governance_permission(endpoint) if ROLE[caller] == "developer" else "write"
    assert_forbidden(response, permission, endpoint.label)
    assert world.admin("GET", entity_path, 200) == before, f"{endpoint.label}: the refused request changed it"

"""The lean request path (docs/performance.md): flat routes, FastAPI's machinery only when a request needs it, and
hot reads on the driver's cursor, all giving what the full machinery gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute
from sqlalchemy import insert, select

from conftest import empty
from modelreg.api.registry import V1, V1ALPHA3
from modelreg.app import create_app
from modelreg.db import repository
from modelreg.db.database import Database
from modelreg.db.tables import model_versions, properties, registered_models
from modelreg.services import properties as props
from modelreg.settings import Settings


def test_registry_routes_are_routes_of_the_app(database: Database, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=database.url, data_dir=tmp_path), database)
    routes = [route for route in app.router.routes if isinstance(route, APIRoute)]
    own = {(route.path, method) for route in routes for method in route.methods}
    for prefix in (V1ALPHA3, V1):
        assert (f"{prefix}/registered_models/{{registeredmodelId}}", "GET") in own
        assert (f"{prefix}/model_versions/{{modelversionId}}/artifacts", "POST") in own
    assert ("/readyz/health", "GET") in own


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths of the requests FastAPI solved the dependencies of (the server runs in this process)."""
    paths: list[str] = []
    original = fastapi_routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        paths.append(kwargs["request"].url.path)
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi_routing, "solve_dependencies", counting)
    yield paths


def test_valid_registrations_and_gets_skip_fastapi_dependency_solving(api: httpx.Client, solved: list[str]) -> None:
    rm = api.post("/registered_models", json={"name": "lean"})
    assert rm.status_code == 201
    rm_id = rm.json()["id"]
    mv = api.post(f"/registered_models/{rm_id}/versions", json={"name": "1", "registeredModelId": rm_id})
    assert mv.status_code == 201 and mv.json()["registeredModelId"] == rm.json()["id"]
    artifact = {"artifactType": "model-artifact", "name": "a", "uri": "s3://b/k"}
    assert api.post(f"/model_versions/{mv.json()['id']}/artifacts", json=artifact).status_code == 201
    assert api.get(f"/registered_models/{rm.json()['id']}").json()["name"] == "lean"
    assert solved == []
    # Lists (query parameters) are FastAPI's throughout.
    assert api.get("/registered_models").status_code == 200
    assert solved == ["/api/model_registry/v1alpha3/registered_models"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/registered_models/abc", None, 400, "invalid registeredmodelId path parameter: String should match"),
        ("POST", "/registered_models", b'{"name": "x", "bogus": 1}', 400, 'json: unknown field "bogus"'),
        ("POST", "/registered_models", b"{not json", 400, "invalid JSON body: "),
        ("POST", "/registered_models", b"", 400, "request body is required"),
        ("POST", "/registered_models", b"{}", 422, "required field 'name' is zero value."),
    ],
)
def test_requests_the_lean_path_refuses_get_fastapis_errors(
    api: httpx.Client, solved: list[str], method: str, path: str, body: bytes | None, status: int, message: str
) -> None:
    response = api.request(method, path, content=body)
    assert response.status_code == status, response.text
    assert response.json()["message"].startswith(message)
    if status != 400 or not message.startswith("invalid JSON"):  # FastAPI refuses that one before solving
        assert solved == [f"/api/model_registry/v1alpha3{path}"]  # answered by FastAPI's handler, as before


def test_rows_read_on_the_DriverCursor_equal_sqlalchemys(database: Database) -> None:
    empty(database)
    with database.write() as conn:
        rm_id = repository.insert_row(
            conn, registered_models, {"name": "m", "state": "ARCHIVED", "create_time": 1, "last_update_time": 2}
        )
        mv_id = repository.insert_row(
            conn,
            model_versions,
            {
                "registered_model_id": rm_id,
                "name": "v",
                "state": "ARCHIVED",
                "archived_with_model": True,
                "create_time": 3,
                "last_update_time": 4,
            },
        )
        rows = [("bool", None, None, None, True), ("int", None, 2**62, None, None), ("double", None, None, 0.5, None)]
        conn.execute(
            insert(properties),
            [
                {
                    "owner_kind": "model_versions",
                    "owner_id": mv_id,
                    "name": f"p{i}",
                    "value_type": kind,
                    "string_value": s,
                    "int_value": n,
                    "double_value": d,
                    "bool_value": b,
                }
                for i, (kind, s, n, d, b) in enumerate([*rows, ("string", "é", None, None, None)])
            ],
        )
    with database.read() as conn:
        for table, id_ in ((registered_models, rm_id), (model_versions, mv_id)):
            expected = dict(conn.execute(select(table).where(table.c.id == id_)).mappings().one())
            row = repository.get_row(conn, table, id_)
            assert row == expected and list(row) == list(expected)
            assert [type(v) for v in row.values()] == [type(v) for v in expected.values()]
        assert repository.get_row(conn, model_versions, mv_id + 1000) is None
        loaded = props.load(conn, "model_versions", [mv_id])[mv_id]
        assert loaded == props.load(conn, "model_versions", [mv_id, mv_id + 1000])[mv_id]  # the SQLAlchemy path
        assert loaded["p0"] == props.PropValue("bool", True) and loaded["p3"] == props.PropValue("string", "é")
    empty(database)

"""A version shows ``customProperties.Lifecycle`` only once its stage was set through governance: a client that
writes ``{"a": 1, "b": "2"}`` reads back exactly that (round-trip equality, as upstream client code expects). A
never-promoted version is still ``development`` to the governance API and to filters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from governance.conftest import Governed
from governance.test_lifecycle import promote, string_prop
from modelreg.db import migrations
from modelreg.db.tables import audit_log, model_versions, registered_models
from modelreg.services import entities as e
from modelreg.services.properties import PropValue

CUSTOM = {"a": {"metadataType": "MetadataIntValue", "int_value": "1"}, "b": string_prop("2")}


def _model(api: httpx.Client, name: str = "m") -> str:
    created = api.post("/registered_models", json={"name": name})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _ids(api: httpx.Client, query: str, path: str = "/model_versions") -> list[str]:
    listed = api.get(path, params={"filterQuery": query})
    assert listed.status_code == 200, (query, listed.text)
    return [v["id"] for v in listed.json()["items"]]


def test_new_versions_carry_only_what_the_client_wrote(gov: Governed) -> None:
    api = gov.registry("developer")
    model_id = _model(api)
    flat = api.post("/model_versions", json={"name": "v1", "registeredModelId": model_id, "customProperties": CUSTOM})
    nested_body = {"name": "v2", "registeredModelId": model_id, "customProperties": CUSTOM}
    nested = api.post(f"/registered_models/{model_id}/versions", json=nested_body)
    bare = api.post("/model_versions", json={"name": "v3", "registeredModelId": model_id})
    for created, expected in ((flat, CUSTOM), (nested, CUSTOM), (bare, {})):
        assert created.status_code == 201, created.text
        assert created.json()["customProperties"] == expected
        read = api.get(f"/model_versions/{created.json()['id']}").json()
        assert read == created.json()
        # The upstream client sends the whole version back on update: that must work and change nothing.
        fields = ("description", "externalId", "customProperties", "state", "author")
        sent_back = {k: read[k] for k in fields if k in read}
        again = api.patch(f"/model_versions/{read['id']}", json=sent_back)
        assert again.status_code == 200, again.text
        assert again.json()["customProperties"] == expected
    listed = api.get(f"/registered_models/{model_id}/versions").json()["items"]
    assert [v["customProperties"] for v in listed] == [CUSTOM, CUSTOM, {}]


def test_a_never_promoted_version_is_in_development(gov: Governed) -> None:
    api = gov.registry("developer")
    model_id = _model(api)
    version = api.post("/model_versions", json={"name": "v1", "registeredModelId": model_id}).json()
    # To the governance API: development → production is not a transition of the policy, development → staging is.
    refused = promote(gov, "admin", version["id"], "production")
    assert refused.status_code == 409
    assert "is in stage 'development'" in refused.json()["message"]
    same = promote(gov, "developer", version["id"], "development")  # already there: nothing changes
    assert same.status_code == 200 and "Lifecycle" not in same.json()["customProperties"]
    # To the Kubeflow API: it may say "development" (what the version is), not another stage.
    staging = {"customProperties": {"Lifecycle": string_prop("staging")}}
    kept = api.patch(f"/model_versions/{version['id']}", json=staging)
    assert kept.status_code == 403
    moved = promote(gov, "developer", version["id"], "staging")
    assert moved.status_code == 200, moved.text
    assert moved.json()["customProperties"] == {"Lifecycle": string_prop("staging")}
    back = promote(gov, "developer", version["id"], "development")
    assert back.json()["customProperties"] == {"Lifecycle": string_prop("development")}  # now set by governance
    assert api.get(f"/model_versions/{version['id']}").json()["customProperties"] == {
        "Lifecycle": string_prop("development")
    }


def test_lifecycle_written_by_the_client_reads_back(gov: Governed) -> None:
    """``Lifecycle: development`` is the stage of a new version: a client may write it, and then reads it back."""
    api = gov.registry("developer")
    model_id = _model(api)
    custom = {**CUSTOM, "Lifecycle": string_prop("development")}
    body = {"name": "v1", "registeredModelId": model_id, "customProperties": custom}
    created = api.post("/model_versions", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["customProperties"] == custom
    assert api.get(f"/model_versions/{created.json()['id']}").json()["customProperties"] == custom
    other = api.post("/model_versions", json={"name": "v2", "registeredModelId": model_id}).json()
    patched = api.patch(f"/model_versions/{other['id']}", json={"customProperties": custom})
    assert patched.status_code == 200, patched.text
    assert patched.json()["customProperties"] == custom
    staging = {"name": "v3", "registeredModelId": model_id, "customProperties": {"Lifecycle": string_prop("staging")}}
    assert api.post("/model_versions", json=staging).status_code == 403


def test_filters_see_never_promoted_versions_as_development(gov: Governed) -> None:
    api = gov.registry("developer")
    model_id = _model(api)
    bodies = [{"name": f"v{i}", "registeredModelId": model_id} for i in range(4)]
    ids = [api.post("/model_versions", json=body).json()["id"] for body in bodies]
    assert promote(gov, "developer", ids[1], "staging").status_code == 200
    assert promote(gov, "developer", ids[2], "staging").status_code == 200
    assert promote(gov, "developer", ids[2], "development").status_code == 200  # development, set explicitly
    viewer = gov.registry("viewer")
    for query, expected in (
        ("Lifecycle = 'development'", [ids[0], ids[2], ids[3]]),
        ("Lifecycle != 'development'", [ids[1]]),
        ("Lifecycle <> 'development'", [ids[1]]),
        ("lifecycle = 'development'", [ids[0], ids[2], ids[3]]),
        ("Lifecycle.string_value = 'development'", [ids[0], ids[2], ids[3]]),
        ("Lifecycle IN ('development')", [ids[0], ids[2], ids[3]]),
        ("Lifecycle NOT IN ('development')", [ids[1]]),
        ("Lifecycle NOT IN ('staging')", [ids[0], ids[2], ids[3]]),
        ("Lifecycle LIKE 'dev%'", [ids[0], ids[2], ids[3]]),
        ("Lifecycle ILIKE 'DEV%'", [ids[0], ids[2], ids[3]]),
        ("Lifecycle NOT LIKE 'dev%'", [ids[1]]),
        ("Lifecycle = 'staging' OR name = 'v0'", [ids[0], ids[1]]),
        ("Lifecycle > 'p'", [ids[1]]),
        ("Lifecycle < 'e'", [ids[0], ids[2], ids[3]]),
    ):
        assert _ids(viewer, query) == expected, query
        assert _ids(viewer, query, f"/registered_models/{model_id}/versions") == expected, query
        assert _ids(gov.client("viewer", "/api/model_registry/v1"), query) == expected, query


@pytest.fixture
def scratch(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the session's backend, of its own (the migration test goes back and forth on it)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
        yield engine
        engine.dispose()
        return
    name = f"{url.database}_m7"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine = create_engine(url.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            force = " WITH (FORCE)" if url.get_backend_name() == "postgresql" else ""
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def _add_version(conn: Any, model_id: int, name: str, stage: str) -> int:
    row = {"registered_model_id": model_id, "name": name, "state": "LIVE", "stage": stage}
    row |= {"create_time": 1, "last_update_time": 1}
    return int(conn.execute(insert(model_versions).values(row)).inserted_primary_key[0])


def _promote_record(conn: Any, seq: int, version_id: int, kind: str = "model_version") -> None:
    row = {"seq": seq, "time_ms": 1, "actor": "a", "via": "api", "action": "promote", "entity_kind": kind}
    row |= {"entity_id": version_id, "entity_name": "x", "changes": "{}", "prev_hash": "0", "hash": "0"}
    conn.execute(insert(audit_log).values(row))


def _stages(engine: Engine) -> dict[str, str | None]:
    v = model_versions.c
    with engine.connect() as conn:
        return {row.name: row.stage for row in conn.execute(select(v.name, v.stage))}


def test_migration_forgets_development_stages_nobody_set(scratch: Engine) -> None:
    """0007: a version in development that no promotion ever touched shows no ``Lifecycle`` after the upgrade; one
    that governance sent back to development, or that is in another stage, keeps it. A downgrade gives every
    version its stage again."""
    migrations.upgrade(scratch, "0006")
    with scratch.begin() as conn:
        values = {"name": "old", "state": "LIVE", "create_time": 1, "last_update_time": 1}
        model_id = int(conn.execute(insert(registered_models).values(values)).inserted_primary_key[0])
        _add_version(conn, model_id, "untouched", "development")
        sent_back = _add_version(conn, model_id, "sent-back", "development")
        staged = _add_version(conn, model_id, "staged", "staging")
        other_kind = _add_version(conn, model_id, "other-kind", "development")
        _promote_record(conn, 1, sent_back)  # to staging
        _promote_record(conn, 2, sent_back)  # back to development
        _promote_record(conn, 3, staged)
        _promote_record(conn, 4, other_kind, kind="registered_model")  # the same id, another kind of entity
    migrations.upgrade(scratch, "0007")
    after = {"untouched": None, "sent-back": "development", "staged": "staging", "other-kind": None}
    assert _stages(scratch) == after
    with scratch.connect() as conn:
        records = e.select_records(conn, e.MODEL_VERSION, [], [model_versions.c.id], 10)
    shown = {r.row["name"]: r.props.get("Lifecycle") for r in records}
    assert shown == {
        "untouched": None,
        "sent-back": PropValue("string", "development"),
        "staged": PropValue("string", "staging"),
        "other-kind": None,
    }
    with scratch.connect() as conn:
        command.downgrade(migrations.alembic_config(conn), "0006")
        conn.commit()
    before = {"untouched": "development", "sent-back": "development", "staged": "staging", "other-kind": "development"}
    assert _stages(scratch) == before
    migrations.upgrade(scratch, "0007")
    assert _stages(scratch) == after

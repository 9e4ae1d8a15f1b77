"""``Lifecycle`` is the stage of a model version, moved only by the governance API. On every other entity kind a
``Lifecycle`` custom property would pass for a stage (the Backstage bridge reads a version's, then its model's), so
the Kubeflow API refuses it to every caller, on every create, update and artifact upsert."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from governance.conftest import Governed
from governance.test_lifecycle import string_prop
from modelreg.db.tables import properties

LIFECYCLE = {"Lifecycle": string_prop("production")}
ROLES = ["admin", "developer", "group-admin", "group-developer", "viewer"]
ARTIFACT_TYPES = ["model-artifact", "doc-artifact", "dataset-artifact", "metric", "parameter"]


def created(response: httpx.Response) -> str:
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def artifact_body(artifact_type: str, name: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"artifactType": artifact_type, "name": name, **extra}
    if artifact_type == "metric":
        body["value"] = 0.5
    elif artifact_type == "parameter":
        body["value"] = "8"
    return body


def setup(api: httpx.Client) -> dict[str, Any]:
    """One entity of every kind, made by an admin, none with a ``Lifecycle`` property of its own."""
    ids: dict[str, Any] = {"model": created(api.post("/registered_models", json={"name": "m"}))}
    ids["version"] = created(api.post("/model_versions", json={"name": "v1", "registeredModelId": ids["model"]}))
    ids["environment"] = created(api.post("/serving_environments", json={"name": "env"}))
    isvc = {"registeredModelId": ids["model"], "servingEnvironmentId": ids["environment"], "name": "isvc"}
    ids["service"] = created(api.post("/inference_services", json=isvc))
    ids["experiment"] = created(api.post("/experiments", json={"name": "exp"}))
    ids["run"] = created(api.post("/experiment_runs", json={"experimentId": ids["experiment"], "name": "run"}))
    ids["artifacts"] = {}
    for artifact_type in ARTIFACT_TYPES:
        on_run = artifact_type in ("metric", "parameter")
        parent = f"/experiment_runs/{ids['run']}" if on_run else f"/model_versions/{ids['version']}"
        body = artifact_body(artifact_type, f"existing-{artifact_type}")
        ids["artifacts"][artifact_type] = (parent, created(api.post(f"{parent}/artifacts", json=body)))
    return ids


def attempts(ids: dict[str, Any], props: dict[str, Any] = LIFECYCLE) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body) for every way the registry API writes custom properties, each setting ``props``."""
    model, version, env, isvc = ids["model"], ids["version"], ids["environment"], ids["service"]
    experiment, run = ids["experiment"], ids["run"]
    service = {"registeredModelId": model, "servingEnvironmentId": env}
    tried: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/registered_models", {"name": "m2"}),
        ("PATCH", f"/registered_models/{model}", {}),
        ("POST", "/model_versions", {"name": "v2", "registeredModelId": model}),
        ("POST", f"/registered_models/{model}/versions", {"name": "v3", "registeredModelId": model}),
        ("PATCH", f"/model_versions/{version}", {}),
        ("POST", "/serving_environments", {"name": "env2"}),
        ("PATCH", f"/serving_environments/{env}", {}),
        ("POST", "/inference_services", service),
        ("POST", f"/serving_environments/{env}/inference_services", service),
        ("PATCH", f"/inference_services/{isvc}", {}),
        ("POST", f"/inference_services/{isvc}/serves", {"modelVersionId": version}),
        ("POST", "/experiments", {"name": "exp2"}),
        ("PATCH", f"/experiments/{experiment}", {}),
        ("POST", "/experiment_runs", {"experimentId": experiment}),
        ("POST", f"/experiments/{experiment}/experiment_runs", {"experimentId": experiment}),
        ("PATCH", f"/experiment_runs/{run}", {}),
        ("POST", "/model_artifacts", {"artifactType": "model-artifact", "name": "standalone-model"}),
        ("PATCH", f"/model_artifacts/{ids['artifacts']['model-artifact'][1]}", {}),
    ]
    for artifact_type, (parent, artifact_id) in ids["artifacts"].items():
        tried += [
            ("POST", "/artifacts", artifact_body(artifact_type, f"standalone-{artifact_type}")),
            ("PATCH", f"/artifacts/{artifact_id}", {"artifactType": artifact_type}),
            ("POST", f"{parent}/artifacts", artifact_body(artifact_type, f"new-{artifact_type}")),  # upsert: new
            ("POST", f"{parent}/artifacts", artifact_body(artifact_type, "x", id=artifact_id)),  # upsert: existing
        ]
        if artifact_type in ("metric", "parameter"):  # upserted by name under their run
            tried.append(("POST", f"{parent}/artifacts", artifact_body(artifact_type, f"existing-{artifact_type}")))
    return [(method, path, {**body, "customProperties": props}) for method, path, body in tried]


def stored_lifecycles(gov: Governed) -> list[tuple[str, int]]:
    with gov.database.read() as conn:
        query = select(properties.c.owner_kind, properties.c.owner_id).where(properties.c.name == "Lifecycle")
        return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]


def entity_count(gov: Governed) -> int:
    from modelreg.db import tables

    kinds = (
        tables.registered_models,
        tables.model_versions,
        tables.artifacts,
        tables.serving_environments,
        tables.inference_services,
        tables.serve_models,
        tables.experiments,
        tables.experiment_runs,
    )
    with gov.database.read() as conn:
        return sum(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in kinds)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_writes_lifecycle_on_any_kind(gov: Governed, role: str) -> None:
    ids = setup(gov.registry("admin"))
    before = entity_count(gov)
    api = gov.registry(role)
    accepted = []
    for method, path, body in attempts(ids):
        response = api.request(method, path, json=body)
        if response.status_code != 403:
            accepted.append(f"{method} {path} -> {response.status_code}")
        elif role != "viewer":  # a viewer is stopped earlier, by the missing write permission
            assert "governance API" in response.json()["message"], response.text
    assert accepted == [], f"{role} wrote 'Lifecycle' through: {accepted}"
    assert stored_lifecycles(gov) == []
    assert entity_count(gov) == before  # no refused create left an entity behind
    if role == "developer":  # the same requests with another property are fine: only `Lifecycle` was refused
        for method, path, body in attempts(ids, {"team": string_prop("a")}):
            response = api.request(method, path, json=body)
            assert response.status_code in (200, 201), f"{method} {path}: {response.text}"


def test_a_lifecycle_stored_before_the_rule_can_be_sent_back_not_changed(gov: Governed) -> None:
    """The upstream client PATCHes the whole property map back: a value stored before (a legacy registry, an
    import) must not make its entity read-only, but it cannot be changed, and dropping it is allowed."""
    api = gov.registry("developer")
    model = created(api.post("/registered_models", json={"name": "legacy"}))
    with gov.database.write() as conn:
        row = {"owner_kind": "registered_models", "owner_id": int(model), "name": "Lifecycle"}
        conn.execute(insert(properties).values(**row, value_type="string", string_value="production"))
    path = f"/registered_models/{model}"
    legacy = {"Lifecycle": string_prop("production"), "team": string_prop("a")}
    assert api.patch(path, json={"customProperties": legacy}).status_code == 200
    for value in ("staging", "development"):
        changed = api.patch(path, json={"customProperties": {"Lifecycle": string_prop(value)}})
        assert changed.status_code == 403, changed.text
    assert api.get(path).json()["customProperties"] == legacy
    dropped = api.patch(path, json={"customProperties": {"team": string_prop("a")}})
    assert dropped.status_code == 200 and dropped.json()["customProperties"] == {"team": string_prop("a")}
    again = api.patch(path, json={"customProperties": legacy})  # once gone, it cannot come back
    assert again.status_code == 403

"""``/api/deploy/v1`` hardware profiles, runtimes and connections on every backend, with callers of each role:
everyone with a role reads, only admins write (developers and viewers get 403), strict bodies (unknown field,
wrong type → 400), 404 and 409 with messages, and connections without credentials."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from conftest import ServerThread
from deploy.targets_support import MINIO
from governance.conftest import Governed, auth_server, gov, oidc_keys
from modelreg.auth import context
from modelreg.deploy import defaults

__all__ = ["auth_server", "gov", "oidc_keys"]

DEPLOY = "/api/deploy/v1"
L4: dict[str, Any] = defaults.PROFILES[1]
CPU_RUNTIME: dict[str, Any] = defaults.RUNTIMES[1]


def _admin(gov: Governed) -> httpx.Client:
    return gov.client("admin", prefix=DEPLOY)


def test_admin_manages_profiles(gov: Governed) -> None:
    api = _admin(gov)
    created = api.post("/hardware-profiles", json=L4)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "nvidia-l4-1gpu" and body["origin"] == "modelreg" and body["namespace"] == "opendatahub"
    assert body["identifiers"][2] == {
        "identifier": "nvidia.com/gpu",
        "displayName": "NVIDIA L4",
        "resourceType": "Accelerator",
        "minCount": 1,
        "maxCount": 1,
        "defaultCount": 1,
    }
    assert api.get("/hardware-profiles/nvidia-l4-1gpu").json() == body
    assert [p["name"] for p in api.get("/hardware-profiles").json()["items"]] == ["nvidia-l4-1gpu"]

    replaced = api.put("/hardware-profiles/nvidia-l4-1gpu", json={**L4, "name": None, "enabled": False})
    assert replaced.status_code == 200 and replaced.json()["enabled"] is False
    assert api.get("/hardware-profiles").json()["items"] == []
    assert len(api.get("/hardware-profiles", params={"includeDisabled": "true"}).json()["items"]) == 1
    assert api.get("/hardware-profiles/nvidia-l4-1gpu").json()["enabled"] is False  # an admin still sees it

    assert api.delete("/hardware-profiles/nvidia-l4-1gpu").json()["name"] == "nvidia-l4-1gpu"
    missing = api.get("/hardware-profiles/nvidia-l4-1gpu")
    assert missing.status_code == 404 and "no hardware profile named 'nvidia-l4-1gpu'" in missing.json()["message"]
    assert api.delete("/hardware-profiles/nvidia-l4-1gpu").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({**L4, "colour": "red"}, 400, 'unknown field "colour"'),
        ({**L4, "enabled": "yes"}, 400, "enabled"),
        ({**L4, "identifiers": [{**L4["identifiers"][0], "minCount": 1.5}]}, 400, "minCount"),
        (
            {**L4, "identifiers": [{**L4["identifiers"][0], "defaultCount": 64}]},
            400,
            "defaultCount 64 is above maxCount 16",
        ),
        ({**L4, "scheduling": {"type": "Queue", "kueue": {"localQueueName": "q"}, "node": {}}}, 400, "'node' must not"),
        ({**L4, "scheduling": {"type": "Node"}}, 400, "'node' must be set"),
        ({**L4, "scheduling": {"type": "Pod"}}, 400, "type"),
        ({**L4, "name": "Bad Name"}, 400, "invalid hardware profile name"),
    ],
)
def test_bad_profiles_are_400(gov: Governed, body: dict[str, Any], status: int, fragment: str) -> None:
    response = _admin(gov).post("/hardware-profiles", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]


def test_duplicates_and_renames(gov: Governed) -> None:
    api = _admin(gov)
    assert api.post("/hardware-profiles", json=L4).status_code == 201
    again = api.post("/hardware-profiles", json=L4)
    assert again.status_code == 409 and "already exists" in again.json()["message"]
    renamed = api.put("/hardware-profiles/nvidia-l4-1gpu", json={**L4, "name": "other"})
    assert renamed.status_code == 400 and "cannot be renamed" in renamed.json()["message"]
    assert api.put("/hardware-profiles/other", json={**L4, "name": None}).status_code == 404


@pytest.mark.parametrize("caller", ["developer", "viewer", "group-developer"])
def test_only_admins_write_and_everyone_reads(gov: Governed, caller: str) -> None:
    admin = _admin(gov)
    assert admin.post("/hardware-profiles", json=L4).status_code == 201
    assert admin.post("/runtimes", json=CPU_RUNTIME).status_code == 201
    api = gov.client(caller, prefix=DEPLOY)
    assert [p["name"] for p in api.get("/hardware-profiles").json()["items"]] == ["nvidia-l4-1gpu"]
    assert api.get("/hardware-profiles/nvidia-l4-1gpu").status_code == 200
    assert [r["name"] for r in api.get("/runtimes").json()["items"]] == ["vllm-cpu-runtime"]
    assert api.get("/runtimes/vllm-cpu-runtime").status_code == 200
    assert api.get("/connections").status_code == 200
    for response in (
        api.post("/hardware-profiles", json={**L4, "name": "mine"}),
        api.put("/hardware-profiles/nvidia-l4-1gpu", json=L4),
        api.delete("/hardware-profiles/nvidia-l4-1gpu"),
        api.post("/runtimes", json=defaults.RUNTIMES[0]),
        api.delete("/runtimes/vllm-cpu-runtime"),
    ):
        assert response.status_code == 403, response.text
        assert "lacks the" in response.json()["message"]
    assert len(admin.get("/hardware-profiles").json()["items"]) == 1


def test_callers_without_a_role_or_credentials_see_nothing(gov: Governed) -> None:
    assert gov.client("nobody", prefix=DEPLOY).get("/hardware-profiles").status_code == 403
    assert gov.client(None, prefix=DEPLOY).get("/runtimes").status_code == 401


def test_admin_manages_runtimes(gov: Governed) -> None:
    api = _admin(gov)
    created = api.post("/runtimes", json=CPU_RUNTIME)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "vllm-cpu-runtime" and body["templateName"] == "vllm-cpu-runtime-template"
    assert body["modelFormats"] == [{"name": "vLLM", "version": None, "autoSelect": True}]
    assert body["modelTypes"] == ["generative"] and body["accelerators"] == [] and body["origin"] == "modelreg"
    assert api.get("/runtimes/vllm-cpu-runtime-template").json() == body

    bare = copy.deepcopy(CPU_RUNTIME["objects"][0])
    bare["metadata"]["name"] = "mine"
    assert api.post("/runtimes", json=bare).json()["templateName"] == "mine"
    bare["spec"]["supportedModelFormats"] = [{"name": "vLLM", "version": "1"}]
    assert api.put("/runtimes/mine", json=bare).json()["modelFormats"][0]["version"] == "1"
    assert api.put("/runtimes/vllm-cpu-runtime", json=bare).status_code == 400
    assert api.post("/runtimes", json=CPU_RUNTIME).status_code == 409
    assert api.delete("/runtimes/mine").status_code == 200
    assert api.get("/runtimes/mine").status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({**CPU_RUNTIME, "extra": 1}, 'unknown field "extra"'),
        ({**CPU_RUNTIME, "kind": "Deployment"}, "kind"),
        ({**CPU_RUNTIME, "objects": []}, "objects"),
        (
            {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime", "metadata": {"name": "x"}},
            "spec: required",
        ),
    ],
)
def test_bad_runtimes_are_400(gov: Governed, body: dict[str, Any], fragment: str) -> None:
    response = _admin(gov).post("/runtimes", json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]


def test_connections_carry_no_credentials(gov: Governed, auth_server: ServerThread) -> None:
    with context.acting_as(context.cli_context()):
        auth_server.app.state.connections.create("minio-storage", "s3", check=False, **MINIO)  # type: ignore[attr-defined]
    api = gov.client("viewer", prefix=DEPLOY)
    listed = api.get("/connections", params={"namespace": "team-a"})
    assert listed.status_code == 200
    [minio] = listed.json()["items"]
    assert minio["displayName"] == "MinIO Storage" and minio["inNamespace"] is False and minio["type"] == "s3"
    assert minio["bucket"] == "models" and minio["secretName"] == "minio-storage"
    assert MINIO["secret_access_key"] not in listed.text and MINIO["access_key_id"] not in listed.text
    assert api.get("/connections", params={"namespace": "Not A Namespace"}).status_code == 400

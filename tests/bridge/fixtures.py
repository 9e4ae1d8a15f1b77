"""Kubeflow Model Registry REST shapes for the bridge tests (modelled on the reference's mnist fixtures)."""

from __future__ import annotations

from typing import Any

from api.builders import prop, props
from modelreg.bridge.normalize import RegistrySnapshot

ONNX_URI = "https://huggingface.co/tarilabs/mnist/resolve/v20231206163028/mnist.onnx"


def cprops(values: dict[str, Any]) -> dict[str, Any]:
    """Like `props` for keys that are not identifiers (`How to use`)."""
    return {k: prop(v) for k, v in values.items()}


def registered_model(
    id: str,
    name: str,
    *,
    state: str = "LIVE",
    owner: str | None = None,
    description: str = "",
    properties: dict[str, Any] | None = None,
    updated: int = 1,
) -> dict[str, Any]:
    rm: dict[str, Any] = {
        "id": id,
        "name": name,
        "state": state,
        "customProperties": properties or {},
        "lastUpdateTimeSinceEpoch": str(updated),
        "createTimeSinceEpoch": "1",
    }
    if description:
        rm["description"] = description
    if owner is not None:
        rm["owner"] = owner
    return rm


def model_version(
    id: str,
    name: str,
    model_id: str,
    *,
    state: str = "LIVE",
    description: str = "",
    properties: dict[str, Any] | None = None,
    updated: int = 1,
) -> dict[str, Any]:
    mv: dict[str, Any] = {
        "id": id,
        "name": name,
        "registeredModelId": model_id,
        "state": state,
        "customProperties": properties or {},
        "lastUpdateTimeSinceEpoch": str(updated),
        "author": "someone",
    }
    if description:
        mv["description"] = description
    return mv


def model_artifact(
    id: str, name: str, uri: str | None, *, properties: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "name": name,
        "uri": uri,
        "artifactType": "model-artifact",
        "customProperties": properties or {},
        **extra,
    }


def inference_service(
    id: str,
    name: str,
    model_id: str,
    version_id: str,
    env_id: str,
    *,
    url: str | None = None,
    runtime: str | None = None,
    desired: str = "DEPLOYED",
) -> dict[str, Any]:
    service: dict[str, Any] = {
        "id": id,
        "name": name,
        "registeredModelId": model_id,
        "modelVersionId": version_id,
        "servingEnvironmentId": env_id,
        "desiredState": desired,
        "customProperties": props(url=url) if url else {},
    }
    if runtime:
        service["runtime"] = runtime
    return service


def serving_environment(id: str, name: str) -> dict[str, Any]:
    return {"id": id, "name": name, "customProperties": {}}


def mnist_version_properties(*, with_license: bool = True) -> dict[str, Any]:
    values: dict[str, Any] = {
        "Ethics": "ethical notes as on a model card",
        "How to use": "curl and python examples",
        "Support": "ask in the team channel",
        "Training": "how it was trained",
        "Usage": "basic usage examples",
        "Homepage URL": "https://mymodel.io/welcome",
        "API Spec": "an openapi spec string",
        "API Type": "grpc",
        "Registered from": "RHOAI",
        "Source model": "matteos-lightweight-test-model",
        "Source model version": "v1",
        "_lastModified": "2025-02-25T19:45:29.959Z",
        "rhoai-model-registry": "",
    }
    if with_license:
        values["License"] = "Apache-2"
        values["TechDocs"] = "https://github.com/example/mnist-docs"
    return cprops(values)


def mnist_snapshot(*, url: str | None = "https://mnist-v1-ggmtest.apps.example.com") -> RegistrySnapshot:
    """mnist with v1 (deployed), v2 (archived) and v3 (undeployed, no License/TechDocs)."""
    return RegistrySnapshot(
        registered_models=[
            registered_model("1", "mnist", owner="kube:admin", properties=cprops({"_lastModified": "x"}))
        ],
        model_versions=[
            model_version(
                "2",
                "v1",
                "1",
                description="simple model that does not require a GPU",
                properties=mnist_version_properties(),
            ),
            model_version("7", "v2", "1", state="ARCHIVED", properties=mnist_version_properties()),
            model_version(
                "13",
                "v3",
                "1",
                description="simple model that does not require a GPU",
                properties=mnist_version_properties(with_license=False),
            ),
        ],
        artifacts_by_version={
            "2": [
                model_artifact(
                    "1",
                    "v1",
                    ONNX_URI,
                    modelSourceClass="Red Hat",
                    modelSourceGroup="rhelai1",
                    modelSourceName="granite-7b-starter",
                    properties=props(framework="onnx"),
                )
            ],
            "13": [model_artifact("3", "v3", ONNX_URI)],
        },
        inference_services=[
            inference_service(
                "4", "mnist-v1/8c2c357f-bf82-4d2d-a254-43eca96fd31d", "1", "2", "3", url=url, runtime="mnist-v1"
            )
        ],
        serving_environments=[serving_environment("3", "ggmtest")],
    )


def awkward_snapshot() -> RegistrySnapshot:
    """Names with `_`, `.`, `:`, `/`, spaces and length; non-URL link values; a deployed and an undeployed model."""
    names = ["my_model", "granite-3.1-8b-lab-v1-1.4.0", "kube:admin/model", "My Model", "x" * 90, "mnist"]
    models = [
        registered_model(
            str(i),
            n,
            owner="kube:admin",
            description=f"{n} description",
            properties=cprops({"License": "Apache-2", "team": "ai", "How to use": "pip install"}),
        )
        for i, n in enumerate(names, start=1)
    ]
    versions = [
        model_version(
            str(100 + i),
            f"v {i}.0",
            str(i),
            properties=cprops(
                {
                    "Homepage URL": "see the wiki",
                    "Lifecycle": "production stage",
                    "API Type": "REST",
                    "TechDocs": "docs/index.md",
                }
            ),
        )
        for i in range(1, len(names) + 1)
    ]
    artifacts = {
        str(100 + i): [model_artifact(str(200 + i), f"art {i}", "models/relative/path")]
        for i in range(1, len(names) + 1)
    }
    services = [
        inference_service("300", "my_model/v 1", "1", "101", "9", url="https://my-model.apps.example.com"),
        inference_service("301", "bad", "2", "102", "9", url="not a url"),
    ]
    return RegistrySnapshot(
        registered_models=models,
        model_versions=versions,
        artifacts_by_version=artifacts,
        inference_services=services,
        serving_environments=[serving_environment("9", "team_ns")],
    )


def many_snapshot(count: int) -> RegistrySnapshot:
    """`count` versions over count/2 models, every fourth deployed, with realistic properties (benchmarks)."""
    models, versions, artifacts, services = [], [], {}, []
    for i in range(count):
        model_id, version_id = str(i // 2 + 1), str(100_000 + i)
        if i % 2 == 0:
            models.append(
                registered_model(
                    model_id,
                    f"model_{i // 2}",
                    owner="kube:admin",
                    description="A model",
                    properties=cprops({"team": "ai"}),
                )
            )
        versions.append(
            model_version(
                version_id, f"v{i % 2}.0", model_id, description="A version", properties=mnist_version_properties()
            )
        )
        artifacts[version_id] = [
            model_artifact(str(i), "weights", f"s3://models/model_{i}/weights.onnx", properties=props(framework="onnx"))
        ]
        if i % 4 == 0:
            services.append(
                inference_service(
                    str(i),
                    f"model-{i}/abc",
                    model_id,
                    version_id,
                    "1",
                    url=f"https://model-{i}.apps.example.com",
                    runtime=f"model-{i}",
                )
            )
    return RegistrySnapshot(
        registered_models=models,
        model_versions=versions,
        artifacts_by_version=artifacts,
        inference_services=services,
        serving_environments=[serving_environment("1", "models")],
    )

"""deploy/objects.py: a DeployPlan → the dashboard's objects. The golden files (tests/deploy/golden/, written by
hand from the dashboard's shape) are compared field by field with `build`; every generated variant also passes the
CRD and strict core schemas; the rest covers what the golden files do not (Kueue, URI/OCI, tokens, owners)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube_emulator import CRD_DIR
from modelreg.deploy import objects
from modelreg.deploy.objects import DeployPlan, StorageRef, build, connection_secret, owner_reference, with_owner
from modelreg.deploy.render import to_yaml
from modelreg.deploy.targets import HardwareProfile, ModelFormat, ResourceIdentifier, RuntimeTemplate
from modelreg.errors import InvalidInput
from modelreg.kube.schemas import Validator, load_crds

GOLDEN = Path(__file__).parent / "golden"

CRDS = CRD_DIR

MINIO_VALUES = {
    "AWS_ACCESS_KEY_ID": "EXAMPLEACCESSKEY",
    "AWS_SECRET_ACCESS_KEY": "example-secret-key-not-real",
    "AWS_S3_ENDPOINT": "http://minio.minio.svc:9000",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_S3_BUCKET": "models",
}

# The template's ServingRuntime as a cluster returns it (server-set metadata included: build() must drop it)
VLLM_CUDA_RUNTIME = yaml.safe_load(
    """
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: vllm-cuda-runtime
  uid: 0b7f6a56-2f43-4a53-9a55-2d1c3d0f1e11
  resourceVersion: "981"
  creationTimestamp: "2026-11-20T10:00:00Z"
  labels:
    opendatahub.io/dashboard: "true"
  annotations:
    openshift.io/display-name: vLLM NVIDIA GPU ServingRuntime for KServe
    opendatahub.io/recommended-accelerators: '["nvidia.com/gpu"]'
    opendatahub.io/runtime-version: v0.10.2
spec:
  annotations:
    prometheus.io/port: "8080"
    prometheus.io/path: /metrics
  multiModel: false
  supportedModelFormats:
    - name: vLLM
      autoSelect: true
  containers:
    - name: kserve-container
      image: docker.io/vllm/vllm-openai:v0.10.2
      command: [python, -m, vllm.entrypoints.openai.api_server]
      args: [--port=8080, --model=/mnt/models, "--served-model-name={{.Name}}"]
      env:
        - {name: HF_HOME, value: /tmp/hf_home}
      ports:
        - {containerPort: 8080, protocol: TCP}
      volumeMounts:
        - {name: shm, mountPath: /dev/shm}
  volumes:
    - name: shm
      emptyDir: {medium: Memory, sizeLimit: 2Gi}
"""
)

GPU_IDENTIFIERS = (
    ResourceIdentifier("cpu", "CPU", "CPU", 1, 16, 4),
    ResourceIdentifier("memory", "Memory", "Memory", "8Gi", "64Gi", "16Gi"),
    ResourceIdentifier("nvidia.com/gpu", "NVIDIA L4", "Accelerator", 1, 1, 1),
)
NODE_SCHEDULING = {
    "type": "Node",
    "node": {
        "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
}
NVIDIA_L4 = HardwareProfile(
    name="nvidia-l4-1gpu",
    display_name="NVIDIA L4 1GPU",
    description="One NVIDIA L4 GPU",
    identifiers=GPU_IDENTIFIERS,
    scheduling=NODE_SCHEDULING,
    namespace="opendatahub",
    resource_version=None,
    enabled=True,
    origin="modelreg",
    body={},
)
NVIDIA_L4_QUEUED = dataclasses.replace(
    NVIDIA_L4,
    name="nvidia-l4-1gpu-queued",
    display_name="NVIDIA L4 1GPU (Kueue)",
    scheduling={"type": "Queue", "kueue": {"localQueueName": "default"}},
)
VLLM_CUDA = RuntimeTemplate(
    name="vllm-cuda-runtime",
    template_name="vllm-cuda-runtime-template",
    display_name="vLLM NVIDIA GPU ServingRuntime for KServe",
    description=None,
    model_formats=(ModelFormat("vLLM", None, True),),
    accelerators=("nvidia.com/gpu",),
    model_types=("generative",),
    scope="global",
    origin="modelreg",
    serving_runtime=VLLM_CUDA_RUNTIME,
)
NAME = "granite-7b-inference-100"  # k8s_name("Granite-7b-Inference - 1.0.0")


def granite_plan(**changes: Any) -> DeployPlan:
    """Granite-7b-Inference 1.0.0 (registered model 1, version 2 of registry "modelreg") on "NVIDIA L4 1GPU" from
    "MinIO Storage" (created in the namespace) with vllm-cuda-runtime, into team-a."""
    plan = DeployPlan(
        namespace="team-a",
        name=NAME,
        display_name="Granite-7b-Inference - 1.0.0",
        description=None,
        model_format=("vLLM", "1"),
        model_type="generative",
        storage=StorageRef(connection="minio-storage", type="s3", path="granite-7b-instruct/1.0.0/"),
        profile=NVIDIA_L4,
        resources={"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
        runtime=VLLM_CUDA,
        registered_model_id="1",
        model_version_id="2",
        model_version_name="1.0.0",
        registry_name="modelreg",
        deployed_by="modelreg",
        connection_secret=connection_secret("minio-storage", "MinIO Storage", "s3", MINIO_VALUES),
    )
    return dataclasses.replace(plan, **changes)


GOLDEN_PLANS = {
    "granite-l4-minio.yaml": lambda: granite_plan(),
    "granite-l4-minio-token-auth.yaml": lambda: granite_plan(
        connection_secret=None,
        profile=dataclasses.replace(NVIDIA_L4, resource_version="4711", origin="cluster"),
        token_names=("default-name",),
        auth=True,
        external_route=True,
    ),
    "granite-l4-minio-injected.yaml": lambda: granite_plan(
        connection_secret=None, inject=frozenset({"scheduling", "storage"})
    ),
}


def golden(filename: str) -> list[dict[str, Any]]:
    with (GOLDEN / filename).open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def title(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every field that differs, one line each: "<path>: expected X, got Y" / "missing" / "unexpected"."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in expected:
            where = f"{path}.{key}" if "." not in key and "/" not in key else f'{path}["{key}"]'
            if key not in actual:
                out.append(f"{where}: missing (expected {json.dumps(expected[key])})")
            else:
                out += differences(expected[key], actual[key], where)
        for key in actual:
            if key not in expected:
                out.append(f"{path}.{key}: unexpected {json.dumps(actual[key])}")
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            line
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for line in differences(e, a, f"{path}[{i}]")
        ]
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}"]
    return []


def compare_objects(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    if [title(o) for o in expected] != [title(o) for o in actual]:
        problems.append(f"objects: expected {[title(o) for o in expected]}, got {[title(o) for o in actual]}")
    for want, got in zip(expected, actual, strict=False):
        problems += [f"{title(want)}: {line}" for line in differences(want, got)]
    return problems


@pytest.fixture(scope="module")
def validator() -> Validator:
    if not CRDS.is_dir():
        pytest.skip(f"the reference CRDs are not at {CRDS} (read from /work/shared at run time, never copied)")
    return Validator(load_crds(CRDS))


@pytest.mark.parametrize("filename", sorted(GOLDEN_PLANS))
def test_build_matches_the_golden_file_field_by_field(filename: str) -> None:
    problems = compare_objects(golden(filename), build(GOLDEN_PLANS[filename]()))
    assert not problems, f"build() differs from golden/{filename}:\n" + "\n".join(problems)


def test_the_field_comparison_reports_what_differs() -> None:
    changed = build(granite_plan())
    changed[2]["metadata"]["annotations"]["opendatahub.io/connections"] = "other"
    del changed[2]["spec"]["predictor"]["maxReplicas"]
    changed[2]["spec"]["predictor"]["extra"] = 1
    problems = compare_objects(golden("granite-l4-minio.yaml"), changed)
    assert problems == [
        f'InferenceService {NAME}: .metadata.annotations["opendatahub.io/connections"]: expected "minio-storage", '
        'got "other"',
        f"InferenceService {NAME}: .spec.predictor.maxReplicas: missing (expected 1)",
        f"InferenceService {NAME}: .spec.predictor.extra: unexpected 1",
    ]


@pytest.mark.parametrize("filename", sorted(GOLDEN_PLANS))
def test_every_golden_object_passes_its_schema(validator: Validator, filename: str) -> None:
    problems = [line for obj in golden(filename) for line in validator.problems(obj)]
    assert not problems, "\n".join(problems)


def variants() -> dict[str, DeployPlan]:
    return {
        "queue": granite_plan(profile=NVIDIA_L4_QUEUED, inject=frozenset({"scheduling"})),
        "queue-priority": granite_plan(
            profile=dataclasses.replace(
                NVIDIA_L4_QUEUED,
                scheduling={"type": "Queue", "kueue": {"localQueueName": "default", "priorityClass": "high"}},
            ),
            inject=frozenset({"scheduling"}),
        ),
        "uri-injected": granite_plan(
            storage=StorageRef("hf-granite", "uri", uri="https://example.org/granite.tar.gz"),
            connection_secret=connection_secret("hf-granite", "HF", "uri", {"URI": "https://example.org/g.tar.gz"}),
            inject=frozenset({"storage"}),
        ),
        "oci": granite_plan(
            storage=StorageRef("quay", "oci", uri="oci://quay.io/acme/granite:1.0.0"),
            connection_secret=connection_secret(
                "quay", "Quay", "oci", {".dockerconfigjson": '{"auths": {}}', "OCI_HOST": "quay.io"}
            ),
        ),
        "everything": granite_plan(
            description="Granite for the support bot",
            replicas=3,
            external_route=True,
            token_names=("default-name", "CI pipeline"),
            auth=True,
            args=("--max-model-len=4096",),
            env=(("VLLM_LOGGING_LEVEL", "DEBUG"),),
            deployment_strategy="Recreate",
            extra_labels={"team": "support"},
            inject=frozenset({"scheduling", "storage"}),
        ),
    }


@pytest.mark.parametrize("variant", sorted(variants()))
def test_every_variant_passes_the_schemas(validator: Validator, variant: str) -> None:
    problems = [line for obj in build(variants()[variant]) for line in validator.problems(obj)]
    assert not problems, "\n".join(problems)


def isvc_of(plan: DeployPlan) -> dict[str, Any]:
    (found,) = [obj for obj in build(plan) if obj["kind"] == "InferenceService"]
    return found


def test_queue_profile_labels_the_isvc_for_kueue_only_when_injecting() -> None:
    queued = variants()["queue-priority"]
    labels = isvc_of(queued)["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "default"
    assert labels["kueue.x-k8s.io/priority-class"] == "high"
    assert "nodeSelector" not in isvc_of(queued)["spec"]["predictor"]
    assert "kueue.x-k8s.io/queue-name" not in isvc_of(granite_plan(profile=NVIDIA_L4_QUEUED))["metadata"]["labels"]
    assert "kueue.x-k8s.io/priority-class" not in isvc_of(variants()["queue"])["metadata"]["labels"]


def test_queue_profile_without_a_queue_name_is_refused() -> None:
    broken = dataclasses.replace(NVIDIA_L4_QUEUED, scheduling={"type": "Queue", "kueue": {}})
    with pytest.raises(InvalidInput, match="localQueueName"):
        build(granite_plan(profile=broken, inject=frozenset({"scheduling"})))


def test_uri_and_oci_connections() -> None:
    uri = isvc_of(variants()["uri-injected"])
    assert uri["spec"]["predictor"]["model"]["storageUri"] == "https://example.org/granite.tar.gz"
    assert "opendatahub.io/connection-path" not in uri["metadata"]["annotations"]
    assert uri["metadata"]["annotations"]["opendatahub.io/connections"] == "hf-granite"
    plain_uri = isvc_of(dataclasses.replace(variants()["uri-injected"], inject=frozenset()))
    assert "storageUri" not in plain_uri["spec"]["predictor"]["model"]  # the ODH webhook fills it from the Secret
    oci = build(variants()["oci"])
    assert oci[0]["type"] == "kubernetes.io/dockerconfigjson"
    assert oci[2]["spec"]["predictor"]["model"]["storageUri"] == "oci://quay.io/acme/granite:1.0.0"
    with pytest.raises(InvalidInput, match="no URI"):
        build(granite_plan(storage=StorageRef("quay", "oci")))


def test_everything_variant_fields() -> None:
    built = build(variants()["everything"])
    assert [title(o) for o in built] == [
        "Secret minio-storage",
        f"ServingRuntime {NAME}",
        f"InferenceService {NAME}",
        f"ServiceAccount {NAME}-sa",
        f"Role {NAME}-view-role",
        f"RoleBinding {NAME}-view",
        f"Secret default-name-{NAME}-sa",
        f"Secret ci-pipeline-{NAME}-sa",
    ]
    isvc = built[2]
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (3, 3)
    assert predictor["deploymentStrategy"] == {"type": "Recreate"}
    assert predictor["model"]["args"] == ["--max-model-len=4096"]
    assert predictor["model"]["env"] == [{"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}]
    assert predictor["model"]["storage"] == {"key": "minio-storage", "path": "granite-7b-instruct/1.0.0/"}
    assert isvc["metadata"]["annotations"]["openshift.io/description"] == "Granite for the support bot"
    assert isvc["metadata"]["labels"]["team"] == "support"
    assert built[7]["metadata"]["annotations"]["openshift.io/display-name"] == "CI pipeline"
    assert all("ownerReferences" not in obj["metadata"] for obj in built)


def test_empty_args_env_and_description_are_left_out() -> None:
    isvc = isvc_of(granite_plan(description="", args=(), env=()))
    assert "openshift.io/description" not in isvc["metadata"]["annotations"]
    assert not {"args", "env"} & set(isvc["spec"]["predictor"]["model"])


def test_extra_labels_cannot_override_the_dashboards() -> None:
    labels = isvc_of(granite_plan(extra_labels={"opendatahub.io/dashboard": "false"}))["metadata"]["labels"]
    assert labels["opendatahub.io/dashboard"] == "true"


def test_a_catalog_model_has_no_registry_labels() -> None:
    isvc = isvc_of(
        granite_plan(registered_model_id=None, model_version_id=None, model_version_name=None, registry_name=None)
    )
    assert not [k for k in isvc["metadata"]["labels"] if k.startswith("modelregistry.")]
    assert not [k for k in isvc["metadata"]["annotations"] if k.startswith("modelregistry.")]


def test_the_template_is_copied_not_changed() -> None:
    before = json.dumps(VLLM_CUDA_RUNTIME, sort_keys=True)
    runtime = build(granite_plan())[1]
    runtime["spec"]["containers"][0]["args"].append("--changed")
    assert json.dumps(VLLM_CUDA_RUNTIME, sort_keys=True) == before
    assert VLLM_CUDA_RUNTIME["metadata"]["name"] == "vllm-cuda-runtime"
    project_scoped = build(granite_plan(runtime=dataclasses.replace(VLLM_CUDA, scope="project")))[1]
    assert project_scoped["metadata"]["annotations"]["opendatahub.io/serving-runtime-scope"] == "project"


def test_the_same_plan_gives_byte_identical_yaml() -> None:
    first = to_yaml(build(variants()["everything"]), reveal_secrets=True)
    reordered = granite_plan(resources={"nvidia.com/gpu": "1", "memory": "16Gi", "cpu": "4"})
    assert to_yaml(build(reordered)) == to_yaml(build(granite_plan()))
    assert to_yaml(build(variants()["everything"]), reveal_secrets=True) == first


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Granite"}, "not valid"),
        ({"name": "g" * 31}, "too long"),
        ({"namespace": "n" * 40}, "combined cannot exceed 63"),
        ({"replicas": 0}, "between 1 and 99"),
        ({"replicas": 100}, "between 1 and 99"),
        ({"token_names": ("  ",)}, "Service account name is required"),
        ({"token_names": ("CI pipeline", "ci-pipeline")}, "share a Secret name"),
    ],
)
def test_plans_the_dashboard_would_refuse(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build(granite_plan(**changes))


def test_owner_reference_and_with_owner() -> None:
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": NAME}}
    with pytest.raises(ValueError, match="uid"):
        owner_reference(isvc)
    isvc["metadata"]["uid"] = "3f9c2f0e-0000-4000-8000-000000000001"
    ref = owner_reference(isvc)
    assert ref == {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "name": NAME,
        "uid": "3f9c2f0e-0000-4000-8000-000000000001",
        "blockOwnerDeletion": False,
    }
    sa = build(granite_plan(token_names=("default-name",)))[3]
    owned = with_owner(sa, isvc)
    assert owned["metadata"]["ownerReferences"] == [ref]
    assert "ownerReferences" not in sa["metadata"]  # a copy
    assert with_owner(owned, isvc)["metadata"]["ownerReferences"] == [ref]  # not twice


def test_owned_token_objects_still_pass_the_schemas(validator: Validator) -> None:
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": NAME}}
    isvc["metadata"]["uid"] = "3f9c2f0e-0000-4000-8000-000000000001"
    for obj in objects.token_objects(granite_plan(token_names=("default-name",))):
        assert validator.problems(with_owner(obj, isvc)) == []


def test_connection_secret_shapes() -> None:
    s3 = connection_secret("minio-storage", "MinIO Storage", "s3", {**MINIO_VALUES, "AWS_DEFAULT_REGION": ""})
    assert "AWS_DEFAULT_REGION" not in s3["stringData"]
    assert "type" not in s3  # Opaque, as the dashboard leaves it
    uri = connection_secret("hf", "HF", "uri", {"URI": "https://example.org/m"}, namespace="team-a", description="d")
    assert uri["metadata"]["namespace"] == "team-a"
    assert uri["metadata"]["annotations"] == {
        "opendatahub.io/connection-type": "uri-v1",
        "opendatahub.io/connection-type-protocol": "uri",
        "opendatahub.io/connection-type-ref": "uri-v1",
        "openshift.io/description": "d",
        "openshift.io/display-name": "HF",
    }
    assert uri["metadata"]["labels"] == {"opendatahub.io/dashboard": "true", "opendatahub.io/managed": "true"}
    with pytest.raises(InvalidInput, match="needs AWS_SECRET_ACCESS_KEY"):
        connection_secret("m", "M", "s3", {k: v for k, v in MINIO_VALUES.items() if k != "AWS_SECRET_ACCESS_KEY"})
    with pytest.raises(InvalidInput, match="needs AWS_S3_ENDPOINT"):
        connection_secret("m", "M", "s3", {**MINIO_VALUES, "AWS_S3_ENDPOINT": ""})
    with pytest.raises(InvalidInput, match="needs URI"):
        connection_secret("m", "M", "uri", {"URI": ""})
    anonymous = connection_secret("m", "M", "s3", {"AWS_S3_ENDPOINT": "http://minio:9000", "AWS_S3_BUCKET": "models"})
    assert anonymous["stringData"] == {"AWS_S3_ENDPOINT": "http://minio:9000", "AWS_S3_BUCKET": "models"}
    with pytest.raises(InvalidInput, match="no field URI"):
        connection_secret("m", "M", "s3", {**MINIO_VALUES, "URI": "x"})
    with pytest.raises(InvalidInput, match="unknown connection type"):
        connection_secret("m", "M", "gcs", {})  # type: ignore[arg-type]


def test_build_places_the_connection_secret_in_the_namespace_without_changing_the_plan() -> None:
    plan = granite_plan()
    assert plan.connection_secret is not None
    assert "namespace" not in plan.connection_secret["metadata"]
    assert build(plan)[0]["metadata"]["namespace"] == "team-a"
    assert "namespace" not in plan.connection_secret["metadata"]

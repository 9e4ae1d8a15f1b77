"""The platform's usual deployment targets, which `modelreg seed` creates when missing: a CPU default profile,
"NVIDIA L4 1GPU", a Kueue-queue profile, and the runtimes vllm-cuda-runtime, vllm-cpu-runtime and kserve-ovms shaped
like the platform's templates (our own text and images settings, not copies of theirs)."""

from __future__ import annotations

import json
from typing import Any

# The images the seeded runtimes run. Pin what your cluster can pull; a mirror needs only these three lines changed.
VLLM_CUDA_IMAGE = "docker.io/vllm/vllm-openai:v0.10.2"
VLLM_CPU_IMAGE = "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:v0.10.2"
OVMS_IMAGE = "docker.io/openvino/model_server:2025.3"
VLLM_VERSION = "v0.10.2"
OVMS_VERSION = "2025.3"

_CPU = {"identifier": "cpu", "displayName": "CPU", "resourceType": "CPU"}
_MEMORY = {"identifier": "memory", "displayName": "Memory", "resourceType": "Memory"}
_L4_IDENTIFIERS: list[dict[str, Any]] = [
    {**_CPU, "minCount": 1, "defaultCount": 4, "maxCount": 16},
    {**_MEMORY, "minCount": "8Gi", "defaultCount": "16Gi", "maxCount": "64Gi"},
    {
        "identifier": "nvidia.com/gpu",
        "displayName": "NVIDIA L4",
        "resourceType": "Accelerator",
        "minCount": 1,
        "defaultCount": 1,
        "maxCount": 1,
    },
]

# Hardware profiles, in the wire shape `TargetService.create_profile` takes.
PROFILES: list[dict[str, Any]] = [
    {
        "name": "default-profile",
        "displayName": "Default profile",
        "description": "CPU only",
        "identifiers": [
            {**_CPU, "minCount": 1, "defaultCount": 2, "maxCount": 4},
            {**_MEMORY, "minCount": "2Gi", "defaultCount": "4Gi", "maxCount": "8Gi"},
        ],
        "scheduling": None,
        "enabled": True,
    },
    {
        "name": "nvidia-l4-1gpu",
        "displayName": "NVIDIA L4 1GPU",
        "description": "One NVIDIA L4 GPU",
        "identifiers": _L4_IDENTIFIERS,
        "scheduling": {
            "type": "Node",
            "node": {
                "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            },
        },
        "enabled": True,
    },
    {
        "name": "nvidia-l4-1gpu-queued",
        "displayName": "NVIDIA L4 1GPU (Kueue)",
        "description": "One NVIDIA L4 GPU, admitted by the Kueue queue 'default'",
        "identifiers": _L4_IDENTIFIERS,
        "scheduling": {"type": "Queue", "kueue": {"localQueueName": "default"}},
        "enabled": True,
    },
]

_VLLM_ARGS = ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"]
_SHM_VOLUME = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}
_SHM_MOUNT = {"name": "shm", "mountPath": "/dev/shm"}
_HTTP_PORT = [{"containerPort": 8080, "protocol": "TCP"}]


def _template(
    template_name: str,
    runtime_name: str,
    display_name: str,
    description: str,
    model_type: str,
    accelerators: list[str],
    version: str,
    spec: dict[str, Any],
) -> dict[str, Any]:
    """A Template wrapping one single-model ServingRuntime, annotated as the platform's templates are."""
    runtime_annotations = {"openshift.io/display-name": display_name, "opendatahub.io/runtime-version": version}
    if accelerators:
        runtime_annotations["opendatahub.io/recommended-accelerators"] = json.dumps(accelerators)
    return {
        "apiVersion": "template.openshift.io/v1",
        "kind": "Template",
        "metadata": {
            "name": template_name,
            "labels": {"opendatahub.io/dashboard": "true", "opendatahub.io/ootb": "true"},
            "annotations": {
                "openshift.io/display-name": display_name,
                "openshift.io/description": description,
                "opendatahub.io/apiProtocol": "REST",
                "opendatahub.io/modelServingSupport": json.dumps(["single"]),
                "opendatahub.io/model-type": json.dumps([model_type]),
            },
        },
        "objects": [
            {
                "apiVersion": "serving.kserve.io/v1alpha1",
                "kind": "ServingRuntime",
                "metadata": {
                    "name": runtime_name,
                    "labels": {"opendatahub.io/dashboard": "true"},
                    "annotations": runtime_annotations,
                },
                "spec": {"multiModel": False, **spec},
            }
        ],
        "parameters": [],
    }


def _vllm_spec(image: str) -> dict[str, Any]:
    return {
        "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
        "containers": [
            {
                "name": "kserve-container",
                "image": image,
                "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
                "args": list(_VLLM_ARGS),
                "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],
                "ports": list(_HTTP_PORT),
                "volumeMounts": [dict(_SHM_MOUNT)],
            }
        ],
        "volumes": [dict(_SHM_VOLUME)],
    }


# Serving-runtime templates, in the shape `TargetService.create_runtime` takes.
RUNTIMES: list[dict[str, Any]] = [
    _template(
        "vllm-cuda-runtime-template",
        "vllm-cuda-runtime",
        "vLLM NVIDIA GPU ServingRuntime for KServe",
        "Serves large language models with vLLM's OpenAI-compatible server on NVIDIA GPUs.",
        "generative",
        ["nvidia.com/gpu"],
        VLLM_VERSION,
        _vllm_spec(VLLM_CUDA_IMAGE),
    ),
    _template(
        "vllm-cpu-runtime-template",
        "vllm-cpu-runtime",
        "vLLM CPU ServingRuntime for KServe",
        "Serves large language models with vLLM's OpenAI-compatible server on CPUs (no accelerator).",
        "generative",
        [],
        VLLM_VERSION,
        _vllm_spec(VLLM_CPU_IMAGE),
    ),
    _template(
        "kserve-ovms",
        "kserve-ovms",
        "OpenVINO Model Server",
        "Serves predictive models (OpenVINO IR, ONNX, TensorFlow, PaddlePaddle, PyTorch) with the OpenVINO Model "
        "Server's REST API.",
        "predictive",
        ["nvidia.com/gpu"],
        OVMS_VERSION,
        {
            "supportedModelFormats": [
                {"name": "openvino_ir", "version": "opset13", "autoSelect": True},
                {"name": "onnx", "version": "1", "autoSelect": True},
                {"name": "tensorflow", "version": "1", "autoSelect": True},
                {"name": "tensorflow", "version": "2", "autoSelect": True},
                {"name": "paddle", "version": "2", "autoSelect": True},
                {"name": "pytorch", "version": "2", "autoSelect": True},
            ],
            "protocolVersions": ["v2", "grpc-v2"],
            "containers": [
                {
                    "name": "kserve-container",
                    "image": OVMS_IMAGE,
                    "args": [
                        "--model_name={{.Name}}",
                        "--port=8001",
                        "--rest_port=8080",
                        "--model_path=/mnt/models",
                        "--file_system_poll_wait_seconds=0",
                        "--rest_bind_address=0.0.0.0",
                        "--target_device=AUTO",
                        "--metrics_enable",
                    ],
                    "ports": list(_HTTP_PORT),
                }
            ],
        },
    ),
]

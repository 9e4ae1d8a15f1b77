"""Serving-runtime templates without a cluster: what a runtime must have, bare ServingRuntimes wrapped in a
Template, model-format support and the dashboard's runtime suggestion, and the service's rules on every backend."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from deploy.targets_support import acting, targets, validator
from modelreg.auth.principal import Role
from modelreg.deploy import defaults
from modelreg.deploy.runtime_spec import json_list, normalize_runtime
from modelreg.deploy.targets import ModelFormat, RuntimeTemplate, TargetService, suggest_runtime
from modelreg.errors import Conflict, Forbidden, InvalidInput, NotFound

__all__ = ["targets"]

CUDA, CPU, OVMS = (copy.deepcopy(t) for t in defaults.RUNTIMES)
SEED = [RuntimeTemplate.from_template(t, "modelreg") for t in defaults.RUNTIMES]


def _runtime(**spec: Any) -> dict[str, Any]:
    """A bare ServingRuntime (the vLLM CPU one), with spec changes."""
    sr = copy.deepcopy(CPU["objects"][0])
    sr["metadata"]["name"] = "my-runtime"
    sr["spec"].update(spec)
    return sr


def test_the_seed_runtimes_are_shaped_like_the_platform_templates() -> None:
    check = validator()
    by_name = {r.name: r for r in SEED if r is not None}
    assert sorted(by_name) == ["kserve-ovms", "vllm-cpu-runtime", "vllm-cuda-runtime"]
    assert {r.template_name for r in by_name.values()} == {
        "vllm-cuda-runtime-template",
        "vllm-cpu-runtime-template",
        "kserve-ovms",
    }
    for template in defaults.RUNTIMES:
        assert normalize_runtime(template) == template  # already in the stored shape
        annotations = template["metadata"]["annotations"]
        assert annotations["opendatahub.io/apiProtocol"] == "REST"
        assert json_list(annotations["opendatahub.io/modelServingSupport"]) == ("single",)
        sr = template["objects"][0]
        check.validate(sr)
        assert sr["spec"]["multiModel"] is False
        [container] = sr["spec"]["containers"]
        assert container["name"] == "kserve-container" and container["ports"][0]["containerPort"] == 8080
        assert "opendatahub.io/runtime-version" in sr["metadata"]["annotations"]
    cuda = by_name["vllm-cuda-runtime"]
    assert cuda.display_name == "vLLM NVIDIA GPU ServingRuntime for KServe"
    assert cuda.model_formats == (ModelFormat("vLLM", None, True),) and cuda.accelerators == ("nvidia.com/gpu",)
    assert cuda.model_types == ("generative",) and cuda.scope == "global"
    args = cuda.serving_runtime["spec"]["containers"][0]["args"]
    assert {"--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"} <= set(args)
    assert cuda.serving_runtime["spec"]["volumes"][0]["emptyDir"]["medium"] == "Memory"
    assert by_name["vllm-cpu-runtime"].accelerators == ()
    ovms = by_name["kserve-ovms"]
    assert ovms.model_types == ("predictive",) and ovms.display_name == "OpenVINO Model Server"
    assert [(f.name, f.version) for f in ovms.model_formats] == [
        ("openvino_ir", "opset13"),
        ("onnx", "1"),
        ("tensorflow", "1"),
        ("tensorflow", "2"),
        ("paddle", "2"),
        ("pytorch", "2"),
    ]


def test_a_bare_serving_runtime_is_wrapped_and_cleaned() -> None:
    sr = _runtime()
    sr["metadata"].update(
        uid="u-1", resourceVersion="9", namespace="somewhere", creationTimestamp="2026-01-01T00:00:00Z"
    )
    sr["status"] = {}
    template = normalize_runtime(sr)
    assert template["kind"] == "Template" and template["metadata"]["name"] == "my-runtime"
    assert template["metadata"]["labels"] == {"opendatahub.io/dashboard": "true"}
    assert template["metadata"]["annotations"]["opendatahub.io/apiProtocol"] == "REST"
    [inner] = template["objects"]
    assert set(inner["metadata"]) == {"name", "labels", "annotations"} and "status" not in inner
    assert sr["metadata"]["uid"] == "u-1"  # the caller's object is left alone


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"kind": "Deployment"}, "must be a ServingRuntime or a Template"),
        ({**_runtime(), "apiVersion": "serving.kserve.io/v1beta1"}, "must be a ServingRuntime"),
        ({**_runtime(), "metadata": {"name": "Bad Name"}}, "invalid serving runtime name"),
        ({**_runtime(), "metadata": {"name": "x", "labels": {"a": 1}}}, "must map names to strings"),
        ({**_runtime(), "spec": None}, r"runtime.spec: required"),
        (_runtime(containers=[]), "containers: a list of 1 to"),
        (_runtime(containers=[{"name": "c"}]), r"containers\[0\].image: required"),
        (_runtime(supportedModelFormats=[]), "supportedModelFormats: a list of 1 to"),
        (_runtime(supportedModelFormats=[{"version": "1"}]), r"supportedModelFormats\[0\].name: required"),
        (_runtime(supportedModelFormats=[{"name": "onnx", "version": 1}]), "version: must be a string"),
        (_runtime(supportedModelFormats=[{"name": "onnx", "priority": 0}]), "priority: must be an integer"),
        (_runtime(multiModel=True), "multi-model runtimes"),
        ({**CUDA, "apiVersion": "v2"}, "a Template must have apiVersion"),
        ({**CUDA, "objects": []}, "objects: a Template needs its ServingRuntime"),
        ({**CUDA, "objects": [{"kind": "Secret", "apiVersion": "v1"}]}, r"objects\[0\]: must be a ServingRuntime"),
        ({**CUDA, "metadata": {}}, "a template needs a name"),
    ],
)
def test_invalid_runtimes_are_refused(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        normalize_runtime(body)


def test_model_format_support() -> None:
    ovms = next(r for r in SEED if r is not None and r.name == "kserve-ovms")
    cuda = next(r for r in SEED if r is not None and r.name == "vllm-cuda-runtime")
    assert ovms.supports("onnx", "1") and ovms.supports("ONNX") and ovms.supports("tensorflow", "2")
    assert not ovms.supports("onnx", "2") and not ovms.supports("vLLM")
    assert cuda.supports("vLLM", "1") and cuda.supports("vllm") and not cuda.supports("onnx", "1")


@pytest.mark.parametrize(
    ("fmt", "version", "accelerators", "suggested"),
    [
        ("vLLM", "1", ["nvidia.com/gpu"], "vllm-cuda-runtime"),
        ("vLLM", None, [], "vllm-cpu-runtime"),
        ("onnx", "1", ["nvidia.com/gpu"], "kserve-ovms"),
        ("onnx", "1", [], None),  # OVMS recommends a GPU; the user chooses
        ("vLLM", "1", ["amd.com/gpu"], None),
        ("sklearn", "1", [], None),
    ],
)
def test_suggestion(fmt: str, version: str | None, accelerators: list[str], suggested: str | None) -> None:
    found = suggest_runtime([r for r in SEED if r is not None], fmt, version, accelerators)
    assert (found and found.name) == suggested


def test_no_suggestion_when_two_fit() -> None:
    twin = RuntimeTemplate.from_template({**CUDA, "metadata": {**CUDA["metadata"], "name": "twin"}}, "modelreg")
    runtimes = [r for r in SEED if r is not None]
    assert twin is not None and suggest_runtime([*runtimes, twin], "vLLM", "1", ["nvidia.com/gpu"]) is None


def test_create_list_replace_delete(targets: TargetService) -> None:
    assert targets.runtimes() == []
    created = targets.create_runtime(CUDA)
    assert created.name == "vllm-cuda-runtime" and created.origin == "modelreg"
    wrapped = targets.create_runtime(_runtime())
    assert wrapped.template_name == "my-runtime"
    assert [r.name for r in targets.runtimes()] == ["my-runtime", "vllm-cuda-runtime"]
    assert targets.runtime("vllm-cuda-runtime-template") == targets.runtime("vllm-cuda-runtime") == created
    assert created.to_dict()["servingRuntime"]["metadata"]["name"] == "vllm-cuda-runtime"

    changed = _runtime(supportedModelFormats=[{"name": "vLLM", "version": "1"}])
    assert targets.update_runtime("my-runtime", changed).model_formats == (ModelFormat("vLLM", "1", False),)
    with pytest.raises(InvalidInput, match="cannot be renamed"):
        targets.update_runtime("vllm-cuda-runtime", changed)
    with pytest.raises(Conflict, match="already exists"):
        targets.create_runtime(CUDA)
    clash = copy.deepcopy(OVMS)
    clash["metadata"]["name"] = "vllm-cuda-runtime-template"
    with pytest.raises(Conflict, match="template name 'vllm-cuda-runtime-template' is taken"):
        targets.create_runtime(clash)

    assert targets.delete_runtime("my-runtime").name == "my-runtime"
    with pytest.raises(NotFound, match=r"no serving runtime named 'my-runtime' \(known: vllm-cuda-runtime\)"):
        targets.runtime("my-runtime")
    with pytest.raises(NotFound):
        targets.delete_runtime("my-runtime")


def test_only_admins_write_runtimes(targets: TargetService) -> None:
    targets.create_runtime(CPU)
    with acting(Role.DEVELOPER):
        assert [r.name for r in targets.runtimes()] == ["vllm-cpu-runtime"]
        with pytest.raises(Forbidden, match="'manage' permission"):
            targets.create_runtime(CUDA)
        with pytest.raises(Forbidden):
            targets.delete_runtime("vllm-cpu-runtime")

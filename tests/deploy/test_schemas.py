"""kube/schemas.py: custom kinds against the reference CRDs (read from /work/shared/reference/crds at run time) as
structural schemas, core kinds against kubernetes-validate's strict schemas; every problem with its path."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube_emulator import CRD_DIR
from modelreg.kube.schemas import NoSchema, SchemaError, Validator, json_path, load_crds

CRDS = CRD_DIR
NS = "team-a"


def good_isvc() -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "granite",
            "namespace": NS,
            "labels": {"opendatahub.io/dashboard": "true"},
            "annotations": {"openshift.io/display-name": "Granite"},
        },
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "maxReplicas": 1,
                "model": {
                    "modelFormat": {"name": "vLLM", "version": "1"},
                    "runtime": "granite",
                    "storageUri": "s3://models/granite/",
                    "resources": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"cpu": 4, "memory": "16Gi"}},
                },
            }
        },
    }


@pytest.fixture(scope="module")
def crds() -> list[dict[str, Any]]:
    if not CRDS.is_dir():
        pytest.skip(f"the reference CRDs are not at {CRDS} (read from /work/shared at run time, never copied)")
    return load_crds(CRDS)


@pytest.fixture(scope="module")
def validator(crds: list[dict[str, Any]]) -> Validator:
    return Validator(crds)


def test_load_crds_reads_the_four_reference_crds(crds: list[dict[str, Any]]) -> None:
    kinds = sorted(crd["spec"]["names"]["kind"] for crd in crds)
    assert kinds == ["HardwareProfile", "InferenceService", "ModelRegistry", "ServingRuntime"]


def test_load_crds_reads_multi_document_yaml_and_yml(tmp_path: Path) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.org",
            "names": {"kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "schema": {"openAPIV3Schema": {"type": "object"}}}],
        },
    }
    other = {**crd, "spec": {**crd["spec"], "names": {"kind": "Gadget"}}}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump_all([crd, {"kind": "ConfigMap"}, None, other]))
    (tmp_path / "b.yml").write_text(yaml.safe_dump({**crd, "spec": {**crd["spec"], "names": {"kind": "Thing"}}}))
    (tmp_path / "c.json").write_text("{}")
    found = load_crds(tmp_path)
    assert [c["spec"]["names"]["kind"] for c in found] == ["Widget", "Gadget", "Thing"]
    assert Validator(found).knows("example.org/v1", "Thing")


def test_a_good_inference_service_passes(validator: Validator) -> None:
    assert validator.problems(good_isvc()) == []
    validator.validate(good_isvc())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda o: o["spec"]["predictor"]["model"].update(
                storageURI=o["spec"]["predictor"]["model"].pop("storageUri")
            ),
            "InferenceService team-a/granite: spec.predictor.model.storageURI: unknown field",
        ),
        (
            lambda o: o["spec"]["predictor"]["model"]["modelFormat"].pop("name"),
            "InferenceService team-a/granite: spec.predictor.model.modelFormat.name: required field is missing",
        ),
        (
            lambda o: o["spec"].update(replicas=2),
            "InferenceService team-a/granite: spec.replicas: unknown field",
        ),
        (
            lambda o: o.update(extra=True),
            "InferenceService team-a/granite: extra: unknown field",
        ),
        (
            lambda o: o["spec"]["predictor"].update(minReplicas="one"),
            "InferenceService team-a/granite: spec.predictor.minReplicas: 'one' is not of type 'integer'",
        ),
        (
            lambda o: o["spec"]["predictor"]["model"]["resources"]["limits"].update(cpu=1.5),
            "InferenceService team-a/granite: spec.predictor.model.resources.limits.cpu: must be an integer or a "
            "string, not 1.5",
        ),
        (
            lambda o: o["metadata"]["labels"].update(enabled=True),
            "InferenceService team-a/granite: metadata.labels.enabled: True is not of type 'string'",
        ),
        (
            lambda o: o["metadata"]["annotations"].update({"a.io/n": 1}),
            "InferenceService team-a/granite: metadata.annotations[\"a.io/n\"]: 1 is not of type 'string'",
        ),
        (
            lambda o: o["metadata"].update(name="Granite_7B"),
            "InferenceService team-a/granite: metadata.name: 'Granite_7B' does not match",
        ),
        (
            lambda o: o["metadata"].update(lables={}),
            "InferenceService team-a/granite: metadata.lables: unknown field",
        ),
        (
            lambda o: o["metadata"].update(ownerReferences=[{"kind": "X", "name": "x", "uid": "u"}]),
            "InferenceService team-a/granite: metadata.ownerReferences[0].apiVersion: required field is missing",
        ),
    ],
)
def test_inference_service_problems_are_reported_with_their_path(
    validator: Validator, change: Any, expected: str
) -> None:
    obj = good_isvc()
    change(obj)
    problems = validator.problems(obj)
    # the title uses the object's own name, which the name test changes
    expected = expected.replace("team-a/granite", f"team-a/{obj['metadata']['name']}")
    assert any(line.startswith(expected) for line in problems), problems
    with pytest.raises(SchemaError) as raised:
        validator.validate(obj)
    assert raised.value.problems == problems


def test_every_problem_is_reported(validator: Validator) -> None:
    obj = good_isvc()
    model = obj["spec"]["predictor"]["model"]
    model["storageURI"] = model.pop("storageUri")
    del model["modelFormat"]["name"]
    obj["spec"]["predictor"]["minReplicas"] = "one"
    obj["spec"]["oops"] = {}
    problems = validator.problems(obj)
    assert [line.split(": ")[1] for line in problems] == [
        "spec.oops",
        "spec.predictor.minReplicas",
        "spec.predictor.model.modelFormat.name",
        "spec.predictor.model.storageURI",
    ]
    assert len(str(SchemaError(problems)).split("; ")) == 4


def test_int_or_string_accepts_both(validator: Validator) -> None:
    obj = good_isvc()
    resources = obj["spec"]["predictor"]["model"]["resources"]
    resources["requests"] = {"cpu": 4, "memory": "16Gi", "nvidia.com/gpu": 1}
    resources["limits"] = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert validator.problems(obj) == []
    profile = {
        "apiVersion": "infrastructure.opendatahub.io/v1",
        "kind": "HardwareProfile",
        "metadata": {"name": "nvidia-l4-1gpu", "namespace": "opendatahub"},
        "spec": {
            "identifiers": [
                {"displayName": "CPU", "identifier": "cpu", "minCount": 1, "maxCount": "16", "defaultCount": 4},
                {"displayName": "Memory", "identifier": "memory", "minCount": "8Gi", "defaultCount": "16Gi"},
            ],
            "scheduling": {"type": "Queue", "kueue": {"localQueueName": "default"}},
        },
    }
    assert validator.problems(profile) == []
    profile["spec"]["identifiers"][0]["defaultCount"] = [4]
    assert validator.problems(profile) == [
        "HardwareProfile opendatahub/nvidia-l4-1gpu: spec.identifiers[0].defaultCount: must be an integer or a "
        "string, not [4]"
    ]


def test_served_versions_each_have_their_schema(validator: Validator) -> None:
    assert validator.knows("infrastructure.opendatahub.io/v1", "HardwareProfile")
    assert validator.knows("infrastructure.opendatahub.io/v1alpha1", "HardwareProfile")
    assert validator.knows("modelregistry.opendatahub.io/v1beta1", "ModelRegistry")
    assert not validator.knows("serving.kserve.io/v1alpha1", "InferenceService")
    assert not validator.knows("template.openshift.io/v1", "Template")
    with pytest.raises(NoSchema, match="Template"):
        validator.validate({"apiVersion": "template.openshift.io/v1", "kind": "Template", "metadata": {"name": "t"}})


def test_preserve_unknown_fields_is_honoured(validator: Validator) -> None:
    obj = good_isvc()
    obj["status"] = {"url": "http://granite.team-a", "somethingNew": {"a": 1}}
    assert validator.problems(obj) == []


def test_core_secret_with_an_unknown_field_fails_strict(validator: Validator) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "minio-storage", "namespace": NS},
        "stringData": {"AWS_S3_BUCKET": "models"},
        "strngData": {},
    }
    assert validator.problems(secret) == ["Secret team-a/minio-storage: strngData: unknown field"]
    del secret["strngData"]
    assert validator.problems(secret) == []
    secret["type"] = 3
    assert validator.problems(secret) == ["Secret team-a/minio-storage: type: 3 is not of type 'string', 'null'"]


def test_core_rbac_objects_pass_and_fail(validator: Validator) -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "granite-sa", "namespace": NS}}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "granite-view-role", "namespace": NS, "labels": {"opendatahub.io/dashboard": "true"}},
        "rules": [
            {
                "verbs": ["get"],
                "apiGroups": ["serving.kserve.io"],
                "resources": ["inferenceservices"],
                "resourceNames": ["granite"],
            }
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "granite-view", "namespace": NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "granite-view-role"},
        "subjects": [{"kind": "ServiceAccount", "name": "granite-sa"}],
    }
    for obj in (sa, role, binding):
        assert validator.problems(obj) == []
    broken = copy.deepcopy(binding)
    del broken["roleRef"]["name"]
    broken["subjects"][0]["namespce"] = NS
    assert validator.problems(broken) == [
        "RoleBinding team-a/granite-view: roleRef.name: required field is missing",
        "RoleBinding team-a/granite-view: subjects[0].namespce: unknown field",
    ]


def test_kubernetes_version_is_configurable() -> None:
    old = Validator(kubernetes_version="1.25.0")
    assert old.knows("v1", "Secret")
    assert Validator(kubernetes_version="v1.40.2").knows("v1", "Secret")  # the newest bundled one
    with pytest.raises(ValueError, match=r"no schemas for Kubernetes 1\.10"):
        Validator(kubernetes_version="1.10")
    assert not old.knows("serving.kserve.io/v1beta1", "InferenceService")


def test_objects_without_kind_strings_are_reported() -> None:
    assert Validator().problems({"kind": 3, "metadata": {"name": "x"}}) == [
        "3 x: (object): apiVersion and kind must be strings"
    ]


def test_add_crd_refuses_other_documents() -> None:
    with pytest.raises(ValueError, match="CustomResourceDefinition"):
        Validator([{"kind": "ConfigMap", "spec": {}}])


def test_compiled_once_per_kind(validator: Validator) -> None:
    first = validator.compile("serving.kserve.io/v1beta1", "InferenceService")
    assert validator.compile("serving.kserve.io/v1beta1", "InferenceService") is first
    assert validator.compile("v1", "Secret") is validator.compile("v1", "Secret")


def test_compile_and_validate_cost(crds: list[dict[str, Any]], record_property: Any) -> None:
    """Recorded for the report (no bound asserted: timing depends on the machine)."""
    fresh = Validator(crds)
    started = time.perf_counter()
    fresh.compile("serving.kserve.io/v1beta1", "InferenceService")
    compiled = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(50):
        fresh.validate(good_isvc())
    per_object = (time.perf_counter() - started) / 50
    record_property("isvc_compile_ms", round(compiled * 1000, 1))
    record_property("isvc_validate_ms", round(per_object * 1000, 3))


def test_json_path() -> None:
    assert json_path(["spec", "predictor", "tolerations", 0, "key"]) == "spec.predictor.tolerations[0].key"
    assert (
        json_path(["metadata", "labels", "opendatahub.io/dashboard"]) == 'metadata.labels["opendatahub.io/dashboard"]'
    )
    assert json_path([]) == "(object)"


def widget_crd() -> dict[str, Any]:
    """A small CRD with the schema features the reference CRDs do not use."""
    spec_schema = {
        "type": "object",
        "properties": {
            "size": {"x-kubernetes-int-or-string": True},
            "note": {"type": "string", "nullable": True},
            "template": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}},
            },
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}},
            "choice": {
                "type": "object",
                "properties": {"x": {"type": "string"}, "y": {"type": "string"}},
                "anyOf": [{"required": ["x"]}, {"properties": {"y": {"minLength": 2}}}],
            },
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "example.org",
            "names": {"kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec_schema}}},
                },
                {"name": "v0", "served": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
            ],
        },
    }


def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": NS}, "spec": spec}


def test_schema_conversions_beyond_the_reference_crds() -> None:
    validator = Validator([widget_crd()])
    assert not validator.knows("example.org/v0", "Widget")  # not served
    good = widget(
        size="2Gi",
        note=None,
        template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"a": "b"}},
        free={"a": 1, "anything": {"goes": True}},
        choice={"y": "long"},
    )
    assert validator.problems(good) == []
    assert validator.problems(widget(size=3, choice={"x": "1", "y": "z"})) == []
    assert validator.problems(widget(size=2.5, note=3, template={"spec": {"b": 1}, "extra": 1})) == [
        "Widget team-a/w: spec.note: 3 is not of type 'string', 'null'",
        "Widget team-a/w: spec.size: must be an integer or a string, not 2.5",
        "Widget team-a/w: spec.template.extra: unknown field",
        "Widget team-a/w: spec.template.spec.b: unknown field",
    ]
    refused = validator.problems(widget(choice={"y": "z"}))
    assert [line.split(": ")[1] for line in refused] == ["spec.choice"]  # the anyOf restricts, it does not close

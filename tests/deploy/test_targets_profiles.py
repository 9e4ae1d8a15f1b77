"""Hardware profiles without a cluster: the wire shape validated as the HardwareProfile CRD (and its CEL rules)
would validate the object, counts compared as quantities, and the service's rules on every backend: admins create,
replace and delete, everyone lists, every write audited, disabled profiles hidden from deployments."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from deploy.targets_support import acting, targets, validator
from modelreg.auth.principal import Role
from modelreg.db.tables import audit_log
from modelreg.deploy import defaults
from modelreg.deploy.profile_spec import profile_object, validate_profile, visible_for_serving, wire_from_object
from modelreg.deploy.targets import HardwareProfile, TargetService
from modelreg.errors import Conflict, Forbidden, InvalidInput, NotFound

__all__ = ["targets"]

L4: dict[str, Any] = defaults.PROFILES[1]


def _profile(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(L4)
    body.update(changes)
    return body


def _with_identifier(index: int, **changes: Any) -> dict[str, Any]:
    body = _profile()
    body["identifiers"][index].update(changes)
    return body


# --- validation ------------------------------------------------------------------------------------------------


def test_the_seed_profiles_validate_and_become_objects_the_crd_accepts() -> None:
    check = validator()
    for body in defaults.PROFILES:
        wire = validate_profile(body)
        obj = profile_object(wire, "opendatahub")
        check.validate(obj)
        annotations = obj["metadata"]["annotations"]
        assert annotations["opendatahub.io/display-name"] == body["displayName"]
        assert annotations["opendatahub.io/description"] == body["description"]
        assert annotations["opendatahub.io/disabled"] == "false"
        assert orjson.loads(annotations["opendatahub.io/dashboard-feature-visibility"]) == ["model-serving"]
        assert obj["metadata"]["namespace"] == "opendatahub"
        assert ("scheduling" in obj["spec"]) == (body["scheduling"] is not None)
        assert wire_from_object(obj) | {"identifiers": wire["identifiers"]} == {**wire}
        assert visible_for_serving(obj)


def test_normalized_shape_fills_defaults() -> None:
    wire = validate_profile(
        {
            "name": "tiny",
            "identifiers": [{"identifier": "cpu", "displayName": "CPU", "minCount": "500m", "defaultCount": 1}],
        }
    )
    assert wire == {
        "name": "tiny",
        "displayName": "tiny",
        "description": None,
        "identifiers": [
            {"identifier": "cpu", "displayName": "CPU", "minCount": "500m", "maxCount": None, "defaultCount": 1}
        ],
        "scheduling": None,
        "enabled": True,
    }
    obj = profile_object(wire, "ns")
    assert obj["spec"] == {
        "identifiers": [{"identifier": "cpu", "displayName": "CPU", "minCount": "500m", "defaultCount": 1}]
    }


def test_counts_are_compared_as_quantities() -> None:
    ok = _with_identifier(1, minCount="1024Mi", defaultCount="1Gi", maxCount="1Gi")
    assert validate_profile(ok)["identifiers"][1]["defaultCount"] == "1Gi"
    with pytest.raises(InvalidInput, match=r"identifiers\[1\] \(memory\): defaultCount 1025Mi is above maxCount 1Gi"):
        validate_profile(_with_identifier(1, minCount="1Gi", defaultCount="1025Mi", maxCount="1Gi"))
    with pytest.raises(InvalidInput, match=r"defaultCount 999m is below minCount 1"):
        validate_profile(_with_identifier(0, minCount=1, defaultCount="999m", maxCount=4))


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (_profile(colour="red"), 'unknown field "colour"'),
        (_profile(name="Not_A_Name"), "invalid hardware profile name"),
        (_profile(name=""), "needs a name"),
        (_profile(enabled="yes"), "enabled: must be true or false"),
        (_profile(identifiers="cpu"), "identifiers: must be a list"),
        (_profile(identifiers=[L4["identifiers"][0], L4["identifiers"][0]]), "'cpu' is listed twice"),
        (_with_identifier(0, identifier="not a resource"), "is not a resource name"),
        (_with_identifier(0, displayName=None), r"identifiers\[0\] \(cpu\)\.displayName: required"),
        (_with_identifier(0, resourceType="GPU"), "resourceType: must be one of CPU, Memory, Accelerator"),
        (_with_identifier(0, minCount=None), r"minCount: required"),
        (_with_identifier(0, defaultCount=True), "must be an integer or a quantity"),
        (_with_identifier(0, minCount=-1), "must not be negative"),
        (_with_identifier(1, maxCount="64 Gi"), "is not a quantity"),
        (_with_identifier(0, extra=1), 'identifiers\\[0\\]: unknown field "extra"'),
        (_profile(scheduling={"type": "Pod"}), "scheduling.type: must be Node or Queue"),
        (_profile(scheduling={"type": "Queue"}), r"scheduling.kueue.localQueueName: required"),
        (_profile(scheduling={"type": "Queue", "kueue": {"localQueueName": ""}}), "localQueueName: required"),
        (
            _profile(scheduling={"type": "Queue", "kueue": {"localQueueName": "q"}, "node": {}}),
            "with type Queue, 'node' must not be set",
        ),
        (
            _profile(scheduling={"type": "Node", "node": {}, "kueue": {"localQueueName": "q"}}),
            "with type Node, 'kueue' must not be set",
        ),
        (_profile(scheduling={"type": "Node"}), "with type Node, 'node' must be set"),
        (_profile(scheduling={"type": "Node", "node": {"affinity": {}}}), 'scheduling.node: unknown field "affinity"'),
        (
            _profile(scheduling={"type": "Node", "node": {"nodeSelector": {"a": 1}}}),
            "must be a label key with a string",
        ),
        (
            _profile(scheduling={"type": "Node", "node": {"tolerations": [{"key": "k", "operator": "Maybe"}]}}),
            "operator: must be Exists or Equal",
        ),
        (
            _profile(
                scheduling={"type": "Node", "node": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}
            ),
            "must be empty when the operator is Exists",
        ),
        (
            _profile(scheduling={"type": "Node", "node": {"tolerations": [{"operator": "Equal", "value": "v"}]}}),
            "must be Exists when the key is empty",
        ),
        (
            _profile(
                scheduling={
                    "type": "Node",
                    "node": {"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]},
                }
            ),
            "only applies to the effect NoExecute",
        ),
        (
            _profile(scheduling={"type": "Node", "node": {"tolerations": [{"key": "k", "effect": "Sometimes"}]}}),
            "effect: must be one of",
        ),
    ],
)
def test_invalid_profiles_are_refused_naming_the_field(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        validate_profile(body)


def test_visibility_annotation() -> None:
    def obj(value: str | None) -> dict[str, Any]:
        annotations = {} if value is None else {"opendatahub.io/dashboard-feature-visibility": value}
        return {"metadata": {"name": "p", "annotations": annotations}}

    assert visible_for_serving(obj(None)) and visible_for_serving(obj("[]"))
    assert visible_for_serving(obj('["model-serving", "workbench"]'))
    assert not visible_for_serving(obj('["workbench"]')) and not visible_for_serving(obj("workbench"))


def test_reading_an_object_is_lenient() -> None:
    profile = HardwareProfile.from_object(
        {
            "metadata": {"name": "odd", "namespace": "x", "resourceVersion": "7"},
            "spec": {"identifiers": [{"identifier": "cpu", "minCount": 1}, {"displayName": "no identifier"}, "junk"]},
        },
        "cluster",
    )
    assert profile.display_name == "odd" and profile.namespace == "x" and profile.resource_version == "7"
    assert [(i.identifier, i.display_name, i.default_count) for i in profile.identifiers] == [("cpu", "cpu", 1)]
    assert profile.enabled and profile.scheduling is None and profile.accelerators == ()


def test_resource_bounds() -> None:
    memory = HardwareProfile.from_object(profile_object(validate_profile(L4), "ns"), "modelreg").identifier("memory")
    assert memory is not None
    assert memory.allows("8Gi") and memory.allows("65536Mi") and memory.allows(32 * 2**30)
    assert not memory.allows("7Gi") and not memory.allows("65Gi") and not memory.allows("lots")


# --- the service -----------------------------------------------------------------------------------------------


def test_create_list_get_replace_delete(targets: TargetService) -> None:
    created = targets.create_profile(L4)
    assert created.origin == "modelreg" and created.namespace == "opendatahub" and created.resource_version is None
    assert created.accelerators == ("nvidia.com/gpu",)
    assert created.to_dict() == {
        **validate_profile(L4),
        "namespace": "opendatahub",
        "resourceVersion": None,
        "origin": "modelreg",
    }
    targets.create_profile(defaults.PROFILES[0])
    assert [p.name for p in targets.profiles()] == ["default-profile", "nvidia-l4-1gpu"]
    assert targets.profile("nvidia-l4-1gpu") == created

    replaced = targets.update_profile("nvidia-l4-1gpu", _profile(name=None, displayName="L4", enabled=False))
    assert replaced.display_name == "L4" and not replaced.enabled
    assert [p.name for p in targets.profiles()] == ["default-profile"]
    assert [p.name for p in targets.profiles(include_disabled=True)] == ["default-profile", "nvidia-l4-1gpu"]
    with pytest.raises(NotFound, match=r"no hardware profile named 'nvidia-l4-1gpu' \(known: default-profile\)"):
        targets.profile("nvidia-l4-1gpu")
    assert targets.profile("nvidia-l4-1gpu", include_disabled=True).display_name == "L4"

    gone = targets.delete_profile("nvidia-l4-1gpu")
    assert gone.name == "nvidia-l4-1gpu"
    assert [p.name for p in targets.profiles(include_disabled=True)] == ["default-profile"]


def test_writes_are_audited(targets: TargetService) -> None:
    targets.create_profile(L4)
    targets.update_profile("nvidia-l4-1gpu", _profile(description="changed"))
    targets.delete_profile("nvidia-l4-1gpu")
    with targets.db.read() as conn:
        rows = (
            conn.execute(
                select(audit_log).where(audit_log.c.entity_kind == "hardware_profile").order_by(audit_log.c.seq)
            )
            .mappings()
            .all()
        )
    assert [r["action"] for r in rows] == ["create", "update", "delete"]
    assert all(r["entity_name"] == "nvidia-l4-1gpu" and r["actor"] == "system:tests" for r in rows)
    changes = [orjson.loads(r["changes"]) for r in rows]
    assert changes[0]["before"] is None and changes[0]["after"]["displayName"] == "NVIDIA L4 1GPU"
    assert (
        changes[1]["before"]["description"] == "One NVIDIA L4 GPU" and changes[1]["after"]["description"] == "changed"
    )
    assert changes[2]["after"] is None


def test_conflicts_and_missing_names(targets: TargetService) -> None:
    targets.create_profile(L4)
    with pytest.raises(Conflict, match="a hardware profile named 'nvidia-l4-1gpu' already exists"):
        targets.create_profile(L4)
    with pytest.raises(InvalidInput, match="cannot be renamed"):
        targets.update_profile("nvidia-l4-1gpu", _profile(name="other"))
    with pytest.raises(NotFound, match="no hardware profile named 'other'"):
        targets.update_profile("other", _profile(name="other"))
    with pytest.raises(NotFound, match=r"no hardware profile named 'other' \(known: nvidia-l4-1gpu\)"):
        targets.delete_profile("other")
    with pytest.raises(InvalidInput, match="defaultCount"):
        targets.create_profile(_with_identifier(0, defaultCount=99, name="x"))
    assert [p.name for p in targets.profiles()] == ["nvidia-l4-1gpu"]


def test_only_admins_write_and_everyone_reads(targets: TargetService) -> None:
    targets.create_profile(L4)
    for role in (Role.DEVELOPER, Role.VIEWER):
        with acting(role):
            assert [p.name for p in targets.profiles()] == ["nvidia-l4-1gpu"]
            with pytest.raises(Forbidden, match="lacks the 'manage' permission"):
                targets.create_profile(_profile(name="mine"))
            with pytest.raises(Forbidden):
                targets.update_profile("nvidia-l4-1gpu", L4)
            with pytest.raises(Forbidden):
                targets.delete_profile("nvidia-l4-1gpu")
    assert [p.name for p in targets.profiles()] == ["nvidia-l4-1gpu"]

"""`seed_defaults`: the platform's usual profiles and runtimes, created once on every backend, left alone (even
when an admin changed them) on every later run, and exactly the seed set's values."""

from __future__ import annotations

from deploy.targets_support import targets
from modelreg.deploy import defaults
from modelreg.deploy.targets import TargetService

__all__ = ["targets"]


def test_seed_creates_the_set_once(targets: TargetService) -> None:
    done = targets.seed_defaults()
    assert done == [
        "hardware profile default-profile created",
        "hardware profile nvidia-l4-1gpu created",
        "hardware profile nvidia-l4-1gpu-queued created",
        "serving runtime vllm-cuda-runtime created",
        "serving runtime vllm-cpu-runtime created",
        "serving runtime kserve-ovms created",
    ]
    profiles = {p.name: p for p in targets.profiles()}
    assert {n: p.display_name for n, p in profiles.items()} == {
        "default-profile": "Default profile",
        "nvidia-l4-1gpu": "NVIDIA L4 1GPU",
        "nvidia-l4-1gpu-queued": "NVIDIA L4 1GPU (Kueue)",
    }
    default = profiles["default-profile"]
    assert [
        (i.identifier, i.resource_type, i.min_count, i.default_count, i.max_count) for i in default.identifiers
    ] == [
        ("cpu", "CPU", 1, 2, 4),
        ("memory", "Memory", "2Gi", "4Gi", "8Gi"),
    ]
    assert default.scheduling is None and default.description == "CPU only"
    l4 = profiles["nvidia-l4-1gpu"]
    assert [(i.identifier, i.min_count, i.default_count, i.max_count) for i in l4.identifiers] == [
        ("cpu", 1, 4, 16),
        ("memory", "8Gi", "16Gi", "64Gi"),
        ("nvidia.com/gpu", 1, 1, 1),
    ]
    assert l4.identifiers[2].display_name == "NVIDIA L4" and l4.accelerators == ("nvidia.com/gpu",)
    assert l4.scheduling == {
        "type": "Node",
        "node": {
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }
    queued = profiles["nvidia-l4-1gpu-queued"]
    assert queued.identifiers == l4.identifiers
    assert queued.scheduling == {"type": "Queue", "kueue": {"localQueueName": "default"}}
    assert queued.description == "One NVIDIA L4 GPU, admitted by the Kueue queue 'default'"
    assert [r.name for r in targets.runtimes()] == ["kserve-ovms", "vllm-cpu-runtime", "vllm-cuda-runtime"]

    assert targets.seed_defaults() == []
    assert len(targets.profiles()) == 3 and len(targets.runtimes()) == 3


def test_seed_leaves_changed_and_deleted_ones_alone_except_to_recreate_missing(targets: TargetService) -> None:
    targets.seed_defaults()
    changed = {**defaults.PROFILES[0], "displayName": "Small"}
    targets.update_profile("default-profile", changed)
    targets.delete_runtime("kserve-ovms")
    assert targets.seed_defaults() == ["serving runtime kserve-ovms created"]
    assert targets.profile("default-profile").display_name == "Small"

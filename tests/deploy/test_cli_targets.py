"""``modelreg hardware-profile``, ``modelreg runtime`` and the deploy part of ``modelreg seed``, on the database
directly on every backend: options and files in, tables and JSON out, errors as ``error: ...`` with an exit code,
and changes refused while a cluster is configured."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cli_runner import invoke_cli, process_on_sqlite
from conftest import empty
from modelreg.db.database import Database
from modelreg.deploy import defaults


@pytest.fixture
def cli(database: Database, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    empty(database)
    return ["--database-url", database.url], {"MODELREG_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "300"}


def test_seed_creates_the_deploy_targets_once(cli: tuple[list[str], dict[str, str]]) -> None:
    url, env = cli
    first = process_on_sqlite(url[1])("seed", *url, env=env)
    assert first.returncode == 0, first.stderr
    assert "deploy: hardware profile nvidia-l4-1gpu created" in first.stderr
    assert "deploy: serving runtime kserve-ovms created" in first.stderr
    second = invoke_cli("seed", *url, env=env)
    assert second.returncode == 0 and "deploy:" not in second.stderr
    listed = json.loads(invoke_cli("hardware-profile", "list", "--json", *url, env=env).stdout)
    assert [p["name"] for p in listed] == ["default-profile", "nvidia-l4-1gpu", "nvidia-l4-1gpu-queued"]
    runtimes = invoke_cli("runtime", "list", *url, env=env)
    assert runtimes.returncode == 0, runtimes.stderr
    line = next(x for x in runtimes.stdout.splitlines() if "kserve-ovms" in x)
    assert "onnx 1" in line and "openvino_ir opset13" in line and "nvidia.com/gpu" in line and "predictive" in line


def test_profile_from_options(cli: tuple[list[str], dict[str, str]]) -> None:
    url, env = cli
    scheduling = ["--node-selector", "nvidia.com/gpu.product=NVIDIA-L4", "--toleration", "nvidia.com/gpu:NoSchedule"]
    created = process_on_sqlite(url[1])(
        "hardware-profile", "create", "l4", "--display-name", "NVIDIA L4 1GPU", "--cpu", "1:4:16",
        "--memory", "8Gi:16Gi:64Gi", "--gpu", "nvidia.com/gpu=1:1:1", *scheduling,
        "--toleration", "dedicated=ml:NoExecute", *url, env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "hardware profile 'l4' (NVIDIA L4 1GPU) created" in created.stderr
    [profile] = json.loads(invoke_cli("hardware-profile", "list", "--json", *url, env=env).stdout)
    assert [(i["identifier"], i["minCount"], i["defaultCount"], i["maxCount"]) for i in profile["identifiers"]] == [
        ("cpu", 1, 4, 16),
        ("memory", "8Gi", "16Gi", "64Gi"),
        ("nvidia.com/gpu", 1, 1, 1),
    ]
    assert profile["identifiers"][2]["resourceType"] == "Accelerator"
    assert profile["scheduling"] == {
        "type": "Node",
        "node": {
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"},
            ],
        },
    }
    queued = invoke_cli(
        "hardware-profile", "create", "q", "--cpu", "1:1:2", "--queue", "default", "--disabled", *url, env=env
    )
    assert queued.returncode == 0, queued.stderr
    table = invoke_cli("hardware-profile", "list", "--all", *url, env=env).stdout
    row = next(line for line in table.splitlines() if " q " in line)
    assert "queue default" in row and " no " in row
    assert " q " not in invoke_cli("hardware-profile", "list", *url, env=env).stdout

    gone = invoke_cli("hardware-profile", "delete", "l4", *url, env=env)
    assert gone.returncode == 0 and "'l4' deleted" in gone.stderr
    again = invoke_cli("hardware-profile", "delete", "l4", *url, env=env)
    assert again.returncode == 1 and "error: no hardware profile named 'l4' (known: q)" in again.stderr


@pytest.mark.sqlite_only("option errors (the service's errors are tested on every backend)")
@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["x", "--cpu", "1:2"], 2, "give MIN:DEFAULT:MAX"),
        (["x", "--gpu", "1:1:1"], 2, "give IDENTIFIER=MIN:DEFAULT:MAX"),
        (["x", "--node-selector", "novalue"], 2, "give KEY=VALUE"),
        (["x", "--toleration", "key:Sometimes"], 2, "give key[=value]:Effect"),
        (["x", "--queue", "q", "--node-selector", "a=b"], 2, "exclude each other"),
        ([], 2, "give the profile's NAME"),
        (["x", "--cpu", "1:8:4"], 1, "defaultCount 8 is above maxCount 4"),
        (["Bad_Name"], 1, "invalid hardware profile name"),
    ],
)
def test_profile_errors(cli: tuple[list[str], dict[str, str]], args: list[str], code: int, fragment: str) -> None:
    url, env = cli
    result = invoke_cli("hardware-profile", "create", *args, *url, env=env)
    assert result.returncode == code, result.stderr
    assert "error: " in result.stderr and fragment in result.stderr
    assert json.loads(invoke_cli("hardware-profile", "list", "--json", *url, env=env).stdout) == []


def test_profile_from_files(cli: tuple[list[str], dict[str, str]], tmp_path: Path) -> None:
    url, env = cli
    wire = tmp_path / "wire.yaml"
    wire.write_text(yaml.safe_dump(defaults.PROFILES[2]))
    assert invoke_cli("hardware-profile", "create", "--from-file", str(wire), *url, env=env).returncode == 0
    # an object as the cluster has it (kubectl get -o yaml), with server-set metadata
    exported = json.loads(invoke_cli("hardware-profile", "list", "--json", *url, env=env).stdout)[0]
    obj = {
        "apiVersion": "infrastructure.opendatahub.io/v1",
        "kind": "HardwareProfile",
        "metadata": {
            "name": "from-cluster",
            "namespace": "opendatahub",
            "uid": "1234",
            "annotations": {"opendatahub.io/display-name": "From the cluster", "opendatahub.io/disabled": "false"},
        },
        "spec": {"identifiers": exported["identifiers"], "scheduling": exported["scheduling"]},
    }
    k8s = tmp_path / "object.yaml"
    k8s.write_text(yaml.safe_dump(obj))
    made = invoke_cli("hardware-profile", "create", "--from-file", str(k8s), *url, env=env)
    assert made.returncode == 0, made.stderr
    # `list --json` output, read-only fields and all, is accepted back
    exported_file = tmp_path / "exported.json"
    exported_file.write_text(json.dumps({**exported, "name": "copy"}))
    assert invoke_cli("hardware-profile", "create", "--from-file", str(exported_file), *url, env=env).returncode == 0
    listed = {p["name"]: p for p in json.loads(invoke_cli("hardware-profile", "list", "--json", *url, env=env).stdout)}
    assert sorted(listed) == ["copy", "from-cluster", "nvidia-l4-1gpu-queued"]
    assert listed["from-cluster"]["displayName"] == "From the cluster"
    assert listed["from-cluster"]["identifiers"] == listed["copy"]["identifiers"] == exported["identifiers"]

    clash = invoke_cli("hardware-profile", "create", "--from-file", str(wire), "--cpu", "1:1:1", *url, env=env)
    assert clash.returncode == 2 and "takes no other profile options" in clash.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("- just\n- a list\n")
    result = invoke_cli("hardware-profile", "create", "--from-file", str(broken), *url, env=env)
    assert result.returncode == 2 and "must hold one object" in result.stderr
    missing = invoke_cli("hardware-profile", "create", "--from-file", str(tmp_path / "nope.yaml"), *url, env=env)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_runtimes(cli: tuple[list[str], dict[str, str]], tmp_path: Path) -> None:
    url, env = cli
    template = tmp_path / "cuda.yaml"
    template.write_text(yaml.safe_dump(defaults.RUNTIMES[0]))
    created = process_on_sqlite(url[1])("runtime", "create", "--from-file", str(template), *url, env=env)
    assert created.returncode == 0, created.stderr
    assert "serving runtime 'vllm-cuda-runtime' (vLLM NVIDIA GPU ServingRuntime for KServe) created" in created.stderr
    bare = tmp_path / "bare.yaml"
    sr = defaults.RUNTIMES[1]["objects"][0]
    bare.write_text(yaml.safe_dump({**sr, "metadata": {**sr["metadata"], "name": "cpu-only"}}))
    assert invoke_cli("runtime", "create", "--from-file", str(bare), *url, env=env).returncode == 0
    listed = json.loads(invoke_cli("runtime", "list", "--json", *url, env=env).stdout)
    assert [(r["name"], r["templateName"]) for r in listed] == [
        ("cpu-only", "cpu-only"),
        ("vllm-cuda-runtime", "vllm-cuda-runtime-template"),
    ]
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(yaml.safe_dump({**sr, "spec": {"containers": []}}))
    result = invoke_cli("runtime", "create", "--from-file", str(invalid), *url, env=env)
    assert result.returncode == 1 and "containers: a list of 1 to" in result.stderr
    assert invoke_cli("runtime", "delete", "cpu-only", *url, env=env).returncode == 0
    result = invoke_cli("runtime", "delete", "cpu-only", *url, env=env)
    assert result.returncode == 1 and "no serving runtime named 'cpu-only'" in result.stderr


@pytest.fixture
def refused_url() -> Iterator[str]:
    """An API URL that refuses connections for the whole test: a loopback port bound here and never listened on, so
    nothing else can listen there meanwhile (a fixed port, say 9, may be served on some machines, or become so)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_changes_are_refused_while_a_cluster_is_configured(
    cli: tuple[list[str], dict[str, str]], tmp_path: Path, refused_url: str
) -> None:
    """The messages are checked for what they must say (the verb, the kind, the cluster's address), not word for
    word, so this test and the module that words cluster errors (deploy/cluster_errors.py) can change apart."""
    url, env = cli
    cluster = {
        **env,
        "MODELREG_KUBERNETES__MODE": "url",
        "MODELREG_KUBERNETES__API_URL": refused_url,
        "MODELREG_KUBERNETES__TOKEN": "t",
    }
    result = invoke_cli("hardware-profile", "create", "x", "--cpu", "1:1:1", *url, env=cluster)
    assert result.returncode == 1
    assert "hardware profiles are managed in the cluster (namespace opendatahub)" in result.stderr
    template = tmp_path / "cuda.yaml"
    template.write_text(yaml.safe_dump(defaults.RUNTIMES[0]))
    result = invoke_cli("runtime", "create", "--from-file", str(template), *url, env=cluster)
    assert result.returncode == 1 and "serving runtimes are managed in the cluster" in result.stderr
    unreachable = invoke_cli("hardware-profile", "list", *url, env=cluster)
    assert unreachable.returncode == 1, unreachable.stderr
    assert unreachable.stderr.startswith("error: cannot list HardwareProfile objects"), unreachable.stderr
    assert refused_url in unreachable.stderr and "unreachable" in unreachable.stderr
    seeded = invoke_cli("seed", *url, env=cluster)
    assert seeded.returncode == 0, seeded.stderr
    assert "deploy: hardware profiles and serving runtimes: the cluster's own (" in seeded.stderr
    assert json.loads(invoke_cli("hardware-profile", "list", "--json", *url, env=env).stdout) == []

"""Deployment targets read from a cluster (the Kubernetes API emulator): the platform namespace's hardware profiles
(visible to model serving, not disabled) and runtime templates (or ServingRuntimes where no Templates are served),
a namespace's connection Secrets beside modelreg's own, short caching, writes refused, and cluster failures as
503/502 with the cause."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ServerThread, empty, free_port
from deploy.targets_support import MINIO, target_service
from kube_emulator import Emulator, reference_crds, running_emulator
from kube_emulator.fixtures import NAMESPACES, kube_for
from modelreg.app import create_app
from modelreg.db.database import Database
from modelreg.deploy import defaults
from modelreg.deploy.profile_spec import profile_object, validate_profile
from modelreg.deploy.targets import TargetService, match_connections
from modelreg.errors import BadGateway, Conflict, Unavailable
from modelreg.kube.client import Kube
from modelreg.kube.kinds import HARDWARE_PROFILE, SECRET, SERVING_RUNTIME, TEMPLATE
from modelreg.settings import ClusterSettings, Settings

PLATFORM = "opendatahub"
pytestmark = pytest.mark.usefixtures("as_system")


def _profile(body: dict[str, Any], namespace: str = PLATFORM, **annotations: str) -> dict[str, Any]:
    obj = profile_object(validate_profile(body), namespace)
    obj["metadata"]["annotations"].update(annotations)
    return obj


def _in(namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["namespace"] = namespace
    return out


def _secret(
    name: str,
    namespace: str = "team-a",
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A Secret with the dashboard's label (unless ``labels`` says otherwise)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    metadata["labels"] = {"opendatahub.io/dashboard": "true"} if labels is None else labels
    metadata["annotations"] = annotations or {}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, **fields}


def _b64(values: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


@pytest.fixture
def cluster_targets(database: Database, tmp_path: Path, kube: Kube) -> TargetService:
    empty(database)
    return target_service(database, tmp_path, kube)


def test_profiles_come_from_the_platform_namespace(emulator: Emulator, cluster_targets: TargetService) -> None:
    emulator.put_object(_profile(defaults.PROFILES[1]))
    emulator.put_object(_profile({**defaults.PROFILES[0], "enabled": False}))
    emulator.put_object(
        _profile(
            {**defaults.PROFILES[2], "name": "notebooks-only"},
            **{"opendatahub.io/dashboard-feature-visibility": '["workbench"]'},
        )
    )
    emulator.put_object(_profile({**defaults.PROFILES[0], "name": "elsewhere"}, namespace="team-a"))
    bare = _profile({"name": "bare", "identifiers": []})
    del bare["metadata"]["annotations"]  # no annotations at all: visible everywhere, enabled
    emulator.put_object(bare)

    profiles = cluster_targets.profiles()
    assert [p.name for p in profiles] == ["bare", "nvidia-l4-1gpu"]
    l4 = profiles[1]
    assert l4.origin == "cluster" and l4.namespace == PLATFORM and l4.resource_version
    assert (
        l4.resource_version == emulator.get(HARDWARE_PROFILE, PLATFORM, "nvidia-l4-1gpu")["metadata"]["resourceVersion"]
    )
    assert l4.accelerators == ("nvidia.com/gpu",) and l4.display_name == "NVIDIA L4 1GPU"
    assert l4.scheduling == defaults.PROFILES[1]["scheduling"]
    assert profiles[0].display_name == "bare" and profiles[0].enabled
    assert [p.name for p in cluster_targets.profiles(include_disabled=True)] == [
        "bare",
        "default-profile",
        "nvidia-l4-1gpu",
    ]
    assert cluster_targets.profile("nvidia-l4-1gpu").to_dict()["origin"] == "cluster"


def test_writes_are_refused_while_the_cluster_manages_them(emulator: Emulator, cluster_targets: TargetService) -> None:
    emulator.put_object(_profile(defaults.PROFILES[0]))
    for write in (
        lambda: cluster_targets.create_profile(defaults.PROFILES[1]),
        lambda: cluster_targets.update_profile("default-profile", defaults.PROFILES[0]),
        lambda: cluster_targets.delete_profile("default-profile"),
        lambda: cluster_targets.create_runtime(defaults.RUNTIMES[0]),
        lambda: cluster_targets.delete_runtime("vllm-cuda-runtime"),
    ):
        with pytest.raises(Conflict, match=r"managed in the cluster \(namespace opendatahub\)"):
            write()
    assert emulator.objects(HARDWARE_PROFILE) == [emulator.get(HARDWARE_PROFILE, PLATFORM, "default-profile")]
    seeded = cluster_targets.seed_defaults()
    assert len(seeded) == 1 and "the cluster's own" in seeded[0] and emulator.url.rstrip("/") in seeded[0]
    assert cluster_targets._profiles.names() == [] and cluster_targets._runtimes.names() == []


def test_reads_are_cached_for_a_few_seconds(emulator: Emulator, database: Database, tmp_path: Path, kube: Kube) -> None:
    empty(database)
    cached = target_service(database, tmp_path, kube, cache_seconds=600)
    emulator.put_object(_profile(defaults.PROFILES[0]))
    emulator.clear_requests()
    assert [p.name for p in cached.profiles()] == ["default-profile"]
    emulator.put_object(_profile(defaults.PROFILES[1]))
    assert [p.name for p in cached.profiles()] == ["default-profile"]  # from the cache
    lists = [r for r in emulator.requests if r.method == "GET" and r.plural == "hardwareprofiles"]
    assert len(lists) == 1
    assert cached.cluster is not None
    cached.cluster.invalidate()
    assert [p.name for p in cached.profiles()] == ["default-profile", "nvidia-l4-1gpu"]
    uncached = target_service(database, tmp_path, kube, cache_seconds=0)
    emulator.put_object(_profile(defaults.PROFILES[2]))
    assert len(uncached.profiles()) == 3


def test_runtimes_come_from_the_platform_templates(emulator: Emulator, cluster_targets: TargetService) -> None:
    for template in defaults.RUNTIMES:
        emulator.put_object(_in(PLATFORM, template))
    unlabelled = _in(PLATFORM, defaults.RUNTIMES[0])
    unlabelled["metadata"].update(name="not-for-the-dashboard", labels={})
    multi = _in(PLATFORM, defaults.RUNTIMES[1])
    multi["metadata"]["name"] = "multi-model-template"
    multi["metadata"]["annotations"]["opendatahub.io/modelServingSupport"] = '["multi"]'
    multi["objects"][0]["metadata"]["name"] = "multi-model"
    other = _in(PLATFORM, defaults.RUNTIMES[1])
    other["metadata"]["name"] = "a-secret-template"
    other["objects"] = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}]
    elsewhere = _in("team-a", defaults.RUNTIMES[0])
    elsewhere["metadata"]["name"] = "team-template"
    elsewhere["objects"][0]["metadata"]["name"] = "team-runtime"
    for obj in (unlabelled, multi, other, elsewhere):
        emulator.put_object(obj)

    runtimes = cluster_targets.runtimes()
    assert [(r.name, r.template_name, r.origin) for r in runtimes] == [
        ("kserve-ovms", "kserve-ovms", "cluster"),
        ("vllm-cpu-runtime", "vllm-cpu-runtime-template", "cluster"),
        ("vllm-cuda-runtime", "vllm-cuda-runtime-template", "cluster"),
    ]
    assert cluster_targets.runtime("vllm-cuda-runtime-template").accelerators == ("nvidia.com/gpu",)
    assert cluster_targets.runtime("vllm-cuda-runtime").serving_runtime == defaults.RUNTIMES[0]["objects"][0]


def test_without_templates_the_serving_runtimes_are_used(database: Database, tmp_path: Path) -> None:
    empty(database)
    with running_emulator(crds=reference_crds(), namespaces=NAMESPACES, openshift=False) as plain:
        kube = kube_for(plain)
        try:
            for template in defaults.RUNTIMES[:2]:
                plain.put_object(_in(PLATFORM, template["objects"][0]))
            plain.put_object(_in("team-a", defaults.RUNTIMES[2]["objects"][0]))
            runtimes = target_service(database, tmp_path, kube).runtimes()
        finally:
            kube.close()
    assert [(r.name, r.template_name) for r in runtimes] == [
        ("vllm-cpu-runtime", "vllm-cpu-runtime"),
        ("vllm-cuda-runtime", "vllm-cuda-runtime"),
    ]
    assert runtimes[1].display_name == "vLLM NVIDIA GPU ServingRuntime for KServe" and runtimes[1].origin == "cluster"


def test_connections_of_a_namespace(emulator: Emulator, cluster_targets: TargetService) -> None:
    cluster_targets.connection_service.create("minio-storage", "s3", check=False, **MINIO)
    emulator.put_object(_secret("minio-storage", annotations={"opendatahub.io/connection-type-ref": "s3"}))
    credentials = {"AWS_ACCESS_KEY_ID": "team-key", "AWS_SECRET_ACCESS_KEY": "team-s3cr3t"}
    location = {"AWS_S3_BUCKET": "team", "AWS_S3_ENDPOINT": "https://s3.example.com", "AWS_DEFAULT_REGION": "eu-1"}
    s3 = {"opendatahub.io/connection-type-protocol": "s3"}
    secrets = [
        _secret(
            "team-bucket",
            annotations={**s3, "openshift.io/display-name": "Team bucket"},
            data=_b64({**credentials, **location}),
        ),
        _secret(
            "hub",
            annotations={"opendatahub.io/connection-type-ref": "uri-v1"},
            stringData={"URI": "https://example.com/granite/"},
        ),
        _secret(
            "signed",
            annotations={"opendatahub.io/connection-type-protocol": "uri"},
            stringData={"URI": "https://example.com/m?sig=abc"},
        ),
        _secret("hidden", annotations={**s3, "opendatahub.io/connection-hidden": "true"}),
        _secret("default-name-granite-sa", type="kubernetes.io/service-account-token"),  # a token Secret
        _secret("unlabelled", labels={}, annotations=s3),
    ]
    for secret in secrets:
        emulator.put_object(secret)

    team_a = {c.name: c for c in cluster_targets.connections("team-a")}
    assert list(team_a) == ["minio-storage", "hub", "signed", "team-bucket"]
    assert team_a["minio-storage"].origin == "modelreg" and team_a["minio-storage"].in_namespace
    bucket = team_a["team-bucket"]
    assert (bucket.origin, bucket.type, bucket.display_name, bucket.in_namespace) == (
        "cluster",
        "s3",
        "Team bucket",
        True,
    )
    assert (bucket.bucket, bucket.endpoint, bucket.region) == ("team", "https://s3.example.com", "eu-1")
    assert "team-s3cr3t" not in str(bucket.to_dict()) and "team-key" not in str(bucket.to_dict())
    assert team_a["hub"].type == "uri" and team_a["hub"].uri == "https://example.com/granite/"
    assert team_a["signed"].uri is None  # a URI with a token in it is not shown
    assert [c.name for c in match_connections("s3://team/x?endpoint=https://s3.example.com", team_a.values())] == [
        "team-bucket"
    ]

    team_b = cluster_targets.connections("team-b")
    assert [(c.name, c.in_namespace) for c in team_b] == [("minio-storage", False)]
    assert [(c.name, c.in_namespace) for c in cluster_targets.connections(None)] == [("minio-storage", False)]
    assert cluster_targets.connection("team-bucket", "team-a").bucket == "team"
    with pytest.raises(
        Exception, match=r"no data connection \(modelreg's, or in namespace team-b\) named 'team-bucket'"
    ):
        cluster_targets.connection("team-bucket", "team-b")


def test_a_fresh_read_skips_the_cache(emulator: Emulator, database: Database, tmp_path: Path, kube: Kube) -> None:
    empty(database)
    cached = target_service(database, tmp_path, kube, cache_seconds=600)
    cached.connection_service.create("minio-storage", "s3", check=False, **MINIO)
    assert not cached.connection("minio-storage", "team-a").in_namespace
    emulator.put_object(
        _secret(
            "minio-storage",
            metadata={"name": "minio-storage", "namespace": "team-a", "labels": {"opendatahub.io/dashboard": "true"}},
        )
    )
    assert not cached.connection("minio-storage", "team-a").in_namespace
    assert cached.connection("minio-storage", "team-a", fresh=True).in_namespace


def test_cluster_failures_say_why(
    emulator: Emulator, cluster_targets: TargetService, database: Database, tmp_path: Path
) -> None:
    emulator.fail_next("GET", "hardwareprofiles", status=403, message="hardwareprofiles is forbidden: User cannot list")
    with pytest.raises(BadGateway, match="modelreg's Kubernetes service account may not list HardwareProfile objects"):
        cluster_targets.profiles()
    emulator.fail_next("GET", "secrets", status=500)
    with pytest.raises(BadGateway, match="the Kubernetes API failed to list Secret objects"):
        cluster_targets.connections("team-a")
    emulator.remove_crd("hardwareprofiles.infrastructure.opendatahub.io")
    assert cluster_targets.profiles() == []  # no HardwareProfile CRD: no profiles

    gone = kube_for(emulator, api_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    try:
        with pytest.raises(
            Unavailable, match=r"cannot list HardwareProfile objects: the Kubernetes API at .* is unreachable"
        ):
            target_service(database, tmp_path, gone).profiles()
    finally:
        gone.close()


@pytest.fixture
def cluster_server(emulator: Emulator, database: Database, tmp_path: Path) -> Iterator[ServerThread]:
    empty(database)
    settings = Settings(
        database_url=database.url,
        data_dir=tmp_path,
        kubernetes=ClusterSettings(mode="url", api_url=emulator.url, token="t"),
    )
    with ServerThread(create_app(settings, database)) as running:
        yield running


def test_rest_with_a_cluster(emulator: Emulator, cluster_server: ServerThread) -> None:
    emulator.put_object(_profile(defaults.PROFILES[1]))
    emulator.put_object(_in(PLATFORM, defaults.RUNTIMES[0]))
    with httpx.Client(base_url=f"{cluster_server.url}/api/deploy/v1", timeout=30) as api:  # local mode: an admin
        profiles = api.get("/hardware-profiles").json()["items"]
        assert [(p["name"], p["origin"]) for p in profiles] == [("nvidia-l4-1gpu", "cluster")]
        assert profiles[0]["resourceVersion"]
        assert [r["name"] for r in api.get("/runtimes").json()["items"]] == ["vllm-cuda-runtime"]
        refused = api.post("/hardware-profiles", json=defaults.PROFILES[0])
        assert refused.status_code == 409 and "managed in the cluster" in refused.json()["message"]
        assert api.delete("/runtimes/vllm-cuda-runtime").status_code == 409
        assert api.get("/hardware-profiles").status_code == 200  # cached: the cluster is not asked again
        emulator.fail_next("GET", "secrets", status=0, count=10)
        failed = api.get("/connections", params={"namespace": "team-a"})
        assert failed.status_code == 503 and "is unreachable" in failed.json()["message"]
    assert emulator.get(TEMPLATE, PLATFORM, "vllm-cuda-runtime-template") is not None
    assert emulator.objects(SECRET, "team-a") == [] and emulator.objects(SERVING_RUNTIME) == []

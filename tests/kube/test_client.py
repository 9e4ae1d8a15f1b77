"""`modelreg.kube.client.Kube` against the emulator over real HTTP: reads and writes as plain dicts, server-side
apply, errors mapped by status with messages that name the object and never the token, an unreachable or slow
cluster, a kind whose CRD is missing, discovery caching, and thread safety."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kube_emulator import Emulator, reference_crds, running_emulator, wait_until
from kube_emulator.fixtures import kube_for
from modelreg.kube import errors
from modelreg.kube.client import Kube
from modelreg.kube.kinds import CONFIG_MAP, HARDWARE_PROFILE, INFERENCE_SERVICE, NAMESPACE, SECRET, TEMPLATE


def isvc(name: str, namespace: str = "team-a", labels: dict[str, str] | None = None, **model: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, **model}}},
    }


def configmap(name: str, labels: dict[str, str] | None = None, namespace: str = "team-a") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
    }


def test_create_get_and_delete_as_plain_dicts(kube: Kube) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "minio", "namespace": "team-a"},
        "stringData": {"AWS_ACCESS_KEY_ID": "k"},
    }
    created = kube.create(secret)
    assert type(created) is dict and created["metadata"]["uid"] and created["data"] == {"AWS_ACCESS_KEY_ID": "aw=="}
    found = kube.get(SECRET, "minio", "team-a")
    assert found is not None and type(found) is dict and found["metadata"]["uid"] == created["metadata"]["uid"]
    assert kube.get(SECRET, "absent", "team-a") is None
    with pytest.raises(errors.AlreadyExists, match="Secret team-a/minio"):
        kube.create(secret)
    assert kube.get(NAMESPACE, "prod-a") is not None  # a cluster-scoped kind
    assert kube.delete(SECRET, "minio", "team-a") is True
    assert kube.delete(SECRET, "minio", "team-a") is False


def test_apply_is_server_side_under_the_field_manager(kube: Kube, emulator: Emulator) -> None:
    first = kube.apply(isvc("granite", storageUri="s3://models/a"))
    assert first["metadata"]["generation"] == 1 and first["metadata"]["resourceVersion"]
    second = kube.apply(isvc("granite", storageUri="s3://models/b"))
    assert second["metadata"]["generation"] == 2
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    request = emulator.requests[-1]
    assert (request.method, request.content_type) == ("PATCH", "application/apply-patch+yaml")
    assert request.params["fieldManager"] == "modelreg" and request.params["force"] == "true"
    assert {m["manager"] for m in second["metadata"]["managedFields"]} == {"modelreg"}
    other = kube_for(emulator)
    other.field_manager = "someone-else"
    shared = other.apply(isvc("granite", storageUri="s3://models/b", runtime="vllm"))
    assert {m["manager"] for m in shared["metadata"]["managedFields"]} == {"modelreg", "someone-else"}
    other.close()
    with pytest.raises(ValueError, match=r"metadata\.name"):
        kube.apply({**isvc("x"), "metadata": {"namespace": "team-a"}})


def test_patch_merges_a_dict_and_applies_a_list_as_json_patch(kube: Kube) -> None:
    kube.create(configmap("cm", {"a": "1", "b": "2"}))
    merged = kube.patch(CONFIG_MAP, "cm", "team-a", {"metadata": {"labels": {"a": None, "c": "3"}}})
    assert merged["metadata"]["labels"] == {"b": "2", "c": "3"}
    patched = kube.patch(CONFIG_MAP, "cm", "team-a", [{"op": "add", "path": "/data", "value": {"k": "v"}}])
    assert patched["data"] == {"k": "v"}
    with pytest.raises(errors.NotFound, match="ConfigMap team-a/absent"):
        kube.patch(CONFIG_MAP, "absent", "team-a", {"data": {}})


def test_list_pages_filters_by_labels_and_returns_the_version_to_watch_from(kube: Kube, emulator: Emulator) -> None:
    for index in range(5):
        kube.create(configmap(f"cm-{index}", {"app": "x"} if index % 2 == 0 else {"tier": "web"}))
    kube.create(configmap("elsewhere", {"app": "x"}, namespace="team-b"))
    emulator.clear_requests()
    kube.list_chunk = 2
    items, version = kube.list(CONFIG_MAP, "team-a")
    assert [i["metadata"]["name"] for i in items] == [f"cm-{i}" for i in range(5)]
    pages = [r for r in emulator.requests if r.method == "GET"]
    assert len(pages) == 3 and all(r.params["limit"] == "2" for r in pages) and "continue" in pages[-1].params
    assert version == str(emulator.version)
    assert len(kube.list(CONFIG_MAP, None, {"app": "x"})[0]) == 4  # all namespaces
    assert [i["metadata"]["name"] for i in kube.list(CONFIG_MAP, "team-a", {"tier": None})[0]] == ["cm-1", "cm-3"]


def test_labels_are_filtered_here_too_when_the_server_ignores_them(kube: Kube, emulator: Emulator) -> None:
    kube.create(configmap("mine", {"app": "x"}))
    kube.create(configmap("other", {"app": "y"}))
    emulator.ignore_label_selectors()
    items, version = kube.list(CONFIG_MAP, "team-a", {"app": "x"})
    assert [i["metadata"]["name"] for i in items] == ["mine"]
    kube.create(configmap("new-other", {"app": "y"}))  # an addition that does not match: not reported
    kube.patch(CONFIG_MAP, "mine", "team-a", {"metadata": {"labels": {"app": "z"}}})  # left the selector
    kube.create(configmap("new-mine", {"app": "x"}))
    stream = kube.watch(CONFIG_MAP, "team-a", {"app": "x"}, resource_version=version, timeout_seconds=1)
    assert [(e.type, e.object["metadata"]["name"]) for e in stream] == [("DELETED", "mine"), ("ADDED", "new-mine")]


def test_watch_follows_changes_and_stops_from_another_thread(kube: Kube, emulator: Emulator) -> None:
    kube.apply(isvc("granite"))
    _, version = kube.list(INFERENCE_SERVICE, "team-a")
    stream = kube.watch(INFERENCE_SERVICE, "team-a", resource_version=version)
    emulator.patch_status(INFERENCE_SERVICE, "team-a", "granite", {"url": "http://granite.team-a"})
    kube.delete(INFERENCE_SERVICE, "granite", "team-a")
    seen = [next(stream), next(stream)]
    assert [(e.type, e.object.get("status")) for e in seen] == [
        ("MODIFIED", {"url": "http://granite.team-a"}),
        ("DELETED", {"url": "http://granite.team-a"}),
    ]
    closer = threading.Timer(0.2, stream.close)
    closer.start()
    started = time.monotonic()
    assert list(stream) == []  # blocked on the socket until closed
    assert time.monotonic() - started < 2
    wait_until(lambda: emulator.watch_count == 0)


def test_a_watch_from_an_expired_version_raises_expired(kube: Kube, emulator: Emulator) -> None:
    _, version = kube.list(CONFIG_MAP, "team-a")
    kube.create(configmap("a"))
    emulator.compact()
    with pytest.raises(errors.Expired):
        list(kube.watch(CONFIG_MAP, "team-a", resource_version=version, timeout_seconds=1))


def test_api_errors_map_by_status_and_name_the_object_without_the_token(emulator: Emulator) -> None:
    kube = kube_for(emulator, token="s3cr3t-token")
    cases: list[tuple[str, str, int, str, type[errors.ApiError]]] = [
        ("GET", "secrets", 403, "Forbidden", errors.Forbidden),
        ("GET", "secrets", 401, "Unauthorized", errors.Forbidden),
        ("GET", "secrets", 500, "InternalError", errors.ApiError),
        ("PATCH", "inferenceservices", 422, "Invalid", errors.Invalid),
        ("PATCH", "inferenceservices", 409, "Conflict", errors.Conflict),
        ("PATCH", "inferenceservices", 400, "BadRequest", errors.Invalid),
    ]
    for method, plural, status, reason, expected in cases:
        emulator.fail_next(method, plural, status, reason=reason, message=f"refused: {reason}")
        with pytest.raises(expected) as caught:
            if method == "GET":
                kube.get(SECRET, "minio", "team-a")
            else:
                kube.apply(isvc("granite"))
        assert type(caught.value) is expected
        assert (caught.value.status, caught.value.reason) == (status, reason)
        text = str(caught.value)
        assert f"refused: {reason}" in text and (
            "Secret team-a/minio" in text or "InferenceService team-a/granite" in text
        )
        assert "s3cr3t" not in text
    kube.close()


def test_an_unreachable_cluster_is_a_clear_error_within_the_timeout(emulator: Emulator) -> None:
    kube = kube_for(emulator, timeout_seconds=0.5, token="s3cr3t-token")
    kube.get(SECRET, "minio", "team-a")
    emulator.unreachable()
    started = time.monotonic()
    with pytest.raises(errors.ClusterUnreachable) as caught:
        kube.get(SECRET, "minio", "team-a")
    assert time.monotonic() - started < 1.5  # refused at once; the bound is for a busy machine
    assert emulator.url in str(caught.value) and "Secret team-a/minio" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    emulator.reachable()
    emulator.delay(3)  # answers too late: the call's own timeout ends it
    started = time.monotonic()
    with pytest.raises(errors.ClusterUnreachable, match="Timeout"):
        kube.list(SECRET, "team-a")
    assert time.monotonic() - started < 2.5  # the 0.5 s timeout, long before the 3 s answer
    emulator.delay(0)
    kube.close()


def test_a_kind_without_its_crd_is_missing_until_installed(emulator: Emulator) -> None:
    crds = reference_crds()
    serving = [c for c in crds if c["spec"]["group"] == "serving.kserve.io"]
    profiles_crd = next(c for c in crds if c["spec"]["group"] == "infrastructure.opendatahub.io")
    with running_emulator(crds=serving, namespaces=["team-a"], openshift=False) as bare:
        kube = kube_for(bare)
        assert kube.served(INFERENCE_SERVICE) and not kube.served(HARDWARE_PROFILE) and not kube.served(TEMPLATE)
        for call in (
            lambda: kube.get(HARDWARE_PROFILE, "gpu", "team-a"),
            lambda: kube.list(HARDWARE_PROFILE, "team-a"),
            lambda: kube.delete(HARDWARE_PROFILE, "gpu", "team-a"),
            lambda: list(kube.watch(HARDWARE_PROFILE, "team-a", timeout_seconds=1)),
        ):
            with pytest.raises(errors.MissingKind, match="HardwareProfile"):
                call()
        assert kube.crd(HARDWARE_PROFILE) is None
        assert kube.crd(INFERENCE_SERVICE)["spec"]["names"]["kind"] == "InferenceService"  # type: ignore[index]
        assert kube.crd(SECRET) is None  # not a custom kind
        bare.fail_next("GET", "customresourcedefinitions", 403)
        assert kube.crd(INFERENCE_SERVICE) is None  # not readable by modelreg's account
        bare.install_crd(profiles_crd)
        assert not kube.served(HARDWARE_PROFILE)  # discovery is cached...
        kube.discovery_ttl = 0.05
        kube.forget_discovery()
        assert kube.served(HARDWARE_PROFILE)  # ...and seen once the cache expires
        assert kube.list(HARDWARE_PROFILE, "team-a") == ([], str(bare.version))
        kube.close()


def test_discovery_is_cached_per_group_version(kube: Kube, emulator: Emulator) -> None:
    emulator.clear_requests()
    for _ in range(3):
        assert kube.served(INFERENCE_SERVICE) and kube.served(SECRET) and kube.served(CONFIG_MAP)
    assert sorted(r.path for r in emulator.requests) == ["/api/v1", "/apis/serving.kserve.io/v1beta1"]
    kube.discovery_ttl = 0.05
    kube.forget_discovery()
    kube.served(SECRET)
    time.sleep(0.1)  # past the TTL
    kube.served(SECRET)
    assert [r.path for r in emulator.requests].count("/api/v1") == 3


def test_one_client_serves_many_threads(kube: Kube) -> None:
    def work(worker: int) -> int:
        for index in range(5):
            kube.create(configmap(f"w{worker}-{index}"))
            assert kube.get(CONFIG_MAP, f"w{worker}-{index}", "team-a") is not None
        return worker

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(work, range(8))) == list(range(8))
    assert len(kube.list(CONFIG_MAP, "team-a")[0]) == 40


def test_describe_names_the_server_and_never_the_token(emulator: Emulator) -> None:
    kube = kube_for(emulator, token="s3cr3t-token")
    assert kube.describe() == f"{emulator.url} (url)"
    kube.close()


def test_the_token_file_is_read_at_every_request(emulator: Emulator, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    kube = kube_for(emulator, token=None, token_file=str(token_file))
    kube.get(SECRET, "a", "team-a")
    token_file.write_text("second")  # rotated
    kube.get(SECRET, "a", "team-a")
    assert [r.authorization for r in emulator.requests[-2:]] == ["Bearer first", "Bearer second"]
    token_file.unlink()
    with pytest.raises(errors.NotConfigured, match="token_file"):
        kube.get(SECRET, "a", "team-a")
    kube.close()

"""`modelreg.kube.informer.Informer` against the emulator: the first list, live events, resuming a dropped watch,
re-listing after 410 with the differences reported, riding out an unreachable cluster, a prompt stop, and an idle
informer over 1,000 objects costing next to no CPU."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cpu import threads_cpu_share
from kube_emulator import Emulator, wait_until
from modelreg.kube.client import Json, Kube
from modelreg.kube.informer import Informer
from modelreg.kube.kinds import INFERENCE_SERVICE, SECRET

LABELS = {"modelregistry.opendatahub.io/name": "modelreg"}


def isvc(name: str, namespace: str = "team-a", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "labels": LABELS if labels is None else labels},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}}}},
    }


class Recorder:
    """A listener that keeps (event, namespace/name) and what the informer's cache held when it was called."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer
        self.events: list[tuple[str, str]] = []
        self.cached_at_call: list[bool] = []
        self._lock = threading.Lock()

    def __call__(self, event: str, obj: Json) -> None:
        meta = obj["metadata"]
        cached = self.informer.get(meta.get("namespace"), meta["name"]) is not None
        with self._lock:
            self.events.append((event, f"{meta.get('namespace')}/{meta['name']}"))
            self.cached_at_call.append(cached == (event != "DELETED"))

    def seen(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.events)


@pytest.fixture
def started(kube: Kube) -> Iterator[Any]:
    """Start an informer (stopped at the end of the test) with a `Recorder`."""
    informers: list[Informer] = []

    def start(**options: Any) -> tuple[Informer, Recorder]:
        informer = Informer(kube, INFERENCE_SERVICE, name="test", **options)
        informer.backoff_first = 0.05
        recorder = Recorder(informer)
        informer.add_listener(recorder)
        informers.append(informer)
        informer.start()
        assert informer.wait_synced(5)
        return informer, recorder

    yield start
    for informer in informers:
        informer.stop()


def test_the_first_list_fills_the_cache_and_changes_follow(kube: Kube, emulator: Emulator, started: Any) -> None:
    kube.apply(isvc("granite"))
    kube.apply(isvc("mnist", "team-b"))
    informer, recorder = started(labels=LABELS)
    assert informer.synced and informer.last_error is None
    assert sorted(recorder.seen()) == [("ADDED", "team-a/granite"), ("ADDED", "team-b/mnist")]
    wait_until(lambda: emulator.watch_count == 1)
    kube.apply(isvc("bert"))
    emulator.patch_status(INFERENCE_SERVICE, "team-a", "granite", {"url": "http://granite"})
    kube.delete(INFERENCE_SERVICE, "mnist", "team-b")
    kube.apply(isvc("unlabelled", labels={}))  # outside the selector
    wait_until(lambda: len(recorder.seen()) == 5)
    assert recorder.seen()[2:] == [
        ("ADDED", "team-a/bert"),
        ("MODIFIED", "team-a/granite"),
        ("DELETED", "team-b/mnist"),
    ]
    assert all(recorder.cached_at_call)  # listeners run after the cache update
    assert informer.get("team-a", "granite")["status"] == {"url": "http://granite"}  # type: ignore[index]
    assert informer.get("team-b", "mnist") is None and informer.get("team-a", "unlabelled") is None
    assert sorted(o["metadata"]["name"] for o in informer.objects()) == ["bert", "granite"]


def test_namespaces_are_watched_one_by_one_in_named_threads(kube: Kube, emulator: Emulator, started: Any) -> None:
    kube.apply(isvc("a", "team-a"))
    kube.apply(isvc("b", "team-b"))
    kube.apply(isvc("c", "prod-a"))
    informer, _ = started(namespaces=["team-a", "prod-a"])
    assert sorted(o["metadata"]["name"] for o in informer.objects()) == ["a", "c"]
    names = {t.name for t in threading.enumerate() if t.name.startswith("modelreg-informer-test")}
    assert names == {"modelreg-informer-test/team-a", "modelreg-informer-test/prod-a"}
    assert all(t.daemon for t in threading.enumerate() if t.name in names)
    wait_until(lambda: emulator.watch_count == 2)
    assert {r.path for r in emulator.requests if r.params.get("watch")} == {
        "/apis/serving.kserve.io/v1beta1/namespaces/team-a/inferenceservices",
        "/apis/serving.kserve.io/v1beta1/namespaces/prod-a/inferenceservices",
    }


def test_a_failing_listener_is_logged_and_the_others_still_run(
    kube: Kube, emulator: Emulator, started: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: str, obj: Json) -> None:
        raise RuntimeError("listener bug")

    informer, recorder = started()
    informer._listeners.insert(0, broken)  # before the recorder
    wait_until(lambda: emulator.watch_count == 1)
    with caplog.at_level(logging.ERROR, logger="modelreg.kube.informer"):
        kube.apply(isvc("granite"))
        kube.apply(isvc("bert"))
        wait_until(lambda: len(recorder.seen()) == 2)
    assert sum("a listener failed" in r.message for r in caplog.records) == 2


def test_a_dropped_watch_is_resumed_from_the_last_version(kube: Kube, emulator: Emulator, started: Any) -> None:
    kube.apply(isvc("granite"))
    informer, recorder = started()
    wait_until(lambda: emulator.watch_count == 1)
    version = str(emulator.version)
    emulator.clear_requests()
    emulator.drop_watches()
    kube.apply(isvc("bert"))
    wait_until(lambda: ("ADDED", "team-a/bert") in recorder.seen())
    calls = [r for r in emulator.requests if r.method == "GET" and "inferenceservices" in r.path]
    assert [c.params.get("watch") for c in calls] == ["true"]  # no new list
    assert calls[0].params["resourceVersion"] == version
    assert informer.last_error is None


def test_an_expired_version_lists_again_and_reports_the_differences(
    kube: Kube, emulator: Emulator, started: Any
) -> None:
    for name in ("stays", "changes", "goes"):
        kube.apply(isvc(name))
    informer, recorder = started()
    wait_until(lambda: emulator.watch_count == 1)
    emulator.unreachable()  # the informer misses what follows...
    emulator.put_object({**isvc("changes"), "status": {"url": "http://changed"}})
    emulator.delete_object(INFERENCE_SERVICE, "team-a", "goes")
    emulator.put_object(isvc("arrives"))
    emulator.compact()  # ...and the history that had it is gone
    emulator.clear_requests()
    emulator.reachable()
    wait_until(lambda: len(recorder.seen()) == 6, timeout=10)
    assert sorted(recorder.seen()[3:]) == [
        ("ADDED", "team-a/arrives"),
        ("DELETED", "team-a/goes"),
        ("MODIFIED", "team-a/changes"),
    ]
    assert informer.get("team-a", "changes")["status"] == {"url": "http://changed"}  # type: ignore[index]
    first_calls = [(r.params.get("watch"), r.params.get("resourceVersion")) for r in emulator.requests][:2]
    assert first_calls[0][0] == "true" and first_calls[1] == (None, None)  # watch → 410 → list


def test_an_unreachable_cluster_keeps_the_cache_and_recovers(kube: Kube, emulator: Emulator, started: Any) -> None:
    kube.apply(isvc("granite"))
    informer, recorder = started()
    wait_until(lambda: emulator.watch_count == 1)
    emulator.unreachable()
    error = wait_until(lambda: informer.last_error)
    assert "ClusterUnreachable" in error and emulator.url in error
    assert [o["metadata"]["name"] for o in informer.objects()] == ["granite"]  # kept, possibly stale
    emulator.put_object(isvc("bert"))
    emulator.reachable()
    wait_until(lambda: ("ADDED", "team-a/bert") in recorder.seen(), timeout=10)
    wait_until(lambda: informer.last_error is None)


def test_errors_are_retried_with_a_doubling_capped_backoff(
    kube: Kube, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    listing = kube.list

    def list_and_time(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        return listing(*args, **kwargs)

    monkeypatch.setattr(kube, "list", list_and_time)
    emulator.fail_next("GET", "inferenceservices", 500, count=5)
    informer = Informer(kube, INFERENCE_SERVICE, name="backoff")
    informer.backoff_first, informer.backoff_max = 0.1, 0.2
    informer.start()
    assert informer.wait_synced(10)
    informer.stop()
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert len(gaps) == 5
    assert all(gap >= wanted * 0.9 for gap, wanted in zip(gaps, [0.1, 0.2, 0.2, 0.2, 0.2], strict=True))
    assert max(gaps[3:]) < 1.0  # capped: without the cap these would be 0.8 s and 1.6 s


def test_stop_is_prompt_and_ends_every_thread(kube: Kube, emulator: Emulator) -> None:
    informer = Informer(kube, INFERENCE_SERVICE, namespaces=["team-a", "team-b", "prod-a"], name="stopper")
    informer.start()
    assert informer.wait_synced(5)
    wait_until(lambda: emulator.watch_count == 3)
    started = time.monotonic()
    informer.stop()
    assert time.monotonic() - started < 1.5  # each watch is woken at once, not waited out
    assert not [t for t in threading.enumerate() if t.name.startswith("modelreg-informer-stopper")]
    wait_until(lambda: emulator.watch_count == 0)


def test_stop_while_retrying_is_prompt(kube: Kube, emulator: Emulator) -> None:
    emulator.unreachable()
    informer = Informer(kube, SECRET, name="retrying")
    informer.backoff_first = 20.0
    informer.start()
    wait_until(lambda: informer.last_error)
    started = time.monotonic()
    informer.stop()
    assert time.monotonic() - started < 1.5 and not informer.synced  # not the 20 s backoff


def test_an_idle_informer_over_a_thousand_objects_costs_next_to_no_cpu(
    kube: Kube, emulator: Emulator, started: Any
) -> None:
    for index in range(1000):
        emulator.put_object(isvc(f"model-{index:04d}", ("team-a", "team-b")[index % 2]))
    informer, recorder = started(labels=LABELS)
    assert len(informer.objects()) == 1000 and len(recorder.seen()) == 1000
    wait_until(lambda: emulator.watch_count == 1)
    share = threads_cpu_share(lambda name: name.startswith("modelreg-informer"), 2)
    assert share < 0.02, f"the idle informer's threads used {share:.1%} of a core"

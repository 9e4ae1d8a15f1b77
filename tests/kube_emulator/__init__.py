"""A Kubernetes API server for the tests, over real HTTP: kmock 0.8's emulator (pinned: server.py subclasses its
internals) with the semantics a client depends on (store.py), run in a thread with its own event loop.

    with running_emulator(crds=reference_crds(), namespaces={"team-a": {}}) as emulator:
        kube = Kube(ClusterSettings(mode="url", api_url=emulator.url, token="t"))
        ...
        emulator.patch_status(INFERENCE_SERVICE, "team-a", "granite", {"url": "http://..."})  # as KServe would

The handle (`Emulator`) is synchronous and thread-safe: every call runs on the emulator's loop. ``kind`` arguments
are a `modelreg.kube.kinds.Kind`, a plural (``"secrets"``) or ``"plural.group"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp.web
import pytest
import yaml

from .resources import Registry, ResourceType
from .server import REASONS, ApiServer, Fault, Logged
from .store import Store

__all__ = ["CRD_DIR", "Emulator", "Logged", "reference_crds", "running_emulator", "wait_until"]

CRD_DIR = Path(__file__).resolve().parents[3] / "shared" / "reference" / "crds"  # beside the checkout
T = TypeVar("T")
Json = dict[str, Any]


@functools.cache
def _load_crds(directory: Path) -> tuple[Json, ...]:
    found: list[Json] = []
    for path in sorted(directory.glob("*.yaml")):
        with path.open() as stream:
            found += [
                d
                for d in yaml.load_all(stream, Loader=yaml.CSafeLoader)
                if d and d.get("kind") == "CustomResourceDefinition"
            ]
    return tuple(found)


def reference_crds(directory: Path = CRD_DIR) -> list[Json]:
    """The reference CustomResourceDefinitions (KServe, ODH), parsed once per session; skips the test when the
    reference directory is not on this machine."""
    if not directory.is_dir():
        pytest.skip(f"the reference CRDs are not here ({directory} is missing)")
    return list(_load_crds(directory))


def wait_until(check: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
    """Poll until ``check()`` is truthy and return it; AssertionError with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s (last: {value!r})")
        time.sleep(interval)


class Emulator:
    """The test's side of a running emulator."""

    def __init__(
        self,
        crds: Iterable[Mapping[str, Any]] = (),
        namespaces: Iterable[str] | Mapping[str, Mapping[str, str]] = (),
        *,
        openshift: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        history_limit: int = 1000,
    ) -> None:
        self._crds = [dict(c) for c in crds]
        labels = namespaces if isinstance(namespaces, Mapping) else {n: {} for n in namespaces}
        self._namespaces = {name: dict(value or {}) for name, value in labels.items()}
        self._openshift = openshift
        self._history_limit = history_limit
        self._ssl = ssl_context
        self._server = self._fresh_server()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._web: aiohttp.web.Server | None = None
        self._listener: asyncio.Server | None = None
        self.port = 0
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self._main, name="kube-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or not self.url:
            raise RuntimeError("the Kubernetes emulator did not start")
        return self

    def close(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(5)

    def reset(self) -> None:
        """Back to the state right after start: the given CRDs and namespaces only, no faults, an empty log."""
        self._call(self._reset)

    def _fresh_server(self) -> ApiServer:
        store = Store(Registry(openshift=self._openshift), history_limit=self._history_limit)
        store.install(self._crds)
        store.install(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
            for name, labels in self._namespaces.items()
        )
        return ApiServer(store=store)

    async def _reset(self) -> None:
        self._server.store.end_watches()
        fresh = self._fresh_server()
        self._server.store = fresh.store
        self._server.log.clear()
        self._server.faults.clear()
        self._server.server_errors.clear()
        self._server.delay_seconds = 0
        self._server.label_selectors = True

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        async with self._server:
            self._web = aiohttp.web.Server(self._server, handler_cancellation=True)
            await self._listen()
            scheme = "https" if self._ssl is not None else "http"
            self.url = f"{scheme}://127.0.0.1:{self.port}"
            self._ready.set()
            await self._stopped.wait()
            await self._go_away()

    async def _listen(self) -> None:
        assert self._web is not None
        self._listener = await asyncio.get_running_loop().create_server(
            self._web, "127.0.0.1", self.port, ssl=self._ssl, reuse_address=True
        )
        self.port = int(self._listener.sockets[0].getsockname()[1])

    async def _go_away(self) -> None:
        """Stop listening and cut every connection (open watches included)."""
        self._server.store.end_watches()
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        if self._web is not None:
            for connection in self._web.connections:
                if connection.transport is not None:
                    connection.transport.abort()

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        assert self._loop is not None, "the emulator is not running"
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(10)

    def _sync(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return self._call(run)

    # --- the cluster's state -----------------------------------------------------------------------------------

    def _type(self, kind: Any) -> ResourceType:
        return self._server.store.registry.lookup(kind)

    def objects(self, kind: Any, namespace: str | None = None) -> list[Json]:
        """Copies of the stored objects of a kind (in one namespace or all), ordered by namespace and name."""
        rt = self._type(kind)

        def read() -> list[Json]:
            found = [o for k, o in self._server.store.objects.items() if k[:2] == rt.key]
            found = [o for o in found if namespace is None or o["metadata"].get("namespace") == namespace]
            ordered = sorted(found, key=lambda o: (o["metadata"].get("namespace") or "", o["metadata"]["name"]))
            return copy.deepcopy(ordered)

        return self._sync(read)

    def get(self, kind: Any, namespace: str | None, name: str) -> Json | None:
        rt = self._type(kind)
        key = (rt.group, rt.plural, namespace if rt.namespaced else None, name)
        return self._sync(lambda: copy.deepcopy(self._server.store.objects.get(key)))

    def put_object(self, obj: Mapping[str, Any]) -> Json:
        """Create or replace an object whole, status included, as a controller would (ADDED / MODIFIED)."""
        rt = self._server.store.registry.for_object(obj)
        return self._sync(lambda: copy.deepcopy(self._server.store.put(rt, copy.deepcopy(dict(obj)))))

    def patch_status(self, kind: Any, namespace: str | None, name: str, status: Any, *, merge: bool = False) -> Json:
        """Set an object's ``status`` (replaced whole; merged with ``merge=True``) as KServe would: MODIFIED."""
        rt = self._type(kind)
        return self._sync(lambda: copy.deepcopy(self._server.store.set_status(rt, namespace, name, status, merge)))

    def delete_object(self, kind: Any, namespace: str | None, name: str) -> bool:
        """Delete as the API would (finalizers, garbage collection); False when it did not exist."""
        rt = self._type(kind)
        key = (rt.group, rt.plural, namespace if rt.namespaced else None, name)

        def delete() -> bool:
            if key not in self._server.store.objects:
                return False
            self._server.store.delete(rt, key[2], name, "Background", dry_run=False)
            return True

        return self._sync(delete)

    def create_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> Json:
        return self.put_object(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}
        )

    def install_crd(self, crd: Mapping[str, Any]) -> Json:
        """Install a CustomResourceDefinition now: its kind becomes discoverable and served."""
        return self.put_object(crd)

    def remove_crd(self, name: str) -> bool:
        """Uninstall a CRD (``plural.group``): its kind and objects disappear."""
        return self.delete_object("customresourcedefinitions", None, name)

    @property
    def version(self) -> int:
        """The cluster's current resourceVersion."""
        return self._sync(lambda: self._server.store.version)

    def compact(self) -> None:
        """Forget the change history (etcd compaction): watches from an older resourceVersion get 410."""
        self._sync(self._server.store.compact)

    # --- watches -----------------------------------------------------------------------------------------------

    @property
    def watch_count(self) -> int:
        """Open watch streams right now."""
        return self._sync(lambda: len(self._server.store.watchers))

    def drop_watches(self) -> None:
        """End every open watch stream cleanly (as an API server restart or a load balancer timeout would)."""
        self._sync(self._server.store.end_watches)

    # --- what clients sent -------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Logged]:
        return self._sync(lambda: list(self._server.log))

    def clear_requests(self) -> None:
        self._sync(self._server.log.clear)

    @property
    def server_errors(self) -> list[str]:
        """Tracebacks of the emulator's own failures (500s that are bugs here, not answers): should stay empty."""
        return self._sync(lambda: list(self._server.server_errors))

    # --- faults ------------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        plural: str,
        status: int = 500,
        count: int = 1,
        *,
        reason: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests with this method ("*": any) on this plural ("*": any) with an error
        Status; ``status=0`` drops the connection instead."""
        fault = Fault(
            method.upper(),
            plural,
            status,
            count,
            reason or REASONS.get(status, "InternalError"),
            message or f"injected failure ({status})",
        )
        self._sync(lambda: self._server.faults.append(fault))

    def drop_next(self, method: str, plural: str, count: int = 1) -> None:
        """Reset the connection of the next ``count`` matching requests (a network failure mid-call)."""
        self.fail_next(method, plural, status=0, count=count)

    def ignore_label_selectors(self, ignore: bool = True) -> None:
        """Serve lists and watches unfiltered whatever ``labelSelector`` says (as plain kmock does), so a client's
        own filtering shows."""

        def set_mode() -> None:
            self._server.label_selectors = not ignore

        self._sync(set_mode)

    def delay(self, seconds: float) -> None:
        """Hold every answer this long from now on (0: answer at once again)."""

        def set_delay() -> None:
            self._server.delay_seconds = seconds

        self._sync(set_delay)

    def unreachable(self) -> None:
        """Stop listening and reset every open connection: clients get "connection refused"."""
        self._call(self._go_away)

    def reachable(self) -> None:
        """Listen again, on the same port."""
        self._call(self._listen)


@contextlib.contextmanager
def running_emulator(
    crds: Iterable[Mapping[str, Any]] = (),
    namespaces: Iterable[str] | Mapping[str, Mapping[str, str]] = (),
    *,
    openshift: bool = True,
    ssl_context: ssl.SSLContext | None = None,
    history_limit: int = 1000,
) -> Iterator[Emulator]:
    """A started emulator serving the given CRDs, with the given namespaces (names, or name → labels)."""
    emulator = Emulator(
        crds, namespaces, openshift=openshift, ssl_context=ssl_context, history_limit=history_limit
    ).start()
    try:
        yield emulator
    finally:
        emulator.close()

"""`Informer`: one kind's objects (optionally filtered by labels, in all or some namespaces) kept in memory by
list-then-watch in a thread, so readers never call the API and an idle cluster costs nothing but open sockets.

Each change updates the cache, then calls the listeners with (event type, object); a listener's exception is
logged, never kills the thread. A watch that ends is resumed from the last resourceVersion; one that expired (410)
re-lists and reports the differences as events; an unreachable API is retried with capped backoff and the cache
is kept (``last_error`` says why it may be stale). Several informers may share one `Kube`.

Idle means blocked: each thread sleeps in a socket read (the watch) or on an event (the backoff), never in a
polling loop; `stop()` closes the open watches, which wakes those reads at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from modelreg.kube.client import Json, Kube, Labels
from modelreg.kube.errors import Expired, KubeError
from modelreg.kube.kinds import Kind
from modelreg.kube.shapes import object_ref, resource_version
from modelreg.kube.watch import WatchStream

log = logging.getLogger(__name__)

Listener = Callable[[str, Json], None]
Key = tuple[str | None, str]  # (namespace, name)
Scope = str | None  # a namespace, or None for the whole cluster


class Informer:
    watch_seconds = 60  # the server ends each watch after this long; it is resumed from the last resourceVersion
    backoff_first = 0.5  # seconds before the first retry after an error, doubled up to backoff_max
    backoff_max = 30.0
    stop_seconds = 2.0  # how long stop() waits for the threads

    def __init__(
        self,
        kube: Kube,
        kind: Kind,
        *,
        namespaces: Sequence[str] = (),
        labels: Labels | None = None,
        name: str = "informer",
    ) -> None:
        """``namespaces`` empty: every namespace (one cluster-wide watch); otherwise one watch per namespace."""
        self.kube = kube
        self.kind = kind
        self.labels = dict(labels) if labels else None
        self.name = name
        self._scopes: tuple[Scope, ...] = (
            tuple(dict.fromkeys(namespaces)) if kind.namespaced and namespaces else (None,)
        )
        self._cache: dict[Key, Json] = {}
        self._cache_lock = threading.Lock()
        self._dispatch_lock = threading.Lock()  # listeners see one event at a time, in order per scope
        self._listeners: list[Listener] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._streams: dict[Scope, WatchStream] = {}
        self._unsynced: set[Scope] = set(self._scopes)
        self._synced = threading.Event()
        self._errors: dict[Scope, str] = {}

    def add_listener(self, listener: Listener) -> None:
        with self._dispatch_lock:
            self._listeners.append(listener)

    def start(self) -> None:
        """Start the thread(s); returns at once. `wait_synced` waits for the first full list."""
        if self._threads:
            return
        for scope in self._scopes:
            suffix = f"/{scope}" if scope else ""
            thread = threading.Thread(
                target=self._run, args=(scope,), name=f"modelreg-informer-{self.name}{suffix}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._cache_lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.close()
        deadline = time.monotonic() + self.stop_seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wait_synced(self, timeout: float) -> bool:
        """Whether every scope has been listed (and its listeners called) within ``timeout`` seconds."""
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def last_error(self) -> str | None:
        with self._cache_lock:
            errors = [f"{scope}: {error}" if scope else error for scope, error in self._errors.items()]
        return "; ".join(errors) or None

    def get(self, namespace: str | None, name: str) -> Json | None:
        """The cached object (shared: do not modify it), or None."""
        return self._cache.get((namespace if self.kind.namespaced else None, name))

    def objects(self) -> list[Json]:
        """Every cached object (shared: do not modify them)."""
        with self._cache_lock:
            return list(self._cache.values())

    # --- the thread --------------------------------------------------------------------------------------------

    def _run(self, scope: Scope) -> None:
        version: str | None = None
        delay = self.backoff_first
        while not self._stopping.is_set():
            try:
                if version is None:
                    version = self._relist(scope)
                started = time.monotonic()
                version, events = self._follow(scope, version)
                if events or time.monotonic() - started > 1.0:
                    delay = self.backoff_first
                    continue
                # a watch that ends at once with nothing in it: do not hammer the server
            except Expired:
                log.info("informer %s: resourceVersion %s expired, listing again", self.name, version)
                version = None
                continue
            except KubeError as exc:
                self._set_error(scope, f"{type(exc).__name__}: {exc}")
                log.warning("informer %s: %s: %s (retrying in %.1f s)", self.name, type(exc).__name__, exc, delay)
            except Exception:
                self._set_error(scope, "internal error (see the log)")
                log.exception("informer %s failed (retrying in %.1f s)", self.name, delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.backoff_max)

    def _relist(self, scope: Scope) -> str:
        """List, replace this scope's part of the cache, report the differences; the version to watch from."""
        items, version = self.kube.list(self.kind, scope, self.labels)
        fresh = {self._key(obj): obj for obj in items}
        events: list[tuple[str, Json]] = []
        with self._cache_lock:
            old = {key: obj for key, obj in self._cache.items() if scope is None or key[0] == scope}
            for key, obj in fresh.items():
                before = old.get(key)
                if before is None:
                    events.append(("ADDED", obj))
                elif resource_version(before) != resource_version(obj) or not resource_version(obj):
                    events.append(("MODIFIED", obj))
                self._cache[key] = obj
            for key in old.keys() - fresh.keys():
                events.append(("DELETED", self._cache.pop(key)))
            self._errors.pop(scope, None)
        for event, obj in events:
            self._dispatch(event, obj)
        with self._cache_lock:  # synced once the listeners have seen the first list too
            self._unsynced.discard(scope)
            if not self._unsynced:
                self._synced.set()
        return version

    def _follow(self, scope: Scope, version: str) -> tuple[str | None, int]:
        """Watch from ``version`` until the stream ends; (the last version seen, the number of events)."""
        stream = self.kube.watch(
            self.kind, scope, self.labels, resource_version=version or None, timeout_seconds=self.watch_seconds
        )
        with self._cache_lock:
            self._streams[scope] = stream
            self._errors.pop(scope, None)
        if self._stopping.is_set():
            stream.close()
        count = 0
        try:
            for event in stream:
                count += 1
                version = resource_version(event.object) or version
                if event.type != "BOOKMARK":
                    self._apply(event.type, event.object)
        finally:
            with self._cache_lock:
                if self._streams.get(scope) is stream:
                    del self._streams[scope]
        # no version at all (a server that sends none): list again rather than watch from "now"
        return version or None, count

    def _apply(self, event: str, obj: Json) -> None:
        key = self._key(obj)
        with self._cache_lock:
            before = self._cache.get(key)
            if event == "DELETED":
                if before is None:
                    return
                del self._cache[key]
            else:
                if before is not None and resource_version(before) == resource_version(obj) != "":
                    return  # seen already (a watch re-sending its start)
                self._cache[key] = obj
                event = "MODIFIED" if before is not None else "ADDED"
        self._dispatch(event, obj)

    def _dispatch(self, event: str, obj: Json) -> None:
        with self._dispatch_lock:
            for listener in self._listeners:
                try:
                    listener(event, obj)
                except Exception:
                    log.exception("informer %s: a listener failed on %s %s", self.name, event, self._key(obj))

    def _key(self, obj: Json) -> Key:
        namespace, name = object_ref(obj)
        return (namespace if self.kind.namespaced else None), name

    def _set_error(self, scope: Scope, error: str) -> None:
        with self._cache_lock:
            self._errors[scope] = error

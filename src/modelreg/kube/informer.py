"""`Informer`: one kind's objects (optionally filtered by labels, in all or some namespaces) kept in memory by
list-then-watch in a thread, so readers never call the API and an idle cluster costs nothing but open sockets.

Each change updates the cache, then calls the listeners with (event type, object); a listener's exception is
logged, never kills the thread. A watch that ends is resumed from the last resourceVersion; one that expired (410)
re-lists and reports the differences as events; an unreachable API is retried with capped backoff and the cache
is kept (``last_error`` says why it may be stale). Several informers may share one `Kube`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modelreg.kube.client import Json, Kube, Labels
from modelreg.kube.kinds import Kind

Listener = Callable[[str, Json], None]


class Informer:
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
        raise NotImplementedError

    def add_listener(self, listener: Listener) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Start the thread(s); returns at once. `wait_synced` waits for the first full list."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def wait_synced(self, timeout: float) -> bool:
        raise NotImplementedError

    @property
    def synced(self) -> bool:
        raise NotImplementedError

    @property
    def last_error(self) -> str | None:
        raise NotImplementedError

    def get(self, namespace: str | None, name: str) -> Json | None:
        raise NotImplementedError

    def objects(self) -> list[Json]:
        raise NotImplementedError

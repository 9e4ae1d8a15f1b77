"""What the bridge's background loops (the output publisher, the remote poller) share."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol


class Closable(Protocol):
    def close(self) -> None: ...


def stop_worker(
    stop: threading.Event,
    wake: threading.Event,
    thread: threading.Thread | None,
    closing: Iterable[Closable],
    timeout: float,
) -> None:
    """Ask a worker loop to stop (`stop`, then `wake` it), wait up to `timeout` s for `thread`, then close `closing`."""
    stop.set()
    wake.set()
    if thread is not None:
        thread.join(timeout)
    for item in closing:
        item.close()

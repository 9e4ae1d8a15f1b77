"""How pages show numbers and times (Jinja filters, used by the macros in ``_macros.html``): "3 hours ago" with the
exact time beside it, sizes in kB/MB/GB, shortened digests."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

_UNITS = (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))


def _ms(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def ago(value: Any, now: float | None = None) -> str:
    """Epoch milliseconds as "3 hours ago" (or "in 2 days"); "" for no time."""
    ms = _ms(value)
    if ms is None:
        return ""
    seconds = (time.time() if now is None else now) - ms / 1000
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now"
    for unit, size in _UNITS:
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"  # unreachable: a minute is the smallest unit


def iso_time(value: Any) -> str:
    """Epoch milliseconds as ``2026-12-08 10:00:00 UTC``."""
    ms = _ms(value)
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_datetime(value: Any) -> str:
    """Epoch milliseconds as an HTML ``datetime`` attribute."""
    ms = _ms(value)
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def size(value: Any) -> str:
    """Bytes as people read them: 512 B, 3.4 kB, 12.5 MB, 3.20 GB (decimal units, as storage consoles show)."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return ""
    if n < 1000:
        return f"{n} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if n < scale * 1000 or unit == "TB":
            shown = n / scale
            return f"{shown:.2f} {unit}" if shown < 10 else f"{shown:.1f} {unit}"
    return f"{n} B"  # unreachable


def short_digest(value: Any) -> str:
    """``sha256:0123456789ab…`` from a full digest (with or without its algorithm prefix)."""
    if not value:
        return ""
    text = str(value)
    algorithm, sep, digest = text.rpartition(":")
    if not sep:
        return text[:12] + "…" if len(text) > 12 else text
    return f"{algorithm}:{digest[:12]}…" if len(digest) > 12 else text


FILTERS: dict[str, Callable[..., str]] = {
    "ago": ago,
    "iso_time": iso_time,
    "iso_datetime": iso_datetime,
    "size": size,
    "short_digest": short_digest,
}

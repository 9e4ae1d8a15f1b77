"""Page tokens: an opaque, URL-safe encoding of a keyset cursor (the sort key of the last item returned) and a
fingerprint of the query it belongs to.

A keyset cursor rather than an offset keeps paging stable while models are added or removed between pages (a reload,
a new registered model): the next page starts after the last key seen, wherever it now is. The fingerprint makes a
token given with another query (another filter, sort or source) a 400 instead of a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson

from modelreg.errors import InvalidInput

INVALID = "invalid nextPageToken"


def fingerprint(*parts: object) -> str:
    """A short digest of the query's parameters (page size and token excluded)."""
    return hashlib.blake2b(orjson.dumps([str(p) for p in parts]), digest_size=6).hexdigest()


def encode(cursor: list[Any], query_fingerprint: str) -> str:
    raw = orjson.dumps({"c": cursor, "f": query_fingerprint})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str | None, query_fingerprint: str) -> list[Any] | None:
    """The cursor a token carries (None for no token); ``InvalidInput`` when it is not one of ours or was made for
    another query."""
    if not token:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidInput(INVALID) from None
    if not isinstance(data, dict) or data.get("f") != query_fingerprint or not isinstance(data.get("c"), list):
        raise InvalidInput(INVALID)
    return list(data["c"])

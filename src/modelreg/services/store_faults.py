"""Store failures as registry errors, in one place: what a store said becomes a status with its cause.

A store that cannot be reached is a 503 (retry later); one that answered no (access denied, a missing bucket, a
redirect, an error status, no credentials) is a 502: the caller did nothing wrong, the storage behind a connection
did. Neither is ever a 500, and the messages come from the stores, which never put secrets in them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from modelreg.blobs.base import BlobError, BlobNotFound, InvalidKey, SizeMismatch, StoreRefused, StoreUnreachable
from modelreg.errors import BadGateway, InvalidInput, NotFound, Unavailable


@contextmanager
def store_faults(what: str) -> Iterator[None]:
    """Run store calls; ``what`` (e.g. ``"reading 'w.bin' through connection 'minio'"``) starts the message."""
    try:
        yield
    except BlobNotFound as exc:
        raise NotFound(f"{what}: not found in its store ({exc.args[0] if exc.args else 'no such object'})") from None
    except StoreUnreachable as exc:
        raise Unavailable(f"{what}: {exc}") from None
    except (SizeMismatch, InvalidKey) as exc:
        raise InvalidInput(f"{what}: {exc}") from None
    except StoreRefused as exc:
        raise BadGateway(f"{what}: {exc}") from None
    except BlobError as exc:
        raise BadGateway(f"{what}: {exc}") from None

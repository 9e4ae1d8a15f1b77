"""Signing webhook deliveries: the Standard Webhooks scheme (https://www.standardwebhooks.com), so receivers can use
its libraries or ten lines of their own. Headers ``webhook-id`` (the event id), ``webhook-timestamp`` (Unix
seconds) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``); the secret is
``whsec_<base64 of 32 random bytes>`` and the HMAC key is those 32 bytes. The timestamp is in the signed content,
so a receiver that refuses old timestamps refuses replays.

The secret is stored encrypted (``SecretBox``) with the webhook's name as associated data (`sealed_for`), so a
ciphertext copied to another webhook's row does not decrypt."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SCHEME = "v1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sealed_for(webhook_name: str) -> str:
    """The associated data a webhook's secret is encrypted with (``SecretBox.encrypt(secret, sealed_for(name))``)."""
    return f"webhook:{webhook_name}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value."""
    return f"{SCHEME},{_signature(_key(secret), msg_id, timestamp, body)}"


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_seconds: int = 300, now: int | None = None
) -> bool:
    """The receiver's side (tests and the docs' recipe): the headers (any case) carry a signature of ``body`` by
    ``secret`` made within ``tolerance_seconds`` of ``now``. Any of several space-separated signatures may match
    (a sender may sign with an old and a new secret while one is rotated)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get(ID_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER, "")
    given = lowered.get(SIGNATURE_HEADER, "")
    if not msg_id or not stamp.isdigit():
        return False
    timestamp = int(stamp)
    if abs((int(time.time()) if now is None else now) - timestamp) > tolerance_seconds:
        return False
    try:
        expected = _signature(_key(secret), msg_id, timestamp, body)
    except ValueError:
        return False
    for candidate in given.split():
        scheme, _, value = candidate.partition(",")
        if scheme == SCHEME and hmac.compare_digest(value.encode(), expected.encode()):
            return True
    return False


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()

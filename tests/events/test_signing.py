"""Standard Webhooks signatures: what `signing.sign` makes, a receiver's ten lines of its own verify (so the scheme
is the documented one, not merely self-consistent), and `signing.verify` refuses what it must."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from modelreg.events import signing

BODY = b'{"specversion":"1.0","id":"42","type":"io.modelreg.registered_model.created"}'


def receivers_own_check(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """The documented recipe, written as a receiver would without modelreg's code."""
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.partition(",")[2] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, s) for s in given)


def signed_headers(secret: str, msg_id: str = "42", timestamp: int | None = None, body: bytes = BODY) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.sign(secret, msg_id, timestamp, body),
    }


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_a_signature_passes_the_receivers_own_check_and_verify() -> None:
    secret = signing.new_secret()
    headers = signed_headers(secret)
    assert headers["webhook-signature"].startswith("v1,")
    assert receivers_own_check(secret, headers, BODY)
    assert signing.verify(secret, headers, BODY)
    assert signing.verify(secret, {k.upper(): v for k, v in headers.items()}, BODY)  # header names in any case


def test_verify_refuses_another_body_id_secret_or_an_old_timestamp() -> None:
    secret = signing.new_secret()
    headers = signed_headers(secret)
    assert not signing.verify(secret, headers, BODY + b" ")
    assert not signing.verify(signing.new_secret(), headers, BODY)
    assert not signing.verify(secret, {**headers, "webhook-id": "43"}, BODY)
    old = signed_headers(secret, timestamp=int(time.time()) - 301)
    assert not signing.verify(secret, old, BODY) and not receivers_own_check(secret, old, BODY)
    assert signing.verify(secret, old, BODY, tolerance_seconds=600)  # the receiver's choice
    assert not signing.verify(secret, {**headers, "webhook-signature": ""}, BODY)
    assert not signing.verify(secret, {**headers, "webhook-timestamp": "soon"}, BODY)


def test_verify_accepts_any_of_several_signatures() -> None:
    """Rotation: a sender may sign with the old and the new secret at once."""
    old, new = signing.new_secret(), signing.new_secret()
    now = int(time.time())
    headers = signed_headers(new, timestamp=now)
    both = f"{signed_headers(old, timestamp=now)['webhook-signature']} {headers['webhook-signature']}"
    assert signing.verify(new, {**headers, "webhook-signature": both}, BODY)
    assert signing.verify(old, {**headers, "webhook-signature": both}, BODY)

"""Stateless CSRF tokens for visitors who have not logged in (the login form, flash messages before login).

A visitor costs no database write: the browser keeps a random nonce in the cookie ``modelreg_visitor`` (HttpOnly,
SameSite=Lax, Secure under https) and the page's token is HMAC-SHA256(key, nonce). A form post counts when its token
is the one of the nonce the browser sends (checked in constant time). Without the key, a cookie planted by a sibling
subdomain has no matching token, and the token cannot be read from the cookie. The key is derived from the storage
secret key (``SecretBox.derive_key``), which every process sharing a database already shares, so any of them
accepts the others' tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading

from modelreg.services.secrets import SecretBox

COOKIE = "modelreg_visitor"
PURPOSE = "ui-visitor-csrf"
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32)


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def well_formed(nonce: str | None) -> bool:
    """Whether ``nonce`` could be one of ours (anything else is replaced by a new one)."""
    return nonce is not None and _NONCE.fullmatch(nonce) is not None


class VisitorTokens:
    """The token of a visitor's nonce. The key is derived on first use (it may create ``<data_dir>/secret.key``)."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._box.derive_key(PURPOSE)
            return self._key

    def token(self, nonce: str) -> str:
        digest = hmac.new(self._secret(), b"visitor-csrf:" + nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

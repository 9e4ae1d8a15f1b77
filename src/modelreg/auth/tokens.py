"""What the authenticator needs from the token and role-binding store, as a protocol.

``services/access.py`` implements it over the database; ``auth`` sits below ``services`` (services check
permissions with ``auth.context``), so the authenticator names this protocol instead of importing the service.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Protocol

from modelreg.auth.principal import Identity, Role

TOKEN_PREFIX = "mrt_"  # every API token starts with it, so a bearer credential is told from a JWT without a lookup


def secret_hash(secret: str) -> str:
    """What is stored of a full-entropy secret (an API token, a UI session cookie): its SHA-256, hex. A fast hash is
    the right one: there is no guessable secret for a slow hash to protect, and every request computes one."""
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore(Protocol):
    """API tokens and the role bindings they (and other identities) are given roles by."""

    def identity_for_token(self, token: str) -> tuple[Identity, int | None]:
        """The identity a token stands for and when it expires (epoch ms, None for never); raises
        ``Unauthenticated`` for an unknown, revoked or expired token."""
        ...

    def binding_table(self) -> Mapping[tuple[str, str], frozenset[Role]]:
        """Every binding, as (subject kind, subject) → roles."""
        ...

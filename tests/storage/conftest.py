"""The governed server of ``tests/governance`` (callers of every role, on every backend) for the storage API."""

from __future__ import annotations

from governance.conftest import Governed, auth_server, gov, oidc_keys

__all__ = ["Governed", "auth_server", "gov", "oidc_keys"]

STORAGE = "/api/storage/v1"

"""A server with authentication on (API tokens, OIDC with a locally generated key, trusted proxy headers) on every
backend, and callers of each role: ``gov.client("admin")`` is an httpx client sending that caller's token.

The seed's setup: user ``ai-admin`` is admin, ``ai-developer`` developer, ``ai-viewer`` viewer (bound by user);
``group-admin``/``group-dev`` get their roles through the groups ``rhoai-admins``/``rhoai-users``; ``nobody``
has a token but no binding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import ServerThread, empty
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.services.access import AccessService
from modelreg.settings import AuthSettings, OidcSettings, ProxySettings, Settings

ISSUER = "https://keycloak.test/realms/platform"
AUDIENCE = "modelreg"
KID = "test-key-1"
REGISTRY = "/api/model_registry/v1alpha3"
GOVERNANCE = "/api/governance/v1"

# caller → (user, groups, bound role or None)
CALLERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("ai-admin", ()),
    "developer": ("ai-developer", ()),
    "viewer": ("ai-viewer", ()),
    "group-admin": ("group-admin", ("rhoai-admins",)),
    "group-developer": ("group-dev", ("rhoai-users",)),
    "nobody": ("nobody", ()),
}
BINDINGS = [
    ("user", "ai-admin", "admin"),
    ("user", "ai-developer", "developer"),
    ("user", "ai-viewer", "viewer"),
    ("group", "rhoai-admins", "admin"),
    ("group", "rhoai-users", "developer"),
]


@dataclass
class OidcKeys:
    """A signing key pair made for this test session, and its JWKS on disk."""

    private_key: Any
    jwks_file: Path

    def token(self, user: str, groups: list[str] | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"sub-{user}",
            "preferred_username": user,
            "groups": groups or [],
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers={"kid": KID})


@pytest.fixture(scope="session")
def oidc_keys(tmp_path_factory: pytest.TempPathFactory) -> OidcKeys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=KID, use="sig", alg="RS256")
    path = tmp_path_factory.mktemp("oidc") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return OidcKeys(key, path)


def auth_settings(oidc_keys: OidcKeys) -> AuthSettings:
    return AuthSettings(
        methods=["token", "oidc", "proxy"],
        cache_seconds=0,  # tests revoke and rebind, then expect the next request to see it
        oidc=OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_file=oidc_keys.jwks_file),
        proxy=ProxySettings(trusted_addresses=["127.0.0.1/32"]),
    )


@pytest.fixture(scope="session")
def auth_server(
    database: Database, oidc_keys: OidcKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    settings = Settings(
        database_url=database.url, data_dir=tmp_path_factory.mktemp("data"), auth=auth_settings(oidc_keys)
    )
    app = create_app(settings, database)
    with ServerThread(app) as running:
        running.app = app  # type: ignore[attr-defined]
        yield running


@dataclass
class Governed:
    """An empty registry behind ``auth_server`` with the bindings above and one API token per caller."""

    url: str
    database: Database
    access: AccessService
    oidc: OidcKeys
    tokens: dict[str, str] = field(default_factory=dict)
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, caller: str | None, prefix: str = REGISTRY, token: str | None = None) -> httpx.Client:
        """A client for ``prefix`` sending ``caller``'s token (``None``: no credentials; ``token`` overrides)."""
        headers = {}
        bearer = token if token is not None else (self.tokens[caller] if caller else None)
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        client = httpx.Client(base_url=f"{self.url}{prefix}", headers=headers, timeout=30)
        self._clients.append(client)
        return client

    def registry(self, caller: str | None) -> httpx.Client:
        return self.client(caller, REGISTRY)

    def governance(self, caller: str | None) -> httpx.Client:
        return self.client(caller, GOVERNANCE)


@pytest.fixture
def gov(auth_server: ServerThread, database: Database, oidc_keys: OidcKeys) -> Iterator[Governed]:
    empty(database)
    auth_server.app.state.authenticator.forget()  # type: ignore[attr-defined]
    access = AccessService(database)
    governed = Governed(auth_server.url, database, access, oidc_keys)
    with context.acting_as(context.cli_context()):
        for kind, subject, role in BINDINGS:
            access.create_binding(kind, subject, role)
        for caller, (user, groups) in CALLERS.items():
            governed.tokens[caller], _ = access.create_token(user, groups)
    yield governed
    for client in governed._clients:
        client.close()

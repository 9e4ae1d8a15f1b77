"""Authentication: every way of failing it is a 401 with ``WWW-Authenticate`` and the Kubeflow error body; valid
API tokens, OIDC JWTs and trusted proxy headers give the identity (and through bindings the roles) they carry;
token secrets never leave the server after creation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, update

from cli_runner import invoke_cli
from conftest import ServerThread
from governance.conftest import AUDIENCE, ISSUER, KID, Governed
from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db.database import Database
from modelreg.db.tables import api_tokens, audit_log
from modelreg.services import clock
from modelreg.settings import AuthSettings, ProxySettings, Settings

WHOAMI = "/whoami"


def unauthorized(response: httpx.Response, *fragments: str) -> str:
    """Assert a 401 with the challenge header and the ``{"code", "message"}`` body; return the message."""
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), dict(response.headers)
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == "Unauthorized" and body["message"], body
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body)
    return body["message"]


def get_with(gov: Governed, headers: dict[str, str], path: str = "/registered_models") -> httpx.Response:
    client = gov.client(None)
    return client.get(path, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(user: str = "ai-admin", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": f"sub-{user}",
        "preferred_username": user,
        "groups": [],
        "iat": now,
        "exp": now + 300,
        **overrides,
    }


def hand_made(header: dict[str, Any], payload: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if sign is None else sign(signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


# --- requests without valid credentials ------------------------------------------------------------------------


@pytest.mark.sqlite_only("refusals of missing or malformed credentials")
@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        pytest.param({}, "authentication required", id="no Authorization header"),
        pytest.param({"Authorization": "Basic YWktYWRtaW46c2VjcmV0"}, "Bearer", id="Basic"),
        pytest.param({"Authorization": "Bearer"}, "Bearer", id="Bearer without a value"),
        pytest.param({"Authorization": "Token mrt_abc"}, "Bearer", id="another scheme"),
        pytest.param({"Authorization": "Bearer not-a-token"}, "invalid", id="malformed token"),
        pytest.param({"Authorization": "Bearer a.b.c"}, "malformed", id="three dots but no JWT"),
        pytest.param({"Authorization": "Bearer mrt_" + "A" * 43}, "invalid API token", id="unknown mrt_ token"),
    ],
)
def test_no_valid_credentials(gov: Governed, headers: dict[str, str], fragment: str) -> None:
    for path in ("/registered_models", "/model_versions"):
        unauthorized(get_with(gov, headers, path), fragment)
    unauthorized(gov.client(None).post("/registered_models", json={"name": "x"}, headers=headers), fragment)
    unauthorized(gov.governance(None).get(WHOAMI, headers=headers), fragment)
    assert gov.registry("viewer").get("/registered_models").json()["items"] == []  # nothing was created


def test_expired_token(gov: Governed) -> None:
    with context.acting_as(context.cli_context()):
        secret, info = gov.access.create_token("ai-admin", (), timedelta(hours=1))
    bearer = {"Authorization": f"Bearer {secret}"}
    assert get_with(gov, bearer).status_code == 200
    with gov.database.write() as conn:
        conn.execute(update(api_tokens).where(api_tokens.c.id == info.id).values(expire_time=clock.now_ms() - 1000))
    message = unauthorized(get_with(gov, bearer), "expired")
    assert secret not in message


def test_token_revoked_through_the_rest_api(gov: Governed) -> None:
    created = gov.governance("admin").post("/tokens", json={"user": "ai-developer"})
    assert created.status_code == 201, created.text
    secret, token_id = created.json()["token"], created.json()["id"]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert gov.governance(None).get(WHOAMI, headers=bearer).json()["user"] == "ai-developer"
    revoked = gov.governance("admin").delete(f"/tokens/{token_id}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revokeTimeSinceEpoch"] is not None and revoked.json()["active"] is False
    message = unauthorized(get_with(gov, bearer), "revoked")
    assert secret not in message
    unauthorized(gov.client(None).post("/registered_models", json={"name": "x"}, headers=bearer), "revoked")


def test_token_revoked_through_the_cli(gov: Governed) -> None:
    with context.acting_as(context.cli_context()):
        secret, info = gov.access.create_token("ai-developer")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert get_with(gov, bearer).status_code == 200
    result = invoke_cli("token", "revoke", str(info.id), "--database-url", gov.database.url)
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    unauthorized(get_with(gov, bearer), "revoked")  # the fixture server caches nothing


# --- OIDC ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def bad_jwts(gov: Governed, other_key: rsa.RSAPrivateKey) -> dict[str, tuple[str, str]]:
    """name → (token, a fragment of the expected message)."""
    now = int(time.time())
    public_pem = gov.oidc.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "wrong signature (another key, same kid)": (
            jwt.encode(claims(), other_key, algorithm="RS256", headers={"kid": KID}),
            "signature",
        ),
        "wrong issuer": (gov.oidc.token("ai-admin", iss="https://evil.example/realms/platform"), "issuer"),
        "issuer that only starts like ours": (gov.oidc.token("ai-admin", iss=ISSUER + "-evil"), "issuer"),
        "wrong audience": (gov.oidc.token("ai-admin", aud="another-client"), "audience"),
        "expired": (gov.oidc.token("ai-admin", iat=now - 7200, exp=now - 3600), "expired"),
        "no exp": (
            jwt.encode(
                {k: v for k, v in claims().items() if k != "exp"},
                gov.oidc.private_key,
                algorithm="RS256",
                headers={"kid": KID},
            ),
            "exp",
        ),
        "unknown kid": (
            jwt.encode(claims(), gov.oidc.private_key, algorithm="RS256", headers={"kid": "not-ours"}),
            "unknown signing key",
        ),
        "not valid yet": (gov.oidc.token("ai-admin", nbf=now + 3600), "not yet valid"),
        "alg none": (hand_made({"alg": "none", "typ": "JWT", "kid": KID}, claims()), "not allowed"),
        "HS256 with the public key as secret": (
            hand_made(
                {"alg": "HS256", "typ": "JWT", "kid": KID},
                claims(),
                lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
            ),
            "not allowed",
        ),
        "payload changed after signing": (
            _swap_payload(gov.oidc.token("ai-viewer"), claims("ai-admin")),
            "signature",
        ),
    }


def _swap_payload(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(payload).encode())}.{signature}"


BAD_JWT_NAMES = [
    "wrong signature (another key, same kid)",
    "wrong issuer",
    "issuer that only starts like ours",
    "wrong audience",
    "expired",
    "no exp",
    "unknown kid",
    "not valid yet",
    "alg none",
    "HS256 with the public key as secret",
    "payload changed after signing",
]


@pytest.mark.sqlite_only("JWT checks, which never reach the database")
@pytest.mark.parametrize("name", BAD_JWT_NAMES)
def test_invalid_jwt(gov: Governed, other_key: rsa.RSAPrivateKey, name: str) -> None:
    token, fragment = bad_jwts(gov, other_key)[name]
    bearer = {"Authorization": f"Bearer {token}"}
    message = unauthorized(get_with(gov, bearer), fragment)
    signature = token.split(".")[2]
    assert token not in message and (not signature or signature not in message), message
    unauthorized(gov.client(None).post("/registered_models", json={"name": "x"}, headers=bearer))
    unauthorized(gov.governance(None).get(WHOAMI, headers=bearer))


def test_bad_jwt_list_is_complete(gov: Governed, other_key: rsa.RSAPrivateKey) -> None:
    assert sorted(bad_jwts(gov, other_key)) == sorted(BAD_JWT_NAMES)


@pytest.mark.parametrize(
    ("user", "groups", "roles"),
    [
        ("ai-admin", [], ["admin"]),
        ("ai-viewer", [], ["viewer"]),
        ("someone", ["rhoai-admins"], ["admin"]),
        ("someone", ["unrelated", "rhoai-users"], ["developer"]),
        ("ai-viewer", ["rhoai-users"], ["developer", "viewer"]),
        ("someone", [], []),
    ],
)
def test_valid_jwt_gives_identity_and_roles(gov: Governed, user: str, groups: list[str], roles: list[str]) -> None:
    bearer = {"Authorization": f"Bearer {gov.oidc.token(user, groups)}"}
    me = gov.governance(None).get(WHOAMI, headers=bearer)
    assert me.status_code == 200, me.text  # even without a binding: the caller can learn who it is
    if not roles:  # authenticated, but no binding: not even reads
        assert me.json()["roles"] == [], me.text
        assert gov.client(None).get("/registered_models", headers=bearer).status_code == 403
        created = gov.client(None).post("/registered_models", json={"name": "x"}, headers=bearer)
        assert created.status_code == 403, created.text
        return
    body = me.json()
    assert (body["user"], body["groups"], body["method"], body["roles"]) == (user, groups, "oidc", roles)
    created = gov.client(None).post("/registered_models", json={"name": f"by-{user}"}, headers=bearer)
    assert created.status_code == (201 if set(roles) & {"admin", "developer"} else 403), created.text


def test_jwt_groups_claim_as_string(gov: Governed) -> None:
    bearer = {"Authorization": f"Bearer {gov.oidc.token('someone', groups='rhoai-admins')}"}
    body = gov.governance(None).get(WHOAMI, headers=bearer).json()
    assert body["groups"] == ["rhoai-admins"] and body["roles"] == ["admin"], body


# --- proxy headers ---------------------------------------------------------------------------------------------


def test_proxy_headers_from_a_trusted_address(gov: Governed) -> None:
    me = gov.governance(None).get(WHOAMI, headers={"X-Remote-User": "ai-admin"})
    assert me.status_code == 200, me.text
    assert (me.json()["user"], me.json()["method"], me.json()["roles"]) == ("ai-admin", "proxy", ["admin"])
    headers = {"X-Remote-User": "someone", "X-Remote-Group": "unrelated, rhoai-users"}
    me = gov.governance(None).get(WHOAMI, headers=headers).json()
    assert (me["user"], me["groups"], me["roles"]) == ("someone", ["unrelated", "rhoai-users"], ["developer"])
    created = gov.client(None).post("/registered_models", json={"name": "via-proxy"}, headers=headers)
    assert created.status_code == 201, created.text
    viewer = gov.client(None).post("/registered_models", json={"name": "x"}, headers={"X-Remote-User": "ai-viewer"})
    assert viewer.status_code == 403, viewer.text


@pytest.fixture
def untrusting_server(gov: Governed, tmp_path: Path) -> Iterator[str]:
    """A second server on the same database that trusts proxy headers only from 10.0.0.0/8."""
    settings = Settings(
        database_url=gov.database.url,
        data_dir=tmp_path,
        auth=AuthSettings(
            methods=["token", "proxy"], cache_seconds=0, proxy=ProxySettings(trusted_addresses=["10.0.0.0/8"])
        ),
    )
    with ServerThread(create_app(settings, Database(gov.database.url))) as running:
        yield running.url


def test_proxy_headers_from_an_untrusted_address_are_ignored(gov: Governed, untrusting_server: str) -> None:
    with httpx.Client(base_url=untrusting_server, timeout=30) as client:
        unauthorized(client.get("/api/governance/v1/whoami", headers={"X-Remote-User": "ai-admin"}))
        unauthorized(
            client.post(
                "/api/model_registry/v1alpha3/registered_models",
                json={"name": "x"},
                headers={"X-Remote-User": "ai-admin", "X-Remote-Group": "rhoai-admins"},
            )
        )
        # with a token, the token's identity counts, not the headers
        headers = {"Authorization": f"Bearer {gov.tokens['viewer']}", "X-Remote-User": "ai-admin"}
        me = client.get("/api/governance/v1/whoami", headers=headers)
        assert me.status_code == 200, me.text
        assert (me.json()["user"], me.json()["roles"]) == ("ai-viewer", ["viewer"])
        refused = client.post("/api/model_registry/v1alpha3/registered_models", json={"name": "x"}, headers=headers)
        assert refused.status_code == 403, refused.text
    assert gov.registry("admin").get("/registered_models").json()["items"] == []


# --- secrets stay secret ---------------------------------------------------------------------------------------


def test_token_secrets_never_shown_again(gov: Governed) -> None:
    admin = gov.governance("admin")
    created = admin.post("/tokens", json={"user": "ci-bot", "groups": ["rhoai-users"], "expiresIn": "1d"})
    assert created.status_code == 201, created.text
    fresh = created.json()["token"]
    assert fresh.startswith("mrt_")
    revoked = admin.post("/tokens", json={"user": "old-bot"}).json()
    assert admin.delete(f"/tokens/{revoked['id']}").status_code == 200
    secrets = [*gov.tokens.values(), fresh, revoked["token"]]
    # use them: successful and failed requests, so that any logging of credentials would have a chance
    assert gov.client(None, token=fresh).post("/registered_models", json={"name": "by-bot"}).status_code == 201
    failed = gov.client(None, token=revoked["token"]).get("/registered_models")
    unauthorized(failed)
    forbidden = gov.registry("viewer").post("/registered_models", json={"name": "x"})
    assert forbidden.status_code == 403

    listed = admin.get("/tokens", params={"includeInactive": "true"})
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert len(items) == len(secrets), items
    assert all("token" not in item for item in items), items
    assert not any(s in listed.text for s in secrets)
    for response in (failed, forbidden, admin.delete(f"/tokens/{revoked['id']}")):
        assert not any(s in response.text for s in secrets), response.text

    with gov.database.read() as conn:
        rows = [json.dumps([*row], default=str) for row in conn.execute(select(audit_log))]
        hashes = {row[0] for row in conn.execute(select(api_tokens.c.token_hash))}
    assert any('"api_token"' in row for row in rows), "token creation was not audited"
    for row in rows:
        assert not any(s in row for s in secrets), row
        assert not any(h in row for h in hashes), row  # nor anything derived from them

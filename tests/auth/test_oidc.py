"""OIDC bearer tokens: signatures against a JWKS file or URL, the standard claims, identities from claims, and the
refusals (forged, expired, foreign, unsigned, HMAC-with-the-public-key). Keys are generated here; the JWKS URL is
served by a small HTTP server on 127.0.0.1, so nothing leaves the machine."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from modelreg.auth.oidc import OidcVerifier, looks_like_jwt
from modelreg.auth.principal import Identity
from modelreg.errors import Unauthenticated, Unavailable
from modelreg.settings import OidcSettings

ISSUER = "https://idp.example.com/realms/ml"
AUDIENCE = "modelreg"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(private_key: Any, kid: str | None, **extra: Any) -> dict[str, Any]:
    public = private_key.public_key()
    algorithm = RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm
    out = algorithm.to_jwk(public, as_dict=True)
    if kid is not None:
        out["kid"] = kid
    return {**out, **extra}


def jwks(*keys: dict[str, Any]) -> dict[str, Any]:
    return {"keys": list(keys)}


DEFAULT_JWKS = jwks(jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1"))


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid claim set; an override of ``None`` removes the claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "sub": "f3a1c2",
        "preferred_username": "alice",
        "groups": ["team-a", "team-b"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "rsa-1", **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A token PyJWT would refuse to produce (unsigned, HMAC over a public key, ...)."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def settings(**overrides: Any) -> OidcSettings:
    values: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "leeway_seconds": 30}
    values.update(overrides)
    return OidcSettings(**values)


def write_jwks(path: Path, document: dict[str, Any], mtime_ns: int | None = None) -> Path:
    path.write_text(json.dumps(document))
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    return write_jwks(tmp_path / "jwks.json", DEFAULT_JWKS)


@pytest.fixture
def verifier(jwks_file: Path) -> OidcVerifier:
    return OidcVerifier(settings(jwks_file=jwks_file))


def refused(verifier: OidcVerifier, bad_token: str) -> str:
    """The 401 message for ``bad_token``, checked not to echo the token (or its signature) back."""
    with pytest.raises(Unauthenticated) as caught:
        verifier.identify(bad_token)
    message = caught.value.message
    assert caught.value.status_code == 401
    for fragment in (bad_token, *bad_token.split(".")):
        if len(fragment) >= 16:
            assert fragment not in message
    return message


# --- valid tokens -------------------------------------------------------------------------------------------


def test_rs256_token_gives_user_and_groups(verifier: OidcVerifier) -> None:
    assert verifier.identify(token()) == Identity("alice", ("team-a", "team-b"), "oidc")


def test_es256_token_gives_user_and_groups(verifier: OidcVerifier) -> None:
    identity = verifier.identify(token(EC_KEY, "ES256", "ec-1", preferred_username="bob", groups=["ops"]))
    assert identity == Identity("bob", ("ops",), "oidc")


def test_token_without_kid_is_checked_against_every_fitting_key(tmp_path: Path) -> None:
    path = write_jwks(tmp_path / "jwks.json", jwks(jwk(OTHER_RSA_KEY, None), jwk(RSA_KEY, None)))
    verifier = OidcVerifier(settings(jwks_file=path))
    assert verifier.identify(token(kid=None)).user == "alice"
    assert refused(verifier, token(rsa.generate_private_key(65537, 2048), kid=None)) == "token signature is invalid"


def test_audience_may_be_a_list(verifier: OidcVerifier) -> None:
    assert verifier.identify(token(aud=["account", AUDIENCE])).user == "alice"


def test_expiry_within_the_leeway_is_accepted(verifier: OidcVerifier) -> None:
    assert verifier.identify(token(exp=int(time.time()) - 10)).user == "alice"


@pytest.mark.parametrize(
    ("groups_claim", "extra", "expected"),
    [
        ("groups", {"groups": "solo"}, ("solo",)),
        ("groups", {"groups": ["a", "b", "a", ""]}, ("a", "b")),
        ("groups", {"groups": []}, ()),
        ("groups", {"groups": None}, ()),  # absent
        ("realm_access.roles", {"realm_access": {"roles": ["ml-dev", "offline_access"]}}, ("ml-dev", "offline_access")),
        ("realm_access.roles", {}, ()),
        ("realm_access.roles", {"realm_access": "not-an-object"}, ()),
        ("resource_access.my.app.roles", {"resource_access": {"my.app": {"roles": ["admin"]}}}, ("admin",)),
        ("https://example.com/groups", {"https://example.com/groups": ["ns"]}, ("ns",)),
    ],
)
def test_groups_claim_shapes(
    jwks_file: Path, groups_claim: str, extra: dict[str, Any], expected: tuple[str, ...]
) -> None:
    verifier = OidcVerifier(settings(jwks_file=jwks_file, groups_claim=groups_claim))
    assert verifier.identify(token(**extra)).groups == expected


@pytest.mark.parametrize("groups", [[1, 2], {"a": 1}, 7, ["ok", None]])
def test_groups_of_another_shape_are_refused(verifier: OidcVerifier, groups: Any) -> None:
    assert refused(verifier, token(groups=groups)) == "token claim 'groups' must be a string or a list of strings"


def test_user_claim_is_configurable(jwks_file: Path) -> None:
    verifier = OidcVerifier(settings(jwks_file=jwks_file, user_claim="sub"))
    assert verifier.identify(token()).user == "f3a1c2"


# --- refusals -----------------------------------------------------------------------------------------------


def test_token_signed_by_another_key_is_refused(verifier: OidcVerifier) -> None:
    assert refused(verifier, token(OTHER_RSA_KEY)) == "token signature is invalid"


def test_tampered_payload_is_refused(verifier: OidcVerifier) -> None:
    header, _, signature = token().split(".")
    forged_payload = b64(json.dumps(claims(preferred_username="admin")).encode())
    assert refused(verifier, f"{header}.{forged_payload}.{signature}") == "token signature is invalid"


@pytest.mark.parametrize("iss", ["https://evil.example.com/realms/ml", ISSUER[:-1], ISSUER + "/", ""])
def test_foreign_issuer_is_refused(verifier: OidcVerifier, iss: str) -> None:
    assert refused(verifier, token(iss=iss)) == f"token issuer {iss!r} is not trusted"


def test_missing_issuer_is_refused(verifier: OidcVerifier) -> None:
    assert refused(verifier, token(iss=None)) == "token has no 'iss' claim"


@pytest.mark.parametrize("aud", ["other-client", ["account", "other-client"], AUDIENCE + "x"])
def test_foreign_audience_is_refused(verifier: OidcVerifier, aud: Any) -> None:
    assert refused(verifier, token(aud=aud)) == "token audience does not include 'modelreg'"


def test_missing_audience_is_refused(verifier: OidcVerifier) -> None:
    assert refused(verifier, token(aud=None)) == "token has no 'aud' claim"


def test_expired_token_is_refused(verifier: OidcVerifier) -> None:
    assert refused(verifier, token(exp=int(time.time()) - 60)) == "token expired"


def test_token_without_expiry_is_refused(verifier: OidcVerifier) -> None:
    assert refused(verifier, token(exp=None)) == "token has no 'exp' claim"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_token_not_yet_valid_is_refused(verifier: OidcVerifier, claim: str) -> None:
    assert refused(verifier, token(**{claim: int(time.time()) + 120})) == "token is not yet valid"
    assert verifier.identify(token(**{claim: int(time.time()) + 10})).user == "alice"  # within the leeway


@pytest.mark.parametrize("user", [None, "", "   ", 42, ["alice"]])
def test_token_without_a_usable_user_claim_is_refused(verifier: OidcVerifier, user: Any) -> None:
    assert "'preferred_username'" in refused(verifier, token(preferred_username=user))


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_token_is_refused(verifier: OidcVerifier, alg: str) -> None:
    unsigned = hand_made({"alg": alg, "typ": "JWT", "kid": "rsa-1"}, claims())
    assert unsigned.endswith(".")
    assert refused(verifier, unsigned) == f"token algorithm {alg!r} is not allowed"


@pytest.mark.parametrize("alg", ["HS256", "HS512"])
def test_hmac_token_keyed_with_the_public_key_is_refused(verifier: OidcVerifier, alg: str) -> None:
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": alg, "typ": "JWT", "kid": "rsa-1"}
    signing_input = hand_made(header, claims()).rsplit(".", 1)[0]
    digest = hashlib.sha256 if alg == "HS256" else hashlib.sha512
    signature = hmac.new(pem, signing_input.encode(), digest).digest()
    forged = f"{signing_input}.{b64(signature)}"
    assert refused(verifier, forged) == f"token algorithm {alg!r} is not allowed"


def test_algorithm_must_fit_the_named_key(verifier: OidcVerifier) -> None:
    # An EC-signed token claiming the RSA key, and an RSA-signed one claiming the EC key.
    assert refused(verifier, token(EC_KEY, "ES256", "rsa-1")) == "token algorithm 'ES256' does not fit its signing key"
    assert refused(verifier, token(RSA_KEY, "RS256", "ec-1")) == "token algorithm 'RS256' does not fit its signing key"


def test_ec_algorithm_must_fit_the_curve(tmp_path: Path) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    path = write_jwks(tmp_path / "jwks.json", jwks(jwk(EC_KEY, "ec-256"), jwk(p384, "ec-384")))
    verifier = OidcVerifier(settings(jwks_file=path))
    assert verifier.identify(token(p384, "ES384", "ec-384")).user == "alice"
    assert refused(verifier, token(EC_KEY, "ES256", "ec-384")) == "token algorithm 'ES256' does not fit its signing key"


def test_algorithm_pinned_by_the_jwk_is_enforced(tmp_path: Path) -> None:
    path = write_jwks(tmp_path / "jwks.json", jwks(jwk(RSA_KEY, "rsa-1", alg="RS256")))
    verifier = OidcVerifier(settings(jwks_file=path))
    assert verifier.identify(token()).user == "alice"
    assert refused(verifier, token(alg="PS256")) == "token algorithm 'PS256' does not fit its signing key"


def test_algorithm_outside_the_configured_list_is_refused(jwks_file: Path) -> None:
    verifier = OidcVerifier(settings(jwks_file=jwks_file, algorithms=["ES256"]))
    assert verifier.identify(token(EC_KEY, "ES256", "ec-1")).user == "alice"
    assert refused(verifier, token()) == "token algorithm 'RS256' is not allowed"


def test_unknown_kid_is_refused(verifier: OidcVerifier) -> None:
    assert refused(verifier, token(kid="rsa-2")) == "unknown signing key"


def _header(**fields: Any) -> str:
    return b64(json.dumps(fields).encode())


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b.c",
        "...",
        "Bearer abc",
        "sha256~Zm9vYmFy",
        "ä.ö.ü",
        "eyJhbGciOiJSUzI1NiJ9.garbage.sig",
        f"{b64(b'not json')}.{b64(b'{}')}.c2ln",
        f"{b64(b'[1, 2]')}.{b64(b'{}')}.c2ln",
        f"{_header(typ='JWT')}.{b64(b'{}')}.c2ln",  # no alg
        f"{_header(alg='RS256', kid=7)}.{b64(b'{}')}.c2ln",  # kid not a string
        f"{_header(alg=['RS256'])}.{b64(b'{}')}.c2ln",
    ],
)
def test_garbage_is_a_malformed_token(verifier: OidcVerifier, garbage: str) -> None:
    assert refused(verifier, garbage) == "malformed token"


def test_signed_payload_that_is_not_an_object_is_malformed(verifier: OidcVerifier) -> None:
    signed_list = jwt.api_jws.encode(b"[1, 2]", RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
    assert refused(verifier, signed_list) == "malformed token"


# --- JWKS file ----------------------------------------------------------------------------------------------


def test_jwks_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = write_jwks(tmp_path / "jwks.json", jwks(jwk(RSA_KEY, "rsa-1")), mtime_ns=1_000_000_000_000_000_000)
    verifier = OidcVerifier(settings(jwks_file=path))
    rotated = token(OTHER_RSA_KEY, kid="rsa-2")
    assert refused(verifier, rotated) == "unknown signing key"
    write_jwks(path, jwks(jwk(RSA_KEY, "rsa-1"), jwk(OTHER_RSA_KEY, "rsa-2")), mtime_ns=1_000_000_001_000_000_000)
    assert verifier.identify(rotated).user == "alice"


def test_jwks_file_is_not_reread_per_call(jwks_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = OidcVerifier(settings(jwks_file=jwks_file))
    reads: list[Path] = []
    original = Path.read_bytes

    def counting_read_bytes(self: Path) -> bytes:
        reads.append(self)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", counting_read_bytes)
    for _ in range(20):
        verifier.identify(token())
    assert reads == []
    os.utime(jwks_file, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    verifier.identify(token())
    verifier.identify(token())
    assert reads == [jwks_file]


def test_broken_jwks_file_keeps_the_keys_read_before(jwks_file: Path) -> None:
    verifier = OidcVerifier(settings(jwks_file=jwks_file))
    jwks_file.write_text('{"keys": [')  # half-written
    os.utime(jwks_file, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    assert verifier.identify(token()).user == "alice"
    jwks_file.unlink()
    assert verifier.identify(token()).user == "alice"


# --- JWKS URL -----------------------------------------------------------------------------------------------


class JwksServer:
    """Serves ``document`` as the JWKS (or ``status`` / ``body`` when set) and counts the requests."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = DEFAULT_JWKS
        self.status = 200
        self.body: bytes | None = None
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = outer.body if outer.body is not None else json.dumps(outer.document).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/realms/ml/protocol/openid-connect/certs"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[JwksServer]:
    srv = JwksServer()
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    thread.join(5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_jwks_url_is_fetched_once_and_cached(server: JwksServer, clock: FakeClock) -> None:
    verifier = OidcVerifier(settings(jwks_url=server.url), clock=clock)
    assert server.hits == 0  # fetched on first use, not at construction
    for _ in range(5):
        assert verifier.identify(token()).user == "alice"
        assert verifier.identify(token(EC_KEY, "ES256", "ec-1")).user == "alice"
        clock.now += 100
    assert server.hits == 1


def test_key_rotation_refetches_at_most_once_per_interval(server: JwksServer, clock: FakeClock) -> None:
    verifier = OidcVerifier(settings(jwks_url=server.url), clock=clock)
    assert verifier.identify(token()).user == "alice"
    assert server.hits == 1

    rotated = token(OTHER_RSA_KEY, kid="rsa-2")
    assert refused(verifier, rotated) == "unknown signing key"
    assert server.hits == 2  # the unknown kid caused one refetch
    assert refused(verifier, rotated) == "unknown signing key"
    assert refused(verifier, token(OTHER_RSA_KEY, kid="made-up")) == "unknown signing key"
    assert server.hits == 2  # ... and no more within 30 s

    server.document = jwks(jwk(RSA_KEY, "rsa-1"), jwk(OTHER_RSA_KEY, "rsa-2"))
    clock.now += 29
    assert refused(verifier, rotated) == "unknown signing key"
    assert server.hits == 2
    clock.now += 2
    assert verifier.identify(rotated).user == "alice"
    assert server.hits == 3
    assert verifier.identify(rotated).user == "alice"
    assert verifier.identify(token()).user == "alice"
    assert server.hits == 3


def test_new_key_already_published_works_at_once(server: JwksServer, clock: FakeClock) -> None:
    verifier = OidcVerifier(settings(jwks_url=server.url), clock=clock)
    assert verifier.identify(token()).user == "alice"
    server.document = jwks(jwk(OTHER_RSA_KEY, "rsa-2"))  # the old key is gone from the provider
    assert verifier.identify(token(OTHER_RSA_KEY, kid="rsa-2")).user == "alice"
    assert server.hits == 2


def test_unreachable_jwks_url_is_unavailable(clock: FakeClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/certs"  # nothing listens there any more
    verifier = OidcVerifier(settings(jwks_url=url), clock=clock)
    with pytest.raises(Unavailable) as caught:
        verifier.identify(token())
    assert caught.value.status_code == 503
    assert caught.value.message.startswith(f"cannot fetch the OIDC signing keys from {url}: ")


def test_failing_jwks_url_is_unavailable_until_it_recovers(server: JwksServer, clock: FakeClock) -> None:
    verifier = OidcVerifier(settings(jwks_url=server.url), clock=clock)
    server.status = 500
    with pytest.raises(Unavailable, match=r"cannot fetch the OIDC signing keys from .*: HTTP 500"):
        verifier.identify(token())
    with pytest.raises(Unavailable, match="HTTP 500"):
        verifier.identify(token())
    assert server.hits == 1  # a down provider is not asked again on every request

    server.status = 200
    clock.now += 31
    assert verifier.identify(token()).user == "alice"
    assert server.hits == 2


@pytest.mark.parametrize(
    "body", [b"<html>login</html>", b'{"keys": "nope"}', b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}']
)
def test_jwks_url_serving_no_usable_keys_is_unavailable(server: JwksServer, clock: FakeClock, body: bytes) -> None:
    server.body = body
    verifier = OidcVerifier(settings(jwks_url=server.url), clock=clock)
    with pytest.raises(Unavailable, match="cannot fetch the OIDC signing keys from"):
        verifier.identify(token())


def test_jwks_entries_for_encryption_or_symmetric_keys_are_ignored(server: JwksServer, clock: FakeClock) -> None:
    server.document = jwks(
        {"kty": "oct", "k": b64(b"secret"), "kid": "hmac"},
        jwk(OTHER_RSA_KEY, "rsa-1", use="enc"),  # same kid as the signing key, but for encryption
        jwk(RSA_KEY, "rsa-1", use="sig"),
    )
    verifier = OidcVerifier(settings(jwks_url=server.url), clock=clock)
    assert verifier.identify(token()).user == "alice"
    assert refused(verifier, token(OTHER_RSA_KEY)) == "token signature is invalid"


# --- construction -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"issuer": None}, "auth.oidc.issuer is required"),
        ({"audience": None}, "auth.oidc.audience is required"),
        ({"issuer": ""}, "auth.oidc.issuer is required"),
        ({"jwks_file": None}, "exactly one of auth.oidc.jwks_url and auth.oidc.jwks_file"),
        ({"jwks_url": "https://idp.example.com/certs"}, "exactly one of auth.oidc.jwks_url and auth.oidc.jwks_file"),
        ({"algorithms": ["RS256", "HS256"]}, "'HS256' is not allowed"),
        ({"algorithms": ["none"]}, "'none' is not allowed"),
        ({"algorithms": []}, "at least one algorithm"),
        ({"user_claim": ""}, "user_claim must not be empty"),
    ],
)
def test_invalid_settings_fail_at_construction(jwks_file: Path, overrides: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match="invalid OIDC settings") as caught:
        OidcVerifier(settings(**{"jwks_file": jwks_file, **overrides}))
    assert complaint in str(caught.value)


def test_jwks_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="must be an http"):
        OidcVerifier(settings(jwks_url="file:///etc/passwd"))


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (None, "No such file"),
        ("not json", "not JSON"),
        ('{"kty": "RSA"}', "not a JWKS document"),
        (json.dumps(jwks({"kty": "oct", "k": "c2VjcmV0"}, jwk(RSA_KEY, "e", use="enc"))), "no usable signing keys"),
    ],
)
def test_unreadable_jwks_file_fails_at_construction(tmp_path: Path, content: str | None, complaint: str) -> None:
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=f"cannot load the OIDC signing keys from {path}") as caught:
        OidcVerifier(settings(jwks_file=path))
    assert complaint in str(caught.value)


# --- looks_like_jwt -----------------------------------------------------------------------------------------


def test_looks_like_jwt() -> None:
    assert looks_like_jwt(token())
    assert looks_like_jwt(token(EC_KEY, "ES256", "ec-1"))
    assert looks_like_jwt(hand_made({"alg": "none"}, {}))  # unsigned: routed here, then refused with a reason
    for other in ["", "abc", "a.b", "a.b.c.d", ".b.c", "a..c", "a+b.c.d", "a.b.c ", "sha256~abcdef", "mr_abc.def"]:
        assert not looks_like_jwt(other), other

"""JWT bearer tokens from an OIDC provider (Keycloak, the OpenShift OAuth server, ...).

The provider's public signing keys come from a JWKS document: a file on disk (re-read when it changes, e.g. a
mounted ConfigMap) or a URL (fetched on first use and again when a token names a key we have not seen, which is
how providers rotate keys). Only asymmetric algorithms are accepted, and a token's algorithm must fit the key it
names, so neither ``alg: none`` nor HMAC-with-the-public-key ("algorithm confusion") can get through.

Error messages are short and specific and never contain the token: they end up in responses and logs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from modelreg import tls
from modelreg.auth.principal import Identity
from modelreg.errors import Unauthenticated, Unavailable
from modelreg.settings import OidcSettings

if TYPE_CHECKING:
    from jwt.types import Options  # the TypedDict of jwt.decode(options=...): the checker needs it, not the server

log = logging.getLogger(__name__)

JWKS_REFETCH_SECONDS = 30.0
"""At most one refetch of the JWKS URL per this many seconds, so tokens with made-up ``kid`` s cannot make us
hammer the provider."""

JWKS_FETCH_TIMEOUT_SECONDS = 5.0

_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES256K": ec.SECP256K1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
SUPPORTED_ALGORITHMS: frozenset[str] = _RSA_ALGORITHMS | _EC_CURVES.keys() | {"EdDSA"}
"""Asymmetric algorithms only: a JWKS holds public keys, and HMAC with a public key as secret is forgeable."""

_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_MISSING = object()


def looks_like_jwt(token: str) -> bool:
    """Whether ``token`` has the shape of a compact JWS (three base64url segments), so a caller can route it here
    rather than to another verifier. Cheap; says nothing about validity. An empty signature still counts, so that
    unsigned (``alg: none``) tokens get the precise refusal from :meth:`OidcVerifier.identify`."""
    return _JWT_SHAPE.fullmatch(token) is not None


@dataclass(frozen=True)
class _Key:
    kid: str | None
    alg: str | None  # the JWK's own "alg", when it pins one
    key: Any  # a cryptography public key object

    def fits(self, alg: str) -> bool:
        """Whether a token signed with ``alg`` may be verified with this key (the algorithm-confusion guard)."""
        if self.alg is not None and self.alg != alg:
            return False
        if alg in _RSA_ALGORITHMS:
            return isinstance(self.key, rsa.RSAPublicKey)
        if alg in _EC_CURVES:
            return isinstance(self.key, ec.EllipticCurvePublicKey) and isinstance(self.key.curve, _EC_CURVES[alg])
        if alg == "EdDSA":
            return isinstance(self.key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
        return False


@dataclass(frozen=True)
class _KeySet:
    keys: tuple[_Key, ...] = ()

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(k.kid for k in self.keys if k.kid is not None)


def _parse_jwks(raw: bytes) -> _KeySet:
    """The usable signing keys of a JWKS document; ``ValueError`` if there are none (a broken document)."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError('not a JWKS document (no "keys" list)')
    keys: list[_Key] = []
    for entry in doc["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") == "oct":
            continue  # encryption keys and symmetric secrets never verify a token here
        try:
            jwk = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            log.debug("skipping JWKS entry kid=%r: %s", entry.get("kid"), exc)
            continue
        key = jwk.key
        if isinstance(
            key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
        ):
            key = key.public_key()  # a JWKS should not carry private parts, but verifying needs only the public one
        kid = entry.get("kid")
        alg = entry.get("alg")
        keys.append(_Key(kid if isinstance(kid, str) else None, alg if isinstance(alg, str) else None, key))
    if not keys:
        raise ValueError("no usable signing keys in the JWKS document")
    return _KeySet(tuple(keys))


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at ``path``: a top-level name first (namespaced claims like ``https://x.io/groups`` contain dots),
    else a dotted path into nested objects (Keycloak's ``realm_access.roles``, ``resource_access.my.app.roles``)."""
    if path in claims:
        return claims[path]
    for i, char in enumerate(path):
        if char == ".":
            inner = claims.get(path[:i])
            if isinstance(inner, Mapping):
                found = _claim(inner, path[i + 1 :])
                if found is not _MISSING:
                    return found
    return _MISSING


def _short(value: Any) -> str:
    """An attacker-influenced value, quoted and cut short, for an error message."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= 80 else text[:77] + "...")


class OidcVerifier:
    """Verifies JWT bearer tokens as issued by Keycloak or an OpenShift OAuth server."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        refetch_seconds: float = JWKS_REFETCH_SECONDS,
    ) -> None:
        """Check the settings and load a JWKS file now, so misconfiguration stops the server at start rather
        than failing every request. A JWKS URL is fetched on first use: the provider may start after us."""
        problems: list[str] = []
        if not settings.issuer:
            problems.append("auth.oidc.issuer is required (tokens from any issuer would be trusted otherwise)")
        if not settings.audience:
            problems.append("auth.oidc.audience is required (tokens for any client would be accepted otherwise)")
        if bool(settings.jwks_url) == bool(settings.jwks_file):
            problems.append("exactly one of auth.oidc.jwks_url and auth.oidc.jwks_file must be set")
        if settings.jwks_url and not str(settings.jwks_url).startswith(("https://", "http://")):
            problems.append(f"auth.oidc.jwks_url must be an http(s) URL, not {settings.jwks_url!r}")
        if not settings.user_claim:
            problems.append("auth.oidc.user_claim must not be empty")
        if not settings.algorithms:
            problems.append("auth.oidc.algorithms must name at least one algorithm")
        for alg in settings.algorithms:
            if alg not in SUPPORTED_ALGORITHMS:
                problems.append(
                    f"auth.oidc.algorithms: {alg!r} is not allowed; use asymmetric ones: "
                    + ", ".join(sorted(SUPPORTED_ALGORITHMS))
                )
        if settings.leeway_seconds < 0:
            problems.append("auth.oidc.leeway_seconds must not be negative")
        if problems:
            raise ValueError("invalid OIDC settings: " + "; ".join(problems))

        self._issuer: str = settings.issuer or ""  # both checked above: never empty here
        self._audience: str = settings.audience or ""
        self._algorithms = frozenset(settings.algorithms)
        self._user_claim: str = settings.user_claim
        self._groups_claim: str | None = settings.groups_claim or None
        self._leeway = float(settings.leeway_seconds)
        self._url: str | None = settings.jwks_url
        self._file: Path | None = Path(settings.jwks_file) if settings.jwks_file else None
        self._clock = clock
        self._refetch_seconds = refetch_seconds

        self._lock = threading.Lock()
        self._keys = _KeySet()
        self._file_stamp: tuple[int, int, int] | None = None  # (mtime_ns, size, inode) of the file last read
        self._bad_stamp: tuple[int, int, int] | None = None  # ... of a version that could not be read
        self._next_fetch: float | None = None  # clock() before which the URL is not fetched again
        self._fetch_error: str | None = None  # why the last fetch failed, until one succeeds

        if self._file is not None:
            try:
                stamp = self._stat(self._file)
                self._keys = _parse_jwks(self._file.read_bytes())
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot load the OIDC signing keys from {self._file}: {exc}") from None
            self._file_stamp = stamp

    def identify(self, token: str) -> Identity:
        """The identity a valid token asserts; ``Unauthenticated`` with a specific reason otherwise,
        ``Unavailable`` if the signing keys cannot be fetched."""
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthenticated("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or (kid is not None and not isinstance(kid, str)):
            raise Unauthenticated("malformed token")
        if alg not in self._algorithms:
            raise Unauthenticated(f"token algorithm {_short(alg)} is not allowed")

        keys = self._keys_for(kid)
        # The key the token names, and keys that name none (they may have signed anything).
        candidates = [k for k in keys.keys if kid is None or k.kid in (kid, None)]
        fitting = [k for k in candidates if k.fits(alg)]
        if not fitting:
            if candidates and (kid is None or kid in keys.kids):
                raise Unauthenticated(f"token algorithm {_short(alg)} does not fit its signing key")
            raise Unauthenticated("unknown signing key")

        claims = self._verified_claims(token, alg, fitting)
        return Identity(user=self._user(claims), groups=self._groups(claims), method="oidc")

    # --- verification -------------------------------------------------------------------------------------

    def _verified_claims(self, token: str, alg: str, candidates: Iterable[_Key]) -> dict[str, Any]:
        """Signature first (trying each candidate key), then the claims; PyJWT checks them in that order, so a
        claim error below means the signature was good. The issuer is compared here rather than by PyJWT, to name
        it in the message (and because PyJWT 2.10.0 matched substrings)."""
        options: Options = {"require": ["exp", "iss", "aud"], "strict_aud": False}
        for candidate in candidates:
            try:
                claims = jwt.decode(
                    token,
                    candidate.key,
                    algorithms=[alg],
                    audience=self._audience,
                    leeway=self._leeway,
                    options=options,
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise Unauthenticated("token expired") from None
            except jwt.ImmatureSignatureError:
                raise Unauthenticated("token is not yet valid") from None
            except jwt.InvalidAudienceError:
                raise Unauthenticated(f"token audience does not include {self._audience!r}") from None
            except jwt.MissingRequiredClaimError as exc:
                raise Unauthenticated(f"token has no {exc.claim!r} claim") from None
            except jwt.InvalidIssuedAtError:
                raise Unauthenticated("token has an invalid 'iat' claim") from None
            except jwt.DecodeError:
                raise Unauthenticated("malformed token") from None
            except (jwt.PyJWTError, ValueError, TypeError):
                raise Unauthenticated("invalid token") from None
            if claims["iss"] != self._issuer:
                raise Unauthenticated(f"token issuer {_short(claims.get('iss'))} is not trusted")
            return claims
        raise Unauthenticated("token signature is invalid")

    def _user(self, claims: Mapping[str, Any]) -> str:
        user = _claim(claims, self._user_claim)
        if user is _MISSING or user is None:
            raise Unauthenticated(f"token has no {self._user_claim!r} claim")
        if not isinstance(user, str) or not user.strip():
            raise Unauthenticated(f"token claim {self._user_claim!r} must be a non-empty string")
        return user

    def _groups(self, claims: Mapping[str, Any]) -> tuple[str, ...]:
        """A list of strings, one string, or nothing. Anything else is refused rather than guessed at."""
        if self._groups_claim is None:
            return ()
        groups = _claim(claims, self._groups_claim)
        if groups is _MISSING or groups is None:
            return ()
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise Unauthenticated(f"token claim {self._groups_claim!r} must be a string or a list of strings")
        return tuple(dict.fromkeys(g for g in groups if g))

    # --- signing keys -------------------------------------------------------------------------------------

    def _keys_for(self, kid: str | None) -> _KeySet:
        """The current key set, refreshed if the file changed or (for a URL) on first use and on an unknown kid."""
        url = self._url
        if url is None:
            assert self._file is not None  # exactly one of the two, checked in __init__
            self._reload_file_if_changed(self._file)
            return self._keys
        keys = self._keys
        if keys.keys and (kid is None or kid in keys.kids):
            return keys  # the fast path: no lock, no I/O
        with self._lock:
            keys = self._keys
            if keys.keys and (kid is None or kid in keys.kids):
                return keys  # another thread fetched while we waited
            now = self._clock()
            if self._next_fetch is not None and now < self._next_fetch:
                if self._fetch_error is not None:
                    raise Unavailable(self._fetch_error)
                return keys  # refetched recently: the kid is unknown, not new
            try:
                fetched = self._fetch(url)
            except Unavailable as exc:
                self._fetch_error = exc.message
                self._next_fetch = now + self._refetch_seconds  # a provider that is down is not asked per request
                raise
            self._fetch_error = None
            if keys.keys:  # a refetch; the first load does not count, so a kid new since then is found at once
                self._next_fetch = now + self._refetch_seconds
            self._keys = fetched
            return fetched

    @staticmethod
    def _fetch(url: str) -> _KeySet:
        try:
            response = httpx.get(
                url,
                timeout=JWKS_FETCH_TIMEOUT_SECONDS,
                headers={"Accept": "application/json"},
                verify=tls.default_context(),
            )
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            keys = _parse_jwks(response.content)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            log.warning("cannot fetch the OIDC signing keys from %s: %s", url, reason)
            raise Unavailable(f"cannot fetch the OIDC signing keys from {url}: {reason}") from None
        log.info("fetched %d OIDC signing key(s) from %s", len(keys.keys), url)
        return keys

    @staticmethod
    def _stat(path: Path) -> tuple[int, int, int]:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload_file_if_changed(self, path: Path) -> None:
        """One stat per call; a re-read only when the file changed. A file that is missing or broken for a moment
        (being rewritten) keeps the keys we have, and is read again once it changes once more."""
        try:
            stamp = self._stat(path)
        except OSError as exc:
            if self._file_stamp is not None:
                log.warning("cannot stat the OIDC signing keys file %s, keeping the keys read before: %s", path, exc)
                self._file_stamp = None
            return
        if stamp in (self._file_stamp, self._bad_stamp):
            return
        with self._lock:
            if stamp in (self._file_stamp, self._bad_stamp):
                return
            try:
                self._keys = _parse_jwks(path.read_bytes())
            except (OSError, ValueError) as exc:
                log.warning("cannot read the OIDC signing keys from %s, keeping the keys read before: %s", path, exc)
                self._bad_stamp = stamp
                return
            self._file_stamp = stamp
            log.info("read %d OIDC signing key(s) from %s", len(self._keys.keys), path)

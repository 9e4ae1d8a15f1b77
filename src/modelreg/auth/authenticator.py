"""Turns request credentials into a ``Principal``: an identity from one of the enabled methods, plus the roles its
user and groups are bound to.

Verified credentials and the binding table are kept for ``cache_seconds`` (2 s by default), so most requests cost
no database round trip. The price: a revoked token or a deleted binding stops working within that time on other
server processes; in the process that made the change it stops at once (``forget``).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import threading
import time
from collections.abc import Callable, Mapping

import jwt

from modelreg.auth.oidc import OidcVerifier, looks_like_jwt
from modelreg.auth.principal import Identity, Principal, Role
from modelreg.auth.tokens import TOKEN_PREFIX, TokenStore
from modelreg.errors import Unauthenticated
from modelreg.settings import AuthSettings

LOCAL = Principal(Identity("anonymous", (), "local"), frozenset({Role.ADMIN}))
_MAX_CACHED = 10_000


class Authenticator:
    def __init__(self, settings: AuthSettings, tokens: TokenStore, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.methods = frozenset(settings.methods)
        self.tokens = tokens
        self._clock = clock
        self._ttl = settings.cache_seconds
        self._verified: dict[str, tuple[float, Identity]] = {}  # sha256(credential) → (valid until, identity)
        self._bindings: tuple[float, Mapping[tuple[str, str], frozenset[Role]]] = (-1.0, {})
        self._lock = threading.Lock()
        self._oidc = OidcVerifier(settings.oidc) if "oidc" in self.methods else None
        self._trusted = [ipaddress.ip_network(a, strict=False) for a in settings.proxy.trusted_addresses]
        self._trusted_clients: dict[str, bool] = {}
        self._user_header = settings.proxy.user_header.lower().encode()
        self._groups_header = settings.proxy.groups_header.lower().encode()

    @property
    def local_mode(self) -> bool:
        return not self.methods

    @property
    def may_block(self) -> bool:
        """Whether verifying a credential may wait on the network (fetching OIDC keys from a URL)."""
        return self._oidc is not None and self.settings.oidc.jwks_url is not None

    # --- the request path --------------------------------------------------------------------------------------

    def cached(self, headers: list[tuple[bytes, bytes]], client: str | None) -> Principal | None:
        """The principal if it can be had without the database (local mode, a cached credential), else None."""
        if not self.methods:
            return self._local(client)
        identity = self._proxy_identity(headers, client)
        if identity is None:
            credential = _bearer(headers)
            if credential is None:
                return None
            identity = self._still_verified(credential)
            if identity is None:
                return None
        if self._bindings[0] < self._clock():
            return None
        return Principal(identity, self._roles(identity, self._bindings[1]))

    def authenticate(self, headers: list[tuple[bytes, bytes]], client: str | None) -> Principal:
        """The principal behind the request, or ``Unauthenticated``; may query the database."""
        if not self.methods:
            return self._local(client)
        identity = self._proxy_identity(headers, client)
        if identity is None:
            credential = _bearer(headers)
            if credential is None:
                raise Unauthenticated("authentication required: send 'Authorization: Bearer <token>'")
            identity = self._verify(credential)
        return Principal(identity, self._roles(identity, self._binding_table()))

    # --- for the web UI, which keeps its own sessions but shares the proxy rules and the binding table ----------

    def principal_for(self, identity: Identity) -> Principal:
        """``identity`` with the roles its user and groups are bound to (the cached binding table)."""
        return Principal(identity, self._roles(identity, self._binding_table()))

    def proxy_identity(self, headers: list[tuple[bytes, bytes]], client: str | None) -> Identity | None:
        """The trusted proxy's identity headers (as the API reads them), or None."""
        return self._proxy_identity(headers, client)

    def local_principal(self, client: str | None) -> Principal:
        """Local mode's anonymous admin for a loopback ``client``; ``Unauthenticated`` otherwise."""
        return self._local(client)

    def trusted_proxy(self, peer: str | None) -> bool:
        """Whether ``peer`` (the socket's address) is a trusted proxy, whose forwarded headers count."""
        return peer is not None and self._trusted_client(peer)

    def forget(self) -> None:
        """Drop every cached credential and binding (after a revoke or a binding change in this process)."""
        with self._lock:
            self._verified.clear()
            self._bindings = (-1.0, {})

    def _local(self, client: str | None) -> Principal:
        """Local mode makes every caller an admin, so it answers loopback clients only (whatever address the
        server was bound to), unless ``insecure_no_auth`` says otherwise."""
        if self.settings.insecure_no_auth or (client is not None and _loopback(client)):
            return LOCAL
        raise Unauthenticated("this server runs without authentication and answers local (loopback) clients only")

    # --- methods -----------------------------------------------------------------------------------------------

    def _still_verified(self, credential: str) -> Identity | None:
        """The identity of a credential verified less than ``cache_seconds`` ago (and not expired since)."""
        entry = self._verified.get(_key(credential))
        return entry[1] if entry is not None and entry[0] >= self._clock() else None

    def _verify(self, credential: str) -> Identity:
        cached = self._still_verified(credential)
        if cached is not None:
            return cached
        now = self._clock()
        valid_until = now + self._ttl
        if credential.startswith(TOKEN_PREFIX) and "token" in self.methods:
            identity, expire_ms = self.tokens.identity_for_token(credential)
            if expire_ms is not None:
                valid_until = min(valid_until, now + (expire_ms / 1000 - time.time()))
        elif self._oidc is not None and looks_like_jwt(credential):
            identity = self._oidc.identify(credential)
            valid_until = min(valid_until, now + (_jwt_expiry(credential) - time.time()))
        else:
            raise Unauthenticated("invalid bearer token")
        with self._lock:
            if len(self._verified) >= _MAX_CACHED:
                self._verified.clear()
            self._verified[_key(credential)] = (valid_until, identity)
        return identity

    def _proxy_identity(self, headers: list[tuple[bytes, bytes]], client: str | None) -> Identity | None:
        """Identity headers count only when the proxy method is on and the request comes from a trusted address:
        ``client`` is the socket's peer, never a forwarded address."""
        if "proxy" not in self.methods or client is None or not self._trusted_client(client):
            return None
        user = None
        groups: list[str] = []
        for name, value in headers:
            if name == self._user_header:
                user = value.decode("latin-1").strip()
            elif name == self._groups_header:
                groups += [g.strip() for g in value.decode("latin-1").split(",") if g.strip()]
        if not user:
            return None
        return Identity(user, tuple(groups), "proxy")

    def client_address(self, headers: list[tuple[bytes, bytes]], peer: str | None) -> str | None:
        """The caller's address for the audit trail: the socket's peer, unless the peer is a trusted proxy that
        forwards for someone (``X-Forwarded-For``). The header is read from the right, where each proxy appends the
        address it saw: the first address that is not itself a trusted proxy is the client; what a client wrote
        into the header itself, further left, is never taken. A malformed header keeps the peer."""
        if peer is None or not self._trusted_client(peer):
            return peer
        forwarded: list[str] = []
        for name, value in headers:
            if name == b"x-forwarded-for":
                forwarded += [part.strip() for part in value.decode("latin-1").split(",")]
        for address in reversed(forwarded):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return peer
            if not self._trusted_client(address):
                return address
        return forwarded[0] if forwarded else peer

    def _trusted_client(self, client: str) -> bool:
        trusted = self._trusted_clients.get(client)
        if trusted is None:
            try:
                address = ipaddress.ip_address(client)
                trusted = any(address in network for network in self._trusted)
            except ValueError:
                trusted = False
            if len(self._trusted_clients) < _MAX_CACHED:
                self._trusted_clients[client] = trusted
        return trusted

    # --- roles -------------------------------------------------------------------------------------------------

    def _binding_table(self) -> Mapping[tuple[str, str], frozenset[Role]]:
        now = self._clock()
        loaded_until, table = self._bindings
        if loaded_until < now:
            table = self.tokens.binding_table()
            self._bindings = (now + self._ttl, table)
        return table

    @staticmethod
    def _roles(identity: Identity, table: Mapping[tuple[str, str], frozenset[Role]]) -> frozenset[Role]:
        roles = table.get(("user", identity.user), frozenset())
        for group in identity.groups:
            roles = roles | table.get(("group", group), frozenset())
        return roles


@functools.lru_cache(maxsize=1024)
def _loopback(client: str) -> bool:
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise Unauthenticated("malformed Authorization header: expected 'Bearer <token>'")
            return credential.strip()
    return None


def _jwt_expiry(verified_token: str) -> float:
    """The ``exp`` of a token whose signature and claims were just verified, so a cached identity ends with it."""
    return float(jwt.decode(verified_token, options={"verify_signature": False})["exp"])


def _key(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()

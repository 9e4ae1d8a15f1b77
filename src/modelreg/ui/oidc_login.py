"""OIDC authorization-code login for the web UI (``auth.oidc.client_id``), with PKCE (S256), ``state`` and
``nonce``.

``/login/oidc`` keeps state, nonce and the PKCE verifier in a visitor session (the one database write a visitor
costs, made when a login starts) and sends the browser to the provider's authorization endpoint (from
``<issuer>/.well-known/openid-configuration``); ``/login/oidc/callback`` checks the state, exchanges the code at
the token endpoint (client_secret_basic with a secret, else a public client) and verifies the ID token as API
tokens are verified (``auth/oidc.py``: signature from the provider's JWKS, issuer, audience = client_id, expiry)
plus its nonce. The user and groups come from ``user_claim`` and
``groups_claim``. Authlib supplies the PKCE and token pieces; HTTP goes through ``modelreg.outbound``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
import httpx
import jwt

# Authlib ships no type information; these two functions take and return str.
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from modelreg import tls
from modelreg.auth.oidc import OidcVerifier
from modelreg.auth.principal import Identity
from modelreg.errors import InvalidInput, Unauthenticated, Unavailable
from modelreg.outbound import Client, OutboundError, Target
from modelreg.settings import OidcSettings
from modelreg.ui import web
from modelreg.ui.sessions import SessionStore

router = APIRouter(include_in_schema=False)
CALLBACK = "/login/oidc/callback"
LOGIN_SECONDS = 600  # the time a visitor has at the provider before the state is forgotten
DISCOVERY_SECONDS = 3600.0


@dataclass(frozen=True)
class Provider:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    auth_methods: tuple[str, ...]
    verifier: OidcVerifier


class OidcLogin:
    """The provider's configuration (discovered once an hour) and the code exchange."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._issuer = (settings.issuer or "").rstrip("/")
        self._provider: tuple[float, Provider] | None = None
        self._lock = threading.Lock()

    def provider(self) -> Provider:
        with self._lock:
            if self._provider is not None and self._provider[0] > time.monotonic():
                return self._provider[1]
            doc = self._get_json(f"{self._issuer}/.well-known/openid-configuration")
            try:
                endpoints = {k: str(doc[k]) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")}
            except (KeyError, TypeError):
                raise Unavailable("the OIDC provider's discovery document lacks an endpoint") from None
            verifier = OidcVerifier(
                self.settings.model_copy(
                    update={"audience": self.settings.client_id, "jwks_url": endpoints["jwks_uri"], "jwks_file": None}
                )
            )
            methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
            provider = Provider(**endpoints, auth_methods=tuple(methods), verifier=verifier)
            self._provider = (time.monotonic() + DISCOVERY_SECONDS, provider)
            return provider

    def _get_json(self, url: str) -> Any:
        client = Client(Target(timeout=10.0))
        try:
            return client.json("GET", url)
        except OutboundError as exc:
            raise Unavailable(f"cannot reach the OIDC provider: {exc.message}") from None
        finally:
            client.close()

    def authorize_url(self, redirect_uri: str, state: str, nonce: str, verifier: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.settings.client_id or "",
            "redirect_uri": redirect_uri,
            "scope": self.settings.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        endpoint = self.provider().authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    def exchange(self, code: str, redirect_uri: str, verifier: str, nonce: str) -> Identity:
        """The identity of the ID token the code is exchanged for; ``Unauthenticated`` with the reason."""
        provider = self.provider()
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        client_id = self.settings.client_id or ""
        secret = self.settings.client_secret.get_secret_value() if self.settings.client_secret else None
        auth: httpx.BasicAuth | None = None
        if secret and "client_secret_basic" in provider.auth_methods:
            auth = httpx.BasicAuth(client_id, secret)
        else:
            body["client_id"] = client_id
            if secret:
                body["client_secret"] = secret
        try:
            with httpx.Client(timeout=10.0, follow_redirects=False, verify=tls.default_context()) as http:
                response = http.post(provider.token_endpoint, data=body, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach the OIDC provider's token endpoint: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise Unauthenticated(f"the OIDC provider refused the login code ({response.status_code})")
        try:
            id_token = response.json()["id_token"]
        except (ValueError, KeyError, TypeError):
            raise Unauthenticated("the OIDC provider's token answer has no ID token") from None
        if not isinstance(id_token, str):
            raise Unauthenticated("the OIDC provider's token answer has no ID token")
        identity = provider.verifier.identify(id_token)  # signature, issuer, audience, expiry
        claims = jwt.decode(id_token, options={"verify_signature": False})  # verified just above
        if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
            raise Unauthenticated("the ID token's nonce is not this login's")
        return identity


def _oidc(request: Request) -> OidcLogin:
    state = request.app.state
    if getattr(state, "oidc_login", None) is None:
        state.oidc_login = OidcLogin(state.settings.auth.oidc)
    login: OidcLogin = state.oidc_login
    return login


def redirect_uri(request: Request) -> str:
    public = request.app.state.settings.ui.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return base + CALLBACK


@router.get("/login/oidc")
async def start(ui: web.VisitorDep, next: str | None = None) -> Response:
    next_path = web.safe_next(next)
    if ui.signed_in:
        return web.redirect(next_path)
    if "oidc" not in web.login_methods(ui.request):
        raise InvalidInput("OIDC login is not configured on this server")
    login = _oidc(ui.request)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    until = time.time() + LOGIN_SECONDS
    pending = {"state": state, "nonce": nonce, "verifier": verifier, "next": next_path, "until": until}
    store: SessionStore = ui.request.app.state.ui_sessions
    session = await anyio.to_thread.run_sync(ui.visitor_session, store)
    await anyio.to_thread.run_sync(store.set_data, session.id, {"oidc": pending})
    url = await anyio.to_thread.run_sync(login.authorize_url, redirect_uri(ui.request), state, nonce, verifier)
    return RedirectResponse(url, status_code=303)


@router.get(CALLBACK)
async def callback(
    ui: web.VisitorDep,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    if error or not code:  # nothing is logged in either way; some providers leave the state out of errors
        reason = (error_description or error or "no code")[:200]
        raise Unauthenticated(f"the OIDC provider did not log you in: {reason}")
    pending = ui.session.data.get("oidc") if ui.session is not None else None
    if not isinstance(pending, dict) or not state or not secrets.compare_digest(str(pending.get("state")), state):
        raise Unauthenticated("this OIDC login was not started here, or it has expired: log in again")
    if float(pending.get("until", 0)) < time.time():
        raise Unauthenticated("this OIDC login took too long: log in again")
    login = _oidc(ui.request)
    identity = await anyio.to_thread.run_sync(
        login.exchange, code, redirect_uri(ui.request), str(pending["verifier"]), str(pending["nonce"])
    )
    store: SessionStore = ui.request.app.state.ui_sessions
    await anyio.to_thread.run_sync(ui.start_session, store, "oidc", identity.user, identity.groups)
    return web.redirect(web.safe_next(str(pending.get("next"))))

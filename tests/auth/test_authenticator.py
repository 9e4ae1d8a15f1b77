"""The authenticator against any ``TokenStore``: it needs no database and no service, only the protocol in
``auth/tokens.py`` (``services/access.py`` implements it over the database; the governance tests cover that one)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from modelreg.auth.authenticator import Authenticator
from modelreg.auth.principal import Identity, Role
from modelreg.auth.tokens import TOKEN_PREFIX, TokenStore
from modelreg.errors import Unauthenticated
from modelreg.settings import AuthSettings

TOKEN = TOKEN_PREFIX + "ci-bot-secret"


class MemoryStore:
    """One token and a binding table in memory, counting how often the authenticator asks."""

    def __init__(self) -> None:
        self.bindings: dict[tuple[str, str], frozenset[Role]] = {("user", "ci-bot"): frozenset({Role.DEVELOPER})}
        self.lookups = 0

    def identity_for_token(self, token: str) -> tuple[Identity, int | None]:
        self.lookups += 1
        if token != TOKEN:
            raise Unauthenticated("invalid API token")
        return Identity("ci-bot", ("ml",), "token"), None

    def binding_table(self) -> Mapping[tuple[str, str], frozenset[Role]]:
        return self.bindings


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


@pytest.fixture
def clock() -> list[float]:
    return [100.0]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def authenticator(store: MemoryStore, clock: list[float]) -> Authenticator:
    tokens: TokenStore = store  # the protocol is structural: any object with its two methods will do
    return Authenticator(AuthSettings(methods=["token"], cache_seconds=2), tokens, clock=lambda: clock[0])


def test_a_token_from_the_store_gets_the_roles_of_its_bindings(authenticator: Authenticator) -> None:
    principal = authenticator.authenticate(bearer(TOKEN), "10.0.0.1")
    assert principal.identity == Identity("ci-bot", ("ml",), "token")
    assert principal.roles == frozenset({Role.DEVELOPER})


def test_a_verified_token_is_reused_until_the_cache_expires(
    authenticator: Authenticator, store: MemoryStore, clock: list[float]
) -> None:
    authenticator.authenticate(bearer(TOKEN), "10.0.0.1")
    store.bindings = {}
    assert authenticator.cached(bearer(TOKEN), "10.0.0.1") is not None  # bindings kept for cache_seconds too
    authenticator.authenticate(bearer(TOKEN), "10.0.0.1")
    assert store.lookups == 1
    clock[0] += 3
    assert authenticator.cached(bearer(TOKEN), "10.0.0.1") is None
    assert authenticator.authenticate(bearer(TOKEN), "10.0.0.1").roles == frozenset()
    assert store.lookups == 2


def test_the_store_refuses_unknown_tokens_and_other_credentials_never_reach_it(
    authenticator: Authenticator, store: MemoryStore
) -> None:
    with pytest.raises(Unauthenticated, match="invalid API token"):
        authenticator.authenticate(bearer(TOKEN_PREFIX + "forged"), "10.0.0.1")
    with pytest.raises(Unauthenticated, match="invalid bearer token"):
        authenticator.authenticate(bearer("not-a-modelreg-token"), "10.0.0.1")
    assert store.lookups == 1

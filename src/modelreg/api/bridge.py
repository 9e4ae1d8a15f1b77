"""The Backstage location service under ``/bridge``: one base URL for both model-catalog provider generations.

- ``GET /bridge/list`` → ``{"uris": [...]}`` (never null);
- ``GET /bridge<uri>``: provider 0.7.0 (``baseUrl: http://host:8080/bridge``);
- ``GET /bridge/models/<uri entry>``: provider 1.1.0 (``discovery.endpoints`` → ``/bridge``), which appends the
  entry verbatim, so a leading ``/`` gives a double slash;
- ``GET /bridge/modelcard?key=K`` and ``/bridge/modelcards/<key>.md``: markdown model cards for TechDocs.

Everything is read from the bridge tables, so every server process on the database answers the same. Access is
checked here rather than by the ``/api`` middleware: the providers cannot send a modelreg credential.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.bridge import store
from modelreg.bridge.cards import CatalogCards
from modelreg.bridge.kserve import KServeStatus
from modelreg.bridge.normalize import Defaults
from modelreg.bridge.remote import RemotePoller, RemoteRegistry
from modelreg.bridge.sync import BridgeSync
from modelreg.db.database import Database
from modelreg.errors import Forbidden, NotFound
from modelreg.settings import BridgeSettings, Settings

PREFIX = "/bridge"
_MODELS = "models/"
_CARDS = "modelcards/"


class Access:
    """The configured read access, as a route dependency."""

    def __init__(self, settings: BridgeSettings) -> None:
        self.mode = settings.access
        self.networks = [ipaddress.ip_network(n, strict=False) for n in settings.allowed_addresses]

    def __call__(self, request: Request) -> None:
        client = request.client.host if request.client else None
        if self.mode == "open":
            return
        if self.mode == "addresses":
            if client is None or not self._allowed(client):
                raise Forbidden(f"the bridge does not answer client address {client}")
            return
        principal = request.app.state.authenticator.authenticate(request.scope["headers"], client)
        context.require_of(principal, Permission.READ, "read the bridge")

    def _allowed(self, client: str) -> bool:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def _db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def build_router(settings: BridgeSettings) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["Backstage bridge"], dependencies=[Depends(Access(settings))])
    fmt = settings.format

    @router.get("/list")
    def list_uris(request: Request) -> Response:
        with _db(request).read() as conn:
            uris = store.uris(conn, fmt)
        return Response(orjson.dumps({"uris": uris}), media_type="application/json")

    @router.get("/modelcard")
    def model_card(request: Request, key: str) -> Response:
        return _card(request, key)

    @router.get("/{path:path}")
    def document(request: Request, path: str) -> Response:
        if path.startswith(_CARDS) and path.endswith(".md"):
            return _card(request, path[len(_CARDS) : -len(".md")])
        candidates: Sequence[str] = (path,)
        if path.startswith(_MODELS):
            candidates = (path[len(_MODELS) :].lstrip("/"), path)
        with _db(request).read() as conn:
            for candidate in candidates:
                found = store.document(conn, candidate)
                if found is not None:
                    return Response(found[0], media_type=found[1])
        raise NotFound(f"no bridge document at /{path}")

    return router


def _card(request: Request, key: str) -> Response:
    with _db(request).read() as conn:
        text = store.card(conn, key)
    if text is None:
        raise NotFound(f"no model card for key {key!r}")
    return Response(text.encode(), media_type="text/markdown; charset=utf-8")


def install(app: FastAPI, settings: Settings, db: Database) -> None:
    """Mount the routes and create the sync (started by the app's lifespan); nothing when the bridge is off."""
    bridge = settings.bridge
    app.state.bridge_sync = None
    if not bridge.enabled:
        return
    defaults = Defaults.create(bridge.default_owner, bridge.default_lifecycle)
    # the process's one cluster client (app.py builds it from the top-level kubernetes settings), None: no cluster
    kserve = KServeStatus.configured(bridge.kubernetes, getattr(app.state, "kube", None))
    cards = CatalogCards(bridge.catalog) if bridge.catalog else None
    resolver = kserve.resolver if kserve else None
    sync = BridgeSync(db, defaults, bridge.batch_ms / 1000, resolver=resolver, cards=cards)
    remote = RemotePoller(db, [RemoteRegistry(r) for r in bridge.registries], defaults, resolver=resolver, cards=cards)
    if kserve is not None:

        def resync_everything() -> None:
            """A changed KServe view can change any record, local or remote: refresh all of them."""
            sync.request_full()
            remote.poll_soon()

        kserve.on_change = resync_everything
    app.state.bridge_sync = sync
    app.state.bridge_extras = BridgeExtras(remote, kserve, cards)
    app.include_router(build_router(bridge))


class BridgeExtras:
    """The bridge's other threads: the remote poller, the KServe view, the catalog card fetcher."""

    def __init__(self, remote: RemotePoller, kserve: KServeStatus | None, cards: CatalogCards | None) -> None:
        self.remote, self.kserve, self.cards = remote, kserve, cards

    def start(self) -> None:
        if self.kserve is not None:
            self.kserve.start()  # lists in its thread; a changed view triggers a full resync

    def stop(self) -> None:
        self.remote.stop()
        if self.kserve is not None:
            self.kserve.stop()
        if self.cards is not None:
            self.cards.close()


def start(app: FastAPI) -> None:
    sync: BridgeSync | None = getattr(app.state, "bridge_sync", None)
    extras: BridgeExtras | None = getattr(app.state, "bridge_extras", None)
    if extras is not None:
        extras.start()
    if sync is not None:
        sync.start()
    if extras is not None:
        extras.remote.start()


def stop(app: FastAPI) -> None:
    sync: BridgeSync | None = getattr(app.state, "bridge_sync", None)
    extras: BridgeExtras | None = getattr(app.state, "bridge_extras", None)
    if sync is not None:
        sync.stop()
    if extras is not None:
        extras.stop()

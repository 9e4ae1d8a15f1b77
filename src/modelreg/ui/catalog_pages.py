"""The catalog pages: the gallery (``/catalog``), a model's page and its Register form. They read the in-memory
catalog (``app.state.catalog``) and register through the registry's services as the page's caller.

The default view, without search or filter, is the same paged gallery as a search (the reference shows one
four-card section per label instead): one query, one page of cards, the same URL shape for every view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.catalog.models import CatalogModel, Source
from modelreg.db.pagination import PageRequest
from modelreg.errors import InvalidInput
from modelreg.services import entities as e
from modelreg.services.entities import Record
from modelreg.ui import app_state, catalog_register, markdown, web
from modelreg.ui import catalog_view as view
from modelreg.ui.catalog_register import FieldError, Registration

router = APIRouter(include_in_schema=False)
VERSIONS_SHOWN = 50
CATALOG_CRUMB = ("Model catalog", "/catalog")


@dataclass(frozen=True, slots=True)
class Card:
    model: CatalogModel
    url: str
    source_name: str
    labels: list[str]


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/catalog", status_code=303)


@router.get("/catalog")
def catalog_page(ui: web.UiDep, request: Request) -> HTMLResponse:
    state = view.CatalogState.parse(request.query_params)
    catalog = app_state.catalog(request)
    with web.acting(ui):
        sources = catalog.all_sources()
        feeding = view.feeding(sources)
        tabs = view.tabs(catalog.labels(), feeding)
        page = catalog.find_models(state.query())
        options: dict[str, Any] = catalog.filter_options().get("filters", {})  # type: ignore[assignment]
    names = {s.id: s.name for s in sources}
    cards = [
        Card(m, view.model_url(m.source_id, m.name), names.get(m.source_id, m.source_id), view.card_labels(m))
        for m in page.items
    ]
    filters = []
    for key, heading in view.FILTERS:
        offered = [str(v) for v in (options.get(key) or {}).get("values", [])]
        checked = state.checked.get(key, ())
        values = list(dict.fromkeys([*offered, *checked]))  # a checked value no model has any more stays visible
        if values:
            filters.append((key, heading, [(v, v in checked) for v in values]))
    return web.render(
        ui,
        "catalog/index.html",
        state=state,
        tabs=tabs,
        tab=next((t for t in tabs if t.value.lower() == state.label.lower()), None),
        sorts=view.SORTS,
        filters=filters,
        cards=cards,
        next_url=state.url(page_token=page.next_page_token) if page.next_page_token else None,
        first_url=state.url() if state.page_token else None,
        no_sources=not feeding,
        is_admin=ui.can(Permission.MANAGE),
        crumbs=[],
    )


def _model(request: Request, ui: web.Ui, source_id: str, name: str) -> CatalogModel:
    with web.acting(ui):
        return app_state.catalog(request).get_model(source_id, name)


def _versions(request: Request, ui: web.Ui, model: CatalogModel) -> list[Record]:
    if model.registry is None:
        return []
    page = PageRequest(size=VERSIONS_SHOWN, order_by="LAST_UPDATE_TIME", descending=True)
    with web.acting(ui):
        records, _ = app_state.registry(request).list_entities(
            e.MODEL_VERSION, page, registered_model_id=model.registry.registered_model_id
        )
    return records


def _source_name(request: Request, source_id: str) -> str:
    sources: tuple[Source, ...] = app_state.catalog(request).all_sources()
    return next((s.name for s in sources if s.id == source_id), source_id)


@router.get("/catalog/{source_id}/models/{name:path}")
def model_page(ui: web.UiDep, request: Request, source_id: str, name: str) -> HTMLResponse:
    model = _model(request, ui, source_id, name)
    from_registry = view.is_registry(model)
    deploy = request.app.state.deploy
    return web.render(
        ui,
        "catalog/model.html",
        model=model,
        source_name=_source_name(request, source_id),
        card=markdown.render(model.readme),
        details=view.details(model),
        performance=view.performance(model) if model.validated else [],
        versions=_versions(request, ui, model),
        from_registry=from_registry,
        can_register=ui.can(Permission.WRITE) and model.model_uri is not None and not from_registry,
        register_url=view.register_url(model.source_id, model.name),
        deploy_url=(
            "/deployments/new?" + urlencode({"source": model.source_id, "model": model.name})
            if deploy is not None and ui.can(Permission.DEPLOY)
            else None
        ),
        crumbs=[CATALOG_CRUMB, (model.short_name, None)],
    )


def _register_form(
    ui: web.Ui,
    request: Request,
    model: CatalogModel,
    reg: Registration,
    error: FieldError | None = None,
    offer_existing: bool = False,
) -> HTMLResponse:
    return web.render(
        ui,
        "catalog/register.html",
        status_code=error.status if error else 200,
        model=model,
        model_url=view.model_url(model.source_id, model.name),
        action=view.register_url(model.source_id, model.name),
        source_name=_source_name(request, model.source_id),
        reg=reg,
        error=error,
        offer_existing=offer_existing or (error is not None and error.offer_existing),
        crumbs=[CATALOG_CRUMB, (model.short_name, view.model_url(model.source_id, model.name)), ("Register", None)],
    )


def _registrable(request: Request, ui: web.Ui, source_id: str, name: str | None) -> CatalogModel:
    """The catalog model the form registers: refused (403) for a caller who may not write, 400 without a
    location or for a model that is already the registry's."""
    if not name:
        raise InvalidInput("the 'model' query parameter names the catalog model to register")
    context.require_of(ui.principal, Permission.WRITE, "register models")
    model = _model(request, ui, source_id, name)
    if view.is_registry(model):
        raise InvalidInput(f"{model.name} is already a registered model")
    if model.model_uri is None:
        raise InvalidInput(f"catalog model {model.name} has no model location to register")
    return model


@router.get("/catalog/{source_id}/register")
def register_form(ui: web.UiDep, request: Request, source_id: str, model: str | None = None) -> HTMLResponse:
    catalog_model = _registrable(request, ui, source_id, model)
    reg = Registration.defaults(catalog_model)
    with web.acting(ui):
        taken = catalog_register.name_taken(app_state.registry(request), reg.model_name)
    return _register_form(ui, request, catalog_model, reg, offer_existing=taken)


@router.post("/catalog/{source_id}/register")
async def register(ui: web.UiDep, request: Request, source_id: str, model: str | None = None) -> Response:
    fields = await web.form(ui)
    catalog_model = await anyio.to_thread.run_sync(_registrable, request, ui, source_id, model)
    reg = Registration.from_form(fields)

    def run() -> Record:
        with web.acting(ui):
            return catalog_register.register(app_state.registry(request), catalog_model, reg)

    try:
        version = await anyio.to_thread.run_sync(run)
    except FieldError as exc:
        return _register_form(ui, request, catalog_model, reg, exc)
    rm_id, v_id = version.row["registered_model_id"], version.row["id"]
    return web.redirect(
        f"/registry/models/{rm_id}/versions/{v_id}", flash=f"Registered {reg.model_name} version {reg.version_name}"
    )

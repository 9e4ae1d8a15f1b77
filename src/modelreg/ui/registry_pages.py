"""The registry pages: registered models (live and archived), a model with its versions, a version's details with
the promotions the policy allows the caller, each entity's audit history, and the archive, restore and promote
forms. Reads and writes go through the same services as the REST API, as the page's caller (``web.acting``), so
the services check permissions and write the audit trail; a page only leaves out what the caller may not do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from modelreg.auth.principal import Permission
from modelreg.db.pagination import PageRequest
from modelreg.errors import InvalidInput, NotFound, RegistryError
from modelreg.services import entities as e
from modelreg.services import registry_reads as reads
from modelreg.services.audit import to_wire
from modelreg.services.entities import Kind, Record
from modelreg.services.lifecycle import stage_of
from modelreg.stages import STAGES
from modelreg.ui import markdown, web
from modelreg.ui import registry_view as view

router = APIRouter(include_in_schema=False)
T = TypeVar("T")
PAGE_SIZE = 50
HISTORY_PAGE_SIZE = 50
Text = Annotated[str | None, Query(max_length=200)]
Token = Annotated[str | None, Query(max_length=1024)]
REGISTRY_CRUMB = ("Registry", "/registry")


# --- lists ---------------------------------------------------------------------------------------------------------


@router.get("/registry")
def models(ui: web.UiDep, request: Request, q: Text = None, sort: Text = None, page_token: Token = None) -> Response:
    return _models_page(ui, request, archived=False, q=q, sort=sort, token=page_token)


@router.get("/registry/archived")
def archived_models(
    ui: web.UiDep, request: Request, q: Text = None, sort: Text = None, page_token: Token = None
) -> Response:
    return _models_page(ui, request, archived=True, q=q, sort=sort, token=page_token)


def _models_page(
    ui: web.Ui, request: Request, archived: bool, q: str | None, sort: str | None, token: str | None
) -> Response:
    order = reads.ModelSort.parse(sort)
    search = (q or "").strip() or None
    db = request.app.state.registry.db
    with web.acting(ui):
        page, next_token = reads.models_page(
            db, archived=archived, search=search, sort=order, size=PAGE_SIZE, token=token or None
        )
        latest = reads.latest_versions(db, [m.row["id"] for m in page], include_archived=archived)
    path = "/registry/archived" if archived else "/registry"
    rows = [
        {
            "model": m,
            "labels": view.labels(m.props),
            "latest": latest.get(m.row["id"]),
            "stage": stage_of(latest[m.row["id"]].props) if m.row["id"] in latest else None,
        }
        for m in page
    ]
    return web.render(
        ui,
        "registry/archived.html" if archived else "registry/models.html",
        rows=rows,
        q=search or "",
        sort=str(order),
        sort_urls={key: _url(path, q=search, sort=_toggle(order, key)) for key in ("name", "modified")},
        next_url=_url(path, q=search, sort=str(order), page_token=next_token) if next_token else None,
        first_page=not token,
        can_archive=ui.can(Permission.ARCHIVE),
        crumbs=[REGISTRY_CRUMB, ("Archived models", None)] if archived else [("Registry", None)],
    )


def _toggle(order: reads.ModelSort, key: str) -> str:
    """The sort a header links to: the other direction when it is the current key, else its natural one."""
    if order.key == key:
        return key if order.descending else f"-{key}"
    return key if key == "name" else f"-{key}"


# --- a model -------------------------------------------------------------------------------------------------------


@router.get("/registry/models/{model_id}")
def model_page(ui: web.UiDep, request: Request, model_id: str, tab: Text = None, page_token: Token = None) -> Response:
    id_ = e.parse_id(model_id, e.REGISTERED_MODEL.label)
    tab = tab or "overview"
    if tab not in ("overview", "versions", "archived"):
        raise InvalidInput(f"invalid tab {tab!r}: overview, versions or archived")
    registry = request.app.state.registry
    versions: list[Record] = []
    next_url = None
    with web.acting(ui):
        model = registry.get(e.REGISTERED_MODEL, id_)
        if tab != "overview":
            page = PageRequest.parse(PAGE_SIZE, "LAST_UPDATE_TIME", "DESC", page_token or None)
            versions, token = registry.list_entities(
                e.MODEL_VERSION,
                page,
                "state = 'ARCHIVED'" if tab == "archived" else "state = 'LIVE'",
                registered_model_id=id_,
            )
            if token:
                next_url = _url(f"/registry/models/{id_}", tab=tab, page_token=token)
    name = model.row["name"]
    return web.render(
        ui,
        "registry/model.html",
        model=model,
        archived=model.row["state"] == "ARCHIVED",
        labels=view.labels(model.props),
        properties=view.properties(model.props),
        readme=markdown.render(model.row.get("readme")),
        tab=tab,
        versions=[{"version": v, "stage": stage_of(v.props), "labels": view.labels(v.props)} for v in versions],
        next_url=next_url,
        can_archive=ui.can(Permission.ARCHIVE),
        crumbs=[REGISTRY_CRUMB, (name, None)],
    )


# --- a version -----------------------------------------------------------------------------------------------------


@router.get("/registry/models/{model_id}/versions/{version_id}")
def version_page(ui: web.UiDep, request: Request, model_id: str, version_id: str, files: Text = None) -> Response:
    state = request.app.state
    model_id_, version_id_ = _ids(model_id, version_id)
    with web.acting(ui):
        model = state.registry.get(e.REGISTERED_MODEL, model_id_)
        version = _version_of(state.registry.get(e.MODEL_VERSION, version_id_), model_id_)
        artifact_records, _ = state.registry.list_artifacts(
            PageRequest.parse(100, "ID", "ASC"), parent=("model_version", version_id_)
        )
        recorded = reads.recorded_files(state.registry.db, artifact_records)
        runs = reads.lineage(state.registry.db, version, artifact_records)
        options = state.lifecycle.options(version_id_)
        listing, listing_error = _listed_files(state, version_id_, files == "list")
    model_artifact = next((a for a in artifact_records if a.row["artifact_type"] == "model-artifact"), None)
    uri = model_artifact.row["uri"] if model_artifact else None
    return web.render(
        ui,
        "registry/version.html",
        model=model,
        version=version,
        archived=version.row["state"] == "ARCHIVED",
        model_archived=model.row["state"] == "ARCHIVED",
        stage=stage_of(version.props),
        labels=view.labels(version.props),
        properties=view.properties(version.props),
        model_artifact=model_artifact,
        uri=uri,
        location=view.location(uri),
        artifacts=[{"artifact": a, "files": recorded.get(a.row["id"])} for a in artifact_records],
        listing=listing,
        listing_error=listing_error,
        runs=runs,
        catalog_url=view.catalog_link(artifact_records),
        allowed=[o for o in options if o.allowed],
        refused=[o for o in options if not o.allowed],
        can_promote=ui.can(Permission.PROMOTE),
        can_archive=ui.can(Permission.ARCHIVE),
        deploy=state.deploy is not None and ui.can(Permission.DEPLOY),
        crumbs=[
            REGISTRY_CRUMB,
            (model.row["name"], f"/registry/models/{model_id_}?tab=versions"),
            (version.row["name"], None),
        ],
    )


def _listed_files(state: Any, version_id: int, wanted: bool) -> tuple[Any, str | None]:
    """The files of a URI-only artifact, listed from its store on request (a store may be slow or far away, so
    the page never does it unasked); a failure is shown on the page, never an error page."""
    if not wanted:
        return None, None
    try:
        return state.artifact_files.locate(version_id), None
    except RegistryError as exc:
        return None, exc.message


# --- history -------------------------------------------------------------------------------------------------------


@router.get("/registry/models/{model_id}/history")
def model_history(ui: web.UiDep, request: Request, model_id: str, page_token: Token = None) -> Response:
    id_ = e.parse_id(model_id, e.REGISTERED_MODEL.label)
    with web.acting(ui):
        model = request.app.state.registry.get(e.REGISTERED_MODEL, id_)
    name = model.row["name"]
    crumbs = [REGISTRY_CRUMB, (name, f"/registry/models/{id_}"), ("History", None)]
    return _history(ui, request, e.REGISTERED_MODEL, id_, f"History of {name}", page_token, crumbs)


@router.get("/registry/models/{model_id}/versions/{version_id}/history")
def version_history(
    ui: web.UiDep, request: Request, model_id: str, version_id: str, page_token: Token = None
) -> Response:
    model_id_, version_id_ = _ids(model_id, version_id)
    with web.acting(ui):
        model = request.app.state.registry.get(e.REGISTERED_MODEL, model_id_)
        version = _version_of(request.app.state.registry.get(e.MODEL_VERSION, version_id_), model_id_)
    crumbs = [
        REGISTRY_CRUMB,
        (model.row["name"], f"/registry/models/{model_id_}"),
        (version.row["name"], f"/registry/models/{model_id_}/versions/{version_id_}"),
        ("History", None),
    ]
    title = f"History of {model.row['name']} version {version.row['name']}"
    return _history(ui, request, e.MODEL_VERSION, version_id_, title, page_token, crumbs)


def _history(
    ui: web.Ui, request: Request, kind: Kind, id_: int, title: str, token: str | None, crumbs: list[Any]
) -> Response:
    with web.acting(ui):
        rows, next_token = request.app.state.audit.query(
            entity_kind=kind.audit_name,
            entity_id=id_,
            page_size=HISTORY_PAGE_SIZE,
            page_token=token or None,
            newest_first=True,
        )
    records = [to_wire(r) for r in rows]
    return web.render(
        ui,
        "registry/history.html",
        title=title,
        records=[{"record": r, "changes": view.changes(r["before"], r["after"])} for r in records],
        next_url=_url(request.url.path, page_token=next_token) if next_token else None,
        crumbs=crumbs,
    )


# --- writes ----------------------------------------------------------------------------------------------------------


@router.post("/registry/models/{model_id}/archive")
async def archive_model(ui: web.UiDep, request: Request, model_id: str) -> Response:
    return await _set_state(ui, request, e.REGISTERED_MODEL, model_id, archive=True)


@router.post("/registry/models/{model_id}/restore")
async def restore_model(ui: web.UiDep, request: Request, model_id: str) -> Response:
    return await _set_state(ui, request, e.REGISTERED_MODEL, model_id, archive=False)


@router.post("/registry/versions/{version_id}/archive")
async def archive_version(ui: web.UiDep, request: Request, version_id: str) -> Response:
    return await _set_state(ui, request, e.MODEL_VERSION, version_id, archive=True)


@router.post("/registry/versions/{version_id}/restore")
async def restore_version(ui: web.UiDep, request: Request, version_id: str) -> Response:
    return await _set_state(ui, request, e.MODEL_VERSION, version_id, archive=False)


async def _set_state(ui: web.Ui, request: Request, kind: Kind, raw_id: str, archive: bool) -> Response:
    await web.form(ui)
    id_ = e.parse_id(raw_id, kind.label)
    svc = request.app.state.archive
    record = await _run(ui, lambda: (svc.archive if archive else svc.restore)(kind, id_))
    done = "archived" if archive else "restored"
    if kind is e.REGISTERED_MODEL:
        return web.redirect(f"/registry/models/{id_}", flash=f"Model {record.row['name']} {done}")
    url = _version_url(record)
    return web.redirect(url, flash=f"Version {record.row['name']} {done}")


@router.post("/registry/versions/{version_id}/promote")
async def promote(ui: web.UiDep, request: Request, version_id: str) -> Response:
    """A refusal by the policy (its rule in the message) comes back as a flash on the version's page; a caller
    without the promote permission, or an unknown version, gets the error page."""
    fields = await web.form(ui)
    id_ = e.parse_id(version_id, e.MODEL_VERSION.label)
    state = request.app.state
    version = await _run(ui, lambda: state.registry.get(e.MODEL_VERSION, id_))
    url = _version_url(version)
    to_stage = fields.get("to_stage", "")
    if to_stage not in STAGES:
        raise InvalidInput(f"unknown lifecycle stage {to_stage[:40]!r}: must be one of {', '.join(STAGES)}")
    comment = fields.get("comment", "").strip() or None
    try:
        record = await _run(ui, lambda: state.lifecycle.promote(id_, to_stage, comment))
    except NotFound:
        raise
    except RegistryError as exc:
        if not ui.can(Permission.PROMOTE):
            raise  # no policy refusal: this caller may not change stages at all (the error page, 403)
        return web.redirect(url, flash=exc.message, kind="danger")
    return web.redirect(url, flash=f"Version {record.row['name']} promoted to {to_stage}")


async def _run(ui: web.Ui, fn: Callable[[], T]) -> T:
    """A blocking service call in a worker thread, as the page's caller."""

    def call() -> T:
        with web.acting(ui):
            return fn()

    return await anyio.to_thread.run_sync(call)


# --- helpers -------------------------------------------------------------------------------------------------------


def _ids(model_id: str, version_id: str) -> tuple[int, int]:
    return e.parse_id(model_id, e.REGISTERED_MODEL.label), e.parse_id(version_id, e.MODEL_VERSION.label)


def _version_of(version: Record, model_id: int) -> Record:
    """A version reached under another model's URL is not found there."""
    if version.row["registered_model_id"] != model_id:
        raise NotFound(f"registered model {model_id} has no model version {version.row['id']}")
    return version


def _version_url(version: Record) -> str:
    return f"/registry/models/{version.row['registered_model_id']}/versions/{version.row['id']}"


def _url(path: str, **params: str | None) -> str:
    query = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(query)}" if query else path

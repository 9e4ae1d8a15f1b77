"""The "Model transfer jobs" pages: the list (``/transfers``, with status and progress), a job's page with its error
and cause and the Cancel and Retry buttons, and the "Register and store" form (``/transfers/new``) that starts a
job copying a model from an S3, URI or OCI connection into an OCI or S3 connection, registering it as a new model
or a new version. Everything goes through `TransferService` as the page's caller, which checks the permission
(write; cancel and retry: the job's creator or an admin), validates before any byte moves and audits; a page only
leaves out what the caller may not do.

Sources and destinations are data connections only (the upstream form's inline endpoint and keys are not offered:
an admin decides where the server may fetch from and write to).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.db.pagination import PageRequest
from modelreg.errors import InvalidInput, NotFound, RegistryError
from modelreg.services import entities as e
from modelreg.services.transfers import (
    DESTINATION_TYPES,
    SOURCE_TYPES,
    TERMINAL,
    Destination,
    Metadata,
    Source,
    TransferJob,
    TransferService,
)
from modelreg.ui import web
from modelreg.ui.settings_forms import FormResult

router = APIRouter(include_in_schema=False)
T = TypeVar("T")
Text = Annotated[str | None, Query(max_length=300)]
CRUMB = ("Model transfer jobs", "/transfers")
STATUS = {  # state → (label, pill kind): the dashboard's words
    "PENDING": ("Pending", ""),
    "RUNNING": ("Running", "info"),
    "COMPLETED": ("Complete", "success"),
    "FAILED": ("Failed", "danger"),
    "CANCELLED": ("Canceled", "dark"),
}
STATE_FILTERS = [("", "All statuses"), *((state, label) for state, (label, _) in STATUS.items())]
SOURCE_FIELD = {"s3": "key", "uri": "url", "oci": "image"}
INTENTS = (("create_model", "Register a new model"), ("create_version", "Register a new version of a model"))
TEXT_FIELDS = (
    "intent",
    "name",
    "display_name",
    "model_name",
    "model_id",
    "model_description",
    "version_name",
    "version_description",
    "model_format_name",
    "model_format_version",
    "source_type",
    "source_connection",
    "source_key",
    "source_url",
    "source_image",
    "destination_type",
    "destination_connection",
    "destination_repository",
    "destination_tag",
    "destination_key",
    "runner",
    "namespace",
)
MAX_FIELD = 2000


def service(request: Request) -> TransferService:
    """Transfer jobs; a 404 page when this server has none."""
    transfers: TransferService | None = getattr(request.app.state, "transfers", None)
    if transfers is None:
        raise NotFound("transfer jobs are not configured on this server")
    return transfers


async def _writer(ui: web.UiDep) -> web.Ui:
    context.require_of(ui.principal, Permission.WRITE, "start transfer jobs")
    return ui


WriterDep = Annotated[web.Ui, Depends(_writer)]


_run = web.run_as


@dataclass(frozen=True)
class Row:
    """One job as the pages show it."""

    job: TransferJob

    @property
    def title(self) -> str:
        return self.job.display_name or self.job.name

    @property
    def status(self) -> tuple[str, str]:
        return STATUS.get(self.job.state, (self.job.state.title(), ""))

    @property
    def percent(self) -> int | None:
        """Bytes copied of the total, in percent (None while the total is unknown); 100 once complete."""
        if self.job.state == "COMPLETED":
            return 100
        total = self.job.bytes_total
        if not total:
            return None
        return min(100, int(self.job.bytes_done * 100 / total))

    @property
    def source(self) -> str:
        s = self.job.source
        return f"{s.connection}: {s.key or s.url or s.image or ''}".rstrip(": ")

    @property
    def destination(self) -> str:
        d = self.job.destination
        where = d.repository + (f":{d.tag}" if d.tag else "") if d.repository else d.key or ""
        return f"{d.connection}: {where}".rstrip(": ")

    @property
    def active(self) -> bool:
        return self.job.state not in TERMINAL


def _may_act(ui: web.Ui, job: TransferJob) -> bool:
    """Cancel and Retry are the job's creator's or an admin's (the service checks it too)."""
    return ui.can(Permission.WRITE) and (ui.is_admin or job.created_by == ui.principal.user)


# --- the list and a job --------------------------------------------------------------------------------------------


@router.get("/transfers")
def transfers_page(ui: web.UiDep, request: Request, state: Text = None) -> HTMLResponse:
    transfers = service(request)
    wanted = state if state in STATUS else ""
    with web.acting(ui):
        jobs = transfers.list(state=wanted or None)
    return web.render(
        ui,
        "transfers/list.html",
        rows=[Row(j) for j in jobs],
        state=wanted,
        states=STATE_FILTERS,
        can_write=ui.can(Permission.WRITE),
        crumbs=[("Model transfer jobs", None)],
    )


@router.get("/transfers/new")
def new_page(ui: WriterDep, request: Request) -> HTMLResponse:
    service(request)
    form = TransferForm(values={"intent": "create_model", "source_type": "s3", "destination_type": "oci"})
    for key in ("intent", "model_id"):
        value = request.query_params.get(key, "")[:100]
        if value:
            form.values[key] = value
    form.values["version_name"] = "1.0.0"
    return _form_page(ui, form)


@router.post("/transfers/new")
async def create(ui: WriterDep, request: Request) -> Response:
    fields = await web.form(ui)
    transfers = service(request)
    form = TransferForm().parse(fields)
    if form.errors:
        return await _run(ui, lambda: _form_page(ui, form, status_code=400))

    def start() -> TransferJob:
        return transfers.create(
            form.intent,
            form.source(),
            form.destination(),
            form.metadata(ui.principal.user),
            name=form.values.get("name") or None,
            display_name=form.values.get("display_name") or None,
            runner=form.values.get("runner") or None,
            namespace=form.values.get("namespace") or None,
        )

    try:
        job = await _run(ui, start)
    except RegistryError as exc:
        if exc.status_code >= 500 and exc.status_code not in (502, 503):
            raise
        form.errors[""] = exc.message
        status = exc.status_code
        return await _run(ui, lambda: _form_page(ui, form, status_code=status))
    return web.redirect(f"/transfers/{job.id}", flash=f"Transfer job {job.name} started")


def _form_page(ui: web.Ui, form: TransferForm, status_code: int = 200) -> HTMLResponse:
    request = ui.request
    with web.acting(ui):
        connections = request.app.state.connections.list()
        page = PageRequest.parse(500, "LAST_UPDATE_TIME", "DESC")
        models = request.app.state.registry.list_entities(e.REGISTERED_MODEL, page, state="LIVE")[0]
    by_type: dict[str, list[tuple[str, str]]] = {}
    for c in connections:
        by_type.setdefault(c.type, []).append((c.name, c.display_name or c.name))
    transfers = service(request)
    return web.render(
        ui,
        "transfers/new.html",
        status_code=status_code,
        form=form,
        intents=INTENTS,
        source_connections=[(n, f"{d} ({t})") for t in SOURCE_TYPES for n, d in by_type.get(t, [])],
        destination_connections=[(n, f"{d} ({t})") for t in DESTINATION_TYPES for n, d in by_type.get(t, [])],
        source_types=[("s3", "Object storage (S3)"), ("uri", "URI"), ("oci", "OCI image")],
        destination_types=[("oci", "OCI registry (ModelCar)"), ("s3", "Object storage (S3)")],
        models=sorted(((str(m.row["id"]), m.row["name"]) for m in models), key=lambda m: m[1].lower()),
        kubernetes=transfers.kubernetes,
        crumbs=[CRUMB, ("Register and store", None)],
    )


@router.get("/transfers/{ref}")
def transfer_page(ui: web.UiDep, request: Request, ref: str) -> HTMLResponse:
    transfers = service(request)
    with web.acting(ui):
        job = transfers.get(ref[:100])
    row = Row(job)
    return web.render(
        ui,
        "transfers/job.html",
        row=row,
        job=job,
        may_act=_may_act(ui, job),
        crumbs=[CRUMB, (row.title, None)],
    )


@router.post("/transfers/{ref}/{action}")
async def act(ui: WriterDep, request: Request, ref: str, action: str) -> Response:
    await web.form(ui)
    transfers = service(request)
    if action == "cancel":
        job = await _run(ui, lambda: transfers.cancel(ref[:100]))
        done = "Canceled" if job.state == "CANCELLED" else "Cancel requested for"
        return web.redirect(f"/transfers/{job.id}", flash=f"{done} {job.name}")
    if action == "retry":
        job = await _run(ui, lambda: transfers.retry(ref[:100]))
        return web.redirect(f"/transfers/{job.id}", flash=f"Retrying as {job.name}")
    raise NotFound("There is no page at this address.")


# --- the form ------------------------------------------------------------------------------------------------------


class TransferForm(FormResult):
    """The "Register and store" form's fields, checked for what the form adds (which fields an intent and a source
    type need); every rule about names, connections and reachability is the service's."""

    def parse(self, fields: Mapping[str, str]) -> TransferForm:
        for name in TEXT_FIELDS:
            value = fields.get(name, "").strip()
            if len(value) > MAX_FIELD:
                self.errors[name] = f"At most {MAX_FIELD} characters."
            self.values[name] = value[:MAX_FIELD]
        v = self.values
        if v["intent"] not in dict(INTENTS):
            self.errors["intent"] = "Choose whether to register a new model or a new version."
        elif v["intent"] == "create_model" and not v["model_name"]:
            self.errors["model_name"] = "Give the model a name."
        elif v["intent"] == "create_version":
            self.check("model_id", lambda: e.parse_id(v["model_id"], "registered model"))
        if not v["version_name"]:
            self.errors["version_name"] = "Give the version a name."
        if v["source_type"] not in SOURCE_TYPES:
            self.errors["source_type"] = "Choose where the model is."
        else:
            needed = f"source_{SOURCE_FIELD[v['source_type']]}"
            if not v[needed]:
                what = {"key": "the object key or prefix", "url": "the URL", "image": "the image reference"}
                self.errors[needed] = f"Give {what[SOURCE_FIELD[v['source_type']]]}."
        if v["destination_type"] not in DESTINATION_TYPES:
            self.errors["destination_type"] = "Choose where to store the model."
        for side in ("source", "destination"):
            if not v[f"{side}_connection"]:
                self.errors[f"{side}_connection"] = "Choose a data connection."
        if v["runner"] not in ("", "server", "kubernetes"):
            self.errors["runner"] = "Choose the server or Kubernetes."
        return self

    @property
    def intent(self) -> str:
        return self.values["intent"]

    def source(self) -> Source:
        v = self.values
        field = SOURCE_FIELD[v["source_type"]]
        return Source(v["source_type"], v["source_connection"], **{field: v[f"source_{field}"]})

    def destination(self) -> Destination:
        v = self.values
        if v["destination_type"] == "oci":
            return Destination(
                "oci",
                v["destination_connection"],
                repository=v["destination_repository"] or None,
                tag=v["destination_tag"] or None,
            )
        return Destination("s3", v["destination_connection"], key=v["destination_key"] or None)

    def metadata(self, author: str) -> Metadata:
        v = self.values
        create_model = self.intent == "create_model"
        if not create_model and not v["model_id"].isdigit():
            raise InvalidInput("choose the registered model")
        return Metadata(
            model_name=v["model_name"] if create_model else None,
            model_id=None if create_model else int(v["model_id"]),
            model_description=(v["model_description"] or None) if create_model else None,
            model_owner=author if create_model else None,
            version_name=v["version_name"],
            version_description=v["version_description"] or None,
            version_author=author,
            artifact_name=v["version_name"],
            model_format_name=v["model_format_name"] or None,
            model_format_version=v["model_format_version"] or None,
        )

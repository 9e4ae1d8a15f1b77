"""The deploy pages: the wizard (``/deployments/new``: targets → details → review → deploy), the Deployments list,
a deployment's page with its live status, objects and history, its stop / start / undeploy forms, and the
Deployments tabs of a model and a version. Everything goes through `DeployService` as the page's caller, which
checks the permission, the deploy policy and writes the history and audit trail; a page only leaves out what the
caller may not do.

The wizard keeps no state on the server: every step posts all choices (the other steps' as hidden inputs), and
every post checks them all again, so a forged hidden field is refused like a typed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from modelreg.auth import context
from modelreg.auth.principal import Permission
from modelreg.deploy import names
from modelreg.deploy.service import DeployResult, DeployService, Mode
from modelreg.deploy.store import DESIRED_STATES, Deployment
from modelreg.errors import Conflict, InvalidInput, NotFound, RegistryError
from modelreg.services import entities as e
from modelreg.ui import deploy_choices, web
from modelreg.ui import deploy_view as view
from modelreg.ui import registry_view as rview
from modelreg.ui.deploy_view import Subject, WizardForm

router = APIRouter(include_in_schema=False)
T = TypeVar("T")
Text = Annotated[str | None, Query(max_length=300)]
CRUMB = ("Deployments", "/deployments")
ACTIONS = {
    "stop": ("Stop", "Stopped"),
    "start": ("Start", "Started"),
    "undeploy": ("Undeploy", "Undeployed"),
}
TYPED = frozenset({"stop", "undeploy"})  # actions that take the model offline: the name is typed to confirm
PAGE_SIZE = 50
OPTIONS_SAMPLE = 500  # the deployments whose projects and models the filters offer


def service(request: Request) -> DeployService:
    """The deploy feature; a 404 page when this server has none."""
    deploy: DeployService | None = request.app.state.deploy
    if deploy is None:
        raise NotFound("deployment is not configured on this server")
    return deploy


async def _deployer(ui: web.UiDep) -> web.Ui:
    """Pages and posts that deploy or change a deployment: 403 for a caller without the deploy permission."""
    context.require_of(ui.principal, Permission.DEPLOY, "deploy models")
    return ui


DeployerDep = Annotated[web.Ui, Depends(_deployer)]


_run = web.run_as


# --- the wizard ----------------------------------------------------------------------------------------------------


@router.get("/deployments/new")
def wizard(ui: DeployerDep, request: Request) -> HTMLResponse:
    service(request)
    target = view.subject(ui, request.query_params)
    form = WizardForm.parse({})
    with web.acting(ui):
        choices = deploy_choices.choices(request, target, form)
    form.values.update(choices.defaults)
    return _step(ui, "targets", target, form, choices)


@router.post("/deployments/new")
async def wizard_post(ui: DeployerDep, request: Request) -> Response:
    fields = await web.form(ui)
    service(request)
    return await _run(ui, lambda: _advance(ui, fields))


def _advance(ui: web.Ui, fields: Mapping[str, str]) -> Response:
    """One post of the wizard: Back, Next or Deploy from the step it was posted from. Every choice so far is
    checked again (hidden fields are as forgeable as typed ones); an error sends the user to its step."""
    request = ui.request
    target = view.subject(ui, fields)
    form = WizardForm.parse(fields)
    step, action = fields.get("step", ""), fields.get("action", "")
    if step not in view.STEPS or action not in ("back", "next", "deploy"):
        raise InvalidInput("the wizard's form was not posted by its page: start again")
    choices = deploy_choices.choices(request, target, form)
    if action == "back":
        return _step(ui, view.STEPS[max(view.STEPS.index(step) - 1, 0)], target, form, choices)
    wanted = "review" if action == "deploy" else view.STEPS[min(view.STEPS.index(step) + 1, len(view.STEPS) - 1)]
    choices.check(form)
    form.checked("targets" if wanted == "details" else "review")
    if wanted == "details" and not form.errors:
        form.values.update({k: v for k, v in _details_defaults(target).items() if not form.values.get(k)})
        return _step(ui, "details", target, form, choices)
    if not form.errors:
        form.check_name(names.check_deployment_name)
    if form.errors:
        return _step(ui, form.first_step_with_error(), target, form, choices, status_code=400)
    deploy = service(request)
    try:
        if action == "next":
            return _step(ui, "review", target, form, choices, preview=deploy.preview(form.request(target)))
        mode = _mode(deploy)
        if mode is None:
            raise Conflict("this server has no Kubernetes cluster and no GitOps folder to deploy to")
        result = deploy.deploy(form.request(target), mode)
    except RegistryError as exc:
        if exc.status_code >= 500 and exc.status_code not in (502, 503):
            raise
        form.service_error(exc)
        return _step(ui, form.first_step_with_error(), target, form, choices, status_code=exc.status_code)
    assert result.deployment is not None
    done = result.deployment
    flash = f"Deploying {done.display_name or done.name} to {done.namespace}"
    return web.redirect(f"/deployments/{done.id}", flash=flash)


def _details_defaults(target: Subject) -> dict[str, str]:
    """What the details step starts with: the dashboard's prefilled names, one replica."""
    display = target.default_display_name
    return {"display_name": display, "name": names.k8s_name(display), "replicas": "1"}


def _step(
    ui: web.Ui,
    step: str,
    target: Subject,
    form: WizardForm,
    choices: deploy_choices.Choices,
    status_code: int = 200,
    preview: DeployResult | None = None,
) -> HTMLResponse:
    title = f"Deploy {target.title}"
    deploy = service(ui.request)
    if step == "review" and preview is None and not form.errors.keys() - {""}:
        try:  # the YAML stays on the page when the deploy itself was refused
            preview = deploy.preview(form.request(target))
        except RegistryError:
            preview = None
    at = view.STEPS.index(step)
    states = ["done" if i < at else "current" if i == at else "todo" for i in range(len(view.STEPS))]
    return web.render(
        ui,
        f"deploy/wizard_{step}.html",
        status_code=status_code,
        title=title,
        step=step,
        steps=[(s, view.STEP_TITLES[s], st) for s, st in zip(view.STEPS, states, strict=True)],
        target=target,
        form=form,
        hidden={**target.hidden, **form.carried(step)},
        choices=choices,
        preview=preview,
        mode=_mode(deploy),
        crumbs=[CRUMB, (title, None)],
    )


def _mode(deploy: DeployService) -> Mode | None:
    """How Deploy deploys: to the cluster, else into the server's GitOps folder, else not at all (review only)."""
    if deploy.kube is not None:
        return "apply"
    return "gitops" if deploy.settings.gitops_dir is not None else None


# --- the list ------------------------------------------------------------------------------------------------------


@router.get("/deployments")
def deployments_page(
    ui: web.UiDep,
    request: Request,
    namespace: Text = None,
    state: Text = None,
    model: Text = None,
    page_token: Text = None,
) -> HTMLResponse:
    """Every deployment, newest first; filters by project, state (live by default: deployed and stopped) and
    registered model, offered from the deployments there are."""
    deploy = service(request)
    wanted = view.ListFilters.parse(namespace, state, model)
    with web.acting(ui):
        rows, token = deploy.list(
            namespace=wanted.namespace or None,
            registered_model_id=wanted.model_id,
            include_undeployed=wanted.state == "all",
            state=wanted.state if wanted.state in DESIRED_STATES else None,
            page_size=PAGE_SIZE,
            page_token=page_token or None,
        )
        seen, _ = deploy.list(include_undeployed=True, page_size=OPTIONS_SAMPLE)
        links = view.model_links(ui, rows)
        models = view.model_names(ui, {d.registered_model_id for d in seen if d.registered_model_id is not None})
    return web.render(
        ui,
        "deploy/list.html",
        rows=rows,
        links=links,
        any_deployment=bool(seen),
        filters=wanted,
        namespaces=sorted({d.namespace for d in seen} | ({wanted.namespace} if wanted.namespace else set())),
        states=view.STATE_FILTERS,
        models=sorted(models.items(), key=lambda item: item[1].lower()),
        next_url=wanted.url(page_token=token) if token else None,
        first_url=wanted.url() if page_token else None,
        can_deploy=ui.can(Permission.DEPLOY),
        view=view,
        crumbs=[("Deployments", None)],
    )


# --- one deployment ------------------------------------------------------------------------------------------------


@router.get("/deployments/{deployment_id}")
def deployment_page(ui: web.UiDep, request: Request, deployment_id: str) -> HTMLResponse:
    deploy = service(request)
    id_ = e.parse_id(deployment_id, "deployment")
    with web.acting(ui):
        deployment = deploy.get(id_)
        events = deploy.history(id_)
        details = deploy_choices.details(request, deployment)
        links = view.model_links(ui, [deployment])
        objects, objects_error = view.objects_yaml(deploy, deployment)
    conditions = view.conditions(request, deployment)
    title = deployment.display_name or deployment.name
    return web.render(
        ui,
        "deploy/deployment.html",
        d=deployment,
        events=events,
        details=details,
        links=links,
        objects=objects,
        objects_error=objects_error,
        conditions=conditions,
        can_deploy=ui.can(Permission.DEPLOY),
        view=view,
        crumbs=[CRUMB, (title, None)],
    )


@router.get("/deployments/{deployment_id}/status")
def status_fragment(ui: web.UiDep, request: Request, deployment_id: str, part: Text = None) -> HTMLResponse:
    """A piece of the deployment page that its script swaps in every second while the status is moving: the status
    block, the status pill of a list row (``part=pill``) or the history (``part=history``); never cached."""
    deploy = service(request)
    id_ = e.parse_id(deployment_id, "deployment")
    if part not in (None, "pill", "history"):
        raise InvalidInput(f"invalid part {part[:40]!r}: pill or history")
    with web.acting(ui):
        deployment = deploy.get(id_)
        events = deploy.history(id_) if part == "history" else []
    template = {"pill": "deploy/_status_pill.html", "history": "deploy/_history.html"}.get(
        part or "", "deploy/_status.html"
    )
    # not web.render: a fragment shows no flash message, so it must not use one up
    conditions = view.conditions(request, deployment) if part is None else ()
    context = {"ui": ui, "d": deployment, "events": events, "view": view, "conditions": conditions}
    response = web.templates.TemplateResponse(request, template, context)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/deployments/{deployment_id}/{action}")
def confirm_page(ui: DeployerDep, request: Request, deployment_id: str, action: str) -> HTMLResponse:
    deployment = _deployment_for(ui, request, deployment_id, action)
    return _confirm(ui, deployment, action)


def _confirm(ui: web.Ui, deployment: Deployment, action: str, error: str | None = None) -> HTMLResponse:
    verb = ACTIONS[action][0]
    title = deployment.display_name or deployment.name
    return web.render(
        ui,
        "deploy/confirm.html",
        status_code=400 if error else 200,
        d=deployment,
        action=action,
        verb=verb,
        typed=action in TYPED,
        error=error,
        crumbs=[CRUMB, (title, f"/deployments/{deployment.id}"), (verb, None)],
    )


@router.post("/deployments/{deployment_id}/{action}")
async def act(ui: DeployerDep, request: Request, deployment_id: str, action: str) -> Response:
    fields = await web.form(ui)
    deployment = await _run(ui, lambda: _deployment_for(ui, request, deployment_id, action))
    if action in TYPED and fields.get("confirm_name", "").strip() != deployment.name:
        return _confirm(ui, deployment, action, f"Type {deployment.name} to confirm.")
    deploy = service(request)
    method = {"stop": deploy.stop, "start": deploy.start, "undeploy": deploy.undeploy}[action]
    done = await _run(ui, lambda: method(deployment.id))
    name = done.display_name or done.name
    return web.redirect(f"/deployments/{deployment.id}", flash=f"{ACTIONS[action][1]} {name}")


def _deployment_for(ui: web.Ui, request: Request, deployment_id: str, action: str) -> Deployment:
    if action not in ACTIONS:
        raise NotFound("There is no page at this address.")
    id_ = e.parse_id(deployment_id, "deployment")
    with web.acting(ui):
        deployment = service(request).get(id_)
    if not deployment.active:
        raise InvalidInput(f"{deployment.name} in {deployment.namespace} is undeployed")
    return deployment


# --- a version's and a model's Deployments tab ------------------------------------------------------------------------


@router.get("/registry/models/{model_id}/versions/{version_id}/deployments")
def version_deployments(ui: web.UiDep, request: Request, model_id: str, version_id: str) -> HTMLResponse:
    deploy = service(request)
    model_id_ = e.parse_id(model_id, e.REGISTERED_MODEL.label)
    version_id_ = e.parse_id(version_id, e.MODEL_VERSION.label)
    registry = request.app.state.registry
    with web.acting(ui):
        model = registry.get(e.REGISTERED_MODEL, model_id_)
        version = registry.get(e.MODEL_VERSION, version_id_)
        if version.row["registered_model_id"] != model_id_:
            raise NotFound(f"registered model {model_id_} has no model version {version_id_}")
        every, _ = deploy.list(model_version_id=version_id_, include_undeployed=True, page_size=OPTIONS_SAMPLE)
        events = deploy.history(model_version_id=version_id_)
    return web.render(
        ui,
        "registry/version.html",
        tab="deployments",
        model=model,
        version=version,
        archived=version.row["state"] == "ARCHIVED",
        model_archived=model.row["state"] == "ARCHIVED",
        labels=rview.labels(version.props),
        deploy=ui.can(Permission.DEPLOY),
        can_archive=ui.can(Permission.ARCHIVE),
        deployments=[d for d in every if d.active],
        events=events,
        names={d.id: d.display_name or d.name for d in every},
        view=view,
        crumbs=[
            ("Registry", "/registry"),
            (model.row["name"], f"/registry/models/{model_id_}?tab=versions"),
            (version.row["name"], f"/registry/models/{model_id_}/versions/{version_id_}"),
            ("Deployments", None),
        ],
    )


@router.get("/registry/models/{model_id}/deployments")
def model_deployments(ui: web.UiDep, request: Request, model_id: str) -> HTMLResponse:
    """The model-wide Deployments tab (the dashboard's): live deployments of every version."""
    deploy = service(request)
    model_id_ = e.parse_id(model_id, e.REGISTERED_MODEL.label)
    with web.acting(ui):
        model = request.app.state.registry.get(e.REGISTERED_MODEL, model_id_)
        live, _ = deploy.list(registered_model_id=model_id_, page_size=OPTIONS_SAMPLE)
        links = view.model_links(ui, live)
    return web.render(
        ui,
        "registry/model.html",
        tab="deployments",
        model=model,
        archived=model.row["state"] == "ARCHIVED",
        labels=rview.labels(model.props),
        can_archive=ui.can(Permission.ARCHIVE),
        can_deploy=ui.can(Permission.DEPLOY),
        deployments=live,
        links=links,
        view=view,
        crumbs=[("Registry", "/registry"), (model.row["name"], None)],
    )

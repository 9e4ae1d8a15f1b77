"""The admin's settings pages: catalog sources (read-only: they live in the sources files), role bindings, API
tokens, data connections, local users, and the deployment targets (hardware profiles and serving runtimes). Every
route needs the ``manage`` permission (the nav hides the pages from others; the routes refuse them anyway), except
the lists of deployment targets, which everyone may read; every write runs its service as the caller, which checks
the permission again and writes the audit record.

A failed write re-renders its form with the error next to the field (the status code the error carries); a good one
redirects with a flash. The one exception is a new API token: its page is the POST's own response, marked
``no-store``, since the secret must not travel in a URL or be kept server-side for a later page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelreg.auth.principal import Permission
from modelreg.deploy.targets import HardwareProfile, RuntimeTemplate, TargetService
from modelreg.errors import Conflict, Forbidden, InvalidInput, RegistryError
from modelreg.services.entities import parse_id
from modelreg.ui import app_state, settings_forms, web
from modelreg.ui.settings_forms import (
    BindingForm,
    ConnectionForm,
    FormResult,
    PasswordForm,
    ProfileForm,
    RuntimeForm,
    TokenForm,
    UserForm,
)

router = APIRouter(include_in_schema=False)
T = TypeVar("T")


async def _admin(ui: web.UiDep) -> web.Ui:
    if not ui.can(Permission.MANAGE):
        raise Forbidden("the settings pages are for admins (they need the 'manage' permission)")
    return ui


AdminDep = Annotated[web.Ui, Depends(_admin)]


async def call(ui: web.Ui, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, as the page's caller (a service call may block on the database)."""

    def run() -> T:
        with web.acting(ui):
            return fn(*args, **kwargs)

    return await anyio.to_thread.run_sync(run)


def _page(ui: web.Ui, template: str, crumb: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    crumbs = [("Settings", "/settings"), (crumb, None)]
    return web.render(ui, f"settings/{template}", status_code=status_code, crumbs=crumbs, **ctx)


def _forget(request: Request) -> None:
    """Drop cached identities, so a binding or token change applies to the next request (as the API does)."""
    request.app.state.authenticator.forget()


@router.get("/settings")
async def settings_home(ui: AdminDep) -> RedirectResponse:
    return web.redirect("/settings/catalog-sources")


# --- catalog sources ---------------------------------------------------------------------------------------------


@router.get("/settings/catalog-sources")
def catalog_sources(ui: AdminDep, request: Request) -> HTMLResponse:
    catalog = app_state.catalog(request)
    settings = request.app.state.settings.catalog
    index = catalog.index  # once: the counts and the statuses come from the same load
    counts = {p.source.id: len(p.entries) for p in index.prepared if p.contributes}
    rows = [{"source": s, "status": settings_forms.source_status(s), "models": counts.get(s.id)} for s in index.sources]
    return _page(
        ui,
        "catalog_sources.html",
        "Catalog sources",
        rows=rows,
        files=[str(p) for p in settings.sources],
        registry_source=settings.registry_source,
        reload_seconds=settings.reload_interval_seconds,
        problems=catalog.config.problems,
    )


# --- role bindings -----------------------------------------------------------------------------------------------


def _access_page(ui: web.Ui, request: Request, form: BindingForm | None = None, status_code: int = 200) -> HTMLResponse:
    bindings = app_state.access(request).list_bindings()
    form = form or BindingForm(values={"kind": "group", "role": "viewer"})
    return _page(ui, "access.html", "Access", status_code, bindings=bindings, form=form)


@router.get("/settings/access")
def access_page(ui: AdminDep, request: Request) -> HTMLResponse:
    return _access_page(ui, request)


@router.post("/settings/access")
async def add_binding(ui: AdminDep, request: Request) -> Response:
    form = BindingForm().parse(await web.form(ui))
    kind, subject, role = form.values["kind"], form.values["subject"], form.values["role"]
    if not form.errors:
        try:
            await call(ui, app_state.access(request).create_binding, kind, subject, role)
        except (Conflict, InvalidInput) as exc:
            form.errors["subject"] = exc.message
            return await anyio.to_thread.run_sync(_access_page, ui, request, form, exc.status_code)
        _forget(request)
        return web.redirect("/settings/access", flash=f"Role binding added: {kind} {subject} → {role}")
    return await anyio.to_thread.run_sync(_access_page, ui, request, form, 400)


@router.post("/settings/access/{binding_id}/delete")
async def delete_binding(ui: AdminDep, request: Request, binding_id: str) -> Response:
    await web.form(ui)
    gone = await call(ui, app_state.access(request).delete_binding, parse_id(binding_id, "role binding"))
    _forget(request)
    return web.redirect(
        "/settings/access", flash=f"Role binding deleted: {gone.subject_kind} {gone.subject} → {gone.role}"
    )


# --- API tokens --------------------------------------------------------------------------------------------------


def _tokens_page(
    ui: web.Ui, request: Request, show_all: bool, form: TokenForm | None = None, status_code: int = 200
) -> HTMLResponse:
    tokens = app_state.access(request).list_tokens(include_inactive=show_all)
    return _page(
        ui, "tokens.html", "API tokens", status_code, tokens=tokens, show_all=show_all, form=form or TokenForm()
    )


@router.get("/settings/tokens")
def tokens_page(ui: AdminDep, request: Request, show: str = "") -> HTMLResponse:
    return _tokens_page(ui, request, show_all=show == "all")


@router.post("/settings/tokens")
async def create_token(ui: AdminDep, request: Request) -> Response:
    form = TokenForm().parse(await web.form(ui))
    if form.errors:
        return await anyio.to_thread.run_sync(_tokens_page, ui, request, False, form, 400)
    description = form.values["description"] or None
    try:
        secret, info = await call(
            ui, app_state.access(request).create_token, form.values["user"], form.groups, form.expires_in, description
        )
    except InvalidInput as exc:
        form.errors[""] = exc.message
        return await anyio.to_thread.run_sync(_tokens_page, ui, request, False, form, exc.status_code)
    response = _page(ui, "token_created.html", "API tokens", token=secret, info=info)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(ui: AdminDep, request: Request, token_id: str) -> Response:
    await web.form(ui)
    info = await call(ui, app_state.access(request).revoke_token, parse_id(token_id, "API token"))
    _forget(request)
    return web.redirect("/settings/tokens", flash=f"API token {info.id} of {info.user} revoked")


# --- data connections --------------------------------------------------------------------------------------------


def _connections_page(ui: web.Ui, form: ConnectionForm | None = None, status_code: int = 200) -> HTMLResponse:
    with web.acting(ui):
        connections = app_state.connections(ui.request).list()
    form = form or ConnectionForm(values={"type": "s3", "check": "on"})
    return _page(
        ui,
        "connections.html",
        "Data connections",
        status_code,
        connections=connections,
        form=form,
        types=tuple(settings_forms.CONNECTION_FIELDS),
    )


@router.get("/settings/connections")
def connections_page(ui: AdminDep) -> HTMLResponse:
    return _connections_page(ui)


@router.post("/settings/connections")
async def create_connection(ui: AdminDep, request: Request) -> Response:
    form = ConnectionForm().parse(await web.form(ui))
    if form.errors:
        return await anyio.to_thread.run_sync(_connections_page, ui, form, 400)
    arguments = dict(form.arguments)
    name, kind = arguments.pop("name"), arguments.pop("type")
    try:
        await call(ui, app_state.connections(request).create, name, kind, **arguments)
    except RegistryError as exc:
        if exc.status_code >= 500:  # the database: the error page says so
            raise
        form.service_error(exc.message)
        return await anyio.to_thread.run_sync(_connections_page, ui, form, exc.status_code)
    return web.redirect("/settings/connections", flash=f"Data connection {name} created")


@router.post("/settings/connections/{connection_id}/delete")
async def delete_connection(ui: AdminDep, request: Request, connection_id: str) -> Response:
    await web.form(ui)
    gone = await call(ui, app_state.connections(request).delete, parse_id(connection_id, "data connection"))
    return web.redirect("/settings/connections", flash=f"Data connection {gone.name} deleted")


# --- local users -------------------------------------------------------------------------------------------------


def _users_page(ui: web.Ui, form: UserForm | None = None, status_code: int = 200) -> HTMLResponse:
    request = ui.request
    users = app_state.users(request).list()
    password_login = "password" in request.app.state.settings.auth.methods
    return _page(
        ui, "users.html", "Users", status_code, users=users, password_login=password_login, form=form or UserForm()
    )


@router.get("/settings/users")
def users_page(ui: AdminDep) -> HTMLResponse:
    return _users_page(ui)


@router.post("/settings/users")
async def create_user(ui: AdminDep, request: Request) -> Response:
    form = UserForm().parse(await web.form(ui))
    if not form.errors:
        username = form.values["username"]
        try:
            await call(ui, app_state.users(request).create, username, form.password, form.groups)
        except (Conflict, InvalidInput) as exc:
            form.errors["username"] = exc.message
            return await anyio.to_thread.run_sync(_users_page, ui, form, exc.status_code)
        return web.redirect("/settings/users", flash=f"Local user {username} created")
    return await anyio.to_thread.run_sync(_users_page, ui, form, 400)


def _password_page(ui: web.Ui, username: str, form: PasswordForm, status_code: int = 200) -> HTMLResponse:
    user = app_state.users(ui.request).get(username)
    return web.render(
        ui,
        "settings/user_password.html",
        status_code=status_code,
        user=user,
        form=form,
        crumbs=[("Settings", "/settings"), ("Users", "/settings/users"), (username, None)],
    )


@router.get("/settings/users/{username:path}/password")
def password_page(ui: AdminDep, username: str) -> HTMLResponse:
    return _password_page(ui, username, PasswordForm())


@router.post("/settings/users/{username:path}/password")
async def change_password(ui: AdminDep, request: Request, username: str) -> Response:
    form = PasswordForm().parse(await web.form(ui))
    if not form.errors:
        try:
            await call(ui, app_state.users(request).set_password, username, form.password)
        except InvalidInput as exc:
            form.errors["password"] = exc.message
        else:
            return web.redirect("/settings/users", flash=f"Password of {username} changed")
    return await anyio.to_thread.run_sync(_password_page, ui, username, form, 400)


@router.post("/settings/users/{username:path}/disable")
async def disable_user(ui: AdminDep, request: Request, username: str) -> Response:
    await web.form(ui)
    await call(ui, app_state.users(request).set_disabled, username, True)
    return web.redirect("/settings/users", flash=f"Local user {username} disabled")


@router.post("/settings/users/{username:path}/enable")
async def enable_user(ui: AdminDep, request: Request, username: str) -> Response:
    await web.form(ui)
    await call(ui, app_state.users(request).set_disabled, username, False)
    return web.redirect("/settings/users", flash=f"Local user {username} enabled")


@router.post("/settings/users/{username:path}/delete")
async def delete_user(ui: AdminDep, request: Request, username: str) -> Response:
    await web.form(ui)
    await call(ui, app_state.users(request).delete, username)
    return web.redirect("/settings/users", flash=f"Local user {username} deleted")


# --- deployment targets: hardware profiles and serving runtimes ----------------------------------------------------
# Everyone may read them (the deploy wizard offers them); admins create and delete modelreg's own. With a cluster
# the cluster's definitions are used and the service refuses writes, so the forms are not shown.

PROFILE_DEFAULTS = {
    "cpu_min": "1",
    "cpu_default": "2",
    "cpu_max": "4",
    "memory_min": "2Gi",
    "memory_default": "4Gi",
    "memory_max": "8Gi",
    "accelerator_min": "1",
    "accelerator_default": "1",
    "accelerator_max": "1",
}


def _targets_page(
    ui: web.Ui,
    template: str,
    crumb: str,
    items: Callable[[TargetService], list[Any]],
    form: FormResult,
    yaml_form: FormResult,
    status_code: int = 200,
) -> HTMLResponse:
    targets = app_state.deploy_targets(ui.request)
    with web.acting(ui):
        listed = items(targets)
    return _page(
        ui,
        template,
        crumb,
        status_code,
        targets_list=listed,
        form=form,
        yaml_form=yaml_form,
        can_manage=ui.can(Permission.MANAGE) and targets.kube is None,
        in_cluster=targets.kube is not None,
        namespace=targets.namespace,
    )


def _profiles_page(
    ui: web.Ui, form: ProfileForm | None = None, yaml_form: ProfileForm | None = None, status_code: int = 200
) -> HTMLResponse:
    return _targets_page(
        ui,
        "hardware_profiles.html",
        "Hardware profiles",
        lambda targets: targets.profiles(include_disabled=True),
        form or ProfileForm(values=dict(PROFILE_DEFAULTS)),
        yaml_form or ProfileForm(),
        status_code,
    )


@router.get("/settings/hardware-profiles")
def hardware_profiles_page(ui: web.UiDep) -> HTMLResponse:
    return _profiles_page(ui)


@router.post("/settings/hardware-profiles")
async def create_hardware_profile(ui: AdminDep, request: Request) -> Response:
    fields = await web.form(ui)
    from_yaml = fields.get("source") == "yaml"
    form = ProfileForm().parse_yaml(fields) if from_yaml else ProfileForm().parse(fields)
    create = app_state.deploy_targets(request).create_profile
    where = ("/settings/hardware-profiles", "Hardware profile", settings_forms.profile_field)
    return await _create_target(ui, form, from_yaml, lambda: create(form.wire), _profiles_page, *where)


async def _create_target(
    ui: web.Ui,
    form: FormResult,
    from_yaml: bool,
    create: Callable[[], HardwareProfile | RuntimeTemplate],
    page: Callable[..., HTMLResponse],
    url: str,
    what: str,
    field_of: Callable[[str], str],
) -> Response:
    """Create a profile or runtime from a checked form; a refusal goes back into the form it came from."""
    status = 400
    if not form.errors:
        try:
            created = await call(ui, create)
        except RegistryError as exc:
            if exc.status_code >= 500:
                raise
            form.errors.setdefault("yaml" if from_yaml else field_of(exc.message), exc.message)
            status = exc.status_code
        else:
            return web.redirect(url, flash=f"{what} {created.name} created")
    forms = {"yaml_form": form} if from_yaml else {"form": form}
    return await anyio.to_thread.run_sync(lambda: page(ui, status_code=status, **forms))


@router.post("/settings/hardware-profiles/{name}/delete")
async def delete_hardware_profile(ui: AdminDep, request: Request, name: str) -> Response:
    await web.form(ui)
    gone = await call(ui, app_state.deploy_targets(request).delete_profile, name)
    return web.redirect("/settings/hardware-profiles", flash=f"Hardware profile {gone.name} deleted")


def _runtimes_page(
    ui: web.Ui, form: RuntimeForm | None = None, yaml_form: RuntimeForm | None = None, status_code: int = 200
) -> HTMLResponse:
    return _targets_page(
        ui,
        "runtimes.html",
        "Serving runtimes",
        lambda targets: targets.runtimes(),
        form or RuntimeForm(values={"model_type": "generative", "port": "8080"}),
        yaml_form or RuntimeForm(),
        status_code,
    )


@router.get("/settings/runtimes")
def runtimes_page(ui: web.UiDep) -> HTMLResponse:
    return _runtimes_page(ui)


@router.post("/settings/runtimes")
async def create_runtime(ui: AdminDep, request: Request) -> Response:
    fields = await web.form(ui)
    from_yaml = fields.get("source") == "yaml"
    form = RuntimeForm().parse_yaml(fields) if from_yaml else RuntimeForm().parse(fields)
    create = app_state.deploy_targets(request).create_runtime
    where = ("/settings/runtimes", "Serving runtime", settings_forms.runtime_field)
    return await _create_target(ui, form, from_yaml, lambda: create(form.body), _runtimes_page, *where)


@router.post("/settings/runtimes/{name}/delete")
async def delete_runtime(ui: AdminDep, request: Request, name: str) -> Response:
    await web.form(ui)
    gone = await call(ui, app_state.deploy_targets(request).delete_runtime, name)
    return web.redirect("/settings/runtimes", flash=f"Serving runtime {gone.name} deleted")

"""Shared fixtures of the web UI tests: an app on a temporary SQLite database, clients that keep cookies, local
users with roles, logging in, and the CSRF token of a page.

    def test_something(ui_app: UiApp) -> None:          # --auth password (the default of the fixture)
        ui_app.add_user("dev", role="developer")
        with ui_app.client() as browser:
            ui_app.login(browser, "dev")
            page = browser.get("/registry")
            token = csrf_of(page)
            browser.post("/registry/models/1/archive", data={"csrf_token": token})

    def test_other(make_ui_app: MakeUiApp) -> None:      # other auth methods or settings
        app = make_ui_app(methods=("proxy",))
        with app.client(peer="127.0.0.1", headers={"X-Remote-User": "alice"}) as browser: ...

Clients are Starlette ``TestClient`` s (httpx): ``peer`` is the socket address the app sees (loopback by default),
redirects are not followed unless asked. Passwords are hashed with cheap Argon2 parameters here, so a login costs
milliseconds.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from starlette.testclient import TestClient

from modelreg.app import create_app
from modelreg.auth import context
from modelreg.db import migrations
from modelreg.db.database import Database
from modelreg.services.access import AccessService
from modelreg.services.users import UserService
from modelreg.settings import Settings
from modelreg.ui import web

PASSWORD = "correct horse battery staple"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def bind_group_as(ui: web.Ui, group: str) -> None:
    """Bind ``group`` to the viewer role through the access service as the page's caller (in a worker thread, as the
    areas' forms write): the tests' own probe form, so they do not depend on an area's pages."""

    def run() -> None:
        with web.acting(ui):
            ui.request.app.state.access.create_binding("group", group, "viewer")

    await anyio.to_thread.run_sync(run)


def csrf_of(page: httpx.Response | str) -> str:
    """The CSRF token in a page's forms (every form of a page carries the same one)."""
    text = page if isinstance(page, str) else page.text
    match = _CSRF.search(text)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@dataclass
class UiApp:
    """One app (``create_app``) on its own SQLite database; ``client()`` opens browsers against it."""

    app: FastAPI
    settings: Settings
    db: Database
    _stack: ExitStack = field(default_factory=ExitStack)
    _started: bool = False

    @property
    def users(self) -> UserService:
        users: UserService = self.app.state.users
        return users

    @property
    def access(self) -> AccessService:
        access: AccessService = self.app.state.access
        return access

    def add_user(
        self, name: str, password: str = PASSWORD, groups: tuple[str, ...] = (), role: str | None = None
    ) -> None:
        """A local user (and a role binding for the user when ``role`` is given), made by ``system:tests``."""
        with context.acting_as(context.system("tests")):
            self.users.create(name, password, groups)
            if role is not None:
                self.access.create_binding("user", name, role)
        self.app.state.authenticator.forget()

    def bind(self, kind: str, subject: str, role: str) -> None:
        with context.acting_as(context.system("tests")):
            self.access.create_binding(kind, subject, role)
        self.app.state.authenticator.forget()

    def client(
        self, peer: str = "127.0.0.1", headers: dict[str, str] | None = None, base_url: str = "http://testserver"
    ) -> TestClient:
        """A browser: keeps cookies, does not follow redirects. Closed with the fixture (or use ``with``)."""
        client = TestClient(
            self.app, base_url=base_url, client=(peer, 50000), follow_redirects=False, headers=headers or {}
        )
        if not self._started:  # the lifespan (catalog reloads, upload sweep) runs with the first client
            self._stack.enter_context(client)
            self._started = True
            return client
        self._stack.callback(client.close)
        return client

    def login(
        self, client: TestClient, username: str, password: str = PASSWORD, next_path: str = "/catalog"
    ) -> httpx.Response:
        """Log in through the login form; returns the answer to the form post (303 on success)."""
        page = client.get("/login", params={"next": next_path})
        assert page.status_code == 200, page.text
        return client.post(
            "/login",
            data={"csrf_token": csrf_of(page), "username": username, "password": password, "next": next_path},
        )

    def logged_in(self, username: str, password: str = PASSWORD) -> TestClient:
        """A browser already logged in as ``username``."""
        client = self.client()
        answer = self.login(client, username, password)
        assert answer.status_code == 303, answer.text
        return client

    def close(self) -> None:
        self._stack.close()
        self.db.dispose()


MakeUiApp = Callable[..., UiApp]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the current schema, copied for each app (migrating each one costs more)."""
    path = tmp_path_factory.mktemp("ui-template") / "registry.db"
    db = Database(f"sqlite:///{path}")
    migrations.upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture
def make_ui_app(tmp_path: Path, migrated_sqlite: Path) -> Iterator[MakeUiApp]:
    """``make_ui_app(methods=("password",), **settings)``: an app with these auth methods; ``settings`` are more
    ``Settings`` keyword arguments (``ui={...}``, ``auth={...}`` merged with ``methods``). The bridge is off."""
    made: list[UiApp] = []

    def make(methods: tuple[str, ...] = ("password",), **overrides: Any) -> UiApp:
        data_dir = tmp_path / f"app{len(made)}"
        data_dir.mkdir()
        url = f"sqlite:///{data_dir / 'registry.db'}"
        auth = {"methods": list(methods), **overrides.pop("auth", {})}
        settings = Settings(
            database_url=url,
            data_dir=data_dir,
            auth=auth,
            bridge=overrides.pop("bridge", {"enabled": False}),
            **overrides,
        )
        shutil.copyfile(migrated_sqlite, data_dir / "registry.db")
        db = Database(url, settings.database)
        app = create_app(settings, db)
        app.state.users = UserService(db, CHEAP_HASHER)
        ui_app = UiApp(app, settings, db)
        made.append(ui_app)
        return ui_app

    yield make
    for ui_app in made:
        ui_app.close()


@pytest.fixture
def ui_app(make_ui_app: MakeUiApp) -> UiApp:
    """An app with password login (``--auth password``)."""
    return make_ui_app()

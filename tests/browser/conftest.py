"""Browser tests: Playwright driving Debian's Chromium (``/usr/bin/chromium``, installed by ``scripts/setup``; never
a downloaded browser) against a real ``modelreg serve`` with the demo users and the demo catalog.

Every page a test opens is guarded: a request to any host but the test server is aborted and recorded, and so is
every console error (a CSP violation is one); the test errors at teardown if either list is not empty. ``check``
runs axe-core (``tests/browser/node_modules``, installed by ``scripts/setup-browser``) on a page and fails on a
serious or critical violation, and saves a full-page screenshot: into a temporary folder, or into
``$MODELREG_SCREENSHOTS`` (``MODELREG_SCREENSHOTS=docs/screenshots`` refreshes the README's pictures).

One server and one browser per xdist worker (own free port, own temporary folders), so the tests run the
same under ``scripts/test -n 2``; each test that changes data makes its own models, so tests do not depend on order.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cli_runner import invoke_cli
from conftest import free_port
from processes import ServeProcess

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORT = {"width": 1280, "height": 800}
USERS = ("ai-admin", "ai-developer", "ai-viewer")
REPO = HERE.parent.parent


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing: run scripts/setup (it installs Debian's chromium)"
    if not AXE.is_file():
        return f"{AXE.relative_to(REPO)} is missing: run scripts/setup-browser (npm ci for axe-core)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: .venv/bin/pip install -e '.[dev]'"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = skip_reason()
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class Server:
    """The running ``modelreg serve``, the demo users' password and an admin API token for setting up data."""

    url: str
    password: str
    admin_token: str
    database_url: str

    def api(self) -> httpx.Client:
        """A client of the registry API as ai-admin (for arranging data and checking results, not for the UI)."""
        return httpx.Client(
            base_url=f"{self.url}/api", headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=30
        )

    def create_model(self, name: str, version: str = "v1", *, license: str | None = "apache-2.0") -> tuple[int, int]:
        """Register ``name`` with one version through the REST API; return (model id, version id)."""
        props = {"License": {"metadataType": "MetadataStringValue", "string_value": license}} if license else {}
        with self.api() as api:
            rm = api.post("/model_registry/v1alpha3/registered_models", json={"name": name, "customProperties": props})
            rm.raise_for_status()
            mv = api.post(
                "/model_registry/v1alpha3/model_versions",
                json={"name": version, "registeredModelId": rm.json()["id"], "author": "ai-admin"},
            )
            mv.raise_for_status()
            return int(rm.json()["id"]), int(mv.json()["id"])


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    """``modelreg *args`` in this process (tests/cli_runner.py): setting up data, the commands are tested elsewhere."""
    done = invoke_cli(*args, env=env)
    assert done.returncode == 0, f"modelreg {' '.join(args[:2])} failed: {done.stderr or done.stdout}"
    return done.stdout


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``modelreg serve --auth password,token`` on SQLite after ``modelreg seed --demo-users``."""
    data = tmp_path_factory.mktemp("browser-data")
    database_url = f"sqlite:///{data / 'registry.db'}"
    env = {"MODELREG_DATA_DIR": str(data), "MODELREG_DATABASE_URL": database_url}
    # webhooks may send to the tests' receivers on 127.0.0.1 (tests/browser/test_webhooks.py)
    env.update(MODELREG_EVENTS__ALLOW_HTTP="true", MODELREG_EVENTS__ALLOWED_NETWORKS="127.0.0.0/8")
    password = secrets.token_urlsafe(16)
    _cli("seed", "--demo-users", env={**env, "MODELREG_DEMO_PASSWORD": password})  # ai-admin, ai-developer, ai-viewer
    admin_token = _cli("token", "create", "--user", "ai-admin", env=env).strip()
    log = data / "serve.log"
    with ServeProcess(free_port(), "--auth", "password,token", env=env, log=log) as proc:
        yield Server(proc.url, password, admin_token, database_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module, not per session: while Playwright's sync API is open, its event loop counts as running in this
    thread, so an anyio/asyncio test that the same xdist worker runs next cannot start its own loop."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("MODELREG_SCREENSHOTS")
    if wanted:
        path = Path(wanted) if Path(wanted).is_absolute() else REPO / wanted
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


@dataclass
class Guard:
    """What the pages of one test attempted that they must not: requests to other hosts, console errors."""

    origin: str
    foreign: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # URLs the test expects an error status from

    def route(self, route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or f"{parts.scheme}://{parts.netloc}" == self.origin:
            route.continue_()
        else:
            self.foreign.append(f"{route.request.resource_type} {url}")
            route.abort("blockedbyclient")

    def watch(self, page: Any) -> None:
        page.on("console", lambda msg: self._console(page, msg))
        page.on("pageerror", lambda exc: self.console.append(f"uncaught: {exc} ({page.url})"))

    def _console(self, page: Any, msg: Any) -> None:
        if msg.type != "error":
            return
        if msg.location.get("url") in self.refused and msg.text.startswith("Failed to load resource"):
            return  # the error page of a request the test expects refused (Browse.refused)
        self.console.append(f"{msg.text} ({msg.location.get('url') or page.url})")


class Browse:
    """Opens guarded browser contexts for one test: ``anonymous()`` or ``login(user)``; closes them at the end."""

    def __init__(self, browser: Any, server: Server, guard: Guard, screenshots: Path) -> None:
        self.browser = browser
        self.server = server
        self.guard = guard
        self.screenshots = screenshots
        self.contexts: list[Any] = []

    def anonymous(self, viewport: dict[str, int] | None = None) -> Any:
        """A page in a fresh context (own cookies, empty cache), not signed in."""
        context = self.browser.new_context(base_url=self.server.url, viewport=viewport or VIEWPORT)
        context.route("**/*", self.guard.route)
        context.on("page", self.guard.watch)
        self.contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())  # confirm() before destructive actions: say yes
        return page

    def login(self, user: str, viewport: dict[str, int] | None = None) -> Any:
        """A page signed in as ``user`` through the login form (landing wherever the form sends it)."""
        page = self.anonymous(viewport)
        page.goto("/login")
        page.get_by_label(re.compile(r"user\s*name|^user$", re.I)).fill(user)
        page.get_by_label(re.compile(r"^password", re.I)).fill(self.server.password)
        with page.expect_navigation():
            page.get_by_role("button", name=re.compile(r"log\s*in|sign\s*in", re.I)).click()
        assert "/login" not in urlsplit(page.url).path, f"login as {user} failed: {page.inner_text('main')[:300]}"
        return page

    def refused(self, page: Any, path: str) -> int:
        """Open ``path``, which the test expects refused; return the status (its console error is expected)."""
        self.guard.refused.add(f"{self.server.url}{path}")
        response = page.goto(path)
        assert response is not None
        return int(response.status)

    def check(self, page: Any, name: str) -> None:
        """Save a full-page screenshot ``<name>.png`` and fail on any serious or critical axe violation."""
        page.wait_for_load_state("load")
        page.screenshot(path=self.screenshots / f"{name}.png", full_page=True)
        # evaluate (DevTools), not a <script> tag: the page's CSP must not stop the checker, nor the checker show up
        # as a CSP violation of the page's own
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
        violations = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
                            targets: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}))"""
        )
        assert not violations, f"axe on {name} ({page.url}):\n" + "\n".join(
            f"- [{v['impact']}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["targets"]) for v in violations
        )

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browse(browser: Any, live_server: Server, screenshots: Path) -> Iterator[Browse]:
    guard = Guard(live_server.url)
    session = Browse(browser, live_server, guard, screenshots)
    try:
        yield session
    finally:
        session.close()
    assert not guard.foreign, "pages tried to load from other hosts:\n" + "\n".join(guard.foreign)
    assert not guard.console, "console errors:\n" + "\n".join(guard.console)

"""The registry pages (ui/registry_pages.py): registered and archived models, a model and its versions, version
details (properties, location, artifacts, lineage, the promotions the policy allows), history, and the archive,
restore and promote forms, as each role sees and uses them; the server refuses what a page does not offer."""

from __future__ import annotations

import re
import threading
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from starlette.testclient import TestClient

from modelreg.auth import context
from modelreg.services import entities as e
from modelreg.services.properties import PropValue
from modelreg.ui import registry_pages
from ui.conftest import MakeUiApp, UiApp, csrf_of

_TAGS = re.compile(r"<[^>]+>")
ROLES = ("admin", "developer", "viewer")


@pytest.fixture
def ui_app(make_ui_app: MakeUiApp) -> UiApp:
    """Password login, with one user per role: ``ai-admin``, ``ai-developer``, ``ai-viewer``."""
    made = make_ui_app()
    for role in ROLES:
        made.add_user(f"ai-{role}", role=role)
    return made


@pytest.fixture
def app(ui_app: UiApp) -> FastAPI:
    return ui_app.app


@pytest.fixture
def client(ui_app: UiApp) -> TestClient:
    """The admin's browser."""
    return ui_app.logged_in("ai-admin")


def browser(ui_app: UiApp, role: str) -> TestClient:
    return ui_app.logged_in(f"ai-{role}")


def text(html: str) -> str:
    """A page's visible text, whitespace collapsed: what a reader sees, not how the markup spells it."""
    return " ".join(unescape(_TAGS.sub(" ", html)).split())


def csrf(client: TestClient, page: str) -> str:
    response = client.get(page)
    assert response.status_code == 200, response.text
    return csrf_of(response)


def post(client: TestClient, url: str, page: str, **fields: str) -> httpx.Response:
    """Post the form on ``page`` and follow the redirect, as a browser does (so the flash message shows)."""
    answer = client.post(url, data={"csrf_token": csrf(client, page), **fields})
    if answer.status_code == 303:
        return client.get(answer.headers["location"])
    return answer


# --- data -------------------------------------------------------------------------------------------------------------


class Data:
    """Registers through the services, as a CLI or API client would have."""

    def __init__(self, app: FastAPI) -> None:
        self.registry = app.state.registry

    def model(self, name: str, owner: str | None = None, **props: PropValue) -> int:
        with context.acting_as(context.system("tests")):
            return int(self.registry.create(e.REGISTERED_MODEL, {"name": name, "owner": owner}, props).row["id"])

    def version(self, model_id: int, name: str, uri: str | None = None, **props: PropValue) -> int:
        with context.acting_as(context.system("tests")):
            values = {"name": name, "registered_model_id": model_id, "author": "alice"}
            version_id = int(self.registry.create_model_version(values, props).row["id"])
            if uri is not None:
                artifact = {"name": f"{name}-weights", "uri": uri, "model_format_name": "onnx"}
                self.registry.upsert_artifact("model_version", version_id, "model-artifact", artifact, {})
        return version_id

    def artifact(self, version_id: int, **values: Any) -> None:
        with context.acting_as(context.system("tests")):
            self.registry.upsert_artifact("model_version", version_id, "model-artifact", values, {})


@pytest.fixture
def data(app: FastAPI) -> Data:
    return Data(app)


def s(value: str) -> PropValue:
    return PropValue("string", value)


def model_url(model_id: int) -> str:
    return f"/registry/models/{model_id}"


def version_url(model_id: int, version_id: int) -> str:
    return f"/registry/models/{model_id}/versions/{version_id}"


def table_rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return [text(row) for row in body.split("</tr>") if row.strip()]


# --- registered models ------------------------------------------------------------------------------------------------


def test_empty_registry_says_how_to_register(client: TestClient) -> None:
    page = client.get("/registry")
    assert page.status_code == 200
    shown = text(page.text)
    assert "No registered models yet" in shown
    assert 'href="/catalog"' in page.text
    assert "register_model" in shown  # the SDK line
    assert 'href="/registry/archived"' in page.text


def test_list_shows_latest_version_stage_labels_owner(client: TestClient, data: Data) -> None:
    mnist = data.model("mnist", owner="alice", vision=s(""), License=s("apache-2.0"))
    data.version(mnist, "v1")
    data.version(mnist, "v2")
    data.model("bare")
    rows = table_rows(client.get("/registry").text)
    assert len(rows) == 2
    mnist_row = next(r for r in rows if r.startswith("mnist"))
    assert "v2" in mnist_row and "v1" not in mnist_row
    assert "development" in mnist_row
    assert "vision" in mnist_row and "apache-2.0" not in mnist_row  # labels are the empty-valued properties
    assert "alice" in mnist_row


def test_search_sort_and_paging(client: TestClient, data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_pages, "PAGE_SIZE", 2)
    for name in ["delta", "alpha", "Charlie", "bravo", "echo-b"]:
        data.model(name)
    names = []
    url: str | None = "/registry?sort=name"
    while url is not None:
        page = client.get(url)
        assert page.status_code == 200, page.text
        names += [row.split()[0] for row in table_rows(page.text)]
        found = re.search(r'<a [^>]*href="(/registry\?[^"]*page_token=[^"]*)"', page.text)
        url = unescape(found.group(1)) if found else None
    assert sorted(names, key=str.lower) == sorted(["delta", "alpha", "Charlie", "bravo", "echo-b"], key=str.lower)
    assert len(names) == 5  # every model once, across three pages
    newest_first = [row.split()[0] for row in table_rows(client.get("/registry").text)]
    assert newest_first == ["echo-b", "bravo"]  # default: last modified, newest first
    descending = [row.split()[0] for row in table_rows(client.get("/registry?sort=-name").text)]
    assert [n.lower() for n in descending] == ["echo-b", "delta"]
    found = [row.split()[0] for row in table_rows(client.get("/registry?q=HARL").text)]
    assert found == ["Charlie"]  # name contains, any case
    assert "No registered models match" in text(client.get("/registry?q=zzz").text)


@pytest.mark.parametrize(
    "url",
    ["/registry?page_token=not-a-token", "/registry?sort=size", "/registry/models/abc", "/registry/models/1?tab=x"],
)
def test_bad_input_is_a_400_page(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 400


def test_token_of_another_sort_is_refused(client: TestClient, data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_pages, "PAGE_SIZE", 1)
    data.model("a")
    data.model("b")
    page = client.get("/registry?sort=name").text
    token = re.search(r"page_token=([^\"&]+)", page)
    assert token
    refused = client.get(f"/registry?sort=modified&page_token={token.group(1)}")
    assert refused.status_code == 400
    assert "sort=name" in text(refused.text)


def test_list_costs_a_constant_number_of_statements(
    client: TestClient, ui_app: UiApp, data: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of 50 models with several versions each costs the same statements as a page of 2 (no N+1)."""

    def statements(url: str) -> int:
        count = 0

        def counted(*_: Any) -> None:
            nonlocal count
            # the page's own statements: not those of the app's background threads (the bridge's sync and the
            # catalog's registry source follow the writes made above, on the same engine, whenever they run)
            if not threading.current_thread().name.startswith("modelreg-"):
                count += 1

        event.listen(ui_app.db.engine, "before_cursor_execute", counted)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(ui_app.db.engine, "before_cursor_execute", counted)
        return count

    for i in range(50):
        model_id = data.model(f"model-{i:02}", team=s(""))
        for v in range(3):
            data.version(model_id, f"v{v}", License=s("mit"))
    # the fewest of three: now and then a request also refreshes its session row, which is not the page's cost
    monkeypatch.setattr(registry_pages, "PAGE_SIZE", 2)
    small = min(statements("/registry") for _ in range(3))
    monkeypatch.setattr(registry_pages, "PAGE_SIZE", 50)
    full = min(statements("/registry") for _ in range(3))
    assert len(table_rows(client.get("/registry").text)) == 50
    assert full == small
    assert full <= 10


# --- a model and its versions -----------------------------------------------------------------------------------------


def test_model_page_overview_and_versions(client: TestClient, data: Data) -> None:
    model_id = data.model("mnist", owner="alice", vision=s(""), License=s("apache-2.0"), layers=PropValue("int", 12))
    data.version(model_id, "v1")
    old = data.version(model_id, "v0")
    with context.acting_as(context.system("tests")):
        data.registry.update(e.MODEL_VERSION, old, {"state": "ARCHIVED"}, None)
    overview = text(client.get(model_url(model_id)).text)
    assert "mnist" in overview and "alice" in overview and "vision" in overview
    assert "License String apache-2.0" in overview and "layers Integer 12" in overview
    assert "History" in overview
    versions = table_rows(client.get(f"{model_url(model_id)}?tab=versions").text)
    assert len(versions) == 1 and versions[0].startswith("v1") and "alice" in versions[0]
    archived = table_rows(client.get(f"{model_url(model_id)}?tab=archived").text)
    assert len(archived) == 1 and archived[0].startswith("v0") and "Restore" in archived[0]


def test_unknown_model_and_version_under_another_model_are_404(client: TestClient, data: Data) -> None:
    a, b = data.model("a"), data.model("b")
    version = data.version(a, "v1")
    assert client.get(model_url(999_999)).status_code == 404
    assert client.get(version_url(b, version)).status_code == 404
    assert client.get(version_url(a, version)).status_code == 200


# --- version details --------------------------------------------------------------------------------------------------


def test_version_page_shows_properties_location_and_artifacts(client: TestClient, data: Data) -> None:
    model_id = data.model("mnist")
    uri = "s3://models/mnist/v1/?endpoint=https://minio.example:9000&defaultRegion=eu-west-1"
    version_id = data.version(
        model_id,
        "v1",
        uri=uri,
        License=s("apache-2.0"),
        accuracy=PropValue("double", 0.98),
        gated=PropValue("bool", False),
        prod=s(""),
    )
    page = client.get(version_url(model_id, version_id))
    assert page.status_code == 200, page.text
    shown = text(page.text)
    assert "Version details" in shown
    assert "Endpoint https://minio.example:9000" in shown
    assert "Region eu-west-1" in shown
    assert "Bucket models" in shown
    assert "Path mnist/v1" in shown
    assert "accuracy Double 0.98" in shown and "gated Boolean false" in shown and "License String apache-2.0" in shown
    assert "prod" in shown  # a label
    assert "Model format onnx" in shown and "Author alice" in shown and f"Version ID {version_id}" in shown
    assert "v1-weights" in shown and "model-artifact" in shown
    assert "Files unavailable" in shown  # registered by URI: no recorded sizes or digests
    assert "Registered from catalog" not in shown


def test_listing_files_that_cannot_be_reached_says_why(client: TestClient, data: Data) -> None:
    model_id = data.model("m")
    version_id = data.version(model_id, "v1", uri="s3://nobody-configured-this/m/v1")
    page = client.get(version_url(model_id, version_id) + "?files=list")
    assert page.status_code == 200
    assert "Files unavailable: no s3 data connection for bucket 'nobody-configured-this'" in text(page.text)


def test_plain_uri_and_catalog_origin(client: TestClient, data: Data) -> None:
    model_id = data.model("granite")
    version_id = data.version(model_id, "1")
    data.artifact(
        version_id,
        name="weights",
        uri="https://huggingface.co/ibm-granite/granite-7b",
        model_source_kind="catalog",
        model_source_class="redhat_ai_models",
        model_source_name="ibm-granite/granite-7b",
    )
    page = client.get(version_url(model_id, version_id)).text
    assert "URI https://huggingface.co/ibm-granite/granite-7b" in text(page)
    assert 'href="/catalog/redhat_ai_models/models/ibm-granite/granite-7b"' in page
    assert "Registered from catalog" in text(page)


def test_version_shows_the_runs_it_came_from(client: TestClient, app: FastAPI, data: Data) -> None:
    experiments = app.state.experiments
    with context.acting_as(context.system("tests")):
        experiment = experiments.registry.create(e.EXPERIMENT, {"name": "mnist-training"}, {})
        run = experiments.registry.create(
            e.EXPERIMENT_RUN, {"name": "run-7", "experiment_id": experiment.row["id"]}, {}, experiment.row["id"]
        )
    model_id = data.model("mnist")
    version_id = data.version(model_id, "v1", experiment_run_id=s(str(run.row["id"])))
    shown = text(client.get(version_url(model_id, version_id)).text)
    assert "run-7" in shown and "mnist-training" in shown


def test_deploy_only_when_the_feature_is_configured(client: TestClient, app: FastAPI, data: Data) -> None:
    app.state.deploy = None  # deploy.enabled false
    model_id = data.model("m")
    version_id = data.version(model_id, "v1")
    assert ">Deploy<" not in client.get(version_url(model_id, version_id)).text
    app.state.deploy = object()
    assert ">Deploy<" in client.get(version_url(model_id, version_id)).text


# --- stages -----------------------------------------------------------------------------------------------------------


def promote_form(client: TestClient, model_id: int, version_id: int, to_stage: str) -> Any:
    return post(
        client,
        f"/registry/versions/{version_id}/promote",
        version_url(model_id, version_id),
        to_stage=to_stage,
        comment="ready",
    )


def test_developer_promotes_to_staging_and_is_told_why_not_production(ui_app: UiApp, data: Data) -> None:
    client = browser(ui_app, "developer")
    model_id = data.model("m", License=s("mit"))
    version_id = data.version(model_id, "3", uri="s3://b/m/3")
    page = client.get(version_url(model_id, version_id)).text
    assert 'value="staging"' in page and 'value="production"' not in page
    assert "production needs the admin role" in text(page)
    done = promote_form(client, model_id, version_id, "staging")
    assert done.status_code == 200 and done.url.path == version_url(model_id, version_id)
    assert "Version 3 promoted to staging" in text(done.text)
    assert "Current stage: staging" in text(done.text)
    refused = promote_form(client, model_id, version_id, "production")  # a forged post: the service refuses
    assert "needs role admin" in text(refused.text)
    assert "Current stage: staging" in text(refused.text)


def test_admin_promotes_to_production_when_the_checks_hold(client: TestClient, data: Data) -> None:
    model_id = data.model("m")
    version_id = data.version(model_id, "1", uri="s3://b/m/1")
    assert "production" in text(promote_form(client, model_id, version_id, "staging").text)
    page = text(client.get(version_url(model_id, version_id)).text)
    assert "'License' is set neither on the version nor on its registered model" in page
    refused = promote_form(client, model_id, version_id, "production")
    assert "cannot enter stage 'production'" in text(refused.text)
    with context.acting_as(context.system("tests")):
        data.registry.update(e.REGISTERED_MODEL, model_id, {}, {"License": s("mit")})
    done = promote_form(client, model_id, version_id, "production")
    assert "Version 1 promoted to production" in text(done.text)
    listed = table_rows(client.get("/registry").text)
    assert "production" in listed[0]


# --- archive and restore ----------------------------------------------------------------------------------------------


def test_archive_and_restore_a_model(client: TestClient, data: Data) -> None:
    model_id = data.model("mnist")
    data.version(model_id, "v1")
    page = client.get(model_url(model_id)).text
    assert 'data-confirm="Archive model mnist' in page
    done = post(client, f"{model_url(model_id)}/archive", model_url(model_id))
    assert "Model mnist archived" in text(done.text)
    assert "This model is archived" in text(done.text)
    assert table_rows(client.get("/registry").text) == []
    archived = table_rows(client.get("/registry/archived").text)
    assert len(archived) == 1 and archived[0].startswith("mnist")
    restored = post(client, f"{model_url(model_id)}/restore", "/registry/archived")
    assert "Model mnist restored" in text(restored.text)
    assert [r.split()[0] for r in table_rows(client.get("/registry").text)] == ["mnist"]
    assert table_rows(client.get("/registry/archived").text) == []


def test_archive_and_restore_a_version(client: TestClient, data: Data) -> None:
    model_id = data.model("m")
    version_id = data.version(model_id, "v1")
    done = post(client, f"/registry/versions/{version_id}/archive", version_url(model_id, version_id))
    assert "Version v1 archived" in text(done.text)
    assert table_rows(client.get(f"{model_url(model_id)}?tab=versions").text) == []
    restored = post(client, f"/registry/versions/{version_id}/restore", f"{model_url(model_id)}?tab=archived")
    assert "Version v1 restored" in text(restored.text)
    assert len(table_rows(client.get(f"{model_url(model_id)}?tab=versions").text)) == 1


# --- history ----------------------------------------------------------------------------------------------------------


def test_history_lists_the_records_newest_first(client: TestClient, data: Data) -> None:
    model_id = data.model("m")
    version_id = data.version(model_id, "v1")
    promote_form(client, model_id, version_id, "staging")
    post(client, f"{model_url(model_id)}/archive", model_url(model_id))
    model_history = table_rows(client.get(f"{model_url(model_id)}/history").text)
    assert model_history
    assert "archive" in model_history[0] and "ai-admin ui/password" in model_history[0]
    assert "state: LIVE → ARCHIVED" in model_history[0]
    assert "create" in model_history[-1] and "system:tests system" in model_history[-1]
    assert "name: m" in model_history[-1] and "→" not in model_history[-1]  # a create lists what was set
    version_history = table_rows(client.get(f"{version_url(model_id, version_id)}/history").text)
    actions = [next(a for a in ("archive", "promote", "create") if a in row) for row in version_history]
    assert actions == ["archive", "promote", "create"]
    assert "Lifecycle: development → staging" in version_history[1]
    assert "comment: unset → ready" in version_history[1]


def test_history_pages(client: TestClient, data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_pages, "HISTORY_PAGE_SIZE", 2)
    model_id = data.model("m")
    for i in range(4):
        with context.acting_as(context.system("tests")):
            data.registry.update(e.REGISTERED_MODEL, model_id, {"description": f"d{i}"}, None)
    first = client.get(f"{model_url(model_id)}/history").text
    assert len(table_rows(first)) == 2 and "d3" in table_rows(first)[0]
    next_url = re.search(r'href="([^"]*page_token=[^"]*)"', first)
    assert next_url
    second = table_rows(client.get(unescape(next_url.group(1))).text)
    assert len(second) == 2 and "d1" in second[0]


# --- who may do what --------------------------------------------------------------------------------------------------


def test_viewer_sees_no_forms_and_forged_posts_are_refused(ui_app: UiApp, data: Data) -> None:
    model_id = data.model("m", License=s("mit"))
    version_id = data.version(model_id, "v1", uri="s3://b/m/v1")
    archived = data.model("old")
    with context.acting_as(context.system("tests")):
        data.registry.update(e.REGISTERED_MODEL, archived, {"state": "ARCHIVED"}, None)
    client = browser(ui_app, "viewer")
    for url in (model_url(model_id), version_url(model_id, version_id), "/registry/archived", model_url(archived)):
        page = client.get(url)
        assert page.status_code == 200
        assert page.text.count('method="post"') == 1, url  # sign out, nothing else
        assert 'action="/logout"' in page.text
    assert "Move to" not in client.get(version_url(model_id, version_id)).text
    token = csrf_of(client.get("/registry"))  # the viewer's own session token: only the role is missing
    for url in (
        f"/registry/versions/{version_id}/promote",
        f"/registry/versions/{version_id}/archive",
        f"{model_url(model_id)}/archive",
    ):
        refused = client.post(url, data={"csrf_token": token, "to_stage": "staging"})
        assert refused.status_code == 403, (url, refused.text)
    assert "development" in text(client.get(version_url(model_id, version_id)).text)
    assert table_rows(client.get("/registry").text)  # still live


def test_developer_cannot_archive(ui_app: UiApp, data: Data) -> None:
    model_id = data.model("m")
    version_id = data.version(model_id, "v1")
    client = browser(ui_app, "developer")
    token = csrf(client, version_url(model_id, version_id))
    assert "Archive model" not in client.get(model_url(model_id)).text
    refused = client.post(f"{model_url(model_id)}/archive", data={"csrf_token": token})
    assert refused.status_code == 403
    assert len(table_rows(client.get("/registry").text)) == 1


def test_posts_without_the_csrf_token_are_refused(client: TestClient, data: Data) -> None:
    model_id = data.model("m")
    version_id = data.version(model_id, "v1")
    client.get("/registry")  # a session exists: only the token is missing
    assert client.post(f"{model_url(model_id)}/archive").status_code == 403
    forged = client.post(f"/registry/versions/{version_id}/promote", data={"csrf_token": "x", "to_stage": "staging"})
    assert forged.status_code == 403
    assert len(table_rows(client.get("/registry").text)) == 1
    assert "development" in text(client.get(version_url(model_id, version_id)).text)

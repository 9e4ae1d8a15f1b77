"""The "Model transfer jobs" pages: the list, a job's page (status, progress, error and cause, Cancel and Retry as
the creator or an admin), and the "Register and store" form, over a real app with password login. The server's
worker is off (``transfer_workers: 0``), so jobs stay where the test puts them; the form's source is an http file
on 127.0.0.1 (a ``uri`` connection), its destination a bucket of moto's S3 server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from blobs.conftest import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from blobs.conftest import s3_server as s3_server
from modelreg.auth import context
from modelreg.services.transfers import TransferService
from transfers.helpers import Files
from ui.conftest import MakeUiApp, UiApp, csrf_of

pytestmark = pytest.mark.usefixtures("as_system")  # the tests read jobs through the service directly


@pytest.fixture
def files() -> Iterator[Files]:
    yield from Files(files={"models/granite.bin": b"weights" * 1000}).serve()


@pytest.fixture
def app(make_ui_app: MakeUiApp, s3_server: S3Server, files: Files) -> UiApp:
    ui_app = make_ui_app(storage={"transfer_workers": 0})
    bucket = f"ui-{id(ui_app) % 10**9}"
    s3_server.boto3().create_bucket(Bucket=bucket)
    with context.acting_as(context.system("tests")):
        connections = ui_app.app.state.connections
        connections.create("web", "uri", base_url=files.url + "models/", check=False)
        connections.create(
            "vault",
            "s3",
            endpoint=s3_server.endpoint,
            region=REGION,
            bucket=bucket,
            path_style=True,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            check=False,
        )
    ui_app.add_user("dev", role="developer")
    ui_app.add_user("other", role="developer")
    ui_app.add_user("viewer", role="viewer")
    return ui_app


def form(files: Files, **overrides: str) -> dict[str, str]:
    values = {
        "intent": "create_model",
        "display_name": "Granite copy",
        "model_name": "granite",
        "version_name": "1.0",
        "model_format_name": "safetensors",
        "source_type": "uri",
        "source_connection": "web",
        "source_url": files.url + "models/granite.bin",
        "destination_type": "s3",
        "destination_connection": "vault",
        "destination_key": "copies/granite",
    }
    values.update(overrides)
    return values


def start(app: UiApp, files: Files, user: str = "dev", **overrides: str) -> tuple[Any, str]:
    browser = app.logged_in(user)
    page = browser.get("/transfers/new")
    assert page.status_code == 200, page.text
    answer = browser.post("/transfers/new", data={"csrf_token": csrf_of(page), **form(files, **overrides)})
    assert answer.status_code == 303, answer.text
    return browser, answer.headers["location"]


def service(app: UiApp) -> TransferService:
    transfers: TransferService = app.app.state.transfers
    return transfers


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_register_and_store_starts_a_job_shown_in_the_list_and_on_its_page(app: UiApp, files: Files) -> None:
    browser, location = start(app, files)
    page = browser.get(location)
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "Granite copy" in shown and "Transfer job" in shown  # the flash
    assert "Pending" in shown
    assert 'action="' + location + '/cancel"' in page.text

    listed = browser.get("/transfers")
    assert listed.status_code == 200
    row = text_of(listed.text)
    for header in ("Job name", "Model", "Version", "Source", "Destination", "Created", "Author", "Status"):
        assert f'<th scope="col">{header}</th>' in listed.text
    assert "Granite copy" in row and "granite" in row and "1.0" in row and "dev" in row and "Pending" in row
    assert 'href="/transfers"' in listed.text  # the navigation link
    (job,) = service(app).list()
    assert job.metadata.model_name == "granite" and job.created_by == "dev"
    assert job.source.url == files.url + "models/granite.bin" and job.destination.key == "copies/granite"


def test_the_form_says_what_is_missing_next_to_the_field_and_starts_nothing(app: UiApp, files: Files) -> None:
    browser = app.logged_in("dev")
    page = browser.get("/transfers/new")
    answer = browser.post("/transfers/new", data={"csrf_token": csrf_of(page), **form(files, model_name="")})
    assert answer.status_code == 400
    assert 'id="t-model_name-error"' in answer.text and 'aria-invalid="true"' in answer.text
    assert service(app).list() == []


def test_a_refusal_of_the_service_is_shown_on_the_form(app: UiApp, files: Files) -> None:
    browser = app.logged_in("dev")
    page = browser.get("/transfers/new")
    data = {"csrf_token": csrf_of(page), **form(files, source_url=files.url + "models/missing.bin")}
    answer = browser.post("/transfers/new", data=data)
    assert 400 <= answer.status_code < 500
    assert 'class="alert alert-danger"' in answer.text
    assert service(app).list() == []


def test_cancel_then_retry_as_the_creator(app: UiApp, files: Files) -> None:
    browser, location = start(app, files)
    page = browser.get(location)
    answer = browser.post(f"{location}/cancel", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 303
    page = browser.get(location)
    assert "Canceled" in text_of(page.text)
    assert f'action="{location}/retry"' in page.text
    answer = browser.post(f"{location}/retry", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 303
    retried = browser.get(answer.headers["location"])
    assert "Pending" in text_of(retried.text) and "Retry of" in text_of(retried.text)
    states = sorted(j.state for j in service(app).list())
    assert states == ["CANCELLED", "PENDING"]


def test_only_the_creator_or_an_admin_may_cancel(app: UiApp, files: Files) -> None:
    _, location = start(app, files)
    other = app.logged_in("other")
    page = other.get(location)
    assert page.status_code == 200 and "/cancel" not in page.text
    answer = other.post(f"{location}/cancel", data={"csrf_token": csrf_of(other.get("/transfers/new"))})
    assert answer.status_code == 403
    (job,) = service(app).list()
    assert job.state == "PENDING"


def test_a_viewer_sees_jobs_but_cannot_start_one(app: UiApp, files: Files) -> None:
    start(app, files)
    viewer = app.logged_in("viewer")
    listed = viewer.get("/transfers")
    assert listed.status_code == 200 and "Granite copy" in listed.text
    assert 'href="/transfers/new"' not in listed.text
    assert viewer.get("/transfers/new").status_code == 403


def test_a_failed_job_shows_its_error_and_cause(app: UiApp, files: Files) -> None:
    browser, location = start(app, files)
    (job,) = service(app).list()
    service(app).fail(job.id, "copying the model failed", "AccessDenied: the bucket refused the write")
    page = browser.get(location)
    shown = text_of(page.text)
    assert "Failed" in shown
    assert "copying the model failed" in shown and "AccessDenied: the bucket refused the write" in shown
    assert 'role="alert"' in page.text


def test_a_post_without_the_csrf_token_is_refused(app: UiApp, files: Files) -> None:
    browser = app.logged_in("dev")
    answer = browser.post("/transfers/new", data=form(files))
    assert answer.status_code == 403
    assert service(app).list() == []

"""Transfer jobs in a browser: a developer fills in "Register and store" (object storage to object storage), sees the
job Pending on its page and in the list, and cancels it; each page passes axe. Test servers run no transfer jobs
(tests/conftest.py), so the job stays Pending until it is cancelled; the copies themselves are tests/transfers'."""

from __future__ import annotations

import re
import uuid

from blobs.conftest import S3Server
from blobs.conftest import s3_server as s3_server
from browser.conftest import Browse
from browser.helpers import press_action

__all__ = ["s3_server"]


def _connections(browse: Browse, s3: S3Server) -> None:
    """Two s3 connections (admin, over REST) on fresh buckets, the source holding a model under raw/granite/."""
    names = {"lake": f"lake-{uuid.uuid4().hex[:12]}", "vault": f"vault-{uuid.uuid4().hex[:12]}"}
    with browse.server.api() as api:
        for connection, bucket in names.items():
            s3.boto3().create_bucket(Bucket=bucket)
            created = api.post("/storage/v1/connections", json=s3.connection_body(connection, bucket))
            assert created.status_code == 201, created.text
    s3.boto3().put_object(Bucket=names["lake"], Key="raw/granite/model.safetensors", Body=b"weights")


def test_developer_registers_and_stores_then_cancels(browse: Browse, s3_server: S3Server) -> None:
    _connections(browse, s3_server)
    page = browse.login("ai-developer")
    page.goto("/transfers/new")
    page.select_option("[name=intent]", "create_model")
    page.fill("[name=model_name]", "granite-copy")
    page.fill("[name=version_name]", "1.0")
    page.select_option("[name=source_type]", "s3")
    page.select_option("[name=source_connection]", "lake")
    page.fill("[name=source_key]", "raw/granite/")
    page.select_option("[name=destination_type]", "s3")
    page.select_option("[name=destination_connection]", "vault")
    browse.check(page, "transfer-new")
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name=re.compile("register and store", re.I)).click()
    job_url = page.url
    main = page.locator("main")
    assert "granite-copy" in main.inner_text() and "Pending" in main.inner_text(), main.inner_text()[:500]
    browse.check(page, "transfer-job-pending")

    page.goto("/transfers")
    row = page.locator("main tr", has_text="granite-copy")
    assert row.count() == 1 and "Pending" in row.inner_text(), page.locator("main").inner_text()[:500]
    browse.check(page, "transfer-list")

    page.goto(job_url)
    press_action(page, r"^\s*cancel\s*$")
    page.wait_for_load_state("load")
    assert "Canceled" in page.locator("main").inner_text(), page.locator("main").inner_text()[:500]
    assert page.locator("main").get_by_role("button", name=re.compile("retry", re.I)).count() == 1
    browse.check(page, "transfer-job-cancelled")

"""The settings page's connection form for type ``oci``: labelled fields, errors next to the field they name, and
the password and pull secret never put back into a page."""

from __future__ import annotations

import base64
import json
import re

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from modelreg.auth import context
from ui.test_settings_pages import app, client, post

__all__ = ["app", "client"]  # fixtures: the app, and a client signed in as an admin

PASSWORD = "r0bot-t0ken-Secret-value"
PULL_AUTH = base64.b64encode(b"robot:pull-Secret-999").decode()
PULL_SECRET = json.dumps({"auths": {"quay.io": {"auth": PULL_AUTH}}})


def _oci(**overrides: str) -> dict[str, str]:
    fields = {
        "name": "quay",
        "type": "oci",
        "registry": "quay.io",
        "repository_prefix": "team-a",
        "username": "robot",
        "password": PASSWORD,
    }
    return {**fields, **overrides}


def test_the_form_offers_oci_with_labelled_fields(client: TestClient) -> None:
    page = client.get("/settings/connections").text
    assert '<option value="oci"' in page
    for field in ("registry", "repository_prefix", "username", "password", "dockerconfig", "plain_http"):
        assert re.search(rf'<label for="conn-{field}">', page), field
        assert f'id="conn-{field}" name="{field}"' in page, field
    assert 'type="password"' in page[page.index('id="conn-password"') - 200 :][:400]


def test_create_with_a_password_and_with_a_pull_secret(app: FastAPI, client: TestClient) -> None:
    response = post(client, "/settings/connections", **_oci())  # no "check": stored without reaching it
    assert response.status_code == 303, response.text
    pulled = post(
        client,
        "/settings/connections",
        **_oci(name="pull", username="", password="", dockerconfig=PULL_SECRET, plain_http="on"),
    )
    assert pulled.status_code == 303, pulled.text
    page = client.get("/settings/connections").text
    row = page[page.index('<th scope="row">quay') :]
    assert "oci://quay.io/team-a" in row and "password set" in row and "user robot" in row
    pull_row = page[page.index('<th scope="row">pull') :]
    assert "pull secret set" in pull_row and "(plain HTTP)" in pull_row
    with context.acting_as(context.system("tests")):
        assert app.state.connections.resolve("quay").secret_access_key == PASSWORD
        config = app.state.connections.resolve("pull")
        assert config.dockerconfig == PULL_SECRET and config.plain_http is True
    for body in (response.text, pulled.text, page):
        assert PASSWORD not in body and PULL_AUTH not in body


@pytest.mark.parametrize(
    ("fields", "error_field", "message"),
    [
        ({"registry": "https://quay.io"}, "registry", "invalid registry"),
        ({"repository_prefix": "Team A"}, "repository_prefix", "invalid repositoryPrefix"),
        ({"username": ""}, "username", "give both username and password"),
        ({"dockerconfig": PULL_SECRET}, "username", "not both"),
        ({"username": "", "password": "", "dockerconfig": "{}"}, "dockerconfig", "invalid dockerconfig"),
    ],
)
def test_errors_land_next_to_their_field_without_the_secrets(
    client: TestClient, fields: dict[str, str], error_field: str, message: str
) -> None:
    response = post(client, "/settings/connections", **_oci(**fields))
    assert response.status_code == 400
    assert f'id="conn-{error_field}-error"' in response.text and message in response.text
    assert re.search(rf'id="conn-{error_field}"[^>]*aria-describedby="[^"]*conn-{error_field}-error"', response.text)
    assert 'value="robot"' in response.text or fields.get("username") == ""  # the non-secret fields stay
    assert PASSWORD not in response.text and PULL_AUTH not in response.text

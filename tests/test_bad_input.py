"""Input that matches the spec but that some database cannot store is a 400 and loses nothing, never a 500."""

from __future__ import annotations

import httpx


def test_nul_character_in_body_is_400_and_registry_unchanged(api: httpx.Client) -> None:
    created = api.post("/registered_models", json={"name": "ok"})
    assert created.status_code == 201
    response = api.post("/registered_models", json={"name": "bad\u0000name"})
    assert response.status_code in (201, 400), response.text  # SQLite and MariaDB can store NUL, PostgreSQL cannot
    if response.status_code == 400:
        assert response.json()["code"] == "Bad Request"
    patched = api.patch(f"/registered_models/{created.json()['id']}", json={"description": "a\u0000b"})
    assert patched.status_code in (200, 400), patched.text
    after = api.get(f"/registered_models/{created.json()['id']}").json()
    assert after["name"] == "ok"


def test_nul_character_in_query_is_not_a_server_error(api: httpx.Client) -> None:
    for path in ("/registered_model?name=a%00b", "/registered_models?filterQuery=name%3D%27a%00%27"):
        response = api.get(path)
        assert response.status_code in (400, 404), (path, response.text)


def test_very_long_text_fields(api: httpx.Client) -> None:
    readme = "x" * 60_000
    created = api.post("/registered_models", json={"name": "long", "readme": readme})
    assert created.status_code == 201, created.text
    assert api.get(f"/registered_models/{created.json()['id']}").json()["readme"] == readme


def test_int_property_beyond_64_bits_is_400(api: httpx.Client) -> None:
    body = {"name": "m", "customProperties": {"n": {"metadataType": "MetadataIntValue", "int_value": "9" * 19}}}
    response = api.post("/registered_models", json=body)
    assert response.status_code == 400, response.text
    assert api.get("/registered_models").json()["items"] == []


def test_version_of_missing_model_is_404_on_both_create_paths(api: httpx.Client) -> None:
    flat = api.post("/model_versions", json={"name": "v1", "registeredModelId": "4242"})
    nested = api.post("/registered_models/4242/versions", json={"name": "v1", "registeredModelId": "4242"})
    for response in (flat, nested):
        assert response.status_code == 404, response.text
        assert "4242" in response.json()["message"]
    assert api.get("/model_versions").json()["items"] == []

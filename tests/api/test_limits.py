"""Request-size limits (``Settings.limits``): the JSON body size (413, from Content-Length and while a chunked body
streams), string lengths, the number of custom properties, their key and value lengths (400). Each limit is tried
just below (accepted) and just above (refused, nothing stored). Upload PUTs stream without a body limit."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.builders import error, listing, model, model_with_version, ok, prop
from conftest import ServerThread, empty
from modelreg.app import create_app
from modelreg.db.database import Database
from modelreg.settings import LimitSettings, Settings

MIB = 1024 * 1024
BODY = MIB  # the defaults this file checks
TEXT = 65_535
PROPS = 1000
KEY = 255
REGISTRY = "/api/model_registry/v1alpha3"


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def model_body(size: int) -> bytes:
    """A valid registered model whose JSON is exactly ``size`` bytes: string properties of at most TEXT characters."""
    props: dict[str, Any] = {}
    body: dict[str, Any] = {"name": "big", "customProperties": props}
    i = 0
    while len(dumps(body)) < size:
        key = f"p{i:03d}"
        props[key] = prop("")
        room = size - len(dumps(body))
        props[key] = prop("x" * min(room, TEXT))
        i += 1
    data = dumps(body)
    assert len(data) == size, (len(data), size)
    return data


def post_json(api: httpx.Client, path: str, data: bytes) -> httpx.Response:
    return api.post(path, content=data, headers={"Content-Type": "application/json"})


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body without Content-Length: httpx sends it with ``Transfer-Encoding: chunked``."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


# --- body size -------------------------------------------------------------------------------------------------


def test_body_at_the_limit_is_accepted(api: httpx.Client) -> None:
    data = model_body(BODY)
    created = ok(post_json(api, "/registered_models", data))
    assert created["customProperties"] == json.loads(data)["customProperties"]


def test_body_over_the_limit_is_413_and_nothing_stored(api: httpx.Client) -> None:
    body = error(post_json(api, "/registered_models", model_body(BODY + 1)), 413, "1048576 bytes")
    assert body["code"] == "Request Entity Too Large"
    assert listing(api, "/registered_models")["items"] == []


def test_chunked_body_is_counted_while_it_streams(api: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    over = api.post("/registered_models", content=chunks(model_body(BODY + 1)), headers=headers)
    assert over.request.headers.get("transfer-encoding") == "chunked"
    error(over, 413, "1048576 bytes")
    assert listing(api, "/registered_models")["items"] == []
    ok(api.post("/registered_models", content=chunks(model_body(BODY)), headers=headers))


def test_a_web_ui_form_over_the_limit_is_refused_before_it_is_read(server: ServerThread) -> None:
    """The limit covers every path with a body, not only /api/: Starlette reads a form whole into memory, so a web UI
    form post (here the login form, before any session) over it is a 413, declared or counted as it arrives."""
    form = b"username=a&password=b&padding=" + b"x" * BODY
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        declared = client.post("/login", content=form, headers=headers)
        chunked = client.post("/login", content=chunks(form), headers=headers)
    assert declared.status_code == 413, declared.text
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert chunked.status_code == 413, chunked.text


def test_patch_over_the_limit_is_413_and_changes_nothing(api: httpx.Client) -> None:
    created = model(api, "m")
    big = dumps({"customProperties": {"a": prop("x" * TEXT)} | {f"k{i}": prop("y" * TEXT) for i in range(16)}})
    assert len(big) > BODY
    response = api.patch(f"/registered_models/{created['id']}", content=big)
    error(response, 413)
    assert ok(api.get(f"/registered_models/{created['id']}"), 200)["customProperties"] == {}


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(server: ServerThread) -> None:
    """100 MB announced and none sent: the answer comes at once, without waiting for (or reading) the body."""
    request = (
        f"POST {REGISTRY}/registered_models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * MIB}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 "), head


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/governance/v1/rolebindings", {"subjectKind": "user", "subject": "u", "role": "viewer"}),
        ("/api/storage/v1/uploads", {"registeredModelName": "m", "versionName": "v"}),
        (f"{REGISTRY}/model_versions", {"name": "v", "registeredModelId": "1"}),
        ("/api/model_registry/v1/registered_models", {"name": "m"}),
    ],
)
def test_every_json_api_has_the_body_limit(server: ServerThread, database: Database, path: str, body: dict) -> None:
    empty(database)
    padded = dumps({**body, "pad": "x" * BODY})
    response = httpx.post(f"{server.url}{path}", content=padded, headers={"Content-Type": "application/json"})
    error(response, 413, "1048576 bytes")


def test_an_upload_put_larger_than_the_json_limit_streams(server: ServerThread, database: Database) -> None:
    empty(database)
    data = bytes(range(256)) * (3 * MIB // 256)  # 3 MiB
    with httpx.Client(base_url=f"{server.url}/api/storage/v1", timeout=60) as storage:
        started = ok(storage.post("/uploads", json={"registeredModelName": "big", "versionName": "v1"}))
        put = storage.put(f"/uploads/{started['id']}/files/weights.bin", content=data)
        assert put.status_code == 200, put.text
        assert put.json() == {"path": "weights.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        chunked = storage.put(f"/uploads/{started['id']}/files/more.bin", content=chunks(data))
        assert chunked.status_code == 200, chunked.text
        committed = ok(storage.post(f"/uploads/{started['id']}/commit"))
    assert committed["totalSize"] == 2 * len(data)


# --- string lengths --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["description", "readme"])
def test_text_fields_up_to_the_limit(api: httpx.Client, field: str) -> None:
    created = model(api, "m", **{field: "d" * TEXT})
    assert ok(api.get(f"/registered_models/{created['id']}"), 200)[field] == "d" * TEXT
    error(api.post("/registered_models", json={"name": "n", field: "d" * (TEXT + 1)}), 400, field, "65535")
    error(api.patch(f"/registered_models/{created['id']}", json={field: "e" * (TEXT + 1)}), 400, f"{field} is too long")
    assert [m["name"] for m in listing(api, "/registered_models")["items"]] == ["m"]
    assert ok(api.get(f"/registered_models/{created['id']}"), 200)[field] == "d" * TEXT


def test_short_columns_are_bounded_the_same_on_every_database(api: httpx.Client) -> None:
    """``owner`` is a 255-character column: SQLite would store more, PostgreSQL and MariaDB would refuse it."""
    _, v = model_with_version(api)
    ok(api.patch(f"/model_versions/{v['id']}", json={"author": "a" * 255}), 200)
    error(api.patch(f"/model_versions/{v['id']}", json={"author": "a" * 256}), 400, "author is too long", "255")
    error(api.post("/registered_models", json={"name": "x", "owner": "o" * 256}), 400, "owner is too long")
    error(api.post("/registered_models", json={"name": "x", "externalId": "e" * 256}), 400, "externalId is too long")
    error(api.post("/registered_models", json={"name": "x", "language": ["l" * TEXT] * 2}), 400, "language")
    assert ok(api.get(f"/model_versions/{v['id']}"), 200)["author"] == "a" * 255
    assert len(listing(api, "/registered_models")["items"]) == 1


def test_artifact_uri_and_metric_fields(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    uri = "s3://bucket/" + "k" * (TEXT - len("s3://bucket/"))
    body = {"artifactType": "model-artifact", "name": "w", "uri": uri}
    assert ok(api.post(f"/model_versions/{v['id']}/artifacts", json=body))["uri"] == uri
    over = {**body, "name": "w2", "uri": uri + "k"}
    error(api.post(f"/model_versions/{v['id']}/artifacts", json=over), 400, "uri is too long")
    error(api.post("/artifacts", json={**over, "artifactType": "doc-artifact"}), 400, "uri is too long")
    assert len(listing(api, "/artifacts")["items"]) == 1


# --- custom properties -----------------------------------------------------------------------------------------


def test_number_of_custom_properties(api: httpx.Client) -> None:
    most = {f"k{i}": prop(i) for i in range(PROPS)}
    created = model(api, "m", customProperties=most)
    assert len(created["customProperties"]) == PROPS
    too_many = {**most, "one_more": prop(True)}
    error(api.post("/registered_models", json={"name": "n", "customProperties": too_many}), 400, "1001", "1000")
    path = f"/registered_models/{created['id']}"
    error(api.patch(path, json={"customProperties": too_many}), 400, "too many custom properties")
    assert ok(api.get(path), 200)["customProperties"] == most
    assert len(listing(api, "/registered_models")["items"]) == 1


def test_custom_property_key_length(api: httpx.Client) -> None:
    _, v = model_with_version(api)
    created = ok(api.patch(f"/model_versions/{v['id']}", json={"customProperties": {"k" * KEY: prop(1)}}), 200)
    assert list(created["customProperties"]) == ["k" * KEY]
    body = {"customProperties": {"k" * (KEY + 1): prop(1)}}
    error(api.patch(f"/model_versions/{v['id']}", json=body), 400, "custom property key is too long", "255")
    assert list(ok(api.get(f"/model_versions/{v['id']}"), 200)["customProperties"]) == ["k" * KEY]


@pytest.mark.parametrize(
    "value",
    [
        lambda n: {"metadataType": "MetadataStringValue", "string_value": "s" * n},
        lambda n: {"metadataType": "MetadataStructValue", "struct_value": "s" * n},
    ],
    ids=["string", "struct"],
)
def test_custom_property_value_length(api: httpx.Client, value: Any) -> None:
    env = ok(api.post("/serving_environments", json={"name": "e", "customProperties": {"v": value(TEXT)}}))
    assert env["customProperties"]["v"] == value(TEXT)
    body = {"name": "e2", "customProperties": {"v": value(TEXT + 1)}}
    error(api.post("/serving_environments", json=body), 400, "custom property 'v' is too long", "65535")
    assert [e["name"] for e in listing(api, "/serving_environments")["items"]] == ["e"]


# --- configurable ----------------------------------------------------------------------------------------------


@pytest.fixture
def small_limits(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    limits = LimitSettings(
        max_json_body_bytes=4096,
        max_text_length=100,
        max_custom_properties=3,
        max_property_key_length=10,
        max_property_value_length=20,
    )
    settings = Settings(database_url=database.url, data_dir=tmp_path_factory.mktemp("data"), limits=limits)
    empty(database)
    with (
        ServerThread(create_app(settings, database)) as running,
        httpx.Client(base_url=f"{running.url}{REGISTRY}", timeout=30) as client,
    ):
        yield client


def test_limits_are_configurable(small_limits: httpx.Client) -> None:
    api = small_limits
    ok(api.post("/registered_models", json={"name": "m", "description": "d" * 100, "customProperties": {}}))
    error(api.post("/registered_models", json={"name": "n", "description": "d" * 101}), 400, "at most 100")
    error(api.post("/registered_models", json={"name": "n", "readme": "d" * 5000}), 413, "4096 bytes")
    three = {"a": prop(1), "b": prop(2), "c": prop("v" * 20)}
    ok(api.post("/experiments", json={"name": "x", "customProperties": three}))
    error(api.post("/experiments", json={"name": "y", "customProperties": {**three, "d": prop(4)}}), 400, "at most 3")
    error(api.post("/experiments", json={"name": "y", "customProperties": {"k" * 11: prop(1)}}), 400, "at most 10")
    error(api.post("/experiments", json={"name": "y", "customProperties": {"c": prop("v" * 21)}}), 400, "at most 20")
    assert len(listing(api, "/experiments")["items"]) == 1


def test_limit_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="max_property_key_length"):
        LimitSettings(max_property_key_length=256)  # the column holds 255
    with pytest.raises(ValueError, match="max_json_body_bytes"):
        LimitSettings(max_json_body_bytes=0)

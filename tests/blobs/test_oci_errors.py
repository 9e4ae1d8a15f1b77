"""What a push or a read through an OCI connection says when it cannot work: wrong or missing credentials, a
missing repository or tag, a registry that is down; and the credentials it can use (basic, .dockerconfigjson)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from modelreg.blobs import StoreConfig
from modelreg.blobs.base import StoreRefused, StoreUnreachable
from modelreg.blobs.oci import OciStore, parse_image_ref
from modelreg.blobs.oci_registry import RegistryClient, parse_challenge
from oci_registry import PASSWORD, USERNAME, OciRegistry, TokenService, free_port, start_registry
from oci_registry import oci_registry as oci_registry  # the fixtures
from oci_registry import oci_registry_auth as oci_registry_auth
from oci_registry import oci_registry_token as oci_registry_token


def dockerconfig(registry: str, username: str, password: str, *, split: bool = False) -> str:
    entry = (
        {"username": username, "password": password}
        if split
        else {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    )
    return json.dumps({"auths": {"other.example": {"auth": "eDp5"}, f"http://{registry}/v1/": entry}})


def push_one(store: OciStore, repository: str) -> str:
    with store.push(repository) as push:
        return push.finish([push.add_file("a.txt", io.BytesIO(b"a"), 1)], "1").digest


@pytest.mark.parametrize(
    "credentials",
    [
        {"access_key_id": USERNAME, "secret_access_key": PASSWORD},
        {"dockerconfig": "AUTH"},
        {"dockerconfig": "SPLIT"},
    ],
    ids=["username-password", "dockerconfig-auth", "dockerconfig-username"],
)
def test_the_right_credentials_push_and_read(oci_registry_auth: OciRegistry, credentials: dict[str, str]) -> None:
    if "dockerconfig" in credentials:
        credentials = {
            "dockerconfig": dockerconfig(
                oci_registry_auth.host, USERNAME, PASSWORD, split=credentials["dockerconfig"] == "SPLIT"
            )
        }
    config = oci_registry_auth.config(**{"access_key_id": None, "secret_access_key": None, **credentials})
    store = OciStore(config)
    store.check("models/auth", push=True)
    digest = push_one(store, "models/auth")
    reader = store.image(parse_image_ref(f"{oci_registry_auth.host}/models/auth@{digest}"))
    with reader.open_read("a.txt") as f:
        assert f.read() == b"a"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"secret_access_key": "wrong-password"}, "refused the credentials (401 UNAUTHORIZED)"),
        ({"access_key_id": None, "secret_access_key": None}, "requires credentials (401 UNAUTHORIZED)"),
        ({"dockerconfig": "WRONG"}, "refused the credentials (401 UNAUTHORIZED)"),
    ],
    ids=["wrong-password", "none", "dockerconfig-wrong"],
)
def test_wrong_or_missing_credentials_are_named_as_such(
    oci_registry_auth: OciRegistry, overrides: dict[str, str | None], message: str
) -> None:
    if overrides.get("dockerconfig") == "WRONG":
        overrides = {
            "access_key_id": None,
            "secret_access_key": None,
            "dockerconfig": dockerconfig(oci_registry_auth.host, USERNAME, "nope"),
        }
    store = OciStore(oci_registry_auth.config(**overrides))
    for attempt in (
        lambda: store.check(),
        lambda: store.check("models/x", push=True),
        lambda: push_one(store, "models/x"),
    ):
        with pytest.raises(StoreRefused) as caught:
            attempt()
        assert str(caught.value) == f"the OCI registry {oci_registry_auth.host} {message}"
        assert PASSWORD not in str(caught.value) and "nope" not in str(caught.value)
    reader = store.image(parse_image_ref(f"{oci_registry_auth.host}/models/x:1"))
    with pytest.raises(StoreRefused, match="credentials"):
        reader.files()


def test_a_dockerconfig_without_the_registry_sends_no_credentials(oci_registry_auth: OciRegistry) -> None:
    config = json.dumps({"auths": {"quay.io": {"auth": base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()}}})
    store = OciStore(oci_registry_auth.config(access_key_id=None, secret_access_key=None, dockerconfig=config))
    with pytest.raises(StoreRefused, match="requires credentials"):
        store.check()


def test_a_malformed_dockerconfig_is_refused_without_echoing_it(oci_registry_auth: OciRegistry) -> None:
    store = OciStore(
        oci_registry_auth.config(access_key_id=None, secret_access_key=None, dockerconfig="{not json " + PASSWORD)
    )
    with pytest.raises(StoreRefused, match="dockerconfigjson") as caught:
        store.check()
    assert PASSWORD not in str(caught.value)


def test_a_missing_repository_or_tag_is_named(oci_registry: OciRegistry) -> None:
    store = OciStore(oci_registry.config())
    missing = store.image(parse_image_ref(f"oci://{oci_registry.host}/models/never-pushed:1.0"))
    with pytest.raises(StoreRefused) as caught:
        missing.files()
    assert str(caught.value) == (
        f"repository models/never-pushed not found on the OCI registry {oci_registry.host} (404 NAME_UNKNOWN)"
    )
    push_one(store, "models/tagged")
    with pytest.raises(StoreRefused) as caught:
        store.image(parse_image_ref(f"{oci_registry.host}/models/tagged:2.0")).digest()
    assert str(caught.value) == (
        f"image models/tagged:2.0 not found on the OCI registry {oci_registry.host} (404 MANIFEST_UNKNOWN)"
    )


def test_an_unreachable_registry_is_reported_as_such(tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "registry")
    store = OciStore(registry.config())
    push = store.push("models/down")
    layer = push.add_file("a.txt", io.BytesIO(b"a"), 1)
    registry.stop()
    for attempt in (store.check, lambda: push.finish([layer], "1"), lambda: push.add_file("b", io.BytesIO(b"b"), 1)):
        with pytest.raises(StoreUnreachable, match=f"cannot reach the OCI registry {registry.host}: ConnectError"):
            attempt()
    push.close()
    nothing = OciStore(StoreConfig(type="oci", registry=f"127.0.0.1:{free_port()}", plain_http=True))
    with pytest.raises(StoreUnreachable):
        nothing.image(parse_image_ref(f"{nothing.config.registry}/a/b:1")).files()


def test_https_is_the_default(oci_registry: OciRegistry) -> None:
    """Without ``plain_http`` the client speaks TLS, which a plain-http registry cannot answer."""
    store = OciStore(oci_registry.config(plain_http=False))
    with pytest.raises(StoreUnreachable, match="cannot reach the OCI registry"):
        store.check()


def test_bearer_tokens_are_fetched_from_the_realm_with_the_credentials(
    oci_registry_token: tuple[OciRegistry, TokenService],
) -> None:
    registry, service = oci_registry_token
    store = OciStore(registry.config())
    store.check("models/token", push=True)
    digest = push_one(store, "models/token")
    with store.image(parse_image_ref(f"{registry.host}/models/token@{digest}")).open_read("a.txt") as f:
        assert f.read() == b"a"
    assert ["repository:models/token:pull,push"] in [[_normalized(s) for s in scopes] for scopes, _ in service.requests]
    assert all(sent for _, sent in service.requests)

    with store.push("models/token") as push:
        layer = push.add_file("b.txt", io.BytesIO(b"b"), 1)
    with store.push("models/token-copy", mount_from=["models/token"]) as push:  # a mount asks for both scopes
        mounted = push.reuse(layer.path, layer.size, layer.sha256, layer.digest, layer.layer_size)
        assert mounted == layer
    asked = [sorted(_normalized(scope) for scope in scopes) for scopes, _ in service.requests]
    assert ["repository:models/token-copy:pull,push", "repository:models/token:pull"] in asked, asked
    wrong = OciStore(registry.config(secret_access_key="wrong-password"))
    with pytest.raises(StoreRefused) as caught:
        push_one(wrong, "models/token")
    assert str(caught.value) == f"the OCI registry {registry.host} refused the credentials (401 UNAUTHORIZED)"


def test_a_token_realm_on_plain_http_is_refused_for_an_https_registry() -> None:
    """Credentials go over https only: a registry reached over https cannot send them to an http realm."""
    client = RegistryClient(
        StoreConfig(type="oci", registry="registry.example", access_key_id="u", secret_access_key="p")
    )
    challenge = parse_challenge('Bearer realm="http://auth.example/token",service="registry",scope="repository:a:pull"')
    assert challenge is not None
    with pytest.raises(StoreRefused, match="not https: refused"):
        client._fetch_token(challenge, "repository:a:pull")


def _normalized(scope: str) -> str:
    """A scope with its actions sorted (the registry's challenges list them in any order)."""
    head, _, actions = scope.rpartition(":")
    return f"{head}:{','.join(sorted(actions.split(',')))}"

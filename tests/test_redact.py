"""`modelreg.redact`: no credential placed in a URI survives `public_url` / `public_text`, both are idempotent and
never raise, and URLs without credentials come out byte for byte."""

from __future__ import annotations

import string
import time
from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelreg.redact import public_text, public_url

# Secrets are upper case; every other generated part is lower case, so a secret found in the output leaked.
secrets = st.text(string.ascii_uppercase + string.digits, min_size=4, max_size=12).map(lambda s: f"SECRET{s}")
_LOWER = string.ascii_lowercase + string.digits
label = st.text(_LOWER, min_size=1, max_size=8)
hosts = st.tuples(st.lists(label, min_size=1, max_size=3), st.none() | st.integers(1, 65535)).map(
    lambda t: ".".join(t[0]) + (f":{t[1]}" if t[1] is not None else "")
)
paths = st.lists(st.text(_LOWER + "-._~", min_size=1, max_size=8), max_size=4).map(
    lambda p: "".join(f"/{s}" for s in p)
)
schemes = st.sampled_from(["http", "https", "s3", "oci", "ftp", "gs", "hf", "git+ssh", "HTTPS"])
# Harmless parameter names: letters that cannot spell any credential name (no p, t, k, g, b), plus real ones.
harmless_names = st.sampled_from(["endpoint", "defaultRegion", "region", "versionId", "page", "q", "format"]) | st.text(
    "acdefhijlmnoqrsuvwxyz", min_size=1, max_size=10
)
harmless_values = (
    st.text(_LOWER + "-._~", max_size=12)
    | st.builds(lambda s, h: f"{s}://{h}", st.sampled_from(["http", "https"]), hosts)
    | st.builds(lambda u, h: f"{u}@{h}", label, hosts)  # an e-mail address is not a credential
)
harmless_params = st.lists(st.tuples(harmless_names, harmless_values).map("=".join), max_size=4)
SECRET_PARAMETERS = [
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Goog-Signature",
    "X-Goog-Credential",
    "AWSAccessKeyId",
    "GoogleAccessId",
    "access_token",
    "refresh_token",
    "id_token",
    "hf_token",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "x-api-key",
    "key",
    "sig",
    "signature",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "aws_secret_access_key",
    "aws_session_token",
    "auth",
    "authorization",
]


def any_case(name: str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.sampled_from([c.lower(), c.upper()]) for c in name)).map("".join)


secret_names = (
    st.sampled_from(SECRET_PARAMETERS)
    .flatmap(any_case)
    .flatmap(lambda n: st.sampled_from([n, quote(n, safe=""), n.replace("_", "%5F").replace("-", "%2D")]))
)
userinfos = st.builds(
    lambda user, secret, form: {"user": secret, "pass": f"{user}:{secret}", "both": f"{secret}:{secret}"}[form],
    label,
    secrets,
    st.sampled_from(["user", "pass", "both"]),
)


def fully_decoded(text: str) -> str:
    for _ in range(5):
        text = unquote(text)
    return text


def assert_no_secret(secret: str, published: str) -> None:
    assert secret not in published and secret not in fully_decoded(published), published


def encodings(value: str) -> st.SearchStrategy[str]:
    """A query value as clients write it: raw (the upstream client), percent-encoded, or encoded twice."""
    return st.sampled_from([value, quote(value, safe=""), quote(quote(value, safe=""), safe="")])


def query(params: list[str]) -> str:
    return ("?" + "&".join(params)) if params else ""


@given(schemes, userinfos, hosts, paths, harmless_params)
def test_user_info_never_survives(scheme: str, userinfo: str, host: str, path: str, params: list[str]) -> None:
    secret = userinfo.split(":")[-1]
    published = public_url(f"{scheme}://{userinfo}@{host}{path}{query(params)}")
    assert_no_secret(secret, published)
    assert published == f"{scheme}://{host}{path}{query(params)}"


@given(userinfos, hosts, paths)
def test_user_info_of_scheme_less_uris_never_survives(userinfo: str, host: str, path: str) -> None:
    published = public_url(f"{userinfo}@{host}{path}")
    assert_no_secret(userinfo.split(":")[-1], published)
    assert published == f"{host}{path}"


@given(
    st.builds(lambda s, u, h: f"{s}://{u}@{h}", st.sampled_from(["http", "https"]), userinfos, hosts)
    | st.builds(lambda u, h: f"{u}@{h}", userinfos.filter(lambda u: ":" in u), hosts),
    hosts,
    paths,
    harmless_params,
    st.data(),
)
def test_user_info_in_a_nested_endpoint_never_survives(
    endpoint: str, bucket: str, path: str, params: list[str], data: st.DataObject
) -> None:
    """The upstream client's `s3://bucket/key?endpoint=...`, with the endpoint written raw or encoded."""
    secret = endpoint.split("@")[0].split(":")[-1].removeprefix("//")
    value = data.draw(encodings(endpoint))
    position = data.draw(st.integers(0, len(params)))
    uri = f"s3://{bucket}{path}{query([*params[:position], f'endpoint={value}', *params[position:]])}"
    published = public_url(uri)
    assert_no_secret(secret, published)
    assert "endpoint=" in published and fully_decoded(published).count("@") == fully_decoded(uri).count("@") - 1


places = st.sampled_from(["query", "fragment", "nested"])


@given(schemes, hosts, paths, harmless_params, secret_names, secrets, places, st.data())
def test_secret_parameters_never_survive(
    scheme: str,
    host: str,
    path: str,
    params: list[str],
    name: str,
    secret: str,
    where: str,
    data: st.DataObject,
) -> None:
    position = data.draw(st.integers(0, len(params)))
    mixed = [*params[:position], f"{name}={secret}", *params[position:]]
    if where == "query":
        uri = f"{scheme}://{host}{path}{query(mixed)}"
    elif where == "fragment":  # OAuth implicit grants put the token there
        uri = f"{scheme}://{host}{path}#{'&'.join(mixed)}"
    else:
        nested = f"https://{host}{path}{query(mixed)}"
        uri = f"s3://bucket/key?endpoint={data.draw(encodings(nested).filter(lambda v: '&' not in v))}"
    assert_no_secret(secret, public_url(uri))


@given(hosts, paths, secrets)
def test_azure_sas_tokens_are_removed_whole(host: str, path: str, secret: str) -> None:
    sas = f"sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&st=2024-01-01&spr=https&sig={secret}%3D"
    assert public_url(f"https://{host}{path}?{sas}") == f"https://{host}{path}"
    assert public_url(f"https://{host}{path}?comp=list&{sas}") == f"https://{host}{path}?comp=list"


@given(schemes, hosts, paths, harmless_params, st.none() | st.text(_LOWER + "-", max_size=10))
def test_urls_without_credentials_are_unchanged(
    scheme: str, host: str, path: str, params: list[str], anchor: str | None
) -> None:
    uri = f"{scheme}://{host}{path}{query(params)}" + (f"#{anchor}" if anchor is not None else "")
    assert public_url(uri) == uri
    assert public_text(f"See {uri} for details.") == f"See {uri} for details."


@given(st.text() | st.builds(lambda s, u, h, q: f"{s}://{u}@{h}{q}", schemes, userinfos, hosts, st.text()))
def test_public_url_is_idempotent_and_never_raises(text: str) -> None:
    once = public_url(text)
    assert isinstance(once, str)
    assert public_url(once) == once


@given(st.text())
def test_public_text_is_idempotent_and_never_raises(text: str) -> None:
    once = public_text(text)
    assert public_text(once) == once


@given(st.text(string.ascii_letters + " .,;()", max_size=30), userinfos, hosts, paths, secret_names, secrets, label)
def test_prose_keeps_its_words_and_loses_its_secrets(
    words: str, userinfo: str, host: str, path: str, name: str, secret: str, user: str
) -> None:
    """In prose a scheme-less `name@host` is an e-mail address and stays; `name:password@host` is a credential."""
    text = f"{words} (https://{userinfo}@{host}{path}?{name}={secret}). Mail ops@example.com, or {user}:{secret}@{host}"
    published = public_text(text)
    assert_no_secret(secret, published)
    assert_no_secret(userinfo.split(":")[-1], published)
    assert published == f"{words} (https://{host}{path}). Mail ops@example.com, or {host}"


@pytest.mark.parametrize(
    ("uri", "published"),
    [
        # what the issue found published
        ("s3://models/k?endpoint=http://key:secret@minio:9000", "s3://models/k?endpoint=http://minio:9000"),
        (
            "s3://models/k?endpoint=key:secret@minio:9000&defaultRegion=eu",
            "s3://models/k?endpoint=minio:9000&defaultRegion=eu",
        ),
        ("key:secret@minio:9000/models/k", "minio:9000/models/k"),
        ("https://admin:hunter2@docs.example.com/model", "https://docs.example.com/model"),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101"
            "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FwoG"
            "&X-Amz-Signature=3f1c",
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240101T000000Z"
            "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host",
        ),
        (
            "https://isvc.example.com/v1/m:predict?api_key=abc&verbose=1",
            "https://isvc.example.com/v1/m:predict?verbose=1",
        ),
        ("https://maps.example.com/x?KEY=AIzaSyA1b2C3", "https://maps.example.com/x"),
        ("https://h/x?token=1", "https://h/x"),
        ("https://h/x;jsessionid=1?a=1;Token=2", "https://h/x;jsessionid=1?a=1"),
        ("https://proxy/fetch/http://u:p@inner/x", "https://proxy/fetch/http://inner/x"),
        # kept
        ("https://h/x?key=models/m.onnx", "https://h/x?key=models/m.onnx"),
        ("https://h/x?key=model.safetensors", "https://h/x?key=model.safetensors"),
        ("https://h/x?sp=r&se=2030", "https://h/x?sp=r&se=2030"),  # not a SAS without its sig
        ("https://docs.example.com/#access-token", "https://docs.example.com/#access-token"),
        ("https://medium.com/@alice/post", "https://medium.com/@alice/post"),
        ("https://host/x?mail=a@b", "https://host/x?mail=a@b"),
        ("mailto:ml-team@example.com", "mailto:ml-team@example.com"),
        ("oci://quay.io/org/model:1", "oci://quay.io/org/model:1"),
        ("Apache-2.0", "Apache-2.0"),
        ("", ""),
    ],
)
def test_examples(uri: str, published: str) -> None:
    assert public_url(uri) == published


@pytest.mark.parametrize("value", [None, 42, b"https://u:p@h", ["https://u:p@h"]])
def test_anything_but_text_publishes_nothing(value: object) -> None:
    assert public_url(value) == "" and public_text(value) == ""


@pytest.mark.parametrize(
    "text",
    [
        "x@ " + "a" * 50_000,  # a long run where a scheme could start at every character
        "x@ " + "a:" * 25_000,  # where `user:password@` could start after every colon
        "https://h/" + "ab" * 25_000 + "?q=x@y",
        "https://u:p@h/?e=" * 3_000 + "https://u:p@h/",  # deep nesting
    ],
    ids=["scheme-run", "userinfo-run", "long-path", "deep-nesting"],
)
def test_cost_is_linear_in_the_input(text: str) -> None:
    """A registry user controls these strings and the bridge redacts them on every sync: no quadratic search."""
    start = time.perf_counter()
    assert ":p@" not in public_url(text) and ":p@" not in public_text(text)
    assert time.perf_counter() - start < 2.0  # quadratic searches took 20 s and more here

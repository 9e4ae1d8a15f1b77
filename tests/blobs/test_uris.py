"""Artifact URIs: the upstream client's ``s3://`` form, ``file://`` and ``http(s)://``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.blobs import InvalidUri, StoreConfig, open_uri, parse_uri
from modelreg.blobs.http import HttpStore
from modelreg.blobs.local import LocalStore
from modelreg.blobs.s3 import S3Store
from modelreg.blobs.uris import EndpointMismatch, check_http_url, http_url_under, same_endpoint


def test_upstream_form_with_endpoint_and_region() -> None:
    loc = parse_uri("s3://my-bucket/models/mnist/v1/model.onnx?endpoint=http://minio:9000&defaultRegion=eu-west-1")
    assert loc.key == "models/mnist/v1/model.onnx"
    assert (loc.config.type, loc.config.bucket) == ("s3", "my-bucket")
    assert (loc.config.endpoint, loc.config.region, loc.config.path_style) == ("http://minio:9000", "eu-west-1", True)


def test_upstream_form_without_region_and_plain_aws_form() -> None:
    loc = parse_uri("s3://b/p/q?endpoint=https://s3.example.com")
    assert (loc.config.endpoint, loc.config.region, loc.key) == ("https://s3.example.com", None, "p/q")
    aws = parse_uri("s3://b/dir/")
    assert (aws.config.endpoint, aws.config.path_style, aws.key) == (None, False, "dir")
    assert parse_uri("s3://b").key == ""


def test_percent_encoded_endpoint_and_bare_host() -> None:
    assert parse_uri("s3://b/k?endpoint=http%3A%2F%2Fh%3A9000").config.endpoint == "http://h:9000"
    assert parse_uri("s3://b/k?endpoint=h:9000").config.endpoint == "https://h:9000"


def test_file_and_http_uris(tmp_path: Path) -> None:
    loc = parse_uri((tmp_path / "a b" / "c.bin").as_uri())
    assert loc.config.type == "local" and "/" + loc.key == str(tmp_path / "a b" / "c.bin")
    web = parse_uri("https://example.com/m/model.bin?sig=abc")
    assert web.config == StoreConfig(type="uri", base_url="https://example.com/m/model.bin?sig=abc") and web.key == ""


@pytest.mark.parametrize("uri", ["s3://", "s3:///key", "ftp://h/x", "file://otherhost/x", "model.bin", "https:///x"])
def test_invalid_uris(uri: str) -> None:
    with pytest.raises(InvalidUri):
        parse_uri(uri)


def test_open_uri_reads_an_s3_uri_through_its_connection_and_only_at_its_endpoint(tmp_path: Path) -> None:
    defaults = StoreConfig(
        type="s3", endpoint="http://minio:9000", region="r1", access_key_id="AK", secret_access_key="SK"
    )
    same, key = open_uri("s3://b/k?endpoint=HTTP://Minio:9000/&defaultRegion=elsewhere", defaults)
    assert isinstance(same, S3Store) and key == "k" and same.bucket == "b"
    assert (same.config.access_key_id, same.config.secret_access_key, same.config.region) == ("AK", "SK", "r1")
    assert same.config.endpoint == "http://minio:9000"  # the connection's, as the admin wrote it
    for other in ("http://attacker:9000", "http://minio:9001", "https://minio:9000", "http://127.0.0.1:9000"):
        with pytest.raises(EndpointMismatch, match="not the connection's endpoint"):
            open_uri(f"s3://b/k?endpoint={other}", defaults)
    with pytest.raises(EndpointMismatch):  # the URI names an endpoint, the connection is AWS's
        open_uri("s3://b/k?endpoint=http://minio:9000", dataclasses.replace(defaults, endpoint=None))
    bare, _ = open_uri("s3://b/k", defaults)
    assert isinstance(bare, S3Store) and bare.config.endpoint == "http://minio:9000"
    assert isinstance(open_uri((tmp_path / "x").as_uri())[0], LocalStore)
    assert isinstance(open_uri("http://h/x")[0], HttpStore)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://minio:9000", "http://minio:9000/", True),
        ("HTTP://MinIO:9000", "http://minio:9000", True),
        ("http://minio", "http://minio:80", True),
        ("https://s3.example.com:443/", "https://s3.example.com", True),
        ("http://minio:9000", "http://minio:9001", False),
        ("http://minio:9000", "https://minio:9000", False),
        ("http://minio", "https://minio", False),
        ("http://minio:9000", "http://minio.evil:9000", False),
        ("http://u:p@minio:9000", "http://minio:9000", False),
        ("http://minio:9000", None, False),
        ("http://minio:bad", "http://minio:9000", False),
        (None, None, True),
    ],
)
def test_same_endpoint_compares_normalized_urls(a: str | None, b: str | None, same: bool) -> None:
    assert same_endpoint(a, b) is same and same_endpoint(b, a) is same


@pytest.mark.parametrize(
    ("url", "base", "under"),
    [
        ("http://h/public/x", "http://h/public/", True),
        ("http://h/public/x", "http://h/public", True),
        ("http://H:80/public/a/b?sig=1", "http://h/public/", True),
        ("http://h/public/%7Euser/x", "http://h/public/~user/", True),  # an escaped unreserved character
        ("http://h/public", "http://h/public", True),
        ("http://h/public", "http://h/public/", False),
        ("http://h/publicity/x", "http://h/public", False),
        ("http://h/publicity/x", "http://h/public/", False),
        ("https://h/public/x", "http://h/public/", False),
        ("http://h:8080/public/x", "http://h/public/", False),
        ("http://user:pw@h/public/x", "http://h/public/", False),
        ("http://h.evil/public/x", "http://h/public/", False),
    ],
)
def test_http_url_under_compares_normalized_urls_on_a_path_boundary(url: str, base: str, under: bool) -> None:
    assert http_url_under(url, base) is under


@pytest.mark.parametrize(
    "url",
    [
        "http://h/public/../private/x",
        "http://h/public/./x",
        "http://h/public/..",
        "http://h/public/%2e%2e/private",
        "http://h/public/%2E./private",
        "http://h/public/..%2Fprivate",
        "http://h/public/%252e%252e/private",
        "http://h/public\\..\\private",
        "http://h/public/%5c..%5cprivate",
        "http://h/public/x\x00y",
        "ftp://h/public/x",
        "http:///public/x",
    ],
)
def test_urls_that_could_be_normalized_elsewhere_are_refused(url: str) -> None:
    with pytest.raises(InvalidUri):
        check_http_url(url)
    with pytest.raises(InvalidUri):
        http_url_under(url, "http://h/public/")


segment = st.text(
    alphabet=st.characters(blacklist_characters="/?\\\x00", blacklist_categories=("Cs",)), min_size=1, max_size=12
).filter(lambda s: s not in (".", ".."))
keys = st.lists(segment, min_size=1, max_size=5).map("/".join)
buckets = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]", fullmatch=True)


@given(bucket=buckets, key=keys, region=st.none() | st.sampled_from(["us-east-1", "eu-central-1"]))
@settings(max_examples=300, deadline=None)
def test_s3_store_uris_parse_back_to_the_same_location(bucket: str, key: str, region: str | None) -> None:
    store = S3Store(StoreConfig(type="s3", bucket=bucket, endpoint="http://127.0.0.1:9000", region=region))
    loc = parse_uri(store.uri(key))
    assert (loc.config.bucket, loc.key, loc.config.endpoint, loc.config.region) == (
        bucket,
        key,
        "http://127.0.0.1:9000",
        region,
    )


@given(key=keys)
@settings(max_examples=200, deadline=None)
def test_local_store_uris_parse_back_to_the_same_file(tmp_path_factory: pytest.TempPathFactory, key: str) -> None:
    root = tmp_path_factory.getbasetemp() / "uri-prop"
    store = LocalStore(StoreConfig(type="local", directory=str(root)))
    loc = parse_uri(store.uri(key))
    assert Path("/" + loc.key) == store.root / key

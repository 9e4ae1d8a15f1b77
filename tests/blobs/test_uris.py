"""Artifact URIs: the upstream client's ``s3://`` form, ``file://`` and ``http(s)://``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.blobs import InvalidUri, StoreConfig, open_uri, parse_uri
from modelreg.blobs.http import HttpStore
from modelreg.blobs.local import LocalStore
from modelreg.blobs.s3 import S3Store


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


def test_open_uri_picks_the_store_and_lends_credentials_only_to_the_same_endpoint(tmp_path: Path) -> None:
    defaults = StoreConfig(
        type="s3", endpoint="http://minio:9000", region="r1", access_key_id="AK", secret_access_key="SK"
    )
    same, key = open_uri("s3://b/k?endpoint=http://minio:9000/", defaults)
    assert isinstance(same, S3Store) and key == "k"
    assert (same.config.access_key_id, same.config.secret_access_key, same.config.region) == ("AK", "SK", "r1")
    other, _ = open_uri("s3://b/k?endpoint=http://attacker:9000", defaults)
    assert isinstance(other, S3Store)
    assert (other.config.access_key_id, other.config.secret_access_key) == (None, None)
    bare, _ = open_uri("s3://b/k", defaults)
    assert isinstance(bare, S3Store) and bare.config.endpoint == "http://minio:9000"
    assert isinstance(open_uri((tmp_path / "x").as_uri())[0], LocalStore)
    assert isinstance(open_uri("http://h/x")[0], HttpStore)


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

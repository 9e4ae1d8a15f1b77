"""OCI image references: parse/format round trips over the grammar, and names made into tags and repositories."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelreg.blobs.oci import ImageRef, InvalidImageRef, parse_image_ref, repository_for, tag_for
from modelreg.blobs.oci_refs import COMPONENT, MAX_NAME, TAG
from modelreg.blobs.uris import EndpointMismatch, InvalidUri, parse_uri, resolve_uri

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
REGISTRY = st.one_of(
    st.builds(lambda labels: ".".join(labels), st.lists(LABEL, min_size=2, max_size=3)),
    st.builds(
        lambda host, port: f"{host}:{port}",
        st.sampled_from(["localhost", "127.0.0.1", "registry"]),
        st.integers(1, 65535),
    ),
    st.just("localhost"),
    st.builds(lambda port: f"[::1]:{port}", st.integers(1, 65535)),
)
COMPONENTS = st.from_regex(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+){0,2}", fullmatch=True)
REPOSITORY = st.builds(lambda parts: "/".join(parts), st.lists(COMPONENTS, min_size=1, max_size=4))
TAGS = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", fullmatch=True)
DIGESTS = st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True)
# within the distribution's name limit (registry + "/" + repository), which parsing enforces (a case below)
REFS = st.builds(ImageRef, REGISTRY, REPOSITORY, st.none() | TAGS, st.none() | DIGESTS).filter(
    lambda ref: len(ref.registry) + 1 + len(ref.repository) <= MAX_NAME
)


@given(REFS)
def test_format_then_parse_gives_the_same_reference(ref: ImageRef) -> None:
    assert parse_image_ref(ref.uri()) == ref
    assert parse_image_ref(ref.image()) == ref


@given(REFS)
def test_the_registry_asks_for_the_digest_before_the_tag(ref: ImageRef) -> None:
    assert ref.reference == (ref.digest or ref.tag or "latest")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci://quay.io/org/model:1.0", ImageRef("quay.io", "org/model", "1.0")),
        ("OCI://127.0.0.1:5000/models/demo", ImageRef("127.0.0.1:5000", "models/demo")),
        ("localhost/a/b/c:v1@sha256:" + "a" * 64, ImageRef("localhost", "a/b/c", "v1", "sha256:" + "a" * 64)),
        ("registry:5000/x@sha256:" + "0" * 64, ImageRef("registry:5000", "x", None, "sha256:" + "0" * 64)),
    ],
)
def test_parse_reads_registry_repository_tag_and_digest(text: str, expected: ImageRef) -> None:
    assert parse_image_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("oci://myuser/mymodel:1.0", "no registry host"),
        ("oci://quay.io/Org/model", "lowercase"),
        ("oci://quay.io/org/model:-bad", "valid OCI tag"),
        ("oci://quay.io/org/model@sha256:abc", "digest"),
        ("oci://quay.io/org//model", "lowercase path components"),
        ("oci://quay.io/org/model?x=1", "not an OCI image reference"),
        ("oci://quay.io", "no registry host"),
        ("oci://quay.io/" + "a" * 300, "longer than"),
        ("", "not an OCI image reference"),
    ],
)
def test_parse_refuses_what_the_grammar_does_not_allow(text: str, why: str) -> None:
    with pytest.raises(InvalidImageRef, match=why):
        parse_image_ref(text)


@given(st.text(max_size=300))
def test_tag_for_always_gives_a_valid_tag(name: str) -> None:
    assert TAG.fullmatch(tag_for(name))


@pytest.mark.parametrize(
    ("name", "tag"), [("1.0.0", "1.0.0"), ("v1 final", "v1-final"), ("..x", "x"), ("", "latest"), ("é", "latest")]
)
def test_tag_for_keeps_valid_names_and_replaces_the_rest(name: str, tag: str) -> None:
    assert tag_for(name) == tag


@given(st.text(max_size=80), st.text(max_size=300))
def test_repository_for_always_gives_a_valid_repository(prefix: str, name: str) -> None:
    repository = repository_for(prefix, name)
    assert all(COMPONENT.fullmatch(part) for part in repository.split("/"))
    assert len(repository) <= 255 - 64
    assert parse_image_ref(f"quay.io/{repository}:1").repository == repository


@pytest.mark.parametrize(
    ("prefix", "name", "repository"),
    [
        ("models", "Llama 3", "models/llama-3"),
        ("team/ml/", "meta-llama/Llama-3.1-8B", "team/ml/meta-llama/llama-3.1-8b"),
        ("", "a__b..c", "a__b-c"),
        ("", "!!!", "model"),
    ],
)
def test_repository_for_lowercases_and_cleans_each_component(prefix: str, name: str, repository: str) -> None:
    assert repository_for(prefix, name) == repository


def test_an_oci_uri_is_read_through_a_connection_of_the_same_registry_only() -> None:
    from modelreg.blobs.base import StoreConfig

    location = parse_uri("oci://127.0.0.1:5000/models/demo:1.0@sha256:" + "b" * 64)
    assert (location.config.type, location.config.registry) == ("oci", "127.0.0.1:5000")
    assert location.key == "models/demo:1.0@sha256:" + "b" * 64
    connection = StoreConfig(type="oci", registry="127.0.0.1:5000", access_key_id="u", secret_access_key="p")
    resolved = resolve_uri("oci://127.0.0.1:5000/models/demo:1.0", connection)
    assert resolved.config.secret_access_key == "p"
    with pytest.raises(EndpointMismatch):
        resolve_uri("oci://evil.example:5000/models/demo:1.0", connection)
    with pytest.raises(InvalidUri):
        parse_uri("oci://models/demo:1.0")

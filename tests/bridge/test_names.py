from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelreg.bridge.names import backstage_name, is_valid_object_name, is_valid_tag, owner_name, unique_tags

parts_strategy = st.lists(st.text(min_size=0, max_size=80), min_size=1, max_size=3).map(tuple)
awkward_text = st.text(alphabet="aA0_.:/ -é", min_size=0, max_size=70)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("mnist", "v1"), "mnist.v1"),
        (("granite-3-8b", "v2"), "granite-3-8b.v2"),
        (("upstream", "mnist", "v1"), "upstream.mnist.v1"),
        (("ggmtest", "mnist-v1"), "ggmtest.mnist-v1"),
    ],
)
def test_clean_parts_are_kept_readable_and_lossless(parts: tuple[str, ...], expected: str) -> None:
    assert backstage_name(*parts) == expected


@pytest.mark.parametrize(
    "parts",
    [
        ("granite-3.1-8b-lab-v1-1.4.0", "v1"),
        ("my_model", "v1"),
        ("kube:admin", "v1"),
        ("mnist-v1/8c2c357f-bf82-4d2d-a254-43eca96fd31d",),
        ("My Model", "version 1"),
        ("Mnist", "v1"),
        ("!@#$%^&*()", "v1"),
        ("", ""),
        ("x" * 200, "v1"),
        ("ÄÖÜ", "日本"),
    ],
)
def test_lossy_names_get_a_hash_suffix_and_are_valid(parts: tuple[str, ...]) -> None:
    name = backstage_name(*parts)
    assert is_valid_object_name(name), name
    assert "--" in name or ("." not in name and len(name) == 12)


def test_names_that_differ_only_in_punctuation_do_not_collide() -> None:
    # The reference's SanitizeName mapped all of these to the same few names.
    variants = [
        "my_model",
        "my.model",
        "my:model",
        "my/model",
        "my model",
        "mymodel",
        "my-model",
        "My-Model",
        "my__model",
    ]
    names = {backstage_name(v, "v1") for v in variants}
    assert len(names) == len(variants)
    assert backstage_name("my.model", "v1").startswith("my-model.v1--")


def test_join_is_unambiguous() -> None:
    assert backstage_name("a-b", "c") != backstage_name("a", "b-c")
    assert backstage_name("a", "b", "c") != backstage_name("a", "b.c")
    assert backstage_name("a.b") != backstage_name("a", "b")


def test_long_names_are_truncated_but_unique() -> None:
    long_model = "a" * 70
    first, second = backstage_name(long_model, "v1"), backstage_name(long_model, "v2")
    assert len(first) == 63 and len(second) == 63 and first != second
    assert backstage_name("m" * 30, "v" * 32) == "m" * 30 + "." + "v" * 32  # exactly 63: still lossless


def test_names_are_stable_across_runs() -> None:
    # Pinned: a change of the hash input or length would rename every entity in Backstage.
    assert backstage_name("my_model", "v1") == "my-model.v1--a9627f114c5e"
    assert backstage_name("kube:admin") == "kube-admin--d54bc797aced"


@settings(max_examples=500)
@given(parts_strategy)
def test_every_name_satisfies_backstage_rules(parts: tuple[str, ...]) -> None:
    assert is_valid_object_name(backstage_name(*parts))


@settings(max_examples=300)
@given(st.lists(st.tuples(awkward_text, awkward_text), min_size=2, max_size=30, unique=True))
def test_distinct_inputs_never_collide(pairs: list[tuple[str, str]]) -> None:
    names = [backstage_name(*p) for p in pairs]
    # Backstage compares names case-insensitively, so uniqueness must hold after lower-casing too.
    assert len({n.lower() for n in names}) == len(pairs)


@settings(max_examples=300)
@given(st.text(max_size=100))
def test_owner_names_are_valid_or_absent(value: str) -> None:
    owner = owner_name(value)
    assert owner is None or is_valid_object_name(owner)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("InferenceServer123", "InferenceServer123"),
        ("Inference_Server#$Test", "Inference_ServerTest"),
        (".-ValidName-_.", "ValidName"),
        ("kube:admin", "kubeadmin"),
        ("John.Doe", "John.Doe"),
        ("!@#$%^&*()", None),
        ("  ", None),
        (None, None),
        ("InferenceServer" + "b" * 64 + "test", "InferenceServer" + "b" * 48),
    ],
)
def test_owner_name(value: str | None, expected: str | None) -> None:
    assert owner_name(value) == expected


@pytest.mark.parametrize(
    ("tag", "valid"),
    [
        ("rhoai", True),
        ("v1", True),
        ("c++", True),
        ("a:b", True),
        ("Provider-rhoai", False),
        ("a_b", False),
        ("a--b", False),
        ("", False),
        ("x" * 64, False),
        ("last-modified", True),
    ],
)
def test_tag_rule(tag: str, valid: bool) -> None:
    assert is_valid_tag(tag) is valid


def test_unique_tags_filters_and_dedupes_in_order() -> None:
    assert unique_tags(["b", "a", "B", "b", "a b", "c"]) == ("b", "a", "c")

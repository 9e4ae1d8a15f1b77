"""deploy/names.py: the dashboard's name rules, by example and by property (any input gives a valid name or a clear
error; translating twice changes nothing)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelreg.deploy.names import (
    COMBINED_TOO_LONG,
    MAX_NAME,
    check_deployment_name,
    check_namespace,
    default_display_name,
    k8s_name,
)
from modelreg.errors import InvalidInput

VALID = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("Granite-7b-Inference - 1.0.0", "granite-7b-inference-100"),
        ("  My   Model  ", "my-model"),
        ("Llama 3.1 8B (instruct)", "llama-31-8b-instruct"),
        ("tab\tand\nnewline", "tab-and-newline"),
        ("---a---b---", "a-b"),
        ("123 model", "m123-model"),
        ("-7b", "m7b"),
        ("", "model"),
        ("!!! ###", "model"),
        ("Ünïcödé Möðel", "ncd-mel"),
        ("a" * 29 + "-b", "a" * 29),  # cut at 30 leaves a trailing dash, which goes
    ],
)
def test_k8s_name_examples(display: str, expected: str) -> None:
    assert k8s_name(display) == expected


def test_k8s_name_max_length() -> None:
    assert k8s_name("granite-7b-inference", max_length=7) == "granite"
    assert k8s_name("ab-cd", max_length=3) == "ab"
    assert k8s_name("", max_length=3) == "mod"
    assert k8s_name("9", max_length=1) == "m"
    assert len(k8s_name("x" * 100, max_length=63)) == 63
    with pytest.raises(ValueError, match="max_length"):
        k8s_name("x", max_length=0)


@given(st.text())
def test_any_display_name_gives_an_acceptable_deployment_name(display: str) -> None:
    name = k8s_name(display)
    assert VALID.match(name), name
    assert len(name) <= MAX_NAME
    check_deployment_name(name, "team-a")


@given(st.text(), st.integers(min_value=1, max_value=253))
def test_k8s_name_is_idempotent_and_within_length(display: str, max_length: int) -> None:
    name = k8s_name(display, max_length=max_length)
    assert k8s_name(name, max_length=max_length) == name
    assert 1 <= len(name) <= max_length
    assert VALID.match(name), name


@given(st.text(), st.text(max_size=80))
def test_any_name_is_accepted_or_refused_with_a_clear_error(name: str, namespace: str) -> None:
    try:
        check_deployment_name(name, namespace)
    except InvalidInput as exc:
        assert exc.message  # never another exception type
    else:
        assert VALID.match(name)
        assert len(name) <= MAX_NAME
        assert len(name) + 1 + len(namespace) <= 63
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace)


@pytest.mark.parametrize(
    ("name", "namespace", "message"),
    [
        ("Granite", "team-a", "must start with a lowercase letter"),
        ("7b", "team-a", "must start with a lowercase letter"),
        ("granite-", "team-a", "must start with a lowercase letter"),
        ("gran_ite", "team-a", "must start with a lowercase letter"),
        ("", "team-a", "must start with a lowercase letter"),
        ("g" * 31, "team-a", "at most 30 characters"),
        ("g" * 30, "n" * 33, re.escape(COMBINED_TOO_LONG)),
        ("granite", "Team-A", "namespace 'Team-A' is not valid"),
        ("granite", "../etc", "namespace '../etc' is not valid"),
        ("granite", "a" * 64, "is not valid"),
        ("granite", "", "is not valid"),
    ],
)
def test_check_deployment_name_refusals(name: str, namespace: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_deployment_name(name, namespace)


def test_check_deployment_name_limits() -> None:
    check_deployment_name("g" * 30, "n" * 32)  # 30 + 1 + 32 = 63
    check_deployment_name("g", "0-numeric-namespace")
    check_namespace("a" * 63)
    with pytest.raises(InvalidInput, match="cannot exceed 63"):
        check_deployment_name("g" * 30, "n" * 33)


def test_default_display_name() -> None:
    assert default_display_name("Granite-7b-Inference", "1.0.0") == "Granite-7b-Inference - 1.0.0"
    assert default_display_name("Granite-7b-Inference", None) == "Granite-7b-Inference"
    long = default_display_name("m" * 60, "1.0.0")
    assert long == "m" * 60 + " - "
    assert len(default_display_name("m" * 100, None)) == 63

"""The deploy policy: its file format (strict, clear errors) and its decisions (which rule applies to which
namespace, what it requires, and what a refusal says)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelreg.deploy.policy import DeployPolicy, DeployPolicyError, Subject
from modelreg.errors import Forbidden

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "deploy-policy.example.yaml"

POLICY = DeployPolicy.parse(
    {
        "rules": [
            {"namespaces": {"labels": {"environment": "production"}}, "requireStage": "production"},
            {
                "name": "regulated",
                "namespaces": {"names": ["regulated-*"]},
                "requireStage": ["staging", "production"],
                "requireVerifiedDigests": True,
            },
        ]
    }
)


def subject(
    namespace: str,
    labels: dict[str, str] | None,
    stage: str | None = "development",
    digest_problem: str | None = None,
) -> Subject:
    return Subject(namespace, labels, "version '1.0.0' of 'Granite'", stage, digest_problem)


def test_no_file_means_no_rules() -> None:
    policy = DeployPolicy.load(None)
    assert policy.rules == ()
    policy.check(subject("anything", None, stage=None, digest_problem="none"))


def test_the_example_file_loads() -> None:
    policy = DeployPolicy.load(EXAMPLE)
    assert policy.rules, "the example shows at least one rule"


def test_a_labelled_namespace_needs_the_stage_and_the_refusal_says_why() -> None:
    with pytest.raises(Forbidden) as caught:
        POLICY.check(subject("prod-a", {"environment": "production", "team": "a"}, stage="development"))
    assert caught.value.message == (
        "deploy policy rule 1 (labels environment=production): namespace prod-a (labels environment=production,"
        "team=a) requires stage 'production'; version '1.0.0' of 'Granite' is in 'development'"
    )
    POLICY.check(subject("prod-a", {"environment": "production"}, stage="production"))


def test_rules_apply_only_to_the_namespaces_they_select() -> None:
    POLICY.check(subject("team-a", {"environment": "dev"}, stage="development"))
    POLICY.check(subject("team-a", {}, stage="development"))


def test_name_patterns_match_without_a_cluster() -> None:
    by_name = DeployPolicy.parse({"rules": [POLICY.rules[1].model_dump(by_alias=True)]})
    with pytest.raises(Forbidden, match=r"rule 'regulated' \(names regulated-\*\).*requires stage 'staging' or"):
        by_name.check(subject("regulated-eu", None, stage="development"))
    by_name.check(subject("team-a", None, stage="development"))


def test_verified_digests_are_required_where_a_rule_says_so() -> None:
    problem = "its model artifact was registered by URI alone, so no digests were recorded"
    with pytest.raises(
        Forbidden, match=r"requires verified digests; version '1\.0\.0' of 'Granite': its model artifact"
    ):
        POLICY.check(subject("regulated-eu", {}, stage="staging", digest_problem=problem))
    POLICY.check(subject("regulated-eu", {}, stage="staging", digest_problem=None))


def test_a_label_rule_refuses_when_labels_cannot_be_read() -> None:
    """Without a cluster the labels are unknown: fail closed rather than skip the rule."""
    with pytest.raises(Forbidden, match="cannot check the labels of namespace team-a without a cluster"):
        POLICY.check(subject("team-a", None, stage="production"))


def test_a_catalog_model_has_no_stage() -> None:
    with pytest.raises(Forbidden, match="has no lifecycle stage: register it first"):
        POLICY.check(Subject("prod-a", {"environment": "production"}, "catalog model 'x'", None, "none"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rules": [{"namespaces": {"names": ["a"]}, "requireStage": "prod"}]}, r"rules\[0\]\.requireStage"),
        ({"rules": [{"namespaces": {"names": ["a"]}}]}, "a rule must require something"),
        ({"rules": [{"namespaces": {}, "requireStage": "production"}]}, "give names or labels"),
        ({"rules": [{"namespaces": {"names": ["a"]}, "requireStage": "staging", "extra": 1}]}, "extra: unknown key"),
        ({"rulez": []}, "rulez: unknown key"),
        (["not", "a", "mapping"], "must hold a mapping"),
    ],
)
def test_bad_policies_are_refused_with_the_key(data: object, message: str) -> None:
    with pytest.raises(DeployPolicyError, match=message):
        DeployPolicy.parse(data, "deploy policy file p.yaml")


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("rules: [unclosed")
    with pytest.raises(DeployPolicyError, match=f"cannot read deploy policy file {bad}"):
        DeployPolicy.load(bad)
    with pytest.raises(DeployPolicyError, match="cannot read"):
        DeployPolicy.load(tmp_path / "missing.yaml")

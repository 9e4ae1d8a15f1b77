"""The deploy policy (``deploy.policy_file``, YAML; docs/deploy-policy.example.yaml): which lifecycle stage a version
must be in to be deployed into which namespaces, and whether its model artifact must have verified digests. Every
refusal is a 403 naming the rule and the fact that failed it. (The profile's min/max bounds are checked for every
request, policy or not, by ``DeployService.plan``.)

A rule applies to a namespace when every selector it gives matches: ``names`` (shell patterns, ``prod-*``) and
``labels`` (equality on the namespace's labels, read from the cluster). Without a cluster the labels are unknown, so
a rule that selects by labels, and whose name patterns (if any) match, refuses: a policy cannot be skipped by
deploying to a GitOps folder instead of the cluster. Every applicable rule must hold.

"Verified digests": the version's model artifact is the one modelreg stored through an upload, whose manifest
records a SHA-256 computed by the server for every file (services/uploads.py). An artifact registered by URI
alone has no recorded digests, whatever its files are; the store is not re-read at deploy time.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from modelreg.errors import Forbidden
from modelreg.services import policy_files
from modelreg.services.lifecycle import Stage


class DeployPolicyError(ValueError):
    """A policy file that cannot be read or does not validate; the message names the file and the bad key."""


class NamespaceSelector(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    names: tuple[str, ...] = ()  # shell patterns: "prod-*"
    labels: dict[str, str] = Field(default_factory=dict)  # every label must be equal

    @model_validator(mode="after")
    def _something(self) -> NamespaceSelector:
        if not self.names and not self.labels:
            raise ValueError("give names or labels (or both)")
        return self

    def describe(self) -> str:
        parts = []
        if self.names:
            parts.append("names " + ", ".join(self.names))
        if self.labels:
            parts.append("labels " + _labels(self.labels))
        return " and ".join(parts)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(default=None, max_length=255)  # how refusals name the rule; default "rule <n>"
    namespaces: NamespaceSelector
    require_stage: tuple[Stage, ...] = Field(default=(), alias="requireStage")  # one of these
    require_verified_digests: StrictBool = Field(default=False, alias="requireVerifiedDigests")

    @field_validator("require_stage", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _requires_something(self) -> Rule:
        if not self.require_stage and not self.require_verified_digests:
            raise ValueError("a rule must require something: requireStage and/or requireVerifiedDigests")
        return self


@dataclass(frozen=True, slots=True)
class Subject:
    """What is about to be deployed where, as far as the policy cares."""

    namespace: str
    namespace_labels: Mapping[str, str] | None  # None: unknown (no cluster)
    described: str  # "version '1.0.0' of 'Granite'", "catalog model 'x' of source 'y'"
    stage: str | None  # None: not a registry version (a catalog model)
    digest_problem: str | None  # None: verified digests; else why not ("it was registered by URI alone")


class DeployPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...] = ()

    @classmethod
    def load(cls, path: Path | str | None) -> DeployPolicy:
        """The policy in a YAML file; no file: no rules (anyone with the deploy permission deploys anything)."""
        if path is None:
            return cls()
        return cls.parse(policy_files.read(path, "deploy policy", DeployPolicyError), f"deploy policy file {path}")

    @classmethod
    def parse(cls, data: Any, source: str = "deploy policy") -> DeployPolicy:
        """An empty document is no rules."""
        if data is None:
            return cls()
        return policy_files.validate(cls, data, source, DeployPolicyError, "'rules'")

    @property
    def needs_digests(self) -> bool:
        return any(r.require_verified_digests for r in self.rules)

    def check(self, subject: Subject) -> None:
        """Forbidden (403) naming the first rule that refuses and why."""
        for index, rule in enumerate(self.rules, 1):
            refusal = _refusal(rule, subject)
            if refusal is not None:
                label = f"rule {rule.name!r}" if rule.name else f"rule {index}"
                raise Forbidden(f"deploy policy {label} ({rule.namespaces.describe()}): {refusal}")


def _refusal(rule: Rule, subject: Subject) -> str | None:
    selector = rule.namespaces
    ns = subject.namespace
    if selector.names and not any(fnmatch.fnmatchcase(ns, pattern) for pattern in selector.names):
        return None
    if selector.labels:
        if subject.namespace_labels is None:
            return (
                f"cannot check the labels of namespace {ns} without a cluster, so deploying there is refused "
                "(select namespaces by names for GitOps output and dry runs)"
            )
        if any(subject.namespace_labels.get(k) != v for k, v in selector.labels.items()):
            return None
    where = f"namespace {ns}" + (f" (labels {_labels(subject.namespace_labels)})" if subject.namespace_labels else "")
    if rule.require_stage:
        wanted = " or ".join(repr(s) for s in rule.require_stage)
        if subject.stage is None:
            return f"{where} requires stage {wanted}; {subject.described} has no lifecycle stage: register it first"
        if subject.stage not in rule.require_stage:
            return f"{where} requires stage {wanted}; {subject.described} is in {subject.stage!r}"
    if rule.require_verified_digests and subject.digest_problem is not None:
        return f"{where} requires verified digests; {subject.described}: {subject.digest_problem}"
    return None


def _labels(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))

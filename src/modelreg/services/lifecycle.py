"""Lifecycle stages of model versions: development → staging → production, plus deprecated.

The current stage is a column of the version that clients see as its custom property ``Lifecycle``; only the
governance API changes it (``RegistryService`` refuses changes through the Kubeflow API). A policy says, per
stage, from which stages a version may enter it, which roles may move it there and which checks must hold
(``docs/lifecycle-policy.example.yaml`` is the built-in default, commented).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator
from sqlalchemy import Connection, and_, exists, select

from modelreg.auth import context
from modelreg.auth.principal import Permission, Principal
from modelreg.db import repository
from modelreg.db.tables import artifact_attributions, artifacts, model_versions, registered_models
from modelreg.errors import Conflict, Forbidden, InvalidInput, NotFound
from modelreg.services import audit, clock, policy_files, properties
from modelreg.services import entities as e
from modelreg.services.entities import Record
from modelreg.services.properties import PropValue
from modelreg.stages import INITIAL_STAGE, LIFECYCLE_PROPERTY, STAGES

if TYPE_CHECKING:
    from modelreg.services.registry import RegistryService

Stage = Literal["development", "staging", "production", "deprecated"]
PolicyRole = Literal["admin", "developer"]  # viewers lack the promote permission, so they can never enter a stage
assert get_args(Stage) == STAGES
AUDIT_ACTION = "promote"


class PolicyError(ValueError):
    """A policy file that cannot be read or does not validate; the message names the file and the bad key."""


class Checks(BaseModel):
    """What must hold of a version before it may enter a stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_artifact_uri: StrictBool = False  # a model artifact with a non-empty URI is linked to the version
    properties: tuple[str, ...] = ()  # non-empty custom properties, on the version or else its registered model
    description: StrictBool = False  # the version has a non-empty description

    @field_validator("properties")
    @classmethod
    def _names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if any(not n.strip() for n in names):
            raise ValueError("property names must not be empty")
        if len(set(names)) != len(names):
            raise ValueError("property names must not repeat")
        return names


class StagePolicy(BaseModel):
    """Who may move a version into this stage, from where, and on what conditions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_from: tuple[Stage, ...]
    roles: tuple[PolicyRole, ...]  # admin always qualifies (``Principal.has_role``)
    require: Checks = Field(default_factory=Checks)

    @field_validator("allowed_from", "roles")
    @classmethod
    def _not_empty(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        # an after-validator: runs only when every item is valid, so a bad item is reported once
        if not values:
            raise ValueError("must list at least one; leave the stage out to forbid entering it")
        return values


class Policy(BaseModel):
    """The whole policy. A stage missing from ``stages`` cannot be entered at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    single_production: StrictBool = True  # entering production deprecates the model's other production versions
    stages: dict[Stage, StagePolicy]

    @model_validator(mode="after")
    def _no_self_transitions(self) -> Policy:
        for stage, rule in self.stages.items():
            if stage in rule.allowed_from:
                raise ValueError(f"stages.{stage}.allowed_from lists {stage!r} itself")
        return self

    @classmethod
    def default(cls) -> Policy:
        return DEFAULT_POLICY

    @classmethod
    def load(cls, path: Path | str | None) -> Policy:
        """The policy in a YAML file, or the built-in default for ``None``."""
        if path is None:
            return DEFAULT_POLICY
        return cls.parse(policy_files.read(path, "lifecycle policy", PolicyError), f"lifecycle policy file {path}")

    @classmethod
    def parse(cls, data: Any, source: str = "lifecycle policy") -> Policy:
        expected = "'stages' (and optionally 'single_production')"
        return policy_files.validate(cls, data, source, PolicyError, expected)

    def to_json(self) -> dict[str, Any]:
        """As the policy file writes it, stages in lifecycle order."""
        data = self.model_dump(mode="json")
        data["stages"] = {s: data["stages"][s] for s in STAGES if s in data["stages"]}
        return data


DEFAULT_POLICY = Policy(
    single_production=True,
    stages={
        # Sent back from staging for more work.
        "development": StagePolicy(allowed_from=("staging",), roles=("developer",)),
        "staging": StagePolicy(allowed_from=("development",), roles=("developer",)),
        # From staging; from deprecated to roll back to an earlier release.
        "production": StagePolicy(
            allowed_from=("staging", "deprecated"),
            roles=("admin",),
            require=Checks(model_artifact_uri=True, properties=("License",)),
        ),
        "deprecated": StagePolicy(allowed_from=("development", "staging", "production"), roles=("admin",)),
    },
)


@dataclass(frozen=True)
class Promotion:
    """What a promotion did: the version as now stored, the stage it left and the versions it deprecated."""

    record: Record
    from_stage: str
    deprecated: tuple[Record, ...] = ()

    @property
    def changed(self) -> bool:
        return self.from_stage != stage_of(self.record.props)


@dataclass(frozen=True)
class StageOption:
    """A stage a version could be moved to by a caller; ``refused`` is the rule that stops it (``None``: allowed)."""

    stage: str
    refused: str | None = None

    @property
    def allowed(self) -> bool:
        return self.refused is None


class LifecycleService:
    """Moves model versions between stages under a policy; each call is one write transaction."""

    def __init__(self, registry: RegistryService, policy: Policy | None = None) -> None:
        self.registry = registry
        self.db = registry.db
        self.policy = policy or DEFAULT_POLICY

    def promote(self, version_id: int, to_stage: str, comment: str | None = None) -> Record:
        return self._run(lambda conn: version_id, to_stage, comment).record

    def promote_by_name(
        self, model_name: str, version_name: str, to_stage: str, comment: str | None = None
    ) -> Promotion:
        return self._run(lambda conn: _resolve(conn, model_name, version_name), to_stage, comment)

    def resolve(self, model_name: str, version_name: str) -> int:
        """The id of version ``version_name`` of registered model ``model_name`` (404 naming the missing one)."""
        with self.db.read() as conn:
            return _resolve(conn, model_name, version_name)

    def options(self, version_id: int) -> tuple[StageOption, ...]:
        """Every stage but the version's current one, each with why the current caller may not move the version
        there (``None``: the policy allows it), checked as ``promote`` checks, so a page offers only the moves that
        will succeed and names the rule that refuses the others. ``promote`` still decides."""
        principal = context.current().principal
        with self.db.read() as conn:
            version = e.load(conn, e.MODEL_VERSION, version_id)
            current = stage_of(version.props)
            return tuple(
                StageOption(stage, self._refusal(conn, principal, version, current, stage))
                for stage in STAGES
                if stage != current
            )

    def _refusal(self, conn: Connection, principal: Principal, version: Record, current: str, stage: str) -> str | None:
        if not principal.can(Permission.PROMOTE):
            return "changing the stage needs the developer or admin role"
        rule = self.policy.stages.get(cast(Stage, stage))
        if rule is None:
            return f"the lifecycle policy allows no transition to {stage}"
        if not principal.has_role(rule.roles):
            return f"{stage} needs the {' or '.join(rule.roles)} role"
        if version.row["state"] == "ARCHIVED":
            return "the version is archived: restore it first"
        if current not in rule.allowed_from:
            return f"{stage} can only be entered from {' or '.join(rule.allowed_from)}"
        failures = _failed_checks(conn, version, rule.require)
        return "; ".join(failures) if failures else None

    def _run(self, version_of: Callable[[Connection], int], to_stage: str, comment: str | None) -> Promotion:
        context.require(Permission.PROMOTE, "promote a model version")
        if to_stage not in STAGES:
            raise InvalidInput(f"unknown lifecycle stage {to_stage!r}: must be one of {', '.join(STAGES)}")
        if comment is not None and len(comment) > 1000:
            raise InvalidInput("comment is too long: at most 1000 characters")

        def run(conn: Connection) -> Promotion:
            return self._promote(conn, version_of(conn), to_stage, comment)

        return self.db.run_write(run)

    def _promote(self, conn: Connection, version_id: int, to_stage: str, comment: str | None) -> Promotion:
        # Lock the registered model first (the order archiving uses: model, then versions), so two promotions
        # of one model's versions cannot both see "no other production version" and leave two of them.
        v = model_versions.c
        model_id = conn.execute(select(v.registered_model_id).where(v.id == version_id)).scalar()
        if model_id is None:
            raise NotFound(f"no {e.MODEL_VERSION.label} found for id {version_id}")
        conn.execute(select(registered_models.c.id).where(registered_models.c.id == model_id).with_for_update())
        version = e.load(conn, e.MODEL_VERSION, version_id)  # read once the lock is held: the stage as of now
        current = stage_of(version.props)
        rule = self.policy.stages.get(cast(Stage, to_stage))  # one of STAGES: checked above
        described = f"model version {version.row['name']!r} (id {version_id})"
        if rule is None:
            raise Conflict(f"the lifecycle policy allows no transition to {to_stage!r}")
        principal = context.current().principal
        if not principal.has_role(rule.roles):
            held = ", ".join(sorted(principal.roles)) or "no role"
            raise Forbidden(
                f"entering stage {to_stage!r} needs role {' or '.join(rule.roles)} (admin always qualifies); "
                f"user {principal.user!r} has {held}"
            )
        if current == to_stage:
            return Promotion(version, current)  # already there: nothing to record
        if version.row["state"] == "ARCHIVED":
            raise Conflict(f"{described} is archived: restore it before changing its stage")
        if current not in rule.allowed_from:
            raise Conflict(
                f"{described} is in stage {current!r}: {to_stage!r} can only be entered from "
                f"{', '.join(repr(s) for s in rule.allowed_from)}"
            )
        failures = _failed_checks(conn, version, rule.require)
        if failures:
            raise Conflict(f"{described} cannot enter stage {to_stage!r}: {'; '.join(failures)}")
        deprecated: list[Record] = []
        if to_stage == "production" and self.policy.single_production:
            superseded = f"superseded by model version {version.row['name']!r} (id {version_id})"
            for other_id in _other_production_versions(conn, model_id, version_id):
                other = e.load(conn, e.MODEL_VERSION, other_id)
                deprecated.append(_set_stage(conn, other, "production", "deprecated", superseded))
        record = _set_stage(conn, version, current, to_stage, comment)
        return Promotion(record, current, tuple(deprecated))


def stage_of(props: Mapping[str, PropValue]) -> str:
    """A version's stage, from its record's ``Lifecycle`` property (``entities`` puts the stage column there)."""
    prop = props.get(LIFECYCLE_PROPERTY)
    return INITIAL_STAGE if prop is None or prop.value in (None, "") else str(prop.value)


def _resolve(conn: Connection, model_name: str, version_name: str) -> int:
    model = e.find_by_name(conn, e.REGISTERED_MODEL, model_name, None)
    return int(e.find_by_name(conn, e.MODEL_VERSION, version_name, None, model.row["id"]).row["id"])


def _set_stage(conn: Connection, version: Record, old: str, new: str, comment: str | None) -> Record:
    """Write the stage column, bump the version's update time and stage the audit record."""
    id_ = version.row["id"]
    last_update = clock.now_ms(at_least=version.row["last_update_time"] + 1)
    repository.update_row(conn, model_versions, id_, {"stage": new, "last_update_time": last_update})
    after: dict[str, Any] = {LIFECYCLE_PROPERTY: new}
    if comment is not None:
        after["comment"] = comment
    audit.stage(
        conn, AUDIT_ACTION, e.MODEL_VERSION.audit_name, id_, version.row["name"], {LIFECYCLE_PROPERTY: old}, after
    )
    return e.load(conn, e.MODEL_VERSION, id_)


def _failed_checks(conn: Connection, version: Record, checks: Checks) -> list[str]:
    """Every check that does not hold, each as a sentence for the error message."""
    failures = []
    if checks.model_artifact_uri and not _has_model_artifact_uri(conn, version.row["id"]):
        failures.append("it has no model artifact with a URI")
    if checks.description and not (version.row["description"] or "").strip():
        failures.append("it has no description")
    if checks.properties:
        model_id = version.row["registered_model_id"]
        model_props = properties.load(conn, e.REGISTERED_MODEL.name, [model_id])[model_id]
        for name in checks.properties:
            if not (_is_set(version.props.get(name)) or _is_set(model_props.get(name))):
                failures.append(f"custom property {name!r} is set neither on the version nor on its registered model")
    return failures


def _is_set(prop: PropValue | None) -> bool:
    if prop is None or prop.value is None:
        return False
    return not isinstance(prop.value, str) or bool(prop.value.strip())


def _has_model_artifact_uri(conn: Connection, version_id: int) -> bool:
    a, link = artifacts.c, artifact_attributions.c
    linked = exists().where(link.parent_kind == "model_version", link.parent_id == version_id, link.artifact_id == a.id)
    query = select(a.id).where(and_(a.artifact_type == "model-artifact", a.uri.is_not(None), a.uri != "", linked))
    return conn.execute(query.limit(1)).first() is not None


def _other_production_versions(conn: Connection, model_id: int, version_id: int) -> list[int]:
    v = model_versions.c
    query = (
        select(v.id)
        .where(v.registered_model_id == model_id, v.id != version_id, v.stage == "production")
        .order_by(v.id)
    )
    return [int(row[0]) for row in conn.execute(query)]

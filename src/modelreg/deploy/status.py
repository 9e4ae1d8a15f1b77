"""An InferenceService (and its predictor pods) → the status the OpenShift AI dashboard shows: the state
(targetModelState, else activeModelState, else Unknown; FailedToLoad when a predictor pod is Unschedulable),
the message, Redeploying when a Loaded model is being replaced, Stopped, and the internal and external URLs.
Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str  # True | False | Unknown
    reason: str | None
    message: str | None
    time: str | None


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    state: str  # Pending | Standby | Loading | Loaded | FailedToLoad | Redeploying | Stopped | Unknown
    message: str | None
    internal_url: str | None
    external_url: str | None
    stopped: bool
    conditions: tuple[Condition, ...]


def status_of(isvc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]] = ()) -> DeploymentStatus:
    raise NotImplementedError

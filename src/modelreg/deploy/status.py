"""An InferenceService (and its predictor pods) → the status the OpenShift AI dashboard shows: the state
(targetModelState, else activeModelState, else Unknown; FailedToLoad when a predictor pod is Unschedulable),
the message, Redeploying when a Loaded model is being replaced, Stopped, and the internal and external URLs.
Pure: no I/O.

Where modelreg departs from the dashboard, on purpose:
- A Loaded model whose next revision is Loading or Pending has the *state* ``Redeploying`` (the dashboard keeps
  the target state and only says "Redeploying" in its message): the issue lists Redeploying as a status, and an
  API client should not have to parse a message to tell a first load from a replacement, during which the old
  revision still serves.
- A stopped InferenceService (annotation ``serving.kserve.io/stop: "true"`` or a ``Stopped=True`` condition) has
  the state ``Stopped`` whatever its model state says: KServe scales it to zero, so the model state only tells
  what it was before.
- An InferenceService with no status at all (just created; KServe has not reconciled it yet) is ``Pending``, not
  ``Unknown``: that is what a deployment is right after Deploy, and it keeps a new deployment from showing
  Unknown for its first moments. A status without model states is still ``Unknown``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from modelreg.deploy import keys

ISVC_POD_LABEL = keys.ISVC_POD
STOP_ANNOTATION = keys.STOP
VISIBILITY_LABEL = keys.VISIBILITY
CLUSTER_DOMAIN = ".svc.cluster.local"
INSUFFICIENT = "Insufficient resources"  # an Unschedulable pod whose condition says nothing
NOT_YET = "Waiting for KServe to report on the InferenceService"
# The conditions of the timeline, in the order the dashboard lists them (after the synthetic first step).
TIMELINE = ("PredictorReady", "IngressReady", "LatestDeploymentReady")
REQUESTED = "DeploymentRequested"
REPLACING = ("Loading", "Pending")


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str  # True | False | Unknown
    reason: str | None
    message: str | None
    time: str | None  # when it last changed, as Kubernetes wrote it (RFC 3339)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "time": self.time,
        }


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    state: str  # Pending | Standby | Loading | Loaded | FailedToLoad | Redeploying | Stopped | Unknown
    message: str | None
    internal_url: str | None
    external_url: str | None
    stopped: bool
    conditions: tuple[Condition, ...]


def status_of(isvc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]] = ()) -> DeploymentStatus:
    """The dashboard's reading of ``isvc``. ``pods`` may hold any pods: only the predictor pods of this
    InferenceService (same namespace, label ``serving.kserve.io/inferenceservice=<name>``) count."""
    metadata = _map(isvc.get("metadata"))
    status = _map(isvc.get("status"))
    conditions = [c for c in _list(status.get("conditions")) if isinstance(c, Mapping)]
    stopped = _text(_map(metadata.get("annotations")).get(STOP_ANNOTATION)) == "true" or any(
        c.get("type") == "Stopped" and c.get("status") == "True" for c in conditions
    )
    state, message = _state(status, _unschedulable(metadata, pods), stopped)
    if not status and state == "Unknown":
        state, message = "Pending", NOT_YET
    return DeploymentStatus(
        state=state,
        message=message,
        internal_url=_text(_map(status.get("address")).get("url")),
        external_url=_external_url(metadata, status),
        stopped=stopped,
        conditions=_timeline(metadata, conditions),
    )


def _state(status: Mapping[str, Any], unschedulable: str | None, stopped: bool) -> tuple[str, str]:
    model = _map(status.get("modelStatus"))
    states = _map(model.get("states"))
    target, active = _text(states.get("targetModelState")), _text(states.get("activeModelState"))
    state = target or active or "Unknown"
    if stopped:
        return "Stopped", "Stopped"
    if unschedulable is not None:
        return "FailedToLoad", unschedulable
    if state == "FailedToLoad":
        return state, _text(_map(model.get("lastFailureInfo")).get("message")) or state
    if active == "Loaded" and target in REPLACING:
        return "Redeploying", f"Redeploying: the new revision is {target}; the loaded one keeps serving"
    return state, state


def _unschedulable(metadata: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> str | None:
    """The message of the first predictor pod the scheduler cannot place (not enough GPUs, ...), else None."""
    name, namespace = metadata.get("name"), metadata.get("namespace")
    for pod in pods:
        pod_meta = _map(pod.get("metadata"))
        if _map(pod_meta.get("labels")).get(ISVC_POD_LABEL) != name or pod_meta.get("namespace") != namespace:
            continue
        pod_status = _map(pod.get("status"))
        if pod_status.get("phase") != "Pending":
            continue
        for condition in _list(pod_status.get("conditions")):
            condition = _map(condition)
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                return _text(condition.get("message")) or INSUFFICIENT
    return None


def _external_url(metadata: Mapping[str, Any], status: Mapping[str, Any]) -> str | None:
    """``status.url`` when the route is exposed and the URL is not the cluster-internal service address."""
    if _map(metadata.get("labels")).get(VISIBILITY_LABEL) != "exposed":
        return None
    url = _text(status.get("url"))
    if url is None:
        return None
    host = urlsplit(url).hostname or ""
    return None if host.endswith(CLUSTER_DOMAIN) or url.endswith(CLUSTER_DOMAIN) else url


def _timeline(metadata: Mapping[str, Any], conditions: list[Mapping[str, Any]]) -> tuple[Condition, ...]:
    """The steps the dashboard shows: requested (at creation), predictor, ingress, deployment, and Stopped when
    true. A message only where the step is not done (True steps need no explanation)."""
    steps = [Condition(REQUESTED, "True", None, None, _text(metadata.get("creationTimestamp")))]
    by_type = {c.get("type"): c for c in conditions}
    for kind in TIMELINE:
        if kind in by_type:
            steps.append(_condition(by_type[kind]))
    stopped = by_type.get("Stopped")
    if stopped is not None and stopped.get("status") == "True":
        steps.append(_condition(stopped))
    return tuple(steps)


def _condition(raw: Mapping[str, Any]) -> Condition:
    status = _text(raw.get("status")) or "Unknown"
    return Condition(
        type=str(raw.get("type")),
        status=status,
        reason=_text(raw.get("reason")),
        message=None if status == "True" else _text(raw.get("message")),
        time=_text(raw.get("lastTransitionTime")),
    )


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """A non-empty string, else None (KServe writes "" for an unset state)."""
    return value if isinstance(value, str) and value else None

"""Kubernetes errors as `modelreg.errors`, for every deploy module that calls the cluster (reads for the wizard,
deploys, edits, stop, undeploy), so one failure gets one status and one wording wherever it happens.

Statuses: the API unreachable → 503; no cluster configured, a kind the cluster does not serve (KServe not
installed), a name taken or a conflicting write → 409; modelreg's own credentials lacking a right → 502 (the caller
did nothing wrong: the service account needs the right); the API refusing an object → 422 with its message; an
object gone → 404; any other API failure → 502."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from modelreg.errors import BadGateway, Conflict, NotFound, Unavailable, Unprocessable
from modelreg.kube import errors as k
from modelreg.kube.client import Kube
from modelreg.kube.kinds import Kind

NO_CLUSTER = "no Kubernetes cluster is configured: deploy with mode dry_run or gitops"


def missing_kind(kind: Kind) -> Conflict:
    operator = "KServe" if kind.group == "serving.kserve.io" else "the operator that provides it"
    return Conflict(f"the cluster has no {kind.kind} CRD ({kind.api_version}): is {operator} installed?")


@contextmanager
def cluster_call(kube: Kube | None, verb: str, what: str) -> Iterator[None]:
    """Run Kubernetes calls; their errors leave as `modelreg.errors` naming ``verb`` and ``what`` (and where the
    API is, when it does not answer: the first thing to check)."""
    try:
        yield
    except k.ClusterUnreachable as exc:
        where = kube.describe() if kube is not None else "(not configured)"
        raise Unavailable(f"cannot {verb} {what}: the Kubernetes API at {where} is unreachable: {exc}") from None
    except k.NotConfigured:
        raise Conflict(NO_CLUSTER) from None
    except k.MissingKind as exc:
        raise Conflict(f"cannot {verb} {what}: {exc} (is the operator that provides it installed?)") from None
    except k.Forbidden as exc:
        raise BadGateway(f"modelreg's Kubernetes service account may not {verb} {what}: {exc}") from None
    except k.Invalid as exc:
        raise Unprocessable(f"the Kubernetes API refused to {verb} {what}: {exc}") from None
    except (k.AlreadyExists, k.Conflict) as exc:
        raise Conflict(f"cannot {verb} {what}: {exc}") from None
    except k.NotFound as exc:
        raise NotFound(f"cannot {verb} {what}: {exc}") from None
    except k.KubeError as exc:
        raise BadGateway(f"the Kubernetes API failed to {verb} {what}: {exc}") from None

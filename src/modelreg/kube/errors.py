"""What can go wrong talking to Kubernetes. Messages name the object and the API's reason, never a credential;
services turn them into `modelreg.errors` (unreachable → 503, conflict → 409, forbidden → 502 naming the missing
right, since it is modelreg's service account that lacks it, not the caller)."""

from __future__ import annotations


class KubeError(Exception):
    """Base of every Kubernetes error."""


class NotConfigured(KubeError):
    """No cluster is configured (``kubernetes.mode`` resolved to none)."""


class ClusterUnreachable(KubeError):
    """The API server did not answer (connection refused, DNS, TLS, timeout)."""


class MissingKind(KubeError):
    """The cluster does not serve this kind: its CRD is not installed (KServe, ODH)."""


class ApiError(KubeError):
    """The API server answered with an error status."""

    def __init__(self, message: str, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(ApiError):
    pass


class AlreadyExists(ApiError):
    pass


class Conflict(ApiError):
    """409 other than AlreadyExists: a stale resourceVersion or a server-side apply field conflict."""


class Forbidden(ApiError):
    """401 or 403: modelreg's own credentials lack a right."""


class Invalid(ApiError):
    """400 or 422: the API server rejected the object (admission, schema)."""


class Expired(ApiError):
    """410: the resourceVersion a watch started from is too old (compacted); the caller lists again."""

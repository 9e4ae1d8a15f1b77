"""`Kube`: the one Kubernetes client of the process, lightkube underneath, plain dicts in and out.

Configuration (``kubernetes`` settings, `from_settings`, resolved in `connection`): in-cluster service account, a
kubeconfig file and context, or an API URL with a bearer token; none → no client. Every call has the configured
timeout (watches excepted, which are long-lived and resumed), lightkube's errors become `kube.errors`, and objects
are written with server-side apply under one field manager, so modelreg owns exactly the fields it sets.

Reads and writes go through lightkube's sync client with generic resource classes (one per `Kind`, kept out of
lightkube's global registry); discovery and watches use the same HTTP client directly: lightkube has no discovery
call, and its watch cannot be stopped from another thread (see `watch.WatchStream`).
"""

from __future__ import annotations

import builtins
import functools
import json
import threading
import time
from collections.abc import Mapping
from typing import Any, NoReturn

import httpx2
import lightkube
import msgspec
from lightkube.core.exceptions import ConfigError, NotReadyError
from lightkube.generic_resource import GenericGlobalResource, GenericNamespacedResource, create_api_info
from lightkube.types import CascadeType, PatchType

from modelreg.kube import errors
from modelreg.kube.connection import Connection, connect
from modelreg.kube.kinds import CRD, Kind, is_custom, kind_of
from modelreg.kube.shapes import Json, Labels, WatchEvent, label_selector, labels_match, object_ref
from modelreg.kube.watch import WatchStream
from modelreg.settings import ClusterSettings

__all__ = ["Json", "Kube", "Labels", "WatchEvent"]

# What lightkube and its HTTP client raise for a failed call; everything else is a bug and propagates.
_FAILURES = (httpx2.HTTPError, httpx2.StreamError, ConfigError, msgspec.MsgspecError)
_BY_STATUS: dict[int, type[errors.ApiError]] = {
    400: errors.Invalid,
    401: errors.Forbidden,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    410: errors.Expired,
    422: errors.Invalid,
}


class Kube:
    """One API server. Thread-safe: lightkube's sync client (httpx) is shared by the threads of the process."""

    discovery_ttl = 30.0  # seconds a discovery answer is trusted: a CRD installed later is seen this soon
    list_chunk = 500  # objects per list page (limit/continue)

    def __init__(self, settings: ClusterSettings, *, field_manager: str = "modelreg") -> None:
        connection = connect(settings)
        if connection is None:
            raise errors.NotConfigured("no cluster is configured (kubernetes.mode resolves to none)")
        self._connection = connection
        self.field_manager = field_manager
        self.timeout = settings.timeout_seconds
        self._client = _lightkube_client(connection, settings.timeout_seconds, field_manager)
        self._http = _http_of(self._client)
        if connection.auth is not None:
            self._http.auth = connection.auth
        self._discovered: dict[str, tuple[float, frozenset[str] | None]] = {}
        self._discovery_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ClusterSettings, *, field_manager: str = "modelreg") -> Kube | None:
        """The client the settings describe, or None when they resolve to no cluster."""
        if connect(settings) is None:
            return None
        return cls(settings, field_manager=field_manager)

    def describe(self) -> str:
        """Where this client points, for logs and status pages: "https://… (in-cluster)"; no credential."""
        return self._connection.description

    @property
    def default_namespace(self) -> str | None:
        """The kubeconfig context's namespace or the service account's; None when neither says."""
        return self._connection.namespace

    def close(self) -> None:
        self._client.close()

    # --- reads -------------------------------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Json | None:
        """The object, or None when it does not exist."""
        namespace = _scope(kind, namespace)
        try:
            return dict(self._client.get(_resource(kind), name, namespace=namespace))
        except _FAILURES as exc:
            if _status_of(exc) == 404:
                self._check_served(kind)
                return None
            self._fail(exc, kind, namespace, name)

    def list(self, kind: Kind, namespace: str | None = None, labels: Labels | None = None) -> tuple[list[Json], str]:
        """Every object (all namespaces when ``namespace`` is None; paginated underneath) and the list's
        resourceVersion, to watch from. Label selectors are applied by the server and again here."""
        scope = namespace if kind.namespaced and namespace else "*" if kind.namespaced else None
        try:
            found = self._client.list(
                _resource(kind), namespace=scope, chunk_size=self.list_chunk, labels=dict(labels) if labels else None
            )
            items = [dict(obj) for obj in found if labels_match(labels, obj)]
        except _FAILURES as exc:
            if _status_of(exc) == 404:
                self._check_served(kind)
            self._fail(exc, kind, namespace, None)
        try:
            version = found.resourceVersion
        except NotReadyError:
            version = ""
        return items, version

    def watch(
        self,
        kind: Kind,
        namespace: str | None = None,
        labels: Labels | None = None,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
    ) -> WatchStream:
        """Changes after ``resource_version`` (without one: every current object as ADDED first); ends when the
        server closes the stream (the caller re-lists or resumes) or when the returned stream's ``close()`` is
        called (from any thread). Label selectors are applied here too (not every server filters watches); a 410
        arrives as `errors.Expired`."""
        params = {"watch": "true", "allowWatchBookmarks": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        if labels:
            params["labelSelector"] = label_selector(labels)
        if timeout_seconds:
            params["timeoutSeconds"] = str(timeout_seconds)
        # the server ends the stream after timeout_seconds; a read that waits much longer means a dead connection
        read = timeout_seconds + max(30.0, self.timeout) if timeout_seconds else None
        timeout = httpx2.Timeout(self.timeout, read=read)
        path = _path(kind, namespace if kind.namespaced else None)
        try:
            request = self._http.build_request("GET", path, params=params, timeout=timeout)
            response = self._http.send(request, stream=True)
        except _FAILURES as exc:
            self._fail(exc, kind, namespace, None)
        if response.status_code >= 400:
            body = _read_and_close(response)
            if response.status_code == 404:
                self._check_served(kind)
            raise self._status_error(kind, namespace, None, response.status_code, *_status_body(body))

        def status_error(code: int, reason: str, message: str) -> errors.KubeError:
            return self._status_error(kind, namespace, None, code, reason, message)

        def broken(exc: Exception) -> errors.KubeError:
            return errors.ClusterUnreachable(f"{self.describe()}: watching {_what(kind, namespace, None)}: {_why(exc)}")

        return WatchStream(response, labels, status_error, broken)

    def served(self, kind: Kind) -> bool:
        """Whether the API server serves this kind (discovery; cached): False when its CRD is not installed."""
        path = _group_version_path(kind)
        now = time.monotonic()
        with self._discovery_lock:
            cached = self._discovered.get(path)
        if cached is None or cached[0] <= now:
            names = self._discover(path, kind)
            with self._discovery_lock:
                self._discovered[path] = (now + self.discovery_ttl, names)
        else:
            names = cached[1]
        return names is not None and kind.plural in names

    def forget_discovery(self) -> None:
        """Drop the cached discovery answers (after installing a CRD, say)."""
        with self._discovery_lock:
            self._discovered.clear()

    def crd(self, kind: Kind) -> Json | None:
        """The kind's CustomResourceDefinition object, or None (not a custom kind, not installed, not readable)."""
        if not is_custom(kind):
            return None
        name = f"{kind.plural}.{kind.group}"
        try:
            return dict(self._client.get(_resource(CRD), name))
        except _FAILURES as exc:
            if _status_of(exc) in (401, 403, 404):
                return None
            self._fail(exc, CRD, None, name)

    # --- writes ------------------------------------------------------------------------------------------------

    def create(self, obj: Mapping[str, Any]) -> Json:
        """Create; `AlreadyExists` when it does."""
        kind, namespace, name = _identify(obj, need_name=False)
        try:
            return dict(self._client.create(_resource(kind)(obj), namespace=namespace))
        except _FAILURES as exc:
            self._write_failed(exc, kind, namespace, name)

    def apply(self, obj: Mapping[str, Any], *, force: bool = True) -> Json:
        """Server-side apply under the field manager; returns the object as stored (uid, resourceVersion)."""
        kind, namespace, name = _identify(obj, need_name=True)
        assert name is not None
        try:
            return dict(
                self._client.apply(
                    _resource(kind)(obj), name=name, namespace=namespace, field_manager=self.field_manager, force=force
                )
            )
        except _FAILURES as exc:
            self._write_failed(exc, kind, namespace, name)

    def patch(
        self, kind: Kind, name: str, namespace: str | None, patch: Mapping[str, Any] | builtins.list[Any]
    ) -> Json:
        """A merge patch (dict) or a JSON patch (list)."""
        namespace = _scope(kind, namespace)
        patch_type = PatchType.JSON if isinstance(patch, list) else PatchType.MERGE
        body = patch if isinstance(patch, list) else dict(patch)
        try:
            return dict(self._client.patch(_resource(kind), name, body, namespace=namespace, patch_type=patch_type))
        except _FAILURES as exc:
            self._write_failed(exc, kind, namespace, name)

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Delete (background propagation, so owned objects are collected); False when it was already gone."""
        namespace = _scope(kind, namespace)
        try:
            self._client.delete(_resource(kind), name, namespace=namespace, cascade=CascadeType.BACKGROUND)
        except _FAILURES as exc:
            if _status_of(exc) == 404:
                self._check_served(kind)
                return False
            self._fail(exc, kind, namespace, name)
        return True

    # --- errors ------------------------------------------------------------------------------------------------

    def _write_failed(self, exc: Exception, kind: Kind, namespace: str | None, name: str | None) -> NoReturn:
        if _status_of(exc) == 404:
            self._check_served(kind)
        self._fail(exc, kind, namespace, name)

    def _check_served(self, kind: Kind) -> None:
        """After a 404: `MissingKind` when the reason is that the kind itself is not served."""
        if not self.served(kind):
            raise errors.MissingKind(
                f"{self.describe()} does not serve {kind}: its CustomResourceDefinition is not installed"
            )

    def _fail(self, exc: Exception, kind: Kind, namespace: str | None, name: str | None) -> NoReturn:
        if isinstance(exc, ConfigError):
            raise errors.NotConfigured(f"{self.describe()}: {exc}") from exc
        if isinstance(exc, msgspec.MsgspecError):
            message = f"{_what(kind, namespace, name)}: the API server's answer is not a Kubernetes object ({exc})"
            raise errors.ApiError(message, 502, "BadResponse") from exc
        if isinstance(exc, lightkube.ApiError):
            status = exc.status
            code = _status_of(exc) or 500
            raise self._status_error(kind, namespace, name, code, status.reason or "", status.message or "") from exc
        if isinstance(exc, httpx2.HTTPStatusError):
            code = exc.response.status_code
            reason, message = _status_body(_read_and_close(exc.response))  # the API's Status, when it sent one
            raise self._status_error(
                kind, namespace, name, code, reason or exc.response.reason_phrase, message
            ) from exc
        raise errors.ClusterUnreachable(f"{self.describe()}: {_what(kind, namespace, name)}: {_why(exc)}") from exc

    def _status_error(
        self, kind: Kind, namespace: str | None, name: str | None, code: int, reason: str, message: str
    ) -> errors.ApiError:
        text = f"{_what(kind, namespace, name)}: {message or reason or 'the API server refused'} (HTTP {code})"
        if code == 409 and reason == "AlreadyExists":
            return errors.AlreadyExists(text, code, reason)
        return _BY_STATUS.get(code, errors.ApiError)(text, code, reason)

    def _discover(self, path: str, kind: Kind) -> frozenset[str] | None:
        """The resource names served under one group version; None when the group version is not served."""
        try:
            response = self._http.get(path)
        except _FAILURES as exc:
            self._fail(exc, kind, None, None)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise self._status_error(kind, None, None, response.status_code, *_status_body(response.content))
        try:
            resources = response.json().get("resources") or []
            return frozenset(str(r["name"]) for r in resources if "/" not in str(r.get("name", "/")))
        except (ValueError, AttributeError, TypeError) as exc:
            raise errors.ApiError(f"discovery of {path}: not an APIResourceList", 502, "BadResponse") from exc


# --- lightkube plumbing ----------------------------------------------------------------------------------------


def _lightkube_client(connection: Connection, timeout: float, field_manager: str) -> lightkube.Client:
    try:
        return lightkube.Client(
            connection.config, timeout=httpx2.Timeout(timeout), field_manager=field_manager, trust_env=False
        )
    except (ConfigError, OSError, ValueError) as exc:  # CA or client certificate files, exec plugins
        setting = "kubernetes.kubeconfig" if connection.mode == "kubeconfig" else "kubernetes.ca_file"
        raise ValueError(f"{setting}: cannot connect to {connection.description}: {_why(exc)}") from None


def _http_of(client: lightkube.Client) -> httpx2.Client:
    """lightkube's HTTP client (one pool, one auth for both paths); lightkube keeps it private, so check it."""
    http = getattr(getattr(client, "_client", None), "_client", None)
    if not isinstance(http, httpx2.Client):
        raise RuntimeError("this lightkube version keeps its HTTP client elsewhere: modelreg.kube needs updating")
    return http


@functools.cache
def _resource(kind: Kind) -> Any:
    """A lightkube generic resource class for a kind, not registered globally (so lightkube's typed classes and
    codecs stay as they are)."""
    base = GenericNamespacedResource if kind.namespaced else GenericGlobalResource
    return type(kind.kind, (base,), {"_api_info": create_api_info(kind.group, kind.version, kind.kind, kind.plural)})


def _identify(obj: Mapping[str, Any], *, need_name: bool) -> tuple[Kind, str | None, str | None]:
    kind = kind_of(obj)
    namespace, name = object_ref(obj)
    if need_name and not name:
        raise ValueError(f"{kind}: metadata.name is required")
    return kind, _scope(kind, namespace), name or None


def _scope(kind: Kind, namespace: str | None) -> str | None:
    if not kind.namespaced:
        return None
    if not namespace:
        raise ValueError(f"{kind} is namespaced: a namespace is required")
    return namespace


def _group_version_path(kind: Kind) -> str:
    return f"apis/{kind.group}/{kind.version}" if kind.group else f"api/{kind.version}"


def _path(kind: Kind, namespace: str | None) -> str:
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{_group_version_path(kind)}{scope}/{kind.plural}"


def _status_of(exc: Exception) -> int | None:
    if isinstance(exc, lightkube.ApiError) and exc.status is not None and exc.status.code:
        return int(exc.status.code)
    if isinstance(exc, httpx2.HTTPStatusError):
        return exc.response.status_code
    return None


def _status_body(body: bytes) -> tuple[str, str]:
    """(reason, message) of a Kubernetes Status body; empty strings for anything else."""
    try:
        status = json.loads(body)
        return str(status.get("reason") or ""), str(status.get("message") or "")
    except (ValueError, AttributeError):
        return "", ""


def _read_and_close(response: httpx2.Response) -> bytes:
    try:
        return response.read()
    except _FAILURES:
        return b""
    finally:
        response.close()


def _what(kind: Kind, namespace: str | None, name: str | None) -> str:
    if name:
        return f"{kind.kind} {namespace}/{name}" if namespace else f"{kind.kind} {name}"
    return f"{kind.kind} in {namespace}" if namespace else f"{kind.kind} (all namespaces)"


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

"""KServe `InferenceService` status from a Kubernetes API: the endpoints of deployed models, as the cluster sees them.

A thread lists `serving.kserve.io/v1beta1` InferenceServices (every namespace, or the configured ones; paginated
with `limit`/`continue`) on an interval and keeps the last good view: a cluster error never empties it. The
`resolver(source)` it provides is an `EndpointResolver` for `normalize`: an inference-service record whose
`runtime` (the KServe name, as the KServe controller records it) and serving environment name (the namespace)
match an InferenceService gets that service's external URL (`status.url`), internal URL (`status.address.url`)
and whether a token is needed (`security.opendatahub.io/enable-auth: "true"`, as ODH sets it); anything else
falls back to the registry's own `url` custom property.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from modelreg.bridge.kube import KubeClient
from modelreg.bridge.names import backstage_name
from modelreg.bridge.normalize import EndpointResolver, registry_endpoint
from modelreg.bridge.records import Endpoint
from modelreg.outbound import BadResponse
from modelreg.redact import public_text, public_url
from modelreg.settings import KubernetesSettings

log = logging.getLogger(__name__)

Json = Mapping[str, Any]
GROUP_VERSION = "serving.kserve.io/v1beta1"
AUTH_ANNOTATION = "security.opendatahub.io/enable-auth"
_PAGE = 500


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """What the bridge needs of one InferenceService."""

    namespace: str
    name: str
    url: str | None
    internal_url: str | None
    authentication: bool


def service_status(item: Json) -> ServiceStatus | None:
    """An InferenceService object → its status; None when it has no name. Internal-only `status.url`s
    (`*.svc.cluster.local`) are not external: they become the internal URL when `status.address` has none."""
    meta = item.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace")
    if not name or not namespace:
        return None
    status = item.get("status") or {}
    url = status.get("url") if isinstance(status.get("url"), str) else None
    address = status.get("address") or {}
    internal = address.get("url") if isinstance(address, Mapping) and isinstance(address.get("url"), str) else None
    if url and "svc.cluster.local" in url:
        internal, url = internal or url, None
    annotations = meta.get("annotations") or {}
    auth = str(annotations.get(AUTH_ANNOTATION, "")).strip().lower() == "true"
    return ServiceStatus(
        namespace=str(namespace),
        name=str(name),
        url=public_url(url) or None,
        internal_url=public_url(internal) or None,
        authentication=auth,
    )


class KServeStatus:
    """The cluster's InferenceServices, refreshed on an interval; `resolver(source)` plugs into `normalize`."""

    def __init__(self, settings: KubernetesSettings) -> None:
        self.settings = settings
        self.kube = KubeClient(
            settings.api_url,
            ca_file=settings.ca_file,
            verify_tls=settings.verify_tls,
            timeout=settings.timeout_seconds,
            bearer=settings.bearer_token,
        )
        self._view: dict[tuple[str, str], ServiceStatus] = {}
        self.loaded = False  # a list has succeeded at least once
        self.last_error: str | None = None
        self.on_change: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- reading the cluster ---------------------------------------------------------------------------------

    def _paths(self) -> list[str]:
        base = f"/apis/{GROUP_VERSION}"
        if not self.settings.namespaces:
            return [f"{base}/inferenceservices"]
        return [f"{base}/namespaces/{quote(ns, safe='')}/inferenceservices" for ns in self.settings.namespaces]

    def _items(self, path: str) -> Iterator[Json]:
        params = {"limit": str(_PAGE)}
        while True:
            body = self.kube.get(path, params=params)
            if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
                raise BadResponse(f"GET {path}: not an InferenceServiceList")
            yield from (i for i in body.get("items") or [] if isinstance(i, dict))
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return
            params["continue"] = token

    def refresh(self) -> bool:
        """Re-list the InferenceServices; True when the view changed. Any error keeps the previous view."""
        try:
            view: dict[tuple[str, str], ServiceStatus] = {}
            for path in self._paths():
                for item in self._items(path):
                    if (found := service_status(item)) is not None:
                        view[(found.namespace, found.name)] = found
        except Exception as exc:
            self.last_error = public_text(f"{type(exc).__name__}: {exc}")
            log.warning("bridge: listing KServe InferenceServices failed, keeping the last view: %s", self.last_error)
            return False
        self.last_error = None
        self.loaded = True
        changed = view != self._view
        self._view = view  # replaced whole: readers in other threads see the old or the new dict
        return changed

    def get(self, namespace: str | None, name: str | None) -> ServiceStatus | None:
        if not namespace or not name:
            return None
        return self._view.get((namespace, name))

    # --- the resolver ----------------------------------------------------------------------------------------

    def resolver(self, source: str) -> EndpointResolver:
        """Cluster status first, then the registry's `url` property."""
        fallback = registry_endpoint(source)

        def resolve(service: Json, environment: Json | None) -> Endpoint | None:
            namespace = str(environment.get("name")) if environment and environment.get("name") else None
            found = self.get(namespace, service.get("runtime") or None) if namespace else None
            if found is None or not (found.url or found.internal_url):
                endpoint = fallback(service, environment)
                if endpoint is None or found is None:
                    return endpoint
                # known to the cluster but without status URLs yet: the registry's URL, with the auth flag
                return replace(endpoint, authentication=found.authentication)
            service_name = found.name
            parts = [p for p in (source, found.namespace, service_name) if p]
            return Endpoint(
                id=str(service.get("id")),
                name=backstage_name(*parts),
                service_name=service_name,
                url=found.url or found.internal_url or "",
                namespace=found.namespace,
                internal_url=found.internal_url,
                authentication=found.authentication,
            )

        return resolve

    # --- the refresh thread ----------------------------------------------------------------------------------

    def start(self) -> None:
        """List in a thread at once, then on the interval: an unreachable cluster must not hold up the server's
        start. A listing that changes the view (the first one does) triggers a resync through ``on_change``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="modelreg-bridge-kserve", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            if self.refresh() and self.on_change is not None:
                try:
                    self.on_change()
                except Exception:
                    log.warning("bridge: applying the KServe view failed", exc_info=True)
            if self._stop.wait(self.settings.interval_seconds):
                return

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.kube.close()

"""KServe `InferenceService` status from the cluster: the endpoints of deployed models, as the cluster sees them.

`KServeStatus` follows `serving.kserve.io/v1beta1` InferenceServices (every namespace, or the configured ones)
through an `Informer` on the process's one `Kube`, so a change shows as soon as its watch event arrives and an idle
cluster costs no requests; a cluster error keeps the last view (the informer keeps its cache and retries). The
`resolver(source)` it provides is an `EndpointResolver` for `normalize`: an inference-service record whose
`runtime` (the KServe name, as the KServe controller records it) and serving environment name (the namespace)
match an InferenceService gets that service's external URL (`status.url`), internal URL (`status.address.url`)
and whether a token is needed (`security.opendatahub.io/enable-auth: "true"`, as ODH sets it); anything else
falls back to the registry's own `url` custom property.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from modelreg.bridge.names import backstage_name
from modelreg.bridge.normalize import EndpointResolver, registry_endpoint
from modelreg.bridge.records import Endpoint
from modelreg.kube.client import Kube
from modelreg.kube.informer import Informer
from modelreg.kube.kinds import INFERENCE_SERVICE
from modelreg.redact import public_text, public_url
from modelreg.settings import KubernetesSettings

log = logging.getLogger(__name__)

Json = Mapping[str, Any]
AUTH_ANNOTATION = "security.opendatahub.io/enable-auth"


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
    """The cluster's InferenceServices as the bridge needs them; `resolver(source)` plugs into `normalize`.

    The server `start`s an informer and `on_change` is called (from the informer's thread) whenever a watch event
    changes what the resolver would answer; the CLI calls `refresh` once instead."""

    def __init__(self, kube: Kube, namespaces: Sequence[str] = ()) -> None:
        self.kube = kube
        self.namespaces = tuple(namespaces)
        self._view: dict[tuple[str, str], ServiceStatus] = {}
        self._lock = threading.Lock()  # writers only: readers take one `dict.get`
        self._informer: Informer | None = None
        self._loaded = False
        self._error: str | None = None
        self.on_change: Callable[[], None] | None = None

    @classmethod
    def configured(cls, settings: KubernetesSettings, kube: Kube | None) -> KServeStatus | None:
        """The status source `bridge.kubernetes` asks for: none without a cluster or when turned off."""
        if kube is None or not settings.enabled:
            return None
        return cls(kube, settings.namespaces)

    @property
    def loaded(self) -> bool:
        """Whether a full list has succeeded at least once."""
        return self._informer.synced if self._informer is not None else self._loaded

    @property
    def last_error(self) -> str | None:
        """Why the view may be stale (no credential in it); None when the last call succeeded."""
        error = self._informer.last_error if self._informer is not None else self._error
        return public_text(error) if error else None

    # --- following the cluster -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the informer's thread(s) and return at once: an unreachable cluster must not hold up the server's
        start. The first list arrives as events like every later change, so it triggers `on_change` too."""
        if self._informer is not None:
            return
        informer = Informer(self.kube, INFERENCE_SERVICE, namespaces=self.namespaces, name="bridge-kserve")
        informer.add_listener(self._on_event)
        self._informer = informer
        informer.start()

    def stop(self) -> None:
        """Stop following; the client is the process's and stays open."""
        if self._informer is not None:
            self._informer.stop()
            self._loaded, self._error = self._informer.synced, self._informer.last_error
            self._informer = None

    def _on_event(self, event: str, obj: Json) -> None:
        found = service_status(obj)
        if found is None:
            return
        key = (found.namespace, found.name)
        with self._lock:
            before = self._view.get(key)
            if event == "DELETED":
                self._view.pop(key, None)
                after = None
            else:
                self._view[key] = after = found
        if before != after and self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                log.warning("bridge: applying the KServe view failed", exc_info=True)

    def refresh(self) -> bool:
        """List once (the CLI); True when the view changed. Any error keeps the previous view and is kept in
        `last_error`."""
        try:
            items: list[Json] = []
            for namespace in self.namespaces or (None,):
                items += self.kube.list(INFERENCE_SERVICE, namespace)[0]
        except Exception as exc:
            self._error = public_text(f"{type(exc).__name__}: {exc}")
            log.warning("bridge: listing KServe InferenceServices failed, keeping the last view: %s", self._error)
            return False
        view = {(s.namespace, s.name): s for s in map(service_status, items) if s is not None}
        self._error = None
        self._loaded = True
        with self._lock:
            changed, self._view = view != self._view, view
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

"""`ApiServer`: kmock 0.8's `KubernetesEmulator` with the API server's rules filled in (store.py).

kmock supplies the request routing (its DSL: a test may still add its own reactions, which win over these), the
Kubernetes-shaped error bodies and the discovery scaffold. Pinned to kmock==0.8: this subclass uses its private
modules (``kmock._internal.rendering``/``enums``) and replaces its request intake, because kmock's path parser
cannot read ``/api/v1/namespaces`` (the Namespace kind) and its object store has none of the semantics below.

What is replaced: every resource verb (list, watch, get, create, PUT, PATCH in its four content types, delete),
discovery from the served types (installed CRDs only), the request log, fault injection and delays.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import aiohttp.web
import attrs
import yaml
from kmock import KubernetesEmulator, KubernetesError
from kmock._internal import enums, references, rendering  # private: pinned kmock==0.8

from .resources import Registry, ResourceType
from .selectors import SelectorError, parse_selector
from .semantics import failure
from .store import Store

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class Logged(NamedTuple):
    """One request as the emulator saw it, for asserting what a client sent and in which order."""

    method: str
    path: str
    content_type: str
    params: Mapping[str, str]
    authorization: str  # the Authorization header as sent ("" without one)

    @property
    def plural(self) -> str | None:
        parsed = parse_path(self.path)
        return parsed.plural if parsed else None


@dataclass
class Fault:
    method: str  # "*" for any
    plural: str  # "*" for any
    status: int  # 0: drop the connection instead of answering
    remaining: int
    reason: str
    message: str

    def matches(self, method: str, plural: str | None) -> bool:
        return self.remaining > 0 and self.method in ("*", method.upper()) and self.plural in ("*", plural)


@dataclass(frozen=True)
class ApiPath:
    group: str | None  # None: not an API path
    version: str | None = None
    namespace: str | None = None
    plural: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_path(path: str) -> ApiPath | None:
    """``/api/v1/namespaces/ns/secrets/name/status`` and friends; None when it is not an API path."""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    elif len(parts) == 2 and parts[0] == "apis":
        return ApiPath(group=parts[1])
    else:
        return None
    namespace = None
    if rest[:1] == ["namespaces"] and (len(rest) >= 4 or (len(rest) == 3 and rest[2] not in ("status", "finalize"))):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0] if rest else None
    name = rest[1] if len(rest) > 1 else None
    return ApiPath(group, version, namespace, plural, name, "/".join(rest[2:]) or None)


def _action(method: str, path: ApiPath | None, query: Mapping[str, str]) -> enums.action | None:
    if path is None or path.plural is None:
        return None
    if method == "GET" and query.get("watch") in ("true", "1"):
        return enums.action.WATCH
    if path.name is None:
        return {"GET": enums.action.LIST, "POST": enums.action.CREATE}.get(method)
    return {"GET": enums.action.FETCH, "PATCH": enums.action.UPDATE, "DELETE": enums.action.DELETE}.get(method)


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        pass
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError:
        raise failure(400, "BadRequest", "the request body is neither JSON nor YAML") from None


@attrs.define(kw_only=True)
class ApiServer(KubernetesEmulator):
    store: Store = attrs.field(factory=lambda: Store(Registry()))
    log: list[Logged] = attrs.field(factory=list, init=False)
    faults: list[Fault] = attrs.field(factory=list, init=False)
    delay_seconds: float = attrs.field(default=0.0, init=False)
    label_selectors: bool = attrs.field(default=True, init=False)  # False: ignored, as plain kmock does
    server_errors: list[str] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()  # kmock's routes, bound to the overrides below
        self.fallback["put"] << self._serve_put

    # --- intake ------------------------------------------------------------------------------------------------

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw.read()
        headers = raw.headers
        self.log.append(
            Logged(
                raw.method, raw.path, headers.get("Content-Type", ""), dict(raw.query), headers.get("Authorization", "")
            )
        )
        path = parse_path(raw.path)
        fault = next((f for f in self.faults if f.matches(raw.method, path.plural if path else None)), None)
        if fault is not None:
            fault.remaining -= 1
            if fault.status == 0:
                if raw.transport is not None:
                    raw.transport.abort()
                return aiohttp.web.Response(status=500)
            return await self._render_error(failure(fault.status, fault.reason, fault.message))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        response: aiohttp.web.StreamResponse | None = None
        try:
            request = rendering.Request(
                id=len(self.log),
                raw_request=raw,
                url=raw.url,
                method=raw.method,
                params=dict(raw.query),
                headers=dict(raw.headers),
                cookies=dict(raw.cookies),
                body=body,
                text=body.decode(errors="replace"),
                data=_decode(body),
                action=_action(raw.method, path, raw.query),
                resource=references.resource(group=path.group, version=path.version, plural=path.plural)
                if path is not None and path.group is not None
                else None,
                namespace=path.namespace if path else None,
                name=path.name if path else None,
                subresource=path.subresource if path else None,
            )
            # kmock routes by finding the request among all it has seen (linear): keep only those in flight
            self._requests.append(request)
            try:
                return await self._handle(request)
            except rendering.StreamingError as exc:  # the stream had started: the error goes into it
                response = exc.args[0]
                raise exc.__cause__ or exc from None
            finally:
                self._requests[:] = [r for r in self._requests if r is not request]
        except Exception as exc:
            if not isinstance(exc, KubernetesError):
                self.server_errors.append(traceback.format_exc())
            if response is None or not response.prepared:
                return await self._render_error(exc)
            await self._stream_error(exc, response)
            await response.write_eof()
            return response

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        # kmock's DSL routing without KubernetesEmulator's own object tracking (the store replaces it)
        return await super(KubernetesEmulator, self)._handle(request)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, KubernetesError):
            body = {
                "apiVersion": "v1",
                "kind": "Status",
                "metadata": {},
                "status": "Failure",
                "message": exc.message or "",
                "reason": exc.reason or REASONS.get(exc.status, ""),
                "details": exc.details or {},
                "code": exc.status,
            }
            return aiohttp.web.json_response(body, status=exc.status)
        return await super()._render_error(exc)

    # --- resource verbs ----------------------------------------------------------------------------------------

    def _target(self, request: rendering.Request, *, named: bool) -> tuple[ResourceType, str | None, str]:
        """The served type, the namespace and the subresource a request is for; 404 like the API server."""
        wanted = request.resource
        rt = self.store.registry.find(wanted.group or "", wanted.version or "", wanted.plural or "") if wanted else None
        missing = failure(404, "NotFound", "the server could not find the requested resource")
        if rt is None or (request.namespace and not rt.namespaced) or (named and not request.name):
            raise missing
        if rt.namespaced and not request.namespace and (named or request.action == enums.action.CREATE):
            raise missing
        sub = request.subresource or ""
        if sub and (sub != "status" or not rt.status):
            raise missing
        return rt, request.namespace if rt.namespaced else None, sub

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        rt, namespace, _ = self._target(request, named=False)
        params = request.params
        try:
            limit = int(params.get("limit") or 0)
        except ValueError:
            raise failure(400, "BadRequest", f"invalid limit {params.get('limit')!r}") from None
        return self.store.list(
            rt, namespace, self._labels(params), _fields(params), limit=limit, after=params.get("continue") or ""
        )

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        rt, namespace, _ = self._target(request, named=False)
        params = request.params
        timeout = float(params.get("timeoutSeconds") or 0) or None
        try:
            first, watcher = self.store.open_watch(
                rt, namespace, self._labels(params), request.name, params.get("resourceVersion")
            )
        except KubernetesError as exc:  # 410 and friends arrive as an ERROR event, as from the API server
            yield b""
            yield {"type": "ERROR", "object": _status_object(exc)}
            return
        yield b""  # send the headers now: a watch with nothing to say is still a watch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        try:
            for event in first:
                yield event
            while True:
                remaining = deadline - loop.time() if deadline is not None else None
                if remaining is not None and remaining <= 0:
                    return
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    return
                if event is None:
                    return
                yield event
        finally:
            self.store.close_watch(watcher)

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        rt, namespace, _ = self._target(request, named=True)
        return self.store.get(rt, namespace, str(request.name))

    async def _serve_create(self, request: rendering.Request) -> rendering.Payload:
        rt, namespace, _ = self._target(request, named=False)
        created = self.store.create(rt, namespace, request.data, _manager(request), _dry_run(request))
        return rendering.Response(status=201, payload=created)

    async def _serve_put(self, request: rendering.Request) -> rendering.Payload:
        rt, namespace, sub = self._target(request, named=True)
        name = str(request.name)
        return self.store.replace(rt, namespace, name, request.data, sub, _manager(request), _dry_run(request))

    async def _serve_update(self, request: rendering.Request) -> rendering.Payload:
        rt, namespace, sub = self._target(request, named=True)
        content_type = request.headers.get("Content-Type", "")
        manager = request.params.get("fieldManager")
        obj, created = self.store.patch(
            rt, namespace, str(request.name), request.data, content_type, sub, manager, _dry_run(request)
        )
        # always a status: kmock keeps the last Response's status on the route's own reaction
        return rendering.Response(status=201 if created else 200, payload=obj)

    async def _serve_delete(self, request: rendering.Request) -> rendering.Payload:
        rt, namespace, _ = self._target(request, named=True)
        options = request.data if isinstance(request.data, dict) else {}
        propagation = request.params.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
        return self.store.delete(rt, namespace, str(request.name), propagation, _dry_run(request))

    def _labels(self, params: Mapping[str, str]) -> Callable[[Mapping[str, str]], bool]:
        return _labels(params) if self.label_selectors else lambda labels: True

    # --- discovery ---------------------------------------------------------------------------------------------

    async def _serve_root(self, request: rendering.Request) -> rendering.Payload:
        groups = self.store.registry.groups()
        paths = ["/api", "/api/v1", "/apis", "/version"]
        paths += [f"/apis/{g}" for g in groups] + [f"/apis/{g}/{v}" for g, vs in groups.items() for v in vs]
        return {"paths": sorted(paths)}

    async def _serve_api(self, request: rendering.Request) -> rendering.Payload:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}

    async def _serve_apis(self, request: rendering.Request) -> rendering.Payload:
        groups = self.store.registry.groups()
        return {"apiVersion": "v1", "kind": "APIGroupList", "groups": [_group(g, vs) for g, vs in groups.items()]}

    async def _serve_group(self, request: rendering.Request) -> rendering.Payload:
        path = parse_path(request.url.path)
        versions = self.store.registry.groups().get(path.group or "") if path else None
        if not versions or path is None or path.group is None:
            raise failure(404, "NotFound", "the server could not find the requested resource")
        return {"apiVersion": "v1", **_group(path.group, versions), "kind": "APIGroup"}

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        path = parse_path(request.url.path)
        types = self.store.registry.in_group_version(path.group or "", path.version or "") if path else []
        if not types or path is None:
            raise failure(404, "NotFound", "the server could not find the requested resource")
        group_version = f"{path.group}/{path.version}" if path.group else str(path.version)
        resources = [entry for rt in types for entry in rt.discovery()]
        return {"apiVersion": "v1", "kind": "APIResourceList", "groupVersion": group_version, "resources": resources}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def _labels(params: Mapping[str, str]) -> Callable[[Mapping[str, str]], bool]:
    try:
        return parse_selector(params.get("labelSelector"))
    except SelectorError as exc:
        raise failure(400, "BadRequest", f"unable to parse labelSelector: {exc}") from None


def _fields(params: Mapping[str, str]) -> Callable[[Mapping[str, Any]], bool]:
    """``fieldSelector`` on metadata.name / metadata.namespace (=, ==, !=): what clients use it for."""
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    for term in filter(None, (t.strip() for t in (params.get("fieldSelector") or "").split(","))):
        negated = "!=" in term
        field, _, value = term.replace("!=", "=").replace("==", "=").partition("=")
        if field not in ("metadata.name", "metadata.namespace"):
            raise failure(400, "BadRequest", f'field label not supported: "{field}"')
        key = field.partition(".")[2]
        checks.append(lambda meta, k=key, v=value, n=negated: (meta.get(k) == v) != n)
    return lambda meta: all(check(meta) for check in checks)


def _manager(request: rendering.Request) -> str:
    return request.params.get("fieldManager") or "unknown"


def _dry_run(request: rendering.Request) -> bool:
    return request.params.get("dryRun") == "All"


def _status_object(exc: KubernetesError) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": exc.message or "",
        "reason": exc.reason or "",
        "code": exc.status,
    }

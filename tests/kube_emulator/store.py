"""The emulated cluster's state and its rules: one global resourceVersion counter bumped on every write, server-set
metadata, finalizers, ownerReference garbage collection, namespaces that must exist, status subresources, and a
bounded history of changes so a watch resumes from a resourceVersion (or gets 410 when it is too old).

Everything here runs on the emulator's event loop thread (the HTTP handlers and the test-side handle both go
through it), so there is no lock: a write and the watch notifications it causes happen in one step."""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import datetime
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .resources import CRDS, NAMESPACES, SECRETS, Registry, ResourceType, from_crd
from .selectors import labels_of
from .semantics import (
    Json,
    Path,
    apply_config,
    check_metadata,
    check_name,
    failure,
    json_patch,
    merge_patch,
    normalize_secret,
    owned_paths,
    spec_changed,
)

Key = tuple[str, str, str | None, str]  # (group, plural, namespace, name)
Predicate = Callable[[Mapping[str, str]], bool]
_SERVER_METADATA = ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp", "managedFields")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    key: Key
    type: str  # ADDED | MODIFIED | DELETED
    object: Json
    before: Json | None


@dataclass(eq=False)
class Watcher:
    """One open watch: what it wants, and the queue its events go to (None ends it)."""

    group: str
    plural: str
    namespace: str | None
    selector: Predicate
    name: str | None = None
    queue: asyncio.Queue[Json | None] = field(default_factory=asyncio.Queue)

    def event_for(self, change: Change) -> Json | None:
        """The event this watch sees for a change, as the API server's watch cache filters it by label: an
        object that stops matching is DELETED for this watch, one that starts matching is ADDED."""
        group, plural, namespace, name = change.key
        if (group, plural) != (self.group, self.plural):
            return None
        if (self.namespace is not None and namespace != self.namespace) or (self.name and name != self.name):
            return None
        now_matches = self.selector(labels_of(change.object))
        before_matched = change.before is not None and self.selector(labels_of(change.before))
        kind = change.type
        if kind == "MODIFIED":
            if not now_matches and not before_matched:
                return None
            kind = "MODIFIED" if now_matches and before_matched else "ADDED" if now_matches else "DELETED"
        elif not now_matches:
            return None
        return {"type": kind, "object": change.object}


class Store:
    def __init__(self, registry: Registry, *, history_limit: int = 1000, strict_namespaces: bool = True) -> None:
        self.registry = registry
        self.strict_namespaces = strict_namespaces
        self.objects: dict[Key, Json] = {}
        self.version = 0
        self.history: collections.deque[Change] = collections.deque(maxlen=history_limit)
        self.floor = 0  # the newest version no longer in the history: older watches get 410
        self.watchers: set[Watcher] = set()
        self.applied: dict[tuple[Key, str], frozenset[Path]] = {}  # server-side apply ownership

    # --- reads -------------------------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Json:
        found = self.objects.get(self._key(rt, namespace, name))
        if found is None:
            raise self._not_found(rt, name)
        return found

    def list(
        self, rt: ResourceType, namespace: str | None, selector: Predicate, names: Predicate, limit: int, after: str
    ) -> Json:
        """A list page: ``after`` is the continue token of the previous page ("" for the first)."""
        start: tuple[str, str] | None = None
        version = self.version
        if after:
            try:
                token = json.loads(base64.urlsafe_b64decode(after.encode()))
                start, version = (token["ns"], token["name"]), int(token["rv"])
            except (ValueError, KeyError, TypeError):
                raise failure(400, "BadRequest", "the provided continue parameter is invalid") from None
        matching = sorted(
            (obj for key, obj in self.objects.items() if self._in_scope(key, rt, namespace)),
            key=_sort_key,
        )
        matching = [obj for obj in matching if selector(labels_of(obj)) and names(obj.get("metadata") or {})]
        if start is not None:
            matching = [obj for obj in matching if _sort_key(obj) > start]
        page = matching[:limit] if limit > 0 else matching
        metadata: Json = {"resourceVersion": str(version)}
        if len(page) < len(matching):
            last_ns, last_name = _sort_key(page[-1])
            token = {"ns": last_ns, "name": last_name, "rv": version}
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            metadata["remainingItemCount"] = len(matching) - len(page)
        items = [obj if rt.group not in ("", "rbac.authorization.k8s.io") else _untyped(obj) for obj in page]
        return {"apiVersion": rt.api_version, "kind": f"{rt.kind}List", "metadata": metadata, "items": items}

    # --- writes from the API -----------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str | None, body: Any, manager: str, dry_run: bool = False) -> Json:
        obj = self._admit(rt, namespace, body, creating=True)
        meta = obj["metadata"]
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise failure(422, "Invalid", f"{rt.kind}: metadata.name or metadata.generateName is required")
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        key = self._key(rt, namespace, meta["name"])
        if key in self.objects:
            raise failure(409, "AlreadyExists", f'{rt.qualified} "{meta["name"]}" already exists', name=meta["name"])
        check_name(meta["name"], rt.kind)
        if rt.status:
            obj.pop("status", None)
        if rt.key == NAMESPACES.key:
            obj["status"] = {"phase": "Active"}
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
        meta.pop("deletionTimestamp", None)
        meta["managedFields"] = [_managed(manager, "Update", rt, "")]
        if dry_run:
            return obj
        return self._commit(rt, key, obj, None)

    def replace(
        self, rt: ResourceType, namespace: str | None, name: str, body: Any, sub: str, manager: str, dry_run: bool
    ) -> Json:
        current = self.get(rt, namespace, name)
        obj = self._admit(rt, namespace, body, creating=False)
        self._check_precondition(rt, current, obj)
        if obj["metadata"].get("name") != name:
            raise failure(400, "BadRequest", f"the name of the object ({obj['metadata'].get('name')}) does not match")
        if sub == "status":
            obj = {**current, "status": obj.get("status")} if obj.get("status") is not None else dict(current)
        elif rt.status:
            obj = {k: v for k, v in obj.items() if k != "status"}
            if "status" in current:
                obj["status"] = current["status"]
        return self._update(rt, current, obj, manager, "Update", sub, dry_run)

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        content_type: str,
        sub: str,
        manager: str | None,
        dry_run: bool,
    ) -> tuple[Json, bool]:
        """(the object, whether it was created: server-side apply creates)."""
        kind = content_type.split(";")[0].strip().lower()
        if kind == "application/apply-patch+yaml":
            return self._apply(rt, namespace, name, body, sub, manager, dry_run)
        current = self.get(rt, namespace, name)
        if kind == "application/json-patch+json":
            if not isinstance(body, list):
                raise failure(400, "BadRequest", "a JSON patch is a list of operations")
            patched = json_patch(current, body)
        elif kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if not isinstance(body, dict):
                raise failure(400, "BadRequest", "a merge patch is an object")
            patched = merge_patch(current, body)
        else:
            raise failure(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {kind}")
        self._check_precondition(rt, current, patched if isinstance(body, list) else body)
        patched = self._confine(rt, current, patched, sub)
        self._check_identity(rt, current, patched)
        patched = self._admit(rt, namespace, patched, creating=False)
        return self._update(rt, current, patched, manager or "unknown", "Update", sub, dry_run), False

    def _apply(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        sub: str,
        manager: str | None,
        dry_run: bool,
    ) -> tuple[Json, bool]:
        if not manager:
            raise failure(400, "BadRequest", "PATCH with apply-patch+yaml requires the fieldManager parameter")
        config = self._admit(rt, namespace, body, creating=False)
        if config["metadata"].get("name") != name:
            raise failure(400, "BadRequest", f"the name in the applied object does not match {name!r}")
        config["metadata"] = {
            k: v for k, v in config["metadata"].items() if k not in _SERVER_METADATA or k == "resourceVersion"
        }
        key = self._key(rt, namespace, name)
        current = self.objects.get(key)
        if sub != "status" and rt.status:
            config.pop("status", None)
        elif sub == "status":
            config = {"apiVersion": config["apiVersion"], "kind": config["kind"], "metadata": {"name": name}}
            config["status"] = body.get("status") if isinstance(body, dict) else None
        ownership = owned_paths(config)
        if current is None:
            if sub == "status":
                raise self._not_found(rt, name)
            config["metadata"].pop("resourceVersion", None)
            created = self.create(rt, namespace, config, manager, dry_run)
            if not dry_run:
                self.applied[(key, manager)] = ownership
                created = self._replace_managed(rt, key, manager, "Apply", sub)
            return created, True
        self._check_precondition(rt, current, config)
        config["metadata"].pop("resourceVersion", None)
        others = frozenset().union(*(paths for (k, m), paths in self.applied.items() if k == key and m != manager))
        merged = apply_config(current, config, self.applied.get((key, manager), frozenset()), others)
        merged = self._confine(rt, current, merged, sub)
        merged = self._admit(rt, namespace, merged, creating=False)
        result = self._update(rt, current, merged, manager, "Apply", sub, dry_run)
        if not dry_run:
            self.applied[(key, manager)] = ownership
        return result, False

    def delete(self, rt: ResourceType, namespace: str | None, name: str, propagation: str, dry_run: bool) -> Json:
        current = self.get(rt, namespace, name)
        if dry_run:
            return current
        return self._delete(rt, self._key(rt, namespace, name), orphan=propagation == "Orphan")

    # --- writes from the test (a controller's view: no admission) ----------------------------------------------

    def put(self, rt: ResourceType, obj: Json) -> Json:
        """Create or replace the whole object, status included, as a controller writing it would."""
        meta = dict(obj.get("metadata") or {})
        namespace = meta.get("namespace") if rt.namespaced else None
        current = self.objects.get(self._key(rt, namespace, str(meta.get("name"))))
        if current is None:
            current = self.create(rt, namespace, obj, "test")
        new = {**obj, "metadata": {**current["metadata"], **meta}}
        if rt.key == SECRETS.key:
            new = normalize_secret(new, f'Secret "{meta.get("name")}"')
        return self._update(rt, current, new, "test", "Update", "", False)

    def set_status(self, rt: ResourceType, namespace: str | None, name: str, status: Any, merge: bool) -> Json:
        current = self.get(rt, namespace, name)
        new_status = merge_patch(current.get("status") or {}, status) if merge else copy.deepcopy(status)
        return self._update(rt, current, {**current, "status": new_status}, "test", "Update", "status", False)

    def compact(self) -> None:
        """Forget the history, as etcd compaction does: a watch from an older version gets 410."""
        self.history.clear()
        self.floor = self.version

    # --- watches -----------------------------------------------------------------------------------------------

    def open_watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        selector: Predicate,
        name: str | None,
        since: str | None,
    ) -> tuple[list[Json], Watcher]:
        """The events to send first and the registered watcher; `failure` 410 when ``since`` is too old."""
        watcher = Watcher(rt.group, rt.plural, namespace, selector, name)
        if since in (None, "", "0"):
            first = [
                {"type": "ADDED", "object": obj}
                for key, obj in sorted(self.objects.items(), key=lambda item: _sort_key(item[1]))
                if self._in_scope(key, rt, namespace) and (not name or key[3] == name) and selector(labels_of(obj))
            ]
        else:
            try:
                start = int(str(since))
            except ValueError:
                raise failure(400, "BadRequest", f"invalid resourceVersion {since!r}") from None
            if start < self.floor:
                raise failure(410, "Expired", f"too old resource version: {start} ({self.floor})")
            first = [e for c in self.history if c.version > start if (e := watcher.event_for(c)) is not None]
        self.watchers.add(watcher)
        return first, watcher

    def close_watch(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)

    def end_watches(self) -> None:
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(None)
        self.watchers.clear()

    # --- the machinery -----------------------------------------------------------------------------------------

    def _admit(self, rt: ResourceType, namespace: str | None, body: Any, *, creating: bool) -> Json:
        """Shape checks every write passes: the type, the namespace, metadata values; a copy to modify."""
        if not isinstance(body, dict):
            raise failure(400, "BadRequest", f"the body of a {rt.kind} must be a JSON object")
        if body.get("apiVersion") != rt.api_version or body.get("kind") != rt.kind:
            raise failure(
                400,
                "BadRequest",
                f"the API version in the data ({body.get('apiVersion')}) and kind ({body.get('kind')}) do not match "
                f"the request ({rt.api_version}, {rt.kind})",
            )
        obj = dict(body)
        meta = dict(obj.get("metadata") or {})
        given = meta.get("namespace")
        if rt.namespaced:
            if given and given != namespace:
                raise failure(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = namespace
            if creating and self.strict_namespaces and self._key(NAMESPACES, None, str(namespace)) not in self.objects:
                raise failure(404, "NotFound", f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
        else:
            meta.pop("namespace", None)
        what = f'{rt.kind} "{meta.get("name") or meta.get("generateName") or ""}"'
        check_metadata(meta, what)
        obj["metadata"] = meta
        if rt.key == SECRETS.key:
            obj = normalize_secret(obj, what)
        return obj

    def _check_precondition(self, rt: ResourceType, current: Json, body: Any) -> None:
        wanted = ((body.get("metadata") or {}) if isinstance(body, dict) else {}).get("resourceVersion")
        if wanted and str(wanted) != current["metadata"]["resourceVersion"]:
            name = current["metadata"]["name"]
            raise failure(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; please '
                "apply your changes to the latest version and try again",
                name=name,
            )

    def _check_identity(self, rt: ResourceType, current: Json, patched: Json) -> None:
        for field_name in ("name", "namespace"):
            if (patched.get("metadata") or {}).get(field_name) != current["metadata"].get(field_name):
                raise failure(422, "Invalid", f"{rt.kind}: metadata.{field_name} is immutable")

    def _confine(self, rt: ResourceType, current: Json, patched: Json, sub: str) -> Json:
        """A status subresource: the main endpoint keeps the stored status, /status changes nothing else."""
        if sub == "status":
            result = dict(current)
            if "status" in patched:
                result["status"] = patched["status"]
            else:
                result.pop("status", None)
            return result
        if rt.status:
            result = {k: v for k, v in patched.items() if k != "status"}
            if "status" in current:
                result["status"] = current["status"]
            return result
        return patched

    def _update(
        self, rt: ResourceType, current: Json, new: Json, manager: str, operation: str, sub: str, dry_run: bool
    ) -> Json:
        meta = dict(new.get("metadata") or {})
        old_meta = current["metadata"]
        for field_name in _SERVER_METADATA:  # the server's, whatever the client sent
            if field_name in old_meta:
                meta[field_name] = old_meta[field_name]
            else:
                meta.pop(field_name, None)
        new = {**new, "metadata": meta}
        if new == current:
            return current  # nothing changed: no new version, no event
        if spec_changed(current, new):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        meta["managedFields"] = _touch(old_meta.get("managedFields") or [], _managed(manager, operation, rt, sub))
        if dry_run:
            return new
        key = self._key(rt, meta.get("namespace"), meta["name"])
        stored = self._commit(rt, key, new, current)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(rt, key)
        return stored

    def _replace_managed(self, rt: ResourceType, key: Key, manager: str, operation: str, sub: str) -> Json:
        """Record an apply's manager on the object just created (without a new version: one write)."""
        obj = self.objects[key]
        meta = {**obj["metadata"], "managedFields": [_managed(manager, operation, rt, sub)]}
        self.objects[key] = {**obj, "metadata": meta}
        return self.objects[key]

    def _delete(self, rt: ResourceType, key: Key, *, orphan: bool = False) -> Json:
        current = self.objects[key]
        meta = current["metadata"]
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return current
            return self._commit(rt, key, {**current, "metadata": {**meta, "deletionTimestamp": now()}}, current)
        return self._remove(rt, key, orphan=orphan)

    def _remove(self, rt: ResourceType, key: Key, *, orphan: bool = False) -> Json:
        current = self.objects.pop(key)
        self.version += 1
        gone = {**current, "metadata": {**current["metadata"], "resourceVersion": str(self.version)}}
        self._record(Change(self.version, key, "DELETED", gone, current))
        for applied in [k for k in self.applied if k[0] == key]:
            del self.applied[applied]
        if key[:2] == NAMESPACES.key:
            for other in [k for k in self.objects if k[2] == key[3]]:
                if other in self.objects:
                    self._delete(self._type_of(other), other)
        if key[:2] == CRDS.key:
            self._crds_changed()
            removed = {(t.group, t.plural) for t in from_crd(current)}
            for other in [k for k in self.objects if k[:2] in removed]:
                self.objects.pop(other, None)
        if not orphan:
            self._collect(str(current["metadata"].get("uid")))
        return gone

    def _collect(self, uid: str) -> None:
        """Garbage collection: dependents none of whose owners exist any more are deleted."""
        live = {str(obj["metadata"].get("uid")) for obj in self.objects.values()}
        for key, obj in list(self.objects.items()):
            owners = {str(ref.get("uid")) for ref in obj["metadata"].get("ownerReferences") or []}
            if uid in owners and not (owners & live) and key in self.objects:
                self._delete(self._type_of(key), key)

    def _commit(self, rt: ResourceType, key: Key, obj: Json, before: Json | None) -> Json:
        self.version += 1
        stored = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.version)}}
        self.objects[key] = stored
        self._record(Change(self.version, key, "ADDED" if before is None else "MODIFIED", stored, before))
        if key[:2] == CRDS.key:
            self._crds_changed()
        return stored

    def _record(self, change: Change) -> None:
        if self.history.maxlen is not None and len(self.history) == self.history.maxlen:
            self.floor = self.history[0].version
        self.history.append(change)
        for watcher in self.watchers:
            event = watcher.event_for(change)
            if event is not None:
                watcher.queue.put_nowait(event)

    def _crds_changed(self) -> None:
        self.registry.refresh(obj for key, obj in self.objects.items() if key[:2] == CRDS.key)

    def _type_of(self, key: Key) -> ResourceType:
        for rt in self.registry.all():
            if rt.key == key[:2]:
                return rt
        raise KeyError(key)

    def install(self, objs: Iterable[Json]) -> None:
        """Seed objects (CRDs, namespaces) without admission or events: the cluster as it was before the test."""
        for obj in objs:
            rt = self.registry.for_object(obj)
            meta = obj.get("metadata") or {}
            self.version += 1
            stored = {
                **obj,
                "metadata": {
                    **meta,
                    "uid": str(uuid.uuid4()),
                    "creationTimestamp": now(),
                    "generation": 1,
                    "resourceVersion": str(self.version),
                },
            }
            if rt.key == NAMESPACES.key:
                stored["status"] = {"phase": "Active"}
            self.objects[self._key(rt, meta.get("namespace"), str(meta["name"]))] = stored
            if rt.key == CRDS.key:
                self._crds_changed()
        self.floor = self.version

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> Key:
        return rt.group, rt.plural, namespace if rt.namespaced else None, name

    def _in_scope(self, key: Key, rt: ResourceType, namespace: str | None) -> bool:
        return key[:2] == rt.key and (namespace is None or key[2] == namespace)

    def _not_found(self, rt: ResourceType, name: str) -> Exception:
        return failure(404, "NotFound", f'{rt.qualified} "{name}" not found', name=name, group=rt.group, kind=rt.plural)


def _sort_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _untyped(obj: Json) -> Json:
    """List items of built-in kinds carry no apiVersion/kind on a real API server; a client must not need them."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def _managed(manager: str, operation: str, rt: ResourceType, sub: str) -> Json:
    entry: Json = {
        "manager": manager,
        "operation": operation,
        "apiVersion": rt.api_version,
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": {},
    }
    if sub:
        entry["subresource"] = sub
    return entry


def _touch(entries: list[Json], entry: Json) -> list[Json]:
    same = ("manager", "operation", "subresource")
    kept = [e for e in entries if any(e.get(k) != entry.get(k) for k in same)]
    return [*kept, entry]

"""The Kubeflow source: a Kubeflow Model Registry's REST API (v1alpha3, or modelreg itself) → `SourceEntity`s.

Everything the API lists, in parents-first order: experiments, runs (with their metric history), registered models,
versions, artifacts of every type, serving environments, inference services and their serve models. Fields and
custom properties are kept as the API gives them (the writer stores them as the same body POSTed here would be);
ids become source ids. The API gives no artifact its parents, so each version's and run's artifact list is read to
link them (an artifact shared by several versions, as the upstream client registers them, keeps every link).
A version's stage is modelreg's ``Lifecycle`` property when the source is a modelreg; an upstream registry has
none, and its versions start in the first stage.

modelreg leaves archived models and versions out of its default lists, so those are also listed with a filter on
``state``; an upstream server lists them anyway (the two lists are merged by id). Servers without experiments or
serving (404) have none."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from modelreg import outbound
from modelreg.importers.model import SOURCE_NAME_LENGTH, ClosingSource, Kind, Ref, SourceEntity, SourceError, api_root
from modelreg.stages import LIFECYCLE_PROPERTY, STAGES

API_PATH = "/api/model_registry/v1alpha3"
PAGE_SIZE = 1000
_ARCHIVED = "state = 'ARCHIVED'"
_NOT_FIELDS = frozenset({"id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch", "customProperties"})
_NOT_HISTORY = frozenset({"id", "experimentId", "experimentRunId", "artifactType", "lastUpdateTimeSinceEpoch"})
Item = dict[str, Any]


@dataclass(frozen=True)
class _Lists:
    experiments: list[Item]
    runs: list[Item]
    models: list[Item]
    versions: list[Item]
    artifacts: list[Item]
    environments: list[Item]
    services: list[Item]

    def total(self) -> int:
        return sum(map(len, vars(self).values()))


class KubeflowSource(ClosingSource):
    """A Kubeflow Model Registry at ``url`` (its root, or the API's base URL), read with ``token`` as Bearer."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        page_size: int = PAGE_SIZE,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        root = api_root(url, API_PATH)
        self.root = outbound.shown(root)  # what messages, the ledger and audit records name: no credentials
        self.name = f"kubeflow:{self.root}"[:SOURCE_NAME_LENGTH]
        self.page_size = page_size
        target = outbound.Target(root + API_PATH, bearer=(lambda: token) if token else None, timeout=timeout)
        self._client = outbound.Client(target, transport=transport)
        self._lists: _Lists | None = None

    def close(self) -> None:
        self._client.close()

    def total(self) -> int:
        return self._load().total()

    def entities(self) -> Iterator[SourceEntity]:
        lists = self._load()
        links: defaultdict[str, list[Ref]] = defaultdict(list)
        for experiment in lists.experiments:
            yield _entity("experiment", experiment)
        for run in lists.runs:
            self._link(links, "experiment_run", run["id"], f"/experiment_runs/{run['id']}/artifacts")
            history = [_history(m) for m in self._all(f"/experiment_runs/{run['id']}/metric_history")]
            yield _entity("experiment_run", run, _refs(run, ("experiment", "experimentId")), history=history)
        for model in lists.models:
            yield _entity("registered_model", model)
        for version in lists.versions:
            self._link(links, "model_version", version["id"], f"/model_versions/{version['id']}/artifacts")
            yield _entity("model_version", version, _refs(version, ("registered_model", "registeredModelId")))
        for artifact in lists.artifacts:
            parents = sorted(links.get(str(artifact["id"]), ()), key=lambda ref: ref.kind != "model_version")
            yield _entity("artifact", artifact, tuple(parents))
        for environment in lists.environments:
            yield _entity("serving_environment", environment)
        for service in lists.services:
            refs = _refs(
                service,
                ("serving_environment", "servingEnvironmentId"),
                ("registered_model", "registeredModelId"),
                ("model_version", "modelVersionId"),
            )
            yield _entity("inference_service", service, refs)
            for serve in self._all(f"/inference_services/{service['id']}/serves"):
                refs = (
                    Ref("inference_service", str(service["id"])),
                    *_refs(serve, ("model_version", "modelVersionId")),
                )
                yield _entity("serve_model", serve, refs)

    # --- reading the API ------------------------------------------------------------------------------------------

    def _load(self) -> _Lists:
        """Every top-level list, read once (the registered models first: a server that is not a registry fails
        there, before anything is written)."""
        if self._lists is None:
            models = self._with_archived("/registered_models")
            self._lists = _Lists(
                experiments=self._all("/experiments", optional=True),
                runs=self._all("/experiment_runs", optional=True),
                models=models,
                versions=self._with_archived("/model_versions"),
                artifacts=self._all("/artifacts"),
                environments=self._all("/serving_environments", optional=True),
                services=self._all("/inference_services", optional=True),
            )
        return self._lists

    def _with_archived(self, path: str) -> list[Item]:
        items = {str(item["id"]): item for item in self._all(path)}
        for item in self._all(path, {"filterQuery": _ARCHIVED}, optional=True):
            items.setdefault(str(item["id"]), item)
        return sorted(items.values(), key=lambda item: (len(str(item["id"])), str(item["id"])))  # numeric ids

    def _link(self, links: defaultdict[str, list[Ref]], kind: Kind, parent_id: Any, path: str) -> None:
        for artifact in self._all(path):
            links[str(artifact["id"])].append(Ref(kind, str(parent_id)))

    def _all(self, path: str, params: Mapping[str, str] | None = None, *, optional: bool = False) -> list[Item]:
        """Every item of a list, page by page; ``optional``: a 404 or 400 (a server without this list or filter)
        means none."""
        items: list[Item] = []
        token = ""
        while True:
            query = {**(params or {}), "pageSize": str(self.page_size)}
            if token:
                query["nextPageToken"] = token
            body = self._get(path, query, optional)
            if body is None:
                return items
            page = body.get("items") if isinstance(body, dict) else None
            if not isinstance(page, list) or not all(isinstance(i, dict) and "id" in i for i in page):
                raise self._not_a_registry(f"GET {API_PATH}{path} answered something else than a list of items")
            items.extend(page)
            next_token = body.get("nextPageToken") or ""
            if not page or not next_token or next_token == token:
                return items
            token = str(next_token)

    def _get(self, path: str, params: Mapping[str, str], optional: bool) -> Any:
        try:
            return self._client.json("GET", path, params=params, accept=(400, 404) if optional else ())
        except outbound.HttpStatus as exc:
            if exc.status in (401, 403):
                raise SourceError(f"{self.root} refused the import: {exc.message} (check the token)") from None
            raise self._not_a_registry(f"GET {API_PATH}{path} answered {exc.status}") from None
        except outbound.BadResponse:
            raise self._not_a_registry(f"GET {API_PATH}{path} did not answer JSON") from None
        except outbound.OutboundError as exc:
            raise SourceError(f"cannot reach the registry: {exc.message}") from None

    def _not_a_registry(self, detail: str) -> SourceError:
        return SourceError(f"{self.root} does not answer as a Kubeflow Model Registry: {detail}")


def _refs(item: Item, *fields: tuple[Kind, str]) -> tuple[Ref, ...]:
    """``Ref``s to the parents ``item`` names by (kind, id field), those it names."""
    return tuple(Ref(kind, str(item[f])) for kind, f in fields if item.get(f) not in (None, ""))


def _entity(kind: Kind, item: Item, parents: tuple[Ref, ...] = (), history: Sequence[Item] = ()) -> SourceEntity:
    props = dict(item.get("customProperties") or {})
    stage = None
    if kind == "model_version":
        lifecycle = props.get(LIFECYCLE_PROPERTY)
        if isinstance(lifecycle, dict) and lifecycle.get("string_value") in STAGES:
            stage = str(props.pop(LIFECYCLE_PROPERTY)["string_value"])
    return SourceEntity(
        kind=kind,
        source_id=str(item["id"]),
        fields={k: v for k, v in item.items() if k not in _NOT_FIELDS},
        custom_properties=props,
        parents=parents,
        create_time_ms=_ms(item.get("createTimeSinceEpoch")),
        update_time_ms=_ms(item.get("lastUpdateTimeSinceEpoch")),
        stage=stage,
        metric_history=tuple(history),
    )


def _history(metric: Item) -> Item:
    """A metric history entry as the writer takes it: the API's metric without its ids and update time."""
    return {k: v for k, v in metric.items() if k not in _NOT_HISTORY}


def _ms(value: Any) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None

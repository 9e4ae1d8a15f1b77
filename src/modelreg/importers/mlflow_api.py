"""MLflow's REST API (``/api/2.0/mlflow``), read in as few requests as it allows: every search at its largest page,
the runs that model versions name fetched in batches (``runs/search`` filtered on run ids), never one request per
version. Every failure is a `SourceError` whose one line says what is wrong (unreachable, refused, not MLflow).

MLflow's page limits: ``registered-models/search`` 1000, ``experiments/search`` and ``runs/search`` 50,000,
``model-versions/search`` 200,000 (asked for 10,000, its default: each page is one JSON document MLflow builds in
memory, and larger ones were no faster)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from modelreg import outbound
from modelreg.importers.model import SourceError, api_root

PREFIX = "/api/2.0/mlflow"
MODELS_PAGE = 1000
VERSIONS_PAGE = 10_000
SEARCH_PAGE = 50_000
RUN_IDS_PER_SEARCH = 1000  # run ids in one runs/search filter (500 or 2000: slower at 10,000 runs)
EXPERIMENTS_PER_SEARCH = 1000  # experiment ids in one runs/search
FETCHERS = 4  # concurrent requests for the batched run searches and logged-model reads (MLflow serves 4 workers)
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]+")  # a run id that can go into a filter string as it is

Json = dict[str, Any]


@dataclass
class Stats:
    """What reading MLflow cost (bench/import_mlflow.py reports it apart from the writing side): requests made, and
    the wall time of the reading (set by the source: requests overlap, so their durations do not add up)."""

    requests: int = 0
    seconds: float = 0.0


class MlflowApi:
    """Reads one MLflow tracking server; ``token`` is sent as ``Authorization: Bearer``. ``transport`` is for tests."""

    def __init__(
        self, url: str, token: str | None = None, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = api_root(url, PREFIX, " (MLflow's address)")
        self.stats = Stats()
        self._count = threading.Lock()
        target = outbound.Target(base_url=self.url + PREFIX, bearer=lambda: token, timeout=timeout)
        try:
            self._client = outbound.Client(target, transport=transport)
        except ValueError as exc:  # an unusable URL
            raise SourceError(f"cannot read MLflow at {outbound.shown(self.url)}: {exc}") from None

    def close(self) -> None:
        self._client.close()

    def registered_models(self) -> list[Json]:
        """Every registered model with its tags and aliases (MLflow 3 leaves prompts out of this search)."""
        return list(self._pages("GET", "/registered-models/search", "registered_models", MODELS_PAGE))

    def model_versions(self) -> list[Json]:
        return list(self._pages("GET", "/model-versions/search", "model_versions", VERSIONS_PAGE))

    def experiments(self) -> list[Json]:
        """Every experiment, deleted ones included (a run a version names may sit in one)."""
        return list(self._pages("POST", "/experiments/search", "experiments", SEARCH_PAGE, view_type="ALL"))

    def runs(self, run_ids: Iterable[str], experiment_ids: Sequence[str]) -> list[Json]:
        """The runs of these ids that exist (deleted ones included), with their params, latest metrics and tags.
        ``runs/search`` needs the experiments to look in: all of them, in chunks when there are very many."""
        plain: list[str] = []
        odd: list[str] = []
        for run_id in dict.fromkeys(run_ids):
            (plain if _PLAIN_ID.fullmatch(run_id) else odd).append(run_id)
        searches = [
            (run_chunk, exp_chunk)
            for run_chunk in _chunks(plain, RUN_IDS_PER_SEARCH)
            for exp_chunk in _chunks(list(experiment_ids), EXPERIMENTS_PER_SEARCH)
        ]
        found: list[Json] = []
        for batch in self._concurrently(lambda s: self._search_runs(*s), searches):
            found.extend(batch)
        for run_id in odd:  # not a well-formed id: asked for alone rather than quoted into a filter
            body = self._json("GET", "/runs/get", params={"run_id": run_id}, missing_ok=True)
            if body and isinstance(body.get("run"), dict):
                found.append(body["run"])
        return found

    def logged_models(self, model_ids: Iterable[str]) -> dict[str, Json]:
        """MLflow 3 logged models (a version whose source is ``models:/m-...``) by id; unknown ones are left out."""
        ids = list(dict.fromkeys(model_ids))
        bodies = self._concurrently(lambda i: self._json("GET", f"/logged-models/{i}", missing_ok=True), ids)
        return {
            model_id: body["model"]
            for model_id, body in zip(ids, bodies, strict=True)
            if isinstance(body, dict) and isinstance(body.get("model"), dict)
        }

    def _search_runs(self, run_ids: list[str], experiment_ids: list[str]) -> list[Json]:
        quoted = ", ".join(f"'{run_id}'" for run_id in run_ids)
        return list(
            self._pages(
                "POST",
                "/runs/search",
                "runs",
                SEARCH_PAGE,
                experiment_ids=experiment_ids,
                filter=f"attributes.run_id IN ({quoted})",
                run_view_type="ALL",
            )
        )

    def _concurrently(self, fetch: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1:
            return [fetch(item) for item in items]
        with ThreadPoolExecutor(FETCHERS, thread_name_prefix="mlflow-import") as pool:
            return list(pool.map(fetch, items))

    def _pages(self, method: str, path: str, key: str, size: int, **query: Any) -> Iterator[Json]:
        """Every item of a paged search: GETs take the query as parameters, POSTs as the JSON body."""
        token: str | None = None
        while True:
            page = {**query, "max_results": size, **({"page_token": token} if token else {})}
            if method == "GET":
                body = self._json(method, path, params=page) or {}
            else:
                body = self._json(method, path, body=page) or {}
            items = body.get(key, [])  # MLflow leaves an empty list out
            if not isinstance(items, list):
                raise self._not_mlflow(f"{path} answered without a list of {key}")
            yield from (item for item in items if isinstance(item, dict))
            token = body.get("next_page_token")
            if not token:
                return

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Json | None:
        with self._count:  # the fetch threads count too
            self.stats.requests += 1
        try:
            answer = self._client.json(method, path, params=params, body=body, accept=(404,) if missing_ok else ())
        except outbound.Unreachable as exc:
            raise SourceError(f"cannot reach MLflow at {outbound.shown(self.url)}: {_cause(exc)}") from None
        except outbound.HttpStatus as exc:
            raise self._refused(exc) from None
        except outbound.BadResponse:
            raise self._not_mlflow(f"{path} did not answer JSON") from None
        if answer is not None and not isinstance(answer, dict):
            raise self._not_mlflow(f"{path} answered {type(answer).__name__}, not an object")
        return answer

    def _refused(self, exc: outbound.HttpStatus) -> SourceError:
        where = outbound.shown(self.url)
        if exc.status in (401, 403):
            hint = "give a valid token (--token or --token-env)" if exc.status == 401 else "the token lacks access"
            return SourceError(f"MLflow at {where} refused the request ({exc.status}): {hint}")
        if exc.status in (404, 405):
            return self._not_mlflow(f"it has no MLflow REST API ({exc.status} for {PREFIX})")
        return SourceError(f"MLflow at {where} failed: {exc.message}")

    def _not_mlflow(self, why: str) -> SourceError:
        return SourceError(f"{outbound.shown(self.url)} is not an MLflow tracking server: {why}")


def _cause(exc: outbound.Unreachable) -> str:
    """The transport error without the request line outbound puts first (the URL is named already)."""
    return exc.message.split(": ", 1)[-1]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]

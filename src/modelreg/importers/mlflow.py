"""The MLflow source: an MLflow 2.x/3.x tracking server's REST API (``/api/2.0/mlflow``) → `SourceEntity`s.

It reads everything first (`mlflow_api.MlflowApi`: a few large pages, runs in batches), so ``total`` is exact and
the entities come out parents first: the experiments and runs that model versions link to (not every run of
every experiment: the registry keeps lineage, not the tracking history), each run's params and latest metrics,
then registered models, versions and each version's model artifact. Source ids are MLflow's own: the experiment id,
the run id, the model name, ``name/version``. The mapping (docs/import.md):

- registered model: description; tags → custom properties; alias ``a`` → ``mlflow.alias.a`` = the version.
- model version: description, tags, ``user_id`` → author, creation time; ``current_stage`` Staging/Production →
  stage staging/production, Archived → state ARCHIVED (stage deprecated), None → development; ``run_id`` →
  ``mlflow.run_id``. Its model artifact: ``uri`` = the source (a ``models:/m-…`` logged model resolved to its
  artifact location), also linked to the imported run, whose output it is.
- experiment / run: name, description (``mlflow.note.content``), tags, deleted → ARCHIVED; a run's status, times,
  ``user_id`` → owner; params → parameter artifacts, latest metrics → metric artifacts (and one history entry each).

Times are MLflow's. A registered model's last update time moves in MLflow whenever one of its versions changes, so
a re-run after such a change also updates the model (its time only: no audit record, times are not audited).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from modelreg import outbound
from modelreg.importers.mlflow_api import Json, MlflowApi, Stats
from modelreg.importers.model import SOURCE_ID_LENGTH, SOURCE_NAME_LENGTH, ClosingSource, Kind, Ref, SourceEntity

ALIAS_PREFIX = "mlflow.alias."
RUN_ID_PROPERTY = "mlflow.run_id"
SOURCE_PROPERTY = "mlflow.source"  # a version's source when the artifact URI is what it resolved to
NOTE_TAG = "mlflow.note.content"  # MLflow's description of experiments and runs
RUN_NAME_TAG = "mlflow.runName"
PROMPT_TAG = "mlflow.prompt.is_prompt"
LOGGED_MODEL_SCHEME = "models:/"

STAGES = {"Staging": "staging", "Production": "production", "Archived": "deprecated"}
ARTIFACT_STATES = {"READY": "LIVE", "PENDING_REGISTRATION": "PENDING", "FAILED_REGISTRATION": "ABANDONED"}
STATES = {"deleted": "ARCHIVED"}  # an experiment's or run's lifecycle_stage; anything else is LIVE


class MlflowSource(ClosingSource):
    """``modelreg import mlflow --url URL [--token]``: ``token`` goes out as ``Authorization: Bearer``; ``timeout``
    bounds each request (seconds); ``transport`` is for tests."""

    def __init__(
        self, url: str, token: str | None = None, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.api = MlflowApi(url, token, timeout=timeout, transport=transport)
        self.name = f"mlflow:{outbound.shown(self.api.url)}"[:SOURCE_NAME_LENGTH]
        self._entities: list[SourceEntity] | None = None

    @property
    def stats(self) -> Stats:
        """Requests made to MLflow and the wall time spent reading it."""
        return self.api.stats

    def total(self) -> int:
        return len(self._read())

    def entities(self) -> Iterator[SourceEntity]:
        yield from self._read()

    def close(self) -> None:
        self.api.close()

    def _read(self) -> list[SourceEntity]:
        if self._entities is None:
            started = time.perf_counter()
            self._entities = list(_plan(self.api))
            self.api.stats.seconds = time.perf_counter() - started
        return self._entities


def _plan(api: MlflowApi) -> Iterator[SourceEntity]:
    with ThreadPoolExecutor(3, thread_name_prefix="mlflow-lists") as pool:  # three independent listings at once
        listed_models, listed_versions, all_experiments = (
            pool.submit(api.registered_models),
            pool.submit(api.model_versions),
            pool.submit(api.experiments),
        )
    models = [m for m in listed_models.result() if _tags(m).get(PROMPT_TAG) != "true"]
    names = {m["name"] for m in models}
    versions = sorted(
        (v for v in listed_versions.result() if v.get("name") in names),
        key=lambda v: (v["name"], _int(v["version"])),
    )
    run_ids = {v["run_id"] for v in versions if v.get("run_id")}
    experiments = all_experiments.result()
    runs = api.runs(run_ids, [e["experiment_id"] for e in experiments]) if run_ids else []
    wanted = {r["info"]["experiment_id"] for r in runs}
    experiments = [e for e in experiments if e["experiment_id"] in wanted]
    logged = api.logged_models(
        v["source"].removeprefix(LOGGED_MODEL_SCHEME)
        for v in versions
        if v.get("source", "").startswith(LOGGED_MODEL_SCHEME + "m-")
    )
    for experiment in sorted(experiments, key=lambda e: _int(e["experiment_id"])):
        yield _experiment(experiment)
    imported_runs = set()
    for run, name in _named_runs(runs):
        imported_runs.add(_run_id(run))
        yield from _run(run, name)
    for model in models:
        yield _registered_model(model)
    for version in versions:
        yield from _model_version(version, imported_runs, logged)


def _experiment(e: Json) -> SourceEntity:
    tags = _tags(e)
    fields = {"name": e["name"], "state": STATES.get(e.get("lifecycle_stage", ""), "LIVE")}
    if tags.get(NOTE_TAG):
        fields["description"] = tags[NOTE_TAG]
    props: dict[str, Any] = {k: v for k, v in tags.items() if k != NOTE_TAG}
    if e.get("artifact_location"):
        props["mlflow.artifact_location"] = e["artifact_location"]
    return _dated("experiment", e["experiment_id"], fields, props, e, ("creation_time", "last_update_time"))


def _named_runs(runs: list[Json]) -> Iterator[tuple[Json, str]]:
    """Runs with the name each gets: MLflow's run name, unique within an experiment as modelreg needs (MLflow's need
    not be): the earliest run keeps it, a later one with the same name gets its id added."""
    by_experiment: dict[str, list[Json]] = defaultdict(list)
    for run in runs:
        by_experiment[run["info"]["experiment_id"]].append(run)
    for experiment_id in sorted(by_experiment, key=_int):
        taken: set[str] = set()
        for run in sorted(by_experiment[experiment_id], key=lambda r: (_int(r["info"].get("start_time")), _run_id(r))):
            name = run["info"].get("run_name") or _run_id(run)
            if name in taken:
                name = f"{name[: SOURCE_ID_LENGTH - 35]} ({_run_id(run)})"
            taken.add(name)
            yield run, name


def _run(run: Json, name: str) -> Iterator[SourceEntity]:
    info, data = run["info"], run.get("data", {})
    run_id = _run_id(run)
    tags = _tags(data)
    fields: dict[str, Any] = {"name": name, "state": STATES.get(info.get("lifecycle_stage", ""), "LIVE")}
    for key, value in (
        ("owner", info.get("user_id")),
        ("status", info.get("status")),
        ("description", tags.get(NOTE_TAG)),
    ):
        if value:
            fields[key] = value
    start, end = _ms(info.get("start_time")), _ms(info.get("end_time"))
    if start is not None:
        fields["startTimeSinceEpoch"] = str(start)
    if end is not None:
        fields["endTimeSinceEpoch"] = str(end)
    props: dict[str, Any] = {k: v for k, v in tags.items() if k not in (NOTE_TAG, RUN_NAME_TAG)}
    if info.get("artifact_uri"):
        props["mlflow.artifact_uri"] = info["artifact_uri"]
    parent = (Ref("experiment", _source_id(info["experiment_id"])),)
    metrics = sorted(data.get("metrics", []), key=lambda m: m["key"])
    yield SourceEntity(
        "experiment_run",
        _source_id(run_id),
        fields,
        props,
        parents=parent,
        create_time_ms=start,
        update_time_ms=end or start,
        metric_history=tuple(_history_entry(m) for m in metrics),
    )
    here = (Ref("experiment_run", _source_id(run_id)),)
    for param in sorted(data.get("params", []), key=lambda p: p["key"]):
        param_fields = {
            "artifactType": "parameter",
            "name": param["key"],
            "value": param.get("value", ""),
            "parameterType": "string",
        }
        yield SourceEntity(
            "artifact", _source_id(f"{run_id}/param/{param['key']}"), param_fields, parents=here, create_time_ms=start
        )
    for metric in metrics:
        metric_fields = {"artifactType": "metric", **_metric_fields(metric)}
        props = {} if "value" in metric_fields else {"mlflow.value": str(metric.get("value"))}
        yield SourceEntity(
            "artifact",
            _source_id(f"{run_id}/metric/{metric['key']}"),
            metric_fields,
            props,
            parents=here,
            create_time_ms=_ms(metric.get("timestamp")) or start,
        )


def _history_entry(metric: Json) -> dict[str, Any]:
    """The run's metric history as MLflow's run answers it: the latest value of each metric (the full history is one
    request per run and metric)."""
    entry = _metric_fields(metric)
    if "timestamp" in entry:
        entry["createTimeSinceEpoch"] = entry["timestamp"]
    return entry


def _metric_fields(metric: Json) -> dict[str, Any]:
    """A metric in Kubeflow's fields; a value JSON cannot carry (MLflow's NaN, ±Infinity) is left out."""
    fields: dict[str, Any] = {"name": metric["key"], "step": _int(metric.get("step"))}
    value = _float(metric.get("value"))
    if value is not None:
        fields["value"] = value
    if metric.get("timestamp") is not None:
        fields["timestamp"] = str(_int(metric["timestamp"]))
    return fields


def _registered_model(m: Json) -> SourceEntity:
    fields = {"name": m["name"], "state": "LIVE"}
    if m.get("description"):
        fields["description"] = m["description"]
    props: dict[str, Any] = dict(_tags(m))
    for alias in m.get("aliases", []):
        props[ALIAS_PREFIX + alias["alias"]] = str(alias["version"])
    return _dated("registered_model", m["name"], fields, props, m, ("creation_timestamp", "last_updated_timestamp"))


def _dated(
    kind: Kind, source_id: str, fields: Json, props: Json, item: Json, time_keys: tuple[str, str]
) -> SourceEntity:
    """A top-level entity (no parents) with MLflow's creation and last update times, which each kind names its way."""
    created, updated = (_ms(item.get(key)) for key in time_keys)
    return SourceEntity(kind, _source_id(source_id), fields, props, create_time_ms=created, update_time_ms=updated)


def _model_version(v: Json, imported_runs: set[str], logged: Mapping[str, Json]) -> Iterator[SourceEntity]:
    name, version = v["name"], str(v["version"])
    stage = v.get("current_stage") or "None"
    fields = {"name": version, "state": "ARCHIVED" if stage == "Archived" else "LIVE"}
    if v.get("description"):
        fields["description"] = v["description"]
    if v.get("user_id"):
        fields["author"] = v["user_id"]
    props: dict[str, Any] = dict(_tags(v))
    run_id = v.get("run_id") or ""
    if run_id:
        props[RUN_ID_PROPERTY] = run_id
    source = v.get("storage_location") or v.get("source") or ""
    uri = _logged_model_uri(source, logged)
    if uri != source:
        props[SOURCE_PROPERTY] = source
    source_id = _source_id(f"{name}/{version}")
    created, updated = _ms(v.get("creation_timestamp")), _ms(v.get("last_updated_timestamp"))
    yield SourceEntity(
        "model_version",
        source_id,
        fields,
        props,
        parents=(Ref("registered_model", _source_id(name)),),
        create_time_ms=created,
        update_time_ms=updated,
        stage=STAGES.get(stage, "development"),
    )
    parents = [Ref("model_version", source_id)]
    if run_id in imported_runs:
        parents.append(Ref("experiment_run", _source_id(run_id)))
    artifact = {
        "artifactType": "model-artifact",
        "name": name,
        "uri": uri,
        "state": ARTIFACT_STATES.get(v.get("status", "READY"), "UNKNOWN"),
    }
    yield SourceEntity("artifact", source_id, artifact, parents=tuple(parents), create_time_ms=created)


def _logged_model_uri(source: str, logged: Mapping[str, Json]) -> str:
    """Where an MLflow 3 logged model (``models:/m-…``) keeps its files; any other source as it is."""
    if not source.startswith(LOGGED_MODEL_SCHEME):
        return source
    model = logged.get(source.removeprefix(LOGGED_MODEL_SCHEME))
    uri = (model or {}).get("info", {}).get("artifact_uri")
    return uri if isinstance(uri, str) and uri else source


def _tags(entity: Json) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in entity.get("tags", []) if isinstance(t, dict) and "key" in t}


def _run_id(run: Json) -> str:
    info = run["info"]
    return str(info.get("run_id") or info["run_uuid"])


def _source_id(text: str) -> str:
    """The source's id as the ledger keys it: as it is when it fits the column, else shortened with its hash."""
    if len(text) <= SOURCE_ID_LENGTH:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{text[: SOURCE_ID_LENGTH - 65]}#{digest}"


def _ms(value: Any) -> int | None:
    return None if value in (None, "") else _int(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None

"""Experiments, experiment runs, their artifacts and metric history (``/api/model_registry/v1alpha3`` only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query
from starlette.responses import Response

from modelreg.api.deps import ExperimentsDep, RegistryDep
from modelreg.api.registry import schemas as s
from modelreg.api.registry.artifacts import ArtifactTypeQuery, upsert
from modelreg.api.registry.common import (
    ERRORS,
    ExternalIdQuery,
    ListDep,
    NameQuery,
    ParentQuery,
    PathId,
    RegistryRouter,
    body_in,
    id_of,
    many,
    one,
)
from modelreg.services import entities as e
from modelreg.services.entities import parse_id

router = RegistryRouter(responses=ERRORS)
EXP, RUN = e.EXPERIMENT, e.EXPERIMENT_RUN
StepIdsQuery = Annotated[str | None, Query(pattern=r"^[0-9]{1,9}(,[0-9]{1,9})*$")]
MetricNameQuery = Annotated[str | None, Query(description="Substring of the metric name.")]


@router.get("/experiments", response_model=s.ExperimentList, tags=["Experiment"])
def get_experiments(svc: RegistryDep, q: ListDep) -> Response:
    return many(*svc.list_entities(EXP, q.page, q.filter), q.page)


@router.post("/experiments", status_code=201, response_model=s.Experiment, tags=["Experiment"])
def create_experiment(svc: RegistryDep, body: s.ExperimentCreate) -> Response:
    values, props = body_in(svc, EXP.name, body)
    return one(svc.create(EXP, values, props or {}), 201)


@router.get("/experiment", response_model=s.Experiment, tags=["Experiment"])
def find_experiment(svc: RegistryDep, name: NameQuery = None, externalId: ExternalIdQuery = None) -> Response:
    return one(svc.find(EXP, name, externalId))


@router.get("/experiments/{experimentId}", response_model=s.Experiment, tags=["Experiment"])
def get_experiment(svc: RegistryDep, experimentId: PathId) -> Response:
    return one(svc.get(EXP, parse_id(experimentId, EXP.label)))


@router.patch("/experiments/{experimentId}", response_model=s.Experiment, tags=["Experiment"])
def update_experiment(svc: RegistryDep, experimentId: PathId, body: s.ExperimentUpdate) -> Response:
    values, props = body_in(svc, EXP.name, body)
    return one(svc.update(EXP, parse_id(experimentId, EXP.label), values, props))


@router.get("/experiments/{experimentId}/experiment_runs", response_model=s.ExperimentRunList, tags=["Experiment"])
def get_experiment_experiment_runs(
    svc: ExperimentsDep, experimentId: PathId, q: ListDep, name: NameQuery = None, externalId: ExternalIdQuery = None
) -> Response:
    return many(*svc.list_runs(q.page, q.filter, parse_id(experimentId, EXP.label), name, externalId), q.page)


@router.post(
    "/experiments/{experimentId}/experiment_runs", status_code=201, response_model=s.ExperimentRun, tags=["Experiment"]
)
def create_experiment_experiment_run(svc: ExperimentsDep, experimentId: PathId, body: s.ExperimentRun) -> Response:
    values, props = body_in(svc, RUN.name, body)
    values["experiment_id"] = parse_id(experimentId, EXP.label)
    return one(svc.create_run(values, props or {}, id_of(body.id, RUN.label)), 201)


@router.get("/experiment_runs", response_model=s.ExperimentRunList, tags=["ExperimentRun"])
def get_experiment_runs(svc: ExperimentsDep, q: ListDep) -> Response:
    return many(*svc.list_runs(q.page, q.filter, None), q.page)


@router.post("/experiment_runs", status_code=201, response_model=s.ExperimentRun, tags=["ExperimentRun"])
def create_experiment_run(svc: ExperimentsDep, body: s.ExperimentRunCreate) -> Response:
    values, props = body_in(svc, RUN.name, body)
    return one(svc.create_run(values, props or {}), 201)


@router.get("/experiment_run", response_model=s.ExperimentRun, tags=["ExperimentRun"])
def find_experiment_run(
    svc: RegistryDep, name: NameQuery = None, externalId: ExternalIdQuery = None, parentResourceId: ParentQuery = None
) -> Response:
    return one(svc.find(RUN, name, externalId, id_of(parentResourceId, EXP.label)))


@router.get("/experiment_runs/metric_history", response_model=s.MetricList, tags=["ExperimentRun"])
def get_experiment_runs_metric_history(
    svc: ExperimentsDep, q: ListDep, name: MetricNameQuery = None, stepIds: StepIdsQuery = None
) -> Response:
    return many(*svc.metric_history(q.page, q.filter, None, name, stepIds), q.page)


@router.get("/experiment_runs/{experimentrunId}", response_model=s.ExperimentRun, tags=["ExperimentRun"])
def get_experiment_run(svc: RegistryDep, experimentrunId: PathId) -> Response:
    return one(svc.get(RUN, parse_id(experimentrunId, RUN.label)))


@router.patch("/experiment_runs/{experimentrunId}", response_model=s.ExperimentRun, tags=["ExperimentRun"])
def update_experiment_run(svc: ExperimentsDep, experimentrunId: PathId, body: s.ExperimentRunUpdate) -> Response:
    values, props = body_in(svc, RUN.name, body)
    return one(svc.update_run(parse_id(experimentrunId, RUN.label), values, props))


@router.get("/experiment_runs/{experimentrunId}/artifacts", response_model=s.ArtifactList, tags=["ExperimentRun"])
def get_experiment_run_artifacts(
    svc: RegistryDep,
    experimentrunId: PathId,
    q: ListDep,
    name: NameQuery = None,
    externalId: ExternalIdQuery = None,
    artifactType: ArtifactTypeQuery = None,
) -> Response:
    parent = ("experiment_run", parse_id(experimentrunId, RUN.label))
    return many(*svc.list_artifacts(q.page, q.filter, artifactType, parent, name, externalId), q.page)


@router.post(
    "/experiment_runs/{experimentrunId}/artifacts",
    status_code=201,
    response_model=s.Artifact,
    responses={200: {"model": s.Artifact, "description": "An existing artifact was updated."}},
    tags=["ExperimentRun"],
)
def upsert_experiment_run_artifact(
    svc: RegistryDep, experimentrunId: PathId, body: Annotated[s.Artifact, Body()]
) -> Response:
    return upsert(svc, "experiment_run", parse_id(experimentrunId, RUN.label), body)


@router.get("/experiment_runs/{experimentrunId}/metric_history", response_model=s.MetricList, tags=["ExperimentRun"])
def get_experiment_run_metric_history(
    svc: ExperimentsDep, experimentrunId: PathId, q: ListDep, name: MetricNameQuery = None, stepIds: StepIdsQuery = None
) -> Response:
    return many(*svc.metric_history(q.page, q.filter, parse_id(experimentrunId, RUN.label), name, stepIds), q.page)

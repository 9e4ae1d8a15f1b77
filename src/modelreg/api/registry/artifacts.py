"""Artifacts of every type, model artifacts, and the artifacts of model versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query
from starlette.responses import Response

from modelreg.api.deps import RegistryDep
from modelreg.api.registry import schemas as s
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
from modelreg.services.registry import RegistryService

router = RegistryRouter(responses=ERRORS)
A = e.ARTIFACT
ArtifactTypeQuery = Annotated[s.ArtifactType | None, Query()]


def upsert(svc: RegistryService, parent_kind: str, parent_id: int, body: s.Artifact) -> Response:
    """POST .../artifacts of a version or run: 201 when an artifact was created, 200 when one was updated."""
    values, props = body_in(svc, A.name, body, body.artifactType)
    record, created = svc.upsert_artifact(
        parent_kind, parent_id, body.artifactType, values, props, id_of(body.id, A.label)
    )
    return one(record, 201 if created else 200)


@router.get("/artifacts", response_model=s.ArtifactList, tags=["Artifact"])
def get_artifacts(svc: RegistryDep, q: ListDep, artifactType: ArtifactTypeQuery = None) -> Response:
    return many(*svc.list_artifacts(q.page, q.filter, artifactType), q.page)


@router.post("/artifacts", status_code=201, response_model=s.Artifact, tags=["Artifact"])
def create_artifact(svc: RegistryDep, body: Annotated[s.ArtifactCreate, Body()]) -> Response:
    values, props = body_in(svc, A.name, body, body.artifactType)
    return one(svc.create_artifact(body.artifactType, values, props or {}), 201)


@router.get("/artifact", response_model=s.Artifact, tags=["Artifact"])
def find_artifact(
    svc: RegistryDep, name: NameQuery = None, externalId: ExternalIdQuery = None, parentResourceId: ParentQuery = None
) -> Response:
    return one(svc.find_artifact(name, externalId, id_of(parentResourceId, "parent")))


@router.get("/artifacts/{id}", response_model=s.Artifact, tags=["Artifact"])
def get_artifact(svc: RegistryDep, id: PathId) -> Response:
    return one(svc.get_artifact(parse_id(id, A.label)))


@router.patch("/artifacts/{id}", response_model=s.Artifact, tags=["Artifact"])
def update_artifact(svc: RegistryDep, id: PathId, body: Annotated[s.ArtifactUpdate, Body()]) -> Response:
    values, props = body_in(svc, A.name, body, body.artifactType)
    return one(svc.update_artifact(parse_id(id, A.label), body.artifactType, values, props))


@router.get("/model_artifacts", response_model=s.ModelArtifactList, tags=["ModelArtifact"])
def get_model_artifacts(svc: RegistryDep, q: ListDep) -> Response:
    return many(*svc.list_artifacts(q.page, q.filter, "model-artifact"), q.page)


@router.post("/model_artifacts", status_code=201, response_model=s.ModelArtifact, tags=["ModelArtifact"])
def create_model_artifact(svc: RegistryDep, body: s.ModelArtifactCreate) -> Response:
    values, props = body_in(svc, A.name, body, "model-artifact")
    return one(svc.create_artifact("model-artifact", values, props or {}), 201)


@router.get("/model_artifact", response_model=s.ModelArtifact, tags=["ModelArtifact"])
def find_model_artifact(
    svc: RegistryDep, name: NameQuery = None, externalId: ExternalIdQuery = None, parentResourceId: ParentQuery = None
) -> Response:
    return one(svc.find_artifact(name, externalId, id_of(parentResourceId, "parent"), "model-artifact"))


@router.get("/model_artifacts/{modelartifactId}", response_model=s.ModelArtifact, tags=["ModelArtifact"])
def get_model_artifact(svc: RegistryDep, modelartifactId: PathId) -> Response:
    return one(svc.get_artifact(parse_id(modelartifactId, "model artifact"), "model-artifact"))


@router.patch("/model_artifacts/{modelartifactId}", response_model=s.ModelArtifact, tags=["ModelArtifact"])
def update_model_artifact(svc: RegistryDep, modelartifactId: PathId, body: s.ModelArtifactUpdate) -> Response:
    values, props = body_in(svc, A.name, body, "model-artifact")
    return one(
        svc.update_artifact(parse_id(modelartifactId, "model artifact"), None, values, props, typed_endpoint=True)
    )


@router.get("/model_versions/{modelversionId}/artifacts", response_model=s.ArtifactList, tags=["ModelVersion"])
def get_model_version_artifacts(
    svc: RegistryDep,
    modelversionId: PathId,
    q: ListDep,
    name: NameQuery = None,
    externalId: ExternalIdQuery = None,
    artifactType: ArtifactTypeQuery = None,
) -> Response:
    parent = ("model_version", parse_id(modelversionId, e.MODEL_VERSION.label))
    return many(*svc.list_artifacts(q.page, q.filter, artifactType, parent, name, externalId), q.page)


@router.post(
    "/model_versions/{modelversionId}/artifacts",
    status_code=201,
    response_model=s.Artifact,
    responses={200: {"model": s.Artifact, "description": "An existing artifact was updated."}},
    tags=["ModelVersion"],
)
def upsert_model_version_artifact(
    svc: RegistryDep, modelversionId: PathId, body: Annotated[s.Artifact, Body()]
) -> Response:
    return upsert(svc, "model_version", parse_id(modelversionId, e.MODEL_VERSION.label), body)

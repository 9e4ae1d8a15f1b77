"""Registered models and model versions."""

from __future__ import annotations

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

router = RegistryRouter(responses=ERRORS)
RM, MV = e.REGISTERED_MODEL, e.MODEL_VERSION


@router.get("/registered_models", response_model=s.RegisteredModelList, tags=["RegisteredModel"])
def get_registered_models(svc: RegistryDep, q: ListDep) -> Response:
    return many(*svc.list_entities(RM, q.page, q.filter), q.page)


@router.post("/registered_models", status_code=201, response_model=s.RegisteredModel, tags=["RegisteredModel"])
def create_registered_model(svc: RegistryDep, body: s.RegisteredModelCreate) -> Response:
    values, props = body_in(svc, RM.name, body)
    return one(svc.create(RM, values, props or {}), 201)


@router.get("/registered_model", response_model=s.RegisteredModel, tags=["RegisteredModel"])
def find_registered_model(svc: RegistryDep, name: NameQuery = None, externalId: ExternalIdQuery = None) -> Response:
    return one(svc.find(RM, name, externalId))


@router.get("/registered_models/{registeredmodelId}", response_model=s.RegisteredModel, tags=["RegisteredModel"])
def get_registered_model(svc: RegistryDep, registeredmodelId: PathId) -> Response:
    return one(svc.get(RM, parse_id(registeredmodelId, RM.label)))


@router.patch("/registered_models/{registeredmodelId}", response_model=s.RegisteredModel, tags=["RegisteredModel"])
def update_registered_model(svc: RegistryDep, registeredmodelId: PathId, body: s.RegisteredModelUpdate) -> Response:
    values, props = body_in(svc, RM.name, body)
    return one(svc.update(RM, parse_id(registeredmodelId, RM.label), values, props))


@router.get(
    "/registered_models/{registeredmodelId}/versions", response_model=s.ModelVersionList, tags=["RegisteredModel"]
)
def get_registered_model_versions(
    svc: RegistryDep, registeredmodelId: PathId, q: ListDep, name: NameQuery = None, externalId: ExternalIdQuery = None
) -> Response:
    rm_id = parse_id(registeredmodelId, RM.label)
    return many(
        *svc.list_entities(
            MV,
            q.page,
            q.filter,
            registered_model_id=rm_id,
            name=name,
            external_id=externalId,
        ),
        q.page,
    )


@router.post(
    "/registered_models/{registeredmodelId}/versions",
    status_code=201,
    response_model=s.ModelVersion,
    tags=["RegisteredModel"],
)
def create_registered_model_version(svc: RegistryDep, registeredmodelId: PathId, body: s.ModelVersion) -> Response:
    values, props = body_in(svc, MV.name, body)
    values["registered_model_id"] = parse_id(registeredmodelId, RM.label)
    return one(svc.create_model_version(values, props or {}, id_of(body.id, MV.label)), 201)


@router.get("/model_versions", response_model=s.ModelVersionList, tags=["ModelVersion"])
def get_model_versions(svc: RegistryDep, q: ListDep) -> Response:
    return many(*svc.list_entities(MV, q.page, q.filter), q.page)


@router.post("/model_versions", status_code=201, response_model=s.ModelVersion, tags=["ModelVersion"])
def create_model_version(svc: RegistryDep, body: s.ModelVersionCreate) -> Response:
    values, props = body_in(svc, MV.name, body)
    return one(svc.create_model_version(values, props or {}), 201)


@router.get("/model_version", response_model=s.ModelVersion, tags=["ModelVersion"])
def find_model_version(
    svc: RegistryDep, name: NameQuery = None, externalId: ExternalIdQuery = None, parentResourceId: ParentQuery = None
) -> Response:
    return one(svc.find(MV, name, externalId, id_of(parentResourceId, RM.label)))


@router.get("/model_versions/{modelversionId}", response_model=s.ModelVersion, tags=["ModelVersion"])
def get_model_version(svc: RegistryDep, modelversionId: PathId) -> Response:
    return one(svc.get(MV, parse_id(modelversionId, MV.label)))


@router.patch("/model_versions/{modelversionId}", response_model=s.ModelVersion, tags=["ModelVersion"])
def update_model_version(svc: RegistryDep, modelversionId: PathId, body: s.ModelVersionUpdate) -> Response:
    values, props = body_in(svc, MV.name, body)
    return one(svc.update(MV, parse_id(modelversionId, MV.label), values, props))

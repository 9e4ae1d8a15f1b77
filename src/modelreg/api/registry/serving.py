"""Serving environments, inference services and the models they serve."""

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
SE, IS, SM = e.SERVING_ENVIRONMENT, e.INFERENCE_SERVICE, e.SERVE_MODEL


@router.get("/serving_environments", response_model=s.ServingEnvironmentList, tags=["ServingEnvironment"])
def get_serving_environments(svc: RegistryDep, q: ListDep) -> Response:
    return many(*svc.list_entities(SE, q.page, q.filter), q.page)


@router.post("/serving_environments", status_code=201, response_model=s.ServingEnvironment, tags=["ServingEnvironment"])
def create_serving_environment(svc: RegistryDep, body: s.ServingEnvironmentCreate) -> Response:
    values, props = body_in(svc, SE.name, body)
    return one(svc.create(SE, values, props or {}), 201)


@router.get("/serving_environment", response_model=s.ServingEnvironment, tags=["ServingEnvironment"])
def find_serving_environment(svc: RegistryDep, name: NameQuery = None, externalId: ExternalIdQuery = None) -> Response:
    return one(svc.find(SE, name, externalId))


@router.get(
    "/serving_environments/{servingenvironmentId}", response_model=s.ServingEnvironment, tags=["ServingEnvironment"]
)
def get_serving_environment(svc: RegistryDep, servingenvironmentId: PathId) -> Response:
    return one(svc.get(SE, parse_id(servingenvironmentId, SE.label)))


@router.patch(
    "/serving_environments/{servingenvironmentId}", response_model=s.ServingEnvironment, tags=["ServingEnvironment"]
)
def update_serving_environment(
    svc: RegistryDep, servingenvironmentId: PathId, body: s.ServingEnvironmentUpdate
) -> Response:
    values, props = body_in(svc, SE.name, body)
    return one(svc.update(SE, parse_id(servingenvironmentId, SE.label), values, props))


@router.get(
    "/serving_environments/{servingenvironmentId}/inference_services",
    response_model=s.InferenceServiceList,
    tags=["ServingEnvironment"],
)
def get_environment_inference_services(
    svc: RegistryDep,
    servingenvironmentId: PathId,
    q: ListDep,
    name: NameQuery = None,
    externalId: ExternalIdQuery = None,
) -> Response:
    se_id = parse_id(servingenvironmentId, SE.label)
    return many(
        *svc.list_entities(
            IS,
            q.page,
            q.filter,
            serving_environment_id=se_id,
            name=name,
            external_id=externalId,
        ),
        q.page,
    )


@router.post(
    "/serving_environments/{servingenvironmentId}/inference_services",
    status_code=201,
    response_model=s.InferenceService,
    tags=["ServingEnvironment"],
)
def create_environment_inference_service(
    svc: RegistryDep, servingenvironmentId: PathId, body: s.InferenceServiceCreate
) -> Response:
    values, props = body_in(svc, IS.name, body)
    values["serving_environment_id"] = parse_id(servingenvironmentId, SE.label)
    return one(svc.create_inference_service(values, props or {}), 201)


@router.get("/inference_services", response_model=s.InferenceServiceList, tags=["InferenceService"])
def get_inference_services(svc: RegistryDep, q: ListDep) -> Response:
    return many(*svc.list_entities(IS, q.page, q.filter), q.page)


@router.post("/inference_services", status_code=201, response_model=s.InferenceService, tags=["InferenceService"])
def create_inference_service(svc: RegistryDep, body: s.InferenceServiceCreate) -> Response:
    values, props = body_in(svc, IS.name, body)
    return one(svc.create_inference_service(values, props or {}), 201)


@router.get("/inference_service", response_model=s.InferenceService, tags=["InferenceService"])
def find_inference_service(
    svc: RegistryDep, name: NameQuery = None, externalId: ExternalIdQuery = None, parentResourceId: ParentQuery = None
) -> Response:
    return one(svc.find(IS, name, externalId, id_of(parentResourceId, SE.label)))


@router.get("/inference_services/{inferenceserviceId}", response_model=s.InferenceService, tags=["InferenceService"])
def get_inference_service(svc: RegistryDep, inferenceserviceId: PathId) -> Response:
    return one(svc.get(IS, parse_id(inferenceserviceId, IS.label)))


@router.patch("/inference_services/{inferenceserviceId}", response_model=s.InferenceService, tags=["InferenceService"])
def update_inference_service(svc: RegistryDep, inferenceserviceId: PathId, body: s.InferenceServiceUpdate) -> Response:
    values, props = body_in(svc, IS.name, body)
    return one(svc.update_inference_service(parse_id(inferenceserviceId, IS.label), values, props))


@router.get(
    "/inference_services/{inferenceserviceId}/model", response_model=s.RegisteredModel, tags=["InferenceService"]
)
def get_inference_service_model(svc: RegistryDep, inferenceserviceId: PathId) -> Response:
    service = svc.get(IS, parse_id(inferenceserviceId, IS.label))
    return one(svc.get(e.REGISTERED_MODEL, service.row["registered_model_id"]))


@router.get(
    "/inference_services/{inferenceserviceId}/version", response_model=s.ModelVersion, tags=["InferenceService"]
)
def get_inference_service_version(svc: RegistryDep, inferenceserviceId: PathId) -> Response:
    return one(svc.inference_service_version(parse_id(inferenceserviceId, IS.label)))


@router.get(
    "/inference_services/{inferenceserviceId}/serves", response_model=s.ServeModelList, tags=["InferenceService"]
)
def get_inference_service_serves(
    svc: RegistryDep, inferenceserviceId: PathId, q: ListDep, name: NameQuery = None, externalId: ExternalIdQuery = None
) -> Response:
    is_id = parse_id(inferenceserviceId, IS.label)
    return many(
        *svc.list_entities(
            SM,
            q.page,
            q.filter,
            inference_service_id=is_id,
            name=name,
            external_id=externalId,
        ),
        q.page,
    )


@router.post(
    "/inference_services/{inferenceserviceId}/serves",
    status_code=201,
    response_model=s.ServeModel,
    tags=["InferenceService"],
)
def create_inference_service_serve(svc: RegistryDep, inferenceserviceId: PathId, body: s.ServeModelCreate) -> Response:
    values, props = body_in(svc, SM.name, body)
    return one(svc.create_serve_model(parse_id(inferenceserviceId, IS.label), values, props or {}), 201)

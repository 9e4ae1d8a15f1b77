"""Wire models of the Kubeflow Model Registry API, shared by both API prefixes.

Field names are the wire names (camelCase), so no aliases are needed. Create/Update bodies are strict
(unknown field -> 400), as the reference server decodes them; the artifact oneOf bodies are lenient because the
upstream Python client sends whole artifacts back (ids, timestamps, experimentId) to the upsert endpoints.
Responses are built as plain dicts by ``modelreg/wire.py``; the output models here document them in ``/openapi.json``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

Id = Annotated[str, Field(pattern=r"^[0-9]{1,18}$", examples=["1"])]
Name = Annotated[str, Field(min_length=1)]
Millis = Annotated[str, Field(pattern=r"^-?[0-9]{1,19}$", examples=["1700000000000"])]

RegisteredModelState = Literal["LIVE", "ARCHIVED"]
ModelVersionState = Literal["LIVE", "ARCHIVED"]
ExperimentState = Literal["LIVE", "ARCHIVED"]
ExperimentRunState = Literal["LIVE", "ARCHIVED"]
ExperimentRunStatus = Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
ArtifactState = Literal["UNKNOWN", "PENDING", "LIVE", "MARKED_FOR_DELETION", "DELETED", "ABANDONED", "REFERENCE"]
InferenceServiceState = Literal["DEPLOYED", "UNDEPLOYED"]
ExecutionState = Literal["UNKNOWN", "NEW", "RUNNING", "COMPLETE", "FAILED", "CACHED", "CANCELED"]
ParameterType = Literal["string", "number", "boolean", "object"]
ArtifactType = Literal["model-artifact", "doc-artifact", "dataset-artifact", "metric", "parameter"]
OrderByField = Literal["CREATE_TIME", "LAST_UPDATE_TIME", "ID"]
SortOrder = Literal["ASC", "DESC"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- custom property values -----------------------------------------------------------------------------------


class MetadataStringValue(_Lenient):
    metadataType: Literal["MetadataStringValue"]
    string_value: str


class MetadataIntValue(_Lenient):
    metadataType: Literal["MetadataIntValue"]
    int_value: Annotated[str, Field(pattern=r"^-?[0-9]{1,19}$", description="int64 as a decimal string")]


class MetadataDoubleValue(_Lenient):
    metadataType: Literal["MetadataDoubleValue"]
    double_value: FiniteFloat  # NaN and infinities (also 1e400) would be returned as null: refused at input


class MetadataBoolValue(_Lenient):
    metadataType: Literal["MetadataBoolValue"]
    bool_value: bool


class MetadataStructValue(_Lenient):
    metadataType: Literal["MetadataStructValue"]
    struct_value: Annotated[str, Field(description="base64 of a JSON object; stored and returned unchanged")]


class MetadataProtoValue(_Lenient):
    metadataType: Literal["MetadataProtoValue"]
    type: str
    proto_value: str


MetadataValue = Annotated[
    MetadataStringValue
    | MetadataIntValue
    | MetadataDoubleValue
    | MetadataBoolValue
    | MetadataStructValue
    | MetadataProtoValue,
    Field(discriminator="metadataType"),
]
CustomProperties = dict[str, MetadataValue]


# --- shared parts ----------------------------------------------------------------------------------------------


class _Updatable(_Strict):
    customProperties: CustomProperties | None = None
    description: str | None = None
    externalId: str | None = None


class _Output(BaseModel):
    id: Id | None = None
    createTimeSinceEpoch: Millis | None = None
    lastUpdateTimeSinceEpoch: Millis | None = None


class _BaseModelFields(BaseModel):
    readme: str | None = None
    maturity: str | None = None
    language: list[str] | None = None
    tasks: list[str] | None = None
    provider: str | None = None
    logo: str | None = None
    license: str | None = None
    licenseLink: str | None = None
    libraryName: str | None = None


# --- registered models -----------------------------------------------------------------------------------------


class RegisteredModelUpdate(_Updatable, _BaseModelFields):
    owner: str | None = None
    state: RegisteredModelState | None = None


class RegisteredModelCreate(RegisteredModelUpdate):
    name: Name


class RegisteredModel(RegisteredModelCreate, _Output):
    pass


# --- model versions --------------------------------------------------------------------------------------------


class ModelVersionUpdate(_Updatable):
    state: ModelVersionState | None = None
    author: str | None = None


class ModelVersionCreate(ModelVersionUpdate):
    name: Name
    registeredModelId: Id


class ModelVersion(ModelVersionCreate, _Output):
    """Also the body of ``POST /registered_models/{id}/versions``: a body ``id`` updates that version."""


# --- artifacts -------------------------------------------------------------------------------------------------


class _ArtifactUpdate(_Updatable):
    state: ArtifactState | None = None


class _ArtifactOutput(_Output):
    experimentId: Id | None = None
    experimentRunId: Id | None = None


class _UriArtifactUpdate(_ArtifactUpdate):
    uri: str | None = None


class _ModelArtifactFields(BaseModel):
    modelFormatName: str | None = None
    modelFormatVersion: str | None = None
    storageKey: str | None = None
    storagePath: str | None = None
    serviceAccountName: str | None = None
    modelSourceKind: str | None = None
    modelSourceClass: str | None = None
    modelSourceGroup: str | None = None
    modelSourceId: str | None = None
    modelSourceName: str | None = None


class _DataSetFields(BaseModel):
    digest: str | None = None
    sourceType: str | None = None
    source: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None

    model_config = ConfigDict(populate_by_name=True)


class _MetricFields(BaseModel):
    value: FiniteFloat | None = None
    timestamp: Millis | None = None
    step: int | None = None


class _ParameterFields(BaseModel):
    value: str | None = None
    parameterType: ParameterType | None = None


class ModelArtifactUpdate(_UriArtifactUpdate, _ModelArtifactFields):
    artifactType: str | None = "model-artifact"  # free text in the spec; the typed endpoints ignore it


class ModelArtifactCreate(ModelArtifactUpdate):
    name: str | None = None


# The oneOf members below (and the output models) require ``artifactType``: the discriminator picks the member,
# so a body without it is refused whatever the member says; the schema says so too.


class ModelArtifact(_Lenient, ModelArtifactCreate, _ArtifactOutput):
    artifactType: Literal["model-artifact"]


class DocArtifactUpdate(_UriArtifactUpdate):
    artifactType: Literal["doc-artifact"]


class DocArtifactCreate(DocArtifactUpdate):
    name: str | None = None


class DocArtifact(_Lenient, DocArtifactCreate, _ArtifactOutput):
    artifactType: Literal["doc-artifact"]


class DataSetUpdate(_UriArtifactUpdate, _DataSetFields):
    artifactType: Literal["dataset-artifact"]


class DataSetCreate(DataSetUpdate):
    name: str | None = None


class DataSet(_Lenient, DataSetCreate, _ArtifactOutput):
    artifactType: Literal["dataset-artifact"]


class MetricUpdate(_ArtifactUpdate, _MetricFields):
    artifactType: Literal["metric"]


def _value_required(schema: dict[str, Any]) -> None:
    schema.setdefault("required", []).append("value")


class MetricCreate(MetricUpdate):
    """A new metric needs its ``value`` (the server checks it: an upsert may update an existing metric)."""

    model_config = ConfigDict(json_schema_extra=_value_required)
    name: str | None = None


class Metric(_Lenient, MetricCreate, _ArtifactOutput):
    artifactType: Literal["metric"]


class ParameterUpdate(_ArtifactUpdate, _ParameterFields):
    artifactType: Literal["parameter"]


class ParameterCreate(ParameterUpdate):
    name: str | None = None


class Parameter(_Lenient, ParameterCreate, _ArtifactOutput):
    artifactType: Literal["parameter"]


class _LenientModelArtifactUpdate(_Lenient, ModelArtifactUpdate):
    artifactType: Literal["model-artifact"]


class _LenientModelArtifactCreate(_Lenient, ModelArtifactCreate):
    artifactType: Literal["model-artifact"]


Artifact = Annotated[
    ModelArtifact | DocArtifact | DataSet | Metric | Parameter,
    Field(discriminator="artifactType"),
]
ArtifactCreate = Annotated[
    _LenientModelArtifactCreate | DocArtifactCreate | DataSetCreate | MetricCreate | ParameterCreate,
    Field(discriminator="artifactType"),
]
ArtifactUpdate = Annotated[
    _LenientModelArtifactUpdate | DocArtifactUpdate | DataSetUpdate | MetricUpdate | ParameterUpdate,
    Field(discriminator="artifactType"),
]


# --- serving ---------------------------------------------------------------------------------------------------


class ServingEnvironmentUpdate(_Updatable):
    pass


class ServingEnvironmentCreate(ServingEnvironmentUpdate):
    name: Name


class ServingEnvironment(ServingEnvironmentCreate, _Output):
    pass


class InferenceServiceUpdate(_Updatable):
    modelVersionId: Id | None = None
    runtime: str | None = None
    desiredState: InferenceServiceState | None = None


class InferenceServiceCreate(InferenceServiceUpdate):
    name: str | None = None
    registeredModelId: Id
    servingEnvironmentId: Id


class InferenceService(InferenceServiceCreate, _Output):
    pass


class ServeModelUpdate(_Updatable):
    lastKnownState: ExecutionState | None = None


class ServeModelCreate(ServeModelUpdate):
    name: str | None = None
    modelVersionId: Id


class ServeModel(ServeModelCreate, _Output):
    pass


# --- experiments -----------------------------------------------------------------------------------------------


class ExperimentUpdate(_Updatable):
    owner: str | None = None
    state: ExperimentState | None = None


class ExperimentCreate(ExperimentUpdate):
    name: Name


class Experiment(ExperimentCreate, _Output):
    pass


class ExperimentRunUpdate(_Updatable):
    endTimeSinceEpoch: Millis | None = None
    status: ExperimentRunStatus | None = None
    state: ExperimentRunState | None = None
    owner: str | None = None


class ExperimentRunCreate(ExperimentRunUpdate):
    name: str | None = None
    experimentId: Id
    startTimeSinceEpoch: Millis | None = None


class ExperimentRun(ExperimentRunCreate, _Output):
    """Also the body of ``POST /experiments/{id}/experiment_runs``: a body ``id`` updates that run."""


# --- lists and errors ------------------------------------------------------------------------------------------


class _List(BaseModel):
    nextPageToken: str
    pageSize: int
    size: int


class RegisteredModelList(_List):
    items: list[RegisteredModel]


class ModelVersionList(_List):
    items: list[ModelVersion]


class ArtifactList(_List):
    items: list[Artifact]


class ModelArtifactList(_List):
    items: list[ModelArtifact]


class ServingEnvironmentList(_List):
    items: list[ServingEnvironment]


class InferenceServiceList(_List):
    items: list[InferenceService]


class ServeModelList(_List):
    items: list[ServeModel]


class ExperimentList(_List):
    items: list[Experiment]


class ExperimentRunList(_List):
    items: list[ExperimentRun]


class MetricList(_List):
    items: list[Metric]


class Error(BaseModel):
    code: str
    message: str

"""The catalog API's handlers: parse the parameters, call ``CatalogService`` once, convert (convert.py).

The service works in memory, so the handlers are ``async`` and run on the event loop (no thread hop). Parameters
arrive as strings and are checked here or by the service, so every bad value is a 400 with a message, as the
reference answers (``pageSize must be at least 1, got x``), never a validation 422 or a 500.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from modelreg.api.catalog import convert
from modelreg.catalog.params import ArtifactQuery, ModelQuery
from modelreg.catalog.service import CatalogService
from modelreg.catalog.tokens import INVALID
from modelreg.errors import InvalidInput

router = APIRouter(tags=["ModelCatalogService"])
Strings = Annotated[list[str] | None, Query()]
Text = Annotated[str | None, Query()]


def _schema(description: str, **schema: Any) -> Any:
    """A query parameter whose /openapi.json schema says which values work, without pydantic checking them: the
    handler parses the value, so a bad one gets the reference's 400 message rather than a validation 422."""
    return Query(description=description, json_schema_extra=schema)


_VALUE = r"\.(string|int|double|bool)_value"
PageSize = Annotated[str | None, _schema("Items per page: 10 by default, at most 1000.", pattern=r"^[1-9][0-9]{0,8}$")]
PageToken = Annotated[str | None, _schema("The nextPageToken of the previous page, unchanged.")]
SortOrder = Annotated[str | None, _schema("ASC (default) or DESC.", enum=["ASC", "DESC"])]
AssetType = Annotated[str | None, _schema("models (default) or mcp_servers.", enum=["models", "mcp_servers"])]
FilterQuery = Annotated[
    str | None, _schema("A SQL-like filter (see docs/catalog.md, filterQuery).", pattern=r"^[\x20-\x7E]*$")
]
SourceOrderBy = Annotated[str | None, _schema("ID (default) or NAME.", enum=["ID", "NAME"])]
ModelOrderBy = Annotated[
    str | None,
    _schema(
        "NAME (default), ID, CREATE_TIME, LAST_UPDATE_TIME, ACCURACY, <property>.<type>_value or "
        "artifacts.<property>.<type>_value.",
        pattern=rf"^(NAME|ID|CREATE_TIME|LAST_UPDATE_TIME|ACCURACY|[^.]+(\.[^.]+)*{_VALUE})$",
    ),
]
ArtifactOrderBy = Annotated[
    str | None,
    _schema(
        "ID (default), NAME, CREATE_TIME, LAST_UPDATE_TIME or <property>.<type>_value; a name without a value type "
        "orders by ID.",
        pattern=rf"^([^.]*|.+{_VALUE})$",
    ),
]
Flag = Annotated[str | None, _schema("true or false (default).", enum=["true", "false"])]
ArtifactTypes = Annotated[
    list[str] | None,
    Query(
        description="model-artifact or metrics-artifact; several allowed.",
        json_schema_extra={"items": {"type": "string", "enum": ["model-artifact", "metrics-artifact"]}},
    ),
]


async def _catalog(request: Request) -> CatalogService:
    catalog: CatalogService = request.app.state.catalog
    return catalog


CatalogDep = Annotated[CatalogService, Depends(_catalog)]


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def _split(values: list[str] | None) -> tuple[str, ...]:
    """Repeated parameters and comma-separated lists alike (``source=a,b`` or ``source=a&source=b``)."""
    return tuple(part.strip() for value in values or () for part in value.split(",") if part.strip())


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return 10
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"pageSize must be at least 1, got {raw}") from None


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise InvalidInput(f"invalid value '{raw}' for {name} (true or false)")


def _given(raw: str | None) -> str | None:
    """An empty parameter (``sortOrder=``) is one not given: the default applies, as for pageSize."""
    return raw or None


@router.get("/sources", summary="List All CatalogSources")
async def find_sources(
    catalog: CatalogDep,
    name: Text = None,
    assetType: AssetType = None,
    pageSize: PageSize = None,
    orderBy: SourceOrderBy = None,
    sortOrder: SortOrder = None,
    nextPageToken: PageToken = None,
) -> Response:
    found = catalog.sources(
        name, _given(orderBy), _given(sortOrder), _page_size(pageSize), nextPageToken, asset_type=_given(assetType)
    )
    return _json(convert.page(found, convert.source))


# The form is parsed here (config may be a file or a plain field), so the schema is declared by hand.
_PREVIEW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["config"],
                    "properties": {
                        "config": {"type": "string", "format": "binary", "description": "The source's YAML."},
                        "catalogData": {
                            "type": "string",
                            "format": "binary",
                            "description": "Catalog YAML to read the models from instead of yamlCatalogPath.",
                        },
                    },
                }
            }
        },
    }
}


@router.post("/sources/preview", summary="Preview catalog source configuration", openapi_extra=_PREVIEW_BODY)
async def preview_source(
    catalog: CatalogDep,
    request: Request,
    filterStatus: Annotated[
        str | None, _schema("all (default), included or excluded.", enum=["all", "included", "excluded"])
    ] = None,
    pageSize: PageSize = None,
    nextPageToken: PageToken = None,
) -> Response:
    async with request.form() as form:
        config = await _form_text(form.get("config"))
        catalog_data = await _form_text(form.get("catalogData"))
    if config is None:
        raise InvalidInput("config is required: a multipart/form-data field holding the source's YAML")
    size = _page_size(pageSize)
    return _json(catalog.preview(config, catalog_data, filterStatus or "all", size, nextPageToken))


async def _form_text(value: UploadFile | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raw = await value.read()
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise InvalidInput(f"{value.filename or 'a form file'} is not UTF-8 text") from None


@router.get("/models", summary="Search catalog models across sources.")
async def find_models(
    catalog: CatalogDep,
    source: Strings = None,
    sourceLabel: Strings = None,
    q: Text = None,
    filterQuery: FilterQuery = None,
    orderBy: ModelOrderBy = None,
    sortOrder: SortOrder = None,
    pageSize: PageSize = None,
    nextPageToken: PageToken = None,
    recommendations: Flag = None,
    latencyProperty: Text = None,
    targetRPS: Text = None,  # accepted for the contract; the simplified recommendation does not use it
    rpsProperty: Text = None,
    hardwareCountProperty: Text = None,
    hardwareTypeProperty: Text = None,
) -> Response:
    query = ModelQuery(
        sources=_split(source),
        source_labels=_split(sourceLabel),
        q=q,
        filter_query=filterQuery,
        order_by=_given(orderBy),
        sort_order=_given(sortOrder),
        page_size=_page_size(pageSize),
        page_token=nextPageToken,
        recommendations=_flag(recommendations, "recommendations"),
        latency_property=latencyProperty,
    )
    return _json(convert.page(catalog.find_models(query), convert.model))


@router.get("/models/filter_options", summary="Fields and values for filterQuery on /models.")
async def filter_options(catalog: CatalogDep) -> Response:
    return _json(catalog.filter_options())


@router.get("/labels", summary="List All CatalogLabels")
async def find_labels(
    catalog: CatalogDep,
    assetType: AssetType = None,
    orderBy: Annotated[str | None, _schema("A label key: labels with a string value for it first, by it.")] = None,
    sortOrder: SortOrder = None,
    pageSize: PageSize = None,
    nextPageToken: PageToken = None,
) -> Response:
    labels = catalog.labels(_given(assetType), orderBy)
    order = _given(sortOrder)
    if order is not None and order.upper() == "DESC":
        labels = labels[::-1]
    elif order is not None and order.upper() != "ASC":
        raise InvalidInput(f"unsupported sort order: {sortOrder} (ASC or DESC)")
    _page_size(pageSize)  # checked, then ignored: the labels of a sources file come as one page
    if nextPageToken:  # this list never issues one
        raise InvalidInput(INVALID)
    items = [convert.label(label) for label in labels]
    return _json({"items": items, "size": len(items), "pageSize": len(items), "nextPageToken": ""})


# A model name may contain "/": a path ending in /artifacts or /artifacts/performance is the artifacts of the
# model before it (as the reference routes), so those two routes come first.


@router.get("/sources/{source_id}/models/{model_name:path}/artifacts/performance", summary="List CatalogArtifacts.")
async def performance_artifacts(
    catalog: CatalogDep,
    source_id: str,
    model_name: str,
    filterQuery: FilterQuery = None,
    orderBy: ArtifactOrderBy = None,
    sortOrder: SortOrder = None,
    pageSize: PageSize = None,
    nextPageToken: PageToken = None,
    targetRPS: Text = None,  # accepted for the contract, not used
    recommendations: Text = None,
    rpsProperty: Text = None,
    latencyProperty: Text = None,
    hardwareCountProperty: Text = None,
    hardwareTypeProperty: Text = None,
) -> Response:
    query = ArtifactQuery(
        filter_query=filterQuery,
        order_by=_given(orderBy),
        sort_order=_given(sortOrder),
        page_size=_page_size(pageSize),
        page_token=nextPageToken,
        performance_only=True,
    )
    return _json(convert.page(catalog.artifacts(source_id, model_name, query), convert.artifact))


@router.get("/sources/{source_id}/models/{model_name:path}/artifacts", summary="List CatalogArtifacts.")
async def artifacts(
    catalog: CatalogDep,
    source_id: str,
    model_name: str,
    artifactType: ArtifactTypes = None,
    artifact_type: ArtifactTypes = None,
    filterQuery: FilterQuery = None,
    orderBy: ArtifactOrderBy = None,
    sortOrder: SortOrder = None,
    pageSize: PageSize = None,
    nextPageToken: PageToken = None,
) -> Response:
    query = ArtifactQuery(
        artifact_type=",".join(_split([*(artifactType or ()), *(artifact_type or ())])) or None,
        filter_query=filterQuery,
        order_by=_given(orderBy),
        sort_order=_given(sortOrder),
        page_size=_page_size(pageSize),
        page_token=nextPageToken,
    )
    return _json(convert.page(catalog.artifacts(source_id, model_name, query), convert.artifact))


@router.get("/sources/{source_id}/models/{model_name:path}", summary="Get a `CatalogModel`.")
async def get_model(catalog: CatalogDep, source_id: str, model_name: str) -> Response:
    return _json(convert.model(catalog.get_model(source_id, model_name)))

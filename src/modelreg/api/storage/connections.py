"""``/connections``: create (admin), list, get, delete (admin). No response ever carries a secret (an s3 secret
access key, an oci password or dockerconfig); ``hasSecret`` says whether one is stored."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelreg.api.deps import ConnectionsDep
from modelreg.api.governance.common import requires
from modelreg.api.registry.common import ERRORS, RegistryRouter, json_response
from modelreg.auth.principal import Permission

router = RegistryRouter(responses={**ERRORS, 403: {"model": None, "description": "Forbidden"}})
MANAGE = requires(Permission.MANAGE, "manage data connections")
READ = requires(Permission.READ, "read data connections")
ConnectionName = Annotated[str, Path(min_length=1, max_length=255, description="The connection's name.")]


class ConnectionCreate(BaseModel):
    """A new connection. Which fields apply depends on ``type``; the service says which are missing or extra."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    name: str = Field(min_length=1, max_length=255)
    type: Literal["s3", "uri", "local", "oci"]
    displayName: str | None = Field(
        default=None, min_length=1, max_length=255, description="What people see (default: the name)."
    )
    description: str | None = Field(default=None, max_length=1000)
    # s3
    endpoint: str | None = Field(default=None, max_length=2048, examples=["https://minio.example.com:9000"])
    region: str | None = Field(default=None, max_length=255)
    bucket: str | None = Field(default=None, max_length=63)
    prefix: str | None = Field(default=None, max_length=1024)
    pathStyle: bool = False
    accessKeyId: str | None = Field(default=None, max_length=255)
    secretAccessKey: str | None = Field(
        default=None, max_length=4096, description="Write-only: stored encrypted, never returned."
    )
    useWorkloadIdentity: bool = Field(
        default=False,
        description="Sign with the server's own identity (environment, instance role, IRSA) instead of keys. "
        "Without keys and without this, requests are unsigned (public buckets).",
    )
    # uri
    baseUrl: str | None = Field(default=None, max_length=2048, examples=["https://example.com/models/"])
    # local
    directory: str | None = Field(default=None, max_length=4096)
    # oci
    registry: str | None = Field(
        default=None, max_length=255, description="host[:port], no scheme", examples=["quay.io", "127.0.0.1:5000"]
    )
    repositoryPrefix: str | None = Field(
        default=None, max_length=255, description="The repositories this connection covers (and pushes under)."
    )
    username: str | None = Field(default=None, max_length=255)
    password: str | None = Field(
        default=None, max_length=4096, description="Write-only: stored encrypted, never returned."
    )
    dockerconfig: str | None = Field(
        default=None,
        max_length=65536,
        description='Instead of username/password: a whole .dockerconfigjson (JSON with "auths"). Write-only.',
    )
    plainHttp: bool = Field(default=False, description="Talk to the registry over plain http (default: https).")


@router.get("/connections", tags=["Storage"], dependencies=[READ])
def list_connections(svc: ConnectionsDep) -> Response:
    return json_response({"items": [c.to_dict() for c in svc.list()]})


@router.post("/connections", status_code=201, tags=["Storage"], dependencies=[MANAGE])
def create_connection(
    svc: ConnectionsDep,
    body: ConnectionCreate,
    check: Annotated[
        bool,
        Query(
            description="Reach the store first (endpoint, credentials, bucket, directory or registry); a failure is a "
            "400."
        ),
    ] = True,
) -> Response:
    created = svc.create(
        body.name,
        body.type,
        description=body.description,
        display_name=body.displayName,
        endpoint=body.endpoint,
        region=body.region,
        bucket=body.bucket,
        prefix=body.prefix,
        path_style=body.pathStyle,
        access_key_id=body.accessKeyId,
        secret_access_key=body.secretAccessKey,
        base_url=body.baseUrl,
        directory=body.directory,
        use_workload_identity=body.useWorkloadIdentity,
        registry=body.registry,
        repository_prefix=body.repositoryPrefix,
        username=body.username,
        password=body.password,
        dockerconfig=body.dockerconfig,
        plain_http=body.plainHttp,
        check=check,
    )
    return json_response(created.to_dict(), 201)


@router.get("/connections/{name}", tags=["Storage"], dependencies=[READ])
def get_connection(svc: ConnectionsDep, name: ConnectionName) -> Response:
    return json_response(svc.get(name).to_dict())


@router.delete("/connections/{name}", tags=["Storage"], dependencies=[MANAGE])
def delete_connection(svc: ConnectionsDep, name: ConnectionName) -> Response:
    return json_response(svc.delete(name).to_dict())

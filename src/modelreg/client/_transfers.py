"""Transfer job operations (``/api/storage/v1/transfers``): the server copies a model from a data connection (S3,
http(s), an OCI image) into another (an OCI registry as a ModelCar, or S3) and registers it. The client only asks
and watches: no byte passes through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelreg.client._call import Call, Op, get
from modelreg.client._models import PropertyValue, properties_to_wire
from modelreg.client._ops import Context

TRANSFERS = "/api/storage/v1/transfers"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


@dataclass(frozen=True)
class Transfer:
    """A transfer job as the server reports it; ``raw`` is the whole wire object."""

    id: str
    name: str
    intent: str
    state: str
    uri: str | None
    error: str | None
    cause: str | None
    bytes_done: int
    bytes_total: int | None
    files_done: int
    files_total: int | None
    model_artifact_id: str | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Transfer:
        progress = data.get("progress") or {}
        return cls(
            id=data["id"],
            name=data["name"],
            intent=data["intent"],
            state=data["state"],
            uri=data.get("uri"),
            error=data.get("error"),
            cause=data.get("cause"),
            bytes_done=int(progress.get("bytesDone") or 0),
            bytes_total=progress.get("bytesTotal"),
            files_done=int(progress.get("filesDone") or 0),
            files_total=progress.get("filesTotal"),
            model_artifact_id=(data.get("modelArtifact") or {}).get("id"),
            raw=data,
        )


def _section(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def start_transfer(
    ctx: Context,
    source: dict[str, str],
    destination: dict[str, str],
    *,
    intent: str = "create_model",
    model: str | None = None,
    model_id: str | int | None = None,
    version: str | None = None,
    artifact_id: str | int | None = None,
    description: str | None = None,
    owner: str | None = None,
    version_description: str | None = None,
    author: str | None = None,
    artifact_name: str | None = None,
    artifact_description: str | None = None,
    model_format_name: str | None = None,
    model_format_version: str | None = None,
    model_properties: dict[str, PropertyValue] | None = None,
    version_properties: dict[str, PropertyValue] | None = None,
    artifact_properties: dict[str, PropertyValue] | None = None,
    name: str | None = None,
    display_name: str | None = None,
    runner: str | None = None,
    namespace: str | None = None,
) -> Op[Transfer]:
    """Start a transfer job. ``source``: ``{"type": "s3", "connection": C, "key": K}``, ``{"type": "uri",
    "connection": C, "url": U}`` or ``{"type": "oci", "connection": C, "image": I}``; ``destination``:
    ``{"type": "oci", "connection": C[, "repository", "tag"]}`` or ``{"type": "s3", "connection": C[, "key"]}``.
    The server validates everything before any byte moves; the job then runs in the background."""
    body = _section(
        intent=intent,
        name=name,
        displayName=display_name,
        runner=runner,
        namespace=namespace,
        source=source,
        destination=destination,
        registeredModel=_section(
            name=model,
            id=None if model_id is None else str(model_id),
            description=description,
            owner=owner,
            customProperties=properties_to_wire(model_properties or {}),
        ),
        modelVersion=_section(
            name=version,
            description=version_description,
            author=author or ctx.author,
            customProperties=properties_to_wire(version_properties or {}),
        ),
        modelArtifact=_section(
            id=None if artifact_id is None else str(artifact_id),
            name=artifact_name,
            description=artifact_description,
            modelFormatName=model_format_name,
            modelFormatVersion=model_format_version,
            customProperties=properties_to_wire(artifact_properties or {}),
        ),
    )
    return Transfer.from_wire((yield Call("POST", TRANSFERS, json=body)))


def get_transfer(ctx: Context, ref: str) -> Op[Transfer]:
    """A transfer job by id or name."""
    return Transfer.from_wire((yield get(f"{TRANSFERS}/{ref}")))


def list_transfers(ctx: Context, state: str | None = None, limit: int = 100) -> Op[list[Transfer]]:
    """The newest transfer jobs first; ``state``: only PENDING, RUNNING, COMPLETED, FAILED or CANCELLED ones."""
    answer = yield get(TRANSFERS, state=state, limit=str(limit))
    return [Transfer.from_wire(item) for item in answer["items"]]


def cancel_transfer(ctx: Context, ref: str) -> Op[Transfer]:
    """Cancel: a pending job at once, a running one at its next block (nothing gets registered)."""
    return Transfer.from_wire((yield Call("POST", f"{TRANSFERS}/{ref}/cancel")))


def retry_transfer(ctx: Context, ref: str) -> Op[Transfer]:
    """Run a failed or cancelled job again, as a new job ``<name>-2``…"""
    return Transfer.from_wire((yield Call("POST", f"{TRANSFERS}/{ref}/retry")))

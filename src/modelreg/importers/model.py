"""What a source hands the writer: entities in modelreg's terms, identified by the source's own ids."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self

from modelreg import outbound

SOURCE_NAME_LENGTH = 255  # import_records.source
SOURCE_ID_LENGTH = 255  # import_records.source_id

# The kinds an import writes, in the order a parent comes before its children.
Kind = Literal[
    "experiment",
    "experiment_run",
    "registered_model",
    "model_version",
    "artifact",
    "serving_environment",
    "inference_service",
    "serve_model",
]


class SourceError(Exception):
    """The source cannot be read (unreachable, refused, or not the registry it should be): the import stops. The
    message is one line for the operator and names no credential."""


@dataclass(frozen=True)
class Ref:
    """Another entity of the same import, by the source's id (resolved to a modelreg id through the ledger)."""

    kind: Kind
    source_id: str


@dataclass(frozen=True)
class SourceEntity:
    """One entity as modelreg should hold it.

    ``fields`` are Kubeflow REST create-body fields (``name``, ``description``, ``externalId``, ``state``, ``author``,
    ``uri``, ``modelFormatName``, ``artifactType`` for artifacts, ``value``/``timestamp``/``step`` for metrics and
    parameters, ...), without parent ids; ``custom_properties`` are plain values (str, int, float, bool, or a
    dict/list for struct values), typed by the writer as the REST API would, or already in the REST API's typed
    form (``{"metadataType": "MetadataIntValue", "int_value": "3"}``, a Kubeflow source's), kept as they are.
    ``parents`` names the parent entities (an artifact may have several: its model version and the experiment run
    that produced it; an inference service its serving environment, registered model and model version).
    ``metric_history`` entries may also carry ``description``, ``uri``, ``state``, ``createTimeSinceEpoch`` and
    ``customProperties``, as the REST API's metric history does.
    """

    kind: Kind
    source_id: str
    fields: Mapping[str, Any]
    custom_properties: Mapping[str, Any] = field(default_factory=dict)
    parents: tuple[Ref, ...] = ()
    create_time_ms: int | None = None  # kept as the source says (None: now)
    update_time_ms: int | None = None
    stage: str | None = None  # a model version's lifecycle stage (modelreg's names: dev, staging, production)
    metric_history: tuple[Mapping[str, Any], ...] = ()  # an experiment run's: {"name", "value", "timestamp", "step"}


class Source(Protocol):
    """A registry to import from."""

    name: str  # "mlflow:http://mlflow:5000": the ledger key and what the audit records name

    def entities(self) -> Iterator[SourceEntity]:
        """Every entity, parents first; may call the source's API lazily (the runner shows progress as it goes)."""
        ...

    def total(self) -> int | None:
        """How many entities ``entities`` will yield, when known up front (for the progress bar)."""
        ...


def api_root(url: str, api_path: str, hint: str = "") -> str:
    """The server's address from what a user typed (surrounding spaces, a trailing slash or the API's own path
    are dropped); a URL that is not http(s) is a `SourceError` (``hint`` says what address is meant)."""
    root = url.strip().rstrip("/").removesuffix(api_path)
    if not root.startswith(("http://", "https://")):
        raise SourceError(f"invalid URL {outbound.shown(url)!r}: use http(s)://host[:port]{hint}")
    return root


class ClosingSource:
    """A source that holds a connection: ``with`` closes it."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

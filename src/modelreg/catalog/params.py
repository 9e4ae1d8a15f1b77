"""The parameters of the catalog's list queries, as the API and the UI hand them to ``CatalogService``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelQuery:
    """``GET /models``'s parameters, already split (comma lists) but not yet validated."""

    sources: tuple[str, ...] = ()
    source_labels: tuple[str, ...] = ()
    q: str | None = None
    filter_query: str | None = None
    order_by: str | None = None  # None: NAME
    sort_order: str | None = None  # None: ASC
    page_size: int = 10
    page_token: str | None = None
    recommendations: bool = False  # sort by the lowest latency of performance artifacts; orderBy is ignored
    latency_property: str | None = None  # None: ttft_p90


@dataclass(frozen=True, slots=True)
class ArtifactQuery:
    artifact_type: str | None = None  # comma-separated: model-artifact, metrics-artifact
    filter_query: str | None = None
    order_by: str | None = None  # None: ID
    sort_order: str | None = None
    page_size: int = 10
    page_token: str | None = None
    performance_only: bool = False  # GET .../artifacts/performance

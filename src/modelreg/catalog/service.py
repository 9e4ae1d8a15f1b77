"""``CatalogService``: the one object the catalog API and the web UI call. It owns the current ``CatalogIndex``
(index.py) and swaps in a new one when the sources files change (watcher.py, loader.py) or the registry does
(registry_source.py); readers take ``self.index`` once per request and never see a half-built catalog.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from modelreg.catalog.models import CatalogArtifact, CatalogModel, Label, Page, Source


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


@dataclass(frozen=True, slots=True)
class ArtifactQuery:
    artifact_type: str | None = None
    filter_query: str | None = None
    order_by: str | None = None  # None: ID
    sort_order: str | None = None
    page_size: int = 10
    page_token: str | None = None
    performance_only: bool = False  # GET .../artifacts/performance


class CatalogService:
    """Filled in by the catalog work (issue 11): see the method docstrings for the contract each keeps.

    Every method raises ``modelreg.errors.InvalidInput`` (400, message such as ``invalid filter query: ...``) for
    bad parameters and ``NotFound`` (404) for an unknown source or model, never anything else for bad input.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start watching sources files and following the registry (threads; idempotent)."""

    def stop(self) -> None:
        """Stop the watcher threads."""

    def sources(
        self,
        name: str | None = None,
        order_by: str | None = None,
        sort_order: str | None = None,
        page_size: int = 10,
        page_token: str | None = None,
    ) -> Page:
        """Every configured source, disabled ones included (items: ``Source``)."""
        raise NotImplementedError

    def all_sources(self) -> tuple[Source, ...]:
        """Every source, in configuration order (the UI's tabs and settings page)."""
        raise NotImplementedError

    def labels(self, asset_type: str | None = None, order_by: str | None = None) -> tuple[Label, ...]:
        raise NotImplementedError

    def find_models(self, query: ModelQuery) -> Page:
        """items: ``CatalogModel``."""
        raise NotImplementedError

    def get_model(self, source_id: str, name: str) -> CatalogModel:
        raise NotImplementedError

    def artifacts(self, source_id: str, name: str, query: ArtifactQuery) -> Page:
        """items: ``CatalogArtifact``."""
        raise NotImplementedError

    def filter_options(self) -> dict[str, object]:
        """``{"filters": {...}, "namedQueries": {...}}`` as the API returns it."""
        raise NotImplementedError


__all__ = ["ArtifactQuery", "CatalogArtifact", "CatalogModel", "CatalogService", "ModelQuery"]

"""``CatalogService``: the one object the catalog API and the web UI call. It owns the current ``CatalogIndex``
(index.py) and swaps in a new one when the sources files change (watcher.py, loader.py) or the registry does
(registry_source.py); readers take ``self.index`` once per request and never see a half-built catalog.
"""

from __future__ import annotations

import threading
from pathlib import Path

from modelreg.catalog import preview as previews
from modelreg.catalog.index import CatalogIndex, page_size_of
from modelreg.catalog.models import CatalogArtifact, CatalogModel, Label, Page, Source
from modelreg.catalog.params import ArtifactQuery, ModelQuery
from modelreg.catalog.registry_source import RegistryCatalogSource
from modelreg.catalog.snapshots import CatalogConfig, SourceSnapshot
from modelreg.catalog.tokens import decode, encode, fingerprint
from modelreg.catalog.watcher import SourcesWatcher
from modelreg.db.database import Database
from modelreg.errors import InvalidInput
from modelreg.settings import Settings

PREVIEW_STATUSES = ("all", "included", "excluded")


class CatalogService:
    """Every method raises ``modelreg.errors.InvalidInput`` (400, message such as ``invalid filter query: ...``) for
    bad parameters and ``NotFound`` (404) for an unknown source or model, never anything else for bad input.

    Without ``settings`` and ``db`` (tests, a UI without a database) it serves whatever ``set_config`` and
    ``set_registry`` hand it and ``start`` follows nothing.
    """

    def __init__(self, settings: Settings | None = None, db: Database | None = None) -> None:
        self._settings = settings
        self._lock = threading.Lock()  # serializes rebuilds; readers never take it
        self._config = CatalogConfig()
        self._registry: SourceSnapshot | None = None
        self._index = CatalogIndex.build(())
        follow_registry = db is not None and (settings is None or settings.catalog.registry_source)
        self._registry_source = RegistryCatalogSource(db) if db is not None and follow_registry else None
        self._paths = [Path(p) for p in settings.catalog.sources] if settings is not None else []
        self._watcher = (
            SourcesWatcher(self._paths, settings.catalog.reload_interval_seconds, self.set_config)
            if settings is not None
            else None
        )

    @property
    def index(self) -> CatalogIndex:
        return self._index

    @property
    def config(self) -> CatalogConfig:
        """The sources files as last loaded (the settings page shows ``problems``)."""
        return self._config

    def set_config(self, config: CatalogConfig) -> None:
        """Called by the watcher with each new load of the sources files."""
        with self._lock:
            self._config = config
            self._rebuild()

    def set_registry(self, snapshot: SourceSnapshot | None) -> None:
        """Called by the registry source with each new snapshot; None drops the source."""
        with self._lock:
            self._registry = snapshot
            self._rebuild()

    def _rebuild(self) -> None:
        snapshots = [*self._config.sources, *((self._registry,) if self._registry is not None else ())]
        self._index = CatalogIndex.build(
            snapshots, self._config.labels, self._config.named_queries, previous=self._index
        )

    def start(self) -> None:
        """Load the sources files (the demo catalog when there are none) and follow them and the registry
        (threads; idempotent). Without settings there is nothing to follow."""
        if self._watcher is not None:
            self._watcher.start()
        if self._registry_source is not None:
            self._registry_source.start(self.set_registry)

    def stop(self) -> None:
        """Stop the watcher threads."""
        if self._registry_source is not None:
            self._registry_source.stop()
        if self._watcher is not None:
            self._watcher.stop()

    def sources(
        self,
        name: str | None = None,
        order_by: str | None = None,
        sort_order: str | None = None,
        page_size: int = 10,
        page_token: str | None = None,
        asset_type: str | None = None,
    ) -> Page:
        """Every configured source, disabled ones included (items: ``Source``); ``name`` is a case-insensitive
        substring, ``order_by`` ID (default) or NAME."""
        return self._index.find_sources(name, asset_type, order_by, sort_order, page_size, page_token)

    def all_sources(self) -> tuple[Source, ...]:
        """Every source, in configuration order, the registry last (the UI's tabs and settings page)."""
        return self._index.sources

    def labels(self, asset_type: str | None = None, order_by: str | None = None) -> tuple[Label, ...]:
        return self._index.find_labels(asset_type, order_by)

    def find_models(self, query: ModelQuery) -> Page:
        """items: ``CatalogModel``."""
        return self._index.find_models(query)

    def get_model(self, source_id: str, name: str) -> CatalogModel:
        return self._index.get_model(source_id, name)

    def artifacts(self, source_id: str, name: str, query: ArtifactQuery) -> Page:
        """items: ``CatalogArtifact``."""
        return self._index.artifacts(source_id, name, query)

    def preview(
        self, config_yaml: str, catalog_yaml: str | None, filter_status: str, page_size: int, page_token: str | None
    ) -> dict[str, object]:
        """``POST /sources/preview``: which models a source definition would include (nothing is saved). The
        summary counts every model; ``filter_status`` (all, included, excluded) picks the items listed. A relative
        ``yamlCatalogPath`` resolves against the first sources file's folder and must stay inside the folders of
        the sources files."""
        if filter_status not in PREVIEW_STATUSES:
            raise InvalidInput(f"invalid value '{filter_status}' for filterStatus (all, included or excluded)")
        size = page_size_of(page_size)
        base_dir = self._paths[0].parent if self._paths else None
        result = previews.preview(config_yaml, catalog_yaml, base_dir, [p.parent for p in self._paths])
        items = [
            {"name": name, "included": included}
            for name, included in result.items
            if filter_status == "all" or included == (filter_status == "included")
        ]
        fp = fingerprint("preview", config_yaml, catalog_yaml or "", filter_status)
        cursor = decode(page_token, fp)
        start = cursor[0] if cursor and isinstance(cursor[0], int) and 0 < cursor[0] <= len(items) else 0
        if cursor and start == 0:
            raise InvalidInput("invalid nextPageToken")
        chosen = items[start : start + size]
        more = start + size < len(items)
        return {
            "items": chosen,
            "summary": {
                "totalModels": result.total,
                "includedModels": result.included,
                "excludedModels": result.excluded,
            },
            "size": len(chosen),
            "pageSize": size,
            "nextPageToken": encode([start + size], fp) if more else "",
        }

    def filter_options(self) -> dict[str, object]:
        """``{"filters": {...}, "namedQueries": {...}}`` as the API returns it."""
        return self._index.filter_options()


__all__ = ["ArtifactQuery", "CatalogArtifact", "CatalogModel", "CatalogService", "ModelQuery"]

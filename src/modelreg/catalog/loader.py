"""Sources files → ``CatalogConfig``: one ``SourceSnapshot`` per configured source, with its status.

Failures stay local: a sources file that cannot be read keeps its last good sources (and the problem is
recorded), a source whose catalog file cannot be read keeps its last good models with status ``error``, and a bad
model fails alone (``partially-available``). Without any sources file the demo catalog shipped in the package is
served.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from modelreg.catalog.globs import GlobError, ModelFilter, compile_filter
from modelreg.catalog.models import Source, SourceStatus
from modelreg.catalog.parse_pool import ParsePool
from modelreg.catalog.snapshots import CatalogConfig, SourceSnapshot
from modelreg.catalog.sources_file import (
    SourceEntry,
    SourcesFile,
    SourcesFileError,
    merge,
    merge_labels,
    merge_named_queries,
    parse_sources_file,
)
from modelreg.catalog.yaml_catalog import CatalogFileError, CatalogLoad, ChunkCache, read_catalog

log = logging.getLogger("modelreg.catalog")

DEMO_SOURCES = Path(__file__).parent / "demo" / "sources.yaml"
_SHOWN_FAILURES = 5


def unsupported_type(kind: str | None) -> str | None:
    """Why a source of type ``kind`` cannot be loaded; None for ``yaml``."""
    if kind == "yaml":
        return None
    if kind is None:
        return "the source has no type (expected type: yaml)"
    if kind == "hf":
        return "catalog type 'hf' is not supported: this server fetches nothing from Hugging Face"
    return f"catalog type '{kind}' is not supported (expected yaml)"


def source_filter(entry: SourceEntry) -> ModelFilter:
    """The include/exclude filter of a merged source (the legacy ``properties.excludedModels`` counts too)."""
    legacy = (entry.properties or {}).get("excludedModels") or ()
    return compile_filter(entry.included_models or (), (*(entry.excluded_models or ()), *legacy))


@dataclass
class _Loaded:
    key: tuple[object, ...]  # what the result depends on: catalog bytes' digest and the filter
    result: CatalogLoad


@dataclass
class CatalogLoader:
    """Loads sources files again and again, keeping what makes the next load cheap and robust: the last good parse
    of each sources file, each catalog file's parsed model chunks, and each source's last result."""

    files: dict[Path, SourcesFile] = field(default_factory=dict)
    chunks: dict[Path, ChunkCache] = field(default_factory=dict)
    loaded: dict[str, _Loaded] = field(default_factory=dict)
    watched: tuple[Path, ...] = ()  # every file the last load read (sources and catalogs), for the watcher
    pool: ParsePool | None = None  # parses big changes in worker processes (the owner closes it)

    def load(self, paths: Sequence[Path], previous: CatalogConfig | None = None) -> CatalogConfig:
        demo = not paths
        paths = [DEMO_SOURCES] if demo else [Path(p) for p in paths]
        problems: list[str] = []
        files: list[SourcesFile] = []
        kept: list[SourceSnapshot] = []  # a failed file's sources, when only ``previous`` knows them
        for path in paths:
            try:
                parsed = parse_sources_file(path, path.read_bytes())
            except (OSError, SourcesFileError) as exc:
                message = exc.args[0] if isinstance(exc, SourcesFileError) else f"{path}: cannot read: {exc.strerror}"
                log.error("catalog sources file: %s (keeping its last good sources)", message)
                problems.append(message)
                if path in self.files:
                    files.append(self.files[path])
                elif previous is not None:
                    kept += [s for s in previous.sources if s.source.origin == str(path)]
                continue
            self.files[path] = parsed
            files.append(parsed)
        before = {s.source.id: s for s in previous.sources} if previous else {}
        snapshots = [self._source(entry, before.get(entry.id), demo) for entry in merge(files)]
        known = {s.source.id for s in snapshots}
        snapshots += [s for s in kept if s.source.id not in known]
        self.watched = tuple(dict.fromkeys([*paths, *self._catalog_paths(files)]))
        self.loaded = {k: v for k, v in self.loaded.items() if k in known}
        return CatalogConfig(tuple(snapshots), merge_labels(files), merge_named_queries(files), tuple(problems))

    @staticmethod
    def _catalog_paths(files: Sequence[SourcesFile]) -> list[Path]:
        return [p for e in merge(files) if e.enabled is not False and (p := e.catalog_path()) is not None]

    def _source(self, entry: SourceEntry, previous: SourceSnapshot | None, demo: bool) -> SourceSnapshot:
        source = Source(
            id=entry.id,
            name=entry.name or entry.id,
            enabled=entry.enabled is not False,
            labels=entry.labels or (),
            included_models=entry.included_models or (),
            excluded_models=entry.excluded_models or (),
            type=entry.type or "",
            origin=None if demo else str(entry.origin),
        )
        if not source.enabled:
            return SourceSnapshot(replace(source, status=SourceStatus.DISABLED))
        try:
            result = self._read(entry, previous)
        except _SourceError as exc:
            log.warning("catalog source %s: %s", entry.id, exc)
            models = previous.models if previous else ()
            return SourceSnapshot(replace(source, status=SourceStatus.ERROR, error=str(exc)), models)
        if not result.failures:
            return SourceSnapshot(replace(source, status=SourceStatus.AVAILABLE), result.models)
        count = len(result.failures)
        shown = "; ".join(result.failures[:_SHOWN_FAILURES]) + ("; ..." if count > _SHOWN_FAILURES else "")
        if not result.models:
            return SourceSnapshot(
                replace(source, status=SourceStatus.ERROR, error=f"no model could be loaded: {shown}")
            )
        error = f"{count} model{'s' if count > 1 else ''} failed to load: {shown}"
        log.warning("catalog source %s: %s", entry.id, error)
        return SourceSnapshot(replace(source, status=SourceStatus.PARTIALLY_AVAILABLE, error=error), result.models)

    def _read(self, entry: SourceEntry, previous: SourceSnapshot | None) -> CatalogLoad:
        problem = unsupported_type(entry.type)
        if problem:
            raise _SourceError(problem)
        try:
            model_filter = source_filter(entry)
        except GlobError as exc:
            raise _SourceError(str(exc)) from None
        path = entry.catalog_path()
        if path is None:
            raise _SourceError("failed to read yamlCatalogPath file: properties.yamlCatalogPath is not set")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _SourceError(f"failed to read yamlCatalogPath file: {path}: {exc.strerror}") from None
        key = (path, hashlib.blake2b(data, digest_size=16).digest(), model_filter.included, model_filter.excluded)
        last = self.loaded.get(entry.id)
        if last is not None and last.key == key:
            return last.result
        try:
            result = read_catalog(
                data,
                source_id=entry.id,
                model_filter=model_filter,
                previous={m.name: m for m in previous.models} if previous else {},
                now_ms=int(time.time() * 1000),
                cache=self.chunks.setdefault(path, ChunkCache(self.pool)),
            )
        except CatalogFileError as exc:
            raise _SourceError(f"failed to read yamlCatalogPath file: {path}: {exc}") from None
        self.loaded[entry.id] = _Loaded(key, result)
        return result


class _SourceError(Exception):
    pass


def load(paths: Sequence[Path], previous: CatalogConfig | None = None) -> CatalogConfig:
    """One load without memory of earlier ones (the watcher keeps a ``CatalogLoader`` instead)."""
    return CatalogLoader().load(paths, previous)

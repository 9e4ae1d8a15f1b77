"""``POST /sources/preview``: which models of a catalog a source config would include, before it is saved.

The catalog comes inline (``catalogData``, the normal way) or from ``properties.yamlCatalogPath``. The path mode
reads a file on the server, so it is confined to the folders of the configured sources files (symlinks resolved):
a preview must not become a way to probe the server's file system.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from modelreg.catalog.globs import GlobError
from modelreg.catalog.loader import source_filter, unsupported_type
from modelreg.catalog.sources_file import SourceEntry, SourcesFileError, parse_source
from modelreg.catalog.yaml_catalog import CatalogFileError, parse_catalog, raw_name
from modelreg.errors import InvalidInput, Unprocessable

MAX_INPUT_BYTES = 1024 * 1024
_CONFIG = Path("config")  # how messages name the uploaded config


@dataclass(frozen=True, slots=True)
class PreviewResult:
    items: tuple[tuple[str, bool], ...]  # (model name, included), in catalog order
    total: int
    included: int
    excluded: int


def preview(
    config_yaml: str | bytes | None,
    catalog_yaml: str | bytes | None,
    base_dir: Path | None,
    allowed_dirs: Iterable[Path],
) -> PreviewResult:
    """``InvalidInput`` (400) without a config or for an input over 1 MiB; ``Unprocessable`` (422) for a config
    or catalog that cannot be used, or a ``yamlCatalogPath`` outside ``allowed_dirs``. A relative path resolves
    against ``base_dir``."""
    config_bytes = _bytes("config", config_yaml)
    if not config_bytes or not config_bytes.strip():
        raise InvalidInput("config is required")
    catalog_bytes = _bytes("catalogData", catalog_yaml)
    entry = _entry(config_bytes, base_dir)
    problem = unsupported_type(entry.type or "yaml")
    if problem:
        raise Unprocessable(problem)
    try:
        model_filter = source_filter(entry)
    except GlobError as exc:
        raise Unprocessable(str(exc)) from None
    if catalog_bytes is None:
        catalog_bytes = _read_confined(entry.catalog_path(), allowed_dirs)
    try:
        _, items = parse_catalog(catalog_bytes)
    except CatalogFileError as exc:
        raise Unprocessable(f"invalid catalog data: {exc}") from None
    names = [name for item in items if (name := raw_name(item)) is not None]
    results = tuple((name, model_filter.matches(name)) for name in names)
    included = sum(1 for _, ok in results if ok)
    return PreviewResult(results, len(results), included, len(results) - included)


def _bytes(what: str, value: str | bytes | None) -> bytes | None:
    if value is None:
        return None
    data = value.encode() if isinstance(value, str) else value
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInput(f"{what} is larger than {MAX_INPUT_BYTES // 1024} KiB")
    return data


def _entry(config: bytes, base_dir: Path | None) -> SourceEntry:
    try:
        raw = yaml.load(config, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise Unprocessable(f"config is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise Unprocessable("config must be a mapping with type, includedModels, excludedModels and properties")
    raw = {"id": "preview", **raw}
    try:
        return parse_source((base_dir or Path.cwd()) / _CONFIG.name, raw, "config")
    except SourcesFileError as exc:
        raise Unprocessable(str(exc).split(": ", 1)[-1]) from None


def _read_confined(path: Path | None, allowed_dirs: Iterable[Path]) -> bytes:
    if path is None:
        raise Unprocessable("either catalogData or properties.yamlCatalogPath is required")
    real = Path(os.path.realpath(path))
    roots = [Path(os.path.realpath(d)) for d in allowed_dirs]
    if not any(real.is_relative_to(root) for root in roots):
        raise Unprocessable("yamlCatalogPath must be inside a configured catalog folder")
    try:
        return real.read_bytes()
    except OSError as exc:
        raise Unprocessable(f"failed to read yamlCatalogPath file: {path}: {exc.strerror}") from None

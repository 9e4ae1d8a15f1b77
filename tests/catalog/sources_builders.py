"""Writers for sources files and YAML catalog files, shared by the catalog sources tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def model(name: str, **fields: Any) -> dict[str, Any]:
    """A catalog model entry with one model artifact (unless ``artifacts`` is given)."""
    entry: dict[str, Any] = {"name": name, "artifacts": [{"uri": f"oci://quay.io/test/{name.replace('/', '-')}:1"}]}
    entry.update(fields)
    return entry


def write_catalog(path: Path, models: list[dict[str, Any]], source: str = "Test") -> Path:
    path.write_text(yaml.safe_dump({"source": source, "models": models}, sort_keys=False))
    return path


def source(source_id: str, catalog: str | Path | None = None, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": source_id, "name": f"Source {source_id}", "type": "yaml"}
    if catalog is not None:
        entry["properties"] = {"yamlCatalogPath": str(catalog)}
    entry.update(fields)
    return entry


def write_sources(path: Path, sources: list[dict[str, Any]], **top: Any) -> Path:
    path.write_text(yaml.safe_dump({"model_catalogs": sources, **top}, sort_keys=False))
    return path

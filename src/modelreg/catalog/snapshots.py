"""What the sources (files, the registry) hand to the index: one immutable snapshot per source."""

from __future__ import annotations

from dataclasses import dataclass

from modelreg.catalog.models import CatalogModel, Label, NamedQuery, Source


@dataclass(frozen=True, slots=True)
class SourceSnapshot:
    source: Source  # status and error filled in
    models: tuple[CatalogModel, ...] = ()  # after include/exclude, sorted by name; empty when disabled


@dataclass(frozen=True, slots=True)
class CatalogConfig:
    """Everything the sources files say, as last loaded (a file that fails to parse keeps its last good part)."""

    sources: tuple[SourceSnapshot, ...] = ()  # configuration order
    labels: tuple[Label, ...] = ()
    named_queries: tuple[NamedQuery, ...] = ()
    problems: tuple[str, ...] = ()  # file-level errors, for the log and the settings page

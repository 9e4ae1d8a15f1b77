"""Sources for the import tests beyond the real servers: one that stops part-way, as a lost source or Ctrl-C does."""

from __future__ import annotations

from collections.abc import Iterator

from modelreg.importers.model import Source, SourceEntity


class Interrupted:
    """``source``, raising ``error`` instead of yielding its entity number ``after`` (0-based): the run stops there,
    with that many entities applied."""

    def __init__(self, source: Source, after: int, error: BaseException) -> None:
        self.source = source
        self.name = source.name
        self.after = after
        self.error = error

    def total(self) -> int | None:
        return self.source.total()

    def entities(self) -> Iterator[SourceEntity]:
        for n, entity in enumerate(self.source.entities()):
            if n == self.after:
                raise self.error
            yield entity

"""``CatalogIndex``: one immutable view of every source's models, prepared for queries, and the queries themselves.

Each source's prepared data (its models' search text and sort keys, a name → model dict, its share of the filter
options) is reused from the previous index when the source's snapshot is the same object, so a registry change
re-prepares only the registry's models. The orders every page walks (NAME, the default, at build; ID and the times
when first asked) are kept sorted, so a page is a walk from the cursor that stops once it has enough matches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from modelreg.catalog import filter_options as options
from modelreg.catalog.models import (
    REGISTRY_SOURCE_ID,
    REGISTRY_SOURCE_LABEL,
    ArtifactType,
    CatalogModel,
    Label,
    NamedQuery,
    Page,
    Source,
    SourceStatus,
)
from modelreg.catalog.ordering import (
    Cursor,
    ModelOrdering,
    Sorted,
    descending,
    id_key,
    model_ordering,
    recommended,
    sort_artifacts,
    take,
)
from modelreg.catalog.params import ArtifactQuery, ModelQuery
from modelreg.catalog.query import compile_artifact_filter, compile_model_filter, search_text
from modelreg.catalog.snapshots import SourceSnapshot
from modelreg.catalog.tokens import decode, encode, fingerprint
from modelreg.errors import InvalidInput, NotFound

MAX_PAGE_SIZE = 1000
MAX_CACHED_ORDERS = 16  # property sorts kept per index (besides the four base orders)
ASSET_TYPES = ("models", "mcp_servers")
PERFORMANCE_METRICS = "performance-metrics"


class Entry:
    """A model with what queries read of it, computed once per model."""

    __slots__ = ("idk", "model", "name_key", "text")

    def __init__(self, model: CatalogModel) -> None:
        self.model = model
        self.text = search_text(model)
        self.idk = id_key(model.id)
        self.name_key = model.name.casefold()


_BASE_VALUES: dict[str, Callable[[Entry], Any]] = {
    "NAME": lambda e: e.name_key,
    "ID": lambda e: e.idk,
    "CREATE_TIME": lambda e: e.model.create_time_ms,
    "LAST_UPDATE_TIME": lambda e: e.model.last_update_time_ms,
}


class PreparedSource:
    """A source's snapshot with its models' entries, name-sorted; immutable once built except for the lazily
    computed filter options."""

    def __init__(self, snapshot: SourceSnapshot, previous: PreparedSource | None) -> None:
        self.snapshot = snapshot
        self.source = snapshot.source
        reuse = {id(e.model): e for e in previous.entries} if previous is not None else {}
        entries = []
        added: list[CatalogModel] = []
        for model in snapshot.models:
            old = reuse.pop(id(model), None)
            if old is not None and old.model is model:
                entries.append(old)
            else:
                entries.append(Entry(model))
                added.append(model)
        entries.sort(key=lambda e: (e.name_key, e.idk))
        self.entries: list[Entry] = entries
        self.by_name: dict[str, Entry] = {e.model.name: e for e in entries}
        self.contributes = self.source.enabled and self.source.status is not SourceStatus.DISABLED
        self._counts: options.Counts | None = None
        self._options: options.Part | None = None
        self._name_order: Sorted[Entry] | None = None
        before = previous._counts if previous is not None else None
        if before is not None and len(added) + len(reuse) <= max(64, len(entries) // 4):
            # A few models changed (a registry write): follow them instead of counting every model again.
            self._counts = options.changed(before, (e.model for e in reuse.values()), added)

    @property
    def name_order(self) -> Sorted[Entry]:
        """This source's NAME order, for a query of this source alone (a tab of the UI, ``source=x``)."""
        if self._name_order is None:
            self._name_order = Sorted([(e.name_key, e.idk) for e in self.entries], self.entries, [], [])
        return self._name_order

    @property
    def options(self) -> options.Part:
        if self._options is None:
            if self._counts is None:
                self._counts = options.count(e.model for e in self.entries)
            self._options = self._counts.part()
        return self._options


def page_size_of(page_size: int) -> int:
    if page_size < 1:
        raise InvalidInput(f"pageSize must be at least 1, got {page_size}")
    return min(page_size, MAX_PAGE_SIZE)


def _label_value(label: Label, key: str) -> Any:
    known = {
        "name": label.name,
        "displayName": label.display_name,
        "description": label.description,
        "assetType": label.asset_type,
    }
    return known[key] if key in known else label.extra.get(key)


class CatalogIndex:
    def __init__(
        self, prepared: tuple[PreparedSource, ...], labels: tuple[Label, ...], named_queries: tuple[NamedQuery, ...]
    ) -> None:
        self.prepared = prepared
        self.sources: tuple[Source, ...] = tuple(p.source for p in prepared)
        self.labels = labels
        self.named_queries = named_queries
        self._by_id = {p.source.id: p for p in prepared if p.contributes}
        self._orders: dict[str, Sorted[Entry]] = {}
        self._filter_options: dict[str, object] | None = None
        self._lock = threading.Lock()
        self._orders["NAME"] = self._merge_name_order()

    @classmethod
    def build(
        cls,
        snapshots: Iterable[SourceSnapshot],
        labels: Iterable[Label] = (),
        named_queries: Iterable[NamedQuery] = (),
        previous: CatalogIndex | None = None,
    ) -> CatalogIndex:
        """Snapshots in the order ``/sources`` lists them; the registry's label is added to the labels when its
        source is there and no configured label has that name (the UI shows a tab per label)."""
        old = {p.source.id: p for p in previous.prepared} if previous is not None else {}
        prepared = []
        for snapshot in snapshots:
            before = old.get(snapshot.source.id)
            if before is not None and before.snapshot is snapshot:
                prepared.append(before)
            else:
                prepared.append(PreparedSource(snapshot, before))
        labels = tuple(labels)
        if any(p.source.id == REGISTRY_SOURCE_ID for p in prepared) and not any(
            label.name == REGISTRY_SOURCE_LABEL for label in labels
        ):
            labels = (*labels, Label(REGISTRY_SOURCE_LABEL, description="Every live model of this registry."))
        return cls(tuple(prepared), labels, tuple(named_queries))

    # -- orders ---------------------------------------------------------------------------------------------------

    def _merge_name_order(self) -> Sorted[Entry]:
        # Each source's entries are name-sorted already: timsort merges the runs.
        pairs = sorted(((e.name_key, e.idk), e) for p in self._by_id.values() for e in p.entries)
        return Sorted([k for k, _ in pairs], [e for _, e in pairs], [], [])

    def _base_order(self, name: str) -> Sorted[Entry]:
        order = self._orders.get(name)
        if order is None:
            with self._lock:
                order = self._orders.get(name)
                if order is None:
                    entries = [e for p in self._by_id.values() for e in p.entries]
                    order = Sorted.of(entries, _BASE_VALUES[name], lambda e: e.idk)
                    self._orders[name] = order
        return order

    # -- models ---------------------------------------------------------------------------------------------------

    def _selected(self, query: ModelQuery) -> list[PreparedSource]:
        if query.sources and query.source_labels:
            raise InvalidInput("source and sourceLabel cannot be used together")
        if query.sources:
            wanted = set(query.sources)
            return [p for p in self._by_id.values() if p.source.id in wanted]
        if query.source_labels:
            names = {label.lower() for label in query.source_labels}
            return [
                p
                for p in self._by_id.values()
                if ("null" in names and not p.source.labels) or any(lb.lower() in names for lb in p.source.labels)
            ]
        return list(self._by_id.values())

    def find_models(self, query: ModelQuery) -> Page:
        size = page_size_of(query.page_size)
        selected = self._selected(query)
        model_filter = compile_model_filter(query.filter_query)
        condition = model_filter.artifact_condition if model_filter else None
        if query.recommendations:
            ordering = recommended(query.latency_property or "ttft_p90")
        else:
            ordering = model_ordering(query.order_by, query.sort_order, condition)
        fp = fingerprint(
            "models",
            query.sources,
            query.source_labels,
            query.q or "",
            query.filter_query or "",
            ordering.field,
            ordering.reverse,
        )
        cursor = decode(query.page_token, fp)
        alone = len(selected) == 1 and len(self._by_id) > 1 and ordering.base == "NAME"
        accept = self._acceptor(
            None if alone else selected, (query.q or "").lower(), model_filter.matches if model_filter else None
        )
        if not selected:
            items: list[Entry] = []
            last: Cursor | None = None
        elif alone:
            items, last = take(selected[0].name_order.walk(ordering.reverse, cursor), size, accept)
        elif ordering.base is not None:
            items, last = take(self._base_order(ordering.base).walk(ordering.reverse, cursor), size, accept)
        else:
            items, last = self._sorted_page(selected, ordering, accept, cursor, size)
        return Page(tuple(e.model for e in items), size, encode(last, fp) if last is not None else "")

    def _acceptor(
        self, selected: list[PreparedSource] | None, q: str, matches: Callable[[CatalogModel], bool] | None
    ) -> Callable[[Entry], bool] | None:
        """The test of an entry; ``selected`` None: the walk covers the selected sources only."""
        tests: list[Callable[[Entry], bool]] = []
        if selected is not None and len(selected) != len(self._by_id):
            ids = {p.source.id for p in selected}
            tests.append(lambda e: e.model.source_id in ids)
        if q:
            tests.append(lambda e: q in e.text)
        if matches is not None:
            tests.append(lambda e: matches(e.model))
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        return lambda e: all(test(e) for test in tests)

    def _sorted_page(
        self,
        selected: list[PreparedSource],
        ordering: ModelOrdering,
        accept: Callable[[Entry], bool] | None,
        cursor: Cursor | None,
        size: int,
    ) -> tuple[list[Entry], Cursor | None]:
        """A sort by a property: the whole catalog's order is kept (a few of them, per index) unless the values
        depend on the filter, so the next pages and other filters walk it as they walk NAME."""
        value = ordering.value
        assert value is not None
        if ordering.filtered:
            candidates = [e for p in selected for e in p.entries if accept is None or accept(e)]
            order = Sorted.of(candidates, lambda e: value(e.model), lambda e: e.idk)
            return take(order.walk(ordering.reverse, cursor), size, None)
        key = f"{ordering.field}\x00{ordering.reverse}"
        cached = self._orders.get(key)
        if cached is not None:
            order = cached
        else:
            entries = [e for p in self._by_id.values() for e in p.entries]
            order = Sorted.of(entries, lambda e: value(e.model), lambda e: e.idk)
            with self._lock:
                if len(self._orders) > MAX_CACHED_ORDERS:
                    self._orders = {name: o for name, o in self._orders.items() if name in _BASE_VALUES}
                self._orders[key] = order
        return take(order.walk(ordering.reverse, cursor), size, accept)

    def get_model(self, source_id: str, name: str) -> CatalogModel:
        prepared = self._by_id.get(source_id)
        entry = prepared.by_name.get(name) if prepared is not None else None
        if entry is None:
            raise NotFound(f"No model found '{name}' in source '{source_id}'")
        return entry.model

    def artifacts(self, source_id: str, name: str, query: ArtifactQuery) -> Page:
        size = page_size_of(query.page_size)
        model = self.get_model(source_id, name)
        types = _artifact_types(query.artifact_type)
        test = compile_artifact_filter(query.filter_query)
        chosen = [
            a
            for a in model.artifacts
            if (not types or a.artifact_type in types)
            and (not query.performance_only or a.metrics_type == PERFORMANCE_METRICS)
            and (test is None or test(a))
        ]
        order, reverse, field = sort_artifacts(chosen, query.order_by, query.sort_order)
        fp = fingerprint(
            "artifacts",
            source_id,
            name,
            sorted(types),
            query.filter_query or "",
            field,
            reverse,
            query.performance_only,
        )
        items, last = take(order.walk(reverse, decode(query.page_token, fp)), size, None)
        return Page(tuple(items), size, encode(last, fp) if last is not None else "")

    # -- sources, labels, filter options --------------------------------------------------------------------------

    def find_sources(
        self,
        name: str | None,
        asset_type: str | None,
        order_by: str | None,
        sort_order: str | None,
        page_size: int,
        page_token: str | None,
    ) -> Page:
        size = page_size_of(page_size)
        kind = _asset_type(asset_type)
        field = (order_by or "ID").upper()
        if field not in ("ID", "NAME"):
            raise InvalidInput(f"unsupported order by field: {order_by}")
        reverse = descending(sort_order)
        needle = (name or "").lower()
        chosen = [s for s in self.sources if s.asset_type == kind and needle in s.name.lower()]
        value: Callable[[Source], str] = (lambda s: s.id) if field == "ID" else (lambda s: s.name.casefold())
        order = Sorted.of(chosen, value, lambda s: s.id)
        fp = fingerprint("sources", needle, kind, field, reverse)
        items, last = take(order.walk(reverse, decode(page_token, fp)), size, None)
        return Page(tuple(items), size, encode(last, fp) if last is not None else "")

    def find_labels(self, asset_type: str | None, order_by: str | None) -> tuple[Label, ...]:
        kind = _asset_type(asset_type)
        chosen = [label for label in self.labels if label.asset_type == kind]
        if not order_by:
            return tuple(chosen)
        keyed = [label for label in chosen if isinstance(_label_value(label, order_by), str)]
        rest = [label for label in chosen if not isinstance(_label_value(label, order_by), str)]
        return (*sorted(keyed, key=lambda label: str(_label_value(label, order_by))), *rest)

    def filter_options(self) -> dict[str, object]:
        if self._filter_options is None:
            merged = options.merge(p.options for p in self._by_id.values())
            self._filter_options = options.render(merged, self.named_queries)
        return self._filter_options


def _asset_type(value: str | None) -> str:
    if value is None or value == "":
        return "models"
    if value not in ASSET_TYPES:
        raise InvalidInput(f"invalid value '{value}' for assetType")
    return value


def _artifact_types(value: str | None) -> frozenset[ArtifactType]:
    types: set[ArtifactType] = set()
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            types.add(ArtifactType(part))
        except ValueError:
            raise InvalidInput(
                f"invalid value '{part}' for artifactType (model-artifact or metrics-artifact)"
            ) from None
    return frozenset(types)

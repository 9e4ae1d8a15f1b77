"""What the catalog page shows, computed without templates: the page's state from its query string (so every view
is a bookmarkable URL), the ``filterQuery`` its filter checkboxes stand for, its tabs, and each card's labels.
The page renders one page of cards, so everything here is per page, never per catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from starlette.datastructures import QueryParams

from modelreg.catalog.models import REGISTRY_SOURCE_ID, ArtifactType, CatalogModel, Label, Source, SourceStatus
from modelreg.catalog.service import ModelQuery

PAGE_SIZE = 24  # cards per page: four rows of a six-card-wide gallery, or six of four
ALL = "all"
NULL_LABEL = "null"  # the API's name for "sources without labels"
COMMUNITY = "Community and custom"
# (query key, heading) of the checkbox filters, in the reference's order; tasks and language are arrays.
FILTERS: tuple[tuple[str, str], ...] = (("tasks", "Task"), ("provider", "Provider"), ("license", "License"),
                                        ("language", "Language"))  # fmt: skip
ARRAY_FIELDS = frozenset({"tasks", "language"})
MAX_FILTER_VALUES = 50  # per field: a hand-made URL cannot make a filterQuery of unbounded size


@dataclass(frozen=True, slots=True)
class Sort:
    key: str
    text: str
    order_by: str
    sort_order: str


SORTS: tuple[Sort, ...] = (
    Sort("name", "Name (A→Z)", "NAME", "ASC"),
    Sort("published", "Publish date (Newest → Oldest)", "LAST_UPDATE_TIME", "DESC"),
    Sort("registered", "Recently registered", "CREATE_TIME", "DESC"),
)
_SORTS = {s.key: s for s in SORTS}


def quote_value(value: str) -> str:
    """A filterQuery string literal: single quotes around it, a quote or backslash inside escaped with a backslash,
    as the filterQuery lexer reads them (the reference UI doubles quotes instead, which that lexer reads as two
    strings in a row)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def filter_query(checked: Mapping[str, Sequence[str]]) -> str | None:
    """The ``filterQuery`` for the checked values: OR within a field, AND between fields; ``None`` when nothing is
    checked. An array field (``tasks``) matches an element with ``=``, so several values are ``=`` joined by OR;
    a plain field uses ``IN``."""
    clauses = []
    for name, _heading in FILTERS:
        values = list(dict.fromkeys(checked.get(name, ())))
        if not values:
            continue
        if len(values) == 1:
            clauses.append(f"{name}={quote_value(values[0])}")
        elif name in ARRAY_FIELDS:
            clauses.append("(" + " OR ".join(f"{name}={quote_value(v)}" for v in values) + ")")
        else:
            clauses.append(f"{name} IN (" + ",".join(quote_value(v) for v in values) + ")")
    return " AND ".join(clauses) or None


@dataclass(frozen=True, slots=True)
class CatalogState:
    """The catalog page's query string, parsed: ``label``, ``q``, one key per filter, ``sort``, ``page_token``."""

    label: str = ALL
    q: str = ""
    checked: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sort: Sort = SORTS[0]
    page_token: str | None = None

    @classmethod
    def parse(cls, params: QueryParams) -> CatalogState:
        checked = {
            name: tuple(dict.fromkeys(v.strip() for v in params.getlist(name) if v.strip()))[:MAX_FILTER_VALUES]
            for name, _ in FILTERS
        }
        return cls(
            label=params.get("label", "").strip() or ALL,
            q=params.get("q", "").strip(),
            checked={k: v for k, v in checked.items() if v},
            sort=_SORTS.get(params.get("sort", ""), SORTS[0]),
            page_token=params.get("page_token") or None,
        )

    @property
    def searching(self) -> bool:
        return bool(self.q or self.checked)

    def query(self, page_size: int = PAGE_SIZE) -> ModelQuery:
        return ModelQuery(
            source_labels=() if self.label == ALL else (self.label,),
            q=self.q or None,
            filter_query=filter_query(self.checked),
            order_by=self.sort.order_by,
            sort_order=self.sort.sort_order,
            page_size=page_size,
            page_token=self.page_token,
        )

    def url(self, **changes: object) -> str:
        """This view's ``/catalog`` URL with ``changes`` (``page_token``, ``label``, ...); the page token is
        dropped unless given, since a token belongs to one query."""
        values: dict[str, object] = {
            "label": self.label, "q": self.q, "sort": self.sort.key, "page_token": None, **self.checked,
        }  # fmt: skip
        values.update(changes)
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            if (key, value) in (("label", ALL), ("sort", SORTS[0].key)):
                continue  # the defaults: shorter URLs
            if isinstance(value, tuple | list):
                pairs += [(key, str(v)) for v in value]
            elif value:
                pairs.append((key, str(value)))
        return "/catalog" + ("?" + urlencode(pairs) if pairs else "")

    def cleared(self, keep_q: bool = False) -> str:
        """This view without its filters (and without its search unless ``keep_q``): label and sort stay."""
        return self.url(q=self.q if keep_q else "", **{name: () for name in self.checked})


@dataclass(frozen=True, slots=True)
class Tab:
    value: str  # the ``label`` query value
    text: str


def feeding(sources: Iterable[Source]) -> list[Source]:
    """Sources whose models the page shows: enabled and loaded (the reference's ``filterEnabledCatalogSources``)."""
    ok = (SourceStatus.AVAILABLE, SourceStatus.PARTIALLY_AVAILABLE)
    return [s for s in sources if s.enabled and s.status in ok]


def tabs(labels: Iterable[Label], sources: Sequence[Source]) -> list[Tab]:
    """ "All models", then each label that some feeding source carries (in ``labels`` order, then in source order
    for labels no ``labels:`` entry describes, such as "Registered models"), then "Community and custom" when a
    feeding source has no label (named by the ``name: null`` entry, if any)."""
    carried: dict[str, str] = {}  # lower-cased label → label as a source spells it
    for source in sources:
        for name in source.labels:
            carried.setdefault(name.lower(), name)
    out = [Tab(ALL, "All models")]
    for label in labels:
        if label.name is not None and label.name.lower() in carried:
            out.append(Tab(label.name, label.display_name or label.name))
            carried.pop(label.name.lower())
    out += [Tab(name, name) for name in carried.values()]
    if any(not s.labels for s in sources):
        null = next((label for label in labels if label.name is None), None)
        out.append(Tab(NULL_LABEL, (null.display_name if null else None) or COMMUNITY))
    return out


def card_labels(model: CatalogModel) -> list[str]:
    """Tasks, provider, then custom labels: three at most, two for a validated model (its card also shows the
    purple "Validated" label)."""
    labels = [*model.tasks, *([model.provider] if model.provider else []),
              *(name for name in model.labels if name != "validated")]  # fmt: skip
    # A model registered from the catalog carries its tasks both as tasks and as labels: show each once.
    unique = list(dict.fromkeys(labels))
    return unique[: 2 if model.validated else 3]


def model_url(source_id: str, name: str) -> str:
    """A catalog model's page; ``/`` in its name stays a path separator (the route takes the rest of the path)."""
    return f"/catalog/{quote(source_id, safe='')}/models/{quote(name, safe='/')}"


def register_url(source_id: str, name: str) -> str:
    return f"/catalog/{quote(source_id, safe='')}/register?" + urlencode({"model": name})


def is_registry(model: CatalogModel) -> bool:
    return model.source_id == REGISTRY_SOURCE_ID or model.registry is not None


def prop_value(props: Mapping[str, Mapping[str, object]], key: str) -> str | None:
    """A custom property's value as text (whatever its type); ``None`` when absent or empty."""
    prop = props.get(key)
    if prop is None:
        return None
    for column in ("string_value", "int_value", "double_value", "bool_value"):
        value = prop.get(column)
        if value is not None and value != "":
            return str(value)
    return None


def _number(props: Mapping[str, Mapping[str, object]], key: str) -> float | None:
    text = prop_value(props, key)
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def details(model: CatalogModel) -> dict[str, str | None]:
    """The details panel's property rows: the model's own custom properties, else its model artifact's (catalog
    files put ``architecture`` on the artifact)."""
    artifact = next((a for a in model.artifacts if a.artifact_type is ArtifactType.MODEL), None)
    sources = [model.custom_properties, *([artifact.custom_properties] if artifact else [])]
    out: dict[str, str | None] = {}
    for key in ("model_type", "tensor_type", "size", "architecture"):
        out[key] = next((v for v in (prop_value(s, key) for s in sources) if v is not None), None)
    return out


@dataclass(frozen=True, slots=True)
class PerformanceRow:
    hardware: str
    use_case: str
    ttft_p90_ms: float | None
    tps: float | None
    rps: float | None


def performance(model: CatalogModel, limit: int = 20) -> list[PerformanceRow]:
    """The validated model's benchmark summary (the reference's "Performance insights" tab, condensed)."""
    rows = []
    for artifact in model.artifacts:
        if artifact.metrics_type != "performance-metrics":
            continue
        p = artifact.custom_properties
        count, kind = prop_value(p, "hardware_count"), prop_value(p, "hardware_type")
        hardware = " x ".join(x for x in (count, kind) if x) or "—"
        rows.append(PerformanceRow(hardware, prop_value(p, "use_case") or "—", _number(p, "ttft_p90"),
                                   _number(p, "tps_mean"), _number(p, "requests_per_second")))  # fmt: skip
        if len(rows) == limit:
            break
    return rows

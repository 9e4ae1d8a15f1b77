"""YAML catalog files (``source:`` and ``models:``): parsed strictly, one model at a time, so a bad model fails
alone (its source becomes ``partially-available``) while a file that cannot be read or parsed fails the source.

Speed: PyYAML builds about 200,000 nodes a second, so a 10,000-model file costs seconds to parse whole.
``ChunkCache`` splits the ``models:`` list into one text chunk per model and keeps each chunk's parse under its
hash: a reload after an edit re-parses only the models whose text changed, and a big change is parsed by worker
processes (parse_pool.py). Any surprise in the split (anchors
across models, several documents, flow style) makes the chunked parse fail, and the file is then parsed whole,
which gives the authoritative result or error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from modelreg.catalog import heap
from modelreg.catalog.globs import ModelFilter
from modelreg.catalog.licenses import readable_license
from modelreg.catalog.models import ArtifactType, CatalogArtifact, CatalogModel, MetadataValue, stable_id
from modelreg.catalog.parse_pool import NotOneItem, ParsePool, parse_chunk
from modelreg.wire import VALUE_KEYS

URI_SCHEMES = frozenset({"oci", "http", "https", "s3", "gs", "az", "file", "hf"})
METRICS_TYPES = frozenset({"performance-metrics", "accuracy-metrics"})
_STRING_FIELDS = {
    "description": "description",
    "readme": "readme",
    "maturity": "maturity",
    "provider": "provider",
    "logo": "logo",
    "licenseLink": "license_link",
    "libraryName": "library_name",
}
_MODEL_KEYS = {
    *_STRING_FIELDS,
    "name",
    "license",
    "language",
    "tasks",
    "customProperties",
    "artifacts",
    "createTimeSinceEpoch",
    "lastUpdateTimeSinceEpoch",
    "externalId",
    "id",
    "source_id",
}
_ARTIFACT_KEYS = {
    "artifactType",
    "uri",
    "metricsType",
    "customProperties",
    "name",
    "description",
    "externalId",
    "id",
    "createTimeSinceEpoch",
    "lastUpdateTimeSinceEpoch",
}
_TYPE_OF_KEY = {v: k for k, v in VALUE_KEYS.items()}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


class CatalogFileError(ValueError):
    """The catalog file as a whole cannot be used (not YAML, not the catalog format)."""


class ModelError(ValueError):
    """One model cannot be loaded; the others can."""


@dataclass(frozen=True, slots=True)
class CatalogLoad:
    models: tuple[CatalogModel, ...]  # the kept models that loaded, sorted by name
    failures: tuple[str, ...]  # "model 'x': why", for the kept models that did not
    source_label: str | None = None  # the file's ``source:``


# --- parsing -------------------------------------------------------------------------------------------------------

_MODELS_KEY = re.compile(rb"^models:[ \t]*(?:#[^\n]*)?\r?\n", re.M)
_FIRST_ITEM = re.compile(rb"^([ ]*)-(?:[ ]|\r?\n)", re.M)
_ONLY_COMMENTS = re.compile(rb"(?:[ \t]*(?:#[^\n]*)?\r?\n)*")


def _load(data: bytes) -> Any:
    return yaml.load(data, Loader=yaml.CSafeLoader)


class ChunkCache:
    """Parsed model chunks of one catalog file, by content hash; only the last load's chunks are kept. The chunks
    not in the cache are parsed by ``pool`` (worker processes for a big change, parse_pool.py) when given."""

    def __init__(self, pool: ParsePool | None = None) -> None:
        self._parsed: dict[tuple[int, int], Any] = {}
        self._pool = pool
        # The last load's models by their raw item (kept in the entry, so its id stays valid): an unchanged model
        # is not built again and stays the same object, which the index reuses as it is.
        self.built: dict[int, tuple[Any, str, int, CatalogModel | ModelError]] = {}

    def parse(self, data: bytes) -> tuple[dict[str, Any], list[Any]]:
        """The file's top-level mapping without ``models``, and the raw model items."""
        split = _split(data)
        if split is not None:
            try:
                return self._parse_chunks(*split)
            except (yaml.YAMLError, NotOneItem, _NotChunkable):
                pass
        return _parse_whole(data)

    def _parse_chunks(self, head: bytes, chunks: list[memoryview]) -> tuple[dict[str, Any], list[Any]]:
        top = _load(head) if head.strip() else {}
        if not isinstance(top, dict) or "models" in top:
            raise _NotChunkable
        keys = [_chunk_key(chunk) for chunk in chunks]
        missing: dict[tuple[int, int], memoryview] = {}
        for key, chunk in zip(keys, chunks, strict=True):
            if key not in self._parsed:
                missing.setdefault(key, chunk)
        texts = [bytes(chunk) for chunk in missing.values()]
        fresh = self._pool.parse(texts) if self._pool is not None else [parse_chunk(text) for text in texts]
        known = dict(zip(missing, fresh, strict=True))
        parsed: dict[tuple[int, int], Any] = {}
        items: list[Any] = []
        for key in keys:
            item = parsed.get(key)
            if item is None:
                item = known[key] if key in known else self._parsed[key]
                parsed[key] = item
            items.append(item)
        self._parsed = parsed
        return top, items


def _chunk_key(chunk: memoryview) -> tuple[int, int]:
    """A chunk's cache key: its content's hash (64-bit SipHash) and length. Not a ``hashlib`` digest: those let go
    of the GIL for every chunk over 2 KB, and while request threads are busy each of those 10,000 hand-backs waits
    for the interpreter's 5 ms switch interval, which made a reload four times longer."""
    return hash(chunk), len(chunk)


class _NotChunkable(Exception):
    pass


def _split(data: bytes) -> tuple[bytes, list[memoryview]] | None:
    """The text around the ``models:`` block list, and one chunk per item; None when the layout is not plain."""
    key = _MODELS_KEY.search(data)
    if key is None:
        return None
    first = _FIRST_ITEM.search(data, key.end())
    if first is None or _ONLY_COMMENTS.fullmatch(data, key.end(), first.start()) is None:
        return None
    indent = first.group(1)
    # Patterns that start with a literal newline: the regex engine skips ahead to each newline instead of trying
    # every position of a 30 MB file.
    stop = b" \t\r\n#" + (b"" if indent else b"-")
    end = _search_end(re.compile(rb"\n(?=[^" + re.escape(stop) + rb"])"), data, first.start())
    item = re.compile(rb"\n" + indent + rb"-(?=[ \r\n])")
    starts = [first.start(), *(m.start() + 1 for m in item.finditer(data, first.start(), end))]
    view = memoryview(data)
    chunks = [view[s:e] for s, e in zip(starts, [*starts[1:], end], strict=True)]
    return data[: key.start()] + data[end:], chunks


_WINDOW = 1 << 20


def _search_end(pattern: re.Pattern[bytes], data: bytes, start: int) -> int:
    """Where ``pattern`` (a newline and a one-byte lookahead) first matches, just after the newline; the end of
    ``data`` when it does not. Searched a megabyte at a time: one search over a 40 MB file holds the GIL for 30 ms,
    which a request thread would wait out."""
    pos = start
    while pos < len(data):
        found = pattern.search(data, pos, min(pos + _WINDOW, len(data)))
        if found is not None:
            return found.start() + 1
        pos += _WINDOW - 1  # windows overlap by a byte: a newline at a window's end needs the next byte
    return len(data)


def _parse_whole(data: bytes) -> tuple[dict[str, Any], list[Any]]:
    try:
        doc = _load(data)
    except yaml.YAMLError as exc:
        raise CatalogFileError(f"not valid YAML: {exc}") from None
    if doc is None:
        return {}, []
    if not isinstance(doc, dict):
        raise CatalogFileError("expected a mapping with 'source' and 'models'")
    models = doc.pop("models", None)
    if models is None:
        models = []
    if not isinstance(models, list):
        raise CatalogFileError("'models' must be a list")
    return doc, models


def parse_catalog(data: bytes, cache: ChunkCache | None = None) -> tuple[str | None, list[Any]]:
    """The file's ``source`` and raw model items; ``CatalogFileError`` when the file is not a catalog."""
    top, items = (cache or ChunkCache()).parse(data)
    unknown = sorted(str(k) for k in top if k not in ("source", "models"))
    if unknown:
        raise CatalogFileError(f"unknown key '{unknown[0]}' (expected source, models)")
    label = top.get("source")
    if label is not None and not isinstance(label, str):
        raise CatalogFileError("'source' must be a string")
    return label, items


def raw_name(item: Any) -> str | None:
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) and name else None


# --- building models -----------------------------------------------------------------------------------------------


def read_catalog(
    data: bytes,
    *,
    source_id: str,
    model_filter: ModelFilter,
    previous: Mapping[str, CatalogModel],
    now_ms: int,
    cache: ChunkCache | None = None,
) -> CatalogLoad:
    """The models of a catalog file that ``model_filter`` keeps. A model without times gets its previous create
    time (``previous``: the source's last models by name), else ``now_ms``: the time this process first saw it."""
    cache = cache or ChunkCache()
    label, items = parse_catalog(data, cache)
    models: dict[str, CatalogModel] = {}
    failures: list[str] = []
    built: dict[int, tuple[Any, str, int, CatalogModel | ModelError]] = {}
    for index, item in enumerate(items):
        name = raw_name(item)
        if name is None:
            failures.append(f"models[{index}]: a model needs a name (a non-empty string)")
            continue
        if not model_filter.matches(name):
            continue
        if name in models:
            failures.append(f"model '{name}': appears more than once")
            continue
        before = previous.get(name)
        default_time = before.create_time_ms if before else now_ms
        known = cache.built.get(id(item))
        if (
            known is not None
            and known[0] is item
            and known[1] == source_id
            and (known[2] == default_time or item.get("createTimeSinceEpoch") is not None)
        ):
            result = known[3]
        else:
            try:
                result = build_model(item, source_id, default_time)
            except ModelError as exc:
                result = exc
            heap.tick()
        built[id(item)] = (item, source_id, default_time, result)
        if isinstance(result, ModelError):
            failures.append(f"model '{name}': {result}")
        else:
            models[name] = result
    cache.built = built
    return CatalogLoad(tuple(models[n] for n in sorted(models)), tuple(failures), label)


def build_model(raw: dict[str, Any], source_id: str, default_time_ms: int) -> CatalogModel:
    unknown = [k for k in raw if k not in _MODEL_KEYS]
    if unknown:
        raise ModelError(f"unknown key '{unknown[0]}'")
    name: str = raw["name"]
    fields: dict[str, Any] = {}
    for key, attr in _STRING_FIELDS.items():
        value = raw.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise ModelError(f"{key} must be a string")
            fields[attr] = value
    license_id = raw.get("license")
    if license_id is not None and not isinstance(license_id, str):
        raise ModelError("license must be a string")
    created = _ms(raw, "createTimeSinceEpoch", default_time_ms)
    updated = _ms(raw, "lastUpdateTimeSinceEpoch", created)
    artifacts_raw = raw.get("artifacts") or []
    if not isinstance(artifacts_raw, list):
        raise ModelError("artifacts must be a list")
    keys: set[str] = set()
    artifacts = []
    for index, item in enumerate(artifacts_raw):
        artifact = _artifact(item, index, source_id, name, created, keys)
        artifacts.append(artifact)
    return CatalogModel(
        source_id=source_id,
        name=name,
        id=stable_id(source_id, name),
        license=readable_license(license_id),
        language=_string_list(raw, "language"),
        tasks=_string_list(raw, "tasks"),
        custom_properties=custom_properties(raw.get("customProperties")),
        create_time_ms=created,
        last_update_time_ms=updated,
        artifacts=tuple(artifacts),
        **fields,
    )


def _artifact(raw: Any, index: int, source_id: str, model: str, model_time: int, keys: set[str]) -> CatalogArtifact:
    where = f"artifacts[{index}]"
    if not isinstance(raw, dict):
        raise ModelError(f"{where} must be a mapping")
    unknown = [k for k in raw if k not in _ARTIFACT_KEYS]
    if unknown:
        raise ModelError(f"{where}: unknown key '{unknown[0]}'")
    kind = raw.get("artifactType", ArtifactType.MODEL.value)
    uri = raw.get("uri")
    metrics_type = raw.get("metricsType")
    if kind == ArtifactType.MODEL.value:
        if not isinstance(uri, str) or not uri:
            raise ModelError(f"{where}: a model-artifact needs a uri")
        scheme = _SCHEME.match(uri)
        if scheme is None or scheme.group(1).lower() not in URI_SCHEMES:
            raise ModelError(
                f"{where}: invalid uri '{uri}': the scheme must be one of {', '.join(sorted(URI_SCHEMES))}"
            )
        artifact_type = ArtifactType.MODEL
    elif kind == ArtifactType.METRICS.value:
        if metrics_type not in METRICS_TYPES:
            raise ModelError(f"{where}: metricsType must be one of {', '.join(sorted(METRICS_TYPES))}")
        if uri is not None and not isinstance(uri, str):
            raise ModelError(f"{where}: uri must be a string")
        artifact_type = ArtifactType.METRICS
    else:
        raise ModelError(f"unknown artifactType: {kind}")
    key = uri if isinstance(uri, str) and uri not in keys else f"#{index}"
    keys.add(key)
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise ModelError(f"{where}: name must be a string")
    created = _ms(raw, "createTimeSinceEpoch", model_time, where)
    return CatalogArtifact(
        id=stable_id(source_id, model, key),
        artifact_type=artifact_type,
        uri=uri,
        metrics_type=metrics_type if artifact_type is ArtifactType.METRICS else None,
        name=name,
        custom_properties=custom_properties(raw.get("customProperties"), where),
        create_time_ms=created,
        last_update_time_ms=_ms(raw, "lastUpdateTimeSinceEpoch", created, where),
    )


def _ms(raw: dict[str, Any], key: str, default: int, where: str = "") -> int:
    value = raw.get(key)
    if value is None:
        return default
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ModelError(f"{where + ': ' if where else ''}{key} must be milliseconds since the epoch")


def _string_list(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ModelError(f"{key} must be a list of strings")
    return tuple(value)


def custom_properties(raw: Any, where: str = "") -> Mapping[str, MetadataValue]:
    """``customProperties`` in the wire form (``metadataType`` filled in, ints as strings, doubles as floats)."""
    if raw is None:
        return {}
    prefix = f"{where}: " if where else ""
    if not isinstance(raw, dict):
        raise ModelError(f"{prefix}customProperties must be a mapping")
    out: dict[str, MetadataValue] = {}
    for key, value in raw.items():
        # The common case, already in wire form, is kept as it is (loading 10,000 models stays cheap).
        if (
            type(value) is dict
            and len(value) == 2
            and value.get("metadataType") == "MetadataStringValue"
            and type(value.get("string_value")) is str
        ):
            out[str(key)] = value
            continue
        try:
            out[str(key)] = _metadata_value(value)
        except ValueError as exc:
            raise ModelError(f"{prefix}customProperties.{key}: {exc}") from None
    return out


def _metadata_value(raw: Any) -> MetadataValue:
    if not isinstance(raw, dict):
        raise ValueError("expected a mapping such as {metadataType: MetadataStringValue, string_value: ...}")
    kind = raw.get("metadataType")
    if kind is None:
        present = [k for k in raw if k in _TYPE_OF_KEY]
        if len(present) != 1:
            raise ValueError("metadataType is missing")
        kind = _TYPE_OF_KEY[present[0]]
    value_key = VALUE_KEYS.get(kind) if isinstance(kind, str) else None
    if value_key is None:
        raise ValueError(f"unknown metadataType {kind!r}")
    allowed = {"metadataType", value_key, *(("type",) if kind == "MetadataProtoValue" else ())}
    extra = [k for k in raw if k not in allowed]
    if extra:
        raise ValueError(f"unexpected key '{extra[0]}' for {kind}")
    if value_key not in raw:
        raise ValueError(f"{value_key} is missing")
    out = {"metadataType": kind, value_key: _CONVERT[value_key](raw[value_key])}
    if "type" in raw:
        out["type"] = str(raw["type"])
    return out


def _to_int(value: Any) -> str:
    if type(value) is int or (isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip())):
        return str(int(value))
    raise ValueError("int_value must be an integer")


def _to_double(value: Any) -> float:
    if type(value) in (int, float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("double_value must be a number") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError("bool_value must be true or false")


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ValueError("string_value must be a string")
    return str(value)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "string_value": _to_string,
    "int_value": _to_int,
    "double_value": _to_double,
    "bool_value": _to_bool,
    "struct_value": _to_string,
    "proto_value": _to_string,
}

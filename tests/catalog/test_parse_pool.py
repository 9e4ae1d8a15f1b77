"""Parsing catalog chunks fast: the loader's YAML reader agrees with PyYAML, and worker processes give the same
catalog as the calling thread."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sources_builders import model, source, write_catalog, write_sources

from modelreg.catalog.loader import CatalogLoader
from modelreg.catalog.models import SourceStatus
from modelreg.catalog.parse_pool import PIPE_BYTES, ParsePool, load

DOCUMENTS = [
    b"",
    b"a: 1\nb: [1, 2.5, true, null, 2020-01-01, .inf, 0o17, yes]\n",
    b"x: &a {k: v}\ny: *a\n",  # an alias
    b"base: &b {p: 1}\nm:\n  <<: *b\n  q: 2\n",  # a merge key
    b"? [1, 2]\n: v\n",  # an unhashable key: PyYAML's error
    b"a: 1\na: 2\n",  # a repeated key: the last wins
    b"- '1'\n- \"s\"\n- |\n  block\n  text\n- >-\n  folded\n",
    b"!!str 12\n",
    b"k: !!int '7'\nset: !!set {a, b}\nraw: !!binary aGk=\n",
    b"a: !unknown 1\n",  # an unknown tag: PyYAML's error
    b"a: [b\n",  # not YAML
]


def pyyaml(data: bytes) -> Any:
    try:
        return yaml.load(data, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        return type(exc)


@pytest.mark.parametrize("data", DOCUMENTS)
def test_load_agrees_with_pyyaml(data: bytes) -> None:
    try:
        got = load(data)
    except yaml.YAMLError as exc:
        got = type(exc)
    assert got == pyyaml(data)


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    workers = ParsePool(min_chunks=1, batch=3)  # workers even for a small catalog
    yield workers
    workers.close()


def catalog_models(count: int) -> list[dict[str, Any]]:
    return [
        model(
            f"org/model-{i:03d}",
            description=f"Model {i}",
            tasks=["text-generation"],
            customProperties={"size_b": {"metadataType": "MetadataDoubleValue", "double_value": i / 2}},
            createTimeSinceEpoch=str(1_700_000_000_000 + i),
        )
        for i in range(count)
    ]


def test_worker_processes_give_the_same_catalog(tmp_path: Path, pool: ParsePool) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", catalog_models(20))
    sources = write_sources(tmp_path / "sources.yaml", [source("files", catalog.name)])
    inline = CatalogLoader().load([sources]).sources[0]
    parallel_loader = CatalogLoader(pool=pool)
    parallel = parallel_loader.load([sources]).sources[0]
    assert parallel.source.status is SourceStatus.AVAILABLE
    assert parallel.models == inline.models
    assert len(parallel.models) == 20

    # A chunk that is not YAML: the file is parsed whole, which names the problem, as without workers.
    catalog.write_text(catalog.read_text().replace("description: Model 7", "description: [Model 7"))
    broken = parallel_loader.load([sources], None).sources[0]
    assert broken.source.status is SourceStatus.ERROR
    assert broken.source.error == CatalogLoader().load([sources]).sources[0].source.error
    assert "not valid YAML" in (broken.source.error or "")


def test_a_stopped_worker_makes_that_load_parse_in_the_calling_thread(tmp_path: Path, pool: ParsePool) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", catalog_models(9))
    sources = write_sources(tmp_path / "sources.yaml", [source("files", catalog.name)])
    assert len(CatalogLoader(pool=pool).load([sources]).sources[0].models) == 9
    executor = pool._executor
    assert executor is not None
    for process in list(executor._processes.values()):
        process.kill()
        process.join(timeout=10)
    write_catalog(catalog, catalog_models(12))
    again = CatalogLoader(pool=pool).load([sources]).sources[0]
    assert again.source.status is SourceStatus.AVAILABLE
    assert len(again.models) == 12
    write_catalog(catalog, catalog_models(5))  # and the next load starts fresh workers
    assert len(CatalogLoader(pool=pool).load([sources]).sources[0].models) == 5
    assert pool._executor is not None and pool._executor is not executor


def test_results_come_back_through_a_widened_pipe(tmp_path: Path, pool: ParsePool) -> None:
    # A 64 KB pipe costs the server one GIL hand-off (up to 5 ms with busy request threads) per 64 KB of results.
    catalog = write_catalog(tmp_path / "catalog.yaml", catalog_models(6))
    sources = write_sources(tmp_path / "sources.yaml", [source("files", catalog.name)])
    assert len(CatalogLoader(pool=pool).load([sources]).sources[0].models) == 6
    assert pool._executor is not None
    reader = pool._executor._result_queue._reader  # type: ignore[attr-defined]
    assert fcntl.fcntl(reader.fileno(), fcntl.F_GETPIPE_SZ) >= PIPE_BYTES


def test_an_edit_rebuilds_only_the_edited_model(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "catalog.yaml", catalog_models(5))
    sources = write_sources(tmp_path / "sources.yaml", [source("files", catalog.name)])
    loader = CatalogLoader()
    first = loader.load([sources])
    catalog.write_text(catalog.read_text().replace("description: Model 3", "description: Model three"))
    second = loader.load([sources], first)
    before, after = first.sources[0].models, second.sources[0].models
    assert [m.description for m in after] == ["Model 0", "Model 1", "Model 2", "Model three", "Model 4"]
    # The others are the same objects, so the index keeps what it prepared for them.
    assert [a is b for a, b in zip(before, after, strict=True)] == [True, True, True, False, True]

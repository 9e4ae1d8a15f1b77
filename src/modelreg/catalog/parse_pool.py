"""Parsing many catalog model chunks at once in two worker processes.

Why: PyYAML's C parser still builds every node and Python object under the GIL (about 0.35 ms per model of the
benchmark's size), so a regenerated 10,000-model file costs 3.5 s of one core, and request threads get half the
interpreter while it runs. In worker processes the parse uses both cores and none of the server's GIL; the server
only unpickles the results (about 7 times cheaper than parsing), in batches of ``BATCH`` models: small enough that
no request waits long behind one, big enough that the hand-offs between threads (each may wait a 5 ms switch
interval when request threads are busy) stay few.

The workers start lazily, on the first load big enough to gain from them (``MIN_CHUNKS``), with the "forkserver"
context ("spawn" where there is none): never a plain fork of a threaded server. They stay up for the next reload
and stop with ``close()``. A broken pool (a worker killed) makes that load parse in the calling thread, and the next
big load starts a fresh pool.

Results come back through a pipe that ``_widen_result_pipe`` enlarges from 64 KB to 1 MB: the server's result
thread reads each 64 KB piece in a call that lets go of the GIL, and with request threads busy each hand-back can
wait a 5 ms switch interval (40 MB of results: 3.4 s instead of 0.05 s). A 1 MB pipe takes about one read per batch.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from modelreg.catalog import heap

log = logging.getLogger("modelreg.catalog")

WORKERS = 2
MIN_CHUNKS = 256  # fewer chunks than this parse in the calling thread: starting workers would cost more
BATCH = 256  # chunks per task: unpickling one result holds the server's GIL about 6 ms (one switch interval)
PIPE_BYTES = 1 << 20  # the result pipe's size: Linux lets any process raise it to /proc/sys/fs/pipe-max-size (1 MB)


class NotOneItem(Exception):
    """A chunk did not parse as a list of exactly one item (the split guessed the layout wrong)."""


class _Loader(yaml.CSafeLoader):
    """``CSafeLoader`` with plain scalars' tags remembered: a catalog repeats the same keys and values (``name``,
    ``customProperties``, ``apache-2.0``) thousands of times, and each look-up otherwise runs the resolver's
    regular expressions in Python."""

    _tags: ClassVar[dict[str, str]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:  # a plain scalar: the tag depends on the text alone
            tag = self._tags.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                if len(self._tags) < _MAX_TAGS:
                    self._tags[value] = tag
            return tag
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


_MAX_TAGS = 10_000
_STR, _MAP, _SEQ = (f"tag:yaml.org,2002:{name}" for name in ("str", "map", "seq"))
_MERGE = "tag:yaml.org,2002:merge"


def _build(loader: _Loader, node: Node) -> Any:
    """The Python value of ``node``: strings, mappings and lists directly (most of a catalog), anything else
    (numbers, booleans, dates, merge keys) by PyYAML's safe constructor. About 40% cheaper than ``yaml.load``."""
    kind = type(node)
    if kind is ScalarNode and node.tag == _STR:
        return node.value
    if kind is MappingNode and node.tag == _MAP and not any(key.tag == _MERGE for key, _ in node.value):
        return {_build(loader, key): _build(loader, value) for key, value in node.value}
    if kind is SequenceNode and node.tag == _SEQ:
        return [_build(loader, item) for item in node.value]
    return loader.construct_object(node, deep=True)


def load(data: bytes) -> Any:
    """``yaml.safe_load`` with libyaml, faster for catalogs; the same result (PyYAML's own path decides whenever
    the fast one meets something it does not handle, such as a mapping used as a key)."""
    loader = _Loader(data)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(loader, node)
    except (TypeError, RecursionError):
        pass
    finally:
        loader.dispose()
    return yaml.load(data, Loader=yaml.CSafeLoader)


def parse_chunk(chunk: bytes) -> Any:
    """The one model item of a chunk (``- name: ...``); ``NotOneItem`` or ``yaml.YAMLError`` otherwise."""
    one = load(chunk)
    if not isinstance(one, list) or len(one) != 1:
        raise NotOneItem
    return one[0]


def _parse_batch(chunks: list[bytes]) -> list[Any] | None:
    """In a worker: the items, or None when any chunk is not one item or not YAML (the caller then parses the
    whole file, which gives the authoritative error)."""
    try:
        return [parse_chunk(chunk) for chunk in chunks]
    except (yaml.YAMLError, NotOneItem):
        return None


def _widen_result_pipe(executor: ProcessPoolExecutor) -> None:
    """Give the pool's result pipe ``PIPE_BYTES`` (see the module's docstring). The pipe is a private attribute of
    ``ProcessPoolExecutor`` (``_result_queue._reader``, stable since Python 3.3): when it is missing or the kernel
    refuses, the pool works as before, only with more hand-offs."""
    reader = getattr(getattr(executor, "_result_queue", None), "_reader", None)
    try:
        fcntl.fcntl(reader.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError) as exc:
        log.debug("catalog parse pool: result pipe left at its default size (%s)", exc)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class ParsePool:
    """``parse(chunks)`` with the workers for big loads, in the calling thread for small ones."""

    def __init__(self, workers: int = WORKERS, min_chunks: int = MIN_CHUNKS, batch: int = BATCH) -> None:
        self.workers = workers
        self.min_chunks = min_chunks
        self.batch = batch
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def parse(self, chunks: list[bytes]) -> list[Any]:
        """The item of every chunk, in order; ``NotOneItem`` or ``yaml.YAMLError`` when a chunk is not one item."""
        if len(chunks) < self.min_chunks or self.workers < 1:
            return [parse_chunk(chunk) for chunk in chunks]
        executor = self._start()
        batches = [chunks[i : i + self.batch] for i in range(0, len(chunks), self.batch)]
        items: list[Any] = []
        try:
            for result in executor.map(_parse_batch, batches):
                if result is None:
                    raise NotOneItem
                items += result
                heap.tick(len(result))
        except BrokenProcessPool:
            log.warning("catalog parse workers stopped; parsing in the server process this time")
            self._drop(executor)
            return [parse_chunk(chunk) for chunk in chunks]
        return items

    def close(self) -> None:
        """Stop the workers (a later big load starts them again)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _start(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(self.workers, mp_context=_context())
                _widen_result_pipe(self._executor)
            return self._executor

    def _drop(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

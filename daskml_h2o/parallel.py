"""The distributed primitives every algorithm uses, over chunks persisted once per fit.

- ``persist_chunks``: per-partition training arrays built by one task per partition and kept
  on the workers (co-located: each chunk's arrays live together in one dict).
- ``map_chunks``: one named task per chunk (``gbm-t12-level3-p17``) applying a function to the
  chunk and to other per-chunk futures, with small arguments or ones scattered once.
- ``tree_reduce``: ordered reduction with ``split_every`` inputs per task, so sums come out the
  same for any number of workers (partition order is fixed).
- ``gather``: the one small result per step.

A task that fails says which partition it ran on. Lost workers are survived by Dask's lineage:
every future here can be recomputed from the persisted chunks, which are themselves rebuilt
from the frame's graph.
"""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

import dask
import distributed

from daskml_h2o.cluster import get_client

__all__ = ["ChunkSet", "persist_chunks", "map_chunks", "tree_reduce", "gather", "scatter", "PartitionError"]

_counter = itertools.count()


class PartitionError(RuntimeError):
    """A per-partition task failed; the message names the partition and the original error."""


def _token() -> str:
    return uuid.uuid4().hex[:12]


def _on_partition(fn, index, *args):
    try:
        return fn(*args)
    except Exception as exc:  # re-raised with the partition named; the original is chained
        raise PartitionError(f"partition {index}: {type(exc).__name__}: {exc}") from exc


@dataclass
class ChunkSet:
    """Persisted per-partition arrays in partition order, plus their row counts. ``futures`` are
    the chunks' futures on the workers -- or the chunk values themselves where a ``LocalExecutor``
    holds them in this process."""

    futures: list
    nrows: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.futures)

    @property
    def total_rows(self) -> int:
        return int(sum(self.nrows))

    @property
    def on_scheduler(self) -> bool:
        """Whether the chunks are dask futures (else values, or an executor's handles)."""
        return any(isinstance(f, distributed.Future) for f in self.futures)

    def release(self) -> None:
        """Let the chunks go (an executor's handles are forgotten with their last reference)."""
        for f in self.futures:
            if isinstance(f, distributed.Future):
                f.release()
        self.futures = []


def persist_chunks(ddf, prepare, *args, name: str = "chunk", client=None, executor=None,
                   nrows=None, columns=None) -> ChunkSet:
    """Build ``prepare(pandas_partition, *args) -> dict of numpy arrays`` once per partition,
    keep the results on the workers and count their rows (the dict's ``"n"`` entry) -- unless
    ``nrows``, the partitions' row counts, are known: then nothing is waited for (the chunks'
    errors surface where they are used). ``columns``: the only columns ``prepare`` reads; a
    frame still to compute reads only those.

    Where the executor holds the chunks the scheduler is not asked to build them: a
    LocalExecutor takes the partitions into this process (where the one worker already holds
    them) and builds the chunks on its threads, one round trip instead of three; an executor
    that ``adopts_partitions`` (chunk hosts) takes a persisted frame's partitions where the
    workers hold them and builds the chunks there, as steps it can replay from the partitions
    (``ChunkSet.futures`` are then its handles)."""
    client = client or get_client()
    held = _persisted_futures(ddf)
    if held is None and columns is not None and set(columns) != set(ddf.columns):
        # a persisted frame is read as held: a projection would copy each partition first
        ddf = ddf[list(columns)]
    if executor is not None and executor.local:
        values = executor.map(prepare, _partitions_here(ddf, held, client), args=args, name=name)
        return ChunkSet(values, [int(v["n"]) for v in values])
    if held is not None and executor is not None and executor.adopts_partitions:
        parts = executor.chunks(ChunkSet(held, list(nrows) if nrows is not None else []))
        chunks = executor.map(prepare, parts, args=args, name=name)
        if nrows is None or len(nrows) != len(chunks):
            nrows = executor.gather(executor.map(_chunk_rows, chunks, name=f"{name}-rows"))
        return ChunkSet(chunks, [int(c) for c in nrows])
    parts = ddf.to_delayed(optimize_graph=True)
    token = _token()
    # the arguments as one graph node each, not walked or copied per partition (a layout's
    # enum domains made dask.delayed visit ~8,000 objects a fit on flights)
    args = [dask.delayed(a, traverse=False, name=f"{name}-arg{j}-{token}") for j, a in enumerate(args)]
    tasks = [dask.delayed(_on_partition, pure=False)(prepare, i, part, *args,
                                                      dask_key_name=f"{name}-p{i}-{token}")
             for i, part in enumerate(parts)]
    futures = client.compute(tasks)
    if nrows is not None and len(nrows) == len(futures):
        return ChunkSet(futures, [int(c) for c in nrows])
    counts = client.gather([client.submit(_chunk_rows, f, key=f"{name}-rows-p{i}-{token}")
                            for i, f in enumerate(futures)])
    return ChunkSet(futures, [int(c) for c in counts])


def _partitions_here(ddf, held, client) -> list:
    """The frame's partitions as pandas objects in this process (a LocalExecutor's: the one
    worker is in this process): a persisted frame's ``held`` futures gathered (~1 ms, no copy),
    anything else computed (a graph submission, ~20 ms and up)."""
    futures = held if held is not None else client.compute(ddf.to_delayed(optimize_graph=True))
    return client.gather(futures)


def local_partitions(ddf, client=None) -> list | None:
    """A persisted frame's partitions (pandas, partition order) when the cluster is the one
    worker inside this process -- its memory is ours, so this copies nothing and skips the
    scheduler round trip a small dask computation costs (4 to 200 ms measured); else None."""
    client = client or get_client()
    if in_process_threads(client) is None:
        return None
    futures = _persisted_futures(ddf)
    return None if futures is None else client.gather(futures)


def _persisted_futures(ddf) -> list | None:
    graph = ddf.__dask_graph__()
    futures = [_held_future(graph, key) for key in ddf.__dask_keys__()]
    return futures if all(f is not None for f in futures) else None


def _held_future(graph, key):
    """The future a persisted collection's partition key stands for (through the aliases dask
    puts between a collection's names and its futures), or None for a key still to compute."""
    for _ in range(8):
        node = graph.get(key)
        if isinstance(node, distributed.Future):
            return node
        key = getattr(node, "target", None)  # an alias points at the key it renames
        if key is None:
            return None
    return None


def _chunk_rows(chunk) -> int:
    return int(chunk["n"])


def scatter(obj, client=None):
    """Send one object (a model, a tree list) to the workers once; pass the future to tasks."""
    client = client or get_client()
    return client.scatter(obj, hash=False, broadcast=False)


def map_chunks(fn, *per_chunk, args=(), name: str, client=None) -> list:
    """Submit ``fn(chunk_values..., *args)`` for every chunk; ``per_chunk`` are equal-length
    lists of futures (a ChunkSet counts as its futures). Returns the futures, chunk order."""
    client = client or get_client()
    lists = [p.futures if isinstance(p, ChunkSet) else list(p) for p in per_chunk]
    n = len(lists[0])
    if any(len(lst) != n for lst in lists):
        raise ValueError("map_chunks: every per-chunk list must have one entry per chunk")
    token = _token()
    return [client.submit(_on_partition, fn, i, *(lst[i] for lst in lists), *args,
                          key=f"{name}-p{i}-{token}", pure=False)
            for i in range(n)]


def tree_reduce(combine, futures: list, split_every: int = 8, name: str = "reduce", client=None):
    """Combine futures pairwise-in-groups in their given order: ``combine(*values)`` with up to
    ``split_every`` inputs per task, level by level, until one future is left."""
    if not futures:
        raise ValueError("tree_reduce needs at least one input")
    if split_every < 2:
        raise ValueError("split_every must be at least 2")
    client = client or get_client()
    token = _token()
    level = 0
    while len(futures) > 1:
        futures = [client.submit(combine, *group, key=f"{name}-r{level}-{i}-{token}", pure=False)
                   for i, group in enumerate(_ordered_groups(futures, split_every))]
        level += 1
    return futures[0]


def gather(future_or_list, client=None):
    """The value(s) of futures, on the driver."""
    client = client or get_client()
    return client.gather(future_or_list)


def wait(futures) -> None:
    distributed.wait(futures)


def _ordered_groups(items: list, split_every: int) -> list:
    """The grouping tree_reduce uses, level by level, so both executors add in the same order."""
    return [items[i:i + split_every] for i in range(0, len(items), split_every)]


def reduce_in_order(combine, items: list, split_every: int = 8):
    """``combine(*group)`` over values in their order, tree_reduce's groups level by level,
    until one value is left: the same additions in the same order as tree_reduce's tasks."""
    if not items:
        raise ValueError("reduce needs at least one input")
    while len(items) > 1:
        items = [combine(*group) for group in _ordered_groups(items, split_every)]
    return items[0]


class DaskExecutor:
    """Algorithms' per-chunk steps as named tasks on the cluster (any number of workers)."""

    local = False
    adopts_partitions = False

    def __init__(self, client=None):
        self.client = client or get_client()

    def chunks(self, chunk_set: ChunkSet) -> list:
        return chunk_set.futures

    def durable(self, fn, chunk_set: ChunkSet, args=(), name: str = "prepare") -> list:
        return map_chunks(fn, chunk_set, args=args, name=name, client=self.client)

    def share(self, value):
        return scatter(value, client=self.client)

    def retrying(self, fn):
        return fn()

    def map(self, fn, *per_chunk, args=(), name: str) -> list:
        return map_chunks(fn, *per_chunk, args=args, name=name, client=self.client)

    def reduce(self, combine, items: list, name: str, split_every: int = 8):
        return tree_reduce(combine, items, split_every=split_every, name=name, client=self.client)

    def gather(self, items):
        return gather(items, client=self.client)

    def wait(self, items) -> None:
        distributed.wait(items)

    def close(self) -> None:
        return None


class LocalExecutor:
    """The same steps on chunks already in this process (an in-process LocalCluster worker holds
    them, so gathering them copies nothing): a thread pool runs the GIL-free numba kernels over
    the chunks and reductions add in the same fixed order as ``tree_reduce``. This removes the
    scheduler round trip per tree level that dominates small and medium fits."""

    local = True
    adopts_partitions = False

    def __init__(self, n_threads: int):
        from concurrent.futures import ThreadPoolExecutor
        self.n_threads = max(1, int(n_threads))
        self.pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="daskml-h2o")

    def chunks(self, chunk_set: ChunkSet) -> list:
        if not chunk_set.on_scheduler:
            return list(chunk_set.futures)  # built here already (persist_chunks with this executor)
        return gather(chunk_set.futures)

    def durable(self, fn, chunk_set: ChunkSet, args=(), name: str = "prepare") -> list:
        """A step whose results stay for the whole fit (binned chunks); here simply a map."""
        return self.map(fn, self.chunks(chunk_set), args=args, name=name)

    def share(self, value):
        """A constant argument of many steps (the histogram strategy): sent once where that matters."""
        return value

    def retrying(self, fn):
        """``fn()``; executors over worker processes repeat it after recovering a lost worker."""
        return fn()

    def map(self, fn, *per_chunk, args=(), name: str) -> list:
        lists = [list(p) for p in per_chunk]
        n = len(lists[0])
        if n == 1 or self.n_threads == 1:
            return [_on_partition(fn, i, *(lst[i] for lst in lists), *args) for i in range(n)]
        # the calling thread takes the first chunk itself instead of idling on the pool
        jobs = [self.pool.submit(_on_partition, fn, i, *(lst[i] for lst in lists), *args) for i in range(1, n)]
        first = _on_partition(fn, 0, *(lst[0] for lst in lists), *args)
        return [first] + [j.result() for j in jobs]

    def reduce(self, combine, items: list, name: str, split_every: int = 8):
        return reduce_in_order(combine, items, split_every)

    def gather(self, items):
        return items

    def wait(self, items) -> None:
        return None

    def close(self) -> None:
        self.pool.shutdown(wait=False)


def in_process_threads(client=None) -> int | None:
    """The threads of the cluster's only worker when that worker runs inside this process (the
    embedded threaded default), else None."""
    client = client or get_client()
    workers = client.scheduler_info().get("workers", {})
    if len(workers) == 1:
        address, info = next(iter(workers.items()))
        if address.startswith("inproc://"):
            return int(info.get("nthreads", 1))
    return None


def executor_for(client=None):
    """LocalExecutor when the whole cluster is one worker inside this process (the embedded
    threaded default), else ``chunk_hosts.HostExecutor``: per-worker chunk hosts, one direct
    call per host and step instead of scheduler tasks (``DaskExecutor`` runs the same steps
    as plain tasks)."""
    client = client or get_client()
    threads = in_process_threads(client)
    if threads is not None:
        return LocalExecutor(threads)
    from daskml_h2o.chunk_hosts import HostExecutor
    return HostExecutor(client)

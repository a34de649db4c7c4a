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
import dask.array as da
import distributed
import numpy as np

from daskml_h2o.cluster import get_client

__all__ = ["ChunkSet", "persist_chunks", "map_chunks", "tree_reduce", "gather", "scatter", "as_dask_array",
           "PartitionError"]

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
    """Persisted per-partition arrays in partition order, plus their row counts."""

    futures: list
    nrows: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.futures)

    @property
    def total_rows(self) -> int:
        return int(sum(self.nrows))

    def release(self) -> None:
        for f in self.futures:
            f.release()
        self.futures = []


def persist_chunks(ddf, prepare, *args, name: str = "chunk", client=None) -> ChunkSet:
    """Build ``prepare(pandas_partition, *args) -> dict of numpy arrays`` once per partition,
    keep the results on the workers and count their rows (the dict's ``"n"`` entry)."""
    client = client or get_client()
    parts = ddf.to_delayed(optimize_graph=True)
    token = _token()
    tasks = [dask.delayed(_on_partition, pure=False)(prepare, i, part, *args,
                                                      dask_key_name=f"{name}-p{i}-{token}")
             for i, part in enumerate(parts)]
    futures = client.compute(tasks)
    counts = client.gather([client.submit(_chunk_rows, f, key=f"{name}-rows-p{i}-{token}")
                            for i, f in enumerate(futures)])
    return ChunkSet(futures, [int(c) for c in counts])


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
        futures = [client.submit(combine, *futures[i:i + split_every],
                                 key=f"{name}-r{level}-{i // split_every}-{token}", pure=False)
                   for i in range(0, len(futures), split_every)]
        level += 1
    return futures[0]


def gather(future_or_list, client=None):
    """The value(s) of futures, on the driver."""
    client = client or get_client()
    return client.gather(future_or_list)


def as_dask_array(futures: list, nrows: list, ncols: int | None = None, dtype=np.float64):
    """A dask array over per-chunk futures of numpy arrays (rows in chunk order), so dask
    reductions (metrics) run where the chunks live."""
    pieces = []
    for fut, n in zip(futures, nrows):
        shape = (int(n),) if ncols is None else (int(n), int(ncols))
        pieces.append(da.from_delayed(dask.delayed(fut), shape=shape, dtype=dtype))
    return da.concatenate(pieces, axis=0)


def wait(futures) -> None:
    distributed.wait(futures)

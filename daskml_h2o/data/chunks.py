"""Training frames -> per-partition numpy chunks, persisted once per fit, and the one-pass
column statistics every algorithm needs from them.

A chunk is a dict on a worker: ``X`` (float64, Fortran order, enum predictors as training
level codes with NaN for NA and codes >= K for levels the model never saw), ``y`` (float64:
class index or value, NaN = NA), ``w`` (float64; 0 for rows with NA response or NA weight),
``offset`` (float64 or None) and ``n``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit

from daskml_h2o import parallel
from daskml_h2o.models.predict import _categorical_codes, _enum_codes, adapt_partition

__all__ = ["ColumnLayout", "layout_of", "persist_training_chunks", "stats_and_sample", "row_starts"]


@dataclass
class ColumnLayout:
    """Which columns a model reads and how: names in model order, H2O types, enum domains."""

    columns: list
    types: dict
    domains: dict = field(default_factory=dict)
    y: str | None = None
    response_domain: list | None = None
    weights_column: str | None = None
    offset_column: str | None = None

    def subset(self, keep: list) -> "ColumnLayout":
        return ColumnLayout([c for c in self.columns if c in keep], {c: self.types[c] for c in keep},
                            {c: d for c, d in self.domains.items() if c in keep}, self.y, self.response_domain,
                            self.weights_column, self.offset_column)


def layout_of(spec) -> ColumnLayout:
    frame = spec.frame
    domains = {c: [str(v) for v in frame._ddf[c].cat.categories] for c in spec.x if frame._types[c] == "enum"}
    return ColumnLayout(list(spec.x), {c: frame._types[c] for c in spec.x}, domains, spec.y, spec.domain,
                        spec.weights_column, spec.offset_column)


def _response(pdf: pd.DataFrame, layout: ColumnLayout) -> np.ndarray:
    if layout.y is None or layout.y not in pdf.columns:
        return np.full(len(pdf), np.nan)
    values = pdf[layout.y]
    if layout.response_domain is None:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    domain = list(layout.response_domain)
    codes = (_categorical_codes(values, domain) if isinstance(values.dtype, pd.CategoricalDtype)
             else _enum_codes(values, domain))
    codes[codes >= len(domain)] = np.nan  # a response level outside the training domain is NA
    return codes


def partition_to_chunk(pdf: pd.DataFrame, layout: ColumnLayout) -> dict:
    """One pandas partition -> the chunk dict (see the module docstring)."""
    X = adapt_partition(pdf, layout, order="F")
    y = _response(pdf, layout)
    n = len(pdf)
    if layout.weights_column is not None and layout.weights_column in pdf.columns:
        w = pd.to_numeric(pdf[layout.weights_column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if np.any(w[np.isfinite(w)] < 0):
            raise ValueError(f"weights column {layout.weights_column!r} has negative weights; weights must be >= 0")
        w = np.where(np.isfinite(w), w, 0.0)
    else:
        w = np.ones(n)
    if layout.y is not None:
        w = np.where(np.isnan(y), 0.0, w)
    offset = None
    if layout.offset_column is not None and layout.offset_column in pdf.columns:
        offset = pd.to_numeric(pdf[layout.offset_column], errors="coerce").to_numpy(dtype=np.float64,
                                                                                      na_value=np.nan)
        offset = np.where(np.isfinite(offset), offset, 0.0)
    return {"X": X, "y": y, "w": w, "offset": offset, "n": n}


def persist_training_chunks(frame, layout: ColumnLayout, name: str = "chunk",
                            executor=None) -> parallel.ChunkSet:
    """Read the columns the model needs once and keep them as chunks: on the workers, or in
    this process under a LocalExecutor (``parallel.persist_chunks``)."""
    needed = list(layout.columns)
    for extra in (layout.y, layout.weights_column, layout.offset_column):
        if extra is not None and extra in frame._types and extra not in needed:
            needed.append(extra)
    # the chunks pick their columns by name: a frame still to compute reads only these (a
    # projection of every column only costs time: ~50 ms per partition for MNIST's 785 columns).
    # Partition lengths the frame already knows (it counted them for nrow) save a round trip.
    return parallel.persist_chunks(frame._ddf, partition_to_chunk, layout, name=name, executor=executor,
                                   nrows=frame._layout.lengths, columns=needed)


def row_starts(chunks: parallel.ChunkSet) -> list[int]:
    """Global index of every chunk's first row."""
    return [int(s) for s in np.concatenate([[0], np.cumsum(chunks.nrows)[:-1]])]


@njit(nogil=True, cache=True)
def _column_summaries(X, lo, hi, na, whole):
    # column by column: X is Fortran-ordered, so each column is one contiguous read
    for j in range(X.shape[1]):
        mn, mx, nna, wh = np.inf, -np.inf, 0, True
        for i in range(X.shape[0]):
            v = X[i, j]
            if np.isnan(v):
                nna += 1
                continue
            mn = min(mn, v)
            mx = max(mx, v)
            if wh and v != np.floor(v):
                wh = False
        lo[j], hi[j], na[j], whole[j] = mn, mx, nna, wh


def _chunk_stats(chunk) -> dict:
    X, w = chunk["X"], chunk["w"]
    nf = X.shape[1]
    lo, hi, na, whole = np.empty(nf), np.empty(nf), np.empty(nf, np.int64), np.empty(nf, bool)
    _column_summaries(X, lo, hi, na, whole)
    return {"min": lo, "max": hi, "na": na, "n": int(X.shape[0]),
            "whole": whole, "wsum": float(w.sum()), "rows_used": int(np.count_nonzero(w))}


def _merge_stats(*parts) -> dict:
    out = dict(parts[0])
    for p in parts[1:]:
        out = {"min": np.minimum(out["min"], p["min"]), "max": np.maximum(out["max"], p["max"]),
               "na": out["na"] + p["na"], "n": out["n"] + p["n"], "whole": out["whole"] & p["whole"],
               "wsum": out["wsum"] + p["wsum"], "rows_used": out["rows_used"] + p["rows_used"]}
    return out


def _stats_and_sample(chunk, row_start, seed, rate, columns):
    """_chunk_stats and the sampled rows of ``columns``, each column float32 where every value
    survives the round trip (integer-valued columns do): the same numbers in half the bytes."""
    from daskml_h2o.gbm.grower import row_uniform
    stats = _chunk_stats(chunk)
    n = chunk["n"]
    rows = np.flatnonzero(row_uniform(seed, row_start, n) < rate) if rate < 1 else np.arange(n)
    sampled = []
    for j in columns:
        col = chunk["X"][rows, j]
        narrow = col.astype(np.float32)
        sampled.append(narrow if np.array_equal(narrow, col, equal_nan=True) else col)
    return stats, sampled


def stats_and_sample(chunks: parallel.ChunkSet, max_rows: int, seed: int, columns, executor=None):
    """One pass over the chunks (one scheduler round trip on worker processes) for
    (stats, X). stats: per column min, max, NA count and whether every value is whole, the total
    weight and the rows used, merged in partition order. X: about ``max_rows`` rows chosen per
    global row index (the same rows for any partitioning) for bin edges, float64 and
    Fortran-ordered with every column of the chunks; only ``columns`` hold the sample (the
    others are 0). ``executor`` runs the steps where the chunks are held (named tasks by
    default)."""
    ex = executor or parallel.DaskExecutor()
    rate = min(1.0, max_rows / max(1, chunks.total_rows))
    columns = [int(j) for j in columns]
    parts = ex.gather(ex.map(_stats_and_sample, chunks.futures, row_starts(chunks),
                             args=(seed, rate, columns), name="column-stats-sample"))
    stats = parallel.reduce_in_order(_merge_stats, [p[0] for p in parts])
    n_sampled = sum(len(p[1][0]) for p in parts) if columns else 0
    X = np.zeros((n_sampled, len(stats["min"])), order="F")
    for k, j in enumerate(columns):
        np.concatenate([p[1][k] for p in parts], out=X[:, j], casting="same_kind")
    return stats, X

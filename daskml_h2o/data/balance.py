"""``balance_classes``: H2O's stratified over/under-sampling of a training frame
(``MRUtils.sampleFrameStratified``, spec deeplearning.md §9.6, gbm.md §14) and the
probability correction a model trained on the balanced frame applies at prediction time.

Row i of class k is emitted ``floor(s_k)`` times plus once more when the PCG draw seeded with
``seed + i`` falls below ``frac(s_k)``: the draws depend on the global row index only, so the
balanced frame is the same for any partitioning. Sampling ratios follow H2O's float32
arithmetic. H2O then shuffles rows inside each chunk; that shuffle depends on H2O's chunk
layout and is not reproduced (rows keep their order, copies of a row stay together).
"""
from __future__ import annotations

from dataclasses import dataclass

import dask
import numpy as np
import pandas as pd

from daskml_h2o import _pcg
from daskml_h2o.models.predict import _categorical_codes, _enum_codes

__all__ = ["Balance", "sampling_ratios", "fit_balance", "balance_frame", "correct_probabilities"]

_MAX_TRIES = 10  # H2O redraws (seed + 1) until every class has a row, at most this often


@dataclass
class Balance:
    """A fitted balancing: per-class sampling ratios (float32), the seed the draws use, the
    source frame's partition offsets, and the class distributions before (``prior``) and
    after (``model_dist``) balancing (weighted, relative), plus the balanced row counts."""

    y: str
    domain: list
    weights_column: str | None
    ratios: np.ndarray
    seed: int
    offsets: tuple
    prior: np.ndarray
    model_dist: np.ndarray
    class_counts: np.ndarray

    @property
    def nrows(self) -> int:
        return int(self.class_counts.sum())


def sampling_ratios(dist, nrows: int, class_sampling_factors=None, max_after_balance_size: float = 5.0):
    """H2O's per-class sampling ratios for class counts (or weight sums) ``dist`` of a frame
    of ``nrows`` rows: majority class 1, minorities oversampled to balance (or the given
    factors), all scaled down so about ``max_after_balance_size * nrows`` rows at most."""
    dist = np.asarray(dist, dtype=np.float64)
    K = len(dist)
    f32 = np.float32
    if class_sampling_factors is None:
        if np.any(dist == 0):
            empty = [k for k in range(K) if dist[k] == 0]
            raise ValueError(f"balance_classes: class(es) {empty} of the response have no rows; drop the unused "
                             "levels or give class_sampling_factors")
        ratios = (f32(nrows) / f32(K)) / dist.astype(f32)
        inv_scale = ratios.min()
        if np.isfinite(inv_scale):
            ratios = ratios / inv_scale
    else:
        ratios = np.asarray(class_sampling_factors, dtype=f32)
        if len(ratios) != K or np.any(~np.isfinite(ratios)) or np.any(ratios < 0):
            raise ValueError(f"class_sampling_factors needs {K} finite values >= 0, got {class_sampling_factors!r}")
    expected = f32(0)
    for k in range(K):  # Java: float += float * double
        expected = f32(np.float64(expected) + np.float64(ratios[k]) * dist[k])
    if np.isnan(expected):
        raise ValueError("balance_classes: the expected number of sampled rows is NaN (too few rows?)")
    maxrows = max(int(f32(max_after_balance_size) * f32(nrows)), K)
    actual = min(maxrows, int(np.floor(expected + f32(0.5))))
    if f32(actual) != expected:
        ratios = (ratios * (f32(actual) / expected)).astype(f32)
    return ratios.astype(f32)


def correct_probabilities(probs, prior, model_dist) -> np.ndarray:
    """H2O's ``GenModel.correctProbabilities``: p_k <- p_k * prior_k / model_k (classes where
    either is 0 are left alone), then rows renormalised to sum 1 (rows summing to 0 stay)."""
    probs = np.array(probs, dtype=np.float64, copy=True)
    prior, model_dist = np.asarray(prior, np.float64), np.asarray(model_dist, np.float64)
    scale = np.where((prior != 0) & (model_dist != 0), prior / np.where(model_dist != 0, model_dist, 1), 1.0)
    probs *= scale
    total = probs.sum(axis=1, keepdims=True)
    return np.where(total > 0, probs / np.where(total > 0, total, 1), probs)


# ------------------------------------------------------------------ per-partition work

def _labels(pdf, y, domain) -> np.ndarray:
    values = pdf[y]
    codes = _categorical_codes(values, domain) if isinstance(values.dtype, pd.CategoricalDtype) \
        else _enum_codes(values, domain)
    codes = np.where(codes < len(domain), codes, np.nan)
    return np.where(np.isnan(codes), -1, codes).astype(np.int64)


def _weights(pdf, weights_column) -> np.ndarray:
    if weights_column is None:
        return np.ones(len(pdf))
    w = pd.to_numeric(pdf[weights_column], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    return np.where(np.isnan(w), 0.0, w)


def _source_stats(pdf, y, domain, weights_column):
    labels = _labels(pdf, y, domain)
    ok = labels >= 0
    dist = np.bincount(labels[ok], weights=_weights(pdf, weights_column)[ok], minlength=len(domain))
    return len(pdf), dist


def _repeats(pdf, row_start, y, domain, ratios, seed) -> np.ndarray:
    labels = _labels(pdf, y, domain)
    ok = labels >= 0
    whole = np.floor(ratios).astype(np.int64)
    remainder = (ratios - whole.astype(np.float32)).astype(np.float64)  # float32, as H2O
    u = _pcg.runif(seed, row_start, len(pdf))
    k = np.where(ok, labels, 0)
    reps = whole[k] + (u < remainder[k])
    return np.where(ok, reps, 0)


def _balanced_stats(pdf, row_start, y, domain, weights_column, ratios, seed):
    reps = _repeats(pdf, row_start, y, domain, ratios, seed)
    labels = np.maximum(_labels(pdf, y, domain), 0)
    K = len(domain)
    return (np.bincount(labels, weights=reps * _weights(pdf, weights_column), minlength=K),
            np.bincount(labels, weights=reps, minlength=K))


def _sample_partition(pdf, row_start, y, domain, ratios, seed):
    reps = _repeats(pdf, row_start, y, domain, ratios, seed)
    return pdf.iloc[np.repeat(np.arange(len(pdf)), reps)].reset_index(drop=True)


def _sum_pairs(*parts):
    return tuple(np.sum([p[i] for p in parts], axis=0) for i in range(len(parts[0])))


def _tree_sum(parts):
    while len(parts) > 1:
        parts = [dask.delayed(_sum_pairs)(*parts[i:i + 8]) for i in range(0, len(parts), 8)]
    return parts[0]


# ------------------------------------------------------------------ fitting and applying

def fit_balance(frame, y: str, domain=None, weights_column: str | None = None, class_sampling_factors=None,
                max_after_balance_size: float = 5.0, seed: int = 0) -> Balance:
    """Decide the balancing of H2OFrame (or storage-contract dask DataFrame) ``frame`` on its
    enum response ``y``: one pass for partition lengths and class weights, one more (rarely
    a few: H2O redraws with ``seed + 1`` while a class ends up empty) for the balanced counts."""
    ddf = frame._ddf if hasattr(frame, "_ddf") else frame
    if y not in ddf.columns or not isinstance(ddf[y].dtype, pd.CategoricalDtype):
        raise ValueError(f"balance_classes needs a categorical response column; {y!r} is not one")
    domain = [str(c) for c in ddf[y].cat.categories] if domain is None else list(domain)
    needed = list(dict.fromkeys([y] + ([weights_column] if weights_column else [])))
    parts = ddf[needed].to_delayed()
    (stats,) = dask.compute([dask.delayed(_source_stats)(p, y, domain, weights_column) for p in parts])
    lengths = [s[0] for s in stats]
    dist = np.sum([s[1] for s in stats], axis=0) if stats else np.zeros(len(domain))
    nrows = int(sum(lengths))
    ratios = sampling_ratios(dist, nrows, class_sampling_factors, max_after_balance_size)
    offsets = tuple(int(o) for o in np.concatenate([[0], np.cumsum(lengths)[:-1]]))
    seed = int(seed)
    for attempt in range(_MAX_TRIES + 1):
        merged = _tree_sum([dask.delayed(_balanced_stats)(p, off, y, domain, weights_column, ratios, seed)
                            for p, off in zip(parts, offsets)])
        (wsum, counts), = dask.compute(merged)
        if wsum.min() > 0 or attempt == _MAX_TRIES:
            break
        seed += 1
    return Balance(y, domain, weights_column, ratios, seed, offsets, _relative(dist), _relative(wsum),
                   np.asarray(counts, dtype=np.int64))


def _relative(dist) -> np.ndarray:
    dist = np.asarray(dist, dtype=np.float64)
    total = dist.sum()
    return dist / total if total > 0 else dist


def balance_frame(frame, balance: Balance):
    """The balanced H2OFrame (lazy: one task per partition). ``frame`` must have the rows and
    partitioning ``balance`` was fitted on (a re-encoded copy of that frame is fine)."""
    from daskml_h2o.frame import H2OFrame, _map_rows
    ddf = frame._ddf
    if ddf.npartitions != len(balance.offsets):
        raise ValueError(f"balance_frame: the frame has {ddf.npartitions} partitions but the balancing was fitted "
                         f"on {len(balance.offsets)}; fit it on this frame")
    meta = ddf._meta.reset_index(drop=True)
    out = _map_rows(ddf, _sample_partition, balance.offsets, meta, balance.y, balance.domain, balance.ratios,
                    balance.seed)
    return H2OFrame._from_dask(out, dict(frame._types))

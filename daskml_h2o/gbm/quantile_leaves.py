"""Exact weighted quantiles per group (a tree's leaves) over chunks, moving only summaries.

The quantile rule is ``distributions._weighted_quantile`` (h = α·(W − 1), the value at weight
position ⌊h⌋ and the next one, linearly interpolated); this module finds the same two order
statistics without bringing rows to the driver:

1. each chunk sorts its kept rows by (group, value) once (``sorted_groups``) and reports per
   group the count, weight sum, min and max;
2. per target position the driver keeps a value interval [lo, hi] known to hold the answer and
   the weight below it; a round of per-chunk bin sums over edges spread evenly both in value and
   in the float's bit pattern (so a heavy tail or a span of many magnitudes still narrows by
   the bin count per round) picks the bin that holds the position;
3. once the intervals left hold few rows in all, those rows are gathered and the answer read
   off exactly; an interval holding a single value is the answer without a gather.

Typical cost per tree: one stats round, one or two bin rounds, one gather of at most
``GATHER_ROWS`` rows. Huber's leaf correction adds one sum round.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from daskml_h2o.gbm import distributions as D
from daskml_h2o.models.metrics import first_at_least

__all__ = ["sorted_groups", "group_stats", "group_quantiles", "leaf_gammas"]

GATHER_ROWS = 1 << 16  # rows the final round may bring to the driver, all intervals together
BIN_BUDGET = 1 << 14  # bins per round per chunk, all intervals together
MIN_BINS, MAX_BINS = 32, 128  # per edge family (value-spaced, bit-pattern-spaced)

_SIGN = np.uint64(1 << 63)


# ------------------------------------------------------------------ per-chunk kernels

@njit(nogil=True, cache=True)
def _segment_stats(v, bounds):
    n_groups = bounds.shape[0] - 1
    vmin = np.full(n_groups, np.inf)
    vmax = np.full(n_groups, -np.inf)
    for g in range(n_groups):
        if bounds[g + 1] > bounds[g]:
            vmin[g] = v[bounds[g]]  # stable sort: the first row among equal minima
            vmax[g] = v[bounds[g + 1] - 1]
    return vmin, vmax


@njit(nogil=True, cache=True)
def _chunk_bins(v, w, bounds, q_group, q_lo, edges, n_edges):
    """Per interval q: count, weight, min and max of the group's rows in [q_lo, e_0] and in
    each (e_{j-1}, e_j]; rows are sorted by value within their group."""
    Q, E = edges.shape
    cnt = np.zeros((Q, E))
    wsum = np.zeros((Q, E))
    bmin = np.full((Q, E), np.inf)
    bmax = np.full((Q, E), -np.inf)
    for q in range(Q):
        b = bounds[q_group[q] + 1]
        i = first_at_least(v, bounds[q_group[q]], b, q_lo[q])
        for j in range(n_edges[q]):
            e = edges[q, j]
            if i < b and v[i] <= e:
                bmin[q, j] = v[i]
            while i < b and v[i] <= e:
                cnt[q, j] += 1.0
                wsum[q, j] += w[i]
                bmax[q, j] = v[i]
                i += 1
            if i >= b:
                break
    return cnt, wsum, bmin, bmax


@njit(nogil=True, cache=True)
def _chunk_rows_in(v, w, bounds, q_group, q_lo, q_hi):
    """The group's rows with q_lo <= value <= q_hi per interval, concatenated, and their counts."""
    Q = q_group.shape[0]
    counts = np.zeros(Q, dtype=np.int64)
    starts = np.zeros(Q, dtype=np.int64)
    for q in range(Q):
        a, b = bounds[q_group[q]], bounds[q_group[q] + 1]
        i = first_at_least(v, a, b, q_lo[q])
        j = i
        while j < b and v[j] <= q_hi[q]:
            j += 1
        starts[q], counts[q] = i, j - i
    vals = np.empty(counts.sum())
    ws = np.empty(counts.sum())
    k = 0
    for q in range(Q):
        for i in range(starts[q], starts[q] + counts[q]):
            vals[k], ws[k] = v[i], w[i]
            k += 1
    return vals, ws, counts


@njit(nogil=True, cache=True)
def _huber_sums(v, w, bounds, med, delta):
    """Per group Σ w·sign(d − med)·min(|d − med|, δ), H2O's huber leaf correction."""
    n_groups = bounds.shape[0] - 1
    out = np.zeros(n_groups)
    for g in range(n_groups):
        for i in range(bounds[g], bounds[g + 1]):
            r = v[i] - med[g]
            s = 1.0 if r > 0 else (-1.0 if r < 0 else 0.0)
            out[g] += w[i] * s * min(abs(r), delta)
    return out


@njit(nogil=True, cache=True)
def _key_edges(lo, hi, n_bins):
    """n_bins + 1 values evenly spaced in the order-preserving integer image of float64
    between lo and hi: a float's position among all floats, not its size."""
    kl, kh = _key(lo), _key(hi)
    d = kh - kl
    step, rest = d // np.uint64(n_bins), d % np.uint64(n_bins)
    out = np.empty(n_bins + 1)
    for i in range(n_bins + 1):
        ii = np.uint64(i)
        out[i] = _unkey(kl + step * ii + (rest * ii) // np.uint64(n_bins))
    return out


@njit(nogil=True, cache=True)
def _key(x):
    u = np.array([x]).view(np.uint64)[0]
    return u ^ _SIGN if u < _SIGN else ~u


@njit(nogil=True, cache=True)
def _unkey(k):
    u = k ^ _SIGN if k >= _SIGN else ~k
    return np.array([u]).view(np.float64)[0]


# ------------------------------------------------------------------ per-chunk tasks

def sorted_groups(group, values, w, n_groups):
    """One chunk's rows with w > 0, a non-NaN value and 0 <= group < n_groups, sorted stably
    by (group, value), with per-group (count, weight sum in row order, min, max).
    Returns (values, weights, bounds, stats) for ``group_quantiles``/``leaf_gammas``."""
    group = np.asarray(group)
    values = np.asarray(values, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    keep = (w > 0) & ~np.isnan(values) & (group >= 0) & (group < n_groups)
    g, v, w = group[keep].astype(np.int64), values[keep], w[keep]
    wsum = np.bincount(g, weights=w, minlength=n_groups)  # row order, as the driver-side sum
    order = np.argsort(v, kind="stable")
    order = order[np.argsort(g[order], kind="stable")]
    v, w = v[order], w[order]
    bounds = np.searchsorted(g[order], np.arange(n_groups + 1)).astype(np.int64)
    vmin, vmax = _segment_stats(v, bounds)
    return v, w, bounds, np.stack([np.diff(bounds).astype(np.float64), wsum, vmin, vmax])


def _stats_task(part):
    return part[3]


def _bins_task(part, q_group, q_lo, edges, n_edges):
    return np.stack(_chunk_bins(part[0], part[1], part[2], q_group, q_lo, edges, n_edges))


def _rows_task(part, q_group, q_lo, q_hi):
    return _chunk_rows_in(part[0], part[1], part[2], q_group, q_lo, q_hi)


def _huber_task(part, med, delta):
    return _huber_sums(part[0], part[1], part[2], med, delta)


# ------------------------------------------------------------------ reductions

def _combine_stats(*parts):
    out = parts[0].copy()
    for p in parts[1:]:
        out[0] += p[0]
        out[1] += p[1]
        out[2] = np.where(p[2] < out[2], p[2], out[2])  # ties keep the earlier chunk's row
        out[3] = np.maximum(out[3], p[3])
    return out


def _combine_bins(*parts):
    out = parts[0].copy()
    for p in parts[1:]:
        out[:2] += p[:2]
        out[2] = np.minimum(out[2], p[2])
        out[3] = np.maximum(out[3], p[3])
    return out


def _sum(*parts):
    return np.sum(parts, axis=0)


# ------------------------------------------------------------------ the driver

def group_stats(ex, parts):
    """Per group (count, weight sum, min, max) as a (4, n_groups) array, over all chunks."""
    return ex.gather(ex.reduce(_combine_stats, ex.map(_stats_task, parts, name="quantile-stats"),
                               name="quantile-stats-sum"))


def group_quantiles(ex, parts, alpha, stats=None):
    """Per group the weighted α-quantile of ``distributions._weighted_quantile`` (NaN for a
    group without rows); ``parts`` are per-chunk ``sorted_groups`` results (futures or values),
    ``stats`` their ``group_stats`` where already known."""
    stats = group_stats(ex, parts) if stats is None else stats
    count, total, vmin, vmax = stats
    h = alpha * (total - 1.0)
    lo_pos = np.floor(np.maximum(h, 0.0))
    frac = h - lo_pos
    interp = np.flatnonzero((count > 0) & (h > 0))
    targets = np.concatenate([lo_pos[interp], lo_pos[interp] + 1.0])
    found = _select(ex, parts, stats, np.concatenate([interp, interp]), targets)
    out = np.where(count > 0, vmin, np.nan)
    lo_val, hi_val = found[:len(interp)], found[len(interp):]
    with np.errstate(invalid="ignore"):  # inf − inf is NaN here as in the driver-side kernel
        out[interp] = lo_val + frac[interp] * (hi_val - lo_val)
    return out


def _select(ex, parts, stats, q_group, target):
    """Per query the smallest value v of its group with W(<= v) > target (the group's max
    where no value gets there), as the driver-side cumulative scan finds it."""
    count, total, vmin, vmax = stats
    answer = np.where(target >= total[q_group], vmax[q_group], np.nan)
    lo, hi, cnt = vmin[q_group].copy(), vmax[q_group].copy(), count[q_group].copy()
    below = np.zeros(len(q_group))
    rnd = 0
    while True:
        single = np.isnan(answer) & (lo == hi)
        answer[single] = lo[single]
        todo = np.flatnonzero(np.isnan(answer))
        if len(todo) == 0:
            return answer
        keys, inverse = np.unique(np.stack([q_group[todo], lo[todo], hi[todo]], axis=1), axis=0,
                                  return_inverse=True)
        inverse = inverse.reshape(-1)
        if cnt[todo][np.unique(inverse, return_index=True)[1]].sum() <= GATHER_ROWS:
            answer[todo] = _gather_select(ex, parts, keys, inverse, below[todo], target[todo])
            return answer
        _narrow(ex, parts, keys, inverse, todo, target, lo, hi, cnt, below, rnd)
        rnd += 1


def _narrow(ex, parts, keys, inverse, todo, target, lo, hi, cnt, below, rnd):
    """One bin round: each query's interval shrinks to the bin holding its target."""
    n_bins = int(np.clip(BIN_BUDGET // (2 * len(keys)), MIN_BINS, MAX_BINS))
    edge_rows = [_edges(lo_, hi_, n_bins) for _, lo_, hi_ in keys]
    n_edges = np.array([len(e) for e in edge_rows], dtype=np.int64)
    edges = np.full((len(keys), n_edges.max()), np.inf)
    for r, e in enumerate(edge_rows):
        edges[r, :len(e)] = e
    args = (keys[:, 0].astype(np.int64), keys[:, 1].copy(), edges, n_edges)
    bins = ex.gather(ex.reduce(_combine_bins, ex.map(_bins_task, parts, args=args, name=f"quantile-bins{rnd}"),
                               name=f"quantile-bins{rnd}-sum"))
    for qi, r in zip(todo, inverse):
        bcnt, bw, bmin, bmax = bins[:, r, :n_edges[r]]
        cum = np.cumsum(np.concatenate([[below[qi]], bw]))
        j = min(int(np.searchsorted(cum[1:], target[qi], side="right")), len(bw) - 1)
        while bcnt[j] == 0:  # only when the sums round past the target: the last rows
            j -= 1
        lo[qi], hi[qi], cnt[qi], below[qi] = bmin[j], bmax[j], bcnt[j], cum[j]


def _edges(lo, hi, n_bins):
    e = _key_edges(lo, hi, n_bins)
    with np.errstate(over="ignore"):
        span = hi - lo
    if np.isfinite(span):
        e = np.concatenate([e, lo + span * (np.arange(n_bins + 1) / n_bins)])
    e = np.unique(np.clip(e, lo, hi))
    e[-1] = hi
    return e


def _gather_select(ex, parts, keys, inverse, below, target):
    args = (keys[:, 0].astype(np.int64), keys[:, 1].copy(), keys[:, 2].copy())
    pieces = ex.gather(ex.map(_rows_task, parts, args=args, name="quantile-rows"))
    per_key = [_split_rows(p) for p in pieces]
    out = np.empty(len(inverse))
    for i, r in enumerate(inverse):
        v = np.concatenate([c[r][0] for c in per_key])
        w = np.concatenate([c[r][1] for c in per_key])
        order = np.argsort(v, kind="stable")
        v, w = v[order], w[order]
        cum = np.cumsum(np.concatenate([[below[i]], w]))[1:]  # one running sum, as the driver scan
        j = int(np.searchsorted(cum, target[i], side="right"))
        out[i] = v[min(j, len(v) - 1)]
    return out


def _split_rows(piece):
    vals, ws, counts = piece
    cuts = np.cumsum(counts)[:-1]
    return list(zip(np.split(vals, cuts), np.split(ws, cuts)))


def leaf_gammas(ex, dist, parts, alpha=0.5, delta=1.0):
    """Per-leaf γ of laplace/quantile/huber, as ``distributions.quantile_leaf_gammas`` gives
    it from all rows: ``parts`` are per-chunk ``sorted_groups`` of (leaf, y − F − offset, w)."""
    q = 0.5 if dist in (D.LAPLACE, D.HUBER) else alpha
    stats = group_stats(ex, parts)
    med = group_quantiles(ex, parts, q, stats)
    present = stats[0] > 0
    med = np.where(present, med, 0.0)
    if dist == D.HUBER:
        sums = ex.gather(ex.reduce(_sum, ex.map(_huber_task, parts, args=(med, float(delta)), name="huber-leaf"),
                                   name="huber-leaf-sum"))
        # the sums add in another order than the driver-side numpy sum: equal up to rounding
        med[present] += sums[present] / stats[1][present]
    return med

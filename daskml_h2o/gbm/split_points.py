"""Where H2O's non-uniform node histograms put their bin boundaries (spec gbm.md §6.7).

Plain numpy/Python rules, used on the driver by ``adaptive.SplitPointsTreeBuilder``:

- ``random_split_points``: ``Random`` histograms, in bin units (x is compared as
  (x − min)·step); 0 and nbins − 1 float32 draws of H2O's PCG generator seeded from the
  histogram's range, bin count, integer flag and seed;
- ``global_split_points`` / ``node_quantile_points``: ``QuantilesGlobal`` — exact values of
  low-cardinality columns, else quantiles padded to ``nbins_top_level`` points, cut to a
  node's range (and padded again to its bin count);
- ``guided_split_points``: ``UniformRobust`` — a sparse parent histogram's non-empty bins,
  refined in proportion to their squared error;
- ``split_threshold``: the float32 threshold of a range split between two bin edges (§6.5).

The array helpers (``limit_to_range``, ``unique_in_range``, ``pad_uniformly``) keep H2O's
edge cases (the point at or below the minimum is kept, the maximum is not a point of a
quantile set), so node histograms get the same bins as H2O's.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from daskml_h2o._pcg import _INC, _MULT, _output, _seeded_state

__all__ = ["pad_uniformly", "limit_to_range", "unique_in_range", "pcg_floats", "h2o_tree_seed", "child_seed",
           "random_split_points", "global_split_points", "node_quantile_points", "guided_split_points",
           "split_threshold", "SPARSE_DENSITY"]

# UniformRobust refines a column when at most this share of its parent's bins hold rows
SPARSE_DENSITY = 0.2

_M64 = (1 << 64) - 1
_PCG_MULT = 6364136223846793005
_PCG_INC = 3  # H2O's PCGRNG(seed, seq=1): increment (seq << 1) | 1


def _signed64(u: int) -> int:
    u &= _M64
    return u - (1 << 64) if u >= 1 << 63 else u


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


# ----------------------------------------------------------------------------- H2O's generator

class _PCG:
    """H2O's ``PCGRNG(seed, 1)`` for a few ``nextLong()`` draws (Java long arithmetic)."""

    def __init__(self, seed: int):
        self.state = 0
        self.next_u32()
        self.state = (self.state + seed) & _M64
        self.next_u32()

    def next_u32(self) -> int:
        old = self.state
        self.state = (old * _PCG_MULT + _PCG_INC) & _M64
        xorshifted = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xorshifted >> rot) | (xorshifted << ((-rot) & 31))) & 0xFFFFFFFF

    def next_long(self) -> int:
        hi = self.next_u32()
        return _signed64((hi << 32) | self.next_u32())


@njit(nogil=True, cache=True)
def _pcg_floats(seed, out):
    state = _seeded_state(seed)
    for i in range(out.shape[0]):
        # nextFloat() = low 24 bits of nextLong(), i.e. of its second 32-bit output
        state = state * _MULT + _INC
        low = _output(state)
        state = state * _MULT + _INC
        out[i] = np.float32(np.float64(np.int64(low & np.uint64(0xFFFFFF))) / 16777216.0)


def pcg_floats(seed: int, n: int) -> np.ndarray:
    """The first n ``nextFloat()`` draws of H2O's generator seeded with ``seed``, as float32."""
    out = np.empty(n, dtype=np.float32)
    _pcg_floats(np.uint64(int(seed) & _M64), out)
    return out


def h2o_tree_seed(seed: int, iteration: int) -> int:
    """H2O GBM's histogram seed of every tree of boosting iteration ``iteration`` (0-based):
    the (iteration+1)-th ``nextLong()`` of the model generator seeded with ``seed``."""
    rng = _PCG(seed)
    for _ in range(iteration):
        rng.next_long()
    return rng.next_long()


def child_seed(seed: int, way: int) -> int:
    """H2O's histogram seed of a node's child (way 0 = left, 1 = right), as a Java long."""
    return _signed64(seed * 0xDECAF + way + 1)


# ----------------------------------------------------------------------------- array helpers

def pad_uniformly(points, n):
    """``points`` grown to n points: the extra points are spread over the gaps between
    consecutive points (the first gaps take the remainder), at (j + ½)/k of a gap that
    receives k. Unchanged when it already has >= n points or fewer than 2."""
    points = np.asarray(points, dtype=np.float64)
    m = len(points)
    if n <= m or m <= 1:
        return points
    per, rem = divmod(n - m, m - 1)
    k = per + (np.arange(m - 1) < rem)
    first = np.cumsum(k) - k                      # index of a gap's first extra point
    gap = np.repeat(np.arange(m - 1), k)
    j = np.arange(n - m) - first[gap]
    extra = points[gap] + (j + 0.5) / k[gap] * (points[gap + 1] - points[gap])
    out = np.empty(n)
    at = np.arange(m) + np.concatenate([[0], np.cumsum(k)])
    out[at] = points
    keep = np.ones(n, bool)
    keep[at] = False
    out[keep] = extra
    return out


def limit_to_range(points, lo, max_ex):
    """The sorted points that bin [lo, max_ex): those inside, plus the last one at or below
    lo so that lo falls in the first bin."""
    points = np.asarray(points, dtype=np.float64)
    start = int(np.searchsorted(points, lo, side="left"))
    if start == len(points):
        start -= 1
    if points[start] > lo and start > 0:
        start -= 1
    end = int(np.searchsorted(points, max_ex, side="left"))
    return points[start:end]


def unique_in_range(points, lo, hi):
    """H2O's makeUniqueAndLimitToRange: ``lo`` first, then the distinct sorted points
    strictly between lo and hi (the first point >= lo always counts)."""
    out = []
    last = points[0]
    for i, pos in enumerate(points):
        if pos >= lo and not out:
            out.append(lo)
            if pos > lo:
                out.append(pos)
            last = pos
        elif pos > hi:
            break
        elif lo < pos < hi and (i == 0 or pos != last):
            out.append(pos)
            last = pos
    return np.array(out if out else [lo], dtype=np.float64)


# ----------------------------------------------------------------------------- the histogram types

def random_split_points(lo, max_ex, step, nbins, int_code, seed):
    """``Random``: split points of one histogram in bin units — 0, then nbins − 1 draws of
    nextFloat()·nbins (float32), sorted. ``int_code`` is H2O's 0 real, 1 integer, 2 enum."""
    mix = float(np.float64((step + 0.324) * lo + 8.3425) + 89.342 * max_ex)
    bits = int(np.array(mix, dtype=np.float64).view(np.int64))
    seed = _signed64(bits + _int32(0xDECAF * int(nbins)) + _int32(0xC0FFEE * int(int_code)) + int(seed))
    pts = np.empty(nbins)
    pts[0] = 0.0
    pts[1:] = pcg_floats(seed, nbins - 1) * np.float32(nbins)
    return np.sort(pts)


def global_split_points(values, nbins, nbins_top_level):
    """``QuantilesGlobal``'s points of one numeric column from (a sample of) its values:
    (points, refinable), or None for a constant, binary (0/1) or empty column. At most
    ``nbins`` distinct values: those values, not refinable. Otherwise the quantiles at
    i/nbins (i = 0..nbins−1, interpolated), made unique within [min, max) and padded
    uniformly to ``nbins_top_level`` points."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    u = np.unique(values)
    if len(u) <= 1 or (u[0] >= 0 and u[-1] <= 1 and np.all(u == np.floor(u))):
        return None
    if len(u) <= nbins:
        return u, False
    q = np.quantile(values, np.arange(nbins) / nbins)
    pts = unique_in_range(q, u[0], u[-1])
    if len(pts) <= 1:
        return None
    return pad_uniformly(pts, nbins_top_level), True


def node_quantile_points(points, refinable, lo, max_ex, nbins):
    """A node's ``QuantilesGlobal`` points: the global ones that bin [lo, max_ex), padded to
    the node's ``nbins`` when refinable; None (uniform bins) when at most one is left."""
    pts = limit_to_range(points, lo, max_ex)
    if refinable and 1 < len(pts) < nbins:
        pts = pad_uniformly(pts, nbins)
    return pts if len(pts) > 1 else None


def guided_split_points(edges, hist_f, is_int, target, lo, max_ex, max_in):
    """``UniformRobust``: points for a child histogram of a column whose parent histogram
    (bin boundaries ``edges``, len nbins + 1, and (w, wY, wYY) rows ``hist_f``) was sparse.

    Every non-empty parent bin overlapping [lo, max_ex) keeps its start; the budget
    target − (non-empty bins) − 2 is shared out, largest squared error first, as
    ceil(budget·SE/ΣSE) evenly spaced extra points per bin (integer columns at most one per
    whole number); then lo and the parent's observed max ``max_in``. None when there is no
    budget. The child bins are [p_i, p_{i+1}) (so len − 1 bins).
    """
    nb = len(edges) - 1
    bins = []
    for i in np.flatnonzero(hist_f[:nb, 0] > 0):
        start, end = edges[i], edges[i + 1]
        if end < lo or start >= max_ex:
            continue
        w, wy, wyy = hist_f[i]
        bins.append((start, end, max(wyy - wy * wy / w, 0.0)))
    budget = int(target) - len(bins) - 2
    if not bins or budget <= 0:
        return None
    total = sum(b[2] for b in bins)
    bins.sort(key=lambda b: -b[2])  # stable: equal errors keep bin order
    left = budget
    pts = []
    for start, end, se in bins:
        k = 0
        if left > 0:
            share = budget * se / total if total > 0 else 0.0
            k = min(math.ceil(share), left)
            if is_int:
                k = min(k, math.floor(end - start + 0.5))
            left -= k
        pts.append(start)
        width = (end - start) / (1 + k)
        for _ in range(k):
            pts.append(pts[-1] + width)
    pts += [lo, max_in]
    return unique_in_range(np.sort(np.array(pts)), lo, max_ex)


def split_threshold(lo_edge, hi_edge, integral, step):
    """§6.5: threshold of a range split between the upper edge of the last non-empty left
    bin (lo_edge) and the lower edge of the first non-empty right bin (hi_edge), float32.
    Integer columns: lo_edge − 1 with one bin per value, else floor/ceil of the edges."""
    if integral:
        if step == 1.0:
            lo_edge -= 1.0
        else:
            lo_edge, hi_edge = math.floor(lo_edge), math.ceil(hi_edge)
    return float(np.float32((lo_edge + hi_edge) / 2.0))

"""H2O's per-node histogram types as strategies (spec gbm.md §6.7): ``UniformAdaptive``,
``UniformRobust``, ``Random``, ``QuantilesGlobal`` and ``RoundRobin``.

Every node re-bins every column on the range its parent observed, over raw float64 values
(categoricals as level codes), so the prepared chunks keep X unbinned and trees split on
float32 thresholds. ``UniformAdaptive`` is ``grower.AdaptiveTreeBuilder`` as it is; the
other types differ only in where a node's bin boundaries lie, so they share
``SplitPointsTreeBuilder``, which gives a histogram explicit split points:

- ``Random``: 0 and nbins−1 uniform draws in bin units, seeded per histogram from its
  range, bin count, integer flag and the node's seed;
- ``QuantilesGlobal``: quantile points of the whole column (computed once from
  the training sample) cut to the node's range and padded uniformly;
- ``UniformRobust``: when a parent histogram was sparse (≤ 20 % non-empty bins), the child
  keeps the parent's non-empty bins and spends the remaining bins on the ones with the
  largest squared error;
- ``RoundRobin``: each node takes one of {AUTO (= UniformAdaptive in H2O),
  UniformAdaptive, Random, QuantilesGlobal} by |node seed| mod 4.

Node seeds follow H2O: the root gets one seed per tree, a child ``seed·0xDECAF + way + 1``
(way 0 left, 1 right). Split points live on the driver; a level's plan carries them to
the chunks flattened (``PointsPlan``).
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from daskml_h2o.data.binning import AdaptiveSpec
from daskml_h2o.gbm.grower import AdaptiveTreeBuilder, chunk_level_step
from daskml_h2o.gbm.histogram import (_active_rows, accumulate_node_sums, combine_minmax, combine_node_sums,
                                      n_slots_of, sum_histograms)
from daskml_h2o.gbm.tree import route_raw_step, predict_raw

__all__ = ["UniformAdaptive", "UniformRobust", "Random", "QuantilesGlobal", "RoundRobin",
           "SplitPointsTreeBuilder", "PointsPlan", "spec_from_stats", "pad_uniformly", "random_split_points",
           "global_split_points", "node_quantile_points", "robust_split_points", "split_threshold",
           "build_histograms_points", "points_level_step"]

# a level plan whose histograms may have explicit split points: ``base`` is grower.LevelPlan;
# slot s, feature f uses points[pstart[s, f]: pstart[s, f] + plen[s, f]] (plen 0 = uniform),
# in bin units (Random: compared with (x − lo)·step) when pos_units[s, f], else in values
PointsPlan = namedtuple("PointsPlan", ["base", "pstart", "plen", "points", "pos_units"])

# UniformRobust re-spreads a child's bins when its parent used at most this share of its bins
ROBUST_SPARSE_SHARE = 0.2
_DECAF = 0xDECAF
_M64 = (1 << 64) - 1


def _signed64(u: int) -> int:
    u &= _M64
    return u - (1 << 64) if u >= 1 << 63 else u


def child_seed(seed: int, way: int) -> int:
    """H2O's histogram seed of a node's child (way 0 = left, 1 = right), as a Java long."""
    return _signed64(seed * _DECAF + way + 1)


# ----------------------------------------------------------------------------- kernels

@njit(nogil=True, cache=True)
def _bin_of(x, lo, step, nb, pts, pos_units):
    if pts.shape[0] == 0:
        # the same arithmetic as histogram.build_histograms_adaptive
        pos = (x - lo) * step
        if pos <= 0.0:
            return 0
        if pos >= nb - 1:
            return nb - 1
        return np.int64(pos)
    v = (x - lo) * step if pos_units else x
    b = np.searchsorted(pts, v, side="right") - 1
    return min(max(b, 0), nb - 1)


@njit(nogil=True, cache=True)
def build_histograms_points(X, node_ids, slot_of_node, grad, w, lo, step, nbins, pstart, plen, points,
                            pos_units, n_bins_total):
    """Per-node histograms on raw values where a histogram may have explicit split points.

    Slot s, feature f: with plen[s, f] == 0 the uniform bins of build_histograms_adaptive;
    else bin b holds values v with pts[b] <= v < pts[b+1] (v = x, or (x − lo)·step in bin
    units), values below pts[0] in bin 0. NaN goes to the last slot. Returns (hist, minmax).
    """
    nf = X.shape[1]
    hist = np.zeros((n_slots_of(slot_of_node), nf, n_bins_total, 3))
    minmax = np.empty((hist.shape[0], nf, 2))
    minmax[:, :, 0] = np.inf
    minmax[:, :, 1] = -np.inf
    rows = _active_rows(node_ids, slot_of_node, w)
    na = n_bins_total - 1
    for f in range(nf):
        for r in rows:
            s = slot_of_node[node_ids[r]]
            nb = nbins[s, f]
            if nb == 0:
                continue
            x = X[r, f]
            if np.isnan(x):
                b = na
            else:
                minmax[s, f, 0] = min(minmax[s, f, 0], x)
                minmax[s, f, 1] = max(minmax[s, f, 1], x)
                start = pstart[s, f]
                b = _bin_of(x, lo[s, f], step[s, f], nb, points[start:start + plen[s, f]], pos_units[s, f])
            wi = w[r]
            g = np.float64(grad[r])
            hist[s, f, b, 0] += wi
            hist[s, f, b, 1] += wi * g
            hist[s, f, b, 2] += wi * g * g
    return hist, minmax


@njit(nogil=True, cache=True)
def _points_level_step(X, node_ids, grad, w, num, den, f, feature, kind, threshold, na_left, left, right,
                       n_levels, bs_start, bs_len, bitsets, slot_of_node, lo, step, nbins, pstart, plen, points,
                       pos_units, n_bins_total, n_nodes, first):
    ids = node_ids.copy()
    arrived = np.zeros(ids.shape[0], dtype=np.bool_)
    if first:
        arrived[:] = True
    else:
        route_raw_step(X, ids, arrived, feature, kind, threshold, na_left, left, right, n_levels, bs_start, bs_len,
                       bitsets)
    hist, minmax = build_histograms_points(X, ids, slot_of_node, grad, w, lo, step, nbins, pstart, plen, points,
                                           pos_units, n_bins_total)
    sums = accumulate_node_sums(ids, arrived, grad, w, num, den, f, n_nodes)
    return ids, hist, minmax, sums


def points_level_step(tree_chunk, node_ids, plan):
    """One level on one chunk for a PointsPlan: route, histogram. Returns
    (node_ids, (hist, minmax), node_sums) like grower.chunk_level_step."""
    b = plan.base
    fe, k, _, t, nl, le, ri, bs, bl, lv, bits = b.route
    tc = tree_chunk
    ids, hist, minmax, sums = _points_level_step(
        tc.Xb, node_ids, tc.grad, tc.w, tc.num, tc.den, tc.f, fe, k, t, nl, le, ri, lv, bs, bl, bits,
        b.slot_of_node, b.lo, b.step, b.nbins, plan.pstart, plan.plen, plan.points, plan.pos_units,
        b.n_bins_total, b.n_nodes, b.first)
    return ids, (hist, minmax), sums


# ----------------------------------------------------------------------------- split points

def pad_uniformly(points, n):
    """``points`` with n − len(points) extra points spread evenly over the gaps between
    consecutive points (the first gaps take the remainder); unchanged if already >= n."""
    points = np.asarray(points, dtype=np.float64)
    m = len(points)
    if n <= m or m <= 1:
        return points
    extra = n - m
    per, rem = divmod(extra, m - 1)
    out = [points[:1]]
    for i in range(m - 1):
        k = per + (1 if i < rem else 0)
        a, d = points[i], points[i + 1] - points[i]
        out.append(a + d * np.arange(1, k + 1) / (k + 1))
        out.append(points[i + 1:i + 2])
    return np.concatenate(out)


def random_split_points(lo, max_ex, step, nbins, is_int, seed):
    """Random's split points of one histogram in bin units: 0 and nbins − 1 float32 draws
    times nbins, sorted. The generator is seeded from the histogram's own range, bin count,
    integer flag and the node seed, so equal histograms get equal points."""
    mix = float((step + 0.324) * lo + 8.3425 + 89.342 * max_ex)
    bits = int(np.float64(mix).view(np.int64))
    h = (bits + _DECAF * int(nbins) + 0xC0FFEE * int(is_int) + int(seed)) & _M64
    rng = np.random.default_rng(h)
    pts = np.empty(nbins)
    pts[0] = 0.0
    pts[1:] = rng.random(nbins - 1, dtype=np.float32) * np.float32(nbins)
    return np.sort(pts)


def global_split_points(values, nbins, nbins_top_level):
    """QuantilesGlobal's points of one numeric column, from a sample of it: (points, exact)
    or None for a binary, constant or empty column. With <= nbins distinct values the
    points are those values (exact); else quantiles at i/nbins, i = 0..nbins−1
    (interpolated), de-duplicated and padded uniformly to nbins_top_level points."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    u = np.unique(values)
    if len(u) <= 1 or np.all((u == 0) | (u == 1)):
        return None
    if len(u) <= nbins:
        return u, True
    q = np.unique(np.quantile(values, np.arange(nbins) / nbins))
    q = q[(q >= u[0]) & (q <= u[-1])]
    if len(q) <= 1:
        return None
    return pad_uniformly(q, nbins_top_level), False


def node_quantile_points(points, exact, lo, max_ex, requested):
    """A node's QuantilesGlobal points: the global points in [lo, max_ex), padded
    uniformly to ``requested`` unless exact; None (uniform bins) when <= 1 point is left."""
    pts = points[(points >= lo) & (points < max_ex)]
    if len(pts) <= 1:
        return None
    if not exact and len(pts) < requested:
        pts = pad_uniformly(pts, requested)
    return pts


def robust_split_points(lower_edges, upper_edge, hist_f, lo, max_in, max_ex, requested):
    """UniformRobust's points of a child histogram from its parent's histogram of the column.

    ``lower_edges``/``upper_edge`` are the parent's bin boundaries, ``hist_f`` its (w, wY, wYY)
    per bin. When at most ROBUST_SPARSE_SHARE of the parent's bins hold rows, every
    non-empty bin keeps its lower edge and bins get extra evenly spaced points in proportion
    to their squared error (budget: requested − non-empty bins − 2), plus the child's min
    and max. Returns None (uniform bins) otherwise.
    """
    nb = len(lower_edges)
    w = hist_f[:nb, 0]
    full = np.flatnonzero(w > 0)
    if len(full) == 0 or len(full) > ROBUST_SPARSE_SHARE * nb:
        return None
    upper = np.append(lower_edges[1:], upper_edge)
    se = np.maximum(hist_f[full, 2] - hist_f[full, 1] ** 2 / w[full], 0.0)
    budget = max(0, int(requested) - len(full) - 2)
    total = se.sum()
    extra = np.floor(budget * se / total).astype(np.int64) if total > 0 else np.zeros(len(full), np.int64)
    pts = [np.array([lo, max_in])]
    for b, k in zip(full, extra):
        a = max(lower_edges[b], lo)
        z = min(upper[b], max_ex)
        pts.append(np.array([a]))
        if k > 0 and z > a:
            pts.append(a + (z - a) * np.arange(1, k + 1) / (k + 1))
    pts = np.unique(np.concatenate(pts))
    pts = pts[(pts >= lo) & (pts < max_ex)]
    return pts if len(pts) > 1 else None


def split_threshold(lo_edge, hi_edge, integral, step):
    """§6.5: threshold of a range split between the upper edge of the last non-empty left
    bin (lo_edge) and the lower edge of the first right bin (hi_edge), as float32."""
    if integral:
        if step == 1.0:
            lo_edge -= 1.0
        else:
            lo_edge, hi_edge = math.floor(lo_edge), math.ceil(hi_edge)
    return float(np.float32((lo_edge + hi_edge) / 2.0))


# ----------------------------------------------------------------------------- driver

_ROUND_ROBIN = ("UniformAdaptive", "UniformAdaptive", "Random", "QuantilesGlobal")


class SplitPointsTreeBuilder(AdaptiveTreeBuilder):
    """AdaptiveTreeBuilder whose node histograms may have explicit split points.

    ``kind`` is the histogram type ("UniformRobust", "Random", "QuantilesGlobal" or
    "RoundRobin"); ``global_points`` per feature (points, exact) or None (QuantilesGlobal);
    ``hist_seed`` the root's histogram seed. Plans are PointsPlan; trees are the usual
    Tree record arrays with raw-value thresholds.
    """

    def __init__(self, spec, params, rng, tree_cols=None, kind="UniformAdaptive", global_points=None, hist_seed=0):
        super().__init__(spec, params, rng, tree_cols)
        self.kind = kind
        self.global_points = global_points or [None] * spec.n_features
        self.seeds = {0: int(hist_seed)}
        self.custom = {}         # node -> {feature: UniformRobust points}
        self.slot_points = None  # per open slot: {feature: (points, pos_units)}

    def node_type(self, nd):
        """The histogram type node ``nd`` uses."""
        if self.kind == "RoundRobin":
            return _ROUND_ROBIN[abs(self.seeds[nd]) % 4]
        return self.kind

    def _points_of(self, nd, f, lo, step, nbins):
        kind = self.node_type(nd)
        spec = self.spec
        if kind == "Random":
            # one bin per level or per whole number is already the finest binning
            if spec.is_cat[f] or (spec.integral()[f] and step == 1.0):
                return None
            _, max_ex, _, _ = self.ranges[nd]
            return random_split_points(lo, max_ex[f], step, nbins, spec.integral()[f], self.seeds[nd]), True
        if kind == "QuantilesGlobal" and self.global_points[f] is not None:
            _, max_ex, req, _ = self.ranges[nd]
            pts = node_quantile_points(*self.global_points[f], lo, max_ex[f], req[f])
            return None if pts is None else (pts, False)
        if kind == "UniformRobust" and f in self.custom.get(nd, {}):
            return self.custom[nd][f], False
        return None

    def plan(self, first=False):
        base = super().plan(first)
        lo, step, nbins = self.slot_bins
        ns, nf = nbins.shape
        pstart = np.zeros((ns, nf), np.int64)
        plen = np.zeros((ns, nf), np.int64)
        pos_units = np.zeros((ns, nf), np.bool_)
        chunks, at = [], 0
        self.slot_points = []
        for s, nd in enumerate(self.open):
            found = {}
            for f in np.flatnonzero(nbins[s] > 0):
                got = self._points_of(nd, f, lo[s, f], step[s, f], int(nbins[s, f]))
                if got is None:
                    continue
                pts, in_bins = got
                found[f] = got
                nbins[s, f] = len(pts)
                pstart[s, f], plen[s, f], pos_units[s, f] = at, len(pts), in_bins
                chunks.append(pts)
                at += len(pts)
            self.slot_points.append(found)
        points = np.concatenate(chunks) if chunks else np.zeros(1)
        total = int(nbins.max()) + 1 if nbins.size else 1
        return PointsPlan(base._replace(nbins=nbins, n_bins_total=total), pstart, plen, points, pos_units)

    def bin_lower_edges(self, slot, f):
        """Lower edge of every bin of the histogram of (open slot, feature)."""
        lo, step, nbins = (a[slot, f] for a in self.slot_bins)
        got = self.slot_points[slot].get(f)
        if got is None:
            return lo + np.arange(nbins) / step
        pts, in_bins = got
        return lo + pts / step if in_bins else pts

    def _range_split(self, slot, f, b):
        if f not in self.slot_points[slot]:
            return super()._range_split(slot, f, b)
        w = self._hist[slot, f, :, 0]
        below = np.flatnonzero(w[:b] > 0)
        above = np.flatnonzero(w[b:self.slot_bins[2][slot, f]] > 0)
        x = below[-1] if len(below) else -1
        n = b + above[0] if len(above) else b
        edges = self.bin_lower_edges(slot, f)
        step = self.slot_bins[1][slot, f]
        return -1, split_threshold(edges[x + 1], edges[n], bool(self.spec.integral()[f]), step)

    def _children_created(self, nd, slot, hist):
        super()._children_created(nd, slot, hist)
        node = self.nodes[nd]
        for way, side in enumerate(("left", "right")):
            self.seeds[node[side]] = child_seed(self.seeds[nd], way)
        if self.kind == "UniformRobust":
            self._robust_children(nd, slot, hist[1])

    def _robust_children(self, nd, slot, minmax):
        node = self.nodes[nd]
        spec = self.spec
        _, _, p_nbins = self.slot_bins
        for side in ("left", "right"):
            child = node[side]
            lo, ex, req, has = self.ranges[child]
            custom = {}
            for f in np.flatnonzero(has & (p_nbins[slot] > 0)):
                if f == node["feature"] or spec.is_cat[f]:
                    continue
                if spec.integral()[f] and ex[f] - lo[f] <= req[f]:
                    continue  # one bin per whole number already
                # the parent's bins end at its exclusive max
                pts = robust_split_points(self.bin_lower_edges(slot, f), self.ranges[nd][1][f], self._hist[slot, f],
                                          lo[f], minmax[slot, f, 1], ex[f], req[f])
                if pts is not None:
                    custom[f] = pts
            if custom:
                self.custom[child] = custom


# ----------------------------------------------------------------------------- strategies

def spec_from_stats(used, keep_idx, stats, params) -> AdaptiveSpec:
    """AdaptiveSpec of the kept columns from the driver's whole-column statistics."""
    idx = np.asarray(keep_idx)
    is_cat = np.array([used.types[c] == "enum" for c in used.columns], dtype=bool)
    n_levels = np.array([len(used.domains[c]) if used.types[c] == "enum" else 0 for c in used.columns], np.int32)
    lo = np.asarray(stats["min"], dtype=np.float64)[idx]
    hi = np.asarray(stats["max"], dtype=np.float64)[idx]
    empty = ~np.isfinite(lo) | ~np.isfinite(hi)
    lo, hi = np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)
    is_int = np.asarray(stats["whole"], dtype=bool)[idx] & ~is_cat
    has_na = np.asarray(stats["na"])[idx] > 0
    return AdaptiveSpec(is_cat, n_levels, is_int, lo, hi, has_na, int(params["nbins"]),
                        int(params["nbins_top_level"]), int(params["nbins_cats"]))


class UniformAdaptive:
    """``histogram_type="UniformAdaptive"`` (H2O's default): every node bins every column
    uniformly on the range its parent observed, 1024 bins at the root halving per level
    down to ``nbins``; integer columns one bin per value when they fit (§6.7)."""

    name = "UniformAdaptive"

    def __init__(self, params: dict):
        self.params = {k: params[k] for k in ("nbins", "nbins_top_level", "nbins_cats")}
        self.spec = None

    def fit(self, used, keep_idx, stats, sample_X) -> None:
        self.spec = spec_from_stats(used, keep_idx, stats, self.params)

    @property
    def n_features(self) -> int:
        return self.spec.n_features

    @staticmethod
    def prepare_chunk(chunk, keep_idx) -> dict:
        features = np.asfortranarray(chunk["X"][:, keep_idx], dtype=np.float64)
        return {"features": features, "y": chunk["y"], "w": chunk["w"], "offset": chunk["offset"], "n": chunk["n"]}

    def new_builder(self, grow_params, rng, tree_cols):
        return AdaptiveTreeBuilder(self.spec, grow_params, rng, tree_cols)

    @staticmethod
    def level_step(tree_chunk, node_ids, plan):
        if isinstance(plan, PointsPlan):
            return points_level_step(tree_chunk, node_ids, plan)
        return chunk_level_step(tree_chunk, node_ids, plan, 0)

    @staticmethod
    def combine(*results):
        hist = sum_histograms(r[1][0] for r in results)
        minmax = results[0][1][1]
        sums = results[0][2]
        for r in results[1:]:
            minmax = combine_minmax(minmax, r[1][1])
            sums = combine_node_sums(sums, r[2])
        return None, (hist, minmax), sums

    @staticmethod
    def decide(builder, combined):
        _, hist, sums = combined
        return builder.decide(hist, sums)

    @staticmethod
    def tree_scores(chunk, tree) -> np.ndarray:
        return predict_raw([tree], chunk["features"])


class UniformRobust(UniformAdaptive):
    """``histogram_type="UniformRobust"``: UniformAdaptive, but a child whose parent
    histogram of a column (not the split column) was sparse gets split points that keep the
    parent's non-empty bins and subdivide them by squared error."""

    name = "UniformRobust"

    def new_builder(self, grow_params, rng, tree_cols):
        return SplitPointsTreeBuilder(self.spec, grow_params, rng, tree_cols, kind=self.name)


class Random(UniformAdaptive):
    """``histogram_type="Random"``: every numeric histogram gets random split points, seeded
    per histogram (the root seed is drawn from the tree's generator)."""

    name = "Random"

    def new_builder(self, grow_params, rng, tree_cols):
        seed = int(rng.integers(-2 ** 63, 2 ** 63 - 1))
        return SplitPointsTreeBuilder(self.spec, grow_params, rng, tree_cols, kind=self.name, hist_seed=seed)


class QuantilesGlobal(UniformAdaptive):
    """``histogram_type="QuantilesGlobal"``: numeric (non-binary) columns split at global
    quantiles of the training sample, cut to each node's range; categoricals as usual."""

    name = "QuantilesGlobal"

    def __init__(self, params: dict):
        super().__init__(params)
        self.global_points = None

    def fit(self, used, keep_idx, stats, sample_X) -> None:
        super().fit(used, keep_idx, stats, sample_X)
        nb, top = self.params["nbins"], self.params["nbins_top_level"]
        self.global_points = [None if self.spec.is_cat[pos] else global_split_points(sample_X[:, j], nb, top)
                              for pos, j in enumerate(keep_idx)]

    def new_builder(self, grow_params, rng, tree_cols):
        return SplitPointsTreeBuilder(self.spec, grow_params, rng, tree_cols, kind=self.name,
                                      global_points=self.global_points)


class RoundRobin(QuantilesGlobal):
    """``histogram_type="RoundRobin"``: each node picks UniformAdaptive (H2O's AUTO and
    UniformAdaptive), Random or QuantilesGlobal by |node seed| mod 4."""

    name = "RoundRobin"

    def new_builder(self, grow_params, rng, tree_cols):
        seed = int(rng.integers(-2 ** 63, 2 ** 63 - 1))
        return SplitPointsTreeBuilder(self.spec, grow_params, rng, tree_cols, kind=self.name,
                                      global_points=self.global_points, hist_seed=seed)

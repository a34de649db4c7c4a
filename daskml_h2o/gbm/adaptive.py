"""H2O's per-node histogram types as GBM strategies (spec gbm.md §6.7): ``UniformAdaptive``,
``UniformRobust``, ``Random``, ``QuantilesGlobal`` and ``RoundRobin``.

Every node re-bins every column on the range its parent observed, over raw float64 values
(categoricals as level codes), so prepared chunks keep X unbinned and trees split on float32
thresholds. ``UniformAdaptive`` is ``grower.AdaptiveTreeBuilder`` as it is. The other types
differ only in where a node's bin boundaries lie (``gbm/split_points.py``), so they share
``SplitPointsTreeBuilder``: a histogram may get explicit split points, which a level's plan
carries to the chunks flattened (``PointsPlan``); ``build_histograms_points`` bins with them.

Histogram seeds follow H2O: every tree of boosting iteration t starts from H2O's t-th tree
seed of the model seed, a child gets ``seed·0xDECAF + way + 1`` (way 0 left, 1 right), and
all columns of a node share its seed (so RoundRobin picks one type per node).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from daskml_h2o.data.binning import AdaptiveSpec
from daskml_h2o.gbm import split_points as SP
from daskml_h2o.gbm.grower import AdaptiveTreeBuilder, chunk_level_step
from daskml_h2o.gbm.histogram import (accumulate_node_sums, build_histograms_points, combine_minmax,
                                      combine_node_sums, sum_histograms)
from daskml_h2o.gbm.tree import predict_raw, route_raw_step

__all__ = ["UniformAdaptive", "UniformRobust", "Random", "QuantilesGlobal", "RoundRobin",
           "SplitPointsTreeBuilder", "PointsPlan", "spec_from_stats", "build_histograms_points",
           "points_level_step"]

# a level plan whose histograms may have explicit split points: ``base`` is grower.LevelPlan;
# slot s, feature f uses points[pstart[s, f]: pstart[s, f] + plen[s, f]] (plen 0 = uniform),
# in bin units (Random: compared with (x − lo)·step) when pos_units[s, f], else in values
PointsPlan = namedtuple("PointsPlan", ["base", "pstart", "plen", "points", "pos_units"])


# ----------------------------------------------------------------------------- kernels

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


# ----------------------------------------------------------------------------- driver

# H2O's RoundRobin candidates, AUTO meaning UniformAdaptive
_ROUND_ROBIN = ("UniformAdaptive", "UniformAdaptive", "Random", "QuantilesGlobal")


class SplitPointsTreeBuilder(AdaptiveTreeBuilder):
    """AdaptiveTreeBuilder whose node histograms may have explicit split points.

    ``kind``: "UniformRobust", "Random", "QuantilesGlobal" or "RoundRobin";
    ``global_points``: per feature (points, refinable) or None (QuantilesGlobal, RoundRobin);
    ``hist_seed``: the root's histogram seed. Plans are PointsPlan; trees are the usual Tree
    record arrays with raw-value thresholds.
    """

    def __init__(self, spec, params, rng, tree_cols=None, kind="UniformAdaptive", global_points=None, hist_seed=0):
        super().__init__(spec, params, rng, tree_cols)
        self.kind = kind
        self.global_points = global_points or [None] * spec.n_features
        self.seeds = {0: int(hist_seed)}
        self.custom = {}         # node -> {feature: UniformRobust points, before cutting to the range}
        self.slot_points = None  # per open slot: {feature: (points, in bin units)}
        # H2O bins small integer columns on an integer fast path that UniformRobust leaves alone
        with np.errstate(invalid="ignore"):
            self.int_opt = spec.is_int & (spec.col_max - spec.col_min < spec.nbins)

    def node_type(self, nd):
        """The histogram type of node ``nd``."""
        if self.kind == "RoundRobin":
            return _ROUND_ROBIN[abs(self.seeds[nd]) % 4]
        return self.kind

    def _points_of(self, nd, f, lo, step, nbins):
        """(points, in bin units) of node nd's histogram of feature f, or None (uniform)."""
        kind = self.node_type(nd)
        max_ex = self.ranges[nd][1][f]
        if kind == "Random":
            if self.spec.is_cat[f] or nbins <= 1:
                return None
            int_code = 1 if self.spec.is_int[f] else 0
            return SP.random_split_points(lo, max_ex, step, nbins, int_code, self.seeds[nd]), True
        if kind == "QuantilesGlobal" and self.global_points[f] is not None:
            pts = SP.node_quantile_points(*self.global_points[f], lo, max_ex, nbins)
            return None if pts is None else (pts, False)
        if kind == "UniformRobust" and f in self.custom.get(nd, {}):
            pts = SP.limit_to_range(self.custom[nd][f], lo, max_ex)
            return (pts, False) if len(pts) > 1 else None
        return None

    def plan(self, first=False):
        base = super().plan(first)
        lo, step, nbins = self.slot_bins
        ns, nf = nbins.shape
        pstart = np.zeros((ns, nf), np.int64)
        plen = np.zeros((ns, nf), np.int64)
        pos_units = np.zeros((ns, nf), np.bool_)
        parts, at = [], 0
        self.slot_points = []
        for s, nd in enumerate(self.open):
            found = {}
            for f in np.flatnonzero(nbins[s] > 0):
                got = self._points_of(nd, f, lo[s, f], step[s, f], int(nbins[s, f]))
                if got is None:
                    continue
                pts, in_bins = got
                found[f] = got
                # custom (UniformRobust) points include the upper end: one bin fewer
                nbins[s, f] = len(pts) - 1 if self.node_type(nd) == "UniformRobust" else len(pts)
                pstart[s, f], plen[s, f], pos_units[s, f] = at, len(pts), in_bins
                parts.append(pts)
                at += len(pts)
            self.slot_points.append(found)
        points = np.concatenate(parts) if parts else np.zeros(1)
        total = int(nbins.max()) + 1 if nbins.size else 1
        return PointsPlan(base._replace(nbins=nbins, n_bins_total=total), pstart, plen, points, pos_units)

    def bin_edges(self, slot, f):
        """The nbins + 1 bin boundaries of the histogram of (open slot, feature)."""
        lo, step, nbins = (a[slot, f] for a in self.slot_bins)
        got = self.slot_points[slot].get(f)
        if got is None:
            return lo + np.arange(nbins + 1) / step
        pts, in_bins = got
        if in_bins:
            return lo + np.append(pts, nbins) / step
        if len(pts) == nbins + 1:
            return pts
        return np.append(pts, self.ranges[self.open[slot]][1][f])

    def _range_split(self, slot, f, b):
        if f not in self.slot_points[slot]:
            return super()._range_split(slot, f, b)
        nb = self.slot_bins[2][slot, f]
        w = self._hist[slot, f, :nb, 0]
        below = np.flatnonzero(w[:b] > 0)
        above = np.flatnonzero(w[b:] > 0)
        x = below[-1] if len(below) else -1
        n = b + above[0] if len(above) else b
        edges = self.bin_edges(slot, f)
        step = self.slot_bins[1][slot, f]
        return -1, SP.split_threshold(edges[x + 1], edges[n], bool(self.spec.integral()[f]), step)

    def _children_created(self, nd, slot, hist):
        super()._children_created(nd, slot, hist)
        node = self.nodes[nd]
        for way, side in enumerate(("left", "right")):
            self.seeds[node[side]] = SP.child_seed(self.seeds[nd], way)
        if self.kind == "UniformRobust":
            for side in ("left", "right"):
                self._robust_child(nd, slot, node[side], hist[1])

    def _robust_child(self, nd, slot, child, minmax):
        """A child's UniformRobust points: inherited from the parent's histogram, or new
        guided points for a column (not the split column) whose parent histogram was sparse."""
        node = self.nodes[nd]
        spec = self.spec
        lo, ex, req, has = self.ranges[child]
        nbins = self.slot_bins[2][slot]
        inherited = self.custom.get(nd, {})
        custom = {}
        for f in np.flatnonzero(has & (nbins > 0)):
            pts = inherited.get(f)
            split_col = f == node["feature"]
            if not (split_col or spec.is_cat[f] or self.int_opt[f]):
                full = np.count_nonzero(self._hist[slot, f, :nbins[f], 0] > 0)
                if full / nbins[f] <= SP.SPARSE_DENSITY:
                    pts = SP.guided_split_points(self.bin_edges(slot, f), self._hist[slot, f], bool(spec.is_int[f]),
                                                 req[f], lo[f], ex[f], minmax[slot, f, 1])
            if pts is not None:
                custom[f] = pts
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
    uses_sample = False  # bins come from the column statistics and each node's range

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


class _SeededTypes(UniformAdaptive):
    """Shared by the types whose histograms need H2O's per-tree seed. The driver draws its
    own tree seeds, so the strategy follows H2O's model generator itself: a builder for a
    new boosting iteration (a new per-tree generator) takes the generator's next seed."""

    def __init__(self, params: dict):
        super().__init__(params)
        self._model_rng = SP._PCG(int(params["seed"]))
        self._tree_key, self._tree_seed = None, 0

    def _root_seed(self, rng) -> int:
        # the K class trees of one iteration share the driver's generator, and its seed
        key = rng.bit_generator.seed_seq.entropy
        if key != self._tree_key:
            self._tree_key, self._tree_seed = key, self._model_rng.next_long()
        return self._tree_seed


class UniformRobust(UniformAdaptive):
    """``histogram_type="UniformRobust"``: UniformAdaptive, but a column whose parent
    histogram was sparse (≤ 20 % non-empty bins) gets guided split points in the children:
    the parent's non-empty bins, refined by squared error; children inherit them."""

    name = "UniformRobust"

    def new_builder(self, grow_params, rng, tree_cols):
        return SplitPointsTreeBuilder(self.spec, grow_params, rng, tree_cols, kind=self.name)


class Random(_SeededTypes):
    """``histogram_type="Random"``: every numeric histogram bins at random split points,
    drawn per histogram from H2O's generator seeded by its range, bin count and node seed."""

    name = "Random"

    def new_builder(self, grow_params, rng, tree_cols):
        return SplitPointsTreeBuilder(self.spec, grow_params, rng, tree_cols, kind=self.name,
                                      hist_seed=self._root_seed(rng))


class QuantilesGlobal(UniformAdaptive):
    """``histogram_type="QuantilesGlobal"``: numeric (non-binary) columns bin at their exact
    values (at most ``nbins`` distinct) or at global quantiles of the training sample, cut to
    each node's range; categoricals bin as usual."""

    name = "QuantilesGlobal"
    uses_sample = True  # global split points from a row sample

    def __init__(self, params: dict):
        super().__init__(params)
        self.global_points = None

    def fit(self, used, keep_idx, stats, sample_X) -> None:
        super().fit(used, keep_idx, stats, sample_X)
        nb, top = self.params["nbins"], self.params["nbins_top_level"]
        self.global_points = [None if self.spec.is_cat[pos] else SP.global_split_points(sample_X[:, j], nb, top)
                              for pos, j in enumerate(keep_idx)]

    def new_builder(self, grow_params, rng, tree_cols):
        return SplitPointsTreeBuilder(self.spec, grow_params, rng, tree_cols, kind=self.name,
                                      global_points=self.global_points)


class RoundRobin(_SeededTypes, QuantilesGlobal):
    """``histogram_type="RoundRobin"``: each node bins as UniformAdaptive (H2O's AUTO and
    UniformAdaptive), Random or QuantilesGlobal, chosen by |node seed| mod 4."""

    name = "RoundRobin"

    def new_builder(self, grow_params, rng, tree_cols):
        return SplitPointsTreeBuilder(self.spec, grow_params, rng, tree_cols, kind=self.name,
                                      global_points=self.global_points, hist_seed=self._root_seed(rng))

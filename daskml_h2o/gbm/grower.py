"""Reference driver: grow H2O trees level by level over a list of in-memory chunks.

The distributed driver makes the same calls with dask futures in place of the lists:

* per chunk and level: ``chunk_level_step`` (route rows, build histograms);
* on the driver: histograms summed in chunk order, then ``driver_find_splits``
  (split search, column sampling, next level's plan);
* per chunk after the tree: ``chunk_update_scores``.

Per tree: ``chunk_sample_weights`` (seeded per global row, so chunking does not matter),
``chunk_residuals`` and ``chunk_tree_inputs`` prepare the per-row arrays.
``fit_reference`` is the whole single-machine boosting loop used by the tests.
"""
import math
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from . import distributions as D
from ..data.binning import AdaptiveSpec, root_ranges, uniform_bins
from .histogram import (SUM_DEN, SUM_FMAX, SUM_FMIN, SUM_NUM, SUM_W, SUM_WZ,
                        adaptive_level_step, combine_minmax, combine_node_sums, level_step,
                        sum_histograms)
from .splitting import (NA_ALONE_LEFT, NA_ALONE_RIGHT, NA_LEFT, NA_NONE, NA_VS_REST,
                        ST_SE_BEFORE, ST_SE_LEFT, ST_SE_RIGHT, ST_W_LEFT, ST_W_RIGHT, find_splits,
                        round_histograms)
from .tree import BITSET, LEAF, NA_VS_REST as K_NA_VS_REST, NODE_DTYPE, RANGE, Tree

# offsets: the ragged histogram layout of global bins (histogram.ragged_offsets), None = dense.
# On the ragged layout, final marks the tree's last pass (the one that sums the leaves) and
# present, when known, the nodes rows sit at (histogram.route_table).
LevelPlan = namedtuple("LevelPlan", ["route", "slot_of_node", "n_slots", "n_nodes", "first",
                                     "lo", "step", "nbins", "n_bins_total", "offsets", "final",
                                     "present"],
                       defaults=(None, None, None, 0, None, False, None))
TreeChunk = namedtuple("TreeChunk", ["Xb", "grad", "w", "num", "den", "f"])
FitResult = namedtuple("FitResult", ["init_f", "trees", "scores"])


@dataclass
class GrowParams:
    """Tree-shape parameters with H2O's defaults."""
    max_depth: int = 5
    min_rows: float = 10.0
    min_split_improvement: float = 1e-5
    col_sample_rate: float = 1.0
    col_sample_rate_per_tree: float = 1.0
    col_sample_rate_change_per_level: float = 1.0

    def __post_init__(self):
        if self.max_depth < 0:
            raise ValueError(f"max_depth must be >= 0 (0 = unlimited), got {self.max_depth}")
        if self.min_rows <= 0:
            raise ValueError(f"min_rows must be > 0, got {self.min_rows}")
        for name in ("col_sample_rate", "col_sample_rate_per_tree"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {v}")
        if not 0.0 < self.col_sample_rate_change_per_level <= 2.0:
            raise ValueError("col_sample_rate_change_per_level must be in (0, 2], got "
                             f"{self.col_sample_rate_change_per_level}")

    @property
    def depth_limit(self):
        return self.max_depth if self.max_depth > 0 else 2 ** 31 - 1


# ----------------------------------------------------------------------------- per chunk

def row_uniform(seed, row_start, n):
    """Uniform [0, 1) per global row index: splitmix64 of (seed, row), so any chunking of
    the rows draws the same numbers. (Array uint64 arithmetic wraps, as intended.)"""
    rows = np.arange(row_start, row_start + n, dtype=np.uint64)
    z = np.uint64(seed % 2 ** 64) + rows * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0 ** 53)


def chunk_sample_weights(w, y, row_start, tree_seed, sample_rate=1.0, sample_rate_per_class=None):
    """In-bag weights of a chunk: w for sampled rows, 0 for out-of-bag (§6.1)."""
    w = np.asarray(w, dtype=np.float64)
    if sample_rate >= 1.0 and sample_rate_per_class is None:
        return w.copy()
    u = row_uniform(tree_seed, row_start, len(w))
    if sample_rate_per_class is not None:
        rates = np.asarray(sample_rate_per_class, dtype=np.float64)
        cls = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=0).astype(np.int64)
        rate = rates[np.clip(cls, 0, len(rates) - 1)]
    else:
        rate = sample_rate
    return np.where(u < rate, w, 0.0)


def chunk_residuals(dist, y, F, offset=None, nclasses=1, power=1.5, alpha=0.5, delta=1.0):
    """Pseudo-residuals, float32 of shape (n, K); F is (n, K) scores without offset."""
    F = np.asarray(F, dtype=np.float64)
    F = F.reshape(-1, 1) if F.ndim == 1 else F  # (n, K) also when a chunk has no rows
    y = np.asarray(y, dtype=np.float64)
    if dist == D.MULTINOMIAL and nclasses > 2:
        return D.multinomial_residuals(np.nan_to_num(y, nan=-1.0), F)
    f = F[:, 0] if offset is None else F[:, 0] + offset
    return D.neg_half_gradient(dist, y, f, power, alpha, delta)[:, None]


def chunk_tree_inputs(Xb, dist, y, z, f, w_inbag, power=1.5):
    """Per-row arrays one tree needs (z, in-bag w, Newton terms; the link score f for log links)."""
    y = np.asarray(y, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    num, den = D.newton_terms(dist, y, z, f, power)
    # the level kernels track each node's range of f only where leaves need it (log links, §8.6)
    f_range = f if dist in D.LOG_LINK else np.empty(0)
    return TreeChunk(Xb, np.ascontiguousarray(z, dtype=np.float32), w_inbag, num, den, f_range)


def chunk_level_step(chunk, node_ids, plan, na_bin):
    """One level on one chunk: returns (node_ids, hist, node_sums).

    With global bins chunk.Xb holds codes and hist is an array; with a UniformAdaptive
    plan (plan.lo set) chunk.Xb holds raw floats and hist is (hist, minmax).
    """
    if plan.lo is None:
        return level_step(chunk.Xb, node_ids, chunk.grad, chunk.w, chunk.num, chunk.den,
                          chunk.f, plan, na_bin)
    ids, hist, minmax, sums = adaptive_level_step(
        chunk.Xb, node_ids, chunk.grad, chunk.w, chunk.num, chunk.den, chunk.f, plan, plan.lo,
        plan.step, plan.nbins, plan.n_bins_total)
    return ids, (hist, minmax), sums


def reduce_level(steps):
    """Driver-side reduction of chunk_level_step results, in chunk order."""
    hists = [s[1] for s in steps]
    if isinstance(hists[0], tuple):
        minmax = hists[0][1]
        for h in hists[1:]:
            minmax = combine_minmax(minmax, h[1])
        hist = (sum_histograms(h[0] for h in hists), minmax)
    else:
        hist = sum_histograms(hists)
    sums = steps[0][2]
    for s in steps[1:]:
        sums = combine_node_sums(sums, s[2])
    return hist, sums


def chunk_update_scores(F, node_ids, node_values):
    """F ← float32(F + value of the row's leaf), every row (in-bag and out-of-bag)."""
    return (np.asarray(F, dtype=np.float64) + node_values[node_ids]).astype(np.float32) \
        .astype(np.float64)


# ----------------------------------------------------------------------------- driver

class TreeBuilder:
    """Driver-side state of one tree while it grows (plain Python): one dense histogram
    per open node. Global bins use its subclass global_grower.GlobalTreeBuilder."""

    def __init__(self, spec, params, rng, tree_cols=None):
        self.spec, self.params, self.rng = spec, params, rng
        nf = spec.n_features
        self.tree_cols = np.ones(nf, bool) if tree_cols is None else np.asarray(tree_cols, bool)
        self.nodes = [self._node(0)]
        self.nodes[0]["h2o_id"] = 0
        self.next_id = 1
        self.open = [0]
        self.sums = np.zeros((0, 6))
        self.final_pass = False

    @staticmethod
    def _node(depth):
        return {"kind": LEAF, "feature": -1, "bin": 0, "threshold": 0.0, "na_left": 0,
                "left": -1, "right": -1, "bitset": None, "n_levels": 0, "gain": 0.0,
                "depth": depth, "h2o_id": -1}

    def to_tree(self, values=None):
        """The tree so far as a record array (leaf values from ``values`` by position)."""
        nodes = np.zeros(len(self.nodes), dtype=NODE_DTYPE)
        # one column at a time: a list per field converts in one call (per-element writes
        # into a record array cost a numpy scalar conversion each)
        for key in ("kind", "feature", "bin", "threshold", "na_left", "left", "right",
                    "n_levels", "gain", "depth"):
            nodes[key] = [nd[key] for nd in self.nodes]
        nodes["node_id"] = [nd["h2o_id"] for nd in self.nodes]
        bits = []
        pos = 0
        for i, nd in enumerate(self.nodes):
            if nd["bitset"] is not None:
                nodes["bitset_start"][i] = pos
                nodes["bitset_len"][i] = len(nd["bitset"])
                bits.append(nd["bitset"])
                pos += len(nd["bitset"])
        m = min(len(self.sums), len(nodes))
        nodes["weight"][:m] = self.sums[:m, SUM_W]
        with np.errstate(invalid="ignore", divide="ignore"):
            nodes["pred"][:m] = np.where(self.sums[:m, SUM_W] > 0,
                                         self.sums[:m, SUM_WZ] / self.sums[:m, SUM_W], 0.0)
        if values is not None:
            leaf = nodes["kind"] == LEAF
            nodes["value"][leaf] = np.asarray(values, dtype=np.float32)[leaf]
        bitsets = np.concatenate(bits).astype(np.uint8) if bits else np.zeros(0, np.uint8)
        return Tree(nodes, bitsets)

    def route_arrays(self):
        """``tree.tree_arrays(self.to_tree())`` straight from the nodes: what a level's plan
        routes rows with, without building the record array every level."""
        nodes = self.nodes
        bits = [nd["bitset"] for nd in nodes if nd["bitset"] is not None]
        has = np.array([nd["bitset"] is not None for nd in nodes])
        bs_len = np.array([0 if nd["bitset"] is None else len(nd["bitset"]) for nd in nodes],
                          dtype=np.int32)
        # a bitset starts where the ones before it end; nodes without one keep 0
        bs_start = np.where(has, np.cumsum(bs_len) - bs_len, 0).astype(np.int32)
        bitsets = np.concatenate(bits).astype(np.uint8) if bits else np.zeros(1, np.uint8)
        return (np.array([nd["feature"] for nd in nodes], np.int32),
                np.array([nd["kind"] for nd in nodes], np.uint8),
                np.array([nd["bin"] for nd in nodes], np.int32),
                np.array([nd["threshold"] for nd in nodes], np.float64),
                np.array([nd["na_left"] for nd in nodes], np.uint8),
                np.array([nd["left"] for nd in nodes], np.int32),
                np.array([nd["right"] for nd in nodes], np.int32),
                bs_start, bs_len,
                np.array([nd["n_levels"] for nd in nodes], np.int32),
                bitsets)

    def plan(self, first=False):
        """What every chunk needs for the next pass."""
        slot_of_node = np.full(len(self.nodes), -1, dtype=np.int32)
        for s, nd in enumerate(self.open):
            slot_of_node[nd] = s
        return LevelPlan(self.route_arrays(), slot_of_node, len(self.open), len(self.nodes),
                         first)

    # -- layout hooks (global bins); AdaptiveTreeBuilder overrides them

    def _layout(self, hist):
        """(n_bins, cat_direct, has_hist) per slot and feature, and the NA slot."""
        ns, nf = len(self.open), self.spec.n_features
        return (np.tile(self.spec.n_bins, (ns, 1)), np.tile(self.spec.cat_direct, (ns, 1)),
                np.ones((ns, nf), bool), self.spec.na_bin)

    def _range_split(self, slot, f, b):
        """(bin, threshold) of a range split before bin b."""
        return int(b), float(self.spec.edges(f)[b - 1])

    def _level_bitset(self, slot, f, bits, na_left):
        """Per-level bitset (1 = right) from the bin bitset."""
        return bits[:self.spec.n_bins[f]].copy()

    def _children_created(self, nd, slot, hist):
        """Called after node nd (at slot) got its children."""

    # -- split search

    def _column_masks(self, hist, has, na_slot):
        nonempty = (hist[:, :, :na_slot, 0] > 0).sum(axis=2)
        return self._sample_columns(nonempty, hist[:, :, na_slot, 0], has)

    def _sample_columns(self, nonempty, na_w, has):
        """(slots, F) features each open node may split on, from its count of non-empty
        non-NA bins and its NA weight per feature."""
        # splittable: >= 2 non-empty bins, or at the root one bin plus NAs (NA is a value)
        root = np.array([self.nodes[nd]["depth"] == 0 for nd in self.open])[:, None]
        ok = (nonempty >= 2) | (root & (nonempty == 1) & (na_w > 0))
        ok &= has & self.tree_cols[None, :]
        return self._subsample_columns(ok)

    def _subsample_columns(self, ok):
        """Column sampling per open node (in place on the splittable mask ``ok``)."""
        p, nf = self.params, self.spec.n_features
        mtry = max(1, math.floor(p.col_sample_rate * p.col_sample_rate_per_tree * nf))
        if mtry >= nf and p.col_sample_rate_change_per_level >= 1.0:
            return ok  # every node may keep all its columns: no draw at any depth
        for s, nd in enumerate(self.open):
            depth = self.nodes[nd]["depth"]
            k = min(nf, max(1, math.floor(mtry * p.col_sample_rate_change_per_level ** depth)))
            cand = np.flatnonzero(ok[s])
            if k < len(cand):
                keep = np.sort(self.rng.choice(cand, size=k, replace=False))
                ok[s] = False
                ok[s, keep] = True
        return ok

    def decide(self, hist, node_sums):
        """Add the pass's node sums; split the open nodes; return the next plan or None."""
        self.sums = combine_node_sums(self.sums, node_sums)
        if self.final_pass or not self.open:
            return None
        raw = hist
        hist = round_histograms(hist[0] if isinstance(hist, tuple) else hist)
        self._hist = hist
        n_bins, cat_direct, has, na_slot = self._layout(hist)
        masks = self._column_masks(hist, has, na_slot)
        p = self.params
        feature, bins, nasplit, is_bits, stats, bitsets = find_splits(
            hist, n_bins, cat_direct, masks, na_slot, p.min_rows, p.min_split_improvement)
        new_open = []
        for s, nd in enumerate(self.open):
            if feature[s] >= 0:
                self._split(nd, s, feature[s], bins[s], nasplit[s], is_bits[s], stats[s],
                            bitsets[s], new_open)
                self._children_created(nd, s, raw)
        if not any(f >= 0 for f in feature):
            return None
        self.open = new_open
        self.final_pass = not new_open
        return self.plan()

    def _split(self, nd, slot, f, b, nas, is_bits, st, bitset, new_open):
        p = self.params
        node = self.nodes[nd]
        node["feature"] = int(f)
        node["gain"] = st[ST_SE_BEFORE] - st[ST_SE_LEFT] - st[ST_SE_RIGHT]
        node["n_levels"] = int(self.spec.n_levels[f]) if self.spec.is_cat[f] else 0
        if nas == NA_NONE:
            node["na_left"] = int(st[ST_W_LEFT] > st[ST_W_RIGHT])
        else:
            node["na_left"] = int(nas in (NA_LEFT, NA_ALONE_LEFT))
        if nas in (NA_VS_REST, NA_ALONE_LEFT, NA_ALONE_RIGHT):
            node["kind"] = K_NA_VS_REST
        elif is_bits:
            node["kind"] = BITSET
            node["bitset"] = self._level_bitset(slot, f, bitset, node["na_left"])
        else:
            node["kind"] = RANGE
            node["bin"], node["threshold"] = self._range_split(slot, f, b)
        depth = node["depth"] + 1
        for side, (w_key, se_key) in enumerate(((ST_W_LEFT, ST_SE_LEFT),
                                                (ST_W_RIGHT, ST_SE_RIGHT))):
            child = self._node(depth)
            idx = len(self.nodes)
            self.nodes.append(child)
            node["right" if side else "left"] = idx
            # H2O gives a child histograms (and an id) unless it is too small, pure, or
            # the NA side of an NA-vs-rest split
            # on categoricals H2O builds NA-alone splits as set splits: both children count
            na_child = nas == NA_VS_REST and side
            if st[w_key] >= p.min_rows and st[se_key] > 1e-30 and not na_child:
                child["h2o_id"] = self.next_id
                self.next_id += 1
                if depth < p.depth_limit:
                    new_open.append(idx)

    def finish(self, values):
        """Final tree: leaf values by position (float32), H2O ids for the new leaves."""
        for nd in self.nodes:
            if nd["kind"] == LEAF:
                continue
            for side in ("left", "right"):
                child = self.nodes[nd[side]]
                if child["kind"] == LEAF:
                    # leaves are created as new nodes after the depth loop (§6.8)
                    child["h2o_id"] = self.next_id
                    self.next_id += 1
        return self.to_tree(values)

    def leaf_stats(self):
        """Per node position: (Σw, Σw·num, Σw·den, Σw·z, fmin, fmax) of in-bag rows."""
        out = np.zeros((len(self.nodes), 6))
        out[:, 4], out[:, 5] = np.inf, -np.inf
        out[:len(self.sums)] = self.sums[:len(self.nodes)]
        return out


class AdaptiveTreeBuilder(TreeBuilder):
    """H2O's UniformAdaptive histograms: every node re-bins every column on the range
    its parent observed (spec §6.5, §6.7). Works on raw values; trees route on
    thresholds only (their ``bin`` is -1, so predict with predict_raw)."""

    def __init__(self, spec, params, rng, tree_cols=None):
        super().__init__(spec, params, rng, tree_cols)
        lo, max_ex, req, has = root_ranges(spec)
        # per node: (lo, max_ex, requested bins, has histogram) of every feature
        self.ranges = {0: (lo, max_ex, req, has)}
        self.slot_bins = None

    def _bins_of(self, nd):
        lo, max_ex, req, has = self.ranges[nd]
        integral = self.spec.integral()
        step = np.ones(len(lo))
        nbins = np.zeros(len(lo), np.int64)
        for f in np.flatnonzero(has):
            step[f], nbins[f] = uniform_bins(lo[f], max_ex[f], req[f], integral[f])
        return lo, step, nbins

    def plan(self, first=False):
        base = super().plan(first)
        nf = self.spec.n_features
        lo = np.zeros((len(self.open), nf))
        step = np.ones((len(self.open), nf))
        nbins = np.zeros((len(self.open), nf), np.int64)
        for s, nd in enumerate(self.open):
            lo[s], step[s], nbins[s] = self._bins_of(nd)
        self.slot_bins = (lo, step, nbins)
        total = int(nbins.max()) + 1 if nbins.size else 1
        return base._replace(lo=lo, step=step, nbins=nbins, n_bins_total=total)

    def _layout(self, hist):
        lo, step, nbins = self.slot_bins
        cat_direct = self.spec.is_cat[None, :] & (step == 1.0)
        return nbins, cat_direct, nbins > 0, hist.shape[2] - 1

    def _range_split(self, slot, f, b):
        lo, step, _ = (a[slot] for a in self.slot_bins)
        occupied = np.flatnonzero(self._hist[slot, f, :b, 0] > 0)
        x = occupied[-1] if len(occupied) else b - 1
        lo_edge = lo[f] + (x + 1) / step[f]
        hi_edge = lo[f] + b / step[f]
        if self.spec.integral()[f]:
            if step[f] == 1.0:
                lo_edge -= 1.0
            else:
                lo_edge, hi_edge = math.floor(lo_edge), math.ceil(hi_edge)
        return -1, float(np.float32((lo_edge + hi_edge) / 2.0))

    def _level_bitset(self, slot, f, bits, na_left):
        # levels outside this node's histogram range follow the NA direction, as in H2O
        lo, _, nbins = (a[slot] for a in self.slot_bins)
        full = np.full(int(self.spec.n_levels[f]), 0 if na_left else 1, np.uint8)
        start = int(lo[f])
        full[start:start + nbins[f]] = bits[:nbins[f]]
        return full

    def _children_created(self, nd, slot, hist):
        _, minmax = hist
        spec = self.spec
        node = self.nodes[nd]
        p_lo, p_ex, _, p_has = self.ranges[nd]
        _, _, p_nbins = (a[slot] for a in self.slot_bins)
        integral = spec.integral()
        obs_lo, obs_hi = minmax[slot, :, 0], minmax[slot, :, 1]
        obs_ex = np.where(integral, obs_hi + 1.0, np.nextafter(obs_hi, np.inf))
        req = np.where(spec.is_cat, spec.nbins_cats, np.maximum(p_nbins >> 1, spec.nbins))
        # H2O builds categorical NA-alone splits as set splits: ranges stay the parent's
        set_split = node["kind"] == BITSET or (node["kind"] == K_NA_VS_REST
                                               and spec.is_cat[node["feature"]])
        for side in ("left", "right"):
            child = node[side]
            if set_split:
                lo, ex = p_lo.copy(), p_ex.copy()
            else:
                lo, ex = obs_lo.copy(), obs_ex.copy()
                f, t = node["feature"], node["threshold"]
                if node["kind"] == RANGE:
                    cut = math.ceil(t) if integral[f] else t
                    if side == "left":
                        ex[f] = cut
                    else:
                        lo[f] = cut
            with np.errstate(invalid="ignore"):
                span_ok = np.where(integral, ex - lo >= 2, np.nextafter(lo, np.inf) < ex)
            has = p_has & np.isfinite(lo) & np.isfinite(ex) & span_ok
            self.ranges[child] = (lo, ex, req.astype(np.int64), has)


def driver_find_splits(builder, hist, node_sums):
    """Driver step between levels: see TreeBuilder.decide."""
    return builder.decide(hist, node_sums)


def choose_tree_columns(n_features, col_sample_rate_per_tree, rng):
    """Columns a tree may use (§6.2): floor(rate·ncols) of them, at least one."""
    k = max(1, math.floor(col_sample_rate_per_tree * n_features))
    mask = np.zeros(n_features, bool)
    mask[rng.choice(n_features, size=k, replace=False) if k < n_features else slice(None)] = True
    return mask


def make_builder(spec, params, rng, tree_cols=None):
    """GlobalTreeBuilder for global bins (BinSpec), AdaptiveTreeBuilder for an AdaptiveSpec."""
    if isinstance(spec, AdaptiveSpec):
        return AdaptiveTreeBuilder(spec, params, rng, tree_cols)
    # global_grower subclasses TreeBuilder, so it can only be imported once this module is
    from .global_grower import GlobalTreeBuilder
    return GlobalTreeBuilder(spec, params, rng, tree_cols)


def grow_tree(chunks, spec, params, rng, tree_cols=None):
    """Grow one tree over a list of TreeChunk; returns (builder, node_ids per chunk).

    Leaf values are not set yet: compute them from builder.leaf_stats() (Newton) or
    from the final node ids (quantile leaves), then call builder.finish(values).
    """
    builder = make_builder(spec, params, rng, tree_cols)
    node_ids = [np.zeros(c.Xb.shape[0], dtype=np.int32) for c in chunks]
    na_bin = getattr(spec, "na_bin", 0)
    plan = builder.plan(first=True)
    while plan is not None:
        steps = [chunk_level_step(c, ids, plan, na_bin) for c, ids in zip(chunks, node_ids)]
        node_ids = [s[0] for s in steps]
        hist, sums = reduce_level(steps)
        plan = driver_find_splits(builder, hist, sums)
    return builder, node_ids


# ----------------------------------------------------------------------------- boosting

FIT_DEFAULTS = dict(distribution="gaussian", nclasses=1, ntrees=50, max_depth=5, min_rows=10.0,
                    learn_rate=0.1, learn_rate_annealing=1.0, sample_rate=1.0,
                    sample_rate_per_class=None, col_sample_rate=1.0,
                    col_sample_rate_per_tree=1.0, col_sample_rate_change_per_level=1.0,
                    min_split_improvement=1e-5, seed=1234, tweedie_power=1.5,
                    quantile_alpha=0.5, huber_alpha=0.9, max_abs_leafnode_pred=np.inf)


def leaf_values(dist, stats, lr, nclasses=1, max_abs_leafnode_pred=np.inf, gammas=None):
    """Leaf values (float32, per node position) from builder.leaf_stats().

    Newton leaves come from the stats; laplace/quantile/huber pass their per-node
    ``gammas`` (distributions.quantile_leaf_gammas over all rows, out-of-bag included).
    Includes the learning rate, H2O's clipping and the ±19 log-link truncation.
    """
    if gammas is None:
        gammas = D.newton_gamma(dist, stats[:, SUM_NUM], stats[:, SUM_DEN])
    vals = D.finish_leaf_values(dist, gammas, lr, nclasses if dist == D.MULTINOMIAL else 1)
    fin = np.isfinite(stats[:, SUM_FMIN])
    vals[fin] = D.truncate_log_leaves(dist, vals[fin], stats[fin, SUM_FMIN], stats[fin, SUM_FMAX])
    return np.clip(vals, -max_abs_leafnode_pred, max_abs_leafnode_pred).astype(np.float32)


def fit_reference(X_list, y_list, w_list, params, spec, offset_list=None):
    """Single-machine H2O boosting over binned chunks (the tests' reference).

    y holds numbers (regression) or class indices (classification, NaN = NA); params
    overrides FIT_DEFAULTS. Returns FitResult(init_f, trees, scores): trees[t] is the
    list of the K class trees of iteration t (None for an empty class), scores the
    per-chunk (n, K) training scores F (f0 included, offset not).
    """
    unknown = set(params) - set(FIT_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}; known: {sorted(FIT_DEFAULTS)}")
    p = {**FIT_DEFAULTS, **params}
    dist = D.dist_code(p["distribution"])
    nclasses = int(p["nclasses"])
    K = nclasses if dist == D.MULTINOMIAL and nclasses > 2 else 1
    gp = GrowParams(p["max_depth"], p["min_rows"], p["min_split_improvement"],
                    p["col_sample_rate"], p["col_sample_rate_per_tree"],
                    p["col_sample_rate_change_per_level"])
    ys = [np.asarray(y, dtype=np.float64) for y in y_list]
    ws = [np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
          for y, w in zip(ys, w_list)]
    ws = [np.where(np.isnan(y), 0.0, w) for y, w in zip(ys, ws)]
    offs = [np.zeros(len(y)) if offset_list is None or offset_list[i] is None
            else np.asarray(offset_list[i], dtype=np.float64) for i, y in enumerate(ys)]
    f0 = 0.0 if K > 1 else D.init_f(dist, np.concatenate(ys), np.concatenate(ws),
                                    np.concatenate(offs), nclasses, p["quantile_alpha"],
                                    p["tweedie_power"])
    # H2O's F starts at f0 (class 0 column) and is rounded to float32 after every tree
    scores = [np.zeros((len(y), K)) for y in ys]
    for F in scores:
        F[:, 0] = np.float32(f0)
    starts = np.concatenate([[0], np.cumsum([len(y) for y in ys])])
    model_rng = np.random.default_rng(p["seed"])
    sampled = p["sample_rate"] < 1 or p["sample_rate_per_class"] is not None or \
        p["col_sample_rate"] < 1 or p["col_sample_rate_per_tree"] < 1
    trees = []
    for t in range(p["ntrees"]):
        tree_seed = int(model_rng.integers(0, 2 ** 63 - 1))
        lr = p["learn_rate"] * p["learn_rate_annealing"] ** (t - 1)
        links = [F + o[:, None] for F, o in zip(scores, offs)]
        delta = 1.0
        if dist == D.HUBER:
            delta = D.huber_delta(np.concatenate(ys), np.concatenate([l[:, 0] for l in links]),
                                  np.concatenate(ws), p["huber_alpha"])
        res = [chunk_residuals(dist, y, l, None, nclasses, p["tweedie_power"],
                               p["quantile_alpha"], delta) for y, l in zip(ys, links)]
        inbag = [chunk_sample_weights(w, y, starts[i], tree_seed, p["sample_rate"],
                                      p["sample_rate_per_class"])
                 for i, (w, y) in enumerate(zip(ws, ys))]
        tree_rng = np.random.default_rng(tree_seed)
        tree_cols = choose_tree_columns(spec.n_features, p["col_sample_rate_per_tree"], tree_rng)
        row = []
        for k in range(K):
            if K > 1 and not any(((y == k) & (w > 0)).any() for y, w in zip(ys, ws)):
                row.append(None)
                continue
            chunks = [chunk_tree_inputs(X, dist, y, r[:, k], l[:, k], wb, p["tweedie_power"])
                      for X, y, r, l, wb in zip(X_list, ys, res, links, inbag)]
            builder, node_ids = grow_tree(chunks, spec, gp, tree_rng, tree_cols)
            stats = builder.leaf_stats()
            gammas = None
            if dist in D.QUANTILE_LEAVES:
                d = np.concatenate([y - l[:, 0] for y, l in zip(ys, links)])
                gammas = D.quantile_leaf_gammas(dist, np.concatenate(node_ids), d,
                                                np.concatenate(ws), len(stats),
                                                p["quantile_alpha"], delta)
            vals = leaf_values(dist, stats, lr, nclasses, p["max_abs_leafnode_pred"], gammas)
            tree = builder.finish(vals)
            node_vals = tree.nodes["value"].astype(np.float64)
            for i, ids in enumerate(node_ids):
                scores[i][:, k] = chunk_update_scores(scores[i][:, k], ids, node_vals)
            row.append(tree)
        trees.append(row)
        if not sampled and all(tr is None or (len(tr.nodes) == 1 and tr.nodes["value"][0] == 0)
                               for tr in row):
            break
    return FitResult(f0, trees, scores)

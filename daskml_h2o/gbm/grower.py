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
from numba import njit

from . import distributions as D
from .histogram import (SUM_DEN, SUM_FMAX, SUM_FMIN, SUM_NUM, SUM_W, SUM_WZ,
                        combine_node_sums, level_step, sum_histograms)
from .splitting import (NA_LEFT, NA_NONE, NA_VS_REST, ST_SE_BEFORE, ST_SE_LEFT, ST_SE_RIGHT,
                        ST_W_LEFT, ST_W_RIGHT, find_splits, round_histograms, splittable)
from .tree import BITSET, LEAF, NA_VS_REST as K_NA_VS_REST, NODE_DTYPE, RANGE, Tree, tree_arrays

LevelPlan = namedtuple("LevelPlan", ["route", "slot_of_node", "n_slots", "n_nodes", "first"])
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

@njit(nogil=True, cache=True)
def _splitmix_uniform(seed, row_start, n):
    out = np.empty(n)
    for i in range(n):
        z = np.uint64(seed) + np.uint64(row_start + i) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        out[i] = np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    return out


def row_uniform(seed, row_start, n):
    """Uniform [0, 1) per global row index (counter-based: any chunking gives the same)."""
    return _splitmix_uniform(np.uint64(seed % 2 ** 64), np.int64(row_start), int(n))


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
    F = np.asarray(F, dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y, dtype=np.float64)
    if dist == D.MULTINOMIAL and nclasses > 2:
        return D.multinomial_residuals(np.nan_to_num(y, nan=-1.0), F)
    f = F[:, 0] if offset is None else F[:, 0] + offset
    return D.neg_half_gradient(dist, y, f, power, alpha, delta)[:, None]


def chunk_tree_inputs(Xb, dist, y, z, f, w_inbag, power=1.5):
    """Per-row arrays one tree needs (z, in-bag w, Newton terms, link score f)."""
    y = np.asarray(y, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    num, den = D.newton_terms(dist, y, z, f, power)
    return TreeChunk(Xb, np.ascontiguousarray(z, dtype=np.float32), w_inbag, num, den, f)


def chunk_level_step(chunk, node_ids, plan, na_bin):
    """One level on one chunk: returns (node_ids, hist, node_sums)."""
    return level_step(chunk.Xb, node_ids, chunk.grad, chunk.w, chunk.num, chunk.den, chunk.f,
                      plan, na_bin)


def chunk_update_scores(F, node_ids, node_values):
    """F ← float32(F + value of the row's leaf), every row (in-bag and out-of-bag)."""
    return (np.asarray(F, dtype=np.float64) + node_values[node_ids]).astype(np.float32) \
        .astype(np.float64)


# ----------------------------------------------------------------------------- driver

class TreeBuilder:
    """Driver-side state of one tree while it grows (plain Python, small)."""

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
        bits = []
        pos = 0
        for i, nd in enumerate(self.nodes):
            for key in ("kind", "feature", "bin", "threshold", "na_left", "left", "right",
                        "n_levels", "gain", "depth"):
                nodes[key][i] = nd[key]
            nodes["node_id"][i] = nd["h2o_id"]
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

    def plan(self, first=False):
        """What every chunk needs for the next pass."""
        slot_of_node = np.full(len(self.nodes), -1, dtype=np.int32)
        for s, nd in enumerate(self.open):
            slot_of_node[nd] = s
        return LevelPlan(tree_arrays(self.to_tree()), slot_of_node, len(self.open),
                         len(self.nodes), first)

    def _column_masks(self, hist):
        p, nf = self.params, self.spec.n_features
        mtry = max(1, math.floor(p.col_sample_rate * p.col_sample_rate_per_tree * nf))
        masks = np.zeros((len(self.open), nf), dtype=bool)
        na = self.spec.na_bin
        for s, nd in enumerate(self.open):
            depth = self.nodes[nd]["depth"]
            cand = [f for f in range(nf) if self.tree_cols[f]
                    and splittable(hist[s, f], self.spec.n_bins[f], na, depth == 0)]
            k = min(nf, max(1, math.floor(mtry * p.col_sample_rate_change_per_level ** depth)))
            if k < len(cand):
                cand = np.sort(self.rng.choice(np.asarray(cand), size=k, replace=False))
            masks[s, list(cand)] = True
        return masks

    def decide(self, hist, node_sums):
        """Add the pass's node sums; split the open nodes; return the next plan or None."""
        self.sums = combine_node_sums(self.sums, node_sums)
        if self.final_pass or not self.open:
            return None
        hist = round_histograms(hist)
        masks = self._column_masks(hist)
        spec, p = self.spec, self.params
        feature, bins, nasplit, is_bits, stats, bitsets = find_splits(
            hist, spec.n_bins, spec.cat_direct, masks, spec.na_bin, p.min_rows,
            p.min_split_improvement)
        new_open = []
        for s, nd in enumerate(self.open):
            if feature[s] >= 0:
                self._split(nd, feature[s], bins[s], nasplit[s], is_bits[s], stats[s],
                            bitsets[s], new_open)
        if not any(f >= 0 for f in feature):
            return None
        self.open = new_open
        self.final_pass = not new_open
        return self.plan()

    def _split(self, nd, f, b, nas, is_bits, st, bitset, new_open):
        spec, p = self.spec, self.params
        node = self.nodes[nd]
        node["feature"] = int(f)
        node["gain"] = st[ST_SE_BEFORE] - st[ST_SE_LEFT] - st[ST_SE_RIGHT]
        node["n_levels"] = int(spec.n_levels[f]) if spec.is_cat[f] else 0
        if nas == NA_VS_REST:
            node["kind"] = K_NA_VS_REST
        elif is_bits:
            node["kind"] = BITSET
            node["bitset"] = bitset[:spec.n_bins[f]].copy()
        else:
            node["kind"] = RANGE
            node["bin"] = int(b)
            node["threshold"] = float(spec.edges(f)[b - 1])
        if nas == NA_NONE:
            node["na_left"] = int(st[ST_W_LEFT] > st[ST_W_RIGHT])
        else:
            node["na_left"] = int(nas == NA_LEFT)
        depth = node["depth"] + 1
        for side, (w_key, se_key) in enumerate(((ST_W_LEFT, ST_SE_LEFT),
                                                (ST_W_RIGHT, ST_SE_RIGHT))):
            child = self._node(depth)
            idx = len(self.nodes)
            self.nodes.append(child)
            node["right" if side else "left"] = idx
            # H2O gives a child histograms (and an id) unless it is too small, pure, or
            # the NA side of an NA-vs-rest split
            if st[w_key] >= p.min_rows and st[se_key] > 1e-30 and not (nas == NA_VS_REST and side):
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


def driver_find_splits(builder, hist, node_sums):
    """Driver step between levels: see TreeBuilder.decide."""
    return builder.decide(hist, node_sums)


def choose_tree_columns(n_features, col_sample_rate_per_tree, rng):
    """Columns a tree may use (§6.2): floor(rate·ncols) of them, at least one."""
    k = max(1, math.floor(col_sample_rate_per_tree * n_features))
    mask = np.zeros(n_features, bool)
    mask[rng.choice(n_features, size=k, replace=False) if k < n_features else slice(None)] = True
    return mask


def grow_tree(chunks, spec, params, rng, tree_cols=None):
    """Grow one tree over a list of TreeChunk; returns (builder, node_ids per chunk).

    Leaf values are not set yet: compute them from builder.leaf_stats() (Newton) or
    from the final node ids (quantile leaves), then call builder.finish(values).
    """
    builder = TreeBuilder(spec, params, rng, tree_cols)
    node_ids = [np.zeros(c.Xb.shape[0], dtype=np.int32) for c in chunks]
    plan = builder.plan(first=True)
    while plan is not None:
        steps = [chunk_level_step(c, ids, plan, spec.na_bin) for c, ids in zip(chunks, node_ids)]
        node_ids = [s[0] for s in steps]
        sums = steps[0][2]
        for s in steps[1:]:
            sums = combine_node_sums(sums, s[2])
        plan = driver_find_splits(builder, sum_histograms(s[1] for s in steps), sums)
    return builder, node_ids


# ----------------------------------------------------------------------------- boosting

FIT_DEFAULTS = dict(distribution="gaussian", nclasses=1, ntrees=50, max_depth=5, min_rows=10.0,
                    learn_rate=0.1, learn_rate_annealing=1.0, sample_rate=1.0,
                    sample_rate_per_class=None, col_sample_rate=1.0,
                    col_sample_rate_per_tree=1.0, col_sample_rate_change_per_level=1.0,
                    min_split_improvement=1e-5, seed=1234, tweedie_power=1.5,
                    quantile_alpha=0.5, huber_alpha=0.9, max_abs_leafnode_pred=np.inf)


def _leaf_values(dist, builder, node_ids, d_list, w_list, lr, nclasses, p, delta):
    stats = builder.leaf_stats()
    if dist in D.QUANTILE_LEAVES:
        gam = D.quantile_leaf_gammas(dist, np.concatenate(node_ids), np.concatenate(d_list),
                                     np.concatenate(w_list), len(stats), p["quantile_alpha"],
                                     delta)
    else:
        gam = D.newton_gamma(dist, stats[:, SUM_NUM], stats[:, SUM_DEN])
    m_classes = nclasses if dist == D.MULTINOMIAL else 1
    vals = D.finish_leaf_values(dist, gam, lr, m_classes)
    fin = np.isfinite(stats[:, SUM_FMIN])
    vals[fin] = D.truncate_log_leaves(dist, vals[fin], stats[fin, SUM_FMIN], stats[fin, SUM_FMAX])
    cap = p["max_abs_leafnode_pred"]
    return np.clip(vals, -cap, cap).astype(np.float32)


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
            d_list = [y - l[:, 0] for y, l in zip(ys, links)]
            vals = _leaf_values(dist, builder, node_ids, d_list, ws, lr, nclasses, p, delta)
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

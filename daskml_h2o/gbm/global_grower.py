"""The driver's tree builder on global bins: ragged histograms and sibling subtraction.

With global bins a child's histogram is its parent's minus its sibling's, so after a
split the chunks only build the child with less in-bag weight and the driver derives
the other (LightGBM's trick). The driver keeps the level's summed float64 histograms
for that; the derived sibling equals the directly built one up to the rounding of the
float64 sums, and bins the sibling has no rows in are exactly empty (weights are
>= 0, so such a bin's difference is at most rounding noise and is set to zero).

Histograms use the ragged layout of ``histogram.ragged_offsets``: the split search
reads the same per-feature bins as the dense one, so the trees are H2O's as before.
"""
import numpy as np
from numba import njit

from .grower import LevelPlan, TreeBuilder
from .histogram import SUM_FMAX, SUM_FMIN, combine_node_sums, ragged_offsets
from .splitting import ST_W_LEFT, ST_W_RIGHT, find_splits_open
from .tree import LEAF

__all__ = ["GlobalTreeBuilder", "subtract_histograms", "open_level"]

# a derived bin whose weight is at most this share of the parent's is empty
EMPTY_SHARE = 1e-9


@njit(nogil=True, cache=True)
def subtract_histograms(parent, child):
    """parent − child per bin, (B, 3) float64; bins the difference leaves without
    weight are exact zeros in all three sums."""
    out = np.empty_like(parent)
    for k in range(parent.shape[0]):
        w = parent[k, 0] - child[k, 0]
        if w <= EMPTY_SHARE * parent[k, 0]:
            out[k, 0] = 0.0
            out[k, 1] = 0.0
            out[k, 2] = 0.0
        else:
            out[k, 0] = w
            out[k, 1] = parent[k, 1] - child[k, 1]
            out[k, 2] = parent[k, 2] - child[k, 2]
    return out


@njit(nogil=True, cache=True)
def _subtract_into(out, parent, child):
    # subtract_histograms writing into out; selects rather than a branch, since whether a
    # bin empties is data, not predictable
    for k in range(parent.shape[0]):
        w = parent[k, 0] - child[k, 0]
        keep = not w <= EMPTY_SHARE * parent[k, 0]
        out[k, 0] = w if keep else 0.0
        out[k, 1] = parent[k, 1] - child[k, 1] if keep else 0.0
        out[k, 2] = parent[k, 2] - child[k, 2] if keep else 0.0


@njit(nogil=True, cache=True)
def _splittable_into(ok, h, offsets, tree_cols, root):
    # only "none, one, or at least two" non-empty non-NA bins matters
    for j in range(offsets.shape[0] - 1):
        if not tree_cols[j]:
            continue
        na = offsets[j + 1] - 1
        count = 0
        for k in range(offsets[j], na):
            count += h[k, 0] > 0
            if count >= 2:
                break
        ok[j] = count >= 2 or (root and count == 1 and h[na, 0] > 0)


@njit(nogil=True, cache=True)
def open_level(hist, prev_hist, prev_derived, prev_where, where, parent_row, sibling_slot, offsets,
               tree_cols, root):
    """The driver's per-level histogram step in one pass, without copying the built ones.

    Open node i is hist[where[i]] when the chunks built it (where[i] >= 0); else it is
    derived row -1 - where[i]: its parent's histogram (previous level's open node
    parent_row[i], found the same way in prev_hist/prev_derived/prev_where) minus its
    sibling hist[sibling_slot[i]] (``subtract_histograms``). Returns the (n_derived, B, 3)
    derived histograms and the (n_open, F) mask of splittable features: >= 2 non-empty
    non-NA bins, or at the root one plus NA weight, and in ``tree_cols``.
    """
    # (each array reaches the loops through a helper's argument: a local bound to one of
    # two arrays made these loops five times slower)
    n_open = where.shape[0]
    n_der = 0
    for i in range(n_open):
        n_der += where[i] < 0
    derived = np.empty((n_der, hist.shape[1], 3))
    ok = np.zeros((n_open, offsets.shape[0] - 1), dtype=np.bool_)
    for i in range(n_open):
        if where[i] >= 0:
            _splittable_into(ok[i], hist[where[i]], offsets, tree_cols, root)
            continue
        p = prev_where[parent_row[i]]
        out = derived[-1 - where[i]]
        if p >= 0:
            _subtract_into(out, prev_hist[p], hist[sibling_slot[i]])
        else:
            _subtract_into(out, prev_derived[-1 - p], hist[sibling_slot[i]])
        _splittable_into(ok[i], out, offsets, tree_cols, root)
    return derived, ok


class GlobalTreeBuilder(TreeBuilder):
    """TreeBuilder for a BinSpec: ragged layout, and only the smaller child of every
    split histogrammed by the chunks (``subtract=False`` builds every open node)."""

    def __init__(self, spec, params, rng, tree_cols=None, subtract=True):
        super().__init__(spec, params, rng, tree_cols)
        self.offsets = ragged_offsets(spec.n_bins)
        self.subtract = subtract
        self.built = [0]        # nodes the chunks histogram next, in slot order
        self.derived = {}       # open node -> (parent's previous open index, sibling's slot)
        # the previous level's summed histograms: the chunks' (built) and the derived ones, and
        # per open node where its histogram is (open_level's ``where``)
        empty = np.zeros((0, self.offsets[-1], 3))
        self.prev = (empty, empty, np.zeros(0, np.int64))
        # per open node: where its histogram will be, its parent's row, its sibling's slot
        self.sources = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64))

    def plan(self, first=False, split_nodes=()):
        """The next pass; ``split_nodes`` are the nodes the last decision split (rows sit
        at them or at leaves). The final pass histograms nothing and sums the leaves."""
        n = len(self.nodes)
        slot_of_node = np.full(n, -1, dtype=np.int32)
        slot_of_node[self.built] = np.arange(len(self.built), dtype=np.int32)
        present = np.zeros(n, dtype=np.bool_)
        present[list(split_nodes)] = True
        return LevelPlan(self.route_arrays(), slot_of_node, len(self.built), n, first,
                         offsets=self.offsets, final=self.final_pass, present=present)

    def _final_plan(self, split_nodes=()):
        self.open, self.built, self.final_pass = [], [], True
        return self.plan(split_nodes=split_nodes)

    def _open_level(self, hist):
        root = self.nodes[self.open[0]]["depth"] == 0
        derived, ok = open_level(hist, *self.prev, *self.sources, self.offsets, self.tree_cols,
                                 root)
        return derived, ok

    def _open_histograms(self, hist):
        """Summed float64 histograms of the open nodes (self.open order)."""
        derived, _ = self._open_level(hist)
        where = self.sources[0]
        return np.stack([hist[i] if i >= 0 else derived[-1 - i] for i in where])

    def decide(self, hist, node_sums):
        """Add the pass's node sums; split the open nodes; return the next plan or None."""
        self.sums = combine_node_sums(self.sums, node_sums)
        if self.final_pass or not self.open:
            self._sum_split_nodes()
            return None
        derived, ok = self._open_level(hist)
        masks = self._subsample_columns(ok)
        p = self.params
        where = self.sources[0]
        feature, bins, nasplit, is_bits, stats, bitsets = find_splits_open(
            hist, derived, where, self.offsets, self.spec.cat_direct, masks, p.min_rows,
            p.min_split_improvement)
        new_open = []
        split = np.flatnonzero(feature >= 0).tolist()
        if not split:
            return self._final_plan()
        # Python scalars: the per-node bookkeeping then does no numpy scalar arithmetic
        feature, bins, nasplit, is_bits, stats = (a.tolist() for a in
                                                  (feature, bins, nasplit, is_bits, stats))
        for s in split:
            self._split(self.open[s], s, feature[s], bins[s], nasplit[s], is_bits[s], stats[s],
                        bitsets[s], new_open)
        split_nodes = [self.open[s] for s in split]
        if not new_open:
            return self._final_plan(split_nodes)
        self._schedule(split, stats, new_open, (hist, derived, where))
        self.open = new_open
        return self.plan(split_nodes=split_nodes)

    def _sum_split_nodes(self):
        """A split node's sums are its children's: only the leaves were summed over rows (the
        final pass); the tree records every node's weight and mean residual."""
        sums = self.sums
        for nd in range(len(self.nodes) - 1, -1, -1):  # children come after their parent
            node = self.nodes[nd]
            if node["kind"] == LEAF:
                continue
            a, b = sums[node["left"]], sums[node["right"]]
            sums[nd, :SUM_FMIN] = a[:SUM_FMIN] + b[:SUM_FMIN]
            sums[nd, SUM_FMIN] = min(a[SUM_FMIN], b[SUM_FMIN])
            sums[nd, SUM_FMAX] = max(a[SUM_FMAX], b[SUM_FMAX])

    def _schedule(self, split, stats, new_open, level):
        """Choose the nodes the chunks build next and how the others are derived."""
        is_open = set(new_open)
        built, derived = [], {}
        for s in split:
            node = self.nodes[self.open[s]]
            left, right = node["left"], node["right"]
            wanted = [c for c in (left, right) if c in is_open]
            if not wanted:
                continue
            if not self.subtract:
                built.extend(wanted)
                continue
            # the smaller child is built even when only its sibling is open: fewer rows
            small, big = (left, right) if stats[s][ST_W_LEFT] <= stats[s][ST_W_RIGHT] \
                else (right, left)
            built.append(small)
            if big in is_open:
                derived[big] = (s, len(built) - 1)
        self.built, self.derived = built, derived
        slot = {nd: i for i, nd in enumerate(built)}
        n = len(new_open)
        where, parent_row, sibling_slot = np.zeros(n, np.int64), np.zeros(n, np.int64), \
            np.zeros(n, np.int64)
        n_der = 0
        for i, nd in enumerate(new_open):
            if nd in slot:
                where[i] = slot[nd]
            else:
                n_der += 1
                where[i] = -n_der
                parent_row[i], sibling_slot[i] = derived[nd]
        self.sources = (where, parent_row, sibling_slot)
        self.prev = level

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
from .histogram import combine_node_sums, ragged_offsets
from .splitting import (ST_W_LEFT, ST_W_RIGHT, find_splits_ragged, nonempty_bins_ragged,
                        round_histograms)
from .tree import tree_arrays

__all__ = ["GlobalTreeBuilder", "subtract_histograms"]

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


class GlobalTreeBuilder(TreeBuilder):
    """TreeBuilder for a BinSpec: ragged layout, and only the smaller child of every
    split histogrammed by the chunks (``subtract=False`` builds every open node)."""

    def __init__(self, spec, params, rng, tree_cols=None, subtract=True):
        super().__init__(spec, params, rng, tree_cols)
        self.offsets = ragged_offsets(spec.n_bins)
        self.subtract = subtract
        self.built = [0]        # nodes the chunks histogram next, in slot order
        self.derived = {}       # open node -> (parent's row in prev_raw, sibling's slot)
        self.prev_raw = None    # float64 summed histograms of the previous level's open nodes

    def plan(self, first=False):
        slot_of_node = np.full(len(self.nodes), -1, dtype=np.int32)
        for s, nd in enumerate(self.built):
            slot_of_node[nd] = s
        return LevelPlan(tree_arrays(self.to_tree()), slot_of_node, len(self.built),
                         len(self.nodes), first, offsets=self.offsets)

    def _open_histograms(self, hist):
        """Summed float64 histograms of the open nodes (self.open order)."""
        slot = {nd: s for s, nd in enumerate(self.built)}
        out = np.empty((len(self.open),) + hist.shape[1:])
        for i, nd in enumerate(self.open):
            if nd in slot:
                out[i] = hist[slot[nd]]
            else:
                parent_row, sibling_slot = self.derived[nd]
                out[i] = subtract_histograms(self.prev_raw[parent_row], hist[sibling_slot])
        return out

    def decide(self, hist, node_sums):
        """Add the pass's node sums; split the open nodes; return the next plan or None."""
        self.sums = combine_node_sums(self.sums, node_sums)
        if self.final_pass or not self.open:
            return None
        raw = self._open_histograms(hist)
        hist = round_histograms(raw)
        nonempty, na_w = nonempty_bins_ragged(hist, self.offsets)
        has = np.ones(nonempty.shape, bool)
        masks = self._sample_columns(nonempty, na_w, has)
        p = self.params
        feature, bins, nasplit, is_bits, stats, bitsets = find_splits_ragged(
            hist, self.offsets, self.spec.cat_direct, masks, p.min_rows, p.min_split_improvement)
        new_open = []
        for s, nd in enumerate(self.open):
            if feature[s] >= 0:
                self._split(nd, s, feature[s], bins[s], nasplit[s], is_bits[s], stats[s],
                            bitsets[s], new_open)
        if not (feature >= 0).any():
            return None
        self._schedule(feature, stats, new_open, raw)
        self.open = new_open
        self.final_pass = not new_open
        return self.plan()

    def _schedule(self, feature, stats, new_open, raw):
        """Choose the nodes the chunks build next and how the others are derived."""
        is_open = set(new_open)
        built, derived = [], {}
        for s, nd in enumerate(self.open):
            if feature[s] < 0:
                continue
            left, right = self.nodes[nd]["left"], self.nodes[nd]["right"]
            wanted = [c for c in (left, right) if c in is_open]
            if not wanted:
                continue
            if not self.subtract:
                built.extend(wanted)
                continue
            # the smaller child is built even when only its sibling is open: fewer rows
            small, big = (left, right) if stats[s, ST_W_LEFT] <= stats[s, ST_W_RIGHT] \
                else (right, left)
            built.append(small)
            if big in is_open:
                derived[big] = (s, len(built) - 1)
        self.built, self.derived = built, derived
        self.prev_raw = raw if derived else None

"""One regression tree as a numpy record array, and the kernels that walk it.

A tree is ``Tree(nodes, bitsets)``: ``nodes`` is a NODE_DTYPE record array indexed by
position (root at 0, children after their parent), ``bitsets`` a uint8 array holding
one byte per categorical level for every bitset split (1 = the level goes right).
``node_id`` keeps H2O's node numbering (spec gbm.md §6.8) for leaf assignment.

Rows are routed by H2O's rules (§6.5, §9.2): NaN, a categorical code outside the
training domain, or outside a bitset follows the NA direction; a range split sends
x >= threshold right; a bitset split sends levels in the set right. An NA-vs-rest split
sends NaN to its NA side (right on numeric columns; either side on categorical ones,
where the NAs were sorted in with the levels) and every other value, unseen levels
too, the other way. Binned data use the same trees: code == na_bin is NA, a range
split sends code >= bin right.
"""
from collections import namedtuple

import numpy as np
from numba import njit

LEAF, RANGE, BITSET, NA_VS_REST = 0, 1, 2, 3

NODE_DTYPE = np.dtype([
    ("feature", np.int32),       # split column, -1 for leaves
    ("kind", np.uint8),          # LEAF, RANGE, BITSET or NA_VS_REST
    ("bin", np.int32),           # range split on binned data: code >= bin goes right
    ("threshold", np.float64),   # range split on raw data: x >= threshold goes right
    ("na_left", np.uint8),       # NA (and unseen levels) go left
    ("left", np.int32),
    ("right", np.int32),
    ("bitset_start", np.int32),
    ("bitset_len", np.int32),
    ("n_levels", np.int32),      # training domain size of a categorical split column, else 0
    ("value", np.float32),       # leaf value (learning rate included); 0 for splits
    ("weight", np.float64),      # weighted in-bag rows that reached the node
    ("pred", np.float64),        # mean residual of the node
    ("gain", np.float64),        # squared-error reduction of the split (variable importance)
    ("node_id", np.int32),       # H2O node id
    ("depth", np.int32),
])

Tree = namedtuple("Tree", ["nodes", "bitsets"])


def tree_arrays(tree):
    """The tuple of plain arrays the routing kernels take (numba-friendly)."""
    n = tree.nodes
    bitsets = tree.bitsets if len(tree.bitsets) else np.zeros(1, np.uint8)
    return (np.ascontiguousarray(n["feature"]), np.ascontiguousarray(n["kind"]),
            np.ascontiguousarray(n["bin"]), np.ascontiguousarray(n["threshold"]),
            np.ascontiguousarray(n["na_left"]), np.ascontiguousarray(n["left"]),
            np.ascontiguousarray(n["right"]), np.ascontiguousarray(n["bitset_start"]),
            np.ascontiguousarray(n["bitset_len"]), np.ascontiguousarray(n["n_levels"]),
            np.ascontiguousarray(bitsets))


@njit(nogil=True, cache=True)
def _binned_goes_right(code, k, nd, bin_, na_left, bs_start, bs_len, bitsets, na_bin):
    if code == na_bin:
        return na_left[nd] == 0
    if k == NA_VS_REST:
        return na_left[nd] != 0
    if k == RANGE:
        return code >= bin_[nd]
    if code >= bs_len[nd]:
        return na_left[nd] == 0
    return bitsets[bs_start[nd] + code] != 0


@njit(nogil=True, cache=True)
def _raw_goes_right(v, k, nd, threshold, na_left, n_levels, bs_start, bs_len, bitsets):
    if np.isnan(v):
        return na_left[nd] == 0
    if k == NA_VS_REST:
        return na_left[nd] != 0
    if n_levels[nd] > 0 and (v < 0 or v >= n_levels[nd]):
        return na_left[nd] == 0
    if k == RANGE:
        return v >= threshold[nd]
    code = np.int64(v)
    if code >= bs_len[nd]:
        return na_left[nd] == 0
    return bitsets[bs_start[nd] + code] != 0


@njit(nogil=True, cache=True)
def route_binned_step(Xb, node_ids, arrived, feature, kind, bin_, na_left, left, right,
                      bs_start, bs_len, bitsets, na_bin):
    """Move every row sitting on a split node one level down (in place)."""
    for i in range(Xb.shape[0]):
        nd = node_ids[i]
        if nd < 0 or kind[nd] == LEAF:
            continue
        code = Xb[i, feature[nd]]
        if _binned_goes_right(code, kind[nd], nd, bin_, na_left, bs_start, bs_len, bitsets,
                              na_bin):
            node_ids[i] = right[nd]
        else:
            node_ids[i] = left[nd]
        arrived[i] = True


@njit(nogil=True, cache=True)
def route_raw_step(X, node_ids, arrived, feature, kind, threshold, na_left, left, right,
                   n_levels, bs_start, bs_len, bitsets):
    """Raw-value version of route_binned_step (per-node adaptive histograms)."""
    for i in range(X.shape[0]):
        nd = node_ids[i]
        if nd < 0 or kind[nd] == LEAF:
            continue
        if _raw_goes_right(X[i, feature[nd]], kind[nd], nd, threshold, na_left, n_levels,
                           bs_start, bs_len, bitsets):
            node_ids[i] = right[nd]
        else:
            node_ids[i] = left[nd]
        arrived[i] = True


@njit(nogil=True, cache=True)
def _apply_raw(X, feature, kind, threshold, na_left, left, right, n_levels, bs_start, bs_len,
               bitsets):
    out = np.empty(X.shape[0], dtype=np.int32)
    for i in range(X.shape[0]):
        nd = 0
        while kind[nd] != LEAF:
            if _raw_goes_right(X[i, feature[nd]], kind[nd], nd, threshold, na_left, n_levels,
                               bs_start, bs_len, bitsets):
                nd = right[nd]
            else:
                nd = left[nd]
        out[i] = nd
    return out


@njit(nogil=True, cache=True)
def _apply_binned(Xb, feature, kind, bin_, na_left, left, right, bs_start, bs_len, bitsets,
                  na_bin):
    out = np.empty(Xb.shape[0], dtype=np.int32)
    for i in range(Xb.shape[0]):
        nd = 0
        while kind[nd] != LEAF:
            if _binned_goes_right(Xb[i, feature[nd]], kind[nd], nd, bin_, na_left, bs_start,
                                  bs_len, bitsets, na_bin):
                nd = right[nd]
            else:
                nd = left[nd]
        out[i] = nd
    return out


def apply_raw(tree, X):
    """Leaf position of every row of raw float X (categoricals as level codes)."""
    f, k, b, t, nl, le, ri, bs, bl, lv, bits = tree_arrays(tree)
    return _apply_raw(np.asarray(X, dtype=np.float64), f, k, t, nl, le, ri, lv, bs, bl, bits)


def apply_binned(tree, Xb, na_bin):
    """Leaf position of every row of binned codes."""
    f, k, b, t, nl, le, ri, bs, bl, lv, bits = tree_arrays(tree)
    return _apply_binned(Xb, f, k, b, nl, le, ri, bs, bl, bits, na_bin)


def predict_raw(trees, X):
    """Σ of leaf values over trees (float64), on unbinned data. Trees may be None."""
    X = np.asarray(X, dtype=np.float64)
    out = np.zeros(X.shape[0])
    for tree in trees:
        if tree is not None:
            out += tree.nodes["value"][apply_raw(tree, X)]
    return out


def predict_binned(trees, Xb, na_bin):
    """Σ of leaf values over trees (float64), on binned codes."""
    out = np.zeros(Xb.shape[0])
    for tree in trees:
        if tree is not None:
            out += tree.nodes["value"][apply_binned(tree, Xb, na_bin)]
    return out


def node_paths(tree):
    """'L'/'R' path from the root of every node position ('' for the root)."""
    nodes = tree.nodes
    paths = [""] * len(nodes)
    for nd in range(len(nodes)):
        if nodes["kind"][nd] != LEAF:
            paths[nodes["left"][nd]] = paths[nd] + "L"
            paths[nodes["right"][nd]] = paths[nd] + "R"
    return paths


def leaf_node_assignment(tree, X, type="Path"):
    """H2O's leaf assignment of raw rows: 'Path' strings or 'Node_ID' integers (§17)."""
    leaves = apply_raw(tree, X)
    if type == "Node_ID":
        return tree.nodes["node_id"][leaves].astype(np.int64)
    if type != "Path":
        raise ValueError(f"type must be 'Path' or 'Node_ID', got {type!r}")
    paths = np.array([p if len(p) <= 64 else None for p in node_paths(tree)], dtype=object)
    return paths[leaves]


def single_leaf_tree(value=0.0, weight=0.0):
    """A tree whose root could not split: one leaf, H2O id 0."""
    nodes = np.zeros(1, dtype=NODE_DTYPE)
    nodes["feature"] = -1
    nodes["left"] = nodes["right"] = -1
    nodes["value"] = value
    nodes["weight"] = weight
    return Tree(nodes, np.zeros(0, np.uint8))

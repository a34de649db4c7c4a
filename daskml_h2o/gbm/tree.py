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


# Where a value goes at one split node: LEFT, RIGHT, or LOOKUP (read the node's bitset at the
# value's level). The helpers take scalars only: a numba call passing arrays pays reference
# counting on each of them, which made every row's walk ten times slower.
LEFT, RIGHT, LOOKUP = 0, 1, 2


@njit(nogil=True, cache=True)
def _na_side(na_left):
    return LEFT if na_left != 0 else RIGHT


@njit(nogil=True, cache=True)
def _binned_side(code, k, bin_, na_left, bs_len, na_bin):
    if code == na_bin:
        return _na_side(na_left)
    if k == NA_VS_REST:
        return RIGHT if na_left != 0 else LEFT
    if k == RANGE:
        return RIGHT if code >= bin_ else LEFT
    if code >= bs_len:
        return _na_side(na_left)
    return LOOKUP


@njit(nogil=True, cache=True)
def _raw_side(v, k, threshold, na_left, n_levels, bs_len):
    if np.isnan(v):
        return _na_side(na_left)
    if k == NA_VS_REST:
        return RIGHT if na_left != 0 else LEFT
    if n_levels > 0 and (v < 0 or v >= n_levels):
        return _na_side(na_left)
    if k == RANGE:
        return RIGHT if v >= threshold else LEFT
    if np.int64(v) >= bs_len:
        return _na_side(na_left)
    return LOOKUP


@njit(nogil=True, cache=True)
def route_binned_step(Xb, node_ids, arrived, feature, kind, bin_, na_left, left, right,
                      bs_start, bs_len, bitsets, na_bin):
    """Move every row sitting on a split node one level down (in place)."""
    for i in range(Xb.shape[0]):
        nd = node_ids[i]
        if nd < 0 or kind[nd] == LEAF:
            continue
        code = Xb[i, feature[nd]]
        side = _binned_side(code, kind[nd], bin_[nd], na_left[nd], bs_len[nd], na_bin)
        if side == LOOKUP:
            side = RIGHT if bitsets[bs_start[nd] + code] != 0 else LEFT
        node_ids[i] = right[nd] if side == RIGHT else left[nd]
        arrived[i] = True


@njit(nogil=True, cache=True)
def route_raw_step(X, node_ids, arrived, feature, kind, threshold, na_left, left, right,
                   n_levels, bs_start, bs_len, bitsets):
    """Raw-value version of route_binned_step (per-node adaptive histograms)."""
    for i in range(X.shape[0]):
        nd = node_ids[i]
        if nd < 0 or kind[nd] == LEAF:
            continue
        v = X[i, feature[nd]]
        side = _raw_side(v, kind[nd], threshold[nd], na_left[nd], n_levels[nd], bs_len[nd])
        if side == LOOKUP:
            side = RIGHT if bitsets[bs_start[nd] + np.int64(v)] != 0 else LEFT
        node_ids[i] = right[nd] if side == RIGHT else left[nd]
        arrived[i] = True


@njit(nogil=True, cache=True)
def _apply_raw(X, feature, kind, threshold, na_left, left, right, n_levels, bs_start, bs_len,
               bitsets):
    out = np.empty(X.shape[0], dtype=np.int32)
    for i in range(X.shape[0]):
        nd = 0
        while kind[nd] != LEAF:
            v = X[i, feature[nd]]
            side = _raw_side(v, kind[nd], threshold[nd], na_left[nd], n_levels[nd], bs_len[nd])
            if side == LOOKUP:
                side = RIGHT if bitsets[bs_start[nd] + np.int64(v)] != 0 else LEFT
            nd = right[nd] if side == RIGHT else left[nd]
        out[i] = nd
    return out


@njit(nogil=True, cache=True)
def _apply_binned(Xb, feature, kind, bin_, na_left, left, right, bs_start, bs_len, bitsets,
                  na_bin):
    out = np.empty(Xb.shape[0], dtype=np.int32)
    for i in range(Xb.shape[0]):
        nd = 0
        while kind[nd] != LEAF:
            code = Xb[i, feature[nd]]
            side = _binned_side(code, kind[nd], bin_[nd], na_left[nd], bs_len[nd], na_bin)
            if side == LOOKUP:
                side = RIGHT if bitsets[bs_start[nd] + code] != 0 else LEFT
            nd = right[nd] if side == RIGHT else left[nd]
        out[i] = nd
    return out


def apply_raw(tree, X):
    """Leaf position of every row of raw float X (categoricals as level codes)."""
    f, k, b, t, nl, le, ri, bs, bl, lv, bits = tree_arrays(tree)
    return _apply_raw(np.ascontiguousarray(X, dtype=np.float64), f, k, t, nl, le, ri, lv, bs, bl, bits)


def apply_binned(tree, Xb, na_bin):
    """Leaf position of every row of binned codes."""
    f, k, b, t, nl, le, ri, bs, bl, lv, bits = tree_arrays(tree)
    return _apply_binned(Xb, f, k, b, nl, le, ri, bs, bl, bits, na_bin)


def predict_raw(trees, X):
    """Σ of leaf values over trees (float64), on unbinned data. Trees may be None."""
    # rows in C order: a row's path reads several of its columns, which then share cache
    # lines (a column-ordered X costs a cache miss per node visit, ~20x slower)
    X = np.ascontiguousarray(X, dtype=np.float64)
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

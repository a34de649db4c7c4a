"""Per-chunk histogram kernels for one tree level.

One call per chunk and level (``level_step``) moves the chunk's rows through the
splits decided at the previous level and accumulates, in float64, for every open node
(a "slot"), feature and bin (NA bin last): Σw, Σw·z, Σw·z² of the residual z. The same
pass sums, for every node the rows just arrived at, what leaf values need:
Σw, Σw·num, Σw·den, Σw·z and min/max of the score f (NODE_SUMS columns).

The global-bins driver asks for the ragged layout (``ragged_offsets``): feature f owns the
bins ``offsets[f] .. offsets[f+1]-1`` of one flat axis, its NA bin last, so a histogram is
(n_slots, Σ_f (n_bins_f + 1), 3) instead of F × the widest feature. ``ragged_level_step``
routes every row through a lookup table, then histograms the listed rows, all features of a
row at once; every histogram cell still adds its rows in row order, so the sums equal the
dense kernel's. On this layout the node sums come once, from the tree's last pass.

Histograms of chunks are added in a fixed chunk order (``sum_histograms``); node sums
combine with ``combine_node_sums``. ``adaptive_level_step`` is H2O's UniformAdaptive
variant on raw values: each slot's numeric histogram spans that node's own range.
Rows with weight 0 (out-of-bag, NA response) are routed but never counted.
"""
import threading

import numpy as np
from numba import njit

from .tree import LEAF, NA_VS_REST, RANGE, route_binned_step, route_raw_step

HIST_W, HIST_WY, HIST_WYY = 0, 1, 2
SUM_W, SUM_NUM, SUM_DEN, SUM_WZ, SUM_FMIN, SUM_FMAX = 0, 1, 2, 3, 4, 5
N_NODE_SUMS = 6


@njit(nogil=True, cache=True)
def _active_rows(node_ids, slot_of_node, w):
    n = node_ids.shape[0]
    rows = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        nd = node_ids[i]
        if nd >= 0 and w[i] != 0.0 and slot_of_node[nd] >= 0:
            rows[m] = i
            m += 1
    return rows[:m]


@njit(nogil=True, cache=True)
def build_histograms(Xb, node_ids, slot_of_node, grad, w, n_slots, n_bins_total):
    """(n_slots, F, n_bins_total, 3) float64 sums of (w, w·z, w·z²) per node/feature/bin."""
    nf = Xb.shape[1]
    hist = np.zeros((n_slots, nf, n_bins_total, 3))
    if n_slots == 0:
        return hist
    rows = _active_rows(node_ids, slot_of_node, w)
    for f in range(nf):
        # column-outer keeps the reads of a Fortran-ordered chunk sequential
        for r in rows:
            s = slot_of_node[node_ids[r]]
            b = Xb[r, f]
            wi = w[r]
            g = np.float64(grad[r])
            hist[s, f, b, 0] += wi
            hist[s, f, b, 1] += wi * g
            hist[s, f, b, 2] += wi * g * g
    return hist


@njit(nogil=True, cache=True)
def accumulate_node_sums(node_ids, arrived, grad, w, num, den, f, n_nodes):
    """Leaf statistics of the nodes rows arrived at in this pass (see module doc)."""
    sums = np.zeros((n_nodes, 6))
    sums[:, 4] = np.inf
    sums[:, 5] = -np.inf
    track_f = f.shape[0] > 0  # an empty f: no log link, the F range is not needed
    for i in range(node_ids.shape[0]):
        nd = node_ids[i]
        if nd < 0 or not arrived[i] or w[i] == 0.0:
            continue
        wi = w[i]
        sums[nd, 0] += wi
        sums[nd, 1] += wi * num[i]
        sums[nd, 2] += wi * den[i]
        sums[nd, 3] += wi * np.float64(grad[i])
        if track_f:
            sums[nd, 4] = min(sums[nd, 4], f[i])
            sums[nd, 5] = max(sums[nd, 5], f[i])
    return sums


@njit(nogil=True, cache=True)
def _level_step(Xb, node_ids, grad, w, num, den, f, feature, kind, bin_, na_left, left, right,
                bs_start, bs_len, bitsets, na_bin, slot_of_node, n_slots, n_nodes, first):
    ids = node_ids.copy()
    arrived = np.zeros(ids.shape[0], dtype=np.bool_)
    if first:
        arrived[:] = True
    else:
        route_binned_step(Xb, ids, arrived, feature, kind, bin_, na_left, left, right,
                          bs_start, bs_len, bitsets, na_bin)
    hist = build_histograms(Xb, ids, slot_of_node, grad, w, n_slots, na_bin + 1)
    sums = accumulate_node_sums(ids, arrived, grad, w, num, den, f, n_nodes)
    return ids, hist, sums


def ragged_offsets(n_bins):
    """(F+1,) int64 start of every feature's bins on the flat axis (n_bins_f + 1 each, NA last)."""
    offsets = np.zeros(len(n_bins) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.asarray(n_bins, dtype=np.int64) + 1)
    return offsets


@njit(nogil=True, cache=True)
def _fill_ragged(Xb, rows, slots, m, grad, w, n_slots, offsets):
    # the first m entries of rows/slots list the rows to count, in row order. A flat array
    # indexed by unsigned integers keeps the inner loop to loads and adds (a signed index
    # costs a negative-index check per access)
    nf = Xb.shape[1]
    tot = offsets[nf]
    hist = np.zeros(n_slots * tot * 3)
    last = (offsets[1:] - offsets[:-1] - 1).astype(np.uint64)
    start3 = (3 * offsets[:nf]).astype(np.uint64)
    one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
    for r in range(m):
        i = rows[r]
        wi = w[i]
        g = np.float64(grad[i])
        wg = wi * g
        wgg = wg * g
        base = np.uint64(3 * tot * slots[r])
        for j in range(nf):
            # a code is < n_bins_j or the NA code (>= n_bins_j): min() lands NA on the last bin
            k = base + start3[j] + three * min(np.uint64(Xb[i, j]), last[j])
            hist[k] += wi
            hist[k + one] += wg
            hist[k + two] += wgg
    return hist.reshape((n_slots, tot, 3))


@njit(nogil=True, cache=True)
def build_histograms_ragged(Xb, node_ids, slot_of_node, grad, w, n_slots, offsets):
    """(n_slots, offsets[-1], 3) float64 sums of (w, w·z, w·z²), ragged layout, row-major."""
    n = Xb.shape[0]
    rows = np.empty(n, dtype=np.int64)
    slots = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        nd = node_ids[i]
        if nd >= 0 and w[i] != 0.0 and slot_of_node[nd] >= 0:
            rows[m] = i
            slots[m] = slot_of_node[nd]
            m += 1
    return _fill_ragged(Xb, rows, slots, m, grad, w, n_slots, offsets)


@njit(nogil=True, cache=True)
def nodes_with_rows(node_ids, n_nodes):
    """(n_nodes,) bool: the nodes some row sits at."""
    present = np.zeros(n_nodes, dtype=np.bool_)
    for i in range(node_ids.shape[0]):
        present[node_ids[i]] = True
    return present


@njit(nogil=True, cache=True)
def route_table(present, feature, kind, left, right, bin_, na_left, bs_start, bs_len, bitsets,
                na_bin, offsets):
    """The tree's binned routing (tree._binned_side) as lookups, so routing a row takes no branches.

    Returns (start, col, child, table): a row at node nd with code c in column col[nd]
    goes to ``child[nd, table[start[nd] + min(c, n_bins_col)]]``. Only split nodes rows
    sit at (``present``, see nodes_with_rows) get entries (one per bin of their feature,
    the NA entry last); other nodes read the zero block at the start and have themselves
    as both children.
    """
    n_nodes = kind.shape[0]
    nf = offsets.shape[0] - 1
    widest = 0
    for j in range(nf):
        widest = max(widest, offsets[j + 1] - offsets[j])
    start = np.zeros(n_nodes, dtype=np.int64)
    col = np.zeros(n_nodes, dtype=np.int64)
    child = np.empty((n_nodes, 2), dtype=np.int32)
    size = widest
    for nd in range(n_nodes):
        child[nd, 0] = nd
        child[nd, 1] = nd
        if present[nd] and kind[nd] != LEAF:
            start[nd] = size
            col[nd] = feature[nd]
            child[nd, 0] = left[nd]
            child[nd, 1] = right[nd]
            size += offsets[feature[nd] + 1] - offsets[feature[nd]]
    table = np.zeros(size, dtype=np.uint8)
    for nd in range(n_nodes):
        if start[nd] == 0:
            continue
        na_right = na_left[nd] == 0
        nb = offsets[col[nd] + 1] - offsets[col[nd]] - 1
        for code in range(nb):
            if kind[nd] == NA_VS_REST:
                go = not na_right
            elif kind[nd] == RANGE:
                go = code >= bin_[nd]
            elif code >= bs_len[nd]:
                go = na_right
            else:
                go = bitsets[bs_start[nd] + code] != 0
            table[start[nd] + code] = go
        table[start[nd] + nb] = na_right
    return start, col, child, table


@njit(nogil=True, cache=True)
def _flat_route(start, col, child, table, offsets):
    # route_table per node as unsigned lookups: (table start, column, column's last code,
    # children as [2·nd + side], table); unsigned indices skip numba's negative-index checks
    nn = start.shape[0]
    ust = start.astype(np.uint64)
    ucol = col.astype(np.uint64)
    ulast = np.empty(nn, dtype=np.uint64)
    go = np.empty(2 * nn, dtype=np.int32)
    for nd in range(nn):
        ulast[nd] = offsets[col[nd] + 1] - offsets[col[nd]] - 1
        go[2 * nd] = child[nd, 0]
        go[2 * nd + 1] = child[nd, 1]
    return ust, ucol, ulast, go, table


@njit(nogil=True, cache=True, inline="always")
def _move_row(Xb, node_ids, ids, ui, route):
    # row ui's node after this level's splits (also written to ids)
    ust, ucol, ulast, go, table = route
    nd = np.uint64(node_ids[ui])
    # a code is < n_bins or the NA code (>= n_bins): min() lands NA on the last entry
    side = table[ust[nd] + min(np.uint64(Xb[ui, ucol[nd]]), ulast[nd])]
    nd2 = go[np.uint64(2) * nd + side]
    ids[ui] = nd2
    return nd2


@njit(nogil=True, cache=True)
def _route_collect(Xb, node_ids, w, slot_of_node, route, rows, slots):
    # routes every row; lists the counted rows that land in a histogrammed node (slot >= 0)
    # in rows/slots. Returns (node_ids, how many listed).
    n = Xb.shape[0]
    ids = np.empty(n, dtype=np.int32)
    m = 0
    for i in range(n):
        ui = np.uint64(i)
        nd2 = _move_row(Xb, node_ids, ids, ui, route)
        # always written, kept only when counted: a data-dependent branch here mispredicts
        s = slot_of_node[nd2]
        rows[m] = i
        slots[m] = s
        m += w[ui] != 0.0 and s >= 0
    return ids, m


@njit(nogil=True, cache=True)
def _route_sum(Xb, node_ids, grad, w, num, den, f, route, n_nodes):
    # routes every row and sums the leaf statistics of every counted row at its new node
    n = Xb.shape[0]
    ids = np.empty(n, dtype=np.int32)
    sums = np.zeros((n_nodes, N_NODE_SUMS))
    sums[:, SUM_FMIN] = np.inf
    sums[:, SUM_FMAX] = -np.inf
    track_f = f.shape[0] > 0  # an empty f: no log link, the F range is not needed
    for i in range(n):
        ui = np.uint64(i)
        nd2 = _move_row(Xb, node_ids, ids, ui, route)
        wi = w[ui]
        if wi != 0.0:
            sums[nd2, SUM_W] += wi
            sums[nd2, SUM_NUM] += wi * num[ui]
            sums[nd2, SUM_DEN] += wi * den[ui]
            sums[nd2, SUM_WZ] += wi * np.float64(grad[ui])
            if track_f:
                sums[nd2, SUM_FMIN] = min(sums[nd2, SUM_FMIN], f[ui])
                sums[nd2, SUM_FMAX] = max(sums[nd2, SUM_FMAX], f[ui])
    return ids, sums


def _no_sums(n_nodes):
    sums = np.zeros((n_nodes, N_NODE_SUMS))
    sums[:, SUM_FMIN], sums[:, SUM_FMAX] = np.inf, -np.inf
    return sums


def ragged_level_step(Xb, node_ids, grad, w, num, den, f, plan, na_bin, offsets):
    """level_step on the ragged layout. Returns (node_ids, hist, node_sums); hist is
    (plan.n_slots, offsets[-1], 3).

    Node sums wait for the tree's last pass (``plan.final``), which sums every counted row
    at the node it ends in: a row's leaf is known only then, and one pass summing all rows
    costs less than one per level. The other passes route and histogram (node sums empty);
    every node's sums still add its rows in row order, as the dense kernel's do.
    """
    fe, k, b, t, nl, le, ri, bs, bl, lv, bits = plan.route
    present = plan.present if plan.present is not None else nodes_with_rows(node_ids,
                                                                             plan.n_nodes)
    start, col, child, table = route_table(present, fe, k, le, ri, b, nl, bs, bl, bits, na_bin,
                                           offsets)
    route = _flat_route(start, col, child, table, offsets)
    if plan.final:
        ids, sums = _route_sum(Xb, node_ids, grad, w, num, den, f, route, plan.n_nodes)
        return ids, np.zeros((0, offsets[-1], 3)), sums
    rows, slots = _row_scratch(Xb.shape[0])
    ids, m = _route_collect(Xb, node_ids, w, plan.slot_of_node, route, rows, slots)
    hist = _fill_ragged(Xb, rows, slots, m, grad, w, plan.n_slots, offsets)
    return ids, hist, _no_sums(plan.n_nodes)


_scratch = threading.local()


def _row_scratch(n):
    """Two int64 work arrays of at least ``n`` entries, kept per thread across levels: fresh
    ones page-fault in on every level where large allocations are new mappings (dask worker
    processes run with MALLOC_TRIM_THRESHOLD_ set, which fixes glibc's mmap threshold)."""
    have = getattr(_scratch, "rows", None)
    if have is None or have.shape[0] < n:
        _scratch.rows, _scratch.slots = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    return _scratch.rows, _scratch.slots


def level_step(Xb, node_ids, grad, w, num, den, f, plan, na_bin):
    """Fused per-chunk pass: route rows by the previous level, then histogram the open
    nodes. ``plan`` is a grower.LevelPlan; with ``plan.offsets`` set the histograms are
    ragged (see ragged_level_step). Returns (node_ids, hist, node_sums)."""
    if plan.offsets is not None:
        return ragged_level_step(Xb, node_ids, grad, w, num, den, f, plan, na_bin, plan.offsets)
    fe, k, b, t, nl, le, ri, bs, bl, lv, bits = plan.route
    return _level_step(Xb, node_ids, grad, w, num, den, f, fe, k, b, nl, le, ri, bs, bl, bits,
                       na_bin, plan.slot_of_node, plan.n_slots, plan.n_nodes, plan.first)


@njit(nogil=True, cache=True)
def _bin_of(x, lo, step, nb, pts, pos_units):
    if pts.shape[0] == 0:
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

    Slot s, feature f: with plen[s, f] == 0 uniform bins (see build_histograms_adaptive);
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
def build_histograms_adaptive(X, node_ids, slot_of_node, grad, w, lo, step, nbins,
                              n_bins_total):
    """UniformAdaptive histograms on raw values.

    Slot s, feature f has nbins[s, f] uniform bins starting at lo[s, f], bin width
    1/step[s, f]: bin = floor((x − lo)·step) clamped to [0, nbins − 1] (±inf to the end
    bins); NaN goes to the last slot (n_bins_total − 1). nbins == 0 = no histogram.
    Also returns the observed (min, max) of non-NA values per slot and feature.
    """
    # the split-point kernel with no points anywhere: uniform bins for every slot and feature
    no_points = np.zeros(nbins.shape, dtype=np.int64)
    return build_histograms_points(X, node_ids, slot_of_node, grad, w, lo, step, nbins, no_points, no_points,
                                   np.zeros(0), np.zeros(nbins.shape, dtype=np.bool_), n_bins_total)


@njit(nogil=True, cache=True)
def n_slots_of(slot_of_node):
    m = -1
    for s in slot_of_node:
        m = max(m, s)
    return m + 1


@njit(nogil=True, cache=True)
def _adaptive_level_step(X, node_ids, grad, w, num, den, f, feature, kind, threshold, na_left,
                         left, right, n_levels, bs_start, bs_len, bitsets, slot_of_node, lo,
                         step, nbins, n_bins_total, n_nodes, first):
    ids = node_ids.copy()
    arrived = np.zeros(ids.shape[0], dtype=np.bool_)
    if first:
        arrived[:] = True
    else:
        route_raw_step(X, ids, arrived, feature, kind, threshold, na_left, left, right,
                       n_levels, bs_start, bs_len, bitsets)
    hist, minmax = build_histograms_adaptive(X, ids, slot_of_node, grad, w, lo, step, nbins,
                                             n_bins_total)
    sums = accumulate_node_sums(ids, arrived, grad, w, num, den, f, n_nodes)
    return ids, hist, minmax, sums


def adaptive_level_step(X, node_ids, grad, w, num, den, f, plan, lo, step, nbins, n_bins_total):
    """UniformAdaptive per-chunk pass on raw X. Returns (node_ids, hist, minmax, node_sums)."""
    fe, k, b, t, nl, le, ri, bs, bl, lv, bits = plan.route
    return _adaptive_level_step(X, node_ids, grad, w, num, den, f, fe, k, t, nl, le, ri, lv, bs,
                                bl, bits, plan.slot_of_node, lo, step, nbins, n_bins_total,
                                plan.n_nodes, plan.first)


def sum_histograms(hists):
    """Add chunk histograms in the given (fixed) order, float64. One histogram comes back as
    it is (a chunk host hands its chunk's to the driver: a copy of up to a few MB per level
    for nothing); the first two are added in one pass. Callers read the result only."""
    it = iter(hists)
    total = np.asarray(next(it), dtype=np.float64)
    second = next(it, None)
    if second is None:
        return total
    total = np.add(total, second, dtype=np.float64)
    for h in it:
        total += h
    return total


@njit(nogil=True, cache=True)
def combine_node_sums(a, b):
    """Merge two node-sum tables (sums add, min/max combine as np.minimum/np.maximum,
    NaN kept); b may have more nodes. A kernel: the driver merges one pair per chunk
    and level."""
    if a.shape[0] < b.shape[0]:
        a, b = b, a
    out = a.copy()
    for i in range(b.shape[0]):
        for c in range(SUM_FMIN):
            out[i, c] += b[i, c]
        lo, hi = out[i, SUM_FMIN], out[i, SUM_FMAX]
        out[i, SUM_FMIN] = lo if lo <= b[i, SUM_FMIN] or np.isnan(lo) else b[i, SUM_FMIN]
        out[i, SUM_FMAX] = hi if hi >= b[i, SUM_FMAX] or np.isnan(hi) else b[i, SUM_FMAX]
    return out


def combine_minmax(a, b):
    out = a.copy()
    out[..., 0] = np.minimum(a[..., 0], b[..., 0])
    out[..., 1] = np.maximum(a[..., 1], b[..., 1])
    return out

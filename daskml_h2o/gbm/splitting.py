"""H2O's exact best-split search on a node's histograms (spec gbm.md §6.4).

Trees are least-squares trees on the residual z: a split minimises
SE(left) + SE(right) with SE(n, s, ss) = ss − s²/n. Per feature the non-NA bins are
scanned left to right ("bins < b go left"); NAs are tried on the left, then on the
right, and as their own child (NA-vs-rest) when they weigh >= min_rows. Categorical
features with one bin per level are first ordered by mean residual, so a prefix of
the order is a set split (a bitset). Ties prefer the bin closest to the middle; across
features the smallest SE wins and ties keep the first feature.

On a categorical feature the NA bin is sorted in with the levels (H2O 3.46 behaves
so, observed against h2o 3.46.0.12), so a set split places the NAs by their mean; a
split with every level on one side and the NAs alone on the other is reported as
NA_ALONE_LEFT/RIGHT (unseen levels then go with the levels).
"""
import numpy as np
from numba import njit

NA_NONE, NA_LEFT, NA_RIGHT, NA_VS_REST = 0, 1, 2, 3
# categorical splits that separate the NAs from every level (NA alone on one side)
NA_ALONE_LEFT, NA_ALONE_RIGHT = 4, 5
N_STATS = 9
ST_SE_BEFORE, ST_SE_LEFT, ST_SE_RIGHT, ST_W_LEFT, ST_W_RIGHT = 0, 1, 2, 3, 4
ST_WY_LEFT, ST_WY_RIGHT, ST_WYY_LEFT, ST_WYY_RIGHT = 5, 6, 7, 8


@njit(nogil=True, cache=True)
def _se(n, s, ss):
    if n <= 0.0:
        return 0.0
    return max(0.0, ss - s * s / n)


@njit(nogil=True, cache=True)
def _better(se, best, b, best_bin, mid):
    # strictly smaller, or equal and closer to the middle bin (H2O's tie rule)
    return se < best or (se == best and abs(b - mid) < abs(best_bin - mid))


@njit(nogil=True, cache=True)
def _sorted_order(w, wy, reorder):
    nb = w.shape[0]
    if not reorder:
        return np.arange(nb)
    mean = np.empty(nb)
    for b in range(nb):
        mean[b] = wy[b] / w[b] if w[b] > 0 else -np.inf
    return np.argsort(mean, kind="mergesort")


@njit(nogil=True, cache=True)
def _r32(x):
    # a float64 sum read through float32 (H2O's reduce precision)
    return np.float64(np.float32(x))


@njit(nogil=True, cache=True)
def _ulp_equal(a, b):
    fa = np.float32(a)
    fb = np.float32(b)
    return fa == fb or np.nextafter(fa, fb) == fb


@njit(nogil=True, cache=True)
def scan_feature(w, wy, wyy, wna, wyna, wyyna, min_rows, msi):
    """Best split of one feature with bins already in scan order.

    Returns (found, best_bin, nasplit, stats) with stats as the ST_* layout; the left
    side is the bins before best_bin (plus NA for NA_LEFT, all non-NA for NA_VS_REST).
    """
    nb = w.shape[0]
    src = np.empty((nb, 3))
    src[:, 0], src[:, 1], src[:, 2] = w, wy, wyy
    stats = np.zeros(N_STATS)
    found, best_bin, nasplit = _scan(src, 0, nb, wna, wyna, wyyna, min_rows, msi,
                                     np.empty((6, nb + 1)), stats, False)
    return found, best_bin, nasplit, stats


@njit(nogil=True, cache=True)
def _scan(src, start, nb, wna, wyna, wyyna, min_rows, msi, work, stats, rnd):
    # scan_feature over the bins src[start:start + nb] (columns w, w·y, w·y²). work is
    # (6, >= nb + 1) scratch for the prefix (rows 0-2) and suffix (rows 3-5) sums, so the
    # search allocates nothing per feature; the sums run in registers (same order of
    # additions). stats is written only when a split is found. rnd: read w·y, w·y² through
    # float32.
    a0 = a1 = a2 = 0.0
    for b in range(nb):
        work[0, b] = a0
        work[1, b] = a1
        work[2, b] = a2
        a0 += src[start + b, 0]
        a1 += _r32(src[start + b, 1]) if rnd else src[start + b, 1]
        a2 += _r32(src[start + b, 2]) if rnd else src[start + b, 2]
    work[0, nb] = a0
    work[1, nb] = a1
    work[2, nb] = a2
    # suffix sums summed from the right, as H2O does, rather than total − prefix
    c0 = c1 = c2 = 0.0
    work[3, nb] = 0.0
    work[4, nb] = 0.0
    work[5, nb] = 0.0
    for b in range(nb - 1, -1, -1):
        c0 += src[start + b, 0]
        c1 += _r32(src[start + b, 1]) if rnd else src[start + b, 1]
        c2 += _r32(src[start + b, 2]) if rnd else src[start + b, 2]
        work[3, b] = c0
        work[4, b] = c1
        work[5, b] = c2
    tot = a0 + wna
    if tot < 2.0 * min_rows:
        return False, 0, NA_NONE
    sy = a1 + wyna
    syy = a2 + wyyna
    if np.float32(syy * tot - sy * sy) == 0.0:
        return False, 0, NA_NONE
    se_nonna = _se(c0, c1, c2)
    se_before = se_nonna
    best = np.inf
    best_bin = 0
    nasplit = NA_NONE
    if wna >= min_rows:
        se_before = _se(tot, sy, syy)
        best = se_nonna + _se(wna, wyna, wyyna)
        nasplit = NA_VS_REST
    mid = nb // 2
    for b in range(1, nb):
        if src[start + b, 0] == 0.0:
            continue
        wlo = work[0, b]
        whi = work[3, b]
        if wlo + wna < min_rows:
            continue
        if whi + wna < min_rows:
            break
        if wna == 0.0:
            se = _se(wlo, work[1, b], work[2, b]) + _se(whi, work[4, b], work[5, b])
            if _better(se, best, b, best_bin, mid):
                best, best_bin, nasplit = se, b, NA_NONE
            continue
        if wlo + wna >= min_rows and whi >= min_rows:
            se = (_se(wlo + wna, work[1, b] + wyna, work[2, b] + wyyna)
                  + _se(whi, work[4, b], work[5, b]))
            if _better(se, best, b, best_bin, mid):
                best, best_bin, nasplit = se, b, NA_LEFT
        if wlo >= min_rows and whi + wna >= min_rows:
            se = (_se(wlo, work[1, b], work[2, b])
                  + _se(whi + wna, work[4, b] + wyna, work[5, b] + wyyna))
            if _better(se, best, b, best_bin, mid):
                best, best_bin, nasplit = se, b, NA_RIGHT
    if best == np.inf or not best < se_before * (1.0 - msi):
        return False, 0, NA_NONE
    if nasplit == NA_VS_REST:
        l0, l1, l2 = a0, a1, a2
        r0, r1, r2 = wna, wyna, wyyna
    else:
        l0, l1, l2 = work[0, best_bin], work[1, best_bin], work[2, best_bin]
        r0, r1, r2 = work[3, best_bin], work[4, best_bin], work[5, best_bin]
        if nasplit == NA_LEFT:
            l0, l1, l2 = l0 + wna, l1 + wyna, l2 + wyyna
        elif nasplit == NA_RIGHT:
            r0, r1, r2 = r0 + wna, r1 + wyna, r2 + wyyna
    if l0 < min_rows or r0 < min_rows or _ulp_equal(l1 / l0, r1 / r0):
        return False, 0, NA_NONE
    stats[ST_SE_BEFORE] = se_before
    stats[ST_SE_LEFT] = _se(l0, l1, l2)
    stats[ST_SE_RIGHT] = _se(r0, r1, r2)
    stats[ST_W_LEFT], stats[ST_WY_LEFT], stats[ST_WYY_LEFT] = l0, l1, l2
    stats[ST_W_RIGHT], stats[ST_WY_RIGHT], stats[ST_WYY_RIGHT] = r0, r1, r2
    return True, best_bin, nasplit


@njit(nogil=True, cache=True)
def _level_bitset(w, order, best_bin, n_levels, out):
    # levels at sorted positions >= best_bin go right; levels without rows in the node
    # follow the side that got more non-empty levels (ties to the left). Position of
    # the NA pseudo-level (index n_levels) is ignored here. Returns the number of ones.
    n_left = 0
    n_right = 0
    for p in range(order.shape[0]):
        lvl = order[p]
        if lvl < n_levels and w[lvl] > 0:
            if p >= best_bin:
                n_right += 1
            else:
                n_left += 1
    empty_right = n_right > n_left
    ones = 0
    for p in range(order.shape[0]):
        lvl = order[p]
        if lvl >= n_levels:
            continue
        right = p >= best_bin if w[lvl] > 0 else empty_right
        out[lvl] = 1 if right else 0
        ones += out[lvl]
    return ones


@njit(nogil=True, cache=True)
def _split_numeric(h, start, nb, na_slot, min_rows, msi, work, stats, rnd):
    # h[start:start + nb] are the bins, h[na_slot] the NA bin (rows of one node's histogram)
    wyna = _r32(h[na_slot, 1]) if rnd else h[na_slot, 1]
    wyyna = _r32(h[na_slot, 2]) if rnd else h[na_slot, 2]
    return _scan(h, start, nb, h[na_slot, 0], wyna, wyyna, min_rows, msi, work, stats, rnd)


@njit(nogil=True, cache=True)
def _split_categorical(h, start, nb, na_slot, min_rows, msi, bits, work, srt, stats):
    """Set split of a one-bin-per-level feature; the NA bin is one more level in the
    mean order (H2O 3.46, observed: NAs go with the levels their mean falls between,
    and a split may put the NAs alone on either side). Returns (found, bin, nasplit,
    is_bitset); work is (6, >= nb + 2) and srt (>= nb + 1, 3) scratch."""
    w = np.empty(nb + 1)
    wy = np.empty(nb + 1)
    for lvl in range(nb):
        w[lvl], wy[lvl] = h[start + lvl, 0], h[start + lvl, 1]
    w[nb], wy[nb] = h[na_slot, 0], h[na_slot, 1]
    order = _sorted_order(w, wy, True)
    for p in range(nb + 1):
        lvl = order[p]
        k = na_slot if lvl == nb else start + lvl
        srt[p, 0], srt[p, 1], srt[p, 2] = h[k, 0], h[k, 1], h[k, 2]
    found, b, nas = _scan(srt, 0, nb + 1, 0.0, 0.0, 0.0, min_rows, msi, work, stats, False)
    if not found:
        return False, 0, NA_NONE, False
    ones = _level_bitset(w, order, b, nb, bits)
    has_na = w[nb] > 0
    na_right = False
    for p in range(b, nb + 1):
        if order[p] == nb:
            na_right = True
    if 0 < ones < nb:
        nas = NA_NONE if not has_na else (NA_RIGHT if na_right else NA_LEFT)
        return True, b, nas, True
    # every level on one side: the NAs alone on the other
    if has_na and ones == nb and not na_right:
        return True, b, NA_ALONE_LEFT, False
    if has_na and ones == 0 and na_right:
        return True, b, NA_ALONE_RIGHT, False
    return False, 0, NA_NONE, False


@njit(nogil=True, cache=True)
def _split_feature(h, start, nb, na_slot, cat, min_rows, msi, bits, work, srt, stats):
    # (found, bin, nasplit, is_bitset) of one feature whose bins are h[start:start + nb]
    # and NA bin h[na_slot]; a set split fills bits
    if cat:
        bits[:] = 0
        return _split_categorical(h, start, nb, na_slot, min_rows, msi, bits, work, srt, stats)
    found, b, nas = _split_numeric(h, start, nb, na_slot, min_rows, msi, work, stats, False)
    return found, b, nas, False


@njit(nogil=True, cache=True)
def find_node_split(hist, n_bins, cat_direct, feat_mask, na_slot, min_rows, msi, bitset):
    """Best split of one node over the masked features; hist is (F, B, 3).

    Returns (feature, bin, nasplit, is_bitset, stats); feature = -1 when the node
    cannot split. ``bitset`` (length B) is filled for a bitset split.
    """
    best_stats = np.zeros(N_STATS)
    best_f, best_b, best_na, best_bits = _node_split(hist, n_bins, cat_direct, feat_mask,
                                                     na_slot, min_rows, msi, bitset,
                                                     np.empty((6, hist.shape[1] + 2)),
                                                     np.empty((hist.shape[1] + 1, 3)),
                                                     np.zeros(bitset.shape[0], dtype=np.uint8),
                                                     best_stats)
    return best_f, best_b, best_na, best_bits, best_stats


@njit(nogil=True, cache=True)
def _node_split(hist, n_bins, cat_direct, feat_mask, na_slot, min_rows, msi, bitset, work, srt,
                tmp, best_stats):
    # find_node_split with caller-owned scratch (work, srt, tmp) and result row best_stats
    best_f, best_b, best_na, best_bits = -1, 0, NA_NONE, False
    best_se = np.inf
    st = np.empty(N_STATS)
    for f in range(hist.shape[0]):
        if not feat_mask[f]:
            continue
        found, b, nas, is_bits = _split_feature(hist[f], 0, n_bins[f], na_slot, cat_direct[f],
                                                min_rows, msi, tmp, work, srt, st)
        if not found:
            continue
        se = st[ST_SE_LEFT] + st[ST_SE_RIGHT]
        if not se < best_se:
            continue
        if is_bits:
            bitset[:] = tmp
        best_se, best_f, best_b, best_na, best_bits = se, f, b, nas, is_bits
        best_stats[:] = st
    return best_f, best_b, best_na, best_bits


@njit(nogil=True, cache=True)
def find_splits(hist, n_bins, cat_direct, feat_mask, na_slot, min_rows, msi):
    """find_node_split for every slot of a level's histograms (S, F, B, 3).

    n_bins, cat_direct and feat_mask are (S, F): with per-node adaptive histograms
    every slot has its own bin counts. Returns arrays over slots: feature (-1 = no
    split), bin, nasplit, is_bitset, stats (S, N_STATS), bitsets (S, B) uint8.
    """
    ns, _, nbt, _ = hist.shape
    feature = np.full(ns, -1, dtype=np.int32)
    bins = np.zeros(ns, dtype=np.int32)
    nasplit = np.zeros(ns, dtype=np.int8)
    is_bits = np.zeros(ns, dtype=np.bool_)
    stats = np.zeros((ns, N_STATS))
    bitsets = np.zeros((ns, nbt), dtype=np.uint8)
    work = np.empty((6, nbt + 2))
    srt = np.empty((nbt + 1, 3))
    tmp = np.zeros(nbt, dtype=np.uint8)
    for s in range(ns):
        f, b, na, bits = _node_split(hist[s], n_bins[s], cat_direct[s], feat_mask[s], na_slot,
                                     min_rows, msi, bitsets[s], work, srt, tmp, stats[s])
        feature[s], bins[s], nasplit[s], is_bits[s] = f, b, na, bits
    return feature, bins, nasplit, is_bits, stats, bitsets


@njit(nogil=True, cache=True)
def find_splits_ragged(hist, offsets, cat_direct, feat_mask, min_rows, msi):
    """find_splits on the ragged layout (S, offsets[-1], 3) of global bins: feature f's
    bins are hist[s, offsets[f]:offsets[f+1]], its NA bin last. cat_direct is (F,),
    feat_mask (S, F). Same results and bitsets (S, widest + 1) as find_splits on the
    dense layout of the same sums after ``round_histograms`` (the search reads Σw·z and
    Σw·z² through float32 itself, so raw or rounded sums give the same splits)."""
    where = np.arange(hist.shape[0])
    return find_splits_open(hist, hist[:0], where, offsets, cat_direct, feat_mask, min_rows, msi)


@njit(nogil=True, cache=True)
def find_splits_open(hist, derived, where, offsets, cat_direct, feat_mask, min_rows, msi):
    """find_splits_ragged over a level's open nodes without gathering their histograms:
    node s reads hist[where[s]] when where[s] >= 0, else derived[-1 - where[s]]."""
    ns = where.shape[0]
    nf = offsets.shape[0] - 1
    widest = 0
    for j in range(nf):
        widest = max(widest, offsets[j + 1] - offsets[j])
    feature = np.full(ns, -1, dtype=np.int32)
    bins = np.zeros(ns, dtype=np.int32)
    nasplit = np.zeros(ns, dtype=np.int8)
    is_bits = np.zeros(ns, dtype=np.bool_)
    stats = np.zeros((ns, N_STATS))
    bitsets = np.zeros((ns, widest), dtype=np.uint8)
    scratch = (np.zeros(widest, dtype=np.uint8), np.empty((6, widest + 1)),
               np.empty((widest, 3)), np.empty((widest, 3)), np.empty(N_STATS))
    for s in range(ns):
        # one call per source array: a local bound to either array slows the scan down
        if where[s] >= 0:
            f, b, na, bits = _ragged_node_split(hist[where[s]], offsets, cat_direct, feat_mask[s],
                                                min_rows, msi, bitsets[s], stats[s], scratch)
        else:
            f, b, na, bits = _ragged_node_split(derived[-1 - where[s]], offsets, cat_direct,
                                                feat_mask[s], min_rows, msi, bitsets[s], stats[s],
                                                scratch)
        feature[s], bins[s], nasplit[s], is_bits[s] = f, b, na, bits
    return feature, bins, nasplit, is_bits, stats, bitsets


@njit(nogil=True, cache=True)
def _ragged_node_split(hs, offsets, cat_direct, mask, min_rows, msi, bitset, best_stats, scratch):
    # best split of one node's ragged histogram hs; fills bitset and best_stats when found
    tmp, work, lv, srt, st = scratch
    best_se = np.inf
    best_f, best_b, best_na, best_bits = -1, 0, NA_NONE, False
    for j in range(offsets.shape[0] - 1):
        if not mask[j]:
            continue
        nb = offsets[j + 1] - offsets[j] - 1
        # H2O's reduce precision: Σw·z and Σw·z² of the summed histograms go through
        # float32 before the search (idempotent on sums already rounded)
        if cat_direct[j]:
            for k in range(nb + 1):
                lv[k, 0] = hs[offsets[j] + k, 0]
                lv[k, 1] = _r32(hs[offsets[j] + k, 1])
                lv[k, 2] = _r32(hs[offsets[j] + k, 2])
            tmp[:] = 0
            found, b, nas, bits = _split_categorical(lv, 0, nb, nb, min_rows, msi, tmp, work,
                                                     srt, st)
        else:
            found, b, nas = _split_numeric(hs, offsets[j], nb, offsets[j] + nb, min_rows, msi,
                                           work, st, True)
            bits = False
        if not found:
            continue
        se = st[ST_SE_LEFT] + st[ST_SE_RIGHT]
        if not se < best_se:
            continue
        if bits:
            bitset[:] = tmp
        best_se = se
        best_f, best_b, best_na, best_bits = j, b, nas, bits
        best_stats[:] = st
    return best_f, best_b, best_na, best_bits


@njit(nogil=True, cache=True)
def nonempty_bins_ragged(hist, offsets):
    """(S, F) count of non-NA bins with weight > 0, and (S, F) weight of the NA bin."""
    ns = hist.shape[0]
    nf = offsets.shape[0] - 1
    count = np.zeros((ns, nf), dtype=np.int64)
    na_w = np.zeros((ns, nf))
    for s in range(ns):
        for j in range(nf):
            na = offsets[j + 1] - 1
            for k in range(offsets[j], na):
                if hist[s, k, 0] > 0:
                    count[s, j] += 1
            na_w[s, j] = hist[s, na, 0]
    return count, na_w


def round_histograms(hist):
    """H2O's 'reduce precision' after the reduction: Σw·z and Σw·z² to float32."""
    out = hist.copy()
    out[..., 1:] = out[..., 1:].astype(np.float32)
    return out

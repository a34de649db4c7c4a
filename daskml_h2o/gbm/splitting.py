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
    stats = np.zeros(N_STATS)
    wlo = np.zeros(nb + 1)
    wylo = np.zeros(nb + 1)
    wyylo = np.zeros(nb + 1)
    whi = np.zeros(nb + 1)
    wyhi = np.zeros(nb + 1)
    wyyhi = np.zeros(nb + 1)
    for b in range(nb):
        wlo[b + 1] = wlo[b] + w[b]
        wylo[b + 1] = wylo[b] + wy[b]
        wyylo[b + 1] = wyylo[b] + wyy[b]
    # suffix sums summed from the right, as H2O does, rather than total − prefix
    for b in range(nb - 1, -1, -1):
        whi[b] = whi[b + 1] + w[b]
        wyhi[b] = wyhi[b + 1] + wy[b]
        wyyhi[b] = wyyhi[b + 1] + wyy[b]
    tot = wlo[nb] + wna
    if tot < 2.0 * min_rows:
        return False, 0, NA_NONE, stats
    sy = wylo[nb] + wyna
    syy = wyylo[nb] + wyyna
    if np.float32(syy * tot - sy * sy) == 0.0:
        return False, 0, NA_NONE, stats
    se_nonna = _se(whi[0], wyhi[0], wyyhi[0])
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
        if w[b] == 0.0:
            continue
        if wlo[b] + wna < min_rows:
            continue
        if whi[b] + wna < min_rows:
            break
        if wna == 0.0:
            se = _se(wlo[b], wylo[b], wyylo[b]) + _se(whi[b], wyhi[b], wyyhi[b])
            if _better(se, best, b, best_bin, mid):
                best, best_bin, nasplit = se, b, NA_NONE
            continue
        if wlo[b] + wna >= min_rows and whi[b] >= min_rows:
            se = (_se(wlo[b] + wna, wylo[b] + wyna, wyylo[b] + wyyna)
                  + _se(whi[b], wyhi[b], wyyhi[b]))
            if _better(se, best, b, best_bin, mid):
                best, best_bin, nasplit = se, b, NA_LEFT
        if wlo[b] >= min_rows and whi[b] + wna >= min_rows:
            se = (_se(wlo[b], wylo[b], wyylo[b])
                  + _se(whi[b] + wna, wyhi[b] + wyna, wyyhi[b] + wyyna))
            if _better(se, best, b, best_bin, mid):
                best, best_bin, nasplit = se, b, NA_RIGHT
    if best == np.inf or not best < se_before * (1.0 - msi):
        return False, 0, NA_NONE, stats
    if nasplit == NA_VS_REST:
        l0, l1, l2 = wlo[nb], wylo[nb], wyylo[nb]
        r0, r1, r2 = wna, wyna, wyyna
    else:
        l0, l1, l2 = wlo[best_bin], wylo[best_bin], wyylo[best_bin]
        r0, r1, r2 = whi[best_bin], wyhi[best_bin], wyyhi[best_bin]
        if nasplit == NA_LEFT:
            l0, l1, l2 = l0 + wna, l1 + wyna, l2 + wyyna
        elif nasplit == NA_RIGHT:
            r0, r1, r2 = r0 + wna, r1 + wyna, r2 + wyyna
    if l0 < min_rows or r0 < min_rows or _ulp_equal(l1 / l0, r1 / r0):
        return False, 0, NA_NONE, stats
    stats[ST_SE_BEFORE] = se_before
    stats[ST_SE_LEFT] = _se(l0, l1, l2)
    stats[ST_SE_RIGHT] = _se(r0, r1, r2)
    stats[ST_W_LEFT], stats[ST_WY_LEFT], stats[ST_WYY_LEFT] = l0, l1, l2
    stats[ST_W_RIGHT], stats[ST_WY_RIGHT], stats[ST_WYY_RIGHT] = r0, r1, r2
    return True, best_bin, nasplit, stats


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
def _split_numeric(h, nb, na_slot, min_rows, msi):
    return scan_feature(h[:nb, 0], h[:nb, 1], h[:nb, 2], h[na_slot, 0], h[na_slot, 1],
                        h[na_slot, 2], min_rows, msi)


@njit(nogil=True, cache=True)
def _split_categorical(h, nb, na_slot, min_rows, msi, bits):
    """Set split of a one-bin-per-level feature; the NA bin is one more level in the
    mean order (H2O 3.46, observed: NAs go with the levels their mean falls between,
    and a split may put the NAs alone on either side)."""
    w = np.empty(nb + 1)
    wy = np.empty(nb + 1)
    wyy = np.empty(nb + 1)
    w[:nb], wy[:nb], wyy[:nb] = h[:nb, 0], h[:nb, 1], h[:nb, 2]
    w[nb], wy[nb], wyy[nb] = h[na_slot, 0], h[na_slot, 1], h[na_slot, 2]
    order = _sorted_order(w, wy, True)
    found, b, nas, st = scan_feature(w[order], wy[order], wyy[order], 0.0, 0.0, 0.0,
                                     min_rows, msi)
    if not found:
        return False, 0, NA_NONE, False, st
    ones = _level_bitset(w, order, b, nb, bits)
    has_na = w[nb] > 0
    na_right = False
    for p in range(b, nb + 1):
        if order[p] == nb:
            na_right = True
    if 0 < ones < nb:
        nas = NA_NONE if not has_na else (NA_RIGHT if na_right else NA_LEFT)
        return True, b, nas, True, st
    # every level on one side: the NAs alone on the other
    if has_na and ones == nb and not na_right:
        return True, b, NA_ALONE_LEFT, False, st
    if has_na and ones == 0 and na_right:
        return True, b, NA_ALONE_RIGHT, False, st
    return False, 0, NA_NONE, False, st


@njit(nogil=True, cache=True)
def find_node_split(hist, n_bins, cat_direct, feat_mask, na_slot, min_rows, msi, bitset):
    """Best split of one node over the masked features; hist is (F, B, 3).

    Returns (feature, bin, nasplit, is_bitset, stats); feature = -1 when the node
    cannot split. ``bitset`` (length B) is filled for a bitset split.
    """
    best_f, best_b, best_na, best_bits = -1, 0, NA_NONE, False
    best_stats = np.zeros(N_STATS)
    best_se = np.inf
    tmp = np.zeros(bitset.shape[0], dtype=np.uint8)
    for f in range(hist.shape[0]):
        if not feat_mask[f]:
            continue
        tmp[:] = 0
        if cat_direct[f]:
            found, b, nas, is_bits, st = _split_categorical(hist[f], n_bins[f], na_slot,
                                                            min_rows, msi, tmp)
        else:
            found, b, nas, st = _split_numeric(hist[f], n_bins[f], na_slot, min_rows, msi)
            is_bits = False
        if not found:
            continue
        se = st[ST_SE_LEFT] + st[ST_SE_RIGHT]
        if not se < best_se:
            continue
        if is_bits:
            bitset[:] = tmp
        best_se, best_f, best_b, best_na, best_bits, best_stats = se, f, b, nas, is_bits, st
    return best_f, best_b, best_na, best_bits, best_stats


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
    for s in range(ns):
        f, b, na, bits, st = find_node_split(hist[s], n_bins[s], cat_direct[s], feat_mask[s],
                                             na_slot, min_rows, msi, bitsets[s])
        feature[s], bins[s], nasplit[s], is_bits[s] = f, b, na, bits
        stats[s] = st
    return feature, bins, nasplit, is_bits, stats, bitsets


@njit(nogil=True, cache=True)
def find_splits_ragged(hist, offsets, cat_direct, feat_mask, min_rows, msi):
    """find_splits on the ragged layout (S, offsets[-1], 3) of global bins: feature f's
    bins are hist[s, offsets[f]:offsets[f+1]], its NA bin last. cat_direct is (F,),
    feat_mask (S, F). Same results and bitsets (S, widest + 1) as find_splits on the
    dense layout of the same sums."""
    ns = hist.shape[0]
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
    tmp = np.zeros(widest, dtype=np.uint8)
    for s in range(ns):
        best_se = np.inf
        for j in range(nf):
            if not feat_mask[s, j]:
                continue
            h = hist[s, offsets[j]:offsets[j + 1]]
            nb = h.shape[0] - 1
            tmp[:] = 0
            if cat_direct[j]:
                found, b, nas, bits, st = _split_categorical(h, nb, nb, min_rows, msi, tmp)
            else:
                found, b, nas, st = _split_numeric(h, nb, nb, min_rows, msi)
                bits = False
            if not found:
                continue
            se = st[ST_SE_LEFT] + st[ST_SE_RIGHT]
            if not se < best_se:
                continue
            if bits:
                bitsets[s, :] = tmp
            best_se = se
            feature[s], bins[s], nasplit[s], is_bits[s] = j, b, nas, bits
            stats[s] = st
    return feature, bins, nasplit, is_bits, stats, bitsets


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

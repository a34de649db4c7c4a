"""H2O's exact best-split search on a node's histograms (spec gbm.md §6.4).

Trees are least-squares trees on the residual z: a split minimises
SE(left) + SE(right) with SE(n, s, ss) = ss − s²/n. Per feature the non-NA bins are
scanned left to right ("bins < b go left"); NAs are tried on the left, then on the
right, and as their own child (NA-vs-rest) when they weigh >= min_rows. Categorical
features with one bin per level are first ordered by mean residual, so a prefix of
the order is a set split (a bitset). Ties prefer the bin closest to the middle; across
features the smallest SE wins and ties keep the first feature.
"""
import numpy as np
from numba import njit

NA_NONE, NA_LEFT, NA_RIGHT, NA_VS_REST = 0, 1, 2, 3
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
def _bitset(w, order, best_bin, out):
    # levels at sorted positions >= best_bin go right; levels without rows in the node
    # follow the side that got more non-empty levels (ties to the left)
    nb = w.shape[0]
    n_right = nb - best_bin
    n_left = 0
    for p in range(best_bin):
        if w[order[p]] > 0:
            n_left += 1
    empty_right = n_right > n_left
    ones = 0
    for p in range(nb):
        lvl = order[p]
        right = p >= best_bin if w[lvl] > 0 else empty_right
        out[lvl] = 1 if right else 0
        ones += out[lvl]
    return 0 < ones < nb


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
        nb = n_bins[f]
        h = hist[f]
        order = _sorted_order(h[:nb, 0], h[:nb, 1], cat_direct[f])
        w = h[:nb, 0][order]
        found, b, nas, st = scan_feature(w, h[:nb, 1][order], h[:nb, 2][order],
                                         h[na_slot, 0], h[na_slot, 1], h[na_slot, 2],
                                         min_rows, msi)
        if not found:
            continue
        se = st[ST_SE_LEFT] + st[ST_SE_RIGHT]
        if not se < best_se:
            continue
        is_bits = cat_direct[f] and nas != NA_VS_REST
        if is_bits:
            tmp[:] = 0
            if not _bitset(h[:nb, 0], order, b, tmp):
                continue
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


def round_histograms(hist):
    """H2O's 'reduce precision' after the reduction: Σw·z and Σw·z² to float32."""
    out = hist.copy()
    out[..., 1:] = out[..., 1:].astype(np.float32)
    return out

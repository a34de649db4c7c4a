"""Model metrics computed as dask reductions over predictions, and H2O's metrics objects.

``compute_metrics(kind, actual, preds, weights)`` runs one pass over the chunks: a numba
kernel per chunk returns a small partial (sums, a confusion matrix, an AUC histogram),
partials are combined in fixed chunk order by a tree reduce, and a finalize step turns
the result into ``H2OBinomialModelMetrics`` / ``H2OMultinomialModelMetrics`` /
``H2ORegressionModelMetrics`` / ``H2OAutoEncoderModelMetrics``. Rows are never gathered.
Only two things need extra passes over the (persisted) predictions: the exact quantiles
of p1 that bound the gains/lift groups, and the Huber delta (a quantile of |y - yhat|).
``compute_metrics_on_chunks`` runs the same passes over per-chunk values an algorithm's
executor holds (``ChunkBlocks``: no dask graph per pass), with identical results.

Binomial AUC follows H2O's AUC2: per chunk, rows are inserted in order into an online
histogram of at most 400 bins (centre = mean prediction, weighted positive and negative
counts); a new point folds into a neighbour when that is cheaper than the best merge,
otherwise the adjacent pair whose merge gives the least squared error is merged (bins
equal as float32 merge first, for free). Chunk histograms merge the same way in chunk
order. On one chunk this reproduces H2O's bins exactly; with <= 400 distinct predictions
everything is exact for any chunking. Everything threshold-based is read off the bins.
"""
import functools
import math

import dask
import dask.array as da
import numpy as np
import pandas as pd
from numba import njit

from daskml_h2o._threadflag import ThreadFlag
from daskml_h2o.models.tables import ConfusionMatrix, H2OTwoDimTable

NBINS = 400
LOGLOSS_CAP = -math.log(1e-15)  # H2O floors probabilities at 1e-15
GAINS_LIFT_PROBS = (0.99, 0.98, 0.97, 0.96, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)
DISTRIBUTIONS = ("gaussian", "poisson", "gamma", "tweedie", "laplace", "quantile", "huber")
KINDS = ("regression", "binomial", "multinomial", "autoencoder")
_SPLIT_EVERY = 8
_QUANTILE_BINS = 1024


# ----------------------------------------------------------------------------------------
# Kernels (numpy in, small numpy out; no dask)
# ----------------------------------------------------------------------------------------

@njit(nogil=True, cache=True)
def _usable(y, w):
    return not (np.isnan(y) or np.isnan(w) or w == 0.0)


@njit(nogil=True, cache=True)
def _welford(acc, i_sw, i_mean, i_m2, x, w):
    """Weighted running mean / sum of squared deviations, kept in acc[i_sw], acc[i_mean], acc[i_m2]."""
    sw = acc[i_sw] + w
    d = x - acc[i_mean]
    acc[i_mean] += d * w / sw
    acc[i_m2] += w * d * (x - acc[i_mean])
    acc[i_sw] = sw


@njit(nogil=True, cache=True)
def _deviance(code, y, f, power, alpha, delta):
    if code == 0:
        return (y - f) * (y - f)
    if code == 1:
        return 2.0 * ((y * math.log(y / f) if y != 0.0 else 0.0) - y + f)
    if code == 2:
        return 2.0 * (math.log(f / y) + y / f - 1.0)
    if code == 3:
        return 2.0 * (y ** (2.0 - power) / ((1.0 - power) * (2.0 - power))
                      - y * f ** (1.0 - power) / (1.0 - power) + f ** (2.0 - power) / (2.0 - power))
    if code == 4:
        return abs(y - f)
    if code == 5:
        return alpha * (y - f) if y > f else (1.0 - alpha) * (f - y)
    r = abs(y - f)
    return r * r if r <= delta else 2.0 * (r - delta) * delta


# regression partial layout: nobs, sw, sse, sae, sle, log_bad, dev, ysw, ymean, ym2
@njit(nogil=True, cache=True)
def _partial_regression(y, p, w, code, power, alpha, delta):
    acc = np.zeros(10)
    for i in range(y.shape[0]):
        yi, fi, wi = y[i], p[i], w[i]
        if not _usable(yi, wi) or np.isnan(fi):
            continue
        e = yi - fi
        acc[0] += 1.0
        acc[1] += wi
        acc[2] += wi * e * e
        acc[3] += wi * abs(e)
        if yi < -1.0 or fi < -1.0:
            acc[5] = 1.0
        else:
            le = math.log1p(fi) - math.log1p(yi)
            acc[4] += wi * le * le
        acc[6] += wi * _deviance(code, yi, fi, power, alpha, delta)
        _welford(acc, 7, 8, 9, yi, wi)
    return acc


# classification partial layout: nobs, sw, sll, sse, ysw, ymean, ym2, labels out of range
@njit(nogil=True, cache=True)
def _class_sums(acc, c, pt, wi):
    err = 1.0 - pt
    acc[0] += 1.0
    acc[1] += wi
    acc[2] += wi * min(LOGLOSS_CAP, -math.log(max(pt, 1e-15)))
    acc[3] += wi * err * err
    _welford(acc, 4, 5, 6, float(c), wi)


@njit(nogil=True, cache=True)
def _partial_binomial_kernel(y, P, w):
    """Sums over the usable rows, which rows those are, and the range of their p1."""
    acc = np.zeros(8)
    n = y.shape[0]
    keep = np.zeros(n, dtype=np.bool_)
    p1_range = np.array([np.inf, -np.inf])
    for i in range(n):
        yi, wi = y[i], w[i]
        if not _usable(yi, wi) or np.isnan(P[i, 0]) or np.isnan(P[i, 1]):
            continue
        c = int(yi)
        if c < 0 or c > 1:
            acc[7] += 1.0
            continue
        keep[i] = True
        _class_sums(acc, c, P[i, c], wi)
        p1_range[0] = min(p1_range[0], P[i, 1])
        p1_range[1] = max(p1_range[1], P[i, 1])
    return acc, keep, p1_range


@njit(nogil=True, cache=True)
def _delta_error(th1, k1, th0, k0):
    """Squared error added by merging two bins; centres closer than a float32 ulp merge for free."""
    delta = np.float64(np.float32(th1) - np.float32(th0))
    if delta == 0.0:
        return 0.0
    return delta * delta * k0 * k1 / (k0 + k1)


@njit(nogil=True, cache=True)
def _centre(th0, k0, th1, k1):
    if th0 == th1:  # the weighted mean of equal centres can be off by an ulp; keep it exact
        return th0
    c = (th0 * k0 + th1 * k1) / (k0 + k1)
    if np.isnan(c) or np.isinf(c):
        return (th0 + th1) / 2.0
    return c


@njit(nogil=True, cache=True)
def _smallest_pair(ths, sqe, tps, fps, n):
    """Index i of the adjacent pair (i, i+1) whose merge gives the least squared error; a
    float32-duplicate pair is taken at once; -1 if none."""
    if n == 1:
        return 0
    best = -1
    best_sqe = np.inf
    for i in range(n - 1):
        d = _delta_error(ths[i + 1], tps[i + 1] + fps[i + 1], ths[i], tps[i] + fps[i])
        if d == 0.0:
            return i
        e = sqe[i] + sqe[i + 1] + d
        if e < best_sqe:
            best, best_sqe = i, e
    if best == -1:  # errors overflowed: fall back to the closest centres
        best = 0
        for i in range(1, n - 1):
            if ths[i + 1] - ths[i] < ths[best + 1] - ths[best]:
                best = i
    return best


@njit(nogil=True, cache=True)
def _first_dup(ths, tps, fps, n):
    for i in range(n - 1):
        if _delta_error(ths[i + 1], tps[i + 1] + fps[i + 1], ths[i], tps[i] + fps[i]) == 0.0:
            return i
    return -1


@njit(nogil=True, cache=True)
def _merge_pair(ths, sqe, tps, fps, n, s):
    """Merge bin s+1 into bin s and close the gap; returns the new bin count."""
    k0, k1 = tps[s] + fps[s], tps[s + 1] + fps[s + 1]
    sqe[s] = sqe[s] + sqe[s + 1] + _delta_error(ths[s + 1], k1, ths[s], k0)
    ths[s] = _centre(ths[s], k0, ths[s + 1], k1)
    tps[s] += tps[s + 1]
    fps[s] += fps[s + 1]
    for j in range(s + 1, n - 1):
        ths[j], sqe[j], tps[j], fps[j] = ths[j + 1], sqe[j + 1], tps[j + 1], fps[j + 1]
    return n - 1


@njit(nogil=True, cache=True)
def first_at_least(a, lo, hi, x):
    """lo + np.searchsorted(a[lo:hi], x) (side left) without building the slice: called once a row."""
    while lo < hi:
        m = (lo + hi) >> 1
        if a[m] < x:
            lo = m + 1
        else:
            hi = m
    return lo


@njit(nogil=True, cache=True)
def _auc_histogram(p1, y, w, keep, nbins):
    """H2O's online AUC histogram of one chunk's kept rows: rows inserted in order as bins of
    their own, folded into a neighbour when that is cheaper than the best merge, else the best
    pair merges."""
    cap = 2 * nbins + 2
    ths = np.zeros(cap)
    sqe = np.zeros(cap)
    tps = np.zeros(cap)
    fps = np.zeros(cap)
    n = 0
    ssx = -1  # cached best pair, -1 when unknown
    for r in range(p1.shape[0]):
        if not keep[r]:
            continue
        pred, wr, pos = p1[r], w[r], y[r] > 0.5
        idx = first_at_least(ths, 0, n, pred)
        if idx < n and ths[idx] == pred:
            if pos:
                tps[idx] += wr
            else:
                fps[idx] += wr
            ssx = -1
            continue
        if n == nbins and 0 < idx < n and ths[idx - 1] != ths[idx]:
            if ssx == -1:
                ssx = _smallest_pair(ths, sqe, tps, fps, n)
            d_best = sqe[ssx] + sqe[ssx + 1] + _delta_error(ths[ssx + 1], tps[ssx + 1] + fps[ssx + 1],
                                                           ths[ssx], tps[ssx] + fps[ssx])
            d0 = sqe[idx - 1] + _delta_error(pred, wr, ths[idx - 1], tps[idx - 1] + fps[idx - 1])
            d1 = sqe[idx] + _delta_error(ths[idx], tps[idx] + fps[idx], pred, wr)
            if d0 < d_best or d1 < d_best:
                if d0 <= d1:
                    idx -= 1
                if ssx == idx - 1 or ssx == idx:
                    ssx = -1
                k = tps[idx] + fps[idx]
                if pos:
                    tps[idx] += wr
                else:
                    fps[idx] += wr
                sqe[idx] = sqe[idx] + _delta_error(pred, wr, ths[idx], k)
                ths[idx] = _centre(ths[idx], k, pred, wr)
                continue
        if idx == 0 or idx == n or idx == ssx:
            ssx = -1
        elif idx < ssx:
            ssx += 1
        for j in range(n, idx, -1):
            ths[j], sqe[j], tps[j], fps[j] = ths[j - 1], sqe[j - 1], tps[j - 1], fps[j - 1]
        ths[idx], sqe[idx] = pred, 0.0
        tps[idx], fps[idx] = (wr, 0.0) if pos else (0.0, wr)
        n += 1
        if n > nbins:
            s = ssx if ssx != -1 else _smallest_pair(ths, sqe, tps, fps, n)
            n = _merge_pair(ths, sqe, tps, fps, n, s)
            ssx = -1
    return ths[:n].copy(), sqe[:n].copy(), tps[:n].copy(), fps[:n].copy()


@njit(nogil=True, cache=True)
def _auc_reduce(a_ths, a_sqe, a_tps, a_fps, b_ths, b_sqe, b_tps, b_fps, nbins):
    """Merge two sorted histograms (a's bins first on ties), then merge pairs while there are
    more than nbins bins or any float32 duplicates."""
    na, nb = a_ths.shape[0], b_ths.shape[0]
    n = na + nb
    ths = np.empty(n)
    sqe = np.empty(n)
    tps = np.empty(n)
    fps = np.empty(n)
    x, y = na - 1, nb - 1
    while x + y + 1 >= 0:
        if y < 0 or (x >= 0 and a_ths[x] >= b_ths[y]):
            ths[x + y + 1], sqe[x + y + 1], tps[x + y + 1], fps[x + y + 1] = a_ths[x], a_sqe[x], a_tps[x], a_fps[x]
            x -= 1
        else:
            ths[x + y + 1], sqe[x + y + 1], tps[x + y + 1], fps[x + y + 1] = b_ths[y], b_sqe[y], b_tps[y], b_fps[y]
            y -= 1
    while True:
        if n > nbins:
            s = _smallest_pair(ths, sqe, tps, fps, n)
        else:
            s = _first_dup(ths, tps, fps, n)
            if s == -1:
                break
        n = _merge_pair(ths, sqe, tps, fps, n, s)
    return ths[:n].copy(), sqe[:n].copy(), tps[:n].copy(), fps[:n].copy()


@njit(nogil=True, cache=True)
def _partial_multinomial_kernel(y, P, w, topk):
    K = P.shape[1]
    acc = np.zeros(8)
    cm = np.zeros((K, K))
    hits = np.zeros(topk)
    for i in range(y.shape[0]):
        yi, wi = y[i], w[i]
        if not _usable(yi, wi):
            continue
        bad = False
        for j in range(K):
            if np.isnan(P[i, j]):
                bad = True
        if bad:
            continue
        c = int(yi)
        if c < 0 or c >= K:
            acc[7] += 1.0
            continue
        pt = P[i, c]
        _class_sums(acc, c, pt, wi)
        best = 0
        rank = 0
        for j in range(K):
            if P[i, j] > P[i, best]:
                best = j
            if P[i, j] > pt or (P[i, j] == pt and j < c):
                rank += 1
        cm[c, best] += wi
        if rank < topk:
            hits[rank] += wi
    return acc, cm, hits


@njit(nogil=True, cache=True)
def _partial_autoencoder_kernel(err, w):
    acc = np.zeros(3)  # nobs, sw, s(w*err)
    for i in range(err.shape[0]):
        if not _usable(err[i], w[i]):
            continue
        acc[0] += 1.0
        acc[1] += w[i]
        acc[2] += w[i] * err[i]
    return acc


@njit(nogil=True, cache=True)
def _row_mse(X, R):
    n, m = X.shape
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        for j in range(m):
            d = X[i, j] - R[i, j]
            s += d * d
        out[i] = s / m if m > 0 else np.nan
    return out


@njit(nogil=True, cache=True)
def _quantile_hist(x, w, lo, hi, nb):
    """For each target t: weight strictly below lo[t], and a histogram (weight, min, max) over
    [lo, hi]. Any intervals; O(rows x targets). ``_quantile_hist_disjoint`` is the fast case."""
    T = lo.shape[0]
    below = np.zeros(T)
    hist = np.zeros((T, nb))
    bmin = np.full((T, nb), np.inf)
    bmax = np.full((T, nb), -np.inf)
    for i in range(x.shape[0]):
        xi, wi = x[i], w[i]
        if not _usable(xi, wi):
            continue
        for t in range(T):
            if xi < lo[t]:
                below[t] += wi
            elif xi <= hi[t]:
                _hist_add(hist, bmin, bmax, t, xi, wi, lo[t], hi[t], nb)
    return below, hist, bmin, bmax


@njit(nogil=True, cache=True)
def _hist_add(hist, bmin, bmax, t, xi, wi, lo, hi, nb):
    width = hi - lo
    b = int((xi - lo) / width * nb) if width > 0 else 0
    if b >= nb:
        b = nb - 1
    hist[t, b] += wi
    if xi < bmin[t, b]:
        bmin[t, b] = xi
    if xi > bmax[t, b]:
        bmax[t, b] = xi


@njit(nogil=True, cache=True)
def _count_starts_le(starts, x):
    """Number of sorted ``starts`` that are <= x (a binary search)."""
    a, b = 0, starts.shape[0]
    while a < b:
        m = (a + b) >> 1
        if starts[m] <= x:
            a = m + 1
        else:
            b = m
    return a


@njit(nogil=True, cache=True)
def _order_free_weights(x, w):
    """True when the usable weights are integers whose total stays below 2**53: then every
    partial sum is exact and the order of additions cannot change a sum."""
    total = 0.0
    for i in range(x.shape[0]):
        if not _usable(x[i], w[i]):
            continue
        if w[i] != math.floor(w[i]):
            return False
        total += abs(w[i])
    return total < 2.0 ** 53


@njit(nogil=True, cache=True)
def _quantile_hist_disjoint(x, w, lo, hi, nb):
    """``_quantile_hist`` for intervals sorted by lo with hi[t] < lo[t + 1] (what refinement
    produces): a row lies in at most one interval, found by binary search, so a row costs
    O(log targets). Sums are bit-identical to ``_quantile_hist``: histogram cells get their rows
    in row order; "weight below" is a prefix sum of per-gap sums only when the weights make
    every order exact, else each row is added to every target above it, in row order."""
    T = lo.shape[0]
    below = np.zeros(T)
    gaps = np.zeros(T + 1)
    hist = np.zeros((T, nb))
    bmin = np.full((T, nb), np.inf)
    bmax = np.full((T, nb), -np.inf)
    by_gap = _order_free_weights(x, w)
    for i in range(x.shape[0]):
        xi, wi = x[i], w[i]
        if not _usable(xi, wi):
            continue
        k = _count_starts_le(lo, xi)  # xi < lo[t] exactly for t >= k
        if by_gap:
            gaps[k] += wi
        else:
            for t in range(k, T):
                below[t] += wi
        if k > 0 and xi <= hi[k - 1]:
            _hist_add(hist, bmin, bmax, k - 1, xi, wi, lo[k - 1], hi[k - 1], nb)
    if by_gap:
        acc = 0.0
        for t in range(T):
            acc += gaps[t]
            below[t] = acc
    return below, hist, bmin, bmax


@njit(nogil=True, cache=True)
def _gains_groups(p1, y, w, thresholds):
    """Per group (first threshold, in decreasing order, that p1 reaches): weight, positives, sum w*p1."""
    G = thresholds.shape[0]
    out = np.zeros((G, 3))
    for i in range(p1.shape[0]):
        pi, wi = p1[i], w[i]
        if not _usable(y[i], wi) or np.isnan(pi):
            continue
        g = G - 1
        for t in range(G):
            if pi >= thresholds[t]:
                g = t
                break
        out[g, 0] += wi
        if y[i] > 0.5:
            out[g, 1] += wi
        out[g, 2] += wi * pi
    return out


# ----------------------------------------------------------------------------------------
# Per-chunk partials and their ordered combine (plain Python around the kernels)
# ----------------------------------------------------------------------------------------

def _f64(a):
    return np.ascontiguousarray(a, dtype=np.float64)


def _weights_or_ones(w, n):
    return np.ones(n) if w is None else _f64(w).reshape(-1)


def _partial_regression_chunk(y, p, w, code, power, alpha, delta):
    y = _f64(y).reshape(-1)
    return {"acc": _partial_regression(y, _f64(p).reshape(-1), _weights_or_ones(w, y.shape[0]),
                                       code, power, alpha, delta)}


def _binomial_probs(p):
    p = _f64(p)
    if p.ndim == 1:
        return np.ascontiguousarray(np.stack([1.0 - p, p], axis=1))
    return np.ascontiguousarray(p[:, -2:]) if p.shape[1] > 2 else p


def _partial_binomial(y, p, w):
    y = _f64(y).reshape(-1)
    P = _binomial_probs(p)
    w = _weights_or_ones(w, y.shape[0])
    acc, keep, p1_range = _partial_binomial_kernel(y, P, w)
    _check_labels(acc, y, 2)
    return {"acc": acc, "bins": _auc_histogram(P[:, 1], y, w, keep, NBINS), "range": p1_range}


def _check_labels(acc, y, k):
    if acc[7] > 0:
        bad = y[~np.isnan(y) & ((y < 0) | (y >= k))]
        raise ValueError("actual holds class index %r outside 0..%d: pass the response as class indices "
                         "of the domain (NaN for NA)" % (float(bad[0]) if bad.size else None, k - 1))


def _partial_multinomial(y, p, w, topk):
    y = _f64(y).reshape(-1)
    p = _f64(p)
    acc, cm, hits = _partial_multinomial_kernel(y, p, _weights_or_ones(w, y.shape[0]), topk)
    _check_labels(acc, y, p.shape[1])
    return {"acc": acc, "cm": cm, "hits": hits}


def _partial_autoencoder(err, w):
    err = _f64(err).reshape(-1)
    return {"acc": _partial_autoencoder_kernel(err, _weights_or_ones(w, err.shape[0]))}


def _merge_welford(a, b, i_sw, i_mean, i_m2):
    sw = a[i_sw] + b[i_sw]
    if sw == 0:
        return
    d = b[i_mean] - a[i_mean]
    a[i_m2] = a[i_m2] + b[i_m2] + d * d * a[i_sw] * b[i_sw] / sw
    a[i_mean] = a[i_mean] + d * b[i_sw] / sw
    a[i_sw] = sw


def _combine_acc(a, b, kind):
    out = a.copy()
    if kind == "regression":
        out[:5] += b[:5]
        out[5] = max(a[5], b[5])
        out[6] += b[6]
        _merge_welford(out, b, 7, 8, 9)
    elif kind == "autoencoder":
        out += b
    else:
        out[:4] += b[:4]
        _merge_welford(out, b, 4, 5, 6)
        out[7] += b[7]
    return out


def _combine_bins(a, b):
    return _auc_reduce(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], NBINS)


def _combine(a, b, kind):
    """Combine two partials, a before b (chunk order)."""
    out = {"acc": _combine_acc(a["acc"], b["acc"], kind)}
    if "bins" in a:
        out["bins"] = _combine_bins(a["bins"], b["bins"])
        out["range"] = np.array([min(a["range"][0], b["range"][0]), max(a["range"][1], b["range"][1])])
    for key in ("cm", "hits"):
        if key in a:
            out[key] = a[key] + b[key]
    return out


def _combine_many(kind, parts):
    if kind == "minmax":
        return np.array([min(p[0] for p in parts), max(p[1] for p in parts)])
    if kind == "quantile":  # (below, hist, bin min, bin max)
        return (sum(p[0] for p in parts), sum(p[1] for p in parts),
                np.minimum.reduce([p[2] for p in parts]), np.maximum.reduce([p[3] for p in parts]))
    out = parts[0]
    for p in parts[1:]:
        out = _combine(out, p, kind)
    return out


def _sum_many(parts):
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


# ----------------------------------------------------------------------------------------
# Dask plumbing: aligned chunks, ordered tree reduce
# ----------------------------------------------------------------------------------------

def _as_dask(a, name):
    if a is None:
        return None
    if isinstance(a, da.Array):
        return a
    if hasattr(a, "to_dask_array"):  # dask Series/DataFrame
        return a.to_dask_array(lengths=True)
    arr = np.asarray(a)
    if arr.dtype == object:
        raise ValueError("%s must be numeric; got an object array" % name)
    return da.from_array(arr, chunks=(max(1, arr.shape[0]),) + arr.shape[1:] if arr.ndim else ())


def _aligned_blocks(arrays):
    """Per row-chunk tuples of delayed numpy blocks, all arrays cut at the same row boundaries."""
    present = [a for a in arrays if a is not None]
    ref = present[0]
    n = ref.shape[0]
    for a in present[1:]:
        if not (math.isnan(n) or math.isnan(a.shape[0])) and a.shape[0] != n:
            raise ValueError("actual, predictions and weights must have the same number of rows "
                             "(got %s and %s)" % (n, a.shape[0]))
    row_chunks = ref.chunks[0]
    unknown = any(math.isnan(c) for c in row_chunks)
    blocks = []
    for a in arrays:
        if a is None:
            blocks.append(None)
            continue
        if a.ndim == 2 and len(a.chunks[1]) > 1:
            a = a.rechunk({1: -1})
        if not _same_chunks(a.chunks[0], row_chunks):
            if unknown or any(math.isnan(c) for c in a.chunks[0]):
                raise ValueError("actual, predictions and weights have different unknown chunk sizes; "
                                 "call .compute_chunk_sizes() on them or build them from the same frame")
            a = a.rechunk({0: row_chunks})
        d = a.to_delayed().reshape(-1)
        blocks.append(list(d))
    nb = len(row_chunks)
    return [tuple(b[i] if b is not None else None for b in blocks) for i in range(nb)]


def _same_chunks(a, b):
    """Chunk tuples equal, NaN (unknown size) matching NaN: arrays cut from the same frame."""
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b))


class ChunkBlocks:
    """Per-chunk columns an algorithm's executor holds (``parallel.LocalExecutor``'s arrays,
    chunk hosts' handles, ``DaskExecutor``'s futures), the other form of a blocks list: metric passes run as the
    executor's steps (direct calls in process, one call per host on worker processes) instead
    of dask graphs, which cost a scheduler round trip each (~35 ms on worker processes, ~8 ms
    of dask overhead in process). Partials and their chunk-order grouping are the same, so the
    metrics are identical to ``compute_metrics`` on the same values as dask arrays."""

    def __init__(self, ex, columns):
        self.ex = ex
        self.columns = tuple(None if c is None else list(c) for c in columns)

    def reduce(self, partial, partial_args, kind):
        layout = tuple(c is not None for c in self.columns)
        present = [c for c in self.columns if c is not None]
        parts = self.ex.map(_partial_of_columns, *present, args=(partial, layout, tuple(partial_args)),
                            name="metrics-partial")
        # gather: a DaskExecutor's reduce leaves a future, the others a value (returned as is)
        return self.ex.gather(self.ex.reduce(functools.partial(_combine_group, kind), parts,
                                             name="metrics-combine", split_every=_SPLIT_EVERY))


def _partial_of_columns(*values):
    *present, partial, layout, partial_args = values
    it = iter(present)
    return partial(*(next(it) if has else None for has in layout), *partial_args)


def _combine_group(kind, *parts):
    return _sum_many(list(parts)) if kind is None else _combine_many(kind, list(parts))


def _column(blocks, i):
    """Column ``i`` of a blocks list (per-chunk values), None where absent."""
    if isinstance(blocks, ChunkBlocks):
        return blocks.columns[i]
    values = [b[i] for b in blocks]
    return None if all(v is None for v in values) else values


def _blocks_like(blocks, columns):
    """Blocks of the same form as ``blocks`` over per-chunk ``columns`` (None = absent)."""
    if isinstance(blocks, ChunkBlocks):
        return ChunkBlocks(blocks.ex, columns)
    return [tuple(None if c is None else c[j] for c in columns) for j in range(len(blocks))]


def _map_columns(blocks, fn, idx, name):
    """Per chunk ``fn(*columns idx)``: a new column, lazy in the blocks' own form."""
    if isinstance(blocks, ChunkBlocks):
        return blocks.ex.map(fn, *(blocks.columns[i] for i in idx), name=name)
    return [dask.delayed(fn, pure=True)(*(b[i] for i in idx)) for b in blocks]


def _tree_reduce(parts, combine, *args):
    while len(parts) > 1:
        parts = [dask.delayed(combine, pure=True)(*args, parts[i:i + _SPLIT_EVERY])
                 for i in range(0, len(parts), _SPLIT_EVERY)]
    return parts[0]


# Thread-local on purpose: ``dask.config.set(scheduler=...)`` is process-wide, and models
# trained side by side would restore each other's setting.
_driver_side = ThreadFlag()


def local_reductions():
    """Reduce metrics with dask's local threads (data already in this process), not through
    the distributed scheduler."""
    return _driver_side.on()


def _scheduler():
    return "threads" if _driver_side else None


def _compute(*args):
    return dask.compute(*args, scheduler=_scheduler())


def _persist(*args):
    return dask.persist(*args, scheduler=_scheduler())


def _reduce(blocks, partial, partial_args=(), kind=None):
    """One dask pass: ``partial(*chunk_blocks, *partial_args)`` per chunk, combined in chunk order.

    With ``kind`` the partials are metric dicts merged by ``_combine``; without, they are
    arrays (or tuples of arrays) that add up.
    """
    if isinstance(blocks, ChunkBlocks):
        return blocks.reduce(partial, partial_args, kind)
    parts = [dask.delayed(partial, pure=True)(*blk, *partial_args) for blk in blocks]
    if not parts:
        raise ValueError("cannot compute metrics on an array with no chunks")
    if kind is None:
        return _compute(_tree_reduce(parts, _sum_many))[0]
    return _compute(_tree_reduce(parts, _combine_many, kind))[0]


# ----------------------------------------------------------------------------------------
# Exact weighted quantiles by histogram refinement (a few small passes)
# ----------------------------------------------------------------------------------------

def _quantile_partial(x, w, lo, hi, disjoint):
    x = _f64(x).reshape(-1)
    kernel = _quantile_hist_disjoint if disjoint else _quantile_hist
    return kernel(x, _weights_or_ones(w, x.shape[0]), lo, hi, _QUANTILE_BINS)


def _distinct_intervals(lo, hi):
    """The distinct (lo, hi) pairs sorted by lo, each target's index among them, and whether
    they are disjoint (hi[t] < lo[t + 1]; NaN bounds are not)."""
    pairs, inverse = np.unique(np.stack([lo, hi], axis=1), axis=0, return_inverse=True)
    ulo, uhi = np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1])
    disjoint = bool(np.all(ulo[1:] > uhi[:-1])) and not np.isnan(pairs).any()
    return ulo, uhi, inverse.reshape(-1), disjoint


def _values_at_positions(blocks, positions, lo, hi, max_passes=12):
    """Value at each weighted rank position t (smallest x whose cumulative weight exceeds t).

    Targets sharing an interval share one histogram (in the first pass all do); the intervals
    of one pass are bins of the previous pass's histograms, hence disjoint.
    """
    T = len(positions)
    lo = np.full(T, float(lo))
    hi = np.full(T, float(hi))
    found = np.full(T, np.nan)
    for _ in range(max_passes):
        todo = np.flatnonzero(np.isnan(found))
        if todo.size == 0:
            break
        ulo, uhi, inverse, disjoint = _distinct_intervals(lo[todo], hi[todo])
        parts = _reduce(blocks, _quantile_partial, (ulo, uhi, disjoint), "quantile")
        below, hist, bmin, bmax = (a[inverse] for a in parts)
        for r, t in enumerate(todo):
            cum = below[r] + np.cumsum(hist[r])
            b = int(np.searchsorted(cum, positions[t], side="right"))
            b = min(b, _QUANTILE_BINS - 1)
            while hist[r, b] == 0 and b > 0:
                b -= 1
            if bmin[r, b] == bmax[r, b] or not np.isfinite(bmin[r, b]):
                found[t] = bmin[r, b] if np.isfinite(bmin[r, b]) else lo[t]
            else:
                lo[t], hi[t] = bmin[r, b], bmax[r, b]
    left = np.isnan(found)
    found[left] = lo[left]
    return found


def weighted_quantiles(blocks, probs, total_weight, lo, hi):
    """H2O-style interpolated quantiles (type 7 for unit weights) of the blocks' (x, w) pairs."""
    probs = np.asarray(probs, dtype=np.float64)
    h = np.clip(probs * (total_weight - 1.0), 0.0, max(total_weight - 1.0, 0.0))
    t0 = np.floor(h)
    t1 = np.minimum(t0 + 1.0, max(total_weight - 1.0, 0.0))
    positions = np.unique(np.concatenate([t0, t1]))
    values = _values_at_positions(blocks, positions, lo, hi)
    v0 = values[np.searchsorted(positions, t0)]
    v1 = values[np.searchsorted(positions, t1)]
    return v0 + (h - t0) * (v1 - v0)


# ----------------------------------------------------------------------------------------
# Finalize: AUC2 curve, threshold table, gains/lift
# ----------------------------------------------------------------------------------------

# rows of cross_validation_metrics_summary() per kind (spec frame_and_api 12.6); keys of _as_dict()
CV_SUMMARY_METRICS = {
    "binomial": ["accuracy", "aic", "auc", "err", "err_count", "f0point5", "f1", "f2", "lift_top_group",
                 "loglikelihood", "logloss", "max_per_class_error", "mcc", "mean_per_class_accuracy",
                 "mean_per_class_error", "mse", "pr_auc", "precision", "r2", "recall", "rmse", "specificity"],
    "multinomial": ["accuracy", "aic", "auc", "err", "err_count", "loglikelihood", "logloss",
                    "max_per_class_error", "mean_per_class_accuracy", "mean_per_class_error", "mse", "pr_auc",
                    "r2", "rmse"],
    "regression": ["aic", "loglikelihood", "mae", "mean_residual_deviance", "mse", "r2", "residual_deviance",
                   "rmse", "rmsle"],
}

THRESHOLD_COLUMNS = ["threshold", "f1", "f2", "f0point5", "accuracy", "precision", "recall", "specificity",
                     "absolute_mcc", "min_per_class_accuracy", "mean_per_class_accuracy", "tns", "fns", "fps",
                     "tps", "tnr", "fnr", "fpr", "tpr", "idx"]
MAX_CRITERIA = ["f1", "f2", "f0point5", "accuracy", "precision", "recall", "specificity", "absolute_mcc",
                "min_per_class_accuracy", "mean_per_class_accuracy", "tns", "fns", "fps", "tps", "tnr", "fnr",
                "fpr", "tpr"]


def auc_curve(bins):
    """Sorted ascending bins -> (thresholds desc, cumulative tps, cumulative fps)."""
    ths, _, tps, fps = bins
    return ths[::-1].copy(), np.cumsum(tps[::-1]), np.cumsum(fps[::-1])


def auc_from_curve(tps, fps):
    if tps.size == 0:
        return float("nan")
    if fps[-1] == 0:
        return 1.0
    if tps[-1] == 0:
        return 0.0
    tp0 = np.concatenate([[0.0], tps[:-1]])
    fp0 = np.concatenate([[0.0], fps[:-1]])
    return float(np.sum((fps - fp0) * (tps + tp0) / 2.0) / tps[-1] / fps[-1])


def pr_auc_from_curve(tps, fps):
    """Area under precision-recall with the XGBoost interpolation between (TP, FP) points."""
    if tps.size == 0:
        return float("nan")
    if fps[-1] == 0:
        return 1.0
    if tps[-1] == 0:
        return 0.0
    P = tps[-1]
    area = 0.0
    prevtp = prevfp = 0.0
    for tp, fp in zip(tps, fps):
        if tp == prevtp:
            a, b = 1.0, 0.0
        else:
            h = (fp - prevfp) / (tp - prevtp)
            a = 1.0 + h
            b = (prevfp - h * prevtp) / P
        if b != 0.0:
            area += (tp / P - prevtp / P - b / a * (math.log(a * tp / P + b) - math.log(a * prevtp / P + b))) / a
        else:
            area += (tp / P - prevtp / P) / a
        prevtp, prevfp = tp, fp
    return float(area)


def threshold_scores(ths, tps, fps):
    """H2O's thresholds_and_metric_scores columns as a dict of arrays ("predict 1 iff p >= threshold")."""
    P, N = (tps[-1], fps[-1]) if tps.size else (0.0, 0.0)
    tp, fp = tps, fps
    fn, tn = P - tp, N - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = tp / (tp + fp)
        rec = tp / (tp + fn)
        spec = tn / (tn + fp)

        def fbeta(b):
            return (1 + b * b) * prec * rec / (b * b * prec + rec)

        num = tp * tn - fp * fn
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = np.where(num == 0, 0.0, np.abs(num / den))
        cols = {
            "threshold": ths, "f1": fbeta(1.0), "f2": fbeta(2.0), "f0point5": fbeta(0.5),
            "accuracy": (tp + tn) / (tp + fp + fn + tn), "precision": prec, "recall": rec,
            "specificity": spec, "absolute_mcc": mcc,
            "min_per_class_accuracy": np.minimum(rec, spec), "mean_per_class_accuracy": 0.5 * (rec + spec),
            "tns": tn, "fns": fn, "fps": fp, "tps": tp,
            "tnr": spec, "fnr": fn / (fn + tp), "fpr": fp / (fp + tn), "tpr": rec,
            "idx": np.arange(ths.shape[0]),
        }
    return cols


def max_criterion_index(values):
    """First index of the largest non-NaN value (H2O scans thresholds high to low, strict >)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or np.all(np.isnan(values)):
        return -1
    return int(np.nanargmax(values))


def _gains_lift_table(blocks_py, p1_range, total_w, pos_w):
    """H2O's gains/lift table from exact weighted quantiles of p1 (groups at GAINS_LIFT_PROBS)."""
    qblocks = _blocks_like(blocks_py, [_column(blocks_py, 1), _column(blocks_py, 2)])  # (p1, w), p1 NA-masked
    q = weighted_quantiles(qblocks, GAINS_LIFT_PROBS, total_w, p1_range[0], p1_range[1])
    thresholds = []
    for v in q:
        if not thresholds or v < thresholds[-1]:
            thresholds.append(v)
    thresholds = np.array(thresholds)
    groups = _reduce(blocks_py, _gains_partial, (thresholds,))
    return _gains_lift_from_groups(thresholds, groups, total_w, pos_w)


def _lift_top_group(blocks_py, p1_range, total_w, pos_w):
    """The gains/lift table's first lift (what the scoring history shows) without the table:
    only the top group's quantile and one group sum. Every number goes through the same
    arithmetic as in the table, so the value is the table's bit for bit."""
    qblocks = _blocks_like(blocks_py, [_column(blocks_py, 1), _column(blocks_py, 2)])
    q = weighted_quantiles(qblocks, GAINS_LIFT_PROBS[:1], total_w, p1_range[0], p1_range[1])
    groups = _reduce(blocks_py, _gains_partial, (np.array([q[0], -np.inf]),))
    if not groups[0, 0] > 0:  # an empty top group: the table's first row is a later group
        gains = _gains_lift_table(blocks_py, p1_range, total_w, pos_w)
        return gains["lift"][0] if gains.nrows else float("nan")
    obs, pos = groups[:1, 0], groups[:1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return (pos / obs / (pos_w / total_w))[0]


def _gains_partial(y, p1, w, thresholds):
    y = _f64(y).reshape(-1)
    return _gains_groups(_f64(p1).reshape(-1), y, _weights_or_ones(w, y.shape[0]), thresholds)


def _gains_lift_from_groups(thresholds, groups, total_w, pos_w):
    keep = groups[:, 0] > 0
    thr, obs, pos, sp = thresholds[keep], groups[keep, 0], groups[keep, 1], groups[keep, 2]
    neg_w = total_w - pos_w
    avg_rate = pos_w / total_w
    cobs, cpos, csp = np.cumsum(obs), np.cumsum(pos), np.cumsum(sp)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate, crate = pos / obs, cpos / cobs
        lift, clift = rate / avg_rate, crate / avg_rate
        cols = {
            "group": np.arange(1, thr.shape[0] + 1), "cumulative_data_fraction": cobs / total_w,
            "lower_threshold": thr, "lift": lift, "cumulative_lift": clift, "response_rate": rate,
            "score": sp / obs, "cumulative_response_rate": crate, "cumulative_score": csp / cobs,
            "capture_rate": pos / pos_w, "cumulative_capture_rate": cpos / pos_w,
            "gain": 100.0 * (lift - 1.0), "cumulative_gain": 100.0 * (clift - 1.0),
            "kolmogorov_smirnov": cpos / pos_w - (cobs - cpos) / neg_w,
        }
    df = pd.DataFrame(cols)
    desc = "Avg response rate: %.2f %%, avg score: %.2f %%" % (100.0 * avg_rate, 100.0 * csp[-1] / total_w)
    return H2OTwoDimTable.from_data_frame(df, table_header="Gains/Lift Table", table_description=desc)


# ----------------------------------------------------------------------------------------
# compute_metrics
# ----------------------------------------------------------------------------------------

def compute_metrics(kind, actual, preds, weights=None, domain=None, distribution="gaussian",
                    tweedie_power=1.5, quantile_alpha=0.5, huber_alpha=0.9, offset=None,
                    algo="", on="training_metrics", description=None, gains_lift=True):
    """H2O model metrics of ``preds`` against ``actual`` as dask reductions.

    kind: "regression" (preds (n,)), "binomial" (preds (n, 2) p0, p1 -- or (n,) p1), "multinomial"
    (preds (n, K)), "autoencoder" (preds = per-row reconstruction error (n,) with actual None, or
    actual (n, p) inputs and preds (n, p) reconstructions). actual is the float class index for
    classification (NaN = NA). Rows with NA actual, NA prediction or zero/NA weight are skipped.
    ``offset`` is accepted because callers pass it, but the predictions already include it.
    ``algo``/``on`` label the printed block ("ModelMetricsBinomial: gbm ** Reported on train data. **").
    ``gains_lift=False`` (binomial, for scoring during training) leaves out the gains/lift table
    but keeps lift_top_group; ``add_gains_lift`` fills the table in later from the same inputs.
    """
    if kind not in KINDS:
        raise ValueError("metrics kind must be one of %s, got %r" % (KINDS, kind))
    preds = _as_dask(preds, "preds")
    actual = _as_dask(actual, "actual")
    weights = _as_dask(weights, "weights")
    if preds is None:
        raise ValueError("preds is required to compute metrics")
    if kind != "autoencoder" and actual is None:
        raise ValueError("actual (the response) is required for %s metrics" % kind)
    if weights is not None and weights.ndim != 1:
        raise ValueError("weights must be a 1-d array, got shape %s" % (weights.shape,))
    label = dict(algo=algo, on=on, description=description)
    if kind == "regression":
        return _regression(actual, preds, weights, distribution, tweedie_power, quantile_alpha, huber_alpha, label)
    if kind == "binomial":
        return _binomial(actual, preds, weights, domain, label, gains_lift)
    if kind == "multinomial":
        return _multinomial(actual, preds, weights, domain, label)
    return _autoencoder(actual, preds, weights, label)


def compute_metrics_on_chunks(ex, kind, actual, preds, weights=None, domain=None, distribution="gaussian",
                              tweedie_power=1.5, quantile_alpha=0.5, huber_alpha=0.9, algo="",
                              on="training_metrics", description=None, gains_lift=True):
    """``compute_metrics`` over per-chunk values an executor holds (lists in chunk order, of
    arrays or the executor's handles): preds per chunk (n,) for regression, (n, K) class
    probabilities for classification, (n,) per-row reconstruction error for "autoencoder"
    (actual None). The passes run as the executor's steps (see ``ChunkBlocks``); the result
    equals compute_metrics on the same values as dask arrays cut at the chunks. Returns the
    metrics; binomial ones computed with ``gains_lift=False`` take ``add_gains_lift(metrics,
    chunk_blocks(...))`` later."""
    if kind not in KINDS:
        raise ValueError("metrics kind must be one of %s, got %r" % (KINDS, kind))
    if kind in ("binomial", "multinomial") and domain is None:
        raise ValueError("%s metrics on chunks need the response domain (its class labels)" % kind)
    blocks = chunk_blocks(ex, actual, preds, weights)
    label = dict(algo=algo, on=on, description=description)
    if kind == "regression":
        dist = _regression_distribution(distribution)
        return _regression_of(blocks, dist, tweedie_power, quantile_alpha, huber_alpha, label)
    if kind == "binomial":
        return _binomial_of(blocks, domain, label, gains_lift)
    if kind == "multinomial":
        return _multinomial_of(blocks, len(domain), domain, label)
    acc = _reduce(_blocks_like(blocks, [_column(blocks, 1), _column(blocks, 2)]), _partial_autoencoder, (),
                  "autoencoder")["acc"]
    return H2OAutoEncoderModelMetrics._from_acc(acc, **label)


def chunk_blocks(ex, actual, preds, weights=None) -> ChunkBlocks:
    """(actual, preds, weights) per-chunk values as the blocks metric passes run over."""
    return ChunkBlocks(ex, (actual, preds, weights))


def _check_1d(a, name):
    if a.ndim != 1 and not (a.ndim == 2 and a.shape[1] == 1):
        raise ValueError("%s must be one column (n,), got shape %s" % (name, a.shape))
    return a[:, 0] if a.ndim == 2 else a  # slicing keeps unknown chunk sizes working


def _regression(actual, preds, weights, distribution, power, alpha, huber_alpha, label):
    dist = _regression_distribution(distribution)
    actual = _check_1d(actual, "actual")
    preds = _check_1d(preds, "preds")
    if dist == "huber":
        actual, preds, weights = _persist(actual, preds, weights)
    return _regression_of(_aligned_blocks([actual, preds, weights]), dist, power, alpha, huber_alpha, label)


def _regression_distribution(distribution):
    dist = str(distribution).lower()
    dist = "gaussian" if dist == "auto" else dist
    if dist not in DISTRIBUTIONS:
        raise ValueError("distribution %r is not supported yet for regression metrics; use one of %s"
                         % (distribution, DISTRIBUTIONS))
    return dist


def _abs_residual(y, p):
    return np.abs(_f64(y).reshape(-1) - _f64(p).reshape(-1))


def _regression_of(blocks, dist, power, alpha, huber_alpha, label):
    code = DISTRIBUTIONS.index(dist)
    acc = _reduce(blocks, _partial_regression_chunk, (code, power, alpha, 0.0), "regression")["acc"]
    delta = float("nan")
    if dist == "huber" and acc[1] > 0:
        resid = _map_columns(blocks, _abs_residual, (0, 1), "metrics-abs-residual")
        rblocks = _blocks_like(blocks, [resid, _column(blocks, 2)])
        rng = _reduce(rblocks, _absrange_partial, (), "minmax")
        delta = float(weighted_quantiles(rblocks, [huber_alpha], acc[1], rng[0], rng[1])[0])
        acc = _reduce(blocks, _partial_regression_chunk, (code, power, alpha, delta), "regression")["acc"]
    return H2ORegressionModelMetrics._from_acc(acc, dist, delta, **label)


def _absrange_partial(x, w):
    x = _f64(x).reshape(-1)
    ok = ~np.isnan(x)
    if w is not None:
        w = _f64(w).reshape(-1)
        ok &= ~np.isnan(w) & (w != 0)
    x = x[ok]
    return np.array([x.min(), x.max()]) if x.size else np.array([np.inf, -np.inf])


def _binomial_inputs(actual, preds, weights):
    actual = _check_1d(actual, "actual")
    if preds.ndim == 2 and preds.shape[1] not in (1, 2, 3):
        raise ValueError("binomial predictions must be (n, 2) class probabilities or (n,) p1; got shape %s"
                         % (preds.shape,))
    if preds.ndim == 2 and preds.shape[1] == 1:
        preds = preds[:, 0]
    return _persist(actual, preds, weights)


def _masked_p1(y, p):
    p = np.asarray(p)
    p1 = p if p.ndim == 1 else p[:, -1]
    return np.where(np.isnan(np.asarray(y, dtype=np.float64).reshape(-1)), np.nan, _f64(p1))


def _gains_blocks(blocks):
    """(y, p1, w) blocks of (y, p, w) ones, p1 masked to NaN where the response is NA."""
    p1 = _map_columns(blocks, _masked_p1, (0, 1), "metrics-masked-p1")
    return _blocks_like(blocks, [_column(blocks, 0), p1, _column(blocks, 2)])


def _binomial(actual, preds, weights, domain, label, gains_lift=True):
    actual, preds, weights = _binomial_inputs(actual, preds, weights)
    return _binomial_of(_aligned_blocks([actual, preds, weights]), domain, label, gains_lift)


def _binomial_of(blocks, domain, label, gains_lift):
    domain = _domain(domain, 2)
    res = _reduce(blocks, _partial_binomial, (), "binomial")
    acc = res["acc"]
    gains, lift_top, pending = None, float("nan"), None
    if acc[1] > 0:
        gl_blocks = _gains_blocks(blocks)
        pos_w = float(np.sum(res["bins"][2]))
        if gains_lift:
            gains = _gains_lift_table(gl_blocks, res["range"], acc[1], pos_w)
        else:
            lift_top = _lift_top_group(gl_blocks, res["range"], acc[1], pos_w)
            pending = (res["range"], acc[1], pos_w)
    metrics = H2OBinomialModelMetrics._from_parts(acc, res["bins"], gains, domain, lift_top, **label)
    metrics._gains_inputs = pending
    return metrics


def needs_gains_lift(metrics):
    """True for binomial metrics computed with ``gains_lift=False`` whose table is still missing."""
    return getattr(metrics, "_gains_inputs", None) is not None


def add_gains_lift(metrics, actual, preds=None, weights=None):
    """Fill in the gains/lift table of metrics computed with ``gains_lift=False``; ``actual``,
    ``preds`` and ``weights`` must be the ones they were computed from (or ``actual`` the
    ``ChunkBlocks`` they were). Returns ``metrics``."""
    if not needs_gains_lift(metrics):
        return metrics
    if isinstance(actual, ChunkBlocks):
        blocks = actual
    else:
        actual, preds, weights = _binomial_inputs(_as_dask(actual, "actual"), _as_dask(preds, "preds"),
                                                  _as_dask(weights, "weights"))
        blocks = _aligned_blocks([actual, preds, weights])
    gains = _gains_lift_table(_gains_blocks(blocks), *metrics._gains_inputs)
    metrics._metric_json["gains_lift_table"] = gains
    metrics._metric_json["lift_top_group"] = _lift_of(gains, float("nan"))
    metrics._gains_inputs = None
    return metrics


def _multinomial(actual, preds, weights, domain, label):
    actual = _check_1d(actual, "actual")
    if preds.ndim != 2 or preds.shape[1] < 2:
        raise ValueError("multinomial predictions must be (n, K) class probabilities, got shape %s"
                         % (preds.shape,))
    return _multinomial_of(_aligned_blocks([actual, preds, weights]), preds.shape[1], domain, label)


def _multinomial_of(blocks, K, domain, label):
    domain = _domain(domain, K)
    topk = min(10, K)
    res = _reduce(blocks, _partial_multinomial, (topk,), "multinomial")
    return H2OMultinomialModelMetrics._from_parts(res["acc"], res["cm"], res["hits"], domain, **label)


def _autoencoder(actual, preds, weights, label):
    if actual is not None:
        if actual.ndim != 2 or preds.ndim != 2 or actual.shape[1] != preds.shape[1]:
            raise ValueError("autoencoder metrics need actual and reconstruction of the same (n, p) shape; "
                             "got %s and %s" % (actual.shape, preds.shape))
        actual = actual.rechunk({1: -1})
        preds = preds.rechunk({0: actual.chunks[0], 1: -1})
        err = da.map_blocks(lambda x, r: _row_mse(_f64(x), _f64(r)), actual, preds, drop_axis=1,
                            dtype=np.float64, name="reconstruction-mse")
    else:
        err = _check_1d(preds, "preds")
    blocks = _aligned_blocks([err, weights])
    acc = _reduce(blocks, _partial_autoencoder, (), "autoencoder")["acc"]
    return H2OAutoEncoderModelMetrics._from_acc(acc, **label)


def _domain(domain, k):
    if domain is None:
        return [str(i) for i in range(k)]
    domain = [str(d) for d in domain]
    if len(domain) != k:
        raise ValueError("domain has %d labels but the predictions have %d classes" % (len(domain), k))
    return domain


# ----------------------------------------------------------------------------------------
# Metrics objects (the h2o client's API)
# ----------------------------------------------------------------------------------------

_ON = {"training_metrics": "train", "validation_metrics": "validation",
       "cross_validation_metrics": "cross-validation", "train": "train", "valid": "validation",
       "validation": "validation", "xval": "cross-validation", "cross-validation": "cross-validation",
       None: "test", "test": "test"}


class _ValueList(list):
    """A list of [threshold, value] pairs that also carries ``.value`` (the h2o client's List)."""


class MetricsBase:
    """Common part of the H2O metrics objects: the metrics dict under H2O's JSON names."""

    _schema = "ModelMetrics"

    def __init__(self, metric_json, algo="", on="training_metrics", description=None):
        if on not in _ON:
            raise ValueError("on must be one of %s, got %r" % (sorted(k for k in _ON if k), on))
        self._metric_json = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in metric_json.items()}
        self._algo = algo
        self._on = _ON[on]
        self._metric_json.setdefault("description", description)
        self._metric_json.setdefault("__meta", {"schema_type": self._schema})

    def __getitem__(self, key):
        return self._metric_json.get(key)

    def mse(self):
        return self._metric_json["MSE"]

    def rmse(self):
        return self._metric_json["RMSE"]

    def nobs(self):
        return self._metric_json["nobs"]

    def r2(self):
        return self._metric_json["r2"]

    def logloss(self):
        return self._metric_json["logloss"]

    def mae(self):
        return self._metric_json["mae"]

    def rmsle(self):
        return self._metric_json["rmsle"]

    def mean_residual_deviance(self):
        return self._metric_json["mean_residual_deviance"]

    def residual_deviance(self):
        return self._metric_json.get("residual_deviance")

    def auc(self):
        return self._metric_json["AUC"]

    def aucpr(self):
        return self._metric_json["pr_auc"]

    pr_auc = aucpr

    def gini(self):
        return self._metric_json["Gini"]

    def aic(self):
        return self._metric_json.get("AIC", float("nan"))

    def loglikelihood(self):
        return self._metric_json.get("loglikelihood", float("nan"))

    def custom_metric_name(self):
        return None

    def custom_metric_value(self):
        return None

    def _mean_per_class_error(self):
        return self._metric_json["mean_per_class_error"]

    def mean_per_class_error(self):
        return self._metric_json["mean_per_class_error"]

    def _header_items(self):
        return ["%s: %s" % (self._schema, self._algo), "** Reported on %s data. **" % self._on, ""]

    def _str_items(self):
        return self._header_items() + ["MSE: %s" % self.mse(), "RMSE: %s" % self.rmse()]

    def __str__(self):
        parts = []
        for item in self._str_items():
            parts.append(item if isinstance(item, str) else "\n" + str(item))
        return "\n".join(parts)

    __repr__ = __str__

    def show(self):
        print(str(self))

class H2ORegressionModelMetrics(MetricsBase):
    _schema = "ModelMetricsRegression"

    @classmethod
    def _from_acc(cls, acc, distribution="gaussian", huber_delta=float("nan"), **label):
        nobs, sw = int(acc[0]), acc[1]
        nan = float("nan")
        mse = acc[2] / sw if sw > 0 else nan
        var = acc[9] / acc[7] if acc[7] > 0 else nan
        mrd = acc[6] / sw if sw > 0 else nan
        js = {
            "MSE": mse, "RMSE": math.sqrt(mse) if sw > 0 else nan,
            "mae": acc[3] / sw if sw > 0 else nan,
            "rmsle": nan if acc[5] or sw == 0 else math.sqrt(acc[4] / sw),
            "mean_residual_deviance": mrd, "residual_deviance": mrd * sw if sw > 0 else nan,
            "r2": 1.0 - mse / var if var > 0 else nan,
            "nobs": nobs, "distribution": distribution, "huber_delta": huber_delta,
            "AIC": nan, "loglikelihood": nan,
        }
        return cls(js, **label)

    def _str_items(self):
        return super()._str_items() + ["MAE: %s" % self.mae(), "RMSLE: %s" % self.rmsle(),
                                       "Mean Residual Deviance: %s" % self.mean_residual_deviance()]

    def _as_dict(self):
        js = self._metric_json
        return {"aic": js["AIC"], "loglikelihood": js["loglikelihood"], "mae": js["mae"],
                "mean_residual_deviance": js["mean_residual_deviance"], "mse": js["MSE"], "r2": js["r2"],
                "residual_deviance": js["residual_deviance"], "rmse": js["RMSE"], "rmsle": js["rmsle"],
                "nobs": js["nobs"]}


class H2OAutoEncoderModelMetrics(MetricsBase):
    _schema = "ModelMetricsAutoEncoder"

    @classmethod
    def _from_acc(cls, acc, **label):
        sw = acc[1]
        mse = acc[2] / sw if sw > 0 else float("nan")
        return cls({"MSE": mse, "RMSE": math.sqrt(mse) if sw > 0 else float("nan"), "nobs": int(acc[0])},
                   **label)

    def _as_dict(self):
        return {"mse": self.mse(), "rmse": self.rmse(), "nobs": self.nobs()}


def _class_scalars(acc):
    nobs, sw = int(acc[0]), acc[1]
    nan = float("nan")
    mse = acc[3] / sw if sw > 0 else nan
    var = acc[6] / acc[4] if acc[4] > 0 else nan
    return {"nobs": nobs, "MSE": mse, "RMSE": math.sqrt(mse) if sw > 0 else nan,
            "logloss": acc[2] / sw if sw > 0 else nan, "r2": 1.0 - mse / var if var > 0 else nan,
            "AIC": nan, "loglikelihood": nan}


class H2OMultinomialModelMetrics(MetricsBase):
    _schema = "ModelMetricsMultinomial"

    @classmethod
    def _from_parts(cls, acc, cm, hits, domain, **label):
        js = _class_scalars(acc)
        sw = acc[1]
        row_tot = cm.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            class_err = 1.0 - np.diag(cm) / row_tot
        present = row_tot > 0
        err_w = cm.sum() - np.trace(cm)
        js.update({
            "cm": {"table": _multinomial_cm_table(cm, domain)}, "confusion_matrix": cm, "domain": domain,
            "err": err_w / cm.sum() if cm.sum() > 0 else float("nan"), "err_count": err_w,
            "mean_per_class_error": float(np.mean(class_err[present])) if present.any() else float("nan"),
            "max_per_class_error": float(np.max(class_err[present])) if present.any() else float("nan"),
            "hit_ratio_table": _hit_ratio_table(hits, sw), "hit_ratios": list(np.cumsum(hits) / sw),
            "AUC": float("nan"), "pr_auc": float("nan"),
            "multinomial_auc_table": None, "multinomial_aucpr_table": None,
        })
        return cls(js, **label)

    def confusion_matrix(self):
        return self._metric_json["cm"]["table"]

    def hit_ratio_table(self):
        return self._metric_json["hit_ratio_table"]

    def multinomial_auc_table(self):
        return ("AUC table was not computed: it is either disabled (model parameter 'auc_type' was set to AUTO "
                "or NONE) or the domain size exceeds the limit (maximum is 50 domains).")

    def multinomial_aucpr_table(self):
        return ("AUCPR table was not computed: it is either disabled (model parameter 'auc_type' was set to "
                "AUTO or NONE) or the domain size exceeds the limit (maximum is 50 domains).")

    def _str_items(self):
        return super()._str_items() + [
            "LogLoss: %s" % self.logloss(), "Mean Per-Class Error: %s" % self._mean_per_class_error(),
            self.multinomial_auc_table(), self.multinomial_aucpr_table(),
            self.confusion_matrix(), self.hit_ratio_table()]

    def _as_dict(self):
        js = self._metric_json
        return {"accuracy": 1.0 - js["err"], "aic": js["AIC"], "auc": js["AUC"], "err": js["err"],
                "err_count": js["err_count"], "loglikelihood": js["loglikelihood"], "logloss": js["logloss"],
                "max_per_class_error": js["max_per_class_error"],
                "mean_per_class_accuracy": 1.0 - js["mean_per_class_error"],
                "mean_per_class_error": js["mean_per_class_error"], "mse": js["MSE"], "pr_auc": js["pr_auc"],
                "r2": js["r2"], "rmse": js["RMSE"], "nobs": js["nobs"]}


def _count(v):
    v = float(v)
    return int(v) if v.is_integer() else v


def _multinomial_cm_table(cm, domain):
    K = len(domain)
    rows = []
    for i in range(K + 1):
        counts = cm[i] if i < K else cm.sum(axis=0)
        total = counts.sum()
        wrong = total - (counts[i] if i < K else np.trace(cm))
        err = wrong / total if total > 0 else float("nan")
        rows.append([float(c) for c in counts] + [float(err), "%s / %s" % (_count(wrong), _count(total))])
    return H2OTwoDimTable(table_header="Confusion Matrix",
                          table_description="Row labels: Actual class; Column labels: Predicted class",
                          col_header=list(domain) + ["Error", "Rate"], cell_values=rows)


def _hit_ratio_table(hits, sw):
    ratios = np.cumsum(hits) / sw if sw > 0 else np.full(hits.shape, np.nan)
    rows = [[k + 1, float(r)] for k, r in enumerate(ratios)]
    return H2OTwoDimTable(table_header="Top-%d Hit Ratios" % len(hits), table_description="",
                          col_header=["k", "hit_ratio"],
                          cell_values=rows)


class H2OBinomialModelMetrics(MetricsBase):
    _schema = "ModelMetricsBinomial"

    metrics_aliases = dict(fallout="fpr", missrate="fnr", recall="tpr", sensitivity="tpr", specificity="tnr")
    maximizing_metrics = ("absolute_mcc", "accuracy", "precision", "f0point5", "f1", "f2",
                          "mean_per_class_accuracy", "min_per_class_accuracy", "tns", "fns", "fps", "tps",
                          "tnr", "fnr", "fpr", "tpr") + tuple(metrics_aliases)

    @classmethod
    def _from_parts(cls, acc, bins, gains, domain, lift_top=float("nan"), **label):
        js = _class_scalars(acc)
        ths, tps, fps = auc_curve(bins)
        auc = auc_from_curve(tps, fps)
        cols = threshold_scores(ths, tps, fps)
        thr_table = _table_from_columns(cols, THRESHOLD_COLUMNS, "Metrics for Thresholds",
                                        "Binomial metrics as a function of classification thresholds")
        crit_rows = []
        for name in MAX_CRITERIA:
            i = max_criterion_index(cols[name])
            if i >= 0:
                crit_rows.append(["max " + name, float(ths[i]), _plain_num(cols[name][i]), i])
        crit_table = H2OTwoDimTable(table_header="Maximum Metrics",
                                    table_description="Maximum metrics at their respective thresholds",
                                    col_header=["metric", "threshold", "value", "idx"], cell_values=crit_rows)
        i = max_criterion_index(cols["f1"])
        js.update({
            "AUC": auc, "pr_auc": pr_auc_from_curve(tps, fps), "Gini": 2.0 * auc - 1.0, "domain": domain,
            "thresholds_and_metric_scores": thr_table, "max_criteria_and_metric_scores": crit_table,
            "gains_lift_table": gains, "_curve": (ths, tps, fps), "_max_f1_idx": i,
        })
        js.update(_at_threshold(cols, i))
        js["lift_top_group"] = _lift_of(gains, lift_top)
        return cls(js, **label)

    # --- threshold-based metrics ([[threshold, value]]) ---
    def metric(self, metric, thresholds=None):
        if metric not in self.maximizing_metrics:
            raise ValueError("The only allowable metrics are %s" % ", ".join(self.maximizing_metrics))
        name = self.metrics_aliases.get(metric, metric)
        scalar = thresholds is None or isinstance(thresholds, (int, float))
        table = self._metric_json["thresholds_and_metric_scores"]
        out = _ValueList()
        if isinstance(thresholds, str):
            if thresholds != "all":
                raise ValueError("thresholds must be None, 'all', a number or a list of numbers")
            out.extend([t, v] for t, v in zip(table["threshold"], table[name]))
        else:
            if thresholds is None:
                thresholds = [self.find_threshold_by_max_metric(name)]
            elif isinstance(thresholds, (int, float)):
                thresholds = [thresholds]
            column = table[name]
            for t in thresholds:
                out.append([t, column[self.find_idx_by_threshold(t)]])
        out.value = out[0][1] if scalar and out else [r[1] for r in out]
        return out

    @staticmethod
    def _accuracy_to_error(accuracies):
        errors = _ValueList([a[0], 1 - a[1]] for a in accuracies)
        v = accuracies.value
        errors.value = [1 - x for x in v] if isinstance(v, list) else 1 - v
        return errors

    def F1(self, thresholds=None):
        return self.metric("f1", thresholds)

    def F2(self, thresholds=None):
        return self.metric("f2", thresholds)

    def F0point5(self, thresholds=None):
        return self.metric("f0point5", thresholds)

    def accuracy(self, thresholds=None):
        return self.metric("accuracy", thresholds)

    def error(self, thresholds=None):
        return self._accuracy_to_error(self.metric("accuracy", thresholds))

    def precision(self, thresholds=None):
        return self.metric("precision", thresholds)

    def recall(self, thresholds=None):
        return self.metric("recall", thresholds)

    def sensitivity(self, thresholds=None):
        return self.metric("sensitivity", thresholds)

    def specificity(self, thresholds=None):
        return self.metric("specificity", thresholds)

    def fallout(self, thresholds=None):
        return self.metric("fallout", thresholds)

    def missrate(self, thresholds=None):
        return self.metric("missrate", thresholds)

    def tpr(self, thresholds=None):
        return self.metric("tpr", thresholds)

    def tnr(self, thresholds=None):
        return self.metric("tnr", thresholds)

    def fpr(self, thresholds=None):
        return self.metric("fpr", thresholds)

    def fnr(self, thresholds=None):
        return self.metric("fnr", thresholds)

    def mcc(self, thresholds=None):
        return self.metric("absolute_mcc", thresholds)

    def max_per_class_error(self, thresholds=None):
        return self._accuracy_to_error(self.metric("min_per_class_accuracy", thresholds))

    def mean_per_class_error(self, thresholds=None):
        return self._accuracy_to_error(self.metric("mean_per_class_accuracy", thresholds))

    def find_threshold_by_max_metric(self, metric):
        name = self.metrics_aliases.get(metric, metric)
        for row in self._metric_json["max_criteria_and_metric_scores"].cell_values:
            if row[0] == "max " + name.lower():
                return row[1]
        raise ValueError("No metric " + str(metric.lower()))

    def find_idx_by_threshold(self, threshold):
        if not isinstance(threshold, (int, float, np.floating)):
            raise TypeError("threshold must be a number, got %r" % (threshold,))
        ths = [float(t) for t in self._metric_json["thresholds_and_metric_scores"]["threshold"]]
        for i, t in enumerate(ths):
            if abs(t - threshold) < 1e-8 * max(t, threshold):
                return i
        if 0 <= threshold <= 1 and ths:
            diffs = [abs(t - threshold) for t in ths]
            i = diffs.index(min(diffs))
            print("Could not find exact threshold {0}; using closest threshold found {1}.".format(threshold, ths[i]))
            return i
        raise ValueError("Threshold must be between 0 and 1, but got {0} ".format(threshold))

    def confusion_matrix(self, metrics=None, thresholds=None):
        table = self._metric_json["thresholds_and_metric_scores"]
        if table is None or not len(table):
            return None
        if metrics is None and thresholds is None:
            metrics = ["f1"]
        metrics = [] if metrics is None else (list(metrics) if isinstance(metrics, (list, tuple)) else [metrics])
        thresholds = [] if thresholds is None else (
            list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds])
        for t in thresholds:
            if not 0 <= t <= 1:
                raise ValueError("confusion_matrix thresholds must be in [0, 1], got %r" % (t,))
        for m in metrics:
            if m.lower() not in self.maximizing_metrics:
                raise ValueError("The only allowable metrics are %s" % ", ".join(self.maximizing_metrics))
        requested = [(t, None) for t in thresholds] + [(self.find_threshold_by_max_metric(m), m) for m in metrics]
        cms = []
        for t, m in requested:
            idx = self.find_idx_by_threshold(t)
            row = table.cell_values[idx]
            tns, fns, fps, tps = row[11], row[12], row[13], row[14]
            if m is None:
                header = "Confusion Matrix (Act/Pred) @ threshold = %s" % row[0]
            else:
                header = "Confusion Matrix (Act/Pred) for max %s @ threshold = %s" % (m, row[0])
            cms.append(ConfusionMatrix([[tns, fps], [fns, tps]], domains=self._metric_json["domain"],
                                       table_header=header))
        return cms[0] if len(cms) == 1 else cms

    def thresholds_and_metric_scores(self):
        return self._metric_json["thresholds_and_metric_scores"]

    def gains_lift(self):
        return self._metric_json["gains_lift_table"]

    @property
    def fprs(self):
        return self._metric_json["thresholds_and_metric_scores"]["fpr"]

    @property
    def tprs(self):
        return self._metric_json["thresholds_and_metric_scores"]["tpr"]

    def roc(self):
        return self.fprs, self.tprs

    def max_f1_threshold(self):
        """The default decision threshold of a binomial model (0.5 when there are no bins)."""
        i = self._metric_json["_max_f1_idx"]
        return float(self._metric_json["_curve"][0][i]) if i >= 0 else 0.5

    def _str_items(self):
        items = super()._str_items() + [
            "LogLoss: %s" % self.logloss(), "Mean Per-Class Error: %s" % self._mean_per_class_error(),
            "AUC: %s" % self.auc(), "AUCPR: %s" % self.aucpr(), "Gini: %s" % self.gini()]
        if self._metric_json["_max_f1_idx"] >= 0:
            items.append(self.confusion_matrix())
            items.append(self._metric_json["max_criteria_and_metric_scores"])
        if self.gains_lift() is not None:
            items.append(self.gains_lift())
        return items

    def _as_dict(self):
        js = self._metric_json
        keys = ("accuracy", "err", "err_count", "f0point5", "f1", "f2", "lift_top_group", "max_per_class_error",
                "mcc", "mean_per_class_accuracy", "mean_per_class_error", "precision", "recall", "specificity")
        out = {k: js[k] for k in keys}
        out.update({"aic": js["AIC"], "auc": js["AUC"], "loglikelihood": js["loglikelihood"],
                    "logloss": js["logloss"], "mse": js["MSE"], "pr_auc": js["pr_auc"], "r2": js["r2"],
                    "rmse": js["RMSE"], "gini": js["Gini"], "nobs": js["nobs"]})
        return out


def _lift_of(gains, otherwise):
    v = gains["lift"][0] if gains is not None and gains.nrows else otherwise
    return v.item() if isinstance(v, np.generic) else v


def _plain_num(v):
    v = v.item() if isinstance(v, np.generic) else v
    return float(v)


def _table_from_columns(cols, names, header, description):
    # whole columns to Python numbers at once: the same floats as _plain_num cell by cell
    columns = [np.asarray(cols[n], dtype=np.int64 if n == "idx" else np.float64).tolist() for n in names]
    rows = [list(r) for r in zip(*columns)]
    return H2OTwoDimTable(table_header=header, table_description=description, col_header=list(names),
                          cell_values=rows)


def _at_threshold(cols, i):
    """Scalar metrics of the confusion matrix at threshold index i (the max-F1 one)."""
    nan = float("nan")
    if i < 0:
        return {k: nan for k in ("accuracy", "err", "err_count", "f0point5", "f1", "f2", "max_per_class_error",
                                 "mcc", "mean_per_class_accuracy", "mean_per_class_error", "precision",
                                 "recall", "specificity")}
    g = lambda name: float(cols[name][i])
    return {"accuracy": g("accuracy"), "err": 1.0 - g("accuracy"), "err_count": g("fps") + g("fns"),
            "f0point5": g("f0point5"), "f1": g("f1"), "f2": g("f2"),
            "max_per_class_error": 1.0 - g("min_per_class_accuracy"), "mcc": g("absolute_mcc"),
            "mean_per_class_accuracy": g("mean_per_class_accuracy"),
            "mean_per_class_error": 1.0 - g("mean_per_class_accuracy"), "precision": g("precision"),
            "recall": g("recall"), "specificity": g("specificity")}


def make_metrics_object(kind, metric_json, algo="", on="training_metrics"):
    """Rebuild a metrics object from its ``_metric_json`` dict (e.g. after loading a saved model)."""
    cls = {"regression": H2ORegressionModelMetrics, "binomial": H2OBinomialModelMetrics,
           "multinomial": H2OMultinomialModelMetrics, "autoencoder": H2OAutoEncoderModelMetrics}[kind]
    return cls(dict(metric_json), algo=algo, on=on)

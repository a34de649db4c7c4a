"""H2O GBM distributions: links, initial value f0, pseudo-residuals, leaf values.

Every distribution is an integer code so numba kernels can branch on it. Per row the
kernels give the pseudo-residual z (H2O's negHalfGradient, stored float32) and the two
Newton terms whose per-leaf sums give the leaf value γ (spec gbm.md §4, §5, §8).
Quantile-type leaves (laplace, quantile, huber) use weighted quantiles instead.
Scores f passed to kernels are in link space and already include the offset.
"""
import math

import numpy as np
from numba import njit

GAUSSIAN, BERNOULLI, QUASIBINOMIAL, MULTINOMIAL = 0, 1, 2, 3
POISSON, GAMMA, TWEEDIE, LAPLACE, QUANTILE, HUBER = 4, 5, 6, 7, 8, 9

DISTRIBUTIONS = {
    "gaussian": GAUSSIAN, "bernoulli": BERNOULLI, "quasibinomial": QUASIBINOMIAL,
    "multinomial": MULTINOMIAL, "poisson": POISSON, "gamma": GAMMA, "tweedie": TWEEDIE,
    "laplace": LAPLACE, "quantile": QUANTILE, "huber": HUBER,
}
LOG_LINK = (POISSON, GAMMA, TWEEDIE)
QUANTILE_LEAVES = (LAPLACE, QUANTILE, HUBER)
_NUMERIC_ONLY = ("gaussian", "poisson", "gamma", "tweedie", "laplace", "quantile", "huber")
MAX_EXP = 1e19
LOG_FLOOR = -19.0


def dist_code(name):
    """Integer code of a distribution name (case-insensitive, non-letters ignored)."""
    key = "".join(c for c in str(name).lower() if c.isalpha())
    if key not in DISTRIBUTIONS:
        raise ValueError(f"distribution={name!r} is not supported yet; use one of "
                         f"{sorted(DISTRIBUTIONS)} or 'AUTO'")
    return DISTRIBUTIONS[key]


def check_distribution(dist, response_kind, nclasses, y_min, tweedie_power=1.5,
                       quantile_alpha=0.5, huber_alpha=0.9):
    """Resolve AUTO and check the distribution fits the response; returns the name.

    response_kind: "numeric" or "categorical"; nclasses: number of levels of a
    categorical response, or of distinct values of a numeric one (only quasibinomial
    looks at it); y_min: smallest response value (numeric responses).
    """
    key = "".join(c for c in str(dist).lower() if c.isalpha())
    if response_kind not in ("numeric", "categorical"):
        raise ValueError(f"response_kind must be 'numeric' or 'categorical', got {response_kind!r}")
    if key == "auto":
        if response_kind == "numeric":
            return "gaussian"
        return "bernoulli" if nclasses == 2 else "multinomial"
    dist_code(key)
    if key == "bernoulli" and (response_kind != "categorical" or nclasses != 2):
        raise ValueError("distribution='bernoulli' needs a categorical response with exactly 2 "
                         f"levels (got {response_kind} with {nclasses}); convert it with "
                         "asfactor() "
                         "or use multinomial/gaussian")
    if key == "quasibinomial" and (response_kind != "numeric" or nclasses != 2):
        raise ValueError("distribution='quasibinomial' needs a numeric response with exactly 2 "
                         f"distinct values (got {response_kind} with {nclasses})")
    if key == "multinomial" and response_kind != "categorical":
        raise ValueError("distribution='multinomial' needs a categorical response; convert the "
                         "response with asfactor()")
    if key in _NUMERIC_ONLY and response_kind != "numeric":
        raise ValueError(f"distribution={key!r} needs a numeric response; use 'bernoulli' or "
                         "'multinomial' for a categorical response")
    if key in ("poisson", "tweedie") and y_min < 0:
        raise ValueError(f"distribution={key!r} needs a non-negative response (min is {y_min})")
    if key == "gamma" and y_min <= 0:
        raise ValueError(f"distribution='gamma' needs a positive response (min is {y_min})")
    if key == "tweedie" and not 1.0 < tweedie_power < 2.0:
        raise ValueError(f"tweedie_power must be in (1, 2), got {tweedie_power}")
    if key == "quantile" and not 0.0 <= quantile_alpha <= 1.0:
        raise ValueError(f"quantile_alpha must be in [0, 1], got {quantile_alpha}")
    if key == "huber" and not 0.0 <= huber_alpha <= 1.0:
        raise ValueError(f"huber_alpha must be in [0, 1], got {huber_alpha}")
    return key


@njit(nogil=True, cache=True)
def _exp(x):
    # H2O caps exp at 1e19 so log-link scores never overflow to inf
    return min(MAX_EXP, math.exp(x))


@njit(nogil=True, cache=True)
def _log(x):
    # H2O's sanitised log: log(max(x, 0)) floored at -19
    if x <= 0.0:
        return LOG_FLOOR
    return max(LOG_FLOOR, math.log(x))


def link_inv(dist, f):
    """Response-scale prediction from link-space scores (2-class families give p1)."""
    f = np.asarray(f, dtype=np.float64)
    if dist in LOG_LINK:
        return np.minimum(MAX_EXP, np.exp(f))
    if dist in (BERNOULLI, QUASIBINOMIAL):
        return 1.0 / (1.0 + np.exp(-f))
    return f.copy()


def link(dist, mu):
    """Link-space value of a response-scale value (inverse of link_inv)."""
    mu = np.asarray(mu, dtype=np.float64)
    if dist in LOG_LINK:
        return np.maximum(LOG_FLOOR, np.log(np.maximum(mu, 0.0)))
    if dist in (BERNOULLI, QUASIBINOMIAL):
        return np.log(mu / (1.0 - mu))
    return mu.copy()


def weighted_quantile(values, w, alpha):
    """H2O-style interpolated quantile with weights (type 7 when all weights are 1)."""
    values = np.asarray(values, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    keep = (w > 0) & ~np.isnan(values)
    return _weighted_quantile(values[keep], w[keep], float(alpha))


@njit(nogil=True, cache=True)
def _weighted_quantile(values, w, alpha):
    n = values.shape[0]
    if n == 0:
        return np.nan
    order = np.argsort(values, kind="mergesort")
    total = 0.0
    for i in range(n):
        total += w[i]
    # position in the weight-expanded sorted sample, as numpy's linear method does
    h = alpha * (total - 1.0)
    if h <= 0.0:
        return values[order[0]]
    lo_pos = math.floor(h)
    frac = h - lo_pos
    cum = 0.0
    lo_val = values[order[n - 1]]
    hi_val = lo_val
    found_lo = False
    for i in range(n):
        v = values[order[i]]
        cum += w[order[i]]
        if not found_lo and cum > lo_pos:
            lo_val = v
            found_lo = True
        if found_lo and cum > lo_pos + 1.0:
            hi_val = v
            break
    return lo_val + frac * (hi_val - lo_val)


def init_f(dist, y, w=None, offset=None, nclasses=1, quantile_alpha=0.5, tweedie_power=1.5):
    """H2O's initial score f0 (spec §4); y holds class indices for 2-class families."""
    dist = dist_code(dist) if isinstance(dist, str) else dist
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=np.float64)
    o = np.zeros_like(y) if offset is None else np.asarray(offset, dtype=np.float64)
    keep = (w != 0) & ~np.isnan(y)
    y, w, o = y[keep], w[keep], o[keep]
    sw = w.sum()
    has_offset = offset is not None and np.any(o != 0)
    if dist == GAUSSIAN:
        return float((w * (y - o)).sum() / sw)
    if dist in (BERNOULLI, QUASIBINOMIAL):
        if has_offset:
            p = 1.0 / (1.0 + np.exp(-o))
            return float((w * (y - p)).sum() / (w * p * (1 - p)).sum())
        mean = (w * y).sum() / sw
        return float(np.log(mean / (1.0 - mean)))
    if dist == MULTINOMIAL:
        if nclasses != 2:
            return 0.0
        mean = (w * y).sum() / sw
        return float(-0.5 * np.log(mean / (1.0 - mean)))
    if dist == POISSON:
        return _log((w * y).sum() / (w * np.exp(o)).sum())
    if dist == GAMMA:
        return _log((w * y * np.exp(-o)).sum() / sw)
    if dist == TWEEDIE:
        return init_f_tweedie(y, w, o, tweedie_power)
    if dist in (LAPLACE, HUBER):
        return float(weighted_quantile(y - o, w, 0.5))
    if dist == QUANTILE:
        return float(weighted_quantile(y - o, w, quantile_alpha))
    raise ValueError(f"unknown distribution code {dist}")


def init_f_tweedie(y, w=None, offset=None, power=1.5):
    """f0 of the tweedie distribution: log(Σw·y·e^{o(1−p)} / Σw·e^{o(2−p)})."""
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=np.float64)
    o = np.zeros_like(y) if offset is None else np.asarray(offset, dtype=np.float64)
    keep = (w != 0) & ~np.isnan(y)
    y, w, o = y[keep], w[keep], o[keep]
    return _log((w * y * np.exp(o * (1 - power))).sum() / (w * np.exp(o * (2 - power))).sum())


@njit(nogil=True, cache=True)
def _residual(dist, y, f, power, alpha, delta):
    if dist == GAUSSIAN:
        return y - f
    if dist == BERNOULLI:
        return y - 1.0 / (1.0 + math.exp(-f))
    if dist == QUASIBINOMIAL:
        p = 1.0 / (1.0 + math.exp(-f))
        if p == y:
            return 0.0
        if p > 1.0:
            return y / p
        if p < 0.0:
            return (1.0 - y) / (p - 1.0)
        return y - p
    if dist == MULTINOMIAL:
        # the 2-class multinomial: one score F for class 0, class 1 implicitly -F
        e = math.exp(-2.0 * f) if f > -300.0 else math.inf
        p0 = 1.0 / (1.0 + e)
        return (1.0 if y == 0.0 else 0.0) - p0
    if dist == POISSON:
        return y - _exp(f)
    if dist == GAMMA:
        return y * _exp(-f) - 1.0
    if dist == TWEEDIE:
        return y * _exp(f * (1.0 - power)) - _exp(f * (2.0 - power))
    if dist == LAPLACE:
        return 0.5 if f <= y else -0.5
    if dist == QUANTILE:
        return 0.5 * alpha if y > f else 0.5 * (alpha - 1.0)
    # huber
    d = y - f
    if abs(d) <= delta:
        return d
    return delta if d > 0 else -delta


@njit(nogil=True, cache=True)
def neg_half_gradient(dist, y, f, power=1.5, alpha=0.5, delta=1.0):
    """Pseudo-residuals z (float32) per row; f = score + offset in link space.

    For MULTINOMIAL this is the 2-class form (y = class index, f = class-0 score);
    K >= 3 classes use multinomial_residuals.
    """
    n = y.shape[0]
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        out[i] = _residual(dist, y[i], f[i], power, alpha, delta)
    return out


@njit(nogil=True, cache=True)
def softmax_rows(F):
    """Class probabilities from K scores per row, H2O's overflow rule included."""
    n, k = F.shape
    P = np.empty((n, k), dtype=np.float64)
    for i in range(n):
        m = F[i, 0]
        for j in range(1, k):
            m = max(m, F[i, j])
        s = 0.0
        for j in range(k):
            P[i, j] = math.exp(F[i, j] - m)
            s += P[i, j]
        if math.isinf(s) or math.isnan(s):
            for j in range(k):
                P[i, j] = 1.0 if math.isinf(F[i, j]) else 0.0
        else:
            for j in range(k):
                P[i, j] /= s
    return P


@njit(nogil=True, cache=True)
def multinomial_residuals(y, F):
    """Residuals 1{y=k} − P_k (float32, shape (n, K)) for K >= 3 classes."""
    P = softmax_rows(F)
    n, k = F.shape
    out = np.empty((n, k), dtype=np.float32)
    for i in range(n):
        for j in range(k):
            out[i, j] = (1.0 if y[i] == j else 0.0) - P[i, j]
    return out


@njit(nogil=True, cache=True)
def newton_terms(dist, y, z, f, power=1.5):
    """Per-row (numerator, denominator) of the Newton leaf value, unweighted (§8.1)."""
    n = y.shape[0]
    num = np.zeros(n, dtype=np.float64)
    den = np.zeros(n, dtype=np.float64)
    for i in range(n):
        zi = np.float64(z[i])
        if dist == BERNOULLI or dist == QUASIBINOMIAL:
            p = y[i] - zi
            num[i] = zi
            den[i] = p * (1.0 - p)
        elif dist == MULTINOMIAL:
            a = abs(zi)
            num[i] = zi
            den[i] = a * (1.0 - a)
        elif dist == POISSON:
            num[i] = y[i]
            den[i] = y[i] - zi
        elif dist == GAMMA:
            num[i] = zi + 1.0
            den[i] = 1.0
        elif dist == TWEEDIE:
            num[i] = y[i] * _exp(f[i] * (1.0 - power))
            den[i] = _exp(f[i] * (2.0 - power))
        else:
            num[i] = zi
            den[i] = 1.0
    return num, den


def newton_gamma(dist, num, den):
    """Leaf γ from per-leaf sums: num/den, or the link of it (H2O's sanitised log,
    floored at -19) for log-link families; den == 0 gives 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    g = num / np.where(den == 0, 1.0, den)
    if dist in LOG_LINK:
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.maximum(LOG_FLOOR, np.log(np.maximum(g, 0.0)))
    return np.where(den == 0, 0.0, g)


def finish_leaf_values(dist, gamma, lr, nclasses=1, max_abs_leafnode_pred=np.inf):
    """lr·m·γ with H2O's clipping; float32 (§8.1). nclasses > 1 only for multinomial."""
    m = (nclasses - 1.0) / nclasses if dist == MULTINOMIAL else 1.0
    v = lr * m * np.asarray(gamma, dtype=np.float64)
    if dist == MULTINOMIAL:
        v = np.clip(v, -1e4, 1e4)
    v = np.where(np.isnan(v), 0.0, v)
    v = np.where(np.isinf(v), np.sign(v) * 1e4, v)
    v = np.clip(v, -max_abs_leafnode_pred, max_abs_leafnode_pred)
    return v.astype(np.float32)


def truncate_log_leaves(dist, values, fmin, fmax):
    """Keep log-link scores within ±19 (§8.6); fmin/fmax per leaf of (F + offset)."""
    v = np.asarray(values, dtype=np.float64).copy()
    if dist not in LOG_LINK:
        return v.astype(np.float32)
    shift = dist in (GAMMA, TWEEDIE)
    hi = v + (fmax if shift else 0.0)
    v = np.where(hi > 19, 19 - fmax, v)
    lo = v + (fmin if shift else 0.0)
    v = np.where(lo < -19, -19 - fmin, v)
    return v.astype(np.float32)


def quantile_leaf_gammas(dist, leaf, d, w, n_leaves, alpha=0.5, delta=1.0):
    """Per-leaf γ of laplace/quantile/huber from rows' leaf index and d = y − F − offset.

    Rows with w <= 0 or NaN d are ignored; empty leaves get 0 (§8.3, §8.4).
    """
    leaf = np.asarray(leaf)
    d = np.asarray(d, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    keep = (w > 0) & ~np.isnan(d) & (leaf >= 0)
    leaf, d, w = leaf[keep], d[keep], w[keep]
    order = np.argsort(leaf, kind="stable")
    leaf, d, w = leaf[order], d[order], w[order]
    bounds = np.searchsorted(leaf, np.arange(n_leaves + 1))
    out = np.zeros(n_leaves)
    q = 0.5 if dist in (LAPLACE, HUBER) else alpha
    for j in range(n_leaves):
        a, b = bounds[j], bounds[j + 1]
        if a == b:
            continue
        med = _weighted_quantile(d[a:b], w[a:b], q)
        if dist == HUBER:
            r = d[a:b] - med
            med += (w[a:b] * np.sign(r) * np.minimum(np.abs(r), delta)).sum() / w[a:b].sum()
        out[j] = med
    return out


def huber_delta(y, f, w, huber_alpha):
    """Huber δ of the iteration: weighted huber_alpha-quantile of |y − f| (§8.4)."""
    return float(weighted_quantile(np.abs(np.asarray(y) - np.asarray(f)), w, huber_alpha))


@njit(nogil=True, cache=True)
def row_deviance(dist, y, f, power=1.5, alpha=0.5, delta=1.0):
    """Per-row deviance (the loss whose −½ gradient is neg_half_gradient)."""
    n = y.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        yi, fi = y[i], f[i]
        if dist == GAUSSIAN:
            out[i] = (yi - fi) ** 2
        elif dist == BERNOULLI or dist == QUASIBINOMIAL:
            # -2 log-likelihood written with log1p to stay finite for large |f|
            out[i] = 2.0 * (yi * _softplus(-fi) + (1.0 - yi) * _softplus(fi))
        elif dist == MULTINOMIAL:
            s = fi if yi == 0.0 else -fi
            out[i] = 2.0 * _softplus(-2.0 * s)
        elif dist == POISSON:
            mu = _exp(fi)
            t = yi * math.log(yi / mu) if yi > 0 else 0.0
            out[i] = 2.0 * (t - (yi - mu))
        elif dist == GAMMA:
            mu = _exp(fi)
            out[i] = 2.0 * (-math.log(yi / mu) + (yi - mu) / mu)
        elif dist == TWEEDIE:
            mu = _exp(fi)
            out[i] = 2.0 * (yi ** (2.0 - power) / ((1.0 - power) * (2.0 - power))
                            - yi * mu ** (1.0 - power) / (1.0 - power)
                            + mu ** (2.0 - power) / (2.0 - power))
        elif dist == LAPLACE:
            out[i] = abs(yi - fi)
        elif dist == QUANTILE:
            out[i] = (yi - fi) * (alpha - (1.0 if yi < fi else 0.0))
        else:
            d = abs(yi - fi)
            out[i] = d * d if d <= delta else 2.0 * delta * d - delta * delta
    return out


@njit(nogil=True, cache=True)
def _softplus(x):
    if x > 30.0:
        return x
    return math.log1p(math.exp(x))


def deviance(dist, y, f, w=None, power=1.5, alpha=0.5, delta=1.0):
    """Weighted mean deviance Σw·d/Σw over rows with non-NA y and w > 0."""
    dist = dist_code(dist) if isinstance(dist, str) else dist
    y = np.asarray(y, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=np.float64)
    keep = (w > 0) & ~np.isnan(y)
    d = row_deviance(dist, y[keep], f[keep], power, alpha, delta)
    return float((w[keep] * d).sum() / w[keep].sum())


def multinomial_deviance(y, F, w=None):
    """Weighted mean of −2·log P_y for K >= 3 classes (scores F of shape (n, K))."""
    y = np.asarray(y)
    P = softmax_rows(np.asarray(F, dtype=np.float64))
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
    py = np.maximum(P[np.arange(len(y)), y.astype(np.int64)], 1e-300)
    return float((w * -2.0 * np.log(py)).sum() / w.sum())

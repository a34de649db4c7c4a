"""Kernels of the GBM: distributions, binning, histograms, split search, tree walking."""
import itertools

import numpy as np
import pytest

from daskml_h2o.data import binning as B
from daskml_h2o.gbm import distributions as D
from daskml_h2o.gbm import histogram as H
from daskml_h2o.gbm import splitting as S
from daskml_h2o.gbm import tree as T

ALL_DISTS = ["gaussian", "bernoulli", "quasibinomial", "multinomial", "poisson", "gamma",
             "tweedie", "laplace", "quantile", "huber"]


# ----------------------------------------------------------------------------- distributions

def _response(dist, rng, n):
    if dist in ("bernoulli", "quasibinomial", "multinomial"):
        return rng.integers(0, 2, n).astype(float)
    if dist == "gamma":
        return rng.gamma(2.0, 1.5, n)
    if dist in ("poisson", "tweedie"):
        return rng.poisson(2.0, n).astype(float)
    return rng.normal(1.0, 2.0, n)


@pytest.mark.parametrize("dist", ALL_DISTS)
def test_residual_is_minus_half_gradient_of_deviance(dist):
    rng = np.random.default_rng(1)
    code = D.dist_code(dist)
    y = _response(dist, rng, 50)
    f = rng.normal(0.3, 0.7, 50)
    if dist in ("laplace", "quantile", "huber"):
        # keep clear of the kinks of piecewise losses
        f = np.where(np.abs(y - f) < 0.05, f + 0.2, f)
    kw = dict(power=1.4, alpha=0.3, delta=0.8)
    eps = 1e-6
    up, down = D.row_deviance(code, y, f + eps, **kw), D.row_deviance(code, y, f - eps, **kw)
    num = (up - down) / (2 * eps)
    z = D.neg_half_gradient(code, y, f, **kw).astype(float)
    # H2O's 2-class multinomial residual is 1{y=0} − P0 with P0 = σ(2F): half of −½∂dev/∂F
    factor = 2.0 if dist == "multinomial" else 1.0
    np.testing.assert_allclose(factor * z, -0.5 * num, rtol=1e-4, atol=1e-5)


def test_multinomial_residuals_match_gradient():
    rng = np.random.default_rng(2)
    F = rng.normal(size=(20, 3))
    y = rng.integers(0, 3, 20)
    z = D.multinomial_residuals(y.astype(float), F)
    eps = 1e-6
    for k in range(3):
        Fp, Fm = F.copy(), F.copy()
        Fp[:, k] += eps
        Fm[:, k] -= eps
        P = [D.softmax_rows(G)[np.arange(20), y] for G in (Fp, Fm)]
        grad = (-2 * np.log(P[0]) + 2 * np.log(P[1])) / (2 * eps)
        np.testing.assert_allclose(z[:, k], -0.5 * grad, rtol=1e-4, atol=1e-6)
    direct = np.mean(-2 * np.log(D.softmax_rows(F)[np.arange(20), y]))
    assert D.multinomial_deviance(y, F) == pytest.approx(direct, rel=1e-12)


def test_softmax_overflow_rule():
    P = D.softmax_rows(np.array([[np.inf, 0.0, 1.0]]))
    np.testing.assert_array_equal(P, [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize("dist", ["gaussian", "bernoulli", "poisson", "gamma", "tweedie",
                                  "laplace", "quantile", "huber"])
def test_init_f_formulas(dist):
    rng = np.random.default_rng(3)
    y = _response(dist, rng, 101)
    w = rng.uniform(0.5, 2.0, 101)
    code = D.dist_code(dist)
    f0 = D.init_f(code, y, w, quantile_alpha=0.3, tweedie_power=1.4)
    if dist in ("laplace", "huber"):
        expect = D.weighted_quantile(y, w, 0.5)
    elif dist == "quantile":
        expect = D.weighted_quantile(y, w, 0.3)
    else:
        # the other f0 make the weighted residuals sum to zero (score equation)
        z = D.neg_half_gradient(code, y, np.full(101, f0), power=1.4).astype(float)
        assert abs((w * z).sum()) < 1e-4 * w.sum()
        return
    assert f0 == pytest.approx(expect)


def test_init_f_special_cases():
    y = np.array([0, 1, 1, 1.0])
    assert D.init_f("bernoulli", y) == pytest.approx(np.log(3))
    assert D.init_f("multinomial", y, nclasses=2) == pytest.approx(-0.5 * np.log(3))
    assert D.init_f("multinomial", y, nclasses=3) == 0.0
    assert D.init_f("gaussian", [1, 2, 3.0], [1, 1, 2.0], offset=[1, 1, 1.0]) == pytest.approx(1.25)
    # NA responses and zero weights are ignored
    assert D.init_f("gaussian", [1, np.nan, 5.0], [1, 1, 0.0]) == 1.0


def test_weighted_quantile_matches_numpy_and_row_expansion():
    rng = np.random.default_rng(4)
    v = rng.normal(size=31)
    for a in (0.0, 0.1, 0.5, 0.9, 1.0):
        assert D.weighted_quantile(v, np.ones(31), a) == pytest.approx(np.quantile(v, a))
    w = rng.integers(1, 4, 31)
    for a in (0.25, 0.5, 0.8):
        assert D.weighted_quantile(v, w, a) == pytest.approx(np.quantile(np.repeat(v, w), a))


@pytest.mark.parametrize("dist", ["gaussian", "bernoulli", "multinomial", "poisson", "gamma",
                                  "tweedie"])
def test_newton_leaf_values_match_direct_formula(dist):
    rng = np.random.default_rng(5)
    code = D.dist_code(dist)
    y = _response(dist, rng, 40)
    f = rng.normal(0.2, 0.3, 40)
    w = rng.uniform(0.5, 1.5, 40)
    z = D.neg_half_gradient(code, y, f, power=1.4)
    num, den = D.newton_terms(code, y, z, f, 1.4)
    gam = D.newton_gamma(code, (w * num).sum(), (w * den).sum())
    zz = z.astype(float)
    if dist == "gaussian":
        expect = (w * zz).sum() / w.sum()
    elif dist == "bernoulli":
        p = 1 / (1 + np.exp(-f))
        expect = (w * zz).sum() / (w * p * (1 - p)).sum()
    elif dist == "multinomial":
        expect = (w * zz).sum() / (w * np.abs(zz) * (1 - np.abs(zz))).sum()
    elif dist == "poisson":
        expect = np.log((w * y).sum() / (w * np.exp(f)).sum())
    elif dist == "gamma":
        expect = np.log((w * y * np.exp(-f)).sum() / w.sum())
    else:
        expect = np.log((w * y * np.exp(-0.4 * f)).sum() / (w * np.exp(0.6 * f)).sum())
    assert float(gam) == pytest.approx(expect, rel=1e-5)
    m = 2 if dist == "multinomial" else 1
    v = D.finish_leaf_values(code, gam, 0.1, nclasses=m)
    assert v.dtype == np.float32
    assert float(v) == pytest.approx(0.1 * expect * (0.5 if m == 2 else 1.0), rel=1e-6)


def test_leaf_value_clipping_and_zero_denominator():
    gam = D.newton_gamma(D.GAUSSIAN, [1.0, 5.0, np.inf], [0.0, 1.0, 1.0])
    v = D.finish_leaf_values(D.GAUSSIAN, gam, 1.0, max_abs_leafnode_pred=3.0)
    np.testing.assert_array_equal(v, np.float32([0.0, 3.0, 3.0]))
    v = D.finish_leaf_values(D.MULTINOMIAL, np.array([1e9]), 1.0, nclasses=3)
    assert float(v[0]) == 1e4


def test_quantile_and_huber_leaves():
    rng = np.random.default_rng(6)
    leaf = rng.integers(0, 3, 60)
    d = rng.normal(size=60)
    w = np.ones(60)
    g = D.quantile_leaf_gammas(D.QUANTILE, leaf, d, w, 4, alpha=0.2)
    for j in range(3):
        assert g[j] == pytest.approx(np.quantile(d[leaf == j], 0.2))
    assert g[3] == 0.0
    g = D.quantile_leaf_gammas(D.HUBER, leaf, d, w, 3, delta=0.5)
    for j in range(3):
        dj = d[leaf == j]
        med = np.median(dj)
        expect = med + np.mean(np.sign(dj - med) * np.minimum(np.abs(dj - med), 0.5))
        assert g[j] == pytest.approx(expect)


def test_log_link_leaf_of_all_zero_counts_is_floored():
    assert float(D.newton_gamma(D.POISSON, 0.0, 3.0)) == -19.0
    assert float(D.newton_gamma(D.POISSON, 1.0, 0.0)) == 0.0
    v = D.finish_leaf_values(D.GAUSSIAN, np.array([2e4, -np.inf]), 1.0)
    np.testing.assert_array_equal(v, np.float32([2e4, -1e4]))


def test_log_leaf_truncation():
    v = D.truncate_log_leaves(D.POISSON, np.array([25.0, -30.0, 1.0]), np.array([0, 0, 0.0]),
                              np.array([0, 0, 0.0]))
    np.testing.assert_array_equal(v, np.float32([19, -19, 1]))
    v = D.truncate_log_leaves(D.GAMMA, np.array([5.0]), np.array([0.0]), np.array([16.0]))
    assert float(v[0]) == 3.0


def test_check_distribution():
    assert D.check_distribution("AUTO", "numeric", 0, 0.0) == "gaussian"
    assert D.check_distribution("auto", "categorical", 2, 0.0) == "bernoulli"
    assert D.check_distribution("AUTO", "categorical", 5, 0.0) == "multinomial"
    assert D.check_distribution("Quasi_Binomial", "numeric", 2, 0.0) == "quasibinomial"
    bad = [("bernoulli", "categorical", 3, 0.0, "exactly 2"),
           ("bernoulli", "numeric", 2, 0.0, "categorical"),
           ("multinomial", "numeric", 3, 0.0, "asfactor"),
           ("gaussian", "categorical", 3, 0.0, "numeric response"),
           ("poisson", "numeric", 0, -1.0, "non-negative"),
           ("gamma", "numeric", 0, 0.0, "positive"),
           ("quasibinomial", "numeric", 3, 0.0, "exactly 2"),
           ("custom", "numeric", 0, 0.0, "not supported yet")]
    for dist, kind, k, ymin, msg in bad:
        with pytest.raises(ValueError, match=msg):
            D.check_distribution(dist, kind, k, ymin)
    with pytest.raises(ValueError, match="tweedie_power"):
        D.check_distribution("tweedie", "numeric", 0, 0.0, tweedie_power=2.5)


# ----------------------------------------------------------------------------- binning

def test_quantile_edges_one_bin_per_distinct_value():
    x = np.array([3.0, 1.0, 2.0, 2.0, np.nan, 7.0])
    e = B.quantile_edges(x, 10)
    np.testing.assert_array_equal(e, [1.5, 2.5, 5.0])
    codes = B.bin_numeric(x, e, na_bin=9)
    np.testing.assert_array_equal(codes, [2, 0, 1, 1, 9, 3])


def test_quantile_edges_many_values_balanced():
    x = np.random.default_rng(7).normal(size=10000)
    e = B.quantile_edges(x, 16)
    assert len(e) == 15
    counts = np.bincount(B.bin_numeric(x, e, 16), minlength=17)
    assert counts[:16].min() > 500 and counts[16] == 0


def test_uniform_and_integer_edges():
    np.testing.assert_allclose(B.uniform_edges(0.0, 4.0, 4), [1, 2, 3])
    np.testing.assert_allclose(B.uniform_edges(2.0, 5.0, 10, is_int=True), [2.5, 3.5, 4.5])
    assert B.uniform_edges(1.0, 1.0, 4).size == 0


def test_bin_matrix_categoricals_and_spec():
    X = np.array([[0.5, 0, 3], [1.5, 2, 1], [np.nan, -1, np.nan], [2.5, 1, 5]])
    spec = B.make_bin_spec([np.array([1.0, 2.0]), None, None], is_cat=[0, 1, 1],
                           n_levels=[0, 3, 6], nbins_cats=4)
    Xb = B.bin_matrix(X, spec)
    assert Xb.flags.f_contiguous and Xb.dtype == np.uint8
    assert spec.na_bin == 4 and list(spec.n_bins) == [3, 3, 4]
    np.testing.assert_array_equal(Xb[:, 0], [0, 1, 4, 2])
    np.testing.assert_array_equal(Xb[:, 1], [0, 2, 4, 1])
    # 6 levels in 4 groups: codes grouped by floor(code·4/6)
    np.testing.assert_array_equal(Xb[:, 2], [2, 0, 4, 3])
    assert not spec.cat_direct[2]


# ----------------------------------------------------------------------------- histograms

def _random_binned(rng, n, nf, nbins, na_frac=0.1):
    Xb = rng.integers(0, nbins, (n, nf)).astype(np.uint8)
    Xb[rng.random((n, nf)) < na_frac] = nbins
    return np.asfortranarray(Xb)


def test_histograms_match_bincount():
    rng = np.random.default_rng(8)
    n, nf, nb = 500, 3, 6
    Xb = _random_binned(rng, n, nf, nb)
    node_ids = rng.integers(-1, 4, n).astype(np.int32)
    slot_of_node = np.array([1, -1, 0, 2], dtype=np.int32)
    grad = rng.normal(size=n).astype(np.float32)
    w = rng.uniform(0, 2, n)
    w[rng.random(n) < 0.1] = 0
    hist = H.build_histograms(Xb, node_ids, slot_of_node, grad, w, 3, nb + 1)
    g = grad.astype(float)
    for nd, s in enumerate(slot_of_node):
        if s < 0:
            continue
        m = node_ids == nd
        for f in range(nf):
            for k, vals in enumerate((w, w * g, w * g * g)):
                np.testing.assert_allclose(hist[s, f, :, k],
                                           np.bincount(Xb[m, f], vals[m], minlength=nb + 1))


def test_node_sums_and_combine():
    rng = np.random.default_rng(9)
    n = 200
    ids = rng.integers(0, 3, n).astype(np.int32)
    arrived = rng.random(n) < 0.7
    grad = rng.normal(size=n).astype(np.float32)
    w, num, den, f = rng.random(n), rng.normal(size=n), rng.random(n), rng.normal(size=n)
    s = H.accumulate_node_sums(ids, arrived, grad, w, num, den, f, 4)
    for nd in range(3):
        m = (ids == nd) & arrived
        np.testing.assert_allclose(s[nd, :4], [w[m].sum(), (w * num)[m].sum(), (w * den)[m].sum(),
                                               (w * grad.astype(float))[m].sum()])
        assert s[nd, 4] == f[m].min() and s[nd, 5] == f[m].max()
    assert s[3, 0] == 0 and np.isinf(s[3, 4])
    half = H.accumulate_node_sums(ids[:100], arrived[:100], grad[:100], w[:100], num[:100],
                                  den[:100], f[:100], 3)
    rest = H.accumulate_node_sums(ids[100:], arrived[100:], grad[100:], w[100:], num[100:],
                                  den[100:], f[100:], 4)
    both = H.combine_node_sums(half, rest)
    np.testing.assert_allclose(both[:, :4], s[:, :4])
    np.testing.assert_array_equal(both[:, 4:], s[:, 4:])


def test_adaptive_histograms_match_numpy():
    rng = np.random.default_rng(10)
    n = 300
    X = rng.normal(size=(n, 2))
    X[rng.random((n, 2)) < 0.1] = np.nan
    X[0, 0] = np.inf
    ids = rng.integers(0, 2, n).astype(np.int32)
    grad = rng.normal(size=n).astype(np.float32)
    w = np.ones(n)
    lo = np.array([[-1.0, -2.0], [0.0, -3.0]])
    step = np.array([[2.0, 1.0], [4.0, 0.5]])
    nbins = np.array([[4, 4], [5, 0]])
    hist, minmax = H.build_histograms_adaptive(X, ids, np.array([0, 1], np.int32), grad, w, lo,
                                               step, nbins, 8)
    for s in range(2):
        for f in range(2):
            m = ids == s
            if nbins[s, f] == 0:
                assert hist[s, f].sum() == 0
                continue
            x = X[m, f]
            b = np.where(np.isnan(x), 7, np.clip(np.floor((x - lo[s, f]) * step[s, f]), 0,
                                                  nbins[s, f] - 1)).astype(int)
            np.testing.assert_allclose(hist[s, f, :, 1], np.bincount(b, grad[m], minlength=8),
                                       rtol=1e-6)
            assert minmax[s, f, 0] == np.nanmin(x) and minmax[s, f, 1] == np.nanmax(x)


# ----------------------------------------------------------------------------- splitting

def _se(w, s, ss):
    return max(0.0, ss - s * s / w) if w > 0 else 0.0


def _brute_numeric(w, wy, wyy, na, min_rows):
    """Smallest SE over every threshold and NA side, both children >= min_rows."""
    best = np.inf
    for b in range(1, len(w)):
        if w[b] == 0:
            continue
        lo = [w[:b].sum(), wy[:b].sum(), wyy[:b].sum()]
        hi = [w[b:].sum(), wy[b:].sum(), wyy[b:].sum()]
        sides = [(lo, hi)] if na[0] == 0 else [([lo[i] + na[i] for i in range(3)], hi),
                                                (lo, [hi[i] + na[i] for i in range(3)])]
        for l, r in sides:
            if l[0] >= min_rows and r[0] >= min_rows:
                best = min(best, _se(*l) + _se(*r))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_numeric_split_is_best_over_all_thresholds(seed):
    rng = np.random.default_rng(seed)
    nb = 12
    w = rng.integers(0, 6, nb).astype(float)
    y = rng.normal(size=nb)
    wy = w * y
    wyy = w * (y * y + rng.uniform(0, 0.5, nb))
    na = [0.0, 0.0, 0.0] if seed % 2 else [2.0, 2.0 * 1.5, 2.0 * 3.0]
    found, b, nas, st = S.scan_feature(w, wy, wyy, na[0], na[1], na[2], 3.0, 0.0)
    brute = _brute_numeric(w, wy, wyy, na, 3.0)
    # H2O compares with the parent SE without the NA rows when they weigh < min_rows
    se_before = _se(w.sum(), wy.sum(), wyy.sum())
    assert found == (brute < se_before)
    if not found:
        return
    assert st[S.ST_SE_LEFT] + st[S.ST_SE_RIGHT] == pytest.approx(brute)
    # the reported sides add up to the whole node
    assert st[S.ST_W_LEFT] + st[S.ST_W_RIGHT] == pytest.approx(w.sum() + na[0])


def test_ties_prefer_the_middle_bin():
    # symmetric: splitting before bin 2 or bin 3 ties; bin 2 is the middle (5 // 2)
    w = np.ones(5) * 4
    y = np.array([0.0, 0.0, 5.0, 0.0, 0.0])
    found, b, nas, st = S.scan_feature(w, w * y, w * y * y, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert found and b == 2
    # b = 1 and b = 4 tie; 4 is closer to the middle (7 // 2 = 3) and wins though later
    w = np.array([4.0, 4, 4, 0, 4, 0, 0])
    y = np.array([1.0, 0, 0, 0, 1, 0, 0])
    found, b, nas, st = S.scan_feature(w, w * y, w * y * y, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert found and b == 4
    # equally far from the middle: the first is kept
    w = np.ones(6) * 4
    y = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    found, b, nas, st = S.scan_feature(w, w * y, w * y * y, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert found and b == 1


def test_min_rows_and_min_split_improvement():
    w = np.array([5.0, 5.0])
    y = np.array([0.0, 1.0])
    assert not S.scan_feature(w, w * y, w * y, 0.0, 0.0, 0.0, 6.0, 0.0)[0]
    assert S.scan_feature(w, w * y, w * y, 0.0, 0.0, 0.0, 5.0, 0.0)[0]
    # parent SE 2.5, children pure: relative improvement 1 → only msi >= 1 blocks it
    assert S.scan_feature(w, w * y, w * y, 0.0, 0.0, 0.0, 1.0, 0.999)[0]
    assert not S.scan_feature(w, w * y, w * y, 0.0, 0.0, 0.0, 1.0, 1.0)[0]
    # constant residual: no split
    assert not S.scan_feature(w, w, w, 0.0, 0.0, 0.0, 1.0, 0.0)[0]


def test_na_direction():
    w = np.array([10.0, 10.0])
    y = np.array([0.0, 1.0])
    # NAs look like the right bin → NA right; like the left → NA left
    for na_y, expect in ((1.0, S.NA_RIGHT), (0.0, S.NA_LEFT)):
        found, b, nas, st = S.scan_feature(w, w * y, w * y, 3.0, 3 * na_y, 3 * na_y, 5.0, 0.0)
        assert found and nas == expect
    # heavy NAs unlike both: NA against the rest
    w = np.array([10.0, 10.0])
    y = np.array([0.0, 0.1])
    found, b, nas, st = S.scan_feature(w, w * y, w * y * y, 10.0, 50.0, 250.0, 5.0, 0.0)
    assert found and nas == S.NA_VS_REST
    assert st[S.ST_W_RIGHT] == 10.0 and st[S.ST_W_LEFT] == 20.0


def test_categorical_set_split_is_best_subset():
    rng = np.random.default_rng(11)
    K = 6
    w = rng.integers(1, 8, K).astype(float)
    w[2] = 0.0  # a level absent from the node
    y = rng.normal(size=K) * 3
    hist = np.zeros((1, K + 1, 3))
    hist[0, :K, 0], hist[0, :K, 1], hist[0, :K, 2] = w, w * y, w * (y * y + 1)
    bitset = np.zeros(K + 1, np.uint8)
    f, b, nas, is_bits, st = S.find_node_split(hist, np.array([K]), np.array([True]),
                                               np.array([True]), K, 1.0, 0.0, bitset)
    assert f == 0 and is_bits
    present = [k for k in range(K) if w[k] > 0]
    best = np.inf
    for r in range(1, len(present)):
        for right in itertools.combinations(present, r):
            rt = np.isin(np.arange(K), right)
            best = min(best, _se(w[~rt].sum(), (w * y)[~rt].sum(), hist[0, :K, 2][~rt].sum())
                       + _se(w[rt].sum(), (w * y)[rt].sum(), hist[0, :K, 2][rt].sum()))
    assert st[S.ST_SE_LEFT] + st[S.ST_SE_RIGHT] == pytest.approx(best)
    rt = bitset[:K].astype(bool)
    # right holds the levels with the larger mean residual
    assert y[rt & (w > 0)].min() > y[~rt & (w > 0)].max()
    # the empty level sits on the side that got more non-empty levels (ties left)
    n_right = (rt & (w > 0)).sum()
    n_left = (~rt & (w > 0)).sum()
    assert rt[2] == (n_right > n_left)


def test_best_feature_and_mask():
    hist = np.zeros((2, 3, 3))
    hist[:, :2, 0] = 10
    hist[0, 1, 1] = 10.0  # feature 0: bin means 0, 1
    hist[0, 1, 2] = 10.0
    hist[1, 1, 1] = 5.0   # feature 1: bin means 0, 0.5 (weaker)
    hist[1, 1, 2] = 2.5
    bits = np.zeros(3, np.uint8)
    args = (np.array([2, 2]), np.array([False, False]))
    assert S.find_node_split(hist, *args, np.array([True, True]), 2, 1.0, 0.0, bits)[0] == 0
    assert S.find_node_split(hist, *args, np.array([False, True]), 2, 1.0, 0.0, bits)[0] == 1
    assert S.find_node_split(hist, *args, np.array([False, False]), 2, 1.0, 0.0, bits)[0] == -1


# ----------------------------------------------------------------------------- tree walking

def _hand_tree():
    # root: x0 >= 1.5 (bin 2) right, NA left; left child: bitset on x1 (levels 1, 3 right),
    # NA right; right child: NA vs rest on x0... leaves carry values 1..
    nodes = np.zeros(7, dtype=T.NODE_DTYPE)
    nodes["feature"] = [0, 1, 0, -1, -1, -1, -1]
    nodes["kind"] = [T.RANGE, T.BITSET, T.NA_VS_REST, 0, 0, 0, 0]
    nodes["bin"] = [2, 0, 0, 0, 0, 0, 0]
    nodes["threshold"] = [1.5, 0, 0, 0, 0, 0, 0]
    nodes["na_left"] = [1, 0, 0, 0, 0, 0, 0]
    nodes["left"] = [1, 3, 5, -1, -1, -1, -1]
    nodes["right"] = [2, 4, 6, -1, -1, -1, -1]
    nodes["bitset_len"] = [0, 4, 0, 0, 0, 0, 0]
    nodes["n_levels"] = [0, 4, 0, 0, 0, 0, 0]
    nodes["value"] = [0, 0, 0, 1, 2, 3, 4]
    nodes["node_id"] = [0, 1, 2, 7, 8, 9, 10]
    return T.Tree(nodes, np.array([0, 1, 0, 1], np.uint8))


def test_raw_traversal_rules():
    tree = _hand_tree()
    X = np.array([[0.0, 1.0],      # left, level 1 in set → right: 2
                  [0.0, 2.0],      # left, level 2 → left: 1
                  [np.nan, 3.0],   # NA → left, level 3 → 2
                  [0.0, np.nan],   # bitset NA → right: 2
                  [0.0, 7.0],      # unseen level ≥ K → NA direction (right): 2
                  [2.0, 0.0],      # right, non-NA → left of NA-vs-rest: 3
                  [1.5, 0.0]])     # x >= threshold → right: 3
    np.testing.assert_array_equal(T.predict_raw([tree], X), [2, 1, 2, 2, 2, 3, 3])
    np.testing.assert_array_equal(T.leaf_node_assignment(tree, X, "Path"),
                                  ["LR", "LL", "LR", "LR", "LR", "RL", "RL"])
    np.testing.assert_array_equal(T.leaf_node_assignment(tree, X, "Node_ID"),
                                  [8, 7, 8, 8, 8, 9, 9])


def test_raw_and_binned_traversal_agree():
    rng = np.random.default_rng(12)
    X = np.column_stack([rng.normal(size=300), rng.integers(0, 4, 300).astype(float)])
    X[rng.random(300) < 0.2, 0] = np.nan
    X[rng.random(300) < 0.2, 1] = np.nan
    spec = B.make_bin_spec([np.array([0.5, 1.5, 2.5]), None], is_cat=[0, 1], n_levels=[0, 4])
    Xb = B.bin_matrix(X, spec)
    tree = _hand_tree()
    np.testing.assert_array_equal(T.predict_raw([tree, tree], X),
                                  T.predict_binned([tree, tree], Xb, spec.na_bin))


def test_single_leaf_tree():
    t = T.single_leaf_tree()
    X = np.zeros((3, 2))
    np.testing.assert_array_equal(T.predict_raw([t], X), 0)
    np.testing.assert_array_equal(T.leaf_node_assignment(t, X), ["", "", ""])
    np.testing.assert_array_equal(T.leaf_node_assignment(t, X, "Node_ID"), [0, 0, 0])


def test_categorical_nas_are_sorted_in_with_the_levels():
    # level means 0, 0.1, 1 and NA mean 0.9: the best cut puts the NAs with level 2
    hist = np.zeros((1, 4, 3))
    for lvl, (w, m) in enumerate([(10, 0.0), (10, 0.1), (10, 1.0), (10, 0.9)]):
        slot = lvl if lvl < 3 else 3
        hist[0, slot] = [w, w * m, w * (m * m + 0.01)]
    bits = np.zeros(4, np.uint8)
    f, b, nas, is_bits, st = S.find_node_split(hist, np.array([3]), np.array([True]),
                                               np.array([True]), 3, 5.0, 0.0, bits)
    assert f == 0 and is_bits and nas == S.NA_RIGHT
    np.testing.assert_array_equal(bits[:3], [0, 0, 1])
    assert st[S.ST_W_LEFT] == 20 and st[S.ST_W_RIGHT] == 20
    # levels all alike, NAs different: the NAs alone on the side their mean sorts to
    hist[0, :3, 1] = hist[0, :3, 0] * 0.5
    hist[0, :3, 2] = hist[0, :3, 0] * 0.25
    for na_mean, expect in ((0.0, S.NA_ALONE_LEFT), (1.0, S.NA_ALONE_RIGHT)):
        hist[0, 3] = [10, 10 * na_mean, 10 * na_mean ** 2 + 0.1]
        f, b, nas, is_bits, st = S.find_node_split(hist, np.array([3]), np.array([True]),
                                                   np.array([True]), 3, 5.0, 0.0, bits)
        assert f == 0 and not is_bits and nas == expect
        na_w = st[S.ST_W_LEFT] if expect == S.NA_ALONE_LEFT else st[S.ST_W_RIGHT]
        assert na_w == 10

"""DataInfo: expansion and transforms of the DL input vector against pandas/numpy references."""
import numpy as np
import pandas as pd
import pytest

from daskml_h2o.data.chunks import ColumnLayout
from daskml_h2o.data.datainfo import constant_columns, make_datainfo, murmur_slot


def _layout():
    cols = ["num1", "small", "big", "num2"]
    types = {"num1": "real", "small": "enum", "big": "enum", "num2": "int"}
    domains = {"small": ["q", "r"], "big": ["a", "b", "c", "d"]}
    return ColumnLayout(cols, types, domains)


def _raw():
    # enum columns hold level codes (NaN = NA, >= K = a level never trained on)
    return np.array([[1.0, 0, 3, 10],
                     [2.0, 1, 0, 20],
                     [np.nan, np.nan, 1, 30],
                     [4.0, 1, 9, np.nan],
                     [5.0, 0, 2, 50]])


def _stats(X, layout):
    """Unweighted moments as column_moments computes them (numpy reference)."""
    out = {"sw": [], "mean": [], "sd": [], "min": [], "max": [], "na": [], "nonzero": []}
    for j in range(X.shape[1]):
        x = X[:, j][~np.isnan(X[:, j])]
        out["sw"].append(len(x))
        out["mean"].append(x.mean())
        out["sd"].append(x.std(ddof=1))
        out["min"].append(x.min())
        out["max"].append(x.max())
        out["na"].append(np.isnan(X[:, j]).sum())
        out["nonzero"].append(np.count_nonzero(x))
    stats = {k: np.array(v, dtype=float) for k, v in out.items()}
    stats["na"] = stats["na"].astype(int)
    stats["levels"] = {}
    for c, k in (("small", 2), ("big", 4)):
        j = layout.columns.index(c)
        codes = X[:, j]
        codes = np.where(np.isnan(codes) | (codes >= k), k, codes).astype(int)
        stats["levels"][c] = np.bincount(codes, minlength=k + 1).astype(float)
    stats.update(resp_mean=0.0, resp_sd=1.0, n=X.shape[0])
    return stats


def test_onehot_order_names_and_standardisation():
    layout, X = _layout(), _raw()
    stats = _stats(X, layout)
    di = make_datainfo(layout, stats, "standardize", use_all_factor_levels=False)
    # categoricals by decreasing cardinality first, level 0 dropped, a missing(NA) slot each
    assert di.coef_names == ["big.b", "big.c", "big.d", "big.missing(NA)", "small.r", "small.missing(NA)",
                             "num1", "num2"]
    assert di.cat_offsets == [0, 4, 6]
    E = di.expand(X, training=True)
    m1, s1 = np.nanmean(X[:, 0]), np.nanstd(X[:, 0], ddof=1)
    m2, s2 = np.nanmean(X[:, 3]), np.nanstd(X[:, 3], ddof=1)
    exp = np.array([[0, 0, 1, 0, 0, 0, (1 - m1) / s1, (10 - m2) / s2],
                    [0, 0, 0, 0, 1, 0, (2 - m1) / s1, (20 - m2) / s2],
                    [1, 0, 0, 0, 0, 1, 0.0, (30 - m2) / s2],         # NA numeric -> mean -> 0; NA enum -> NA slot
                    [0, 0, 0, 1, 1, 0, (4 - m1) / s1, 0.0],          # unseen level 9 -> big.missing(NA)
                    [0, 1, 0, 0, 0, 0, (5 - m1) / s1, (50 - m2) / s2]])
    np.testing.assert_allclose(E, exp, rtol=1e-6, atol=1e-6)
    assert E.dtype == np.float32


def test_use_all_levels_normalize_and_scoring_imputation():
    layout, X = _layout(), _raw()
    stats = _stats(X, layout)
    di = make_datainfo(layout, stats, "normalize", use_all_factor_levels=True)
    assert di.coef_names[:5] == ["big.a", "big.b", "big.c", "big.d", "big.missing(NA)"]
    E = di.expand(X, training=False)
    lo, hi, mean = np.nanmin(X[:, 0]), np.nanmax(X[:, 0]), np.nanmean(X[:, 0])
    np.testing.assert_allclose(E[[0, 1, 3, 4], di.coef_names.index("num1")],
                               (X[[0, 1, 3, 4], 0] - mean) / (hi - lo), rtol=1e-6)
    assert E[2, di.coef_names.index("num1")] == 0.0
    # descale: training imputes the mean (mean/sd after the transform), scoring puts 0
    dd = make_datainfo(layout, stats, "descale")
    j = dd.coef_names.index("num1")
    assert dd.expand(X, training=True)[2, j] == pytest.approx(mean / np.nanstd(X[:, 0], ddof=1), rel=1e-6)
    assert dd.expand(X, training=False)[2, j] == 0.0


def _murmur_reference(e, seed, m):
    """Hadoop MurmurHash2 of the 4 big-endian bytes of e, then |h mod m| as Java computes it."""
    data = int(e).to_bytes(4, "big", signed=True)
    mm, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (seed ^ 4) & mask
    k = int.from_bytes(data, "little")
    k = (k * mm) & mask
    k ^= k >> 24
    k = (k * mm) & mask
    h = ((h * mm) & mask) ^ k
    h ^= h >> 13
    h = (h * mm) & mask
    h ^= h >> 15
    h = h - (1 << 32) if h >= 1 << 31 else h
    r = abs(h) % m
    return r


def test_hashing_slots_match_reference_and_layout():
    for e, seed, m in [(0, 0, 7), (5, 42, 3), (123456, 99, 1000), (7, 2 ** 31 - 1, 2)]:
        assert murmur_slot(e, seed, m) == _murmur_reference(e, seed, m)
    layout, X = _layout(), _raw()
    di = make_datainfo(layout, _stats(X, layout), "none", max_categorical_features=3, hash_seed=42)
    assert di.n_inputs == 3 + 2 and di.coef_names[-2:] == ["num1", "num2"]
    E = di.expand(X[:1], training=True)
    exp = np.zeros(5)
    for e in (3, 5):  # big.d (block 0, index 3), small.q (its block starts at 5)
        exp[_murmur_reference(e, 42, 3)] += 1.0
    exp[3:] = [1.0, 10.0]
    np.testing.assert_allclose(E[0], exp)


def test_binary_and_eigen_encodings():
    layout, X = _layout(), _raw()
    stats = _stats(X, layout)
    di = make_datainfo(layout, stats, "none", categorical_encoding="binary")
    assert di.coef_names[:5] == ["small:0", "small:1", "big:0", "big:1", "big:2"]
    E = di.expand(X, training=True)
    big = X[:, 2]
    codes = np.where(big >= 4, 0, big + 1).astype(int)  # unseen/NA -> 0, level l -> l+1
    np.testing.assert_array_equal(E[:, 2:5], (codes[:, None] >> np.arange(3)) & 1)
    de = make_datainfo(layout, stats, "none", categorical_encoding="eigen")
    assert de.coef_names[:2] == ["small.Eigen", "big.Eigen"]
    Ee = de.expand(X, training=True)
    assert Ee.shape == (5, 4) and len(np.unique(Ee[[0, 1, 4], 1])) == 3


def test_constant_columns_ignore_na():
    layout = ColumnLayout(["c", "d", "e"], {"c": "real", "d": "real", "e": "enum"}, {"e": ["x", "y"]})
    # c: one value besides NA, d: all NA, e: a single level
    stats = {"na": np.array([1, 3, 0]), "n": 3, "min": np.array([1.0, np.inf, 0]), "max": np.array([1.0, -np.inf, 0]),
             "levels": {"e": np.array([3.0, 0.0, 0.0])}}
    assert constant_columns(layout, stats) == ["c", "d", "e"]

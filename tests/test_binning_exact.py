"""The lookup-cell binning kernel against numpy's searchsorted, value for value, and the
one-sort quantile edges against np.unique + np.quantile."""
import numpy as np
import pytest

from daskml_h2o.data import binning as B


def _probe_values(edges, rng):
    """Random values over and beyond the edges' range, every edge, its float neighbours,
    infinities, huge and tiny magnitudes."""
    e = np.asarray(edges, dtype=np.float64)
    parts = [np.array([np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 5e-324, -5e-324, 1e-300, -1e-300])]
    if e.size:
        lo, hi = e.min(), e.max()
        u = rng.uniform(-0.5, 1.5, 6000)
        # lo·(1-u) + hi·u spans past both ends without overflowing hi - lo
        with np.errstate(over="ignore"):  # an overflow to ±inf is one more probe
            parts += [e, np.nextafter(e, np.inf), np.nextafter(e, -np.inf), lo * (1 - u) + hi * u,
                      rng.choice(e, 2000) * rng.uniform(0.999, 1.001, 2000)]
    return np.concatenate(parts)


def _check(edges, values, rng=None):
    edges = np.asarray(edges, dtype=np.float64)
    spec = B.make_bin_spec([edges])
    X = np.asarray(values, dtype=np.float64)[:, None]
    X = np.concatenate([X, [[np.nan]]])
    expected = np.searchsorted(edges, X[:, 0], side="right")
    expected[np.isnan(X[:, 0])] = spec.na_bin
    for order in ("C", "F"):
        got = B.bin_columns(X, spec, order=order)
        np.testing.assert_array_equal(got[:, 0], expected)
    np.testing.assert_array_equal(B.bin_matrix(X, spec)[:, 0], expected)


EDGE_SETS = {
    "none": [],
    "one": [0.5],
    "two": [-1.0, 3.0],
    "normal_quantiles": np.quantile(np.random.default_rng(1).normal(size=5000), np.arange(1, 255) / 255),
    "skewed": np.unique(np.concatenate([np.linspace(0, 1e-6, 200), [1.0, 1e3, 1e9]])),
    "all_in_one_cell": np.concatenate([np.linspace(0.0, 1e-9, 250), [1e12]]),
    "huge_span": [-1e308, -1.0, 0.0, 1.0, 1e308],
    "tiny_span": [5e-324, 1e-323, 1.5e-323, 2e-323],
    "integers": np.arange(0, 254) + 0.5,
    "wide_uint16": np.sort(np.random.default_rng(2).lognormal(size=3000)),
    "capped_cells": np.sort(np.random.default_rng(3).normal(size=20000)),   # more edges than cells
    "negative_tiny": np.array([-1e-300, -1e-310, 0.0, 1e-310]),
}


@pytest.mark.parametrize("name", sorted(EDGE_SETS))
def test_bin_columns_equals_searchsorted(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    edges = np.unique(np.asarray(EDGE_SETS[name], dtype=np.float64))
    _check(edges, _probe_values(edges, rng))


def test_bin_columns_random_edges_many_draws():
    rng = np.random.default_rng(3)
    for trial in range(200):
        m = int(rng.integers(0, 300))
        scale = 10.0 ** rng.integers(-300, 300)
        raw = rng.standard_cauchy(m) * scale if trial % 2 else rng.exponential(size=m) * scale
        edges = np.unique(raw[np.isfinite(raw)])
        _check(edges, _probe_values(edges, rng))


def test_bin_columns_mixed_features_subset_and_orders():
    rng = np.random.default_rng(4)
    n = 3000
    num = rng.normal(size=n)
    num[rng.random(n) < 0.1] = np.nan
    direct = rng.integers(-1, 7, n).astype(float)        # 6 levels; -1 = NA, 6 = unseen level
    direct[rng.random(n) < 0.05] = np.nan
    grouped = rng.integers(-1, 40, n).astype(float)      # 40 levels in 8 groups
    grouped[rng.random(n) < 0.05] = np.nan
    X = np.asfortranarray(np.column_stack([rng.normal(size=n), num, direct, grouped]))
    spec = B.make_bin_spec([B.quantile_edges(num, 255), None, None], is_cat=[0, 1, 1], n_levels=[0, 6, 40],
                           nbins_cats=8)
    codes = B.bin_columns(X, spec, cols=[1, 2, 3])
    assert codes.flags.c_contiguous and codes.dtype == np.uint8
    na = spec.na_bin
    exp_num = np.where(np.isnan(num), na, np.searchsorted(spec.edges(0), num, side="right"))
    exp_direct = np.where(np.isnan(direct) | (direct < 0) | (direct >= 6), na, np.nan_to_num(direct))
    g = np.where(grouped < 0, np.nan, grouped)
    exp_grouped = np.where(np.isnan(g), na, np.searchsorted(spec.edges(2), g, side="right"))
    np.testing.assert_array_equal(codes, np.column_stack([exp_num, exp_direct, exp_grouped]))
    np.testing.assert_array_equal(B.bin_matrix(X[:, 1:], spec), codes)
    with pytest.raises(ValueError, match="columns"):
        B.bin_columns(X, spec, cols=[1, 2])
    with pytest.raises(ValueError, match="out of range"):
        B.bin_columns(X, spec, cols=[1, 2, 9])


def test_bin_columns_empty_inputs():
    spec = B.make_bin_spec([np.array([0.0, 1.0])])
    assert B.bin_columns(np.empty((0, 1)), spec).shape == (0, 1)
    none = B.make_bin_spec([])
    assert B.bin_columns(np.ones((3, 2)), none, cols=[]).shape == (3, 0)
    wide = B.make_bin_spec([np.arange(300) + 0.5, None], is_cat=[0, 1], n_levels=[0, 400])
    X = np.array([[0.0, 399.0], [299.7, 400.0], [np.nan, -1.0], [1e9, 2.0]])
    codes = B.bin_columns(X, wide)
    assert codes.dtype == np.uint16 and wide.na_bin == 400
    np.testing.assert_array_equal(codes, [[0, 399], [300, 400], [400, 400], [300, 2]])


def _old_quantile_edges(values, max_bins):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.empty(0)
    u = np.unique(values)
    if u.size <= max_bins:
        return B._midpoints(u)
    q = np.unique(np.quantile(values, np.arange(1, max_bins) / max_bins))
    return q[(q > u[0]) & (q <= u[-1])]


def test_quantile_edges_identical_to_unique_and_np_quantile():
    rng = np.random.default_rng(5)
    for trial in range(300):
        n = int(rng.integers(1, 3000))
        kind = trial % 5
        if kind == 0:
            x = rng.normal(size=n) * 10.0 ** rng.integers(-200, 200)
        elif kind == 1:
            x = rng.integers(0, int(rng.integers(2, 600)), n).astype(float)   # ties
        elif kind == 2:
            x = rng.lognormal(sigma=3, size=n)
        elif kind == 3:
            x = np.where(rng.random(n) < 0.5, 0.0, -0.0) + rng.integers(0, 3, n) * rng.normal(size=n)
        else:
            x = rng.standard_cauchy(n)
            x[rng.random(n) < 0.2] = np.nan
            x[rng.random(n) < 0.05] = np.inf
        max_bins = int(rng.choice([2, 3, 16, 255, 1000]))
        got, exp = B.quantile_edges(x, max_bins), _old_quantile_edges(x, max_bins)
        np.testing.assert_array_equal(got, exp)
        # bit for bit, but for the sign of a zero edge (np.quantile's partition may pick
        # either zero of a run; the new edges are always +0.0, the same split)
        assert np.array_equal(got.view(np.int64)[got != 0], exp.view(np.int64)[exp != 0])


def test_quantile_zero_edge_is_positive_zero():
    rng = np.random.default_rng(8)
    x = np.concatenate([-np.arange(1, 1001.0), np.where(rng.random(1000) < 0.5, -0.0, 0.0), np.arange(1, 1001.0)])
    e = B.quantile_edges(rng.permutation(x), 4)
    assert 0.0 in e
    assert not np.signbit(e[e == 0]).any()


def test_quantile_edges_weighted_path_unchanged():
    rng = np.random.default_rng(6)
    x, w = rng.normal(size=5000), rng.exponential(size=5000)
    e = B.quantile_edges(x, 16, weights=w)
    order = np.argsort(x, kind="mergesort")
    cw = np.cumsum(w[order])
    q = np.unique(x[order][np.searchsorted(cw, np.arange(1, 16) / 16 * cw[-1], side="left")])
    np.testing.assert_array_equal(e, q[(q > x.min()) & (q <= x.max())])


# ----------------------------------------------------------------------------- chunk preparation

def _mixed_partition(n=4000, seed=9):
    import pandas as pd
    rng = np.random.default_rng(seed)
    num = rng.lognormal(sigma=2, size=n)
    num[rng.random(n) < 0.1] = np.nan
    ints = rng.integers(0, 50, n).astype(float)
    ints[rng.random(n) < 0.05] = np.inf
    few = rng.choice(["a", "b", "c", None], n)
    many = rng.choice([f"L{i}" for i in range(60)] + [None], n)
    nullable = pd.array(np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)), dtype="Float64")
    pdf = pd.DataFrame({"num": num, "ints": ints, "few": pd.Categorical(few), "many": many,
                        "nullable": nullable, "const": np.ones(n), "label": rng.choice(["0", "1"], n)})
    return pdf


def _old_stats(X):
    present = ~np.isnan(X)
    with np.errstate(invalid="ignore"):
        lo = np.where(present.any(axis=0), np.nanmin(np.where(present, X, np.inf), axis=0), np.inf)
        hi = np.where(present.any(axis=0), np.nanmax(np.where(present, X, -np.inf), axis=0), -np.inf)
    whole = np.all(~present | (X == np.floor(X)), axis=0)
    return lo, hi, (~present).sum(axis=0), whole


def test_chunk_and_stats_equal_the_numpy_formulas():
    from daskml_h2o.data import chunks
    from daskml_h2o.models.predict import adapt_partition
    pdf = _mixed_partition()
    layout = chunks.ColumnLayout(["num", "ints", "few", "many", "nullable", "const", "missing"],
                                 {"num": "real", "ints": "int", "few": "enum", "many": "enum", "nullable": "real",
                                  "const": "real", "missing": "real"},
                                 {"few": ["a", "b"], "many": [f"L{i}" for i in range(60)]}, "label", ["0", "1"])
    chunk = chunks.partition_to_chunk(pdf, layout)
    X = chunk["X"]
    assert X.dtype == np.float64 and X.flags.f_contiguous
    ref = adapt_partition(pdf, layout)
    assert ref.flags.c_contiguous
    np.testing.assert_array_equal(X, ref)
    assert np.isnan(X[:, 6]).all() and (X[:, 2] == 2).any()  # missing column; unseen level "c" -> 2
    stats = chunks._chunk_stats(chunk)
    for got, exp in zip((stats["min"], stats["max"], stats["na"], stats["whole"]), _old_stats(X)):
        np.testing.assert_array_equal(got, exp)
    assert stats["na"].dtype == np.int64 and stats["whole"].dtype == bool
    assert list(stats["whole"]) == [False, True, True, True, False, True, True]


def test_prepared_codes_equal_bin_then_copy():
    from daskml_h2o.data import chunks
    from daskml_h2o.gbm.histogram_types import GlobalBins
    pdf = _mixed_partition(seed=10)
    cols = ["num", "ints", "few", "many", "nullable", "const"]
    types = {"num": "real", "ints": "int", "few": "enum", "many": "enum", "nullable": "real", "const": "real"}
    domains = {"few": ["a", "b", "c"], "many": [f"L{i}" for i in range(60)]}
    layout = chunks.ColumnLayout(cols, types, domains, "label", ["0", "1"])
    chunk = chunks.partition_to_chunk(pdf, layout)
    keep_idx = np.array([0, 1, 2, 3, 4])          # "const" dropped as the trainer does
    used = layout.subset([cols[j] for j in keep_idx])
    strategy = GlobalBins({"nbins_cats": 16})      # "many" (60 levels) is grouped into 16 bins
    strategy.fit(used, keep_idx, chunks._chunk_stats(chunk), chunk["X"][::3])
    codes = strategy.prepare_chunk(chunk, keep_idx)["features"]
    spec = strategy.bin_spec
    assert codes.flags.c_contiguous and codes.dtype == np.uint8 and list(spec.cat_direct) == [0, 0, 1, 0, 0]
    expected = np.empty(codes.shape, dtype=np.int64)
    for pos, j in enumerate(keep_idx):
        x = chunk["X"][:, j]
        if spec.is_cat[pos]:
            x = np.where(x < 0, np.nan, x)
        if spec.cat_direct[pos]:
            expected[:, pos] = np.where(np.isnan(x) | (x >= spec.n_levels[pos]), spec.na_bin, np.nan_to_num(x))
        else:
            expected[:, pos] = np.where(np.isnan(x), spec.na_bin, np.searchsorted(spec.edges(pos), x, side="right"))
    np.testing.assert_array_equal(codes, expected)
    for pos in (0, 1, 4):
        sample = chunk["X"][::3, keep_idx[pos]]
        np.testing.assert_array_equal(spec.edges(pos), B.quantile_edges(sample, 255))


def test_stats_and_sample_in_one_pass_are_the_kept_rows_and_the_merged_statistics():
    from daskml_h2o import parallel
    from daskml_h2o.data import chunks
    from daskml_h2o.gbm.grower import row_uniform
    rng = np.random.default_rng(11)
    X = np.asfortranarray(rng.normal(size=(5000, 4)))
    X[:, 2] = rng.integers(-50, 50, 5000)  # whole numbers: sent as float32, exactly
    X[rng.random(X.shape) < 0.1] = np.nan
    w = rng.random(5000)
    parts = [{"X": np.asfortranarray(X[a:b]), "w": w[a:b], "n": b - a} for a, b in ((0, 1800), (1800, 1800),
                                                                                      (1800, 5000))]
    stats, sample = chunks.stats_and_sample(parallel.ChunkSet(parts, [1800, 0, 3200]), 1500, 7, [0, 2],
                                            executor=parallel.LocalExecutor(1))
    keep = row_uniform(7, 0, 5000) < 1500 / 5000
    assert sample.flags.f_contiguous and sample.shape == (keep.sum(), 4) and 0 < keep.sum() < 5000
    np.testing.assert_array_equal(sample[:, [0, 2]], X[keep][:, [0, 2]])
    assert not sample[:, [1, 3]].any()  # columns not asked for stay empty
    part = chunks._stats_and_sample(parts[2], 1800, 7, 0.3, [0, 2])[1]
    assert part[0].dtype == np.float64 and part[1].dtype == np.float32
    np.testing.assert_array_equal(stats["min"], np.nanmin(X, axis=0))
    np.testing.assert_array_equal(stats["max"], np.nanmax(X, axis=0))
    np.testing.assert_array_equal(stats["na"], np.isnan(X).sum(axis=0))
    assert list(stats["whole"]) == [False, False, True, False] and stats["n"] == 5000
    assert stats["wsum"] == pytest.approx(w.sum()) and stats["rows_used"] == 5000

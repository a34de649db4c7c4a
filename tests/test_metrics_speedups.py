"""The fast metric paths give bit-identical results to the straightforward ones they replace.

The reference implementations below are the previous O(rows x targets) quantile histogram
and its refinement loop, kept here only to compare against.
"""
import dask.array as da
import numpy as np
import pytest
from numba import njit

from daskml_h2o.models import metrics as M


@njit
def _ref_quantile_hist(x, w, lo, hi, nb):
    T = lo.shape[0]
    below = np.zeros(T)
    hist = np.zeros((T, nb))
    bmin = np.full((T, nb), np.inf)
    bmax = np.full((T, nb), -np.inf)
    for i in range(x.shape[0]):
        xi, wi = x[i], w[i]
        if np.isnan(xi) or np.isnan(wi) or wi == 0.0:
            continue
        for t in range(T):
            if xi < lo[t]:
                below[t] += wi
            elif xi <= hi[t]:
                width = hi[t] - lo[t]
                b = int((xi - lo[t]) / width * nb) if width > 0 else 0
                if b >= nb:
                    b = nb - 1
                hist[t, b] += wi
                if xi < bmin[t, b]:
                    bmin[t, b] = xi
                if xi > bmax[t, b]:
                    bmax[t, b] = xi
    return below, hist, bmin, bmax


def _ref_partial(x, w, lo, hi):
    x = M._f64(x).reshape(-1)
    return _ref_quantile_hist(x, M._weights_or_ones(w, x.shape[0]), lo, hi, M._QUANTILE_BINS)


def _ref_values_at_positions(blocks, positions, lo, hi, max_passes=12):
    T = len(positions)
    lo = np.full(T, float(lo))
    hi = np.full(T, float(hi))
    found = np.full(T, np.nan)
    for _ in range(max_passes):
        todo = np.flatnonzero(np.isnan(found))
        if todo.size == 0:
            break
        below, hist, bmin, bmax = M._reduce(blocks, _ref_partial, (lo[todo], hi[todo]), "quantile")
        for r, t in enumerate(todo):
            cum = below[r] + np.cumsum(hist[r])
            b = min(int(np.searchsorted(cum, positions[t], side="right")), M._QUANTILE_BINS - 1)
            while hist[r, b] == 0 and b > 0:
                b -= 1
            if bmin[r, b] == bmax[r, b] or not np.isfinite(bmin[r, b]):
                found[t] = bmin[r, b] if np.isfinite(bmin[r, b]) else lo[t]
            else:
                lo[t], hi[t] = bmin[r, b], bmax[r, b]
    left = np.isnan(found)
    found[left] = lo[left]
    return found


def _same_bits(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes(), np.flatnonzero(a.view(np.int64) != b.view(np.int64))[:10]


def _data(rng, n, weights, ties, nan_share=0.05):
    x = rng.choice(np.round(rng.random(40), 3), n) if ties else rng.standard_normal(n) * 3
    x[rng.random(n) < nan_share] = np.nan
    if weights == "ones":
        w = np.ones(n)
    elif weights == "integer":
        w = rng.integers(0, 4, n).astype(np.float64)
    else:
        w = rng.random(n) * 3
        w[rng.random(n) < 0.05] = 0.0
        w[rng.random(n) < 0.02] = np.nan
    return x, w


def _disjoint_intervals(rng, x, T):
    cuts = np.sort(rng.choice(np.unique(x[~np.isnan(x)]), 2 * T, replace=False))
    lo, hi = cuts[0::2].copy(), cuts[1::2].copy()
    hi[::3] = lo[::3]  # some degenerate (lo == hi) intervals
    return lo, hi


@pytest.mark.parametrize("weights", ["ones", "integer", "fractional"])
@pytest.mark.parametrize("ties", [False, True])
def test_disjoint_kernel_equals_reference(weights, ties):
    rng = np.random.default_rng(7)
    x, w = _data(rng, 5000, weights, ties)
    lo, hi = _disjoint_intervals(rng, x, 12 if ties else 50)
    for got, want in zip(M._quantile_hist_disjoint(x, w, lo, hi, 64), _ref_quantile_hist(x, w, lo, hi, 64)):
        _same_bits(got, want)


def test_generic_kernel_equals_reference_on_overlapping_intervals():
    rng = np.random.default_rng(3)
    x, w = _data(rng, 3000, "fractional", False)
    lo = np.array([-1.0, -2.0, -1.0, 0.5, 3.0])
    hi = np.array([1.0, 2.0, 1.0, 0.5, -3.0])  # overlapping, nested, duplicate, point, empty
    for got, want in zip(M._quantile_hist(x, w, lo, hi, 32), _ref_quantile_hist(x, w, lo, hi, 32)):
        _same_bits(got, want)


def test_distinct_intervals_detects_overlap_and_nan():
    lo, hi, inv, disjoint = M._distinct_intervals(np.array([2.0, 0.0, 2.0]), np.array([3.0, 1.0, 3.0]))
    assert disjoint and lo.tolist() == [0.0, 2.0] and inv.tolist() == [1, 0, 1]
    assert not M._distinct_intervals(np.array([0.0, 1.0]), np.array([1.0, 2.0]))[3]  # shared end
    assert not M._distinct_intervals(np.array([0.0, np.nan]), np.array([1.0, 2.0]))[3]


def _blocks(x, w, chunk):
    return M._aligned_blocks([da.from_array(x, chunks=chunk), da.from_array(w, chunks=chunk)])


@pytest.mark.parametrize("weights", ["ones", "integer", "fractional"])
@pytest.mark.parametrize("ties", [False, True])
def test_values_at_positions_equal_reference(weights, ties):
    rng = np.random.default_rng(11)
    x, w = _data(rng, 6000, weights, ties)
    ok = ~np.isnan(x) & ~np.isnan(w) & (w != 0)
    total = float(np.sum(w[ok]))
    positions = np.unique(np.concatenate([np.floor(rng.random(60) * total), [0.0, total - 1, total + 5]]))
    blocks = _blocks(x, w, 1300)
    lo, hi = np.nanmin(x[ok]), np.nanmax(x[ok])
    _same_bits(M._values_at_positions(blocks, positions, lo, hi),
               _ref_values_at_positions(blocks, positions, lo, hi))
    probs = np.linspace(0, 1, 41)
    h = np.clip(probs * (total - 1.0), 0.0, total - 1.0)
    t0 = np.floor(h)
    t1 = np.minimum(t0 + 1.0, total - 1.0)
    v0 = _ref_values_at_positions(blocks, t0, lo, hi)
    v1 = _ref_values_at_positions(blocks, t1, lo, hi)
    _same_bits(M.weighted_quantiles(blocks, probs, total, lo, hi), v0 + (h - t0) * (v1 - v0))


def test_values_at_positions_degenerate_ranges():
    rng = np.random.default_rng(5)
    x = np.full(500, 2.5)
    w = rng.random(500)
    blocks = _blocks(x, w, 120)
    positions = np.array([0.0, 10.0, 100.0, 1e6])
    _same_bits(M._values_at_positions(blocks, positions, 2.5, 2.5),
               _ref_values_at_positions(blocks, positions, 2.5, 2.5))
    # a range wider than the data, and one that misses it
    _same_bits(M._values_at_positions(blocks, positions, -10.0, 10.0),
               _ref_values_at_positions(blocks, positions, -10.0, 10.0))
    _same_bits(M._values_at_positions(blocks, positions, 5.0, 6.0),
               _ref_values_at_positions(blocks, positions, 5.0, 6.0))


def test_values_at_positions_many_targets_heavy_ties():
    rng = np.random.default_rng(9)
    x = np.concatenate([np.zeros(3000), rng.integers(0, 5, 2000).astype(float), rng.standard_normal(2000)])
    rng.shuffle(x)
    w = rng.random(x.size) * 2
    total = float(w.sum())
    positions = np.unique(np.floor(np.linspace(0, total - 1, 300)))
    blocks = _blocks(x, w, 900)
    _same_bits(M._values_at_positions(blocks, positions, x.min(), x.max()),
               _ref_values_at_positions(blocks, positions, x.min(), x.max()))


# ------------------------------------------------------------------ scoring without the gains/lift table

def _binomial_case(seed, n=4000, weighted=True):
    rng = np.random.default_rng(seed)
    p1 = np.round(rng.random(n), 4)  # ties
    y = (rng.random(n) < p1).astype(np.float64)
    y[rng.random(n) < 0.03] = np.nan
    w = rng.random(n) * 2 if weighted else None
    preds = da.from_array(np.stack([1 - p1, p1], axis=1), chunks=(900, 2))
    return da.from_array(y, chunks=900), preds, None if w is None else da.from_array(w, chunks=900)


def _table_frame(t):
    return t.as_data_frame() if hasattr(t, "as_data_frame") else t


@pytest.mark.parametrize("weighted", [False, True])
def test_history_only_metrics_keep_lift_and_fill_table_later(weighted):
    y, p, w = _binomial_case(1, weighted=weighted)
    full = M.compute_metrics("binomial", y, p, weights=w)
    light = M.compute_metrics("binomial", y, p, weights=w, gains_lift=False)
    assert light.gains_lift() is None and M.needs_gains_lift(light) and not M.needs_gains_lift(full)
    _same_bits(light["lift_top_group"], full["lift_top_group"])
    for key in ("AUC", "logloss", "MSE", "pr_auc", "err"):
        _same_bits(light[key], full[key])
    M.add_gains_lift(light, y, p, w)
    assert not M.needs_gains_lift(light)
    a, b = _table_frame(light.gains_lift()), _table_frame(full.gains_lift())
    assert list(a.columns) == list(b.columns)
    _same_bits(a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64))
    assert str(light) == str(full)


def test_history_only_metrics_with_no_usable_rows():
    y = da.from_array(np.full(10, np.nan), chunks=5)
    p = da.from_array(np.full((10, 2), 0.5), chunks=(5, 2))
    m = M.compute_metrics("binomial", y, p, gains_lift=False)
    assert np.isnan(m["lift_top_group"]) and not M.needs_gains_lift(m)


def _forced_full_table(monkeypatch):
    import daskml_h2o.gbm.scoring as S
    real = S.compute_metrics_on_chunks
    monkeypatch.setattr(S, "compute_metrics_on_chunks", lambda *a, **k: real(*a, **{**k, "gains_lift": True}))


def _history_values(model):
    h = model.scoring_history()
    return h.drop(columns=["", "timestamp", "duration"]).to_numpy(dtype=np.float64)


@pytest.mark.parametrize("stopping", [dict(), dict(stopping_rounds=2, stopping_metric="lift_top_group",
                                                    stopping_tolerance=0.05)])
def test_gbm_final_metrics_unchanged_by_history_only_scoring(h2o_session, monkeypatch, stopping):
    import dask.dataframe as dd
    import pandas as pd

    from daskml_h2o.estimators import H2OGradientBoostingEstimator
    rng = np.random.default_rng(4)
    n = 1500
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    df["label"] = pd.Categorical(np.where(rng.random(n) < 1 / (1 + np.exp(-2 * df.a + df.b)), "1", "0"),
                                 categories=["0", "1"])
    train = h2o_session.H2OFrame(dd.from_pandas(df.iloc[:1000], npartitions=2))
    valid = h2o_session.H2OFrame(dd.from_pandas(df.iloc[1000:], npartitions=2))
    params = dict(ntrees=12, max_depth=3, seed=1, score_tree_interval=2, **stopping)

    def fit():
        m = H2OGradientBoostingEstimator(**params)
        m.train(x=["a", "b"], y="label", training_frame=train, validation_frame=valid)
        return m

    new = fit()
    with monkeypatch.context() as mp:
        _forced_full_table(mp)
        old = fit()
    _same_bits(_history_values(new), _history_values(old))
    for which in ("train", "valid"):
        a, b = new._metrics[which], old._metrics[which]
        assert a.gains_lift() is not None and not M.needs_gains_lift(a)
        _same_bits(_table_frame(a.gains_lift()).to_numpy(dtype=np.float64),
                   _table_frame(b.gains_lift()).to_numpy(dtype=np.float64))
        assert str(a) == str(b)
    if stopping:
        assert new.scoring_history()["number_of_trees"].iloc[-1] < 12  # stopped on the history's lift


def test_binomial_partial_skips_rows_in_place_as_filtering_did():
    rng = np.random.default_rng(2)
    n = 5000
    p1 = np.round(rng.random(n), 3)
    p1[rng.random(n) < 0.03] = np.nan
    y = (rng.random(n) < 0.4).astype(np.float64)
    y[rng.random(n) < 0.03] = np.nan
    w = rng.random(n)
    w[rng.random(n) < 0.03] = 0.0
    part = M._partial_binomial(y, np.stack([1 - p1, p1], axis=1), w)
    keep = ~np.isnan(y) & ~np.isnan(p1) & (w != 0)
    k = int(keep.sum())
    want = M._auc_histogram(p1[keep], y[keep], w[keep], np.ones(k, dtype=np.bool_), M.NBINS)
    for got, ref in zip(part["bins"], want):
        _same_bits(got, ref)
    assert want[0].size == M.NBINS  # the merging path ran
    _same_bits(part["range"], [p1[keep].min(), p1[keep].max()])


def test_threshold_table_cells_match_cell_by_cell_conversion():
    rng = np.random.default_rng(8)
    tps, fps = np.cumsum(rng.random(50)), np.cumsum(rng.random(50))
    cols = M.threshold_scores(np.sort(rng.random(50))[::-1].copy(), tps, fps)
    table = M._table_from_columns(cols, M.THRESHOLD_COLUMNS, "h", "d")
    want = [[M._plain_num(cols[n][i]) if n != "idx" else int(cols[n][i]) for n in M.THRESHOLD_COLUMNS]
            for i in range(50)]
    got = table.cell_values
    assert [[type(v) for v in r] for r in got] == [[type(v) for v in r] for r in want]
    _same_bits(np.array(got, dtype=np.float64), np.array(want, dtype=np.float64))

"""H2O's per-node histogram types (gbm/adaptive.py, gbm/split_points.py): bin ranges and
halving per level, H2O's split-point rules, thresholds, child ranges, partition
independence, and trees/AUCs equal to real H2O's on prostate."""
import contextlib
import math
import os
import shutil
import sys

import dask.dataframe as dd
import numpy as np
import pytest

from daskml_h2o._pcg import runif
from daskml_h2o.data.binning import adaptive_spec_from_data
from daskml_h2o.estimators import H2OGradientBoostingEstimator
from daskml_h2o.gbm import adaptive as A
from daskml_h2o.gbm import distributions as D
from daskml_h2o.gbm import histogram as H
from daskml_h2o.gbm import split_points as SP
from daskml_h2o.gbm import tree as T
from daskml_h2o.gbm.grower import GrowParams, chunk_tree_inputs
from daskml_h2o.gbm.histogram_types import make_strategy

PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
TYPES = ["UniformAdaptive", "UniformRobust", "Random", "QuantilesGlobal", "RoundRobin"]
H2O_PARAMS = dict(ntrees=3, max_depth=3, seed=1234, sample_rate=1)


# ----------------------------------------------------------------------------- helpers

def _strategy(cls, X, is_cat=None, nbins=20, top=1024, seed=1):
    s = cls(dict(nbins=nbins, nbins_top_level=top, nbins_cats=1024, seed=seed))
    s.spec = adaptive_spec_from_data(X, is_cat=is_cat, nbins=nbins, nbins_top_level=top)
    if isinstance(s, A.QuantilesGlobal):
        s.global_points = [None if s.spec.is_cat[j] else SP.global_split_points(X[:, j], nbins, top)
                           for j in range(X.shape[1])]
    return s


def _grow(strategy, X, y, nparts=1, max_depth=3, min_rows=5):
    """One regression tree on residuals y − mean(y) through the strategy's protocol (as the
    driver does); returns (builder, plans, tree)."""
    z = y - y.mean()
    parts = np.array_split(np.arange(len(y)), nparts)
    chunks = [chunk_tree_inputs(np.asfortranarray(X[p]), D.GAUSSIAN, y[p], z[p], np.zeros(len(p)), np.ones(len(p)))
              for p in parts]
    builder = strategy.new_builder(GrowParams(max_depth=max_depth, min_rows=min_rows), np.random.default_rng(0), None)
    ids = [np.zeros(len(p), np.int32) for p in parts]
    plan, plans = builder.plan(first=True), []
    while plan is not None:
        plans.append(plan)
        results = [strategy.level_step(c, i, plan) for c, i in zip(chunks, ids)]
        ids = [r[0] for r in results]
        plan = strategy.decide(builder, strategy.combine(*results))
    stats = builder.leaf_stats()
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(stats[:, 0] > 0, stats[:, 3] / stats[:, 0], 0.0)
    return builder, plans, builder.finish(values)


def _base(plan):
    return plan.base if isinstance(plan, A.PointsPlan) else plan


# ----------------------------------------------------------------------------- bins and ranges

def test_root_bins_then_halving_per_level_and_integer_one_bin_per_value():
    rng = np.random.default_rng(1)
    n = 600
    x0 = np.concatenate([[0.0, 10.0], rng.uniform(0, 10, n - 2)])
    x1 = rng.integers(0, 37, n).astype(float)
    x1[:2] = [0, 36]
    X = np.column_stack([x0, x1])
    y = np.where(x0 > 5, 2.0, 0.0) + (x0 > 2.5) + 0.1 * rng.normal(size=n)
    s = _strategy(A.UniformAdaptive, X)
    builder, plans, tree = _grow(s, X, y, max_depth=3)
    root = plans[0]
    # real column: 1024 uniform bins on [min, next double above max)
    assert root.nbins[0, 0] == 1024 and root.lo[0, 0] == 0.0
    assert root.step[0, 0] == 1024 / np.nextafter(10.0, np.inf)
    # integer column spanning 37 values <= 1024: one bin per value
    assert root.nbins[0, 1] == 37 and root.step[0, 1] == 1.0 and root.lo[0, 1] == 0.0
    assert tree.nodes["feature"][0] == 0
    t = tree.nodes["threshold"][0]
    level1 = plans[1]
    # the split column: left child [min, threshold), right [threshold, maxEx); 1024 >> 1 bins
    assert list(level1.nbins[:, 0]) == [512, 512]
    assert level1.lo[0, 0] == 0.0 and level1.step[0, 0] == 512 / t
    assert level1.lo[1, 0] == t and level1.step[1, 0] == 512 / (np.nextafter(10.0, np.inf) - t)
    # 37 bins halve to max(18, nbins=20) = 20 < 37 values: uniform bins again
    assert list(level1.nbins[:, 1]) == [20, 20] and level1.step[0, 1] == 20 / 37
    level2 = plans[2]
    assert set(level2.nbins[:, 0]) == {256}
    assert set(level2.nbins[:, 1]) == {20}


def test_children_take_the_parents_observed_range_and_drop_collapsed_columns():
    rng = np.random.default_rng(2)
    n = 800
    x0 = rng.uniform(0, 10, n)
    x1 = x0 + rng.uniform(0, 1, n)               # follows x0: narrower in every child
    x2 = np.where(x0 < 5, 3.0, rng.integers(3, 9, n).astype(float))  # constant on the left
    X = np.column_stack([x0, x1, x2])
    y = 3.0 * (x0 >= 5) + np.sin(x1) + 0.05 * rng.normal(size=n)
    s = _strategy(A.UniformAdaptive, X)
    builder, plans, tree = _grow(s, X, y, max_depth=3)
    nodes = tree.nodes
    assert nodes["feature"][0] == 0 and nodes["kind"][0] == T.RANGE
    left, right = nodes["left"][0], nodes["right"][0]
    assert nodes["kind"][left] != T.LEAF
    checked_collapse = False
    for pos, rows in ((left, x0 < nodes["threshold"][0]), (right, x0 >= nodes["threshold"][0])):
        if nodes["kind"][pos] == T.LEAF:
            continue
        f, thr = nodes["feature"][pos], nodes["threshold"][pos]
        for side in ("left", "right"):
            lo, ex, _, has = builder.ranges[nodes[side][pos]]
            for j in range(3):
                if j == f:
                    continue
                col = X[rows, j]
                if col.min() == col.max():
                    assert not has[j]
                    checked_collapse = True
                    continue
                # the integer column x2 has exclusive max = max + 1
                max_ex = col.max() + 1 if j == 2 else np.nextafter(col.max(), np.inf)
                assert (lo[j], ex[j]) == (col.min(), max_ex)
            cut = math.ceil(thr) if f == 2 else thr
            assert (ex[f] if side == "left" else lo[f]) == cut
    # x2 is constant (3) left of the root split: the left node's children get no histogram
    assert checked_collapse


def test_bitset_children_keep_the_parent_range_and_na_side_gets_no_histogram():
    rng = np.random.default_rng(3)
    n = 900
    cat = rng.integers(0, 6, n).astype(float)
    x = rng.uniform(0, 1, n)
    x[rng.random(n) < 0.2] = np.nan
    X = np.column_stack([cat, x])
    y = np.isin(cat, [1, 4]) * 2.0 + np.where(np.isnan(x), 5.0, 0.0) + 0.05 * rng.normal(size=n)
    s = _strategy(A.UniformAdaptive, X, is_cat=[True, False])
    builder, plans, tree = _grow(s, X, y, max_depth=3)
    nodes = tree.nodes
    # the NAs of x are the strongest signal: an NA-vs-rest root whose NA side is a leaf
    assert nodes["kind"][0] == T.NA_VS_REST and nodes["feature"][0] == 1
    assert nodes["kind"][nodes["right"][0]] == T.LEAF
    left = nodes["left"][0]
    assert nodes["kind"][left] == T.BITSET
    parent = builder.ranges[left]
    for side in ("left", "right"):
        lo, ex, _, _ = builder.ranges[nodes[side][left]]
        np.testing.assert_array_equal(lo, parent[0])
        np.testing.assert_array_equal(ex, parent[1])


# ----------------------------------------------------------------------------- thresholds

@pytest.mark.parametrize("lo_edge, hi_edge, integral, step, expected", [
    (7.0, 7.0, True, 1.0, 6.5),      # one bin per value: values 6 | 7
    (3.0, 3.0, True, 1.0, 2.5),
    (2.0, 2.0, True, 1.0, 1.5),
    (2.2, 2.9, True, 0.7, 2.5),      # wide integer bins: floor / ceil of the edges
    (4.38, 4.38875, False, 0.3, float(np.float32(4.384375))),
])
def test_split_threshold_rules(lo_edge, hi_edge, integral, step, expected):
    t = SP.split_threshold(lo_edge, hi_edge, integral, step)
    assert t == expected and t == float(np.float32(t))


def test_threshold_skips_empty_bins_between_occupied_ones():
    X = np.array([[1.0]] * 50 + [[2.0]] * 50 + [[9.0]] * 50 + [[10.0]] * 50)
    y = np.where(X[:, 0] > 5, 1.0, 0.0)
    _, _, tree = _grow(_strategy(A.UniformAdaptive, X), X, y, max_depth=1)
    # integer column, one bin per value: between the values 2 and 9 (H2O: lo − 1, hi)
    assert tree.nodes["threshold"][0] == 5.5


# ----------------------------------------------------------------------------- split points

def test_pad_uniformly_limit_and_unique_follow_h2o():
    np.testing.assert_allclose(SP.pad_uniformly([2, 3, 4, 5], 8), [2, 2.25, 2.75, 3, 3.5, 4, 4.5, 5])
    np.testing.assert_array_equal(SP.pad_uniformly([1, 2], 2), [1, 2])
    # the point at or below lo is kept (lo falls in the first bin), max_ex is excluded
    np.testing.assert_array_equal(SP.limit_to_range(np.arange(10.0), 2.5, 6.0), [2, 3, 4, 5])
    np.testing.assert_array_equal(SP.limit_to_range(np.arange(10.0), 3.0, 6.5), [3, 4, 5, 6])
    np.testing.assert_array_equal(SP.unique_in_range(np.array([0.5, 1, 1, 2, 3, 7]), 1.0, 3.0), [1, 2])
    np.testing.assert_array_equal(SP.unique_in_range(np.array([1.5, 2.0]), 1.0, 3.0), [1, 1.5, 2])


def test_global_and_node_quantile_points():
    pts, refinable = SP.global_split_points(np.r_[np.arange(100.0), np.nan], 4, 10)
    assert refinable
    q = np.array([0, 24.75, 49.5, 74.25])
    expected = np.concatenate([[q[i], q[i] + 0.25 * (q[i + 1] - q[i]), q[i] + 0.75 * (q[i + 1] - q[i])]
                               for i in range(3)] + [q[3:]])
    np.testing.assert_allclose(pts, expected)
    exact, refinable = SP.global_split_points(np.array([5.0, 1, 3, 3, 1]), 4, 10)
    assert not refinable and list(exact) == [1, 3, 5]
    assert SP.global_split_points(np.array([0.0, 1, 1, 0]), 4, 10) is None  # binary
    assert SP.global_split_points(np.array([2.0, 2.0]), 4, 10) is None      # constant
    grid = np.arange(10.0)
    np.testing.assert_allclose(SP.node_quantile_points(grid, True, 2.5, 6.0, 8), [2, 2.25, 2.75, 3, 3.5, 4, 4.5, 5])
    np.testing.assert_array_equal(SP.node_quantile_points(grid, False, 2.5, 6.0, 8), [2, 3, 4, 5])
    assert SP.node_quantile_points(grid, True, 9.2, 9.5, 8) is None


def test_random_points_use_h2o_generator_and_are_per_histogram():
    # H2O's PCG: the first nextFloat of a fresh generator is runif's draw for that seed
    for seed in (0, 42, -7, 2 ** 62 + 3):
        assert SP.pcg_floats(seed, 1)[0] == np.float32(runif(seed, 0, 1)[0])
    a = SP.random_split_points(0.0, 10.0, 2.0, 20, 0, 99)
    assert a[0] == 0.0 and np.all(np.diff(a) >= 0) and a[-1] <= 20 and len(a) == 20
    np.testing.assert_array_equal(a, SP.random_split_points(0.0, 10.0, 2.0, 20, 0, 99))
    assert not np.array_equal(a, SP.random_split_points(0.0, 10.0, 2.0, 20, 0, 100))
    assert not np.array_equal(a, SP.random_split_points(0.5, 10.0, 2.0, 20, 0, 99))
    assert SP.child_seed(5, 0) == 5 * 0xDECAF + 1 and SP.child_seed(5, 1) == 5 * 0xDECAF + 2
    assert SP.child_seed(2 ** 62, 1) == ((2 ** 62 * 0xDECAF + 2 + 2 ** 63) % 2 ** 64) - 2 ** 63


def test_guided_points_refine_sparse_bins_by_squared_error():
    edges = np.arange(11.0)
    hist = np.zeros((11, 3))
    hist[2] = (4.0, 0.0, 3.0)    # SE 3
    hist[7] = (4.0, 2.0, 2.0)    # SE 2 − 4/4 = 1
    pts = SP.guided_split_points(edges, hist, False, 12, 2.25, np.nextafter(7.5, 8), 7.5)
    # budget 12 − 2 − 2 = 8: bin 2 gets ceil(8·3/4) = 6 extra points, bin 7 the other 2;
    # then lo and the observed max; points below lo and above max are cut
    expected = [2.25] + [2 + k / 7 for k in range(2, 7)] + [7.0, 7 + 1 / 3, 7.5]
    np.testing.assert_allclose(pts, expected)
    # integer columns: at most one extra point per whole number of a bin
    wide = np.array([0.0, 3.0, 6.0])
    h2 = np.array([[5.0, 1.0, 3.0], [0.0, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(SP.guided_split_points(wide, h2, True, 30, 0.0, 4.0, 2.0), [0, 0.75, 1.5, 2, 2.25])
    assert SP.guided_split_points(edges, hist, False, 4, 2.25, 8.0, 7.5) is None  # no budget


def test_points_kernel_bins_like_numpy_and_like_the_uniform_kernel():
    rng = np.random.default_rng(5)
    n = 300
    X = np.asfortranarray(np.column_stack([rng.uniform(0, 10, n), rng.uniform(-1, 1, n)]))
    X[::17, 1] = np.nan
    ids = rng.integers(0, 2, n).astype(np.int32)
    slot_of_node = np.array([0, 1], np.int32)
    grad = rng.normal(size=n).astype(np.float32)
    w = rng.uniform(0.5, 2, n)
    lo = np.array([[0.0, -1.0], [0.0, -1.0]])
    step = np.array([[1.6, 8.0], [1.6, 8.0]])
    nbins = np.array([[16, 16], [16, 16]])
    none = np.zeros((2, 2), np.int64)
    hist_u, mm_u = H.build_histograms_adaptive(X, ids, slot_of_node, grad, w, lo, step, nbins, 17)
    hist_p, mm_p = A.build_histograms_points(X, ids, slot_of_node, grad, w, lo, step, nbins, none, none,
                                             np.zeros(1), np.zeros((2, 2), bool), 17)
    np.testing.assert_array_equal(hist_u, hist_p)
    np.testing.assert_array_equal(mm_u, mm_p)
    # slot 1, feature 0 with value points; slot 0, feature 1 with points in bin units
    vpts = np.sort(rng.uniform(0, 10, 9))
    vpts[0] = 0.0
    bpts = np.sort(rng.uniform(0, 16, 16))
    bpts[0] = 0.0
    points = np.concatenate([vpts, bpts])
    pstart = np.array([[0, 9], [0, 0]])
    plen = np.array([[0, 16], [9, 0]])
    pos_units = np.array([[False, True], [False, False]])
    nb = np.array([[16, 16], [9, 16]])
    hist, _ = A.build_histograms_points(X, ids, slot_of_node, grad, w, lo, step, nb, pstart, plen, points,
                                        pos_units, 17)
    for s, f, pts, key in ((1, 0, vpts, lambda x: x), (0, 1, bpts, lambda x: (x + 1.0) * 8.0)):
        rows = (ids == s) & ~np.isnan(X[:, f])
        b = np.clip(np.searchsorted(pts, key(X[rows, f]), side="right") - 1, 0, len(pts) - 1)
        ref = np.zeros(len(pts))
        np.add.at(ref, b, w[rows])
        np.testing.assert_allclose(hist[s, f, :len(pts), 0], ref)
    assert hist[0, 1, 16, 0] == pytest.approx(w[(ids == 0) & np.isnan(X[:, 1])].sum())


def test_round_robin_picks_one_type_per_node_by_seed():
    X = np.random.default_rng(6).uniform(0, 1, (50, 2))
    s = _strategy(A.RoundRobin, X)
    b = s.new_builder(GrowParams(), np.random.default_rng(0), None)
    for seed, kind in ((0, "UniformAdaptive"), (1, "UniformAdaptive"), (-6, "Random"), (7, "QuantilesGlobal")):
        b.seeds[0] = seed
        assert b.node_type(0) == kind


# ----------------------------------------------------------------------------- end to end

_MODELS = {}


@pytest.fixture
def prostate(h2o_session):
    fr = h2o_session.import_file(h2o_session.datasets.path("prostate"))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    return fr


def _model(h2o, prostate, histogram_type, nparts=1):
    key = (histogram_type, nparts)
    if key not in _MODELS:
        frame = prostate
        if nparts > 1:
            frame = h2o.H2OFrame(dd.from_pandas(prostate.as_data_frame(), npartitions=nparts))
            frame["CAPSULE"] = frame["CAPSULE"].asfactor()
        m = H2OGradientBoostingEstimator(histogram_type=histogram_type, **H2O_PARAMS)
        m.train(x=PROSTATE_X, y="CAPSULE", training_frame=frame)
        _MODELS[key] = m
    return _MODELS[key]


def _prostate_X(prostate):
    return prostate.as_data_frame()[PROSTATE_X].to_numpy(np.float64)


@pytest.mark.parametrize("histogram_type", TYPES)
def test_every_type_trains_predicts_and_ignores_partitioning(h2o_session, prostate, histogram_type):
    assert type(make_strategy(histogram_type, dict(nbins=20, nbins_top_level=1024, nbins_cats=1024,
                                                   seed=1))).__name__ == histogram_type
    one = _model(h2o_session, prostate, histogram_type)
    assert one.auc() > 0.8
    pred = one.predict(prostate).as_data_frame()
    assert pred.columns.tolist() == ["predict", "p0", "p1"] and len(pred) == 380
    three = _model(h2o_session, prostate, histogram_type, nparts=3)
    for (ta,), (tb,) in zip(one._model.trees, three._model.trees):
        for key in ("feature", "kind", "threshold", "value", "node_id"):
            np.testing.assert_array_equal(ta.nodes[key], tb.nodes[key])
    assert three.auc() == pytest.approx(one.auc(), abs=1e-12)


def test_uniform_adaptive_training_scores_are_its_trees_on_raw_data(h2o_session, prostate):
    m = _model(h2o_session, prostate, "UniformAdaptive")
    X = _prostate_X(prostate)
    scorer = m._model
    f = scorer.f0 + T.predict_raw([row[0] for row in scorer.trees], X)
    p1 = 1.0 / (1.0 + np.exp(-f))
    np.testing.assert_allclose(m.predict(prostate).as_data_frame()["p1"], p1, rtol=1e-12)
    y = prostate.as_data_frame()["CAPSULE"].astype(int).to_numpy()
    # the training metrics come from the scores the driver accumulated level by level
    logloss = -np.mean(y * np.log(p1) + (1 - y) * np.log(1 - p1))
    assert m.logloss() == pytest.approx(logloss, rel=1e-6)


# ----------------------------------------------------------------------------- against real H2O

def _bfs(features, thresholds, left, right):
    out, queue = [], [0]
    while queue:
        nd = queue.pop(0)
        if left[nd] < 0:
            out.append(None)
            continue
        out.append((features[nd], float(np.float32(thresholds[nd]))))
        queue += [left[nd], right[nd]]
    return out


def _ours(model, t):
    n = model._model.trees[t][0].nodes
    names = [model._model.columns[f] if f >= 0 else None for f in n["feature"]]
    left = np.where(n["kind"] == T.LEAF, -1, n["left"])
    return _bfs(names, n["threshold"], left, n["right"])


@pytest.mark.skipif(shutil.which("java") is None, reason="real H2O needs Java")
def test_trees_and_auc_equal_real_h2o(h2o_session, prostate):
    pytest.importorskip("h2o")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
    from _common import own_h2o
    from h2o.estimators import H2OGradientBoostingEstimator as RealGBM
    from h2o.tree import H2OTree
    theirs = {}
    with contextlib.redirect_stdout(open(os.devnull, "w")), own_h2o(nthreads=2) as real:
        real.no_progress()
        fr = real.import_file(h2o_session.datasets.path("prostate"))
        fr["CAPSULE"] = fr["CAPSULE"].asfactor()
        models = {}
        for ht in TYPES:  # trained side by side in the JVM
            models[ht] = RealGBM(histogram_type=ht, **H2O_PARAMS)
            models[ht].start(x=PROSTATE_X, y="CAPSULE", training_frame=fr)
        for ht, m in models.items():
            m.join()
            trees = []
            for t in range(H2O_PARAMS["ntrees"]):
                tr = H2OTree(m, t)
                trees.append(_bfs(tr.features, tr.thresholds, tr.left_children, tr.right_children))
            theirs[ht] = (trees, m.auc())
    for ht in TYPES:
        ours = _model(h2o_session, prostate, ht)
        trees, auc = theirs[ht]
        for t in range(H2O_PARAMS["ntrees"]):
            assert _ours(ours, t) == trees[t], f"{ht} tree {t}"
        assert ours.auc() == pytest.approx(auc, abs=1e-12), ht
    # H2O's confirmed integer thresholds appear: GLEASON 6.5 at the root, DPROS 2.5 and 1.5
    ua = [_ours(_model(h2o_session, prostate, "UniformAdaptive"), t) for t in range(3)]
    assert ua[0][0] == ("GLEASON", 6.5) and ("DPROS", 2.5) in ua[0] and ("DPROS", 1.5) in ua[1]

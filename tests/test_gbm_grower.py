"""The reference grower and boosting loop: chunking invariance, H2O rules, sklearn parity."""
import numpy as np
import pytest

from daskml_h2o.data import binning as B
from daskml_h2o.gbm import distributions as D
from daskml_h2o.gbm import grower as G
from daskml_h2o.gbm import tree as T


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.uniform(0, 10, n),
                         rng.integers(0, 6, n).astype(float), rng.normal(size=n)])
    X[rng.random(n) < 0.1, 0] = np.nan
    X[rng.random(n) < 0.05, 2] = np.nan
    signal = np.nan_to_num(X[:, 0], nan=1.5) + 0.3 * X[:, 1] + np.isin(X[:, 2], [1, 4]) * 2.0
    spec = B.spec_from_data(X, max_bins=32, is_cat=[0, 0, 1, 0])
    return X, B.bin_matrix(X, spec), spec, signal, rng


def _split(a, cuts):
    return np.split(a, cuts) if a is not None else [None] * (len(cuts) + 1)


def _fit(Xb, y, w, spec, cuts=(), **params):
    cuts = list(cuts)
    Xs = [np.asfortranarray(x) for x in np.split(Xb, cuts)]
    return G.fit_reference(Xs, _split(y, cuts), _split(w, cuts), params, spec)


def _assert_same_trees(a, b):
    assert len(a.trees) == len(b.trees)
    for ra, rb in zip(a.trees, b.trees):
        for ta, tb in zip(ra, rb):
            for field in ("feature", "kind", "bin", "threshold", "na_left", "left", "right",
                          "node_id", "depth", "value"):
                np.testing.assert_array_equal(ta.nodes[field], tb.nodes[field], err_msg=field)
            np.testing.assert_array_equal(ta.bitsets, tb.bitsets)
            np.testing.assert_allclose(ta.nodes["weight"], tb.nodes["weight"], rtol=1e-12)


@pytest.mark.parametrize("dist", ["gaussian", "bernoulli"])
def test_one_chunk_and_three_chunks_give_identical_trees(dist):
    X, Xb, spec, signal, rng = _data()
    y = signal + rng.normal(size=len(signal)) if dist == "gaussian" else \
        (signal + rng.normal(size=len(signal)) > 2.5).astype(float)
    w = rng.uniform(0.5, 2.0, len(y))
    params = dict(distribution=dist, ntrees=5, max_depth=4, min_rows=5, sample_rate=0.7,
                  col_sample_rate=0.7, col_sample_rate_per_tree=0.9, seed=42)
    one = _fit(Xb, y, w, spec, **params)
    three = _fit(Xb, y, w, spec, cuts=(150, 400), **params)
    _assert_same_trees(one, three)
    np.testing.assert_array_equal(one.scores[0], np.concatenate(three.scores))


def test_sampling_depends_on_global_rows_only():
    w = np.ones(1000)
    whole = G.chunk_sample_weights(w, None, 0, 7, 0.6)
    parts = np.concatenate([G.chunk_sample_weights(w[:300], None, 0, 7, 0.6),
                            G.chunk_sample_weights(w[300:], None, 300, 7, 0.6)])
    np.testing.assert_array_equal(whole, parts)
    assert 0.55 < whole.mean() < 0.65
    assert not np.array_equal(whole, G.chunk_sample_weights(w, None, 0, 8, 0.6))
    y = np.repeat([0.0, 1.0], 500)
    per_class = G.chunk_sample_weights(w, y, 0, 7, sample_rate_per_class=[1.0, 0.2])
    assert per_class[:500].all() and 0.1 < per_class[500:].mean() < 0.3


def test_stump_is_the_best_split_over_all_features_and_thresholds():
    X, Xb, spec, signal, rng = _data(seed=3)
    y = signal + rng.normal(size=len(signal))
    fit = _fit(Xb, y, None, spec, ntrees=1, max_depth=1, learn_rate=1.0, min_rows=10,
               min_split_improvement=0.0)
    root = fit.trees[0][0].nodes[0]
    r = (y - np.float32(y.mean())).astype(np.float32).astype(float)

    def se(m):
        return ((r[m] - r[m].mean()) ** 2).sum() if m.any() else 0.0

    best = np.inf
    for f in (0, 1, 3):  # numeric features: every edge, NA on either side
        na = Xb[:, f] == spec.na_bin
        for b in range(1, spec.n_bins[f]):
            lo = (Xb[:, f] < b) & ~na
            for left in (lo | na, lo):
                if left.sum() >= 10 and (~left).sum() >= 10:
                    best = min(best, se(left) + se(~left))
    brute_gain = se(np.ones(len(r), bool)) - best
    # a categorical set split may beat every numeric threshold, never the reverse
    assert root["gain"] >= brute_gain * (1 - 1e-6)
    if root["feature"] != 2:
        assert root["gain"] == pytest.approx(brute_gain, rel=1e-6)


@pytest.mark.parametrize("dist,nclasses", [("gaussian", 1), ("bernoulli", 2),
                                           ("quasibinomial", 2), ("multinomial", 2),
                                           ("multinomial", 3), ("poisson", 1), ("gamma", 1),
                                           ("tweedie", 1), ("laplace", 1), ("quantile", 1),
                                           ("huber", 1)])
def test_every_distribution_trains_and_scores_consistently(dist, nclasses):
    X, Xb, spec, signal, rng = _data(n=400, seed=5)
    noisy = signal + rng.normal(size=len(signal))
    if dist in ("bernoulli", "quasibinomial", "multinomial"):
        y = np.digitize(noisy, np.quantile(noisy, np.arange(1, nclasses) / nclasses)).astype(float)
    elif dist in ("poisson", "tweedie"):
        y = rng.poisson(np.exp(0.2 * signal)).astype(float)
    elif dist == "gamma":
        y = rng.gamma(2.0, np.exp(0.2 * signal) / 2.0)
    else:
        y = noisy
    y[:5] = np.nan  # NA responses are ignored
    fit = _fit(Xb, y, None, spec, cuts=(100,), distribution=dist, nclasses=nclasses, ntrees=8,
               max_depth=3, quantile_alpha=0.3, learn_rate=0.2)
    F = np.concatenate(fit.scores)
    K = F.shape[1]
    for k in range(K):
        trees = [row[k] for row in fit.trees]
        raw = (fit.init_f if k == 0 else 0.0) + T.predict_raw(trees, X)
        # training scores are float32-rounded after every tree
        np.testing.assert_allclose(F[:, k], raw, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(T.predict_raw(trees, X),
                                      T.predict_binned(trees, Xb, spec.na_bin))
    code = D.dist_code(dist)
    ok = ~np.isnan(y)
    kw = dict(power=1.5, alpha=0.3, delta=1.0)
    if K > 1:
        before = D.multinomial_deviance(y[ok], np.zeros((ok.sum(), K)))
        after = D.multinomial_deviance(y[ok], F[ok])
    else:
        before = D.deviance(code, y[ok], np.full(ok.sum(), fit.init_f), **kw)
        after = D.deviance(code, y[ok], F[ok, 0], **kw)
    assert after < before


def test_tree_structure_rules():
    X, Xb, spec, signal, rng = _data(n=800, seed=7)
    y = signal + rng.normal(size=len(signal))
    fit = _fit(Xb, y, None, spec, ntrees=3, max_depth=3, min_rows=20)
    for (tree,) in fit.trees:
        nodes = tree.nodes
        leaf = nodes["kind"] == T.LEAF
        assert (nodes["weight"][leaf] >= 20).all()
        assert nodes["depth"].max() <= 3
        ids = nodes["node_id"]
        assert len(set(ids)) == len(ids) and ids[0] == 0
        # leaves are numbered after every node created during growth
        assert ids[leaf].min() > ids[~leaf].max()
        # gains of splits are positive SE reductions
        assert (nodes["gain"][~leaf] > 0).all()
        paths = T.leaf_node_assignment(tree, X, "Path")
        assert set(len(p) for p in paths) <= {1, 2, 3}


def test_constant_response_gives_single_leaf_and_stops():
    X, Xb, spec, _, _ = _data(n=100)
    fit = _fit(Xb, np.full(100, 3.0), None, spec, ntrees=5)
    assert len(fit.trees) == 1
    tree = fit.trees[0][0]
    assert len(tree.nodes) == 1 and tree.nodes["value"][0] == 0 and tree.nodes["node_id"][0] == 0
    assert fit.init_f == 3.0


def test_learning_rate_annealing_first_tree_uses_lr_over_annealing():
    X, Xb, spec, signal, rng = _data(n=200)
    y = np.where(Xb[:, 1] >= 16, 5.0, -5.0)
    fit = _fit(Xb, y, None, spec, ntrees=2, max_depth=1, min_rows=1, learn_rate=0.1,
               learn_rate_annealing=0.5)
    v0 = fit.trees[0][0].nodes["value"]
    r = y - y.mean()
    assert np.sort(v0[v0 != 0]) == pytest.approx(np.sort([0.2 * r.min(), 0.2 * r.max()]), rel=1e-5)


def test_bad_parameters_raise():
    X, Xb, spec, signal, _ = _data(n=50)
    with pytest.raises(ValueError, match="unknown parameters"):
        _fit(Xb, signal, None, spec, n_trees=3)
    with pytest.raises(ValueError, match="col_sample_rate"):
        _fit(Xb, signal, None, spec, col_sample_rate=0.0)


# ----------------------------------------------------------------------------- sklearn parity

def _prebinned(n=2000, seed=11):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 12, (n, 4)).astype(float)
    signal = np.sin(X[:, 0] / 2) + 0.2 * X[:, 1] - 0.1 * (X[:, 2] - 5) ** 2 / 5
    return X, signal, rng


def test_regression_parity_with_sklearn():
    from sklearn.ensemble import HistGradientBoostingRegressor
    X, signal, rng = _prebinned()
    y = signal + 0.3 * rng.normal(size=len(signal))
    spec = B.spec_from_data(X, max_bins=255)
    fit = _fit(B.bin_matrix(X, spec), y, None, spec, ntrees=10, max_depth=3, min_rows=10,
               min_split_improvement=0.0, learn_rate=0.1)
    ours = fit.init_f + T.predict_raw([r[0] for r in fit.trees], X)
    sk = HistGradientBoostingRegressor(max_iter=10, max_depth=3, min_samples_leaf=10,
                                       max_leaf_nodes=None, learning_rate=0.1,
                                       l2_regularization=0.0, early_stopping=False)
    theirs = sk.fit(X, y).predict(X)
    # same splits (SE reduction == gradient gain for squared error), same Newton leaves;
    # only float32 rounding of H2O's histograms and scores separates them
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_classification_parity_with_sklearn():
    from sklearn.ensemble import HistGradientBoostingClassifier
    X, signal, rng = _prebinned(seed=12)
    y = (signal + 0.5 * rng.normal(size=len(signal)) > np.median(signal)).astype(float)
    spec = B.spec_from_data(X, max_bins=255)
    Xb = B.bin_matrix(X, spec)

    def both(ntrees):
        fit = _fit(Xb, y, None, spec, distribution="bernoulli", nclasses=2, ntrees=ntrees,
                   max_depth=3, min_rows=10, min_split_improvement=0.0)
        ours = 1 / (1 + np.exp(-(fit.init_f + T.predict_raw([r[0] for r in fit.trees], X))))
        sk = HistGradientBoostingClassifier(max_iter=ntrees, max_depth=3, min_samples_leaf=10,
                                            max_leaf_nodes=None, learning_rate=0.1,
                                            l2_regularization=0.0, early_stopping=False)
        return ours, sk.fit(X, y).predict_proba(X)[:, 1]

    # same f0 (log-odds) and the same Newton leaves Σz/Σp(1−p); on this data the first
    # 4 trees also pick the same splits
    ours, theirs = both(4)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    # H2O picks splits by least squares on the residual, sklearn by the Newton gain G²/H:
    # from tree 5 on a few splits differ (root: x0 < 5.5 vs < 6.5), predictions stay close
    ours, theirs = both(10)
    assert np.abs(ours - theirs).mean() < 0.02
    assert np.abs(ours - theirs).max() < 0.1


# ----------------------------------------------------------------------------- UniformAdaptive

def _adaptive_data(n=800, seed=21):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, 10, n), rng.normal(size=n),
                         rng.integers(0, 6, n)]).astype(float)
    X[rng.random(n) < 0.1, 1] = np.nan
    X[rng.random(n) < 0.05, 2] = np.nan
    y = (X[:, 0] >= 7) * 2.0 + np.nan_to_num(X[:, 1], nan=1.0) \
        + np.isin(X[:, 2], [1, 3]) * 1.5 + 0.1 * rng.normal(size=n)
    return X, y, B.adaptive_spec_from_data(X, is_cat=[0, 0, 1])


def test_adaptive_trees_follow_h2o_thresholds_and_chunking_invariance():
    X, y, aspec = _adaptive_data()
    params = dict(ntrees=4, max_depth=3, min_rows=10)
    one = G.fit_reference([np.asfortranarray(X)], [y], [None], params, aspec)
    two = G.fit_reference([np.asfortranarray(X[:333]), np.asfortranarray(X[333:])],
                          [y[:333], y[333:]], [None, None], params, aspec)
    _assert_same_trees(one, two)
    root = one.trees[0][0].nodes[0]
    # integer column, one bin per value: threshold halfway between 6 and 7
    assert root["feature"] == 0 and root["threshold"] == 6.5 and root["kind"] == T.RANGE
    np.testing.assert_allclose(one.scores[0][:, 0],
                               one.init_f + T.predict_raw([r[0] for r in one.trees], X),
                               rtol=1e-5, atol=1e-5)
    kinds = np.concatenate([r[0].nodes["kind"] for r in one.trees])
    assert (kinds == T.BITSET).any()
    for (tree,) in one.trees:
        for nd in tree.nodes[tree.nodes["kind"] == T.BITSET]:
            bits = tree.bitsets[nd["bitset_start"]:nd["bitset_start"] + nd["bitset_len"]]
            assert len(bits) == 6 and 0 < bits.sum() < 6


def test_adaptive_real_column_threshold_is_between_occupied_bins():
    rng = np.random.default_rng(22)
    x = np.concatenate([rng.uniform(0, 1, 200), rng.uniform(3, 4, 200)])
    y = (x > 2).astype(float) + 0.01 * rng.normal(size=400)
    X = x[:, None]
    aspec = B.adaptive_spec_from_data(X)
    fit = G.fit_reference([X], [y], [None], dict(ntrees=1, max_depth=1), aspec)
    t = fit.trees[0][0].nodes[0]["threshold"]
    # the gap (1, 3) holds empty bins: the threshold sits halfway across it
    assert 1.9 < t < 2.1
    assert t == float(np.float32(t))


def test_adaptive_equals_global_bins_on_small_integer_data():
    rng = np.random.default_rng(23)
    X = rng.integers(0, 8, (600, 3)).astype(float)
    y = np.sin(X[:, 0]) + 0.3 * X[:, 1] + 0.2 * rng.normal(size=600)
    params = dict(ntrees=5, max_depth=3, min_rows=10)
    aspec = B.adaptive_spec_from_data(X)
    spec = B.spec_from_data(X, max_bins=255)
    a = G.fit_reference([np.asfortranarray(X)], [y], [None], params, aspec)
    g = G.fit_reference([B.bin_matrix(X, spec)], [y], [None], params, spec)
    # one bin per value in both: the same partitions are searched, thresholds are k + 0.5
    for (ta,), (tg,) in zip(a.trees, g.trees):
        np.testing.assert_array_equal(ta.nodes["feature"], tg.nodes["feature"])
        np.testing.assert_array_equal(ta.nodes["threshold"], tg.nodes["threshold"])
    np.testing.assert_allclose(a.scores[0], g.scores[0], atol=1e-6)


def test_offset_enters_f0_and_residuals():
    X, Xb, spec, signal, rng = _data(n=300, seed=31)
    y = signal + rng.normal(size=300)
    off = np.full(300, 2.0)
    params = dict(ntrees=3, max_depth=2, learn_rate=0.5)
    with_off = G.fit_reference([Xb], [y], [None], params, spec, offset_list=[off])
    shifted = G.fit_reference([Xb], [y - 2.0], [None], params, spec)
    assert with_off.init_f == pytest.approx(shifted.init_f) == pytest.approx(y.mean() - 2.0)
    for (a,), (b,) in zip(with_off.trees, shifted.trees):
        np.testing.assert_array_equal(a.nodes["feature"], b.nodes["feature"])
        np.testing.assert_allclose(a.nodes["value"], b.nodes["value"], rtol=1e-5, atol=1e-6)


def test_categorical_na_alone_split_matches_h2o():
    # observed with h2o 3.46.0.12 on this layout: NAs left, every level (also unseen
    # ones) right, and H2O ids 0, 3, 4 (both children got ids before becoming leaves)
    rng = np.random.default_rng(0)
    d = np.concatenate([np.zeros(47), np.full(53, 2.0), np.full(12, np.nan)])
    y = np.concatenate([np.ones(100), rng.integers(0, 2, 12).astype(float)])
    X = d[:, None]
    spec = B.make_bin_spec([None], is_cat=[True], n_levels=[3])
    fit = G.fit_reference([B.bin_matrix(X, spec)], [y], [None],
                          dict(ntrees=1, max_depth=1, min_rows=5, learn_rate=1.0), spec)
    tree = fit.trees[0][0]
    assert tree.nodes["kind"][0] == T.NA_VS_REST and tree.nodes["na_left"][0] == 1
    test = np.array([[0.0], [1.0], [2.0], [np.nan], [7.0]])
    np.testing.assert_array_equal(T.leaf_node_assignment(tree, test), ["R", "R", "R", "L", "R"])
    np.testing.assert_array_equal(T.leaf_node_assignment(tree, test, "Node_ID"), [4, 4, 4, 3, 4])

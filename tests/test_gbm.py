"""H2OGradientBoostingEstimator end to end: H2O's walk-through, parity with the single-machine
reference grower, partition independence, distributions, scoring, bad input."""
import warnings

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o.data import binning
from daskml_h2o.estimators import H2OGradientBoostingEstimator
from daskml_h2o.gbm.grower import fit_reference

PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


@pytest.fixture
def prostate(h2o_session):
    fr = h2o_session.import_file(h2o_session.datasets.path("prostate"))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    return fr


def _synthetic(n=600, seed=0, with_cat=True):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(-2, 2, size=n), "c": rng.integers(0, 5, n) * 1.0})
    df.loc[rng.random(n) < 0.1, "a"] = np.nan
    logit = 1.5 * np.nan_to_num(df.a) - df.b + 0.3 * df.c
    if with_cat:
        df["g"] = pd.Categorical(rng.choice(["x", "y", "z"], size=n), categories=["x", "y", "z"])
        logit = logit + np.where(df.g == "y", 1.0, 0.0)
    df["label"] = pd.Categorical(np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "1", "0"), categories=["0", "1"])
    df["target"] = 2.0 * np.nan_to_num(df.a) + df.b ** 2 + rng.normal(scale=0.3, size=n)
    return df


def _frame(h2o, df, nparts):
    return h2o.H2OFrame(dd.from_pandas(df, npartitions=nparts))


def test_prostate_walkthrough(prostate, capsys):
    gbm = H2OGradientBoostingEstimator(ntrees=30, max_depth=4, learn_rate=0.1, seed=42, score_each_iteration=True)
    gbm.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    assert gbm.type == "classifier" and gbm.model_id.startswith("GBM_model_python_")
    assert gbm.auc() > 0.85 and gbm.logloss() < 0.5
    assert gbm.actual_params["distribution"] == "bernoulli"
    hist = gbm.scoring_history()
    assert list(hist.columns) == ["", "timestamp", "duration", "number_of_trees", "training_rmse", "training_logloss",
                                  "training_auc", "training_pr_auc", "training_lift",
                                  "training_classification_error"]
    assert list(hist["number_of_trees"]) == list(range(31))
    assert hist["training_logloss"].iloc[-1] < hist["training_logloss"].iloc[0]
    vi = gbm.varimp()
    assert vi[0][0] == "GLEASON" and vi[0][2] == 1.0
    assert abs(sum(v[3] for v in vi) - 1.0) < 1e-9
    pred = gbm.predict(prostate)
    assert pred.names == ["predict", "p0", "p1"]
    local = pred.as_data_frame()
    assert np.allclose(local["p0"] + local["p1"], 1.0)
    threshold = gbm.model_performance().find_threshold_by_max_metric("f1")
    assert ((local["p1"] >= threshold) == (local["predict"].astype(str) == "1")).all()
    print(gbm)
    out = capsys.readouterr().out
    assert "ModelMetricsBinomial" in out and "Variable Importances" in out


def test_same_model_as_reference_grower(h2o_session):
    """The distributed driver grows exactly the trees of the single-machine reference loop."""
    df = _synthetic(800, seed=1)
    params = dict(ntrees=6, max_depth=3, min_rows=5, learn_rate=0.2, seed=7)
    gbm = H2OGradientBoostingEstimator(**params)
    gbm.train(x=["a", "b", "c", "g"], y="label", training_frame=_frame(h2o_session, df, 3))
    X = np.column_stack([df.a, df.b, df.c, df.g.cat.codes.astype(float)])
    spec = binning.make_bin_spec([binning.quantile_edges(X[:, j], 255) for j in range(3)] + [np.empty(0)],
                                 np.array([False, False, False, True]), np.array([0, 0, 0, 3], dtype=np.int32))
    Xb = binning.bin_matrix(X, spec)
    y = df.label.cat.codes.to_numpy(float)
    ref = fit_reference([Xb], [y], [None], dict(distribution="bernoulli", nclasses=2, ntrees=6, max_depth=3,
                                                 min_rows=5, learn_rate=0.2, seed=7), spec)
    ours = gbm._model.link_scores(X)[:, 0]
    assert np.allclose(ours, ref.scores[0][:, 0], atol=1e-5)
    assert gbm._model.f0 == pytest.approx(ref.init_f)


def test_an_empty_partition_gives_the_same_model(h2o_session):
    df = _synthetic(600, seed=5)
    ddf = dd.from_pandas(df, npartitions=3)
    emptied = ddf.map_partitions(lambda p: p.iloc[0:0] if len(p) and p.index[0] == 0 else p)
    rest = df.iloc[len(ddf.partitions[0]):]
    preds = []
    for frame in (h2o_session.H2OFrame(emptied), _frame(h2o_session, rest, 2)):
        m = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, sample_rate=0.8, seed=2)
        m.train(x=["a", "b", "c", "g"], y="label", training_frame=frame)
        preds.append(m.predict(_frame(h2o_session, df, 1)).as_data_frame()["p1"].to_numpy())
    assert np.allclose(preds[0], preds[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("nparts", [2, 5])
def test_partitioning_does_not_change_the_model(h2o_session, nparts):
    df = _synthetic(700, seed=3)
    models = []
    for k in (1, nparts):
        m = H2OGradientBoostingEstimator(ntrees=8, max_depth=4, min_rows=3, sample_rate=0.7, col_sample_rate=0.7,
                                         seed=11)
        m.train(x=["a", "b", "c", "g"], y="target", training_frame=_frame(h2o_session, df, k))
        models.append(m)
    one, many = (m._model for m in models)
    for row_a, row_b in zip(one.trees, many.trees):
        for ta, tb in zip(row_a, row_b):
            assert np.array_equal(ta.nodes["feature"], tb.nodes["feature"])
            assert np.allclose(ta.nodes["value"], tb.nodes["value"], rtol=1e-6, atol=1e-7)
    X = np.column_stack([df.a, df.b, df.c, df.g.cat.codes.astype(float)])
    assert np.allclose(one.predict_raw(X), many.predict_raw(X))


def test_regression_metrics_match_numpy(h2o_session):
    df = _synthetic(500, seed=5)
    fr = _frame(h2o_session, df, 2)
    gbm = H2OGradientBoostingEstimator(ntrees=15, max_depth=3, seed=1)
    gbm.train(x=["a", "b", "c"], y="target", training_frame=fr)
    assert gbm.type == "regressor"
    pred = gbm.predict(fr).as_data_frame()["predict"].to_numpy()
    resid = df.target.to_numpy() - pred
    assert gbm.mse() == pytest.approx(np.mean(resid ** 2), rel=1e-6)
    assert gbm.mae() == pytest.approx(np.mean(np.abs(resid)), rel=1e-6)
    assert gbm.r2() == pytest.approx(1 - np.mean(resid ** 2) / np.var(df.target), rel=1e-6)
    perf = gbm.model_performance(test_data=fr)
    assert perf.mse() == pytest.approx(gbm.mse(), rel=1e-6)
    assert list(gbm.scoring_history().columns)[4:] == ["training_rmse", "training_mae", "training_deviance"]


def test_multinomial_iris(h2o_session):
    iris = h2o_session.import_file(h2o_session.datasets.path("iris"))
    gbm = H2OGradientBoostingEstimator(ntrees=10, max_depth=3, seed=1)
    gbm.train(y="Species", training_frame=iris)
    assert gbm.actual_params["distribution"] == "multinomial"
    assert all(len(row) == 3 for row in gbm._model.trees)
    pred = gbm.predict(iris)
    assert pred.names == ["predict", "Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    local = pred.as_data_frame()
    truth = iris.as_data_frame()["Species"]
    assert (local["predict"].astype(str) == truth).mean() > 0.95
    assert gbm.hit_ratio_table() is not None


@pytest.mark.parametrize("distribution, extra", [
    ("poisson", {}), ("gamma", {}), ("tweedie", {"tweedie_power": 1.3}), ("laplace", {}),
    ("quantile", {"quantile_alpha": 0.8}), ("huber", {"huber_alpha": 0.8}),
])
def test_distributions_reduce_deviance(h2o_session, distribution, extra):
    rng = np.random.default_rng(4)
    n = 400
    x = rng.uniform(0, 2, n)
    df = pd.DataFrame({"x": x, "z": rng.normal(size=n), "y": rng.poisson(np.exp(0.5 + x)) + 0.5})
    gbm = H2OGradientBoostingEstimator(ntrees=15, max_depth=3, distribution=distribution, seed=3,
                                       score_each_iteration=True, **extra)
    gbm.train(x=["x", "z"], y="y", training_frame=_frame(h2o_session, df, 2))
    hist = gbm.scoring_history()
    assert hist["training_deviance"].iloc[-1] < hist["training_deviance"].iloc[0]
    assert np.isfinite(gbm.predict(_frame(h2o_session, df, 1)).as_data_frame()["predict"]).all()


def test_zero_weights_equal_dropped_rows(h2o_session):
    df = _synthetic(400, seed=8)
    df[["a", "b"]] = df[["a", "b"]].round(1)  # few distinct values: one bin each, in both frames
    df["w"] = np.where(np.arange(len(df)) % 4 == 0, 0.0, 1.0)
    kept = df[df.w > 0].reset_index(drop=True)
    a = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, seed=2)
    a.train(x=["a", "b", "c"], y="target", training_frame=_frame(h2o_session, df, 2), weights_column="w")
    b = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, seed=2)
    b.train(x=["a", "b", "c"], y="target", training_frame=_frame(h2o_session, kept, 2))
    X = np.column_stack([kept.a, kept.b, kept.c])
    assert a._model.f0 == pytest.approx(b._model.f0)
    assert np.allclose(a._model.predict_raw(X), b._model.predict_raw(X), atol=1e-5)


def test_offset_shifts_initial_value(h2o_session):
    df = _synthetic(300, seed=9)
    df["off"] = 1.5
    gbm = H2OGradientBoostingEstimator(ntrees=3, max_depth=2, seed=2)
    gbm.train(x=["a", "b"], y="target", training_frame=_frame(h2o_session, df, 2), offset_column="off")
    assert gbm._model.f0 == pytest.approx(df.target.mean() - 1.5)
    with pytest.raises(ValueError, match="offset column 'off'"):
        gbm.predict(_frame(h2o_session, df.drop(columns="off"), 1))


def test_early_stopping_stops(h2o_session):
    df = _synthetic(400, seed=10)
    gbm = H2OGradientBoostingEstimator(ntrees=200, max_depth=2, learn_rate=0.3, seed=2, score_each_iteration=True,
                                       stopping_rounds=2, stopping_tolerance=0.05)
    gbm.train(x=["a", "b", "c"], y="label", training_frame=_frame(h2o_session, df, 2))
    assert 5 <= gbm._model.ntrees < 200


def test_predict_adapts_test_frame(h2o_session):
    df = _synthetic(300, seed=11)
    gbm = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, seed=2)
    gbm.train(x=["a", "b", "g"], y="label", training_frame=_frame(h2o_session, df, 2))
    test = df.head(20).copy()
    test["g"] = pd.Categorical(["w"] * 10 + ["x"] * 10, categories=["w", "x"])
    with pytest.warns(UserWarning, match="levels not trained on"):
        p_unseen = gbm.predict(_frame(h2o_session, test, 1)).as_data_frame()
    test_na = test.copy()
    test_na["g"] = pd.Categorical([None] * 10 + ["x"] * 10, categories=["x"])
    p_na = gbm.predict(_frame(h2o_session, test_na, 1)).as_data_frame()
    assert np.allclose(p_unseen["p1"], p_na["p1"])  # unseen levels follow the NA direction
    with pytest.warns(UserWarning, match="missing column"):
        missing = gbm.predict(_frame(h2o_session, test.drop(columns=["b"]), 1)).as_data_frame()
    assert len(missing) == 20


def test_leaf_assignment_and_staged_probabilities(prostate):
    gbm = H2OGradientBoostingEstimator(ntrees=4, max_depth=2, seed=2)
    gbm.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    paths = gbm.predict_leaf_node_assignment(prostate).as_data_frame()
    assert list(paths.columns) == ["T1.C1", "T2.C1", "T3.C1", "T4.C1"]
    assert set(paths["T1.C1"].dropna().unique()) <= {"LL", "LR", "RL", "RR", "L", "R"}
    ids = gbm.predict_leaf_node_assignment(prostate, type="Node_ID").as_data_frame()
    assert ids.dtypes.apply(lambda d: d.kind in "if").all()
    staged = gbm.staged_predict_proba(prostate).as_data_frame()
    assert list(staged.columns) == ["T1.C1", "T2.C1", "T3.C1", "T4.C1"]
    final = gbm.predict(prostate).as_data_frame()["p1"]
    assert np.allclose(staged["T4.C1"], final)


@pytest.mark.parametrize("params, match", [
    (dict(ntrees=-1), "ntrees"), (dict(learn_rate=0.0), "learn_rate"), (dict(sample_rate=1.5), "sample_rate"),
    (dict(max_depth=-2), "max_depth"), (dict(min_rows=0), "min_rows"), (dict(nbins=1), "nbins"),
    (dict(distribution="gaussian"), "numeric response"), (dict(tweedie_power=2.5), "tweedie_power"),
])
def test_invalid_parameters(prostate, params, match):
    with pytest.raises(ValueError, match=match):
        H2OGradientBoostingEstimator(**params).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)


def test_unknown_enum_values_and_keywords():
    with pytest.raises(ValueError, match="distribution must be one of"):
        H2OGradientBoostingEstimator(distribution="banana")
    with pytest.raises(ValueError, match="histogram_type must be one of"):
        H2OGradientBoostingEstimator(histogram_type="Exact")
    with pytest.raises(TypeError, match="unexpected keyword"):
        H2OGradientBoostingEstimator(n_trees=5)
    assert H2OGradientBoostingEstimator(distribution="BERNOULLI").distribution == "bernoulli"


@pytest.mark.parametrize("params", [dict(monotone_constraints={"AGE": 1}), dict(calibrate_model=True)])
def test_later_features_say_not_supported_yet(prostate, params):
    with pytest.raises(ValueError, match="not supported yet"):
        H2OGradientBoostingEstimator(**params).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)


def test_bad_training_input(h2o_session, prostate):
    gbm = H2OGradientBoostingEstimator(ntrees=2)
    with pytest.raises(ValueError, match="'AGEE' is not in the frame; did you mean"):
        gbm.train(x=["AGEE"], y="CAPSULE", training_frame=prostate)
    with pytest.raises(ValueError, match="also listed in x"):
        gbm.train(x=["AGE", "CAPSULE"], y="CAPSULE", training_frame=prostate)
    with pytest.raises(ValueError, match="needs the response"):
        gbm.train(x=["AGE"], training_frame=prostate)
    const = h2o_session.H2OFrame(pd.DataFrame({"x": [1.0, 2.0, 3.0] * 10, "y": ["a"] * 30}),
                                 column_types={"y": "enum"})
    with pytest.raises(ValueError, match="Response cannot be constant"):
        gbm.train(x=["x"], y="y", training_frame=const)
    strings = h2o_session.H2OFrame({"x": [1, 2, 3, 4], "s": ["u", "v", "w", "q"]})
    with pytest.raises(ValueError, match="string column"):
        gbm.train(x=["x"], y="s", training_frame=strings)
    all_na = h2o_session.H2OFrame(pd.DataFrame({"x": [np.nan] * 30, "y": np.arange(30.0)}))
    with pytest.raises(ValueError, match="constant or all missing"):
        gbm.train(x=["x"], y="y", training_frame=all_na)
    with pytest.raises(ValueError, match="must be an H2OFrame"):
        gbm.train(x=["x"], y="y", training_frame=pd.DataFrame({"x": [1.0]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tiny = h2o_session.H2OFrame(pd.DataFrame({"x": np.arange(12.0), "y": np.arange(12.0)}))
    with pytest.raises(ValueError, match="too small to split for min_rows"):
        gbm.train(x=["x"], y="y", training_frame=tiny)


def test_validation_frame_metrics_and_history(prostate):
    train, valid = prostate.split_frame(ratios=[0.75], seed=3)
    gbm = H2OGradientBoostingEstimator(ntrees=10, max_depth=3, seed=5, score_tree_interval=5)
    gbm.train(x=PROSTATE_X, y="CAPSULE", training_frame=train, validation_frame=valid)
    hist = gbm.scoring_history()
    assert list(hist["number_of_trees"]) == [0, 5, 10]
    assert "validation_auc" in hist.columns and "validation_logloss" in hist.columns
    both = gbm.auc(train=True, valid=True)
    assert set(both) == {"train", "valid"}
    direct = gbm.model_performance(test_data=valid)
    assert direct.auc() == pytest.approx(gbm.auc(valid=True), abs=1e-9)
    assert direct.logloss() == pytest.approx(gbm.logloss(valid=True), rel=1e-9)
    assert hist["validation_logloss"].iloc[-1] == pytest.approx(gbm.logloss(valid=True), rel=1e-9)


def test_model_summary_and_noise_bandwidth(prostate):
    plain = H2OGradientBoostingEstimator(ntrees=6, max_depth=3, seed=9)
    plain.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    summary = plain.summary().as_data_frame()
    assert summary["number_of_trees"][0] == 6 and summary["max_depth"][0] <= 3
    assert summary["min_leaves"][0] >= 1
    noisy = H2OGradientBoostingEstimator(ntrees=6, max_depth=3, seed=9, pred_noise_bandwidth=0.5)
    noisy.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    first = [row[0].nodes["value"] for row in (plain._model.trees[0], noisy._model.trees[0])]
    assert np.array_equal(first[0], first[1])  # the noise only perturbs later residuals
    later = [m._model.trees[-1][0].nodes["value"] for m in (plain, noisy)]
    assert not np.array_equal(later[0], later[1])


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_separable_binary_feature_predicts_every_label_right(h2o_session, seed):
    # the max-F1 threshold comes from float-accumulated training scores; predict sums in
    # doubles and used to land a hair below it, flipping half the labels
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, int(rng.integers(20, 300)))
    df = pd.DataFrame({"x": x.astype(float), "y": pd.Categorical(np.where(x == 1, "b", "a"))})
    fr = h2o_session.H2OFrame(df)
    model = H2OGradientBoostingEstimator(ntrees=3, min_rows=1, seed=1)
    model.train(x=["x"], y="y", training_frame=fr)
    labels = model.predict(fr).as_data_frame()["predict"].astype(str).to_numpy()
    np.testing.assert_array_equal(labels, df["y"].astype(str).to_numpy())


def test_one_class_among_positive_weights_is_refused(h2o_session):
    df = pd.DataFrame({"x": np.arange(40.0), "y": pd.Categorical(["a", "b"] * 20),
                       "w": np.tile([1.0, 0.0], 20)})
    fr = h2o_session.H2OFrame(df)
    with pytest.raises(ValueError, match="same class"):
        H2OGradientBoostingEstimator(ntrees=2).train(x=["x"], y="y", training_frame=fr, weights_column="w")

"""H2O's Deep Learning on Dask, end to end: booklet examples, averaging = local SGD, reproducibility,
Hogwild vs serial, parameter errors, missing values, instability, model outputs."""
import contextlib

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o.deeplearning import local_train as LT
from daskml_h2o.deeplearning.estimator import H2OAutoEncoderEstimator, H2ODeepLearningEstimator
from daskml_h2o.deeplearning.network import DeepLearningInstabilityError, init_state
from daskml_h2o.deeplearning.training import _chunk_seed
from daskml_h2o.models.base import H2OResponseError, H2OValueError


def frame_of(df, npartitions=1):
    """An H2OFrame over a pandas table (category columns become enum)."""
    from daskml_h2o.frame import H2OFrame
    types = {c: "enum" if isinstance(df[c].dtype, pd.CategoricalDtype) else "real" for c in df.columns}
    return H2OFrame._from_dask(dd.from_pandas(df, npartitions=npartitions, sort=False), types)


def blobs(n=400, seed=0, classes=2, p=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    X = rng.normal(size=(n, p)) + 1.5 * np.eye(classes, p)[y]
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(p)])
    df["y"] = pd.Categorical([f"c{k}" for k in y], categories=[f"c{k}" for k in range(classes)])
    return df


def mpce(metrics):
    """Mean per-class error (a binomial model reports it per threshold: take the max-F1 one)."""
    v = metrics.mean_per_class_error()
    return v[0][1] if isinstance(v, list) else v


FAST = dict(hidden=[8], epochs=3, seed=7, score_interval=0, stopping_rounds=0)


# ------------------------------------------------------------------ booklet examples

def test_booklet_quantile_regression_on_iris(h2o_session, tmp_path):
    h2o = h2o_session
    src = pd.read_csv(h2o.datasets.path("iris"))
    src.columns = ["sepal_len", "sepal_wid", "petal_len", "petal_wid", "class"]
    path = tmp_path / "iris_wheader.csv"
    src.to_csv(path, index=False)
    # the booklet's Python example, with only the data path changed
    train = h2o.import_file(str(path))
    splits = train.split_frame(ratios=[0.75], seed=1234)
    dl = H2ODeepLearningEstimator(distribution="quantile", quantile_alpha=0.8, seed=1, reproducible=True)
    dl.train(x=range(0, 2), y="petal_len", training_frame=splits[0])
    pred = dl.predict(splits[1]).as_data_frame()["predict"].to_numpy()
    actual = splits[1].as_data_frame()["petal_len"].to_numpy()
    assert len(pred) == len(actual) and np.isfinite(pred).all()
    low = H2ODeepLearningEstimator(distribution="quantile", quantile_alpha=0.2, seed=1, reproducible=True)
    low.train(x=range(0, 2), y="petal_len", training_frame=splits[0])
    low_pred = low.predict(splits[1]).as_data_frame()["predict"].to_numpy()
    # the 80th percentile lies above most held-out values, the 20th below most
    assert (actual <= pred).mean() >= 0.65 and (actual <= low_pred).mean() <= 0.4
    assert pred.mean() > low_pred.mean() + 1.0
    assert dl._actual["distribution"] == "quantile"
    assert "Quantile loss" in dl.summary()._table_description


@pytest.mark.slow
def test_booklet_mnist_trial_run(h2o_session):
    h2o = h2o_session
    data = h2o.import_file(h2o.datasets.path("mnist_5k"))
    train, test = data.split_frame(ratios=[0.8], seed=42)
    y = "C785"
    x = train.names[0:784]
    train[y] = train[y].asfactor()
    test[y] = test[y].asfactor()
    model = H2ODeepLearningEstimator(distribution="multinomial", activation="RectifierWithDropout",
                                     hidden=[32, 32, 32], input_dropout_ratio=0.2, sparse=True, l1=1e-5,
                                     epochs=10, seed=1)
    model.train(x=x, y=y, training_frame=train, validation_frame=test)
    hist = model.scoring_history()
    # chance is 0.9; H2O 3.46 ends this heavily regularised trial run at 0.45-0.51 on this sample
    err = hist["validation_classification_error"].iloc[-1]
    assert err < 0.6 and err < hist["validation_classification_error"].iloc[1]
    assert model.logloss(valid=True) < 2.2
    pred = model.predict(test)
    assert pred.names[:3] == ["predict", "p0", "p1"]
    assert list(hist.columns[:7]) == ["", "timestamp", "duration", "training_speed", "epochs", "iterations", "samples"]
    assert hist["epochs"].iloc[-1] >= 10 and np.isnan(hist["training_rmse"].iloc[0])
    assert "validation_classification_error" in hist.columns
    vi = model.varimp(use_pandas=True)
    assert len(vi) == len(model._model.datainfo.coef_names) and vi["scaled_importance"].iloc[0] == 1.0


def test_autoencoder_anomaly_detection(h2o_session):
    rng = np.random.default_rng(3)
    t = np.linspace(0, 2 * np.pi, 24)
    normal = np.sin(t)[None, :] * rng.uniform(0.8, 1.2, (40, 1)) + 0.05 * rng.normal(size=(40, 24))
    bad = np.cos(3 * t)[None, :] * rng.uniform(0.8, 1.2, (3, 1))
    cols = [f"C{i + 1}" for i in range(24)]
    train_ecg = frame_of(pd.DataFrame(normal, columns=cols))
    test_ecg = frame_of(pd.DataFrame(np.vstack([normal, bad]), columns=cols))
    anomaly_model = H2OAutoEncoderEstimator(activation="Tanh", hidden=[50, 20, 50], sparse=True, l1=1e-4,
                                            epochs=100, seed=1)
    anomaly_model.train(x=train_ecg.names, training_frame=train_ecg)
    recon_error = anomaly_model.anomaly(test_ecg).as_data_frame()
    assert list(recon_error.columns) == ["Reconstruction.MSE"]
    top3 = np.argsort(recon_error["Reconstruction.MSE"].to_numpy())[-3:]
    assert set(top3) == {40, 41, 42}
    test_recon = anomaly_model.predict(test_ecg)
    assert test_recon.names == [f"reconstr_{c}" for c in cols]
    per = anomaly_model.anomaly(test_ecg, per_feature=True).as_data_frame()
    assert per.columns[0] == "reconstr_C1.SE"
    np.testing.assert_allclose(per.mean(axis=1), recon_error["Reconstruction.MSE"], rtol=1e-6)
    hist = anomaly_model.scoring_history()
    assert list(hist.columns[-2:]) == ["training_rmse", "training_mse"] and hist["iterations"].iloc[0] == 0
    feats = anomaly_model.deepfeatures(test_ecg, 1)
    assert feats.names == [f"DF.L2.C{j + 1}" for j in range(20)]
    assert anomaly_model.model_performance(test_ecg).mse() == pytest.approx(
        recon_error["Reconstruction.MSE"].mean(), rel=1e-6)


# ------------------------------------------------------------------ the distributed loop

def test_averaging_one_partition_equals_local_sgd(h2o_session):
    df = blobs(120)
    fr = frame_of(df, npartitions=1)
    m = H2ODeepLearningEstimator(hidden=[6, 5], epochs=2, train_samples_per_iteration=40, seed=11,
                                 reproducible=True, overwrite_with_best_model=False, stopping_rounds=0,
                                 classification_stop=-1, variable_importances=False)
    m.train(y="y", training_frame=fr)
    scorer = m._model
    X = scorer.datainfo.expand(df[scorer.columns].to_numpy(), training=True)
    yy = df["y"].cat.codes.to_numpy(np.float64)
    state = init_state(scorer.state.spec, 11)
    params = LT.TrainParams()
    it = 0
    while state.samples < 2 * len(df):
        new, n = LT.train_group(state, [(X, yy, None, None)], [40.0], [_chunk_seed(11, 0)], it, params, threads=1)
        new.samples = state.samples + n
        state, it = new, it + 1
    assert m.scoring_history()["iterations"].iloc[-1] == it
    np.testing.assert_array_equal(scorer.state.weights, state.weights)
    np.testing.assert_array_equal(scorer.state.biases, state.biases)


def test_reproducible_twice_is_bit_identical(h2o_session):
    fr = frame_of(blobs(300, seed=1), npartitions=3)
    kw = dict(hidden=[7, 4], epochs=2, seed=5, reproducible=True, activation="RectifierWithDropout",
              input_dropout_ratio=0.1)
    a = H2ODeepLearningEstimator(**kw).train(y="y", training_frame=fr)
    b = H2ODeepLearningEstimator(**kw).train(y="y", training_frame=fr)
    np.testing.assert_array_equal(a._model.state.weights, b._model.state.weights)
    np.testing.assert_array_equal(a._model.state.biases, b._model.state.biases)
    c = H2ODeepLearningEstimator(**{**kw, "seed": 6}).train(y="y", training_frame=fr)
    assert not np.array_equal(a._model.state.weights, c._model.state.weights)


def test_hogwild_matches_serial_accuracy(h2o_session):
    df = blobs(1200, seed=4, classes=3)
    df.insert(0, "const", 1.0)  # dropped by ignore_const_cols: scoring must still line the columns up
    train, test = frame_of(df.iloc[:900], 4), frame_of(df.iloc[900:], 1)
    kw = dict(hidden=[16], epochs=5, seed=3, stopping_rounds=0)
    serial = H2ODeepLearningEstimator(reproducible=True, **kw).train(y="y", training_frame=train)
    hog = H2ODeepLearningEstimator(**kw).train(y="y", training_frame=train)
    e_serial = mpce(serial.model_performance(test))
    e_hog = mpce(hog.model_performance(test))
    assert e_serial < 0.25 and e_hog <= e_serial + 0.05
    assert "const" not in serial._model.datainfo.coef_names


def test_train_samples_per_iteration_modes(h2o_session):
    fr = frame_of(blobs(200), npartitions=2)
    one_epoch = H2ODeepLearningEstimator(train_samples_per_iteration=0, score_each_iteration=True, **FAST)
    one_epoch.train(y="y", training_frame=fr)
    hist = one_epoch.scoring_history()
    assert hist["iterations"].iloc[-1] == 3 and hist["samples"].iloc[-1] == 600
    fixed = H2ODeepLearningEstimator(train_samples_per_iteration=50, **{**FAST, "epochs": 0.5})
    fixed.train(y="y", training_frame=fr)
    assert fixed.scoring_history()["iterations"].iloc[-1] >= 2
    auto = H2ODeepLearningEstimator(**{**FAST, "epochs": 2.5})
    auto.train(y="y", training_frame=fr)
    assert auto._actual["train_samples_per_iteration"] == 50  # floor(epochs*N/10) on one worker
    assert auto.scoring_history()["epochs"].iloc[-1] >= 2.5


# ------------------------------------------------------------------ losses, distributions, options

@pytest.mark.parametrize("dist,loss", [("gaussian", "Automatic"), ("laplace", "Absolute"), ("huber", "Huber"),
                                       ("poisson", "Automatic"), ("gamma", "Automatic"), ("tweedie", "Automatic")])
def test_regression_distributions_learn(h2o_session, dist, loss):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (300, 2))
    y = np.exp(1 + X[:, 0] - X[:, 1]) + rng.uniform(0, 0.1, 300)
    fr = frame_of(pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": y}))
    m = H2ODeepLearningEstimator(distribution=dist, loss=loss, hidden=[10], epochs=20, seed=1, stopping_rounds=0)
    m.train(y="y", training_frame=fr)
    pred = m.predict(fr).as_data_frame()["predict"].to_numpy()
    assert np.corrcoef(pred, y)[0, 1] > 0.8 and (dist not in ("poisson", "gamma", "tweedie") or pred.min() > 0)


@pytest.mark.parametrize("activation", ["Tanh", "TanhWithDropout", "Maxout", "MaxoutWithDropout", "Rectifier"])
def test_activations_and_manual_rate(h2o_session, activation):
    fr = frame_of(blobs(300, seed=2), npartitions=2)
    m = H2ODeepLearningEstimator(activation=activation, hidden=[8, 8], epochs=10, seed=2, adaptive_rate=False,
                                 rate=0.01, momentum_start=0.5, momentum_stable=0.9, momentum_ramp=500,
                                 l2=1e-4, max_w2=10, stopping_rounds=0)
    m.train(y="y", training_frame=fr)
    assert mpce(m.model_performance(fr)) < 0.2
    summary = m.summary().as_data_frame()
    assert list(summary["type"]) == ["Input", activation.replace("WithDropout", "Dropout"),
                                     activation.replace("WithDropout", "Dropout"), "Softmax"]
    assert summary["momentum"].iloc[1] > 0


def test_weights_offset_balance_and_exports(h2o_session):
    df = blobs(300, seed=6)
    df.loc[:40, "y"] = "c1"
    df["w"] = np.where(np.arange(300) % 2 == 0, 1.0, 3.0)
    fr = frame_of(df)
    m = H2ODeepLearningEstimator(balance_classes=True, weights_column="w", export_weights_and_biases=True,
                                 hidden=[5, 3], **{k: v for k, v in FAST.items() if k != "hidden"})
    m.train(x=["x0", "x1", "x2", "x3"], y="y", training_frame=fr)
    assert m.weights(0).dim == [5, 4] and m.weights(0).names == ["x0", "x1", "x2", "x3"]
    assert m.weights(2).dim == [2, 3] and m.biases(1).dim == [3, 1]
    assert len(m.normmul()) == 4 and m.respmul() is None and m.catoffsets() == [0]
    probs = m.predict(fr).as_data_frame()[["c0", "c1"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
    rng = np.random.default_rng(1)
    reg = pd.DataFrame({"a": rng.normal(size=200), "off": rng.uniform(0.5, 1.5, 200)})
    reg["y"] = 2 * reg["a"] + reg["off"]
    r = H2ODeepLearningEstimator(offset_column="off", hidden=[6], epochs=10, seed=1, stopping_rounds=0)
    r.train(x=["a"], y="y", training_frame=frame_of(reg))
    assert r.respsub() == pytest.approx(reg["y"].mean())


def test_categorical_inputs_and_encodings(h2o_session):
    rng = np.random.default_rng(2)
    n = 300
    cat = rng.choice(list("abcde"), n)
    df = pd.DataFrame({"cat": pd.Categorical(cat, categories=list("abcde")), "num": rng.normal(size=n)})
    df["y"] = pd.Categorical(np.where(np.isin(cat, ["a", "b"]) ^ (df["num"] > 1), "yes", "no"),
                             categories=["no", "yes"])
    fr = frame_of(df)
    for enc, width in (("AUTO", 6 + 1), ("Binary", 3 + 1), ("Eigen", 1 + 1)):
        m = H2ODeepLearningEstimator(categorical_encoding=enc, hidden=[10], epochs=10, seed=1, stopping_rounds=0)
        m.train(y="y", training_frame=fr)
        assert m._model.datainfo.n_inputs == width
        if enc == "AUTO":
            assert m.auc() > 0.9
            vi = dict((v[0], v[1]) for v in m.varimp())
            assert vi["cat.missing(NA)"] == 0.0  # no NA seen in training
    hashed = H2ODeepLearningEstimator(max_categorical_features=3, hidden=[6], epochs=2, seed=1)
    hashed.train(y="y", training_frame=fr)
    assert hashed._model.datainfo.n_inputs == 4


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kw,needle", [
    (dict(hidden=[10, 0]), "hidden layer 1 has size 0"),
    (dict(activation="RectifierWithDropout", hidden_dropout_ratios=[0.5]), "one ratio per hidden layer"),
    (dict(activation="TanhWithDropout", hidden=[4], hidden_dropout_ratios=[1.0]), "in [0, 1)"),
    (dict(hidden_dropout_ratios=[0.1, 0.1]), "WithDropout"),
    (dict(input_dropout_ratio=1.0), "input_dropout_ratio"),
    (dict(epochs=0), "epochs must be > 0"),
    (dict(rho=1.0), "rho"),
    (dict(epsilon=0.0), "epsilon"),
    (dict(distribution="gaussian"), "regression family"),
    (dict(loss="Absolute"), "not allowed for classification"),
    (dict(distribution="quasibinomial"), "not supported by Deep Learning"),
    (dict(categorical_encoding="Enum"), "not supported yet"),
    (dict(sparsity_beta=0.1), "Sparsity beta"),
])
def test_bad_parameters_fail_before_training(h2o_session, kw, needle):
    fr = frame_of(blobs(60))
    with pytest.raises(H2OResponseError, match=needle.replace("[", r"\[").replace(")", r"\)").replace("(", r"\(")):
        H2ODeepLearningEstimator(**kw).train(y="y", training_frame=fr)


def test_bad_response_and_not_yet_parameters(h2o_session):
    rng = np.random.default_rng(0)
    fr = frame_of(pd.DataFrame({"a": rng.normal(size=50), "y": rng.normal(size=50)}))
    for dist, needle in (("gamma", "values <= 0"), ("poisson", "negative values"), ("bernoulli", "categorical")):
        with pytest.raises(H2OResponseError, match=needle):
            H2ODeepLearningEstimator(distribution=dist).train(y="y", training_frame=fr)
    with pytest.raises(H2OResponseError, match="CrossEntropy"):
        H2ODeepLearningEstimator(loss="CrossEntropy").train(y="y", training_frame=fr)
    with pytest.raises(H2OValueError, match="unsupervised"):
        H2OAutoEncoderEstimator().train(x=["a"], y="y", training_frame=fr)
    with pytest.raises(H2OResponseError, match="Maxout"):
        H2OAutoEncoderEstimator(activation="Maxout").train(training_frame=fr)
    for name, value in (("elastic_averaging", True), ("export_checkpoints_dir", "/tmp/x")):
        with pytest.raises(H2OValueError, match="not supported yet"):
            H2ODeepLearningEstimator(**{name: value}).train(y="y", training_frame=fr)


def test_missing_values_skip_and_mean_imputation(h2o_session):
    df = blobs(200, seed=8)
    df.loc[::4, "x0"] = np.nan
    df.loc[1, "x1"] = np.inf
    fr = frame_of(df)
    imp = H2ODeepLearningEstimator(**FAST).train(y="y", training_frame=fr)
    skip = H2ODeepLearningEstimator(missing_values_handling="Skip", train_samples_per_iteration=0,
                                    **FAST).train(y="y", training_frame=fr)
    assert skip.scoring_history()["samples"].iloc[-1] < imp.scoring_history()["samples"].iloc[-1]
    preds = skip.predict(fr).as_data_frame()
    assert len(preds) == 200 and np.isfinite(preds[["c0", "c1"]].to_numpy()).all()
    all_na = df.copy()
    all_na.loc[:, "x2"] = np.where(np.arange(200) % 2 == 0, np.nan, all_na["x2"])
    all_na.loc[1::2, "x3"] = np.nan
    with pytest.raises(ValueError, match="No rows left"):
        H2ODeepLearningEstimator(missing_values_handling="Skip", **FAST).train(y="y", training_frame=frame_of(all_na))


def test_diverging_model_raises_instability(h2o_session):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=200) * 1e3, "y": rng.normal(size=200) * 1e8})
    m = H2ODeepLearningEstimator(standardize=False, adaptive_rate=False, rate=1.0, rate_annealing=0.0,
                                 hidden=[20, 20], epochs=5, seed=1)
    with pytest.raises(DeepLearningInstabilityError, match="Trying to predict with an unstable model"):
        m.train(y="y", training_frame=frame_of(df))


def test_stopping_rules_and_best_model(h2o_session):
    fr = frame_of(blobs(200, seed=9))
    stop = H2ODeepLearningEstimator(hidden=[8], epochs=500, seed=1, score_each_iteration=True,
                                    train_samples_per_iteration=100, stopping_rounds=2, stopping_tolerance=0.5)
    stop.train(y="y", training_frame=fr)
    hist = stop.scoring_history()
    assert hist["epochs"].iloc[-1] < 50 and len(hist) >= 5
    perfect = H2ODeepLearningEstimator(hidden=[8], epochs=500, seed=1, classification_stop=0.5,
                                       stopping_rounds=0)
    perfect.train(y="y", training_frame=fr)
    assert perfect.scoring_history()["epochs"].iloc[-1] < 100
    timed = H2ODeepLearningEstimator(hidden=[8], epochs=1e6, seed=1, max_runtime_secs=1, stopping_rounds=0,
                                     classification_stop=-1, train_samples_per_iteration=200)
    timed.train(y="y", training_frame=fr)
    assert timed.scoring_history()["epochs"].iloc[-1] < 1e6


def test_pretrained_autoencoder_initialises_supervised_model(h2o_session):
    df = blobs(200, seed=10)
    fr = frame_of(df)
    ae = H2OAutoEncoderEstimator(hidden=[6], epochs=2, seed=1).train(x=["x0", "x1", "x2", "x3"], training_frame=fr)
    sup = H2ODeepLearningEstimator(pretrained_autoencoder=ae, hidden=[6], epochs=0.001, seed=1,
                                   train_samples_per_iteration=1, stopping_rounds=0)
    sup.train(x=["x0", "x1", "x2", "x3"], y="y", training_frame=fr)
    assert sup._model.datainfo.transform == "standardize" and ae._model.datainfo.transform == "normalize"
    bad = H2ODeepLearningEstimator(pretrained_autoencoder=ae, hidden=[5], epochs=1)
    with pytest.raises(ValueError, match="Mismatch"):
        bad.train(x=["x0", "x1", "x2", "x3"], y="y", training_frame=fr)


# ------------------------------------------------------------------ resilience

@contextlib.contextmanager
def _two_worker_session():
    """The global session on a LocalCluster of two worker processes, for this block only."""
    from distributed import LocalCluster
    import daskml_h2o as h2o
    h2o.shutdown()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit="2GiB") as cluster:
        h2o.init(url=cluster.scheduler_address, verbose=False)
        h2o.no_progress()
        try:
            yield cluster
        finally:
            h2o.shutdown()


@pytest.mark.processes
def test_worker_lost_mid_fit_still_trains(tmp_path):
    import threading
    import time
    import daskml_h2o as h2o
    with _two_worker_session() as cluster:
        df = blobs(2000, seed=12, classes=3)
        df.to_csv(tmp_path / "blobs.csv", index=False)
        fr = h2o.import_file(str(tmp_path / "blobs.csv"))
        fr["y"] = fr["y"].asfactor()
        test = frame_of(df.iloc[:500])
        kw = dict(hidden=[16], epochs=30, seed=2, train_samples_per_iteration=300, stopping_rounds=0,
                  classification_stop=-1, replicate_training_data=False)
        clean = H2ODeepLearningEstimator(**kw).train(y="y", training_frame=fr)
        lost = H2ODeepLearningEstimator(**kw)
        box = {}
        runner = threading.Thread(target=lambda: box.setdefault("m", lost.train(y="y", training_frame=fr)))
        runner.start()
        time.sleep(1.5)
        killed = runner.is_alive()
        victim = sorted(cluster.workers)[0]
        cluster.workers[victim].process.process.kill()
        runner.join(timeout=240)
        assert killed and "m" in box
        e_clean = mpce(clean.model_performance(test))
        e_lost = mpce(lost.model_performance(test))
        assert e_lost <= e_clean + 0.05


def test_no_hidden_layer_and_deepfeatures_checks(h2o_session):
    fr = frame_of(blobs(200, seed=13))
    m = H2ODeepLearningEstimator(hidden=[], epochs=40, seed=1, stopping_rounds=0)
    m.train(y="y", training_frame=fr)
    assert m._model.state.spec.units == (4, 2)
    assert mpce(m.model_performance(fr)) < 0.25  # Bayes error of these blobs: 0.15
    assert len(m.varimp()) == 4
    with pytest.raises(ValueError, match="hidden layer index"):
        m.deepfeatures(fr, 0)
    sup = H2ODeepLearningEstimator(hidden=[5, 3], epochs=1, seed=1).train(y="y", training_frame=fr)
    feats = sup.deepfeatures(fr, 0).as_data_frame()
    assert list(feats.columns) == [f"DF.L1.C{j + 1}" for j in range(5)] and (feats.to_numpy() >= 0).all()
    with pytest.raises(H2OValueError, match="autoencoder"):
        sup.anomaly(fr)


@pytest.mark.processes
def test_force_load_balance_spreads_a_one_partition_frame_over_the_workers():
    from daskml_h2o.deeplearning.training import load_balanced
    with _two_worker_session():
        fr = frame_of(blobs(300, seed=3))
        assert fr._ddf.npartitions == 1
        p = dict(force_load_balance=True, reproducible=False, single_node_mode=False)
        spread = load_balanced(fr, p)
        assert spread._ddf.npartitions == 2
        pd.testing.assert_frame_equal(spread.as_data_frame(), fr.as_data_frame())
        assert load_balanced(fr, dict(p, force_load_balance=False)) is fr
        assert load_balanced(fr, dict(p, reproducible=True)) is fr
        model = H2ODeepLearningEstimator(hidden=[4], epochs=2, seed=1, force_load_balance=True)
        model.train(y="y", training_frame=fr)
        assert mpce(model.model_performance(fr)) < 0.5


def test_stratified_rates_fill_small_classes_first_and_never_oversample():
    from daskml_h2o.deeplearning.training import stratified_rates
    rates = stratified_rates([900, 60, 40], 150)
    np.testing.assert_allclose(rates, [55 / 900, 55 / 60, 1.0])
    np.testing.assert_allclose((rates * [900, 60, 40]).sum(), 150)
    np.testing.assert_allclose(stratified_rates([10, 0, 30], 100), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(stratified_rates([100, 100], 50), [0.25, 0.25])


def test_stratified_validation_sampling_balances_the_scored_classes(h2o_session):

    df = blobs(1200, seed=5)
    df = pd.concat([df[df.y == "c0"], df[df.y == "c1"].iloc[:60]]).sample(frac=1.0, random_state=1)
    valid = frame_of(df.reset_index(drop=True))
    train = frame_of(blobs(300, seed=6))

    def scored_classes(sampling):
        m = H2ODeepLearningEstimator(hidden=[3], epochs=1, seed=1, reproducible=True, score_validation_samples=120,
                                     score_validation_sampling=sampling)
        m.train(y="y", training_frame=train, validation_frame=valid)
        cm = m.confusion_matrix(valid=True).to_list()
        return [sum(row) for row in cm]

    uniform, stratified = scored_classes("Uniform"), scored_classes("Stratified")
    assert uniform[1] < 20                   # ~120 * 60/660 minority rows
    assert stratified[1] > 40                # ~60: half the sample
    assert 90 <= sum(stratified) <= 150


@pytest.mark.processes
def test_two_worker_processes_train_one_shared_copy_like_one_process():
    # a linear net under a small fixed rate: the weight closes a share of its gap to the
    # target per SGD step, so averaging two copies that each saw half the rows would land at
    # 0.65 instead of 0.79; worker processes of one host train one shared copy as H2O's node does
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    df = pd.DataFrame({"x": x, "y": 3 * x})
    kw = dict(hidden=[], epochs=1, seed=4, adaptive_rate=False, rate=2.5e-4, rate_annealing=0.0,
              train_samples_per_iteration=0, stopping_rounds=0, variable_importances=False)
    with _two_worker_session():
        fr = frame_of(df, npartitions=2)
        one = H2ODeepLearningEstimator(reproducible=True, **kw).train(x=["x"], y="y", training_frame=fr)
        two = H2ODeepLearningEstimator(**kw).train(x=["x"], y="y", training_frame=fr)
        w0 = init_state(one._model.state.spec, 4).weights[0]
        w1, w2 = one._model.state.weights[0], two._model.state.weights[0]
        assert w1 - w0 > 0.3 and w2 == pytest.approx(w1, abs=0.02)
        assert two.scoring_history()["samples"].iloc[-1] == 2000


@pytest.mark.parametrize("make", [
    lambda: H2ODeepLearningEstimator(reproducible=True, **FAST),
    lambda: H2OAutoEncoderEstimator(reproducible=True, activation="Tanh", **FAST),
])
def test_scoring_sets_above_the_gather_limit_reduce_on_their_chunks(h2o_session, monkeypatch, make):
    """Scoring sets over _LOCAL_SCORING_ROWS are reduced chunk by chunk where they are held:
    on one chunk that equals the gathered set's metrics."""
    from daskml_h2o.deeplearning import dl_scoring
    from tests.test_metrics import same_metrics
    train = frame_of(blobs(300, seed=3), npartitions=1)
    x = ["x0", "x1", "x2", "x3"]

    def fit():
        m = make()
        m.train(x=x, training_frame=train) if isinstance(m, H2OAutoEncoderEstimator) else \
            m.train(x=x, y="y", training_frame=train)
        return m._metrics["train"]

    gathered = fit()
    monkeypatch.setattr(dl_scoring, "_LOCAL_SCORING_ROWS", 0)
    same_metrics(fit(), gathered)

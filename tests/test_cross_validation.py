"""Cross-validation (models/cross_validation.py) for GBM and Deep Learning: H2O's fold rows,
holdout predictions, pooled xval metrics, the metrics summary, the main-model rule, fold
columns, the keep_* flags and the errors, against numpy references and real H2O answers."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from daskml_h2o import registry
from daskml_h2o.models.base import H2OResponseError
from tests.test_pcg import PINS

X = ["AGE", "PSA", "VOL", "GLEASON"]
BINOMIAL_ROWS = ["accuracy", "aic", "auc", "err", "err_count", "f0point5", "f1", "f2", "lift_top_group",
                 "loglikelihood", "logloss", "max_per_class_error", "mcc", "mean_per_class_accuracy",
                 "mean_per_class_error", "mse", "pr_auc", "precision", "r2", "recall", "rmse", "specificity"]
MULTINOMIAL_ROWS = ["accuracy", "aic", "auc", "err", "err_count", "loglikelihood", "logloss",
                    "max_per_class_error", "mean_per_class_accuracy", "mean_per_class_error", "mse", "pr_auc",
                    "r2", "rmse"]
REGRESSION_ROWS = ["aic", "loglikelihood", "mae", "mean_residual_deviance", "mse", "r2", "residual_deviance",
                   "rmse", "rmsle"]


def _gbm(**kw):
    from daskml_h2o.estimators import H2OGradientBoostingEstimator
    kw.setdefault("ntrees", 3)
    kw.setdefault("seed", 42)
    return H2OGradientBoostingEstimator(**kw)


def _dl(**kw):
    from daskml_h2o.estimators import H2ODeepLearningEstimator
    kw.setdefault("hidden", [3])
    kw.setdefault("epochs", 1)
    kw.setdefault("seed", 1)
    kw.setdefault("reproducible", True)
    return H2ODeepLearningEstimator(**kw)


@pytest.fixture
def prostate(h2o_session):
    fr = h2o_session.import_file(h2o_session.datasets.path("prostate"))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    return fr


@pytest.fixture
def pinned(h2o_session):
    """The 100-row frame whose cross-validation folds were pinned from real H2O 3.46 (test_pcg)."""
    k = pd.array([pd.NA if v is None else v for v in PINS["k"]], dtype="Int64")
    return h2o_session.H2OFrame(pd.DataFrame({"id": np.arange(PINS["n_rows"]), "cls": PINS["cls"], "k": k}),
                                column_types={"cls": "enum", "k": "int"})


def _folds(model):
    return model.cross_validation_fold_assignment().as_data_frame()["fold_assignment"].to_numpy()


# ------------------------------------------------------------------ fold rows

@pytest.mark.parametrize("y, assignment, nfolds, seed, key", [
    ("cls", "AUTO", 3, 42, "cv_random_cls_3_seed42"),
    ("cls", "Stratified", 3, 42, "cv_stratified_cls_3_seed42"),
    ("cls", "Stratified", 4, 7, "cv_stratified_cls_4_seed7"),
    ("k", "Stratified", 3, 42, "cv_stratified_k_3_seed42"),
])
def test_fold_rows_match_real_h2o_cross_validation(pinned, y, assignment, nfolds, seed, key):
    m = _gbm(ntrees=1, nfolds=nfolds, seed=seed, fold_assignment=assignment, min_rows=1,
             keep_cross_validation_fold_assignment=True)
    m.train(x=["id"], y=y, training_frame=pinned)
    np.testing.assert_array_equal(_folds(m), PINS[key])


def test_random_folds_are_the_frames_kfold_column_for_the_model_seed(prostate):
    m = _gbm(nfolds=3, seed=1234, keep_cross_validation_fold_assignment=True)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    expected = prostate.kfold_column(n_folds=3, seed=1234).as_data_frame().iloc[:, 0].to_numpy()
    np.testing.assert_array_equal(_folds(m), expected)
    assert m.actual_params["fold_assignment"] == "Random"
    assert m.params["fold_assignment"]["input"] == "AUTO"


def test_modulo_folds_and_unset_seed_reported(prostate):
    m = _gbm(nfolds=4, seed=-1, fold_assignment="Modulo", keep_cross_validation_fold_assignment=True)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    np.testing.assert_array_equal(_folds(m), np.arange(prostate.nrow) % 4)
    seed = m.actual_params["seed"]
    assert seed != -1 and all(cm.actual_params["seed"] == seed for cm in m.cross_validation_models())


def test_unset_seed_folds_follow_the_reported_seed(prostate):
    from daskml_h2o import _pcg
    m = _gbm(nfolds=3, seed=-1, keep_cross_validation_fold_assignment=True)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    np.testing.assert_array_equal(_folds(m), _pcg.random_folds(m.actual_params["seed"], 0, prostate.nrow, 3))


# ------------------------------------------------------------------ predictions and metrics

def _binomial_reference(model, fr):
    """Each fold model's own predictions on its holdout rows, assembled in row order."""
    folds = _folds(model)
    expected = None
    for k, cm in enumerate(model.cross_validation_models()):
        pred = cm.predict(fr).as_data_frame()
        if expected is None:
            expected = pred.copy()
        rows = folds == k
        expected.loc[rows] = pred.loc[rows]
        assert cm.model_id == f"{model.model_id}_cv_{k + 1}"
    return folds, expected


def test_gbm_binomial_holdout_predictions_xval_metrics_and_summary(prostate):
    m = _gbm(nfolds=3, keep_cross_validation_predictions=True, keep_cross_validation_fold_assignment=True)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    folds, expected = _binomial_reference(m, prostate)
    holdout = m.cross_validation_holdout_predictions().as_data_frame()
    assert list(holdout.columns) == ["predict", "p0", "p1"]
    np.testing.assert_allclose(holdout[["p0", "p1"]].to_numpy(), expected[["p0", "p1"]].to_numpy(), rtol=1e-12)
    assert (holdout["predict"].astype(str) == expected["predict"].astype(str)).all()

    per_fold = m.cross_validation_predictions()
    assert len(per_fold) == 3
    for k, frame in enumerate(per_fold):
        df = frame.as_data_frame()
        assert len(df) == prostate.nrow
        np.testing.assert_allclose(df["p1"].to_numpy(), np.where(folds == k, holdout["p1"], 0.0))

    y = prostate.as_data_frame()["CAPSULE"].to_numpy().astype(int)
    p = holdout[["p0", "p1"]].to_numpy()
    assert m.mse(xval=True) == pytest.approx(np.mean((1 - p[np.arange(len(y)), y]) ** 2), rel=1e-10)
    assert m.auc(xval=True) == pytest.approx(roc_auc_score(y, p[:, 1]), rel=1e-9)
    assert m.model_performance(xval=True).auc() == m.auc(xval=True)
    assert m.auc(xval=True) != m.auc()

    summary = m.cross_validation_metrics_summary()
    assert summary.col_header == ["", "mean", "sd", "cv_1_valid", "cv_2_valid", "cv_3_valid"]
    rows = {r[0]: r[1:] for r in summary.cell_values}
    assert list(rows) == BINOMIAL_ROWS
    aucs = np.array([cm.auc(valid=True) for cm in m.cross_validation_models()])
    np.testing.assert_allclose(rows["auc"], [aucs.mean(), aucs.std(ddof=1), *aucs], rtol=1e-12)
    mses = np.array([cm.mse(valid=True) for cm in m.cross_validation_models()])
    np.testing.assert_allclose(rows["mse"][:2], [mses.mean(), mses.std(ddof=1)], rtol=1e-12)
    assert np.isnan(rows["aic"][0])


def test_gbm_regression_with_weights_xval_metrics(prostate, h2o_session):
    prostate["w"] = (prostate["ID"] % 3) + 1
    m = _gbm(nfolds=2, keep_cross_validation_predictions=True, keep_cross_validation_fold_assignment=True)
    m.train(x=X, y="DPROS", training_frame=prostate, weights_column="w")
    holdout = m.cross_validation_holdout_predictions().as_data_frame()["predict"].to_numpy()
    df = prostate.as_data_frame()
    folds = _folds(m)
    for k, cm in enumerate(m.cross_validation_models()):
        own = cm.predict(prostate).as_data_frame()["predict"].to_numpy()
        np.testing.assert_allclose(holdout[folds == k], own[folds == k], rtol=1e-12)
    w, y = df["w"].to_numpy(float), df["DPROS"].to_numpy(float)
    assert m.mse(xval=True) == pytest.approx(np.sum(w * (y - holdout) ** 2) / w.sum(), rel=1e-10)
    assert m.mae(xval=True) == pytest.approx(np.sum(w * np.abs(y - holdout)) / w.sum(), rel=1e-10)
    assert [r[0] for r in m.cross_validation_metrics_summary().cell_values] == REGRESSION_ROWS


def test_dl_multinomial_cross_validation(h2o_session):
    iris = h2o_session.import_file(h2o_session.datasets.path("iris"))
    y = iris.names[-1]
    m = _dl(nfolds=3, keep_cross_validation_predictions=True, keep_cross_validation_fold_assignment=True)
    m.train(y=y, training_frame=iris)
    holdout = m.cross_validation_holdout_predictions().as_data_frame()
    folds = _folds(m)
    probs = holdout.iloc[:, 1:].to_numpy()
    for k, cm in enumerate(m.cross_validation_models()):
        own = cm.predict(iris).as_data_frame().iloc[:, 1:].to_numpy()
        np.testing.assert_allclose(probs[folds == k], own[folds == k], rtol=1e-9)
    codes = pd.Categorical(iris.as_data_frame()[y], categories=iris.levels()[-1]).codes
    mse = np.mean((1 - probs[np.arange(len(codes)), codes]) ** 2)  # H2O: error of the actual class only
    assert m.mse(xval=True) == pytest.approx(mse, rel=1e-9)
    logloss = -np.mean(np.log(np.clip(probs[np.arange(len(codes)), codes], 1e-15, 1)))
    assert m.logloss(xval=True) == pytest.approx(logloss, rel=1e-9)
    assert [r[0] for r in m.cross_validation_metrics_summary().cell_values] == MULTINOMIAL_ROWS


# ------------------------------------------------------------------ main model rule

def test_gbm_main_model_builds_the_folds_mean_tree_count(prostate):
    m = _gbm(ntrees=40, nfolds=3, seed=5, stopping_rounds=2, score_tree_interval=1, stopping_tolerance=0.01,
             learn_rate=0.3)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    fold_trees = [cm.ntrees_actual for cm in m.cross_validation_models()]
    assert min(fold_trees) < 40  # the folds did stop early, so the rule is exercised
    assert m.ntrees_actual == sum(fold_trees) // 3
    assert m.actual_params["ntrees"] == sum(fold_trees) // 3
    assert m.actual_params["stopping_rounds"] == 0
    assert m.params["ntrees"]["input"] == 40 and m.ntrees == 40  # the user's parameters are kept


def test_gbm_main_model_keeps_ntrees_without_early_stopping(prostate):
    m = _gbm(ntrees=4, nfolds=2)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    assert m.ntrees_actual == 4 and m.actual_params["ntrees"] == 4


def test_a_time_limit_also_applies_the_main_model_rule(prostate):
    m = _gbm(ntrees=4, nfolds=2, max_runtime_secs=10000.0)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    assert [cm.ntrees_actual for cm in m.cross_validation_models()] == [4, 4]
    assert m.ntrees_actual == 4 and m.actual_params["stopping_rounds"] == 0
    assert m.cross_validation_models()[0].actual_params["max_runtime_secs"] == pytest.approx(10000.0 / 2)


def test_a_failing_fold_model_names_the_fold(h2o_session):
    # fold 1 (rows with fc == 0) leaves only y == 1 rows to train on: a constant response
    fr = h2o_session.H2OFrame(pd.DataFrame({"a": np.arange(20.0), "y": ["n"] * 5 + ["p"] * 15,
                                            "fc": [0] * 5 + [0, 1] * 7 + [1]}), column_types={"y": "enum"})
    with pytest.raises(H2OResponseError, match=r"Cross-validation model 1 / 2 failed: .*constant"):
        _gbm(fold_column="fc", min_rows=1).train(x=["a"], y="y", training_frame=fr)


def test_dl_main_model_trains_the_folds_mean_epochs(prostate):
    m = _dl(nfolds=2, epochs=2, stopping_rounds=5)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    final = [float(cm.scoring_history()["epochs"].iloc[-1]) for cm in m.cross_validation_models()]
    assert m.actual_params["epochs"] == pytest.approx(np.mean(final))
    assert m.actual_params["stopping_rounds"] == 0
    assert m.actual_params["overwrite_with_best_model"] is False
    assert float(m.scoring_history()["epochs"].iloc[-1]) >= np.mean(final) - 1e-9
    assert m.epochs == 2


# ------------------------------------------------------------------ fold column and keep flags

def test_fold_column_values_are_the_folds(prostate):
    prostate["fc"] = (prostate["ID"] % 3) * 2 + 1  # values 1, 3, 5
    m = _gbm(keep_cross_validation_fold_assignment=True, ignored_columns=["ID"])
    m.train(y="CAPSULE", training_frame=prostate, fold_column="fc")
    ids = prostate.as_data_frame()["ID"].to_numpy()
    np.testing.assert_array_equal(_folds(m), ids % 3)
    assert len(m.cross_validation_models()) == 3
    assert m.actual_params["nfolds"] == 0 and m.actual_params["fold_assignment"] is None
    assert "fc" not in m._model.columns and "fc" not in m.cross_validation_models()[0]._model.columns
    assert "AGE" in m.cross_validation_models()[0]._model.columns


def test_enum_fold_column(prostate):
    prostate["fe"] = ((prostate["ID"] % 2) + 1).asfactor()
    m = _gbm(fold_column="fe", keep_cross_validation_fold_assignment=True)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    np.testing.assert_array_equal(_folds(m), prostate.as_data_frame()["ID"].to_numpy() % 2)


def test_keep_flags_default_and_off(prostate):
    m = _gbm(nfolds=2)
    m.train(x=X, y="CAPSULE", training_frame=prostate)
    ids = [f"{m.model_id}_cv_1", f"{m.model_id}_cv_2"]
    assert m._cv_model_ids == ids and all(registry.get(i) is not None for i in ids)
    assert m.cross_validation_predictions() is None
    assert m.cross_validation_holdout_predictions() is None
    assert m.cross_validation_fold_assignment() is None
    assert m.auc(xval=True) is not None

    off = _gbm(nfolds=2, keep_cross_validation_models=False)
    off.train(x=X, y="CAPSULE", training_frame=prostate)
    assert off.cross_validation_models() is None
    assert all(registry.get(f"{off.model_id}_cv_{k}") is None for k in (1, 2))
    assert off.cross_validation_metrics_summary() is not None

    plain = _gbm()
    plain.train(x=X, y="CAPSULE", training_frame=prostate)
    assert plain.cross_validation_models() is None and plain.cross_validation_metrics_summary() is None
    assert plain._metrics.get("xval") is None


def test_validation_frame_and_xval_are_separate(prostate):
    train, valid = prostate.split_frame([0.7], seed=3)
    m = _gbm(nfolds=2)
    m.train(x=X, y="CAPSULE", training_frame=train, validation_frame=valid)
    assert m.auc(valid=True) != m.auc(xval=True)
    assert m.model_performance(xval=True)["nobs"] == train.nrow


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("kwargs, train_kwargs, message", [
    ({"nfolds": 1}, {}, "nfolds must be either 0 or >1."),
    ({"nfolds": -2}, {}, "nfolds must be either 0 or >1."),
    ({"nfolds": 3}, {"fold_column": "fc"}, "nfolds cannot be specified at the same time as a fold column."),
    ({"fold_assignment": "Modulo"}, {}, "Fold assignment is only allowed for cross-validation."),
    ({"fold_assignment": "Random"}, {"fold_column": "fc"},
     "Fold assignment is not allowed in conjunction with a fold column."),
    ({}, {"fold_column": "one"}, "Invalid fold column 'one', fold cannot be constant"),
    ({}, {"fold_column": "fcna"}, "Fold cannot have missing values."),
])
def test_bad_cross_validation_arguments(prostate, kwargs, train_kwargs, message):
    prostate["fc"] = prostate["ID"] % 3
    prostate["one"] = prostate["ID"] * 0
    prostate["fcna"] = (prostate["ID"] > 5).ifelse(prostate["ID"] % 3, float("nan"))
    m = _gbm(**kwargs)
    with pytest.raises(H2OResponseError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        m.train(x=X, y="CAPSULE", training_frame=prostate, **train_kwargs)
    assert m._model is None


def test_more_folds_than_rows_and_empty_folds(h2o_session):
    fr = h2o_session.H2OFrame(pd.DataFrame({"a": [1.0, 2, 3, 4, 5], "y": [1.0, 2, 4, 3, 5]}))
    with pytest.raises(H2OResponseError, match=r"nfolds cannot be larger than the number of rows \(5\)"):
        _gbm(nfolds=10, min_rows=1).train(x=["a"], y="y", training_frame=fr)
    # 5 rows in 4 random folds: seed 3 leaves a fold without rows
    from daskml_h2o import _pcg
    seed = next(s for s in range(100) if len(set(_pcg.random_folds(s, 0, 5, 4))) < 4)
    with pytest.raises(H2OResponseError, match="Not enough data to create 4 random cross-validation splits"):
        _gbm(nfolds=4, seed=seed, min_rows=1).train(x=["a"], y="y", training_frame=fr)


def test_dl_errors_and_autoencoder(prostate):
    with pytest.raises(H2OResponseError, match="nfolds must be either 0 or >1."):
        _dl(nfolds=1).train(x=X, y="CAPSULE", training_frame=prostate)
    from daskml_h2o.estimators import H2OAutoEncoderEstimator
    with pytest.raises(H2OResponseError, match="not supported for Autoencoder"):
        H2OAutoEncoderEstimator(hidden=[2], epochs=1, nfolds=2).train(x=X, training_frame=prostate)


# ------------------------------------------------------------------ real H2O

def test_random_folds_with_a_seed_beyond_double_precision_match_real_h2o(h2o_session, tmp_path):
    """The model seed reaches H2O as an exact long (no Rapids double rounding)."""
    h2o = pytest.importorskip("h2o")
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seed = 2**60 + 12345
    h2o.init(port=port, nthreads=1, verbose=False)
    try:
        h2o.no_progress()
        real = h2o.import_file(h2o_session.datasets.path("prostate"))
        real["CAPSULE"] = real["CAPSULE"].asfactor()
        from h2o.estimators import H2OGradientBoostingEstimator
        rm = H2OGradientBoostingEstimator(ntrees=1, nfolds=3, seed=seed, keep_cross_validation_fold_assignment=True)
        rm.train(x=X, y="CAPSULE", training_frame=real)
        expected = rm.cross_validation_fold_assignment().as_data_frame()["fold_assignment"].to_numpy()
    finally:
        h2o.cluster().shutdown()
    ours = h2o_session.import_file(h2o_session.datasets.path("prostate"))
    ours["CAPSULE"] = ours["CAPSULE"].asfactor()
    m = _gbm(ntrees=1, nfolds=3, seed=seed, keep_cross_validation_fold_assignment=True)
    m.train(x=X, y="CAPSULE", training_frame=ours)
    np.testing.assert_array_equal(_folds(m), expected)

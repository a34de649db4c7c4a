"""Metrics as dask reductions against scikit-learn / numpy references and values from real H2O 3.46."""
import math

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from daskml_h2o.models.metrics import (
    H2OBinomialModelMetrics,
    compute_metrics,
    weighted_quantiles,
    _aligned_blocks,
)
from daskml_h2o.models.tables import ConfusionMatrix, H2OTwoDimTable


def darr(a, chunks):
    a = np.asarray(a, dtype=np.float64)
    return da.from_array(a, chunks=(chunks,) + a.shape[1:])


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------

def h2o_reference_data():
    """The generated data the reference values below were computed on with h2o.make_metrics (H2O 3.46.0)."""
    rng = np.random.default_rng(7)
    n = 3000
    y = (rng.random(n) < 0.35).astype(int)
    p = np.clip(0.35 + 0.25 * (y - 0.35) + 0.2 * rng.standard_normal(n), 0.001, 0.999)
    w = rng.integers(1, 4, n).astype(float)
    yr = rng.gamma(2.0, 1.5, 500)
    pr = yr * np.exp(0.3 * rng.standard_normal(500))
    K = 4
    ym = rng.integers(0, K, 800)
    P = rng.dirichlet(np.ones(K), 800)
    P[np.arange(800), ym] += 0.5
    P /= P.sum(1, keepdims=True)
    return dict(y=y.astype(float), p=p, w=w, yr=yr, pr=pr, ym=ym.astype(float), P=P)


REF = h2o_reference_data()


def binomial_data(n=600, distinct=None, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(float)
    p = np.clip(0.4 + 0.3 * (y - 0.4) + 0.25 * rng.standard_normal(n), 0.01, 0.99)
    if distinct is not None:
        p = np.round(p * (distinct - 1)) / (distinct - 1)
    return y, p


def regression_data(n=500, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.gamma(2.0, 2.0, n)
    p = y * np.exp(0.4 * rng.standard_normal(n))
    return y, p


# ------------------------------------------------------------------------------------------
# regression
# ------------------------------------------------------------------------------------------

def test_regression_basic_metrics_match_sklearn():
    y, p = regression_data()
    m = compute_metrics("regression", darr(y, 97), darr(p, 97))
    assert m.mse() == pytest.approx(skm.mean_squared_error(y, p), rel=1e-12)
    assert m.rmse() == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    assert m.mae() == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert m.rmsle() == pytest.approx(math.sqrt(skm.mean_squared_log_error(y, p)), rel=1e-12)
    assert m.r2() == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    assert m.mean_residual_deviance() == pytest.approx(m.mse(), rel=1e-12)
    assert m.nobs() == len(y)


@pytest.mark.parametrize("dist,ref", [
    ("poisson", lambda y, p: skm.mean_poisson_deviance(y, p)),
    ("gamma", lambda y, p: skm.mean_gamma_deviance(y, p)),
    ("tweedie", lambda y, p: skm.mean_tweedie_deviance(y, p, power=1.5)),
    ("laplace", lambda y, p: skm.mean_absolute_error(y, p)),
    ("quantile", lambda y, p: skm.mean_pinball_loss(y, p, alpha=0.3)),
])
def test_regression_deviances_match_sklearn(dist, ref):
    y, p = regression_data()
    m = compute_metrics("regression", darr(y, 128), darr(p, 128), distribution=dist, quantile_alpha=0.3)
    assert m.mean_residual_deviance() == pytest.approx(ref(y, p), rel=1e-10)


def test_huber_deviance_uses_alpha_quantile_of_abs_residual():
    y, p = regression_data()
    r = np.abs(y - p)
    delta = np.quantile(r, 0.8)  # numpy's default is H2O's interpolated quantile
    expect = np.mean(np.where(r <= delta, r * r, 2 * (r - delta) * delta))
    m = compute_metrics("regression", darr(y, 64), darr(p, 64), distribution="huber", huber_alpha=0.8)
    assert m["huber_delta"] == pytest.approx(delta, rel=1e-12)
    assert m.mean_residual_deviance() == pytest.approx(expect, rel=1e-10)


def test_regression_deviances_match_h2o():
    for dist, expect in [("poisson", 0.3422407305063933), ("gamma", 0.10487309900694046),
                         ("gaussian", 2.5420509246237364), ("laplace", 0.8098261618602605)]:
        m = compute_metrics("regression", darr(REF["yr"], 200), darr(REF["pr"], 200), distribution=dist)
        assert m.mean_residual_deviance() == pytest.approx(expect, rel=1e-7)  # H2O parsed a CSV copy
    assert m.r2() == pytest.approx(0.4594019439721877, rel=1e-7)
    assert m.rmsle() == pytest.approx(0.22239197193945553, rel=1e-7)


def test_rmsle_is_nan_when_a_value_is_below_minus_one():
    y, p = regression_data(50)
    p[3] = -1.5
    m = compute_metrics("regression", darr(y, 10), darr(p, 10))
    assert math.isnan(m.rmsle())
    assert not math.isnan(m.mse())


def test_regression_weights_equal_replicated_rows_and_na_rows_are_skipped():
    y, p = regression_data(300)
    w = np.random.default_rng(3).integers(1, 4, 300).astype(float)
    mw = compute_metrics("regression", darr(y, 50), darr(p, 50), darr(w, 50), distribution="poisson")
    rep = np.repeat(np.arange(300), w.astype(int))
    mr = compute_metrics("regression", darr(y[rep], 200), darr(p[rep], 200), distribution="poisson")
    for k in ("MSE", "mae", "rmsle", "r2", "mean_residual_deviance"):
        assert mw[k] == pytest.approx(mr[k], rel=1e-12), k
    assert mw.nobs() == 300 and mr.nobs() == len(rep)
    # NA actual, NA prediction, zero and NA weights are skipped
    y2 = np.concatenate([y, [np.nan, 1.0, 2.0, 3.0]])
    p2 = np.concatenate([p, [1.0, np.nan, 2.5, 1.0]])
    w2 = np.concatenate([w, [1.0, 1.0, 0.0, np.nan]])
    m2 = compute_metrics("regression", darr(y2, 77), darr(p2, 77), darr(w2, 77), distribution="poisson")
    assert m2._as_dict() == pytest.approx(mw._as_dict(), rel=1e-12, nan_ok=True)


def test_regression_same_result_for_one_and_many_chunks_and_dask_series():
    y, p = regression_data(400)
    one = compute_metrics("regression", darr(y, 400), darr(p, 400))
    many = compute_metrics("regression", darr(y, 33), darr(p, 50))
    assert many._as_dict() == pytest.approx(one._as_dict(), rel=1e-12, nan_ok=True)
    ddf = dd.from_pandas(pd.DataFrame({"y": y, "p": p}), npartitions=5)
    ser = compute_metrics("regression", ddf["y"], ddf["p"])
    assert ser._as_dict() == pytest.approx(one._as_dict(), rel=1e-12, nan_ok=True)


def test_unknown_chunk_sizes_from_the_same_frame():
    y, p = binomial_data(300, distinct=30, seed=21)
    ddf = dd.from_pandas(pd.DataFrame({"y": y, "p": p}), npartitions=4)
    m = compute_metrics("binomial", ddf["y"].to_dask_array(), ddf[["p"]].to_dask_array())
    assert math.isnan(ddf["y"].to_dask_array().chunks[0][0])
    assert m.auc() == pytest.approx(skm.roc_auc_score(y, p), abs=1e-14)
    r = compute_metrics("regression", ddf["y"].to_dask_array(), ddf["p"].to_dask_array(), distribution="huber")
    assert r.mse() == pytest.approx(np.mean((y - p) ** 2), rel=1e-12)


def test_regression_api_and_display():
    y, p = regression_data(100)
    m = compute_metrics("regression", darr(y, 30), darr(p, 30), algo="gbm", on="validation_metrics")
    text = str(m)
    assert text.startswith("ModelMetricsRegression: gbm\n** Reported on validation data. **")
    assert "MAE: " in text and "Mean Residual Deviance: " in text
    d = m._as_dict()
    assert set(d) >= {"aic", "loglikelihood", "mae", "mean_residual_deviance", "mse", "r2", "residual_deviance",
                      "rmse", "rmsle"}
    assert d["residual_deviance"] == pytest.approx(d["mean_residual_deviance"] * 100)
    with pytest.raises(KeyError):
        m.logloss()


# ------------------------------------------------------------------------------------------
# binomial
# ------------------------------------------------------------------------------------------

def test_binomial_scalars_match_sklearn():
    y, p = binomial_data(700)
    m = compute_metrics("binomial", darr(y, 100), darr(np.c_[1 - p, p], 100))
    ptrue = np.where(y == 1, p, 1 - p)
    assert m.logloss() == pytest.approx(skm.log_loss(y, p), rel=1e-12)
    assert m.mse() == pytest.approx(np.mean((1 - ptrue) ** 2), rel=1e-12)
    assert m.r2() == pytest.approx(1 - m.mse() / np.var(y), rel=1e-12)
    assert m.nobs() == 700
    assert m.gini() == pytest.approx(2 * m.auc() - 1)


def test_logloss_floors_probabilities_at_1e15():
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([0.0, 0.2, 0.9])
    m = compute_metrics("binomial", darr(y, 3), darr(p, 3))
    expect = (-math.log(1e-15) - math.log(0.8) - math.log(0.9)) / 3
    assert m.logloss() == pytest.approx(expect, rel=1e-12)


def test_auc_is_exact_with_at_most_400_distinct_predictions():
    y, p = binomial_data(2000, distinct=101)
    for chunks in (2000, 173):
        m = compute_metrics("binomial", darr(y, chunks), darr(p, chunks))
        assert m.auc() == pytest.approx(skm.roc_auc_score(y, p), abs=1e-14)
        table = m.thresholds_and_metric_scores()
        ths = np.array(table["threshold"])
        assert np.all(np.diff(ths) < 0) and len(ths) == len(np.unique(p))
        # every row is the confusion matrix of "predict 1 iff p >= threshold"
        tps = np.array([np.sum((p >= t) & (y == 1)) for t in ths])
        fps = np.array([np.sum((p >= t) & (y == 0)) for t in ths])
        np.testing.assert_array_equal(table["tps"], tps)
        np.testing.assert_array_equal(table["fps"], fps)
        np.testing.assert_allclose(table["f1"], [skm.f1_score(y, p >= t) for t in ths], rtol=1e-12)


def test_binomial_weighted_auc_matches_sklearn_and_replicated_rows():
    y, p = binomial_data(800, distinct=57, seed=4)
    w = np.random.default_rng(9).integers(1, 5, 800).astype(float)
    m = compute_metrics("binomial", darr(y, 90), darr(p, 90), darr(w, 90))
    assert m.auc() == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w), abs=1e-14)
    assert m.logloss() == pytest.approx(skm.log_loss(y, p, sample_weight=w), rel=1e-12)
    rep = np.repeat(np.arange(800), w.astype(int))
    mr = compute_metrics("binomial", darr(y[rep], 500), darr(p[rep], 500))
    a, b = m._as_dict(), mr._as_dict()
    a.pop("nobs"), b.pop("nobs")
    assert a == pytest.approx(b, rel=1e-12, nan_ok=True)


def test_auc_close_to_sklearn_with_many_distinct_predictions():
    y, p = binomial_data(5000, seed=2)
    m = compute_metrics("binomial", darr(y, 1000), darr(p, 1000))
    assert len(m.thresholds_and_metric_scores()) == 400
    assert m.auc() == pytest.approx(skm.roc_auc_score(y, p), abs=2e-4)


def test_binomial_one_vs_many_chunks_identical_when_exact():
    y, p = binomial_data(1500, distinct=200, seed=5)
    one = compute_metrics("binomial", darr(y, 1500), darr(p, 1500))
    many = compute_metrics("binomial", darr(y, 111), darr(p, 111))
    assert one.auc() == many.auc() and one.aucpr() == many.aucpr()
    assert one.thresholds_and_metric_scores() == many.thresholds_and_metric_scores()
    assert one._as_dict() == pytest.approx(many._as_dict(), rel=1e-12, nan_ok=True)


def test_binomial_na_rows_skipped():
    y, p = binomial_data(300, distinct=50)
    base = compute_metrics("binomial", darr(y, 60), darr(p, 60))
    y2 = np.concatenate([[np.nan], y, [1.0, 0.0]])
    p2 = np.concatenate([[0.3], p, [np.nan, 0.7]])
    w2 = np.concatenate([[1.0], np.ones(300), [1.0, 0.0]])
    m = compute_metrics("binomial", darr(y2, 60), darr(p2, 60), darr(w2, 60))
    assert m.nobs() == 300
    assert m._as_dict() == pytest.approx(base._as_dict(), rel=1e-12, nan_ok=True)


def test_binomial_matches_real_h2o():
    """h2o.make_metrics on the same data (H2O 3.46.0, one chunk): AUC2 bins reproduced exactly."""
    m = compute_metrics("binomial", darr(REF["y"], 3000), darr(REF["p"], 3000))
    assert m.auc() == pytest.approx(0.8076152192002439, abs=1e-15)
    assert m.aucpr() == pytest.approx(0.6961870326213605, abs=1e-14)
    assert m.logloss() == pytest.approx(0.5064119680151693, rel=1e-14)
    assert m.mse() == pytest.approx(0.1683735494933965, rel=1e-14)
    assert m.r2() == pytest.approx(0.25957066067140233, rel=1e-13)
    assert m["mean_per_class_error"] == pytest.approx(0.2704391529557085, rel=1e-13)
    crit = m["max_criteria_and_metric_scores"]
    assert crit["idx"] == [237, 302, 148, 148, 0, 399, 0, 195, 210, 199, 0, 0, 399, 399, 0, 0, 399, 399]
    np.testing.assert_allclose(crit["value"], [
        0.6579049091611906, 0.7755488864318432, 0.6625334305859469, 0.7583333333333333, 1.0, 1.0, 1.0,
        0.448967189226992, 0.7273593898951383, 0.729990340071504, 1951.0, 1045.0, 1951.0, 1049.0, 1.0,
        0.996186844613918, 1.0, 1.0], rtol=1e-13)
    table = m.thresholds_and_metric_scores()
    assert len(table) == 400
    assert table["threshold"][1] == pytest.approx(0.9930898151828598, rel=1e-15)
    assert table["threshold"][237] == pytest.approx(0.34176785516211167, rel=1e-15)
    assert table["threshold"][399] == pytest.approx(0.001010993575008705, rel=1e-15)
    assert table["absolute_mcc"][237] == pytest.approx(0.43801838438419327, rel=1e-13)
    assert [table[c][237] for c in ("tns", "fns", "fps", "tps")] == [1264.0, 198.0, 687.0, 851.0]
    assert m.F1() == [[pytest.approx(0.34176785516211167), pytest.approx(0.6579049091611906)]]
    gl = m.gains_lift()
    assert len(gl) == 16 and gl._table_description == "Avg response rate: 34.97 %, avg score: 35.64 %"
    assert gl["cumulative_data_fraction"][0] == pytest.approx(0.01)
    assert gl["lower_threshold"][0] == pytest.approx(0.8815467775298292, rel=1e-14)
    assert gl["lift"][0] == pytest.approx(2.573879885605338, rel=1e-13)
    assert gl["score"][0] == pytest.approx(0.9414326083842253, rel=1e-13)
    assert gl["cumulative_lift"][5] == pytest.approx(2.3355576739752144, rel=1e-13)
    assert gl["kolmogorov_smirnov"][9] == pytest.approx(0.45793044949205974, rel=1e-13)
    assert gl["lower_threshold"][-1] == pytest.approx(0.001)
    assert m["lift_top_group"] == pytest.approx(2.573879885605338, rel=1e-13)


def test_weighted_binomial_matches_real_h2o():
    m = compute_metrics("binomial", darr(REF["y"], 3000), darr(REF["p"], 3000), darr(REF["w"], 3000))
    assert m.auc() == pytest.approx(0.8099766980626781, abs=1e-15)
    assert m.aucpr() == pytest.approx(0.7001231323211942, abs=1e-14)
    assert m.logloss() == pytest.approx(0.5049526420891979, rel=1e-14)
    assert m.r2() == pytest.approx(0.26321109344928073, rel=1e-13)
    assert m["mean_per_class_error"] == pytest.approx(0.2702466137997241, rel=1e-13)
    assert m.nobs() == 3000
    assert m["max_criteria_and_metric_scores"]["idx"][:4] == [238, 301, 150, 150]
    gl = m.gains_lift()
    np.testing.assert_allclose(gl["cumulative_data_fraction"][:3],
                               [0.010175145954962469, 0.020350291909924937, 0.030191826522101752], rtol=1e-13)
    assert gl["lift"][0] == pytest.approx(2.6195176379709895, rel=1e-13)
    cm = m.confusion_matrix().to_list()
    assert cm == [[2514, 1380], [391, 1710]]


def test_gains_lift_with_few_distinct_predictions_matches_real_h2o():
    rng = np.random.default_rng(11)
    y = (rng.random(1000) < 0.4).astype(float)
    p = np.round(np.clip(0.4 + 0.3 * (y - 0.4) + 0.25 * rng.standard_normal(1000), 0.0, 1.0) * 6) / 6
    m = compute_metrics("binomial", darr(y, 300), darr(p, 300))
    assert m.auc() == pytest.approx(0.8024592207494963, abs=1e-15)
    gl = m.gains_lift()
    assert gl["cumulative_data_fraction"] == pytest.approx([0.044, 0.122, 0.272, 0.482, 0.691, 0.869, 1.0])
    assert gl["lower_threshold"] == pytest.approx([1.0, 5 / 6, 4 / 6, 0.5, 2 / 6, 1 / 6, 0.0])
    assert gl["lift"] == pytest.approx([2.1290185224611453, 1.9816249324446047, 1.6237314597970336,
                                        1.2601762016281923, 0.6947323599610054, 0.4736468173565245,
                                        0.10726352861254626], rel=1e-13)
    assert gl["kolmogorov_smirnov"][3] == pytest.approx(0.4789533700356805, rel=1e-13)


def test_binomial_threshold_methods_and_confusion_matrix():
    y, p = binomial_data(500, distinct=80, seed=11)
    m = compute_metrics("binomial", darr(y, 100), darr(p, 100), domain=["No", "Yes"])
    t, f1 = m.F1()[0]
    assert f1 == pytest.approx(max(skm.f1_score(y, p >= s) for s in np.unique(p)), rel=1e-12)
    acc = m.accuracy(thresholds=[t])[0][1]
    assert m.error(thresholds=[t])[0][1] == pytest.approx(1 - acc)
    assert acc == pytest.approx(skm.accuracy_score(y, p >= t), rel=1e-12)
    assert m.precision(thresholds=[t])[0][1] == pytest.approx(skm.precision_score(y, p >= t), rel=1e-12)
    assert m.recall(thresholds=[t])[0][1] == pytest.approx(skm.recall_score(y, p >= t), rel=1e-12)
    assert m.mcc(thresholds=[t])[0][1] == pytest.approx(abs(skm.matthews_corrcoef(y, p >= t)), rel=1e-10)
    spec = m.specificity(thresholds=[t])[0][1]
    assert spec == pytest.approx(np.mean(p[y == 0] < t), rel=1e-12)
    assert m.tpr(thresholds=[t])[0][1] == m.recall(thresholds=[t])[0][1]
    assert m.fpr(thresholds=[t])[0][1] == pytest.approx(1 - spec)
    mpce = m.mean_per_class_error()
    assert mpce[0][1] == pytest.approx(1 - max(skm.balanced_accuracy_score(y, p >= s) for s in np.unique(p)))
    assert m.max_per_class_error()[0][1] >= mpce[0][1]
    assert len(m.F1(thresholds="all")) == len(np.unique(p))
    assert m.F1(thresholds=t).value == pytest.approx(f1)
    cm = m.confusion_matrix()
    assert isinstance(cm, ConfusionMatrix)
    assert cm.to_list() == skm.confusion_matrix(y, p >= t).tolist()
    df = cm.as_data_frame()
    assert list(df.columns) == ["", "No", "Yes", "Error", "Rate"]
    assert list(df[""]) == ["No", "Yes", "Total"]
    assert "Confusion Matrix (Act/Pred) for max f1 @ threshold = " in str(cm)
    two = m.confusion_matrix(metrics=["f1", "accuracy"])
    assert isinstance(two, list) and len(two) == 2
    assert m["err"] == pytest.approx(1 - skm.accuracy_score(y, p >= t))
    with pytest.raises(KeyError):
        m.mae()
    with pytest.raises(KeyError):
        m.rmsle()
    with pytest.raises(KeyError):
        m.mean_residual_deviance()
    with pytest.raises(ValueError):
        m.metric("bogus")


def test_binomial_max_criteria_table_and_display():
    y, p = binomial_data(400, distinct=40, seed=12)
    m = compute_metrics("binomial", darr(y, 100), darr(p, 100), algo="gbm", on="training_metrics")
    crit = m["max_criteria_and_metric_scores"]
    assert crit["metric"][:3] == ["max f1", "max f2", "max f0point5"] and len(crit) == 18
    table = m.thresholds_and_metric_scores()
    assert table.col_header == ["threshold", "f1", "f2", "f0point5", "accuracy", "precision", "recall",
                                "specificity", "absolute_mcc", "min_per_class_accuracy",
                                "mean_per_class_accuracy", "tns", "fns", "fps", "tps", "tnr", "fnr", "fpr",
                                "tpr", "idx"]
    for name, thr, value, idx in crit.cell_values:
        col = table[name[4:]]
        assert value == max(col) and col.index(value) == idx and table["threshold"][idx] == thr
    text = str(m)
    assert text.startswith("ModelMetricsBinomial: gbm\n** Reported on train data. **\n\nMSE: ")
    for part in ("LogLoss: ", "Mean Per-Class Error: ", "AUC: ", "AUCPR: ", "Gini: ", "Maximum Metrics",
                 "Gains/Lift Table: Avg response rate:"):
        assert part in text
    d = m._as_dict()
    assert set(d) >= {"accuracy", "aic", "auc", "err", "err_count", "f0point5", "f1", "f2", "lift_top_group",
                      "loglikelihood", "logloss", "max_per_class_error", "mcc", "mean_per_class_accuracy",
                      "mean_per_class_error", "mse", "pr_auc", "precision", "r2", "recall", "rmse",
                      "specificity"}
    assert m.max_f1_threshold() == m.F1()[0][0]


def test_gains_lift_groups_follow_quantiles():
    y, p = binomial_data(1000, seed=13)
    m = compute_metrics("binomial", darr(y, 150), darr(p, 150))
    gl = m.gains_lift().as_data_frame()
    probs = [0.99, 0.98, 0.97, 0.96, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    np.testing.assert_allclose(gl["lower_threshold"], np.quantile(p, probs), rtol=1e-14)
    frac = [np.mean(p >= q) for q in np.quantile(p, probs)]
    np.testing.assert_allclose(gl["cumulative_data_fraction"], frac, rtol=1e-14)
    top = p >= gl["lower_threshold"][0]
    assert gl["lift"][0] == pytest.approx(y[top].mean() / y.mean(), rel=1e-12)
    assert gl["cumulative_capture_rate"].iloc[-1] == pytest.approx(1.0)


def test_binomial_all_one_class():
    y = np.ones(20)
    p = np.linspace(0.1, 0.9, 20)
    m = compute_metrics("binomial", darr(y, 7), darr(p, 7))
    assert m.auc() == 1.0  # no negatives
    m0 = compute_metrics("binomial", darr(np.zeros(20), 7), darr(p, 7))
    assert m0.auc() == 0.0


# ------------------------------------------------------------------------------------------
# multinomial
# ------------------------------------------------------------------------------------------

def multinomial_data(n=900, K=5, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    P = rng.dirichlet(np.ones(K), n)
    P[np.arange(n), y] += rng.random(n) * 0.6
    P /= P.sum(1, keepdims=True)
    return y.astype(float), P


def test_multinomial_matches_sklearn():
    y, P = multinomial_data()
    m = compute_metrics("multinomial", darr(y, 200), darr(P, 200), domain=list("abcde"))
    yi = y.astype(int)
    assert m.logloss() == pytest.approx(skm.log_loss(yi, P, labels=range(5)), rel=1e-12)
    ptrue = P[np.arange(len(y)), yi]
    assert m.mse() == pytest.approx(np.mean((1 - ptrue) ** 2), rel=1e-12)
    assert m.r2() == pytest.approx(1 - m.mse() / np.var(y), rel=1e-12)
    pred = P.argmax(1)
    cm = skm.confusion_matrix(yi, pred)
    table = m.confusion_matrix()
    assert table.col_header == ["a", "b", "c", "d", "e", "Error", "Rate"]
    np.testing.assert_array_equal(np.array([r[:5] for r in table.cell_values[:5]]), cm)
    assert table.cell_values[5][5] == pytest.approx(1 - skm.accuracy_score(yi, pred))
    assert m.mean_per_class_error() == pytest.approx(1 - skm.balanced_accuracy_score(yi, pred), rel=1e-12)
    hr = m.hit_ratio_table()
    assert hr.col_header == ["k", "hit_ratio"] and hr["k"] == [1, 2, 3, 4, 5]
    for k in range(1, 5):
        assert hr["hit_ratio"][k - 1] == pytest.approx(skm.top_k_accuracy_score(yi, P, k=k), rel=1e-12)
    assert math.isnan(m.auc())
    d = m._as_dict()
    assert d["err"] == pytest.approx(1 - skm.accuracy_score(yi, pred))
    assert d["err_count"] == pytest.approx(np.sum(pred != yi))


def test_multinomial_hit_ratio_stops_at_ten_classes():
    y, P = multinomial_data(300, K=12)
    m = compute_metrics("multinomial", darr(y, 100), darr(P, 100))
    assert len(m.hit_ratio_table()) == 10


def test_multinomial_matches_real_h2o():
    m = compute_metrics("multinomial", darr(REF["ym"], 300), darr(REF["P"], 300), domain=list("abcd"))
    assert m.mse() == pytest.approx(0.2674774568013211, rel=1e-13)
    assert m.logloss() == pytest.approx(0.7254821572075154, rel=1e-13)
    assert m.r2() == pytest.approx(0.7829178298160029, rel=1e-13)
    assert m.mean_per_class_error() == pytest.approx(0.18364959308012913, rel=1e-13)
    cm = m.confusion_matrix()
    assert cm["Rate"] == ["28 / 195", "39 / 193", "40 / 214", "40 / 198", "147 / 800"]
    assert cm["a"] == [167.0, 13.0, 10.0, 19.0, 209.0]
    assert m.hit_ratio_table()["hit_ratio"] == pytest.approx([0.81625, 1.0, 1.0, 1.0])
    text = str(m)
    assert "Confusion Matrix: Row labels: Actual class; Column labels: Predicted class" in text
    assert "Top-4 Hit Ratios" in text


def test_multinomial_r2_uses_class_index_variance():
    # three balanced classes: population variance of the index 0,1,2 is 2/3 (the iris rule)
    y = np.repeat([0.0, 1.0, 2.0], 50)
    P = np.full((150, 3), 0.1)
    P[np.arange(150), y.astype(int)] = 0.8
    m = compute_metrics("multinomial", darr(y, 40), darr(P, 40))
    assert m.mse() == pytest.approx(0.04)
    assert m.r2() == pytest.approx(1 - 0.04 / (2 / 3))


def test_multinomial_weights_and_chunks():
    y, P = multinomial_data(400, K=3, seed=8)
    w = np.random.default_rng(1).integers(1, 3, 400).astype(float)
    m = compute_metrics("multinomial", darr(y, 400), darr(P, 400), darr(w, 400))
    many = compute_metrics("multinomial", darr(y, 37), darr(P, 51), darr(w, 64))
    assert m._as_dict() == pytest.approx(many._as_dict(), rel=1e-12, nan_ok=True)
    assert m.logloss() == pytest.approx(skm.log_loss(y, P, sample_weight=w), rel=1e-12)


# ------------------------------------------------------------------------------------------
# autoencoder, quantiles, tables, errors
# ------------------------------------------------------------------------------------------

def test_autoencoder_reconstruction_mse():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    R = X + 0.1 * rng.standard_normal((120, 4))
    m = compute_metrics("autoencoder", darr(X, 50), darr(R, 30))
    assert m.mse() == pytest.approx(np.mean((X - R) ** 2), rel=1e-12)
    assert m.rmse() == pytest.approx(math.sqrt(m.mse()))
    per_row = ((X - R) ** 2).mean(1)
    m2 = compute_metrics("autoencoder", None, darr(per_row, 25))
    assert m2.mse() == pytest.approx(m.mse(), rel=1e-12)
    assert str(m2).startswith("ModelMetricsAutoEncoder: ")


def test_weighted_quantiles_exact():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(3000) ** 3
    probs = [0.0, 0.013, 0.25, 0.5, 0.9, 0.999, 1.0]
    blocks = _aligned_blocks([darr(x, 400), None])
    q = weighted_quantiles(blocks, probs, 3000.0, x.min(), x.max())
    np.testing.assert_allclose(q, np.quantile(x, probs), rtol=1e-15)
    w = rng.integers(1, 4, 3000).astype(float)
    rep = np.repeat(x, w.astype(int))
    qw = weighted_quantiles(_aligned_blocks([darr(x, 400), darr(w, 400)]), probs, w.sum(), x.min(), x.max())
    np.testing.assert_allclose(qw, np.quantile(rep, probs), rtol=1e-15)


def test_metrics_objects_pickle_and_rebuild():
    import pickle

    from daskml_h2o.models.metrics import make_metrics_object
    y, p = binomial_data(200, distinct=20, seed=30)
    m = compute_metrics("binomial", darr(y, 50), darr(p, 50), algo="deeplearning")
    back = pickle.loads(pickle.dumps(m))
    assert back.auc() == m.auc() and back.F1() == m.F1() and str(back) == str(m)
    again = make_metrics_object("binomial", m._metric_json, algo="deeplearning", on="validation_metrics")
    assert again.auc() == m.auc() and "** Reported on validation data. **" in str(again)


def test_two_dim_table():
    t = H2OTwoDimTable(table_header="Scores", col_header=["name", "value"], cell_values=[["a", 1.5], ["b", 2.0]])
    assert t["value"] == [1.5, 2.0] and t[0] == ["a", "b"] and t[-1] == [1.5, 2.0]
    assert t[["name"]] == [["a", "b"]]
    assert list(t.as_data_frame().columns) == ["name", "value"]
    assert len(t[1:]) == 1
    text = str(t)
    assert text.splitlines()[0] == "Scores" and "name" in text.splitlines()[1]
    with pytest.raises(KeyError):
        t["missing"]
    with pytest.raises(ValueError):
        H2OTwoDimTable(col_header=["a"], cell_values=[[1, 2]])
    t["extra"] = [True, False]
    assert t.col_header == ["name", "value", "extra"] and t["extra"] == [True, False]


def test_bad_input_errors():
    y, p = regression_data(10)
    with pytest.raises(ValueError, match="kind"):
        compute_metrics("ordinal", darr(y, 5), darr(p, 5))
    with pytest.raises(ValueError, match="same number of rows"):
        compute_metrics("regression", darr(y, 5), darr(p[:8], 4))
    with pytest.raises(ValueError, match="not supported yet"):
        compute_metrics("regression", darr(y, 5), darr(p, 5), distribution="bernoulli")
    with pytest.raises(ValueError, match="domain"):
        compute_metrics("binomial", darr((y > 3).astype(float), 5), darr(p / p.max(), 5), domain=["a"])
    with pytest.raises(ValueError, match="class index"):
        compute_metrics("binomial", darr([0.0, 1.0, 2.0], 3), darr([0.1, 0.5, 0.9], 3))
    with pytest.raises(ValueError, match="class index"):
        compute_metrics("multinomial", darr([0.0, 3.0], 2), darr(np.full((2, 3), 1 / 3), 2))
    assert isinstance(compute_metrics("binomial", darr((y > 3).astype(float), 5), darr(p / p.max(), 5)),
                      H2OBinomialModelMetrics)


# ------------------------------------------------------------------------------------------
# metrics over an executor's chunks (ChunkBlocks) equal the dask path bit for bit
# ------------------------------------------------------------------------------------------

def chunked_metric_inputs(kind, seed=3, sizes=(120, 0, 95, 300, 41)):
    """Per-chunk (y, preds, w) lists for ``kind``: NA responses, zero weights, an empty chunk."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    w = rng.integers(0, 4, n).astype(float)
    if kind == "binomial":
        y = (rng.random(n) < 0.4).astype(float)
        p1 = np.clip(0.4 + 0.3 * (y - 0.4) + 0.25 * rng.standard_normal(n), 0.001, 0.999)
        preds = np.stack([1 - p1, p1], axis=1)
    elif kind == "multinomial":
        y = rng.integers(0, 3, n).astype(float)
        preds = rng.dirichlet(np.ones(3), n)
    elif kind == "regression":
        y = rng.gamma(2.0, 1.5, n)
        preds = y * np.exp(0.3 * rng.standard_normal(n))
    else:  # autoencoder: per-row reconstruction errors
        y, preds = None, rng.gamma(1.0, 0.1, n)
    if y is not None:
        y[rng.random(n) < 0.03] = np.nan
    cuts = np.cumsum(sizes)[:-1]
    split = (lambda a: None if a is None else np.split(a, cuts))
    return split(y), split(preds), split(w)


def same_metrics(a, b):
    assert type(a) is type(b)
    assert a._metric_json.keys() == b._metric_json.keys()
    for key, va in a._metric_json.items():
        vb = b._metric_json[key]
        if hasattr(va, "as_data_frame"):
            pd.testing.assert_frame_equal(va.as_data_frame(), vb.as_data_frame(), check_exact=True)
        elif isinstance(va, (float, np.floating, np.ndarray, list, tuple)):
            np.testing.assert_array_equal(np.asarray(va, dtype=object if isinstance(va, (list, tuple)) else None),
                                          np.asarray(vb, dtype=object if isinstance(vb, (list, tuple)) else None),
                                          err_msg=key)
        else:
            assert va == vb, key


@pytest.mark.parametrize("kind, options", [
    ("binomial", {}), ("binomial", {"gains_lift": False}), ("multinomial", {}),
    ("regression", {"distribution": "gaussian"}), ("regression", {"distribution": "huber", "huber_alpha": 0.8}),
    ("regression", {"distribution": "tweedie", "tweedie_power": 1.3}), ("autoencoder", {}),
])
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_metrics_on_executor_chunks_equal_the_dask_reduction(kind, options, executor, h2o_session):
    from daskml_h2o.models.metrics import add_gains_lift, chunk_blocks, compute_metrics_on_chunks
    from daskml_h2o.parallel import DaskExecutor, LocalExecutor
    y, preds, w = chunked_metric_inputs(kind)
    domain = {"binomial": ["0", "1"], "multinomial": ["a", "b", "c"]}.get(kind)
    ex = LocalExecutor(2) if executor == "local" else DaskExecutor()
    got = compute_metrics_on_chunks(ex, kind, y, preds, w, domain=domain, algo="gbm", **options)
    as_dask = (lambda parts: None if parts is None else da.concatenate([darr(p, max(1, len(p))) for p in parts]))
    expected = compute_metrics(kind, as_dask(y), as_dask(preds), weights=as_dask(w), domain=domain, algo="gbm",
                               **options)
    same_metrics(got, expected)
    if options.get("gains_lift") is False:
        assert got.gains_lift() is None
        add_gains_lift(got, chunk_blocks(ex, y, preds, w))
        add_gains_lift(expected, as_dask(y), as_dask(preds), as_dask(w))
        same_metrics(got, expected)
        assert got.gains_lift() is not None


def test_metrics_on_chunks_need_the_domain_for_classes():
    from daskml_h2o.models.metrics import compute_metrics_on_chunks
    from daskml_h2o.parallel import LocalExecutor
    y, preds, w = chunked_metric_inputs("multinomial")
    with pytest.raises(ValueError, match="multinomial metrics on chunks need the response domain"):
        compute_metrics_on_chunks(LocalExecutor(1), "multinomial", y, preds, w)
    with pytest.raises(ValueError, match="metrics kind must be one of"):
        compute_metrics_on_chunks(LocalExecutor(1), "ranking", y, preds, w)

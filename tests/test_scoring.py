"""Scoring history, H2O's early-stopping rule, stopping-metric resolution and variable importance."""
import math

import dask.array as da
import numpy as np
import pytest

from daskml_h2o.models.metrics import compute_metrics
from daskml_h2o.models.scoring import (
    ScoringHistory,
    best_index,
    format_duration,
    format_speed,
    mangle,
    metric_columns,
    metric_more_is_better,
    metric_value,
    model_loss,
    resolve_stopping_metric,
    scoring_columns,
    stop_early,
)
from daskml_h2o.models.varimp import varimp, varimp_frame, varimp_list, varimp_table

NAN = float("nan")


# ------------------------------------------------------------------------------------------
# names
# ------------------------------------------------------------------------------------------

def test_mangle():
    assert mangle("RectifierWithDropout") == mangle("rectifier_with_dropout") == "rectifierwithdropout"
    assert mangle("AUTO") == "auto"
    assert mangle("mean_per_class_error") == "meanperclasserror"


def test_resolve_stopping_metric():
    assert resolve_stopping_metric("AUTO", "binomial", "gbm") == "logloss"
    assert resolve_stopping_metric("auto", "multinomial", "deeplearning") == "logloss"
    assert resolve_stopping_metric("AUTO", "regression", "gbm") == "deviance"
    assert resolve_stopping_metric(None, "autoencoder", "deeplearning") == "mse"
    assert resolve_stopping_metric("AUC", "binomial") == "auc"
    assert resolve_stopping_metric("AUCPR", "binomial") == "aucpr"
    assert resolve_stopping_metric("MSE", "regression") == "mse"
    assert resolve_stopping_metric("lift_top_group", "binomial") == "lift_top_group"
    assert resolve_stopping_metric("misclassification", "multinomial") == "misclassification"
    assert resolve_stopping_metric("mean_per_class_error", "binomial") == "mean_per_class_error"
    with pytest.raises(ValueError, match="logloss for regression"):
        resolve_stopping_metric("logloss", "regression")
    with pytest.raises(ValueError, match="stopping_metric must be one of"):
        resolve_stopping_metric("accuracy", "binomial")
    with pytest.raises(ValueError, match="not supported yet"):
        resolve_stopping_metric("custom", "binomial")


def test_metric_direction():
    assert metric_more_is_better("AUC") and metric_more_is_better("aucpr") and metric_more_is_better("lift_top_group")
    for name in ("deviance", "logloss", "MSE", "rmse", "mae", "rmsle", "misclassification", "mean_per_class_error"):
        assert not metric_more_is_better(name)


# ------------------------------------------------------------------------------------------
# stop_early (hand-computed cases)
# ------------------------------------------------------------------------------------------

def test_stop_early_disabled_or_too_few_events():
    assert not stop_early([1.0] * 20, 0, False, 0.0)
    # k=2 needs len - 1 >= 4
    assert not stop_early([1.0, 1.0, 1.0, 1.0], 2, False, 0.0)
    assert stop_early([1.0, 1.0, 1.0, 1.0, 1.0], 2, False, 0.0)


def test_stop_early_lower_is_better():
    # averages of window 2 over the last 4: [0.95, 0.9, 0.9] -> improved by 5% -> keep going
    assert not stop_early([NAN, 1.0, 0.9, 0.9, 0.9], 2, False, 0.0)
    # flat: best/ref = 1 >= 1 - 0 -> stop
    assert stop_early([NAN, 0.9, 0.9, 0.9, 0.9], 2, False, 0.0)
    # averages [1.0, 0.9975, 0.995]: ratio 0.995
    assert stop_early([5.0, 1.0, 1.0, 0.995, 0.995], 2, False, 0.01)
    assert not stop_early([5.0, 1.0, 1.0, 0.995, 0.995], 2, False, 0.001)
    # only the last 2k events count
    assert stop_early([9.0, 8.0, 7.0, 1.0, 1.0], 1, False, 0.0)


def test_stop_early_more_is_better():
    # averages [0.8, 0.805, 0.81]: ratio 1.0125
    assert not stop_early([0.0, 0.8, 0.8, 0.81, 0.81], 2, True, 0.001)
    assert stop_early([0.0, 0.8, 0.8, 0.81, 0.81], 2, True, 0.02)
    assert stop_early([0.7, 0.9, 0.85, 0.8], 1, True, 0.0)  # got worse


def test_stop_early_nan_zero_and_sign_rules():
    # NaN inside the window never stops (the DL dummy first row only matters when it is in the window)
    assert not stop_early([1.0, NAN, 1.0, 1.0, 1.0], 2, False, 0.0)
    assert stop_early([NAN, 1.0, 1.0], 1, False, 0.0)
    # bounded-below metric at 0 stops at once; unbounded (deviance) cannot divide by 0
    assert stop_early([1.0, 0.0, 0.0, 0.0, 0.0], 2, False, 0.0, metric="logloss")
    assert not stop_early([1.0, 0.0, 0.0, 0.0, 0.0], 2, False, 0.0, metric="deviance")
    # moving averages change sign -> keep going
    assert not stop_early([0.0, -0.1, 0.1, 0.1, 0.1], 2, False, 0.5, metric="deviance")
    # all negative, getting worse (closer to 0 is larger): best/ref = -1/-2 = 0.5 < 1 -> continue
    assert not stop_early([0.0, -2.0, -1.0], 1, False, 0.0, metric="deviance")


def test_best_index():
    assert best_index([5.0, 3.0, 4.0, 4.0], 3, False) == 1
    assert best_index([5.0, 3.0, 4.0, 4.0], 2, False) == 3  # ties: latest wins
    assert best_index([0.1, 0.9, 0.5], 3, True) == 1
    assert best_index([0.1, 0.9, 0.5], 1, True) == 2


# ------------------------------------------------------------------------------------------
# scoring history
# ------------------------------------------------------------------------------------------

def test_gbm_columns():
    assert scoring_columns("gbm", "binomial", has_validation=True) == [
        "timestamp", "duration", "number_of_trees", "training_rmse", "training_logloss", "training_auc",
        "training_pr_auc", "training_lift", "training_classification_error", "validation_rmse",
        "validation_logloss", "validation_auc", "validation_pr_auc", "validation_lift",
        "validation_classification_error"]
    assert scoring_columns("gbm", "regression") == [
        "timestamp", "duration", "number_of_trees", "training_rmse", "training_mae", "training_deviance"]
    assert scoring_columns("gbm", "multinomial")[3:] == [
        "training_rmse", "training_logloss", "training_classification_error", "training_auc", "training_pr_auc"]


def test_deeplearning_columns():
    lead = ["timestamp", "duration", "training_speed", "epochs", "iterations", "samples"]
    assert scoring_columns("deeplearning", "regression") == lead + [
        "training_rmse", "training_deviance", "training_mae", "training_r2"]
    assert scoring_columns("deeplearning", "binomial")[6:] == [
        "training_rmse", "training_logloss", "training_r2", "training_auc", "training_pr_auc", "training_lift",
        "training_classification_error"]
    assert scoring_columns("deeplearning", "multinomial")[6:] == [
        "training_rmse", "training_logloss", "training_r2", "training_classification_error", "training_auc",
        "training_pr_auc"]
    assert scoring_columns("deeplearning", "autoencoder", True)[6:] == [
        "training_rmse", "training_mse", "validation_rmse", "validation_mse"]
    with pytest.raises(ValueError):
        scoring_columns("glm", "binomial")


def test_scoring_history_frame_and_metric_values():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.5).astype(float)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + 0.2 * rng.standard_normal(300), 0.01, 0.99)
    m = compute_metrics("binomial", da.from_array(y, chunks=100), da.from_array(p, chunks=100))
    h = ScoringHistory.for_model("gbm", "binomial")
    h.append(timestamp="2024-01-01 00:00:00", duration=format_duration(0.0), number_of_trees=0)
    h.append(dict(timestamp="2024-01-01 00:00:01", duration=format_duration(1.5), number_of_trees=5),
             **metric_columns(m, "gbm", "binomial", "training"))
    df = h.as_data_frame()
    assert list(df.columns) == [""] + h.columns
    assert list(df[""]) == ["", ""]
    assert math.isnan(df["training_auc"][0])
    assert df["training_auc"][1] == m.auc()
    assert df["training_rmse"][1] == m.rmse()
    assert df["training_lift"][1] == m["lift_top_group"]
    assert df["training_classification_error"][1] == m["err"]
    assert df["duration"][1] == " 1.500 sec"
    assert h.column("number_of_trees") == [0, 5]
    assert len(h) == 2 and h.last()["number_of_trees"] == 5
    assert "Scoring History" in repr(h)
    with pytest.raises(ValueError, match="unknown scoring history column"):
        h.append(epochs=1.0)
    # the stopping metric is read from the same metrics objects
    assert metric_value(m, "logloss") == m.logloss()
    assert metric_value(m, "AUC") == m.auc()
    assert metric_value(m, "misclassification") == m["err"]
    assert metric_value(m, "lift_top_group") == m["lift_top_group"]
    assert math.isnan(metric_value(m, "deviance"))


def test_model_loss_for_best_model_choice():
    rng = np.random.default_rng(1)
    y = (rng.random(200) < 0.5).astype(float)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + 0.2 * rng.standard_normal(200), 0.01, 0.99)
    m = compute_metrics("binomial", da.from_array(y, chunks=50), da.from_array(p, chunks=50))
    f32 = lambda v: float(np.float32(v))
    assert model_loss(m, "AUTO", "binomial") == f32(m.logloss())
    assert model_loss(m, "RMSE", "binomial") == f32(m.logloss())  # not in H2O's switch: falls back
    assert model_loss(m, "AUC", "binomial") == f32(1 - m.auc())
    assert model_loss(m, "AUCPR", "binomial") == f32(1 - m.aucpr())
    assert model_loss(m, "lift_top_group", "binomial") == f32(m["lift_top_group"])
    assert model_loss(m, "misclassification", "binomial") == f32(m["err"])
    r = compute_metrics("regression", da.from_array(y, chunks=50), da.from_array(p, chunks=50))
    assert model_loss(r, "auto", "regression") == f32(r.mean_residual_deviance())
    assert model_loss(r, "MAE", "regression") == f32(r.mae())


def test_regression_history_values():
    y = np.arange(1.0, 51.0)
    p = y + np.sin(y)
    m = compute_metrics("regression", da.from_array(y, chunks=20), da.from_array(p, chunks=20))
    cols = metric_columns(m, "deeplearning", "regression", "validation")
    assert cols == {"validation_rmse": m.rmse(), "validation_deviance": m.mean_residual_deviance(),
                    "validation_mae": m.mae(), "validation_r2": m.r2()}
    assert metric_value(m, "deviance") == m.mean_residual_deviance()


def test_formatting():
    assert format_duration(0.35) == " 0.350 sec"
    assert format_duration(0.04) == " 0.040 sec"  # as in a real H2O 3.46 GBM scoring history
    assert format_duration(62.345) == " 1 min  2.345 sec"
    assert format_duration(3723.456) == " 1:02:03.456"
    assert format_speed(1234.7) == "1234 obs/sec"
    assert format_speed(5.0) == "5.00000 obs/sec"
    assert format_speed(None) is None


# ------------------------------------------------------------------------------------------
# variable importance
# ------------------------------------------------------------------------------------------

def test_varimp_order_scaling_and_forms():
    names = ["a", "b", "c", "d"]
    vals = [2.0, 8.0, 2.0, 4.0]
    rows = varimp_list(names, vals)
    assert [r[0] for r in rows] == ["b", "d", "a", "c"]  # ties keep input order
    assert rows[0] == ("b", 8.0, 1.0, 0.5)
    assert rows[1] == ("d", 4.0, 0.5, 0.25)
    assert rows[2] == ("a", 2.0, 0.25, 0.125)
    df = varimp_frame(names, vals)
    assert list(df.columns) == ["variable", "relative_importance", "scaled_importance", "percentage"]
    assert list(df["variable"]) == ["b", "d", "a", "c"]
    t = varimp_table(names, vals)
    assert t._table_header == "Variable Importances" and t["percentage"] == [0.5, 0.25, 0.125, 0.125]
    assert varimp(names, vals) == rows
    assert varimp(names, vals, use_pandas=True).equals(df)
    zero = varimp_list(["x", "y"], [0.0, 0.0])
    assert [r[0] for r in zero] == ["x", "y"] and math.isnan(zero[0][2])
    with pytest.raises(ValueError):
        varimp_list(["x"], [1.0, 2.0])

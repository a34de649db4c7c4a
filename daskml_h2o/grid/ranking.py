"""How a grid ranks its models: which metrics a model is judged on (cross-validation, else
validation, else training), the metric names H2O's grids sort by, and the grid-level early
stopping over models (H2O's ``ScoreKeeper.stopEarly`` applied to the models sorted worst to best).
"""
from __future__ import annotations

import math

from daskml_h2o.models.base import H2OValueError
from daskml_h2o.models.scoring import mangle, metric_more_is_better, metric_value, resolve_stopping_metric, stop_early

__all__ = ["model_metrics", "sort_value", "canonical_sort_metric", "default_sort_metric", "more_is_better",
           "order_models", "stop_search"]


def _threshold_value(method):
    def get(metrics):
        found = getattr(metrics, method, None)
        return None if found is None else found().value
    return get


def _json(key):
    return lambda metrics: metrics._metric_json.get(key)


def _call(method):
    def get(metrics):
        found = getattr(metrics, method, None)
        return None if found is None else found()
    return get


# sort_by name -> (value getter, more is better)
_SORT_METRICS = {
    "logloss": (_call("logloss"), False),
    "mse": (_call("mse"), False),
    "rmse": (_call("rmse"), False),
    "mae": (_json("mae"), False),
    "rmsle": (_json("rmsle"), False),
    "r2": (_json("r2"), True),
    "residual_deviance": (_json("mean_residual_deviance"), False),
    "mean_residual_deviance": (_json("mean_residual_deviance"), False),
    "deviance": (_json("mean_residual_deviance"), False),
    "auc": (_json("AUC"), True),
    "aucpr": (_json("pr_auc"), True),
    "pr_auc": (_json("pr_auc"), True),
    "gini": (_json("Gini"), True),
    "mean_per_class_error": (_json("mean_per_class_error"), False),
    "err": (_json("err"), False),
    "misclassification": (_json("err"), False),
    "accuracy": (lambda m: None if m._metric_json.get("err") is None else 1.0 - m._metric_json["err"], True),
    "f1": (_threshold_value("F1"), True),
    "f2": (_threshold_value("F2"), True),
    "f0point5": (_threshold_value("F0point5"), True),
    "precision": (_threshold_value("precision"), True),
    "recall": (_threshold_value("recall"), True),
    "lift_top_group": (_json("lift_top_group"), True),
}
_BY_MANGLED = {mangle(k): k for k in _SORT_METRICS}


def canonical_sort_metric(name) -> str:
    key = _BY_MANGLED.get(mangle(name))
    if key is None:
        raise H2OValueError(f"sort_by {name!r} is not a metric a grid can sort by; use one of "
                            f"{sorted(_SORT_METRICS)}")
    return key


def more_is_better(name) -> bool:
    return _SORT_METRICS[canonical_sort_metric(name)][1]


def default_sort_metric(kind) -> str:
    """H2O's default: logloss for classification, residual deviance for regression, MSE otherwise."""
    return {"binomial": "logloss", "multinomial": "logloss", "regression": "residual_deviance"}.get(kind, "mse")


def model_metrics(model):
    """The metrics a grid judges a model on: xval if it was cross-validated, else valid, else train."""
    found = model._metrics
    for which in ("xval", "valid", "train"):
        if found.get(which) is not None:
            return found[which]
    return None


def sort_value(model, name) -> float:
    """The model's value of sort metric ``name`` (NaN when its metrics lack it)."""
    metrics = model_metrics(model)
    if metrics is None:
        return math.nan
    try:
        value = _SORT_METRICS[canonical_sort_metric(name)][0](metrics)
    except (KeyError, ValueError, IndexError, TypeError):
        return math.nan
    return math.nan if value is None else float(value)


def order_models(models, name, decreasing=False) -> list:
    """Models ordered by the metric (ties keep build order); models without the metric come last."""
    keyed = [(sort_value(m, name), i, m) for i, m in enumerate(models)]
    known = [k for k in keyed if not math.isnan(k[0])]
    unknown = [k for k in keyed if math.isnan(k[0])]
    known.sort(key=lambda k: (-k[0] if decreasing else k[0], k[1]))
    return [m for _, _, m in known + unknown]


def stop_search(models, criteria, kind) -> bool:
    """Grid-level early stopping: the stopping metric of every model so far, sorted from worst to
    best, goes through the same moving-average rule a model uses over its scoring events."""
    rounds = criteria["stopping_rounds"]
    if rounds <= 0 or kind not in ("regression", "binomial", "multinomial", "autoencoder") or not models:
        return False
    metric = resolve_stopping_metric(criteria["stopping_metric"], kind)
    better = metric_more_is_better(metric)
    values = [metric_value(model_metrics(m), metric) for m in models]
    values = sorted((v for v in values if not math.isnan(v)), reverse=not better)
    return stop_early(values, rounds, better, criteria["stopping_tolerance"], metric)

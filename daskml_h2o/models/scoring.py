"""Scoring history and early stopping, shared by GBM and Deep Learning.

``ScoringHistory`` collects one row per scoring event with H2O's column names for each
algorithm and problem kind, and renders it as ``model.scoring_history()`` does (a pandas
DataFrame whose first column ``''`` is empty). ``stop_early`` is H2O's moving-average rule
(``ScoreKeeper.stopEarly``); ``resolve_stopping_metric`` / ``metric_more_is_better`` /
``metric_value`` turn a user's ``stopping_metric`` into the number it watches.
"""
import math
import re
import time

import numpy as np
import pandas as pd

from daskml_h2o.models.tables import H2OTwoDimTable


def mangle(name):
    """H2O's enum comparison key: lower-case, every character outside a-z removed."""
    return re.sub(r"[^a-z]", "", str(name).lower())


# ---------------------------------------------------------------------------------------
# Stopping metrics
# ---------------------------------------------------------------------------------------

# canonical name -> (more is better, bounded below by 0, classification only)
STOPPING_METRICS = {
    "deviance": (False, False, False),
    "logloss": (False, True, True),
    "mse": (False, True, False),
    "rmse": (False, True, False),
    "mae": (False, True, False),
    "rmsle": (False, True, False),
    "auc": (True, True, True),
    "aucpr": (True, True, True),
    "lift_top_group": (True, False, True),
    "misclassification": (False, True, True),
    "mean_per_class_error": (False, True, True),
}
_BY_MANGLED = {mangle(k): k for k in STOPPING_METRICS}


def resolve_stopping_metric(name, kind, algo="gbm"):
    """Canonical stopping metric for ``stopping_metric=name`` on a ``kind`` problem.

    AUTO -> logloss (binomial/multinomial), deviance (regression), mse (autoencoder).
    """
    if kind not in ("regression", "binomial", "multinomial", "autoencoder"):
        raise ValueError("problem kind must be regression, binomial, multinomial or autoencoder, got %r" % (kind,))
    key = mangle(name if name is not None else "auto")
    if key == "auto":
        return {"regression": "deviance", "autoencoder": "mse"}.get(kind, "logloss")
    if key not in _BY_MANGLED:
        if key in ("custom", "customincreasing", "anomalyscore"):
            raise ValueError("stopping_metric=%r is not supported yet for %s" % (name, algo))
        raise ValueError("stopping_metric must be one of AUTO, %s; got %r"
                         % (", ".join(STOPPING_METRICS), name))
    metric = _BY_MANGLED[key]
    if STOPPING_METRICS[metric][2] and kind not in ("binomial", "multinomial"):
        raise ValueError("Stopping metric cannot be %s for %s." % (metric, kind))
    return metric


def metric_more_is_better(name):
    """True for AUC, AUCPR and lift_top_group (H2O's MORE_IS_BETTER metrics)."""
    key = _BY_MANGLED.get(mangle(name))
    if key is None:
        raise ValueError("unknown stopping metric %r" % (name,))
    return STOPPING_METRICS[key][0]


def metric_lower_bound_by_0(name):
    key = _BY_MANGLED.get(mangle(name))
    if key is None:
        raise ValueError("unknown stopping metric %r" % (name,))
    return STOPPING_METRICS[key][1]


_METRIC_JSON_KEY = {"deviance": "mean_residual_deviance", "logloss": "logloss", "mse": "MSE", "rmse": "RMSE",
                    "mae": "mae", "rmsle": "rmsle", "auc": "AUC", "aucpr": "pr_auc",
                    "lift_top_group": "lift_top_group", "misclassification": "err",
                    "mean_per_class_error": "mean_per_class_error"}


def metric_value(metrics, name):
    """The value a score keeper holds for stopping metric ``name`` (NaN when the metrics lack it)."""
    if metrics is None:
        return float("nan")
    key = _METRIC_JSON_KEY[_BY_MANGLED.get(mangle(name), mangle(name))]
    value = metrics._metric_json.get(key)
    return float("nan") if value is None else float(value)


def model_loss(metrics, stopping_metric, kind):
    """Deep Learning's "lower is better" loss that picks the best model (H2O's Model.loss()), float32.

    AUC and AUCPR count as 1 - value; lift_top_group is taken as it is (H2O does the same);
    AUTO -- and RMSE, which H2O's switch does not list -- fall back to logloss (classification),
    MSE (autoencoder) or deviance (regression).
    """
    key = _BY_MANGLED.get(mangle(stopping_metric if stopping_metric is not None else "auto"))
    if key in ("auc", "aucpr"):
        value = 1.0 - metric_value(metrics, key)
    elif key is None or key == "rmse":
        fallback = {"autoencoder": "mse", "regression": "deviance"}.get(kind, "logloss")
        value = metric_value(metrics, fallback)
    else:
        value = metric_value(metrics, key)
    return float(np.float32(value))


def stop_early(metric_values, stopping_rounds, more_is_better, stopping_tolerance, metric=None):
    """H2O's early-stopping test over the metric of every scoring event so far (oldest first).

    k = stopping_rounds. Needs len(values) - 1 >= 2k. The k+1 moving averages of window k over
    the last 2k values are compared: the first is the reference, the best of the others must
    improve on it by more than the relative ``stopping_tolerance`` or training stops. ``metric``
    (a stopping-metric name) says whether the metric is bounded below by 0, in which case a
    reference of exactly 0 stops at once.
    """
    k = int(stopping_rounds)
    if k <= 0:
        return False
    values = [float(v) for v in metric_values]
    if len(values) - 1 < 2 * k:
        return False
    start = len(values) - 2 * k
    avgs = [sum(values[start + i:start + i + k]) / k for i in range(k + 1)]
    if any(math.isnan(a) for a in avgs):
        return False
    ref, recent = avgs[0], avgs[1:]
    if metric is not None and metric_lower_bound_by_0(metric) and ref == 0.0:
        return True
    best = max(recent) if more_is_better else min(recent)
    if np.sign(max(avgs)) != np.sign(min(avgs)) or np.sign(best) != np.sign(ref):
        return False
    if ref == 0.0:
        return False  # 0/0: no relative improvement can be measured
    ratio = best / ref
    return ratio <= 1.0 + stopping_tolerance if more_is_better else ratio >= 1.0 - stopping_tolerance


def best_index(metric_values, stopping_rounds, more_is_better):
    """Index of the best of the last k scoring events (the latest wins ties), as H2O's ScoreKeeper.best."""
    values = [float(v) for v in metric_values]
    best = len(values) - 1
    for i in range(1, int(stopping_rounds)):
        idx = len(values) - i - 1
        if idx < 0:
            break
        if (values[idx] > values[best]) if more_is_better else (values[idx] < values[best]):
            best = idx
    return best


# ---------------------------------------------------------------------------------------
# Scoring history
# ---------------------------------------------------------------------------------------

_GBM_METRICS = {
    "regression": ["rmse", "mae", "deviance"],
    "binomial": ["rmse", "logloss", "auc", "pr_auc", "lift", "classification_error"],
    "multinomial": ["rmse", "logloss", "classification_error", "auc", "pr_auc"],
}
_DL_METRICS = {
    "regression": ["rmse", "deviance", "mae", "r2"],
    "binomial": ["rmse", "logloss", "r2", "auc", "pr_auc", "lift", "classification_error"],
    "multinomial": ["rmse", "logloss", "r2", "classification_error", "auc", "pr_auc"],
    "autoencoder": ["rmse", "mse"],
}
_LEADING = {"gbm": ["timestamp", "duration", "number_of_trees"],
            "deeplearning": ["timestamp", "duration", "training_speed", "epochs", "iterations", "samples"]}
_HISTORY_JSON_KEY = {"rmse": "RMSE", "mse": "MSE", "logloss": "logloss", "auc": "AUC", "pr_auc": "pr_auc",
                     "lift": "lift_top_group", "classification_error": "err", "mae": "mae",
                     "deviance": "mean_residual_deviance", "r2": "r2"}


def history_metric_names(algo, kind):
    """Metric suffixes of the scoring-history columns (``training_<suffix>``) for an algorithm and kind."""
    table = {"gbm": _GBM_METRICS, "deeplearning": _DL_METRICS}.get(algo)
    if table is None:
        raise ValueError("scoring history is defined for algo 'gbm' or 'deeplearning', got %r" % (algo,))
    if kind not in table:
        raise ValueError("%s has no scoring history for a %s problem" % (algo, kind))
    return list(table[kind])


def scoring_columns(algo, kind, has_validation=False, custom_metric=False):
    """H2O's scoring-history column names, in order."""
    names = history_metric_names(algo, kind)
    if custom_metric:
        names = names + ["custom"]
    cols = list(_LEADING[algo]) + ["training_" + n for n in names]
    if has_validation:
        cols += ["validation_" + n for n in names]
    return cols


def metric_columns(metrics, algo, kind, prefix="training"):
    """{'<prefix>_<metric>': value} for one metrics object (missing values are NaN)."""
    out = {}
    for name in history_metric_names(algo, kind):
        value = None if metrics is None else metrics._metric_json.get(_HISTORY_JSON_KEY[name])
        out["%s_%s" % (prefix, name)] = float("nan") if value is None else float(value)
    return out


def format_timestamp(epoch_seconds=None):
    """Local time as H2O prints it: yyyy-MM-dd HH:mm:ss."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() if epoch_seconds is None
                                                              else epoch_seconds))


def format_duration(seconds):
    """Elapsed time as H2O's PrettyPrint.msecs: ' 0.350 sec', ' 1 min  2.345 sec', ' 1:02:03.456'."""
    ms = int(round(float(seconds) * 1000.0))
    hr, ms = divmod(ms, 3600000)
    mins, ms = divmod(ms, 60000)
    sec, ms = divmod(ms, 1000)
    if hr:
        return "%2d:%02d:%02d.%03d" % (hr, mins, sec, ms)
    if mins:
        return "%2d min %2d.%03d sec" % (mins, sec, ms)
    return "%2d.%03d sec" % (sec, ms)


def format_speed(samples_per_second):
    """Deep Learning's training_speed cell: '<int> obs/sec', Java's %g below 10, None when unknown."""
    if samples_per_second is None or not np.isfinite(samples_per_second):
        return None
    if samples_per_second < 10:
        return "%#.6g obs/sec" % samples_per_second
    return "%d obs/sec" % int(samples_per_second)


class ScoringHistory:
    """Rows of scoring events under fixed column names; renders as ``model.scoring_history()``."""

    def __init__(self, columns):
        self.columns = list(columns)
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("scoring history columns must be unique, got %s" % self.columns)
        self._rows = []

    @classmethod
    def for_model(cls, algo, kind, has_validation=False, custom_metric=False):
        return cls(scoring_columns(algo, kind, has_validation, custom_metric))

    def append(self, values=None, **more):
        """Add a row; columns not given are NaN (None for text columns)."""
        row = dict(values or {})
        row.update(more)
        unknown = [c for c in row if c not in self.columns]
        if unknown:
            raise ValueError("unknown scoring history column(s) %s; columns are %s" % (unknown, self.columns))
        self._rows.append([row.get(c, None if c in ("timestamp", "duration", "training_speed") else float("nan"))
                           for c in self.columns])

    def __len__(self):
        return len(self._rows)

    def column(self, name):
        j = self.columns.index(name)
        return [r[j] for r in self._rows]

    def last(self):
        return dict(zip(self.columns, self._rows[-1])) if self._rows else None

    def as_table(self):
        rows = [[""] + list(r) for r in self._rows]
        return H2OTwoDimTable(table_header="Scoring History", col_header=[""] + self.columns, cell_values=rows)

    def as_data_frame(self):
        df = pd.DataFrame([list(r) for r in self._rows], columns=self.columns)
        df.insert(0, "", "")
        return df

    def __getstate__(self):
        return {"columns": self.columns, "rows": self._rows}

    def __setstate__(self, state):
        self.columns = state["columns"]
        self._rows = state["rows"]

    def __repr__(self):
        return str(self.as_table())

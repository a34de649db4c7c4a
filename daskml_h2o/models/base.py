"""The estimator base every algorithm builds on: H2O's parameter handling, ``train()`` argument
resolution and validation, metric accessors, ``predict`` output naming, ids and the registry.

An algorithm subclass declares ``algo``, ``_defaults`` (H2O's parameters and defaults, in
H2O's order), ``_enums`` (allowed values of enum parameters) and ``_not_yet`` (parameters that
raise "not supported yet" when set), and implements ``_fit(spec)`` and ``_predict_arrays``.
"""
from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from daskml_h2o import registry
from daskml_h2o.models.scoring import mangle

__all__ = ["H2OEstimator", "TrainingSpec", "H2OValueError", "H2OResponseError", "prediction_column_names"]

_SESSION_TS = int(time.time() * 1000)
_model_counter = itertools.count(1)

# Parameters every estimator shares whose names are handled by train() itself.
_COLUMN_PARAMS = ("training_frame", "validation_frame", "response_column", "ignored_columns",
                  "weights_column", "offset_column", "fold_column")


class H2OValueError(ValueError):
    """Bad argument value (H2O's ``H2OValueError``)."""


class H2OResponseError(ValueError):
    """Parameter validation failed before training (H2O's ``H2OResponseError``)."""


@dataclass
class TrainingSpec:
    """Everything ``train()`` resolved, handed to the algorithm's ``_fit``."""

    frame: object                      # H2OFrame
    x: list[str]
    y: str | None
    kind: str                          # "regression" | "binomial" | "multinomial" | "unsupervised"
    domain: list[str] | None           # response levels for classification
    weights_column: str | None = None
    offset_column: str | None = None
    fold_column: str | None = None
    validation_frame: object = None
    max_runtime_secs: float = 0.0
    verbose: bool = False
    types: dict = field(default_factory=dict)
    response_summary: dict = field(default_factory=dict)  # n, class_counts | min, max

    @property
    def nclasses(self) -> int:
        return len(self.domain) if self.domain else 1


def prediction_column_names(domain: list[str]) -> list[str]:
    """H2O's probability column names: the label, prefixed with ``p`` when it reads as a Java int."""
    def name(label):
        try:
            value = int(label)
        except ValueError:
            return label
        return f"p{label}" if -2**31 <= value < 2**31 and str(value) == label.strip() else label
    return [name(str(label)) for label in domain]


class H2OEstimator:
    """Base of H2O-style estimators: construct with keyword parameters, ``train``, then use."""

    algo = "base"
    _algo_name = "Base"
    _defaults: dict = {}
    _enums: dict = {}
    _not_yet: dict = {}  # parameter name -> the value that means "not used"

    def __init__(self, **kwargs):
        unknown = [k for k in kwargs if k not in self._defaults]
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {unknown}; "
                            f"valid parameters are {list(self._defaults)}")
        object.__setattr__(self, "_parms", {})
        object.__setattr__(self, "_input", dict(kwargs))
        for name, default in self._defaults.items():
            self._parms[name] = default
        for name, value in kwargs.items():
            setattr(self, name, value)
        self._model = None        # the fitted state, set by _fit
        self._metrics = {}        # "train"/"valid"/"xval" -> metrics object
        self._history = None
        self._spec = None
        self._model_id = kwargs.get("model_id")
        self._actual = {}
        self._reset_cv()

    def _reset_cv(self):
        from daskml_h2o.models.cross_validation import CV_ATTRIBUTES
        for name in CV_ATTRIBUTES:
            object.__setattr__(self, name, None)

    # -- parameters -------------------------------------------------------------------------
    def __getattr__(self, name):
        parms = self.__dict__.get("_parms")
        if parms is not None and name in parms:
            return parms[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name in self._defaults:
            self._parms[name] = self._check_param(name, value)
            self._input[name] = value
        else:
            object.__setattr__(self, name, value)

    def _check_param(self, name, value):
        allowed = self._enums.get(name)
        if allowed is not None and value is not None:
            mangled = {mangle(a): a for a in allowed}
            if not isinstance(value, str) or mangle(value) not in mangled:
                raise H2OValueError(f"Parameter {name} must be one of {list(allowed)}, got {value!r}")
            return mangled[mangle(value)]
        return value

    @property
    def params(self) -> dict:
        return {k: {"default": self._defaults[k], "actual": self._actual.get(k, self._parms[k]),
                    "input": self._input.get(k, self._defaults[k])} for k in self._defaults}

    @property
    def actual_params(self) -> dict:
        return {k: self._actual.get(k, v) for k, v in self._parms.items()}

    @property
    def default_params(self) -> dict:
        return dict(self._defaults)

    def get_params(self, deep=True) -> dict:
        return dict(self._parms)

    def _check_not_yet(self):
        for name, unused in self._not_yet.items():
            value = self._parms.get(name)
            if value is not None and value != unused and not (isinstance(value, (list, tuple)) and not value):
                raise H2OValueError(f"{type(self).__name__}: parameter {name}={value!r} is not supported yet "
                                    f"in daskml_h2o; leave it at its default ({unused!r})")

    # -- identity ---------------------------------------------------------------------------
    @property
    def model_id(self) -> str | None:
        return self._model_id

    @model_id.setter
    def model_id(self, value):
        self._model_id = value

    @property
    def key(self):
        return self._model_id

    @property
    def type(self) -> str:
        if self._spec is None:
            return "unsupervised" if getattr(self, "_unsupervised", False) else "classifier"
        return {"regression": "regressor", "unsupervised": "unsupervised"}.get(self._spec.kind, "classifier")

    def _new_model_id(self) -> str:
        return f"{self._algo_name}_model_python_{_SESSION_TS}_{next(_model_counter)}"

    # -- training ---------------------------------------------------------------------------
    def train(self, x=None, y=None, training_frame=None, offset_column=None, fold_column=None,
              weights_column=None, validation_frame=None, max_runtime_secs=None, ignored_columns=None,
              model_id=None, verbose=False):
        """Fit on ``training_frame`` (H2O's ``train``); returns the estimator, now a model."""
        from daskml_h2o.models import cross_validation as cv
        from daskml_h2o.models.validation import resolve_training
        self._check_not_yet()
        spec = resolve_training(self, x=x, y=y, training_frame=training_frame, offset_column=offset_column,
                                fold_column=fold_column, weights_column=weights_column,
                                validation_frame=validation_frame, max_runtime_secs=max_runtime_secs,
                                ignored_columns=ignored_columns, verbose=verbose)
        self._validate_params(spec)
        cv.check_cv_params(self, spec)
        if model_id is not None:
            self._model_id = model_id
        elif self._parms.get("model_id"):
            self._model_id = self._parms["model_id"]
        else:
            self._model_id = self._new_model_id()
        self._spec = spec
        self._metrics = {}
        self._reset_cv()
        if cv.cv_requested(self, spec):
            cv.train_with_cv(self, spec)
        else:
            self._fit(spec)
        registry.register(self, self._model_id)
        return self

    def fit(self, X, y=None, **kwargs):
        raise TypeError("H2O estimators train with .train(x, y, training_frame); "
                        "use daskml_h2o.sklearn for a fit(X, y) interface")

    def _metric_options(self) -> dict:
        """Distribution settings the metrics need (mean residual deviance)."""
        return {}

    def _cv_main_model_params(self, fold_models) -> dict:
        """Parameters the main model of a cross-validation takes from its fold models (H2O's
        ``cv_computeAndSetOptimalParameters``); none by default."""
        return {}

    def _validate_params(self, spec: TrainingSpec) -> None:
        """Algorithm-specific checks before any work; raise H2OResponseError naming the field."""

    def _fit(self, spec: TrainingSpec) -> None:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} is abstract")

    def _require_trained(self):
        if self._model is None:
            raise H2OValueError(f"{type(self).__name__} is not trained yet: call train() first")

    # -- prediction -------------------------------------------------------------------------
    def predict(self, test_data):
        """Score a frame: ``predict`` (+ one probability column per class) as an H2OFrame."""
        self._require_trained()
        from daskml_h2o.models.predict import predict_frame
        return predict_frame(self, test_data)

    def _binomial_threshold(self) -> float:
        for which in ("valid", "train"):
            metrics = self._metrics.get(which)
            if metrics is not None and hasattr(metrics, "find_threshold_by_max_metric"):
                threshold = metrics.find_threshold_by_max_metric("f1")
                if threshold is not None and np.isfinite(threshold):
                    return float(threshold)
        return 0.5

    # -- metrics ----------------------------------------------------------------------------
    def model_performance(self, test_data=None, train=False, valid=False, xval=False, **kwargs):
        """Metrics on ``test_data`` (scored now), or the stored train/valid/xval metrics."""
        self._require_trained()
        if test_data is not None:
            from daskml_h2o.models.predict import score_frame
            return score_frame(self, test_data)
        if sum(bool(f) for f in (train, valid, xval)) > 1:
            raise H2OValueError("model_performance: choose one of train, valid, xval")
        which = "valid" if valid else "xval" if xval else "train"
        metrics = self._metrics.get(which)
        if metrics is None and which != "train":
            warnings.warn(f"This model has no {which} metrics", stacklevel=2)
        return metrics

    def _metric(self, method, train=False, valid=False, xval=False, **kwargs):
        self._require_trained()
        flags = [w for w, f in (("train", train), ("valid", valid), ("xval", xval)) if f] or ["train"]
        values = {}
        for which in flags:
            metrics = self._metrics.get(which)
            values[which] = None if metrics is None else getattr(metrics, method)(**kwargs)
        return values[flags[0]] if len(flags) == 1 else values

    def mse(self, train=False, valid=False, xval=False):
        return self._metric("mse", train, valid, xval)

    def rmse(self, train=False, valid=False, xval=False):
        return self._metric("rmse", train, valid, xval)

    def mae(self, train=False, valid=False, xval=False):
        return self._metric("mae", train, valid, xval)

    def rmsle(self, train=False, valid=False, xval=False):
        return self._metric("rmsle", train, valid, xval)

    def r2(self, train=False, valid=False, xval=False):
        return self._metric("r2", train, valid, xval)

    def mean_residual_deviance(self, train=False, valid=False, xval=False):
        return self._metric("mean_residual_deviance", train, valid, xval)

    def logloss(self, train=False, valid=False, xval=False):
        return self._metric("logloss", train, valid, xval)

    def auc(self, train=False, valid=False, xval=False):
        return self._metric("auc", train, valid, xval)

    def aucpr(self, train=False, valid=False, xval=False):
        return self._metric("aucpr", train, valid, xval)

    pr_auc = aucpr

    def gini(self, train=False, valid=False, xval=False):
        return self._metric("gini", train, valid, xval)

    def mean_per_class_error(self, train=False, valid=False, xval=False):
        return self._metric("mean_per_class_error", train, valid, xval)

    def confusion_matrix(self, metrics=None, thresholds=None, train=False, valid=False, xval=False):
        kwargs = {k: v for k, v in (("metrics", metrics), ("thresholds", thresholds)) if v is not None}
        return self._metric("confusion_matrix", train, valid, xval, **kwargs)

    def hit_ratio_table(self, train=False, valid=False, xval=False):
        return self._metric("hit_ratio_table", train, valid, xval)

    def F1(self, thresholds=None, train=False, valid=False, xval=False):
        return self._metric("F1", train, valid, xval, **({"thresholds": thresholds} if thresholds else {}))

    def accuracy(self, thresholds=None, train=False, valid=False, xval=False):
        return self._metric("accuracy", train, valid, xval, **({"thresholds": thresholds} if thresholds else {}))

    def error(self, thresholds=None, train=False, valid=False, xval=False):
        return self._metric("error", train, valid, xval, **({"thresholds": thresholds} if thresholds else {}))

    # -- cross-validation --------------------------------------------------------------------
    def cross_validation_metrics_summary(self):
        """Per-fold validation metrics with their mean and sd (None without cross-validation)."""
        return self.__dict__.get("_cv_metrics_summary")

    def cross_validation_models(self):
        """The fold models (None unless trained with keep_cross_validation_models=True)."""
        ids = self.__dict__.get("_cv_model_ids")
        if ids is None:
            return None
        return self.__dict__.get("_cv_models") or [registry.get(model_id) for model_id in ids]

    def cross_validation_predictions(self):
        """One frame per fold, the size of the training frame, zeros outside that fold's rows
        (None unless keep_cross_validation_predictions=True)."""
        return self.__dict__.get("_cv_predictions")

    def cross_validation_holdout_predictions(self):
        """Each training row predicted by the fold model that did not see it (None unless
        keep_cross_validation_predictions=True)."""
        return self.__dict__.get("_cv_holdout_predictions")

    def cross_validation_fold_assignment(self):
        """Column ``fold_assignment`` of each training row (None unless
        keep_cross_validation_fold_assignment=True)."""
        return self.__dict__.get("_cv_fold_assignment")

    def scoring_history(self):
        self._require_trained()
        return None if self._history is None else self._history.as_data_frame()

    def varimp(self, use_pandas=False):
        self._require_trained()
        from daskml_h2o.models.varimp import varimp_frame, varimp_list
        names, values = self._variable_importances()
        if names is None:
            return None
        return varimp_frame(names, values) if use_pandas else varimp_list(names, values)

    def _variable_importances(self):
        return None, None

    # -- display ----------------------------------------------------------------------------
    def summary(self):
        self._require_trained()
        return self._summary_table()

    def _summary_table(self):
        return None

    def show(self):
        print(self._describe())

    def _describe(self) -> str:
        if self._model is None:
            return f"{type(self).__name__}: not trained. Parameters: {self._input}"
        lines = ["Model Details", "=" * 13, f"{type(self).__name__} : {self._algo_title()}",
                 f"Model Key: {self._model_id}", ""]
        summary = self._summary_table()
        if summary is not None:
            lines += [str(summary), ""]
        for which, label in (("train", "train"), ("valid", "validation"), ("xval", "cross-validation")):
            metrics = self._metrics.get(which)
            if metrics is not None:
                lines += [str(metrics), ""]
        if self.__dict__.get("_cv_metrics_summary") is not None:
            lines += [str(self._cv_metrics_summary), ""]
        if self._history is not None:
            lines += ["Scoring History: ", str(self._history.as_data_frame()), ""]
        vi = self.varimp(use_pandas=True)
        if vi is not None:
            lines += ["Variable Importances: ", str(vi)]
        return "\n".join(lines)

    def _algo_title(self) -> str:
        return self._algo_name

    def __repr__(self):
        return self._describe()

    def _repr_html_(self):
        import html
        return f"<pre>{html.escape(self._describe())}</pre>"

    # -- persistence ------------------------------------------------------------------------
    def download_model(self, path="", filename=None):
        """Save this model to ``<path>/<filename or model_id>`` (H2O's ``model.download_model``)."""
        from daskml_h2o.models.persistence import download_model
        return download_model(self, path, filename=filename)

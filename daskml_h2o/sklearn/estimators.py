"""scikit-learn estimators over H2O's GBM and Deep Learning.

Each wrapper takes H2O's parameters (names and defaults) as keyword arguments, builds an
H2OFrame from ``fit(X, y, sample_weight)``, trains the H2O estimator (``estimator_``, also
``model_``) and maps its predictions back to scikit-learn's conventions. A fitted wrapper
pickles without a client: the model travels as the persistence format's bytes.
"""
from __future__ import annotations

import inspect
import warnings

import dask
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.validation import check_is_fitted

from daskml_h2o.deeplearning.estimator import H2OAutoEncoderEstimator, H2ODeepLearningEstimator
from daskml_h2o.gbm.estimator import H2OGradientBoostingEstimator
from daskml_h2o.models.persistence import dumps_model, loads_model
from daskml_h2o import registry
from daskml_h2o.sklearn import data

__all__ = ["GBMClassifier", "GBMRegressor", "DeepLearningClassifier", "DeepLearningRegressor", "AutoEncoder"]

# Parameters that name frames, columns or other models: fit's arguments take their place.
EXCLUDED_PARAMS = ("model_id", "training_frame", "validation_frame", "calibration_frame", "response_column",
                   "ignored_columns", "weights_column", "offset_column", "fold_column", "checkpoint",
                   "pretrained_autoencoder")


def _h2o_defaults(h2o_class, drop=()) -> dict:
    """The wrapper's parameters: H2O's names and defaults, lists as tuples (sklearn wants
    immutable defaults; they go to H2O as lists)."""
    return {name: tuple(value) if isinstance(value, list) else value
            for name, value in h2o_class._defaults.items() if name not in EXCLUDED_PARAMS and name not in drop}


def _keyword_init(defaults: dict):
    """An ``__init__`` taking exactly ``defaults`` as keyword arguments, with a real signature so
    that ``get_params``/``set_params``/``clone`` see every parameter."""
    def __init__(self, **params):
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {unknown}; it takes H2O's "
                            f"parameters except {list(EXCLUDED_PARAMS)}")
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = inspect.Signature(
        [self_param] + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, d in defaults.items()])
    return __init__


class _H2OWrapper(BaseEstimator):
    """Shared fit/predict plumbing; subclasses set ``_h2o_class`` and ``_kind``."""

    _h2o_class = None
    _kind = None            # "classifier" | "regressor" | "autoencoder"
    _fixed_params = {}      # H2O parameters the wrapper sets itself

    # -- training ---------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Train on ``X`` (numpy, pandas, dask) and ``y``; ``sample_weight`` becomes H2O's weights column."""
        for attr in ("estimator_", "model_", "classes_"):
            self.__dict__.pop(attr, None)
        X_df = data.prepare_X(self, X, reset=True)
        if not data.is_dask(X_df) and len(X_df) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 rows to train (H2O refuses a constant "
                             f"response or constant predictors), got {len(X_df)} sample")
        extra, y_name, w_name = self._target_columns(X, y, sample_weight)
        model = self._h2o_class(**self._h2o_params())
        with warnings.catch_warnings():
            # a regressor on a 0/1 target is what the caller asked for; H2O's hint does not apply
            warnings.filterwarnings("ignore", message="response .* is numeric 0/1")
            model.train(x=list(self._columns), y=y_name, training_frame=data.build_frame(X_df, extra),
                        weights_column=w_name)
        # held weakly: h2o.get_model(id) finds it while this wrapper keeps it alive
        registry.register(model, weak=True)
        self.estimator_ = model
        self.model_ = model
        return self

    def _target_columns(self, X, y, sample_weight):
        """(extra columns for the training frame, response name, weights name)."""
        extra, y_name, w_name = {}, None, None
        if self._kind != "autoencoder":
            if y is None:
                raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
            y = data.match_chunks(X, y)
            y_name = data.free_name("response", self._columns)
            if self._kind == "classifier":
                self.classes_, extra[y_name] = data.classes_and_codes(y)
            else:
                extra[y_name] = data.regression_target(y)
        if sample_weight is not None:
            w_name = data.free_name("weights", [*self._columns, y_name])
            extra[w_name] = data.sample_weights(data.match_chunks(X, sample_weight), X)
            if self._kind == "classifier" and not data.is_dask(X):
                weighted = np.unique(extra[y_name].cat.codes.to_numpy()[extra[w_name].to_numpy() > 0])
                if len(weighted) < 2:
                    raise ValueError(f"{type(self).__name__} needs 2 classes with positive sample_weight, got the "
                                     f"class(es) {self.classes_[weighted].tolist()} only")
        return extra, y_name, w_name

    def _h2o_params(self) -> dict:
        params = {name: list(value) if isinstance(value, tuple) else value
                  for name, value in self.get_params(deep=False).items()}
        params.update(self._fixed_params)
        return params

    # -- prediction -------------------------------------------------------------------------
    def _h2o_output(self, X, method="predict", *args):
        """The H2O model's ``method(frame, *args)`` for ``X`` as a pandas DataFrame (in-memory input)
        or a dask DataFrame (dask input)."""
        check_is_fitted(self)
        X_df = data.prepare_X(self, X, reset=False)
        frame = data.build_frame(X_df, {})
        out = getattr(self.estimator_, method)(frame, *args)
        ddf = out.to_dask()
        if data.is_dask(X):
            return ddf
        # in-memory input: score in this process, the data is already here
        (pdf,) = dask.compute(ddf, scheduler="sync")
        data.forget(frame, out)
        return pdf.reset_index(drop=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.non_deterministic = self._non_deterministic()
        return tags

    def _non_deterministic(self) -> bool:
        return self.seed == -1 or not self.reproducible

    # -- pickling ---------------------------------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # object.__getstate__ may hand back __dict__ itself
        model = state.pop("estimator_", None)
        state.pop("model_", None)
        if model is not None:
            state["_h2o_model_bytes"] = dumps_model(model)
        return state

    def __setstate__(self, state):
        state = dict(state)
        blob = state.pop("_h2o_model_bytes", None)
        super().__setstate__(state)
        if blob is not None:
            model = loads_model(blob, expected=self._h2o_class, register=False)
            registry.register(model, weak=True)
            self.estimator_ = model
            self.model_ = model


def _local(v):
    # one compute per collection: dask arrays and dask-expr Series do not mix in one dask.compute
    return v.compute() if data.is_dask(v) else v


class _ClassifierBase(ClassifierMixin, _H2OWrapper):
    _kind = "classifier"

    def predict(self, X):
        """Class labels (from ``classes_``, their dtype kept). Binary models use H2O's label rule:
        the threshold that maximises F1 on the training data, as ``model.predict`` does."""
        out = self._h2o_output(X)
        classes = self.classes_
        if data.is_dask(X):
            codes = out["predict"].cat.codes.to_dask_array()
            return codes.map_blocks(lambda c: classes[c], dtype=classes.dtype)
        return classes[out["predict"].cat.codes.to_numpy()]

    def predict_proba(self, X):
        """Class probabilities, one column per class in ``classes_`` order."""
        out = self._h2o_output(X)
        probs = out[list(out.columns[1:])]
        if data.is_dask(X):
            return probs.to_dask_array()
        return probs.to_numpy(dtype=np.float64)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy (dask inputs are computed first)."""
        pred, y, sample_weight = (_local(v) for v in (self.predict(X), y, sample_weight))
        return accuracy_score(np.asarray(y).ravel(), pred, sample_weight=sample_weight)


class _RegressorBase(RegressorMixin, _H2OWrapper):
    _kind = "regressor"

    def predict(self, X):
        """Predictions as float64 (numpy for in-memory X, a dask array for dask X)."""
        out = self._h2o_output(X)
        if data.is_dask(X):
            return out["predict"].to_dask_array()
        return out["predict"].to_numpy(dtype=np.float64)

    def score(self, X, y, sample_weight=None):
        """R² (dask inputs are computed first)."""
        pred, y, sample_weight = (_local(v) for v in (self.predict(X), y, sample_weight))
        return r2_score(np.asarray(y, dtype=np.float64).ravel(), pred, sample_weight=sample_weight)


_GBM_DEFAULTS = _h2o_defaults(H2OGradientBoostingEstimator)
_DL_DEFAULTS = _h2o_defaults(H2ODeepLearningEstimator, drop=("autoencoder",))


def _gbm_non_deterministic(est) -> bool:
    sampled = min(est.sample_rate, est.col_sample_rate, est.col_sample_rate_per_tree) < 1 or \
        est.sample_rate_per_class is not None or est.histogram_type == "Random"
    return est.seed == -1 and sampled


class GBMClassifier(_ClassifierBase):
    """H2O's Gradient Boosting Machine as a scikit-learn classifier (H2O's parameters and defaults)."""

    _h2o_class = H2OGradientBoostingEstimator
    __init__ = _keyword_init(_GBM_DEFAULTS)
    _non_deterministic = _gbm_non_deterministic


class GBMRegressor(_RegressorBase):
    """H2O's Gradient Boosting Machine as a scikit-learn regressor (H2O's parameters and defaults)."""

    _h2o_class = H2OGradientBoostingEstimator
    __init__ = _keyword_init(_GBM_DEFAULTS)
    _non_deterministic = _gbm_non_deterministic


class DeepLearningClassifier(_ClassifierBase):
    """H2O's Deep Learning as a scikit-learn classifier (H2O's parameters and defaults; ``hidden`` is a
    tuple or list)."""

    _h2o_class = H2ODeepLearningEstimator
    _fixed_params = {"autoencoder": False}
    __init__ = _keyword_init(_DL_DEFAULTS)


class DeepLearningRegressor(_RegressorBase):
    """H2O's Deep Learning as a scikit-learn regressor (H2O's parameters and defaults)."""

    _h2o_class = H2ODeepLearningEstimator
    _fixed_params = {"autoencoder": False}
    __init__ = _keyword_init(_DL_DEFAULTS)


class AutoEncoder(TransformerMixin, _H2OWrapper):
    """H2O's Deep Learning autoencoder: ``transform`` gives each row's reconstruction error
    (H2O's ``anomaly``, ``Reconstruction.MSE``) as an ``(n, 1)`` array; ``predict`` gives the
    reconstruction (H2O's ``predict``: one column per expanded, normalised input)."""

    _h2o_class = H2OAutoEncoderEstimator
    _kind = "autoencoder"
    _fixed_params = {"autoencoder": True}
    __init__ = _keyword_init(_DL_DEFAULTS)

    def fit(self, X, y=None, sample_weight=None):
        """Train the autoencoder on ``X``; ``y`` is ignored."""
        return super().fit(X, None, sample_weight)

    def transform(self, X):
        """Reconstruction MSE per row, shape ``(n, 1)`` (a dask array for dask X)."""
        return self._array(self._h2o_output(X, "anomaly"), X)

    def predict(self, X):
        """The reconstruction, one column per expanded input (``reconstr_<column>``)."""
        return self._array(self._h2o_output(X, "predict"), X)

    def deepfeatures(self, X, layer=0):
        """Activations of hidden layer ``layer`` (0-based), one column per unit."""
        return self._array(self._h2o_output(X, "deepfeatures", layer), X)

    @staticmethod
    def _array(out, X):
        return out.to_dask_array() if data.is_dask(X) else out.to_numpy(dtype=np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

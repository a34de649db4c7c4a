"""``H2ODeepLearningEstimator`` and ``H2OAutoEncoderEstimator``: H2O's Deep Learning parameters,
defaults and checks, plus the model methods only Deep Learning has (anomaly, deepfeatures,
weights/biases, normmul/normsub/respmul/respsub/catoffsets). Training is in ``training.py``,
prediction in the model's scorer (``scorer.py``)."""
from __future__ import annotations

import math

import numpy as np

from daskml_h2o.models.base import H2OEstimator, H2OResponseError, H2OValueError
from daskml_h2o.models.checkpoint import modifiable_except
from daskml_h2o.models.scoring import mangle

__all__ = ["H2ODeepLearningEstimator", "H2OAutoEncoderEstimator"]

_FLOAT_MAX = 3.4028235e38
_INT_MAX = 2147483647

_DEFAULTS = {
    "model_id": None, "training_frame": None, "validation_frame": None, "nfolds": 0,
    "keep_cross_validation_models": True, "keep_cross_validation_predictions": False,
    "keep_cross_validation_fold_assignment": False, "fold_assignment": "auto", "fold_column": None,
    "response_column": None, "ignored_columns": None, "ignore_const_cols": True, "score_each_iteration": False,
    "weights_column": None, "offset_column": None, "balance_classes": False, "class_sampling_factors": None,
    "max_after_balance_size": 5.0, "max_confusion_matrix_size": 20, "checkpoint": None,
    "pretrained_autoencoder": None, "overwrite_with_best_model": True, "use_all_factor_levels": True,
    "standardize": True, "activation": "rectifier", "hidden": [200, 200], "epochs": 10.0,
    "train_samples_per_iteration": -2, "target_ratio_comm_to_comp": 0.05, "seed": -1, "adaptive_rate": True,
    "rho": 0.99, "epsilon": 1e-08, "rate": 0.005, "rate_annealing": 1e-06, "rate_decay": 1.0,
    "momentum_start": 0.0, "momentum_ramp": 1000000.0, "momentum_stable": 0.0,
    "nesterov_accelerated_gradient": True, "input_dropout_ratio": 0.0, "hidden_dropout_ratios": None,
    "l1": 0.0, "l2": 0.0, "max_w2": _FLOAT_MAX, "initial_weight_distribution": "uniform_adaptive",
    "initial_weight_scale": 1.0, "initial_weights": None, "initial_biases": None, "loss": "automatic",
    "distribution": "auto", "quantile_alpha": 0.5, "tweedie_power": 1.5, "huber_alpha": 0.9,
    "score_interval": 5.0, "score_training_samples": 10000, "score_validation_samples": 0,
    "score_duty_cycle": 0.1, "classification_stop": 0.0, "regression_stop": 1e-06, "stopping_rounds": 5,
    "stopping_metric": "auto", "stopping_tolerance": 0.0, "max_runtime_secs": 0.0,
    "score_validation_sampling": "uniform", "diagnostics": True, "fast_mode": True, "force_load_balance": True,
    "variable_importances": True, "replicate_training_data": True, "single_node_mode": False,
    "shuffle_training_data": False, "missing_values_handling": "mean_imputation", "quiet_mode": False,
    "autoencoder": False, "sparse": False, "col_major": False, "average_activation": 0.0, "sparsity_beta": 0.0,
    "max_categorical_features": _INT_MAX, "reproducible": False, "export_weights_and_biases": False,
    "mini_batch_size": 1, "categorical_encoding": "auto", "elastic_averaging": False,
    "elastic_averaging_moving_rate": 0.9, "elastic_averaging_regularization": 0.001,
    "export_checkpoints_dir": None, "auc_type": "auto", "custom_metric_func": None, "gainslift_bins": -1,
}

ACTIVATIONS = ("tanh", "tanh_with_dropout", "rectifier", "rectifier_with_dropout", "maxout", "maxout_with_dropout")
LOSSES = ("automatic", "cross_entropy", "quadratic", "huber", "absolute", "quantile")
DISTRIBUTIONS = ("auto", "bernoulli", "multinomial", "gaussian", "poisson", "gamma", "tweedie", "laplace",
                 "quantile", "huber", "quasibinomial", "modified_huber", "ordinal", "custom")
STOPPING_METRICS = ("auto", "deviance", "logloss", "mse", "rmse", "mae", "rmsle", "auc", "aucpr", "lift_top_group",
                    "misclassification", "mean_per_class_error", "anomaly_score", "auuc", "ateq", "atc", "atq",
                    "custom", "custom_increasing")
CATEGORICAL_ENCODINGS = ("auto", "enum", "one_hot_internal", "one_hot_explicit", "binary", "eigen", "label_encoder",
                         "sort_by_response", "enum_limited")

# Parameters a checkpoint restart may not change: H2O 3.46 DeepLearningParameters.Sanity.cp_not_modifiable
# (spec deeplearning.md §15; drop_na20_cols has no Python parameter, the response column is compared
# as a column), plus hidden (H2O checks the layers on their own) and categorical_encoding (it
# changes the network's inputs). All others may change (H2O's cp_modifiable and the base
# model parameters H2O does not check).
CHECKPOINT_NON_MODIFIABLE = (
    "activation", "use_all_factor_levels", "standardize", "adaptive_rate", "autoencoder", "rho", "epsilon", "sparse",
    "sparsity_beta", "col_major", "rate", "rate_annealing", "rate_decay", "momentum_start", "momentum_ramp",
    "momentum_stable", "nesterov_accelerated_gradient", "ignore_const_cols", "max_categorical_features", "nfolds",
    "distribution", "quantile_alpha", "huber_alpha", "tweedie_power", "hidden", "categorical_encoding")

_CLASSIFICATION_DISTS = {"auto", "bernoulli", "multinomial"}
_REGRESSION_DISTS = {"auto", "gaussian", "poisson", "gamma", "tweedie", "laplace", "quantile", "huber"}


class H2ODeepLearningEstimator(H2OEstimator):
    """H2O's Deep Learning (feed-forward net, per-row SGD with ADADELTA) on Dask.

    Each worker trains its own copy of the network on its local rows with numba kernels (Hogwild
    across the worker's threads); the copies are averaged, weighted by rows processed, after
    every iteration by a tree reduction. ``autoencoder=True`` trains a reconstruction model.
    """

    algo = "deeplearning"
    _algo_name = "DeepLearning"
    _defaults = _DEFAULTS
    _enums = {
        "activation": ACTIVATIONS, "loss": LOSSES, "distribution": DISTRIBUTIONS,
        "stopping_metric": STOPPING_METRICS, "categorical_encoding": CATEGORICAL_ENCODINGS,
        "initial_weight_distribution": ("uniform_adaptive", "uniform", "normal"),
        "missing_values_handling": ("mean_imputation", "skip"),
        "score_validation_sampling": ("uniform", "stratified"),
        "fold_assignment": ("auto", "random", "modulo", "stratified"),
        "auc_type": ("auto", "none", "macro_ovr", "weighted_ovr", "macro_ovo", "weighted_ovo"),
    }
    # parameters not built yet; setting them raises "not supported yet"
    _not_yet = {"elastic_averaging": False,
                "custom_metric_func": None, "export_checkpoints_dir": None}

    _checkpoint_modifiable = modifiable_except(_DEFAULTS, CHECKPOINT_NON_MODIFIABLE)

    @property
    def _unsupervised(self):
        return bool(self._parms.get("autoencoder"))

    # -- checks ----------------------------------------------------------------------------
    def _validate_params(self, spec) -> None:
        errors = validate_params(self._parms, spec)
        if errors:
            raise H2OResponseError(f"Illegal argument(s) for DeepLearning model: "
                                   f"{self._parms.get('model_id') or 'DeepLearning_model'}.  Details: "
                                   + "; ".join(errors))

    def _cv_main_model_params(self, fold_models) -> dict:
        """deeplearning.md §11.5: never overwrite with the best model; with early stopping or a
        time limit, train the folds' mean final epoch count without early stopping."""
        out = {"overwrite_with_best_model": False}
        if self._parms["stopping_rounds"] == 0 and not self._parms["max_runtime_secs"]:
            return out
        epochs = [float(m._history.as_data_frame()["epochs"].iloc[-1]) for m in fold_models]
        return {**out, "epochs": sum(epochs) / len(epochs), "stopping_rounds": 0}

    def _fit(self, spec) -> None:
        from daskml_h2o.deeplearning.training import train_deeplearning
        train_deeplearning(self, spec)

    def _metric_options(self) -> dict:
        dist = self._actual.get("distribution", "gaussian")
        if dist in ("bernoulli", "multinomial", "auto", None):
            dist = "gaussian"
        return {"distribution": dist, "tweedie_power": self._parms["tweedie_power"],
                "quantile_alpha": self._parms["quantile_alpha"], "huber_alpha": self._parms["huber_alpha"]}

    def _variable_importances(self):
        if self._model is None or self._model.varimp is None:
            return None, None
        return list(self._model.datainfo.coef_names), [float(v) for v in self._model.varimp]

    def _summary_table(self):
        return None if self._model is None else self._model.summary_table()

    def _algo_title(self) -> str:
        return "Deep Learning"

    # -- prediction ------------------------------------------------------------------------
    def predict(self, test_data):
        """Class probabilities / regression predictions; an autoencoder returns its reconstruction."""
        self._require_trained()
        if self._model.kind == "unsupervised":
            from daskml_h2o.deeplearning.scorer import reconstruction_frame
            return reconstruction_frame(self._model, test_data)
        return super().predict(test_data)

    def model_performance(self, test_data=None, train=False, valid=False, xval=False, **kwargs):
        self._require_trained()
        if test_data is not None and self._model.kind == "unsupervised":
            from daskml_h2o.deeplearning.scorer import autoencoder_metrics
            return autoencoder_metrics(self._model, test_data)
        return super().model_performance(test_data, train, valid, xval, **kwargs)

    def anomaly(self, test_data, per_feature=False):
        """Reconstruction error per row (``Reconstruction.MSE``) or per expanded feature
        (``reconstr_<coef>.SE``) of an autoencoder, in the normalised input space."""
        self._require_trained()
        if self._model.kind != "unsupervised":
            raise H2OValueError("anomaly() needs an autoencoder model (autoencoder=True)")
        from daskml_h2o.deeplearning.scorer import anomaly_frame
        return anomaly_frame(self._model, test_data, per_feature)

    def deepfeatures(self, test_data, layer):
        """Hidden layer ``layer`` (0-based) activations as columns ``DF.L<layer+1>.C<j>``."""
        self._require_trained()
        from daskml_h2o.deeplearning.scorer import deepfeatures_frame
        return deepfeatures_frame(self._model, test_data, layer)

    # -- exported weights --------------------------------------------------------------------
    def _exported(self):
        self._require_trained()
        if not self._parms["export_weights_and_biases"]:
            raise H2OValueError("this model was trained with export_weights_and_biases=False; retrain with "
                                "export_weights_and_biases=True to read weights(i)/biases(i)")
        return self._model

    def weights(self, matrix_id=0):
        """Weights into layer matrix_id+1 as a frame: mult*units rows by units(matrix_id) columns."""
        from daskml_h2o.deeplearning.scorer import matrix_frame
        return matrix_frame(self._exported(), matrix_id, biases=False)

    def biases(self, vector_id=0):
        from daskml_h2o.deeplearning.scorer import matrix_frame
        return matrix_frame(self._exported(), vector_id, biases=True)

    def normmul(self):
        self._require_trained()
        return [float(v) for v in self._model.datainfo.num_mul]

    def normsub(self):
        self._require_trained()
        return [float(v) for v in self._model.datainfo.num_sub]

    def respmul(self):
        self._require_trained()
        return None if self._model.kind != "regression" else float(self._model.datainfo.resp_mul)

    def respsub(self):
        self._require_trained()
        return None if self._model.kind != "regression" else float(self._model.datainfo.resp_sub)

    def catoffsets(self):
        self._require_trained()
        return self._model.datainfo.cat_offsets


class H2OAutoEncoderEstimator(H2ODeepLearningEstimator):
    """H2O's ``H2OAutoEncoderEstimator``: Deep Learning with ``autoencoder=True`` preset."""

    def __init__(self, **kwargs):
        kwargs.setdefault("autoencoder", True)
        super().__init__(**kwargs)


# ------------------------------------------------------------------ parameter validation

def _num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(float(v))


def validate_params(p, spec) -> list:
    """H2O's Deep Learning parameter checks (spec deeplearning.md §2.2) as 'ERRR on field' lines."""
    errors = []

    def check(ok, field, message):
        if not ok:
            errors.append(f"ERRR on field: _{field}: {message}")

    auto = bool(p["autoencoder"])
    kind = spec.kind
    classification = kind in ("binomial", "multinomial")
    act, loss, dist = mangle(p["activation"]), mangle(p["loss"]), mangle(p["distribution"])
    hidden = p["hidden"] if p["hidden"] is not None else []
    check(isinstance(hidden, (list, tuple)) and all(isinstance(h, (int, np.integer)) and not isinstance(h, bool)
                                                    for h in hidden), "hidden",
          f"hidden must be a list of integer layer sizes, got {p['hidden']!r}")
    if isinstance(hidden, (list, tuple)):
        for i, h in enumerate(hidden):
            check(not _num(h) or h > 0, "hidden", f"hidden layer {i} has size {h}; every layer needs > 0 units "
                                                  "(use hidden=[] for no hidden layer)")
    check(_num(p["epochs"]) and p["epochs"] > 0, "epochs", f"epochs must be > 0, got {p['epochs']!r}")
    check(_num(p["input_dropout_ratio"]) and 0 <= p["input_dropout_ratio"] < 1, "input_dropout_ratio",
          f"input_dropout_ratio must be in [0, 1), got {p['input_dropout_ratio']!r}")
    ratios = p["hidden_dropout_ratios"]
    if ratios is not None:
        check("withdropout" in act, "hidden_dropout_ratios",
              "hidden_dropout_ratios need a *WithDropout activation (e.g. RectifierWithDropout)")
        check(len(ratios) == len(hidden), "hidden_dropout_ratios",
              f"hidden_dropout_ratios has {len(ratios)} values but hidden has {len(hidden)} layers; "
              "give one ratio per hidden layer")
        check(all(_num(r) and 0 <= r < 1 for r in ratios), "hidden_dropout_ratios",
              f"hidden_dropout_ratios must all be in [0, 1), got {ratios!r}")
    check(_num(p["rho"]) and 0 <= p["rho"] < 1, "rho", f"rho must be in [0, 1), got {p['rho']!r}")
    check(_num(p["epsilon"]) and 0 < p["epsilon"] < 1, "epsilon", f"epsilon must be in (0, 1), got {p['epsilon']!r}")
    check(_num(p["rate"]) and 0 < p["rate"] <= 1, "rate", f"rate must be in (0, 1], got {p['rate']!r}")
    check(_num(p["rate_annealing"]) and p["rate_annealing"] >= 0, "rate_annealing", "rate_annealing must be >= 0")
    check(_num(p["rate_decay"]) and p["rate_decay"] > 0, "rate_decay", "rate_decay must be > 0")
    check(_num(p["momentum_start"]) and 0 <= p["momentum_start"] < 1, "momentum_start",
          "momentum_start must be in [0, 1)")
    check(_num(p["momentum_stable"]) and 0 <= p["momentum_stable"] < 1, "momentum_stable",
          "momentum_stable must be in [0, 1)")
    check(_num(p["momentum_ramp"]) and p["momentum_ramp"] > 0, "momentum_ramp", "momentum_ramp must be > 0")
    check(_num(p["l1"]) and 0 <= p["l1"] < 1, "l1", f"l1 must be in [0, 1), got {p['l1']!r}")
    check(_num(p["l2"]) and 0 <= p["l2"] < 1, "l2", f"l2 must be in [0, 1), got {p['l2']!r}")
    check(isinstance(p["max_w2"], (int, float)) and p["max_w2"] > 0, "max_w2", "max_w2 must be > 0")
    check(_num(p["initial_weight_scale"]) and p["initial_weight_scale"] > 0, "initial_weight_scale",
          "initial_weight_scale must be > 0")
    check(_num(p["score_duty_cycle"]) and 0 <= p["score_duty_cycle"] <= 1, "score_duty_cycle",
          "score_duty_cycle must be in [0, 1]")
    check(_num(p["score_interval"]) and p["score_interval"] >= 0, "score_interval", "score_interval must be >= 0")
    for name in ("score_training_samples", "score_validation_samples"):
        check(_num(p[name]) and p[name] >= 0, name, f"{name} must be >= 0")
    check(isinstance(p["max_categorical_features"], (int, np.integer)) and p["max_categorical_features"] >= 1,
          "max_categorical_features", "max_categorical_features must be >= 1")
    check(isinstance(p["stopping_rounds"], (int, np.integer)) and p["stopping_rounds"] >= 0, "stopping_rounds",
          "stopping_rounds must be >= 0")
    check(_num(p["stopping_tolerance"]) and p["stopping_tolerance"] >= 0, "stopping_tolerance",
          "stopping_tolerance must be >= 0")
    check(_num(p["max_runtime_secs"]) and p["max_runtime_secs"] >= 0, "max_runtime_secs",
          "max_runtime_secs must be >= 0")
    tspi = p["train_samples_per_iteration"]
    check(isinstance(tspi, (int, np.integer)) and tspi >= -2, "train_samples_per_iteration",
          "train_samples_per_iteration must be -2 (auto), -1 (all data), 0 (one epoch) or a positive count")
    check(_num(p["target_ratio_comm_to_comp"]) and p["target_ratio_comm_to_comp"] > 0, "target_ratio_comm_to_comp",
          "target_ratio_comm_to_comp must be > 0")
    check(not p["col_major"], "col_major", "col_major=True is deprecated and not supported")
    check(_num(p["tweedie_power"]) and 1 < p["tweedie_power"] < 2, "tweedie_power",
          f"tweedie_power must be in (1, 2), got {p['tweedie_power']!r}")
    check(_num(p["quantile_alpha"]) and 0 <= p["quantile_alpha"] <= 1, "quantile_alpha",
          "quantile_alpha must be in [0, 1]")
    check(_num(p["huber_alpha"]) and 0 <= p["huber_alpha"] <= 1, "huber_alpha", "huber_alpha must be in [0, 1]")
    check(dist in _CLASSIFICATION_DISTS | _REGRESSION_DISTS, "distribution",
          f"distribution {p['distribution']!r} is not supported by Deep Learning; use AUTO, bernoulli, multinomial, "
          "gaussian, poisson, gamma, tweedie, laplace, quantile or huber")
    enc = mangle(p["categorical_encoding"])
    check(enc in ("auto", "onehotinternal", "binary", "eigen"), "categorical_encoding",
          f"categorical_encoding={p['categorical_encoding']!r} is not supported yet for Deep Learning; use AUTO "
          "(one-hot), OneHotInternal, Binary or Eigen")
    if auto:
        check(loss != "crossentropy", "loss", "Cannot use CrossEntropy loss for auto-encoder.")
        check(act != "maxout", "activation", "Maxout activation is not supported for auto-encoder.")
        check(mangle(p["stopping_metric"]) in ("auto", "mse"), "stopping_metric",
              "Stopping metric must either be AUTO or MSE for autoencoder.")
    else:
        check(p["sparsity_beta"] == 0, "sparsity_beta", "Sparsity beta can only be used for autoencoder.")
        check(p["average_activation"] == 0 or p["sparsity_beta"] == 0, "average_activation",
              "average_activation only applies to autoencoders with sparsity_beta")
    if auto and p["sparsity_beta"]:
        if "tanh" in act:
            check(-1 < p["average_activation"] < 1, "average_activation",
                  "Tanh average activation must be in (-1,1).")
        elif "rectifier" in act:
            check(p["average_activation"] > 0, "average_activation", "Rectifier average activation must be positive.")
    if classification:
        check(loss in ("automatic", "crossentropy", "quadratic"), "loss",
              f"loss {p['loss']!r} is not allowed for classification; use CrossEntropy or Quadratic")
        check(dist in _CLASSIFICATION_DISTS, "distribution",
              f"distribution {p['distribution']!r} is a regression family; a categorical response needs AUTO, "
              "bernoulli or multinomial (or convert the response to numeric)")
        check(dist != "bernoulli" or kind == "binomial", "distribution",
              "bernoulli needs a 2-class response; use multinomial")
        check(spec.offset_column is None, "offset_column", "Offset is not supported for classification.")
    elif kind == "regression":
        check(loss != "crossentropy", "loss", "Cannot use CrossEntropy loss function for regression.")
        check(dist not in ("bernoulli", "multinomial"), "distribution",
              f"distribution {p['distribution']!r} needs a categorical response; convert it with asfactor()")
        if dist in ("poisson", "gamma", "tweedie"):
            check(loss == "automatic", "loss", f"{dist} distribution requires loss Automatic")
        for d, allowed in (("laplace", "absolute"), ("quantile", "quantile"), ("huber", "huber")):
            if dist == d:
                check(loss in ("automatic", allowed), "loss", f"{d} distribution requires loss Automatic or "
                                                             f"{allowed.capitalize()}")
        summary = spec.response_summary
        if dist in ("poisson", "tweedie") and summary.get("min", 0) < 0:
            errors.append(f"ERRR on field: _response_column: response {spec.y!r} has negative values; the {dist} "
                          "distribution needs y >= 0")
        if dist == "gamma" and summary.get("min", 1) <= 0:
            errors.append(f"ERRR on field: _response_column: response {spec.y!r} has values <= 0; the gamma "
                          "distribution needs y > 0")
        if dist == "poisson" and summary.get("max", 1) <= 0:
            errors.append(f"ERRR on field: _response_column: response {spec.y!r} is never positive; poisson "
                          "needs some y > 0")
    if p["balance_classes"]:
        check(classification, "balance_classes", "balance_classes needs a classification response")
    if p["class_sampling_factors"] is not None:
        check(bool(p["balance_classes"]), "class_sampling_factors",
              "class_sampling_factors requires balance_classes=True")
        if classification:
            check(len(p["class_sampling_factors"]) == spec.nclasses, "class_sampling_factors",
                  f"class_sampling_factors needs {spec.nclasses} values")
    check(_num(p["max_after_balance_size"]) and p["max_after_balance_size"] > 0, "max_after_balance_size",
          "max_after_balance_size must be > 0")
    if mangle(p["score_validation_sampling"]) == "stratified":
        check(classification, "score_validation_sampling", "Stratified sampling needs a classification response")
    for name in ("initial_weights", "initial_biases"):
        if p[name] is not None:
            check(len(p[name]) == len(hidden) + 1, name,
                  f"{name} needs {len(hidden) + 1} entries (one per weight matrix), got {len(p[name])}")
    return errors

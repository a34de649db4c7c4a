"""``H2OGradientBoostingEstimator``: H2O's GBM parameters, defaults and checks; training is in
``gbm/training.py`` and prediction in the model's scorer (``gbm/scorer.py``)."""
from __future__ import annotations

import math
import warnings

import numpy as np

from daskml_h2o.models.base import H2OEstimator, H2OResponseError
from daskml_h2o.models.checkpoint import modifiable_except

__all__ = ["H2OGradientBoostingEstimator"]

_MAX = 1.7976931348623157e308  # Java's Double.MAX_VALUE, H2O's "no limit"

_DEFAULTS = {
    "model_id": None, "training_frame": None, "validation_frame": None, "nfolds": 0,
    "keep_cross_validation_models": True, "keep_cross_validation_predictions": False,
    "keep_cross_validation_fold_assignment": False, "score_each_iteration": False, "score_tree_interval": 0,
    "fold_assignment": "AUTO", "fold_column": None, "response_column": None, "ignored_columns": None,
    "ignore_const_cols": True, "offset_column": None, "weights_column": None, "balance_classes": False,
    "class_sampling_factors": None, "max_after_balance_size": 5.0, "max_confusion_matrix_size": 20,
    "ntrees": 50, "max_depth": 5, "min_rows": 10.0, "nbins": 20, "nbins_top_level": 1024, "nbins_cats": 1024,
    "r2_stopping": None, "stopping_rounds": 0, "stopping_metric": "AUTO", "stopping_tolerance": 0.001,
    "max_runtime_secs": 0.0, "seed": -1, "build_tree_one_node": False, "learn_rate": 0.1,
    "learn_rate_annealing": 1.0, "distribution": "AUTO", "quantile_alpha": 0.5, "tweedie_power": 1.5,
    "huber_alpha": 0.9, "checkpoint": None, "sample_rate": 1.0, "sample_rate_per_class": None,
    "col_sample_rate": 1.0, "col_sample_rate_change_per_level": 1.0, "col_sample_rate_per_tree": 1.0,
    "min_split_improvement": 1e-05, "histogram_type": "AUTO", "max_abs_leafnode_pred": _MAX,
    "pred_noise_bandwidth": 0.0, "categorical_encoding": "AUTO", "calibrate_model": False,
    "calibration_frame": None, "calibration_method": "AUTO", "custom_metric_func": None,
    "custom_distribution_func": None, "export_checkpoints_dir": None, "in_training_checkpoints_dir": None,
    "in_training_checkpoints_tree_interval": 1, "monotone_constraints": None, "check_constant_response": True,
    "gainslift_bins": -1, "auc_type": "AUTO", "interaction_constraints": None, "auto_rebalance": True,
}

DISTRIBUTIONS = ("AUTO", "bernoulli", "quasibinomial", "multinomial", "gaussian", "poisson", "gamma", "tweedie",
                 "laplace", "quantile", "huber", "custom")
HISTOGRAM_TYPES = ("AUTO", "UniformAdaptive", "UniformRobust", "Random", "QuantilesGlobal", "RoundRobin")
CATEGORICAL_ENCODINGS = ("AUTO", "Enum", "OneHotInternal", "OneHotExplicit", "Binary", "Eigen", "LabelEncoder",
                         "SortByResponse", "EnumLimited")
STOPPING_METRICS = ("AUTO", "deviance", "logloss", "MSE", "RMSE", "MAE", "RMSLE", "AUC", "AUCPR", "lift_top_group",
                    "misclassification", "mean_per_class_error", "custom", "custom_increasing")

# Parameters a checkpoint restart may not change: H2O 3.46 SharedTreeModel.SharedTreeParameters
# .CHECKPOINT_NON_MODIFIABLE_FIELDS (spec gbm.md §16), plus distribution: the checkpoint's trees
# were fitted in its link space (H2O lets it change and mixes two links). All others may change.
CHECKPOINT_NON_MODIFIABLE = ("build_tree_one_node", "sample_rate", "max_depth", "min_rows", "nbins", "nbins_cats",
                             "nbins_top_level", "distribution")

_CLASSIFICATION = {"bernoulli", "multinomial"}
_REGRESSION = {"gaussian", "poisson", "gamma", "tweedie", "laplace", "quantile", "huber", "quasibinomial"}


class H2OGradientBoostingEstimator(H2OEstimator):
    """Gradient Boosting Machine (H2O's ``H2OGradientBoostingEstimator``) on Dask.

    Trees are grown level by level: one numba task per chunk applies the last level's splits and
    builds the new level's histograms, histograms are summed in float64 in partition order, and
    the driver picks the splits. ``histogram_type="AUTO"`` bins every numeric column once with
    global quantile edges (see ``docs/gbm.md``); H2O's per-node ``UniformAdaptive`` is an option.
    """

    algo = "gbm"
    _algo_name = "GBM"
    _defaults = _DEFAULTS
    _enums = {
        "distribution": DISTRIBUTIONS, "histogram_type": HISTOGRAM_TYPES,
        "categorical_encoding": CATEGORICAL_ENCODINGS, "stopping_metric": STOPPING_METRICS,
        "fold_assignment": ("AUTO", "Random", "Modulo", "Stratified"),
        "calibration_method": ("AUTO", "PlattScaling", "IsotonicRegression"),
        "auc_type": ("AUTO", "NONE", "MACRO_OVR", "WEIGHTED_OVR", "MACRO_OVO", "WEIGHTED_OVO"),
    }
    # Parameters of H2O's GBM that later issues bring; setting them raises "not supported yet".
    _not_yet = {
        "monotone_constraints": None,
        "interaction_constraints": None, "calibrate_model": False, "calibration_frame": None,
        "custom_metric_func": None, "custom_distribution_func": None, "export_checkpoints_dir": None,
        "in_training_checkpoints_dir": None, "check_constant_response": True, "gainslift_bins": -1,
        "auc_type": "AUTO",
    }

    _checkpoint_modifiable = modifiable_except(_DEFAULTS, CHECKPOINT_NON_MODIFIABLE)

    def _validate_params(self, spec) -> None:
        p = self._parms
        errors = []
        if p["build_tree_one_node"]:
            warnings.warn("build_tree_one_node is not supported in this version and has no effect (as in H2O)",
                          stacklevel=3)
        if p["r2_stopping"] is not None:
            warnings.warn("r2_stopping is deprecated and has no effect (as in H2O); use stopping_rounds",
                          stacklevel=3)

        def check(ok, field, message):
            if not ok:
                errors.append(f"ERRR on field: _{field}: {message}")

        check(isinstance(p["ntrees"], (int, np.integer)) and 0 <= p["ntrees"] <= 100000, "ntrees",
              f"ntrees must be an integer in [0, 100000], got {p['ntrees']!r}")
        check(isinstance(p["max_depth"], (int, np.integer)) and p["max_depth"] >= 0, "max_depth",
              f"max_depth must be >= 0 (0 = unlimited), got {p['max_depth']!r}")
        check(_number(p["min_rows"]) and p["min_rows"] > 0, "min_rows", f"min_rows must be > 0, got {p['min_rows']!r}")
        check(_number(p["learn_rate"]) and 0 < p["learn_rate"] <= 1, "learn_rate",
              f"learn_rate must be in (0, 1], got {p['learn_rate']!r}")
        check(_number(p["learn_rate_annealing"]) and 0 < p["learn_rate_annealing"] <= 1, "learn_rate_annealing",
              f"learn_rate_annealing must be in (0, 1], got {p['learn_rate_annealing']!r}")
        for name in ("sample_rate", "col_sample_rate", "col_sample_rate_per_tree"):
            check(_number(p[name]) and 0 < p[name] <= 1, name, f"{name} must be in (0, 1], got {p[name]!r}")
        check(_number(p["col_sample_rate_change_per_level"]) and 0 < p["col_sample_rate_change_per_level"] <= 2,
              "col_sample_rate_change_per_level", "col_sample_rate_change_per_level must be in (0, 2]")
        check(isinstance(p["nbins"], (int, np.integer)) and 2 <= p["nbins"] <= 65535, "nbins",
              f"nbins must be in [2, 65535], got {p['nbins']!r}")
        check(isinstance(p["nbins_cats"], (int, np.integer)) and 2 <= p["nbins_cats"] <= 65535, "nbins_cats",
              f"nbins_cats must be in [2, 65535], got {p['nbins_cats']!r}")
        check(isinstance(p["nbins_top_level"], (int, np.integer)) and p["nbins"] <= p["nbins_top_level"] < 65536,
              "nbins_top_level", "nbins_top_level must be >= nbins and < 65536")
        check(_number(p["min_split_improvement"]) and p["min_split_improvement"] >= 0, "min_split_improvement",
              "min_split_improvement must be >= 0")
        check(_number(p["max_abs_leafnode_pred"]) and p["max_abs_leafnode_pred"] > 0, "max_abs_leafnode_pred",
              "max_abs_leafnode_pred must be > 0")
        check(_number(p["pred_noise_bandwidth"]) and p["pred_noise_bandwidth"] >= 0, "pred_noise_bandwidth",
              "pred_noise_bandwidth must be >= 0")
        check(_number(p["tweedie_power"]) and 1 < p["tweedie_power"] < 2, "tweedie_power",
              f"tweedie_power must be in (1, 2), got {p['tweedie_power']!r}")
        check(_number(p["quantile_alpha"]) and 0 <= p["quantile_alpha"] <= 1, "quantile_alpha",
              "quantile_alpha must be in [0, 1]")
        check(_number(p["huber_alpha"]) and 0 <= p["huber_alpha"] <= 1, "huber_alpha", "huber_alpha must be in [0, 1]")
        check(isinstance(p["stopping_rounds"], (int, np.integer)) and p["stopping_rounds"] >= 0, "stopping_rounds",
              "stopping_rounds must be >= 0")
        check(_number(p["stopping_tolerance"]) and p["stopping_tolerance"] >= 0, "stopping_tolerance",
              "stopping_tolerance must be >= 0")
        check(_number(p["max_runtime_secs"]) and p["max_runtime_secs"] >= 0, "max_runtime_secs",
              "max_runtime_secs must be >= 0")
        check(p["score_tree_interval"] >= 0, "score_tree_interval", "score_tree_interval must be >= 0")
        check(p["categorical_encoding"] != "OneHotInternal", "categorical_encoding",
              "OneHotInternal is not supported by GBM (as in H2O); use OneHotExplicit")
        check(p["distribution"] != "custom", "distribution",
              "distribution='custom' is not supported yet; choose a built-in distribution")
        if p["sample_rate_per_class"] is not None:
            rates = p["sample_rate_per_class"]
            check(spec.kind in ("binomial", "multinomial"), "sample_rate_per_class",
                  "sample_rate_per_class needs a classification response")
            check(len(rates) == spec.nclasses and all(_number(r) and 0 < r <= 1 for r in rates),
                  "sample_rate_per_class", f"sample_rate_per_class needs {spec.nclasses} rates in (0, 1]")
        if p["balance_classes"]:
            check(spec.kind in ("binomial", "multinomial"), "balance_classes",
                  "balance_classes needs a classification response")
        if p["class_sampling_factors"] is not None:
            check(bool(p["balance_classes"]), "class_sampling_factors",
                  "class_sampling_factors requires balance_classes=True")
            check(len(p["class_sampling_factors"]) == spec.nclasses, "class_sampling_factors",
                  f"class_sampling_factors needs {spec.nclasses} values")
        check(_number(p["max_after_balance_size"]) and p["max_after_balance_size"] > 0, "max_after_balance_size",
              "max_after_balance_size must be > 0")
        check(spec.offset_column is None or spec.kind != "multinomial", "offset_column",
              "Offset is not supported for multinomial distribution")
        errors += _distribution_errors(p["distribution"], spec)
        if errors:
            raise H2OResponseError("Illegal argument(s) for GBM model: " + self._model_id_or_new() + ".  Details: "
                                   + "; ".join(errors))

    def _cv_main_model_params(self, fold_models) -> dict:
        """gbm.md §10.4: with early stopping or a time limit the main model builds the folds'
        mean number of trees (rounded down, as H2O's int division) without early stopping."""
        if self._parms["stopping_rounds"] == 0 and not self._parms["max_runtime_secs"]:
            return {}
        return {"ntrees": sum(m._model.ntrees for m in fold_models) // len(fold_models), "stopping_rounds": 0}

    def _model_id_or_new(self) -> str:
        return self._parms.get("model_id") or "GBM_model"

    def _fit(self, spec) -> None:
        from daskml_h2o.gbm.training import train_gbm
        train_gbm(self, spec)

    def _metric_options(self) -> dict:
        return {"distribution": self._actual.get("distribution", "gaussian"),
                "tweedie_power": self._parms["tweedie_power"], "quantile_alpha": self._parms["quantile_alpha"],
                "huber_alpha": self._parms["huber_alpha"]}

    def _summary_table(self):
        """H2O's GBM "Model Summary": tree counts, size, depth and leaf statistics."""
        from daskml_h2o.models.tables import H2OTwoDimTable
        scorer = self._model
        trees = [t for row in scorer.trees for t in row if t is not None]
        depths = [int(t.nodes["depth"].max()) if len(t.nodes) else 0 for t in trees] or [0]
        leaves = [int((t.nodes["feature"] < 0).sum()) for t in trees] or [0]
        size = sum(t.nodes.nbytes + t.bitsets.nbytes for t in trees)
        return H2OTwoDimTable(
            table_header="Model Summary",
            col_header=["number_of_trees", "number_of_internal_trees", "model_size_in_bytes", "min_depth",
                        "max_depth", "mean_depth", "min_leaves", "max_leaves", "mean_leaves"],
            cell_values=[[scorer.ntrees, len(trees), size, min(depths), max(depths), float(np.mean(depths)),
                          min(leaves), max(leaves), float(np.mean(leaves))]])

    def _variable_importances(self):
        if self._model is None:
            return None, None
        return list(self._model.columns), self._model.variable_importances()

    def _binomial_threshold(self) -> float:
        """The max-F1 threshold, widened by the precision of the scores it was read from.

        Training scores are accumulated as floats (H2O's work columns, which our trees
        reproduce), predict sums the trees in doubles: a training row whose probability *is*
        the threshold can predict up to a float ulp of its score below it and flip its label.
        Lowering the threshold by two float ulps of its logit keeps such rows on their side."""
        threshold = super()._binomial_threshold()
        if not 0.0 < threshold < 1.0:
            return threshold
        logit = math.log(threshold / (1.0 - threshold))
        slack = 2.0 * float(np.spacing(np.float32(abs(logit))))
        return 1.0 / (1.0 + math.exp(-(logit - slack)))

    # GBM-specific model methods
    def predict_leaf_node_assignment(self, test_data, type="Path"):
        self._require_trained()
        from daskml_h2o.gbm.scorer import leaf_assignment_frame
        return leaf_assignment_frame(self, test_data, type)

    def staged_predict_proba(self, test_data):
        self._require_trained()
        from daskml_h2o.gbm.scorer import staged_proba_frame
        return staged_proba_frame(self, test_data)

    @property
    def ntrees_actual(self) -> int:
        self._require_trained()
        return self._model.ntrees


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(float(value))


def _distribution_errors(distribution: str, spec) -> list[str]:
    dist = distribution.lower() if distribution != "AUTO" else "auto"
    kind = spec.kind
    if dist == "auto":
        return []
    if dist == "bernoulli" and kind != "binomial":
        return ["ERRR on field: _distribution: Binomial requires the response to be a 2-class categorical"]
    if dist == "multinomial" and kind not in ("binomial", "multinomial"):
        return ["ERRR on field: _distribution: Multinomial requires a categorical response"]
    if dist in _REGRESSION and kind != "regression":
        return [f"ERRR on field: _distribution: {distribution} requires a numeric response; "
                "classification responses use bernoulli or multinomial"]
    return []

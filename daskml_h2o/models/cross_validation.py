"""N-fold cross-validation for every algorithm (H2O's ``ModelBuilder.computeCrossValidation``,
spec frame_and_api.md §12): fold per row, fold models trained side by side, the main model
under the algorithm's rule (``estimator._cv_main_model_params``), pooled holdout metrics and
the per-fold summary table.

Fold models train on the rows outside their fold, selected lazily, with the holdout rows as
their validation frame. H2O keeps every row and gives the other fold's rows weight 0
instead. A zero-weight row adds nothing to histograms, gradients, leaf values or metrics, so
both give the same models in distribution; selecting costs (k-1)/k of a pass per fold
instead of a full pass. What differs is the statistics taken before training: GBM's global
bin edges, Deep Learning's input normalisation and class balancing come here from the fold's
own training rows, while H2O takes them from the whole frame's unweighted column rollups,
holdout rows included. Ours is the textbook choice (nothing of the holdout rows reaches the
fold model) and the one the trainers need no zero-weight special cases for. Per-row random
streams (sample_rate) are indexed by the row's position in the fold's frame.

``max_runtime_secs`` is shared H2O's way: each fold model and the main model get
``max_runtime_secs / ceil(k / parallel + 1)``; a main model whose size comes from the folds
gets what is left of the whole budget (at least its share).
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from daskml_h2o import registry
from daskml_h2o.models.base import H2OResponseError, prediction_column_names
from daskml_h2o.models.tables import H2OTwoDimTable

__all__ = ["cv_requested", "check_cv_params", "train_with_cv", "metrics_summary", "CV_ATTRIBUTES"]

# per-model state cross-validation adds (frames and models are not persisted, see issue contract)
CV_ATTRIBUTES = ("_cv_model_ids", "_cv_metrics_summary", "_cv_models", "_cv_predictions",
                 "_cv_holdout_predictions", "_cv_fold_assignment")
_SUMMARY_SKIP = ("gini", "nobs")


def cv_requested(est, spec) -> bool:
    return bool(est._parms.get("nfolds")) or spec.fold_column is not None


def _enum_value(est, name: str) -> str:
    """The estimator's own spelling of a fold_assignment value (GBM 'Random', DL 'random')."""
    allowed = est._enums.get("fold_assignment", ())
    return next((a for a in allowed if a.lower() == name.lower()), name)


def _fail(est, field: str, message: str):
    model_id = est._parms.get("model_id") or f"{est._algo_name}_model"
    raise H2OResponseError(f"Illegal argument(s) for {est._algo_name} model: {model_id}.  Details: "
                           f"ERRR on field: _{field}: {message}")


def check_cv_params(est, spec) -> None:
    """H2O's cross-validation parameter checks, with H2O's messages, before any training work
    (a fold column's distinct values and NAs take one small pass over that column)."""
    p = est._parms
    nfolds = p.get("nfolds") or 0
    if isinstance(nfolds, bool) or not isinstance(nfolds, (int, np.integer)):
        _fail(est, "nfolds", f"nfolds must be an integer (0 or >1), got {nfolds!r}")
    auto = (p.get("fold_assignment") or "AUTO").lower() == "auto"
    if nfolds < 0 or nfolds == 1:
        _fail(est, "nfolds", "nfolds must be either 0 or >1.")
    if nfolds and spec.fold_column is not None:
        _fail(est, "nfolds", "nfolds cannot be specified at the same time as a fold column.")
    if spec.fold_column is not None and not auto:
        _fail(est, "fold_assignment", "Fold assignment is not allowed in conjunction with a fold column.")
    if not nfolds and spec.fold_column is None and not auto:
        _fail(est, "fold_assignment", "Fold assignment is only allowed for cross-validation.")
    if not cv_requested(est, spec):
        return
    if spec.kind == "unsupervised":
        _fail(est, "nfolds", "N-fold cross-validation is not supported for Autoencoder.")
    if nfolds > spec.frame.nrow:
        _fail(est, "nfolds", f"nfolds cannot be larger than the number of rows ({spec.frame.nrow}).")
    if spec.fold_column is not None:
        _fold_values(est, spec)


def _fold_values(est, spec) -> np.ndarray:
    """A fold column's folds: its distinct values in order (enum: the level codes in use)."""
    col = spec.fold_column
    typ = spec.frame._types[col]
    if typ not in ("int", "real", "enum"):
        _fail(est, "fold_column", f"Invalid fold column '{col}': it is {typ}; use an integer or categorical "
                                  "column")
    uniques, nas = _distinct(spec.frame._ddf[col])
    if nas:
        _fail(est, "fold_column", "Fold cannot have missing values.")
    if np.any(uniques != np.floor(uniques)):
        _fail(est, "fold_column", f"Invalid fold column '{col}': fold values must be integers or categories")
    if len(uniques) < 2:
        _fail(est, "fold_column", f"Invalid fold column '{col}', fold cannot be constant")
    return uniques


def _keys(series) -> np.ndarray:
    """A column as float keys: level codes for enums, values otherwise; NaN = NA."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        keys = series.cat.codes.to_numpy().astype(np.float64)
        keys[keys < 0] = np.nan
        return keys
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _partition_distinct(series) -> pd.Series:
    keys = _keys(series)
    return pd.Series([(np.unique(keys[~np.isnan(keys)]), int(np.isnan(keys).sum()))])


def _distinct(series_ddf):
    """Sorted distinct keys of a column and its NA count: per-partition sets, no shuffle."""
    found = list(series_ddf.map_partitions(_partition_distinct, meta=pd.Series([], dtype=object)).compute())
    uniques = np.unique(np.concatenate([u for u, _ in found])) if found else np.empty(0)
    return uniques, sum(n for _, n in found)


# ---------------------------------------------------------------------------- fold per row

def _fold_partition(part, row_start, scheme, seed, nfolds, col, classes):
    from daskml_h2o import _pcg
    n = len(part)
    if scheme == "modulo":
        folds = _pcg.modulo_folds(row_start, n, nfolds)
    elif scheme == "random":
        folds = _pcg.random_folds(seed, row_start, n, nfolds)
    else:  # stratified on the response, or a user fold column: rank among `classes`
        keys = _keys(part[col])
        ok = ~np.isnan(keys)
        rank = np.full(n, -1, dtype=np.int64)
        rank[ok] = np.searchsorted(classes, np.trunc(keys[ok]))
        folds = rank if scheme == "column" else _pcg.stratified_folds(seed, row_start, rank, nfolds)
    return pd.DataFrame({"fold_assignment": folds.astype(np.int64)}, index=part.index)


def fold_frame(est, spec, nfolds: int, seed: int):
    """The lazy one-column frame ``fold_assignment`` (0..k-1) aligned row for row with the
    training frame, and the number of folds."""
    from daskml_h2o.frame import _map_rows
    frame = spec.frame
    col, classes = None, None
    if spec.fold_column is not None:
        scheme, col = "column", spec.fold_column
        classes = _fold_values(est, spec)
        nfolds = len(classes)
    else:
        scheme = est._parms.get("fold_assignment", "AUTO").lower()
        scheme = "random" if scheme == "auto" else scheme
        if scheme == "stratified":
            col = spec.y
            classes = np.unique(np.trunc(_distinct(frame._ddf[col])[0]))
    meta = pd.DataFrame({"fold_assignment": pd.Series([], dtype=np.int64)})
    ddf = _map_rows(frame._ddf, _fold_partition, frame._offsets(), meta, scheme, seed, nfolds, col, classes)
    return frame._derive(ddf, {"fold_assignment": "int"}), nfolds


# ---------------------------------------------------------------------------- training

def _resolved_seed(est) -> int:
    """H2O's ``getOrMakeRealSeed``: the model seed, or one random seed drawn now that folds,
    fold models and the main model all share (non-negative: every trainer accepts it)."""
    seed = est._parms.get("seed")
    if seed is None or int(seed) == -1:
        return int(np.random.default_rng().integers(0, 2**62))
    return int(seed)


def _fold_model(est, k: int, seed: int, budget: float):
    fold = type(est)()
    fold._parms.update(est._parms)
    fold._input = dict(est._input)
    fold._parms.update(nfolds=0, fold_column=None, fold_assignment=_enum_value(est, "AUTO"), seed=seed,
                       max_runtime_secs=budget, model_id=f"{est._model_id}_cv_{k + 1}", training_frame=None,
                       validation_frame=None, response_column=None, ignored_columns=None, weights_column=None,
                       offset_column=None, keep_cross_validation_models=False,
                       keep_cross_validation_predictions=False, keep_cross_validation_fold_assignment=False)
    return fold


def _train_fold(fold, spec, train, valid, budget):
    return fold.train(x=spec.x, y=spec.y, training_frame=train, validation_frame=valid,
                      weights_column=spec.weights_column, offset_column=spec.offset_column,
                      max_runtime_secs=budget)


def train_with_cv(est, spec) -> None:
    """Fold models, then the main model on every row, then xval metrics and the summary."""
    from daskml_h2o.models.concurrent import default_parallelism, run_concurrently
    started = time.monotonic()
    p = est._parms
    seed = _resolved_seed(est)
    folds, nfolds = fold_frame(est, spec, int(p.get("nfolds") or 0), seed)
    total = float(spec.max_runtime_secs or p.get("max_runtime_secs") or 0.0)
    parallel = default_parallelism(nfolds)
    share = total / math.ceil(nfolds / parallel + 1) if total else 0.0

    fold_models, tasks = [], []
    for k in range(nfolds):
        train, valid = spec.frame[folds != k], spec.frame[folds == k]
        fold = _fold_model(est, k, seed, share)
        fold_models.append(fold)
        tasks.append(lambda f=fold, t=train, v=valid: _train_fold(f, spec, t, v, share))
    _check_folds_not_empty(folds, nfolds)
    outcomes = run_concurrently(tasks, parallel)
    failed = [(k, o.error) for k, o in enumerate(outcomes) if not o.ok]
    if failed:
        for k in range(nfolds):
            registry.remove(f"{est._model_id}_cv_{k + 1}")
        k, err = failed[0]
        raise H2OResponseError(f"Cross-validation model {k + 1} / {nfolds} failed: {err}") from err

    overrides = {"seed": seed, **est._cv_main_model_params(fold_models)}
    main_budget = share
    if total and ("ntrees" in overrides or "epochs" in overrides):
        main_budget = max(share, total - (time.monotonic() - started))
    overrides["max_runtime_secs"] = main_budget
    saved = {name: p[name] for name in overrides}
    p.update(overrides)
    try:
        est._fit(replace(spec, max_runtime_secs=main_budget))
    finally:
        p.update(saved)
    est._actual.update({k: v for k, v in overrides.items() if k != "max_runtime_secs"})
    est._actual["fold_assignment"] = None if spec.fold_column is not None else \
        _enum_value(est, "Random") if p.get("fold_assignment", "AUTO").lower() == "auto" else p["fold_assignment"]
    _finish(est, spec, folds, fold_models)


def _check_folds_not_empty(folds, nfolds):
    from daskml_h2o.models.validation import code_counts
    if code_counts(folds._ddf["fold_assignment"], nfolds).min() == 0:
        raise H2OResponseError(f"Not enough data to create {nfolds} random cross-validation splits. Either reduce "
                               "nfolds, specify a larger dataset (or specify another random number seed, if "
                               "applicable).")


# ---------------------------------------------------------------------------- results

def _raw_partition(pdf, fold_part, scorers, width):
    """Each row predicted (raw probabilities / value) by the model of the fold that held it out."""
    from daskml_h2o.models.predict import _offset, adapt_partition
    fold = fold_part["fold_assignment"].to_numpy()
    raw = np.full((len(pdf), width), np.nan, dtype=np.float64)
    for k, scorer in enumerate(scorers):
        rows = np.flatnonzero(fold == k)
        if len(rows):
            sub = pdf.iloc[rows]
            out = scorer.predict_raw(adapt_partition(sub, scorer), _offset(sub, scorer))
            raw[rows] = np.asarray(out, dtype=np.float64).reshape(len(rows), width)
    return pd.DataFrame(raw, index=pdf.index, columns=[f"r{j}" for j in range(width)])


def _prediction_partition(raw_part, fold_part, kind, domain, thresholds, only_fold):
    """Rows of ``predict``'s layout from raw holdout predictions; with ``only_fold`` the rows of
    other folds are zeros (H2O's per-fold ``cross_validation_predictions``)."""
    fold = fold_part["fold_assignment"].to_numpy()
    raw = raw_part.to_numpy(dtype=np.float64)
    if only_fold is not None:
        raw = np.where((fold == only_fold)[:, None], raw, 0.0)
    if kind == "regression":
        return pd.DataFrame({"predict": raw[:, 0]}, index=raw_part.index)
    if len(domain) == 2:
        cut = np.asarray(thresholds)[np.clip(fold, 0, len(thresholds) - 1)]
        labels = np.where(np.isnan(raw[:, 1]), -1, (raw[:, 1] >= cut).astype(np.int64))
    else:
        labels = np.where(np.isnan(raw[:, 0]), -1, np.argmax(np.nan_to_num(raw, nan=-1.0), axis=1))
    if only_fold is not None:
        labels = np.where(fold == only_fold, labels, 0)
    out = {"predict": pd.Categorical.from_codes(labels, categories=domain)}
    for j, name in enumerate(prediction_column_names(domain)):
        out[name] = raw[:, j]
    return pd.DataFrame(out, index=raw_part.index)


def _prediction_frame(spec, raw, folds, thresholds, only_fold=None, frame_id=None):
    from daskml_h2o.frame import H2OFrame
    from daskml_h2o.models.predict import prediction_meta
    scorer_like = type("S", (), {"kind": spec.kind, "response_domain": spec.domain})
    meta = prediction_meta(scorer_like)
    ddf = raw.map_partitions(_prediction_partition, folds._ddf, spec.kind, spec.domain, list(thresholds),
                             only_fold, meta=meta, align_dataframes=False)
    types = {"predict": "real" if spec.kind == "regression" else "enum"}
    types.update({c: "real" for c in meta.columns[1:]})
    return H2OFrame._from_dask(ddf, types, frame_id=frame_id)


def _xval_metrics(est, spec, raw, nfolds):
    from daskml_h2o.models.predict import metrics_of_predictions
    return metrics_of_predictions(est, spec.frame._ddf, raw, spec.weights_column, on="cross_validation_metrics",
                                  description=f"{nfolds}-fold cross-validation on training data (Metrics computed "
                                              "for combined holdout predictions)", spec=spec)


def metrics_summary(fold_metrics) -> H2OTwoDimTable:
    """H2O's "Cross-Validation Metrics Summary": per metric (alphabetical) the mean and sample
    standard deviation over folds, then each fold's validation value."""
    dicts = [m._as_dict() for m in fold_metrics]
    names = sorted(k for k in dicts[0] if k not in _SUMMARY_SKIP)
    rows = []
    for name in names:
        values = np.array([float(d[name]) for d in dicts], dtype=np.float64)
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        rows.append([name, float(np.mean(values)), sd] + [float(v) for v in values])
    header = ["", "mean", "sd"] + [f"cv_{k + 1}_valid" for k in range(len(dicts))]
    return H2OTwoDimTable(table_header="Cross-Validation Metrics Summary", col_header=header,
                          col_types=["string"] + ["float"] * (len(header) - 1), cell_values=rows)


def _finish(est, spec, folds, fold_models) -> None:
    p = est._parms
    nfolds = len(fold_models)
    width = spec.nclasses if spec.kind != "regression" else 1
    scorers = [m._model for m in fold_models]
    meta = pd.DataFrame({f"r{j}": pd.Series([], dtype="float64") for j in range(width)})
    raw = spec.frame._ddf.map_partitions(_raw_partition, folds._ddf, scorers, width, meta=meta,
                                         align_dataframes=False)
    est._metrics["xval"] = _xval_metrics(est, spec, raw, nfolds)
    est._cv_metrics_summary = metrics_summary([m._metrics["valid"] for m in fold_models])
    keep_models = bool(p.get("keep_cross_validation_models"))
    ids = [m._model_id for m in fold_models]
    est._cv_model_ids = ids if keep_models else None
    est._cv_models = fold_models if keep_models else None
    if not keep_models:
        for model_id in ids:
            registry.remove(model_id)
    thresholds = [m._binomial_threshold() if spec.kind == "binomial" else 0.5 for m in fold_models]
    if p.get("keep_cross_validation_predictions"):
        est._cv_holdout_predictions = _prediction_frame(spec, raw, folds, thresholds,
                                                        frame_id=f"cv_holdout_prediction_{est._model_id}")
        est._cv_predictions = [_prediction_frame(spec, raw, folds, thresholds, only_fold=k,
                                                 frame_id=f"prediction_{ids[k]}") for k in range(nfolds)]
    if p.get("keep_cross_validation_fold_assignment"):
        folds.frame_id = f"cv_fold_assignment_{est._model_id}"
        est._cv_fold_assignment = folds

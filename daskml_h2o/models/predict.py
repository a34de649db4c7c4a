"""Prediction over a frame with H2O's test-frame adaptation, one ``map_partitions`` and no download.

Every fitted algorithm keeps a small picklable *scorer* (``estimator._model``) with:
``columns`` (predictor names in model order), ``types`` (their H2O types), ``domains``
(name -> training levels for enum predictors), ``kind``, ``response_domain``, ``offset_column``,
and ``predict_raw(X, offset) -> (n,) or (n, K)`` over the adapted matrix ``X`` (float64; enum
columns hold training level codes, unseen levels get codes >= K, NA is NaN).
"""
from __future__ import annotations

import warnings


import numpy as np
import pandas as pd

from daskml_h2o.models.base import H2OValueError, prediction_column_names

__all__ = ["adapt_partition", "check_test_frame", "predict_frame", "score_frame", "prediction_meta"]


def check_test_frame(scorer, frame) -> list[str]:
    """Eager checks before any work: returns the predictor columns missing from ``frame``."""
    # a model trained on re-encoded categoricals reads the frame's original columns
    inputs = getattr(scorer, "encoding", None) or scorer
    missing = [c for c in inputs.columns if c not in frame._types]
    for col in inputs.columns:
        if col in missing:
            continue
        test_type, train_type = frame._types[col], inputs.types[col]
        if train_type in ("int", "real") and test_type == "enum":
            raise H2OValueError(f"Test/Validation dataset has categorical column '{col}' which is "
                                "real-valued in the training data")
        if train_type == "enum" and test_type == "enum":
            unseen = set(map(str, frame._ddf[col].cat.categories)) - set(inputs.domains[col])
            if unseen:
                warnings.warn(f"Test/Validation dataset column '{col}' has levels not trained on: "
                              f"{sorted(unseen)[:10]}", stacklevel=4)
    if missing:
        warnings.warn(f"Test/Validation dataset is missing column(s) {missing}: they are treated as all "
                      "missing values", stacklevel=4)
    offset = getattr(scorer, "offset_column", None)
    if offset is not None and offset not in frame._types:
        raise H2OValueError(f"Test/Validation dataset is missing the offset column '{offset}'")
    return missing


def _enum_codes(values: pd.Series, domain: list[str]) -> np.ndarray:
    """Level names -> training codes; unseen levels get K, K+1, ... in order of appearance.
    The name lookup runs once per distinct value, not per row."""
    row_codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lookup = {level: i for i, level in enumerate(domain)}
    extra = {}
    remap = np.empty(len(uniques) + 1, dtype=np.float64)
    remap[-1] = np.nan  # factorize's NA sentinel -1 indexes the last slot
    for j, v in enumerate(uniques):
        key = v if isinstance(v, str) else _number_label(v)
        code = lookup.get(key)
        remap[j] = extra.setdefault(key, len(domain) + len(extra)) if code is None else code
    return remap[row_codes]


def _number_label(v) -> str:
    f = float(v)
    return str(int(f)) if f.is_integer() else repr(f)


def _categorical_codes(values: pd.Series, domain: list[str]) -> np.ndarray:
    """Codes of a pandas categorical in the training domain; unseen levels get K, K+1, ...
    in the order of the test domain."""
    cats = [str(c) for c in values.cat.categories]
    codes = values.cat.codes.to_numpy()
    if cats == list(domain):
        return np.where(codes >= 0, codes, np.nan).astype(np.float64)
    lookup = {level: i for i, level in enumerate(domain)}
    remap = np.empty(len(cats), dtype=np.float64)
    extra = len(domain)
    for i, c in enumerate(cats):
        code = lookup.get(c)
        if code is None:
            code, extra = extra, extra + 1
        remap[i] = code
    return np.where(codes >= 0, remap[np.maximum(codes, 0)] if len(cats) else np.nan, np.nan)


def adapt_partition(pdf: pd.DataFrame, scorer, order: str = "C") -> np.ndarray:
    """One partition -> the model's float64 design matrix (training column order), C- or
    Fortran-ordered (``order``; Fortran writes each column contiguously)."""
    encoding = getattr(scorer, "encoding", None)  # categorical_encoding: re-encode as at training
    if encoding is not None:
        pdf = encoding.transform_partition(pdf)
    X = np.empty((len(pdf), len(scorer.columns)), dtype=np.float64, order=order)
    dtypes = pdf.dtypes
    plain = [j for j, col in enumerate(scorer.columns)
             if col in dtypes.index and scorer.types[col] != "enum" and dtypes[col].kind in "fiub"]
    if plain:
        # plain numpy numeric columns convert exactly and have no NA but NaN: one conversion
        # for all of them (a wide frame such as MNIST's 784 pixels would take a call each)
        X[:, plain] = pdf[[scorer.columns[j] for j in plain]].to_numpy(dtype=np.float64)
    done = set(plain)
    for j, col in enumerate(scorer.columns):
        if j in done:
            continue
        if col not in pdf.columns:
            X[:, j] = np.nan
            continue
        values = pdf[col]
        if scorer.types[col] == "enum":
            if isinstance(values.dtype, pd.CategoricalDtype):
                X[:, j] = _categorical_codes(values, scorer.domains[col])
            else:
                X[:, j] = _enum_codes(values, scorer.domains[col])
        elif values.dtype == np.float64:
            X[:, j] = values.to_numpy()  # NaN is already the NA: no conversion, no copy
        else:
            X[:, j] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return X


def _offset(pdf, scorer):
    col = getattr(scorer, "offset_column", None)
    return None if col is None else pdf[col].to_numpy(dtype=np.float64, na_value=np.nan)


def prediction_meta(scorer) -> pd.DataFrame:
    if scorer.kind == "regression":
        return pd.DataFrame({"predict": pd.Series([], dtype="float64")})
    domain = list(scorer.response_domain)
    meta = {"predict": pd.Series(pd.Categorical([], categories=domain))}
    for name in prediction_column_names(domain):
        meta[name] = pd.Series([], dtype="float64")
    return pd.DataFrame(meta)


def _predict_partition(pdf: pd.DataFrame, scorer, threshold: float) -> pd.DataFrame:
    raw = scorer.predict_raw(adapt_partition(pdf, scorer), _offset(pdf, scorer))
    if scorer.kind == "regression":
        return pd.DataFrame({"predict": np.asarray(raw, dtype=np.float64)}, index=pdf.index)
    domain = list(scorer.response_domain)
    probs = np.asarray(raw, dtype=np.float64).reshape(len(pdf), len(domain))
    if len(domain) == 2:
        labels = (probs[:, 1] >= threshold).astype(np.int64)
    else:
        labels = np.argmax(probs, axis=1)
    out = {"predict": pd.Categorical.from_codes(labels, categories=domain)}
    for k, name in enumerate(prediction_column_names(domain)):
        out[name] = probs[:, k]
    return pd.DataFrame(out, index=pdf.index)


def predict_frame(model, frame):
    """``model.predict(frame)``: a lazy H2OFrame with ``predict`` and the probability columns."""
    from daskml_h2o.frame import H2OFrame
    from daskml_h2o.models.validation import _frame_check
    frame = _frame_check(frame, "test_data")
    scorer = model._model
    check_test_frame(scorer, frame)
    threshold = model._binomial_threshold() if scorer.kind == "binomial" else 0.5
    meta = prediction_meta(scorer)
    ddf = frame._ddf.map_partitions(_predict_partition, scorer, threshold, meta=meta)
    types = {"predict": "real" if scorer.kind == "regression" else "enum"}
    types.update({c: "real" for c in meta.columns[1:]})
    return H2OFrame._from_dask(ddf, types)


def score_frame(model, frame):
    """Metrics of ``model`` on ``frame`` (which must hold the response), by dask reductions."""
    from daskml_h2o.models.validation import _frame_check
    frame = _frame_check(frame, "test_data")
    scorer = model._model
    spec = model._spec
    if spec.y is None:
        raise H2OValueError("model_performance(test_data=...) of an unsupervised model needs reconstruction "
                            "metrics; use model.anomaly(frame)")
    if spec.y not in frame._types:
        raise H2OValueError(f"test_data lacks the response column {spec.y!r}")
    check_test_frame(scorer, frame)
    ddf = frame._ddf
    raw = ddf.map_partitions(lambda p: pd.DataFrame(
        np.atleast_2d(np.asarray(scorer.predict_raw(adapt_partition(p, scorer), _offset(p, scorer)),
                                 dtype=np.float64).reshape(len(p), -1)), index=p.index),
        meta=pd.DataFrame({k: pd.Series([], dtype="float64") for k in range(max(1, spec.nclasses)
                                                                            if spec.kind != "regression" else 1)}))
    weights = spec.weights_column if spec.weights_column in frame._types else None
    return metrics_of_predictions(model, ddf, raw, weights)


def metrics_of_predictions(model, ddf, raw, weights_column=None, on=None, description=None, spec=None):
    """H2O metrics of raw per-row predictions (a dask DataFrame aligned with ``ddf``, one
    column per class, one for regression) against the response held in ``ddf``."""
    from daskml_h2o.data.chunks import ColumnLayout, _response
    from daskml_h2o.models.metrics import compute_metrics
    spec = spec if spec is not None else model._spec
    preds = raw.to_dask_array()
    if spec.kind == "regression":
        preds = preds[:, 0]
    response = ColumnLayout([], {}, y=spec.y, response_domain=spec.domain)
    actual = ddf.map_partitions(lambda p: pd.Series(_response(p, response), index=p.index),
                                meta=pd.Series([], dtype="float64")).to_dask_array()
    weights = None if weights_column is None else ddf[weights_column].astype("float64").to_dask_array()
    return compute_metrics(spec.kind, actual, preds, weights=weights, domain=spec.domain, algo=model.algo, on=on,
                           description=description, **model._metric_options())

"""``train()`` argument resolution and the checks that run before any training work.

Names are resolved H2O's way (names or indices; ``x`` omitted = every other column), the
response decides the problem kind, and one small dask pass over the response (class counts or
min/max, once per frame) rejects constant responses before the algorithm starts.
"""
from __future__ import annotations

import difflib
import threading
import warnings

import dask
import numpy as np
import pandas as pd

from daskml_h2o import parallel
from daskml_h2o.models.base import H2OValueError, TrainingSpec

__all__ = ["resolve_training", "column_name", "response_summary", "code_counts"]

_NUMERIC = ("int", "real")


def _frame_check(frame, what: str):
    from daskml_h2o.frame import H2OFrame
    if not isinstance(frame, H2OFrame):
        raise H2OValueError(f"{what} must be an H2OFrame, got {type(frame).__name__}; "
                            "wrap pandas or dask data with h2o.H2OFrame(...)")
    return frame


def column_name(frame, col, what: str) -> str:
    """A column given by name or index -> its name, or an error naming close matches."""
    names = list(frame._types)
    if isinstance(col, (int, np.integer)) and not isinstance(col, bool):
        if not -len(names) <= col < len(names):
            raise H2OValueError(f"{what}: column index {col} is out of range for a frame of {len(names)} columns")
        return names[col]
    if not isinstance(col, str):
        raise H2OValueError(f"{what}: expected a column name or index, got {col!r}")
    if col not in frame._types:
        close = difflib.get_close_matches(col, names, n=3)
        hint = f"; did you mean {close}?" if close else f"; the frame has {names[:20]}"
        raise H2OValueError(f"{what}: column {col!r} is not in the frame{hint}")
    return col


def _partition_counts(codes, n_levels):
    values = codes.to_numpy()
    return pd.Series([np.bincount(values[values >= 0], minlength=n_levels)[:n_levels]], dtype=object)


def code_counts(codes, n_levels: int) -> np.ndarray:
    """How often each code 0..n_levels-1 occurs in an integer dask Series (negative = NA, not
    counted): per-partition bincounts added up -- value_counts() would start a dask shuffle."""
    (parts,) = dask.compute(codes.map_partitions(_partition_counts, n_levels, meta=(codes.name, object)))
    return np.sum(list(parts), axis=0).astype(np.int64) if len(parts) else np.zeros(n_levels, np.int64)


# Summaries by (the frame's dask graph name, column, type). Under one name a frame's data never
# change (an edit builds a new graph), so, like H2O's cached column rollups, a frame's response
# is summarised once however many models train on it (a dask pass costs 10-40 ms on worker
# processes). Bounded: the oldest go first.
_SUMMARIES: dict = {}
_SUMMARIES_KEPT = 64
_SUMMARIES_LOCK = threading.Lock()  # models may train side by side in threads


def response_summary(frame, y: str) -> dict:
    """One pass over the response: non-NA count, and class counts (enum) or min/max (numeric);
    remembered per frame graph (see _SUMMARIES)."""
    key = (frame._ddf._name, y, frame._types[y])
    summary = _SUMMARIES.get(key)
    if summary is None:
        summary = _summarise(frame, y)
        with _SUMMARIES_LOCK:
            while len(_SUMMARIES) >= _SUMMARIES_KEPT:
                _SUMMARIES.pop(next(iter(_SUMMARIES)))
            _SUMMARIES[key] = summary
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in summary.items()}


def _summarise(frame, y: str) -> dict:
    parts = parallel.local_partitions(frame._ddf)
    if parts is not None:
        return _summary_here([p[y] for p in parts], frame._ddf[y], frame._types[y])
    series = frame._ddf[y]
    if frame._types[y] == "enum":
        class_counts = code_counts(series.cat.codes, len(series.cat.categories))
        return {"n": int(class_counts.sum()), "class_counts": class_counts}
    n, lo, hi = dask.compute(series.count(), series.min(), series.max())
    return {"n": int(n), "min": float(lo), "max": float(hi)}


def _summary_here(parts: list, series, kind: str) -> dict:
    """response_summary of a response whose partitions are held here (pandas)."""
    if kind == "enum":
        n_levels = len(series.cat.categories)
        counts = np.zeros(n_levels, np.int64)
        for part in parts:
            counts += _partition_counts(part.cat.codes, n_levels)[0]
        return {"n": int(counts.sum()), "class_counts": counts}
    whole = pd.concat(parts) if parts else series._meta
    return {"n": int(whole.count()), "min": float(whole.min()), "max": float(whole.max())}


def resolve_training(est, x=None, y=None, training_frame=None, offset_column=None, fold_column=None,
                     weights_column=None, validation_frame=None, max_runtime_secs=None, ignored_columns=None,
                     verbose=False) -> TrainingSpec:
    parms = est._parms
    frame = training_frame if training_frame is not None else parms.get("training_frame")
    if frame is None:
        raise H2OValueError("train() needs training_frame")
    frame = _frame_check(frame, "training_frame")
    if frame.ncol == 0 or frame.nrow == 0:
        raise H2OValueError(f"training_frame {frame.frame_id!r} is empty ({frame.nrow} rows, {frame.ncol} columns)")
    valid = validation_frame if validation_frame is not None else parms.get("validation_frame")
    if valid is not None:
        valid = _frame_check(valid, "validation_frame")
    unsupervised = getattr(est, "_unsupervised", False)
    y = y if y is not None else parms.get("response_column")
    if unsupervised and y is not None:
        raise H2OValueError(f"{type(est).__name__} is unsupervised: do not pass a response column (y={y!r})")
    if not unsupervised and y is None:
        raise H2OValueError("train() needs the response column y")
    y = column_name(frame, y, "y") if y is not None else None

    specials = {}
    for label, given, param in (("weights_column", weights_column, "weights_column"),
                                ("offset_column", offset_column, "offset_column"),
                                ("fold_column", fold_column, "fold_column")):
        value = given if given is not None else parms.get(param)
        specials[label] = column_name(frame, value, label) if value is not None else None
        if specials[label] is not None and specials[label] == y:
            raise H2OValueError(f"{label} {specials[label]!r} cannot also be the response column")
    for label in ("weights_column", "offset_column"):
        col = specials[label]
        if col is not None and frame._types[col] not in _NUMERIC:
            raise H2OValueError(f"{label} {col!r} must be numeric, it is {frame._types[col]}")

    ignored = ignored_columns if ignored_columns is not None else parms.get("ignored_columns")
    ignored = [column_name(frame, c, "ignored_columns") for c in (ignored or [])]
    excluded = {y, *specials.values()} - {None}
    if x is None:
        x = [c for c in frame._types if c not in excluded and c not in ignored]
    else:
        if isinstance(x, (str, int, np.integer)):
            x = [x]
        x = [column_name(frame, c, "x") for c in x]
        if y is not None and y in x:
            raise H2OValueError(f"the response column {y!r} is also listed in x; remove it from x")
        clash = [c for c in x if c in specials.values()]
        if clash:
            raise H2OValueError(f"columns {clash} are special columns (weights/offset/fold) and cannot be in x")
        if len(set(x)) != len(x):
            raise H2OValueError(f"x lists a column twice: {x}")
    if not x:
        raise H2OValueError("no predictor columns are left: give x or fewer ignored_columns")

    kind, domain, summary = "unsupervised", None, {}
    if y is not None:
        kind, domain, summary = _response_kind(frame, y)
        if max_runtime_secs is None:
            max_runtime_secs = parms.get("max_runtime_secs", 0.0)
    if valid is not None:
        needed = [c for c in ([y] if y else []) + [specials["weights_column"], specials["offset_column"]] if c]
        missing = [c for c in needed if c not in valid._types]
        if missing:
            raise H2OValueError(f"validation_frame lacks column(s) {missing} that training needs")
        if y is not None and (frame._types[y] == "enum") != (valid._types[y] == "enum"):
            raise H2OValueError(f"response {y!r} is {frame._types[y]} in training_frame but "
                                f"{valid._types[y]} in validation_frame; convert both the same way")
    return TrainingSpec(frame=frame, x=list(x), y=y, kind=kind, domain=domain,
                        weights_column=specials["weights_column"], offset_column=specials["offset_column"],
                        fold_column=specials["fold_column"], validation_frame=valid,
                        max_runtime_secs=float(max_runtime_secs or 0.0), verbose=bool(verbose),
                        types=dict(frame._types), response_summary=summary)


def _response_kind(frame, y: str):
    ytype = frame._types[y]
    if ytype == "enum":
        summary = response_summary(frame, y)
        domain = [str(level) for level in frame._ddf[y].cat.categories]
        if summary["n"] == 0:
            raise H2OValueError(f"response {y!r} has no non-missing values")
        if np.count_nonzero(summary["class_counts"]) < 2:
            raise H2OValueError(f"Response cannot be constant: {y!r} has a single class "
                                f"{domain[int(np.argmax(summary['class_counts']))]!r}")
        return ("binomial" if len(domain) == 2 else "multinomial"), domain, summary
    if ytype in _NUMERIC:
        summary = response_summary(frame, y)
        if summary["n"] == 0:
            raise H2OValueError(f"response {y!r} has no non-missing values")
        if summary["min"] == summary["max"]:
            raise H2OValueError(f"Response cannot be constant: {y!r} is always {summary['min']}")
        if not np.isfinite(summary["min"]) or not np.isfinite(summary["max"]):
            raise H2OValueError(f"response {y!r} contains infinite values; remove or replace them")
        if ytype == "int" and summary["min"] == 0 and summary["max"] == 1:
            warnings.warn(f"response {y!r} is numeric 0/1: training a regression model; "
                          f"use training_frame[{y!r}] = training_frame[{y!r}].asfactor() for classification",
                          stacklevel=4)
        return "regression", None, summary
    raise H2OValueError(f"response {y!r} is a {ytype} column; use a numeric column for regression or "
                        "convert it with asfactor() for classification")

"""scikit-learn inputs -> H2OFrames and H2O predictions -> scikit-learn outputs.

``X`` may be a numpy array (or anything ``check_array`` takes), a pandas DataFrame, a dask
DataFrame or a 2-D dask array; ``y`` and ``sample_weight`` follow ``X``'s kind. Numeric columns
become ``real``; pandas categorical, object, string and bool columns become ``enum`` (they stay
categorical, whatever their share of distinct values). Dask inputs stay lazy except for the one
pass that finds the levels of text columns and the classes of ``y``.
"""
from __future__ import annotations

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_array, column_or_1d, validate_data

from daskml_h2o import registry
from daskml_h2o.frame import H2OFrame

__all__ = ["is_dask", "prepare_X", "classes_and_codes", "regression_target", "sample_weights", "build_frame",
           "match_chunks", "free_name", "forget"]

_PARTITION_BYTES = 64 * 2 ** 20  # pandas/numpy input is cut into partitions of about this size


def is_dask(obj) -> bool:
    return isinstance(obj, (dd.DataFrame, dd.Series, da.Array))


def _is_text(dtype) -> bool:
    return dtype == object or isinstance(dtype, pd.StringDtype) or str(dtype).startswith("string")


def _column_plan(dtypes) -> dict:
    """Per column: "float" (numeric -> float64), "levels" (needs its levels found) or None (kept:
    float64, bool, datetime, categorical with known categories)."""
    plan = {}
    for name, dtype in dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            plan[name] = None if dtype.categories is not None else "levels"
        elif _is_text(dtype) or (dtype.kind == "b" and not isinstance(dtype, np.dtype)):  # nullable boolean
            plan[name] = "levels"
        elif dtype.kind in "iuf" and dtype != np.float64:
            plan[name] = "float"
        elif dtype.kind in "biufMm":
            plan[name] = None
        else:
            raise ValueError(f"column {name!r} has dtype {dtype}, which has no H2O type; cast it to a number, "
                             "string or category first")
    return plan


def _text(s: pd.Series) -> pd.Series:
    """Values as ``str`` (NA stays None): the level names H2O sees."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    return s.map(lambda v: None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v))


def _conform(part: pd.DataFrame, plan: dict, levels: dict) -> pd.DataFrame:
    cols = {}
    for name in part.columns:
        step = plan[name]
        if step == "float":  # nullable integers: pd.NA -> NaN
            cols[name] = part[name].to_numpy(dtype=np.float64, na_value=np.nan)
        elif step == "levels":
            dtype = pd.CategoricalDtype(pd.Index(levels[name], dtype=object))
            cols[name] = pd.Categorical(_text(part[name]), dtype=dtype)
        else:
            cols[name] = part[name]
    return pd.DataFrame(cols, index=part.index)


def _conform_frame(df, names):
    """Rename columns to the model's names and give every column a dtype with an H2O type."""
    if isinstance(df, dd.DataFrame):
        df = df.rename(columns=dict(zip(df.columns, names)))
    else:
        df = df.set_axis(names, axis=1)
    plan = _column_plan(df.dtypes)
    need = [c for c, step in plan.items() if step == "levels"]
    if not any(plan.values()):
        return df
    if isinstance(df, dd.DataFrame):
        found = dask.compute(*[df[c].dropna().unique() for c in need])
    else:
        found = [df[c].dropna().unique() for c in need]
    levels = {c: sorted({str(v) for v in values}) for c, values in zip(need, found)}
    if isinstance(df, dd.DataFrame):
        meta = _conform(df._meta, plan, levels)
        return df.map_partitions(_conform, plan, levels, meta=meta)
    return _conform(df, plan, levels)


def prepare_X(est, X, reset: bool):
    """Validate ``X`` (sklearn's feature-count and feature-name rules) and return it as a pandas or
    dask DataFrame whose columns carry the model's names (``est._columns``)."""
    if isinstance(X, (pd.DataFrame, dd.DataFrame, da.Array)):
        # a dask DataFrame's names are checked on its empty pandas meta, which sklearn reads
        validate_data(est, X._meta if isinstance(X, dd.DataFrame) else X, skip_check_array=True, reset=reset)
        _check_shape(X)
        if isinstance(X, da.Array):
            if X.dtype.kind not in "biuf":
                raise ValueError(f"a dask array X must be numeric, got dtype {X.dtype}; use a dask DataFrame "
                                 "for categorical columns")
            X = X.astype(np.float64).to_dask_dataframe(columns=[f"C{j + 1}" for j in range(X.shape[1])])
    else:
        X = validate_data(est, X, reset=reset, dtype="numeric", ensure_all_finite="allow-nan",
                          accept_sparse=False)
        X = pd.DataFrame(np.asarray(X, dtype=np.float64))
    if reset:
        names = getattr(est, "feature_names_in_", None)
        est._columns = [str(n) for n in names] if names is not None else [f"C{j + 1}" for j in range(X.shape[1])]
    return _conform_frame(X, est._columns)


def _check_shape(X):
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D X, got {X.ndim}D; reshape it with X.reshape(-1, 1) for one feature")
    if X.shape[1] == 0:
        raise ValueError("Found array with 0 feature(s) while a minimum of 1 is required.")
    if isinstance(X, pd.DataFrame) and len(X) == 0:
        raise ValueError("Found array with 0 sample(s) (shape=(0, %d)) while a minimum of 1 is required."
                         % X.shape[1])


def free_name(base: str, taken) -> str:
    name = base
    while name in taken:
        name = "_" + name
    return name


def classes_and_codes(y):
    """(classes_, response column as pandas/dask categorical of the classes' string forms)."""
    if is_dask(y):
        y = _dask_1d(y, "y")
        (uniques,) = dask.compute(y.dropna().unique())
        uniques = np.asarray(uniques)
    else:
        y = column_or_1d(y, warn=True)
        check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=True, input_name="y")
        uniques = y
    check_classification_targets(uniques)
    classes = np.unique(uniques)
    domain = [str(c) for c in classes]
    if len(set(domain)) != len(domain):
        raise ValueError(f"y has classes that read the same as text ({domain}); H2O needs distinct class names")
    if len(classes) < 2:
        raise ValueError(f"Classifier can't train when only one class is present: y is always {classes!r}")
    dtype = pd.CategoricalDtype(pd.Index(domain, dtype=object))
    if isinstance(y, dd.Series):
        codes = y.map_partitions(lambda s: pd.Series(pd.Categorical.from_codes(
            np.searchsorted(classes, s.to_numpy()), dtype=dtype), index=s.index), meta=pd.Series([], dtype=dtype))
        return classes, codes
    return classes, pd.Series(pd.Categorical.from_codes(np.searchsorted(classes, y), dtype=dtype))


def regression_target(y):
    if is_dask(y):
        return _dask_1d(y, "y").astype(np.float64)
    y = column_or_1d(y, warn=True)
    return pd.Series(check_array(y, ensure_2d=False, dtype=np.float64, input_name="y"))


def sample_weights(sample_weight, X):
    if is_dask(sample_weight):
        return _dask_1d(sample_weight, "sample_weight").astype(np.float64)
    return pd.Series(_check_sample_weight(sample_weight, X, dtype=np.float64))


def _dask_1d(v, what):
    if isinstance(v, dd.DataFrame):
        if len(v.columns) != 1:
            raise ValueError(f"{what} must be one column, got a dask DataFrame with {len(v.columns)} columns")
        v = v[v.columns[0]]
    if isinstance(v, da.Array):
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        if v.ndim != 1:
            raise ValueError(f"{what} must be 1-D, got a dask array of shape {v.shape}")
        return dd.from_dask_array(v)
    return v


def build_frame(X, columns: dict):
    """An H2OFrame of the prepared ``X`` plus extra columns (name -> pandas/dask Series or a dask
    array), paired with X's rows by position. Held weakly in the registry: it lives as long as
    the model or the caller needs it."""
    if isinstance(X, dd.DataFrame):
        ddf = X
        extras = {name: _aligned(col, ddf, name) for name, col in columns.items()}
        if extras:
            meta = ddf._meta.assign(**{n: s._meta.to_numpy() for n, s in extras.items()})
            ddf = ddf.map_partitions(_with_columns, list(extras), *extras.values(), meta=meta,
                                     align_dataframes=False)
        frame = H2OFrame(ddf)
    else:
        pdf = X.reset_index(drop=True)
        for name, col in columns.items():
            if is_dask(col):
                raise ValueError(f"{name} is a dask collection but X is not; pass both as dask or both in memory")
            if len(col) != len(pdf):
                raise ValueError(f"{name} has {len(col)} rows but X has {len(pdf)}")
            pdf[name] = col.to_numpy() if not isinstance(col.dtype, pd.CategoricalDtype) else col.array
        nbytes = int(pdf.memory_usage(index=False).sum())
        nparts = max(1, min(len(pdf), -(-nbytes // _PARTITION_BYTES)))
        frame = H2OFrame(dd.from_pandas(pdf, npartitions=nparts, sort=False))
    registry.register(frame, weak=True)
    return frame


def _aligned(col, ddf, name):
    if not isinstance(col, dd.Series):
        raise ValueError(f"X is a dask collection, so {name} must be one too (a dask Series or 1-D dask "
                         f"array with X's partitions), got {type(col).__name__}")
    if col.npartitions != ddf.npartitions:
        raise ValueError(f"{name} has {col.npartitions} partitions but X has {ddf.npartitions}; take X and "
                         f"{name} from the same dask DataFrame, or rechunk {name} to X's row chunks")
    return col


def _with_columns(part, names, *cols):
    out = part.copy()
    for name, col in zip(names, cols):
        if len(col) != len(part):
            raise ValueError(f"a partition of {name} has {len(col)} rows but X's has {len(part)}; "
                             "X and y/sample_weight must be partitioned alike")
        out[name] = col.to_numpy() if not isinstance(col.dtype, pd.CategoricalDtype) else col.array
    return out


def forget(*frames):
    """Drop temporary frames from the registry (prediction inputs and outputs)."""
    for frame in frames:
        registry.remove(frame)


def match_chunks(X, v):
    """A 1-D dask array ``v`` rechunked to the row chunks of the dask array ``X``, so that their
    partitions pair up; anything else unchanged."""
    if isinstance(X, da.Array) and isinstance(v, da.Array) and not any(np.isnan(X.chunks[0])):
        return v.rechunk((X.chunks[0],) + v.chunks[1:])
    return v

"""Summaries and column statistics of a frame held as ``(ddf, types)``.

Every function here takes a dask DataFrame laid out as ``H2OFrame._ddf`` (see
docs/design.md, "H2OFrame internals") plus its dict of H2O types, and mirrors the
H2OFrame method of the same name. Functions that return a frame return a new
``(ddf, types)`` pair; the others return plain Python / pandas values.

Statistics are dask reductions: each partition is reduced to a few small numpy
arrays, the partials are combined in a tree, and many statistics share one
``dask.compute``. No rows are gathered on the driver; only results come back, whose
size is the answer's (the distinct values for ``unique``/``table``, one value-to-rank
table per column for Spearman correlation).

Exact quantiles (``quantile``, ``median``, ``impute(method="median")``, the MAD of
``hist(breaks="fd")``) use histogram refinement: a pass counts the values of every
wanted order statistic's current interval in 1024 bins, with each bin's exact
minimum and maximum; the bin holding the wanted rank becomes the next interval.
Once an interval holds at most 4096 values those values themselves are reduced and
sorted. The result is the exact order statistic (usually 2-4 passes, one
``dask.compute`` each, all columns and probabilities at once); probabilities are
then combined as numpy's ``method="linear"`` does, so results equal ``np.quantile``.
Weighted quantiles treat weights as frequencies: with whole-number weights the
result equals repeating each row ``weight`` times.
"""
import builtins
import math
import warnings
from functools import reduce

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from numba import njit

NUMERIC = ("int", "real", "time")
DEFAULT_PROBS = [0.01, 0.1, 0.25, 0.333, 0.5, 0.667, 0.75, 0.9, 0.99]
COMBINE_METHODS = ("interpolate", "low", "high", "average")
_SPLIT_EVERY = 8
_QBINS = 1024
_GATHER = 4096
_RNG_BLOCK = 1024


# --------------------------------------------------------------------------- plumbing

def _combine_all(combine, *partials):
    return reduce(combine, partials)


def _tree_reduce(parts, combine):
    """Combine delayed partials ``_SPLIT_EVERY`` at a time, in partition order."""
    combine_many = dask.delayed(_combine_all, pure=True)
    while len(parts) > 1:
        parts = [combine_many(combine, *parts[i:i + _SPLIT_EVERY])
                 for i in range(0, len(parts), _SPLIT_EVERY)]
    return parts[0]


def _reduction(ddf, chunk, combine, *args):
    """A delayed tree reduction of ``chunk(pdf, *args)`` over the partitions."""
    chunk_d = dask.delayed(chunk, pure=True)
    return _tree_reduce([chunk_d(p, *args) for p in ddf.to_delayed()], combine)


def _project(ddf, cols):
    """Only the columns a reduction reads (one column when it only needs row counts)."""
    return ddf[cols] if cols or len(ddf.columns) == 0 else ddf[[ddf.columns[0]]]


def _from_pandas(pdf, types):
    return dd.from_pandas(pdf, npartitions=1, sort=False), dict(types)


def _check_columns(types, cols):
    missing = [c for c in cols if c not in types]
    if missing:
        raise ValueError(f"column(s) {missing} not in frame; available: {list(types)}")


def _column_name(types, column):
    """Name of ``column`` given as a name or a (possibly negative) index."""
    names = list(types)
    if isinstance(column, str):
        _check_columns(types, [column])
        return column
    if isinstance(column, (int, np.integer)) and -len(names) <= column < len(names):
        return names[column]
    raise ValueError(f"column {column!r} is not a name or an index of this frame "
                     f"({len(names)} columns)")


def _as_float(pdf, col, htype):
    """One column as float64 numbers: enum -> level code (NA -> NaN)."""
    s = pdf[col]
    if htype == "enum":
        codes = s.cat.codes.to_numpy().astype(np.float64)
        codes[codes < 0] = np.nan
        return codes
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric_matrix(pdf, cols, types):
    if not cols:
        return np.empty((len(pdf), 0))
    return np.column_stack([_as_float(pdf, c, types[c]) for c in cols])


# --------------------------------------------------------------------------- moments

@njit(nogil=True, cache=True)
def _column_moments(x, out):
    """Two passes over one column (NaN skipped): out = count, mean, M2, M3, M4, min,
    max, zeros, +inf, -inf."""
    n, total, lo, hi, zeros, pinf, ninf = 0, 0.0, np.inf, -np.inf, 0, 0, 0
    for v in x:
        if np.isnan(v):
            continue
        n += 1
        total += v
        lo = v if v < lo else lo
        hi = v if v > hi else hi
        zeros += v == 0.0
        pinf += v == np.inf
        ninf += v == -np.inf
    mean = total / n if n > 0 else 0.0
    m2 = m3 = m4 = 0.0
    for v in x:
        if np.isnan(v):
            continue
        d = v - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
    out[0], out[1], out[2], out[3], out[4] = n, mean, m2, m3, m4
    out[5], out[6], out[7], out[8], out[9] = lo, hi, zeros, pinf, ninf


def _moments_columns(columns, nrow):
    """Per-column count, extrema, zeros, infinities and central moments 2-4 of a list
    of float64 columns (one compiled pass pair per column, no temporaries)."""
    R = np.zeros((10, len(columns)))
    for j, x in enumerate(columns):
        _column_moments(np.ascontiguousarray(x, dtype=np.float64), R[:, j])
    return {"nrow": float(nrow), "n": R[0], "mean": R[1], "M2": R[2], "M3": R[3], "M4": R[4],
            "min": R[5], "max": R[6], "zeros": R[7], "pinf": R[8], "ninf": R[9]}


def _moments_chunk(X):
    """_moments_columns of the columns of a 2-d array."""
    return _moments_columns([X[:, j] for j in range(X.shape[1])], X.shape[0])


def _moments_combine(a, b):
    """Pebay's pairwise update of central moments up to the fourth."""
    na, nb = a["n"], b["n"]
    n = na + nb
    safe = np.where(n > 0, n, 1.0)
    delta = np.where((na > 0) & (nb > 0), b["mean"] - a["mean"], 0.0)
    mean = np.where(na > 0, a["mean"], b["mean"]) + np.where(na > 0, delta * nb / safe, 0.0)
    M2 = a["M2"] + b["M2"] + delta ** 2 * na * nb / safe
    M3 = (a["M3"] + b["M3"] + delta ** 3 * na * nb * (na - nb) / safe ** 2
          + 3.0 * delta * (na * b["M2"] - nb * a["M2"]) / safe)
    M4 = (a["M4"] + b["M4"]
          + delta ** 4 * na * nb * (na * na - na * nb + nb * nb) / safe ** 3
          + 6.0 * delta ** 2 * (na * na * b["M2"] + nb * nb * a["M2"]) / safe ** 2
          + 4.0 * delta * (na * b["M3"] - nb * a["M3"]) / safe)
    return {
        "nrow": a["nrow"] + b["nrow"], "n": n, "mean": mean, "M2": M2, "M3": M3, "M4": M4,
        "min": np.fmin(a["min"], b["min"]), "max": np.fmax(a["max"], b["max"]),
        "zeros": a["zeros"] + b["zeros"], "pinf": a["pinf"] + b["pinf"],
        "ninf": a["ninf"] + b["ninf"],
    }


def _moments_part(pdf, cols, types):
    return _moments_columns([_as_float(pdf, c, types[c]) for c in cols], len(pdf))


def _moments_delayed(ddf, types, cols):
    return _reduction(_project(ddf, cols), _moments_part, _moments_combine, cols, types)


def _moments(ddf, types, cols):
    return dask.compute(_moments_delayed(ddf, types, cols))[0]


def _sample_var(m):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m["n"] > 1, m["M2"] / np.maximum(m["n"] - 1, 1), np.nan)


# --------------------------------------------------------------------------- summaries

def _levels_chunk(pdf, cols):
    out = {"nrow": float(len(pdf))}
    for c in cols:
        s = pdf[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            out[c] = (np.bincount(codes[codes >= 0], minlength=len(s.cat.categories)),
                      int((codes < 0).sum()))
        else:
            out[c] = (None, int(s.isna().sum()))
    return out


def _levels_combine(a, b):
    out = {"nrow": a["nrow"] + b["nrow"]}
    for c in a:
        if c == "nrow":
            continue
        (counts, na), (counts_b, na_b) = a[c], b[c]
        out[c] = (None if counts is None else counts + counts_b, na + na_b)
    return out


def _summary_delayed(ddf, types):
    num = [c for c, t in types.items() if t in NUMERIC]
    other = [c for c, t in types.items() if t not in NUMERIC]
    return (_moments_delayed(ddf, types, num),
            _reduction(_project(ddf, other), _levels_chunk, _levels_combine, other))


def _domain(ddf, col):
    return [str(x) for x in ddf[col].dtype.categories]


def column_summaries(ddf, types):
    """Per-column summary in one pass: dict name -> dict of statistics.

    Numeric columns (int, real, time): type, min, mean, max, sigma (sample sd), zeros,
    missing, pinfs, ninfs. Enum: min/mean/max/sigma/zeros are None, missing, domain and
    level_counts (per level, domain order). String/uuid: min..sigma NaN, zeros 0, missing.
    Every entry also holds the frame's row count as ``nrow``.
    """
    moments, levels = dask.compute(*_summary_delayed(ddf, types))
    num = [c for c, t in types.items() if t in NUMERIC]
    sigma = np.sqrt(_sample_var(moments))
    out = {}
    for c, t in types.items():
        if t in NUMERIC:
            i = num.index(c)
            n = moments["n"][i]
            out[c] = {"type": t, "min": float(moments["min"][i]) if n else np.nan,
                      "mean": float(moments["mean"][i]) if n else np.nan,
                      "max": float(moments["max"][i]) if n else np.nan,
                      "sigma": float(sigma[i]), "zeros": int(moments["zeros"][i]),
                      "missing": int(moments["nrow"] - n), "pinfs": int(moments["pinf"][i]),
                      "ninfs": int(moments["ninf"][i]), "nrow": int(moments["nrow"])}
        elif t == "enum":
            counts, na = levels[c]
            out[c] = {"type": t, "min": None, "mean": None, "max": None, "sigma": None,
                      "zeros": None, "missing": na, "domain": _domain(ddf, c),
                      "level_counts": [int(x) for x in counts], "nrow": int(levels["nrow"])}
        else:
            out[c] = {"type": t, "min": np.nan, "mean": np.nan, "max": np.nan,
                      "sigma": np.nan, "zeros": 0, "missing": levels[c][1],
                      "nrow": int(levels["nrow"])}
    return out


_DESCRIBE_ROWS = ["type", "mins", "mean", "maxs", "sigma", "zeros", "missing"]


def _describe_from(summaries):
    cols = {}
    for c, s in summaries.items():
        if s["type"] == "enum":
            cols[c] = [s["type"], "", "", "", "", "", s["missing"]]
        else:
            cols[c] = [s["type"], s["min"], s["mean"], s["max"], s["sigma"], s["zeros"],
                       s["missing"]]
    return pd.DataFrame(cols, index=_DESCRIBE_ROWS, dtype=object)


def describe_table(ddf, types):
    """H2O's describe statistics: rows type, mins, mean, maxs, sigma, zeros, missing.

    Enum columns show blanks in the numeric rows (and zeros); string columns NaN."""
    return _describe_from(column_summaries(ddf, types))


def _head(ddf, n):
    """The first ``n`` rows, reading only as many partitions as needed."""
    pieces, have = [], 0
    for i in range(ddf.npartitions):
        part = ddf.partitions[i].head(n - have, npartitions=1, compute=True)
        pieces.append(part)
        have += len(part)
        if have >= n:
            break
    return pd.concat(pieces) if pieces else ddf._meta


def describe_text(ddf, types, nrow=None):
    """The text H2OFrame.describe() prints: Rows, Cols, statistics and first 10 rows."""
    summaries = column_summaries(ddf, types)
    if nrow is None:
        nrow = next(iter(summaries.values()))["nrow"] if summaries else 0
    table = _describe_from(summaries)
    head = _head(ddf, 10).astype(object)
    head = head.where(head.notna(), "").reset_index(drop=True)
    for c, t in types.items():
        if t in NUMERIC:
            head[c] = [("nan" if v == "" else v) for v in head[c]]
    both = pd.concat([table, head])
    return (f"Rows:{nrow}\nCols:{len(types)}\n\n{both.to_string()}\n"
            f"[{nrow} rows x {len(types)} columns]\n")


# --------------------------------------------------------------------------- reductions

def _per_column(types, cols, values):
    lookup = dict(zip(cols, values))
    return [float(lookup[c]) if c in lookup else math.nan for c in types]


def mean(ddf, types, skipna=True, axis=0):
    """Column means as a list (non-numeric -> NaN); axis=1: a frame of row means."""
    if axis == 1:
        return _row_reduce(ddf, types, "mean", skipna)
    if axis != 0:
        raise ValueError(f"axis must be 0 or 1, got {axis!r}")
    num = [c for c, t in types.items() if t in NUMERIC]
    m = _moments(ddf, types, num)
    means = np.where(m["n"] > 0, m["mean"], np.nan)
    if not skipna:
        means = np.where(m["n"] < m["nrow"], np.nan, means)
    return _per_column(types, num, means)


def _row_reduce_part(pdf, num, all_numeric, how, skipna, name):
    X = pdf[num].to_numpy(dtype=np.float64, na_value=np.nan) if num else np.empty((len(pdf), 0))
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if not all_numeric and not skipna:
            out = np.full(len(pdf), np.nan)
        elif skipna:
            out = np.nanmean(X, axis=1) if how == "mean" else np.nansum(X, axis=1)
        else:
            out = X.mean(axis=1) if how == "mean" else X.sum(axis=1)
    if X.shape[1] == 0:
        out = np.full(len(pdf), np.nan)
    return pd.DataFrame({name: out}, index=pdf.index)


def _row_reduce(ddf, types, how, skipna):
    num = [c for c, t in types.items() if t in NUMERIC]
    meta = pd.DataFrame({how: pd.Series([], dtype=np.float64)})
    out = ddf.map_partitions(_row_reduce_part, num, len(num) == len(types), how, skipna, how,
                             meta=meta)
    return out, {how: "real"}


def sd(ddf, types, na_rm=False):
    """Sample standard deviation per column (list); NaN for non-numeric columns and,
    unless ``na_rm``, for columns with NAs."""
    return [math.sqrt(v) if not math.isnan(v) else v for v in _column_var(ddf, types, na_rm)]


def _column_var(ddf, types, na_rm):
    num = [c for c, t in types.items() if t in NUMERIC]
    m = _moments(ddf, types, num)
    v = _sample_var(m)
    if not na_rm:
        v = np.where(m["n"] < m["nrow"], np.nan, v)
    return _per_column(types, num, v)


def nacnt(ddf, types):
    """Number of NAs per column, as floats."""
    levels = dask.compute(_reduction(ddf, _levels_chunk, _levels_combine, list(types)))[0]
    return [float(levels[c][1]) for c in types]


def _scalar_reduce(ddf, types, how, na_rm):
    """min/max/sum over the whole frame as H2O: enum codes count for min/max, a string
    column (or, for sum, an enum column) makes the answer NaN."""
    allowed = NUMERIC + (("enum",) if how in ("min", "max") else ())
    if any(t not in allowed for t in types.values()):
        return math.nan
    m = _moments(ddf, types, list(types))
    if m["n"].sum() == 0 or (not na_rm and (m["n"] < m["nrow"]).any()):
        return math.nan
    if how == "min":
        return float(m["min"].min())
    if how == "max":
        return float(m["max"].max())
    return float((m["mean"] * m["n"]).sum())


def min(ddf, types):  # noqa: A001 - mirrors H2OFrame.min
    """Smallest value over all columns (NaN if any NA or a string column)."""
    return _scalar_reduce(ddf, types, "min", na_rm=False)


def max(ddf, types):  # noqa: A001 - mirrors H2OFrame.max
    """Largest value over all columns (NaN if any NA or a string column)."""
    return _scalar_reduce(ddf, types, "max", na_rm=False)


def sum(ddf, types, skipna=True, axis=0):  # noqa: A001 - mirrors H2OFrame.sum
    """Sum over the whole frame (float); axis=1: a frame of row sums."""
    if axis == 1:
        return _row_reduce(ddf, types, "sum", skipna)
    if axis != 0:
        raise ValueError(f"axis must be 0 or 1, got {axis!r}")
    if any(t not in NUMERIC for t in types.values()):
        return math.nan
    num = list(types)
    sums = dask.compute(_reduction(ddf, _sum_part, np.add, num, types))[0]
    total, nas = float(sums[0]), sums[1]
    return math.nan if (nas and not skipna) else total


def _sum_part(pdf, cols, types):
    X = _numeric_matrix(pdf, cols, types)
    nas = np.isnan(X)
    return np.array([np.where(nas, 0.0, X).sum(), float(nas.sum())])


def _shape_moment(ddf, types, na_rm, order):
    """H2O's skewness/kurtosis: moments divided by the row count *including* NA rows."""
    num = [c for c, t in types.items() if t in NUMERIC]
    m = _moments(ddf, types, num)
    N = m["nrow"]
    with np.errstate(invalid="ignore", divide="ignore"):
        if order == 3:
            v = (m["M3"] / N) / (m["M2"] / N) ** 1.5
        else:
            v = (m["M4"] / N) / (m["M2"] / N) ** 2
    if not na_rm:
        v = np.where(m["n"] < N, np.nan, v)
    return _per_column(types, num, v)


def skewness(ddf, types, na_rm=False):
    """Per-column skewness m3 / m2**1.5 (list; moments over nrow as H2O does)."""
    return _shape_moment(ddf, types, na_rm, 3)


def kurtosis(ddf, types, na_rm=False):
    """Per-column kurtosis m4 / m2**2, not excess (list; moments over nrow as H2O)."""
    return _shape_moment(ddf, types, na_rm, 4)


# --------------------------------------------------------------------------- exact quantiles

@njit(nogil=True, cache=True)
def _refine_bins(values, weights, lo, hi, nbins):
    """Weight, count, min and max per equal-width bin of the values in [lo, hi]."""
    wsum = np.zeros(nbins)
    cnt = np.zeros(nbins, dtype=np.int64)
    mins = np.full(nbins, np.inf)
    maxs = np.full(nbins, -np.inf)
    # halves keep hi - lo finite for values near the float64 limits
    base = lo * 0.5
    scale = nbins / (hi * 0.5 - base)
    for i in range(values.shape[0]):
        v = values[i]
        w = weights[i]
        if not (v >= lo and v <= hi and w > 0):
            continue
        b = int((v * 0.5 - base) * scale)
        if b >= nbins:
            b = nbins - 1
        wsum[b] += w
        cnt[b] += 1
        if v < mins[b]:
            mins[b] = v
        if v > maxs[b]:
            maxs[b] = v
    return wsum, cnt, mins, maxs


def _values_weights(pdf, col, htype, wcol):
    v = _as_float(pdf, col, htype)
    if wcol is None:
        return v, np.ones(len(v))
    w = pdf[wcol].to_numpy(dtype=np.float64, na_value=np.nan)
    return v, np.where(np.isnan(w), 0.0, w)


def _qsetup_part(pdf, cols, types, wcol):
    """Per column: total weight, weight at -inf and +inf, finite min/max and count."""
    out = []
    for c in cols:
        v, w = _values_weights(pdf, c, types[c], wcol)
        ok = ~np.isnan(v) & (w > 0)
        fin = ok & np.isfinite(v)
        out.append(np.array([
            w[ok].sum(), w[ok & (v == -np.inf)].sum(), w[ok & (v == np.inf)].sum(),
            v[fin].min() if fin.any() else np.inf, v[fin].max() if fin.any() else -np.inf,
            float(fin.sum())]))
    return out


def _qsetup_combine(a, b):
    return [np.concatenate([x[:3] + y[:3], [np.fmin(x[3], y[3]), np.fmax(x[4], y[4]),
                                            x[5] + y[5]]]) for x, y in zip(a, b)]


def _qpass_part(pdf, specs, types, wcol):
    out, converted = [], {}
    for col, lo, hi, gather in specs:
        if col not in converted:
            converted[col] = _values_weights(pdf, col, types[col], wcol)
        v, w = converted[col]
        if gather:
            keep = (v >= lo) & (v <= hi) & (w > 0)
            out.append((v[keep], w[keep]))
        else:
            out.append(_refine_bins(v, w, lo, hi, _QBINS))
    return out


def _qpass_combine(a, b):
    out = []
    for x, y in zip(a, b):
        if len(x) == 2:
            out.append((np.concatenate([x[0], y[0]]), np.concatenate([x[1], y[1]])))
        else:
            out.append((x[0] + y[0], x[1] + y[1], np.fmin(x[2], y[2]), np.fmax(x[3], y[3])))
    return out


class _Target:
    """One wanted order statistic: the value at weighted position ``rank``."""

    def __init__(self, col, rank, lo, hi, below, count):
        self.col, self.rank, self.lo, self.hi = col, rank, lo, hi
        self.below, self.count, self.value = below, count, None

    def spec(self):
        return (self.col, self.lo, self.hi, self.count <= _GATHER)

    def update(self, result):
        if len(result) == 2:
            vals, w = result
            order = np.argsort(vals, kind="stable")
            cum = self.below + np.cumsum(w[order])
            j = builtins.min(int(np.searchsorted(cum, self.rank, side="right")), len(vals) - 1)
            self.value = float(vals[order][j])
            return
        wsum, cnt, mins, maxs = result
        cum = self.below + np.cumsum(wsum)
        j = int(np.searchsorted(cum, self.rank, side="right"))
        if j >= len(cum):
            # a position past the total weight (fractional weights) takes the largest value
            j = int(np.flatnonzero(cnt)[-1])
        self.below = cum[j] - wsum[j]
        self.lo, self.hi, self.count = mins[j], maxs[j], int(cnt[j])
        if self.lo == self.hi:      # one distinct value left: that is the answer
            self.value = float(self.lo)


def _order_statistics(ddf, types, cols, probs, wcol=None):
    """Exact order statistics around each prob's numpy position, per column.

    Returns ({col: {position: value}}, {col: total weight}); the total weight is the
    count of non-NA values when unweighted."""
    sub = ddf[cols + ([wcol] if wcol else [])]
    setup = dask.compute(_reduction(sub, _qsetup_part, _qsetup_combine, cols, types, wcol))[0]
    targets, out = [], {c: {} for c in cols}
    for c, (total, w_ninf, w_pinf, fmin, fmax, nfin) in zip(cols, setup):
        ranks = sorted({r for prob in probs for r in _positions(total, prob)[1:]})
        for r in ranks if total > 0 else []:
            t = _Target(c, r, fmin, fmax, w_ninf, int(nfin))
            if r < w_ninf:
                t.value = -math.inf
            elif r >= total - w_pinf:
                t.value = math.inf
            elif fmin == fmax:
                t.value = float(fmin)
            targets.append(t)
    active = [t for t in targets if t.value is None]
    while active:
        specs = [t.spec() for t in active]
        results = dask.compute(_reduction(sub, _qpass_part, _qpass_combine, specs, types, wcol))[0]
        for t, res in zip(active, results):
            t.update(res)
        active = [t for t in active if t.value is None]
    for t in targets:
        out[t.col][t.rank] = float(t.value)
    return out, {c: s[0] for c, s in zip(cols, setup)}


def _positions(total, prob):
    """numpy 'linear' virtual index and its two neighbouring positions."""
    virtual = (total - 1) * prob
    prev = builtins.max(math.floor(virtual), 0)     # below 0 only for total weight < 1
    last = math.ceil(total) - 1
    return virtual, float(builtins.min(prev, last)), float(builtins.min(prev + 1, last))


def _lerp(a, b, gamma):
    """numpy's linear interpolation, step for step (so results match bit for bit)."""
    a, b, gamma = float(a), float(b), float(gamma)
    diff = b - a
    if gamma >= 0.5:
        return b - diff * (1 - gamma)
    return a + diff * gamma


def _combine(a, b, virtual, prev, combine_method):
    if combine_method == "low":
        return a
    if combine_method == "high":
        return b if virtual > prev else a
    if combine_method == "average":
        return a if virtual == prev else 0.5 * (a + b)
    return _lerp(a, b, virtual - prev)


def _quantiles(ddf, types, cols, probs, combine_method="interpolate", wcol=None):
    """{col: [quantile per prob]} for numeric ``cols`` (exact)."""
    if combine_method not in COMBINE_METHODS:
        raise ValueError(f"combine_method={combine_method!r} is not supported; "
                         f"use one of {COMBINE_METHODS}")
    if not cols:
        return {}
    stats, totals = _order_statistics(ddf, types, cols, probs, wcol)
    out = {}
    for c in cols:
        res = []
        for prob in probs:
            if totals[c] <= 0:
                res.append(math.nan)
                continue
            virtual, prev, nxt = _positions(totals[c], prob)
            res.append(_combine(stats[c][prev], stats[c][nxt], virtual, prev, combine_method))
        out[c] = [float(v) for v in res]
    return out


def _check_probs(prob):
    probs = DEFAULT_PROBS if prob is None else (
        [prob] if isinstance(prob, (int, float)) else list(prob))
    bad = [p for p in probs if not 0 <= p <= 1]
    if bad:
        raise ValueError(f"quantile probabilities must lie in [0, 1]; got {bad}")
    return [float(p) for p in probs]


def quantile(ddf, types, prob=None, combine_method="interpolate", weights_column=None):
    """H2O's quantile frame: ``Probs`` then ``<col>Quantiles`` per column (NaN for
    non-numeric columns), exact, matching numpy's linear interpolation."""
    probs = _check_probs(prob)
    if weights_column is not None:
        _check_columns(types, [weights_column])
        if types[weights_column] not in NUMERIC:
            raise ValueError(f"weights_column {weights_column!r} must be numeric, "
                             f"it is {types[weights_column]}")
    cols = [c for c in types if c != weights_column]
    num = [c for c in cols if types[c] in NUMERIC]
    q = _quantiles(ddf, types, num, probs, combine_method, weights_column)
    data = {"Probs": probs}
    for c in cols:
        data[f"{c}Quantiles"] = q.get(c, [math.nan] * len(probs))
    pdf = pd.DataFrame(data, dtype=np.float64)
    return _from_pandas(pdf, {k: "real" for k in data})


def median(ddf, types, na_rm=False, combine_method="interpolate"):
    """Exact median per column (list); NaN for non-numeric columns and, unless
    ``na_rm``, for columns with NAs."""
    num = [c for c, t in types.items() if t in NUMERIC]
    if not na_rm and num:
        nas = nacnt(ddf[num], {c: types[c] for c in num})
        num = [c for c, na in zip(num, nas) if na == 0]
    q = _quantiles(ddf, types, num, [0.5], combine_method)
    return [q[c][0] if c in q else math.nan for c in types]


# --------------------------------------------------------------------------- unique / table

def _only_column(types, what):
    if len(types) != 1:
        raise ValueError(f"{what} needs a single-column frame, this one has "
                         f"{len(types)} columns; select one column first")
    return next(iter(types))


def unique(ddf, types, include_nas=False):
    """Distinct values of a one-column frame, as a frame with column ``C1``.

    Enum: the levels present, in domain order (enum kept, same domain), NA last when
    ``include_nas``. Numeric: sorted ascending; NaN is listed when present (as H2O).
    String: sorted."""
    col = _only_column(types, "unique()")
    t = types[col]
    if t == "enum":
        counts, na = dask.compute(_reduction(ddf, _levels_chunk, _levels_combine, [col]))[0][col]
        dom = _domain(ddf, col)
        vals = [dom[i] for i in np.flatnonzero(counts)] + ([None] if include_nas and na else [])
        s = pd.Categorical(vals, categories=dom)
        return _from_pandas(pd.DataFrame({"C1": s}), {"C1": "enum"})
    distinct = ddf[col].drop_duplicates().compute()
    if t in NUMERIC:
        vals = np.sort(distinct.to_numpy(dtype=np.float64, na_value=np.nan))
        return _from_pandas(pd.DataFrame({"C1": vals}), {"C1": t})
    vals = sorted(v for v in distinct if isinstance(v, str))
    if include_nas and distinct.isna().any():
        vals.append(None)
    return _from_pandas(pd.DataFrame({"C1": pd.Series(vals, dtype=object)}), {"C1": t})


def _codes_frame(pdf, cols, types):
    return pd.DataFrame({c: _as_float(pdf, c, types[c]) for c in cols})


def _pair_counts(ddf, types, cols):
    """Counts of each distinct (non-NA) combination of ``cols``, sorted by the keys."""
    meta = pd.DataFrame({c: pd.Series([], dtype=np.float64) for c in cols})
    codes = ddf.map_partitions(_codes_frame, cols, types, meta=meta).dropna()
    counts = codes.groupby(cols).size().compute()
    return counts.sort_index()


def _key_column(values, col, types, ddf):
    if types[col] == "enum":
        dom = _domain(ddf, col)
        return pd.Categorical.from_codes(np.asarray(values, dtype=np.int64), categories=dom)
    return np.asarray(values, dtype=np.float64)


def _level_name(value, col, types, ddf):
    if types[col] == "enum":
        return _domain(ddf, col)[int(value)]
    return repr(float(value))


def table(ddf, types, data2=None, dense=True):
    """Counts of values (one column) or of pairs (two columns / ``data2``).

    One enum column -> (``col``, ``Count``); one numeric column -> (``col``, ``Counts``);
    two columns -> (``c1``, ``c2``, ``Counts``) for the pairs that occur, or with
    ``dense=False`` one row per ``c1`` value and one count column per ``c2`` value.
    NAs are not counted."""
    if data2 is not None:
        ddf2, types2 = data2
        overlap = set(types) & set(types2)
        if overlap:
            raise ValueError(f"table(): data2 repeats column(s) {sorted(overlap)}")
        ddf = ddf.assign(**{c: ddf2[c] for c in types2})
        types = {**types, **types2}
    cols = list(types)
    if not 1 <= len(cols) <= 2:
        raise ValueError(f"table() counts one or two columns, got {len(cols)}")
    bad = [c for c in cols if types[c] not in NUMERIC + ("enum",)]
    if bad:
        raise ValueError(f"table() needs enum or numeric columns; {bad} are not")
    counts = _pair_counts(ddf, types, cols)
    if len(cols) == 1:
        c = cols[0]
        name = "Count" if types[c] == "enum" else "Counts"
        pdf = pd.DataFrame({c: _key_column(counts.index.to_numpy(), c, types, ddf),
                            name: counts.to_numpy(dtype=np.float64)})
        return _from_pandas(pdf, {c: types[c], name: "int"})
    c1, c2 = cols
    if dense:
        idx = counts.index
        pdf = pd.DataFrame({c1: _key_column(idx.get_level_values(0), c1, types, ddf),
                            c2: _key_column(idx.get_level_values(1), c2, types, ddf),
                            "Counts": counts.to_numpy(dtype=np.float64)})
        return _from_pandas(pdf, {c1: types[c1], c2: types[c2], "Counts": "int"})
    wide = counts.unstack(fill_value=0).sort_index().sort_index(axis=1)
    pdf = pd.DataFrame({c1: _key_column(wide.index.to_numpy(), c1, types, ddf)})
    out_types = {c1: types[c1]}
    for v in wide.columns:
        name = _level_name(v, c2, types, ddf)
        pdf[name] = wide[v].to_numpy(dtype=np.float64)
        out_types[name] = "int"
    return _from_pandas(pdf, out_types)


# --------------------------------------------------------------------------- hist

@njit(nogil=True, cache=True)
def _hist_fixed(values, x0, h, nbins):
    """H2O's fixed-width binning: bin = min(nbins-1, floor((v - x0) / h))."""
    cnt = np.zeros(nbins)
    mins = np.full(nbins, np.inf)
    maxs = np.full(nbins, -np.inf)
    for i in range(values.shape[0]):
        v = values[i]
        if np.isnan(v):
            continue
        b = int(np.floor((v - x0) / h))
        if b > nbins - 1:
            b = nbins - 1
        if b < 0:
            b = 0
        cnt[b] += 1
        mins[b] = v if v < mins[b] else mins[b]
        maxs[b] = v if v > maxs[b] else maxs[b]
    return cnt, mins, maxs


@njit(nogil=True, cache=True)
def _hist_breaks(values, breaks):
    """H2O's binning with explicit breaks: first x >= 1 with v <= breaks[x], minus one."""
    nbins = breaks.shape[0] - 1
    cnt = np.zeros(nbins)
    mins = np.full(nbins, np.inf)
    maxs = np.full(nbins, -np.inf)
    for i in range(values.shape[0]):
        v = values[i]
        if np.isnan(v):
            continue
        x = 1
        while x < nbins and not v <= breaks[x]:
            x += 1
        b = x - 1
        cnt[b] += 1
        mins[b] = v if v < mins[b] else mins[b]
        maxs[b] = v if v > maxs[b] else maxs[b]
    return cnt, mins, maxs


def _hist_part(pdf, col, breaks, x0, h):
    v = pdf[col].to_numpy(dtype=np.float64, na_value=np.nan)
    if h is None:
        return _hist_breaks(v, breaks)
    return _hist_fixed(v, x0, h, len(breaks) - 1)


def _hist_combine(a, b):
    return a[0] + b[0], np.fmin(a[1], b[1]), np.fmax(a[2], b[2])


_BREAK_RULES = ("sturges", "rice", "sqrt", "doane", "scott", "fd")


def _log2(x):
    return math.log(x) / math.log(2) + 1e-10


def _number_of_breaks(ddf, types, col, rule, m, nrow):
    """Number of cuts and bin width for a named rule (as H2O's AstHist)."""
    rng = m["max"][0] - m["min"][0]
    if rule == "sturges":
        k = math.ceil(1 + _log2(nrow))
    elif rule == "rice":
        k = math.ceil(2 * nrow ** (1 / 3))
    elif rule == "sqrt":
        k = int(math.sqrt(nrow))
    elif rule == "doane":
        # H2O divides longs here (sigma_g1 becomes 0); the float formula is the intent
        g1 = abs((m["M3"][0] / nrow) / (m["M2"][0] / nrow) ** 1.5)
        sigma_g1 = math.sqrt(6 * (nrow - 2) / ((nrow + 1) * (nrow + 3)))
        k = int(1 + _log2(nrow) + _log2(1 + g1 / sigma_g1))
    else:
        if rule == "scott":
            h = 3.5 * math.sqrt(_sample_var(m)[0]) / nrow ** (1 / 3)
        else:
            h = 2 * _mad(ddf, types, col) * nrow ** (-1 / 3)
        return math.ceil(rng / h), h
    return k, rng / k


def _mad(ddf, types, col, constant=1.4826):
    med = _quantiles(ddf, types, [col], [0.5])[col][0]
    dev = ddf[[col]].map_partitions(lambda p: (p - med).abs(), meta=ddf[[col]]._meta)
    return constant * _quantiles(dev, {col: "real"}, [col], [0.5])[col][0]


def hist(ddf, types, breaks="sturges", plot=False):
    """H2O's histogram frame: breaks, counts, mids_true, mids, density.

    ``breaks``: a rule name (sturges, rice, sqrt, doane, scott, fd), a number of cuts, or
    a list of break points. As H2O, the first row carries the lowest cut with NA counts;
    row i>0 describes the bin ending at breaks[i]. ``mids_true`` is the midpoint of the
    smallest and largest value in the bin (NaN for an empty bin). With ``plot=True`` a
    ``widths`` column is added and the bars are drawn with matplotlib."""
    col = _only_column(types, "hist()")
    if types[col] not in NUMERIC:
        raise ValueError(f"hist() needs a numeric column; {col!r} is {types[col]}")
    m = _moments(ddf, types, [col])
    nrow = int(m["nrow"])
    if not m["n"][0] or m["min"][0] == m["max"][0]:
        raise ValueError(f"hist() does not apply to a constant or empty column ({col!r})")
    if isinstance(breaks, str):
        if breaks.lower() not in _BREAK_RULES:
            raise ValueError(f"breaks={breaks!r} is not supported; use a number, a list of "
                             f"breaks or one of {_BREAK_RULES}")
        k, h = _number_of_breaks(ddf, types, col, breaks.lower(), m, nrow)
    elif isinstance(breaks, (int, np.integer)):
        if breaks <= 0:
            raise ValueError(f"breaks must be a positive number, got {breaks}")
        k, h = int(breaks), (m["max"][0] - m["min"][0]) / int(breaks)
    else:
        cuts = np.asarray(sorted(float(b) for b in breaks))
        if len(cuts) < 2:
            raise ValueError("breaks as a list needs at least two break points")
        k, h = None, None
    if k is not None:
        if k < 2:
            raise ValueError(f"hist() with breaks={breaks!r} gives {k} cut(s); it needs two "
                             "or more, ask for more breaks")
        w = (m["max"][0] - m["min"][0]) / k
        cuts = np.array([m["min"][0] + w * (i + 1) for i in range(k)])
    x0 = m["min"][0]
    cnt, mins, maxs = dask.compute(_reduction(ddf[[col]], _hist_part, _hist_combine,
                                              col, cuts, x0, h))[0]
    return _hist_frame(cuts, cnt, mins, maxs, plot, col)


def _hist_frame(cuts, cnt, mins, maxs, plot, col):
    with np.errstate(invalid="ignore"):
        mids_true = np.where(cnt > 0, 0.5 * (mins + maxs), np.nan)
    nan = np.array([np.nan])
    widths = np.concatenate([nan, np.diff(cuts)])
    counts = np.concatenate([nan, cnt])
    pdf = pd.DataFrame({"breaks": cuts, "counts": counts,
                        "mids_true": np.concatenate([nan, mids_true]),
                        "mids": np.concatenate([nan, 0.5 * (cuts[:-1] + cuts[1:])])})
    pdf["density"] = counts / (widths * np.nansum(cnt))
    types = {"breaks": "real", "counts": "int", "mids_true": "real", "mids": "real",
             "density": "real"}
    if plot:
        pdf["widths"] = widths
        types["widths"] = "real"
        _plot_hist(pdf, col)
    return _from_pandas(pdf, types)


def _plot_hist(pdf, col):
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ValueError("hist(plot=True) needs matplotlib; install it or pass plot=False") from e
    fig = plt.figure()
    plt.xlabel(col)
    plt.ylabel("Frequency")
    plt.title(f"Histogram of {col}")
    rows = pdf.iloc[1:]
    plt.bar(x=rows["breaks"] - rows["widths"], width=rows["widths"], height=rows["counts"],
            bottom=0, align="edge")
    return fig


# --------------------------------------------------------------------------- cor / var

def _cov_part(pdf, xcols, ycols, types, complete):
    X = _numeric_matrix(pdf, xcols, types)
    Y = _numeric_matrix(pdf, ycols, types)
    if complete:
        keep = ~(np.isnan(X).any(axis=1) | np.isnan(Y).any(axis=1))
        X, Y = X[keep], Y[keep]
    n = float(X.shape[0])
    mx = X.mean(axis=0) if n else np.zeros(X.shape[1])
    my = Y.mean(axis=0) if n else np.zeros(Y.shape[1])
    return {"n": n, "mx": mx, "my": my, "C": (X - mx).T @ (Y - my),
            "Sx": ((X - mx) ** 2).sum(axis=0), "Sy": ((Y - my) ** 2).sum(axis=0),
            "nas": float(np.isnan(X).sum() + np.isnan(Y).sum())}


def _cov_combine(a, b):
    n = a["n"] + b["n"]
    if n == 0:
        return a
    f = a["n"] * b["n"] / n
    dx, dy = b["mx"] - a["mx"], b["my"] - a["my"]
    return {"n": n, "mx": a["mx"] + dx * b["n"] / n, "my": a["my"] + dy * b["n"] / n,
            "C": a["C"] + b["C"] + np.outer(dx, dy) * f,
            "Sx": a["Sx"] + b["Sx"] + dx * dx * f, "Sy": a["Sy"] + b["Sy"] + dy * dy * f,
            "nas": a["nas"] + b["nas"]}


def _pair_frames(ddf, types, y):
    if y is None:
        return ddf, types, list(types), list(types)
    ddf2, types2 = y
    rename = {c: f"__y_{i}" for i, c in enumerate(types2)}
    joined = ddf.assign(**{rename[c]: ddf2[c] for c in types2})
    all_types = {**types, **{rename[c]: t for c, t in types2.items()}}
    return joined, all_types, list(types), [rename[c] for c in types2]


def _cross_moments(ddf, types, y, use, what):
    use = use or "everything"
    if use not in ("everything", "all.obs", "complete.obs"):
        raise ValueError(f"use={use!r} is not supported; use 'everything', 'all.obs' or "
                         "'complete.obs'")
    joined, all_types, xcols, ycols = _pair_frames(ddf, types, y)
    bad = [c for c in xcols + ycols if all_types[c] not in NUMERIC]
    if bad:
        raise ValueError(f"{what}() needs numeric columns; {bad} are not numeric")
    m = dask.compute(_reduction(joined, _cov_part, _cov_combine, xcols, ycols, all_types,
                                use == "complete.obs"))[0]
    if use == "all.obs" and m["nas"]:
        raise ValueError(f"{what}(use='all.obs') found missing values; use "
                         "'complete.obs' or na_rm=True")
    return m


def _matrix_result(M, col_names):
    if M.shape == (1, 1):
        return float(M[0, 0])
    pdf = pd.DataFrame(M, columns=col_names)
    return _from_pandas(pdf, {c: "real" for c in col_names})


def var(ddf, types, y=None, na_rm=False, use=None):
    """Sample covariance matrix of the columns (with those of ``y`` if given), as H2O:
    a float when both sides have one column, else a frame with ``y``'s column names.
    ``use``: everything (NA -> NaN), all.obs (NA -> error), complete.obs (drop rows);
    default complete.obs when ``na_rm`` else everything."""
    use = use or ("complete.obs" if na_rm else "everything")
    m = _cross_moments(ddf, types, y, use, "var")
    with np.errstate(invalid="ignore", divide="ignore"):
        C = m["C"] / (m["n"] - 1) if m["n"] > 1 else np.full_like(m["C"], np.nan)
    names = list(types) if y is None else list(y[1])
    return _matrix_result(C, names)


def cor(ddf, types, y=None, na_rm=False, use=None, method="Pearson"):
    """Correlation matrix as H2O's cor(): a float for one column against one column,
    else a frame with ``y``'s column names. method: Pearson or Spearman (Spearman
    ranks each column with average ranks; it brings each column's distinct values,
    not its rows, to the driver)."""
    if method not in ("Pearson", "Spearman"):
        raise ValueError(f"method={method!r} is not supported; use 'Pearson' or 'Spearman'")
    use = use or ("complete.obs" if na_rm else "everything")
    if method == "Spearman":
        ddf, types, y = _ranked(ddf, types, y, use)
    m = _cross_moments(ddf, types, y, use, "cor")
    with np.errstate(invalid="ignore", divide="ignore"):
        R = m["C"] / np.sqrt(np.outer(m["Sx"], m["Sy"]))
    names = list(types) if y is None else list(y[1])
    return _matrix_result(R, names)


def _rank_part(pdf, cols, tables):
    out = {}
    for c in cols:
        vals, ranks = tables[c]
        v = pdf[c].to_numpy(dtype=np.float64, na_value=np.nan)
        pos = np.clip(np.searchsorted(vals, v), 0, builtins.max(len(vals) - 1, 0))
        out[c] = np.where(np.isnan(v), np.nan, ranks[pos] if len(vals) else np.nan)
    return pd.DataFrame(out, index=pdf.index)


def _ranked(ddf, types, y, use):
    """Columns replaced by their average ranks (over complete rows for complete.obs)."""
    joined, all_types, xcols, ycols = _pair_frames(ddf, types, y)
    cols = xcols + [c for c in ycols if c not in xcols]
    bad = [c for c in cols if all_types[c] not in NUMERIC]
    if bad:
        raise ValueError(f"cor() needs numeric columns; {bad} are not numeric")
    data = joined[cols]
    if use == "complete.obs":
        data = data.dropna()
    counts = dask.compute(*[data[c].value_counts(dropna=True) for c in cols])
    tables = {}
    for c, vc in zip(cols, counts):
        vc = vc.sort_index()
        cnt = vc.to_numpy(dtype=np.float64)
        end = np.cumsum(cnt)
        tables[c] = (vc.index.to_numpy(dtype=np.float64), end - (cnt - 1) / 2.0)
    meta = pd.DataFrame({c: pd.Series([], dtype=np.float64) for c in cols})
    ranked = data.map_partitions(_rank_part, cols, tables, meta=meta)
    rtypes = {c: "real" for c in cols}
    if y is None:
        return ranked, rtypes, None
    ynames = list(y[1])
    yframe = ranked[ycols].rename(columns=dict(zip(ycols, ynames)))
    return ranked[xcols], {c: "real" for c in xcols}, (yframe, {c: "real" for c in ynames})


# --------------------------------------------------------------------------- impute

def impute(ddf, types, column=-1, method="mean", combine_method="interpolate", by=None,
           values=None):
    """Fill NAs as H2OFrame.impute; returns ``((ddf, types), result)``.

    ``result`` is H2O's return value: without ``by`` the list of fill values per column
    (NaN for columns left alone; enum fills are level indices), with ``by`` a frame
    ``(ddf, types)`` of the group keys and the per-group fill values. Numeric columns get
    the mean or median (exact, ``combine_method``); enum columns always get their mode;
    string columns are left alone. An int column filled with a fraction becomes real."""
    if method not in ("mean", "median", "mode"):
        raise ValueError(f"method={method!r} is not supported; use 'mean', 'median' or 'mode'")
    if values is not None:
        return _impute_values(ddf, types, values)
    by_cols = _by_columns(types, by)
    if column == -1 or column is None:
        cols = [c for c in types if c not in by_cols and types[c] in NUMERIC + ("enum",)]
        # H2O fills the numeric columns of a whole-frame mode imputation with the mean
        method = "mean" if method == "mode" else method
    else:
        cols = [_column_name(types, column)]
        c = cols[0]
        if c in by_cols:
            raise ValueError(f"column {c!r} is also a group-by column")
        if types[c] not in NUMERIC + ("enum",):
            raise ValueError(f"impute() fills numeric or enum columns; {c!r} is {types[c]}")
        if method == "mode" and types[c] != "enum":
            raise ValueError(f"method='mode' is for enum columns; {c!r} is {types[c]}, "
                             "use 'mean' or 'median'")
    if by_cols:
        return _impute_by(ddf, types, cols, method, combine_method, by_cols)
    fills = _fill_values(ddf, types, cols, method, combine_method)
    return _apply_fills(ddf, types, fills), [fills.get(c, math.nan) for c in types]


def _by_columns(types, by):
    if by is None:
        return []
    by = [by] if isinstance(by, (str, int, np.integer)) else list(by)
    return [_column_name(types, b) for b in by]


def _fill_values(ddf, types, cols, method, combine_method):
    enums = [c for c in cols if types[c] == "enum"]
    num = [c for c in cols if types[c] in NUMERIC]
    fills = {}
    if enums:
        levels = dask.compute(_reduction(ddf[enums], _levels_chunk, _levels_combine, enums))[0]
        for c in enums:
            counts = levels[c][0]
            fills[c] = float(np.argmax(counts)) if counts.sum() else math.nan
    if num and method == "median":
        q = _quantiles(ddf, types, num, [0.5], combine_method)
        fills.update({c: q[c][0] for c in num})
    elif num:
        m = _moments(ddf, types, num)
        fills.update({c: float(m["mean"][i]) if m["n"][i] else math.nan
                      for i, c in enumerate(num)})
    return fills


def _fill_part(pdf, fills, enum_fills):
    pdf = pdf.copy()
    for c, v in fills.items():
        pdf[c] = pdf[c].fillna(v)
    for c, level in enum_fills.items():
        pdf[c] = pdf[c].fillna(level)
    return pdf


def _apply_fills(ddf, types, fills):
    fills = {c: v for c, v in fills.items() if not (isinstance(v, float) and math.isnan(v))}
    num = {c: v for c, v in fills.items() if types[c] != "enum"}
    enum_fills = {c: _domain(ddf, c)[int(v)] for c, v in fills.items() if types[c] == "enum"}
    out = ddf.map_partitions(_fill_part, num, enum_fills, meta=ddf._meta)
    new_types = dict(types)
    for c, v in num.items():
        if types[c] == "int" and float(v) != int(v):
            new_types[c] = "real"
    return out, new_types


def _impute_values(ddf, types, values):
    if len(values) != len(types):
        raise ValueError(f"values has {len(values)} entries but the frame has "
                         f"{len(types)} columns; give one value (or None) per column")
    fills = {}
    for (c, t), v in zip(types.items(), values):
        if v is None:
            continue
        if t == "enum":
            dom = _domain(ddf, c)
            if v not in dom:
                raise ValueError(f"impute value {v!r} is not a level of column {c!r} "
                                 f"(levels {dom})")
            fills[c] = float(dom.index(v))
        elif t in NUMERIC:
            fills[c] = float(v)
        else:
            raise ValueError(f"impute values are for numeric or enum columns; {c!r} is {t}")
    return _apply_fills(ddf, types, fills), [fills.get(c, math.nan) for c in types]


def _impute_by(ddf, types, cols, method, combine_method, by_cols):
    from daskml_h2o.groupby import GroupBy, group_medians
    enums = [c for c in cols if types[c] == "enum"]
    num = [c for c in cols if types[c] in NUMERIC]
    stat = "median" if method == "median" else "mean"
    tables = []
    if num and stat == "median":
        tables.append(group_medians(ddf, types, by_cols, num, combine_method))
    elif num:
        tables.append(GroupBy(ddf, types, by_cols).mean(num, na="rm").get_frame()[0].compute())
    if enums:
        tables.append(GroupBy(ddf, types, by_cols).mode(enums).get_frame()[0].compute())
    # every table lists the same groups in the same sorted order
    groups = pd.concat([tables[0]] + [t.drop(columns=by_cols) for t in tables[1:]], axis=1)
    stat_cols = {c: (f"mode_{c}" if types[c] == "enum" else f"{stat}_{c}") for c in cols}
    groups = groups[by_cols + [stat_cols[c] for c in cols]].reset_index(drop=True)
    out = _fill_by_groups(ddf, types, by_cols, groups, stat_cols)
    gtypes = {**{b: types[b] for b in by_cols},
              **{stat_cols[c]: ("int" if types[c] == "enum" else "real") for c in cols}}
    return out, _from_pandas(groups, gtypes)


def _key_codes(pdf, by_cols, types):
    return pd.DataFrame({b: _as_float(pdf, b, types[b]) for b in by_cols}, index=pdf.index)


def _fill_by_part(pdf, by_cols, types, table, stat_cols):
    keys = _key_codes(pdf, by_cols, types).reset_index(drop=True)
    looked = keys.merge(table, on=by_cols, how="left")
    pdf = pdf.copy()
    for c, s in stat_cols.items():
        fill = looked[s].to_numpy()
        if types[c] == "enum":
            cats = pdf[c].cat.categories
            codes = pdf[c].cat.codes.to_numpy().copy()
            take = (codes < 0) & ~np.isnan(fill)
            codes[take] = fill[take].astype(np.int64)
            pdf[c] = pd.Categorical.from_codes(codes, categories=cats)
        else:
            pdf[c] = pdf[c].fillna(pd.Series(fill, index=pdf.index))
    return pdf


def _fill_by_groups(ddf, types, by_cols, groups, stat_cols):
    table = _key_codes(groups, by_cols, types)
    for s in stat_cols.values():
        table[s] = groups[s].to_numpy(dtype=np.float64)
    out = ddf.map_partitions(_fill_by_part, by_cols, types, table, stat_cols, meta=ddf._meta)
    new_types = dict(types)
    for c, s in stat_cols.items():
        v = table[s].dropna().to_numpy()
        if types[c] == "int" and (v != np.round(v)).any():
            new_types[c] = "real"
    return out, new_types


# --------------------------------------------------------------------------- missing values

def _row_offsets(ddf):
    lengths = ddf.map_partitions(len).compute()
    return [0] + list(np.cumsum(np.asarray(lengths))[:-1])


def _uniforms(seed, start, n, ncol):
    """Uniform draws for global rows [start, start+n): block b of ``_RNG_BLOCK`` rows is
    drawn from a generator seeded with (seed, b), so draws do not depend on partitioning."""
    if n == 0:
        return np.empty((0, ncol))
    first, last = start // _RNG_BLOCK, (start + n - 1) // _RNG_BLOCK
    blocks = [np.random.default_rng([seed, b]).random((_RNG_BLOCK, ncol))
              for b in range(first, last + 1)]
    u = np.concatenate(blocks)
    off = start - first * _RNG_BLOCK
    return u[off:off + n]


def _nas_part(pdf, fraction, seed, row_offsets, partition_info=None):
    start = int(row_offsets[partition_info["number"]]) if partition_info else 0
    mask = _uniforms(seed, start, len(pdf), pdf.shape[1]) < fraction
    pdf = pdf.copy()
    for j, c in enumerate(pdf.columns):
        if mask[:, j].any():
            pdf[c] = pdf[c].mask(mask[:, j])
    return pdf


def insert_missing_values(ddf, types, fraction=0.1, seed=None, row_offsets=None):
    """Set each cell to NA with probability ``fraction``; returns ``(ddf, types)``.

    Draws depend only on (seed, global row, column), so the result is the same for
    any partitioning. ``row_offsets``: global row index of each partition's first row
    (computed in one pass when not given). seed None or -1 draws a fresh seed."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    if seed is None or seed == -1:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    seed = int(seed) % (2 ** 64)
    offsets = _row_offsets(ddf) if row_offsets is None else list(row_offsets)
    if len(offsets) != ddf.npartitions:
        raise ValueError(f"row_offsets has {len(offsets)} entries for "
                         f"{ddf.npartitions} partitions")
    out = ddf.map_partitions(_nas_part, fraction, seed, offsets, meta=ddf._meta)
    return out, dict(types)


# --------------------------------------------------------------------------- apply

def _type_of(dtype):
    if isinstance(dtype, pd.CategoricalDtype):
        return "enum"
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return "real"
    return "string"


def _as_contract(s):
    """A result series cast to the frame's dtypes (numbers float64, text object)."""
    t = _type_of(s.dtype)
    if t == "real":
        return s.astype(np.float64)
    if t == "string":
        return s.astype(object)
    return s


def apply(ddf, types, fun, axis=0):
    """Apply ``fun`` per column (axis=0) or per row (axis=1); returns ``(ddf, types)``.

    axis=0: ``fun`` gets each column as a dask Series; reductions (``lambda c: c.mean()``)
    give a 1-row frame, element-wise results a frame of the same shape. axis=1: ``fun``
    gets each row as a pandas Series and the result is one column ``C1``."""
    if not callable(fun):
        raise ValueError("apply() needs a function, e.g. lambda col: col.mean()")
    if axis == 1:
        return _apply_rows(ddf, fun)
    if axis != 0:
        raise ValueError(f"axis must be 0 or 1, got {axis!r}")
    results = [fun(ddf[c]) for c in types]
    if all(isinstance(r, dd.Series) for r in results):
        names = list(types)
        out = results[0].to_frame(name=names[0])
        out = out.assign(**{c: r for c, r in zip(names[1:], results[1:])})
        out = out.map_partitions(lambda p: p.apply(_as_contract),
                                 meta=out._meta.apply(_as_contract))
        return out, {c: _type_of(out._meta[c].dtype) for c in types}
    values = dask.compute(*results)
    pdf = pd.DataFrame({c: [v] for c, v in zip(types, values)})
    pdf = pdf.apply(_as_contract)
    return _from_pandas(pdf, {c: _type_of(pdf[c].dtype) for c in types})


def _apply_rows(ddf, fun):
    sample = ddf._meta_nonempty.head(1).apply(fun, axis=1)
    meta = pd.DataFrame({"C1": _as_contract(sample).iloc[:0]})
    out = ddf.map_partitions(lambda p: pd.DataFrame({"C1": _as_contract(p.apply(fun, axis=1))
                                                     if len(p) else meta["C1"]},
                                                    index=p.index), meta=meta)
    return out, {"C1": _type_of(meta["C1"].dtype)}

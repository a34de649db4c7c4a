"""H2O's group_by on a frame held as ``(ddf, types)``.

``GroupBy(ddf, types, by)`` collects aggregations (``count``, ``sum``, ``mean``, ``min``,
``max``, ``sd``, ``var``, ``ss``, ``mode``, ``median``), each chainable, and
``get_frame()`` computes them all in one tree reduction: every partition is reduced to
per-group partial sums, counts, extrema and level counts, partials are merged pairwise,
and the (small) table of groups is finished on the driver. Exact medians take a
second pass that shuffles each group's rows together. Output follows H2O: one row per group, groups
sorted by the key columns with the NA group first, enum keys kept as enum, columns
``nrow``, ``sum_<c>``, ``mean_<c>``, ``min_<c>``, ``max_<c>``, ``sdev_<c>``, ``var_<c>``,
``sumSquares_<c>``, ``mode_<c>`` and ``median_<c>`` in the order they were asked for.

``na`` per aggregation, as H2O: ``"all"`` - a group with an NA in the column gets NA;
``"ignore"`` - NAs are skipped but still count as rows (mean = sum / rows, and the
variance uses that mean and row count); ``"rm"`` - NAs are dropped. ``count(na)`` with
``"ignore"``/``"rm"`` counts the rows whose *first frame column* is not NA (H2O counts
column 0).
"""
import warnings

import dask
import numpy as np
import pandas as pd

from daskml_h2o.frame_stats import NUMERIC, _as_float, _by_columns, _from_pandas, _reduction

_NA_MODES = ("all", "ignore", "rm")
_PREFIX = {"sum": "sum_", "mean": "mean_", "min": "min_", "max": "max_", "sd": "sdev_",
           "var": "var_", "ss": "sumSquares_", "mode": "mode_", "median": "median_"}
_NN0 = "__nn0__"


class GroupBy:
    """Chainable H2O group_by over ``(ddf, types)`` grouped by column(s) ``by``."""

    def __init__(self, ddf, types, by):
        self._ddf, self._types = ddf, dict(types)
        self._by = _by_columns(self._types, by)
        if not self._by:
            raise ValueError("group_by needs at least one column to group by")
        self._aggs = []
        self._result = None

    def count(self, na="all"):
        """Rows per group, column ``nrow``."""
        self._aggs.append(("nrow", None, _check_na(na)))
        self._result = None
        return self

    def sum(self, col=None, na="all"):
        return self._add("sum", col, na)

    def mean(self, col=None, na="all"):
        return self._add("mean", col, na)

    def min(self, col=None, na="all"):
        return self._add("min", col, na)

    def max(self, col=None, na="all"):
        return self._add("max", col, na)

    def sd(self, col=None, na="all"):
        return self._add("sd", col, na)

    def var(self, col=None, na="all"):
        return self._add("var", col, na)

    def ss(self, col=None, na="all"):
        return self._add("ss", col, na)

    def mode(self, col=None, na="all"):
        """Most frequent level per group (level index; ties -> lowest index)."""
        return self._add("mode", col, na)

    def median(self, col=None, na="all"):
        """Exact median per group (a second, shuffling pass; see ``group_medians``)."""
        return self._add("median", col, na)

    def get_frame(self):
        """The aggregated frame as ``(ddf, types)``."""
        if self._result is None:
            pdf, types = self._compute()
            self._result = _from_pandas(pdf, types)
        return self._result

    @property
    def frame(self):
        return self.get_frame()

    def _add(self, op, col, na):
        na = _check_na(na)
        for c in self._columns(op, col):
            self._aggs.append((op, c, na))
        self._result = None
        return self

    def _columns(self, op, col):
        if col is None:
            cols = [c for c in self._types if c not in self._by]
        else:
            cols = [col] if isinstance(col, (str, int, np.integer)) else list(col)
            cols = _by_columns(self._types, cols)
        out = []
        for c in cols:
            t = self._types[c]
            if op == "mode" and t != "enum":
                raise ValueError(f"mode() is only allowed on enum columns; {c!r} is {t}")
            if t not in NUMERIC + ("enum",):
                warnings.warn(f"Column {c} is a {t} column. No groupby operation will be "
                              "performed on it.", UserWarning, stacklevel=4)
                continue
            out.append(c)
        return out

    def _compute(self):
        if not self._aggs:
            raise ValueError("group_by has no aggregation; call count(), sum(), mean()... "
                             "before get_frame()")
        values = list(dict.fromkeys(c for op, c, _ in self._aggs if c and op != "mode"))
        modes = list(dict.fromkeys(c for op, c, _ in self._aggs if op == "mode"))
        first = next(iter(self._types))
        parts = dask.compute(_reduction(self._ddf, _partials, _merge_partials, self._by,
                                        values, modes, self._types, first))[0]
        table = parts["main"].sort_values(self._by, na_position="first", kind="mergesort")
        table = table.reset_index(drop=True)
        medians = list(dict.fromkeys(c for op, c, _ in self._aggs if op == "median"))
        if medians:
            # same rows, same keys, same sort: the group tables line up row for row
            med = group_medians(self._ddf, self._types, self._by, medians)
            for c in medians:
                table[f"median|{c}"] = med[f"median_{c}"].to_numpy()
        out = {b: _key_output(table[b], b, self._ddf, self._types) for b in self._by}
        types = {b: self._types[b] for b in self._by}
        for op, c, na in self._aggs:
            name = "nrow" if op == "nrow" else _PREFIX[op] + c
            if op == "mode":
                out[name] = _mode_column(parts["mode"][c], table, self._by)
            else:
                out[name] = _finish(op, c, na, table)
            types[name] = _result_type(op, self._types.get(c))
        return pd.DataFrame(out), types


def _key_output(keys, col, ddf, types):
    """Key column of the result: enum codes back to a categorical of the domain."""
    if types[col] == "enum":
        codes = keys.to_numpy(dtype=np.float64)
        codes = np.where(np.isnan(codes), -1, codes).astype(np.int64)
        return pd.Categorical.from_codes(codes, categories=ddf[col].dtype.categories)
    return keys.to_numpy()


def _check_na(na):
    if na not in _NA_MODES:
        raise ValueError(f"na={na!r} is not supported; use one of {_NA_MODES}")
    return na


def _keys_frame(pdf, by, types):
    keys = {}
    for b in by:
        if types[b] in NUMERIC + ("enum",):
            keys[b] = _as_float(pdf, b, types[b])
        else:
            keys[b] = pdf[b].astype(object).to_numpy()
    return pd.DataFrame(keys, index=pdf.index)


def _partials(pdf, by, values, modes, types, first):
    """Per-group size, non-NA count, sum, sum of squares, min and max of each value
    column, plus per-group level counts of each mode column."""
    frame = _keys_frame(pdf, by, types)
    frame[_NN0] = pdf[first].notna().to_numpy(dtype=np.float64)
    spec = {_NN0: ["size", "sum"]}
    for i, c in enumerate(values):
        v = _as_float(pdf, c, types[c])
        frame[f"v{i}"] = v
        frame[f"q{i}"] = v * v
        spec[f"v{i}"] = ["count", "sum", "min", "max"]
        spec[f"q{i}"] = ["sum"]
    grouped = frame.groupby(by, dropna=False, sort=False).agg(spec)
    grouped.columns = [f"{a}|{b}" for a, b in grouped.columns]
    main = grouped.reset_index()
    main.columns = by + [_rename(c, values) for c in grouped.columns]
    mode_counts = {}
    for c in modes:
        keyed = frame[by].assign(__code__=_as_float(pdf, c, types[c]))
        mode_counts[c] = keyed.dropna(subset=["__code__"]).groupby(
            by + ["__code__"], dropna=False, sort=False).size().rename("n").reset_index()
    return {"main": main, "mode": mode_counts, "by": by}


def _rename(flat, values):
    name, stat = flat.split("|")
    if name == _NN0:
        return "size" if stat == "size" else "nn0"
    return f"{stat if name[0] == 'v' else 'sumsq'}|{values[int(name[1:])]}"


def _merge_partials(a, b):
    by = a["by"]
    main = pd.concat([a["main"], b["main"]], ignore_index=True)
    how = {c: ("min" if c.startswith("min|") else "max" if c.startswith("max|") else "sum")
           for c in main.columns if c not in by}
    main = main.groupby(by, dropna=False, sort=False).agg(how).reset_index()
    modes = {}
    for c in a["mode"]:
        both = pd.concat([a["mode"][c], b["mode"][c]], ignore_index=True)
        modes[c] = both.groupby(by + ["__code__"], dropna=False, sort=False)["n"].sum() \
            .reset_index()
    return {"main": main, "mode": modes, "by": by}


def _finish(op, c, na, t):
    """One output column from the merged partials, honouring H2O's ``na`` modes."""
    size = t["size"].to_numpy(dtype=np.float64)
    if op == "nrow":
        return size if na == "all" else t["nn0"].to_numpy(dtype=np.float64)
    cnt = t[f"count|{c}"].to_numpy(dtype=np.float64)
    s = t[f"sum|{c}"].to_numpy(dtype=np.float64)
    ss = t[f"sumsq|{c}"].to_numpy(dtype=np.float64)
    has_na = cnt < size
    with np.errstate(invalid="ignore", divide="ignore"):
        n = cnt if na == "rm" else size
        m = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
        if op == "sum":
            res = s
        elif op == "mean":
            res = m
        elif op == "min":
            res = np.where(cnt > 0, t[f"min|{c}"].to_numpy(dtype=np.float64), np.nan)
        elif op == "max":
            res = np.where(cnt > 0, t[f"max|{c}"].to_numpy(dtype=np.float64), np.nan)
        elif op == "ss":
            res = ss
        elif op == "median":
            res = t[f"median|{c}"].to_numpy(dtype=np.float64)
        else:
            v = np.where(n > 1, np.maximum(ss - n * m * m, 0.0) / np.where(n > 1, n - 1, 1),
                         np.nan)
            res = np.sqrt(v) if op == "sd" else v
    if na == "all":
        res = np.where(has_na, np.nan, res)
    return res


def _mode_column(counts, table, by):
    """Level index with the highest count per group, aligned to ``table``'s rows."""
    if counts.empty:
        return np.full(len(table), np.nan)
    best = counts.sort_values(["n", "__code__"], ascending=[False, True], kind="mergesort")
    best = best.drop_duplicates(subset=by, keep="first")
    looked = table[by].merge(best[by + ["__code__"]], on=by, how="left")
    return looked["__code__"].to_numpy(dtype=np.float64)


def _result_type(op, col_type):
    if op == "nrow" or op == "mode":
        return "int"
    if op in ("sum", "min", "max") and col_type in ("int", "enum"):
        return "int"
    if op in ("min", "max") and col_type == "time":
        return "time"
    return "real"


def _median_group(g, cols, combine_method):
    from daskml_h2o.frame_stats import _combine, _positions
    out = {}
    for c in cols:
        v = np.sort(g[c].dropna().to_numpy(dtype=np.float64))
        if not len(v):
            out[c] = np.nan
            continue
        virtual, prev, nxt = _positions(len(v), 0.5)
        out[c] = _combine(v[int(prev)], v[int(nxt)], virtual, prev, combine_method)
    return pd.Series(out)


def group_medians(ddf, types, by, cols, combine_method="interpolate"):
    """Exact per-group medians as a pandas frame (keys, ``median_<c>``), sorted as
    GroupBy sorts. Rows of one group meet in one partition through a dask shuffle."""
    by = _by_columns(types, by)
    meta = pd.DataFrame({**{b: pd.Series([], dtype=np.float64 if types[b] in NUMERIC +
                                         ("enum",) else object) for b in by},
                         **{c: pd.Series([], dtype=np.float64) for c in cols}})
    keyed = ddf.map_partitions(
        lambda p: pd.concat([_keys_frame(p, by, types),
                             pd.DataFrame({c: _as_float(p, c, types[c]) for c in cols},
                                          index=p.index)], axis=1), meta=meta)
    med_meta = pd.DataFrame({c: pd.Series([], dtype=np.float64) for c in cols})
    res = keyed.groupby(by, dropna=False).apply(_median_group, cols, combine_method,
                                               meta=med_meta).compute()
    res = res.reset_index()
    res = res.sort_values(by, na_position="first", kind="mergesort").reset_index(drop=True)
    out = {b: _key_output(res[b], b, ddf, types) for b in by}
    for c in cols:
        out[f"median_{c}"] = res[c].to_numpy(dtype=np.float64)
    return pd.DataFrame(out)


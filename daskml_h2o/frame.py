"""H2OFrame: H2O's frame API over a dask DataFrame plus H2O column types.

Storage contract (docs/design.md, "H2OFrame internals"): ``int``/``real``/``time`` are
float64 (NaN = NA), ``enum`` is a pandas category with known ``str`` categories (the
domain), ``string``/``uuid`` are object columns of ``str``/``None``. Rows are in dask
partition order; the global row index is the partition offset plus the position inside
the partition. Offsets come from one pass over partition lengths, shared by every frame
derived row-for-row from the same data (a ``_Layout``).

Everything stays lazy; only values the user asks for (a scalar cell, ``as_data_frame``,
``nrow``, domains of a new factor) trigger a computation.

Choices where H2O's rule cannot be known lazily (documented here once):
* result type of arithmetic: ``int`` for ``+ - * // % **`` and ``abs/floor/ceil/trunc/sign/
  round(0)`` of int operands (whole scalars count as int), ``real`` otherwise;
* a dask DataFrame is wrapped with types taken from its dtypes: integer -> int,
  float -> real, datetime -> time, category -> enum (categories as ``str``),
  bool -> enum ``['False', 'True']``, object/str -> string when >= 95 % of the
  non-missing values are distinct (H2O's guess rule), else enum;
* ``fr[mask, "enum_col"] = "new"`` adds the level (H2O 3.46 refuses a new level).

Checked against real H2O 3.46: comparisons follow Java doubles (NA compares false,
``!=`` true), ``&``/``|`` use H2O's rules (see ``_logic``), ``%`` is the Java
remainder, ``//`` truncates toward zero, math results are named ``log(x)``, ``isna()``
columns ``isNA(x)``, ``ifelse`` gives ``C1``, cbind suffixes repeats ``0, 1, ...``,
rbind refuses enum + string, ``stratified_split`` draws exactly as H2O, and ``print``
gives H2O's layout.
"""
import difflib
import hashlib
import itertools
import math
import random
import string as _string
import uuid

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from . import frame_stats, registry
from .groupby import GroupBy

#: asfactor()/enum detection refuses to build a domain with more levels than this.
MAX_FACTOR_LEVELS = 1_000_000
#: target bytes per partition when a Python object becomes a frame.
PARTITION_BYTES = 64 * 2 ** 20

NUMERIC_TYPES = ("int", "real")
TEXT_TYPES = ("string", "uuid")


class H2OValueError(ValueError):
    """A bad value given to a frame operation (H2O's ``H2OValueError``)."""


# ----------------------------------------------------------------------------- ids

_SID = "".join(random.SystemRandom().choice(_string.ascii_lowercase + _string.digits)
               for _ in range(4))
_counter = itertools.count(1)


def _temp_id():
    return f"py_{next(_counter)}_sid_{_SID}"


def _upload_id():
    token = f"{uuid.uuid4()}-{next(_counter)}".encode()
    return f"Key_Frame__upload_{hashlib.md5(token).hexdigest()}.hex"


# ------------------------------------------------------------------ storage helpers

def _cat_dtype(levels):
    return pd.CategoricalDtype(pd.Index(list(levels), dtype=object), ordered=False)


def _levels_of(dtype):
    return [str(c) for c in dtype.categories]


def _as_text_series(s):
    """Object series of ``str``/``None`` from any string-like series."""
    out = s.astype(object)
    return out.where(s.notna(), None)


def _conform_pandas(pdf, types):
    """Cast a typed pandas frame (``io.typed_from_text`` output) to the storage
    contract, so that every frame holds exactly the dtypes the other layers expect."""
    cols = {}
    for name, typ in types.items():
        s = pdf[name]
        if typ == "enum":
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = _levels_of(s.dtype)
                cols[name] = pd.Categorical.from_codes(s.cat.codes.to_numpy(), dtype=_cat_dtype(levels))
            else:
                text = _as_text_series(s)
                levels = sorted(set(text.dropna()))
                cols[name] = pd.Categorical(text, dtype=_cat_dtype(levels))
        elif typ in TEXT_TYPES:
            cols[name] = _as_text_series(s)
        elif typ == "time" and s.dtype.kind == "M":
            cols[name] = _datetime_to_ms(s)
        else:
            cols[name] = pd.to_numeric(s, errors="coerce").astype(np.float64)
    return pd.DataFrame(cols, index=pd.RangeIndex(len(pdf)))


def _datetime_to_ms(s):
    values = s.to_numpy(dtype="datetime64[ns]")
    out = values.astype(np.int64).astype(np.float64) / 1e6
    out[np.isnat(values)] = np.nan
    return pd.Series(out, index=s.index)


def _from_pandas(pdf):
    """dask DataFrame from a pandas one, ~PARTITION_BYTES per partition; object
    columns stay object (dask would otherwise turn them into pyarrow strings)."""
    nbytes = int(pdf.memory_usage(deep=False, index=False).sum()) if pdf.shape[1] else 0
    nparts = max(1, min(len(pdf), math.ceil(nbytes / PARTITION_BYTES)))
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_pandas(pdf, npartitions=nparts, sort=False)


def _partition_lengths(ddf):
    return tuple(int(n) for n in ddf.map_partitions(len, meta=(None, "int64")).compute())


def _slice_concat(parts, bounds):
    pieces = [p.iloc[lo:hi] for p, (lo, hi) in zip(parts, bounds)]
    out = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
    return out


def _realign(ddf, src_lengths, dst_lengths):
    """Re-cut ``ddf`` (partition lengths ``src_lengths``) into partitions of
    ``dst_lengths`` rows, preserving row order; used when two frames with the same
    number of rows but different partitioning are combined positionally."""
    parts = ddf.to_delayed()
    src_off = np.concatenate([[0], np.cumsum(src_lengths)])
    out, start = [], 0
    for length in dst_lengths:
        stop = start + length
        chosen, bounds = [], []
        for k in range(len(src_lengths)):
            lo, hi = max(start, src_off[k]), min(stop, src_off[k + 1])
            if hi > lo or (length == 0 and not chosen and k == 0):
                chosen.append(parts[k])
                bounds.append((int(lo - src_off[k]), int(max(hi, lo) - src_off[k])))
        out.append(dask.delayed(_slice_concat)(chosen, bounds))
        start = stop
    return dd.from_delayed(out, meta=ddf._meta, verify_meta=False)


def _offset_part(row_start):
    return pd.DataFrame({"row_start": np.array([row_start], dtype=np.int64)})


def _call_with_offset(part, offset_part, func, *args):
    return func(part, int(offset_part["row_start"].iloc[0]), *args)


def _map_rows(ddf, func, offsets, meta, *args):
    """``map_partitions`` where ``func(part, row_start, *args)`` also gets the global
    index of the partition's first row. The offsets travel as a one-row-per-partition
    collection beside the data (not via ``partition_info``), so they stay right when
    dask later selects or reorders partitions (``head``, ``partitions[k]``)."""
    offsets = [int(o) for o in offsets]
    if len(offsets) != ddf.npartitions:
        raise H2OValueError(f"{len(offsets)} row offsets for {ddf.npartitions} partitions")
    offset_ddf = dd.from_map(_offset_part, offsets, enforce_metadata=False,
                             meta=pd.DataFrame({"row_start": pd.Series([], dtype=np.int64)}))
    return ddf.map_partitions(_call_with_offset, offset_ddf, func, *args, meta=meta,
                              align_dataframes=False)


class _Layout:
    """Row layout shared by frames derived row-for-row from the same data: partition
    lengths are computed once, on first need."""
    __slots__ = ("lengths", "__weakref__")

    def __init__(self, lengths=None):
        self.lengths = lengths


# ------------------------------------------------------------ dask input -> types

def _is_text_dtype(dtype):
    return dtype == object or isinstance(dtype, pd.StringDtype) or str(dtype).startswith("string")


def _types_from_dask(ddf):
    """H2O types for a user's dask DataFrame and the casts it needs (None when the
    data already follows the storage contract)."""
    types, plan, text_cols = {}, {}, []
    for name, dtype in ddf.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            types[name] = "enum"
            if dtype.categories is None or not ddf[name].cat.known:
                plan[name] = ("enum_unknown",)
            else:
                levels = _levels_of(dtype)
                if len(set(levels)) != len(levels):
                    raise H2OValueError(f"column '{name}': categories are not distinct as strings")
                if list(dtype.categories) != levels or dtype.categories.dtype != object:
                    plan[name] = ("recat", levels)
        elif dtype == bool:
            types[name], plan[name] = "enum", ("bool",)
        elif dtype.kind in "iu":
            types[name], plan[name] = "int", ("float",)
        elif dtype.kind == "f":
            types[name] = "real"
            if dtype != np.float64:
                plan[name] = ("float",)
        elif dtype.kind == "M":
            types[name], plan[name] = "time", ("time",)
        elif dtype.kind == "m":
            types[name], plan[name] = "real", ("timedelta",)
        elif _is_text_dtype(dtype):
            text_cols.append(name)
        else:
            raise H2OValueError(f"column '{name}' has dtype {dtype}, which has no H2O type; "
                                "cast it to a number, string or category first")
    if text_cols:
        _guess_text_columns(ddf, text_cols, types, plan)
    unknown = [c for c, p in plan.items() if p[0] == "enum_unknown"]
    if unknown:
        # the levels in use, sorted as H2O sorts a parsed enum's (each partition may differ)
        uniques = dask.compute(*[ddf[c].dropna().unique() for c in unknown])
        for c, values in zip(unknown, uniques):
            plan[c] = ("recat", sorted({str(v) for v in values}))
    return {c: types[c] for c in ddf.columns}, plan


def _guess_text_columns(ddf, cols, types, plan):
    stats = dask.compute(*[(ddf[c].count(), ddf[c].nunique()) for c in cols])
    enum_cols = []
    for c, (count, distinct) in zip(cols, stats):
        if count and distinct >= 0.95 * count:
            types[c] = "string"
            if ddf.dtypes[c] != object:
                plan[c] = ("text",)
        else:
            if distinct > MAX_FACTOR_LEVELS:
                raise H2OValueError(f"column '{c}' has {distinct} distinct values, more than "
                                    f"MAX_FACTOR_LEVELS={MAX_FACTOR_LEVELS}")
            types[c] = "enum"
            enum_cols.append(c)
    uniques = dask.compute(*[ddf[c].dropna().unique() for c in enum_cols])
    for c, values in zip(enum_cols, uniques):
        plan[c] = ("text_enum", sorted({str(v) for v in values}))


def _apply_plan(part, plan):
    cols = {}
    for name in part.columns:
        s, step = part[name], plan.get(name)
        if step is None:
            cols[name] = s
        elif step[0] in ("float",):
            cols[name] = s.astype(np.float64)
        elif step[0] == "bool":
            cols[name] = pd.Categorical.from_codes(s.astype(np.int8).to_numpy(),
                                                   dtype=_cat_dtype(["False", "True"]))
        elif step[0] == "time":
            cols[name] = _datetime_to_ms(s)
        elif step[0] == "timedelta":
            cols[name] = s.dt.total_seconds().astype(np.float64) * 1000.0
        elif step[0] == "text":
            cols[name] = _as_text_series(s)
        elif step[0] == "text_enum":
            cols[name] = pd.Categorical(_as_text_series(s), dtype=_cat_dtype(step[1]))
        else:  # recat: the frame's levels, as str
            cols[name] = pd.Categorical.from_codes(_codes_in(s, step[1]), dtype=_cat_dtype(step[1]))
    return pd.DataFrame(cols, index=part.index)


def _codes_in(s, levels):
    """Codes of categorical ``s`` in ``levels``, matched by name: a partition of a dask column
    with unknown categories has its own categories, in its own order."""
    codes = s.cat.codes.to_numpy() if len(s) else np.zeros(0, np.int8)
    local = _levels_of(s.dtype)
    if local == list(levels):
        return codes
    position = {level: i for i, level in enumerate(levels)}
    mapping = np.array([position.get(level, -1) for level in local] + [-1], dtype=np.int32)
    return mapping[codes]  # code -1 (NA) picks the trailing -1


# -------------------------------------------------------- Python object -> strings

def _cell_text(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "True" if v else "False"
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else repr(float(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    text = str(v)
    return text if text != "" else None


def _python_to_text(obj, header):
    """(names or None, list of columns of str/None) for a Python object, following
    how H2O's client writes it out to CSV."""
    if hasattr(obj, "toarray") and hasattr(obj, "nnz"):  # scipy sparse
        obj = obj.toarray()
    if isinstance(obj, pd.DataFrame):
        return [str(c) for c in obj.columns], [[_cell_text(v) for v in obj[c].tolist()]
                                               for c in obj.columns]
    if isinstance(obj, pd.Series):
        name = None if obj.name is None else [str(obj.name)]
        return name, [[_cell_text(v) for v in obj.tolist()]]
    if isinstance(obj, dict):
        cols = [list(v) if isinstance(v, (list, tuple, np.ndarray, pd.Series, range)) else [v]
                for v in obj.values()]
        if len({len(c) for c in cols}) > 1:
            raise H2OValueError("the lists of a dict must all have the same length, got "
                                + str({k: len(c) for k, c in zip(obj, cols)}))
        return [str(k) for k in obj], [[_cell_text(v) for v in c] for c in cols]
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, (list, tuple, range)):
        rows = list(obj)
        if rows and all(isinstance(r, (list, tuple, np.ndarray)) for r in rows):
            rows = [list(r) for r in rows]
            names = None
            if header == 1:
                names, rows = [str(v) for v in rows[0]], rows[1:]
            width = max([len(r) for r in rows] + [len(names or [])])
            cols = [[_cell_text(r[j]) if j < len(r) else None for r in rows] for j in range(width)]
            return names, cols
        return None, [[_cell_text(v) for v in rows]]
    raise H2OValueError(f"cannot make an H2OFrame from {type(obj).__name__}; give a pandas or "
                        "dask DataFrame, a dict of lists, a list of rows, a list or a numpy array")


def _typed_from_python(obj, header, column_names, column_types, na_strings, skipped_columns):
    from . import io as _io
    from . import parse as _parse

    typed_from_text = getattr(_io, "typed_from_text", None) or _parse.typed_from_text
    names, cols = _python_to_text(obj, header)
    ncol = len(cols)
    if column_names is not None:
        if len(column_names) != ncol:
            raise H2OValueError(f"column_names has {len(column_names)} names but the data has "
                                f"{ncol} columns")
        names = [str(n) for n in column_names]
    names = names or [f"C{j + 1}" for j in range(ncol)]
    if len(set(names)) != len(names):
        raise H2OValueError(f"column names must be unique, got {names}")
    keep = [j for j in range(ncol) if j not in set(skipped_columns or [])]
    text = pd.DataFrame({names[j]: pd.Series(cols[j], dtype=object) for j in keep})
    pdf, types = typed_from_text(text, col_types=column_types, na_strings=na_strings)
    types = {c: types[c] for c in pdf.columns}
    return _conform_pandas(pdf, types), types


# ------------------------------------------------------------------ column kernels

def _num_values(part, name, typ, dtype):
    """float64 values of one column for numeric work (enum levels that all parse as
    numbers give those numbers, else NaN; strings are parsed)."""
    s = part[name]
    if typ == "enum":
        levels = np.array([_parse_float(v) for v in _levels_of(dtype)] + [np.nan])
        return levels[s.cat.codes.to_numpy()]
    if typ in TEXT_TYPES:
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return s.to_numpy(dtype=np.float64)


def _text_values(part, name, typ, dtype):
    """object values (str or None) of one column for string comparisons."""
    s = part[name]
    if typ == "enum":
        levels = np.array(_levels_of(dtype) + [None], dtype=object)
        return levels[s.cat.codes.to_numpy()]
    if typ in TEXT_TYPES:
        values = s.to_numpy(dtype=object)
        return np.where(pd.isna(values), None, values)
    return np.array([None if np.isnan(v) else _format_number(v, typ) for v in s.to_numpy()],
                    dtype=object)


def _parse_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan


def _format_number(v, typ="real"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if typ in ("int", "time"):
        return str(int(v))
    return repr(float(v))  # Java's Double.toString for the usual range: 2.0, 0.5


def _java_double_text(x):
    """Java's ``Double.toString`` (what H2O prints in cut() labels)."""
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(float(x))
    mantissa, exp = f"{x:.16e}".split("e")
    mantissa = repr(float(mantissa))
    return f"{mantissa}E{int(exp)}"


def _java_mod(a, b):
    return np.fmod(a, b)


def _int_div(a, b):
    """H2O's ``//`` truncates toward zero (-2 // 3 == 0)."""
    return np.trunc(np.true_divide(a, b))


_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide,
          "//": _int_div, "%": _java_mod, "**": np.power}
_COMPARE = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
            ">": np.greater, ">=": np.greater_equal}
_INT_PRESERVING = ("+", "-", "*", "//", "%", "**")


def _logic(op, a, b):
    """H2O's ``&``: 0 if either side is 0, else NA if either is NA, else 1; ``|``: 1 if
    either side is exactly 1, else NA if either is NA, else 0 (checked on H2O 3.46)."""
    na = np.isnan(a) | np.isnan(b)
    if op == "&":
        return np.where((a == 0) | (b == 0), 0.0, np.where(na, np.nan, 1.0))
    return np.where((a == 1) | (b == 1), 1.0, np.where(na, np.nan, 0.0))


def _operand(parts, spec, mode):
    if spec[0] == "scalar":
        value = spec[1]
        if mode == "text":
            return np.array([value if value is None else str(value)], dtype=object)
        return np.array([np.nan if value is None else float(value)])
    _, side, name, typ, dtype = spec
    if mode == "text":
        return _text_values(parts[side], name, typ, dtype)
    return _num_values(parts[side], name, typ, dtype)


def _binary_partition(a, b, plan, names):
    """One partition of an element-wise binary op; ``plan`` holds per output column
    (op, mode, left spec, right spec); a column spec says which partition (0 = ``a``,
    1 = ``b``, the other frame's partition or None) holds it."""
    out = {}
    n = len(a)
    for name, (op, mode, lspec, rspec) in zip(names, plan):
        x = _operand((a, b), lspec, mode)
        y = _operand((a, b), rspec, mode)
        x, y = np.broadcast_to(x, (n,)), np.broadcast_to(y, (n,))
        with np.errstate(all="ignore"):
            if mode == "text":
                na = np.array([u is None or v is None for u, v in zip(x, y)], dtype=bool)
                xs = np.where(na, "", x).astype(str)
                ys = np.where(na, "", y).astype(str)
                res = np.where(na, float(op == "!="), _COMPARE[op](xs, ys).astype(np.float64))
            elif op in _COMPARE:
                # Java double comparisons, as H2O: NA compares false (and != true)
                res = _COMPARE[op](x, y).astype(np.float64)
            elif op in ("&", "|"):
                res = _logic(op, x, y)
            else:
                res = _ARITH[op](x, y).astype(np.float64)
        out[name] = res
    return pd.DataFrame(out, index=a.index)


def _unary_partition(part, func, names, kwargs):
    out = {}
    for name in names:
        with np.errstate(all="ignore"):
            out[name] = np.asarray(func(part[name].to_numpy(dtype=np.float64), **kwargs),
                                   dtype=np.float64)
    return pd.DataFrame(out, index=part.index)


def _signif(x, digits=6):
    digits = max(int(digits), 1)
    with np.errstate(all="ignore"):
        mag = np.floor(np.log10(np.abs(x)))
        scale = 10.0 ** (digits - 1 - mag)
        res = np.round(x * scale) / scale
    return np.where((x == 0) | ~np.isfinite(x), x, res)


def _round(x, digits=0):
    return np.round(x, int(digits))


def _math_functions():
    from scipy import special

    return {
        "log": np.log, "log10": np.log10, "log1p": np.log1p, "log2": np.log2, "exp": np.exp,
        "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign, "ceil": np.ceil,
        "floor": np.floor, "trunc": np.trunc, "cos": np.cos, "sin": np.sin, "tan": np.tan,
        "acos": np.arccos, "asin": np.arcsin, "atan": np.arctan, "cosh": np.cosh,
        "sinh": np.sinh, "tanh": np.tanh, "acosh": np.arccosh, "asinh": np.arcsinh,
        "atanh": np.arctanh, "cospi": lambda x: np.cos(np.pi * x),
        "sinpi": lambda x: np.sin(np.pi * x), "tanpi": lambda x: np.tan(np.pi * x),
        "gamma": special.gamma, "lgamma": special.gammaln, "digamma": special.digamma,
        "trigamma": lambda x: special.polygamma(1, x), "round": _round, "signif": _signif,
        "not": lambda x: np.where(np.isnan(x), np.nan, (x == 0).astype(np.float64)),
    }


_MATH = None
_INT_RESULT = ("sign", "ceil", "floor", "trunc", "not")


def _math(name):
    global _MATH
    if _MATH is None:
        _MATH = _math_functions()
    return _MATH[name]


def _isna_partition(part):
    return pd.DataFrame({c: part[c].isna().to_numpy(dtype=np.float64) for c in part.columns},
                        index=part.index)


def _ifelse_partition(test, yes, no, test_col, yes_spec, no_spec, out_kind, levels):
    t = test[test_col].to_numpy(dtype=np.float64)
    y = _branch_values(yes, yes_spec, out_kind, len(t))
    n = _branch_values(no, no_spec, out_kind, len(t))
    if out_kind == "enum":
        codes = np.where(np.isnan(t), -1, np.where(t != 0, y, n)).astype(np.int64)
        return pd.DataFrame({test_col: pd.Categorical.from_codes(codes, dtype=_cat_dtype(levels))},
                            index=test.index)
    res = np.where(np.isnan(t), np.nan, np.where(t != 0, y, n))
    return pd.DataFrame({test_col: res}, index=test.index)


def _branch_values(part, spec, out_kind, n):
    if spec[0] == "scalar":
        return np.full(n, spec[1], dtype=np.int64 if out_kind == "enum" else np.float64)
    if out_kind == "enum":
        _, name, mapping = spec
        return mapping[part[name].cat.codes.to_numpy()]
    return part[spec[1]].to_numpy(dtype=np.float64)


# -------------------------------------------------------------------- row selection

def _take_positions(part, row_start, positions):
    """Rows of this partition whose global index is in the sorted ``positions``."""
    lo = np.searchsorted(positions, row_start)
    hi = np.searchsorted(positions, row_start + len(part))
    return part.iloc[positions[lo:hi] - row_start]


def _drop_positions(part, row_start, positions):
    lo = np.searchsorted(positions, row_start)
    hi = np.searchsorted(positions, row_start + len(part))
    keep = np.ones(len(part), dtype=bool)
    keep[positions[lo:hi] - row_start] = False
    return part[keep]


def _take_range(part, row_start, start, stop, step):
    n = len(part)
    first = max(start, row_start)
    if step > 1 and first > start:
        first = start + -(-(first - start) // step) * step
    local = np.arange(first, min(stop, row_start + n), step) - row_start
    return part.iloc[local]


def _mask_rows(part, mask, mask_col):
    keep = mask[mask_col].to_numpy(dtype=np.float64)
    return part[(keep != 0) & ~np.isnan(keep)]


def _update_rows(part, value, row_start, rows, plan):
    """Conditional update ``fr[rows, cols] = value`` on one partition; ``rows`` is
    ("mask", column of ``value``/``mask`` frame) or ("positions", sorted array)."""
    mask_part, val_part = value
    n = len(part)
    if rows[0] == "all":
        hit = np.ones(n, dtype=bool)
    elif rows[0] == "mask":
        m = mask_part[rows[1]].to_numpy(dtype=np.float64)
        hit = (m != 0) & ~np.isnan(m)
    else:
        pos = rows[1]
        hit = np.zeros(n, dtype=bool)
        sel = _take_positions(pd.Series(np.arange(n)), row_start, pos)
        hit[sel.to_numpy()] = True
    out = part.copy()
    for name, (kind, payload) in plan.items():
        if kind == "enum":
            levels, new_code, src = payload
            old = part[name]
            codes = (np.asarray(src, dtype=np.int64)[old.cat.codes.to_numpy() + 1]
                     if src is not None else old.cat.codes.to_numpy().astype(np.int64))
            codes = np.where(hit, _value_array(val_part, new_code, n), codes).astype(np.int64)
            out[name] = pd.Categorical.from_codes(codes, dtype=_cat_dtype(levels))
        elif kind == "text":
            new = _value_array(val_part, payload, n, dtype=object)
            out[name] = pd.Series(np.where(hit, new, part[name].to_numpy(dtype=object)),
                                  index=part.index, dtype=object)
        else:
            new = _value_array(val_part, payload, n)
            out[name] = np.where(hit, new, part[name].to_numpy(dtype=np.float64))
    return out


def _value_array(val_part, payload, n, dtype=np.float64):
    if isinstance(payload, tuple) and payload and payload[0] == "col":
        s = val_part[payload[1]]
        if dtype is object:
            return _text_values(val_part, payload[1], payload[2], s.dtype)
        if payload[2] == "enum_codes":
            return payload[3][s.cat.codes.to_numpy() + 1]
        return s.to_numpy(dtype=np.float64)
    return np.full(n, payload, dtype=dtype)


# --------------------------------------------------------------- random partitions

def _runif_partition(part, row_start, seed, name):
    from . import _pcg

    return pd.DataFrame({name: _pcg.runif(seed, row_start, len(part))}, index=part.index)


def _split_partition(part, row_start, seed, ratios, which):
    from . import _pcg

    u = _pcg.runif(seed, row_start, len(part))
    return part[_pcg.split_index(u, ratios) == which]


def _fold_partition(part, row_start, kind, seed, nfolds):
    from . import _pcg

    n = len(part)
    if kind == "modulo":
        folds = _pcg.modulo_folds(row_start, n, nfolds)
    elif kind == "random":
        folds = _pcg.random_folds(seed, row_start, n, nfolds)
    else:  # H2O's frame method stratifies a zero column: every row is class 0
        folds = _pcg.stratified_folds(seed, row_start, np.zeros(n, dtype=np.int64), nfolds)
    return pd.DataFrame({"C1": folds.astype(np.float64)}, index=part.index)


def _class_keys(part, col, typ):
    """Per-row class key (level code or integer value) and the rows that have one."""
    if typ == "enum":
        keys = part[col].cat.codes.to_numpy().astype(np.int64)
        return keys, keys >= 0
    values = part[col].to_numpy(dtype=np.float64)
    ok = ~np.isnan(values)
    return np.where(ok, values, 0).astype(np.int64), ok


def _class_counts(part, col, typ):
    keys, ok = _class_keys(part, col, typ)
    uniq, counts = np.unique(keys[ok], return_counts=True)
    return pd.Series([list(zip(uniq.tolist(), counts.tolist()))])


def _h2o_stratified_draw(size, test_frac, seed):
    """Sorted ranks (within the class) that H2O's stratified split sends to test."""
    from . import _pcg

    target = min(max(math.floor(size * test_frac + 0.5), 1), size)
    picked, count = set(), 0
    while len(picked) < target:
        picked.add(int(_pcg.PCG(seed + count).next_double() * size))
        count += 1
    return np.array(sorted(picked), dtype=np.int64)


def _mark_test_rows(part, col, typ, payload, name):
    keys, ok = _class_keys(part, col, typ)
    test = np.zeros(len(part), dtype=np.int8)
    for k, ranks in payload.items():
        rows = np.flatnonzero(ok & (keys == k))
        test[rows[ranks]] = 1
    return pd.DataFrame({name: pd.Categorical.from_codes(test, dtype=_cat_dtype(["train", "test"]))},
                        index=part.index)


def _resolve_seed(seed):
    from . import _pcg

    return _pcg.resolve_seed(seed)


# ---------------------------------------------------------------------- the frame

class H2OFrame:
    """H2O's two-dimensional frame, held as a lazy dask DataFrame plus H2O column types.

    ``H2OFrame(python_obj)`` guesses types from the object's text like H2O's upload;
    a dask DataFrame is wrapped without copying its data (types from its dtypes).
    """

    def __init__(self, python_obj=None, destination_frame=None, header=0, separator=",",
                 column_names=None, column_types=None, na_strings=None, skipped_columns=None,
                 force_col_types=False):
        if isinstance(python_obj, H2OFrame):
            self._init_core(python_obj._ddf, python_obj._types, python_obj._layout,
                            destination_frame)
            return
        if isinstance(python_obj, dd.Series):
            python_obj = python_obj.to_frame()
        if isinstance(python_obj, dd.DataFrame):
            ddf, types = self._wrap_dask(python_obj, column_names, column_types, skipped_columns)
            self._init_core(ddf, types, _Layout(), destination_frame or _upload_id())
            return
        if python_obj is None:
            pdf, types = pd.DataFrame(index=pd.RangeIndex(0)), {}
        else:
            pdf, types = _typed_from_python(python_obj, header, column_names, column_types,
                                            na_strings, skipped_columns)
        ddf = _from_pandas(pdf)
        lengths = (len(pdf),) if ddf.npartitions == 1 else None  # known without a pass
        self._init_core(ddf, types, _Layout(lengths), destination_frame or _upload_id())

    @staticmethod
    def _wrap_dask(ddf, column_names, column_types, skipped_columns):
        if skipped_columns:
            ddf = ddf[[c for j, c in enumerate(ddf.columns) if j not in set(skipped_columns)]]
        if column_names is not None:
            if len(column_names) != len(ddf.columns):
                raise H2OValueError(f"column_names has {len(column_names)} names but the dask "
                                    f"DataFrame has {len(ddf.columns)} columns")
            ddf = ddf.rename(columns=dict(zip(ddf.columns, column_names)))
        if any(not isinstance(c, str) for c in ddf.columns):
            ddf = ddf.rename(columns={c: str(c) for c in ddf.columns})
        types, plan = _types_from_dask(ddf)
        if plan:
            meta = _apply_plan(ddf._meta, plan)
            ddf = ddf.map_partitions(_apply_plan, plan, meta=meta)
        frame_types = dict(types)
        if column_types:
            fr = H2OFrame._from_dask(ddf, frame_types)
            fr = fr._force_types(column_types)
            return fr._ddf, fr._types
        return ddf, frame_types

    def _init_core(self, ddf, types, layout, frame_id):
        self._ddf = ddf
        self._types = dict(types)
        self._layout = layout
        self._frame_id = frame_id or _temp_id()
        registry.register(self, self._frame_id, weak=frame_id is None)

    @classmethod
    def _from_dask(cls, ddf, types, frame_id=None):
        """Wrap a dask DataFrame that already follows the storage contract (no copy,
        no computation)."""
        if list(types) != list(ddf.columns):
            raise H2OValueError(f"types {list(types)} do not match the columns {list(ddf.columns)}")
        fr = cls.__new__(cls)
        fr._init_core(ddf, types, _Layout(), frame_id)
        return fr

    def _derive(self, ddf, types, same_rows=True):
        fr = H2OFrame.__new__(H2OFrame)
        fr._init_core(ddf, types, self._layout if same_rows else _Layout(), None)
        return fr

    def to_dask(self):
        """The underlying dask DataFrame (storage contract of the module docstring)."""
        return self._ddf

    # ------------------------------------------------------------------ ids, shape

    @property
    def frame_id(self):
        return self._frame_id

    @frame_id.setter
    def frame_id(self, value):
        if not isinstance(value, str) or not value:
            raise H2OValueError("frame_id must be a non-empty string")
        registry.rename(self._frame_id, value, self)
        self._frame_id = value

    @property
    def key(self):
        return self._frame_id

    @property
    def names(self):
        return list(self._types)

    @names.setter
    def names(self, value):
        self.set_names(value)

    columns = names
    col_names = names

    def _row_lengths(self):
        if self._layout.lengths is None:
            self._layout.lengths = _partition_lengths(self._ddf)
        return self._layout.lengths

    def _offsets(self):
        return np.concatenate([[0], np.cumsum(self._row_lengths())[:-1]]).astype(np.int64)

    @property
    def nrow(self):
        return int(sum(self._row_lengths()))

    nrows = nrow

    @property
    def ncol(self):
        return len(self._types)

    ncols = ncol

    @property
    def dim(self):
        return [self.nrow, self.ncol]

    @property
    def shape(self):
        return self.nrow, self.ncol

    def __len__(self):
        return self.nrow

    @property
    def types(self):
        return dict(self._types)

    @property
    def dtypes(self):
        return dict(self._types)

    def type(self, col):
        return self._types[self.names[self._col_index(col)]]

    def columns_by_type(self, coltype="numeric"):
        wanted = {"numeric": NUMERIC_TYPES, "categorical": ("enum",), "string": ("string",),
                  "time": ("time",), "uuid": ("uuid",), "bad": ("bad",)}
        if coltype not in wanted:
            raise H2OValueError(f"coltype must be one of {sorted(wanted)}, got {coltype!r}")
        return [float(j) for j, t in enumerate(self._types.values()) if t in wanted[coltype]]

    def isfactor(self):
        return [t == "enum" for t in self._types.values()]

    def anyfactor(self):
        return any(self.isfactor())

    def isnumeric(self):
        return [t in NUMERIC_TYPES for t in self._types.values()]

    def isstring(self):
        return [t == "string" for t in self._types.values()]

    ischaracter = isstring

    def levels(self):
        """Per column the list of levels (``[]`` for non-enum columns)."""
        return [_levels_of(self._ddf.dtypes[c]) if t == "enum" else []
                for c, t in self._types.items()]

    def nlevels(self):
        return [len(lv) for lv in self.levels()]

    def nacnt(self):
        """NA count per column, as floats like H2O."""
        return frame_stats.nacnt(self._ddf, self._types)

    # ------------------------------------------------------------------ columns

    def _col_index(self, col):
        names = self.names
        if isinstance(col, (int, np.integer)) and not isinstance(col, bool):
            j = int(col)
            if not -len(names) <= j < len(names):
                raise IndexError(f"column index {j} is out of range for a frame with "
                                 f"{len(names)} columns")
            return j % len(names)
        if isinstance(col, float) and col.is_integer():
            return self._col_index(int(col))
        if isinstance(col, str):
            if col in self._types:
                return names.index(col)
            close = difflib.get_close_matches(col, names, n=3, cutoff=0.5)
            hint = f" Did you mean {close}?" if close else ""
            shown = names if len(names) <= 20 else names[:20] + ["..."]
            raise KeyError(f"Column '{col}' does not exist in the frame.{hint} "
                           f"Columns: {shown}")
        raise H2OValueError(f"cannot select a column with {col!r}; use a name or an index")

    def _col_indices(self, cols):
        if isinstance(cols, slice):
            return list(range(self.ncol))[cols]
        if isinstance(cols, range):
            cols = list(cols)
        if isinstance(cols, (list, tuple, np.ndarray)):
            if len(cols) and all(isinstance(c, (bool, np.bool_)) for c in cols):
                return [j for j, keep in enumerate(cols) if keep]
            return [self._col_index(c) for c in cols]
        return [self._col_index(cols)]

    def _select_cols(self, idx):
        names = [self.names[j] for j in idx]
        if len(set(names)) != len(names):
            raise H2OValueError(f"a column is selected twice in {names}")
        return self._derive(self._ddf[names], {c: self._types[c] for c in names})

    # ------------------------------------------------------------------ rows

    def _aligned_ddf(self, other):
        """``other``'s dask DataFrame cut into this frame's partitions, row for row."""
        if other._layout is self._layout:
            return other._ddf
        mine, theirs = self._row_lengths(), other._row_lengths()
        if sum(mine) != sum(theirs):
            raise H2OValueError(f"frames have different numbers of rows: {sum(mine)} and "
                                f"{sum(theirs)}")
        if mine == theirs:
            return other._ddf
        return _realign(other._ddf, theirs, mine)

    def _filter_mask(self, mask):
        if mask.ncol != 1:
            raise H2OValueError(f"a row mask must have one column, got {mask.ncol}")
        mask_ddf = self._aligned_ddf(mask)
        col = mask.names[0]
        ddf = self._ddf.map_partitions(_mask_rows, mask_ddf, col, meta=self._ddf._meta,
                                       align_dataframes=False)
        return self._derive(ddf, self._types, same_rows=False)

    def _row_positions(self, rows):
        """Global positions (int64 array) for an int / list / slice row selector,
        negatives counted from the end."""
        nrow = self.nrow
        if isinstance(rows, slice):
            return np.arange(*rows.indices(nrow), dtype=np.int64)
        if isinstance(rows, range):
            rows = list(rows)
        items = np.atleast_1d(np.asarray(rows))
        if items.dtype == bool:
            if len(items) != nrow:
                raise H2OValueError(f"a boolean row list must have {nrow} entries, got {len(items)}")
            return np.flatnonzero(items).astype(np.int64)
        if items.size and items.dtype.kind not in "iu":
            if items.dtype.kind == "f" and np.all(np.mod(items, 1) == 0):
                items = items.astype(np.int64)
            else:
                raise H2OValueError(f"row selector must hold integers, got {rows!r}")
        items = items.astype(np.int64)
        bad = items[(items < -nrow) | (items >= nrow)]
        if bad.size:
            raise IndexError(f"row index {int(bad[0])} is out of range for a frame with {nrow} rows")
        return np.where(items < 0, items + nrow, items)

    def _take_rows(self, rows):
        if isinstance(rows, slice) and (rows.step is None or rows.step > 0):
            start, stop, step = rows.indices(self.nrow)
            offsets, lengths = self._offsets(), np.asarray(self._row_lengths())
            # read only the partitions that hold selected rows (head of a big import)
            keep = [k for k in range(len(lengths))
                    if offsets[k] < stop and offsets[k] + lengths[k] > start] or [0]
            ddf = self._ddf if len(keep) == len(lengths) else self._ddf.partitions[keep]
            ddf = _map_rows(ddf, _take_range, offsets[keep], self._ddf._meta, start, stop, step)
            return self._derive(ddf, self._types, same_rows=False)
        positions = self._row_positions(rows)
        order = np.unique(positions)
        ddf = _map_rows(self._ddf, _take_positions, self._offsets(), self._ddf._meta, order)
        if len(order) == len(positions) and np.all(order == positions):
            return self._derive(ddf, self._types, same_rows=False)
        # unsorted or repeated rows: the selection is small, gather it into one partition
        picked = ddf.repartition(npartitions=1)
        where = np.searchsorted(order, positions)
        ddf = picked.map_partitions(lambda p: p.iloc[where], meta=self._ddf._meta)
        return self._derive(ddf, self._types, same_rows=False)

    def _scalar(self, row, col):
        j = self._col_index(col)
        name, typ = self.names[j], self._types[self.names[j]]
        i = int(self._row_positions(row)[0])
        offsets = self._offsets()
        k = int(np.searchsorted(offsets, i, side="right") - 1)
        while self._row_lengths()[k] == 0:
            k += 1
        value = self._ddf[name].partitions[k].compute().iloc[i - offsets[k]]
        if typ == "enum" or typ in TEXT_TYPES:
            return None if pd.isna(value) else str(value)
        return float(value)

    # ------------------------------------------------------------------ indexing

    def __getitem__(self, item):
        if isinstance(item, tuple):
            if len(item) != 2:
                raise H2OValueError("index a frame with fr[rows, cols]")
            rows, cols = item
            if _is_int(rows) and (isinstance(cols, str) or _is_int(cols)):
                return self._scalar(rows, cols)
            fr = self if _is_all(cols) else self._select_cols(self._col_indices(cols))
            if _is_all(rows):
                return fr
            if isinstance(rows, H2OFrame):
                return fr._filter_mask(rows)
            return fr._take_rows(rows)
        if isinstance(item, H2OFrame):
            return self._filter_mask(item)
        return self._select_cols(self._col_indices(item))

    def __setitem__(self, item, value):
        if isinstance(item, tuple):
            if len(item) != 2:
                raise H2OValueError("assign with fr[rows, cols] = value")
            rows, cols = item
            self._update(rows, self._col_indices(cols) if not _is_all(cols)
                         else list(range(self.ncol)), value)
            return
        if isinstance(item, H2OFrame):
            self._update(item, list(range(self.ncol)), value)
            return
        if isinstance(item, (list, tuple)):
            cols = list(item)
            if isinstance(value, H2OFrame) and value.ncol == len(cols):
                for j, c in enumerate(cols):
                    self[c] = value[j]
                return
            for c in cols:
                self[c] = value
            return
        if isinstance(item, str):
            name = item
        elif _is_int(item):
            j = int(item)
            name = self.names[self._col_index(j)] if j != self.ncol else f"C{j + 1}"
        else:
            raise H2OValueError(f"cannot assign to {item!r}; use a column name or index")
        self._set_column(name, value)

    def _set_column(self, name, value):
        if isinstance(value, H2OFrame):
            if value.ncol != 1:
                raise H2OValueError(f"assign a one-column frame to '{name}', got {value.ncol} columns")
            src = self._aligned_ddf(value)
            src_name, typ = value.names[0], value._types[value.names[0]]
            meta = self._ddf._meta.assign(**{name: value._ddf._meta[src_name]})
            ddf = self._ddf.map_partitions(_assign_column, src, name, src_name, meta=meta,
                                           align_dataframes=False)
        else:
            series, typ = _constant_column(value)
            meta = self._ddf._meta.assign(**{name: series.iloc[:0]})
            ddf = self._ddf.map_partitions(_assign_constant, name, series.iloc[:1], meta=meta)
        types = dict(self._types)
        types[name] = typ
        self._ddf = ddf
        self._types = {c: types[c] for c in ddf.columns}

    def _update(self, rows, idx, value):
        """``fr[rows, cols] = value``: conditional update of existing columns."""
        names = [self.names[j] for j in idx]
        other = None
        if isinstance(rows, H2OFrame):
            if rows.ncol != 1:
                raise H2OValueError("a row mask must have one column")
            row_spec, other = ("mask", rows.names[0]), rows
        elif _is_all(rows):
            row_spec = ("all",)
        else:
            row_spec = ("positions", np.unique(self._row_positions(rows)))
        val_frame = None
        if isinstance(value, H2OFrame):
            if value.ncol != 1:
                raise H2OValueError("assign a one-column frame or a scalar")
            val_frame = value
        plan, types = {}, dict(self._types)
        for name in names:
            plan[name], types[name] = self._update_plan(name, value, val_frame)
        mask_ddf = self._aligned_ddf(other) if other is not None else None
        val_ddf = self._aligned_ddf(val_frame) if val_frame is not None else None
        meta = _update_meta(self._ddf._meta, plan)
        ddf = _map_rows(self._ddf, _update_rows_parts, self._offsets() if row_spec[0] == "positions"
                        else [0] * self._ddf.npartitions, meta, mask_ddf, val_ddf, row_spec, plan)
        self._ddf, self._types = ddf, types

    def _update_plan(self, name, value, val_frame):
        typ = self._types[name]
        dtype = self._ddf.dtypes[name]
        if typ == "enum":
            levels = _levels_of(dtype)
            if val_frame is not None:
                vname, vtyp = val_frame.names[0], val_frame._types[val_frame.names[0]]
                vlevels = (_levels_of(val_frame._ddf.dtypes[vname]) if vtyp == "enum" else None)
                if vlevels is None:
                    raise H2OValueError(f"column '{name}' is enum; assign an enum column or a string")
                new = sorted(set(levels) | set(vlevels))
                src = np.array([-1] + [new.index(v) for v in levels], dtype=np.int64)
                vmap = np.array([-1] + [new.index(v) for v in vlevels], dtype=np.int64)
                return ("enum", (new, ("col", vname, "enum_codes", vmap), src)), "enum"
            if value is None:
                return ("enum", (levels, -1, None)), "enum"
            text = str(value)
            if text in levels:
                return ("enum", (levels, levels.index(text), None)), "enum"
            new = sorted(levels + [text])
            src = np.array([-1] + [new.index(v) for v in levels], dtype=np.int64)
            return ("enum", (new, new.index(text), src)), "enum"
        if typ in TEXT_TYPES:
            if val_frame is not None:
                vname = val_frame.names[0]
                return ("text", ("col", vname, val_frame._types[vname])), typ
            return ("text", None if value is None else str(value)), typ
        if val_frame is not None:
            vname, vtyp = val_frame.names[0], val_frame._types[val_frame.names[0]]
            if vtyp not in NUMERIC_TYPES + ("time",):
                raise H2OValueError(f"cannot put {vtyp} values into {typ} column '{name}'")
            new_typ = typ if vtyp == typ else "real"
            return ("num", ("col", vname, vtyp)), new_typ
        if value is None:
            return ("num", np.nan), typ
        if isinstance(value, str):
            raise H2OValueError(f"cannot put the string {value!r} into {typ} column '{name}'")
        number = float(value)
        whole = number.is_integer() or math.isnan(number)
        return ("num", number), typ if (whole or typ == "real") else "real"

    def drop(self, index, axis=1):
        """A new frame without the given columns (axis=1) or rows (axis=0)."""
        if axis == 0:
            drop = np.unique(self._row_positions(index if isinstance(index, (list, tuple))
                                                 else [index]))
            ddf = _map_rows(self._ddf, _drop_positions, self._offsets(), self._ddf._meta, drop)
            return self._derive(ddf, self._types, same_rows=False)
        drop = set(self._col_indices(index if isinstance(index, (list, tuple)) else [index]))
        return self._select_cols([j for j in range(self.ncol) if j not in drop])

    def pop(self, i):
        """Remove a column from this frame and return it as a one-column frame."""
        j = self._col_index(i)
        col = self._select_cols([j])
        rest = self._select_cols([k for k in range(self.ncol) if k != j])
        self._ddf, self._types = rest._ddf, rest._types
        return col

    def set_names(self, names):
        """Rename every column (in place; returns the frame)."""
        names = [str(n) for n in names]
        if len(names) != self.ncol:
            raise H2OValueError(f"expected {self.ncol} names, got {len(names)}")
        if len(set(names)) != len(names):
            raise H2OValueError(f"column names must be unique, got {names}")
        mapping = dict(zip(self.names, names))
        self._ddf = self._ddf.rename(columns=mapping)
        self._types = {mapping[c]: t for c, t in self._types.items()}
        return self

    def set_name(self, col=None, name=None):
        """Rename one column (in place; returns the frame)."""
        if col is None:
            if self.ncol != 1:
                raise H2OValueError("give col= on a frame with more than one column")
            col = 0
        names = self.names
        j = self._col_index(col)
        if name != names[j] and name in self._types:
            raise H2OValueError(f"Column '{name}' already exists in the frame")
        names[j] = name
        return self.set_names(names)

    def rename(self, columns=None):
        """Rename the columns in ``columns`` (dict old -> new, or index -> new); like
        H2O, keys that name no column are ignored."""
        names = self.names
        for old, new in (columns or {}).items():
            if _is_int(old) and -self.ncol <= old < self.ncol:
                names[old % self.ncol] = new
            elif isinstance(old, str) and old in self._types:
                names[names.index(old)] = new
        return self.set_names(names)

    def __iter__(self):
        return (self[j] for j in range(self.ncol))

    def __contains__(self, item):
        values = item if isinstance(item, (list, tuple)) else [item]
        return all(self._has_value(v) for v in values)

    def _has_value(self, value):
        texty = isinstance(value, str)
        cols = [c for c, t in self._types.items()
                if (t in ("enum",) + TEXT_TYPES) == texty]
        return any(self[c]._binary(value, "==").any() for c in cols)

    # ------------------------------------------------------------------ math

    def _column_specs(self, side):
        return [("col", side, c, t, self._ddf.dtypes[c]) for c, t in self._types.items()]

    def _binary(self, other, op, reflected=False):
        n_self = self.ncol
        if isinstance(other, H2OFrame):
            if other.ncol != n_self and 1 not in (other.ncol, n_self):
                raise H2OValueError(f"cannot combine frames of {n_self} and {other.ncol} columns")
            mine, theirs = self._column_specs(0), other._column_specs(1)
            width = max(n_self, other.ncol)
            mine = mine * width if len(mine) == 1 else mine
            theirs = theirs * width if len(theirs) == 1 else theirs
            names = self.names if n_self == width else other.names
            other_ddf = self._aligned_ddf(other)
        else:
            if not (other is None or isinstance(other, (str, int, float, np.number, bool))):
                raise H2OValueError(f"cannot combine a frame with {type(other).__name__}")
            mine = self._column_specs(0)
            theirs = [("scalar", other)] * n_self
            names, other_ddf = self.names, None
        if reflected:
            mine, theirs = theirs, mine
        plan, types = [], {}
        for name, left, right in zip(names, mine, theirs):
            mode, typ = _op_mode(op, left, right)
            plan.append((op, mode, left, right))
            types[name] = typ
        meta = pd.DataFrame({c: pd.Series([], dtype=np.float64) for c in names})
        args = [other_ddf] if other_ddf is not None else [None]
        ddf = self._ddf.map_partitions(_binary_partition, *args, plan, names, meta=meta,
                                       align_dataframes=False)
        return self._derive(ddf, types)

    def __add__(self, o): return self._binary(o, "+")
    def __radd__(self, o): return self._binary(o, "+", True)
    def __sub__(self, o): return self._binary(o, "-")
    def __rsub__(self, o): return self._binary(o, "-", True)
    def __mul__(self, o): return self._binary(o, "*")
    def __rmul__(self, o): return self._binary(o, "*", True)
    def __truediv__(self, o): return self._binary(o, "/")
    def __rtruediv__(self, o): return self._binary(o, "/", True)
    def __floordiv__(self, o): return self._binary(o, "//")
    def __rfloordiv__(self, o): return self._binary(o, "//", True)
    def __mod__(self, o): return self._binary(o, "%")
    def __rmod__(self, o): return self._binary(o, "%", True)
    def __pow__(self, o): return self._binary(o, "**")
    def __rpow__(self, o): return self._binary(o, "**", True)
    def __eq__(self, o): return self._binary(o, "==")
    def __ne__(self, o): return self._binary(o, "!=")
    def __lt__(self, o): return self._binary(o, "<")
    def __le__(self, o): return self._binary(o, "<=")
    def __gt__(self, o): return self._binary(o, ">")
    def __ge__(self, o): return self._binary(o, ">=")
    def __and__(self, o): return self._binary(o, "&")
    def __rand__(self, o): return self._binary(o, "&", True)
    def __or__(self, o): return self._binary(o, "|")
    def __ror__(self, o): return self._binary(o, "|", True)
    def __neg__(self): return self._binary(-1, "*")
    def __pos__(self): return self
    def __invert__(self): return self._unary("not")
    def __abs__(self): return self._unary("abs")

    __hash__ = object.__hash__

    def __bool__(self):
        if self.shape == (1, 1):
            return bool(self[0, 0])
        raise H2OValueError("the truth value of an H2OFrame with more than one value is "
                            "ambiguous; use .any() or .all(), or parentheses around & and |")

    def _unary(self, fname, **kwargs):
        func = _math(fname)
        for c, t in self._types.items():
            if t not in NUMERIC_TYPES + ("time",):
                raise H2OValueError(f"{fname}() needs numeric columns; column '{c}' is {t} "
                                    "(convert with asnumeric())")
        int_result = fname in _INT_RESULT or (fname == "round" and int(kwargs.get("digits", 0)) <= 0)
        types = {c: "int" if int_result or (fname == "abs" and t == "int") else "real"
                 for c, t in self._types.items()}
        meta = pd.DataFrame({c: pd.Series([], dtype=np.float64) for c in self._types})
        ddf = self._ddf.map_partitions(_unary_partition, func, self.names, kwargs, meta=meta)
        fr = self._derive(ddf, types)
        # H2O names math results after the call (``log(a)``); round/signif/not keep names
        if fname not in ("round", "signif", "not"):
            fr.set_names([f"{fname}({c})" for c in self.names])
        return fr

    def round(self, digits=0):
        return self._unary("round", digits=digits)

    def signif(self, digits=6):
        return self._unary("signif", digits=digits)

    def isna(self):
        """0/1 int frame: 1 where the value is missing."""
        meta = pd.DataFrame({c: pd.Series([], dtype=np.float64) for c in self._types})
        ddf = self._ddf.map_partitions(_isna_partition, meta=meta)
        fr = self._derive(ddf, {c: "int" for c in self._types})
        return fr.set_names([f"isNA({c})" for c in self.names])

    def ifelse(self, yes, no):
        """Per row: ``yes`` where this 0/1 column is non-zero, ``no`` where zero, NA
        where NA. ``yes``/``no`` are scalars or one-column frames."""
        if self.ncol != 1:
            raise H2OValueError("ifelse() needs a one-column test frame")
        test_col = self.names[0]
        branches = [yes, no]
        texts = [isinstance(b, str) or (isinstance(b, H2OFrame) and b._types[b.names[0]] == "enum")
                 for b in branches]
        ddfs = [self._aligned_ddf(b) if isinstance(b, H2OFrame) else None for b in branches]
        if any(texts):
            if not all(texts):
                raise H2OValueError("ifelse() branches must both be text/enum or both numeric")
            levels = sorted({lv for b in branches for lv in
                             ([b] if isinstance(b, str) else _levels_of(b._ddf.dtypes[b.names[0]]))})
            specs = []
            for b in branches:
                if isinstance(b, str):
                    specs.append(("scalar", levels.index(b)))
                else:
                    mapping = np.array([levels.index(v) for v in _levels_of(b._ddf.dtypes[b.names[0]])]
                                       + [-1], dtype=np.int64)
                    specs.append(("col", b.names[0], mapping))
            meta = pd.DataFrame({test_col: pd.Categorical([], dtype=_cat_dtype(levels))})
            typ, kind = "enum", "enum"
        else:
            specs = [("scalar", np.nan if b is None else float(b)) if not isinstance(b, H2OFrame)
                     else ("col", b.names[0]) for b in branches]
            ints = all((isinstance(b, H2OFrame) and b._types[b.names[0]] == "int")
                       or (not isinstance(b, H2OFrame) and (b is None or float(b).is_integer()))
                       for b in branches)
            meta, typ, kind, levels = pd.DataFrame({test_col: pd.Series([], dtype=np.float64)}), \
                "int" if ints else "real", "num", None
        ddf = self._ddf.map_partitions(_ifelse_partition, ddfs[0], ddfs[1], test_col, specs[0],
                                       specs[1], kind, levels, meta=meta, align_dataframes=False)
        return self._derive(ddf, {test_col: typ}).set_names(["C1"])

    def cut(self, breaks, labels=None, include_lowest=False, right=True, dig_lab=3):
        """Bin a numeric column into an enum column (R's ``cut``)."""
        if self.ncol != 1 or self._types[self.names[0]] not in NUMERIC_TYPES:
            raise H2OValueError("cut() needs one numeric column")
        breaks = [float(b) for b in breaks]
        if len(breaks) < 2 or any(b2 <= b1 for b1, b2 in zip(breaks, breaks[1:])):
            raise H2OValueError(f"breaks must be at least 2 increasing numbers, got {breaks}")
        if labels is None:
            fmt = [_java_double_text(round(b, int(dig_lab))) for b in breaks]
            labels = [f"({a},{b}]" if right else f"[{a},{b})" for a, b in zip(fmt, fmt[1:])]
            if include_lowest:
                labels[0 if right else -1] = (("[" + labels[0][1:]) if right
                                              else (labels[-1][:-1] + "]"))
        labels = [str(lb) for lb in labels]
        if len(labels) != len(breaks) - 1:
            raise H2OValueError(f"need {len(breaks) - 1} labels, got {len(labels)}")
        name = self.names[0]
        meta = pd.DataFrame({name: pd.Categorical([], dtype=_cat_dtype(labels))})
        ddf = self._ddf.map_partitions(_cut_partition, name, breaks, labels, include_lowest, right,
                                       meta=meta)
        return self._derive(ddf, {name: "enum"})

    def any(self):
        """True if any value is non-zero (NAs ignored)."""
        hits = self.isna()._binary(0, "==") & self._numeric_view()._binary(0, "!=")
        return bool(hits._ddf.max().max().compute() == 1)

    def all(self):
        """True if every non-NA value is non-zero."""
        zeros = self._numeric_view()._binary(0, "==")
        return not bool(zeros._ddf.max().max().compute() == 1)

    def _numeric_view(self):
        return self if all(t in NUMERIC_TYPES + ("time",) for t in self._types.values()) \
            else self.asnumeric()

    # ------------------------------------------------------------------ conversion

    def asfactor(self):
        """Enum columns: int columns get their distinct values sorted numerically,
        string columns sorted lexicographically (H2O)."""
        todo = []
        for c, t in self._types.items():
            if t in ("int", "string"):
                todo.append(c)
            elif t != "enum":
                raise H2OValueError(f"Only 'int' or 'string' are allowed for asfactor(), got {c}:{t}")
        uniques = dask.compute(*[self._ddf[c].dropna().unique() for c in todo])
        plan = {}
        for c, values in zip(todo, uniques):
            if len(values) > MAX_FACTOR_LEVELS:
                raise H2OValueError(f"column '{c}' has {len(values)} distinct values, more than "
                                    f"MAX_FACTOR_LEVELS={MAX_FACTOR_LEVELS}; asfactor() refuses")
            if self._types[c] == "int":
                nums = np.sort(np.asarray(values, dtype=np.float64))
                plan[c] = ("from_int", nums, [_format_number(v, "int") for v in nums])
            else:
                plan[c] = ("from_text", sorted(str(v) for v in values))
        meta = _factor_partition(self._ddf._meta, plan)
        ddf = self._ddf.map_partitions(_factor_partition, plan, meta=meta) if plan else self._ddf
        return self._derive(ddf, {c: "enum" for c in self._types})

    def asnumeric(self):
        """Numeric columns: enum levels that all parse as numbers give those numbers,
        else the level codes; strings are parsed (unparseable -> NA)."""
        types, plan = {}, {}
        for c, t in self._types.items():
            if t == "enum":
                levels = _levels_of(self._ddf.dtypes[c])
                nums = [_parse_float(v) for v in levels]
                if levels and not any(np.isnan(nums)):
                    plan[c] = ("levels", np.array(nums + [np.nan]))
                    types[c] = "int" if all(float(v).is_integer() for v in nums) else "real"
                else:
                    plan[c], types[c] = ("codes",), "int"
            elif t in TEXT_TYPES:
                plan[c], types[c] = ("parse",), "real"
            else:
                types[c] = t if t in NUMERIC_TYPES else "int"
        meta = pd.DataFrame({c: pd.Series([], dtype=np.float64) for c in self._types})
        ddf = self._ddf.map_partitions(_numeric_partition, plan, meta=meta)
        return self._derive(ddf, types)

    def ascharacter(self):
        """String columns (enum levels, numbers as H2O prints them)."""
        types = {c: ("string" if t != "uuid" else t) for c, t in self._types.items()}
        meta = pd.DataFrame({c: pd.Series([], dtype=object) for c in self._types})
        ddf = self._ddf.map_partitions(_character_partition, dict(self._types), meta=meta)
        return self._derive(ddf, types)

    def _force_types(self, column_types):
        """Cast columns to user-given H2O types (list by position or dict by name)."""
        if isinstance(column_types, (list, tuple)):
            column_types = dict(zip(self.names, column_types))
        fr = self
        for c, t in column_types.items():
            t = {"numeric": "real", "float": "real", "double": "real", "factor": "enum",
                 "categorical": "enum"}.get(str(t).lower(), str(t).lower())
            have = fr._types[fr.names[fr._col_index(c)]]
            if t == have or (t == "real" and have == "int"):
                continue
            col = fr[c]
            if t == "enum":
                col = (col if have in ("int", "string") else col.ascharacter()).asfactor()
            elif t in ("int", "real"):
                col = col.asnumeric()
            elif t in TEXT_TYPES:
                col = col.ascharacter()
            else:
                raise H2OValueError(f"column_types: cannot turn {have} column '{c}' into {t}")
            fr[c] = col
        return fr

    def relevel(self, y):
        """Move level ``y`` to the front of the domain."""
        return self._recode_levels(lambda levels, c: [y] + [v for v in levels if v != y], y)

    def relevel_by_frequency(self, weights_column=None, top_n=-1):
        """Order levels by decreasing frequency (ties keep domain order)."""
        counts = {}
        for c, t in self._types.items():
            if t == "enum":
                counts[c] = self._ddf[c].cat.codes.value_counts()
        computed = dict(zip(counts, dask.compute(*counts.values())))

        def order(levels, c):
            freq = computed[c]
            ranked = sorted(range(len(levels)), key=lambda k: (-int(freq.get(k, 0)), k))
            if top_n is not None and top_n > 0:
                ranked = ranked[:top_n] + sorted(ranked[top_n:])
            return [levels[k] for k in ranked]

        return self._recode_levels(order, None)

    def _recode_levels(self, new_order, must_have):
        plan, types = {}, dict(self._types)
        for c, t in self._types.items():
            if t != "enum":
                continue
            levels = _levels_of(self._ddf.dtypes[c])
            if must_have is not None and must_have not in levels:
                raise H2OValueError(f"level '{must_have}' is not a level of column '{c}': {levels}")
            new = new_order(levels, c)
            plan[c] = (new, np.array([new.index(v) for v in levels] + [-1], dtype=np.int64))
        if not plan:
            raise H2OValueError("the frame has no enum column to relevel")
        meta = _recode_partition(self._ddf._meta, plan)
        ddf = self._ddf.map_partitions(_recode_partition, plan, meta=meta)
        return self._derive(ddf, types)

    def set_levels(self, levels):
        """Replace the labels of the domain (same number of levels)."""
        if self.ncol != 1 or self._types[self.names[0]] != "enum":
            raise H2OValueError("set_levels() needs one enum column")
        c = self.names[0]
        old = _levels_of(self._ddf.dtypes[c])
        levels = [str(v) for v in levels]
        if len(levels) != len(old) or len(set(levels)) != len(levels):
            raise H2OValueError(f"set_levels() needs {len(old)} distinct levels, got {levels}")
        meta = pd.DataFrame({c: pd.Categorical([], dtype=_cat_dtype(levels))})
        ddf = self._ddf.map_partitions(_relabel_partition, c, levels, meta=meta)
        return self._derive(ddf, {c: "enum"})

    def set_level(self, level):
        """Every value of the enum column becomes ``level`` (must be a level)."""
        if self.ncol != 1 or self._types[self.names[0]] != "enum":
            raise H2OValueError("set_level() needs one enum column")
        c = self.names[0]
        levels = _levels_of(self._ddf.dtypes[c])
        if level not in levels:
            raise H2OValueError(f"'{level}' is not a level of column '{c}': {levels}")
        out = H2OFrame._from_dask(self._ddf, self._types)
        out._layout = self._layout
        out[:, c] = level
        return out

    def na_omit(self):
        """Rows without any missing value."""
        ddf = self._ddf.dropna(how="any")
        return self._derive(ddf, self._types, same_rows=False)

    # ------------------------------------------------------------------ combining

    def cbind(self, data):
        """Columns of ``self`` then of ``data`` (frame, list of frames or scalar);
        a repeated name gets the suffix ``0``."""
        others = data if isinstance(data, (list, tuple)) else [data]
        out = H2OFrame._from_dask(self._ddf, self._types)
        out._layout = self._layout
        for other in others:
            if not isinstance(other, H2OFrame):
                other = out._constant_frame(other)
            for j, name in enumerate(other.names):
                new, k = name, 0
                while new in out._types:
                    new, k = f"{name}{k}", k + 1
                out._set_column(new, other[j])
        return out

    def concat(self, frames, axis=1):
        """cbind (axis=1) or rbind (axis=0) of this frame and ``frames``."""
        if not frames:
            raise ValueError("Input list of frames is empty! Nothing to concat.")
        return self.cbind(frames) if axis == 1 else self.rbind(frames)

    def _constant_frame(self, value):
        series, typ = _constant_column(value)
        meta = pd.DataFrame({"C1": series.iloc[:0]})
        ddf = self._ddf.map_partitions(lambda p, s: pd.DataFrame({"C1": s.iloc[[0] * len(p)].to_numpy()},
                                                                  index=p.index), series.iloc[:1],
                                       meta=meta)
        return self._derive(ddf, {"C1": typ})

    def rbind(self, data):
        """Rows of ``self`` then of ``data`` (frame or list): same names, compatible
        types; enum domains are unioned and sorted."""
        frames = [self] + list(data if isinstance(data, (list, tuple)) else [data])
        for fr in frames[1:]:
            if not isinstance(fr, H2OFrame):
                raise H2OValueError(f"rbind() takes H2OFrames, got {type(fr).__name__}")
            if fr.names != self.names:
                raise H2OValueError(f"rbind() needs the same column names in the same order: "
                                    f"{self.names} vs {fr.names}")
        types = {}
        for c in self.names:
            kinds = {fr._types[c] for fr in frames}
            if len(kinds) == 1:
                types[c] = kinds.pop()
            elif kinds <= {"int", "real"}:
                types[c] = "real"
            else:
                raise H2OValueError(f"rbind(): column '{c}' has incompatible types {sorted(kinds)}")
        domains = {c: sorted({lv for fr in frames for lv in _levels_of(fr._ddf.dtypes[c])})
                   for c, t in types.items() if t == "enum"}
        parts, lengths = [], []
        for fr in frames:
            plan = {}
            for c, t in types.items():
                if t == "enum":
                    old = _levels_of(fr._ddf.dtypes[c])
                    plan[c] = (domains[c], np.array([domains[c].index(v) for v in old] + [-1],
                                                    dtype=np.int64))
            ddf = fr._ddf
            if plan:
                ddf = ddf.map_partitions(_recode_partition, plan,
                                         meta=_recode_partition(ddf._meta, plan))
            if any(fr._types[c] != t for c, t in types.items()):
                conv = {c: t for c, t in types.items() if fr._types[c] != t}
                ddf = ddf.map_partitions(_character_or_real, conv,
                                         meta=_character_or_real(ddf._meta, conv))
            parts.append(ddf)
            lengths.append(fr._layout.lengths)
        with dask.config.set({"dataframe.convert-string": False}):
            ddf = dd.concat(parts, interleave_partitions=False)
        out = self._derive(ddf, types, same_rows=False)
        if all(length is not None for length in lengths):
            out._layout.lengths = tuple(itertools.chain.from_iterable(lengths))
        return out

    def merge(self, other, all_x=False, all_y=False, by_x=None, by_y=None, method="auto"):
        """Join on the common columns (or ``by_x``/``by_y``); enum keys match by level."""
        if by_x is None and by_y is None:
            by_x = by_y = [c for c in self.names if c in other._types]
        by_x = [self.names[self._col_index(c)] for c in (by_x if isinstance(by_x, list) else [by_x])]
        by_y = [other.names[other._col_index(c)] for c in (by_y if isinstance(by_y, list) else [by_y])]
        if not by_x or len(by_x) != len(by_y):
            raise H2OValueError("merge() needs matching key columns (by_x, by_y)")
        how = {(False, False): "inner", (True, False): "left", (False, True): "right",
               (True, True): "outer"}[(bool(all_x), bool(all_y))]
        left = self._text_keys(by_x)
        right = other._text_keys(by_y)
        rename = {y: x for x, y in zip(by_x, by_y)}
        right_cols = [c for c in other.names if c not in by_y]
        clash = {c: c + "0" for c in right_cols if c in self._types}
        rddf = right.rename(columns={**rename, **clash})
        with dask.config.set({"dataframe.convert-string": False}):
            ddf = left.merge(rddf, how=how, on=by_x)
        types = dict(self._types)
        for c in right_cols:
            types[clash.get(c, c)] = other._types[c]
        enum_keys = [c for c in by_x if self._types[c] == "enum"]
        fr = self._derive(ddf[list(types)], {c: "string" if c in enum_keys else t
                                             for c, t in types.items()}, same_rows=False)
        return fr._force_types({c: "enum" for c in enum_keys}) if enum_keys else fr

    def _text_keys(self, keys):
        conv = {c: "string" for c in keys if self._types[c] == "enum"}
        if not conv:
            return self._ddf
        return self._ddf.map_partitions(_character_or_real, conv,
                                        meta=_character_or_real(self._ddf._meta, conv))

    # ------------------------------------------------------------------ to python

    def as_data_frame(self, use_pandas=True, header=True, use_multi_thread=False):
        """The data as pandas (enum -> strings, NA -> NaN, NA-free int and time
        columns as int64) or, with ``use_pandas=False``, a list of rows of strings
        with the header first."""
        pdf = _to_user_pandas(self._ddf.compute(), self._types)
        if use_pandas:
            return pdf
        rows = [[_format_cell(v, t) for v, t in zip(row, self._types.values())]
                for row in pdf.itertuples(index=False, name=None)]
        return ([self.names] + rows) if header else rows

    def get_frame_data(self):
        """The frame as CSV text (header of quoted names; strings quoted; NA empty)."""
        pdf = _to_user_pandas(self._ddf.compute(), self._types)
        lines = [",".join(f'"{c}"' for c in self.names)]
        for row in pdf.itertuples(index=False, name=None):
            cells = []
            for v, t in zip(row, self._types.values()):
                text = _format_cell(v, t)
                cells.append(f'"{text}"' if t in ("enum", "string", "uuid") and text != "" else text)
            lines.append(",".join(cells))
        return "\n".join(lines) + "\n"

    def head(self, rows=10, cols=200):
        """First ``rows`` rows and ``cols`` columns, as a frame."""
        fr = self if self.ncol <= cols else self[:, :cols]
        return fr._take_rows(slice(0, min(int(rows), fr.nrow)))

    def tail(self, rows=10, cols=200):
        """Last ``rows`` rows and ``cols`` columns, as a frame."""
        fr = self if self.ncol <= cols else self[:, :cols]
        n = fr.nrow
        return fr._take_rows(slice(max(n - int(rows), 0), n))

    def _table_text(self, rows=10):
        """The first rows as H2O prints them (tabulate's plain layout: numbers aligned
        on the decimal point, text left-aligned, NA as ``nan``)."""
        pdf = _to_user_pandas(self.head(rows)._ddf.compute(), self._types)
        columns = []
        for c, t in self._types.items():
            values = pdf[c].tolist()
            if t in NUMERIC_TYPES + ("time",):
                columns.append(_decimal_aligned(c, values))
            else:
                cells = ["nan" if v is None or v != v else str(v) for v in values]
                width = max([len(c)] + [len(v) for v in cells])
                columns.append([c.ljust(width)] + [v.ljust(width) for v in cells])
        return "\n".join("  ".join(col[i] for col in columns).rstrip()
                         for i in range(len(pdf) + 1))

    def __repr__(self):
        if not self._types:
            return "[0 rows x 0 columns]"
        plural = "column" if self.ncol == 1 else "columns"
        return f"{self._table_text()}\n[{self.nrow} rows x {self.ncol} {plural}]\n"

    __str__ = __repr__

    def show(self, use_pandas=False, rows=10, cols=200):
        print(self.__repr__())

    def _repr_html_(self):
        pdf = _to_user_pandas(self.head()._ddf.compute(), self._types)
        return pdf.to_html(index=False) + f"<p>[{self.nrow} rows x {self.ncol} columns]</p>"

    # ------------------------------------------------------------------ statistics
    # thin wrappers over frame_stats (free functions over (ddf, types))

    def _wrap(self, pair, same_rows=False):
        ddf, types = pair
        return self._derive(ddf, types, same_rows=same_rows)

    def describe(self, chunk_summary=False):
        """Print Rows, Cols, the per-column statistics table and the first 10 rows."""
        print(frame_stats.describe_text(self._ddf, self._types, nrow=self.nrow))

    def summary(self, return_data=False):
        """Print the statistics table, or return per-column summaries as a dict."""
        if return_data:
            return frame_stats.column_summaries(self._ddf, self._types)
        print(frame_stats.describe_table(self._ddf, self._types).to_string())

    def mean(self, skipna=True, axis=0, return_frame=False):
        """Column means as a list (NaN for non-numeric columns); ``axis=1``: row means
        frame; ``return_frame``: a one-row frame."""
        if axis == 1:
            return self._wrap(frame_stats.mean(self._ddf, self._types, skipna=skipna, axis=1),
                              same_rows=True)
        means = frame_stats.mean(self._ddf, self._types, skipna=skipna)
        return self._one_row(means) if return_frame else means

    def _one_row(self, values):
        pdf = pd.DataFrame({c: [float(v)] for c, v in zip(self.names, values)})
        return H2OFrame._from_dask(_from_pandas(pdf), {c: "real" for c in self.names})

    def sd(self, na_rm=False):
        return frame_stats.sd(self._ddf, self._types, na_rm=na_rm)

    def var(self, y=None, na_rm=False, use=None):
        return self._matrix(frame_stats.var, y, na_rm=na_rm, use=use)

    def cor(self, y=None, na_rm=False, use=None, method="Pearson"):
        return self._matrix(frame_stats.cor, y, na_rm=na_rm, use=use, method=method)

    def _matrix(self, func, y, **kwargs):
        pair = None if y is None else (self._aligned_ddf(y), y._types)
        out = func(self._ddf, self._types, y=pair, **kwargs)
        return self._wrap(out) if isinstance(out, tuple) else out

    def min(self):
        return frame_stats.min(self._ddf, self._types)

    def max(self):
        return frame_stats.max(self._ddf, self._types)

    def sum(self, skipna=True, axis=0, return_frame=False):
        if axis == 1:
            return self._wrap(frame_stats.sum(self._ddf, self._types, skipna=skipna, axis=1),
                              same_rows=True)
        total = frame_stats.sum(self._ddf, self._types, skipna=skipna)
        if return_frame:
            pdf = pd.DataFrame({"sum": [float(total)]})
            return H2OFrame._from_dask(_from_pandas(pdf), {"sum": "real"})
        return total

    def median(self, na_rm=False, combine_method="interpolate"):
        return frame_stats.median(self._ddf, self._types, na_rm=na_rm,
                                  combine_method=combine_method)

    def skewness(self, na_rm=False):
        return frame_stats.skewness(self._ddf, self._types, na_rm=na_rm)

    def kurtosis(self, na_rm=False):
        return frame_stats.kurtosis(self._ddf, self._types, na_rm=na_rm)

    def quantile(self, prob=None, combine_method="interpolate", weights_column=None):
        return self._wrap(frame_stats.quantile(self._ddf, self._types, prob=prob,
                                               combine_method=combine_method,
                                               weights_column=weights_column))

    def unique(self, include_nas=False):
        return self._wrap(frame_stats.unique(self._ddf, self._types, include_nas=include_nas))

    def table(self, data2=None, dense=True):
        pair = None if data2 is None else (self._aligned_ddf(data2), data2._types)
        return self._wrap(frame_stats.table(self._ddf, self._types, data2=pair, dense=dense))

    def hist(self, breaks="sturges", plot=False):
        """H2O's histogram frame (breaks, counts, mids_true, mids, density)."""
        return self._wrap(frame_stats.hist(self._ddf, self._types, breaks=breaks, plot=plot))

    def impute(self, column=-1, method="mean", combine_method="interpolate", by=None,
               group_by_frame=None, values=None):
        """Fill NAs in place; returns H2O's result (fill values, or a frame of them
        per group when ``by`` is given)."""
        if group_by_frame is not None:
            raise ValueError("impute(group_by_frame=...) is not supported yet; use by=")
        (ddf, types), result = frame_stats.impute(self._ddf, self._types, column=column,
                                                  method=method, combine_method=combine_method,
                                                  by=by, values=values)
        self._ddf, self._types = ddf, dict(types)
        return self._wrap(result) if isinstance(result, tuple) else result

    def insert_missing_values(self, fraction=0.1, seed=None):
        """Set each cell to NA with probability ``fraction`` (in place; returns self)."""
        ddf, types = frame_stats.insert_missing_values(self._ddf, self._types, fraction=fraction,
                                                       seed=seed, row_offsets=self._offsets())
        self._ddf, self._types = ddf, dict(types)
        return self

    def apply(self, fun=None, axis=0):
        return self._wrap(frame_stats.apply(self._ddf, self._types, fun, axis=axis),
                          same_rows=(axis == 1))

    def group_by(self, by):
        """H2O's group-by: chain count/sum/mean/min/max/sd/var/ss/mode, then
        ``get_frame()``."""
        return H2OGroupBy(self, by)

    def sort(self, by, ascending=True):
        """Rows sorted by the columns ``by`` (enum by level order; NAs first, as H2O)."""
        keys = [self.names[j] for j in self._col_indices(by if isinstance(by, list) else [by])]
        asc = ascending if isinstance(ascending, list) else [ascending] * len(keys)
        if len(asc) != len(keys):
            raise H2OValueError(f"ascending needs {len(keys)} entries, got {len(asc)}")
        tmp = [f"__sort_{i}" for i in range(len(keys))]
        meta = self._ddf._meta.assign(**{t: pd.Series([], dtype=object if
                                                       self._types[k] in TEXT_TYPES else np.float64)
                                         for t, k in zip(tmp, keys)})
        keyed = self._ddf.map_partitions(_sort_keys, dict(zip(tmp, keys)), dict(self._types),
                                         dict(zip(tmp, asc)), meta=meta)
        ddf = keyed.sort_values(tmp, ascending=asc)[self.names]
        return self._derive(ddf, self._types, same_rows=False)

    # ------------------------------------------------------------------ random

    def runif(self, seed=None):
        """One real column ``rnd`` of uniforms in [0, 1): H2O's per-row PCG draw."""
        seed = _resolve_seed(seed)
        meta = pd.DataFrame({"rnd": pd.Series([], dtype=np.float64)})
        ddf = _map_rows(self._ddf, _runif_partition, self._offsets(), meta, seed, "rnd")
        return self._derive(ddf, {"rnd": "real"})

    def split_frame(self, ratios=None, destination_frames=None, seed=None):
        """``len(ratios)+1`` frames: split j holds the rows whose ``runif(seed)``
        draw u has b_j < u <= b_{j+1} (b = running sums of ratios)."""
        ratios = [0.75] if ratios is None else list(ratios)
        total = 0.0
        for r in ratios:
            total += float(r)
            if float(r) < 0 or total >= 1.0:
                raise ValueError(f"ratios must be >= 0 and their running sum must stay below 1.0, "
                                 f"got ratios={ratios}")
        if destination_frames is not None and len(destination_frames) != len(ratios) + 1:
            raise ValueError(f"destination_frames needs {len(ratios) + 1} names, got "
                             f"{len(destination_frames)}")
        seed = _resolve_seed(seed)
        offsets = self._offsets()
        out = []
        for j in range(len(ratios) + 1):
            ddf = _map_rows(self._ddf, _split_partition, offsets, self._ddf._meta, seed, ratios, j)
            fr = self._derive(ddf, self._types, same_rows=False)
            if destination_frames is not None:
                fr.frame_id = destination_frames[j]
            out.append(fr)
        return out

    def _fold_column(self, kind, n_folds, seed):
        if int(n_folds) < 2 and kind != "modulo":
            raise H2OValueError(f"n_folds must be >= 2, got {n_folds}")
        seed = _resolve_seed(seed) if kind != "modulo" else 0
        meta = pd.DataFrame({"C1": pd.Series([], dtype=np.float64)})
        ddf = _map_rows(self._ddf, _fold_partition, self._offsets(), meta, kind, seed,
                        int(n_folds))
        return self._derive(ddf, {"C1": "int"})

    def kfold_column(self, n_folds=3, seed=-1):
        """Random fold per row (H2O's AUTO/Random fold assignment)."""
        return self._fold_column("random", n_folds, seed)

    def modulo_kfold_column(self, n_folds=3):
        """fold = global row index mod n_folds."""
        return self._fold_column("modulo", n_folds, None)

    def stratified_kfold_column(self, n_folds=3, seed=-1):
        """H2O's frame-level stratified folds. Real H2O 3.46 stratifies a constant
        column here (the response values do not enter; pinned in tests/test_pcg.py), so
        this is the stratified draw with every row in class 0. Cross-validation with
        ``fold_assignment="stratified"`` uses the real classes (``_pcg.stratified_folds``)."""
        if self.ncol != 1:
            raise H2OValueError("stratified_kfold_column() needs a one-column (response) frame")
        return self._fold_column("stratified", n_folds, seed)

    def stratified_split(self, test_frac=0.2, seed=-1):
        """Enum column ``test_train_split`` (levels ``train``, ``test``): per class,
        max(round(n_c * test_frac), 1) rows go to ``test``, drawn as H2O does (the k-th
        draw picks the member int(next_double() * n_c) of a generator seeded
        seed + k, skipping repeats), so the split equals H2O's for the same seed."""
        if not 0 < float(test_frac) < 1:
            raise H2OValueError(f"test_frac must be in (0, 1), got {test_frac}")
        if self.ncol != 1:
            raise H2OValueError("stratified_split() needs a one-column (response) frame")
        c, t = self.names[0], self._types[self.names[0]]
        if t not in ("enum", "int"):
            raise H2OValueError(f"Stratification only applies to integer and categorical "
                                f"columns. Got: {t} column '{c}'")
        seed = _resolve_seed(seed)
        counts = [dict(v) for v in self._ddf.map_partitions(
            _class_counts, c, t, meta=(None, object)).compute()]
        classes = sorted({k for part in counts for k in part})
        sizes = {k: sum(part.get(k, 0) for part in counts) for k in classes}
        chosen = {k: _h2o_stratified_draw(sizes[k], float(test_frac), seed) for k in classes}
        payloads, before = [], {k: 0 for k in classes}
        for part in counts:
            payload = {}
            for k, n in part.items():
                ranks = chosen[k]
                lo, hi = np.searchsorted(ranks, [before[k], before[k] + n])
                payload[k] = ranks[lo:hi] - before[k]
                before[k] += n
            payloads.append(payload)
        name = "test_train_split"
        meta = pd.DataFrame({name: pd.Categorical([], dtype=_cat_dtype(["train", "test"]))})
        parts = [dask.delayed(_mark_test_rows)(part, c, t, payload, name)
                 for part, payload in zip(self._ddf.to_delayed(), payloads)]
        ddf = dd.from_delayed(parts, meta=meta, verify_meta=False)
        fr = self._derive(ddf, {name: "enum"}, same_rows=False)
        fr._layout = self._layout
        return fr


class H2OGroupBy(GroupBy):
    """``frame.group_by(by)``: the aggregations of ``groupby.GroupBy``; ``get_frame()``
    (and ``frame``) give an H2OFrame."""

    def __init__(self, fr, by):
        super().__init__(fr._ddf, fr._types, by)

    def get_frame(self):
        ddf, types = super().get_frame()
        return H2OFrame._from_dask(ddf, types)


def _sort_keys(part, keys, types, ascending):
    """Sort keys with NAs mapped to the end that sorts first (dask's distributed sort
    does not place NaN reliably)."""
    out = part.copy()
    for tmp, c in keys.items():
        first = np.finfo(np.float64).min if ascending[tmp] else np.finfo(np.float64).max
        if types[c] == "enum":
            codes = part[c].cat.codes.to_numpy()
            out[tmp] = np.where(codes < 0, first, codes).astype(np.float64)
        elif types[c] in TEXT_TYPES:
            values = part[c].to_numpy(dtype=object)
            na_text = "" if ascending[tmp] else "\U0010ffff"
            out[tmp] = pd.Series(np.where(pd.isna(values), na_text, values), index=part.index,
                                 dtype=object)
        else:
            values = part[c].to_numpy(dtype=np.float64)
            out[tmp] = np.where(np.isnan(values), first, values)
    return out


def _math_method(fname):
    def method(self):
        return self._unary(fname)

    method.__name__ = fname
    method.__doc__ = f"Element-wise {fname} of numeric columns (NA stays NA)."
    return method


for _fname in ("log", "log10", "log1p", "log2", "exp", "expm1", "sqrt", "abs", "sign", "ceil",
               "floor", "trunc", "cos", "sin", "tan", "acos", "asin", "atan", "cosh", "sinh",
               "tanh", "acosh", "asinh", "atanh", "cospi", "sinpi", "tanpi", "gamma", "lgamma",
               "digamma", "trigamma"):
    setattr(H2OFrame, _fname, _math_method(_fname))


# ------------------------------------------------------------ module-level helpers

def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_all(x):
    return isinstance(x, slice) and x == slice(None)


def _op_mode(op, left, right):
    """('num' | 'text', result type) of a binary op, or a clear error."""
    def kind(spec):
        if spec[0] == "scalar":
            v = spec[1]
            if isinstance(v, str):
                return "str"
            return "none" if v is None else ("intnum" if float(v).is_integer() else "num")
        return {"int": "intnum", "time": "intnum", "real": "num", "enum": "enum"}.get(spec[3], "str")

    kl, kr = kind(left), kind(right)
    if op in _COMPARE:
        texty = {"str", "enum"}
        if kl in texty and kr in texty:
            return "text", "int"
        if (kl in texty and kr == "none") or (kr in texty and kl == "none"):
            return "text", "int"
        return "num", "int"
    for k, spec in ((kl, left), (kr, right)):
        if k in ("str", "enum"):
            what = f"column '{spec[2]}' ({spec[3]})" if spec[0] == "col" else f"the string {spec[1]!r}"
            raise H2OValueError(f"operator {op} needs numbers; {what} is not numeric "
                                "(convert with asnumeric())")
    if op in ("&", "|"):
        return "num", "int"
    ints = kl in ("intnum", "none") and kr in ("intnum", "none")
    return "num", "int" if (op in _INT_PRESERVING and ints) else "real"


def _assign_column(part, src, name, src_name):
    out = part.copy()
    values = src[src_name]
    out[name] = pd.Series(values.to_numpy() if not isinstance(values.dtype, pd.CategoricalDtype)
                          else values.array, index=part.index, dtype=values.dtype)
    return out


def _assign_constant(part, name, one):
    out = part.copy()
    out[name] = pd.Series(one.iloc[[0] * len(part)].to_numpy() if len(one) else [],
                          index=part.index, dtype=one.dtype)
    return out


def _constant_column(value):
    if isinstance(value, str):
        return pd.Series(pd.Categorical([value], dtype=_cat_dtype([value]))), "enum"
    if value is None:
        return pd.Series([np.nan], dtype=np.float64), "real"
    if isinstance(value, (int, float, np.number, bool)):
        number = float(value)
        return pd.Series([number]), ("int" if number.is_integer() else "real")
    raise H2OValueError(f"cannot assign a {type(value).__name__}; give an H2OFrame or a scalar")


def _update_meta(meta, plan):
    out = meta.copy()
    for name, (kind, payload) in plan.items():
        if kind == "enum":
            out[name] = pd.Categorical([], dtype=_cat_dtype(payload[0]))
        elif kind == "num":
            out[name] = out[name].astype(np.float64)
    return out


def _update_rows_parts(part, row_start, mask_part, val_part, row_spec, plan):
    # _map_rows passes the extra frames as separate arguments
    return _update_rows(part, (mask_part, val_part), row_start, row_spec, plan)


def _factor_partition(part, plan):
    out = part.copy()
    for c, step in plan.items():
        if step[0] == "from_int":
            nums, levels = step[1], step[2]
            v = part[c].to_numpy(dtype=np.float64)
            codes = np.searchsorted(nums, np.nan_to_num(v))
            codes = np.where(np.isnan(v), -1, codes)
            out[c] = pd.Categorical.from_codes(codes, dtype=_cat_dtype(levels))
        else:
            out[c] = pd.Categorical(part[c].astype(object), dtype=_cat_dtype(step[1]))
    return out


def _numeric_partition(part, plan):
    out = {}
    for c in part.columns:
        step = plan.get(c)
        s = part[c]
        if step is None:
            out[c] = s.to_numpy(dtype=np.float64)
        elif step[0] == "levels":
            out[c] = step[1][s.cat.codes.to_numpy()]
        elif step[0] == "codes":
            codes = s.cat.codes.to_numpy()
            out[c] = np.where(codes < 0, np.nan, codes).astype(np.float64)
        else:
            out[c] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(out, index=part.index)


def _character_partition(part, types):
    return pd.DataFrame({c: pd.Series(_text_values(part, c, t, part[c].dtype), index=part.index,
                                      dtype=object) for c, t in types.items()}, index=part.index)


def _character_or_real(part, conv):
    out = part.copy()
    for c, t in conv.items():
        if t == "real":
            out[c] = part[c].astype(np.float64)
        else:
            typ = "enum" if isinstance(part[c].dtype, pd.CategoricalDtype) else "string"
            out[c] = pd.Series(_text_values(part, c, typ, part[c].dtype), index=part.index, dtype=object)
    return out


def _recode_partition(part, plan):
    out = part.copy()
    for c, (levels, mapping) in plan.items():
        codes = mapping[part[c].cat.codes.to_numpy()] if len(part) else np.zeros(0, np.int64)
        out[c] = pd.Categorical.from_codes(codes, dtype=_cat_dtype(levels))
    return out


def _relabel_partition(part, c, levels):
    return pd.DataFrame({c: pd.Categorical.from_codes(part[c].cat.codes.to_numpy(),
                                                      dtype=_cat_dtype(levels))}, index=part.index)


def _cut_partition(part, name, breaks, labels, include_lowest, right):
    v = part[name].to_numpy(dtype=np.float64)
    bins = np.asarray(breaks)
    if right:
        codes = np.searchsorted(bins, v, side="left") - 1
        if include_lowest:
            codes = np.where(v == bins[0], 0, codes)
    else:
        codes = np.searchsorted(bins, v, side="right") - 1
        if include_lowest:
            codes = np.where(v == bins[-1], len(labels) - 1, codes)
    codes = np.where(np.isnan(v) | (codes < 0) | (codes >= len(labels)), -1, codes)
    return pd.DataFrame({name: pd.Categorical.from_codes(codes, dtype=_cat_dtype(labels))},
                        index=part.index)


def _to_user_pandas(pdf, types):
    out = {}
    for c, t in types.items():
        s = pdf[c]
        if t == "enum":
            out[c] = pd.Series(s.astype(object).where(s.notna(), np.nan).to_numpy(dtype=object),
                               dtype=object)
        elif t in TEXT_TYPES:
            out[c] = pd.Series(s.where(s.notna(), np.nan).to_numpy(dtype=object), dtype=object)
        elif t in ("int", "time") and len(s) and not s.isna().any():
            out[c] = pd.Series(s.to_numpy(dtype=np.float64).astype(np.int64))
        else:
            out[c] = pd.Series(s.to_numpy(dtype=np.float64))
    return pd.DataFrame(out, columns=list(types))


def _decimal_aligned(name, values):
    """Header + cells of a numeric column, aligned on the decimal point."""
    texts = ["nan" if v != v else format(float(v), "g") if isinstance(v, float) else str(v)
             for v in values]
    heads, tails = [], []
    for text in texts:
        head, dot, tail = text.partition(".")
        if "e" in text or text == "nan" or not dot:
            heads.append(text)
            tails.append("")
        else:
            heads.append(head)
            tails.append("." + tail)
    left = max([len(h) for h in heads] + [0])
    right = max([len(t) for t in tails] + [0])
    cells = [h.rjust(left) + t.ljust(right) for h, t in zip(heads, tails)]
    width = max([len(name)] + [len(c) for c in cells])
    return [name.rjust(width)] + [c.rjust(width) for c in cells]


def _format_cell(v, t):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if t in ("enum", "string", "uuid"):
        return str(v)
    return _format_number(float(v), t)


def deep_copy(data, xid):
    """A copy of ``data`` registered under the new id ``xid`` (H2O's ``h2o.deep_copy``);
    later changes to either frame do not affect the other."""
    if not isinstance(data, H2OFrame):
        raise H2OValueError("deep_copy() takes an H2OFrame")
    if not isinstance(xid, str) or not xid:
        raise H2OValueError("deep_copy() needs a non-empty string id")
    fr = H2OFrame.__new__(H2OFrame)
    fr._init_core(data._ddf, data._types, data._layout, xid)
    return fr

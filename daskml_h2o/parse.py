"""H2O's text parsing rules: token classes, column type guessing, separator and
header guessing, NA handling, and the conversion of string tokens to the frame's
column dtypes (int/real/time -> float64, enum -> known category, string/uuid -> object).

Everything here works on one in-memory block of tokens (a pyarrow string array per
column); io.py runs it per partition and over a preview.
"""
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

PREVIEW_ROWS = 1000

NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# (regex, strptime format or None for ISO-8601); H2O reads neither yyyy/MM/dd nor MM/dd/yyyy
# as dates (checked against H2O 3.46), so neither do we.
DATE_FORMATS = [
    (r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?Z?$", None),
    (r"^\d{1,2}-[A-Za-z]{3}-\d{2}$", "%d-%b-%y"),
    (r"^\d{1,2}-[A-Za-z]{3}-\d{4}$", "%d-%b-%Y"),
]
_NA_LIKE = {"NA", "na", "Na", "N/A"}

SEPARATORS = ["\x01", ",", ";", "|", "\t", " "]

_TYPE_ALIASES = {
    "unknown": "unknown", "bad": "unknown",
    "uuid": "uuid",
    "string": "string", "str": "string", "character": "string",
    "numeric": "numeric", "real": "numeric", "float": "numeric", "double": "numeric",
    "int": "numeric", "integer": "numeric", "long": "numeric",
    "enum": "enum", "factor": "enum", "categorical": "enum", "category": "enum",
    "time": "time", "date": "time",
}


@dataclass
class ColumnPlan:
    """How one column's tokens become values. kind: numeric, enum, string, uuid,
    time or unknown; categories only for enum (None while domains are collected)."""
    name: str
    kind: str
    na: frozenset = frozenset()
    zeros_na: bool = False
    categories: list = field(default=None)


def canonical_type(name, column):
    key = str(name).lower()
    if key not in _TYPE_ALIASES:
        raise ValueError(
            f"column {column!r}: unknown column type {name!r}; use one of "
            "unknown, uuid, string, numeric, real, int, enum, factor, categorical, time")
    return _TYPE_ALIASES[key]


def resolve_per_column(spec, names, what):
    """A list (positional) or dict (name -> value) -> list aligned with names."""
    if spec is None:
        return [None] * len(names)
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"{what}: no column named {unknown} (columns are {names})")
        return [spec.get(n) for n in names]
    spec = list(spec)
    if len(spec) != len(names):
        raise ValueError(f"{what}: got {len(spec)} entries for {len(names)} columns; "
                         "give one entry per column or a dict name -> value")
    return spec


def resolve_na_strings(na_strings, names):
    """H2O's three forms: list of str (all columns), list of lists (per column),
    dict name -> list. Returns one frozenset per column."""
    if na_strings is None:
        return [frozenset()] * len(names)
    if isinstance(na_strings, str):
        na_strings = [na_strings]
    if isinstance(na_strings, dict):
        per = resolve_per_column(na_strings, names, "na_strings")
    elif all(isinstance(v, str) for v in na_strings):
        return [frozenset(na_strings)] * len(names)
    else:
        per = resolve_per_column(na_strings, names, "na_strings")
    out = []
    for v in per:
        if v is None:
            out.append(frozenset())
        elif isinstance(v, str):
            out.append(frozenset([v]))
        else:
            out.append(frozenset(str(x) for x in v))
    return out


# ---------------------------------------------------------------- token classes

def as_string_array(values):
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    return pa.array(values, type=pa.string(), from_pandas=True)


def empty_mask(arr, na):
    """True where the token is missing: null, empty, or one of the NA strings."""
    m = pc.or_kleene(pc.is_null(arr), pc.equal(arr, ""))
    if na:
        m = pc.or_(m, pc.fill_null(pc.is_in(arr, value_set=pa.array(sorted(na), pa.string())), False))
    return pc.fill_null(m, True)


def _match(arr, pattern):
    return pc.fill_null(pc.match_substring_regex(arr, pattern), False)


def _numbers(trimmed, usable):
    """float64 numpy values of the tokens that are numbers (NaN elsewhere)."""
    isnum = pc.and_(_match(trimmed, NUMBER_RE), usable)
    vals = pc.cast(pc.if_else(isnum, trimmed, pa.scalar(None, pa.string())), pa.float64())
    return np.asarray(vals.to_numpy(zero_copy_only=False), dtype=np.float64), isnum


# Non-numbers often seen in numeric columns; they are NA there (not numbers by NUMBER_RE)
_COMMON_NON_NUMBERS = pa.array(sorted({"NA", "na", "Na", "N/A", "n/a", "NaN", "nan", "null", "NULL",
                                       "None", "none", "-", "?", "."}), pa.string())


def _cast_numbers(arr, plan):
    """float64 values by one cast when every token but NA and common non-numbers is
    a plain number; None when a token needs the regex rules (spaces, other words,
    NaN/Inf spellings)."""
    drop = pc.or_(empty_mask(arr, plan.na), pc.fill_null(pc.is_in(arr, value_set=_COMMON_NON_NUMBERS), False))
    try:
        vals = pc.cast(pc.if_else(drop, pa.scalar(None, pa.string()), arr), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    v = np.asarray(vals.to_numpy(zero_copy_only=False), dtype=np.float64)
    return v if np.count_nonzero(np.isfinite(v)) == len(v) - vals.null_count else None


def _date_mask(trimmed):
    m = pa.array(np.zeros(len(trimmed), bool))
    for pattern, _ in DATE_FORMATS:
        m = pc.or_(m, _match(trimmed, pattern))
    return m


def token_counts(values, na=frozenset()):
    """H2O's preview statistics of one column (PreviewParseWriter)."""
    arr = as_string_array(values)
    trimmed = pc.utf8_trim_whitespace(arr)
    usable = pc.invert(empty_mask(arr, na))
    nums, isnum = _numbers(trimmed, usable)
    isdate = pc.and_(_date_mask(trimmed), usable)
    isuuid = pc.and_(_match(trimmed, UUID_RE), usable)
    isnum_np = np.asarray(isnum)
    other = pc.and_(usable, pc.invert(pc.or_(pc.or_(isnum, isdate), isuuid)))
    domain = set(pc.unique(arr.filter(other)).to_pylist())
    nzeros = int(np.sum(isnum_np & (nums == 0)))
    return dict(nnums=int(isnum_np.sum()) - nzeros, nzeros=nzeros,
                ndates=int(pc.sum(isdate).as_py() or 0), nuuid=int(pc.sum(isuuid).as_py() or 0),
                nstrings=int(pc.sum(other).as_py() or 0), nempty=int(len(arr) - (pc.sum(usable).as_py() or 0)),
                domain=domain)


def guess_kind(c):
    """(kind, zeros_na) from token counts, following spec frame_and_api §2.1."""
    nums = c["nnums"] + c["nzeros"]
    nd, nu, ns, dom = c["ndates"], c["nuuid"], c["nstrings"], len(c["domain"])
    if nums >= nd and nums >= nu and c["nnums"] >= ns:
        return "numeric", False
    if dom == 1 and nd == 0:
        if c["domain"] & _NA_LIKE or ns < nums:
            return "numeric", False
        return "enum", False
    if dom <= 1 and nums > nd + nu:
        return "numeric", False
    if nd > nu and nd > nums and (nd > ns or dom <= 1):
        return "time", False
    if nu > nd and nu > nums and (nu > ns or dom <= 1):
        return "uuid", False
    if ns > nd and ns > nu and ns > nums and dom >= 0.95 * ns:
        return "string", False
    nonempty = nums + nd + nu + ns
    if c["nzeros"] > 0 and ns + c["nzeros"] == nonempty and dom < 0.95 * ns:
        return "enum", True
    if ns >= nums and dom < 0.95 * ns:
        return "enum", False
    return "numeric", False


def is_data_token(tok):
    """A token that makes a line look like data (number, date or UUID)."""
    t = tok.strip()
    return bool(re.match(NUMBER_RE, t) or re.match(UUID_RE, t)
                or any(re.match(p, t) for p, _ in DATE_FORMATS))


def guess_header(first, second):
    """ParseSetup.hasHeader: line 1 has no data token and line 2 has one."""
    if second is None:
        return False
    return not any(is_data_token(t) for t in first) and any(is_data_token(t) for t in second)


def split_line(line, sep, quote='"'):
    """Tokens of one line (quotes respected; runs of spaces are one separator)."""
    if sep == " ":
        return [t for t in re.split(r" +", line.strip()) if t != ""]
    tokens, cur, inq = [], [], False
    for ch in line:
        if ch == quote:
            inq = not inq
        elif ch == sep and not inq:
            tokens.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    tokens.append("".join(cur))
    return tokens


def guess_separator(lines, quote='"'):
    """First separator (priority \\x01 , ; | \\t space) giving the same token count
    (> 1) on the first two lines; ',' when none does (single column)."""
    lines = [ln for ln in lines if ln.strip() != ""][:2]
    if not lines:
        return ","
    for sep in SEPARATORS:
        counts = [len(split_line(ln, sep, quote)) for ln in lines]
        if counts[0] > 1 and all(n == counts[0] for n in counts):
            return sep
    best = max(SEPARATORS, key=lambda s: len(split_line(lines[0], s, quote)))
    return best if len(split_line(lines[0], best, quote)) > 1 else ","


# ---------------------------------------------------------------- conversion

def _epoch_ms(trimmed, usable):
    out = np.full(len(trimmed), np.nan)
    for pattern, fmt in DATE_FORMATS:
        m = np.asarray(pc.and_(_match(trimmed, pattern), usable))
        if not m.any():
            continue
        matched = trimmed.filter(pa.array(m))
        if fmt is None:
            try:  # Arrow's own ISO-8601 cast; anything it refuses goes through pandas below
                out[m] = pc.cast(matched, pa.timestamp("ns")).cast(pa.int64()).to_numpy(zero_copy_only=False) / 1e6
                continue
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        toks = np.asarray(matched.to_pylist(), dtype=object)
        ts = pd.to_datetime(pd.Series(toks), format=fmt or "ISO8601", errors="coerce", utc=True)
        ms = ts.astype("datetime64[ns, UTC]").array.asi8 / 1e6
        ms[ts.isna().to_numpy()] = np.nan
        out[m] = ms
    return out


def _usable(arr, plan):
    """True where a token is a value of this column (not NA by H2O's rules)."""
    usable = pc.invert(empty_mask(arr, plan.na))
    if plan.kind == "uuid":
        usable = pc.and_(usable, _match(pc.utf8_trim_whitespace(arr), UUID_RE))
    if plan.zeros_na:
        nums, isnum = _numbers(pc.utf8_trim_whitespace(arr), usable)
        usable = pc.and_(usable, pa.array(~(np.asarray(isnum) & (nums == 0))))
    return usable


def local_enum(values, plan):
    """Enum tokens (strings, or dictionary-encoded as the CSV reader gives them) ->
    categorical Series over this block's own levels, NA tokens dropped. The rules run
    on the distinct tokens only; io maps block levels onto the sorted frame domain."""
    if isinstance(values, pa.ChunkedArray):
        values = (values.unify_dictionaries() if pa.types.is_dictionary(values.type) else values).combine_chunks()
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(as_string_array(values))
    levels = as_string_array(values.dictionary)
    keep = np.asarray(_usable(levels, plan), dtype=bool)
    # level index -> kept level code; the extra last slot is where null tokens (-1) land
    remap = np.append(np.where(keep, np.cumsum(keep) - 1, -1), -1).astype(np.int32)
    codes = remap[pc.fill_null(values.indices, -1).to_numpy(zero_copy_only=False)]
    categories = levels.filter(pa.array(keep)).to_pylist()
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories), validate=False),
                     name=plan.name)


def with_categories(series, categories):
    """A block-level categorical recoded onto the frame's domain (a superset)."""
    return series.cat.set_categories(categories)


def convert_tokens(values, plan):
    """One column of tokens -> pandas Series of the contract dtype. Enum columns
    without categories yet give a categorical over the block's own levels."""
    kind = plan.kind
    if kind == "enum":
        s = local_enum(values, plan)
        return s if plan.categories is None else with_categories(s, plan.categories)
    arr = as_string_array(values)
    if kind == "unknown":
        return pd.Series(np.full(len(arr), np.nan), name=plan.name)
    if kind == "numeric":
        v = _cast_numbers(arr, plan)
        if v is not None:
            return pd.Series(v, name=plan.name)
    if kind in ("numeric", "time"):
        trimmed = pc.utf8_trim_whitespace(arr)
        usable = pc.invert(empty_mask(arr, plan.na))
        if kind == "numeric":
            return pd.Series(_numbers(trimmed, usable)[0], name=plan.name)
        return pd.Series(_epoch_ms(trimmed, usable), name=plan.name)
    usable = _usable(arr, plan)
    obj = np.asarray(pc.if_else(usable, arr, pa.scalar(None, pa.string())).to_numpy(zero_copy_only=False),
                     dtype=object)
    return pd.Series(obj, dtype=object, name=plan.name)


def numbers_only(values, na=frozenset()):
    """Whether every non-missing token is a number and no NA string looks like one:
    then the CSV reader may parse the column as float64 itself."""
    if any(re.match(NUMBER_RE, t.strip()) for t in na):
        return False
    arr = as_string_array(values)
    usable = pc.invert(empty_mask(arr, na))
    nonnum = pc.and_(usable, pc.invert(_match(pc.utf8_trim_whitespace(arr), NUMBER_RE)))
    return not pc.any(nonnum).as_py()


def typed_column(values, plan):
    """A column the CSV reader already typed (float64 numbers, dictionary enums) or
    left as strings -> contract Series; None when a float column holds NaN/Inf tokens,
    which H2O reads as NA while the reader took them for numbers (re-read as text)."""
    if plan.kind == "numeric" and pa.types.is_floating(values.type):
        v = values.to_numpy()
        if np.count_nonzero(np.isfinite(v)) != len(v) - values.null_count:
            return None
        return pd.Series(v, name=plan.name)
    return convert_tokens(values, plan)


@njit(nogil=True, cache=True)
def _all_whole(v):
    """Every finite value is a whole number (stops at the first fraction)."""
    for x in v:
        if np.isfinite(x) and x != np.floor(x):
            return False
    return True


def column_facts(series, kind):
    """What one block tells about a column: whether all numbers are whole (numeric)
    or the set of levels (enum)."""
    if kind == "numeric":
        return bool(_all_whole(np.ascontiguousarray(series.to_numpy(dtype=np.float64))))
    if kind == "enum":
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.to_numpy()
            used = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories)) > 0
            return set(np.asarray(series.cat.categories, dtype=object)[used].tolist())
        return set(series.dropna().unique().tolist())
    return None


def merge_facts(a, b):
    return [x & y if isinstance(x, bool) else (x | y if isinstance(x, set) else None)
            for x, y in zip(a, b)]


def final_type(plan, fact):
    if plan.kind == "numeric":
        return "int" if fact else "real"
    if plan.kind == "unknown":
        return "int"
    return plan.kind


def sort_levels(levels):
    """Lexicographic byte order (UTF-8 byte order == code point order)."""
    return sorted(levels)


def guess_plans(columns, names, col_types=None, na_strings=None, preview_rows=PREVIEW_ROWS):
    """ColumnPlans for columns (list of token arrays) from their first preview_rows
    tokens, with user overrides from col_types."""
    nas = resolve_na_strings(na_strings, names)
    forced = resolve_per_column(col_types, names, "col_types")
    plans = []
    for col, name, na, force in zip(columns, names, nas, forced):
        if force is not None:
            plans.append(ColumnPlan(name, canonical_type(force, name), na))
            continue
        kind, zeros_na = guess_kind(token_counts(as_string_array(col)[:preview_rows], na))
        plans.append(ColumnPlan(name, kind, na, zeros_na))
    return plans


def finalize(df, plans, facts):
    """Set the enum domains (sorted) on a frame of converted columns; return types."""
    types = {}
    for plan, fact in zip(plans, facts):
        if plan.kind == "enum":
            plan.categories = sort_levels(fact)
            if df is not None:
                df[plan.name] = with_categories(df[plan.name], plan.categories)
        types[plan.name] = final_type(plan, fact)
    return types


def _cells_as_text(series):
    """str cells stay, None/NaN become missing, anything else is written with str()."""
    return [None if v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT
            else (v if isinstance(v, str) else str(v)) for v in series.astype(object).tolist()]


def typed_from_text(pdf, col_types=None, na_strings=None):
    """An in-memory table of str/None cells -> (typed pandas DataFrame, types) with
    H2O's guessing and NA rules (what H2OFrame(python_obj) parses). Missing cells are
    None (NaN is accepted too); other non-str cells are written with str()."""
    names = [str(c) for c in pdf.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names {names}; give unique names")
    columns = [as_string_array(_cells_as_text(pdf.iloc[:, i])) for i in range(pdf.shape[1])]
    plans = guess_plans(columns, names, col_types, na_strings)
    out = pd.DataFrame({p.name: convert_tokens(c, p) for c, p in zip(columns, plans)},
                       index=pd.RangeIndex(len(pdf)))
    facts = [column_facts(out[p.name], p.kind) for p in plans]
    types = finalize(out, plans, facts)
    return out, types

"""H2O's ``categorical_encoding`` for tree models as a fitted, picklable frame transformation.

``fit_encoding`` reads what an encoding needs from the training frame in one dask reduction
(per level: row counts, NA counts, response sums) and returns an ``Encoding``; its
``transform_partition`` re-encodes one pandas partition, so the same object runs inside
``map_partitions`` at train and at predict time. Semantics (checked against H2O 3.46):

* ``AUTO``/``Enum``: no change (trees use the level codes natively).
* ``OneHotExplicit``: numeric predictors first, then per enum column one 0/1 column per
  level ``<col>.<level>`` and ``<col>.missing(NA)``; NA and unseen levels set the NA column.
* ``Binary``: numeric predictors first, then ``<col>:0 .. <col>:(b-1)``, the bits (low bit
  first) of ``code + 1`` (NA = 0), ``b = 1 + floor(log2(K))``. Unseen levels take codes
  ``K, K+1, ..`` as in H2O's test-frame adaptation (bits beyond ``b`` are dropped, as H2O).
* ``Eigen``: in place, ``<col>.Eigen``: level -> a component of an eigenvector of H2O's
  standardized one-hot Gram matrix (NA counted as the most frequent level); NA -> NA.
* ``LabelEncoder``: in place, same name, the level code as a number; NA -> NA.
* ``SortByResponse``: in place, still categorical, levels re-ordered by mean response; H2O
  (``SharedTree.shouldReorder``) only reorders columns with more than ``reorder_above``
  levels (GBM passes ``nbins_cats``); other columns are left as they are.
* ``EnumLimited``: columns with more than ``max_levels`` levels become
  ``<col>.top_<max_levels>_levels`` keeping the most frequent levels (count descending) plus
  ``other`` for the rest and for unseen levels; smaller columns are left as they are.

Known differences from H2O: an unseen level always maps to the NA column / NA value
(OneHotExplicit, Eigen, SortByResponse) where H2O's behaviour depends on the test frame's
domain; Eigen's eigenvector is chosen by numpy's ``eigh`` where H2O uses JAMA (the leading
eigenvalue is degenerate, so the two may pick different vectors of the same eigenspace).
"""
from __future__ import annotations

import dask
import numpy as np
import pandas as pd

from daskml_h2o.models.predict import _categorical_codes, _enum_codes

__all__ = ["ENCODINGS", "Encoding", "fit_encoding", "encode_frame"]

ENCODINGS = ("AUTO", "Enum", "OneHotExplicit", "Binary", "Eigen", "LabelEncoder", "SortByResponse", "EnumLimited")
_NEEDS_COUNTS = ("Eigen", "EnumLimited")
_EXPANDING = ("OneHotExplicit", "Binary")  # these put numeric predictors first, as H2O


class Encoding:
    """A fitted encoding. ``columns``/``types``/``domains`` describe the predictors it reads
    (training names, H2O types, enum domains); ``output_columns``/``output_types``/
    ``output_domains`` the predictors it writes. Other columns pass through unchanged."""

    def __init__(self, method, columns, types, domains, plans):
        self.method = method
        self.columns, self.types, self.domains = list(columns), dict(types), dict(domains)
        self.plans = plans  # enum column -> (kind, fitted data)
        self.output_columns, self.output_types, self.output_domains = _outputs(self)

    @property
    def is_identity(self) -> bool:
        return not self.plans

    def transform_partition(self, pdf: pd.DataFrame) -> pd.DataFrame:
        """One partition -> the encoded partition: predictors in ``output_columns`` order,
        then the partition's other columns (response, weights, offset, ...)."""
        out = {}
        for col in self._input_order():
            plan = self.plans.get(col)
            if plan is None:
                if col in pdf.columns:
                    out[col] = pdf[col]
                continue
            codes = _codes(pdf, col, self.domains[col])
            out.update(_ENCODERS[plan[0]](col, codes, plan[1], pdf.index))
        rest = [c for c in pdf.columns if c not in self.columns]
        frame = pd.DataFrame(out, index=pdf.index)
        frame = frame[[c for c in self.output_columns if c in frame.columns]]
        return pd.concat([frame, pdf[rest]], axis=1) if rest else frame

    def _input_order(self):
        if self.method not in _EXPANDING:
            return self.columns
        return [c for c in self.columns if c not in self.plans] + [c for c in self.columns if c in self.plans]

    def frame_types(self, types: dict) -> dict:
        """H2O types of an encoded frame whose source frame had ``types``."""
        produced = set(self._produced(types))
        out = {c: self.output_types[c] for c in self.output_columns if c in produced}
        out.update({c: t for c, t in types.items() if c not in self.columns})
        return out

    def _produced(self, present):
        """Output columns written for a frame holding ``present``: an encoded column is always
        written (all NA when its source is absent), a pass-through one only when present."""
        for col in self._input_order():
            if col in self.plans:
                yield from _plan_names(col, self.plans[col])
            elif col in present:
                yield col


# ------------------------------------------------------------------ column encoders

def _codes(pdf, col, domain) -> np.ndarray:
    """Training level codes (float, NaN = NA, unseen levels K, K+1, ..); an absent column is all NA."""
    if col not in pdf.columns:
        return np.full(len(pdf), np.nan)
    values = pdf[col]
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _categorical_codes(values, domain)
    return _enum_codes(values, domain)


def _one_hot(col, codes, domain, index):
    K = len(domain)
    out = {f"{col}.{level}": (codes == j).astype(np.float64) for j, level in enumerate(domain)}
    out[f"{col}.missing(NA)"] = (np.isnan(codes) | (codes >= K)).astype(np.float64)
    return out


def _binary(col, codes, nbits, index):
    val = np.where(np.isnan(codes), 0, codes + 1).astype(np.int64)
    return {f"{col}:{k}": ((val >> k) & 1).astype(np.float64) for k in range(nbits)}


def _by_level(values, codes):
    """``values[code]`` per row; NaN for NA and unseen levels."""
    known = ~np.isnan(codes) & (codes < len(values))
    out = np.full(codes.shape[0], np.nan)
    out[known] = values[codes[known].astype(np.int64)]
    return out


def _eigen(col, codes, values, index):
    return {f"{col}.Eigen": _by_level(values, codes)}


def _label(col, codes, _, index):
    return {col: codes.astype(np.float64)}


def _relevel(col, codes, plan, index):
    """A categorical with a new domain: ``plan = (name, new_domain, new code per old code, unseen code)``."""
    name, new_domain, remap, unseen = plan
    known = ~np.isnan(codes)
    new = np.full(codes.shape[0], -1, dtype=np.int64)
    inside = known & (codes < len(remap))
    new[inside] = remap[codes[inside].astype(np.int64)]
    new[known & ~inside] = unseen
    return {name: pd.Series(pd.Categorical.from_codes(new, categories=new_domain), index=index)}


_ENCODERS = {"onehot": _one_hot, "binary": _binary, "eigen": _eigen, "label": _label, "relevel": _relevel}


def _plan_names(col, plan) -> list:
    kind, data = plan
    if kind == "onehot":
        return [f"{col}.{level}" for level in data] + [f"{col}.missing(NA)"]
    if kind == "binary":
        return [f"{col}:{k}" for k in range(data)]
    if kind == "eigen":
        return [f"{col}.Eigen"]
    if kind == "label":
        return [col]
    return [data[0]]


_PLAN_TYPES = {"onehot": "int", "binary": "int", "eigen": "real", "label": "int", "relevel": "enum"}


def _outputs(enc: Encoding):
    columns, types, domains = [], {}, {}
    for col in enc._input_order():
        plan = enc.plans.get(col)
        if plan is None:
            columns.append(col)
            types[col] = enc.types[col]
            if col in enc.domains:
                domains[col] = list(enc.domains[col])
            continue
        for name in _plan_names(col, plan):
            columns.append(name)
            types[name] = _PLAN_TYPES[plan[0]]
        if plan[0] == "relevel":
            domains[plan[1][0]] = list(plan[1][1])
    return columns, types, domains


# ------------------------------------------------------------------ fitting

def fit_encoding(frame, types: dict, columns: list, method: str, response: str | None = None,
                 response_domain: list | None = None, weights: str | None = None, max_levels: int = 10,
                 reorder_above: int = 0) -> Encoding:
    """Fit H2O's ``categorical_encoding=method`` for the predictors ``columns`` of ``frame``
    (an H2OFrame or a dask DataFrame following the storage contract, with H2O ``types``).

    ``response`` (and ``response_domain`` for an enum response, ``weights``) is needed by
    ``SortByResponse`` only; ``max_levels`` is H2O's ``max_categorical_levels`` (EnumLimited);
    ``reorder_above`` the level count above which SortByResponse reorders a column.
    Statistics come from one dask reduction over the frame."""
    method = _check_method(method)
    ddf = frame._ddf if hasattr(frame, "_ddf") else frame
    missing = [c for c in columns if c not in ddf.columns]
    if missing:
        raise ValueError(f"fit_encoding: columns {missing} are not in the frame")
    enums = [c for c in columns if types[c] == "enum"]
    domains = {c: [str(v) for v in ddf[c].cat.categories] for c in enums}
    plans = {}
    if method in ("AUTO", "Enum") or not enums:
        return Encoding(method, columns, {c: types[c] for c in columns}, domains, plans)
    if method == "OneHotExplicit":
        plans = {c: ("onehot", domains[c]) for c in enums}
    elif method == "Binary":
        plans = {c: ("binary", 1 + _floor_log2(len(domains[c]))) for c in enums if domains[c]}
    elif method == "LabelEncoder":
        plans = {c: ("label", None) for c in enums}
    else:
        stats = _level_stats(ddf, enums, domains, method, response, response_domain, weights)
        plans = _fitted_plans(method, enums, domains, stats, max_levels, reorder_above)
    return Encoding(method, columns, {c: types[c] for c in columns}, domains, plans)


def _check_method(method) -> str:
    for name in ENCODINGS:
        if isinstance(method, str) and method.lower().replace("_", "") == name.lower():
            return name
    if method == "OneHotInternal":
        raise ValueError("categorical_encoding='OneHotInternal' is an algorithm-internal encoding, not a frame "
                         "transformation; use 'OneHotExplicit'")
    raise ValueError(f"categorical_encoding must be one of {list(ENCODINGS)}, got {method!r}")


def _floor_log2(n: int) -> int:
    return int(n).bit_length() - 1 if n > 0 else 0


def _partition_stats(pdf, enums, domains, y, y_domain, weights, with_response):
    """Per enum column: counts per level (last slot: NA), and weighted response sums per level."""
    out = {}
    if with_response:
        yv = _response_values(pdf, y, y_domain)
        w = np.ones(len(pdf)) if weights is None else pd.to_numeric(pdf[weights], errors="coerce").to_numpy(
            np.float64, na_value=np.nan)
        ok = ~np.isnan(yv) & ~np.isnan(w) & (w > 0)
    for col in enums:
        K = len(domains[col])
        codes = _codes(pdf, col, domains[col])
        slot = np.where(np.isnan(codes) | (codes >= K), K, codes).astype(np.int64)
        counts = np.bincount(slot, minlength=K + 1).astype(np.float64)
        if with_response:
            sw = np.bincount(slot[ok], weights=w[ok], minlength=K + 1)
            swy = np.bincount(slot[ok], weights=(w * yv)[ok], minlength=K + 1)
            out[col] = np.stack([counts, sw, swy])
        else:
            out[col] = counts[None, :]
    return out


def _response_values(pdf, y, y_domain) -> np.ndarray:
    values = pdf[y]
    if y_domain is None:
        return pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    codes = _codes(pdf, y, list(y_domain))
    return np.where(codes < len(y_domain), codes, np.nan)


def _merge_stats(*parts):
    return {c: np.sum([p[c] for p in parts], axis=0) for c in parts[0]}


def _level_stats(ddf, enums, domains, method, response, response_domain, weights):
    with_response = method == "SortByResponse"
    if with_response and (response is None or response not in ddf.columns):
        raise ValueError("categorical_encoding='SortByResponse' needs the response column; pass response=")
    needed = list(enums) + ([response] if with_response else []) + \
        ([weights] if with_response and weights is not None else [])
    parts = [dask.delayed(_partition_stats)(p, enums, domains, response, response_domain, weights, with_response)
             for p in ddf[list(dict.fromkeys(needed))].to_delayed()]
    while len(parts) > 1:  # an ordered tree reduction, 8 at a time
        parts = [dask.delayed(_merge_stats)(*parts[i:i + 8]) for i in range(0, len(parts), 8)]
    (stats,) = dask.compute(parts[0])
    return stats


def _fitted_plans(method, enums, domains, stats, max_levels, reorder_above):
    plans = {}
    for col in enums:
        K = len(domains[col])
        counts = stats[col][0]
        if method == "Eigen":
            if K:
                plans[col] = ("eigen", eigen_values(counts[:K], counts[K]))
        elif method == "EnumLimited":
            if K > max_levels:
                plans[col] = ("relevel", _top_levels(col, domains[col], counts[:K], max_levels))
        elif K > reorder_above:  # SortByResponse
            plans[col] = ("relevel", _sorted_by_response(col, domains[col], stats[col][1, :K], stats[col][2, :K]))
    return plans


def eigen_values(level_counts, na_count) -> np.ndarray:
    """Per level value of H2O's Eigen encoding (``LinearAlgebraUtils.toEigen``): NA rows count
    as the most frequent level; with D the level counts (float32-rounded, as H2O) and n their
    sum, the matrix U = (diag(D) - D D'/n) / sqrt(D D') (0 where undefined) is decomposed and
    the row of the eigenvector matrix at the largest eigenvalue gives the values (as float32)."""
    D = np.asarray(level_counts, dtype=np.float64).copy()
    if na_count:
        D[int(np.argmax(D))] += na_count
    n = D.sum()
    D = D / n
    D = D.astype(np.float32).astype(np.float64) * n
    with np.errstate(invalid="ignore", divide="ignore"):
        U = (np.diag(D) - np.outer(D, D) / n) / np.sqrt(np.outer(D, D))
    U = np.where(np.isfinite(U), U, 0.0)
    vals, vecs = np.linalg.eigh(U)
    # H2O takes the *row* of V at the index of the largest eigenvalue (a quirk kept here)
    return vecs[int(np.argmax(vals))].astype(np.float32).astype(np.float64)


def _top_levels(col, domain, counts, max_levels):
    order = sorted(range(len(domain)), key=lambda j: (-counts[j], j))[:max_levels]
    new_domain = [domain[j] for j in order] + ["other"]
    other = len(order)
    remap = np.full(len(domain), other, dtype=np.int64)
    remap[order] = np.arange(len(order))
    return f"{col}.top_{max_levels}_levels", new_domain, remap, other


def _sorted_by_response(col, domain, sw, swy):
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(sw > 0, swy / np.where(sw > 0, sw, 1), np.inf)  # levels without rows go last
    order = sorted(range(len(domain)), key=lambda j: (means[j], j))
    remap = np.empty(len(domain), dtype=np.int64)
    remap[order] = np.arange(len(order))
    return col, [domain[j] for j in order], remap, -1


# ------------------------------------------------------------------ frames

def encode_frame(frame, encoding: Encoding):
    """The H2OFrame ``frame`` re-encoded by ``encoding`` (lazy: one ``map_partitions``)."""
    if encoding.is_identity:
        return frame
    ddf = frame._ddf
    meta = encoding.transform_partition(ddf._meta)
    out = ddf.map_partitions(encoding.transform_partition, meta=meta)
    return frame._derive(out, encoding.frame_types(frame._types), same_rows=True)

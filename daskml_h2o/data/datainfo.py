"""H2O's DataInfo: the expanded, transformed input matrix a neural net (or any linear-style model)
trains on, built from the persisted raw chunks after one reduction pass of column statistics.

The raw chunks hold enum predictors as training level codes (NaN = NA, codes >= K = unseen
levels) and numerics as float64 (see ``data/chunks.py``). ``column_moments`` reduces them once
into per-column weighted moments, min/max, NA counts and per-level counts; ``make_datainfo``
turns those into the transform constants (spec deeplearning.md §4):

* categoricals first, by decreasing cardinality, one-hot with an extra ``missing(NA)`` slot
  (``use_all_factor_levels=False`` drops level 0); unseen levels go to the NA slot;
  ``max_categorical_features`` hashes the one-hot index into that many slots (MurmurHash2);
  ``categorical_encoding`` Binary / Eigen turn a categorical into numeric columns instead;
* numerics x' = (x - sub) * mul for the transforms none / standardize / normalize / descale,
  NA numerics mean-imputed in training and 0 after the transform when scoring;
* an identity-link regression response is standardised (resp_sub, resp_mul).

``DataInfo.expand(X, training)`` is one numba pass per chunk producing float32 rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from daskml_h2o import parallel

__all__ = ["DataInfo", "column_moments", "make_datainfo", "murmur_slot", "constant_columns",
           "TRANSFORMS", "ENCODINGS"]

TRANSFORMS = ("none", "standardize", "normalize", "descale")
ENCODINGS = ("onehot", "binary", "eigen")
_INT_MAX = 2147483647


# ------------------------------------------------------------------ the reduction pass

def _chunk_moments(chunk, enum_cols, n_levels, weighted):
    """Per column: [sum w, weighted mean, weighted M2, min, max, NA/inf count, non-zero count] plus
    per-enum level counts (last slot = NA/unseen) and the response's moments."""
    X, w = chunk["X"], chunk["w"] if weighted else np.ones(chunk["n"])
    p = X.shape[1]
    out = np.zeros((p, 7))
    for j in range(p):
        x = X[:, j]
        ok = np.isfinite(x)  # +-inf count as missing, as in the expansion
        xo, wo = x[ok], w[ok]
        sw = wo.sum()
        mean = (wo * xo).sum() / sw if sw > 0 else 0.0
        out[j] = [sw, mean, (wo * (xo - mean) ** 2).sum(), xo.min() if xo.size else np.inf,
                  xo.max() if xo.size else -np.inf, (~ok).sum(), np.count_nonzero(xo)]
    levels = []
    for j, k in zip(enum_cols, n_levels):
        codes = X[:, j]
        c = np.where(np.isnan(codes) | (codes >= k), k, codes).astype(np.int64)
        levels.append(np.bincount(c, weights=w, minlength=k + 1)[: k + 1])
    y = chunk["y"]
    okr = ~np.isnan(y) & (chunk["w"] > 0)
    yw = w[okr]
    sw = yw.sum()
    ym = (yw * y[okr]).sum() / sw if sw > 0 else 0.0
    resp = np.array([sw, ym, (yw * (y[okr] - ym) ** 2).sum()])
    return {"cols": out, "levels": levels, "resp": resp, "n": int(chunk["n"])}


def _merge_moment_rows(a, b):
    """Chan's parallel merge of [sum w, mean, M2] triples, row-wise."""
    na, nb = a[:, 0], b[:, 0]
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = b[:, 1] - a[:, 1]
        mean = np.where(n > 0, a[:, 1] + delta * nb / n, 0.0)
        m2 = a[:, 2] + b[:, 2] + np.where(n > 0, delta * delta * na * nb / n, 0.0)
    return np.column_stack([n, mean, m2])


def _merge(*parts):
    out = parts[0]
    for p in parts[1:]:
        a, b = out["cols"], p["cols"]
        cols = np.column_stack([_merge_moment_rows(a[:, :3], b[:, :3]), np.minimum(a[:, 3], b[:, 3]),
                                np.maximum(a[:, 4], b[:, 4]), a[:, 5] + b[:, 5], a[:, 6] + b[:, 6]])
        out = {"cols": cols, "levels": [x + y for x, y in zip(out["levels"], p["levels"])],
               "resp": _merge_moment_rows(out["resp"][None], p["resp"][None])[0], "n": out["n"] + p["n"]}
    return out


def column_moments(chunks, layout, weighted=False, executor=None) -> dict:
    """One tree-reduced pass over raw chunks (a ChunkSet, run by ``executor``: named tasks by
    default): per-column moments and per-level counts.

    Returns {"sw", "mean", "sd", "min", "max", "na", "nonzero" (arrays over layout.columns),
    "levels" {enum column: counts per level + NA/unseen last}, "resp_mean", "resp_sd", "n"}.
    ``weighted`` uses the weights column (H2O does so when weights are given without an offset).
    """
    enum_cols = [j for j, c in enumerate(layout.columns) if layout.types[c] == "enum"]
    n_levels = [len(layout.domains[layout.columns[j]]) for j in enum_cols]
    ex = executor or parallel.DaskExecutor()
    parts = ex.map(_chunk_moments, chunks.futures, args=(enum_cols, n_levels, weighted), name="dl-moments")
    m = ex.gather(ex.reduce(_merge, parts, name="dl-moments-merge"))
    cols = m["cols"]
    sw = cols[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.where(sw > 1, cols[:, 2] / (sw - 1), 0.0))
        rsd = float(np.sqrt(m["resp"][2] / (m["resp"][0] - 1))) if m["resp"][0] > 1 else 0.0
    return {"sw": sw, "mean": cols[:, 1], "sd": sd, "min": cols[:, 3], "max": cols[:, 4],
            "na": cols[:, 5].astype(np.int64), "nonzero": cols[:, 6].astype(np.int64),
            "levels": {layout.columns[j]: lv for j, lv in zip(enum_cols, m["levels"])},
            "resp_mean": float(m["resp"][1]), "resp_sd": rsd, "n": int(m["n"])}


def constant_columns(layout, stats) -> list:
    """Columns H2O's ignore_const_cols drops for DL: all NA, or one value ignoring NAs."""
    out = []
    for j, c in enumerate(layout.columns):
        if stats["na"][j] == stats["n"]:
            out.append(c)
        elif layout.types[c] == "enum":
            if np.count_nonzero(stats["levels"][c][:-1]) <= 1 and stats["levels"][c][-1] == 0:
                out.append(c)
        elif stats["min"][j] == stats["max"][j]:
            out.append(c)
    return out


# ------------------------------------------------------------------ hashing

@njit(nogil=True, cache=True)
def murmur_slot(e, seed, m):
    """H2O's hashed slot of one-hot index e: |MurmurHash2_32(big-endian bytes of e, seed)| mod m."""
    mask = 0xFFFFFFFF
    mm = 0x5BD1E995
    e = e & mask
    # the 4 big-endian bytes read back little-endian = the byte-swapped value
    k = ((e & 0xFF) << 24) | (((e >> 8) & 0xFF) << 16) | (((e >> 16) & 0xFF) << 8) | ((e >> 24) & 0xFF)
    h = ((seed & mask) ^ 4) & mask
    k = (k * mm) & mask
    k ^= k >> 24
    k = (k * mm) & mask
    h = (h * mm) & mask
    h ^= k
    h ^= h >> 13
    h = (h * mm) & mask
    h ^= h >> 15
    if h >= 0x80000000:
        h -= 0x100000000
    return abs(h) % m


# ------------------------------------------------------------------ expansion kernel

@njit(nogil=True, cache=True)
def _expand(X, out, cat_src, cat_k, cat_off, skip_first, hash_m, hash_seed, num_base,
            tab_src, tab_k, tab_rows, tab_pos, tab_vals, num_src, num_pos, num_sub, num_mul, num_fill, training):
    n = X.shape[0]
    for r in range(n):
        for i in range(out.shape[1]):
            out[r, i] = 0.0
        for c in range(len(cat_src)):
            v = X[r, cat_src[c]]
            k = cat_k[c]
            if np.isnan(v) or v >= k or v < 0:
                e = cat_off[c + 1] - 1  # the missing(NA) slot closes the block
            else:
                code = int(v)
                if skip_first and code == 0:
                    continue
                e = cat_off[c] + code - skip_first
            if hash_m > 0:
                out[r, murmur_slot(e, hash_seed, hash_m)] += 1.0
            else:
                out[r, e] = 1.0
        for t in range(len(tab_src)):
            v = X[r, tab_src[t]]
            k = tab_k[t]
            lvl = k if (np.isnan(v) or v >= k or v < 0) else int(v)
            row = tab_rows[t] + lvl
            for q in range(tab_pos[t + 1] - tab_pos[t]):
                out[r, num_base + tab_pos[t] + q] = tab_vals[row, q]
        for j in range(len(num_src)):
            v = X[r, num_src[j]]
            if np.isnan(v) or np.isinf(v):
                out[r, num_pos[j]] = num_fill[j] if training else 0.0
            else:
                out[r, num_pos[j]] = (v - num_sub[j]) * num_mul[j]


@dataclass
class DataInfo:
    """Transform constants and layout of the expanded input vector (numpy / plain Python only)."""

    columns: list                 # predictor names read (layout order, dropped ones left out); the
                                  # matrices expand() takes hold exactly these columns in this order
    cat_names: list               # one-hot categoricals, decreasing cardinality
    cat_src: np.ndarray           # their raw column indices
    cat_k: np.ndarray             # training levels per one-hot categorical
    cat_off: np.ndarray           # block starts in the expanded vector (+ the end)
    use_all_factor_levels: bool
    hash_m: int                   # 0 = no hashing, else max_categorical_features slots
    hash_seed: int
    tab_names: list               # Binary/Eigen-encoded categoricals
    tab_src: np.ndarray
    tab_k: np.ndarray
    tab_rows: np.ndarray          # first row of each categorical's lookup table in tab_vals
    tab_pos: np.ndarray           # output offsets of each table's columns (relative to num_base) + end
    tab_vals: np.ndarray          # transformed lookup values, (sum (K+1), max width)
    tab_coef_names: list
    num_names: list
    num_src: np.ndarray
    num_sub: np.ndarray
    num_mul: np.ndarray
    num_mean: np.ndarray
    transform: str
    resp_sub: float = 0.0
    resp_mul: float = 1.0
    coef_names: list = field(default_factory=list)

    @property
    def num_base(self) -> int:
        return self.hash_m if self.hash_m > 0 else int(self.cat_off[-1])

    @property
    def n_inputs(self) -> int:
        return self.num_base + int(self.tab_pos[-1]) + len(self.num_src)

    @property
    def num_pos(self) -> np.ndarray:
        return np.arange(len(self.num_src), dtype=np.int64) + self.num_base + int(self.tab_pos[-1])

    @property
    def num_fill(self) -> np.ndarray:
        """Training imputation of an NA numeric: the mean, transformed."""
        return (self.num_mean - self.num_sub) * self.num_mul

    def expand(self, X, training=False) -> np.ndarray:
        """Raw chunk matrix (float64, layout order) -> float32 (n, n_inputs) network inputs."""
        X = np.asarray(X, dtype=np.float64)
        out = np.empty((X.shape[0], self.n_inputs), np.float32)
        _expand(X, out, self.cat_src, self.cat_k, self.cat_off, int(not self.use_all_factor_levels),
                self.hash_m, self.hash_seed, self.num_base, self.tab_src, self.tab_k, self.tab_rows,
                self.tab_pos, self.tab_vals, self.num_src, self.num_pos, self.num_sub, self.num_mul,
                self.num_fill, bool(training))
        return out

    def has_na(self, X) -> np.ndarray:
        """Rows with any NA among the used predictors (missing_values_handling='Skip')."""
        used = np.concatenate([self.cat_src, self.tab_src, self.num_src]).astype(np.int64)
        return (~np.isfinite(X[:, used])).any(axis=1) if len(used) else np.zeros(X.shape[0], bool)

    def response(self, y):
        return (np.asarray(y, np.float64) - self.resp_sub) * self.resp_mul

    def response_inverse(self, f):
        return np.asarray(f, np.float64) / self.resp_mul + self.resp_sub

    @property
    def cat_offsets(self) -> list:
        return [int(v) for v in self.cat_off]


def _binary_table(k):
    """Bits of (level + 1) for levels 0..k-1, NA/unseen -> 0 (H2O's Binary encoding)."""
    width = max(1, int(k + 1).bit_length())
    codes = np.concatenate([np.arange(1, k + 1), [0]])
    return ((codes[:, None] >> np.arange(width)[None, :]) & 1).astype(np.float64)


def _eigen_table(counts):
    """Projection of each level's one-hot vector on the leading eigenvector of the one-hot
    covariance diag(p) - p p^T (level frequencies only); NA/unseen -> 0."""
    p = counts[:-1] / max(counts.sum(), 1e-300)
    cov = np.diag(p) - np.outer(p, p)
    vals, vecs = np.linalg.eigh(cov)
    v = vecs[:, -1]
    if v[np.argmax(np.abs(v))] < 0:
        v = -v
    return np.concatenate([v, [0.0]])[:, None]


def _moments_of_table(table, counts):
    """Mean and sample sd of each table column given how often each row (level) occurs."""
    tot = counts.sum()
    if tot <= 0:
        return np.zeros(table.shape[1]), np.zeros(table.shape[1])
    mean = (counts[:, None] * table).sum(axis=0) / tot
    var = (counts[:, None] * (table - mean) ** 2).sum(axis=0) / max(tot - 1, 1e-300)
    return mean, np.sqrt(var)


def _sub_mul(transform, mean, sd, lo, hi):
    if transform == "standardize":
        return mean, np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 1.0)
    if transform == "normalize":
        rng = hi - lo
        return mean, np.where(rng > 0, 1.0 / np.where(rng > 0, rng, 1.0), 1.0)
    if transform == "descale":
        return np.zeros_like(mean), np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 1.0)
    return np.zeros_like(mean), np.ones_like(mean)


def make_datainfo(layout, stats, transform="standardize", use_all_factor_levels=True,
                  categorical_encoding="onehot", max_categorical_features=_INT_MAX, hash_seed=0,
                  drop=(), standardize_response=False) -> DataInfo:
    """Transform constants from ``column_moments`` stats (spec deeplearning.md §4).

    ``drop``: predictor names left out (constant columns). ``categorical_encoding``: onehot,
    binary or eigen. ``standardize_response``: True for an identity-link regression.
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"transform={transform!r} must be one of {TRANSFORMS}")
    if categorical_encoding not in ENCODINGS:
        raise ValueError(f"categorical_encoding={categorical_encoding!r} must be one of {ENCODINGS}")
    if int(max_categorical_features) < 1:
        raise ValueError(f"max_categorical_features={max_categorical_features} must be >= 1")
    cols = [c for c in layout.columns if c not in set(drop)]
    index = {c: j for j, c in enumerate(layout.columns)}  # where the stats are
    kept = {c: j for j, c in enumerate(cols)}  # where expand() reads: the kept columns only
    enums = [c for c in cols if layout.types[c] == "enum"]
    nums = [c for c in cols if layout.types[c] != "enum"]
    skip = 0 if use_all_factor_levels else 1
    cat_names, tab_names = [], []
    if categorical_encoding == "onehot":
        cat_names = list(enums)
        # H2O's swap loop: a stable sort by decreasing cardinality
        cat_names.sort(key=lambda c: -len(layout.domains[c]))
    else:
        tab_names = list(enums)
    cat_k = np.array([len(layout.domains[c]) for c in cat_names], np.int64)
    cat_off = np.concatenate([[0], np.cumsum(cat_k - skip + 1)]).astype(np.int64)
    coef = []
    for c, k in zip(cat_names, cat_k):
        coef += [f"{c}.{lvl}" for lvl in layout.domains[c][skip:]] + [f"{c}.missing(NA)"]
    full_cat = int(cat_off[-1])
    hash_m = int(max_categorical_features) if int(max_categorical_features) < full_cat else 0
    if hash_m:
        coef = [f"hash_{i}" for i in range(hash_m)]
    tables, tab_coef = [], []
    for c in tab_names:
        k = len(layout.domains[c])
        counts = stats["levels"][c].astype(np.float64)
        table = _binary_table(k) if categorical_encoding == "binary" else _eigen_table(counts)
        mean, sd = _moments_of_table(table, counts)
        lo, hi = table[:-1].min(axis=0) if k else np.zeros(1), table[:-1].max(axis=0) if k else np.zeros(1)
        sub, mul = _sub_mul(transform, mean, sd, lo, hi)
        tables.append((table - sub) * mul)
        tab_coef += ([f"{c}:{b}" for b in range(table.shape[1])] if categorical_encoding == "binary"
                     else [f"{c}.Eigen"])
    width = max([t.shape[1] for t in tables], default=1)
    tab_vals = np.zeros((sum(t.shape[0] for t in tables), width))
    rows, pos = [0], [0]
    for t in tables:
        tab_vals[rows[-1]:rows[-1] + t.shape[0], : t.shape[1]] = t
        rows.append(rows[-1] + t.shape[0])
        pos.append(pos[-1] + t.shape[1])
    j_num = np.array([index[c] for c in nums], np.int64)
    mean = stats["mean"][j_num] if len(j_num) else np.zeros(0)
    sub, mul = _sub_mul(transform, mean, stats["sd"][j_num] if len(j_num) else np.zeros(0),
                        stats["min"][j_num] if len(j_num) else np.zeros(0),
                        stats["max"][j_num] if len(j_num) else np.zeros(0))
    resp_sub, resp_mul = 0.0, 1.0
    if standardize_response:
        resp_sub = stats["resp_mean"]
        resp_mul = 1.0 / stats["resp_sd"] if stats["resp_sd"] > 0 else 1.0
    return DataInfo(
        columns=cols, cat_names=cat_names, cat_src=np.array([kept[c] for c in cat_names], np.int64),
        cat_k=cat_k, cat_off=cat_off, use_all_factor_levels=bool(use_all_factor_levels), hash_m=hash_m,
        hash_seed=int(hash_seed) & 0xFFFFFFFF, tab_names=tab_names,
        tab_src=np.array([kept[c] for c in tab_names], np.int64),
        tab_k=np.array([len(layout.domains[c]) for c in tab_names], np.int64),
        tab_rows=np.array(rows[:-1], np.int64), tab_pos=np.array(pos, np.int64), tab_vals=tab_vals,
        tab_coef_names=tab_coef, num_names=nums, num_src=np.array([kept[c] for c in nums], np.int64),
        num_sub=np.asarray(sub, np.float64),
        num_mul=np.asarray(mul, np.float64), num_mean=np.asarray(mean, np.float64), transform=transform,
        resp_sub=float(resp_sub), resp_mul=float(resp_mul), coef_names=coef + tab_coef + nums)

"""Global bin edges and the kernels that turn raw feature values into bin codes.

A numeric feature with edges e (sorted, strictly increasing) gets code
``searchsorted(e, x, side="right")``, so code >= b exactly when x >= e[b-1]: a split at
bin b and a split at the float threshold e[b-1] route every value the same way. Missing
values get the reserved code ``na_bin`` (one past the largest bin count of any feature),
so histograms have ``na_bin + 1`` slots per feature with the NA bin last.

Categorical features arrive as level codes (float, NaN or -1 = NA). With at most
``nbins_cats`` levels every level is its own bin (code passed through); with more, the
codes are grouped into ``nbins_cats`` ordered ranges as H2O does (spec gbm.md §6.7), and
are then split like a numeric feature.
"""
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass
class BinSpec:
    """How every feature is binned; plain numpy, picklable."""
    edges_flat: np.ndarray     # float64, all features' edges concatenated
    edges_start: np.ndarray    # int64 (F+1,), feature j's edges are edges_flat[s[j]:s[j+1]]
    n_bins: np.ndarray         # int32 (F,), non-NA bins of each feature
    is_cat: np.ndarray         # bool (F,)
    cat_direct: np.ndarray     # bool (F,), categorical with one bin per level
    n_levels: np.ndarray       # int32 (F,), training domain size (0 for numeric)
    na_bin: int                # the reserved NA code, = max(n_bins)

    @property
    def n_features(self):
        return len(self.n_bins)

    @property
    def n_slots(self):
        """Histogram bins per feature, NA bin included."""
        return self.na_bin + 1

    @property
    def dtype(self):
        return np.uint8 if self.na_bin <= np.iinfo(np.uint8).max else np.uint16

    def edges(self, j):
        return self.edges_flat[self.edges_start[j]:self.edges_start[j + 1]]


def _midpoints(u):
    # a midpoint that rounds onto the lower value would put that value in the upper bin
    mid = u[:-1] + (u[1:] - u[:-1]) / 2.0
    return np.where(mid > u[:-1], mid, u[1:])


def _linear_quantiles(s, probs):
    """``np.quantile(values, probs)`` (its default "linear" method, its exact arithmetic) from
    the sorted values ``s``: np.quantile reads the same order statistics after a partition."""
    n = s.size
    virtual = (n - 1) * probs
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above] = -1
    nxt[above] = -1
    prev[virtual < 0] = 0
    nxt[virtual < 0] = 0
    prev, nxt = prev.astype(np.intp), nxt.astype(np.intp)
    gamma = np.asarray(virtual - prev, dtype=virtual.dtype)
    a, b = s[prev], s[nxt]
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def quantile_edges(values, max_bins, weights=None):
    """Edges from a sample: one bin per distinct value when there are <= max_bins of them
    (edges at midpoints), else (weighted) quantiles at i/max_bins, de-duplicated."""
    if max_bins < 2:
        raise ValueError(f"max_bins must be >= 2, got {max_bins}")
    values = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(values)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[keep]
    values = values[keep]
    if values.size == 0:
        return np.empty(0)
    # one sort serves the distinct values (as np.unique: same sort, first of each run) and
    # the quantiles
    s = np.sort(values)
    first = np.empty(s.size, dtype=bool)
    first[0] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    u = s[first]
    if u.size <= max_bins:
        return _midpoints(u)
    probs = np.arange(1, max_bins) / max_bins
    if w is None:
        q = _linear_quantiles(s, probs)
    else:
        order = np.argsort(values, kind="mergesort")
        cw = np.cumsum(w[order])
        q = values[order][np.searchsorted(cw, probs * cw[-1], side="left").clip(0, len(cw) - 1)]
    # an edge equal to a sample value puts that value in the upper bin, as searchsorted does;
    # + 0.0 makes a zero edge +0.0 whichever zero of a run of -0.0 and 0.0 the sort put first
    q = np.unique(q) + 0.0
    return q[(q > u[0]) & (q <= u[-1])]


def quantile_edges_columns(X, cols, max_bins):
    """``quantile_edges`` of the columns ``cols`` of X, on a few threads (numpy's sort
    releases the GIL); the same edges as one column at a time."""
    cols = list(cols)
    if len(cols) < 2:
        return [quantile_edges(X[:, j], max_bins) for j in cols]
    with ThreadPoolExecutor(max_workers=min(len(cols), os.cpu_count() or 1, 8)) as pool:
        return list(pool.map(lambda j: quantile_edges(X[:, j], max_bins), cols))


def uniform_edges(vmin, vmax, max_bins, is_int=False):
    """Equal-width edges on [vmin, vmax]; an integer column spanning <= max_bins values
    gets one bin per integer (edges at k + 0.5), as H2O's step-1 histograms."""
    if max_bins < 2:
        raise ValueError(f"max_bins must be >= 2, got {max_bins}")
    if not (np.isfinite(vmin) and np.isfinite(vmax)) or vmax <= vmin:
        return np.empty(0)
    if is_int and vmax - vmin + 1 <= max_bins:
        return np.arange(vmin, vmax) + 0.5
    return vmin + (vmax - vmin) * np.arange(1, max_bins) / max_bins


def categorical_edges(n_levels, nbins_cats):
    """None when every level gets its own bin, else code edges of nbins_cats groups."""
    if n_levels <= nbins_cats:
        return None
    groups = np.floor(np.arange(n_levels) * (nbins_cats / n_levels)).astype(np.int64)
    starts = np.flatnonzero(np.diff(groups)) + 1
    return starts - 0.5


def make_bin_spec(edges_list, is_cat=None, n_levels=None, nbins_cats=1024):
    """Build a BinSpec; for categorical features the entry of edges_list is ignored."""
    nf = len(edges_list)
    is_cat = np.zeros(nf, bool) if is_cat is None else np.asarray(is_cat, bool)
    n_levels = np.zeros(nf, np.int32) if n_levels is None else np.asarray(n_levels, np.int32)
    edges, n_bins, direct = [], np.zeros(nf, np.int32), np.zeros(nf, bool)
    for j in range(nf):
        e = np.asarray(edges_list[j], dtype=np.float64) if not is_cat[j] else \
            categorical_edges(int(n_levels[j]), nbins_cats)
        if is_cat[j] and e is None:
            direct[j] = True
            e = np.empty(0)
            n_bins[j] = max(int(n_levels[j]), 1)
        else:
            if np.any(np.diff(e) <= 0):
                raise ValueError(f"bin edges of feature {j} must be strictly increasing")
            n_bins[j] = len(e) + 1
        edges.append(e)
    start = np.zeros(nf + 1, np.int64)
    start[1:] = np.cumsum([len(e) for e in edges])
    flat = np.concatenate(edges) if nf else np.empty(0)
    na_bin = int(n_bins.max()) if nf else 1
    if na_bin > np.iinfo(np.uint16).max - 1:
        raise ValueError(f"at most 65534 bins per feature are supported, got {na_bin}")
    return BinSpec(flat, start, n_bins, is_cat, direct, n_levels, na_bin)


@njit(nogil=True, cache=True)
def _bin_edges_column(x, edges, na_bin, out):
    for i in range(x.shape[0]):
        v = x[i]
        if np.isnan(v):
            out[i] = na_bin
        else:
            out[i] = np.searchsorted(edges, v, side="right")


# Lookup cells per edge: a value's cell narrows its searchsorted answer to the few edges in
# that cell, so the binary search (branch mispredictions on every level) mostly disappears.
CELLS_PER_EDGE = 16
MAX_CELLS = 1 << 16
_EDGES, _DIRECT, _CAT_EDGES = 0, 1, 2
# rows binned per block: the block's codes of every feature stay in L1 while the columns stream
_ROW_BLOCK = 512


@njit(nogil=True, cache=True)
def _cell(v, lo, scale, ncell):
    # Monotone in v (rounded subtraction and product are), which is all exactness needs:
    # an edge in a lower cell than v is < v, one in a higher cell is > v.
    if ncell == 1:
        return 0
    f = (v - lo) * scale
    if f >= ncell - 1:
        return ncell - 1
    return np.int64(f)


@njit(nogil=True, cache=True)
def _build_cells(edges_flat, edges_start, ncell, scale, cell_start, table):
    """table[cell_start[j] + c] = number of feature j's edges (last excluded) in cells < c."""
    for j in range(ncell.shape[0]):
        s, e = edges_start[j], edges_start[j + 1]
        t0 = cell_start[j]
        for c in range(ncell[j] + 1):
            table[t0 + c] = 0
        if e - s < 2:
            continue
        lo = edges_flat[s]
        for k in range(s, e - 1):
            table[t0 + _cell(edges_flat[k], lo, scale[j], ncell[j]) + 1] += 1
        for c in range(ncell[j]):
            table[t0 + c + 1] += table[t0 + c]


@njit(nogil=True, cache=True)
def _bin_block(X, src, i0, i1, kind, n_levels, edges_flat, s, e, scale, ncell, table, t0, na_bin, out, j):
    # one flat loop, no inner call taking arrays: such a call pays reference counting per value
    lo = edges_flat[s] if e > s else np.inf
    hi_edge = edges_flat[e - 1] if e > s else np.inf
    for i in range(i0, i1):
        v = X[i, src]
        if np.isnan(v) or (kind != _EDGES and v < 0):
            out[i, j] = na_bin
        elif kind == _DIRECT:
            out[i, j] = na_bin if v >= n_levels else np.int64(v)
        elif v < lo:
            out[i, j] = 0
        elif v >= hi_edge:
            out[i, j] = e - s
        else:
            # searchsorted-right among the edges of v's cell only
            c = _cell(v, lo, scale, ncell)
            k = s + table[t0 + c]
            hi = s + table[t0 + c + 1]
            while hi - k > 8:
                mid = (k + hi) >> 1
                if edges_flat[mid] <= v:
                    k = mid + 1
                else:
                    hi = mid
            while k < hi and edges_flat[k] <= v:
                k += 1
            out[i, j] = k - s


@njit(nogil=True, cache=True)
def _bin_rows(X, cols, kind, n_levels, edges_flat, edges_start, scale, ncell, cell_start, table, na_bin, out):
    n = X.shape[0]
    for i0 in range(0, n, _ROW_BLOCK):
        i1 = min(n, i0 + _ROW_BLOCK)
        for j in range(cols.shape[0]):
            _bin_block(X, cols[j], i0, i1, kind[j], n_levels[j], edges_flat, edges_start[j], edges_start[j + 1],
                       scale[j], ncell[j], table, cell_start[j], na_bin, out, j)


def _cell_tables(spec):
    """Per feature (scale, ncell, cell_start, table) of the edge lookup cells."""
    m = np.diff(spec.edges_start)
    lo = spec.edges_flat[spec.edges_start[:-1][m > 0]] if len(m) else np.empty(0)
    ncell = np.ones(spec.n_features, np.int64)
    scale = np.zeros(spec.n_features)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        width = np.zeros(spec.n_features)
        width[m > 0] = spec.edges_flat[spec.edges_start[1:][m > 0] - 1] - lo
        cells = np.minimum(CELLS_PER_EDGE * m, MAX_CELLS)
        sc = cells / np.where(width > 0, width, np.nan)
    # a span that overflows or underflows gets one cell: plain binary search
    ok = (m >= 2) & np.isfinite(sc) & (sc > 0) & np.isfinite(width)
    ncell[ok], scale[ok] = cells[ok], sc[ok]
    cell_start = np.zeros(spec.n_features + 1, np.int64)
    cell_start[1:] = np.cumsum(ncell + 1)
    table = np.empty(int(cell_start[-1]), np.int32)
    _build_cells(spec.edges_flat, spec.edges_start, ncell, scale, cell_start, table)
    return scale, ncell, cell_start, table


def bin_columns(X, spec, cols=None, order="C"):
    """Codes of the columns ``cols`` of a float matrix (all columns by default; categoricals as
    level codes, NaN or < 0 = NA), in one pass, as a C- (row-major) or Fortran-ordered array."""
    X = np.asarray(X, dtype=np.float64)
    cols = np.arange(X.shape[1] if X.ndim == 2 else 0) if cols is None else np.asarray(cols, dtype=np.int64)
    if X.ndim != 2 or len(cols) != spec.n_features:
        raise ValueError(f"X must have {spec.n_features} columns to bin, got shape {X.shape} with columns {cols}")
    if len(cols) and (cols.min() < 0 or cols.max() >= X.shape[1]):
        raise ValueError(f"column indices {cols} are out of range for X of shape {X.shape}")
    kind = np.where(spec.cat_direct, _DIRECT, np.where(spec.is_cat, _CAT_EDGES, _EDGES)).astype(np.int64)
    scale, ncell, cell_start, table = _cell_tables(spec)
    out = np.empty((X.shape[0], spec.n_features), dtype=spec.dtype, order=order)
    _bin_rows(X, cols, kind, spec.n_levels.astype(np.int64), spec.edges_flat, spec.edges_start, scale, ncell,
              cell_start, table, spec.na_bin, out)
    return out


def bin_numeric(x, edges, na_bin, dtype=np.uint16):
    """Codes of one float column: searchsorted-right into edges, NaN -> na_bin."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(x.shape[0], dtype=dtype)
    _bin_edges_column(x, np.asarray(edges, dtype=np.float64), na_bin, out)
    return out


def bin_matrix(X, spec):
    """Bin a float matrix (categoricals as level codes) into Fortran-ordered codes."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != spec.n_features:
        raise ValueError(f"X must have shape (n, {spec.n_features}), got {X.shape}")
    return bin_columns(X, spec, order="F")


def spec_from_data(X, max_bins=255, strategy="quantile", is_cat=None, n_levels=None,
                   is_int=None, nbins_cats=1024):
    """Convenience for in-memory data: edges per feature from the whole column."""
    X = np.asarray(X, dtype=np.float64)
    nf = X.shape[1]
    is_cat = np.zeros(nf, bool) if is_cat is None else np.asarray(is_cat, bool)
    is_int = np.zeros(nf, bool) if is_int is None else np.asarray(is_int, bool)
    if strategy not in ("quantile", "uniform"):
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    edges = []
    for j in range(nf):
        col = X[:, j]
        if is_cat[j]:
            edges.append(np.empty(0))
        elif strategy == "quantile":
            edges.append(quantile_edges(col, max_bins))
        else:
            fin = col[np.isfinite(col)]
            lo, hi = (fin.min(), fin.max()) if fin.size else (np.nan, np.nan)
            edges.append(uniform_edges(lo, hi, max_bins, bool(is_int[j])))
    if n_levels is None:
        n_levels = np.where(is_cat, np.nan_to_num(np.nanmax(np.where(X < 0, np.nan, X), axis=0),
                                                  nan=-1) + 1, 0).astype(np.int32)
    return make_bin_spec(edges, is_cat, n_levels, nbins_cats)


@dataclass
class AdaptiveSpec:
    """Whole-column summaries for H2O's UniformAdaptive per-node histograms (§6.7)."""
    is_cat: np.ndarray         # bool (F,)
    n_levels: np.ndarray       # int32 (F,), training domain size (0 for numeric)
    is_int: np.ndarray         # bool (F,), whole-number numeric column
    col_min: np.ndarray        # float64 (F,), min of non-NA values (NaN if none)
    col_max: np.ndarray        # float64 (F,)
    col_has_na: np.ndarray     # bool (F,)
    nbins: int = 20
    nbins_top_level: int = 1024
    nbins_cats: int = 1024

    @property
    def n_features(self):
        return len(self.is_cat)

    def integral(self):
        """Columns binned on whole numbers (integer columns and categorical codes)."""
        return self.is_cat | self.is_int


def adaptive_spec_from_data(X, is_cat=None, n_levels=None, is_int=None, nbins=20,
                            nbins_top_level=1024, nbins_cats=1024):
    """AdaptiveSpec from an in-memory float matrix (categoricals as codes, NaN/-1 = NA)."""
    X = np.asarray(X, dtype=np.float64)
    nf = X.shape[1]
    is_cat = np.zeros(nf, bool) if is_cat is None else np.asarray(is_cat, bool)
    Xn = np.where(is_cat & (X < 0), np.nan, X)
    fin = np.where(np.isfinite(Xn), Xn, np.nan)
    with warnings.catch_warnings():
        # an all-NA column has no min/max: NaN is the answer we want
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(fin, axis=0), np.nanmax(fin, axis=0)
    if is_int is None:
        is_int = np.array([np.all(np.mod(c[np.isfinite(c)], 1) == 0) for c in fin.T]) & ~is_cat
    if n_levels is None:
        n_levels = np.where(is_cat, np.nan_to_num(hi, nan=-1) + 1, 0)
    return AdaptiveSpec(is_cat, np.asarray(n_levels, np.int32), np.asarray(is_int, bool), lo, hi,
                        np.isnan(Xn).any(axis=0), nbins, nbins_top_level, nbins_cats)


def uniform_bins(lo, max_ex, requested, integral):
    """(step, nbins) of a uniform histogram on [lo, max_ex): one bin per whole number when
    an integral column spans <= requested values, else `requested` bins of width 1/step."""
    span = max_ex - lo
    if integral and span <= requested:
        return 1.0, int(span)
    return requested / span, int(requested)


def root_ranges(spec):
    """Per feature (lo, max_ex, requested bins, has histogram) at the root."""
    lo = np.where(spec.is_cat, 0.0, spec.col_min)
    hi = spec.col_max
    max_ex = np.where(spec.integral(), hi + 1.0, np.nextafter(hi, np.inf))
    max_ex = np.where(spec.is_cat, spec.n_levels.astype(float), max_ex)
    req = np.where(spec.is_cat, spec.nbins_cats, max(spec.nbins_top_level, spec.nbins))
    # all-NA or constant (NA counted as a value) columns cannot split
    has = np.isfinite(spec.col_min) & ((spec.col_max > spec.col_min) | spec.col_has_na)
    return lo, max_ex, req.astype(np.int64), has

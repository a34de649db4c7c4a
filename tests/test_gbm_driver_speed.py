"""The driver's fused per-level kernels against the numpy steps they replace.

open_level (derive + mask), find_splits_open (search without gathering), the plan's route
arrays and combine_node_sums must give exactly what the plain steps give, so the trees
do not change.
"""
import numpy as np
import pytest

from daskml_h2o.gbm import grower as G
from daskml_h2o.gbm import histogram as H
from daskml_h2o.gbm import splitting as S
from daskml_h2o.gbm import tree as T
from daskml_h2o.gbm.global_grower import GlobalTreeBuilder, open_level, subtract_histograms
from tests.test_gbm_global_bins import _trained_builder


def _hists(rng, n, n_bins, empty=0.4):
    """(n, Σ(n_bins + 1), 3) histograms with whole and fractional weights and empty bins."""
    tot = int(np.sum(np.asarray(n_bins) + 1))
    w = rng.uniform(0.1, 3.0, (n, tot)) * (rng.random((n, tot)) > empty)
    wy = w * rng.normal(size=(n, tot))
    wyy = w * rng.uniform(0.0, 2.0, (n, tot)) + wy * wy / np.maximum(w, 1e-3)
    return np.stack([w, wy, wyy], axis=2)


def _splittable(raw, offsets, tree_cols, root):
    """The numpy mask open_level replaces: >= 2 non-empty non-NA bins, or at the root one
    plus NA weight, and a tree column."""
    nf = len(offsets) - 1
    ok = np.zeros((len(raw), nf), bool)
    for j in range(nf):
        na = offsets[j + 1] - 1
        count = (raw[:, offsets[j]:na, 0] > 0).sum(axis=1)
        ok[:, j] = (count >= 2) | (root & (count == 1) & (raw[:, na, 0] > 0))
    return ok & tree_cols[None, :]


@pytest.mark.parametrize("root", [False, True])
def test_open_level_derives_and_masks_like_the_numpy_steps(root):
    rng = np.random.default_rng(5)
    n_bins = np.array([1, 6, 2, 30, 1])
    off = H.ragged_offsets(n_bins)
    prev_hist = _hists(rng, 2, n_bins)
    prev_derived = _hists(rng, 1, n_bins)
    prev_where = np.array([1, -1, 0])           # previous open nodes: built 1, derived 0, built 0
    # this level: 3 built slots, 2 derived nodes whose parents are previous open nodes 1 and 2
    hist = np.minimum(_hists(rng, 3, n_bins, empty=0.6), prev_derived[0][None])
    hist[1] = np.minimum(hist[1], prev_hist[0])
    where = np.array([0, -1, 2, -2, 1])
    parent_row = np.array([0, 1, 0, 2, 0])
    sibling_slot = np.array([0, 0, 0, 1, 0])
    tree_cols = np.array([True, True, False, True, True])
    derived, ok = open_level(hist, prev_hist, prev_derived, prev_where, where, parent_row,
                             sibling_slot, off, tree_cols, root)
    want_derived = np.stack([subtract_histograms(prev_derived[0], hist[0]),
                             subtract_histograms(prev_hist[0], hist[1])])
    np.testing.assert_array_equal(derived, want_derived)
    raw = np.stack([hist[0], want_derived[0], hist[2], want_derived[1], hist[1]])
    want_ok = _splittable(raw, off, tree_cols, root)
    np.testing.assert_array_equal(ok, want_ok)
    assert want_ok.any() and not want_ok.all()


def test_find_splits_open_equals_the_search_on_gathered_rounded_histograms():
    rng = np.random.default_rng(11)
    n_bins = np.array([12, 5, 40, 3])
    cat_direct = np.array([False, True, False, True])
    off = H.ragged_offsets(n_bins)
    hist = _hists(rng, 3, n_bins) * 7.0
    derived = _hists(rng, 2, n_bins) * 7.0
    where = np.array([2, -2, 0, -1, 1])
    masks = rng.random((5, 4)) < 0.8
    got = S.find_splits_open(hist, derived, where, off, cat_direct, masks, 3.0, 1e-5)
    gathered = np.stack([hist[i] if i >= 0 else derived[-1 - i] for i in where])
    want = S.find_splits_ragged(S.round_histograms(gathered), off, cat_direct, masks, 3.0, 1e-5)
    assert (want[0] >= 0).sum() >= 3 and want[3].any()  # splits found, a set split among them
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    # raw float64 sums search as their float32-rounded copies (H2O's reduce precision)
    raw = S.find_splits_ragged(gathered, off, cat_direct, masks, 3.0, 1e-5)
    for a, b in zip(raw, want):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("builder_cls", [G.TreeBuilder, GlobalTreeBuilder])
def test_route_arrays_are_the_trees_arrays(builder_cls):
    builder = _trained_builder(builder_cls, 5)[0]
    got = builder.route_arrays()
    want = T.tree_arrays(builder.to_tree())
    assert {T.RANGE, T.BITSET} <= set(want[1].tolist())
    for a, b in zip(got, want):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_combine_node_sums_matches_numpy_with_infinities_and_nan():
    rng = np.random.default_rng(2)
    for _ in range(50):
        a = rng.normal(size=(rng.integers(0, 6), 6))
        b = rng.normal(size=(rng.integers(0, 6), 6))
        for x in (a, b):
            x[:, 4][rng.random(len(x)) < 0.3] = np.inf
            x[:, 5][rng.random(len(x)) < 0.3] = -np.inf
            x[:, 4:][rng.random((len(x), 2)) < 0.1] = np.nan
        big, small = (a, b) if len(a) >= len(b) else (b, a)
        want = big.copy()
        m = len(small)
        want[:m, :4] += small[:, :4]
        want[:m, 4] = np.minimum(want[:m, 4], small[:, 4])
        want[:m, 5] = np.maximum(want[:m, 5], small[:, 5])
        np.testing.assert_array_equal(H.combine_node_sums(a, b), want)


def test_column_sampling_draws_only_when_a_node_can_lose_columns():
    builder = _trained_builder(GlobalTreeBuilder, 2)[0]
    ok = np.ones((len(builder.open), 4), bool)
    state = builder.rng.bit_generator.state
    assert builder._subsample_columns(ok.copy()).all()
    assert builder.rng.bit_generator.state == state  # nothing to sample: no draw
    builder.params = G.GrowParams(max_depth=6, min_rows=5, col_sample_rate=0.5)
    got = builder._subsample_columns(ok.copy())
    assert (got.sum(axis=1) == 2).all() and builder.rng.bit_generator.state != state

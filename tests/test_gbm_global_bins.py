"""The fast global-bins path: ragged histograms, table routing, sibling subtraction.

Everything here is checked against the plain dense kernels and the dense TreeBuilder,
which stay the reference.
"""
import numpy as np
import pytest

from daskml_h2o.data import binning as B
from daskml_h2o.gbm import grower as G
from daskml_h2o.gbm import histogram as H
from daskml_h2o.gbm import splitting as S
from daskml_h2o.gbm import tree as T
from daskml_h2o.gbm.global_grower import GlobalTreeBuilder, subtract_histograms


def _codes(rng, n, n_bins, na_frac=0.1):
    """Binned codes with the NA code = widest feature, C-ordered."""
    na = int(max(n_bins))
    Xb = np.column_stack([rng.integers(0, nb, n) for nb in n_bins])
    Xb[rng.random(Xb.shape) < na_frac] = na
    return np.ascontiguousarray(Xb.astype(np.uint16 if na > 255 else np.uint8)), na


def _dense_view(ragged, n_bins, na):
    """The dense (S, F, na + 1, 3) histogram holding the same sums as a ragged one."""
    off = H.ragged_offsets(n_bins)
    dense = np.zeros((ragged.shape[0], len(n_bins), na + 1, 3))
    for f, nb in enumerate(n_bins):
        dense[:, f, :nb] = ragged[:, off[f]:off[f] + nb]
        dense[:, f, na] = ragged[:, off[f] + nb]
    return dense


def test_ragged_histograms_hold_the_dense_sums_exactly():
    rng = np.random.default_rng(0)
    n_bins = np.array([3, 300, 1, 17])
    Xb, na = _codes(rng, 2000, n_bins)
    node_ids = rng.integers(0, 5, len(Xb)).astype(np.int32)
    slot_of_node = np.array([2, -1, 0, 1, -1], np.int32)
    grad = rng.normal(size=len(Xb)).astype(np.float32)
    w = rng.uniform(0, 3, len(Xb))
    w[rng.random(len(w)) < 0.2] = 0
    off = H.ragged_offsets(n_bins)
    assert list(off) == [0, 4, 305, 307, 325]
    ragged = H.build_histograms_ragged(Xb, node_ids, slot_of_node, grad, w, 3, off)
    dense = H.build_histograms(np.asfortranarray(Xb), node_ids, slot_of_node, grad, w, 3, na + 1)
    np.testing.assert_array_equal(_dense_view(ragged, n_bins, na), dense)


def _trained_builder(builder_cls, levels, seed=1, **kw):
    """A builder and chunk after growing `levels` levels on data with every split kind."""
    rng = np.random.default_rng(seed)
    n = 3000
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 7, n).astype(float),
                         rng.uniform(size=n), rng.integers(0, 4, n).astype(float)])
    X[rng.random(n) < 0.15, 0] = np.nan
    X[rng.random(n) < 0.3, 3] = np.nan
    spec = B.spec_from_data(X, max_bins=40, is_cat=[0, 1, 0, 1])
    Xb = np.ascontiguousarray(B.bin_matrix(X, spec))
    z = (np.nan_to_num(X[:, 0], nan=3.0) + (X[:, 1] == 2) * 2 + np.isnan(X[:, 3]) * 4
         + rng.normal(size=n)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, n) * (rng.random(n) < 0.8)
    chunk = G.TreeChunk(Xb, z, w, z.astype(float) * w, w, np.zeros(n))
    builder = builder_cls(spec, G.GrowParams(max_depth=6, min_rows=5), np.random.default_rng(3), **kw)
    ids = np.zeros(n, np.int32)
    plan = builder.plan(first=True)
    for _ in range(levels):
        ids, hist, sums = G.chunk_level_step(chunk, ids, plan, spec.na_bin)
        plan = builder.decide(hist, sums)
    return builder, chunk, ids, plan, spec


def test_route_table_is_the_trees_binned_routing():
    builder, chunk, ids, plan, spec = _trained_builder(G.TreeBuilder, 4)
    fe, k, b, t, nl, le, ri, bs, bl, lv, bits = plan.route
    assert {T.RANGE, T.BITSET, T.NA_VS_REST} <= set(k.tolist())
    off = H.ragged_offsets(spec.n_bins)
    at = np.array([nd for nd in range(len(k)) if nd % 3], np.int32)  # rows sit at these nodes
    present = H.nodes_with_rows(at, len(k))
    np.testing.assert_array_equal(present, np.isin(np.arange(len(k)), at))
    start, col, child, table = H.route_table(present, fe, k, le, ri, b, nl, bs, bl, bits,
                                             spec.na_bin, off)
    for nd in range(len(k)):
        if k[nd] == T.LEAF or nd not in at:
            assert start[nd] == 0 and list(child[nd]) == [nd, nd]
            assert not table[:spec.na_bin + 1].any()
            continue
        nb = spec.n_bins[fe[nd]]
        assert col[nd] == fe[nd]
        for code in list(range(nb)) + [spec.na_bin]:
            side = T._binned_side(code, k[nd], b[nd], nl[nd], bl[nd], spec.na_bin)
            right = side == T.RIGHT or (side == T.LOOKUP and bits[bs[nd] + code] != 0)
            go = table[start[nd] + min(code, nb)]
            assert child[nd, go] == (ri[nd] if right else le[nd])


@pytest.mark.parametrize("levels", [1, 2, 3, 5])
def test_ragged_level_step_equals_the_dense_one(levels):
    builder, chunk, ids, plan, spec = _trained_builder(G.TreeBuilder, levels)
    dense = H.level_step(chunk.Xb, ids, chunk.grad, chunk.w, chunk.num, chunk.den, chunk.f, plan,
                         spec.na_bin)
    off = H.ragged_offsets(spec.n_bins)
    ragged = H.level_step(chunk.Xb, ids, chunk.grad, chunk.w, chunk.num, chunk.den, chunk.f,
                          plan._replace(offsets=off), spec.na_bin)
    np.testing.assert_array_equal(ragged[0], dense[0])
    np.testing.assert_array_equal(_dense_view(ragged[1], spec.n_bins, spec.na_bin), dense[1])
    # node sums wait for the final pass
    assert (ragged[2][:, :H.SUM_FMIN] == 0).all() and dense[2][:, H.SUM_W].sum() > 0
    # ... which sums every counted row at the node it ends in, in row order
    final = H.level_step(chunk.Xb, ids, chunk.grad, chunk.w, chunk.num, chunk.den, chunk.f,
                         plan._replace(offsets=off, final=True), spec.na_bin)
    np.testing.assert_array_equal(final[0], dense[0])
    assert final[1].shape == (0, off[-1], 3)
    counted = chunk.w != 0
    arrived = H.accumulate_node_sums(dense[0], counted, chunk.grad, chunk.w, chunk.num, chunk.den,
                                     np.array(chunk.f, copy=True), plan.n_nodes)
    np.testing.assert_array_equal(final[2], arrived)
    # with the nodes rows sit at given, the same step
    given = H.level_step(chunk.Xb, ids, chunk.grad, chunk.w, chunk.num, chunk.den, chunk.f,
                         plan._replace(offsets=off, present=H.nodes_with_rows(ids, plan.n_nodes)),
                         spec.na_bin)
    for a, b in zip(given, ragged):
        np.testing.assert_array_equal(a, b)


def test_find_splits_ragged_equals_dense():
    builder, chunk, ids, plan, spec = _trained_builder(G.TreeBuilder, 3)
    dense = S.round_histograms(G.chunk_level_step(chunk, ids, plan, spec.na_bin)[1])
    off = H.ragged_offsets(spec.n_bins)
    ragged = S.round_histograms(H.level_step(chunk.Xb, ids, chunk.grad, chunk.w, chunk.num,
                                             chunk.den, chunk.f, plan._replace(offsets=off),
                                             spec.na_bin)[1])
    ns, nf = dense.shape[:2]
    masks = np.ones((ns, nf), bool)
    masks[0, 1] = False
    want = S.find_splits(dense, np.tile(spec.n_bins, (ns, 1)), np.tile(spec.cat_direct, (ns, 1)),
                         masks, spec.na_bin, 5.0, 1e-5)
    got = S.find_splits_ragged(ragged, off, spec.cat_direct, masks, 5.0, 1e-5)
    assert (want[0] >= 0).sum() >= 2 and want[3].any()  # splits found, a set split among them
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    count, na_w = S.nonempty_bins_ragged(ragged, off)
    np.testing.assert_array_equal(count, (dense[:, :, :spec.na_bin, 0] > 0).sum(axis=2))
    np.testing.assert_array_equal(na_w, dense[:, :, spec.na_bin, 0])


def test_subtraction_gives_the_histograms_of_building_every_node():
    builder, chunk, ids, plan, spec = _trained_builder(GlobalTreeBuilder, 0)
    derived_levels = 0
    while plan is not None and builder.open:
        new_ids, hist, sums = G.chunk_level_step(chunk, ids, plan, spec.na_bin)
        every = np.full(len(builder.nodes), -1, np.int32)
        every[builder.open] = np.arange(len(builder.open))
        direct = H.build_histograms_ragged(chunk.Xb, new_ids, every, chunk.grad, chunk.w,
                                           len(builder.open), plan.offsets)
        got = builder._open_histograms(hist)
        derived_levels += bool(builder.derived)
        np.testing.assert_allclose(got, direct, rtol=1e-9, atol=1e-9)
        # the weights are not whole numbers and derived parents carry rounding: bins
        # without rows must still be exactly empty, the others keep their weight
        empty = direct[..., 0] == 0
        assert (got[empty] == 0).all() and (got[~empty][:, 0] > 0).all()
        ids, plan = new_ids, builder.decide(hist, sums)
    assert derived_levels >= 3


def test_subtract_histograms_leaves_bins_without_weight_exactly_empty():
    parent = np.array([[3.0, 0.9, 0.5], [0.1 + 0.2, 0.7, 0.4], [0.0, 0.0, 0.0], [0.3, 0.2, 0.1]])
    child = np.array([[1.0, 0.3, 0.09], [0.3, 0.7 - 1e-17, 0.4], [0.0, 0.0, 0.0],
                      [0.1 + 0.2, 0.2, 0.1]])
    out = subtract_histograms(parent, child)
    np.testing.assert_allclose(out[0], [2.0, 0.6, 0.41])
    # 0.1 + 0.2 - 0.3 is rounding noise (> 0), and 0.3 - (0.1 + 0.2) < 0: both are empty bins
    assert parent[1, 0] - child[1, 0] > 0 and parent[3, 0] - child[3, 0] < 0
    np.testing.assert_array_equal(out[1:], 0.0)


def test_only_the_smaller_child_is_built():
    builder, chunk, ids, plan, spec = _trained_builder(GlobalTreeBuilder, 1)
    root = builder.nodes[0]
    assert plan.n_slots == 1
    built = int(np.flatnonzero(plan.slot_of_node == 0)[0])
    ids, _, _ = G.chunk_level_step(chunk, ids, plan, spec.na_bin)
    child_w = [chunk.w[ids == c].sum() for c in (root["left"], root["right"])]
    assert built in (root["left"], root["right"])
    assert chunk.w[ids == built].sum() == pytest.approx(min(child_w))
    assert min(child_w) < max(child_w)


def _tree_fields(a, b):
    for ra, rb in zip(a.trees, b.trees):
        for ta, tb in zip(ra, rb):
            for field in ("feature", "kind", "bin", "threshold", "na_left", "left", "right",
                          "node_id", "depth"):
                np.testing.assert_array_equal(ta.nodes[field], tb.nodes[field], err_msg=field)
            np.testing.assert_array_equal(ta.bitsets, tb.bitsets)
            np.testing.assert_allclose(ta.nodes["value"], tb.nodes["value"], rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(ta.nodes["gain"], tb.nodes["gain"], rtol=1e-6)


@pytest.mark.parametrize("dist,weighted", [("gaussian", True), ("bernoulli", False)])
def test_subtraction_grows_the_trees_of_the_dense_builder(monkeypatch, dist, weighted):
    rng = np.random.default_rng(4)
    n = 1500
    X = np.column_stack([rng.normal(size=n), rng.uniform(0, 10, n),
                         rng.integers(0, 6, n).astype(float), rng.normal(size=n)])
    X[rng.random(n) < 0.1, 0] = np.nan
    X[rng.random(n) < 0.05, 2] = np.nan
    signal = np.nan_to_num(X[:, 0], nan=1.5) + 0.3 * X[:, 1] + np.isin(X[:, 2], [1, 4]) * 2.0
    y = signal + rng.normal(size=n)
    if dist == "bernoulli":
        y = (y > 2.5).astype(float)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    spec = B.spec_from_data(X, max_bins=64, is_cat=[0, 0, 1, 0])
    Xb = B.bin_matrix(X, spec)
    chunks = [np.ascontiguousarray(Xb[:700]), np.ascontiguousarray(Xb[700:])]
    ys, ws = [y[:700], y[700:]], [None, None] if w is None else [w[:700], w[700:]]
    params = dict(distribution=dist, ntrees=6, max_depth=5, min_rows=5, sample_rate=0.8,
                  col_sample_rate=0.8, seed=9)
    fast = G.fit_reference(chunks, ys, ws, params, spec)
    monkeypatch.setattr(G, "make_builder", lambda s, p, r, c=None: G.TreeBuilder(s, p, r, c))
    dense = G.fit_reference([np.asfortranarray(c) for c in chunks], ys, ws, params, spec)
    assert sum(len(row[0].nodes) for row in dense.trees) > 6 * 15
    _tree_fields(fast, dense)


def _grow(builder, chunk, na_bin):
    ids = np.zeros(chunk.Xb.shape[0], np.int32)
    plan, passes = builder.plan(first=True), 0
    while plan is not None:
        ids, hist, sums = G.chunk_level_step(chunk, ids, plan, na_bin)
        plan, passes = builder.decide(hist, sums), passes + 1
    return ids, passes


@pytest.mark.parametrize("max_depth,min_rows", [(1, 5), (4, 5), (8, 40), (3, 1e9)])
def test_the_final_pass_sums_every_leaf_as_the_dense_builder_does(max_depth, min_rows):
    # depth 8 with min_rows 40 stops growing before the depth limit; min_rows 1e9: no split
    rng = np.random.default_rng(11)
    n = 2000
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 5, n).astype(float)])
    X[rng.random(n) < 0.1, 0] = np.nan
    spec = B.spec_from_data(X, max_bins=32, is_cat=[0, 1])
    Xb = np.ascontiguousarray(B.bin_matrix(X, spec))
    z = (np.nan_to_num(X[:, 0]) + X[:, 1] + rng.normal(size=n)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, n) * (rng.random(n) < 0.8)
    chunk = G.TreeChunk(Xb, z, w, rng.normal(size=n), rng.uniform(size=n), rng.normal(size=n))
    params = G.GrowParams(max_depth=max_depth, min_rows=min_rows)
    fast = GlobalTreeBuilder(spec, params, np.random.default_rng(3))
    dense = G.TreeBuilder(spec, params, np.random.default_rng(3))
    fast_ids, fast_passes = _grow(fast, chunk, spec.na_bin)
    dense_ids, dense_passes = _grow(dense, G.TreeChunk(np.asfortranarray(Xb), *chunk[1:]),
                                    spec.na_bin)
    np.testing.assert_array_equal(fast_ids, dense_ids)
    leaf = np.array([nd["kind"] == T.LEAF for nd in fast.nodes])
    np.testing.assert_array_equal(fast.leaf_stats()[leaf], dense.leaf_stats()[leaf])
    # split nodes sum their children (the dense builder sums their rows when they arrive)
    np.testing.assert_allclose(fast.leaf_stats()[~leaf], dense.leaf_stats()[~leaf], rtol=1e-12)
    leaves = np.unique(fast_ids)
    np.testing.assert_allclose(fast.leaf_stats()[leaves, H.SUM_W],
                               [w[fast_ids == nd].sum() for nd in leaves])
    # a tree that stops splitting early takes one pass more (the sums), never fewer
    assert fast_passes - dense_passes in (0, 1)
    assert len(fast.nodes) == len(dense.nodes) and (len(fast.nodes) == 1) == (min_rows == 1e9)

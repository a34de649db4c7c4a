"""The distributed weighted quantiles behind laplace/quantile/huber (f0, huber δ, leaf values)
equal the driver-side computation (distributions.weighted_quantile / quantile_leaf_gammas)
over any chunking, without bringing the rows to the driver; GBM models come out as before."""
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o.estimators import H2OGradientBoostingEstimator
from daskml_h2o.gbm import distributions as D
from daskml_h2o.gbm import quantile_leaves as QL
from daskml_h2o.gbm import training
from daskml_h2o.chunk_hosts import HostExecutor
from daskml_h2o.parallel import DaskExecutor, LocalExecutor


class CountingExecutor(LocalExecutor):
    """LocalExecutor that records the task names and how many numbers reach the driver."""

    def __init__(self):
        super().__init__(1)
        self.names, self.gathered = [], 0

    def map(self, fn, *per_chunk, args=(), name):
        self.names.append(name)
        return super().map(fn, *per_chunk, args=args, name=name)

    def gather(self, items):
        self.gathered += _size(items)
        return items


def _size(x):
    if isinstance(x, np.ndarray):
        return x.size
    if isinstance(x, (list, tuple)):
        return sum(_size(v) for v in x)
    return 1


def _chunked(cuts, *arrays):
    return list(zip(*[np.split(a, cuts) for a in arrays]))


def _parts(group, values, w, n_groups, cuts):
    return [QL.sorted_groups(g, v, ww, n_groups) for g, v, ww in _chunked(cuts, group, values, w)]


def _random_problem(rng, n, n_groups, kind):
    values = {"normal": lambda: rng.normal(size=n),
              "ties": lambda: np.round(rng.normal(size=n), 1),
              "cauchy": lambda: rng.standard_cauchy(n),
              "special": lambda: rng.choice([-np.inf, -1e300, -1.5, -0.0, 0.0, 5e-324, 2.0, 1e300, np.inf], n)}[kind]()
    values[rng.random(n) < 0.05] = np.nan
    w = rng.integers(0, 4, n).astype(float)  # zero weights included
    group = rng.integers(-1, n_groups, n)  # -1: a row in no leaf
    group[: n // 3] = np.minimum(group[: n // 3], n_groups - 2)  # the first chunks lack the last leaf
    n_cuts = int(rng.integers(0, 12))
    cuts = np.sort(np.concatenate([rng.integers(0, n + 1, n_cuts), [0, 0, n]]))  # empty chunks too
    return group, values, w, cuts


@pytest.mark.parametrize("gather_rows", [QL.GATHER_ROWS, 40, 0])
@pytest.mark.parametrize("kind", ["normal", "ties", "cauchy", "special"])
def test_group_quantiles_equal_the_driver_side_quantile(monkeypatch, gather_rows, kind):
    monkeypatch.setattr(QL, "GATHER_ROWS", gather_rows)  # 0: bin rounds until one value is left
    rng = np.random.default_rng(len(kind) + gather_rows)
    ex = LocalExecutor(1)
    for _ in range(8):
        n, n_groups = int(rng.integers(1, 1500)), int(rng.integers(2, 7))
        group, values, w, cuts = _random_problem(rng, n, n_groups, kind)
        parts = _parts(group, values, w, n_groups, cuts)
        for alpha in (0.0, 0.5, float(rng.uniform()), 1.0):
            got = QL.group_quantiles(ex, parts, alpha)
            expect = [D.weighted_quantile(values[group == g], w[group == g], alpha) for g in range(n_groups)]
            np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("dist", [D.LAPLACE, D.QUANTILE, D.HUBER])
def test_leaf_gammas_equal_quantile_leaf_gammas(monkeypatch, dist):
    monkeypatch.setattr(QL, "GATHER_ROWS", 100)
    rng = np.random.default_rng(dist)
    ex = LocalExecutor(2)
    for trial in range(10):
        n, n_leaves = int(rng.integers(1, 3000)), int(rng.integers(2, 9))
        group, values, w, cuts = _random_problem(rng, n, n_leaves, ["normal", "ties"][trial % 2])
        values = np.round(values * 8) / 8  # on a 1/8 grid the huber sums are exact in any order
        parts = _parts(group, values, w, n_leaves, cuts)
        got = QL.leaf_gammas(ex, dist, parts, alpha=0.3, delta=0.5)
        np.testing.assert_array_equal(got, D.quantile_leaf_gammas(dist, group, values, w, n_leaves, 0.3, 0.5))


def test_huber_leaves_and_fractional_weights_equal_up_to_summation_order():
    """Sums of arbitrary floats (huber's correction, fractional weights) add in another order
    than on the driver: equal to rounding, and equal as the float32 leaf values stored."""
    rng = np.random.default_rng(7)
    ex = LocalExecutor(1)
    for dist in (D.LAPLACE, D.QUANTILE, D.HUBER):
        n = 2000
        group, values, w = rng.integers(0, 6, n), rng.normal(size=n), rng.uniform(0, 2, n)
        parts = _parts(group, values, w, 6, [300, 300, 1100])
        got = QL.leaf_gammas(ex, dist, parts, alpha=0.7, delta=0.4)
        expect = D.quantile_leaf_gammas(dist, group, values, w, 6, 0.7, 0.4)
        np.testing.assert_allclose(got, expect, rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(got.astype(np.float32), expect.astype(np.float32))


def test_only_summaries_reach_the_driver():
    rng = np.random.default_rng(3)
    n, n_leaves = 400_000, 16
    group, values, w = rng.integers(0, n_leaves, n), rng.lognormal(0, 2, n), np.ones(n)
    parts = _parts(group, values, w, n_leaves, np.linspace(0, n, 9).astype(int)[1:-1])
    ex = CountingExecutor()
    got = QL.leaf_gammas(ex, D.QUANTILE, parts, alpha=0.9)
    np.testing.assert_array_equal(got, D.quantile_leaf_gammas(D.QUANTILE, group, values, w, n_leaves, 0.9))
    assert ex.gathered < n / 10
    assert ex.names[0] == "quantile-stats" and ex.names[-1] == "quantile-rows" and len(ex.names) <= 4


def test_dask_executor_gives_the_same_quantiles(h2o_session):
    from daskml_h2o.cluster import get_client
    client = get_client()
    rng = np.random.default_rng(11)
    n = 3000
    group, values, w, cuts = _random_problem(rng, n, 4, "ties")
    chunks = client.scatter([dict(g=g, v=v, w=ww) for g, v, ww in _chunked(cuts, group, values, w)])
    ex = DaskExecutor(client)
    parts = ex.map(_sorted_chunk, chunks, args=(4,), name="test-sorted")
    np.testing.assert_array_equal(QL.group_quantiles(ex, parts, 0.25),
                                  QL.group_quantiles(LocalExecutor(1), client.gather(parts), 0.25))
    np.testing.assert_array_equal(QL.leaf_gammas(ex, D.LAPLACE, parts),
                                  D.quantile_leaf_gammas(D.LAPLACE, group, values, w, 4))


def _sorted_chunk(chunk, n_groups):
    return QL.sorted_groups(chunk["g"], chunk["v"], chunk["w"], n_groups)


# ------------------------------------------------------------------ end to end, against the old path

def _old_quantile_initial_value(ex, data, dist, quantile_alpha):
    parts = ex.gather(ex.map(_old_response, data.chunks, name="old-response"))
    y, w, o = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return float(D.init_f(dist, y, w, o, 1, quantile_alpha))


def _old_response(chunk):
    return chunk["y"], chunk["w"], chunk["offset"] if chunk["offset"] is not None else np.zeros(chunk["n"])


def _old_quantile_leaf_gammas(ex, dist, data, states, last, k, n_nodes, alpha, delta):
    parts = ex.gather(ex.map(_old_leaf_rows, data.chunks, states, last, args=(k,), name="old-leaf"))
    ids, d, w = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return D.quantile_leaf_gammas(dist, ids, d, w, n_nodes, alpha, delta)


def _old_leaf_rows(chunk, F, last, k):
    f = F[:, k] if chunk["offset"] is None else F[:, k] + chunk["offset"]
    return last[0], chunk["y"] - f, chunk["w"]


def _old_huber_delta(ex, data, states, huber_alpha):
    parts = ex.gather(ex.map(_old_leaf_rows, data.chunks, states, [[None]] * len(data.chunks), args=(0,),
                             name="old-huber"))
    r = np.abs(np.concatenate([p[1] for p in parts]))
    w = np.concatenate([p[2] for p in parts])
    ok = (w > 0) & np.isfinite(r)
    return float(D.weighted_quantile(r[ok], w[ok], huber_alpha))


def _fit_predict(h2o, df, dist, extra, weights):
    ddf = dd.from_pandas(df, npartitions=5)
    m = H2OGradientBoostingEstimator(ntrees=6, max_depth=4, distribution=dist, seed=3, sample_rate=0.8, **extra)
    m.train(x=["x", "z"], y="y", training_frame=h2o.H2OFrame(ddf), weights_column=weights, offset_column="off")
    return m._model.f0, m._model.predict_raw(np.column_stack([df.x, df.z]))


@pytest.mark.parametrize("dist, extra", [("laplace", {}), ("quantile", {"quantile_alpha": 0.8}),
                                         ("huber", {"huber_alpha": 0.7})])
def test_models_equal_the_driver_gather_models(h2o_session, monkeypatch, dist, extra):
    rng = np.random.default_rng(5)
    n = 600
    df = pd.DataFrame({"x": rng.uniform(0, 2, n), "z": rng.normal(size=n)})
    df["y"] = np.round(rng.standard_t(3, n) + 2 * df.x, 1)
    df.loc[rng.random(n) < 0.05, "y"] = np.nan
    df["w"] = rng.integers(0, 4, n).astype(float)
    df["off"] = np.round(rng.normal(size=n), 2)
    new = _fit_predict(h2o_session, df, dist, extra, "w")
    monkeypatch.setattr(training, "_quantile_initial_value", _old_quantile_initial_value)
    monkeypatch.setattr(training, "_quantile_leaf_gammas", _old_quantile_leaf_gammas)
    monkeypatch.setattr(training, "_huber_delta", _old_huber_delta)
    old = _fit_predict(h2o_session, df, dist, extra, "w")
    assert new[0] == old[0]
    np.testing.assert_array_equal(new[1], old[1])


@pytest.mark.processes
def test_process_cluster_gives_the_in_process_huber_model(h2o_session, process_cluster):
    rng = np.random.default_rng(9)
    n = 500
    df = pd.DataFrame({"x": rng.uniform(0, 2, n), "z": rng.normal(size=n)})
    df["y"] = np.round(rng.standard_t(3, n) + 2 * df.x, 1)
    df["w"] = rng.integers(0, 3, n).astype(float)
    df["off"] = 0.0
    local = _fit_predict(h2o_session, df, "huber", {"huber_alpha": 0.8}, "w")
    h2o_session.shutdown()
    h2o_session.init(url=process_cluster.scheduler.address, verbose=False)
    try:
        assert isinstance(training.parallel.executor_for(), HostExecutor)
        remote = _fit_predict(h2o_session, df, "huber", {"huber_alpha": 0.8}, "w")
    finally:
        h2o_session.shutdown()
    assert local[0] == remote[0]
    np.testing.assert_array_equal(local[1], remote[1])

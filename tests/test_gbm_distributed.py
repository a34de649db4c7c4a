"""GBM on a LocalCluster of worker processes (the chunk-host path): the same model as the
in-process run, and a worker killed mid-fit does not change the finished model."""
import os
import signal

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import daskml_h2o as h2o
from daskml_h2o.estimators import H2OGradientBoostingEstimator

pytestmark = pytest.mark.processes


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(size=n),
                       "g": pd.Categorical(rng.choice(list("pqrs"), n), categories=list("pqrs"))})
    logit = df.a - 2 * df.b + (df.g == "q")
    df["y"] = pd.Categorical(np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no"), categories=["no", "yes"])
    return df


def _fit(df, ntrees=20, csv=None, **kw):
    """``csv``: train on the file imported (partitions held by the workers: the chunk hosts
    build the chunks from them) instead of a frame still to compute."""
    if csv is None:
        fr = h2o.H2OFrame(dd.from_pandas(df, npartitions=4))
    else:
        fr = h2o.import_file(str(csv), blocksize="24KB")
        assert fr._ddf.npartitions >= 3 and fr.types["g"] == "enum" and fr.types["y"] == "enum"
    m = H2OGradientBoostingEstimator(ntrees=ntrees, max_depth=4, sample_rate=0.8, seed=3, score_tree_interval=10, **kw)
    m.train(x=["a", "b", "g"], y="y", training_frame=fr)
    X = np.column_stack([df.a, df.b, df.g.cat.codes.astype(float)])
    return m, m._model.predict_raw(X)[:, 1]


@pytest.fixture(params=["channel", "actor"])
def host_calls(request, monkeypatch):
    """Both ways the driver calls the chunk hosts (direct channel on one machine, dask actor)."""
    from daskml_h2o import chunk_hosts
    monkeypatch.setattr(chunk_hosts, "DIRECT_CHANNELS", request.param == "channel")
    return request.param


@pytest.fixture(params=["lazy", "imported"])
def csv(request, tmp_path):
    """The training frame: a dask frame still to compute, or a file imported (held in memory)."""
    if request.param == "lazy":
        return None
    path = tmp_path / "train.csv"
    _data(4000, seed=1).to_csv(path, index=False)
    return path


@pytest.fixture
def on_process_cluster(process_cluster, host_calls):
    h2o.shutdown()
    h2o.init(url=process_cluster.scheduler.address, verbose=False)
    h2o.no_progress()
    yield process_cluster
    h2o.shutdown()


def test_process_cluster_gives_the_in_process_model(h2o_session, process_cluster, host_calls, csv):
    df = _data(4000, seed=1)
    _, local = _fit(df, csv=csv)
    h2o.shutdown()
    h2o.init(url=process_cluster.scheduler.address, verbose=False)
    try:
        from daskml_h2o.chunk_hosts import HostExecutor
        from daskml_h2o.parallel import executor_for
        assert isinstance(executor_for(), HostExecutor)
        _, remote = _fit(df, csv=csv)
    finally:
        h2o.shutdown()
    assert np.allclose(local, remote, rtol=0, atol=1e-9)


@pytest.mark.slow
def test_worker_killed_mid_fit_gives_the_same_model(on_process_cluster, monkeypatch, csv):
    from daskml_h2o.gbm import training
    df = _data(4000, seed=1)
    _, undisturbed = _fit(df, ntrees=40, csv=csv)
    pids = on_process_cluster.run(os.getpid)
    victim = sorted(pids.values())[0]
    build = training._build_iteration
    killed = []

    def build_then_kill(ex, t, *args):
        out = build(ex, t, *args)
        if t == 15:  # mid-fit, whatever the machine's speed
            os.kill(victim, signal.SIGKILL)
            killed.append(t)
        return out

    monkeypatch.setattr(training, "_build_iteration", build_then_kill)
    _, pred = _fit(df, ntrees=40, csv=csv)
    assert killed == [15]
    assert np.allclose(pred, undisturbed, rtol=0, atol=1e-9)
    assert victim not in on_process_cluster.run(os.getpid).values()


def _fit_with_validation(train_csv, valid_csv):
    train = h2o.import_file(str(train_csv), blocksize="24KB")
    valid = h2o.import_file(str(valid_csv), blocksize="24KB")
    m = H2OGradientBoostingEstimator(ntrees=10, max_depth=3, seed=1, score_each_iteration=True)
    m.train(x=["a", "b", "g"], y="y", training_frame=train, validation_frame=valid)
    return m.auc(valid=True), m.scoring_history()["validation_logloss"].to_numpy()


def test_an_imported_validation_frame_scores_alike_on_worker_processes(h2o_session, process_cluster, tmp_path):
    """Both imported frames are held by the workers: the hosts build both sets of chunks."""
    train_csv, valid_csv = tmp_path / "train.csv", tmp_path / "valid.csv"
    _data(3000, seed=1).to_csv(train_csv, index=False)
    _data(1500, seed=2).to_csv(valid_csv, index=False)
    local_auc, local_history = _fit_with_validation(train_csv, valid_csv)
    h2o.shutdown()
    h2o.init(url=process_cluster.scheduler.address, verbose=False)
    h2o.no_progress()
    try:
        remote_auc, remote_history = _fit_with_validation(train_csv, valid_csv)
    finally:
        h2o.shutdown()
    assert len(local_history) == 11 and remote_auc == pytest.approx(local_auc, abs=1e-12)
    assert np.allclose(remote_history, local_history, rtol=0, atol=1e-12)

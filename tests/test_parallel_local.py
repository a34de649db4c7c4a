"""Chunks built and kept in this process under the LocalExecutor (the embedded in-process
cluster): the same chunks as the tasks build on the workers, from persisted and lazy frames,
failures named by partition; and Deep Learning trained through it gives the model the task
path gives."""
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o import parallel
from daskml_h2o.deeplearning import training
from daskml_h2o.deeplearning.estimator import H2ODeepLearningEstimator
from tests.test_deeplearning import blobs, frame_of


def _chunk(pdf, scale):
    x = pdf["x"].to_numpy(dtype=np.float64) * scale
    if np.any(x < 0):
        raise ValueError("negative x")
    return {"x": x, "n": len(x)}


def _frame(n=50, npartitions=4):
    return dd.from_pandas(pd.DataFrame({"x": np.arange(n, dtype=np.float64), "z": 1.0}), npartitions=npartitions)


@pytest.mark.parametrize("persisted", [True, False])
def test_local_chunks_equal_the_workers_chunks(h2o_session, persisted):
    ddf = _frame()
    if persisted:
        ddf = ddf.persist()
    else:
        ddf = ddf[ddf["x"] >= 3]  # a lazy frame: its partitions are computed first
    ex = parallel.LocalExecutor(2)
    local = parallel.persist_chunks(ddf, _chunk, 2.0, executor=ex)
    remote = parallel.persist_chunks(ddf, _chunk, 2.0)
    assert local.nrows == remote.nrows and local.total_rows == len(ddf)
    expected = parallel.gather(remote.futures)
    assert all(isinstance(c, dict) for c in local.futures)  # values in this process, not futures
    for mine, theirs in zip(local.futures, expected):
        np.testing.assert_array_equal(mine["x"], theirs["x"])
    np.testing.assert_array_equal(np.concatenate([c["x"] for c in ex.chunks(local)]),
                                  2.0 * ddf["x"].compute().to_numpy())
    local.release()
    remote.release()
    assert local.futures == [] and remote.futures == []
    ex.close()


def test_local_chunk_failure_names_its_partition(h2o_session):
    ddf = dd.from_pandas(pd.DataFrame({"x": [1.0, 2.0, -3.0, 4.0]}), npartitions=2).persist()
    ex = parallel.LocalExecutor(2)
    with pytest.raises(parallel.PartitionError, match="partition 1: ValueError: negative x"):
        parallel.persist_chunks(ddf, _chunk, 1.0, executor=ex)
    ex.close()


def test_deeplearning_in_process_equals_the_task_path(h2o_session, monkeypatch):
    fr = frame_of(blobs(300, seed=2, classes=3), npartitions=3)
    kw = dict(hidden=[6], epochs=3, seed=7, reproducible=True, score_each_iteration=True,
              train_samples_per_iteration=100)
    in_process = []
    real = training.Iterations._run_in_process
    monkeypatch.setattr(training.Iterations, "_run_in_process",
                        lambda self, *a: in_process.append(1) or real(self, *a))
    here = H2ODeepLearningEstimator(**kw).train(y="y", training_frame=fr)
    iterations = len(in_process)
    assert iterations >= 9
    monkeypatch.setattr(parallel, "in_process_threads", lambda client=None: None)  # force named tasks
    tasks = H2ODeepLearningEstimator(**kw).train(y="y", training_frame=fr)
    assert len(in_process) == iterations  # the second fit ran as tasks
    np.testing.assert_array_equal(here._model.state.weights, tasks._model.state.weights)
    np.testing.assert_array_equal(here._model.state.biases, tasks._model.state.biases)
    cols = ["epochs", "iterations", "samples", "training_logloss", "training_classification_error"]
    pd.testing.assert_frame_equal(here.scoring_history()[cols], tasks.scoring_history()[cols])
    assert len(here.scoring_history()) >= 1 + 9  # the start row and every iteration scored


def test_response_summary_here_equals_the_dask_pass(h2o_session, monkeypatch):
    from daskml_h2o.frame import H2OFrame
    from daskml_h2o.models.validation import response_summary
    pdf = pd.DataFrame({"c": pd.Categorical(["a", "b", None, "b", "c", "b"], categories=["a", "b", "c", "d"]),
                        "v": [1.5, np.nan, -2.0, 4.0, 0.5, 3.0]})
    frame = H2OFrame._from_dask(dd.from_pandas(pdf, npartitions=3).persist(), {"c": "enum", "v": "real"})
    lazy = H2OFrame._from_dask(dd.from_pandas(pdf, npartitions=3), {"c": "enum", "v": "real"})
    assert parallel.local_partitions(frame._ddf) is not None and parallel.local_partitions(lazy._ddf) is None
    from daskml_h2o.models import validation
    monkeypatch.setattr(validation, "_SUMMARIES", {})
    here = {y: response_summary(frame, y) for y in ("c", "v")}
    monkeypatch.setattr(parallel, "local_partitions", lambda ddf, client=None: None)
    monkeypatch.setattr(validation, "_SUMMARIES", {})  # computed again, by the dask pass
    dask_pass = {y: response_summary(frame, y) for y in ("c", "v")}
    np.testing.assert_array_equal(here["c"]["class_counts"], [1, 3, 1, 0])
    np.testing.assert_array_equal(dask_pass["c"]["class_counts"], here["c"]["class_counts"])
    assert here["c"]["n"] == dask_pass["c"]["n"] == 5
    assert here["v"] == dask_pass["v"] == {"n": 5, "min": -2.0, "max": 4.0}


def test_a_frames_response_is_summarised_once_per_graph(h2o_session, monkeypatch):
    from daskml_h2o.frame import H2OFrame
    from daskml_h2o.models import validation
    monkeypatch.setattr(validation, "_SUMMARIES", {})
    passes = []
    summarise = validation._summarise
    monkeypatch.setattr(validation, "_summarise", lambda frame, y: passes.append(y) or summarise(frame, y))
    pdf = pd.DataFrame({"c": pd.Categorical(["a", "b", "b"]), "v": [1.0, 2.0, 3.0]})
    frame = H2OFrame._from_dask(dd.from_pandas(pdf, npartitions=1), {"c": "enum", "v": "real"})
    first = validation.response_summary(frame, "c")
    first["class_counts"][0] = 99  # the caller's copy, not the remembered one
    again = validation.response_summary(frame, "c")
    np.testing.assert_array_equal(again["class_counts"], [1, 2])
    assert passes == ["c"]
    assert validation.response_summary(frame, "v") == {"n": 3, "min": 1.0, "max": 3.0} and passes == ["c", "v"]
    edited = H2OFrame._from_dask(dd.from_pandas(pdf.assign(v=[1.0, 2.0, 7.0]), npartitions=1),
                                 {"c": "enum", "v": "real"})
    assert validation.response_summary(edited, "v")["max"] == 7.0 and passes == ["c", "v", "v"]


def _rows_chunk(pdf, scale):
    return {"x": pdf["x"].to_numpy() * scale, "n": len(pdf)}


def test_persist_chunks_takes_known_row_counts_instead_of_counting(h2o_session):
    from distributed import get_task_stream

    from daskml_h2o.cluster import get_client
    client = get_client()
    ddf = dd.from_pandas(pd.DataFrame({"x": np.arange(10.0)}), npartitions=3)
    lengths = [len(p) for p in client.gather(client.compute(ddf.to_delayed()))]
    with get_task_stream(client) as stream:
        counted = parallel.persist_chunks(ddf, _rows_chunk, 2.0, name="counted", client=client)
        known = parallel.persist_chunks(ddf, _rows_chunk, 2.0, name="known", client=client, nrows=lengths)
        # counts that do not fit the partitions are not trusted
        wrong = parallel.persist_chunks(ddf, _rows_chunk, 2.0, name="wrong", client=client, nrows=[10])
        chunks = client.gather(known.futures)
    assert counted.nrows == known.nrows == wrong.nrows == lengths
    counts = sorted(t["key"].split("-rows")[0] for t in stream.data if "-rows-p" in str(t["key"]))
    assert counts == ["counted"] * 3 + ["wrong"] * 3  # nothing counted for the known lengths
    np.testing.assert_array_equal(np.concatenate([c["x"] for c in chunks]), 2.0 * np.arange(10))

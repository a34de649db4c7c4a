"""H2OFrame on a LocalCluster of worker processes: the per-partition functions
travel to other processes and give the same answers as in-process."""
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o.frame import H2OFrame
from tests.test_pcg import PINS

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture
def fr(client):
    rng = np.random.default_rng(3)
    pdf = pd.DataFrame({"id": np.arange(100, dtype=float),
                        "n": rng.integers(0, 4, 100),
                        "e": pd.Categorical(rng.choice(["p", "q"], 100))})
    return H2OFrame(dd.from_pandas(pdf, npartitions=4)), pdf


def test_ops_masks_and_rows_on_processes(fr):
    frame, pdf = fr
    got = frame[(frame["n"] > 1) & (frame["e"] == "q")].as_data_frame()
    want = pdf[(pdf["n"] > 1) & (pdf["e"] == "q")]
    np.testing.assert_array_equal(got["id"].to_numpy(), want["id"].to_numpy())
    np.testing.assert_array_equal(frame[10:90:7, "id"].as_data_frame()["id"].to_numpy(),
                                  np.arange(10, 90, 7))
    assert frame[57, "e"] == pdf["e"].iloc[57]
    frame["n"] = frame["n"].asfactor()
    assert frame.levels()[1] == ["0", "1", "2", "3"]


def test_random_draws_and_combining_on_processes(fr):
    frame, pdf = fr
    first, _ = frame.split_frame([0.6], seed=42)
    assert first.as_data_frame()["id"].astype(int).tolist() == PINS["split_0.6_seed42_first"]
    np.testing.assert_array_equal(frame.kfold_column(3, 42).as_data_frame()["C1"].to_numpy(),
                                  PINS["kfold_3_seed42"])
    other = H2OFrame(dd.from_pandas(pd.DataFrame({"w": np.arange(100.0)}), npartitions=3))
    both = frame.cbind(other).as_data_frame()
    np.testing.assert_array_equal(both["w"].to_numpy(), both["id"].to_numpy())
    assert frame.rbind(frame).nrow == 200


def test_stratified_split_sort_and_group_by_on_processes(fr):
    frame, pdf = fr
    split = frame["e"].stratified_split(test_frac=0.25, seed=3).as_data_frame()["test_train_split"]
    for level in ("p", "q"):
        n = int((pdf["e"] == level).sum())
        assert int((split[pdf["e"] == level] == "test").sum()) == int(n * 0.25 + 0.5)
    ordered = frame.sort(["n", "id"]).as_data_frame()
    want = pdf.sort_values(["n", "id"])
    assert ordered["id"].tolist() == want["id"].tolist()
    counts = frame.group_by("e").count().get_frame().as_data_frame()
    assert dict(zip(counts["e"], counts["nrow"])) == pdf["e"].value_counts().to_dict()


def test_dask_categorical_with_unknown_categories_keeps_every_label(h2o_session):
    # each partition has its own categories (and order): codes must be matched by name
    base = pd.DataFrame({"s": ["z", "y", "x", None, "y", "z"]})
    ddf = dd.from_pandas(base, npartitions=3)
    ddf["c"] = ddf["s"].map_partitions(lambda s: s.astype("category"),
                                       meta=pd.Series(pd.Categorical([]), name="s")).cat.as_unknown()
    fr = H2OFrame(ddf[["c"]])
    assert fr.levels() == [["x", "y", "z"]]
    got = fr.as_data_frame()["c"].astype(object).where(lambda s: s.notna(), None).tolist()
    assert got == ["z", "y", "x", None, "y", "z"]

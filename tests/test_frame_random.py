"""H2OFrame runif / split_frame / fold columns: real H2O's pinned draws, for any
partitioning (the draws are keyed on the global row index)."""
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o import registry
from daskml_h2o.frame import H2OFrame, H2OValueError
from tests.test_pcg import PINS

N = 100


@pytest.fixture(params=[1, 3, 7])
def fr(request):
    pdf = pd.DataFrame({"id": np.arange(N, dtype=float), "v": np.linspace(0, 1, N)})
    return H2OFrame(dd.from_pandas(pdf, npartitions=request.param))


def values(frame):
    return frame.as_data_frame().iloc[:, 0].to_numpy()


@pytest.mark.parametrize("seed", [42, 7, 12345])
def test_runif_matches_h2o(fr, seed):
    r = fr.runif(seed)
    assert r.names == ["rnd"] and r.types == {"rnd": "real"}
    np.testing.assert_array_equal(values(r), np.array(PINS[f"runif_{seed}_times_2pow24"]) / 2 ** 24)


def test_split_frame_matches_h2o(fr):
    first, rest = fr.split_frame([0.6], seed=42)
    assert values(first).astype(int).tolist() == PINS["split_0.6_seed42_first"]
    assert first.nrow + rest.nrow == N
    parts = fr.split_frame(ratios=[0.3, 0.3], seed=7, destination_frames=["a", "b", "c"])
    assert [values(p).astype(int).tolist() for p in parts] == PINS["split_0.3_0.3_seed7"]
    assert [p.frame_id for p in parts] == ["a", "b", "c"] and registry.get("b") is parts[1]
    assert parts[0].names == ["id", "v"]


def test_split_frame_default_and_random_seed_are_a_partition_of_rows(fr):
    parts = fr.split_frame()
    ids = np.sort(np.concatenate([values(p) for p in parts]))
    np.testing.assert_array_equal(ids, np.arange(N))


@pytest.mark.parametrize("ratios", [[0.5, 0.5], [1.0], [0.7, 0.4], [-0.1, 0.5]])
def test_split_frame_rejects_bad_ratios(fr, ratios):
    with pytest.raises(ValueError, match="ratios"):
        fr.split_frame(ratios)


def test_split_frame_destination_count(fr):
    with pytest.raises(ValueError, match="destination_frames needs 2 names"):
        fr.split_frame([0.5], destination_frames=["only_one"])


def test_fold_columns_match_h2o(fr):
    k = fr.kfold_column(n_folds=3, seed=42)
    assert k.types == {"C1": "int"}
    np.testing.assert_array_equal(values(k), PINS["kfold_3_seed42"])
    np.testing.assert_array_equal(values(fr.kfold_column(5, 12345)), PINS["kfold_5_seed12345"])
    np.testing.assert_array_equal(values(fr.modulo_kfold_column(3)), PINS["modulo_3"])
    strat = fr["v"].stratified_kfold_column(n_folds=3, seed=42)
    np.testing.assert_array_equal(values(strat), PINS["stratified_kfold_column_cls_3_seed42"])
    with pytest.raises(H2OValueError, match="n_folds"):
        fr.kfold_column(1, 3)


def test_stratified_split_matches_h2o(fr):
    # real H2O 3.46: e = x,y,x,y,z,x, test_frac 0.3, seed 1 -> train,test,test,train,test,train
    small = H2OFrame(dd.from_pandas(pd.DataFrame({"e": pd.Categorical(list("xyxyzx"))}),
                                    npartitions=fr.to_dask().npartitions % 4 + 1))
    s = small["e"].stratified_split(test_frac=0.3, seed=1)
    assert s.names == ["test_train_split"] and s.levels() == [["train", "test"]]
    assert s.as_data_frame()["test_train_split"].tolist() == ["train", "test", "test", "train",
                                                             "test", "train"]


def test_stratified_split_sizes_per_class(fr):
    cls = (fr["id"] % 3).asnumeric()
    cls._types = {"id": "int"}
    s = cls.stratified_split(test_frac=0.25, seed=9).as_data_frame()["test_train_split"]
    klass = np.arange(N) % 3
    for k in range(3):
        n_k = int((klass == k).sum())
        assert int((s[klass == k] == "test").sum()) == int(np.floor(n_k * 0.25 + 0.5))
    with pytest.raises(H2OValueError, match="integer and categorical"):
        fr["v"].stratified_split()


def test_draws_stay_keyed_on_global_rows_when_partitions_are_picked(fr):
    r = fr.runif(42)
    full = values(r)
    nparts = r.to_dask().npartitions
    lengths = fr._row_lengths()
    last = r.to_dask().partitions[nparts - 1].compute()["rnd"].to_numpy()
    np.testing.assert_array_equal(last, full[N - lengths[-1]:])
    assert r[61, 0] == full[61] and r[-1, "rnd"] == full[-1]
    np.testing.assert_array_equal(values(r.tail(30)), full[70:])
    np.testing.assert_array_equal(values(r.head(30)), full[:30])

"""H2OFrame's statistics methods: thin wrappers over frame_stats, checked against pandas."""
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o.frame import H2OFrame


def data():
    rng = np.random.default_rng(5)
    x = rng.normal(10, 2, 30)
    x[[1, 9]] = np.nan
    return pd.DataFrame({"x": x, "y": rng.uniform(0, 1, 30),
                         "g": pd.Categorical(rng.choice(["a", "b", "c"], 30))})


@pytest.fixture(params=[1, 4])
def fr(request):
    return H2OFrame(dd.from_pandas(data(), npartitions=request.param))


def test_reductions_return_h2o_shapes(fr):
    pdf = data()
    means = fr.mean()
    assert isinstance(means, list) and len(means) == 3 and np.isnan(means[2])
    assert means[0] == pytest.approx(pdf["x"].mean()) and means[1] == pytest.approx(pdf["y"].mean())
    assert fr["y"].mean() == [pytest.approx(pdf["y"].mean())]
    one = fr[["x", "y"]].mean(return_frame=True)
    assert one.shape == (1, 2) and one.names == ["x", "y"]
    assert fr["y"].sd() == [pytest.approx(pdf["y"].std())]
    assert fr["y"].min() == pytest.approx(pdf["y"].min())
    assert fr["y"].max() == pytest.approx(pdf["y"].max())
    assert fr["y"].sum() == pytest.approx(pdf["y"].sum())
    assert fr["x"].median(na_rm=True) == [pytest.approx(pdf["x"].median())]
    rows = fr[["x", "y"]].mean(axis=1).as_data_frame().iloc[:, 0].to_numpy()
    np.testing.assert_allclose(rows, pdf[["x", "y"]].mean(axis=1, skipna=True), equal_nan=True)


def test_quantile_table_group_by(fr):
    pdf = data()
    q = fr["y"].quantile(prob=[0.25, 0.5])
    assert q.names == ["Probs", "yQuantiles"]
    np.testing.assert_allclose(q.as_data_frame()["yQuantiles"], np.quantile(pdf["y"], [0.25, 0.5]))
    t = fr["g"].table().as_data_frame()
    assert t.columns.tolist() == ["g", "Count"]
    assert dict(zip(t["g"], t["Count"])) == pdf["g"].value_counts().to_dict()
    grouped = fr.group_by("g").count().mean("y").get_frame()
    assert isinstance(grouped, H2OFrame) and grouped.names == ["g", "nrow", "mean_y"]
    got = grouped.as_data_frame().set_index("g")
    want = pdf.groupby("g", observed=True)["y"].mean()
    np.testing.assert_allclose(got.loc[want.index, "mean_y"], want)


def test_var_cor_with_other_frame(fr):
    pdf = data()
    assert fr["y"].var() == pytest.approx(pdf["y"].var())
    other = H2OFrame(dd.from_pandas(pd.DataFrame({"z": pdf["y"] * 2 + 1}), npartitions=3))
    assert fr["y"].cor(other) == pytest.approx(1.0)


def test_sort_matches_pandas(fr):
    pdf = data()
    got = fr.sort("x").as_data_frame()["x"].to_numpy()
    want = pdf["x"].sort_values(na_position="first").to_numpy()
    np.testing.assert_array_equal(got, want)
    got = fr.sort(["g", "y"], ascending=[False, True]).as_data_frame()
    want = pdf.sort_values(["g", "y"], ascending=[False, True])
    np.testing.assert_array_equal(got["y"].to_numpy(), want["y"].to_numpy())


def test_impute_and_insert_missing_values_in_place(fr):
    pdf = data()
    fills = fr.impute("x", method="mean")
    assert fills[0] == pytest.approx(pdf["x"].mean())
    assert fr.nacnt()[0] == 0.0
    before = fr.nacnt()
    assert fr.insert_missing_values(fraction=0.5, seed=3) is fr
    assert sum(fr.nacnt()) > sum(before)
    same = H2OFrame(dd.from_pandas(data(), npartitions=2))
    same.impute("x", method="mean")
    same.insert_missing_values(fraction=0.5, seed=3)
    assert same.nacnt() == fr.nacnt()


def test_describe_prints_rows_and_cols(fr, capsys):
    fr.describe()
    out = capsys.readouterr().out
    assert out.startswith("Rows:30\nCols:3") and "missing" in out
    fr.summary()
    assert "sigma" in capsys.readouterr().out
    assert set(fr.summary(return_data=True)) == {"x", "y", "g"}

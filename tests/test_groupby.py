"""GroupBy against pandas references and values read from real H2O 3.46."""
import math

import dask
import numpy as np
import pandas as pd
import pytest

from daskml_h2o.groupby import GroupBy, group_medians
from tests.test_frame_stats import TYPES, make_pdf, probe, to_dask


@pytest.fixture(autouse=True, scope="module")
def _object_strings():
    with dask.config.set({"dataframe.convert-string": False}):
        yield


@pytest.fixture(params=[1, 4], ids=["p1", "p4"])
def frame(request):
    pdf = make_pdf(n=301, seed=5)
    return pdf, to_dask(pdf, request.param)


def result(gb):
    ddf, types = gb.get_frame()
    return ddf.compute().reset_index(drop=True), types


def test_names_types_and_order(frame):
    pdf, ddf = frame
    with pytest.warns(UserWarning, match="string column"):
        gb = GroupBy(ddf, TYPES, "g").count().sum().mean("x").min("i").max("i").sd("x") \
            .var("x").ss("x").mode("g")
    out, types = result(gb)
    assert list(out.columns) == ["g", "nrow", "sum_x", "sum_i", "mean_x", "min_i", "max_i",
                                 "sdev_x", "var_x", "sumSquares_x", "mode_g"]
    assert types == {"g": "enum", "nrow": "int", "sum_x": "real", "sum_i": "int",
                     "mean_x": "real", "min_i": "int", "max_i": "int", "sdev_x": "real",
                     "var_x": "real", "sumSquares_x": "real", "mode_g": "int"}
    # NA group first, then the levels in domain order; the key stays an enum
    assert out["g"].isna().tolist() == [True, False, False, False, False]
    assert out["g"].tolist()[1:] == ["a", "b", "c", "d"]
    assert list(out["g"].cat.categories) == ["a", "b", "c", "d"]
    sizes = pdf.groupby("g", dropna=False, observed=True).size()
    assert out["nrow"].tolist() == [sizes[np.nan]] + sizes[["a", "b", "c", "d"]].tolist()
    # a group's own level is its mode
    assert out["mode_g"].tolist()[1:] == [0, 1, 2, 3] and math.isnan(out["mode_g"][0])


def reference(pdf, by, col, na):
    """pandas version of H2O's na modes for sum / mean / min / max / var / ss."""
    rows = []
    for _, g in pdf.groupby(by, dropna=False, observed=True, sort=False):
        v = g[col]
        size, vals = len(v), v.dropna()
        n = len(vals) if na == "rm" else size
        m = vals.sum() / n if n else math.nan
        ss = (vals ** 2).sum()
        var = (ss - n * m * m) / (n - 1) if n > 1 else math.nan
        row = {"sum": vals.sum(), "mean": m, "min": vals.min(), "max": vals.max(), "var": var,
               "ss": ss}
        if na == "all" and v.isna().any():
            row = {k: math.nan for k in row}
        key = tuple(g[b].iloc[0] for b in by)
        rows.append((key, row))
    return rows


@pytest.mark.parametrize("na", ["all", "ignore", "rm"])
def test_values_against_pandas(frame, na):
    pdf, ddf = frame
    by = ["g", "i"]
    gb = GroupBy(ddf, TYPES, by).sum("x", na=na).mean("x", na=na).min("x", na=na) \
        .max("x", na=na).var("x", na=na).ss("x", na=na).sd("x", na=na)
    out, _ = result(gb)
    # sorted by g (NA first, then domain order), then by i (NA first, numeric)
    gkey = out["g"].cat.codes.to_numpy()
    ikey = np.where(out["i"].isna(), -np.inf, out["i"])
    assert (np.lexsort((ikey, gkey)) == np.arange(len(out))).all()
    lookup = {}
    for key, row in reference(pdf, by, "x", na):
        lookup[tuple("NA" if pd.isna(k) else k for k in key)] = row
    assert len(lookup) == len(out)
    for r in out.itertuples(index=False):
        ref = lookup[tuple("NA" if pd.isna(k) else k for k in (r.g, r.i))]
        got = [r.sum_x, r.mean_x, r.min_x, r.max_x, r.var_x, r.sumSquares_x]
        want = [ref["sum"], ref["mean"], ref["min"], ref["max"], ref["var"], ref["ss"]]
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9, nan_ok=True)
        assert r.sdev_x == pytest.approx(math.sqrt(ref["var"]) if ref["var"] >= 0
                                         else math.nan, rel=1e-9, nan_ok=True)


def test_h2o_probe_values():
    for k in (1, 3):
        _, ddf, types = probe(k)
        expect = {  # H2O 3.46, group b of g has one NA in x
            "all": ([1, 4, 4, 1], [4.0, 1.875, math.nan, 6.0], [math.nan, 2.0625, math.nan,
                                                                math.nan]),
            "ignore": ([1, 4, 3, 1], [4.0, 1.875, 2.0, 6.0], [math.nan, 2.0625, 34 / 3,
                                                             math.nan]),
            "rm": ([1, 4, 3, 1], [4.0, 1.875, 8 / 3, 6.0], [math.nan, 2.0625, 43 / 3,
                                                           math.nan]),
        }
        for na, (nrow, means, var) in expect.items():
            out, _ = result(GroupBy(ddf, types, "g").count(na=na).mean("x", na=na)
                            .var("x", na=na).sum("y", na=na))
            assert out["nrow"].tolist() == nrow
            assert out["mean_x"].tolist() == pytest.approx(means, nan_ok=True)
            assert out["var_x"].tolist() == pytest.approx(var, nan_ok=True)
            assert out["sum_y"].tolist() == [4, 24, 21, 6]


def test_numeric_key_and_sum_of_enum_codes():
    _, ddf, types = probe(2)
    with pytest.warns(UserWarning, match="Column s is a string column"):
        out, t = result(GroupBy(ddf, types, "x").sum(na="all"))
    # H2O sums enum codes; the NA key comes first
    assert out["x"].tolist()[1:] == [0.0, 1.0, 2.0, 3.5, 4.0, 6.0, 7.0]
    assert math.isnan(out["x"][0])
    assert out["sum_g"].tolist() == pytest.approx([1, 1, 1, 0, 0, math.nan, 2, 1], nan_ok=True)
    assert out["sum_y"].tolist() == [3, 15, 1, 11, 8, 4, 6, 7]


def test_bad_requests():
    _, ddf, types = probe(1)
    with pytest.raises(ValueError, match="enum"):
        GroupBy(ddf, types, "g").mode("x")
    with pytest.raises(ValueError, match="na="):
        GroupBy(ddf, types, "g").sum("x", na="drop")
    with pytest.raises(ValueError, match="not in frame"):
        GroupBy(ddf, types, "nope")
    with pytest.raises(ValueError, match="no aggregation"):
        GroupBy(ddf, types, "g").get_frame()


def test_group_medians(frame):
    pdf, ddf = frame
    out = group_medians(ddf, TYPES, ["g"], ["x", "i"])
    assert list(out.columns) == ["g", "median_x", "median_i"]
    ref = pdf.groupby("g", dropna=False, observed=True)[["x", "i"]].median()
    assert out["g"].isna().tolist()[0]
    np.testing.assert_allclose(out[["median_x", "median_i"]].to_numpy()[1:],
                               ref.loc[["a", "b", "c", "d"]].to_numpy())


@pytest.mark.parametrize("na", ["all", "rm"])
def test_median_aggregation(frame, na):
    pdf, ddf = frame
    out, types = result(GroupBy(ddf, TYPES, "g").median("x", na=na).count())
    assert list(out.columns) == ["g", "median_x", "nrow"] and types["median_x"] == "real"
    grouped = pdf.groupby("g", dropna=False, observed=True)["x"]
    ref = grouped.median()
    if na == "all":
        ref = ref.where(~grouped.apply(lambda v: v.isna().any()))
    want = [ref[np.nan]] + ref[["a", "b", "c", "d"]].tolist()
    assert out["median_x"].tolist() == pytest.approx(want, nan_ok=True)

"""frame_stats against pandas/numpy references and values read from real H2O 3.46."""
import math

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o import frame_stats as fs

TYPES = {"x": "real", "i": "int", "g": "enum", "s": "string"}
NUM = ["x", "i"]


@pytest.fixture(autouse=True, scope="module")
def _object_strings():
    # the frame contract keeps strings as object columns
    with dask.config.set({"dataframe.convert-string": False}):
        yield


def make_pdf(n=203, seed=0):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(3, 2, n), 2)
    x[rng.random(n) < 0.1] = np.nan
    i = rng.integers(0, 10, n).astype(np.float64)
    i[rng.random(n) < 0.05] = np.nan
    g = pd.Categorical(rng.choice(["a", "b", "c", "d"], n), categories=["a", "b", "c", "d"])
    g[rng.random(n) < 0.08] = np.nan
    s = pd.Series([f"s{k % 7}" for k in range(n)], dtype=object)
    s[rng.random(n) < 0.05] = None
    return pd.DataFrame({"x": x, "i": i, "g": g, "s": s})


def to_dask(pdf, k):
    ddf = dd.from_pandas(pdf, npartitions=k, sort=False)
    for c in pdf.columns:
        if isinstance(pdf[c].dtype, pd.CategoricalDtype):
            ddf[c] = ddf[c].cat.as_known()
    return ddf


@pytest.fixture(params=[1, 4], ids=["p1", "p4"])
def frame(request):
    pdf = make_pdf()
    return pdf, to_dask(pdf, request.param)


# H2O's probe frame (see the report): x real with one NA, g enum with one NA, y 1..10
def probe(k=1):
    pdf = pd.DataFrame({
        "x": [1.0, 2, np.nan, 4, 0, 6, 7, 3.5, 2, 0],
        "g": pd.Categorical(["b", "a", "b", None, "a", "c", "b", "a", "a", "b"],
                            categories=["a", "b", "c"]),
        "y": np.arange(1, 11.0),
        "s": pd.Series(list("pqrstuvwxz"), dtype=object)})
    return pdf, to_dask(pdf, k), {"x": "real", "g": "enum", "y": "int", "s": "string"}


def frame_of(res):
    ddf, types = res
    return ddf.compute().reset_index(drop=True), types


# ------------------------------------------------------------------ summaries

def test_column_summaries_match_pandas(frame):
    pdf, ddf = frame
    summ = fs.column_summaries(ddf, TYPES)
    for c in NUM:
        s = summ[c]
        assert s["type"] == TYPES[c]
        assert s["min"] == pdf[c].min() and s["max"] == pdf[c].max()
        assert s["mean"] == pytest.approx(pdf[c].mean(), rel=1e-12)
        assert s["sigma"] == pytest.approx(pdf[c].std(ddof=1), rel=1e-12)
        assert s["zeros"] == int((pdf[c] == 0).sum())
        assert s["missing"] == int(pdf[c].isna().sum())
    g = summ["g"]
    assert g["domain"] == ["a", "b", "c", "d"]
    assert g["level_counts"] == [int((pdf.g == lv).sum()) for lv in "abcd"]
    assert g["missing"] == int(pdf.g.isna().sum()) and g["mean"] is None
    assert summ["s"]["missing"] == int(pdf.s.isna().sum()) and math.isnan(summ["s"]["mean"])
    assert all(v["nrow"] == len(pdf) for v in summ.values())


def test_describe_layout_as_h2o():
    _, ddf, types = probe(3)
    t = fs.describe_table(ddf, types)
    assert list(t.index) == ["type", "mins", "mean", "maxs", "sigma", "zeros", "missing"]
    assert list(t.columns) == ["x", "g", "y", "s"]
    assert list(t["x"]) == ["real", 0.0, pytest.approx(2.8333333333333335), 7.0, 2.5, 2, 1]
    assert list(t["g"]) == ["enum", "", "", "", "", "", 1]
    assert list(t["y"])[:5] == ["int", 1.0, 5.5, 10.0, pytest.approx(3.0276503540974917)]
    assert math.isnan(t.loc["mins", "s"]) and t.loc["zeros", "s"] == 0
    text = fs.describe_text(ddf, types)
    lines = text.splitlines()
    assert lines[0] == "Rows:10" and lines[1] == "Cols:4"
    assert lines[3].split() == ["x", "g", "y", "s"]
    assert lines[-1] == "[10 rows x 4 columns]"
    assert lines[-2].split() == ["9", "0.0", "b", "10.0", "z"]   # the 10th data row


# ------------------------------------------------------------------ reductions

def test_mean_sd_median_nacnt(frame):
    pdf, ddf = frame
    assert fs.mean(ddf, TYPES) == pytest.approx(
        [pdf.x.mean(), pdf.i.mean(), math.nan, math.nan], nan_ok=True)
    assert fs.mean(ddf, TYPES, skipna=False)[:2] == pytest.approx([math.nan] * 2, nan_ok=True)
    assert fs.sd(ddf, TYPES, na_rm=True) == pytest.approx(
        [pdf.x.std(), pdf.i.std(), math.nan, math.nan], nan_ok=True)
    assert math.isnan(fs.sd(ddf, TYPES)[0])
    assert fs.median(ddf, TYPES, na_rm=True) == [
        np.median(pdf.x.dropna()), np.median(pdf.i.dropna()), pytest.approx(math.nan, nan_ok=True),
        pytest.approx(math.nan, nan_ok=True)]
    assert math.isnan(fs.median(ddf, TYPES)[0])
    assert fs.nacnt(ddf, TYPES) == [float(pdf[c].isna().sum()) for c in TYPES]


def test_skewness_kurtosis_as_h2o():
    # H2O divides the moments by the row count including NA rows
    for k in (1, 3):
        _, ddf, types = probe(k)
        assert fs.skewness(ddf, types, na_rm=True)[::2] == pytest.approx(
            [0.4755371232149549, 0.0], abs=1e-12)
        assert fs.kurtosis(ddf, types, na_rm=True)[::2] == pytest.approx(
            [2.1806666666666663, 1.7757575757575756], rel=1e-12)
        assert math.isnan(fs.skewness(ddf, types)[0])


def test_skewness_matches_moment_formula(frame):
    pdf, ddf = frame
    v = pdf.i.dropna().to_numpy()
    d = v - v.mean()
    N = len(pdf)
    assert fs.skewness(ddf, TYPES, na_rm=True)[1] == pytest.approx(
        ((d ** 3).sum() / N) / ((d ** 2).sum() / N) ** 1.5, rel=1e-10)
    assert fs.kurtosis(ddf, TYPES, na_rm=True)[1] == pytest.approx(
        ((d ** 4).sum() / N) / ((d ** 2).sum() / N) ** 2, rel=1e-10)


def test_min_max_sum_over_frame():
    pdf, ddf, types = probe(3)
    num = {"y": "int"}
    assert fs.min(ddf[["y"]], num) == 1.0 and fs.max(ddf[["y"]], num) == 10.0
    assert math.isnan(fs.min(ddf[["x", "y"]], {"x": "real", "y": "int"}))     # NA
    assert fs.sum(ddf[["x", "y"]], {"x": "real", "y": "int"}) == 80.5
    assert math.isnan(fs.sum(ddf[["x", "y"]], {"x": "real", "y": "int"}, skipna=False))
    assert math.isnan(fs.sum(ddf[["y", "g"]], {"y": "int", "g": "enum"}))
    # enum codes take part in min/max (H2O: y with a level-coded column -> 0.0)
    # an explicit sorted domain, as frames have (as_known() orders categories by scheduler)
    codes = ddf["g"].cat.codes.abs()
    noNA = ddf[["y"]].assign(e=codes.astype(pd.CategoricalDtype(sorted(pdf["g"].cat.codes.abs().unique()))))
    assert fs.min(noNA, {"y": "int", "e": "enum"}) == 0.0


def test_row_means_and_sums():
    pdf, ddf, types = probe(3)
    out, t = frame_of(fs.mean(ddf[["x", "y", "g"]], {"x": "real", "y": "int", "g": "enum"},
                              axis=1))
    assert t == {"mean": "real"}
    assert out["mean"].tolist()[:4] == [1.0, 2.0, 3.0, 4.0]
    out, _ = frame_of(fs.mean(ddf[["x", "y", "g"]], {"x": "real", "y": "int", "g": "enum"},
                              skipna=False, axis=1))
    assert out["mean"].isna().all()
    out, _ = frame_of(fs.sum(ddf[["x", "y"]], {"x": "real", "y": "int"}, axis=1))
    assert out["sum"].tolist() == pdf[["x", "y"]].sum(axis=1).tolist()


# ------------------------------------------------------------------ quantiles

@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("refine", [False, True], ids=["gather", "refine"])
def test_quantiles_equal_numpy(k, refine, monkeypatch):
    if refine:      # force the histogram-refinement passes on small data
        monkeypatch.setattr(fs, "_GATHER", 3)
        monkeypatch.setattr(fs, "_QBINS", 4)
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 500) * 10.0 ** rng.integers(-3, 4, 500)
    b = rng.integers(0, 5, 500).astype(np.float64)      # heavy ties
    a[::17] = np.nan
    pdf = pd.DataFrame({"a": a, "b": b})
    probs = [0, 0.001, 0.01, 0.1, 0.25, 0.333, 0.5, 0.667, 0.75, 0.9, 0.99, 0.999, 1]
    out, types = frame_of(fs.quantile(to_dask(pdf, k), {"a": "real", "b": "int"}, prob=probs))
    assert list(out.columns) == ["Probs", "aQuantiles", "bQuantiles"]
    np.testing.assert_array_equal(out["aQuantiles"], np.quantile(a[~np.isnan(a)], probs))
    np.testing.assert_array_equal(out["bQuantiles"], np.quantile(b, probs))
    for method, np_method in [("low", "lower"), ("high", "higher")]:
        out, _ = frame_of(fs.quantile(to_dask(pdf, k), {"a": "real", "b": "int"}, prob=probs,
                                      combine_method=method))
        np.testing.assert_array_equal(out["aQuantiles"],
                                      np.quantile(a[~np.isnan(a)], probs, method=np_method))


def test_quantile_defaults_as_h2o():
    _, ddf, types = probe(3)
    out, qtypes = frame_of(fs.quantile(ddf, types))
    assert list(out.columns) == ["Probs", "xQuantiles", "gQuantiles", "yQuantiles",
                                 "sQuantiles"]
    assert out["Probs"].tolist() == fs.DEFAULT_PROBS
    assert out["xQuantiles"].tolist() == pytest.approx(
        [0, 0, 1, 1.664, 2, 3.668, 4, 6.2, 6.92])
    assert out["yQuantiles"].tolist() == pytest.approx(
        [1.09, 1.9, 3.25, 3.997, 5.5, 7.003, 7.75, 9.1, 9.91])
    assert out["gQuantiles"].isna().all() and out["sQuantiles"].isna().all()
    avg, _ = frame_of(fs.quantile(ddf, types, prob=[0.1, 0.333, 0.5], combine_method="average"))
    assert avg["xQuantiles"].tolist() == [0.0, 1.5, 2.0]
    assert avg["yQuantiles"].tolist() == [1.5, 3.5, 5.5]
    with pytest.raises(ValueError, match="combine_method"):
        fs.quantile(ddf, types, combine_method="mean")


@pytest.mark.parametrize("k", [1, 4])
def test_weighted_quantile_equals_repeated_rows(k):
    rng = np.random.default_rng(2)
    v = np.round(rng.normal(size=60), 1)
    w = rng.integers(0, 4, 60).astype(np.float64)
    pdf = pd.DataFrame({"v": v, "w": w})
    probs = [0.05, 0.3, 0.5, 0.77, 0.95]
    out, _ = frame_of(fs.quantile(to_dask(pdf, k), {"v": "real", "w": "int"}, prob=probs,
                                  weights_column="w"))
    assert list(out.columns) == ["Probs", "vQuantiles"]
    np.testing.assert_allclose(out["vQuantiles"], np.quantile(np.repeat(v, w.astype(int)), probs),
                               rtol=1e-12)
    _, ddf, types = probe(2)     # H2O 3.46: weights y -> [0, 2, 7]
    out, _ = frame_of(fs.quantile(ddf[["x", "y"]], {"x": "real", "y": "int"},
                                  prob=[0.1, 0.5, 0.9], weights_column="y"))
    assert out["xQuantiles"].tolist() == [0.0, 2.0, 7.0]


def test_quantile_with_infinities_and_empty():
    pdf = pd.DataFrame({"a": [-np.inf, 1.0, 2.0, np.inf, 3.0], "e": [np.nan] * 5})
    out, _ = frame_of(fs.quantile(to_dask(pdf, 2), {"a": "real", "e": "real"},
                                  prob=[0, 0.5, 1]))
    with np.errstate(invalid="ignore"):     # numpy: -inf + (1 - -inf) * 0 is NaN
        np.testing.assert_array_equal(out["aQuantiles"], np.quantile(pdf.a, [0, 0.5, 1]))
    assert out["eQuantiles"].isna().all()
    low, _ = frame_of(fs.quantile(to_dask(pdf, 2), {"a": "real"}, prob=[0, 0.5, 1],
                                  combine_method="low"))
    assert low["aQuantiles"].tolist() == [-np.inf, 2.0, np.inf]


# ------------------------------------------------------------------ unique / table

def test_unique(frame):
    pdf, ddf = frame
    out, t = frame_of(fs.unique(ddf[["g"]], {"g": "enum"}))
    assert t == {"C1": "enum"} and out["C1"].tolist() == ["a", "b", "c", "d"]
    assert list(out["C1"].cat.categories) == ["a", "b", "c", "d"]
    out, _ = frame_of(fs.unique(ddf[["g"]], {"g": "enum"}, include_nas=True))
    assert out["C1"].isna().tolist() == [False] * 4 + [True]
    out, t = frame_of(fs.unique(ddf[["i"]], {"i": "int"}))
    expect = np.sort(pdf.i.unique())
    np.testing.assert_array_equal(out["C1"].to_numpy(), expect)
    with pytest.raises(ValueError, match="single-column"):
        fs.unique(ddf, TYPES)


def test_table_one_and_two_columns(frame):
    pdf, ddf = frame
    out, t = frame_of(fs.table(ddf[["g"]], {"g": "enum"}))
    assert t == {"g": "enum", "Count": "int"}
    vc = pdf.g.value_counts().sort_index()
    assert out["g"].tolist() == list(vc.index) and out["Count"].tolist() == vc.tolist()
    out, t = frame_of(fs.table(ddf[["i"]], {"i": "int"}))
    assert list(out.columns) == ["i", "Counts"]
    vc = pdf.i.value_counts().sort_index()
    assert out["i"].tolist() == list(vc.index) and out["Counts"].tolist() == vc.tolist()
    out, t = frame_of(fs.table(ddf[["g"]], {"g": "enum"}, data2=(ddf[["i"]], {"i": "int"})))
    assert list(out.columns) == ["g", "i", "Counts"]
    ref = pdf.dropna(subset=["g", "i"]).groupby(["g", "i"], observed=True).size()
    assert list(zip(out.g, out.i)) == list(ref.index) and out["Counts"].tolist() == ref.tolist()
    wide, t = frame_of(fs.table(ddf[["g", "i"]], {"g": "enum", "i": "int"}, dense=False))
    ref = pd.crosstab(pdf.g, pdf.i)
    assert list(wide.columns) == ["g"] + [repr(float(v)) for v in ref.columns]
    np.testing.assert_array_equal(wide.iloc[:, 1:].to_numpy(), ref.to_numpy())


# ------------------------------------------------------------------ hist

def test_hist_as_h2o():
    _, ddf, types = probe(3)
    out, t = frame_of(fs.hist(ddf[["y"]], {"y": "int"}))
    assert list(out.columns) == ["breaks", "counts", "mids_true", "mids", "density"]
    assert out["breaks"].tolist() == pytest.approx([2.8, 4.6, 6.4, 8.2, 10.0])
    assert out["counts"].tolist()[1:] == [2, 2, 2, 4] and math.isnan(out["counts"][0])
    assert out["mids"].tolist()[1:] == pytest.approx([3.7, 5.5, 7.3, 9.1])
    assert out["density"].tolist()[1:] == pytest.approx([2 / 18, 2 / 18, 2 / 18, 4 / 18])
    assert out["mids_true"].tolist()[1:] == pytest.approx([1.5, 3.5, 5.5, 8.5])
    fd, _ = frame_of(fs.hist(ddf[["y"]], {"y": "int"}, breaks="fd"))
    assert fd["breaks"].tolist() == [4.0, 7.0, 10.0] and fd["counts"].tolist()[1:] == [4, 6]
    three, _ = frame_of(fs.hist(ddf[["x"]], {"x": "real"}, breaks=3))
    assert three["counts"].tolist()[1:] == [5, 4]
    assert three["density"].tolist()[1:] == pytest.approx([0.238095, 0.190476], rel=1e-5)
    listed, _ = frame_of(fs.hist(ddf[["x"]], {"x": "real"}, breaks=[0, 2, 5, 8]))
    assert listed["counts"].tolist()[1:] == [5, 2, 2]
    assert listed["mids"].tolist()[1:] == [1.0, 3.5, 6.5]
    sturges, _ = frame_of(fs.hist(ddf[["x"]], {"x": "real"}))
    assert sturges["counts"].tolist()[1:] == [3, 2, 2, 2]      # H2O 3.46: 3, 2, 2, 2
    with pytest.raises(ValueError, match="constant"):
        fs.hist(ddf[["y"]].assign(y=1.0), {"y": "int"})


# ------------------------------------------------------------------ cor / var

def test_cor_and_var_match_pandas(frame):
    pdf, ddf = frame
    num = {"x": "real", "i": "int"}
    full = pdf[NUM].dropna()
    out, t = frame_of(fs.cor(ddf[NUM], num, na_rm=True))
    np.testing.assert_allclose(out.to_numpy(), full.corr().to_numpy(), rtol=1e-10)
    assert list(out.columns) == NUM
    out, _ = frame_of(fs.var(ddf[NUM], num, use="complete.obs"))
    np.testing.assert_allclose(out.to_numpy(), full.cov().to_numpy(), rtol=1e-10)
    out, _ = frame_of(fs.cor(ddf[NUM], num))             # 'everything': NA -> NaN
    assert np.isnan(out.to_numpy()).all()
    scalar = fs.cor(ddf[["x"]], {"x": "real"}, y=(ddf[["i"]], {"i": "int"}), na_rm=True)
    assert scalar == pytest.approx(full.x.corr(full.i), rel=1e-10)
    sp, _ = frame_of(fs.cor(ddf[NUM], num, na_rm=True, method="Spearman"))
    np.testing.assert_allclose(sp.to_numpy(), full.corr(method="spearman").to_numpy(),
                               rtol=1e-10)
    assert fs.var(ddf[["i"]], {"i": "int"}, na_rm=True) == pytest.approx(pdf.i.var())
    with pytest.raises(ValueError, match="all.obs"):
        fs.cor(ddf[NUM], num, use="all.obs")
    with pytest.raises(ValueError, match="numeric"):
        fs.cor(ddf, TYPES)


# ------------------------------------------------------------------ impute

def test_impute_mean_median_mode(frame):
    pdf, ddf = frame
    (out, t), vals = fs.impute(ddf, TYPES, "x", method="median")
    med = np.median(pdf.x.dropna())
    assert vals[0] == med and all(math.isnan(v) for v in vals[1:])
    got = out.compute()
    assert got["x"].tolist() == pdf.x.fillna(med).tolist()
    assert got["i"].isna().sum() == pdf.i.isna().sum()       # other columns untouched
    (out, t), vals = fs.impute(ddf, TYPES, method="mean")
    got = out.compute()
    mode = pdf.g.value_counts().sort_index().idxmax()
    assert vals[:3] == pytest.approx([pdf.x.mean(), pdf.i.mean(), "abcd".index(mode)])
    assert math.isnan(vals[3])
    np.testing.assert_allclose(got["i"], pdf.i.fillna(pdf.i.mean()))
    assert got["g"].tolist() == pdf.g.fillna(mode).tolist()
    assert t["i"] == "real" and t["x"] == "real"              # int filled with a fraction
    assert got["s"].isna().sum() == pdf.s.isna().sum()
    with pytest.raises(ValueError, match="mode"):
        fs.impute(ddf, TYPES, "x", method="mode")


def test_impute_by_groups(frame):
    pdf, ddf = frame
    (out, t), groups = fs.impute(ddf, TYPES, "x", method="mean", by=["g"])
    gpdf, gtypes = frame_of(groups)
    assert list(gpdf.columns) == ["g", "mean_x"] and gtypes == {"g": "enum", "mean_x": "real"}
    ref = pdf.groupby("g", observed=True, dropna=False)["x"].mean()
    assert gpdf["g"].isna().tolist()[0] and gpdf["g"].tolist()[1:] == ["a", "b", "c", "d"]
    np.testing.assert_allclose(gpdf["mean_x"][1:], ref[["a", "b", "c", "d"]])
    fill = pdf.groupby("g", observed=True, dropna=False)["x"].transform("mean")
    np.testing.assert_allclose(out.compute()["x"], pdf.x.fillna(fill))
    (out, t), groups = fs.impute(ddf, TYPES, "x", method="median", by="g")
    fill = pdf.groupby("g", observed=True, dropna=False)["x"].transform("median")
    np.testing.assert_allclose(out.compute()["x"], pdf.x.fillna(fill))
    assert list(frame_of(groups)[0].columns) == ["g", "median_x"]


def test_impute_as_h2o_probe():
    for k in (1, 3):
        _, ddf, types = probe(k)
        (out, _), groups = fs.impute(ddf, types, "x", method="median", by=["g"])
        assert out.compute()["x"].tolist() == [1, 2, 1, 4, 0, 6, 7, 3.5, 2, 0]
        assert frame_of(groups)[0]["median_x"].tolist() == [4, 2, 1, 6]
        (out, _), vals = fs.impute(ddf, types, "g", method="mode")
        assert vals[1] == 0.0 and out.compute()["g"].tolist()[3] == "a"
        (out, t), vals = fs.impute(ddf, types, values=[10, "a", 3, None])
        got = out.compute()
        assert vals[:3] == [10.0, 0.0, 3.0] and got["x"][2] == 10 and got["g"][3] == "a"
        with pytest.raises(ValueError, match="not a level"):
            fs.impute(ddf, types, values=[10, "zz", 3, None])


# ------------------------------------------------------------------ missing values / apply

def test_insert_missing_values_independent_of_partitioning():
    pdf = make_pdf(n=2500, seed=3)
    outs = [fs.insert_missing_values(to_dask(pdf, k), TYPES, fraction=0.2, seed=42)[0]
            .compute().reset_index(drop=True) for k in (1, 4)]
    pd.testing.assert_frame_equal(outs[0], outs[1])
    inserted = outs[0].isna().to_numpy() & ~pdf.isna().to_numpy()
    assert 0.15 < inserted.sum() / (~pdf.isna().to_numpy()).sum() < 0.25
    assert outs[0]["g"].dtype == pdf["g"].dtype
    other = fs.insert_missing_values(to_dask(pdf, 4), TYPES, fraction=0.2, seed=7)[0].compute()
    assert not other.reset_index(drop=True).isna().equals(outs[0].isna())
    offsets = [0, 625, 1250, 1875]
    given = fs.insert_missing_values(to_dask(pdf, 4), TYPES, 0.2, 42, row_offsets=offsets)[0]
    pd.testing.assert_frame_equal(given.compute().reset_index(drop=True), outs[0])
    with pytest.raises(ValueError, match="fraction"):
        fs.insert_missing_values(to_dask(pdf, 1), TYPES, fraction=1.5)


def test_apply_columns_and_rows(frame):
    pdf, ddf = frame
    num = {"x": "real", "i": "int"}
    out, t = frame_of(fs.apply(ddf[NUM], num, lambda c: c.mean()))
    assert t == {"x": "real", "i": "real"}
    assert out.iloc[0].tolist() == pytest.approx([pdf.x.mean(), pdf.i.mean()])
    out, t = frame_of(fs.apply(ddf[NUM], num, lambda c: c * 2))
    np.testing.assert_array_equal(out.to_numpy(), pdf[NUM].to_numpy() * 2)
    out, t = frame_of(fs.apply(ddf[NUM], num, lambda r: r.x + r.i, axis=1))
    assert t == {"C1": "real"}
    np.testing.assert_array_equal(out["C1"].to_numpy(), (pdf.x + pdf.i).to_numpy())


def test_summaries_take_one_compute(frame, monkeypatch):
    _, ddf = frame
    calls = []
    real = dask.compute

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dask, "compute", counting)
    fs.column_summaries(ddf, TYPES)
    assert len(calls) == 1
    calls.clear()
    fs.mean(ddf, TYPES)
    assert len(calls) == 1


def test_apply_with_unknown_divisions():
    pdf = make_pdf(n=40)
    ddf = to_dask(pdf, 3).clear_divisions()
    out, _ = frame_of(fs.apply(ddf[NUM], {"x": "real", "i": "int"}, lambda c: c + 1))
    np.testing.assert_array_equal(out.to_numpy(), pdf[NUM].to_numpy() + 1)


def test_hist_plot_adds_widths():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    _, ddf, _ = probe(2)
    out, t = frame_of(fs.hist(ddf[["y"]], {"y": "int"}, plot=True))
    assert list(out.columns)[-1] == "widths" and t["widths"] == "real"
    assert out["widths"].tolist()[1:] == pytest.approx([1.8] * 4)


def test_weighted_quantile_with_small_total_weight():
    pdf = pd.DataFrame({"v": [3.0, 1.0], "w": [0.25, 0.5]})
    out, _ = frame_of(fs.quantile(to_dask(pdf, 2), {"v": "real", "w": "real"},
                                  prob=[0, 0.5, 1], weights_column="w"))
    assert out["vQuantiles"].tolist() == [1.0, 1.0, 1.0]

"""categorical_encoding as a frame transformation: every encoding against a pandas reference
on 1 and 3 partitions, H2O's column names and order, NA and unseen levels at predict time."""
import pickle

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o.data.encoding import eigen_values, encode_frame, fit_encoding

LEVELS = ["a", "b", "c", "d"]
BIG = [f"L{i:02d}" for i in range(12)]


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.choice(LEVELS, n, p=[0.2, 0.4, 0.3, 0.1]).astype(object)
    c[rng.random(n) < 0.08] = None
    big = rng.choice(BIG, n, p=np.arange(12, 0, -1) / 78.0)
    effect = {"a": 0.0, "b": 2.0, "c": -1.0, "d": 1.0}
    yn = np.array([effect.get(v, 0.5) for v in c]) + rng.normal(size=n)
    return pd.DataFrame({
        "c": pd.Categorical(c, categories=LEVELS), "x": rng.normal(size=n),
        "big": pd.Categorical(big, categories=BIG), "yn": yn,
        "y": pd.Categorical(np.where(yn > 0.5, "yes", "no"), categories=["no", "yes"])})


TYPES = {"c": "enum", "x": "real", "big": "enum", "yn": "real", "y": "enum"}
X = ["c", "x", "big"]


def _frame(df, nparts):
    from daskml_h2o.frame import H2OFrame
    return H2OFrame._from_dask(dd.from_pandas(df, npartitions=nparts, sort=False), dict(TYPES))


def _encoded(df, method, nparts, **kw):
    fr = _frame(df, nparts)
    enc = fit_encoding(fr, fr.types, X, method, **kw)
    out = encode_frame(fr, enc)
    local = out._ddf.compute().reset_index(drop=True)
    assert list(local.columns) == out.names
    return enc, out, local


@pytest.fixture(params=[1, 3], ids=["1part", "3parts"])
def nparts(request):
    return request.param


def test_one_hot_explicit(nparts):
    df = _data()
    enc, out, local = _encoded(df, "OneHotExplicit", nparts)
    names = ["x"] + [f"c.{lv}" for lv in LEVELS] + ["c.missing(NA)"] + [f"big.{lv}" for lv in BIG] + \
        ["big.missing(NA)"]
    assert enc.output_columns == names  # numeric predictors first, as H2O
    assert out.names == names + ["yn", "y"]
    assert all(out.types[n] == "int" for n in names[1:])
    for lv in LEVELS:
        assert np.array_equal(local[f"c.{lv}"].to_numpy(), (df["c"] == lv).to_numpy(float))
    assert np.array_equal(local["c.missing(NA)"].to_numpy(), df["c"].isna().to_numpy(float))
    assert np.array_equal(local["x"].to_numpy(), df["x"].to_numpy())


def test_binary(nparts):
    df = _data()
    enc, out, local = _encoded(df, "Binary", nparts)
    # 4 levels + NA -> values 0..4 -> 3 bits; 12 levels -> 1 + floor(log2(12)) = 4 bits
    assert enc.output_columns == ["x", "c:0", "c:1", "c:2", "big:0", "big:1", "big:2", "big:3"]
    value = np.where(df["c"].isna(), 0, df["c"].cat.codes + 1)
    for k in range(3):
        assert np.array_equal(local[f"c:{k}"].to_numpy(), ((value >> k) & 1).astype(float))
    big = df["big"].cat.codes.to_numpy() + 1
    assert np.array_equal(local["big:3"].to_numpy(), ((big >> 3) & 1).astype(float))


def test_label_encoder(nparts):
    df = _data()
    enc, out, local = _encoded(df, "LabelEncoder", nparts)
    assert enc.output_columns == X and out.types["c"] == "int"
    expected = df["c"].cat.codes.to_numpy(float)
    expected[expected < 0] = np.nan
    assert np.array_equal(local["c"].to_numpy(), expected, equal_nan=True)


def test_eigen(nparts):
    df = _data()
    enc, out, local = _encoded(df, "Eigen", nparts)
    assert enc.output_columns == ["c.Eigen", "x", "big.Eigen"] and out.types["c.Eigen"] == "real"
    counts = df["c"].value_counts().reindex(LEVELS).to_numpy(float)
    values = eigen_values(counts, df["c"].isna().sum())
    expected = np.array([values[LEVELS.index(v)] if isinstance(v, str) else np.nan for v in df["c"]])
    assert np.array_equal(local["c.Eigen"].to_numpy(), expected, equal_nan=True)
    assert len(np.unique(values)) == 4  # the levels stay apart


def test_eigen_values_definition():
    # NA rows count as the most frequent level; the values are a row of an orthogonal matrix
    a = eigen_values([30.0, 50.0, 20.0], 0)
    b = eigen_values([30.0, 40.0, 20.0], 10)
    assert np.allclose(a, b)
    assert abs(np.linalg.norm(a) - 1.0) < 1e-6
    assert a.dtype == np.float64 and np.array_equal(a, a.astype(np.float32))


def test_sort_by_response(nparts):
    df = _data()
    enc, out, local = _encoded(df, "SortByResponse", nparts, response="yn")
    order = df.groupby("c", observed=False)["yn"].mean().sort_values(kind="stable").index.tolist()
    assert out.types["c"] == "enum" and list(local["c"].cat.categories) == order
    assert local["c"].astype(object).equals(df["c"].astype(object))  # same labels, new codes
    # an enum response sorts by the class index mean; only columns above reorder_above move
    enc2, out2, local2 = _encoded(df, "SortByResponse", nparts, response="y", response_domain=["no", "yes"],
                                  reorder_above=10)
    assert list(local2["c"].cat.categories) == LEVELS
    rate = (df["y"] == "yes").groupby(df["big"], observed=False).mean().sort_values(kind="stable").index.tolist()
    assert list(local2["big"].cat.categories) == rate


def test_enum_limited(nparts):
    df = _data()
    enc, out, local = _encoded(df, "EnumLimited", nparts, max_levels=5)
    assert enc.output_columns == ["c", "x", "big.top_5_levels"]
    counts = df["big"].value_counts()
    top = sorted(BIG, key=lambda lv: (-counts[lv], BIG.index(lv)))[:5]
    assert list(local["big.top_5_levels"].cat.categories) == top + ["other"]
    expected = df["big"].astype(object).where(df["big"].isin(top), "other")
    assert local["big.top_5_levels"].astype(object).equals(expected)
    assert local["c"].astype(object).equals(df["c"].astype(object))  # 4 <= 5 levels: unchanged


def test_auto_and_enum_are_identity():
    df = _data()
    fr = _frame(df, 2)
    for method in ("AUTO", "Enum", "enum"):
        enc = fit_encoding(fr, fr.types, X, method)
        assert enc.is_identity and encode_frame(fr, enc) is fr


def test_predict_time_unseen_levels_and_missing_columns():
    df = _data()
    fr = _frame(df, 2)
    test = pd.DataFrame({"c": ["a", "zz", None, "d"], "x": [1.0, 2.0, 3.0, 4.0], "big": ["L00", "L11", "new", None]})
    encs = {m: fit_encoding(fr, fr.types, X, m, response="yn", max_levels=5)
            for m in ("OneHotExplicit", "Binary", "LabelEncoder", "Eigen", "SortByResponse", "EnumLimited")}
    oh = encs["OneHotExplicit"].transform_partition(test)
    assert oh["c.missing(NA)"].tolist() == [0, 1, 1, 0] and oh["c.a"].tolist() == [1, 0, 0, 0]
    # Binary and LabelEncoder: unseen levels take the codes after the domain (H2O's adaptation)
    assert encs["LabelEncoder"].transform_partition(test)["c"].tolist()[:2] == [0.0, 4.0]
    binary = encs["Binary"].transform_partition(test)
    assert [binary[f"c:{k}"].iloc[1] for k in range(3)] == [1.0, 0.0, 1.0]  # 4 + 1 = 0b101
    eig = encs["Eigen"].transform_partition(test)["c.Eigen"]
    assert np.isnan(eig.iloc[1]) and np.isnan(eig.iloc[2]) and not np.isnan(eig.iloc[0])
    limited = encs["EnumLimited"].transform_partition(test)["big.top_5_levels"]
    assert limited.astype(object).tolist()[:3] == ["L00", "other", "other"] and pd.isna(limited.iloc[3])
    sbr = encs["SortByResponse"].transform_partition(test)["c"]
    assert sbr.astype(object).tolist()[0] == "a" and pd.isna(sbr.iloc[1])
    # a predictor the test frame lacks is all NA
    no_c = encs["OneHotExplicit"].transform_partition(test.drop(columns="c"))
    assert no_c["c.missing(NA)"].tolist() == [1, 1, 1, 1]


def test_encoding_pickles_and_rejects_bad_methods():
    df = _data()
    fr = _frame(df, 1)
    enc = fit_encoding(fr, fr.types, X, "Binary")
    again = pickle.loads(pickle.dumps(enc))
    assert again.output_columns == enc.output_columns
    with pytest.raises(ValueError, match="must be one of"):
        fit_encoding(fr, fr.types, X, "Target")
    with pytest.raises(ValueError, match="OneHotExplicit"):
        fit_encoding(fr, fr.types, X, "OneHotInternal")
    with pytest.raises(ValueError, match="response"):
        fit_encoding(fr, fr.types, X, "SortByResponse")

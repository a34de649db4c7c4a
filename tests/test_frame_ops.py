"""H2OFrame arithmetic, math, conversion, combining and export against numpy/pandas."""
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from scipy import special

from daskml_h2o.frame import MAX_FACTOR_LEVELS, H2OFrame, H2OValueError


def data(n=19, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.integers(-5, 6, n).astype(float)
    a[3] = np.nan
    b = rng.uniform(0.1, 4, n)
    b[[0, 8]] = np.nan
    e = rng.choice(["u", "v", "w"], n).astype(object)
    e[6] = None
    return pd.DataFrame({"a": a, "b": b, "e": pd.Categorical(e, categories=["u", "v", "w"])})


@pytest.fixture(params=[1, 3])
def fr(request):
    return H2OFrame(dd.from_pandas(data(), npartitions=request.param))


def col(frame, name=None):
    pdf = frame.as_data_frame()
    return pdf[name or pdf.columns[0]].to_numpy(dtype=float)


# ------------------------------------------------------------------ arithmetic

@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
def test_arithmetic_between_columns_and_scalars(fr, op):
    pdf = data()
    fns = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "**": np.power}
    with np.errstate(all="ignore"):
        want_cols = fns[op](pdf["a"].to_numpy(), pdf["b"].to_numpy())
        want_scalar = fns[op](pdf["b"].to_numpy(), 2.0)
        want_reflected = fns[op](3.0, pdf["a"].to_numpy())
    expr = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
            "/": lambda x, y: x / y, "**": lambda x, y: x ** y}[op]
    np.testing.assert_allclose(col(expr(fr["a"], fr["b"])), want_cols, equal_nan=True)
    np.testing.assert_allclose(col(expr(fr["b"], 2)), want_scalar, equal_nan=True)
    np.testing.assert_allclose(col(expr(3, fr["a"])), want_reflected, equal_nan=True)


def test_integer_division_modulo_and_result_types(fr):
    pdf = data()
    a = pdf["a"].to_numpy()
    # H2O's // truncates toward zero (checked on H2O 3.46: -2 // 3 == 0)
    np.testing.assert_array_equal(col(fr["a"] // 2), np.trunc(a / 2))
    np.testing.assert_array_equal(col(fr["a"] % 3), np.fmod(a, 3))
    ints = fr["a"].asnumeric()
    ints._types = {"a": "int"}
    assert (ints + 1).types == {"a": "int"}
    assert (ints * 2).types == {"a": "int"}
    assert (ints / 2).types == {"a": "real"}
    assert (ints + 0.5).types == {"a": "real"}
    assert (fr["b"] + 1).types == {"b": "real"}
    assert (-fr["a"]).types == {"a": "real"}
    np.testing.assert_array_equal(col(-fr["a"]), -a)


def test_multi_column_ops_broadcast_one_column(fr):
    pdf = data()
    out = fr[["a", "b"]] * fr["b"]
    assert out.names == ["a", "b"]
    np.testing.assert_allclose(col(out, "a"), pdf["a"] * pdf["b"], equal_nan=True)
    np.testing.assert_allclose(col(out, "b"), pdf["b"] * pdf["b"], equal_nan=True)


def test_arithmetic_on_enum_is_refused(fr):
    with pytest.raises(H2OValueError, match="column 'e'.*asnumeric"):
        fr["e"] + 1


# ------------------------------------------------------------------ comparison, logic

@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_comparisons_are_int_and_na_compares_false(fr, op):
    pdf = data()
    a = pdf["a"].to_numpy()
    fn = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
          ">": np.greater, ">=": np.greater_equal}[op]
    expr = {"==": lambda x: x == 1, "!=": lambda x: x != 1, "<": lambda x: x < 1,
            "<=": lambda x: x <= 1, ">": lambda x: x > 1, ">=": lambda x: x >= 1}[op]
    got = expr(fr["a"])
    assert got.types == {"a": "int"}
    # H2O 3.46 compares like Java doubles: NA > 1 is 0, NA != 1 is 1 (checked)
    with np.errstate(invalid="ignore"):
        want = fn(a, 1).astype(float)
    assert np.isnan(a).any() and not np.isnan(col(got)).any()
    np.testing.assert_array_equal(col(got), want)


def test_enum_compares_levels(fr):
    pdf = data()
    e = pdf["e"].astype(object).to_numpy()
    na = np.array([v is None or v != v for v in e])
    want = np.array([0.0 if missing else float(v == "v") for v, missing in zip(e, na)])
    np.testing.assert_array_equal(col(fr["e"] == "v"), want)
    np.testing.assert_array_equal(col(fr["e"] != "v"), 1 - want)
    assert col(fr["e"] == "absent").sum() == 0
    np.testing.assert_array_equal(col(fr["e"] == fr["e"]), np.where(na, 0.0, 1.0))


def test_logical_ops_follow_r_na_rules(fr):
    x = H2OFrame(dd.from_pandas(pd.DataFrame({"p": [1, 1, 0, np.nan, np.nan, 0],
                                              "q": [1, 0, np.nan, 1, 0, 0]}), npartitions=2))
    # H2O: & is 0 if either side is 0, else NA if either is NA; | is 1 if either is 1
    np.testing.assert_array_equal(col(x["p"] & x["q"]), [1, 0, 0, np.nan, 0, 0])
    np.testing.assert_array_equal(col(x["p"] | x["q"]), [1, 1, np.nan, 1, np.nan, 0])
    y = H2OFrame(dd.from_pandas(pd.DataFrame({"p": [1.0, 2, np.nan], "q": [0.5, 1.5, 2.5]}),
                                npartitions=1))
    np.testing.assert_array_equal(col(y["p"] & y["q"]), [1, 1, np.nan])
    np.testing.assert_array_equal(col(y["p"] | y["q"]), [1, 0, np.nan])
    np.testing.assert_array_equal(col(~x["p"]), [0, 0, 1, np.nan, np.nan, 1])
    assert (fr["b"].log()).names == ["log(b)"] and fr["b"].round().names == ["b"]
    mask = (fr["a"] > 0) & (fr["b"] < 2)
    pdf = data()
    want = data()[(pdf["a"] > 0) & (pdf["b"] < 2)]
    assert fr[mask].nrow == len(want)
    assert x["p"].any() and not x["p"].all() and x["q"].any()


# ------------------------------------------------------------------ math

MATH = {"log": np.log, "log10": np.log10, "log1p": np.log1p, "log2": np.log2, "exp": np.exp,
        "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign, "ceil": np.ceil,
        "floor": np.floor, "trunc": np.trunc, "cos": np.cos, "sin": np.sin, "tan": np.tan,
        "atan": np.arctan, "tanh": np.tanh, "gamma": special.gamma, "lgamma": special.gammaln,
        "digamma": special.digamma}


@pytest.mark.parametrize("name", sorted(MATH))
def test_math_functions(fr, name):
    b = data()["b"].to_numpy()
    np.testing.assert_allclose(col(getattr(fr["b"], name)()), MATH[name](b), equal_nan=True,
                               rtol=1e-12)


def test_log_of_non_positive_is_like_numpy(fr):
    a = data()["a"].to_numpy()
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(col(fr["a"].log()), np.log(a))


def test_round_signif_and_types(fr):
    b = data()["b"].to_numpy()
    np.testing.assert_array_equal(col(fr["b"].round(2)), np.round(b, 2))
    assert fr["b"].round().types == {"b": "int"} and fr["b"].round(1).types == {"b": "real"}
    assert fr["b"].floor().types == {"floor(b)": "int"}
    assert fr["b"].sqrt().types == {"sqrt(b)": "real"}
    np.testing.assert_allclose(col(fr["b"].signif(2)),
                               [float(f"{v:.2g}") if v == v else np.nan for v in b], equal_nan=True)
    with pytest.raises(H2OValueError, match="'e' is enum"):
        fr["e"].log()


def test_isna_ifelse_cut(fr):
    pdf = data()
    np.testing.assert_array_equal(col(fr.isna(), "isNA(e)"), pdf["e"].isna().astype(float))
    assert fr.isna().types == {"isNA(a)": "int", "isNA(b)": "int", "isNA(e)": "int"}
    a = pdf["a"].to_numpy()
    got = (fr["a"] > 0).ifelse(fr["b"], -1)
    np.testing.assert_array_equal(col(got), np.where(a > 0, pdf["b"], -1.0))
    na_test = H2OFrame(dd.from_pandas(pd.DataFrame({"t": [1.0, np.nan, 0.0]}), npartitions=1))
    np.testing.assert_array_equal(col(na_test["t"].ifelse(5, 6)), [5, np.nan, 6])
    labels = (fr["a"] > 0).ifelse("pos", "neg")
    assert labels.types == {"C1": "enum"} and labels.levels() == [["neg", "pos"]]
    assert labels.as_data_frame()["C1"].tolist() == list(np.where(a > 0, "pos", "neg"))
    cut = fr["b"].cut([0, 1, 2, 5])
    labels = ["(0.0,1.0]", "(1.0,2.0]", "(2.0,5.0]"]  # Java number text, as H2O
    assert cut.levels() == [labels]
    want = pd.cut(pdf["b"], [0, 1, 2, 5], labels=labels).astype(object)
    assert cut.as_data_frame()["b"].fillna("NA").tolist() == want.fillna("NA").tolist()
    # H2O 3.46: labels round to dig_lab decimals; include_lowest closes the first bin
    assert fr["b"].cut([0.123456, 1.23456, 2e7]).levels() == [["(0.123,1.235]", "(1.235,2.0E7]"]]
    assert fr["b"].cut([0.5, 1, 10], include_lowest=True).levels() == [["[0.5,1.0]", "(1.0,10.0]"]]


# ------------------------------------------------------------------ conversion

def test_asfactor_rules():
    pdf = pd.DataFrame({"i": [3.0, 10, 2, np.nan, 1], "r": [0.5, 1, 2, 3, 4],
                        "s": pd.Series(["b", "a", None, "c", "a"], dtype=object)})
    fr = H2OFrame(dd.from_pandas(pdf, npartitions=2))
    fr._types = {"i": "int", "r": "real", "s": "string"}
    f = fr["i"].asfactor()
    assert f.levels() == [["1", "2", "3", "10"]]
    assert f.as_data_frame()["i"].fillna("NA").tolist() == ["3", "10", "2", "NA", "1"]
    assert fr["s"].asfactor().levels() == [["a", "b", "c"]]
    with pytest.raises(H2OValueError) as err:
        fr["r"].asfactor()
    assert str(err.value) == "Only 'int' or 'string' are allowed for asfactor(), got r:real"


def test_asfactor_level_limit(monkeypatch):
    import daskml_h2o.frame as frame

    monkeypatch.setattr(frame, "MAX_FACTOR_LEVELS", 3)
    fr = H2OFrame(dd.from_pandas(pd.DataFrame({"i": [1, 2, 3, 4, 1]}), npartitions=1))
    with pytest.raises(H2OValueError, match="MAX_FACTOR_LEVELS=3"):
        fr.asfactor()
    assert MAX_FACTOR_LEVELS == 1_000_000


def test_asnumeric_and_ascharacter():
    pdf = pd.DataFrame({"n": pd.Categorical(["10", "2", "5", None], categories=["10", "2", "5"]),
                        "t": pd.Categorical(["a", "b", "a", "b"]),
                        "x": [1.0, 2.5, np.nan, 4]})
    fr = H2OFrame(dd.from_pandas(pdf, npartitions=2))
    num = fr.asnumeric().as_data_frame()
    np.testing.assert_array_equal(num["n"].to_numpy(dtype=float), [10, 2, 5, np.nan])
    np.testing.assert_array_equal(num["t"].to_numpy(dtype=float), [0, 1, 0, 1])
    ch = fr.ascharacter()
    assert ch.types == {"n": "string", "t": "string", "x": "string"}
    # a real column prints as Java doubles ("1.0"), as H2O's ascharacter()
    assert ch.as_data_frame()["x"].fillna("NA").tolist() == ["1.0", "2.5", "NA", "4.0"]
    assert fr["x"].isnumeric() == [True] and ch["x"].isstring() == [True]


def test_relevel_set_levels_na_omit():
    pdf = pd.DataFrame({"e": pd.Categorical(["a", "b", "c", "c", "b", "c", None]),
                        "v": [1.0, 2, 3, 4, np.nan, 6, 7]})
    fr = H2OFrame(dd.from_pandas(pdf, npartitions=3))
    r = fr["e"].relevel("c")
    assert r.levels() == [["c", "a", "b"]]
    assert r.as_data_frame()["e"].fillna("NA").tolist() == ["a", "b", "c", "c", "b", "c", "NA"]
    assert fr["e"].relevel_by_frequency().levels() == [["c", "b", "a"]]
    s = fr["e"].set_levels(["A", "B", "C"])
    assert s.as_data_frame()["e"].fillna("NA").tolist() == ["A", "B", "C", "C", "B", "C", "NA"]
    assert fr["e"].set_level("b").as_data_frame()["e"].tolist() == ["b"] * 7
    assert fr.na_omit().as_data_frame()["v"].tolist() == [1, 2, 3, 4, 6]
    with pytest.raises(H2OValueError, match="'z' is not a level"):
        fr["e"].relevel("z")


# ------------------------------------------------------------------ combining

def test_cbind_suffixes_duplicate_names():
    x = H2OFrame(dd.from_pandas(pd.DataFrame({"x": [1, 2, 3], "c": [4, 5, 6]}), npartitions=1))
    y = H2OFrame(dd.from_pandas(pd.DataFrame({"x": [7, 8, 9], "c": [0, 1, 0]}), npartitions=2))
    z = x.cbind(y)
    assert z.names == ["x", "c", "x0", "c0"]
    assert x["x"].cbind(x["x"]).cbind(x["x"]).names == ["x", "x0", "x1"]  # as H2O 3.46
    assert z.as_data_frame()["x0"].tolist() == [7, 8, 9]
    assert x.names == ["x", "c"]


def test_cbind_realigns_differently_partitioned_frames():
    left = H2OFrame(dd.from_pandas(pd.DataFrame({"a": np.arange(10.0)}), npartitions=3))
    right = H2OFrame(dd.from_pandas(pd.DataFrame({"b": np.arange(10.0) * 10}), npartitions=4))
    both = left.cbind(right).as_data_frame()
    np.testing.assert_array_equal(both["b"].to_numpy(), both["a"].to_numpy() * 10)
    np.testing.assert_array_equal(col(left["a"] + right["b"]), np.arange(10.0) * 11)
    short = H2OFrame(dd.from_pandas(pd.DataFrame({"b": np.arange(4.0)}), npartitions=1))
    with pytest.raises(H2OValueError, match="different numbers of rows: 10 and 4"):
        left.cbind(short)


def test_rbind_unions_domains():
    a = H2OFrame(dd.from_pandas(pd.DataFrame({"e": pd.Categorical(["a", "b", "a"]), "n": [1, 2, 3]}),
                                npartitions=2))
    b = H2OFrame(dd.from_pandas(pd.DataFrame({"e": pd.Categorical(["c", "b"]), "n": [0.5, 4]}),
                                npartitions=1))
    r = a.rbind(b)
    assert r.levels()[0] == ["a", "b", "c"]
    assert r.types == {"e": "enum", "n": "real"}
    got = r.as_data_frame()
    assert got["e"].tolist() == ["a", "b", "a", "c", "b"]
    assert got["n"].tolist() == [1, 2, 3, 0.5, 4]
    assert r.nrow == 5


def test_rbind_mismatch_is_a_clear_error():
    a = H2OFrame(dd.from_pandas(pd.DataFrame({"x": [1.0], "y": [2.0]}), npartitions=1))
    b = H2OFrame(dd.from_pandas(pd.DataFrame({"x": [1.0], "z": [2.0]}), npartitions=1))
    with pytest.raises(H2OValueError, match="same column names"):
        a.rbind(b)
    c = H2OFrame(dd.from_pandas(pd.DataFrame({"x": [1.0], "y": pd.Categorical(["q"])}), npartitions=1))
    with pytest.raises(H2OValueError, match="column 'y' has incompatible types"):
        a.rbind(c)
    d = H2OFrame(dd.from_pandas(pd.DataFrame({"x": [1.0], "y": pd.Series(["q"], dtype=object)}),
                                npartitions=1))
    assert d.types["y"] == "string"
    with pytest.raises(H2OValueError, match="incompatible types \\['enum', 'string'\\]"):
        c.rbind(d)  # H2O 3.46 refuses enum + string too


def test_merge_on_common_columns():
    left = H2OFrame(dd.from_pandas(pd.DataFrame({"k": pd.Categorical(["a", "b", "c"]),
                                                 "v": [1.0, 2, 3]}), npartitions=2))
    right = H2OFrame(dd.from_pandas(pd.DataFrame({"k": pd.Categorical(["c", "a", "d"]),
                                                  "w": [30.0, 10, 40]}), npartitions=1))
    inner = left.merge(right).as_data_frame().sort_values("k").reset_index(drop=True)
    assert inner["k"].tolist() == ["a", "c"] and inner["w"].tolist() == [10, 30]
    outer = left.merge(right, all_x=True)
    assert outer.nrow == 3 and outer.types["k"] == "enum"


# ------------------------------------------------------------------ to python

def test_as_data_frame_and_lists(fr):
    pdf = data()
    got = fr.as_data_frame()
    np.testing.assert_array_equal(got["a"].to_numpy(), pdf["a"].to_numpy())
    assert got["e"].dtype == object and got["e"].isna().sum() == 1
    rows = fr.as_data_frame(use_pandas=False)
    assert rows[0] == ["a", "b", "e"] and len(rows) == len(pdf) + 1
    assert rows[4][0] == "" and rows[1][2] == str(pdf["e"].iloc[0])
    assert fr.as_data_frame(use_pandas=False, header=False)[0] == rows[1]
    text = fr.get_frame_data()
    assert text.splitlines()[0] == '"a","b","e"' and len(text.splitlines()) == len(pdf) + 1


def test_int_columns_without_na_come_back_as_int64():
    fr = H2OFrame(dd.from_pandas(pd.DataFrame({"i": [1, 2, 3]}), npartitions=2))
    assert fr.as_data_frame()["i"].dtype == np.int64

"""H2OFrame construction, properties, indexing and assignment against pandas references."""
import os

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o import registry
from daskml_h2o.frame import H2OFrame, H2OValueError, deep_copy

PROSTATE = os.path.join(os.path.dirname(__file__), "..", "daskml_h2o", "datasets", "prostate.csv")
PARTS = [1, 3]


def reference(n=23, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, n).astype(float)
    x[[2, 7]] = np.nan
    y = rng.normal(size=n)
    y[5] = np.nan
    c = rng.choice(["lo", "mid", "hi"], n).astype(object)
    c[[4, 11]] = None
    s = np.array([f"id{i}" for i in range(n)], dtype=object)
    return pd.DataFrame({"x": x, "y": y, "c": pd.Categorical(c, categories=["hi", "lo", "mid"]),
                         "s": s})


def make(pdf, nparts):
    return H2OFrame(dd.from_pandas(pdf, npartitions=nparts))


def user_view(pdf):
    """What as_data_frame() gives for ``reference()`` data: enum as str/NaN."""
    out = pdf.copy()
    for c in ("c", "s"):
        out[c] = pd.Series(out[c].astype(object).where(out[c].notna(), np.nan), dtype=object)
    return out


@pytest.fixture(params=PARTS)
def nparts(request):
    return request.param


# ------------------------------------------------------------------ construction

def test_dask_input_is_wrapped_with_types_from_dtypes(nparts):
    pdf = reference()
    pdf["i"] = np.arange(len(pdf))
    pdf["b"] = pdf["x"] > 4
    fr = make(pdf, nparts)
    assert fr.types == {"x": "real", "y": "real", "c": "enum", "s": "string", "i": "int",
                        "b": "enum"}
    assert fr.levels()[2] == ["hi", "lo", "mid"]
    assert fr.levels()[5] == ["False", "True"]
    assert fr.nrow == len(pdf) and fr.ncol == 6 and fr.dim == [len(pdf), 6]
    assert fr.shape == (len(pdf), 6) and len(fr) == len(pdf)
    assert fr.to_dask().npartitions == nparts
    storage = fr.to_dask().dtypes
    assert storage["i"] == np.float64 and storage["s"] == object
    got = fr.as_data_frame()
    np.testing.assert_array_equal(got["i"].to_numpy(), np.arange(len(pdf)))
    assert got["b"].tolist() == [str(v) for v in pdf["b"]]


def test_dask_input_keeps_its_data_when_already_conforming():
    pdf = pd.DataFrame({"a": [1.5, 2.5], "s": pd.Series(["p", "q"], dtype=object)})
    ddf = dd.from_pandas(pdf, npartitions=1)
    ddf = ddf.map_partitions(lambda p: p.astype({"s": object}), meta=pdf)
    fr = H2OFrame(ddf)
    assert fr.to_dask() is ddf


def test_text_column_with_repeats_becomes_enum_with_sorted_levels():
    pdf = pd.DataFrame({"t": ["b", "a", "b", "c", "a", None, "b"]})
    fr = make(pdf, 2)
    assert fr.types == {"t": "enum"}
    assert fr.levels() == [["a", "b", "c"]]
    assert fr.nacnt() == [1.0]


def test_python_objects_guess_types_like_h2o():
    assert H2OFrame({"x": [1, 2, 3], "y": ["a", "b", "a"]}).types == {"x": "int", "y": "enum"}
    rows = H2OFrame([[1, "a"], [2, "b"]])
    assert rows.names == ["C1", "C2"] and rows.types == {"C1": "int", "C2": "string"}
    flat = H2OFrame([1, 2, 3])
    assert flat.shape == (3, 1) and flat.names == ["C1"]
    pdf = pd.DataFrame({"u": ["u", "v"], "b": [True, False], "f": [1.5, np.nan]})
    assert H2OFrame(pdf).types == {"u": "string", "b": "string", "f": "real"}
    forced = H2OFrame(pdf, column_types={"u": "enum"})
    assert forced.types["u"] == "enum" and forced.levels()[0] == ["u", "v"]
    arr = H2OFrame(np.arange(6).reshape(3, 2))
    assert arr.shape == (3, 2) and arr.as_data_frame()["C2"].tolist() == [1, 3, 5]


def test_python_object_options():
    fr = H2OFrame([["n", "s"], [1, "x"], [2, "y"]], header=1)
    assert fr.names == ["n", "s"] and fr.nrow == 2
    fr = H2OFrame([[1, "x", 0.5], [2, "y", 1.5]], column_names=["a", "b", "c"], skipped_columns=[1])
    assert fr.names == ["a", "c"]
    fr = H2OFrame({"a": ["1", "-", "3"]}, na_strings=["-"])
    assert fr.types == {"a": "int"} and fr.nacnt() == [1.0]
    assert fr.frame_id.startswith("Key_Frame__upload_") and fr.frame_id.endswith(".hex")
    with pytest.raises(H2OValueError, match="same length"):
        H2OFrame({"a": [1, 2], "b": [1]})
    with pytest.raises(H2OValueError, match="cannot make an H2OFrame"):
        H2OFrame(object())


def test_prostate_cell_is_a_python_scalar():
    # the spec's "69.0" came from another prostate file; this one has AGE 70 in row 2
    fr = H2OFrame(pd.read_csv(PROSTATE))
    value = fr[2, "AGE"]
    assert type(value) is float and value == 70.0
    assert (fr["PSA"] * 2 + 1)[0, 0] == pytest.approx(3.8)


# ------------------------------------------------------------------ properties

def test_properties_and_levels(nparts):
    fr = make(reference(), nparts)
    assert fr.names == fr.columns == fr.col_names == ["x", "y", "c", "s"]
    assert fr.type("c") == "enum" and fr.type(0) == "real"
    assert fr.columns_by_type("numeric") == [0.0, 1.0]  # floats, as H2O returns them
    assert fr.columns_by_type("categorical") == [2.0]
    assert fr.columns_by_type("string") == [3.0]
    assert fr[fr.columns_by_type("categorical")].names == ["c"]
    assert fr.isfactor() == [False, False, True, False] and fr.anyfactor()
    assert fr.nlevels() == [0, 0, 3, 0]
    assert fr.nacnt() == [2.0, 1.0, 2.0, 0.0]
    assert fr.isnumeric() == [True, True, False, False]
    assert fr.isstring() == [False, False, False, True] == fr.ischaracter()


def test_frame_ids_and_registry():
    fr = make(reference(), 1)
    derived = fr["x"] + 1
    assert derived.frame_id.startswith("py_") and "_sid_" in derived.frame_id
    assert registry.get(derived.frame_id) is derived
    fr.frame_id = "my_frame"
    assert registry.get("my_frame") is fr and "my_frame" in registry.keys()
    copy = deep_copy(fr, "copied")
    assert registry.get("copied") is copy
    copy["x"] = 0
    np.testing.assert_array_equal(fr.as_data_frame()["x"].to_numpy(), reference()["x"].to_numpy())
    assert (copy.as_data_frame()["x"] == 0).all()
    assert registry.remove("copied") and registry.get("copied") is None


def test_repr_prints_table_and_dimensions():
    fr = make(reference(), 3)
    text = repr(fr)
    assert text.splitlines()[0].split() == ["x", "y", "c", "s"]
    assert text.splitlines()[-1] == "[23 rows x 4 columns]"
    assert len([ln for ln in text.splitlines() if ln.strip().endswith(("id0", "id9"))]) == 2
    # the exact layout of real H2O 3.46's print (checked): decimal-aligned numbers
    small = H2OFrame({"a": [1, 2, None, 4, 5, 6], "b": [0.5, 1.5, 2.5, None, 4.5, 5.5],
                      "e": ["x", "y", "x", "y", "z", "x"]})
    assert repr(small) == ("  a      b  e\n  1    0.5  x\n  2    1.5  y\nnan    2.5  x\n"
                           "  4  nan    y\n  5    4.5  z\n  6    5.5  x\n[6 rows x 3 columns]\n")
    assert repr(small["e"]).endswith("z\nx\n[6 rows x 1 column]\n")
    assert "[23 rows x 4 columns]" in fr._repr_html_()


def test_head_and_tail(nparts):
    pdf = reference()
    fr = make(pdf, nparts)
    pd.testing.assert_frame_equal(fr.head(5).as_data_frame(), user_view(pdf).head(5).reset_index(drop=True))
    pd.testing.assert_frame_equal(fr.tail(4).as_data_frame(),
                                  user_view(pdf).tail(4).reset_index(drop=True))
    assert fr.head(rows=3, cols=2).shape == (3, 2)


# ------------------------------------------------------------------ indexing

def test_column_selection(nparts):
    pdf = reference()
    fr = make(pdf, nparts)
    assert fr["y"].names == ["y"] and fr[1].names == ["y"] and fr[-1].names == ["s"]
    assert fr[["s", "x"]].names == ["s", "x"]
    assert fr[[0, 2]].names == ["x", "c"]
    assert fr[1:].names == ["y", "c", "s"]
    np.testing.assert_array_equal(fr["y"].as_data_frame()["y"].to_numpy(), pdf["y"].to_numpy())


def test_unknown_column_names_close_matches():
    fr = make(reference(), 1)
    with pytest.raises(KeyError, match="'yy'.*Did you mean.*'y'"):
        fr["yy"]
    with pytest.raises(IndexError, match="out of range"):
        fr[9]


def test_row_mask_drops_na(nparts):
    pdf = reference()
    fr = make(pdf, nparts)
    got = fr[fr["x"] > 4].as_data_frame()
    want = user_view(pdf)[pdf["x"] > 4].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    got = fr[fr["c"] == "lo", :].as_data_frame()
    want = user_view(pdf)[pdf["c"] == "lo"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("rows", [slice(2, 9), slice(-5, None), slice(1, 20, 3), [3, 0, 0, 17],
                                  [1, 4, 5], -1, 4])
def test_row_selection(nparts, rows):
    pdf = reference()
    fr = make(pdf, nparts)
    got = fr[rows, :].as_data_frame()
    want = user_view(pdf).iloc[[rows] if isinstance(rows, int) else rows].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_rows_and_columns_together(nparts):
    pdf = reference()
    fr = make(pdf, nparts)
    sub = fr[0:3, 0:2]
    assert sub.shape == (3, 2)
    assert fr[1, :].shape == (1, 4)
    assert fr[5, "c"] == pdf["c"].iloc[5]
    assert fr[4, "c"] is None
    assert np.isnan(fr[5, 1])
    assert fr[-1, "s"] == "id22"


# ------------------------------------------------------------------ assignment

def test_assign_new_and_replace_columns(nparts):
    pdf = reference()
    fr = make(pdf, nparts)
    fr["z"] = fr["x"] * 2
    fr["y"] = 7
    fr["tag"] = "k"
    got = fr.as_data_frame()
    np.testing.assert_array_equal(got["z"].to_numpy(), pdf["x"].to_numpy() * 2)
    assert (got["y"] == 7).all() and fr.types["y"] == "int"
    assert fr.types["tag"] == "enum" and got["tag"].eq("k").all()
    assert fr.names == ["x", "y", "c", "s", "z", "tag"]


def test_asfactor_replaces_in_place(nparts):
    pdf = pd.DataFrame({"n": [3, 1, 10, 2, 9, 1]})
    fr = make(pdf, nparts)
    fr["n"] = fr["n"].asfactor()
    assert fr.types == {"n": "enum"}
    assert fr.levels() == [["1", "2", "3", "9", "10"]]
    assert fr.as_data_frame()["n"].tolist() == ["3", "1", "10", "2", "9", "1"]


def test_conditional_update(nparts):
    pdf = reference()
    fr = make(pdf, nparts)
    fr[fr["x"] > 5, "y"] = 100.0
    fr[fr["x"] < 2, "c"] = "new"
    fr[[0, 1], "s"] = "first"
    got = fr.as_data_frame()
    hit = (pdf["x"] > 5).to_numpy()
    np.testing.assert_array_equal(got["y"].to_numpy()[hit], 100.0)
    np.testing.assert_array_equal(got["y"].to_numpy()[~hit], pdf["y"].to_numpy()[~hit])
    low = (pdf["x"] < 2).to_numpy()
    assert fr.levels()[2] == ["hi", "lo", "mid", "new"]
    assert got["c"][low].eq("new").all()
    assert got["c"][~low].fillna("NA").tolist() == user_view(pdf)["c"][~low].fillna("NA").tolist()
    assert got["s"].tolist()[:3] == ["first", "first", "id2"]


def test_update_whole_column_from_other_frame(nparts):
    pdf = reference()
    fr = make(pdf, nparts)
    fr[fr["y"] > 0, "x"] = fr["y"]
    got = fr.as_data_frame()["x"].to_numpy()
    want = np.where(pdf["y"] > 0, pdf["y"], pdf["x"])
    np.testing.assert_array_equal(got, want)
    assert fr.types["x"] == "real"


def test_drop_pop_and_names(nparts):
    fr = make(reference(), nparts)
    assert fr.drop("y").names == ["x", "c", "s"]
    assert fr.drop([0, "s"]).names == ["y", "c"]
    assert fr.drop([0, 1], axis=0).nrow == 21
    col = fr.pop("c")
    assert col.names == ["c"] and fr.names == ["x", "y", "s"]
    fr.set_names(["a", "b", "d"])
    assert fr.names == ["a", "b", "d"]
    fr.rename(columns={"b": "bb"})
    fr.set_name("d", "dd")
    assert fr.names == ["a", "bb", "dd"]
    fr.names = ["p", "q", "r"]
    assert fr.types == {"p": "real", "q": "real", "r": "string"}
    assert fr.as_data_frame()["r"].iloc[0] == "id0"
    with pytest.raises(H2OValueError, match="unique"):
        fr.set_names(["a", "a", "b"])


def test_dask_input_with_pyarrow_strings_datetimes_and_unknown_categories():
    pdf = pd.DataFrame({"s": ["a", "b", "a", "b", None, "a"],
                        "d": pd.to_datetime(["2020-01-01", None, "2020-01-02", "2020-01-01",
                                             "2020-01-03", "2020-01-01"]),
                        "k": pd.Categorical(["x", "y", "x", "x", "y", "x"])})
    ddf = dd.from_pandas(pdf, npartitions=2)  # default config: pyarrow strings
    ddf["k"] = ddf["k"].cat.as_unknown()
    fr = H2OFrame(ddf)
    assert fr.types == {"s": "enum", "d": "time", "k": "enum"}
    assert fr.levels() == [["a", "b"], [], ["x", "y"]]
    got = fr.as_data_frame()
    np.testing.assert_array_equal(got["d"].to_numpy(), [1577836800000.0, np.nan, 1577923200000.0,
                                                        1577836800000.0, 1578009600000.0,
                                                        1577836800000.0])
    assert got["s"].fillna("NA").tolist() == ["a", "b", "a", "b", "NA", "a"]


def test_membership_head_reads_first_partitions_and_row_drop(nparts):
    pdf = reference()
    fr = make(pdf, nparts)
    assert "lo" in fr and "nope" not in fr and 3.0 in fr and 1e9 not in fr
    head = fr.head(2)
    assert head.to_dask().npartitions == 1
    got = fr.drop([0, 5, 22], axis=0).as_data_frame()
    want = user_view(pdf).drop(index=[0, 5, 22]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    fr[:, "y"] = 1.5
    assert (fr.as_data_frame()["y"] == 1.5).all()


def test_combining_frames_with_different_rows_is_refused():
    fr = make(reference(), 3)
    with pytest.raises(H2OValueError, match="different numbers of rows"):
        fr[fr["x"] > 4]["y"] + fr["y"]


def test_rename_ignores_unknown_keys_and_set_name_refuses_duplicates():
    fr = H2OFrame({"a": [1, 2], "b": [3, 4]})
    assert fr.rename(columns={"a": "x", "zz": "y", 1: "q"}).names == ["x", "q"]
    with pytest.raises(H2OValueError, match="Column 'q' already exists"):
        fr.set_name("x", "q")
    assert bool(fr[0, :]["x"]) is True
    with pytest.raises(H2OValueError, match="ambiguous"):
        bool(fr)
    assert fr.concat([fr], axis=0).nrow == 4 and fr.concat([fr]).names == ["x", "q", "x0", "q0"]


def test_conditional_update_from_enum_and_string_columns(nparts):
    pdf = pd.DataFrame({"e": pd.Categorical(["a", "b", None, "a"]),
                        "f": pd.Categorical(["z", "a", "z", None]),
                        "s": pd.Series(["s0", "s1", "s2", "s3"], dtype=object),
                        "t": pd.Series(["t0", "t1", "t2", "t3"], dtype=object),
                        "m": [1.0, 0.0, 1.0, 1.0]})
    fr = make(pdf, min(nparts, 2))
    fr[fr["m"] == 1, "e"] = fr["f"]
    fr[fr["m"] == 0, "s"] = fr["t"]
    got = fr.as_data_frame()
    assert fr.levels()[0] == ["a", "b", "z"]
    assert got["e"].fillna("NA").tolist() == ["z", "b", "z", "NA"]
    assert got["s"].tolist() == ["s0", "t1", "s2", "s3"]
    assert fr.frame_id.startswith("Key_Frame__upload_") and registry.get(fr.frame_id) is fr

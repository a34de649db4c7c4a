"""Local import/export: H2O's type, NA, separator and header rules; files, globs,
directories, compression, Parquet; errors; atomic CSV export."""
import bz2
import gzip
import lzma
import os
import zipfile

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o import parse
from daskml_h2o.io import export_csv, export_parquet, read_csv_to_dask
from daskml_h2o.parse import typed_from_text


@pytest.fixture(autouse=True)
def _sync_scheduler():
    with dask.config.set(scheduler="sync"):
        yield


def text(d):
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in d.items()})


def levels(df, col):
    return list(df[col].cat.categories)


def write(path, content, mode="w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode) as f:
        f.write(content)
    return str(path)


def read(path, **kw):
    ddf, types = read_csv_to_dask(path, **kw)
    return ddf.compute().reset_index(drop=True), types, ddf


# ---------------------------------------------------------------- typed_from_text

def test_dict_of_columns_int_and_enum():
    df, types = typed_from_text(text({"x": ["1", "2", "3"], "y": ["a", "b", "a"]}))
    assert types == {"x": "int", "y": "enum"}
    assert df["x"].dtype == np.float64 and df["x"].tolist() == [1.0, 2.0, 3.0]
    assert levels(df, "y") == ["a", "b"] and df["y"].cat.codes.tolist() == [0, 1, 0]


def test_all_unique_strings_are_string_type():
    df, types = typed_from_text(text({"C1": ["1", "2"], "C2": ["a", "b"]}))
    assert types == {"C1": "int", "C2": "string"}
    assert df["C2"].dtype == object and df["C2"].tolist() == ["a", "b"]


def test_na_like_tokens_stay_levels_in_enum():
    df, types = typed_from_text(text({"x": ["x", "y", "NA", "x", "z"]}))
    assert types["x"] == "enum"
    assert levels(df, "x") == ["NA", "x", "y", "z"]
    assert df["x"].isna().sum() == 0


def test_na_strings_turn_enum_tokens_missing():
    df, types = typed_from_text(text({"x": ["x", "y", "NA", "x", "z", "y"]}), na_strings=["NA"])
    assert levels(df, "x") == ["x", "y", "z"] and df["x"].isna().tolist() == [False, False, True] + [False] * 3


def test_numeric_column_non_numbers_become_na():
    df, types = typed_from_text(text({"a": ["1.5", "2", None, "NA", "?", "", "N/A", "3"]}))
    assert types["a"] == "real"
    np.testing.assert_array_equal(df["a"].to_numpy(), [1.5, 2, np.nan, np.nan, np.nan, np.nan, np.nan, 3])


def test_int_iff_all_whole():
    _, t1 = typed_from_text(text({"a": ["1", "2.0", "-3", "1e3"]}))
    _, t2 = typed_from_text(text({"a": ["1", "2.5", "-3"]}))
    assert t1 == {"a": "int"} and t2 == {"a": "real"}


def test_forced_enum_levels_sorted_lexicographically():
    df, types = typed_from_text(text({"a": ["10", "2", "1", "9", "3", "2"]}), col_types={"a": "enum"})
    assert types == {"a": "enum"} and levels(df, "a") == ["1", "10", "2", "3", "9"]


def test_col_types_list_and_aliases():
    d = text({"a": ["1", "2", "1"], "b": ["x", "y", "x"], "c": ["u", "v", "u"], "d": ["1", "2", "3"]})
    df, types = typed_from_text(d, col_types=["factor", "string", None, "real"])
    assert types == {"a": "enum", "b": "string", "c": "enum", "d": "int"}
    assert df["b"].dtype == object


def test_time_and_uuid_columns():
    u = ["123e4567-e89b-12d3-a456-42661417400%d" % i for i in range(3)]
    df, types = typed_from_text(text({"e": ["2020-01-01", "2020-01-02", "2020-01-03 12:00:00"], "u": u}))
    assert types == {"e": "time", "u": "uuid"}
    assert df["e"].tolist() == [1577836800000.0, 1577923200000.0, 1578052800000.0]
    assert df["u"].tolist() == u


def test_unknown_type_is_all_na():
    df, types = typed_from_text(text({"a": ["1", "2"]}), col_types={"a": "unknown"})
    assert df["a"].isna().all() and types["a"] == "int"


def test_single_string_rules():
    # a lone NA-like string among numbers -> numeric; a lone real string -> enum
    df, types = typed_from_text(text({"a": ["NA", "NA", "1"], "b": ["yes", "yes", "yes"]}))
    assert types == {"a": "int", "b": "enum"}
    assert df["a"].isna().tolist() == [True, True, False]


def test_strings_with_zeros_make_enum_with_zero_as_na():
    df, types = typed_from_text(text({"a": ["a", "b", "0", "a", "b", "0", "a"]}))
    assert types["a"] == "enum" and levels(df, "a") == ["a", "b"]
    assert df["a"].isna().sum() == 2


def test_string_column_empty_is_none():
    df, types = typed_from_text(text({"s": ["p", None, "", "q"]}))
    assert types["s"] == "string"
    assert df["s"].tolist() == ["p", None, None, "q"]


@pytest.mark.parametrize("na", [[["-1"], []], {"a": ["-1"]}, {"a": "-1"}])
def test_na_strings_per_column_forms(na):
    df, _ = typed_from_text(text({"a": ["1", "-1", "2"], "b": ["-1", "5", "6"]}), na_strings=na)
    assert df["a"].isna().tolist() == [False, True, False]
    assert df["b"].isna().sum() == 0


def test_bad_col_type_and_names_raise():
    with pytest.raises(ValueError, match="unknown column type 'bogus'"):
        typed_from_text(text({"a": ["1"]}), col_types={"a": "bogus"})
    with pytest.raises(ValueError, match="no column named"):
        typed_from_text(text({"a": ["1"]}), col_types={"zz": "enum"})
    with pytest.raises(ValueError, match="2 entries for 1 columns"):
        typed_from_text(text({"a": ["1"]}), col_types=["enum", "int"])


def test_guess_separator_and_header_rules():
    assert parse.guess_separator(["a;b;c", "1;2;3"]) == ";"
    assert parse.guess_separator(["a,b;c", "1,2;3"]) == ","
    assert parse.guess_separator(["a b  c", "1  2 3"]) == " "
    assert parse.guess_separator(["a\tb", "1\t2"]) == "\t"
    assert parse.guess_separator(['"a,b"|c', '1|2']) == "|"
    assert parse.guess_header(["a", "b"], ["1", "x"])
    assert not parse.guess_header(["a", "b"], ["x", "y"])
    assert not parse.guess_header(["a", "1"], ["2", "3"])
    assert not parse.guess_header(["a", "b"], None)


# ---------------------------------------------------------------- CSV files

@pytest.mark.parametrize("sep", [",", ";", "\t", "|", "\x01"])
def test_separator_guess_and_header(tmp_path, sep):
    p = write(tmp_path / "f.csv", sep.join(["id", "name", "v"]) + "\n" +
              "\n".join(sep.join([str(i), "ab"[i % 2], f"{i}.5"]) for i in range(6)) + "\n")
    df, types, _ = read(p)
    assert list(df.columns) == ["id", "name", "v"]
    assert types == {"id": "int", "name": "enum", "v": "real"}
    assert df["v"].tolist() == [i + 0.5 for i in range(6)]


def test_space_separated_with_repeated_spaces(tmp_path):
    p = write(tmp_path / "f.txt", "a  b   c\n1 2  3\n 4 5 6\n")
    df, types, _ = read(p)
    assert list(df.columns) == ["a", "b", "c"] and df["c"].tolist() == [3.0, 6.0]


def test_no_header_numeric_gets_c_names(tmp_path):
    df, types, _ = read(write(tmp_path / "f.csv", "1,2\n3,4\n"))
    assert list(df.columns) == ["C1", "C2"] and df["C1"].tolist() == [1.0, 3.0]


def test_all_string_file_first_line_is_data(tmp_path):
    df, types, _ = read(write(tmp_path / "f.csv", "a,b\nc,d\na,b\n"))
    assert list(df.columns) == ["C1", "C2"] and len(df) == 3 and types["C1"] == "enum"


def test_header_forced_and_disabled(tmp_path):
    p = write(tmp_path / "f.csv", "a,b\nc,d\na,b\n")
    df, _, _ = read(p, header=1)
    assert list(df.columns) == ["a", "b"] and len(df) == 2
    df, types, _ = read(write(tmp_path / "g.csv", "x,y\n1,2\n"), header=-1)
    # 'x' is one string against one number: the column stays numeric, 'x' is NA
    assert list(df.columns) == ["C1", "C2"] and types["C1"] == "int"
    assert df["C1"].isna().tolist() == [True, False]


def test_col_names_skipped_columns_col_types(tmp_path):
    p = write(tmp_path / "f.csv", "a,b,c\n1,x,3\n2,y,4\n1,x,5\n")
    df, types, ddf = read(p, col_names=["p", "q", "r"], skipped_columns=[1], col_types={"p": "enum"})
    assert list(df.columns) == ["p", "r"] and types == {"p": "enum", "r": "int"}
    assert levels(df, "p") == ["1", "2"]
    assert list(ddf.dtypes.index) == ["p", "r"]


def test_quoted_fields_and_quotechar(tmp_path):
    p = write(tmp_path / "f.csv", 'a,b\n"x, y",1\n"z",2\n"x, y",3\n')
    df, types, _ = read(p)
    assert levels(df, "a") == ["x, y", "z"]
    p = write(tmp_path / "g.csv", "a,b\n'x, y',1\n'z',2\n")
    df, _, _ = read(p, quotechar="'")
    assert df["a"].tolist() == ["x, y", "z"]


def test_na_rules_in_file(tmp_path):
    p = write(tmp_path / "f.csv", "n,e\n1,NA\nNA,a\n,\n4,null\n5,a\n")
    df, types, _ = read(p)
    assert types == {"n": "int", "e": "enum"}
    assert df["n"].isna().tolist() == [False, True, True, False, False]
    assert levels(df, "e") == ["NA", "a", "null"] and df["e"].isna().tolist() == [False, False, True, False, False]
    df, _, _ = read(p, na_strings={"e": ["NA", "null"]})
    assert levels(df, "e") == ["a"]


def test_enum_domain_collected_over_all_files_and_blocks(tmp_path):
    d = tmp_path / "parts"
    rows = ["k,v"]
    write(d / "p1.csv", "k,v\n" + "\n".join(f"b,{i}" for i in range(50)) + "\n")
    write(d / "p2.csv", "k,v\n" + "\n".join(f"{'a' if i % 2 else 'c'},{i}.5" for i in range(50)) + "\n")
    write(d / "p3.csv", "k,v\nZ,1\n")
    del rows
    df, types, ddf = read(str(d), blocksize=64)
    assert ddf.npartitions > 3
    assert levels(df, "k") == ["Z", "a", "b", "c"]
    assert ddf.dtypes["k"].categories.tolist() == ["Z", "a", "b", "c"]
    assert types == {"k": "enum", "v": "real"}
    assert len(df) == 101 and df["k"].iloc[0] == "b" and df["k"].iloc[-1] == "Z"


def test_blocks_give_same_frame_as_one_block(tmp_path):
    lines = ["id,s,x"] + [f"{i},{'pqr'[i % 3]},{i / 7:.6f}" for i in range(300)]
    p = write(tmp_path / "f.csv", "\n".join(lines) + "\n")
    one, t1, _ = read(p, blocksize=None)
    many, t2, ddf = read(p, blocksize=500)
    assert ddf.npartitions > 5 and t1 == t2
    pd.testing.assert_frame_equal(one, many)


def test_glob_directory_success_marker_and_pattern(tmp_path):
    d = tmp_path / "out"
    write(d / "part-0.csv", "a,b\n1,x\n")
    write(d / "part-1.csv", "a,b\n2,y\n")
    write(d / "t1_other.txt", "a,b\n3,z\n")
    write(d / "_SUCCESS", "")
    write(d / ".part-0.csv.crc", "garbage,with,more,fields\n")
    df, _, _ = read(str(d))
    assert df["a"].tolist() == [1.0, 2.0, 3.0]
    df, _, _ = read(str(d / "part-*.csv"))
    assert df["a"].tolist() == [1.0, 2.0]
    df, _, _ = read(str(d), pattern=r"t1.*txt$")
    assert df["a"].tolist() == [3.0]
    df, _, _ = read([str(d / "part-1.csv"), str(d / "part-0.csv")])
    assert df["a"].tolist() == [2.0, 1.0]
    df, _, _ = read("file://" + str(d / "part-0.csv"))
    assert df["a"].tolist() == [1.0]


def _compress(kind, data):
    if kind == "gz":
        return gzip.compress(data)
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "zst":
        import zstandard
        return zstandard.ZstdCompressor().compress(data)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst", "zip", "gz-noext"])
def test_compressed_csv(tmp_path, kind):
    data = ("a,b\n" + "\n".join(f"{i},{'xy'[i % 2]}" for i in range(200)) + "\n").encode()
    if kind == "zip":
        p = tmp_path / "f.csv.zip"
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("f.csv", data)
    elif kind == "gz-noext":
        p = tmp_path / "f.dat"
        p.write_bytes(gzip.compress(data))
    else:
        p = tmp_path / f"f.csv.{kind}"
        p.write_bytes(_compress(kind, data))
    df, types, ddf = read(str(p), blocksize=200)
    assert types == {"a": "int", "b": "enum"} and len(df) == 200
    assert df["a"].tolist() == list(map(float, range(200)))
    assert ddf.npartitions > 1  # one compressed file is split after reading


def test_parquet_file_and_directory(tmp_path):
    n = 40
    pdf = pd.DataFrame({
        "i": np.arange(n, dtype=np.int64),
        "f": np.linspace(0, 1, n),
        "s": [["lo", "hi", "mid"][k % 3] for k in range(n)],
        "u": [f"id{k}" for k in range(n)],
        "c": pd.Categorical([["b", "a"][k % 2] for k in range(n)]),
        "t": pd.to_datetime("2020-01-01") + pd.to_timedelta(np.arange(n), "D"),
    })
    d = tmp_path / "pq"
    d.mkdir()
    pdf.iloc[:20].to_parquet(d / "part-0.parquet")
    pdf.iloc[20:].to_parquet(d / "part-1.parquet")
    (d / "_SUCCESS").write_text("")
    ddf, types = read_csv_to_dask(str(d))
    df = ddf.compute().reset_index(drop=True)
    assert types == {"i": "int", "f": "real", "s": "enum", "u": "string", "c": "enum", "t": "time"}
    assert levels(df, "s") == ["hi", "lo", "mid"] and levels(df, "c") == ["a", "b"]
    assert df["i"].tolist() == list(map(float, range(n)))
    assert df["t"].iloc[0] == 1577836800000.0 and df["u"].dtype == object
    ddf, types = read_csv_to_dask(str(d / "part-1.parquet"), col_types={"i": "enum"})
    assert types["i"] == "enum" and list(ddf.compute()["i"].cat.categories)[:3] == ["20", "21", "22"]


# ---------------------------------------------------------------- errors

def test_malformed_line_names_file_and_line(tmp_path):
    lines = ["a,b"] + [f"{i},{i}" for i in range(100)]
    lines[77] = "1,2,3"
    p = write(tmp_path / "bad.csv", "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*line 78 has 3 fields, expected 2"):
        read_csv_to_dask(p, blocksize=100)
    p = write(tmp_path / "short.csv", "a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match=r"short\.csv.*line 3 has 1 fields"):
        read_csv_to_dask(p)


def test_missing_paths_raise_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_csv_to_dask(str(tmp_path / "nope.csv"))
    with pytest.raises(FileNotFoundError, match="no file matches"):
        read_csv_to_dask(str(tmp_path / "*.csv"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_text("")
    with pytest.raises(FileNotFoundError, match="holds no data file"):
        read_csv_to_dask(str(tmp_path / "empty"))
    write(tmp_path / "x.csv", "a\n1\n")
    with pytest.raises(FileNotFoundError, match="matches pattern"):
        read_csv_to_dask(str(tmp_path), pattern="zzz")


def test_bad_options_raise(tmp_path):
    p = write(tmp_path / "f.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        read_csv_to_dask(p, header=2)
    with pytest.raises(ValueError, match="skipped_columns"):
        read_csv_to_dask(p, skipped_columns=[5])
    with pytest.raises(ValueError, match="col_names has 3 names for 2 columns"):
        read_csv_to_dask(p, col_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="'~' paths"):
        read_csv_to_dask("~/x.csv")


def test_hdfs_without_native_client_suggests_webhdfs():
    with pytest.raises(ValueError, match="webhdfs://"):
        read_csv_to_dask("hdfs://127.0.0.1:1/data/x.csv")


# ---------------------------------------------------------------- export

def _frame():
    df, types = typed_from_text(text({
        "i": ["1", "2", None, "4"], "r": ["0.5", None, "2.25", "1e-3"],
        "e": ["b", "a, c", None, "b"], "s": ["p", "q", "r", None]}))
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_pandas(df, npartitions=2), types


def test_export_csv_round_trip(tmp_path):
    ddf, types = _frame()
    out = str(tmp_path / "out.csv")
    export_csv(ddf, types, out)
    assert open(out).read().splitlines() == ["i,r,e,s", "1,0.5,b,p", '2,,"a, c",q', ",2.25,,r", "4,0.001,b,"]
    back, t2 = read_csv_to_dask(out)
    pd.testing.assert_frame_equal(back.compute().reset_index(drop=True), ddf.compute().reset_index(drop=True))
    assert t2 == types
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


def test_export_csv_refuses_overwrite_unless_forced(tmp_path):
    ddf, types = _frame()
    out = tmp_path / "out.csv"
    out.write_text("keep me")
    with pytest.raises(FileExistsError, match="force=True"):
        export_csv(ddf, types, str(out))
    assert out.read_text() == "keep me"
    export_csv(ddf, types, str(out), force=True, sep=";", header=False)
    assert out.read_text().splitlines()[0] == "1;0.5;b;p"


def test_export_csv_failure_leaves_nothing(tmp_path):
    ddf, types = _frame()

    def boom(pdf, partition_info=None):
        if partition_info is not None and partition_info["number"] == 1:
            raise RuntimeError("partition failed")
        return pdf
    broken = ddf.map_partitions(boom, meta=ddf._meta)
    out = tmp_path / "out.csv"
    with pytest.raises(RuntimeError, match="partition failed"):
        export_csv(broken, types, str(out))
    assert os.listdir(tmp_path) == []
    out.write_text("old")
    with pytest.raises(RuntimeError):
        export_csv(broken, types, str(out), force=True)
    assert os.listdir(tmp_path) == ["out.csv"] and out.read_text() == "old"


def test_export_to_missing_directory_raises(tmp_path):
    ddf, types = _frame()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_csv(ddf, types, str(tmp_path / "nodir" / "x.csv"))


def test_export_parquet_round_trip(tmp_path):
    ddf, types = _frame()
    out = str(tmp_path / "out.parquet")
    export_parquet(ddf, types, out)
    back, t2 = read_csv_to_dask(out)
    assert t2["e"] == "enum" and t2["r"] == "real"
    got = back.compute().reset_index(drop=True)
    np.testing.assert_array_equal(got["r"].to_numpy(), ddf.compute()["r"].to_numpy())
    assert got["e"].astype(object).tolist()[:2] == ["b", "a, c"]
    assert sorted(os.listdir(tmp_path)) == ["out.parquet"]


def test_typed_from_text_accepts_python_scalars_and_nan():
    pdf = pd.DataFrame({"a": pd.Series([1, None, 3], dtype=object), "b": [1.5, float("nan"), 2.0],
                        "c": pd.Series([True, False, True], dtype=object)})
    df, types = typed_from_text(pdf)
    assert types == {"a": "int", "b": "real", "c": "enum"}
    assert df["a"].isna().tolist() == [False, True, False] and levels(df, "c") == ["False", "True"]


def test_parquet_text_columns_are_enum_or_string_and_times_keep_ms(tmp_path):
    ts = pd.to_datetime(["2020-01-01 00:00:00.0015", "2020-01-02 00:00:00", None], format="ISO8601").tz_localize("UTC")
    pdf = pd.DataFrame({"n": ["1", "2", "1"], "t": ts, "d": [pd.Timestamp("2020-01-01").date()] * 3,
                        "b": [True, False, None]})
    p = tmp_path / "f.parquet"
    pdf.to_parquet(p)
    ddf, types = read_csv_to_dask(str(p))
    df = ddf.compute()
    assert types == {"n": "enum", "t": "time", "d": "time", "b": "int"}
    assert df["t"].tolist()[:2] == [1577836800001.0, 1577923200000.0] and np.isnan(df["t"].iloc[2])
    assert df["d"].tolist() == [1577836800000.0] * 3 and df["b"].tolist()[:2] == [1.0, 0.0]


def test_per_column_options_given_for_all_columns_with_skips(tmp_path):
    p = write(tmp_path / "f.csv", "a,b,c\n1,-9,x\n2,3,y\n-9,4,x\n")
    df, types, _ = read(p, skipped_columns=[2], col_types=["enum", "numeric", "string"],
                        na_strings=[["-9"], [], ["x"]])
    assert types == {"a": "enum", "b": "int"} and levels(df, "a") == ["1", "2"]
    assert df["a"].isna().tolist() == [False, False, True] and df["b"].tolist() == [-9.0, 3.0, 4.0]
    df, _, _ = read(p, na_strings=[["-9"], ["-9"], []])
    assert df["a"].isna().tolist() == [False, False, True] and df["b"].isna().tolist() == [True, False, False]


def test_header_repeated_only_where_present_and_escapechar(tmp_path):
    d = tmp_path / "d"
    write(d / "1.csv", "a,b\n1,x\n")
    write(d / "2.csv", "2,y\n")
    df, _, _ = read(str(d))
    assert df["a"].tolist() == [1.0, 2.0]
    p = write(tmp_path / "e.csv", 'a,b\n"say \\"hi\\"",1\nplain,2\n')
    df, _, _ = read(p, escapechar="\\")
    assert df["a"].tolist() == ['say "hi"', "plain"]


def test_guessing_matches_h2o_3_46_on_small_columns():
    """Types H2O 3.46 gave for these one-column files (checked with the real server)."""
    cases = [(["a", "b", "1", "2"], "int"), (["a", "b", "c", "1"], "string"), (["a", "b", "a", "1"], "enum"),
             (["True", "False"], "string"), (["01-Jan-20", "02-Feb-20"], "time")]
    for values, want in cases:
        df, types = typed_from_text(text({"c": values}))
        assert types["c"] == want, values
    df, _ = typed_from_text(text({"c": ["a", "b", "a", "1"]}))
    assert levels(df, "c") == ["1", "a", "b"]
    df, _ = typed_from_text(text({"c": ["01-Jan-20", "02-Feb-20"]}))
    assert df["c"].tolist() == [1577836800000.0, 1580601600000.0]


# ---------------------------------------------------------------- typed parse and loading

def test_typed_parse_falls_back_to_h2o_token_rules_after_the_preview(tmp_path):
    """Tokens past the preview that the float reader rejects ('abc', ' 1e') or takes for
    NaN/Inf ('nan', 'inf', 'Infinity') are NA, as H2O reads them; '-0', ' 7 ', '"8"',
    '+5', '1.' and '.5' are numbers. The reference is the same column parsed in memory."""
    good = [str(i) for i in range(parse.PREVIEW_ROWS + 10)]
    odd = ["abc", "nan", "inf", "-Infinity", "1e", "-0", " 7 ", '"8"', "+5", "1.", ".5", "", "NaN"]
    cells = good + odd
    p = write(tmp_path / "f.csv", "x,k\n" + "\n".join(f"{c},{'ab'[i % 2]}" for i, c in enumerate(cells)) + "\n")
    for blocksize in (None, 300):
        df, types, _ = read(p, blocksize=blocksize)
        ref, ref_types = typed_from_text(text({"x": [c.strip('"') for c in cells]}))
        assert types == {"x": "real", "k": "enum"} and ref_types["x"] == "real"  # ".5"
        np.testing.assert_array_equal(df["x"].to_numpy(), ref["x"].to_numpy())
        assert df["x"].tail(len(odd)).tolist()[5:11] == [0.0, 7.0, 8.0, 5.0, 1.0, 0.5]
        assert df["x"].tail(len(odd)).isna().sum() == 7


def test_numeric_na_string_that_looks_like_a_number(tmp_path):
    p = write(tmp_path / "f.csv", "a,b\n" + "\n".join(f"{i % 3 - 1},{i}" for i in range(30)) + "\n")
    df, types, _ = read(p, na_strings={"a": ["-1"]})
    assert df["a"].isna().tolist() == [i % 3 == 0 for i in range(30)]
    assert df["b"].tolist() == list(map(float, range(30)))


def test_enum_levels_and_na_per_block_match_one_block(tmp_path):
    """Enum rules (NA strings, zeros as NA for string columns) act on each block's
    own levels; the recoded blocks equal one block read whole."""
    rows = [f"{['x', 'y', '0', 'NA', 'z w', ''][i % 6]},{i}" for i in range(120)]
    p = write(tmp_path / "f.csv", "e,v\n" + "\n".join(rows) + "\n")
    one, t1, _ = read(p, blocksize=None, na_strings={"e": ["NA"]})
    many, t2, ddf = read(p, blocksize=60, na_strings={"e": ["NA"]})
    assert ddf.npartitions > 5 and t1 == t2 == {"e": "enum", "v": "int"}
    pd.testing.assert_frame_equal(one, many)
    # "0" among strings is NA too (H2O's zeros rule), as in the in-memory parse
    ref, _ = typed_from_text(text({"e": [r.split(",")[0] for r in rows]}), na_strings={"e": ["NA"]})
    assert levels(one, "e") == levels(ref, "e") == ["x", "y", "z w"] and one["e"].isna().sum() == 60


def test_compressed_malformed_line_in_a_later_piece(tmp_path):
    lines = ["a,b"] + [f"{i},{i}" for i in range(300)]
    lines[250] = "1,2,3"
    p = tmp_path / "bad.csv.gz"
    p.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(ValueError, match=r"bad\.csv\.gz.*line 251 has 3 fields, expected 2"):
        read_csv_to_dask(str(p), blocksize=100)


def test_import_loads_the_data_once(tmp_path):
    """The frame is parsed at import and kept in memory: the file can go away and the
    frame still computes; computing twice does not parse again."""
    p = write(tmp_path / "f.csv", "k,v\n" + "\n".join(f"{'ab'[i % 2]},{i}" for i in range(50)) + "\n")
    ddf, types = read_csv_to_dask(p, blocksize=64)
    os.remove(p)
    df = ddf.compute().reset_index(drop=True)
    assert types == {"k": "enum", "v": "int"} and df["v"].tolist() == list(map(float, range(50)))
    assert levels(df, "k") == ["a", "b"]


def test_import_persists_on_the_cluster(tmp_path, process_cluster):
    """With a distributed client the imported frame's graph starts from persisted
    partitions held by the workers."""
    from distributed import futures_of
    p = write(tmp_path / "f.csv", "k,v\n" + "\n".join(f"{'ab'[i % 2]},{i}" for i in range(50)) + "\n")
    with process_cluster.as_current(), dask.config.set(scheduler="dask.distributed"):
        ddf, types = read_csv_to_dask(p, blocksize=64)
        futures = futures_of(ddf)
        assert len(futures) == ddf.npartitions > 1 and all(f.status == "finished" for f in futures)
        os.remove(p)
        df = ddf.compute().reset_index(drop=True)
    assert df["v"].tolist() == list(map(float, range(50))) and levels(df, "k") == ["a", "b"]


def test_iso_times_by_arrow_cast_equal_the_pandas_parse():
    """A block of ISO times Arrow can cast gives the same epoch ms as the pandas parse
    used when one token (here '2020-1-5') needs it."""
    toks = ["2020-01-01", "2020-01-01 12:30", "2020-01-01T12:30:05.123456789", "1999-12-31T23:59:59.5",
            "", "2021-06-30 00:00:01"]
    plan = parse.ColumnPlan("t", "time")
    fast = parse.convert_tokens(toks, plan).to_numpy()
    slow = parse.convert_tokens(toks + ["2020-1-5"], plan).to_numpy()
    np.testing.assert_array_equal(fast, slow[:-1])
    assert fast[0] == 1577836800000.0 and fast[3] == 946684799500.0 and np.isnan(fast[4])
    assert slow[-1] == 1578182400000.0

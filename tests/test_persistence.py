"""Model files: GBM and Deep Learning models saved and loaded predict and report exactly as before;
files are data only (tampered, foreign, newer or malicious files are refused, nothing runs);
save_model follows H2O's path/force rules, writes atomically, and works on S3 (moto)."""
import io
import json
import os
import pickle
import sys
import zipfile

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o import registry
from daskml_h2o.deeplearning.estimator import H2OAutoEncoderEstimator, H2ODeepLearningEstimator
from daskml_h2o.frame import H2OFrame
from daskml_h2o.gbm.estimator import H2OGradientBoostingEstimator
from daskml_h2o.gbm.tree import NODE_DTYPE
from daskml_h2o.models import persistence as P
from daskml_h2o.models.tables import H2OTwoDimTable
from tests.remote_servers import s3_server, webhdfs_server  # noqa: F401  (fixtures)


def frame_of(df, npartitions=2):
    types = {c: "enum" if isinstance(df[c].dtype, pd.CategoricalDtype) else "real" for c in df.columns}
    return H2OFrame._from_dask(dd.from_pandas(df, npartitions=npartitions, sort=False), types)


def table(n, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "c": pd.Categorical(rng.choice(["u", "v", "w", None], n), categories=["u", "v", "w"])})
    df["y2"] = pd.Categorical(np.where(df.a + rng.normal(size=n) > 0, "yes", "no"))
    df["y3"] = pd.Categorical(rng.choice(["p", "q", "r"], n))
    df["r"] = np.exp(df.a / 2) + 0.3 * rng.random(n) + (df.c == "u") * 0.5
    df["w"] = rng.integers(1, 4, n).astype(float)
    df["off"] = 0.1 * rng.normal(size=n)
    return df


@pytest.fixture(scope="module")
def frames(_shutdown_at_exit):
    import daskml_h2o as h2o
    h2o.init(nthreads=2, processes=False, verbose=False)
    h2o.no_progress()
    return {"train": frame_of(table(160, 0)), "valid": frame_of(table(60, 1)), "test": frame_of(table(50, 2))}


X = ["a", "b", "c"]
GBM_CASES = {
    "bernoulli": (dict(), "y2"),
    "multinomial": (dict(), "y3"),
    "gaussian": (dict(), "r"),
    "quantile": (dict(distribution="quantile", quantile_alpha=0.3), "r"),
    "huber": (dict(distribution="huber"), "r"),
    "poisson": (dict(distribution="poisson"), "r"),
    "onehotexplicit": (dict(categorical_encoding="OneHotExplicit"), "y2"),
    "sortbyresponse": (dict(categorical_encoding="SortByResponse"), "y3"),
    "binary_encoding": (dict(categorical_encoding="Binary"), "r"),
    "balance_classes": (dict(balance_classes=True), "y3"),
    "random_histogram": (dict(histogram_type="Random"), "y2"),
    "weights_offset": (dict(weights_column="w", offset_column="off"), "r"),
}
DL_CASES = {
    "binomial": (dict(variable_importances=True), "y2"),
    "multinomial": (dict(hidden=[4, 3]), "y3"),
    "regression": (dict(), "r"),
    "balance_classes": (dict(balance_classes=True), "y2"),
    "maxout_eigen": (dict(activation="MaxoutWithDropout", categorical_encoding="Eigen"), "y3"),
    "weights_offset": (dict(weights_column="w", offset_column="off"), "r"),
}


def gbm(frames, case, **more):
    params, y = GBM_CASES[case]
    model = H2OGradientBoostingEstimator(ntrees=4, max_depth=3, seed=1, **params, **more)
    return model.train(x=X, y=y, training_frame=frames["train"], validation_frame=frames["valid"])


def dl(frames, case):
    params, y = DL_CASES[case]
    model = H2ODeepLearningEstimator(**{"hidden": [5], "epochs": 2, "seed": 3, "reproducible": True, **params})
    return model.train(x=X, y=y, training_frame=frames["train"], validation_frame=frames["valid"])


@pytest.fixture(scope="module")
def binomial_gbm(frames):
    return gbm(frames, "bernoulli")


def pdf(frame):
    return frame.as_data_frame()


def assert_same_model(a, b, frames, capsys):
    """Predictions exactly equal; every report equal."""
    test = frames["test"]
    pd.testing.assert_frame_equal(pdf(a.predict(test)), pdf(b.predict(test)), check_exact=True)
    assert type(a) is type(b) and a.model_id == b.model_id
    for which in ({}, {"valid": True}):
        assert a.mse(**which) == b.mse(**which)
        if a._spec.kind != "regression":
            assert a.logloss(**which) == b.logloss(**which)
    if a._spec.kind == "binomial":
        assert a.auc() == b.auc() and a.auc(valid=True) == b.auc(valid=True)
        assert str(a.confusion_matrix()) == str(b.confusion_matrix())
    pd.testing.assert_frame_equal(a.scoring_history(), b.scoring_history(), check_exact=True)
    assert a.varimp() == b.varimp()
    assert str(a.summary()) == str(b.summary())
    a.show()
    shown = capsys.readouterr().out
    b.show()
    assert capsys.readouterr().out == shown
    assert a.model_performance(test).mse() == b.model_performance(test).mse()
    assert str(a.model_performance(test)) == str(b.model_performance(test))
    assert a.actual_params == b.actual_params


# ------------------------------------------------------------------ round trips

@pytest.mark.parametrize("case", list(GBM_CASES))
def test_gbm_round_trip_in_memory(frames, case, capsys):
    model = gbm(frames, case)
    loaded = P.loads_model(P.dumps_model(model), register=False)
    assert_same_model(model, loaded, frames, capsys)
    tree = loaded._model.trees[0][0]
    assert tree.nodes.dtype == NODE_DTYPE and type(tree) is type(model._model.trees[0][0])
    np.testing.assert_array_equal(tree.nodes, model._model.trees[0][0].nodes)


@pytest.mark.parametrize("case", list(DL_CASES))
def test_dl_round_trip_through_a_file(frames, case, tmp_path, capsys):
    model = dl(frames, case)
    path = P.save_model(model, str(tmp_path))
    assert path == os.path.join(str(tmp_path), model.model_id)
    loaded = P.load_model(path)
    assert_same_model(model, loaded, frames, capsys)
    for name in ("weights", "biases", "w_eg2", "w_edx2"):
        ours, theirs = getattr(model._model.state, name), getattr(loaded._model.state, name)
        assert theirs.dtype == ours.dtype
        np.testing.assert_array_equal(theirs, ours)


def test_autoencoder_round_trip(frames, tmp_path):
    model = H2OAutoEncoderEstimator(hidden=[3, 2], epochs=2, seed=5, reproducible=True)
    model.train(x=X, training_frame=frames["train"])
    loaded = P.load_model(P.save_model(model, str(tmp_path)), expected=H2ODeepLearningEstimator)
    assert type(loaded) is H2OAutoEncoderEstimator
    test = frames["test"]
    for call in (lambda m: m.predict(test), lambda m: m.anomaly(test), lambda m: m.anomaly(test, per_feature=True),
                 lambda m: m.deepfeatures(test, 1)):
        pd.testing.assert_frame_equal(pdf(call(model)), pdf(call(loaded)), check_exact=True)
    assert model.mse() == loaded.mse()
    assert str(model.summary()) == str(loaded.summary())


def test_same_model_gives_the_same_bytes_and_a_readable_manifest(binomial_gbm):
    import daskml_h2o
    data = P.dumps_model(binomial_gbm)
    assert data == P.dumps_model(binomial_gbm) == P.dumps_model(P.loads_model(data, register=False))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        assert names[0] == "manifest.json" and all(n == "state.json" or n.endswith(".npy") for n in names[1:])
        assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    assert manifest["format"] == "daskml_h2o-model" and manifest["format_version"] == P.FORMAT_VERSION
    assert manifest["library_version"] == daskml_h2o.__version__
    assert (manifest["algo"], manifest["estimator"]) == ("gbm", "H2OGradientBoostingEstimator")
    assert manifest["model_id"] == binomial_gbm.model_id
    assert set(manifest["members"]) == set(names[1:])


def test_frames_in_parameters_are_saved_as_their_ids(frames, tmp_path):
    model = H2OGradientBoostingEstimator(ntrees=2, seed=1, training_frame=frames["train"])
    model.train(x=X, y="y2", validation_frame=frames["valid"])
    loaded = P.loads_model(P.dumps_model(model), register=False)
    assert loaded._parms["training_frame"] == frames["train"].frame_id
    assert loaded._input["training_frame"] == frames["train"].frame_id
    assert loaded._spec.frame is None and loaded._spec.validation_frame is None
    assert (loaded._spec.x, loaded._spec.y, loaded._spec.domain) == (model._spec.x, "y2", ["no", "yes"])
    assert model._parms["training_frame"] is frames["train"]  # the original is untouched


def test_cross_validation_state_kept_frames_dropped(frames, binomial_gbm):
    other = gbm(frames, "gaussian")
    summary = H2OTwoDimTable(table_header="Cross-Validation Metrics Summary", col_header=["", "mean", "sd"],
                             cell_values=[["mse", 0.25, float("nan")]])
    binomial_gbm._cv_model_ids = ["m_cv_1", "m_cv_2"]
    binomial_gbm._cv_metrics_summary = summary
    binomial_gbm._cv_models = [other]
    binomial_gbm._cv_predictions = frames["test"]
    try:
        loaded = P.loads_model(P.dumps_model(binomial_gbm), register=False)
    finally:
        for name in ("_cv_model_ids", "_cv_metrics_summary", "_cv_models", "_cv_predictions"):
            delattr(binomial_gbm, name)
    assert loaded._cv_model_ids == ["m_cv_1", "m_cv_2"]
    assert str(loaded._cv_metrics_summary) == str(summary)
    assert loaded._cv_models is None and loaded._cv_predictions is None
    assert not hasattr(loaded, "_cv_holdout_predictions") or loaded._cv_holdout_predictions is None


# ------------------------------------------------------------------ the generic encoding

def codec_round_trip(value):
    encoder = P._Encoder()
    tree = json.loads(json.dumps(encoder.encode(value, "x"), allow_nan=False))
    arrays = {name: np.load(io.BytesIO(P._npy_bytes(a)), allow_pickle=False) for name, a in encoder.arrays.items()}
    return P._Decoder(arrays, "test").decode(tree)


def test_codec_plain_values_numpy_and_pandas():
    rec = np.zeros(3, dtype=[("f", np.int32), ("g", np.float32), ("h", "U3")])
    rec["f"], rec["h"] = [1, -2, 3], ["a", "bc", ""]
    value = {"nan": float("nan"), "inf": [float("inf"), -float("inf")], ("t", 1): (1, "x", None, True),
             3: 2 ** 70, "scalars": [np.float32(0.1), np.int64(-5), np.bool_(True), np.uint8(255)],
             "rec": rec, "obj": np.array(["p", None, 1.5], dtype=object), "empty": np.zeros((0, 2))}
    out = codec_round_trip(value)
    assert list(out) == list(value) and out[("t", 1)] == (1, "x", None, True) and out[3] == 2 ** 70
    assert np.isnan(out["nan"]) and out["inf"] == [float("inf"), -float("inf")]
    for got, want in zip(out["scalars"], value["scalars"]):
        assert type(got) is type(want) and got == want
    assert out["rec"].dtype == rec.dtype
    np.testing.assert_array_equal(out["rec"], rec)
    assert out["obj"].dtype == object and out["obj"].tolist() == ["p", None, 1.5]
    assert out["empty"].shape == (0, 2)

    df = pd.DataFrame({"i": np.arange(4), "f": [0.5, np.nan, 2.0, 3.0], "s": ["a", "b", None, "d"],
                       "c": pd.Categorical(["x", None, "y", "x"], categories=["y", "x"]),
                       "n": pd.array([1, None, 3, 4], dtype="Int64")}, index=pd.RangeIndex(10, 14, name="row"))
    s = pd.Series([1.5, 2.5], index=pd.Index(["p", "q"], name="k"), name="v")
    out = codec_round_trip({"df": df, "s": s})
    pd.testing.assert_frame_equal(out["df"], df)
    pd.testing.assert_series_equal(out["s"], s)


@pytest.mark.parametrize("bad, what", [(lambda x: x, "function"), (object(), "builtins.object"),
                                       ({1, 2}, "builtins.set")])
def test_unencodable_values_name_their_path(bad, what):
    with pytest.raises(P.ModelFileError, match=r"x\[0\]\['k'\] is .*" + what.split(".")[-1]):
        P._Encoder().encode([{"k": bad}], "x")


def test_unsaveable_attribute_fails_before_anything_is_written(frames, binomial_gbm, tmp_path):
    binomial_gbm._scratch = frames["test"]
    try:
        with pytest.raises(P.ModelFileError, match=r"model\._scratch is a daskml_h2o\.frame\.H2OFrame"):
            P.save_model(binomial_gbm, str(tmp_path))
    finally:
        del binomial_gbm._scratch
    binomial_gbm._actual["hook"] = print
    try:
        with pytest.raises(P.ModelFileError, match=r"model\._actual\['hook'\]"):
            P.save_model(binomial_gbm, str(tmp_path))
    finally:
        del binomial_gbm._actual["hook"]
    assert os.listdir(tmp_path) == []


def test_untrained_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not trained yet"):
        P.save_model(H2OGradientBoostingEstimator(), str(tmp_path), filename="m")
    with pytest.raises(ValueError, match="not trained yet"):
        P.dumps_model(H2ODeepLearningEstimator())
    with pytest.raises(ValueError, match="needs a trained daskml_h2o model"):
        P.dumps_model("model")


# ------------------------------------------------------------------ refused files

def rezip(data, change):
    """The members of a model file, edited by ``change(members: dict)``, zipped again."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    change(members)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


def with_manifest(zipped, **changes):
    manifest = json.loads(zipped["manifest.json"])
    manifest.update(changes)
    zipped["manifest.json"] = json.dumps(manifest).encode()


def with_state(members, state):
    members["state.json"] = state if isinstance(state, bytes) else json.dumps(state).encode()
    with_manifest(members, members={n: P._sha256(b) for n, b in members.items() if n != "manifest.json"})


def flip_array_byte(members):
    name = sorted(n for n in members if n.endswith(".npy"))[0]
    body = bytearray(members[name])
    body[-1] ^= 0xFF
    members[name] = bytes(body)


def test_tampered_files_are_refused(binomial_gbm, tmp_path):
    data = P.dumps_model(binomial_gbm)
    corrupt = {
        "flipped": rezip(data, flip_array_byte),
        "truncated": data[: len(data) // 2],
        "cut_end": data[:-10],
        "missing": rezip(data, lambda m: m.pop(sorted(n for n in m if n.endswith(".npy"))[-1])),
        "extra": rezip(data, lambda m: m.update({"arrays/99.npy": P._npy_bytes(np.zeros(2))})),
    }
    for name, body in corrupt.items():
        with pytest.raises(P.ModelFileError, match="corrupt or truncated"):
            P.loads_model(body, register=False)
        path = tmp_path / name
        path.write_bytes(body)
        with pytest.raises(P.ModelFileError, match=f"{name}.*corrupt or truncated"):
            P.load_model(str(path))
    newer = rezip(data, lambda m: with_manifest(m, format_version=P.FORMAT_VERSION + 1))
    newer_message = rf"saved by a newer daskml_h2o \(format {P.FORMAT_VERSION + 1}.*upgrade"
    with pytest.raises(P.ModelFileError, match=newer_message):
        P.loads_model(newer, register=False)


def test_foreign_files_are_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("data.pkl", pickle.dumps({"a": 1}))
    foreign = {"pickle_zip": buf.getvalue(), "random": np.random.default_rng(0).bytes(4096), "empty": b"",
               "pickle": pickle.dumps([1, 2]), "other_format": rezip(buf.getvalue(), lambda m: m.update(
                   {"manifest.json": b'{"format": "something-else", "format_version": 1}'}))}
    for name, body in foreign.items():
        path = tmp_path / name
        path.write_bytes(body)
        with pytest.raises(P.ModelFileError, match="not a daskml_h2o model file"):
            P.load_model(str(path))
    with pytest.raises(FileNotFoundError, match="no model file"):
        P.load_model(str(tmp_path / "absent"))


@pytest.mark.parametrize("klass", ["os.system", "builtins.eval", "evil_module_xyz.Payload",
                                   "daskml_h2o.frame.H2OFrame"])
def test_state_naming_a_class_outside_the_allowlist_is_refused(binomial_gbm, klass):
    data = P.dumps_model(binomial_gbm)
    state = {"estimator": "H2OGradientBoostingEstimator",
             "state": {"$dict": [["_model", {"$object": klass, "state": {"$dict": [["cmd", "echo pwned"]]}}]]}}
    evil = rezip(data, lambda m: with_state(m, state))
    with pytest.raises(P.ModelFileError, match=f"names class '{klass}', which is not allowed"):
        P.loads_model(evil, register=False)
    assert "evil_module_xyz" not in sys.modules
    namedtuple_state = {"estimator": "H2OGradientBoostingEstimator",
                        "state": {"$dict": [["_model", {"$object": klass, "items": ["rm -rf /"]}]]}}
    with pytest.raises(P.ModelFileError, match="not allowed"):
        P.loads_model(rezip(data, lambda m: with_state(m, namedtuple_state)), register=False)


def test_estimator_outside_the_allowlist_is_refused(binomial_gbm):
    data = rezip(P.dumps_model(binomial_gbm), lambda m: with_manifest(m, estimator="Popen"))
    with pytest.raises(P.ModelFileError, match="estimator 'Popen', which is not allowed"):
        P.loads_model(data, register=False)


def test_unknown_tags_and_pickled_arrays_are_corrupt(binomial_gbm):
    data = P.dumps_model(binomial_gbm)
    state = {"estimator": "H2OGradientBoostingEstimator", "state": {"$pickle": "gASVBQAAAAAAAACMAWGULg=="}}
    with pytest.raises(P.ModelFileError, match="corrupt.*unknown tag '\\$pickle'"):
        P.loads_model(rezip(data, lambda m: with_state(m, state)), register=False)
    deep = b'{"estimator": "H2OGradientBoostingEstimator", "state": ' + b"[" * 50000 + b"]" * 50000 + b"}"
    nested = rezip(data, lambda m: with_state(m, deep))
    with pytest.raises(P.ModelFileError, match="corrupt"):
        P.loads_model(nested, register=False)

    def object_array(members):
        name = sorted(n for n in members if n.endswith(".npy"))[0]
        buf = io.BytesIO()
        np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        members[name] = buf.getvalue()
        with_manifest(members, members={n: P._sha256(b) for n, b in members.items() if n != "manifest.json"})
    with pytest.raises(P.ModelFileError, match="corrupt.*array"):
        P.loads_model(rezip(data, object_array), register=False)


def test_expected_class_mismatch_is_a_clear_error(frames, binomial_gbm, tmp_path):
    path = P.save_model(binomial_gbm, str(tmp_path))
    with pytest.raises(P.ModelFileError, match="file holds a GBM model .*not a Deep Learning model"):
        P.load_model(path, expected=H2ODeepLearningEstimator)
    dl_model = dl(frames, "regression")
    with pytest.raises(P.ModelFileError, match="file holds a Deep Learning model .*not a GBM model"):
        P.loads_model(P.dumps_model(dl_model), expected=H2OGradientBoostingEstimator, register=False)
    assert type(P.load_model(path, expected=H2OGradientBoostingEstimator)) is H2OGradientBoostingEstimator


# ------------------------------------------------------------------ H2O's file rules, registry, atomicity

def test_save_load_follow_h2os_rules_and_registry(frames, binomial_gbm, tmp_path, monkeypatch):
    import daskml_h2o as h2o
    path = h2o.save_model(binomial_gbm, str(tmp_path))
    assert path == os.path.join(str(tmp_path), binomial_gbm.model_id)
    before = open(path, "rb").read()
    with pytest.raises(FileExistsError, match="force=True"):
        h2o.save_model(binomial_gbm, str(tmp_path))
    assert open(path, "rb").read() == before
    other = gbm(frames, "gaussian", model_id=binomial_gbm.model_id + "_other")
    with pytest.raises(FileExistsError):
        h2o.save_model(other, str(tmp_path), filename=binomial_gbm.model_id)
    assert open(path, "rb").read() == before
    assert h2o.save_model(other, str(tmp_path), force=True, filename=binomial_gbm.model_id) == path
    assert P.load_model(path).model_id == other.model_id
    assert h2o.download_model(binomial_gbm, str(tmp_path)) == path  # overwrites, as H2O's does
    assert open(path, "rb").read() == before
    assert binomial_gbm.download_model(str(tmp_path), filename="copy") == os.path.join(str(tmp_path), "copy")
    monkeypatch.chdir(tmp_path)
    assert h2o.save_model(binomial_gbm, filename="here") == os.path.join(str(tmp_path), "here")
    nested = h2o.save_model(binomial_gbm, str(tmp_path / "new" / "dir"))
    assert os.path.isfile(nested)
    assert P.save_model(binomial_gbm, tmp_path, filename="pathlib") == str(tmp_path / "pathlib")
    assert P.load_model(tmp_path / "pathlib", expected=H2OGradientBoostingEstimator).model_id == binomial_gbm.model_id
    with pytest.raises(TypeError, match="expected must be an estimator class"):
        P.load_model(tmp_path / "pathlib", expected="gbm")

    h2o.remove(binomial_gbm)
    assert binomial_gbm.model_id not in h2o.ls()["key"].tolist()
    P.loads_model(before, register=False)
    assert registry.get(binomial_gbm.model_id) is None
    loaded = h2o.load_model(path)
    assert h2o.get_model(binomial_gbm.model_id) is loaded
    assert binomial_gbm.model_id in h2o.ls()["key"].tolist()
    again = h2o.upload_model(path)  # replaces the model with the same id
    assert h2o.get_model(binomial_gbm.model_id) is again
    h2o.remove(again)
    assert registry.get(binomial_gbm.model_id) is None
    with pytest.raises(ValueError, match="no model"):
        h2o.get_model(binomial_gbm.model_id)
    with pytest.raises(ValueError, match="not supported yet"):
        h2o.save_model(binomial_gbm, str(tmp_path), force=True, export_cross_validation_predictions=True)


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(binomial_gbm, tmp_path, monkeypatch):
    def half_then_fail(fs, path, data):
        with fs.open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError("disk full")
    monkeypatch.setattr(P, "_write_file", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        P.save_model(binomial_gbm, str(tmp_path))
    assert os.listdir(tmp_path) == []
    target = tmp_path / binomial_gbm.model_id
    target.write_bytes(b"the old model")
    with pytest.raises(OSError, match="disk full"):
        P.save_model(binomial_gbm, str(tmp_path), force=True)
    assert os.listdir(tmp_path) == [binomial_gbm.model_id]
    assert target.read_bytes() == b"the old model"


def test_s3_round_trip(frames, s3_server, capsys):  # noqa: F811
    import s3fs
    s3_server.client.create_bucket(Bucket="models")
    s3fs.S3FileSystem.clear_instance_cache()
    opts = s3_server.storage_options()
    model = gbm(frames, "multinomial")
    path = P.save_model(model, "s3://models/dir", storage_options=opts)
    assert path == f"s3://models/dir/{model.model_id}"
    body = s3_server.client.get_object(Bucket="models", Key=f"dir/{model.model_id}")["Body"].read()
    assert body == P.dumps_model(model)
    with pytest.raises(FileExistsError):
        P.save_model(model, "s3://models/dir/", storage_options=opts)
    loaded = P.load_model(path, storage_options=opts, expected=H2OGradientBoostingEstimator)
    assert_same_model(model, loaded, frames, capsys)
    keys = [o["Key"] for o in s3_server.client.list_objects_v2(Bucket="models")["Contents"]]
    assert keys == [f"dir/{model.model_id}"]


def test_webhdfs_round_trip_renames_a_temporary_file(frames, binomial_gbm, webhdfs_server):  # noqa: F811
    (webhdfs_server.root / "models").mkdir()
    url = webhdfs_server.url("/models")
    path = P.save_model(binomial_gbm, url, filename="m.bin")
    assert path == url + "/m.bin"
    assert os.listdir(webhdfs_server.root / "models") == ["m.bin"]
    assert (webhdfs_server.root / "models" / "m.bin").read_bytes() == P.dumps_model(binomial_gbm)
    with pytest.raises(FileExistsError):
        P.save_model(binomial_gbm, url, filename="m.bin")
    assert P.save_model(binomial_gbm, url, filename="m.bin", force=True) == path
    assert os.listdir(webhdfs_server.root / "models") == ["m.bin"]
    loaded = P.load_model(path, expected=H2OGradientBoostingEstimator)
    pd.testing.assert_frame_equal(pdf(binomial_gbm.predict(frames["test"])), pdf(loaded.predict(frames["test"])),
                                  check_exact=True)

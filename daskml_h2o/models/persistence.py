"""Safe model persistence: H2O's ``save_model`` / ``load_model`` over a versioned, data-only file.

A model file is a zip container. Its first member, ``manifest.json``, names the format
("daskml_h2o-model"), the format version, the library version, the algorithm, the estimator
class, the model id and the sha256 of every other member. ``state.json`` holds the model's
state as a tagged JSON tree; numeric arrays (GBM trees are record arrays, network weights are
flat arrays) are ``arrays/<n>.npy`` members read back with ``allow_pickle=False``.

Loading never runs code from the file: no unpickling, no imports named by the file. Objects
are rebuilt only for the classes of the allowlist below, with ``cls.__new__`` and their saved
``__dict__``; any other class name is refused. Saving fails, before anything is written, on a
value the format can not hold (a frame, a function, a dask object, an unknown class), naming
where in the model it sits.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import math
import os
import posixpath
import uuid
import zipfile

import numpy as np
import pandas as pd

from daskml_h2o import registry

__all__ = ["dumps_model", "loads_model", "save_model", "load_model", "download_model", "upload_model",
           "ModelFileError", "FORMAT_NAME", "FORMAT_VERSION", "register_class", "allowed_classes"]

FORMAT_NAME = "daskml_h2o-model"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_STATE = "state.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same model gives the same bytes

# Classes a model file may hold, by "module.QualName". Only these are ever rebuilt.
_ALLOWLIST = (
    "daskml_h2o.gbm.estimator.H2OGradientBoostingEstimator",
    "daskml_h2o.deeplearning.estimator.H2ODeepLearningEstimator",
    "daskml_h2o.deeplearning.estimator.H2OAutoEncoderEstimator",
    "daskml_h2o.models.base.TrainingSpec",
    "daskml_h2o.gbm.scorer.GBMScorer",
    "daskml_h2o.gbm.tree.Tree",
    "daskml_h2o.deeplearning.scorer.DLScorer",
    "daskml_h2o.deeplearning.network.NetworkSpec",
    "daskml_h2o.deeplearning.network.NetworkState",
    "daskml_h2o.data.datainfo.DataInfo",
    "daskml_h2o.data.encoding.Encoding",
    "daskml_h2o.data.balance.Balance",
    "daskml_h2o.models.metrics.H2ORegressionModelMetrics",
    "daskml_h2o.models.metrics.H2OBinomialModelMetrics",
    "daskml_h2o.models.metrics.H2OMultinomialModelMetrics",
    "daskml_h2o.models.metrics.H2OAutoEncoderModelMetrics",
    "daskml_h2o.models.scoring.ScoringHistory",
    "daskml_h2o.models.tables.H2OTwoDimTable",
    "daskml_h2o.models.tables.ConfusionMatrix",
)
_extra_classes: dict[str, type] = {}

# Estimator attributes that hold frames or other models (cross-validation, contract of issue 5):
# not saved; a loaded model has them as None.
_NOT_SAVED = ("_cv_models", "_cv_predictions", "_cv_holdout_predictions", "_cv_fold_assignment")

_ALGO_NAMES = {"gbm": "GBM", "deeplearning": "Deep Learning"}


class ModelFileError(ValueError):
    """A model file that can not be loaded, or a model that can not be saved."""


# ------------------------------------------------------------------ allowlist

def _class_name(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def allowed_classes() -> dict[str, type]:
    """The allowlist, name -> class. Resolves only the fixed names above (and registered ones)."""
    out = {}
    for name in _ALLOWLIST:
        module, _, qualname = name.rpartition(".")
        out[name] = getattr(importlib.import_module(module), qualname)
    out.update(_extra_classes)
    return out


def register_class(cls) -> type:
    """Allow instances of ``cls`` (a plain-state class of daskml_h2o) in model files; returns cls
    so it can decorate a class. Only code can extend the allowlist, never a file."""
    if not isinstance(cls, type) or not cls.__module__.startswith("daskml_h2o."):
        raise ValueError(f"register_class: only daskml_h2o classes can be allowed, got {cls!r}")
    _extra_classes[_class_name(cls)] = cls
    return cls


def _estimator_classes() -> dict[str, type]:
    from daskml_h2o.models.base import H2OEstimator
    return {c.__name__: c for c in allowed_classes().values() if issubclass(c, H2OEstimator)}


# ------------------------------------------------------------------ encoding

class _Encoder:
    """Object tree -> JSON-ready tree plus the numpy arrays it refers to (by member name).

    None, bools, strings, ints, finite floats and lists are themselves; every other value is a
    one-tag JSON object: ``$float`` (nan/inf), ``$tuple``, ``$dict`` (key/value pairs, any keys),
    ``$scalar`` (numpy scalar: dtype + raw bytes), ``$array`` (an .npy member), ``$objects``
    (object array as items), ``$dataframe`` / ``$series`` (columns with their dtypes:
    numpy, categorical or pandas extension), ``$object`` (an allowlisted class and its
    attributes, or its fields for a namedtuple)."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self._array_names: dict[int, str] = {}
        self._active: set[int] = set()
        self._allowed = {cls: name for name, cls in allowed_classes().items()}

    def fail(self, path, what):
        raise ModelFileError(f"cannot save the model: {path} is {what}; a model file holds only numbers, "
                             "strings, arrays, tables and daskml_h2o model state (nothing was written)")

    def encode(self, obj, path):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, np.generic):
            return self._scalar(obj, path)
        if type(obj) is int:
            return obj
        if type(obj) is float:
            return obj if math.isfinite(obj) else {"$float": repr(obj)}
        if id(obj) in self._active:
            self.fail(path, "a reference back to itself (a cycle)")
        self._active.add(id(obj))
        try:
            return self._container(obj, path)
        finally:
            self._active.discard(id(obj))

    def _container(self, obj, path):
        t = type(obj)
        if t is list:
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if t is tuple:
            return {"$tuple": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        if t is dict:
            return {"$dict": [[self.encode(k, f"{path} key {k!r}"), self.encode(v, f"{path}[{k!r}]")]
                              for k, v in obj.items()]}
        if t is np.ndarray:
            return self._array(obj, path)
        if t is pd.DataFrame:
            return {"$dataframe": {"columns": self._index(obj.columns, f"{path}.columns"),
                                   "index": self._index(obj.index, f"{path}.index"),
                                   "data": [self._values(obj.iloc[:, j], f"{path}[{c!r}]")
                                            for j, c in enumerate(obj.columns)]}}
        if t is pd.Series:
            return {"$series": {"name": self.encode(obj.name, f"{path}.name"),
                                "index": self._index(obj.index, f"{path}.index"),
                                "values": self._values(obj, path)}}
        if t in self._allowed:
            return self._object(obj, self._allowed[t], path)
        self.fail(path, f"a {t.__module__}.{t.__qualname__}, which a model file can not hold")

    def _scalar(self, obj, path):
        if obj.dtype.hasobject:
            self.fail(path, "a numpy object scalar")
        return {"$scalar": obj.dtype.str, "hex": obj.tobytes().hex()}

    def _array(self, arr, path):
        if arr.dtype.hasobject:
            if arr.dtype.names is not None:
                self.fail(path, "a record array with object fields")
            return {"$objects": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(arr.ravel().tolist())],
                    "shape": list(arr.shape)}
        name = self._array_names.get(id(arr))
        if name is None:
            name = f"arrays/{len(self.arrays)}.npy"
            self.arrays[name] = arr
            self._array_names[id(arr)] = name
        return {"$array": name}

    def _values(self, series, path):
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            return {"$categorical": {"codes": self._array(np.asarray(series.cat.codes), path),
                                     "categories": self._index(dtype.categories, f"{path}.categories"),
                                     "ordered": bool(dtype.ordered)}}
        if isinstance(dtype, np.dtype):
            return self._array(series.to_numpy(), path)
        values = [None if v is pd.NA or v is None else v for v in series.astype(object).tolist()]
        return {"$extension": str(dtype), "values": self.encode(values, path)}

    def _index(self, index, path):
        if type(index) is pd.RangeIndex:
            return {"$range": [index.start, index.stop, index.step], "name": self.encode(index.name, path)}
        if isinstance(index, pd.MultiIndex):
            self.fail(path, "a pandas MultiIndex")
        return {"$index": self._values(pd.Series(index), path), "name": self.encode(index.name, path)}

    def _object(self, obj, name, path):
        if isinstance(obj, tuple):  # namedtuple
            return {"$object": name, "items": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        if not hasattr(obj, "__dict__") or getattr(type(obj), "__slots__", None):
            self.fail(path, f"a {name} with slots")
        return {"$object": name, "state": self.attributes(vars(obj), path)}

    def attributes(self, attrs, path):
        """An object's attributes, each named ``path.attr`` in errors."""
        return {"$dict": [[name, self.encode(value, f"{path}.{name}")] for name, value in attrs.items()]}


# ------------------------------------------------------------------ decoding

class _Decoder:
    """JSON tree -> objects. Every JSON object must be one known tag; classes come from the allowlist."""

    def __init__(self, arrays, origin):
        self.arrays = arrays
        self.origin = origin
        self.allowed = allowed_classes()

    def corrupt(self, what):
        raise ModelFileError(f"{self.origin}: corrupt model file ({what})")

    def decode(self, node):
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            self.corrupt(f"unexpected {type(node).__name__} in the state")
        tag = next(iter(node))
        handler = self._HANDLERS.get(tag)
        if handler is None:
            self.corrupt(f"unknown tag {tag!r}")
        return handler(self, node)

    def _float(self, node):
        text = node["$float"]
        if text not in ("nan", "inf", "-inf"):
            self.corrupt(f"bad float {text!r}")
        return float(text)

    def _tuple(self, node):
        return tuple(self.decode(v) for v in node["$tuple"])

    def _dict(self, node):
        out = {}
        for pair in node["$dict"]:
            if not isinstance(pair, list) or len(pair) != 2:
                self.corrupt("bad dict entry")
            key = self.decode(pair[0])
            try:
                out[key] = self.decode(pair[1])
            except TypeError:
                self.corrupt("unhashable dict key")
        return out

    def _dtype(self, text):
        if not isinstance(text, str):
            self.corrupt(f"bad dtype {text!r}")
        try:
            dtype = np.dtype(text)
        except TypeError:
            self.corrupt(f"bad dtype {text!r}")
        if dtype.hasobject:
            self.corrupt("object dtype")
        return dtype

    def _scalar(self, node):
        dtype = self._dtype(node["$scalar"])
        raw = bytes.fromhex(node["hex"])
        if len(raw) != dtype.itemsize:
            self.corrupt("bad scalar")
        return np.frombuffer(raw, dtype=dtype)[0]

    def _array(self, node):
        name = node["$array"]
        if name not in self.arrays:
            self.corrupt(f"missing array {name!r}")
        return self.arrays[name]

    def _objects(self, node):
        items = self.decode(node["$objects"])
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(tuple(node["shape"]))

    def _values(self, node):
        """A column's values as something pandas takes (array, Categorical or extension array)."""
        if "$categorical" in node:
            body = node["$categorical"]
            return pd.Categorical.from_codes(self._array(body["codes"]), categories=self._index(body["categories"]),
                                             ordered=bool(body["ordered"]))
        if "$extension" in node:
            if not isinstance(node["$extension"], str):
                self.corrupt("bad column dtype")
            return pd.array(self.decode(node["values"]), dtype=pd.api.types.pandas_dtype(node["$extension"]))
        return self.decode(node)

    def _index(self, node):
        if "$range" in node:
            start, stop, step = node["$range"]
            return pd.RangeIndex(start, stop, step, name=self.decode(node["name"]))
        return pd.Index(self._values(node["$index"]), name=self.decode(node["name"]))

    def _dataframe(self, node):
        body = node["$dataframe"]
        columns = self._index(body["columns"])
        data = [self._values(v) for v in body["data"]]
        if len(data) != len(columns):
            self.corrupt("data frame columns do not match")
        index = self._index(body["index"])
        df = pd.DataFrame({j: pd.Series(v, index=index) for j, v in enumerate(data)}, index=index)
        df.columns = columns
        return df

    def _series(self, node):
        body = node["$series"]
        return pd.Series(self._values(body["values"]), index=self._index(body["index"]),
                         name=self.decode(body["name"]))

    def _object(self, node):
        name = node["$object"]
        cls = self.allowed.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ModelFileError(f"{self.origin}: the model file names class {name!r}, which is not allowed "
                                 "in a daskml_h2o model file; refusing to load it")
        if "items" in node:
            if not issubclass(cls, tuple):
                self.corrupt(f"{name} saved as a tuple")
            items = self.decode(node["items"])
            if len(items) != len(cls._fields):
                self.corrupt(f"{name} has {len(items)} fields")
            return tuple.__new__(cls, items)
        state = self.decode(node["state"])
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            self.corrupt(f"bad state of {name}")
        obj = cls.__new__(cls)
        obj.__dict__.update(state)  # bypasses __setattr__ (frozen dataclasses, estimator parameters)
        return obj

    _HANDLERS = {"$float": _float, "$tuple": _tuple, "$dict": _dict, "$scalar": _scalar, "$array": _array,
                 "$objects": _objects, "$dataframe": _dataframe, "$series": _series, "$object": _object}


# ------------------------------------------------------------------ model state

def _frame_free(params: dict) -> dict:
    """Parameters with frames and models replaced by their ids (what H2O shows for a loaded model)."""
    from daskml_h2o.frame import H2OFrame
    from daskml_h2o.models.base import H2OEstimator
    out = {}
    for name, value in params.items():
        if isinstance(value, H2OFrame):
            value = value.frame_id
        elif isinstance(value, H2OEstimator):
            value = value.model_id
        out[name] = value
    return out


def _model_state(model) -> dict:
    state = {}
    for name, value in vars(model).items():
        if name in _NOT_SAVED:
            continue
        if name in ("_parms", "_input"):
            value = _frame_free(value)
        elif name == "_spec" and value is not None:
            value = dataclasses.replace(value, frame=None, validation_frame=None)
        state[name] = value
    state["_not_saved"] = [name for name in _NOT_SAVED if name in vars(model)]
    return state


def _check_model(model):
    from daskml_h2o.models.base import H2OEstimator
    if not isinstance(model, H2OEstimator):
        raise ModelFileError(f"save_model needs a trained daskml_h2o model, got {type(model).__name__}")
    if type(model) not in _estimator_classes().values():
        raise ModelFileError(f"{type(model).__name__} is not a model class daskml_h2o can save")
    if getattr(model, "_model", None) is None:
        raise ModelFileError(f"{type(model).__name__} is not trained yet: call train() before saving it")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def dumps_model(model) -> bytes:
    """The model as model-file bytes (what ``save_model`` writes)."""
    import daskml_h2o
    _check_model(model)
    encoder = _Encoder()
    tree = encoder.attributes(_model_state(model), "model")
    members = {_STATE: json.dumps({"estimator": type(model).__name__, "state": tree},
                                  allow_nan=False, separators=(",", ":")).encode()}
    for name, arr in encoder.arrays.items():
        members[name] = _npy_bytes(arr)
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "library_version": daskml_h2o.__version__, "algo": model.algo,
                "estimator": type(model).__name__, "model_id": model.model_id,
                "members": {name: _sha256(data) for name, data in members.items()}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [(_MANIFEST, json.dumps(manifest, indent=1).encode()), *members.items()]:
            zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _not_ours(origin):
    return ModelFileError(f"{origin}: not a daskml_h2o model file (save one with h2o.save_model)")


def _corrupt(origin, what):
    return ModelFileError(f"{origin}: the model file is corrupt or truncated ({what})")


def _starts_as_ours(data: bytes) -> bool:
    """A zip whose first local header is manifest.json: ours, even when its end is cut off."""
    if len(data) < 30 or data[:4] != b"PK\x03\x04":
        return False
    n = int.from_bytes(data[26:28], "little")
    return data[30:30 + n] == _MANIFEST.encode()


def _read_manifest(zf, origin) -> dict:
    names = zf.namelist()
    if not names or names[0] != _MANIFEST:
        raise _not_ours(origin)
    try:
        manifest = json.loads(zf.read(_MANIFEST))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise _corrupt(origin, f"unreadable manifest: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise _not_ours(origin)
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _corrupt(origin, f"bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{origin}: saved by a newer daskml_h2o (format {version}; this daskml_h2o reads "
                             f"format {FORMAT_VERSION} and older); upgrade daskml_h2o to load it")
    members = manifest.get("members")
    if not isinstance(members, dict) or set(names) != {_MANIFEST, *members} or len(names) != len(members) + 1:
        raise _corrupt(origin, "the members do not match the manifest")
    return manifest


def _read_members(zf, manifest, origin) -> dict:
    out = {}
    for name, digest in manifest["members"].items():
        try:
            data = zf.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise _corrupt(origin, f"member {name}: {e}") from e
        if _sha256(data) != digest:
            raise _corrupt(origin, f"checksum mismatch in {name}")
        out[name] = data
    return out


def _check_expected(cls, expected, origin):
    if expected is None:
        return
    if not isinstance(expected, type):
        raise TypeError(f"expected must be an estimator class such as H2OGradientBoostingEstimator, got {expected!r}")
    if issubclass(cls, expected):
        return
    have = _ALGO_NAMES.get(cls.algo, cls.algo)
    want = _ALGO_NAMES.get(getattr(expected, "algo", None), expected.__name__)
    raise ModelFileError(f"{origin}: file holds a {have} model ({cls.__name__}), not a {want} model "
                         f"({expected.__name__})")


def loads_model(data: bytes, expected=None, *, register=True, origin="model data"):
    """Rebuild a model from model-file bytes. ``expected``: an estimator class the model must be
    (a file of another algorithm is refused). ``register``: make ``h2o.get_model(id)`` find it."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"loads_model needs bytes, got {type(data).__name__}")
    data = bytes(data)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        if _starts_as_ours(data):
            raise _corrupt(origin, str(e)) from e
        raise _not_ours(origin) from e
    with zf:
        manifest = _read_manifest(zf, origin)
        cls = _estimator_classes().get(manifest.get("estimator"))
        if cls is None:
            raise ModelFileError(f"{origin}: the model file holds estimator {manifest.get('estimator')!r}, "
                                 "which is not allowed in a daskml_h2o model file; refusing to load it")
        _check_expected(cls, expected, origin)
        members = _read_members(zf, manifest, origin)
    model = _rebuild(members, cls, origin)
    if register and model.model_id:
        registry.register(model, model.model_id)
    return model


def _rebuild(members, cls, origin):
    arrays = {}
    for name, raw in members.items():
        if name == _STATE:
            continue
        if not name.startswith("arrays/") or not name.endswith(".npy"):
            raise _corrupt(origin, f"unexpected member {name}")
        try:
            arrays[name] = np.load(io.BytesIO(raw), allow_pickle=False)
        except ValueError as e:
            raise _corrupt(origin, f"array {name}: {e}") from e
    if _STATE not in members:
        raise _corrupt(origin, "no state")
    try:
        top = json.loads(members[_STATE])
    except (ValueError, RecursionError) as e:
        raise _corrupt(origin, f"state: {e}") from e
    if not isinstance(top, dict) or top.get("estimator") != cls.__name__:
        raise _corrupt(origin, "the state does not match the manifest")
    decoder = _Decoder(arrays, origin)
    try:
        state = decoder.decode(top.get("state"))
    except (KeyError, TypeError, IndexError, ValueError, AttributeError, RecursionError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise _corrupt(origin, f"state: {type(e).__name__}: {e}") from e
    if not isinstance(state, dict) or "_model" not in state:
        raise _corrupt(origin, "no model state")
    model = cls.__new__(cls)
    for name in state.pop("_not_saved", []):
        state[name] = None
    model.__dict__.update(state)
    return model


# ------------------------------------------------------------------ files

def _target(model, path, filename) -> str:
    path = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(path, str):
        raise TypeError(f"path must be a string, got {type(path).__name__}")
    if filename is not None and (not isinstance(filename, str) or not filename):
        raise TypeError(f"filename must be a non-empty string, got {filename!r}")
    name = filename or model.model_id
    if "://" in path:
        return path.rstrip("/") + "/" + name
    return os.path.join(os.getcwd() if path == "" else path, name)


def _write_file(fs, path, data: bytes) -> None:
    """Write ``data`` to ``path`` (a temporary name) in pieces."""
    with fs.open(path, "wb") as f:
        for start in range(0, len(data), 1 << 20):
            f.write(data[start:start + (1 << 20)])


def _is_object_store(fs) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return any(p in ("s3", "s3a", "gs", "gcs", "abfs", "az", "adl", "memory") for p in protocols)


def _put_atomically(fs, path, data, force):
    """Local and file-system targets: a temporary file beside the target, renamed onto it.
    Object stores: one PUT, which a store applies whole or not at all."""
    from fsspec.implementations.local import LocalFileSystem
    parent = posixpath.dirname(path.rstrip("/"))
    if _is_object_store(fs):
        fs.pipe_file(path, data)
        return
    if parent:
        fs.makedirs(parent, exist_ok=True)
    tmp = posixpath.join(parent, f".{posixpath.basename(path)}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        _write_file(fs, tmp, data)
        if isinstance(fs, LocalFileSystem):
            os.replace(tmp, path)
        else:
            if force and fs.exists(path):
                fs.rm(path)
            fs.mv(tmp, path)
    finally:
        try:
            if fs.exists(tmp):
                fs.rm(tmp)
        except OSError:
            pass


def save_model(model, path="", force=False, filename=None, storage_options=None) -> str:
    """H2O's ``save_model``: write the model to ``<path>/<filename or model_id>`` (local path or
    fsspec URL such as ``s3://bucket/dir``) and return that path. An existing file is kept
    unless ``force=True``; the write is atomic, so a failure never leaves a partial file."""
    from daskml_h2o.io import _filesystem
    _check_model(model)
    target = _target(model, path, filename)
    data = dumps_model(model)
    fs, fpath = _filesystem(target, storage_options)
    if fs.exists(fpath):
        if not force:
            raise FileExistsError(f"{target!r} already exists; pass force=True to overwrite it")
        if fs.isdir(fpath):
            raise IsADirectoryError(f"{target!r} is a directory; pick another path or filename")
    _put_atomically(fs, fpath, data, force)
    return target


def load_model(path, storage_options=None, expected=None):
    """H2O's ``load_model``: read a model file (local path or fsspec URL) and register the model
    under its saved id, replacing a model with the same id. ``expected``: an estimator class
    the file must hold."""
    from daskml_h2o.io import _filesystem
    path = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(path, str) or not path:
        raise TypeError(f"load_model needs a path string, got {path!r}")
    fs, fpath = _filesystem(path, storage_options)
    if not fs.exists(fpath) or fs.isdir(fpath):
        raise FileNotFoundError(f"no model file at {path!r}")
    with fs.open(fpath, "rb") as f:
        data = f.read()
    return loads_model(data, expected=expected, origin=repr(path))


def upload_model(path, storage_options=None, expected=None):
    """H2O's ``upload_model``: the client and the cluster share file systems, so ``load_model``."""
    return load_model(path, storage_options=storage_options, expected=expected)


def download_model(model, path="", export_cross_validation_predictions=False, filename=None,
                   storage_options=None) -> str:
    """H2O's ``download_model``: like ``save_model`` but, as H2O, overwrites an existing file."""
    if export_cross_validation_predictions:
        raise ValueError("export_cross_validation_predictions=True is not supported yet: model files hold "
                         "no frames; export the predictions with h2o.export_file")
    return save_model(model, path, force=True, filename=filename, storage_options=storage_options)

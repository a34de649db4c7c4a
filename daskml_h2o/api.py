"""H2O's module-level functions: import/upload/export, and the key registry (``ls``, ``get_frame``,
``get_model``, ``remove``, ``remove_all``)."""
from __future__ import annotations

import os
import re

import pandas as pd

from daskml_h2o import io, registry
from daskml_h2o.frame import H2OFrame

__all__ = ["import_file", "upload_file", "export_file", "ls", "get_frame", "get_model", "remove", "remove_all",
           "hex_name"]

_COMPRESSION_EXT = (".gz", ".bz2", ".zip", ".xz", ".zst")


def hex_name(path) -> str:
    """H2O's frame id for an imported path: the base name with its extension(s) replaced by ``.hex``."""
    first = path[0] if isinstance(path, (list, tuple)) else path
    base = os.path.basename(str(first).rstrip("/")) or "frame"
    base = re.sub(r"[*?\[\]]", "", base) or "frame"
    for ext in _COMPRESSION_EXT:
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
            break
    stem, _ = os.path.splitext(base)
    return f"{stem or base}.hex"


def _reject(name, value, default):
    if value != default and value is not None:
        raise ValueError(f"import_file({name}={value!r}) is not supported yet in daskml_h2o; leave it at {default!r}")


def import_file(path=None, destination_frame=None, parse=True, header=0, sep=None, col_names=None, col_types=None,
                na_strings=None, pattern=None, skipped_columns=None, force_col_types=False,
                custom_non_data_line_markers=None, partition_by=None, quotechar=None, escapechar=None,
                tz_adjust_to_local=False, storage_options=None, blocksize="64MB"):
    """Read a file, files, a glob or a directory (local, ``s3://``, ``webhdfs://``, ``hdfs://``,
    ``http(s)://``) into an H2OFrame with H2O's parse rules. Like H2O, the data is parsed once
    and kept on the cluster (persisted partitions; Dask spills to disk when memory is short).
    ``storage_options`` (not an H2O argument) carries credentials and endpoints for remote
    file systems."""
    if path is None or (isinstance(path, (list, tuple)) and not path):
        raise ValueError("import_file needs a path (a file, a list of files, a glob or a directory)")
    if not parse:
        raise ValueError("import_file(parse=False) is not supported yet: import_file always parses "
                         "(use h2o.import_file(path) and work with the parsed frame)")
    _reject("custom_non_data_line_markers", custom_non_data_line_markers, None)
    _reject("partition_by", partition_by, None)
    _reject("tz_adjust_to_local", tz_adjust_to_local or None, None)
    if isinstance(path, str) and path.startswith("~"):
        raise ValueError(f"import_file: paths starting with '~' are not expanded (as in H2O); "
                         f"pass {os.path.expanduser(path)!r}")
    ddf, types = io.read_csv_to_dask(path, header=header, sep=sep, col_names=col_names, col_types=col_types,
                                     na_strings=na_strings, skipped_columns=skipped_columns, pattern=pattern,
                                     storage_options=storage_options, blocksize=blocksize,
                                     quotechar=quotechar, escapechar=escapechar)
    return H2OFrame._from_dask(ddf, types, frame_id=destination_frame or hex_name(path))


def upload_file(path, destination_frame=None, header=0, sep=None, col_names=None, col_types=None, na_strings=None,
                skipped_columns=None, force_col_types=False, quotechar=None, escapechar=None):
    """Same as ``import_file`` here: the client and the cluster read the same file systems."""
    return import_file(path, destination_frame=destination_frame, header=header, sep=sep, col_names=col_names,
                       col_types=col_types, na_strings=na_strings, skipped_columns=skipped_columns,
                       force_col_types=force_col_types, quotechar=quotechar, escapechar=escapechar)


def export_file(frame, path, force=False, sep=",", compression=None, parts=1, header=True, quote_header=True,
                format="csv", write_checksum=True, storage_options=None):
    """Write a frame to one CSV (or Parquet with ``format="parquet"``) file, atomically."""
    if not isinstance(frame, H2OFrame):
        raise ValueError(f"export_file needs an H2OFrame, got {type(frame).__name__}")
    if parts not in (1, None):
        raise ValueError("export_file(parts != 1) is not supported yet: one file is written")
    if compression not in (None, "none"):
        raise ValueError("export_file(compression=...) is not supported yet: write plain CSV or Parquet")
    if format == "csv":
        io.export_csv(frame._ddf, frame._types, path, force=force, sep=sep, header=header,
                      storage_options=storage_options)
    elif format == "parquet":
        io.export_parquet(frame._ddf, frame._types, path, force=force, storage_options=storage_options)
    else:
        raise ValueError(f"export_file(format={format!r}): use 'csv' or 'parquet'")
    return path


def ls() -> pd.DataFrame:
    """Every key (frames, models, grids) as a one-column pandas frame ``key``."""
    return pd.DataFrame({"key": list(registry.keys())})


def get_frame(frame_id, **kwargs) -> H2OFrame:
    obj = registry.get(frame_id)
    if not isinstance(obj, H2OFrame):
        raise ValueError(f"no frame with id {frame_id!r}; h2o.ls() lists the keys")
    return obj


def get_model(model_id):
    from daskml_h2o.models.base import H2OEstimator
    obj = registry.get(model_id)
    if not isinstance(obj, H2OEstimator):
        raise ValueError(f"no model with id {model_id!r}; h2o.ls() lists the keys")
    return obj


def remove(x, cascade=True):
    """Forget frames/models by object, key, or a list of them."""
    for item in (x if isinstance(x, (list, tuple)) else [x]):
        registry.remove(item)


def remove_all(retained=None):
    keep = set()
    for item in retained or []:
        keep.add(item if isinstance(item, str) else getattr(item, "frame_id", None) or getattr(item, "model_id", None))
    for key in list(registry.keys()):
        if key not in keep:
            registry.remove(key)


__all__ += ["save_model", "load_model", "upload_model", "download_model"]


def save_model(model, path="", force=False, export_cross_validation_predictions=False, filename=None,
               storage_options=None):
    """Write ``model`` to ``<path>/<filename or model_id>`` (local or fsspec URL); returns that path.
    An existing file is an error unless ``force=True``. See ``daskml_h2o.models.persistence``."""
    from daskml_h2o.models import persistence
    if export_cross_validation_predictions:
        raise ValueError("save_model(export_cross_validation_predictions=True) is not supported yet: model "
                         "files hold no frames; export the predictions with h2o.export_file")
    return persistence.save_model(model, path, force=force, filename=filename, storage_options=storage_options)


def load_model(path, storage_options=None):
    """Read a model saved by ``save_model``; it is registered under its saved id."""
    from daskml_h2o.models import persistence
    return persistence.load_model(path, storage_options=storage_options)


def download_model(model, path="", export_cross_validation_predictions=False, filename=None,
                   storage_options=None):
    """``save_model`` that overwrites an existing file, as H2O's ``download_model`` does."""
    from daskml_h2o.models import persistence
    return persistence.download_model(model, path, export_cross_validation_predictions, filename,
                                      storage_options=storage_options)


def upload_model(path, storage_options=None):
    """``load_model``: the client and the cluster read the same file systems."""
    from daskml_h2o.models import persistence
    return persistence.upload_model(path, storage_options=storage_options)

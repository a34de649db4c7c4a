"""daskml_h2o: H2O-3's frame, GBM and Deep Learning with H2O's Python API, natively on Dask.

``import daskml_h2o as h2o`` and H2O scripts run: ``h2o.init()`` starts an embedded Dask
cluster (or connects to one), ``h2o.import_file`` gives a lazy ``H2OFrame``, and the estimators
in ``daskml_h2o.estimators`` train with numba kernels per partition.
"""
__version__ = "0.1.0"

import dask as _dask  # noqa: E402

# Text columns stay Python objects (the frame contract in docs/design.md): dask's automatic
# conversion to its string dtype would change them under later operations.
_dask.config.set({"dataframe.convert-string": False})

from daskml_h2o.cluster import cluster, connect, init, shutdown  # noqa: E402
from daskml_h2o.progress import no_progress, show_progress  # noqa: E402
from daskml_h2o.frame import H2OFrame, deep_copy  # noqa: E402
from daskml_h2o.api import (  # noqa: E402
    export_file, get_frame, get_model, import_file, ls, remove, remove_all, upload_file,
)
from daskml_h2o import datasets  # noqa: E402

__all__ = [
    "__version__", "init", "connect", "shutdown", "cluster", "no_progress", "show_progress",
    "H2OFrame", "deep_copy", "import_file", "upload_file", "export_file", "ls", "get_frame",
    "get_model", "remove", "remove_all", "datasets",
]

# model files: save_model / load_model (daskml_h2o.models.persistence)
from daskml_h2o.api import download_model, load_model, save_model, upload_model  # noqa: E402

__all__ += ["save_model", "load_model", "upload_model", "download_model"]

"""scikit-learn estimators for H2O's GBM and Deep Learning on Dask: ``GBMClassifier``,
``GBMRegressor``, ``DeepLearningClassifier``, ``DeepLearningRegressor`` and ``AutoEncoder``
(see ``docs/sklearn.md``). Needs scikit-learn: ``pip install 'daskml_h2o[sklearn]'``."""
try:
    import sklearn  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("daskml_h2o.sklearn needs scikit-learn: pip install 'daskml_h2o[sklearn]'") from err

from daskml_h2o.sklearn.estimators import (
    AutoEncoder, DeepLearningClassifier, DeepLearningRegressor, GBMClassifier, GBMRegressor,
)

__all__ = ["GBMClassifier", "GBMRegressor", "DeepLearningClassifier", "DeepLearningRegressor", "AutoEncoder"]

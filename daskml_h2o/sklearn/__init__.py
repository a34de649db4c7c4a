"""scikit-learn estimators for H2O's GBM and Deep Learning on Dask: ``GBMClassifier``,
``GBMRegressor``, ``DeepLearningClassifier``, ``DeepLearningRegressor`` and ``AutoEncoder``
(see ``docs/sklearn.md``)."""
from daskml_h2o.sklearn.estimators import (
    AutoEncoder, DeepLearningClassifier, DeepLearningRegressor, GBMClassifier, GBMRegressor,
)

__all__ = ["GBMClassifier", "GBMRegressor", "DeepLearningClassifier", "DeepLearningRegressor", "AutoEncoder"]

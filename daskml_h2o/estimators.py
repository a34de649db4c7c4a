"""H2O's estimator classes under their H2O names (``from daskml_h2o.estimators import ...``)."""
from daskml_h2o.deeplearning.estimator import H2OAutoEncoderEstimator, H2ODeepLearningEstimator
from daskml_h2o.gbm.estimator import H2OGradientBoostingEstimator

__all__ = ["H2OGradientBoostingEstimator", "H2ODeepLearningEstimator", "H2OAutoEncoderEstimator"]

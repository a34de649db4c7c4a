"""Algorithm-agnostic model layer: metrics, scoring history, early stopping, variable importance."""
from daskml_h2o.models.metrics import (
    H2OAutoEncoderModelMetrics,
    H2OBinomialModelMetrics,
    H2OMultinomialModelMetrics,
    H2ORegressionModelMetrics,
    compute_metrics,
)
from daskml_h2o.models.scoring import ScoringHistory, mangle, resolve_stopping_metric, stop_early
from daskml_h2o.models.tables import ConfusionMatrix, H2OTwoDimTable
from daskml_h2o.models.varimp import varimp_list, varimp_table

__all__ = [
    "compute_metrics", "H2OBinomialModelMetrics", "H2OMultinomialModelMetrics", "H2ORegressionModelMetrics",
    "H2OAutoEncoderModelMetrics", "ScoringHistory", "stop_early", "resolve_stopping_metric", "mangle",
    "H2OTwoDimTable", "ConfusionMatrix", "varimp_list", "varimp_table",
]

"""The README's first command: start the embedded Dask cluster, import the shipped prostate data,
summarise it, split it as H2O does, train a GBM and print its test metrics.

Run: ``python -m daskml_h2o.quickstart``
"""
from __future__ import annotations

import daskml_h2o as h2o


def main() -> None:
    h2o.init()
    prostate = h2o.import_file(h2o.datasets.path("prostate"))
    prostate["CAPSULE"] = prostate["CAPSULE"].asfactor()
    prostate.describe()
    train, test = prostate.split_frame(ratios=[0.8], seed=1234)
    print(f"train: {train.nrow} rows, test: {test.nrow} rows")
    _train_models(train, test)
    h2o.cluster().shutdown()


def _train_models(train, test) -> None:
    from daskml_h2o.estimators import H2OGradientBoostingEstimator
    predictors = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    gbm = H2OGradientBoostingEstimator(ntrees=50, max_depth=5, learn_rate=0.1, seed=1234)
    gbm.train(x=predictors, y="CAPSULE", training_frame=train, validation_frame=test)
    print(gbm.model_performance(test_data=test))
    print(gbm.predict(test).head())


if __name__ == "__main__":
    main()

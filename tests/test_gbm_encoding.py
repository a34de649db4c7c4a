"""GBM with categorical_encoding and balance_classes: trains, predicts and scores test frames
(with unseen levels) through the same encoding; varimp names the expanded columns; balanced
models correct their probabilities back to the training prior."""
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from daskml_h2o.data.balance import correct_probabilities
from daskml_h2o.estimators import H2OGradientBoostingEstimator

X = ["AGE", "RACE", "DPROS", "PSA", "VOL", "GLEASON"]
ENCODINGS = ["AUTO", "OneHotExplicit", "Binary", "Eigen", "LabelEncoder", "SortByResponse", "EnumLimited"]


@pytest.fixture(scope="module")
def prostate_parts():
    import daskml_h2o as h2o
    h2o.init(nthreads=2, processes=False, verbose=False)
    h2o.no_progress()
    df = pd.read_csv(h2o.datasets.path("prostate"))
    for col in ("CAPSULE", "RACE", "DPROS"):
        df[col] = df[col].astype(str)
    train, test = df.iloc[:300], df.iloc[300:].copy()
    test.loc[test.index[:5], "RACE"] = "7"  # a level the model never saw
    types = {"CAPSULE": "enum", "RACE": "enum", "DPROS": "enum"}
    return h2o.H2OFrame(train, column_types=types), h2o.H2OFrame(test, column_types=types)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_encoding_trains_and_predicts_with_unseen_levels(prostate_parts, encoding):
    train, test = prostate_parts
    gbm = H2OGradientBoostingEstimator(ntrees=10, max_depth=3, seed=1, categorical_encoding=encoding)
    gbm.train(x=X, y="CAPSULE", training_frame=train, validation_frame=test)
    assert gbm.actual_params["categorical_encoding"] == ("Enum" if encoding == "AUTO" else encoding)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = gbm.predict(test).as_data_frame()
        perf = gbm.model_performance(test)
    assert len(pred) == test.nrow and np.isfinite(pred[["p0", "p1"]].to_numpy()).all()
    assert perf.auc() > 0.7
    assert abs(perf.auc() - gbm.auc(valid=True)) < 1e-9  # validation scoring encodes the same way
    names = [v[0] for v in gbm.varimp()]
    assert set(names) == set(gbm._model.columns)


def test_varimp_lists_expanded_columns(prostate_parts):
    train, _ = prostate_parts
    expected = {"OneHotExplicit": {"DPROS.1", "DPROS.4", "DPROS.missing(NA)", "RACE.0", "RACE.missing(NA)"},
                "Binary": {"DPROS:0", "DPROS:1", "DPROS:2"}, "Eigen": {"DPROS.Eigen", "RACE.Eigen"}}
    for encoding, columns in expected.items():
        gbm = H2OGradientBoostingEstimator(ntrees=3, max_depth=2, seed=1, categorical_encoding=encoding,
                                           ignore_const_cols=False)
        gbm.train(x=X, y="CAPSULE", training_frame=train)
        names = {v[0] for v in gbm.varimp()}
        assert columns <= names and "DPROS" not in names


def test_encoded_model_pickles_and_scores_the_original_frame(prostate_parts):
    train, test = prostate_parts
    gbm = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, seed=3, categorical_encoding="OneHotExplicit")
    gbm.train(x=X, y="CAPSULE", training_frame=train)
    scorer = pickle.loads(pickle.dumps(gbm._model))
    assert scorer.encoding.output_columns == gbm._model.encoding.output_columns
    leaves = gbm.predict_leaf_node_assignment(test, type="Node_ID").as_data_frame()
    assert leaves.shape == (test.nrow, 5)


def test_balance_classes_corrects_probabilities(prostate_parts):
    train, test = prostate_parts
    gbm = H2OGradientBoostingEstimator(ntrees=10, max_depth=3, seed=1234, balance_classes=True)
    gbm.train(x=X, y="CAPSULE", training_frame=train)
    balance = gbm._model.balance
    counts = train["CAPSULE"].as_data_frame()["CAPSULE"].astype(str).value_counts()
    assert np.allclose(balance.prior, counts.reindex(["0", "1"]) / counts.sum())
    assert abs(balance.model_dist[0] - 0.5) < 0.05
    assert gbm.model_performance().nobs() == balance.nrows  # trained and scored on the balanced frame
    pred = gbm.predict(test).as_data_frame()[["p0", "p1"]].to_numpy()
    raw = gbm._model.truncated(gbm._model.ntrees)
    raw.balance = None
    from daskml_h2o.models.predict import adapt_partition
    uncorrected = raw.predict_raw(adapt_partition(test.as_data_frame(), raw))
    assert np.allclose(pred, correct_probabilities(uncorrected, balance.prior, balance.model_dist))
    assert not np.allclose(pred, uncorrected)
    assert gbm.model_performance(test).auc() > 0.7


def test_balance_classes_with_factors_and_encoding(prostate_parts):
    train, test = prostate_parts
    gbm = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, seed=7, balance_classes=True,
                                       class_sampling_factors=[1.0, 2.0], categorical_encoding="Binary")
    gbm.train(x=X, y="CAPSULE", training_frame=train, validation_frame=test)
    counts = train["CAPSULE"].as_data_frame()["CAPSULE"].astype(str).value_counts()
    assert gbm._model.balance.nrows == pytest.approx(counts["0"] + 2 * counts["1"], rel=0.1)
    assert gbm.model_performance(valid=True).auc() > 0.7


def test_encoded_balanced_model_is_partition_independent(h2o_session):
    import dask.dataframe as dd
    df = pd.read_csv(h2o_session.datasets.path("prostate"))
    for col in ("CAPSULE", "RACE", "DPROS"):
        df[col] = df[col].astype(str)
    preds = []
    for nparts in (1, 3):
        fr = h2o_session.H2OFrame(dd.from_pandas(df, npartitions=nparts, sort=False))
        for col in ("CAPSULE", "RACE", "DPROS"):
            fr[col] = fr[col].asfactor()
        gbm = H2OGradientBoostingEstimator(ntrees=5, max_depth=3, seed=11, balance_classes=True,
                                           categorical_encoding="OneHotExplicit")
        gbm.train(x=X, y="CAPSULE", training_frame=fr)
        preds.append(gbm.predict(fr).as_data_frame()["p1"].to_numpy())
    assert np.allclose(preds[0], preds[1])

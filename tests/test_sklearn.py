"""daskml_h2o.sklearn: the wrappers train the same models as H2O's API, map labels and columns
both ways, take numpy/pandas/dask input, pickle without a client, and work in scikit-learn's
Pipeline, GridSearchCV and estimator checks."""
import os
import pickle
import subprocess
import sys
import textwrap

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import estimator_checks_generator

from daskml_h2o.deeplearning.estimator import H2OAutoEncoderEstimator, H2ODeepLearningEstimator
from daskml_h2o.frame import H2OFrame
from daskml_h2o.gbm.estimator import H2OGradientBoostingEstimator
from daskml_h2o.sklearn import (
    AutoEncoder, DeepLearningClassifier, DeepLearningRegressor, GBMClassifier, GBMRegressor,
)

GBM = dict(ntrees=5, max_depth=2, min_rows=1, learn_rate=0.5, seed=1)
DL = dict(hidden=(5,), epochs=10, reproducible=True, seed=1, stopping_rounds=0, score_interval=0)


def blobs(n=120, p=4, classes=("a", "b", "c"), seed=0):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, len(classes), n)
    X = rng.normal(size=(n, p)) + 2.0 * np.eye(len(classes), p)[k]
    return X, np.asarray(classes)[k]


def h2o_frame(pdf):
    """The H2O API's path: a frame wrapped from a dask DataFrame (category columns become enum)."""
    return H2OFrame(dd.from_pandas(pdf, npartitions=1, sort=False))


def h2o_output(model, pdf):
    return model.predict(h2o_frame(pdf)).to_dask().compute().reset_index(drop=True)


# ------------------------------------------------------------------ same models as H2O's API

def test_gbm_classifier_equals_h2o_api(h2o_session):
    X, y = blobs()
    clf = GBMClassifier(**GBM).fit(X, y)
    pdf = pd.DataFrame(X, columns=["C1", "C2", "C3", "C4"])
    ref = H2OGradientBoostingEstimator(**GBM)
    ref.train(x=list(pdf.columns), y="y", training_frame=h2o_frame(pdf.assign(y=pd.Categorical(y))))
    out = h2o_output(ref, pdf)
    np.testing.assert_array_equal(clf.predict_proba(X), out[["a", "b", "c"]].to_numpy())
    np.testing.assert_array_equal(clf.predict(X), out["predict"].astype(str).to_numpy())
    assert clf.score(X, y) == np.mean(out["predict"].astype(str).to_numpy() == y)
    assert clf.model_ is clf.estimator_ and h2o_session.get_model(clf.estimator_.model_id) is clf.estimator_


def test_gbm_regressor_equals_h2o_api(h2o_session):
    X, _ = blobs()
    y = X[:, 0] * 3 - X[:, 1] ** 2
    reg = GBMRegressor(**GBM).fit(X, y)
    pdf = pd.DataFrame(X, columns=["C1", "C2", "C3", "C4"])
    ref = H2OGradientBoostingEstimator(**GBM)
    ref.train(y="y", training_frame=h2o_frame(pdf.assign(y=y)))
    expected = h2o_output(ref, pdf)["predict"].to_numpy()
    np.testing.assert_array_equal(reg.predict(X), expected)
    assert reg.predict(X).dtype == np.float64
    ss_res, ss_tot = np.sum((y - expected) ** 2), np.sum((y - y.mean()) ** 2)
    assert reg.score(X, y) == pytest.approx(1 - ss_res / ss_tot, rel=1e-12)


def test_deeplearning_equals_h2o_api(h2o_session):
    X, y = blobs()
    pdf = pd.DataFrame(X, columns=["C1", "C2", "C3", "C4"])
    params = dict(DL, hidden=[5])
    clf = DeepLearningClassifier(**DL).fit(X, y)
    ref = H2ODeepLearningEstimator(**params)
    ref.train(y="y", training_frame=h2o_frame(pdf.assign(y=pd.Categorical(y))))
    np.testing.assert_allclose(clf.predict_proba(X), h2o_output(ref, pdf)[["a", "b", "c"]].to_numpy(), rtol=1e-12)
    target = X[:, 0] - X[:, 2]
    reg = DeepLearningRegressor(**DL).fit(X, target)
    ref = H2ODeepLearningEstimator(**params)
    ref.train(y="y", training_frame=h2o_frame(pdf.assign(y=target)))
    np.testing.assert_allclose(reg.predict(X), h2o_output(ref, pdf)["predict"].to_numpy(), rtol=1e-12)


def test_autoencoder_transform_predict_deepfeatures(h2o_session):
    X, _ = blobs(n=80)
    ae = AutoEncoder(**DL).fit(X)
    assert ae.estimator_.algo == "deeplearning" and isinstance(ae.estimator_, H2OAutoEncoderEstimator)
    frame = h2o_frame(pd.DataFrame(X, columns=["C1", "C2", "C3", "C4"]))
    errors = ae.transform(X)
    assert errors.shape == (80, 1)
    np.testing.assert_array_equal(errors[:, 0], ae.estimator_.anomaly(frame).to_dask().compute()["Reconstruction.MSE"])
    np.testing.assert_array_equal(ae.fit_transform(X), errors)  # reproducible=True, same seed
    recon = ae.predict(X)
    assert recon.shape == (80, 4)
    np.testing.assert_array_equal(recon, ae.estimator_.predict(frame).to_dask().compute().to_numpy())
    assert ae.deepfeatures(X, 0).shape == (80, 5)


# ------------------------------------------------------------------ labels and columns

@pytest.mark.parametrize("labels", [np.array([10, 3]), np.array([2.0, -1.0]), np.array(["yes", "no"], dtype=object)])
def test_classes_keep_labels_and_dtype(h2o_session, labels):
    X, k = blobs(n=100, classes=(0, 1))
    y = labels[k.astype(int)]
    clf = GBMClassifier(**GBM).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    assert clf.classes_.dtype == y.dtype
    pred = clf.predict(X)
    assert pred.dtype == y.dtype and set(pred) <= set(labels)
    # probability columns follow classes_: the column named after a class is that class's probability
    out = clf.estimator_.predict(h2o_frame(pd.DataFrame(X, columns=clf._columns))).to_dask().compute()
    proba = clf.predict_proba(X)
    for i, c in enumerate(clf.classes_):
        np.testing.assert_array_equal(proba[:, i], out.iloc[:, 1 + clf.estimator_._spec.domain.index(str(c))])
    np.testing.assert_array_equal(pred, clf.classes_[out["predict"].cat.codes.to_numpy()])


def test_pandas_categorical_and_object_columns(h2o_session):
    rng = np.random.default_rng(1)
    n = 150
    color = rng.choice(["red", "green", "blue"], n)
    pdf = pd.DataFrame({"num": rng.normal(size=n), "color": pd.Categorical(color),
                        "code": np.array([f"id{i}" for i in range(n)], dtype=object)})  # all distinct: still enum
    y = np.where(color == "red", 1, 0) + (pdf["num"] > 1)
    clf = GBMClassifier(**GBM).fit(pdf, y)
    assert list(clf.feature_names_in_) == ["num", "color", "code"] and clf.n_features_in_ == 3
    assert clf.estimator_._spec.types == {"num": "real", "color": "enum", "code": "enum", "response": "enum"}
    # levels are matched by name: a subset with another level order predicts as the full frame's rows
    part = pdf.iloc[::3].copy()
    part["color"] = pd.Categorical(part["color"].astype(str), categories=["red", "blue", "green"])
    np.testing.assert_array_equal(clf.predict_proba(part), clf.predict_proba(pdf)[::3])
    # nullable pandas dtypes: Int64 is numeric (NA -> missing), boolean and string are categorical
    nullable = pdf.assign(count=pd.array(rng.integers(0, 4, n), dtype="Int64"),
                          flag=pd.array(rng.random(n) > 0.5, dtype="boolean"), code=pdf["code"].astype("string"))
    nullable.loc[[2, 7], ["count", "flag", "code"]] = pd.NA
    fitted = GBMClassifier(**GBM).fit(nullable, y)
    assert {c: fitted.estimator_._spec.types[c] for c in ("count", "flag", "code")} == \
        {"count": "real", "flag": "enum", "code": "enum"}
    assert fitted.predict_proba(nullable).shape == (n, 3)
    numeric = GBMRegressor(**GBM).fit(pdf[["num"]], y)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        numeric.predict(pdf[["num"]].to_numpy())


# ------------------------------------------------------------------ dask input

def test_dask_dataframe_and_array_input(h2o_session):
    X, y = blobs(n=160, classes=(0, 1))
    y = y.astype(np.int64)
    group = np.where(X[:, 0] > 0.5, "hi", "lo").astype(object)  # an object column: enum, levels found lazily
    pdf = pd.DataFrame(X[:, 1:], columns=["b", "c", "d"]).assign(g=group, y=y)
    cols = ["b", "c", "d", "g"]
    ddf = dd.from_pandas(pdf, npartitions=3, sort=False)
    local = GBMClassifier(**GBM).fit(pdf[cols], pdf["y"])
    clf = GBMClassifier(**GBM).fit(ddf[cols], ddf["y"])
    assert list(clf.feature_names_in_) == cols and clf.estimator_._spec.types["g"] == "enum"
    pred = clf.predict(ddf[cols])
    assert isinstance(pred, da.Array)
    # GBM builds the same model for 1 or N partitions
    np.testing.assert_array_equal(pred.compute(), local.predict(pdf[cols]))
    proba = clf.predict_proba(ddf[cols])
    assert isinstance(proba, da.Array)
    np.testing.assert_array_equal(proba.compute(), local.predict_proba(pdf[cols]))
    assert clf.score(ddf[cols], ddf["y"]) == local.score(pdf[cols], y)

    Xd, yd = da.from_array(X, chunks=(50, 4)), da.from_array(y, chunks=70)  # y is rechunked to X's rows
    reg = GBMRegressor(**GBM).fit(Xd, yd.astype(float))
    np.testing.assert_array_equal(reg.predict(Xd).compute(), GBMRegressor(**GBM).fit(X, y.astype(float)).predict(X))


def test_dask_x_needs_dask_y(h2o_session):
    X, y = blobs(n=40)
    ddf = dd.from_pandas(pd.DataFrame(X, columns=list("abcd")), npartitions=2)
    with pytest.raises(ValueError, match="X is a dask collection, so response must be one too"):
        GBMClassifier(**GBM).fit(ddf, y)


# ------------------------------------------------------------------ sample_weight

def test_sample_weight_is_h2o_weights_column(h2o_session):
    X, y = blobs(n=120, classes=(0, 1))
    w = np.random.default_rng(3).uniform(0.0, 3.0, len(y))
    clf = GBMClassifier(**GBM).fit(X, y, sample_weight=w)
    assert clf.estimator_._spec.weights_column == "weights"
    pdf = pd.DataFrame(X, columns=["C1", "C2", "C3", "C4"])
    ref = H2OGradientBoostingEstimator(**GBM)
    ref.train(x=list(pdf.columns), y="y", weights_column="w",
              training_frame=h2o_frame(pdf.assign(y=pd.Categorical(y), w=w)))
    np.testing.assert_array_equal(clf.predict_proba(X), h2o_output(ref, pdf).iloc[:, 1:].to_numpy())
    unweighted = GBMClassifier(**GBM).fit(X, y)
    assert not np.array_equal(clf.predict_proba(X), unweighted.predict_proba(X))
    ones = GBMClassifier(**GBM).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_allclose(ones.predict_proba(X), unweighted.predict_proba(X), rtol=1e-12)
    with pytest.raises(ValueError, match=r"2 classes with positive sample_weight, got the class\(es\) \[1\] only"):
        GBMClassifier(**GBM).fit(X, y, sample_weight=(y == 1).astype(float))
    with pytest.raises(ValueError, match="sample_weight.shape"):
        GBMClassifier(**GBM).fit(X, y, sample_weight=w[:-1])


# ------------------------------------------------------------------ parameters

def test_params_are_h2o_names_and_defaults():
    params = GBMClassifier().get_params()
    assert params["ntrees"] == 50 and params["max_depth"] == 5 and params["min_rows"] == 10.0
    assert params["distribution"] == "AUTO" and params["seed"] == -1
    for excluded in ("training_frame", "response_column", "weights_column", "model_id", "checkpoint"):
        assert excluded not in params
    dl = DeepLearningRegressor().get_params()
    assert dl["hidden"] == (200, 200) and dl["epochs"] == 10.0 and "autoencoder" not in dl
    assert set(AutoEncoder().get_params()) == set(dl)


def test_set_params_and_clone_round_trip(h2o_session):
    est = DeepLearningClassifier(hidden=[3, 3], epochs=2.0)
    assert est.set_params(seed=5, l1=1e-4) is est
    assert est.get_params()["seed"] == 5 and est.get_params()["hidden"] == [3, 3]
    copy = clone(est)
    assert copy.get_params() == est.get_params() and copy is not est
    assert GBMClassifier(**GBM).set_params(**GBMClassifier(**GBM).get_params()).get_params() == \
        GBMClassifier(**GBM).get_params()
    fitted = GBMClassifier(**GBM).fit(*blobs(n=60))
    assert not hasattr(clone(fitted), "estimator_")
    with pytest.raises(ValueError, match="Invalid parameter 'ntree'"):
        est.set_params(ntree=3)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        GBMClassifier(training_frame=None)


# ------------------------------------------------------------------ pickling

def test_pickle_in_fresh_process_predicts_identically(h2o_session, tmp_path):
    X, y = blobs(n=80)
    models = {"clf": GBMClassifier(**GBM).fit(X, y), "dl": DeepLearningRegressor(**DL).fit(X, X[:, 0]),
              "ae": AutoEncoder(**DL).fit(X)}
    expected = {"clf": models["clf"].predict_proba(X), "dl": models["dl"].predict(X),
                "ae": models["ae"].transform(X)}
    blob = pickle.dumps(models)
    assert pickle.loads(blob)["clf"].classes_.tolist() == ["a", "b", "c"]
    (tmp_path / "models.pkl").write_bytes(blob)
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(f"""
        import pickle, numpy as np
        from daskml_h2o.cluster import is_running
        models = pickle.loads(open({str(tmp_path / "models.pkl")!r}, "rb").read())
        X = np.load({str(tmp_path / "X.npy")!r})
        np.savez({str(tmp_path / "out.npz")!r}, clf=models["clf"].predict_proba(X), labels=models["clf"].predict(X),
                 dl=models["dl"].predict(X), ae=models["ae"].transform(X))
        assert not is_running(), "unpickling and predicting must not need a cluster"
    """)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=170)
    out = np.load(tmp_path / "out.npz", allow_pickle=False)
    for name in ("clf", "dl", "ae"):
        np.testing.assert_array_equal(out[name], expected[name])
    np.testing.assert_array_equal(out["labels"], models["clf"].predict(X))


def test_unfitted_pickles_without_model():
    est = pickle.loads(pickle.dumps(GBMRegressor(ntrees=4)))
    assert est.get_params()["ntrees"] == 4 and not hasattr(est, "estimator_")


# ------------------------------------------------------------------ Pipeline and GridSearchCV

def test_pipeline_scaler_then_gbm(h2o_session):
    X, y = blobs(n=100)
    X = X * [1, 100, 0.01, 5]
    pipe = Pipeline([("scale", StandardScaler()), ("gbm", GBMClassifier(**GBM))]).fit(X, y)
    manual = GBMClassifier(**GBM).fit(StandardScaler().fit_transform(X), y)
    np.testing.assert_array_equal(pipe.predict_proba(X), manual.predict_proba(StandardScaler().fit(X).transform(X)))
    np.testing.assert_array_equal(pipe.classes_, ["a", "b", "c"])


def test_grid_search_cv(h2o_session):
    X, y = blobs(n=120)
    grid = GridSearchCV(GBMClassifier(min_rows=1, seed=1), {"ntrees": [2, 6], "max_depth": [1, 3]}, cv=2, n_jobs=1)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_params_ in grid.cv_results_["params"]
    best = grid.best_estimator_
    assert (best.ntrees, best.max_depth) == (grid.best_params_["ntrees"], grid.best_params_["max_depth"])
    assert best.estimator_._parms["ntrees"] == best.ntrees
    assert grid.score(X, y) == best.score(X, y)
    dl = GridSearchCV(DeepLearningRegressor(epochs=2, reproducible=True, seed=1), {"hidden": [(3,), (4, 2)]},
                      cv=2, n_jobs=1).fit(X, X[:, 0])
    assert list(dl.best_estimator_.estimator_._parms["hidden"]) == list(dl.best_params_["hidden"])


# ------------------------------------------------------------------ errors

def test_errors_name_the_problem(h2o_session):
    X, y = blobs(n=60)
    with pytest.raises(NotFittedError):
        GBMClassifier().predict(X)
    with pytest.raises(NotFittedError):
        AutoEncoder().transform(X)
    clf = GBMClassifier(**GBM).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but GBMClassifier is expecting 4 features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="requires y to be passed"):
        GBMRegressor().fit(X)
    with pytest.raises(ValueError, match="Unknown label type"):
        GBMClassifier().fit(X, X[:, 0])
    with pytest.raises(ValueError, match="only one class"):
        GBMClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Input y contains NaN"):
        GBMRegressor().fit(X, np.r_[np.nan, X[1:, 0]])
    with pytest.raises(ValueError, match="at least 2 rows"):
        GBMRegressor().fit(X[:1], [1.0])
    with pytest.raises(ValueError, match="Parameter distribution must be one of"):
        GBMClassifier(distribution="nope").fit(X, y)
    with pytest.raises(ValueError, match="Expected 2D array"):
        GBMRegressor().fit(X[:, 0], X[:, 1])


# ------------------------------------------------------------------ scikit-learn's estimator checks

_WEIGHT_EQUIVALENCE = {
    "GBM": "histogram_type AUTO bins numeric columns by global quantiles of the rows present, so a weighted row "
           "and repeated rows get different bin edges (histogram_type='UniformAdaptive' passes)",
    "DL": "H2O's Deep Learning uses weights as row sampling probabilities, so a weighted row and repeated rows "
          "see different random SGD steps",
}


def expected_failures(estimator):
    if isinstance(estimator, GBMRegressor):
        return {}  # on this check's regression data the quantile bins happen to agree
    algo = "GBM" if isinstance(estimator, GBMClassifier) else "DL"
    failures = {"check_sample_weight_equivalence_on_dense_data": _WEIGHT_EQUIVALENCE[algo]}
    if isinstance(estimator, DeepLearningClassifier):
        failures["check_classifiers_train"] = (
            "a binary model labels rows with H2O's max-F1 threshold, so predict can differ from "
            "argmax(predict_proba) near 0.5")
    return failures


# Deep Learning fits cost several GBM fits: the DL estimators run the checks whose outcome depends on the
# algorithm (determinism, fit quality, pickling, the transformer contract); the input-validation checks go
# through the same code as GBM's. DASKML_H2O_ALL_SKLEARN_CHECKS=1 runs every check on every estimator.
DL_CHECKS = {
    "check_fit_idempotent", "check_methods_subset_invariance", "check_methods_sample_order_invariance",
    "check_fit_check_is_fitted", "check_estimators_pickle", "check_pipeline_consistency",
    "check_classifiers_train", "check_regressors_train", "check_classifiers_classes", "check_transformer_general",
    "check_transformers_unfitted", "check_estimators_unfitted", "check_n_features_in_after_fitting",
    "check_fit2d_1sample", "check_dict_unchanged", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_supervised_y_2d", "check_fit_score_takes_y",
}


def check_cases():
    everything = os.environ.get("DASKML_H2O_ALL_SKLEARN_CHECKS") == "1"
    cases = []
    for est in (GBMClassifier(**GBM), GBMRegressor(**GBM), DeepLearningClassifier(**DL), DeepLearningRegressor(**DL),
                AutoEncoder(**DL)):
        for case in estimator_checks_generator(est, mark="xfail", expected_failed_checks=expected_failures(est)):
            check = case.values[1] if hasattr(case, "values") else case[1]
            name = getattr(check, "func", check).__name__
            if everything or isinstance(est, (GBMClassifier, GBMRegressor)) or name in DL_CHECKS:
                cases.append(case)
    return cases


def case_id(obj):
    if hasattr(obj, "get_params"):
        return type(obj).__name__
    keywords = getattr(obj, "keywords", {})
    return getattr(obj, "func", obj).__name__ + (f"({','.join(f'{k}={v}' for k, v in keywords.items())})"
                                                 if keywords else "")


@pytest.mark.parametrize("estimator, check", check_cases(), ids=case_id)
def test_sklearn_estimator_checks(h2o_session, estimator, check):
    check(estimator)

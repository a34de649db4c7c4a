"""The Deep Learning booklet's MNIST steps 6.2.1-6.5 (cross-validation, extracting results,
Cartesian and random grids, checkpoint restart, save/load, get_model) on the shipped MNIST
sample, with the booklet's code and fewer rows/epochs so they stay quick."""
import numpy as np
import pytest

from daskml_h2o.estimators import H2ODeepLearningEstimator
from daskml_h2o.grid.grid_search import H2OGridSearch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mnist():
    import daskml_h2o as h2o
    h2o.init(nthreads=2, processes=False, verbose=False)
    h2o.no_progress()
    data = h2o.import_file(h2o.datasets.path("mnist_5k"))
    # a 1,500-row random subset (the sample is ordered by digit), 80/20
    train, test, _ = data.split_frame(ratios=[0.24, 0.06], seed=42)
    y = "C785"
    x = train.names[0:784]
    train[y] = train[y].asfactor()
    test[y] = test[y].asfactor()
    return h2o, train, test, x, y


BOOKLET = dict(distribution="multinomial", activation="RectifierWithDropout", hidden=[32, 32, 32],
               input_dropout_ratio=0.2, sparse=True, l1=1e-5)


@pytest.fixture(scope="module")
def trial(mnist):
    """6.2 the trial run (the checkpoint of 6.5)."""
    h2o, train, test, x, y = mnist
    model = H2ODeepLearningEstimator(**BOOKLET, epochs=2, seed=1, reproducible=True)
    model.train(x=x, y=y, training_frame=train, validation_frame=test)
    return model


def test_6_2_1_cross_validation_and_6_2_2_results(mnist, trial):
    h2o, train, test, x, y = mnist
    model_cv = H2ODeepLearningEstimator(**BOOKLET, epochs=1, nfolds=3, seed=1)
    model_cv.train(x=x, y=y, training_frame=train)
    # 6.2.2: parameters, performance on train / valid, MSE, cross-validated MSE, predictions
    assert trial.params["hidden"]["actual"] == [32, 32, 32]
    assert trial.model_performance(train=True).mse() == pytest.approx(trial.mse())
    assert trial.model_performance(valid=True).mse() == pytest.approx(trial.mse(valid=True))
    xval = model_cv.mse(xval=True)
    assert 0 < xval < 1
    holdout = model_cv._metrics["xval"]
    assert holdout.nobs() == train.nrow          # every training row predicted once, by a model that did not see it
    summary = model_cv.cross_validation_metrics_summary().as_data_frame()
    fold_mse = [m.mse(valid=True) for m in model_cv.cross_validation_models()]
    row = summary[summary.iloc[:, 0] == "mse"].iloc[0]
    assert float(row["mean"]) == pytest.approx(np.mean(fold_mse))
    pred = trial.predict(test)
    assert pred.names == ["predict"] + [f"p{d}" for d in range(10)]
    assert pred.nrow == test.nrow


def test_6_4_1_cartesian_grid(mnist):
    h2o, train, test, x, y = mnist
    hyper_parameters = {"hidden": [[32, 32], [32, 16, 8], [100]], "l1": [1e-4, 1e-3]}
    model_grid = H2OGridSearch(H2ODeepLearningEstimator, hyper_params=hyper_parameters)
    model_grid.train(x=x, y=y, distribution="multinomial", epochs=1, training_frame=train, validation_frame=test,
                     score_interval=2, stopping_rounds=3, stopping_tolerance=0.05,
                     stopping_metric="misclassification", seed=1)
    assert len(model_grid) == 6 and not model_grid.failed_params
    built = sorted((tuple(m.actual_params["hidden"]), m.actual_params["l1"]) for m in model_grid)
    assert built == sorted((tuple(h), l1) for h in hyper_parameters["hidden"] for l1 in hyper_parameters["l1"])
    for model in model_grid:                    # the booklet prints each model's MSE
        assert 0 < model.mse() < 1
    assert h2o.get_model(model_grid.model_ids[0]) is model_grid.models[0]


def test_6_4_2_random_grid(mnist):
    h2o, train, test, x, y = mnist
    hidden_opt = [[17, 32], [8, 19], [32, 16, 8], [100], [10, 10, 10, 10]]
    l1_opt = [s / 1e6 for s in range(1, 1001)]
    search_criteria = {"strategy": "RandomDiscrete", "max_models": 3, "max_runtime_secs": 100, "seed": 123456}
    model_grid = H2OGridSearch(H2ODeepLearningEstimator, hyper_params={"hidden": hidden_opt, "l1": l1_opt},
                               search_criteria=search_criteria)
    model_grid.train(x=x, y=y, distribution="multinomial", epochs=1, training_frame=train, validation_frame=test,
                     score_interval=2, stopping_rounds=3, stopping_tolerance=0.05,
                     stopping_metric="misclassification")
    assert len(model_grid) == 3
    drawn = {(tuple(m.actual_params["hidden"]), m.actual_params["l1"]) for m in model_grid}
    assert len(drawn) == 3
    assert all(list(h) in hidden_opt and l1 in l1_opt for h, l1 in drawn)


def test_6_5_checkpoint_restart_save_and_load(mnist, trial, tmp_path):
    h2o, train, test, x, y = mnist
    model_chkp = H2ODeepLearningEstimator(checkpoint=trial, **BOOKLET, epochs=4, seed=1, reproducible=True)
    model_chkp.train(x=x, y=y, training_frame=train, validation_frame=test)
    history = model_chkp.scoring_history()
    assert history["epochs"].iloc[-1] == pytest.approx(4, rel=0.01)
    first = trial.scoring_history()
    np.testing.assert_allclose(history["training_classification_error"].iloc[:len(first)],
                               first["training_classification_error"])
    # a changed architecture is refused, naming the parameter
    with pytest.raises(ValueError, match="hidden"):
        H2ODeepLearningEstimator(checkpoint=trial.model_id, **dict(BOOKLET, hidden=[16]), epochs=4).train(
            x=x, y=y, training_frame=train, validation_frame=test)
    # save, reload in place of the model, get it back by id: same predictions
    model_path = h2o.save_model(model_chkp, path=str(tmp_path), force=True)
    before = model_chkp.predict(test).as_data_frame()
    h2o.remove(model_chkp)
    model2 = h2o.load_model(model_path)
    assert model2.model_id == model_chkp.model_id
    assert h2o.get_model(model2.model_id) is model2
    after = model2.predict(test).as_data_frame()
    np.testing.assert_array_equal(before.to_numpy(), after.to_numpy())

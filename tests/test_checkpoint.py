"""Checkpoint restarts: GBM continued from a checkpoint equals the model trained in one go, Deep
Learning continues from the checkpoint's network, and every refused restart names its reason."""
import numpy as np
import pytest

from daskml_h2o.models.base import H2OValueError

PROSTATE_X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


@pytest.fixture
def prostate(h2o_session):
    h2o = h2o_session
    fr = h2o.import_file(h2o.datasets.path("prostate"))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    return fr


@pytest.fixture
def iris(h2o_session):
    h2o = h2o_session
    return h2o.import_file(h2o.datasets.path("iris"))


def _gbm(**kw):
    from daskml_h2o.estimators import H2OGradientBoostingEstimator
    kw.setdefault("max_depth", 3)
    kw.setdefault("seed", 42)
    kw.setdefault("score_each_iteration", True)
    return H2OGradientBoostingEstimator(**kw)


def _dl(**kw):
    from daskml_h2o.estimators import H2ODeepLearningEstimator
    kw.setdefault("hidden", [4])
    kw.setdefault("seed", 7)
    kw.setdefault("reproducible", True)
    return H2ODeepLearningEstimator(**kw)


def _assert_same_trees(a, b):
    assert a._model.ntrees == b._model.ntrees
    for row_a, row_b in zip(a._model.trees, b._model.trees):
        for ta, tb in zip(row_a, row_b):
            assert (ta is None) == (tb is None)
            if ta is not None:
                np.testing.assert_array_equal(ta.nodes, tb.nodes)
                np.testing.assert_array_equal(ta.bitsets, tb.bitsets)


def _assert_same_predictions(a, b, frame):
    pa = a.predict(frame).as_data_frame()
    pb = b.predict(frame).as_data_frame()
    assert list(pa.columns) == list(pb.columns)
    for c in pa.columns:
        if pa[c].dtype.kind == "f":
            np.testing.assert_array_equal(pa[c].to_numpy(), pb[c].to_numpy())
        else:
            assert pa[c].astype(str).tolist() == pb[c].astype(str).tolist()


def _continued_equals_one_go(frame, x, y, **kw):
    first = _gbm(ntrees=3, **kw)
    first.train(x=x, y=y, training_frame=frame)
    continued = _gbm(ntrees=6, checkpoint=first, **kw)
    continued.train(x=x, y=y, training_frame=frame)
    one_go = _gbm(ntrees=6, **kw)
    one_go.train(x=x, y=y, training_frame=frame)
    _assert_same_trees(continued, one_go)
    _assert_same_predictions(continued, one_go, frame)
    assert first._model.ntrees == 3  # the checkpoint is left as it was
    return first, continued, one_go


def test_gbm_bernoulli_continues_to_the_one_go_model(prostate):
    first, continued, one_go = _continued_equals_one_go(prostate, PROSTATE_X, "CAPSULE")
    assert continued.logloss() == one_go.logloss()
    sh = continued.scoring_history()
    assert len(sh) == len(one_go.scoring_history()) == 7 and len(first.scoring_history()) == 4
    assert sh["number_of_trees"].tolist() == list(range(7))
    # the checkpoint's rows come first, unchanged
    np.testing.assert_array_equal(sh["training_logloss"][:4], first.scoring_history()["training_logloss"])


def test_gbm_regression_with_row_and_column_sampling(prostate):
    _continued_equals_one_go(prostate, ["AGE", "RACE", "PSA", "GLEASON", "CAPSULE"], "VOL",
                             sample_rate=0.7, col_sample_rate=0.6, col_sample_rate_per_tree=0.8,
                             learn_rate_annealing=0.9)


def test_gbm_multinomial(iris):
    x = ["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"]
    _, continued, one_go = _continued_equals_one_go(iris, x, "Species", sample_rate=0.8)
    assert continued._model.K == 3
    assert continued.logloss() == one_go.logloss()


def test_gbm_checkpoint_by_id_without_seed_uses_the_checkpoints_seed(prostate):
    first = _gbm(ntrees=2, model_id="ckpt_gbm_first", col_sample_rate=0.5, seed=-1)
    first.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    continued = _gbm(ntrees=4, checkpoint="ckpt_gbm_first", col_sample_rate=0.5, seed=-1)
    continued.train(x=PROSTATE_X[::-1], y="CAPSULE", training_frame=prostate)  # column order is free
    assert continued.actual_params["seed"] == first.actual_params["seed"]
    one_go = _gbm(ntrees=4, col_sample_rate=0.5, seed=first.actual_params["seed"])
    one_go.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    _assert_same_trees(continued, one_go)


def test_gbm_validation_frame_may_change(prostate):
    train, valid = prostate.split_frame([0.75], seed=1)
    first = _gbm(ntrees=2)
    first.train(x=PROSTATE_X, y="CAPSULE", training_frame=train)
    continued = _gbm(ntrees=4, checkpoint=first, learn_rate=0.2)
    continued.train(x=PROSTATE_X, y="CAPSULE", training_frame=train, validation_frame=valid)
    sh = continued.scoring_history()
    assert len(sh) == 5
    assert np.isnan(sh["validation_logloss"][0]) and np.isfinite(sh["validation_logloss"].iloc[-1])
    # the validation metrics of the continued model are those of scoring its trees afresh
    assert continued.logloss(valid=True) == pytest.approx(continued.model_performance(valid).logloss(), rel=1e-9)


def test_gbm_early_stopping_goes_on_from_the_checkpoints_scores(prostate):
    kw = dict(stopping_rounds=1, stopping_tolerance=10.0)  # stops at the first comparison
    first = _gbm(ntrees=3, **kw)
    first.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    continued = _gbm(ntrees=8, checkpoint=first, **kw)
    continued.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    one_go = _gbm(ntrees=8, **kw)
    one_go.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    assert first._model.ntrees == continued._model.ntrees == one_go._model.ntrees == 2
    assert len(continued.scoring_history()) == len(one_go.scoring_history()) == 3
    assert continued.logloss() == one_go.logloss() == first.logloss()


def test_gbm_continues_on_other_rows(prostate):
    train, rest = prostate.split_frame([0.6], seed=3)
    first = _gbm(ntrees=2)
    first.train(x=PROSTATE_X, y="CAPSULE", training_frame=train)
    continued = _gbm(ntrees=4, checkpoint=first)
    continued.train(x=PROSTATE_X, y="CAPSULE", training_frame=rest)
    assert continued._model.ntrees == 4
    for old_row, new_row in zip(first._model.trees, continued._model.trees[:2]):
        np.testing.assert_array_equal(old_row[0].nodes, new_row[0].nodes)
    # the training metrics after the last tree are those of the whole model on the new rows
    assert continued.logloss() == pytest.approx(continued.model_performance(rest).logloss(), rel=1e-6)


def test_gbm_refused_restarts(prostate, iris):
    first = _gbm(ntrees=3, model_id="ckpt_gbm_three")
    first.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    with pytest.raises(H2OValueError, match="requested ntrees must be higher than 4"):
        _gbm(ntrees=3, checkpoint=first).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    with pytest.raises(H2OValueError) as err:
        _gbm(ntrees=6, checkpoint=first, max_depth=4, sample_rate=0.5).train(
            x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    assert "'max_depth' cannot be modified if checkpoint is specified: 3 -> 4" in str(err.value)
    assert "'sample_rate'" in str(err.value) and "1.0 -> 0.5" in str(err.value)
    with pytest.raises(H2OValueError, match="Response type must be the same"):
        _gbm(ntrees=6, checkpoint=first).train(x=["AGE", "RACE", "PSA"], y="VOL", training_frame=prostate)
    with pytest.raises(H2OValueError, match="columns of the training data must be the same"):
        _gbm(ntrees=6, checkpoint=first).train(x=PROSTATE_X[:4], y="CAPSULE", training_frame=prostate)
    with pytest.raises(H2OValueError, match="no model with this id"):
        _gbm(ntrees=6, checkpoint="no_such_model").train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    with pytest.raises(H2OValueError, match="not trained"):
        _gbm(ntrees=6, checkpoint=_gbm()).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    dl = _dl(epochs=1)
    dl.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    with pytest.raises(H2OValueError, match="is a deeplearning model"):
        _gbm(ntrees=6, checkpoint=dl).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)


def test_gbm_changed_response_levels_are_refused(iris):
    x = ["Sepal.Length", "Sepal.Width", "Petal.Length"]
    first = _gbm(ntrees=2)
    first.train(x=x, y="Species", training_frame=iris)
    two = iris[iris["Species"] != "Iris-setosa", :]
    two["Species"] = two["Species"].ascharacter().asfactor()  # two levels left: a binomial problem
    with pytest.raises(H2OValueError, match="Response type must be the same"):
        _gbm(ntrees=4, checkpoint=first).train(x=x, y="Species", training_frame=two)


def _history_rows(model):
    return model.scoring_history().drop(columns=["", "timestamp", "duration", "training_speed"])


def test_dl_continues_from_the_checkpoints_network(prostate):
    first = _dl(epochs=1, model_id="ckpt_dl_one")
    first.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    continued = _dl(epochs=2, checkpoint="ckpt_dl_one", l2=1e-5)
    continued.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    old, new = _history_rows(first), _history_rows(continued)
    assert new["epochs"].iloc[-1] == pytest.approx(2.0)
    assert len(new) > len(old)
    # the checkpoint's rows come first, then training went on from its network
    np.testing.assert_array_equal(new.iloc[:len(old)].to_numpy(float), old.to_numpy(float))
    assert new["iterations"].iloc[len(old)] == old["iterations"].iloc[-1] + 1
    assert new["samples"].iloc[len(old)] > old["samples"].iloc[-1]
    assert continued._model.state.samples == 2 * first._model.state.samples
    assert not np.array_equal(continued._model.state.weights, first._model.state.weights)
    assert continued.actual_params["seed"] == 7


def test_dl_continued_equals_one_go_when_reproducible(prostate):
    first = _dl(epochs=1, overwrite_with_best_model=False)
    first.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    continued = _dl(epochs=2, checkpoint=first, overwrite_with_best_model=False)
    continued.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    one_go = _dl(epochs=2, overwrite_with_best_model=False)
    one_go.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    np.testing.assert_array_equal(continued._model.state.weights, one_go._model.state.weights)
    np.testing.assert_array_equal(continued._model.state.w_eg2, one_go._model.state.w_eg2)
    np.testing.assert_array_equal(_history_rows(continued).to_numpy(float), _history_rows(one_go).to_numpy(float))


def test_dl_refused_restarts(prostate):
    first = _dl(epochs=1)
    first.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    with pytest.raises(H2OValueError, match=r"Total number of epochs must be larger .* \(1\.0\)"):
        _dl(epochs=1, checkpoint=first).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    with pytest.raises(H2OValueError) as err:
        _dl(epochs=2, checkpoint=first, hidden=[5], activation="tanh").train(
            x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    assert "'hidden' cannot be modified if checkpoint is specified: [4] -> [5]" in str(err.value)
    assert "'activation'" in str(err.value) and "'rectifier' -> 'tanh'" in str(err.value)
    with pytest.raises(H2OValueError, match="response column must be the same"):
        _dl(epochs=2, checkpoint=first).train(x=["AGE", "PSA", "VOL"], y="DPROS",
                                              training_frame=_as_factor(prostate, "DPROS"))
    with pytest.raises(H2OValueError, match="a validation frame must be given exactly when"):
        _dl(epochs=2, checkpoint=first).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate,
                                              validation_frame=prostate)
    gbm = _gbm(ntrees=1)
    gbm.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    with pytest.raises(H2OValueError, match="is a gbm model"):
        _dl(epochs=2, checkpoint=gbm).train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)


def _as_factor(frame, column):
    frame[column] = frame[column].asfactor()
    return frame


def _state_only_copy(model):
    """A model rebuilt from the state persistence keeps (parameters, resolved values, scorer,
    history, a frame-free spec): a saved and loaded model must be a valid checkpoint."""
    import copy
    import dataclasses
    clone = type(model)()
    clone._parms = copy.deepcopy(model._parms)
    clone._input = copy.deepcopy(model._input)
    clone._actual = copy.deepcopy(model._actual)
    clone._model = copy.deepcopy(model._model)
    clone._history = copy.deepcopy(model._history)
    clone._spec = dataclasses.replace(model._spec, frame=None, validation_frame=None)
    clone._model_id = model._model_id + "_copy"
    return clone


def test_checkpoints_need_only_the_persisted_state(prostate):
    first = _gbm(ntrees=2, sample_rate=0.8)
    first.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    from_copy = _gbm(ntrees=4, sample_rate=0.8, checkpoint=_state_only_copy(first))
    from_copy.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    one_go = _gbm(ntrees=4, sample_rate=0.8)
    one_go.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    _assert_same_trees(from_copy, one_go)
    dl = _dl(epochs=1)
    dl.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    continued = _dl(epochs=2, checkpoint=_state_only_copy(dl))
    continued.train(x=PROSTATE_X, y="CAPSULE", training_frame=prostate)
    assert continued._model.state.samples == 2 * dl._model.state.samples

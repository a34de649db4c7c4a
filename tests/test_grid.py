"""Grid search: H2O's Cartesian order and RandomDiscrete draws, failures, sorting, resume, errors,
and concurrent builds giving the same models as sequential ones."""
from types import SimpleNamespace

import pytest

from daskml_h2o import registry
from daskml_h2o.estimators import H2ODeepLearningEstimator, H2OGradientBoostingEstimator
from daskml_h2o.grid import H2OGridSearch
from daskml_h2o.grid import grid_search as grid_module
from daskml_h2o.grid.hyperspace import cartesian, random_discrete
from daskml_h2o.grid.ranking import stop_search

X = ["AGE", "PSA", "VOL", "GLEASON"]


@pytest.fixture
def prostate(h2o_session):
    fr = h2o_session.import_file(h2o_session.datasets.path("prostate"))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    return fr


def _by_number(grid):
    return sorted(grid.models, key=lambda m: int(m.model_id.rsplit("_", 1)[1]))


def _gbm_grid(hyper, grid_id, **kwargs):
    return H2OGridSearch(H2OGradientBoostingEstimator(ntrees=3, seed=1), hyper, grid_id=grid_id, **kwargs)


# -- the space ---------------------------------------------------------------------------------
def test_cartesian_walks_alphabetical_names_first_fastest():
    combos = list(cartesian({"max_depth": [2, 3], "learn_rate": [0.1, 0.2]}))
    # H2O 3.46: model_1=(0.1,2), model_2=(0.2,2), model_3=(0.1,3), model_4=(0.2,3)
    assert combos == [(0.1, 2), (0.2, 2), (0.1, 3), (0.2, 3)]


def test_random_discrete_reproduces_h2o_draws_and_exhausts_without_repeats():
    hyper = {"max_depth": [1, 2, 3, 4, 5], "learn_rate": [0.01, 0.1, 0.2], "sample_rate": [0.5, 1.0]}
    # real H2O 3.46, seed 42, order (learn_rate, max_depth, sample_rate) of grand_model_1..5
    expected = [(0.2, 4, 1.0), (0.2, 1, 1.0), (0.2, 3, 0.5), (0.01, 3, 0.5), (0.2, 2, 1.0)]
    draws = list(random_discrete(hyper, 42))
    assert draws[:5] == expected
    assert len(draws) == 30 and len(set(draws)) == 30
    assert list(random_discrete(hyper, 42)) == draws
    assert list(random_discrete(hyper, 7)) != draws


# -- Cartesian grid ----------------------------------------------------------------------------
def test_cartesian_grid_builds_every_combination_in_h2o_order(prostate):
    grid = _gbm_grid({"max_depth": [2, 3], "learn_rate": [0.1, 0.2]}, "t_cart")
    assert grid.train(x=X, y="CAPSULE", training_frame=prostate) is grid
    assert len(grid) == 4
    built = _by_number(grid)
    assert [m.model_id for m in built] == [f"t_cart_model_{i}" for i in range(1, 5)]
    assert [(m.learn_rate, m.max_depth) for m in built] == [(0.1, 2), (0.2, 2), (0.1, 3), (0.2, 3)]
    # models and the summary are ordered by increasing training logloss (H2O's default)
    losses = [m.logloss() for m in grid.models]
    assert losses == sorted(losses)
    assert grid.model_ids == [m.model_id for m in grid] == [grid[i].model_id for i in range(4)]
    table = grid.sorted_metric_table()
    assert list(table.columns) == ["", "learn_rate", "max_depth", "model_ids", "logloss"]
    assert list(table["model_ids"]) == grid.model_ids
    assert list(table["logloss"]) == pytest.approx(losses)
    text = str(grid)
    assert text.startswith("Hyper-Parameter Search Summary: ordered by increasing logloss")
    assert grid.logloss() == {m.model_id: m.logloss() for m in grid.models}
    assert grid.get_hyperparams_dict(grid.model_ids[0], display=False) == \
        {"learn_rate": grid.models[0].learn_rate, "max_depth": grid.models[0].max_depth}


def test_get_grid_sorts_like_sorting_the_metrics_yourself(prostate):
    grid = _gbm_grid({"max_depth": [1, 2, 3]}, "t_sort")
    grid.train(x=X, y="CAPSULE", training_frame=prostate)
    aucs = {m.model_id: m.auc() for m in grid.models}
    by_auc = grid.get_grid(sort_by="auc", decreasing=True)
    assert by_auc.model_ids == sorted(aucs, key=lambda k: -aucs[k])
    assert grid.get_grid(sort_by="auc").model_ids == sorted(aucs, key=lambda k: aucs[k])
    assert str(by_auc).startswith("Hyper-Parameter Search Summary: ordered by decreasing auc")
    rmses = {m.model_id: m.rmse() for m in grid.models}
    assert grid.get_grid("rmse").model_ids == sorted(rmses, key=lambda k: rmses[k])
    assert grid.get_grid() is grid
    with pytest.raises(ValueError, match="sort_by 'aucc'"):
        grid.get_grid("aucc")


def test_validation_metrics_rank_the_models_when_a_validation_frame_is_given(prostate):
    train, valid = prostate.split_frame(ratios=[0.7], seed=1)
    grid = _gbm_grid({"max_depth": [1, 3]}, "t_valid")
    grid.train(x=X, y="CAPSULE", training_frame=train, validation_frame=valid)
    valid_loss = grid.logloss(valid=True)
    assert list(grid.sorted_metric_table()["logloss"]) == pytest.approx(sorted(valid_loss.values()))
    assert grid.model_ids == sorted(valid_loss, key=valid_loss.get)


def test_regression_grid_sorts_by_residual_deviance(prostate):
    grid = _gbm_grid({"max_depth": [1, 3]}, "t_reg")
    grid.train(x=["AGE", "VOL", "GLEASON"], y="PSA", training_frame=prostate)
    dev = {m.model_id: m.mean_residual_deviance() for m in grid.models}
    assert grid.model_ids == sorted(dev, key=dev.get)
    assert str(grid).startswith("Hyper-Parameter Search Summary: ordered by increasing residual_deviance")


def test_deep_learning_grid_over_hidden_layer_lists(prostate):
    grid = H2OGridSearch(H2ODeepLearningEstimator, {"hidden": [[3], [4, 2]]}, grid_id="t_dl")
    grid.train(x=X, y="CAPSULE", training_frame=prostate, epochs=0.5, reproducible=True, seed=1)
    assert sorted(m.hidden for m in grid.models) == [[3], [4, 2]]
    assert all(m.epochs == 0.5 for m in grid.models)
    assert "[4, 2]" in str(grid)


# -- RandomDiscrete ----------------------------------------------------------------------------
def test_random_grid_max_models_seeds_and_reproducibility(prostate):
    hyper = {"max_depth": [1, 2, 3, 4, 5], "learn_rate": [0.01, 0.1, 0.2], "sample_rate": [0.5, 1.0]}
    criteria = {"strategy": "RandomDiscrete", "max_models": 4, "seed": 42}
    grids = []
    for gid in ("t_rand_a", "t_rand_b"):
        grid = H2OGridSearch(H2OGradientBoostingEstimator(ntrees=2), hyper, grid_id=gid, search_criteria=criteria)
        grids.append(grid.train(x=X, y="CAPSULE", training_frame=prostate))
    a, b = (_by_number(g) for g in grids)
    assert len(a) == 4
    combos = [(m.learn_rate, m.max_depth, m.sample_rate) for m in a]
    assert combos == [(0.2, 4, 1.0), (0.2, 1, 1.0), (0.2, 3, 0.5), (0.01, 3, 0.5)]  # real H2O's first four
    assert [m.seed for m in a] == [42, 43, 44, 45]  # model seed = search seed + i when unset
    assert combos == [(m.learn_rate, m.max_depth, m.sample_rate) for m in b]
    assert [m.logloss() for m in a] == [m.logloss() for m in b]


def test_random_grid_exhausts_a_small_space_without_duplicates(prostate):
    criteria = {"strategy": "RandomDiscrete", "max_models": 50, "seed": 3}
    grid = H2OGridSearch(H2OGradientBoostingEstimator(ntrees=2, seed=5), {"max_depth": [1, 2, 3]},
                         grid_id="t_rand_all", search_criteria=criteria)
    grid.train(x=X, y="CAPSULE", training_frame=prostate)
    assert sorted(m.max_depth for m in grid.models) == [1, 2, 3]
    assert {m.seed for m in grid.models} == {5}  # a seed set on the model is kept


def test_random_grid_stops_early_over_models_and_on_runtime(prostate):
    hyper = {"max_depth": [1, 2, 3, 4, 5], "learn_rate": [0.05, 0.1, 0.2]}
    # k=1 needs 2k+1 = 3 models; a tolerance of 1 then always stops (real H2O 3.46 stops after 3 too)
    criteria = {"strategy": "RandomDiscrete", "seed": 1, "stopping_rounds": 1, "stopping_tolerance": 1.0,
                "stopping_metric": "logloss"}
    grid = H2OGridSearch(H2OGradientBoostingEstimator(ntrees=2), hyper, grid_id="t_rand_stop",
                         search_criteria=criteria, parallelism=1)
    assert len(grid.train(x=X, y="CAPSULE", training_frame=prostate)) == 3
    timed = H2OGridSearch(H2OGradientBoostingEstimator(ntrees=2), hyper, grid_id="t_rand_time", parallelism=1,
                          search_criteria={"strategy": "RandomDiscrete", "seed": 1, "max_runtime_secs": 1e-3})
    assert len(timed.train(x=X, y="CAPSULE", training_frame=prostate)) == 1


def _stub(loss):
    return SimpleNamespace(_metrics={"train": SimpleNamespace(_metric_json={"logloss": loss})})


def test_grid_early_stopping_rule_sorts_models_worst_to_best():
    criteria = {"stopping_rounds": 2, "stopping_metric": "AUTO", "stopping_tolerance": 0.01}
    flat = [_stub(0.5)] * 5
    assert stop_search(flat, criteria, "binomial")          # no relative improvement among the best
    assert not stop_search(flat[:4], criteria, "binomial")  # needs 2k+1 models
    improving = [_stub(v) for v in (0.9, 0.1, 0.7, 0.5, 0.3)]  # sorted: 0.9 0.7 0.5 0.3 0.1
    assert not stop_search(improving, criteria, "binomial")
    assert not stop_search(flat, dict(criteria, stopping_rounds=0), "binomial")


# -- failures ----------------------------------------------------------------------------------
def test_failing_combination_is_recorded_and_the_grid_carries_on(prostate, capsys):
    grid = _gbm_grid({"max_depth": [2, -5], "distribution": ["bernoulli", "nonsense"]}, "t_fail")
    grid.train(x=X, y="CAPSULE", training_frame=prostate)
    assert [m.model_id for m in grid.models] == ["t_fail_model_1"]
    assert len(grid.failed_params) == 3
    # walk order: distribution (first name alphabetically) turns fastest
    assert grid.failed_raw_params == [["nonsense", "2"], ["bernoulli", "-5"], ["nonsense", "-5"]]
    assert grid.failed_params[1]["max_depth"] == -5 and grid.failed_params[1]["model_id"] == "t_fail_model_3"
    assert grid.failed_params[1]["ntrees"] == 3 and grid.failed_params[1]["min_rows"] == 10.0  # full parameters
    assert "distribution" in grid.failure_details[0] and "max_depth" in grid.failure_details[1]
    assert len(grid.failure_stack_traces) == 3 and grid.warning_details == []
    out = capsys.readouterr().out
    assert "Errors/Warnings building gridsearch model" in out and "Hyper-parameter: max_depth, -5" in out
    text = str(grid)
    assert "Failed Models" in text and "t_fail_model_4" in text


def test_training_again_retries_failed_combinations_with_h2o_numbers(prostate):
    grid = _gbm_grid({"max_depth": [2, -5]}, "t_retry").train(x=X, y="CAPSULE", training_frame=prostate)
    assert grid.model_ids == ["t_retry_model_1"] and grid.failed_raw_params == [["-5"]]
    grid.train(x=X, y="CAPSULE", training_frame=prostate)
    # as H2O 3.46: the failing combination is tried again, as model_3 (1 model + position 2)
    assert grid.model_ids == ["t_retry_model_1"]
    assert grid.failed_raw_params == [["-5"]]
    assert [p["model_id"] for p in grid.failed_params] == ["t_retry_model_3"]


def test_grid_where_every_combination_fails_raises(prostate):
    with pytest.raises(ValueError, match="max_depth"):
        _gbm_grid({"max_depth": [-1, -2]}, "t_allfail").train(x=X, y="CAPSULE", training_frame=prostate)


# -- resume / extend ---------------------------------------------------------------------------
def test_training_again_or_extending_by_grid_id_builds_only_new_combinations(prostate):
    first = _gbm_grid({"max_depth": [2, 3]}, "t_ext").train(x=X, y="CAPSULE", training_frame=prostate)
    old = {m.model_id: m for m in first.models}
    assert sorted(old) == ["t_ext_model_1", "t_ext_model_2"]
    more = _gbm_grid({"max_depth": [2, 3, 4]}, "t_ext").train(x=X, y="CAPSULE", training_frame=prostate)
    # H2O numbers every combination it visits: the new one is model_5, as in H2O 3.46
    assert sorted(more.model_ids) == ["t_ext_model_1", "t_ext_model_2", "t_ext_model_5"]
    assert all(more.models[more.model_ids.index(k)] is m for k, m in old.items())
    more.train(x=X, y="CAPSULE", training_frame=prostate)
    assert len(more) == 3
    # a new hyper-parameter whose first value is the default repeats no model
    wider = _gbm_grid({"max_depth": [2, 3, 4], "learn_rate": [0.1, 0.3]}, "t_ext")
    wider.train(x=X, y="CAPSULE", training_frame=prostate)
    assert len(wider) == 6


# -- registry ----------------------------------------------------------------------------------
def test_grid_is_registered_and_found_by_get_grid(h2o_session, prostate):
    grid = _gbm_grid({"max_depth": [1]}, None).train(x=X, y="CAPSULE", training_frame=prostate)
    assert grid.grid_id.startswith("Grid_GBM_")
    assert h2o_session.get_grid(grid.grid_id) is grid
    keys = set(h2o_session.ls()["key"])
    assert grid.grid_id in keys and grid.model_ids[0] in keys
    with pytest.raises(ValueError, match="no grid with id"):
        h2o_session.get_grid("no_such_grid")


# -- concurrency -------------------------------------------------------------------------------
def test_parallel_builds_give_the_same_models_as_sequential_ones(prostate):
    hyper = {"max_depth": [2, 3], "sample_rate": [0.7, 1.0]}
    seq = _gbm_grid(hyper, "t_seq", parallelism=1).train(x=X, y="CAPSULE", training_frame=prostate)
    par = _gbm_grid(hyper, "t_par", parallelism=3).train(x=X, y="CAPSULE", training_frame=prostate)
    assert [m.model_id.replace("t_seq", "") for m in _by_number(seq)] == \
        [m.model_id.replace("t_par", "") for m in _by_number(par)]
    assert [m.logloss() for m in _by_number(seq)] == [m.logloss() for m in _by_number(par)]
    rand = {"strategy": "RandomDiscrete", "max_models": 3, "seed": 11}
    r1 = _gbm_grid(hyper, "t_rseq", parallelism=1, search_criteria=rand).train(x=X, y="CAPSULE",
                                                                            training_frame=prostate)
    r2 = _gbm_grid(hyper, "t_rpar", parallelism=2, search_criteria=rand).train(x=X, y="CAPSULE",
                                                                            training_frame=prostate)
    assert len(r2) == 3
    assert [m.logloss() for m in _by_number(r1)] == [m.logloss() for m in _by_number(r2)]


# -- bad input ---------------------------------------------------------------------------------
def _no_models_start_with(prefix):
    return not [k for k in registry.keys() if k.startswith(prefix)]


@pytest.mark.parametrize("hyper, kwargs, train_kwargs, message", [
    ({"max_dept": [1, 2]}, {}, {}, r"'max_dept' is not a parameter .*did you mean max_depth"),
    ({"max_depth": []}, {}, {}, "value list is empty for hyperparameter: max_depth"),
    ({"max_depth": 3}, {}, {}, r"must be a list of values, got 3; write \[3\]"),
    ({"max_depth": [1, 2]}, {}, {"max_depth": 3}, "set in both the model parameters and in the hyperparameters"),
    ({"training_frame": [None]}, {}, {}, "cannot be a hyper-parameter"),
    ({"max_depth": [1, 2]}, {"search_criteria": {"strategy": "Foo"}}, {}, "strategy 'Foo' is unknown"),
    ({"max_depth": [1, 2]}, {"search_criteria": {"strategy": "RandomDiscrete", "max_modls": 3}}, {},
     r"'max_modls' is unknown .*did you mean max_models"),
    ({"max_depth": [1, 2]}, {"search_criteria": {"max_models": 3}}, {}, "belongs to the 'RandomDiscrete' strategy"),
    ({"max_depth": [1, 2]}, {"search_criteria": {"strategy": "RandomDiscrete", "max_models": -1}}, {},
     "max_models"),
    ({"max_depth": [1, 2]}, {}, {"ntreez": 3}, r"train\(\) parameter 'ntreez' .*did you mean ntrees"),
])
def test_bad_input_fails_before_any_model_is_built(prostate, hyper, kwargs, train_kwargs, message):
    with pytest.raises(ValueError, match=message):
        grid = H2OGridSearch(H2OGradientBoostingEstimator(ntrees=2), hyper, grid_id="t_bad", **kwargs)
        grid.train(x=X, y="CAPSULE", training_frame=prostate, **train_kwargs)
    assert _no_models_start_with("t_bad")


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="hyper_params must be a dict"):
        H2OGridSearch(H2OGradientBoostingEstimator, [("max_depth", [1])])
    with pytest.raises(ValueError, match="model must be an H2O estimator"):
        H2OGridSearch("gbm", {"max_depth": [1]})
    with pytest.raises(ValueError, match="parallelism"):
        H2OGridSearch(H2OGradientBoostingEstimator, {"max_depth": [1]}, parallelism=-1)
    with pytest.raises(ValueError, match="recovery_dir=...\\) is not supported yet"):
        H2OGridSearch(H2OGradientBoostingEstimator, {"max_depth": [1]}, recovery_dir="/tmp/x")
    with pytest.raises(ValueError, match="Missing training_frame"):
        H2OGridSearch(H2OGradientBoostingEstimator, {"max_depth": [1]}).train(y="CAPSULE")


def test_bad_columns_fail_before_any_model_is_built(prostate):
    grid = H2OGridSearch(H2OGradientBoostingEstimator(ntrees=2), {"max_depth": [1, 2]}, grid_id="t_cols")
    with pytest.raises(ValueError, match="Column 'AGEE' not in the training frame"):
        grid.train(x=["AGEE", "PSA"], y="CAPSULE", training_frame=prostate)
    with pytest.raises(ValueError, match="Column 42 does not exist"):
        grid.train(x=X, y=42, training_frame=prostate)
    with pytest.raises(ValueError, match="y must be a single column"):
        grid.train(x=X, y=["CAPSULE", "RACE"], training_frame=prostate)
    with pytest.raises(ValueError, match="training_frame must be an H2OFrame"):
        grid.train(x=X, y="CAPSULE", training_frame=prostate.as_data_frame())
    assert _no_models_start_with("t_cols")
    assert len(grid.train(x=X, y=["CAPSULE"], training_frame=prostate)) == 2


def test_hyper_parameter_set_on_the_base_model_is_ambiguous(prostate):
    grid = H2OGridSearch(H2OGradientBoostingEstimator(max_depth=3, ntrees=2), {"max_depth": [1, 2]},
                         grid_id="t_bad_base")
    with pytest.raises(ValueError, match="'max_depth' is set in both"):
        grid.train(x=X, y="CAPSULE", training_frame=prostate)
    assert _no_models_start_with("t_bad_base")


def test_grid_id_of_another_algorithm_is_refused(prostate):
    _gbm_grid({"max_depth": [1]}, "t_algo").train(x=X, y="CAPSULE", training_frame=prostate)
    dl = H2OGridSearch(H2ODeepLearningEstimator(epochs=0.1), {"hidden": [[2]]}, grid_id="t_algo")
    with pytest.raises(ValueError, match="holds H2OGradientBoostingEstimator models"):
        dl.train(x=X, y="CAPSULE", training_frame=prostate)


def test_unbuilt_grid_prints_its_combinations():
    text = str(H2OGridSearch(H2OGradientBoostingEstimator, {"max_depth": [1, 2]}))
    assert "Grid Search of Model H2OGradientBoostingEstimator" in text and "[2]" in text
    assert grid_module.H2OGridSearch is H2OGridSearch


def test_cross_validated_grid_ranks_by_xval_metrics(prostate):
    grid = H2OGridSearch(H2OGradientBoostingEstimator(ntrees=2, seed=1, nfolds=2), {"max_depth": [1, 3]},
                         grid_id="t_xval")
    grid.train(x=X, y="CAPSULE", training_frame=prostate)
    xval = grid.logloss(xval=True)
    assert xval != grid.logloss()
    assert grid.model_ids == sorted(xval, key=xval.get)
    assert list(grid.sorted_metric_table()["logloss"]) == pytest.approx(sorted(xval.values()))
    assert grid.is_cross_validated() == {k: True for k in xval}


def test_autoencoder_grid_ranks_by_reconstruction_mse(prostate):
    from daskml_h2o.estimators import H2OAutoEncoderEstimator
    grid = H2OGridSearch(H2OAutoEncoderEstimator(epochs=0.5, seed=1, reproducible=True), {"hidden": [[2], [3]]},
                         grid_id="t_ae")
    grid.train(x=X, training_frame=prostate)
    mse = grid.mse()
    assert len(mse) == 2 and grid.model_ids == sorted(mse, key=mse.get)
    assert str(grid).startswith("Hyper-Parameter Search Summary: ordered by increasing mse")


def test_adaptive_parallelism_follows_threads_and_memory(prostate):
    from daskml_h2o.grid.build import adaptive_builders
    from daskml_h2o.models.concurrent import cluster_threads
    assert adaptive_builders(prostate) == cluster_threads() == 2
    # a training frame that half the cluster's memory cannot hold twice: one build at a time
    assert adaptive_builders(SimpleNamespace(nrow=10**11, ncol=10)) == 1

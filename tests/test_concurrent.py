"""Builds side by side: order of outcomes, failures kept apart, silenced progress, same models."""
import threading

import pytest

from daskml_h2o import progress
from daskml_h2o.models.concurrent import default_parallelism, run_concurrently


def test_outcomes_in_task_order_and_failures_do_not_stop_others():
    def ok(i):
        return lambda: i * 10

    def boom():
        raise ValueError("bad combination")

    out = run_concurrently([ok(1), boom, ok(3)], parallelism=3)
    assert [o.value for o in out] == [10, None, 30]
    assert [o.ok for o in out] == [True, False, True]
    assert isinstance(out[1].error, ValueError) and "bad combination" in str(out[1].error)


def test_at_most_parallelism_builds_run_at_once():
    running, peak, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(2, timeout=10)

    def task():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            gate.wait()
        except threading.BrokenBarrierError:
            pass
        with lock:
            running[0] -= 1
        return True

    out = run_concurrently([task] * 4, parallelism=2)
    assert all(o.value for o in out)
    assert peak[0] == 2


def test_builds_run_without_progress_bars_and_restore_the_switch():
    progress.show_progress()
    seen = run_concurrently([progress.progress_enabled] * 2, parallelism=2)
    assert [o.value for o in seen] == [False, False]
    assert run_concurrently([progress.progress_enabled], parallelism=1)[0].value is False
    assert progress.progress_enabled() is True
    progress.no_progress()


def test_empty_and_default_parallelism():
    assert run_concurrently([]) == []
    assert default_parallelism(1) == 1
    assert default_parallelism(100) >= 1


@pytest.fixture(scope="module")
def prostate():
    import daskml_h2o as h2o
    h2o.init(nthreads=2, processes=False, verbose=False)
    fr = h2o.import_file(h2o.datasets.path("prostate"))
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    return fr


@pytest.mark.parametrize("algo", ["gbm", "dl"])
def test_models_trained_side_by_side_equal_models_trained_one_by_one(prostate, algo):
    from daskml_h2o.estimators import H2ODeepLearningEstimator, H2OGradientBoostingEstimator
    fr = prostate
    if algo == "gbm":
        builds = [dict(max_depth=d, ntrees=5, seed=1) for d in (2, 3, 4)]
        cls = H2OGradientBoostingEstimator
    else:
        builds = [dict(hidden=[h], epochs=1, reproducible=True, seed=1) for h in (4, 6)]
        cls = H2ODeepLearningEstimator

    def make(params):
        def train():
            m = cls(**params)
            m.train(y="CAPSULE", training_frame=fr)
            return m.auc()
        return train

    one_by_one = [make(p)() for p in builds]
    side_by_side = run_concurrently([make(p) for p in builds], parallelism=len(builds))
    assert [o.value for o in side_by_side] == one_by_one

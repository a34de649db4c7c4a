"""A grid's hyper-parameter space: checking ``hyper_params`` and ``search_criteria`` before any
model is built, and walking the space in H2O's order.

H2O walks the hyper-parameters in alphabetical name order. Cartesian is an odometer whose *first*
name turns fastest; RandomDiscrete draws one ``java.util.Random(seed).nextInt(len(values))`` per
name (same order) and redraws combinations it has already visited, which reproduces H2O's draws.
"""
from __future__ import annotations

import difflib
import itertools
import numbers
import random

from daskml_h2o._pcg import java_random
from daskml_h2o.models.base import H2OValueError
from daskml_h2o.models.scoring import STOPPING_METRICS, mangle

__all__ = ["check_hyper_params", "check_search_criteria", "hyper_names", "space_size", "cartesian",
           "random_discrete", "NOT_HYPER"]

# Parameters a grid sets itself (frames, columns, ids): they cannot be searched over.
NOT_HYPER = ("model_id", "training_frame", "validation_frame", "response_column", "ignored_columns",
             "weights_column", "offset_column", "fold_column", "checkpoint")

_CRITERIA_KEYS = {
    "cartesian": ("strategy",),
    "randomdiscrete": ("strategy", "max_models", "max_runtime_secs", "seed", "stopping_rounds",
                       "stopping_metric", "stopping_tolerance"),
}
_STRATEGY_NAMES = {"cartesian": "Cartesian", "randomdiscrete": "RandomDiscrete"}


def _close(name, candidates) -> str:
    near = difflib.get_close_matches(str(name), list(candidates), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(near)}?" if near else ""


def check_param_names(estimator_cls, names, what) -> None:
    """Every name must be a parameter of the estimator; the error lists close matches."""
    for name in names:
        if name not in estimator_cls._defaults:
            raise H2OValueError(f"{what} {name!r} is not a parameter of {estimator_cls.__name__}"
                                f"{_close(name, estimator_cls._defaults)}")


def check_hyper_params(estimator_cls, hyper_params, fixed_params) -> dict:
    """``hyper_params`` as a dict name -> list of values, after H2O's checks (raises before any build)."""
    if not isinstance(hyper_params, dict):
        raise H2OValueError(f"hyper_params must be a dict of parameter name -> list of values, "
                            f"got {type(hyper_params).__name__}")
    if not hyper_params:
        raise H2OValueError("hyper_params is empty: give at least one parameter and its list of values")
    check_param_names(estimator_cls, hyper_params, "hyper-parameter")
    out = {}
    for name, values in hyper_params.items():
        if name in NOT_HYPER:
            raise H2OValueError(f"{name!r} cannot be a hyper-parameter: the grid sets it itself; "
                                f"pass it to train() instead")
        if isinstance(values, (str, bytes, dict)) or not isinstance(values, (list, tuple, range)):
            raise H2OValueError(f"hyper_params[{name!r}] must be a list of values, got {values!r}; "
                                f"write [{values!r}] for a single value")
        if len(values) == 0:
            raise H2OValueError(f"Grid search hyperparameter value list is empty for hyperparameter: {name}")
        if name in fixed_params:
            raise H2OValueError(f"Grid search model parameter {name!r} is set in both the model parameters and "
                                f"in the hyperparameters map.  This is ambiguous; set it in one place or the "
                                f"other, not both.")
        out[name] = list(values)
    return out


def _number(value, name, integer=False, minimum=0):
    ok = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if not ok or value < minimum:
        kind = "an integer" if integer else "a number"
        raise H2OValueError(f"search_criteria[{name!r}] must be {kind} >= {minimum}, got {value!r}")
    return int(value) if integer else float(value)


def check_search_criteria(criteria) -> dict:
    """Normalised search criteria: strategy, max_models, max_runtime_secs, seed, stopping_*."""
    if criteria is None:
        criteria = {}
    if not isinstance(criteria, dict):
        raise H2OValueError(f"search_criteria must be a dict, got {type(criteria).__name__}")
    strategy = mangle(criteria.get("strategy", "Cartesian"))
    if strategy not in _CRITERIA_KEYS:
        raise H2OValueError(f"search_criteria strategy {criteria.get('strategy')!r} is unknown: use "
                            f"'Cartesian' or 'RandomDiscrete'")
    allowed = _CRITERIA_KEYS[strategy]
    for key in criteria:
        if key not in allowed:
            extra = "" if strategy != "cartesian" or key not in _CRITERIA_KEYS["randomdiscrete"] else \
                " (it belongs to the 'RandomDiscrete' strategy)"
            raise H2OValueError(f"search_criteria key {key!r} is unknown for strategy "
                                f"{_STRATEGY_NAMES[strategy]}{extra}{_close(key, allowed)}; allowed: {list(allowed)}")
    out = {"strategy": _STRATEGY_NAMES[strategy], "max_models": 0, "max_runtime_secs": 0.0, "seed": -1,
           "stopping_rounds": 0, "stopping_metric": "AUTO", "stopping_tolerance": 0.001}
    if strategy == "randomdiscrete":
        out["max_models"] = _number(criteria.get("max_models", 0), "max_models", integer=True)
        out["max_runtime_secs"] = _number(criteria.get("max_runtime_secs", 0.0), "max_runtime_secs")
        out["stopping_rounds"] = _number(criteria.get("stopping_rounds", 0), "stopping_rounds", integer=True)
        out["stopping_tolerance"] = _number(criteria.get("stopping_tolerance", 0.001), "stopping_tolerance")
        out["seed"] = _number(criteria.get("seed", -1), "seed", integer=True, minimum=-2**63)
        metric = criteria.get("stopping_metric", "AUTO")
        if not isinstance(metric, str) or (mangle(metric) != "auto" and
                                           mangle(metric) not in {mangle(m) for m in STOPPING_METRICS}):
            raise H2OValueError(f"search_criteria stopping_metric {metric!r} is unknown: use AUTO or one of "
                                f"{list(STOPPING_METRICS)}")
        out["stopping_metric"] = metric
    if out["seed"] == -1:
        # H2O draws a seed when none is given; the grid reports the one it used
        out["seed"] = random.SystemRandom().getrandbits(62)
    return out


def hyper_names(hyper: dict) -> list:
    """The order H2O walks and tabulates hyper-parameters: alphabetical."""
    return sorted(hyper)


def space_size(hyper: dict) -> int:
    size = 1
    for values in hyper.values():
        size *= len(values)
    return size


def cartesian(hyper: dict):
    """Every combination (tuples in ``hyper_names`` order), the first name varying fastest."""
    names = hyper_names(hyper)
    for combo in itertools.product(*(range(len(hyper[n])) for n in reversed(names))):
        yield tuple(hyper[n][i] for n, i in zip(names, reversed(combo)))


def random_discrete(hyper: dict, seed: int):
    """Combinations drawn uniformly without repetition with Java's ``Random(seed)``, until the
    space is exhausted."""
    names = hyper_names(hyper)
    sizes = [len(hyper[n]) for n in names]
    rng = java_random(seed)
    seen = set()
    total = space_size(hyper)
    while len(seen) < total:
        idx = tuple(rng.next_int(s) for s in sizes)
        if idx in seen:
            continue
        seen.add(idx)
        yield tuple(hyper[n][i] for n, i in zip(names, idx))

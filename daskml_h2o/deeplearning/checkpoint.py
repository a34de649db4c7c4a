"""Deep Learning restarts from a checkpoint (spec deeplearning.md §15): what training takes
over from the checkpoint -- the network state (weights, biases, ADADELTA/momentum buffers and
the sample count that drives the learning-rate and momentum schedules), the iteration count,
the seed, the scoring history and the stopping values -- and H2O's restart checks.

The DataInfo (standardisation constants) is rebuilt from the new training frame, as H2O does;
its expanded inputs must be the checkpoint's.
"""
from __future__ import annotations

from dataclasses import dataclass

from daskml_h2o.deeplearning.network import NetworkState
from daskml_h2o.models.checkpoint import check_restart, resolve_checkpoint, restart_error

__all__ = ["DLRestart", "dl_restart", "continued_state", "check_inputs"]


@dataclass
class DLRestart:
    """What a continued Deep Learning build takes over from its checkpoint."""

    checkpoint: object
    state: NetworkState
    epochs: float          # epochs already trained
    iterations: int
    seed: int
    coef_names: list       # the network's inputs
    x: list | None         # the checkpoint's predictors, in its order
    history: object        # ScoringHistory
    stopping_values: list


def dl_restart(est, spec, has_validation: bool) -> DLRestart | None:
    """The checkpoint to continue (None without one), after every check H2O makes."""
    ckpt = resolve_checkpoint(est)
    if ckpt is None:
        return None
    problems = check_restart(est, spec, ckpt)
    history = ckpt._history
    last = history.last() if history is not None and len(history) else {}
    epochs = float(last.get("epochs", 0.0))
    if not est._parms["epochs"] > epochs:
        problems.insert(0, "Total number of epochs must be larger than the number of epochs already trained for "
                           f"the checkpointed model ({epochs}).")
    had_validation = history is not None and any(c.startswith("validation_") for c in history.columns)
    if had_validation != has_validation:
        problems.append("a validation frame must be given exactly when the checkpointed model had one "
                        f"(it {'had' if had_validation else 'had none'})")
    for name in ("initial_weights", "initial_biases"):
        if est._parms.get(name) is not None:
            problems.append(f"{name} cannot be combined with checkpoint: the network continues from the checkpoint")
    if problems:
        raise restart_error(ckpt, problems)
    scorer = ckpt._model
    return DLRestart(checkpoint=ckpt, state=scorer.state, epochs=epochs, iterations=int(last.get("iterations", 0)),
                     seed=int(ckpt._actual["seed"]), coef_names=list(scorer.datainfo.coef_names),
                     x=getattr(getattr(ckpt, "_spec", None), "x", None), history=history,
                     stopping_values=list(ckpt._actual.get("stopping_values", [])))


def check_inputs(restart, dinfo) -> None:
    """The new training frame must expand to the checkpoint's network inputs."""
    if list(dinfo.coef_names) != restart.coef_names:
        missing = [c for c in restart.coef_names if c not in dinfo.coef_names]
        new = [c for c in dinfo.coef_names if c not in restart.coef_names]
        raise restart_error(restart.checkpoint, [
            f"the training frame expands to {len(dinfo.coef_names)} network inputs, the checkpointed model has "
            f"{len(restart.coef_names)} (missing {missing[:10]}, new {new[:10]}); use columns with the same "
            "categorical levels"])


def continued_state(restart, netspec) -> NetworkState:
    """The checkpoint's network under this build's layout (dropout ratios may change)."""
    old = restart.state
    if tuple(old.spec.units) != tuple(netspec.units) or old.spec.activation != netspec.activation \
            or old.spec.output != netspec.output:
        raise restart_error(restart.checkpoint, [f"the network layout {netspec.units} differs from the "
                                                 f"checkpointed model's {old.spec.units}"])
    return NetworkState(netspec, *[a.copy() for a in old.arrays()], samples=old.samples)

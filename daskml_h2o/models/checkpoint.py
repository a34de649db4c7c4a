"""Checkpoint restarts shared by GBM and Deep Learning: find the checkpoint model (a model or
its id), and refuse -- before any training work -- a restart that changes what H2O does not
let change: a non-modifiable parameter, the response (column, type, levels) or the predictors.

Each algorithm declares ``_checkpoint_modifiable``, the parameters that may differ from the
checkpoint. Everything the restart needs is read from the checkpoint's ``_model``,
``_history``, ``_actual``, ``_parms`` and its frame-free ``_spec``, so a model saved and loaded
again is a valid checkpoint.
"""
from __future__ import annotations

from daskml_h2o import registry
from daskml_h2o.models.base import H2OValueError
from daskml_h2o.models.scoring import ScoringHistory

__all__ = ["resolve_checkpoint", "check_restart", "modifiable_except", "restart_error", "in_checkpoint_order",
           "changed_parameters", "continued_history"]

# Frames, ids and columns: train() resolves these into the spec, compared column by column below.
_NOT_COMPARED = frozenset({"checkpoint", "model_id", "training_frame", "validation_frame", "response_column",
                           "ignored_columns", "weights_column", "offset_column", "fold_column"})


def modifiable_except(defaults, non_modifiable) -> frozenset:
    """The parameters that may change on a restart: all of ``defaults`` but ``non_modifiable``."""
    unknown = set(non_modifiable) - set(defaults)
    if unknown:
        raise ValueError(f"non-modifiable checkpoint parameters {sorted(unknown)} are not parameters")
    return frozenset(defaults) - frozenset(non_modifiable)


def restart_error(checkpoint, problems) -> H2OValueError:
    """One error listing every reason the restart from ``checkpoint`` is refused."""
    return H2OValueError(f"Cannot continue training from checkpoint {_name(checkpoint)!r}: "
                         + "; ".join(problems))


def resolve_checkpoint(est):
    """The trained model ``est.checkpoint`` names (a model or a model id), or None."""
    ref = est._parms.get("checkpoint")
    if ref is None:
        return None
    model = registry.get(ref) if isinstance(ref, str) else ref
    if model is None:
        raise H2OValueError(f"checkpoint {ref!r}: no model with this id; pass a trained model or the id of one "
                            "(h2o.ls() lists them)")
    algo = getattr(model, "algo", None)
    if algo is None or not hasattr(model, "_parms"):
        raise H2OValueError(f"checkpoint must be a trained model or its id, got a {type(model).__name__}")
    if algo != est.algo:
        raise H2OValueError(f"checkpoint {_name(model)!r} is a {algo} model; a {est.algo} model can only continue "
                            f"a {est.algo} model")
    if getattr(model, "_model", None) is None:
        raise H2OValueError(f"checkpoint {_name(model)!r} is not trained: train it first")
    return model


def check_restart(est, spec, checkpoint) -> list[str]:
    """Why ``est`` trained on ``spec`` cannot continue ``checkpoint`` (empty when it can):
    parameters outside ``est._checkpoint_modifiable`` that differ (both values listed), a changed
    response column, type or levels, and different predictor columns (order is free)."""
    problems = [f"parameter {name!r} cannot be modified if checkpoint is specified: {old!r} -> {new!r}"
                for name, old, new in changed_parameters(est, checkpoint)]
    old_spec = getattr(checkpoint, "_spec", None)
    scorer = checkpoint._model
    old_y = getattr(old_spec, "y", None) if old_spec is not None else checkpoint._parms.get("response_column")
    if old_y != spec.y:
        problems.append(f"the response column must be the same as for the checkpointed model: {old_y!r} -> {spec.y!r}")
    old_kind = getattr(scorer, "kind", None)
    if old_kind is not None and old_kind != spec.kind:
        problems.append(f"Response type must be the same as for the checkpointed model: {old_kind} -> {spec.kind}")
    old_domain = getattr(scorer, "response_domain", None)
    if old_kind == spec.kind and old_domain is not None and list(old_domain) != list(spec.domain or []):
        problems.append(f"the response levels must be the same as for the checkpointed model: {list(old_domain)} "
                        f"-> {list(spec.domain or [])}")
    old_x = getattr(old_spec, "x", None)
    if old_x is not None and set(old_x) != set(spec.x):
        problems.append("The columns of the training data must be the same as for the checkpointed model: "
                        f"missing {sorted(set(old_x) - set(spec.x))}, new {sorted(set(spec.x) - set(old_x))}")
    return problems


def in_checkpoint_order(spec, old_x):
    """``spec`` with its predictors in the checkpoint's order (``old_x``), so that the continued
    model's columns line up with the checkpoint's; unchanged when the sets differ."""
    from dataclasses import replace
    if old_x is None or set(old_x) != set(spec.x) or list(old_x) == list(spec.x):
        return spec
    return replace(spec, x=list(old_x))


def changed_parameters(est, checkpoint) -> list[tuple]:
    """(name, checkpoint's value, new value) of every non-modifiable parameter that differs. A
    value equal to the one the checkpoint resolved (e.g. distribution AUTO -> bernoulli) is no change."""
    out = []
    for name in est._defaults:
        if name in est._checkpoint_modifiable or name in _NOT_COMPARED:
            continue
        new, old = est._parms.get(name), checkpoint._parms.get(name)
        resolved = checkpoint._actual.get(name, old)
        if _same(new, old) or _same(new, resolved):
            continue
        out.append((name, old, new))
    return out


def _same(a, b) -> bool:
    return _plain(a) == _plain(b)


def _plain(value):
    """Comparable form: sequences as tuples, numpy scalars as Python, frames/models by id."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    for attr in ("frame_id", "model_id"):
        key = getattr(value, attr, None)
        if isinstance(key, str):
            return key
    return value


def _name(model) -> str:
    return getattr(model, "_model_id", None) or type(model).__name__


def continued_history(old, columns) -> ScoringHistory:
    """A history under this build's ``columns`` holding the checkpoint's rows (H2O appends to
    them); columns the checkpoint lacks (a validation frame added now) stay empty."""
    history = ScoringHistory(columns)
    if old is not None:
        for row in old._rows:
            values = dict(zip(old.columns, row))
            history.append({c: v for c, v in values.items() if c in history.columns})
    return history

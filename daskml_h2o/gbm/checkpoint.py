"""GBM restarts from a checkpoint (spec gbm.md §16): what the boosting loop takes over from the
checkpoint (trees, f0, seed, scoring history, stopping values) and the per-chunk replay of
the checkpoint's trees that rebuilds the training and validation scores.

Old trees are replayed on the raw (unbinned) columns through their split thresholds, so
they stay right when ``histogram_type="AUTO"`` bins a different training frame anew. On the
same data with the same seed the bins, the rebuilt scores and hence every new tree equal
those of the model trained in one go (with ``pred_noise_bandwidth`` > 0 the rebuilt scores
use the trees' plain leaf values, as H2O's rebuild by scoring does, so there they differ).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskml_h2o.gbm.grower import chunk_update_scores
from daskml_h2o.gbm.tree import apply_raw
from daskml_h2o.models.checkpoint import check_restart, resolve_checkpoint, restart_error

__all__ = ["GBMRestart", "gbm_restart", "replay_train_scores", "replay_valid_scores"]

@dataclass
class GBMRestart:
    """What a continued build takes over from its checkpoint."""

    trees: list            # one list of K trees per iteration, oldest first
    f0: float
    seed: int
    columns: list          # the checkpoint's used columns, in the trees' feature order
    x: list | None         # the checkpoint's predictors, in its order
    history: object        # ScoringHistory
    stopping_values: list  # the watched metric at every scoring event
    train_metrics: object  # the checkpoint's training metrics (kept when no tree is added)

    @property
    def ntrees(self) -> int:
        return len(self.trees)


def gbm_restart(est, spec) -> GBMRestart | None:
    """The checkpoint to continue (None without one), after every check H2O makes."""
    ckpt = resolve_checkpoint(est)
    if ckpt is None:
        return None
    scorer = ckpt._model
    problems = check_restart(est, spec, ckpt)
    old = scorer.ntrees
    if est._parms["ntrees"] < old + 1:
        problems.insert(0, f"ERRR on field: _ntrees: If checkpoint is specified then requested ntrees must be "
                           f"higher than {old + 1}")
    if problems:
        raise restart_error(ckpt, problems)
    return GBMRestart(trees=[list(row) for row in scorer.trees], f0=scorer.f0, seed=int(ckpt._actual["seed"]),
                      columns=list(scorer.columns), x=getattr(getattr(ckpt, "_spec", None), "x", None),
                      history=ckpt._history,
                      stopping_values=list(ckpt._actual.get("stopping_values", [])),
                      train_metrics=ckpt._metrics.get("train"))


def _replay(X, F, trees, round_f32):
    for row in trees:
        for k, tree in enumerate(row):
            if tree is None:
                continue
            leaves = apply_raw(tree, X)
            if round_f32:  # the training scores are kept in float32 after every tree
                F[:, k] = chunk_update_scores(F[:, k], leaves, tree.nodes["value"].astype(np.float64))
            else:
                F[:, k] += tree.nodes["value"][leaves]
    return F


def replay_train_scores(chunk, keep_idx, f0, K, trees):
    """A raw training chunk's scores F after the checkpoint's trees, as the loop left them."""
    F = np.zeros((chunk["n"], K))
    F[:, 0] = np.float32(f0)
    return _replay(np.asarray(chunk["X"][:, keep_idx], np.float64), F, trees, True)


def replay_valid_scores(chunk, keep_idx, f0, K, trees):
    """A raw validation chunk's scores after the checkpoint's trees (float64, as scored)."""
    F = np.zeros((chunk["n"], K))
    F[:, 0] = f0
    return _replay(np.asarray(chunk["X"][:, keep_idx], np.float64), F, trees, False)

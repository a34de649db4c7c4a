"""GBM's scoring during training (spec gbm.md §10): when to score, training and validation
metrics from the scores the chunks already hold, the scoring history and early stopping."""
from __future__ import annotations

import time

import numpy as np

from daskml_h2o.models.metrics import add_gains_lift, chunk_blocks, compute_metrics_on_chunks, needs_gains_lift
from daskml_h2o.models.scoring import (ScoringHistory, format_duration, format_timestamp, metric_columns,
                                       metric_more_is_better, metric_value, resolve_stopping_metric, stop_early)

__all__ = ["ScoringSchedule", "score_model"]

# H2O's time heuristic (ST.java) scores after every tree for the first 4 s of a fit and then
# at most every 4 s, when the last scoring took under 10 % of the time since it started. Our
# fits are mostly shorter than 4 s, so that rule would score every tree and double the cost.
# We keep only the 10 % duty cycle (scoring costs at most ~10 % of training). Setting both
# constants to 4000 gives H2O's schedule exactly; score_each_iteration and
# score_tree_interval behave as in H2O either way (docs/gbm.md).
FREE_SCORING_MS = 0
MIN_SCORING_INTERVAL_MS = 0
_MAX_SCORING_SHARE = 0.1


def _predictions(chunk, F, scorer):
    return scorer.transform(F, chunk["offset"])


def _column(chunk, name):
    return chunk[name]


def _score_columns(ex, scorer, data, F):
    """(response, predictions, weights) per chunk of ``data`` whose scores are ``F``, where the
    executor holds the chunks: metrics reduce them there (models.metrics.ChunkBlocks)."""
    preds = ex.map(_predictions, data.chunks, F, args=(scorer,), name="gbm-score-predict")
    y = ex.map(_column, data.chunks, args=("y",), name="gbm-score-y")
    w = ex.map(_column, data.chunks, args=("w",), name="gbm-score-w")
    return y, preds, w


def score_model(ex, scorer, data, F, kind, domain, options, on, gains_lift=True):
    """Metrics of the current model on the chunks of ``data`` whose scores are ``F``.

    ``gains_lift=False`` (a scoring during training) skips the binomial gains/lift table:
    the history needs only its first lift.
    """
    y, p, w = _score_columns(ex, scorer, data, F)
    return compute_metrics_on_chunks(ex, kind, y, p, weights=w, domain=domain, algo="gbm", on=on,
                                     gains_lift=gains_lift, **options)


def _valid_update(chunk, F, row, strategy, K):
    F = F.copy()
    for k in range(K):
        if row[k] is not None:
            F[:, k] += strategy.tree_scores(chunk, row[k])
    return F


def _valid_init(chunk, f0, K):
    F = np.zeros((chunk["n"], K))
    F[:, 0] = f0
    return F


class ScoringSchedule:
    """Decides when to score, keeps the history and says when early stopping fires."""

    def __init__(self, ex, p, spec, est, scorer, data, valid):
        self.ex = ex
        self.p, self.spec, self.est, self.scorer, self.data, self.valid = p, spec, est, scorer, data, valid
        self.kind = spec.kind
        self.history = ScoringHistory.for_model("gbm", self.kind, has_validation=valid is not None)
        est._history = self.history
        self.metric = resolve_stopping_metric(p["stopping_metric"], self.kind, "gbm")
        self.more_is_better = metric_more_is_better(self.metric)
        self.values = []
        self.started = time.monotonic()
        self.first_scoring = None
        self.last_start = None
        self.last_duration = 0.0
        self.scored_ntrees = -1
        self.valid_F = None
        if valid is not None:
            self.valid_F = ex.map(_valid_init, valid.chunks, args=(scorer.f0, scorer.K), name="gbm-valid-init")

    def on_trees_added(self, row) -> None:
        if self.valid is not None:
            self.valid_F = self.ex.map(_valid_update, self.valid.chunks, self.valid_F,
                                       args=(row, self.data.strategy, self.scorer.K), name="gbm-valid-update")

    def _due(self, t) -> bool:
        p = self.p
        if p["score_each_iteration"] or t == 0:
            return True
        if p["score_tree_interval"] > 0:
            return t % p["score_tree_interval"] == 0
        now_ms = (time.monotonic() - self.first_scoring) * 1000.0
        if now_ms < FREE_SCORING_MS:
            return True
        since_last = time.monotonic() - self.last_start
        return since_last * 1000.0 > MIN_SCORING_INTERVAL_MS and self.last_duration < _MAX_SCORING_SHARE * since_last

    def stops_now(self) -> bool:
        """Early stopping on the scoring events so far (a checkpoint's, on a restart)."""
        k = self.p["stopping_rounds"]
        return k > 0 and stop_early(self.values, k, self.more_is_better, self.p["stopping_tolerance"], self.metric)

    def maybe_score(self, t, states):
        if not self._due(t):
            return None
        return self._score(states)

    def final_score(self, states) -> None:
        """The model's metrics: a last scoring, or the gains/lift tables the last one skipped."""
        if self.scored_ntrees != self.scorer.ntrees:
            self._score(states, final=True)
            return
        for key, data, F in (("train", self.data, states), ("valid", self.valid, self.valid_F)):
            metrics = self.est._metrics.get(key)
            if data is not None and needs_gains_lift(metrics):
                self.ex.retrying(lambda: self._add_gains_lift(metrics, data, F))

    def _add_gains_lift(self, metrics, data, F):
        add_gains_lift(metrics, chunk_blocks(self.ex, *_score_columns(self.ex, self.scorer, data, F)))

    def _score(self, states, final=False):
        start = time.monotonic()
        if self.first_scoring is None:
            self.first_scoring = start
        options = self.est._metric_options()
        train = self.ex.retrying(lambda: score_model(self.ex, self.scorer, self.data, states, self.kind,
                                                     self.spec.domain, options, "train", final))
        row = {"timestamp": format_timestamp(), "duration": format_duration(start - self.started),
               "number_of_trees": self.scorer.ntrees}
        row.update(metric_columns(train, "gbm", self.kind, "training"))
        self.est._metrics["train"] = train
        watched = train
        if self.valid is not None:
            valid = self.ex.retrying(lambda: score_model(self.ex, self.scorer, self.valid, self.valid_F, self.kind,
                                                         self.spec.domain, options, "valid", final))
            row.update(metric_columns(valid, "gbm", self.kind, "validation"))
            self.est._metrics["valid"] = valid
            watched = valid
        self.history.append(row)
        self.scored_ntrees = self.scorer.ntrees
        self.values.append(metric_value(watched, self.metric))
        self.last_start, self.last_duration = start, time.monotonic() - start
        k = self.p["stopping_rounds"]
        if k > 0 and stop_early(self.values, k, self.more_is_better, self.p["stopping_tolerance"], self.metric):
            return "stop"
        return None

"""Deep Learning's scoring during training (spec deeplearning.md §10-§11): H2O's time/duty-cycle
schedule, metrics on the sampled training and validation scoring sets, the scoring history,
classification/regression stop, early stopping, and overwrite_with_best_model."""
from __future__ import annotations

import time

import numpy as np

from daskml_h2o import parallel
from daskml_h2o.deeplearning import local_train as LT
from daskml_h2o.models.metrics import compute_metrics, compute_metrics_on_chunks, local_reductions
from daskml_h2o.models.scoring import (ScoringHistory, format_duration, format_speed, format_timestamp,
                                       metric_columns, metric_more_is_better, metric_value,
                                       resolve_stopping_metric, stop_early)

__all__ = ["ScoringSchedule", "score_chunks"]


def _predict_chunk(chunk, scorer, state):
    X = chunk["X"]
    if scorer.kind == "unsupervised":
        return LT.reconstruction_errors(state, X)
    out = LT.predict(state, X, scorer.network_offset(chunk["offset"]))
    return scorer.outputs_to_predictions(out)


def _column(chunk, name):
    return chunk[name]


# Scoring sets up to this many rows come back to the driver and their metrics are reduced there
# with dask's synchronous scheduler: a few MB, and no scheduler round trips per metric pass.
_LOCAL_SCORING_ROWS = 1_000_000


def _scored_chunk(chunk, scorer, state):
    return _predict_chunk(chunk, scorer, state), chunk["y"], chunk["w"]


def score_chunks(scorer, state, chunks, on, description, executor=None):
    """Metrics of the network `state` on persisted scoring chunks, the chunks held where
    ``executor`` runs its steps (named tasks by default)."""
    ex = executor or parallel.DaskExecutor()
    items = chunks.futures
    kind, options = _metric_kind(scorer)
    if chunks.total_rows <= _LOCAL_SCORING_ROWS:
        parts = ex.gather(ex.map(_scored_chunk, items, args=(scorer, state), name="dl-score-local"))
        preds, y, w = (np.concatenate([p[k] for p in parts]) for k in range(3))
        with local_reductions():
            return compute_metrics(kind, None if kind == "autoencoder" else y, preds, weights=w,
                                   algo="deeplearning", on=on, description=description, **options)
    preds = ex.map(_predict_chunk, items, args=(scorer, state), name="dl-score-predict")
    w = ex.map(_column, items, args=("w",), name="dl-score-w")
    y = None if kind == "autoencoder" else ex.map(_column, items, args=("y",), name="dl-score-y")
    return compute_metrics_on_chunks(ex, kind, y, preds, w, algo="deeplearning", on=on, description=description,
                                     **options)


def _metric_kind(scorer):
    """The metrics kind of the scorer's model and its options (domain, regression distribution)."""
    if scorer.kind == "unsupervised":
        return "autoencoder", {}
    options = {"domain": scorer.response_domain}
    if scorer.kind == "regression":
        options.update(distribution=scorer.distribution, tweedie_power=scorer.params["tweedie_power"],
                       quantile_alpha=scorer.params["quantile_alpha"], huber_alpha=scorer.params["huber_alpha"])
    return scorer.kind, options


def _model_loss(metrics, metric, kind):
    """H2O's Model.loss() that picks the best model, in float32: AUC and AUCPR count as
    1 - value, lift_top_group as it is (as H2O does), RMSE falls back to the default metric."""
    if metric in ("auc", "aucpr"):
        value = 1.0 - metric_value(metrics, metric)
    elif metric == "rmse":
        value = metric_value(metrics, {"autoencoder": "mse", "regression": "deviance"}.get(kind, "logloss"))
    else:
        value = metric_value(metrics, metric)
    return float(np.float32(value))


class ScoringSchedule:
    """When to score, the history rows, the stopping rules and the best model so far."""

    def __init__(self, est, spec, p, data, scorer, started):
        self.est, self.spec, self.p, self.data, self.scorer = est, spec, p, data, scorer
        self.kind = "autoencoder" if spec.kind == "unsupervised" else spec.kind
        self.history = ScoringHistory.for_model("deeplearning", self.kind, has_validation=data.valid is not None)
        est._history = self.history
        self.metric = resolve_stopping_metric(p["stopping_metric"], self.kind, "deeplearning")
        self.more_is_better = metric_more_is_better(self.metric)
        self.values = []
        self.started = started
        self.train_seconds = 0.0
        self.last_start = None
        self.last_duration = 0.0
        self.best = None  # (loss, state)
        self.last_loss = None
        self.iteration = 0
        self.epochs = 0.0

    def start(self, state):
        if self.kind == "autoencoder":
            self._score(state, 0, 0.0)  # H2O scores the untrained autoencoder once
        else:
            self.history.append({"timestamp": format_timestamp(), "duration": format_duration(0.0),
                                 "epochs": 0.0, "iterations": 0, "samples": 0.0})
            self.values.append(float("nan"))

    def add_training_time(self, seconds):
        self.train_seconds += seconds

    def _due(self, final):
        p = self.p
        if final or p["score_each_iteration"] or self.last_start is None:
            return True
        since = time.monotonic() - self.last_start
        return since > p["score_interval"] and self.last_duration / since < p["score_duty_cycle"]

    def maybe_score(self, state, iteration, epochs, final=False):
        self.iteration, self.epochs = iteration, epochs
        if not self._due(final):
            return None
        return self._score(state, iteration, epochs, final)

    def _score(self, state, iteration, epochs, final=False):
        if LT.is_unstable(state):
            raise LT.DeepLearningInstabilityError()
        start = time.monotonic()
        n_train = self.data.scoring.total_rows
        full = self.p["score_training_samples"] == 0 or n_train >= self.data.N
        desc = ("Metrics reported on full training frame" if full
                else f"Metrics reported on temporary training frame with {n_train} samples")
        train = score_chunks(self.scorer, state, self.data.scoring, "training_metrics", desc, self.data.executor)
        self.est._metrics["train"] = train
        speed = state.samples / self.train_seconds if self.train_seconds > 0 else None
        row = {"timestamp": format_timestamp(), "duration": format_duration(time.monotonic() - self.started),
               "training_speed": format_speed(speed) if state.samples else None, "epochs": float(epochs),
               "iterations": int(iteration), "samples": float(state.samples)}
        row.update(metric_columns(train, "deeplearning", self.kind, "training"))
        watched = train
        if self.data.valid is not None:
            nv = self.data.valid.total_rows
            sampled = self.p["score_validation_samples"]
            desc = (f"Metrics reported on {'temporary' if sampled else 'full'} validation frame"
                    f"{f' with {nv} samples' if sampled else ''}")
            valid = score_chunks(self.scorer, state, self.data.valid, "validation_metrics", desc, self.data.executor)
            self.est._metrics["valid"] = valid
            row.update(metric_columns(valid, "deeplearning", self.kind, "validation"))
            watched = valid
        self.history.append(row)
        value = metric_value(watched, self.metric)
        self.values.append(value)
        loss = _model_loss(watched, self.metric, self.kind)
        self.last_loss = loss
        # the untrained autoencoder scored at iteration 0 is a candidate too, as in H2O
        if np.isfinite(loss) and (self.best is None or loss < self.best[0]):
            self.best = (loss, state.copy(), iteration, epochs, dict(self.est._metrics))
        self.last_start, self.last_duration = start, time.monotonic() - start
        return self._stop_verdict(train)

    def _stop_verdict(self, train):
        p = self.p
        if self.kind in ("binomial", "multinomial"):
            err = metric_value(train, "misclassification")
            if np.isfinite(err) and err <= p["classification_stop"]:
                return "stop"
        elif self.kind == "regression":
            mse = metric_value(train, "mse")
            if np.isfinite(mse) and mse <= p["regression_stop"]:
                return "stop"
        k = p["stopping_rounds"]
        if k > 0 and stop_early(self.values, k, self.more_is_better, p["stopping_tolerance"], self.metric):
            return "stop"
        return None

    def finish(self, state, iteration):
        """The model to keep: the best scored one (scored once more) when it beats the last."""
        if (self.p["overwrite_with_best_model"] and self.best is not None and self.last_loss is not None
                and self.best[0] < self.last_loss):
            best = self.best[1].copy()
            best.samples = state.samples
            self._score(best, iteration, self.epochs)
            return best
        return state

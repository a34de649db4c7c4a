"""The distributed GBM driver: H2O's boosting loop over chunks persisted on the cluster.

Per tree: one task per chunk prepares the tree's per-row arrays (residuals, in-bag weights,
Newton terms); per level one task per chunk routes rows and builds histograms
(``grower.chunk_level_step``); histograms are summed in partition order by a tree reduction;
the driver decides the splits (``grower.TreeBuilder``); after the last level a task per chunk
adds the leaf values to the chunk's scores. The model (trees as record arrays) lives on the
driver; every per-chunk future can be recomputed from the persisted chunks.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from daskml_h2o import parallel

from daskml_h2o.data.chunks import layout_of, persist_training_chunks, stats_and_sample
from daskml_h2o.gbm import distributions as D
from daskml_h2o.gbm import quantile_leaves as QL
from daskml_h2o.gbm.checkpoint import gbm_restart, replay_train_scores, replay_valid_scores
from daskml_h2o.gbm.grower import (GrowParams, chunk_residuals, chunk_sample_weights, chunk_tree_inputs,
                                   chunk_update_scores, choose_tree_columns, leaf_values)
from daskml_h2o.gbm.histogram_types import make_strategy
from daskml_h2o.gbm.scorer import GBMScorer
from daskml_h2o.models.base import H2OValueError
from daskml_h2o.models.checkpoint import continued_history, in_checkpoint_order
from daskml_h2o.gbm.scoring import ScoringSchedule
from daskml_h2o.progress import ProgressBar

__all__ = ["train_gbm", "resolve_distribution"]

BIN_SAMPLE_ROWS = 200_000


def resolve_distribution(distribution: str, kind: str) -> str:
    if distribution != "AUTO":
        return distribution
    return {"regression": "gaussian", "binomial": "bernoulli", "multinomial": "multinomial"}[kind]


class _Data:
    """Everything the loop needs about the training data: prepared chunks (futures or, with the
    local executor, arrays), their row counts and first global rows, the column layout and the
    histogram strategy that prepared them."""

    def __init__(self, chunks, nrows, layout, strategy, used, replayed=None):
        self.chunks, self.nrows, self.layout, self.strategy, self.used = chunks, nrows, layout, strategy, used
        self.starts = [int(s) for s in np.concatenate([[0], np.cumsum(nrows)[:-1]])]
        self.class_counts = None
        self.replayed = replayed  # per-chunk scores after a checkpoint's trees


def _constant_columns(stats) -> np.ndarray:
    """H2O's ignore_const_cols for trees: all-NA columns and columns with one value and no NA."""
    all_na = stats["na"] == stats["n"]
    single = (stats["min"] == stats["max"]) & (stats["na"] == 0)
    return all_na | single


def _prepare(chunk, strategy, keep_idx):
    return strategy.prepare_chunk(chunk, keep_idx)


def prepare_data(ex, spec, p, restart=None, K=1) -> _Data:
    layout = layout_of(spec)
    raw = persist_training_chunks(spec.frame, layout, name="gbm-data", executor=ex)
    strategy = make_strategy(p["histogram_type"], p)
    # bin edges come from a row sample of the numeric columns, where the strategy uses one
    numeric = [j for j, c in enumerate(layout.columns) if layout.types[c] != "enum"] if strategy.uses_sample else []
    # the executor reads chunks it holds; chunks built as tasks are read by tasks
    stats, sample_X = stats_and_sample(raw, BIN_SAMPLE_ROWS, p["seed"], numeric,
                                       executor=None if raw.on_scheduler else ex)
    if stats["rows_used"] == 0:
        raise ValueError("no training rows are left: every row has a missing response or zero weight")
    if stats["wsum"] < 2 * p["min_rows"]:
        raise ValueError(f"The dataset size is too small to split for min_rows={p['min_rows']}: "
                         f"the total weight of rows is {stats['wsum']:g}; lower min_rows")
    constant = _constant_columns(stats) if p["ignore_const_cols"] else np.zeros(len(layout.columns), bool)
    all_na = stats["na"] == stats["n"]
    keep_idx = [j for j in range(len(layout.columns)) if not constant[j] and not all_na[j]]
    if not keep_idx:
        raise ValueError(f"every predictor is constant or all missing ({layout.columns}); nothing to split on")
    dropped = [layout.columns[j] for j in range(len(layout.columns)) if j not in keep_idx]
    if dropped and spec.verbose:
        print(f"Dropping constant or all-missing columns: {dropped}")
    used = layout.subset([layout.columns[j] for j in keep_idx])
    if restart is not None and list(used.columns) != restart.columns:
        raise ValueError(f"the checkpoint's trees split on the columns {restart.columns}, but on this training "
                         f"frame the usable (non-constant) columns are {list(used.columns)}; train on data "
                         "with the same usable columns")
    strategy.fit(used, keep_idx, stats, sample_X)
    prepared = ex.durable(_prepare, raw, args=(strategy, np.asarray(keep_idx)), name="gbm-prepare")
    ex.wait(prepared)
    replayed = None
    if restart is not None:
        replayed = ex.durable(replay_train_scores, raw, args=(np.asarray(keep_idx), restart.f0, K, restart.trees),
                              name="gbm-replay")
        ex.wait(replayed)
    nrows = list(raw.nrows)
    raw.release()
    return _Data(prepared, nrows, layout, strategy, used, replayed)


# ------------------------------------------------------------------ per-chunk tasks

def _init_state(chunk, f0, K):
    F = np.zeros((chunk["n"], K))
    F[:, 0] = np.float32(f0)
    return F


def _tree_inputs(chunk, F, row_start, dist, nclasses, K, tree_seed, sample_rate, sample_rate_per_class, power,
                 alpha, delta):
    offset = chunk["offset"]
    links = F if offset is None else F + offset[:, None]
    res = chunk_residuals(dist, chunk["y"], links, None, nclasses, power, alpha, delta)
    inbag = chunk_sample_weights(chunk["w"], chunk["y"], row_start, tree_seed, sample_rate, sample_rate_per_class)
    return [chunk_tree_inputs(chunk["features"], dist, chunk["y"], res[:, k], links[:, k], inbag, power)
            for k in range(K)]


def _level(inputs, previous, k, plan, strategy):
    tc = inputs[k]
    node_ids = np.zeros(len(tc.w), dtype=np.int32) if previous is None else previous[0]
    return strategy.level_step(tc, node_ids, plan)


def _update(F, last, k, node_values):
    F = F.copy()
    F[:, k] = chunk_update_scores(F[:, k], last[0], node_values)
    return F


def _leaf_residual_stats(chunk, F, last, k, n_nodes):
    """The chunk's d = y − F − offset sorted per leaf, for the laplace/quantile/huber leaves."""
    offset = chunk["offset"]
    f = F[:, k] if offset is None else F[:, k] + offset
    return QL.sorted_groups(last[0], chunk["y"] - f, chunk["w"], n_nodes)


# ------------------------------------------------------------------ the loop

def _effective_params(est, spec, restart=None) -> dict:
    p = dict(est._parms)
    p["distribution"] = resolve_distribution(p["distribution"], spec.kind)
    p["categorical_encoding"] = "Enum" if p["categorical_encoding"] == "AUTO" else p["categorical_encoding"]
    if p["seed"] in (None, -1) and restart is not None:
        # the checkpoint's seed: the continued model then equals the one trained in one go
        # (H2O draws a fresh seed, which changes the new trees whenever rows or columns are sampled)
        p["seed"] = restart.seed
    elif p["seed"] in (None, -1):
        p["seed"] = int(np.random.default_rng().integers(0, 2**63 - 1))
    p["stopping_metric"] = p["stopping_metric"]
    return p


def train_gbm(est, spec) -> None:
    restart = gbm_restart(est, spec)
    if restart is not None:
        spec = in_checkpoint_order(spec, restart.x)
    p = _effective_params(est, spec, restart)
    est._actual = {"distribution": p["distribution"], "histogram_type": p["histogram_type"],
                   "categorical_encoding": p["categorical_encoding"], "seed": p["seed"],
                   "stopping_metric": p["stopping_metric"] if p["stopping_metric"] != "AUTO" else
                   ("logloss" if spec.kind != "regression" else "deviance")}
    dist_name = p["distribution"]
    _check_response_for(dist_name, spec)
    dist = D.dist_code(dist_name)
    spec, prep = _preprocess(spec, p)
    ex = parallel.executor_for()
    try:
        _train(est, spec, p, ex, dist_name, dist, prep, restart)
    finally:
        ex.close()


def _preprocess(spec, p):
    """H2O re-encodes categoricals (``categorical_encoding``), then balances classes, before
    training: the model then trains on the (lazy) re-encoded, balanced frame. Returns the
    spec to train on and ``(encoding, balance)`` for the scorer (None where unused)."""
    from dataclasses import replace
    from daskml_h2o.data.balance import balance_frame, fit_balance
    from daskml_h2o.data.encoding import encode_frame, fit_encoding
    encoding = fit_encoding(spec.frame, spec.frame._types, spec.x, p["categorical_encoding"], response=spec.y,
                            response_domain=spec.domain, weights=spec.weights_column,
                            reorder_above=p["nbins_cats"])
    balance = None
    if encoding.is_identity and not p["balance_classes"]:
        return spec, (None, None)
    frame = encode_frame(spec.frame, encoding)
    summary = spec.response_summary
    if p["balance_classes"]:
        balance = fit_balance(frame, spec.y, spec.domain, spec.weights_column, p["class_sampling_factors"],
                              p["max_after_balance_size"], p["seed"])
        frame = balance_frame(frame, balance)
        summary = dict(summary, n=balance.nrows, class_counts=balance.class_counts)
    valid = spec.validation_frame
    if valid is not None and not encoding.is_identity:
        from daskml_h2o.models.predict import check_test_frame
        check_test_frame(encoding, valid)  # H2O's warnings name the original columns and levels
        valid = encode_frame(valid, encoding)
    spec = replace(spec, frame=frame, x=list(encoding.output_columns), validation_frame=valid,
                   types=dict(frame._types), response_summary=summary)
    return spec, (None if encoding.is_identity else encoding, balance)


def _train(est, spec, p, ex, dist_name, dist, prep=(None, None), restart=None) -> None:
    nclasses = spec.nclasses
    K = nclasses if dist == D.MULTINOMIAL and nclasses > 2 else 1
    data = prepare_data(ex, spec, p, restart, K)
    data.class_counts = spec.response_summary.get("class_counts")
    data.shared_strategy = ex.share(data.strategy)  # sent to each worker once, not with every level
    if restart is None:
        f0 = _initial_value(ex, data, dist, nclasses, K, p)
        states = ex.map(_init_state, data.chunks, args=(f0, K), name="gbm-init")
    else:
        f0, states = restart.f0, data.replayed
    scorer = GBMScorer.start(data, spec, dist_name, nclasses, K, f0, p)
    est._model = scorer
    valid = _prepare_valid(ex, spec, data, scorer, restart) if spec.validation_frame is not None else None
    # after _prepare_valid: the validation frame there is already re-encoded
    scorer.encoding, scorer.balance = prep
    schedule = ScoringSchedule(ex, p, spec, est, scorer, data, valid)
    first = 0 if restart is None else _continue(restart, scorer, schedule, valid, est)
    # floats whatever the user typed: numba compiles one specialisation per argument type
    builder_params = GrowParams(int(p["max_depth"]), float(p["min_rows"]), float(p["min_split_improvement"]),
                                float(p["col_sample_rate"]), float(p["col_sample_rate_per_tree"]),
                                float(p["col_sample_rate_change_per_level"]))
    model_rng = np.random.default_rng(p["seed"])
    for _ in range(first):  # one draw per existing tree: the new trees get the seeds of a one-go build
        model_rng.integers(0, 2**63 - 1)
    sampled = p["sample_rate"] < 1 or p["sample_rate_per_class"] is not None or p["col_sample_rate"] < 1 \
        or p["col_sample_rate_per_tree"] < 1
    started = time.monotonic()
    budget = spec.max_runtime_secs or p["max_runtime_secs"]
    # a checkpoint that early stopping already ended gets no trees, as the one-go build
    last = first if restart is not None and schedule.stops_now() else p["ntrees"]
    with ProgressBar("gbm Model Build") as bar:
        for t in range(first, last):
            # the checkpoint's last scoring already covers its trees
            if (t > first or restart is None) and schedule.maybe_score(t, states) == "stop":
                break
            tree_seed = int(model_rng.integers(0, 2**63 - 1))
            lr = p["learn_rate"] * p["learn_rate_annealing"] ** (t - 1)
            states, row = _build_iteration(ex, t, data, states, dist, nclasses, K, tree_seed, lr, p, builder_params)
            scorer.add_trees(row)
            schedule.on_trees_added(row)
            bar.update((t + 1) / max(1, p["ntrees"]))
            if not sampled and all(tr is None or (len(tr.nodes) == 1 and tr.nodes["value"][0] == 0) for tr in row):
                break
            if lr * p["learn_rate_annealing"] < 1e-6 and p["learn_rate_annealing"] < 1:
                warnings.warn("Effective learning rate dropped below 1e-6: stopping", stacklevel=3)
                break
            if budget and time.monotonic() - started > budget:
                break
        schedule.final_score(states)
    est._actual["stopping_values"] = [float(v) for v in schedule.values]


def _continue(restart, scorer, schedule, valid, est) -> int:
    """Take over the checkpoint's trees, scoring history and stopping values; returns the
    number of trees already built."""
    for row in restart.trees:
        scorer.add_trees(row)
    schedule.history = continued_history(restart.history, schedule.history.columns)
    est._history = schedule.history
    schedule.values = list(restart.stopping_values)
    if restart.train_metrics is not None:
        est._metrics["train"] = restart.train_metrics
    schedule.scored_ntrees = restart.ntrees
    schedule.first_scoring = schedule.last_start = time.monotonic()
    if valid is not None:
        schedule.valid_F = valid.replayed
    return restart.ntrees


def _check_response_for(dist_name, spec):
    summary = spec.response_summary
    if dist_name in ("poisson", "tweedie") and summary.get("min", 0) < 0:
        raise ValueError(f"response {spec.y!r} has negative values: the {dist_name} distribution needs y >= 0")
    if dist_name == "gamma" and summary.get("min", 1) <= 0:
        raise ValueError(f"response {spec.y!r} has values <= 0: the gamma distribution needs y > 0")
    if dist_name == "quasibinomial" and not (summary.get("min") == 0 and summary.get("max") == 1):
        raise ValueError(f"quasibinomial needs a numeric 0/1 response; {spec.y!r} ranges over "
                         f"[{summary.get('min')}, {summary.get('max')}]")


def _f0_partial(chunk, power):
    """Weighted sums every non-quantile f0 formula needs (spec gbm.md §4), one row each."""
    y, w = chunk["y"], chunk["w"]
    o = chunk["offset"] if chunk["offset"] is not None else np.zeros_like(y)
    ok = (w > 0) & ~np.isnan(y)
    y, w, o = np.where(ok, y, 0.0), np.where(ok, w, 0.0), np.where(ok, o, 0.0)
    p = 1.0 / (1.0 + np.exp(-o))
    return np.array([w.sum(), (w * (y - o)).sum(), (w * y).sum(), (w * np.exp(o)).sum(),
                     (w * y * np.exp(-o)).sum(), (w * (y - p)).sum(), (w * p * (1 - p)).sum(),
                     (w * y * np.exp(o * (1 - power))).sum(), (w * np.exp(o * (2 - power))).sum(),
                     float(np.any(o != 0))])


def _sum_arrays(*parts):
    return np.sum(parts, axis=0)


def _initial_value(ex, data, dist, nclasses, K, p) -> float:
    """H2O's f0 (spec gbm.md §4): one reduction; the median/quantile ones from the response."""
    if K > 1:
        return 0.0
    if dist in D.QUANTILE_LEAVES:
        return _quantile_initial_value(ex, data, dist, p["quantile_alpha"])
    parts = ex.map(_f0_partial, data.chunks, args=(p["tweedie_power"],), name="gbm-f0")
    sw, swd, swy, swe, swye, swyp, swpp, swt1, swt2, any_offset = ex.gather(
        ex.reduce(_sum_arrays, parts, name="gbm-f0-sum"))
    if dist == D.GAUSSIAN:
        return float(swd / sw)
    if dist in (D.BERNOULLI, D.MULTINOMIAL, D.QUASIBINOMIAL) and not 0.0 < swy / sw < 1.0:
        raise H2OValueError("Response cannot be constant: every row with a positive weight has the same class; "
                            "give rows of both classes a positive weight")
    if dist in (D.BERNOULLI, D.QUASIBINOMIAL):
        if any_offset:
            return float(swyp / swpp)
        mean = swy / sw
        return float(np.log(mean / (1.0 - mean)))
    if dist == D.MULTINOMIAL:  # two classes: one tree for class 0
        mean = swy / sw
        return float(-0.5 * np.log(mean / (1.0 - mean)))
    if dist == D.POISSON:
        return float(D._log(swy / swe))
    if dist == D.GAMMA:
        return float(D._log(swye / sw))
    return float(D._log(swt1 / swt2))  # tweedie


def _response_minus_offset(chunk):
    o = chunk["offset"] if chunk["offset"] is not None else np.zeros(chunk["n"])
    return QL.sorted_groups(np.zeros(chunk["n"], dtype=np.int64), chunk["y"] - o, chunk["w"], 1)


def _quantile_initial_value(ex, data, dist, quantile_alpha) -> float:
    """f0 of laplace/huber (weighted median of y − offset) and quantile (its α-quantile)."""
    parts = ex.map(_response_minus_offset, data.chunks, name="gbm-response")
    return float(QL.group_quantiles(ex, parts, quantile_alpha if dist == D.QUANTILE else 0.5)[0])


def _build_iteration(ex, t, data, states, dist, nclasses, K, tree_seed, lr, p, gp):
    delta = 1.0
    if dist == D.HUBER:
        delta = _huber_delta(ex, data, states, p["huber_alpha"])
    inputs = ex.map(
        _tree_inputs, data.chunks, states, data.starts,
        args=(dist, nclasses, K, tree_seed, p["sample_rate"], p["sample_rate_per_class"], p["tweedie_power"],
              p["quantile_alpha"], delta), name=f"gbm-t{t}-inputs")
    tree_rng = np.random.default_rng(tree_seed)
    tree_cols = choose_tree_columns(data.strategy.n_features, p["col_sample_rate_per_tree"], tree_rng)
    row = []
    for k in range(K):
        if K > 1 and not _class_present(data, k):
            row.append(None)
            continue
        builder, last = _grow(ex, t, k, data, inputs, gp, tree_rng, tree_cols)
        values = _leaf_values(ex, dist, builder, data, states, last, k, lr, nclasses, p, delta)
        tree = builder.finish(values)
        node_values = _training_leaf_values(tree, p, k, t)
        states = ex.map(_update, states, last, args=(k, node_values), name=f"gbm-t{t}-c{k}-update")
        row.append(tree)
    return states, row


def _training_leaf_values(tree, p, k, t) -> np.ndarray:
    """Leaf values added to the training scores: with ``pred_noise_bandwidth`` each leaf's value
    is scaled by (1 + N(0,1)·bandwidth), one draw per leaf seeded from (seed, class, tree) as
    H2O does (spec gbm.md §8.5); the stored tree keeps the plain values."""
    values = tree.nodes["value"].astype(np.float64)
    bandwidth = p["pred_noise_bandwidth"]
    if bandwidth <= 0:
        return values
    mix = ((0xDECAF + p["seed"]) * (0xFAAAAAAB + k * p["ntrees"] + t)) % 2**63
    noise = np.random.default_rng(mix).standard_normal(len(values))
    return values * (1.0 + noise * bandwidth)


def _class_present(data, k) -> bool:
    return data.class_counts is None or data.class_counts[k] > 0


def _grow(ex, t, k, data, inputs, gp, rng, tree_cols):
    strategy = data.strategy
    builder = strategy.new_builder(gp, rng, tree_cols)
    plan = builder.plan(first=True)
    last = [None] * len(data.chunks)
    level = 0
    while plan is not None:
        results = ex.map(_level, inputs, last, args=(k, plan, data.shared_strategy),
                         name=f"gbm-t{t}-c{k}-level{level}")
        combined = ex.gather(ex.reduce(strategy.combine, results, name=f"gbm-t{t}-c{k}-level{level}-sum"))
        plan = strategy.decide(builder, combined)
        last = results
        level += 1
    return builder, last


def _leaf_values(ex, dist, builder, data, states, last, k, lr, nclasses, p, delta):
    stats = builder.leaf_stats()
    gammas = None
    if dist in D.QUANTILE_LEAVES:
        gammas = _quantile_leaf_gammas(ex, dist, data, states, last, k, len(stats), p["quantile_alpha"], delta)
    cap = min(float(p["max_abs_leafnode_pred"]), float(np.finfo(np.float32).max))
    return leaf_values(dist, stats, lr, nclasses, cap, gammas)


def _quantile_leaf_gammas(ex, dist, data, states, last, k, n_nodes, alpha, delta):
    parts = ex.map(_leaf_residual_stats, data.chunks, states, last, args=(k, n_nodes), name="gbm-leaf-residuals")
    return QL.leaf_gammas(ex, dist, parts, alpha, delta)


def _abs_residuals(chunk, F):
    offset = chunk["offset"]
    f = F[:, 0] if offset is None else F[:, 0] + offset
    r = np.abs(chunk["y"] - f)
    return QL.sorted_groups(np.zeros(len(r), dtype=np.int64), np.where(np.isfinite(r), r, np.nan), chunk["w"], 1)


def _huber_delta(ex, data, states, huber_alpha) -> float:
    """Huber's δ of the iteration: the weighted huber_alpha-quantile of the finite |y − F − offset|."""
    parts = ex.map(_abs_residuals, data.chunks, states, name="gbm-huber-delta")
    return float(QL.group_quantiles(ex, parts, huber_alpha)[0])


def _prepare_valid(ex, spec, data, scorer, restart=None):
    """The validation frame binned with the training bins, persisted like the training data;
    after a checkpoint also its scores from the checkpoint's trees."""
    from daskml_h2o.models.predict import check_test_frame
    check_test_frame(scorer, spec.validation_frame)
    layout = data.layout
    raw = persist_training_chunks(spec.validation_frame, layout, name="gbm-valid", executor=ex)
    keep = np.array([layout.columns.index(c) for c in data.used.columns])
    chunks = ex.durable(_prepare, raw, args=(data.strategy, keep), name="gbm-valid-prepare")
    ex.wait(chunks)
    replayed = None
    if restart is not None:
        replayed = ex.durable(replay_valid_scores, raw, args=(keep, restart.f0, scorer.K, restart.trees),
                              name="gbm-valid-replay")
        ex.wait(replayed)
    nrows = list(raw.nrows)
    raw.release()
    return _Data(chunks, nrows, layout, data.strategy, data.used, replayed)

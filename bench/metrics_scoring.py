"""Cost of metrics during training: ``compute_metrics`` on binomial predictions, and the
total time a GBM fit spends in ``gbm/scoring.py`` (cProfile cumulative). Prints seconds.

    PYTHONPATH=. python3 bench/metrics_scoring.py --rows 800000
"""
import argparse
import cProfile
import pstats
import time

import numpy as np
import pandas as pd


def time_compute_metrics(n, repeats):
    from daskml_h2o.models.metrics import compute_metrics, local_reductions
    rng = np.random.default_rng(0)
    p1 = rng.random(n)
    y = (rng.random(n) < p1).astype(np.float64)
    w = np.ones(n)
    preds = np.stack([1 - p1, p1], axis=1)
    out = {}
    for label, gains in (("full", True), ("history-only", False)):
        kwargs = {} if gains else {"gains_lift": False}
        try:
            with local_reductions():
                compute_metrics("binomial", y, preds, weights=w, **kwargs)  # compile / warm
        except TypeError:
            continue  # before the gains_lift switch existed
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            with local_reductions():
                compute_metrics("binomial", y, preds, weights=w, **kwargs)
            best = min(best, time.perf_counter() - start)
        out[label] = best
    return out


def gbm_scoring_time(n, ntrees, interval):
    import dask.dataframe as dd

    import daskml_h2o as h2o
    from daskml_h2o.estimators import H2OGradientBoostingEstimator
    rng = np.random.default_rng(42)
    X = rng.standard_normal((n, 28))
    logit = X[:, :14] @ rng.standard_normal(14) * 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(28)])
    df["label"] = pd.Categorical(y.astype(str), categories=["0", "1"])
    h2o.init(nthreads=2, processes=False, verbose=False)
    h2o.no_progress()
    fr = h2o.H2OFrame(dd.from_pandas(df, npartitions=2).persist())
    params = dict(ntrees=ntrees, max_depth=5, learn_rate=0.1, min_rows=10, seed=42, score_tree_interval=interval)
    H2OGradientBoostingEstimator(**params).train(x=list(df.columns[:-1]), y="label", training_frame=fr)  # warm
    model = H2OGradientBoostingEstimator(**params)
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    model.train(x=list(df.columns[:-1]), y="label", training_frame=fr)
    prof.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(prof)
    cum = {}
    for (path, _, func), row in stats.stats.items():
        if path.endswith("gbm/scoring.py") and func in ("score_model", "_score", "final_score"):
            cum[func] = cum.get(func, 0.0) + row[3]
    h2o.shutdown()
    return total, cum, len(model.scoring_history()), model._metrics["train"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=800_000)
    ap.add_argument("--ntrees", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--score-tree-interval", type=int, default=0,
                    help="0: the time-based schedule (cheaper scoring then scores more often)")
    a = ap.parse_args()
    for label, s in time_compute_metrics(a.rows, a.repeats).items():
        print("compute_metrics binomial %d rows (%s): %.3f s" % (a.rows, label, s))
    total, cum, nscored, gains = gbm_scoring_time(a.rows, a.ntrees, a.score_tree_interval)
    print("GBM fit %d rows x 28, %d trees: %.2f s; scorings %d; score_model cum %.3f s (%.3f s a scoring);"
          " final_score cum %.3f s" % (a.rows, a.ntrees, total, nscored, cum.get("score_model", 0),
                                       cum.get("score_model", 0) / max(nscored, 1), cum.get("final_score", 0)))
    print(gains.gains_lift())
    print("lift_top_group", gains["lift_top_group"], "AUC", gains.auc(), "logloss", gains.logloss())


if __name__ == "__main__":
    main()

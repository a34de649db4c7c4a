"""Threads or processes for the embedded cluster: the same import + describe + GBM fit on a
LocalCluster of one multi-threaded worker (in-process) and of one single-threaded worker
process per core, each in a fresh process pinned to the same cores.

    python bench/cluster_mode.py --rows 2000000 --cores 2
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def run(path, cores, processes):
    import daskml_h2o as h2o
    from daskml_h2o.estimators import H2OGradientBoostingEstimator
    h2o.init(nthreads=cores, processes=processes, verbose=False)
    h2o.no_progress()
    out = {}
    start = time.perf_counter()
    fr = h2o.import_file(path)
    fr.describe()
    out["import_describe_s"] = time.perf_counter() - start
    numeric = [c for c, t in fr.types.items() if t in ("int", "real")]
    y, x = numeric[0], [c for c in fr.names if c != numeric[0]]
    sample = fr[fr.runif(seed=1) < 0.1, :]
    start = time.perf_counter()
    H2OGradientBoostingEstimator(ntrees=20, max_depth=5, seed=1).train(x=x, y=y, training_frame=sample)
    out["gbm_s"] = time.perf_counter() - start
    h2o.shutdown()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    csv_path, _ = _common.mixed_data(args.rows)
    rows = []
    for label, processes in (("threads (1 worker)", False), ("processes (1 per core)", True)):
        res = _common.run_measured(run, csv_path, args.cores, processes, cores=args.cores, timeout=3600)
        value = res.get("value") or {}
        print(label, res["ok"], value, res.get("error", ""), flush=True)
        rows.append({"layout": label, "import + describe s": _common.fmt_seconds(value.get("import_describe_s")),
                     "GBM (20 trees, 10% sample) s": _common.fmt_seconds(value.get("gbm_s")),
                     "peak GB": _common.fmt_gb(res.get("peak_rss"))})
    print(_common.machine_note(args.cores))
    print(_common.markdown_table(rows, list(rows[0])))


if __name__ == "__main__":
    main()

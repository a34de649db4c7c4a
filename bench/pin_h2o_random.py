"""Pin real H2O's random draws (runif, split_frame, fold columns) for tests/test_pcg.py.

Run: ``python3 bench/pin_h2o_random.py > /tmp/pins.py`` with the ``h2o`` package
installed (Java needed); it starts its own 1-thread H2O JVM, prints ``PINS = {...}``
(Python literals that tests/test_pcg.py holds verbatim), and shuts the JVM down.
"""
import os
import pprint
import sys

import numpy as np

from _common import own_h2o

N_ROWS = 100
SEEDS = [42, 7, 12345]
# seed + 0 makes PCG's first int Integer.MIN_VALUE: kfold_column's row 0 is then
# Math.abs(MIN_VALUE) % 3 == -2 in Java (found by inverting PCG's output step)
MIN_VALUE_SEED = 4787696381903850


def _frame_columns():
    """Columns of the pinned frame: a row id, a 3-level enum, an int with NA."""
    rng = np.random.default_rng(0)
    cls = rng.choice(["a", "b", "c"], size=N_ROWS, p=[0.5, 0.3, 0.2])
    # int classes 2, 5, 9 (sorted distinct values give class indices 0, 1, 2) and NAs
    ints = rng.choice([2.0, 5.0, 9.0, np.nan], size=N_ROWS, p=[0.4, 0.3, 0.2, 0.1])
    return {"id": list(range(N_ROWS)), "cls": [str(c) for c in cls],
            "k": [None if np.isnan(v) else int(v) for v in ints]}


def _column(frame):
    """One column of an H2OFrame as a list of Python numbers."""
    return [float(v) for v in frame.as_data_frame(use_pandas=True).iloc[:, 0]]


def _ints(values):
    return [int(v) for v in values]


def pin(h2o):
    cols = _frame_columns()
    fr = h2o.H2OFrame(cols, column_types={"id": "int", "cls": "enum", "k": "int"})
    out = {"h2o_version": h2o.__version__, "n_rows": N_ROWS,
           "cls": cols["cls"], "k": cols["k"]}
    for seed in SEEDS:
        u = np.array(_column(fr.runif(seed)))
        scaled = u * 2.0 ** 24
        assert np.all(scaled == np.round(scaled)), "runif values are not k / 2**24"
        out[f"runif_{seed}_times_2pow24"] = _ints(scaled)
    # Rapids carries the seed as a double: 2**55 + 5 arrives as 2**55 + 8
    out["runif_2pow55plus5_times_2pow24"] = _ints(np.array(_column(fr.runif(2 ** 55 + 5))) * 2.0 ** 24)
    first, _ = fr.split_frame(ratios=[0.6], seed=42)
    out["split_0.6_seed42_first"] = _ints(_column(first["id"]))
    parts = fr.split_frame(ratios=[0.3, 0.3], seed=7)
    out["split_0.3_0.3_seed7"] = [_ints(_column(p["id"])) for p in parts]
    out["kfold_3_seed42"] = _ints(_column(fr.kfold_column(n_folds=3, seed=42)))
    out["kfold_5_seed12345"] = _ints(_column(fr.kfold_column(n_folds=5, seed=12345)))
    out["kfold_3_min_value_seed"] = _ints(_column(fr.kfold_column(n_folds=3, seed=MIN_VALUE_SEED)))
    out["modulo_3"] = _ints(_column(fr.modulo_kfold_column(n_folds=3)))
    # H2OFrame.stratified_kfold_column stratifies a zero column made from the frame
    # (AstStratifiedKFold passes makeZero() on): every row is "class 0"
    out["stratified_kfold_column_cls_3_seed42"] = _ints(_column(
        fr["cls"].stratified_kfold_column(n_folds=3, seed=42)))
    out["stratified_kfold_column_cls_4_seed7"] = _ints(_column(
        fr["cls"].stratified_kfold_column(n_folds=4, seed=7)))
    # the real stratification: cross-validation with fold_assignment="Stratified"
    out["cv_stratified_cls_3_seed42"] = _cv_folds(h2o, fr, "cls", 3, 42)
    out["cv_stratified_cls_4_seed7"] = _cv_folds(h2o, fr, "cls", 4, 7)
    out["cv_stratified_k_3_seed42"] = _cv_folds(h2o, fr, "k", 3, 42)
    out["cv_random_cls_3_seed42"] = _cv_folds(h2o, fr, "cls", 3, 42, "Random")
    return out


def _cv_folds(h2o, fr, y, nfolds, seed, scheme="Stratified"):
    """Fold of every row in a 1-tree GBM's cross-validation."""
    from h2o.estimators import H2OGradientBoostingEstimator
    gbm = H2OGradientBoostingEstimator(ntrees=1, max_depth=1, nfolds=nfolds, seed=seed,
                                       fold_assignment=scheme,
                                       keep_cross_validation_fold_assignment=True)
    gbm.train(x=["id"], y=y, training_frame=fr)
    return _ints(_column(gbm.cross_validation_fold_assignment()))


# java.util.Random draws, pinned from the JDK itself (H2O's grid RandomDiscrete uses it)
_JAVA_SOURCE = """
import java.util.Random;
public class PinJavaRandom {
  public static void main(String[] a) {
    for (long seed : new long[]{42L, 12345L, -7L}) {
      Random r = new Random(seed);
      StringBuilder b = new StringBuilder("" + seed);
      for (int bound : new int[]{10, 7, 16, 1, 1500000000, 3, 1073741825})
        for (int i = 0; i < 4; i++) b.append(" ").append(r.nextInt(bound));
      for (int i = 0; i < 3; i++) b.append(" ").append(r.nextInt());
      for (int i = 0; i < 3; i++) b.append(" ").append(r.nextLong());
      for (int i = 0; i < 3; i++) b.append(" ").append(Double.doubleToLongBits(r.nextDouble()));
      for (int i = 0; i < 3; i++) b.append(" ").append(Float.floatToIntBits(r.nextFloat()));
      for (int i = 0; i < 3; i++) b.append(" ").append(r.nextBoolean() ? 1 : 0);
      System.out.println(b);
    }
  }
}
"""


def pin_java_random():
    """{seed: [ints...]} in the draw order of _JAVA_SOURCE (doubles/floats as raw bits)."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "PinJavaRandom.java")
        with open(src, "w") as fh:
            fh.write(_JAVA_SOURCE)
        text = subprocess.run(["java", src], check=True, capture_output=True, text=True).stdout
    rows = [list(map(int, line.split())) for line in text.splitlines() if line.strip()]
    return {row[0]: row[1:] for row in rows}


def main():
    with own_h2o(nthreads=1, max_mem_size="2G") as h2o:
        h2o.no_progress()
        pins = pin(h2o)
    pins["java_random"] = pin_java_random()
    # the h2o client prints its own lines: the pins go to stdout as one block
    sys.stdout.write("\nPINS = " + pprint.pformat(pins, width=100, compact=True) + "\n")


if __name__ == "__main__":
    main()

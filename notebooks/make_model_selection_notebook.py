"""Writes notebooks/model_selection.ipynb: what an H2O user does around a model — cross-validation,
grid search, checkpoints, saving and loading, and the scikit-learn wrappers — with
``import daskml_h2o as h2o`` on the data that ships with the package.

    python notebooks/make_model_selection_notebook.py
"""
import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

CELLS = [
    ("md", """# Model selection with daskml_h2o

Cross-validation, grid search, checkpoint restarts, model files and the scikit-learn API — the H2O
code users know, run on Dask. Data: the prostate and MNIST samples that ship with the package."""),
    ("code", """import importlib.util, os, sys, tempfile
if importlib.util.find_spec("daskml_h2o") is None:  # running from a source checkout
    sys.path.insert(0, os.path.abspath(".."))
import numpy as np
import daskml_h2o as h2o
from daskml_h2o.estimators import H2OGradientBoostingEstimator, H2ODeepLearningEstimator
from daskml_h2o.grid import H2OGridSearch

h2o.init(nthreads=2, processes=False)
h2o.no_progress()
prostate = h2o.import_file(h2o.datasets.path("prostate"))
prostate["CAPSULE"] = prostate["CAPSULE"].asfactor()
train, test = prostate.split_frame(ratios=[0.8], seed=1)
x = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]"""),
    ("md", """## Cross-validation

`nfolds=5` trains five fold models (side by side on the cluster) and the main model on all rows.
The cross-validated metrics are those of the pooled holdout predictions."""),
    ("code", """gbm_cv = H2OGradientBoostingEstimator(ntrees=20, max_depth=3, nfolds=5, seed=42,
                                      keep_cross_validation_predictions=True)
gbm_cv.train(x=x, y="CAPSULE", training_frame=train)
print("train AUC", round(gbm_cv.auc(), 4), " xval AUC", round(gbm_cv.auc(xval=True), 4))
gbm_cv.cross_validation_metrics_summary()"""),
    ("code", """holdout = gbm_cv.cross_validation_holdout_predictions()
print(holdout.head(5))
print([m.model_id for m in gbm_cv.cross_validation_models()])"""),
    ("md", """## Grid search

A Cartesian grid over two GBM parameters, each model cross-validated, sorted by cross-validated AUC."""),
    ("code", """grid = H2OGridSearch(H2OGradientBoostingEstimator(ntrees=20, nfolds=3, seed=42),
                     hyper_params={"max_depth": [2, 3, 4], "learn_rate": [0.05, 0.2]},
                     grid_id="prostate_gbm_grid")
grid.train(x=x, y="CAPSULE", training_frame=train)
by_auc = grid.get_grid(sort_by="auc", decreasing=True)
print(by_auc)
best = by_auc.models[0]
print("best:", best.model_id, {k: best.actual_params[k] for k in ("max_depth", "learn_rate")},
      "test AUC", round(best.model_performance(test).auc(), 4))"""),
    ("md", """A random grid draws combinations until `max_models` (or the time budget) is reached:"""),
    ("code", """random_grid = H2OGridSearch(H2OGradientBoostingEstimator, grid_id="prostate_random_grid",
                            hyper_params={"max_depth": [2, 3, 4, 5], "learn_rate": [0.01, 0.05, 0.1, 0.2],
                                          "sample_rate": [0.7, 0.85, 1.0]},
                            search_criteria={"strategy": "RandomDiscrete", "max_models": 4, "seed": 7})
random_grid.train(x=x, y="CAPSULE", training_frame=train, ntrees=20, seed=1)
print(random_grid.get_grid(sort_by="logloss"))"""),
    ("md", """## Checkpoints

A GBM continued from a checkpoint adds trees up to the new `ntrees`; it equals the model trained in
one go with the same seed."""),
    ("code", """first = H2OGradientBoostingEstimator(ntrees=10, max_depth=3, seed=5)
first.train(x=x, y="CAPSULE", training_frame=train)
more = H2OGradientBoostingEstimator(ntrees=25, max_depth=3, seed=5, checkpoint=first.model_id)
more.train(x=x, y="CAPSULE", training_frame=train)
one_go = H2OGradientBoostingEstimator(ntrees=25, max_depth=3, seed=5)
one_go.train(x=x, y="CAPSULE", training_frame=train)
same = (more.predict(test)["p1"] == one_go.predict(test)["p1"]).all()
print("trees:", first.ntrees_actual, "->", more.ntrees_actual, "; equal to one go:", same)"""),
    ("md", """## Saving and loading

Model files hold only arrays and JSON (no pickled code), are written atomically, and are refused
when corrupt or from a newer version. `force=False` never overwrites."""),
    ("code", """folder = tempfile.mkdtemp()
path = h2o.save_model(more, path=folder, force=True)
h2o.remove(more)
loaded = h2o.load_model(path)
print(path, "->", loaded.model_id)
print("same predictions:", (loaded.predict(test)["p1"] == one_go.predict(test)["p1"]).all())
print(h2o.get_model(loaded.model_id).auc())"""),
    ("md", """## Deep Learning on MNIST (booklet §6.2–6.5)

The booklet's steps on the shipped 5,000-row MNIST sample, with fewer epochs."""),
    ("code", """mnist = h2o.import_file(h2o.datasets.path("mnist_5k"))
y = "C785"
mnist[y] = mnist[y].asfactor()
mtrain, mtest = mnist.split_frame(ratios=[0.8], seed=42)
px = mtrain.names[0:784]
model_cv = H2ODeepLearningEstimator(distribution="multinomial", activation="RectifierWithDropout",
                                    hidden=[32, 32, 32], input_dropout_ratio=0.2, sparse=True, l1=1e-5,
                                    epochs=2, nfolds=3, seed=1)
model_cv.train(x=px, y=y, training_frame=mtrain)
print("cross-validated MSE", model_cv.mse(xval=True))"""),
    ("code", """dl_grid = H2OGridSearch(H2ODeepLearningEstimator,
                        hyper_params={"hidden": [[32, 32], [32, 16, 8], [100]], "l1": [1e-4, 1e-3]})
dl_grid.train(x=px, y=y, distribution="multinomial", epochs=2, training_frame=mtrain, validation_frame=mtest,
              score_interval=2, stopping_rounds=3, stopping_tolerance=0.05, stopping_metric="misclassification",
              seed=1)
for m in dl_grid:
    print(m.model_id, "mse:", round(m.mse(valid=True), 4))"""),
    ("code", """best_dl = dl_grid.get_grid(sort_by="logloss").models[0]
params = {k: best_dl.actual_params[k] for k in ("hidden", "l1")}
model_chkp = H2ODeepLearningEstimator(checkpoint=best_dl, distribution="multinomial", epochs=4, seed=1,
                                      stopping_rounds=3, stopping_tolerance=0.05,
                                      stopping_metric="misclassification", score_interval=2, **params)
model_chkp.train(x=px, y=y, training_frame=mtrain, validation_frame=mtest)
print("epochs", best_dl.scoring_history()["epochs"].iloc[-1], "->", model_chkp.scoring_history()["epochs"].iloc[-1])"""),
    ("md", """## The scikit-learn API

The same algorithms as scikit-learn estimators: in a `Pipeline` and under `GridSearchCV`."""),
    ("code", """import pandas as pd
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from daskml_h2o.sklearn import GBMClassifier

df = pd.read_csv(h2o.datasets.path("prostate"))
X, yy = df[x], df["CAPSULE"]
X_train, X_test, y_train, y_test = train_test_split(X, yy, test_size=0.25, random_state=0)
pipe = make_pipeline(StandardScaler(), GBMClassifier(ntrees=20, max_depth=3, seed=1))
pipe.fit(X_train, y_train)
print("pipeline accuracy", round(pipe.score(X_test, y_test), 4))
search = GridSearchCV(GBMClassifier(ntrees=10, seed=1), {"max_depth": [2, 4]}, cv=2)
search.fit(X_train, y_train)
print(search.best_params_)"""),
]


def main():
    nb = new_notebook()
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, os.path.join(HERE, "model_selection.ipynb"))


if __name__ == "__main__":
    main()

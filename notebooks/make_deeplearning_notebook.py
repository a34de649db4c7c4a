"""Writes notebooks/deeplearning.ipynb: the Deep Learning booklet's Python walk-through (§4-§7) run
with ``import daskml_h2o as h2o``; only the data paths differ from the booklet.

    python notebooks/make_deeplearning_notebook.py
"""
import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

CELLS = [
    ("md", """# Deep Learning with daskml_h2o

The Python examples of H2O's *Deep Learning with H2O* booklet, run on Dask with `import daskml_h2o as h2o`.
Only the data paths changed (and a `seed` so that the walk-through reads the same every run): the
MNIST example uses the 5,000-row sample that ships with the package, the ECG example synthetic
heartbeats of the same shape as the booklet's files."""),
    ("code", """import importlib.util, os, sys
if importlib.util.find_spec("daskml_h2o") is None:  # running from a source checkout
    sys.path.insert(0, os.path.abspath(".."))
import numpy as np
import pandas as pd
import daskml_h2o as h2o
from daskml_h2o.deeplearning.estimator import H2ODeepLearningEstimator, H2OAutoEncoderEstimator

h2o.init(nthreads=2, processes=False)"""),
    ("md", """## 5.2.2 Quantile regression: the 80th percentile of the petal length (iris)"""),
    ("code", """iris = pd.read_csv(h2o.datasets.path("iris"))
iris.columns = ["sepal_len", "sepal_wid", "petal_len", "petal_wid", "class"]
iris.to_csv("iris_wheader.csv", index=False)   # the booklet's iris_wheader.csv

train = h2o.import_file("iris_wheader.csv")
splits = train.split_frame(ratios=[0.75], seed=1234)
dl = H2ODeepLearningEstimator(distribution="quantile", quantile_alpha=0.8, seed=1)
dl.train(x=range(0, 2), y="petal_len", training_frame=splits[0])
print(dl.predict(splits[1]))"""),
    ("md", """## 6 MNIST digit classification

The booklet imports the 60,000-row MNIST training file; here the shipped 5,000-row sample, split 80/20."""),
    ("code", """data = h2o.import_file(h2o.datasets.path("mnist_5k"))
train, test = data.split_frame(ratios=[0.8], seed=42)
print(train.dim, test.dim)   # the booklet calls train.describe() here
train.head(5, cols=8)"""),
    ("md", """### 6.2 Trial run"""),
    ("code", """y = "C785"
x = train.names[0:784]
train[y] = train[y].asfactor()
test[y] = test[y].asfactor()

model = H2ODeepLearningEstimator(
    distribution="multinomial",
    activation="RectifierWithDropout",
    hidden=[32, 32, 32],
    input_dropout_ratio=0.2,
    sparse=True,
    l1=1e-5,
    epochs=10,
    seed=1)
model.train(x=x, y=y, training_frame=train, validation_frame=test)"""),
    ("md", """### 6.2.2 Extracting and handling the results"""),
    ("code", """model.params["activation"]"""),
    ("code", """model"""),
    ("code", """model.model_performance(train=True)"""),
    ("code", """model.model_performance(valid=True)"""),
    ("code", """model.mse(valid=True)"""),
    ("code", """pred = model.predict(test)
pred.head()"""),
    ("md", """### 6.3.1 Variable importances (Gedeon)"""),
    ("code", """model_vi = H2ODeepLearningEstimator(
    distribution="multinomial",
    activation="RectifierWithDropout",
    hidden=[32, 32, 32],
    input_dropout_ratio=0.2,
    sparse=True,
    l1=1e-5,
    epochs=10,
    variable_importances=True,
    seed=1)
model_vi.train(x=x, y=y, training_frame=train, validation_frame=test)
model_vi.varimp(use_pandas=True).head(10)"""),
    ("md", """The scoring history has H2O's columns; cross-validation (`nfolds`), grid search and checkpoint
restarts (§6.2.1, §6.4, §6.5) come in a later release and say "not supported yet" today."""),
    ("code", """model.scoring_history()"""),
    ("code", """try:
    H2ODeepLearningEstimator(hidden=[32, 32, 32], epochs=10, nfolds=5).train(x=x, y=y, training_frame=train)
except ValueError as err:
    print(err)"""),
    ("md", """## 7.2 Anomaly detection with a deep autoencoder

Twenty "good" heartbeats to train on; the test set appends three "bad" ones. The autoencoder learns to
reconstruct the good pattern, so the bad beats have the largest reconstruction error."""),
    ("code", """rng = np.random.default_rng(7)
t = np.linspace(0, 2 * np.pi, 210)
beat = np.exp(-((t - 3) ** 2) * 20) - 0.3 * np.exp(-((t - 3.6) ** 2) * 8) + 0.2 * np.sin(t)
good = beat[None, :] * rng.uniform(0.9, 1.1, (20, 1)) + 0.02 * rng.normal(size=(20, 210))
bad = np.roll(beat, 60)[None, :] * rng.uniform(0.9, 1.1, (3, 1)) + 0.02 * rng.normal(size=(3, 210))
pd.DataFrame(good).to_csv("ecg_discord_train.csv", header=False, index=False)
pd.DataFrame(np.vstack([good, bad])).to_csv("ecg_discord_test.csv", header=False, index=False)

train_ecg = h2o.import_file("ecg_discord_train.csv", header=-1, sep=",")
test_ecg = h2o.import_file("ecg_discord_test.csv", header=-1, sep=",")"""),
    ("code", """anomaly_model = H2OAutoEncoderEstimator(
    activation="Tanh",
    hidden=[50, 50, 50],
    sparse=True,
    l1=1e-4,
    epochs=100,
    seed=1)
anomaly_model.train(x=train_ecg.names, training_frame=train_ecg)

recon_error = anomaly_model.anomaly(test_ecg)
recon_error.as_data_frame().tail(5)"""),
    ("code", """errors = recon_error.as_data_frame()["Reconstruction.MSE"]
print("three largest reconstruction errors at rows", sorted(errors.nlargest(3).index))"""),
    ("code", """test_recon = anomaly_model.predict(test_ecg)
test_recon.head()"""),
    ("md", """### 7.2.2 Unsupervised pretraining with supervised fine-tuning"""),
    ("md", """A Tanh autoencoder: with Rectifier units the reconstruction layer is a Rectifier too and its
error is applied without the derivative (as in H2O), which lets a Rectifier autoencoder blow up."""),
    ("code", """ae = H2OAutoEncoderEstimator(activation="Tanh", hidden=[32], epochs=2, seed=1)
ae.train(x=x, training_frame=train)
fine = H2ODeepLearningEstimator(pretrained_autoencoder=ae, activation="Tanh", hidden=[32], epochs=3, seed=1)
fine.train(x=x, y=y, training_frame=train, validation_frame=test)
fine.mse(valid=True)"""),
    ("code", """for f in ("iris_wheader.csv", "ecg_discord_train.csv", "ecg_discord_test.csv"):
    os.remove(f)
h2o.shutdown()"""),
]


def build():
    nb = new_notebook()
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


if __name__ == "__main__":
    path = os.path.join(HERE, "deeplearning.ipynb")
    nbformat.write(build(), path)
    print(f"wrote {path}")

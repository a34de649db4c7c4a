"""Writes the project's notebooks from cell lists, so their source stays reviewable as Python.

Run ``python notebooks/make_notebooks.py``; the tests execute every ``notebooks/*.ipynb``.
"""
import os

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))

QUICKSTART = [
    ("md", "# daskml_h2o quickstart\n\nH2O's Python API on Dask: start the embedded cluster, import the "
           "shipped prostate data, look at it and split it the way H2O does."),
    ("code", "import daskml_h2o as h2o\nh2o.init()"),
    ("code", "prostate = h2o.import_file(h2o.datasets.path('prostate'))\n"
             "prostate['CAPSULE'] = prostate['CAPSULE'].asfactor()\n"
             "prostate.describe()"),
    ("code", "prostate.types"),
    ("code", "train, test = prostate.split_frame(ratios=[0.8], seed=1234)\n"
             "print(train.nrow, test.nrow)\n"
             "assert train.nrow + test.nrow == prostate.nrow"),
    ("code", "prostate['PSA'].mean(), prostate['AGE'].quantile(prob=[0.5])"),
    ("code", "prostate[prostate['AGE'] > 70, ['AGE', 'PSA', 'CAPSULE']].head()"),
    ("code", "h2o.cluster().shutdown()"),
]


GBM = [
    ("md", "# GBM walk-through\n\nH2O's GBM slides' example (`cars_gbm`), on the prostate data that ships "
           "with daskml_h2o: the same calls, `import daskml_h2o as h2o` instead of `import h2o`."),
    ("code", "import daskml_h2o as h2o\nfrom daskml_h2o.estimators import H2OGradientBoostingEstimator\nh2o.init()"),
    ("code", "prostate = h2o.import_file(h2o.datasets.path('prostate'))\n"
             "response = 'CAPSULE'\n"
             "prostate[response] = prostate[response].asfactor()\n"
             "prostate['RACE'] = prostate['RACE'].asfactor()\n"
             "predictors = ['AGE', 'RACE', 'DPROS', 'DCAPS', 'PSA', 'VOL', 'GLEASON']\n"
             "train, valid = prostate.split_frame(ratios=[.8], seed=1234)"),
    ("code", "prostate_gbm = H2OGradientBoostingEstimator(seed=1234)\n"
             "prostate_gbm.train(x=predictors, y=response, training_frame=train, validation_frame=valid)\n"
             "prostate_gbm.auc(valid=True)"),
    ("md", "No need to handle categorical features: GBM splits on `RACE`'s levels natively."),
    ("code", "train_auc_gbm = prostate_gbm.model_performance(train).auc()\n"
             "test_auc_gbm = prostate_gbm.model_performance(valid).auc()\n"
             "assert train_auc_gbm > test_auc_gbm > 0.6\n"
             "train_auc_gbm, test_auc_gbm"),
    ("code", "prostate_gbm.scoring_history()"),
    ("code", "prostate_gbm.varimp(use_pandas=True)"),
    ("code", "pred = prostate_gbm.predict(valid)\npred.head()"),
    ("code", "prostate_gbm.predict_leaf_node_assignment(valid, type='Path').head(3)"),
    ("code", "prostate_gbm.confusion_matrix(valid=True)"),
    ("code", "prostate_gbm"),
    ("code", "h2o.cluster().shutdown()"),
]


def build(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                for kind, src in cells]
    return nb


def main():
    for name, cells in {"quickstart": QUICKSTART, "gbm": GBM}.items():
        nbformat.write(build(cells), os.path.join(HERE, f"{name}.ipynb"))


if __name__ == "__main__":
    main()

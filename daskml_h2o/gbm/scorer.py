"""The fitted GBM as a small picklable scorer: trees (record arrays), f0, the link, and the
column layout; plus leaf-node assignment and staged probabilities over frames."""
from __future__ import annotations

import numpy as np
import pandas as pd

from daskml_h2o.gbm import distributions as D
from daskml_h2o.gbm.tree import leaf_node_assignment, predict_raw

__all__ = ["GBMScorer", "leaf_assignment_frame", "staged_proba_frame"]


class GBMScorer:
    """Everything ``predict`` needs, numpy and plain Python only (see models/predict.py)."""

    def __init__(self, columns, types, domains, kind, response_domain, offset_column, distribution, nclasses, K, f0):
        self.columns, self.types, self.domains = list(columns), dict(types), dict(domains)
        self.kind, self.response_domain, self.offset_column = kind, response_domain, offset_column
        self.distribution, self.nclasses, self.K, self.f0 = distribution, nclasses, K, float(f0)
        self.trees = []  # one list of K trees (None for a class without rows) per iteration
        # categorical_encoding / balance_classes (data/encoding.py, data/balance.py): frames are
        # re-encoded before scoring (models/predict.py) and probabilities corrected in transform
        self.encoding = None
        self.balance = None

    @classmethod
    def start(cls, data, spec, distribution, nclasses, K, f0, params):
        used = data.used
        return cls(used.columns, used.types, used.domains, spec.kind, spec.domain, spec.offset_column,
                   distribution, nclasses, K, f0)

    @property
    def ntrees(self) -> int:
        return len(self.trees)

    def add_trees(self, row) -> None:
        self.trees.append(list(row))

    def truncated(self, ntrees: int) -> "GBMScorer":
        out = GBMScorer(self.columns, self.types, self.domains, self.kind, self.response_domain, self.offset_column,
                        self.distribution, self.nclasses, self.K, self.f0)
        out.trees = self.trees[:ntrees]
        out.encoding, out.balance = self.encoding, self.balance
        return out

    # raw scores (link space, f0 included, offset not)
    def link_scores(self, X, ntrees=None) -> np.ndarray:
        trees = self.trees if ntrees is None else self.trees[:ntrees]
        F = np.zeros((X.shape[0], self.K))
        F[:, 0] = self.f0
        for k in range(self.K):
            F[:, k] += predict_raw([row[k] for row in trees], X)
        return F

    def transform(self, F, offset=None) -> np.ndarray:
        """Link-space scores -> predictions (regression) or class probabilities (n, nclasses)."""
        if offset is not None:
            F = F + offset[:, None]
        dist = D.dist_code(self.distribution)
        if self.kind == "regression":
            return np.asarray(D.link_inv(dist, F[:, 0].copy()), dtype=np.float64)
        if self.K > 1:
            return self._corrected(D.softmax_rows(F))
        f = F[:, 0]
        if dist == D.MULTINOMIAL:  # two classes, one tree for class 0
            p0 = 1.0 / (1.0 + np.exp(np.clip(-2.0 * f, -700, 700)))
            return self._corrected(np.column_stack([p0, 1.0 - p0]))
        p1 = 1.0 / (1.0 + np.exp(np.clip(-f, -700, 700)))
        return self._corrected(np.column_stack([1.0 - p1, p1]))

    def _corrected(self, probs) -> np.ndarray:
        """balance_classes: back from the balanced class distribution to the training prior."""
        balance = getattr(self, "balance", None)
        if balance is None:
            return probs
        from daskml_h2o.data.balance import correct_probabilities
        return correct_probabilities(probs, balance.prior, balance.model_dist)

    def predict_raw(self, X, offset=None) -> np.ndarray:
        return self.transform(self.link_scores(X), offset)

    def variable_importances(self) -> list[float]:
        gains = np.zeros(len(self.columns), dtype=np.float32)
        for row in self.trees:
            for tree in row:
                if tree is None:
                    continue
                split = tree.nodes["feature"] >= 0
                np.add.at(gains, tree.nodes["feature"][split], tree.nodes["gain"][split].astype(np.float32))
        return [float(g) for g in gains]


def _leaf_partition(pdf, scorer, kind):
    from daskml_h2o.models.predict import adapt_partition
    X = adapt_partition(pdf, scorer)
    out = {}
    for t, row in enumerate(scorer.trees):
        for k, tree in enumerate(row if scorer.K > 1 else row[:1]):
            name = f"T{t + 1}.C{k + 1}"
            if tree is None:
                out[name] = np.full(len(pdf), None if kind == "Path" else -1, dtype=object if kind == "Path" else np.int64)
            else:
                out[name] = leaf_node_assignment(tree, X, kind)
    return pd.DataFrame(out, index=pdf.index)


def leaf_assignment_frame(model, frame, type="Path"):
    """H2O's ``predict_leaf_node_assignment``: one column per tree, ``T<t>.C<class>``."""
    from daskml_h2o.frame import H2OFrame
    from daskml_h2o.models.predict import check_test_frame
    if type not in ("Path", "Node_ID"):
        raise ValueError(f"type must be 'Path' or 'Node_ID', got {type!r}")
    scorer = model._model
    check_test_frame(scorer, frame)
    meta = _leaf_partition(frame._ddf._meta, scorer, type)
    ddf = frame._ddf.map_partitions(_leaf_partition, scorer, type, meta=meta)
    if type == "Path":
        ddf = ddf.map_partitions(lambda p: p.astype("category") if len(p.columns) else p, meta=meta.astype("category"))
        types = {c: "enum" for c in meta.columns}
    else:
        types = {c: "int" for c in meta.columns}
    return H2OFrame._from_dask(ddf, types)


def _staged_partition(pdf, scorer, names):
    from daskml_h2o.models.predict import adapt_partition
    X = adapt_partition(pdf, scorer)
    offset = None if scorer.offset_column is None else pdf[scorer.offset_column].to_numpy(np.float64)
    F = np.zeros((len(pdf), scorer.K))
    F[:, 0] = scorer.f0
    cols = {}
    for t, row in enumerate(scorer.trees):
        for k, tree in enumerate(row):
            if tree is not None:
                F[:, k] += predict_raw([tree], X)
        probs = scorer.transform(F, offset)
        ks = [1] if scorer.kind == "binomial" else range(scorer.nclasses)
        for k in ks:
            cols[names[(t, k)]] = probs[:, k]
    return pd.DataFrame(cols, index=pdf.index)


def staged_proba_frame(model, frame):
    """H2O's ``staged_predict_proba``: class probabilities after each tree, ``T<t>.C<class>``."""
    from daskml_h2o.frame import H2OFrame
    from daskml_h2o.models.predict import check_test_frame
    scorer = model._model
    if scorer.kind == "regression":
        raise ValueError("staged_predict_proba is only available for classification models")
    check_test_frame(scorer, frame)
    ks = [1] if scorer.kind == "binomial" else range(scorer.nclasses)
    names = {(t, k): f"T{t + 1}.C{k + 1 if scorer.kind != 'binomial' else 1}" for t in range(scorer.ntrees) for k in ks}
    meta = pd.DataFrame({n: pd.Series([], dtype="float64") for n in names.values()})
    ddf = frame._ddf.map_partitions(_staged_partition, scorer, names, meta=meta)
    return H2OFrame._from_dask(ddf, {c: "real" for c in meta.columns})

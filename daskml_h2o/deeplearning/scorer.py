"""The fitted Deep Learning model as a small picklable scorer (DataInfo + network state), the
model summary table, and the frames only Deep Learning returns: reconstruction, anomaly,
deepfeatures and exported weights/biases. Every frame is one ``map_partitions``, never a download.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from daskml_h2o.deeplearning import local_train as LT
from daskml_h2o.deeplearning.network import OUT_SOFTMAX
from daskml_h2o.models.tables import H2OTwoDimTable

__all__ = ["DLScorer", "reconstruction_frame", "anomaly_frame", "deepfeatures_frame", "matrix_frame",
           "autoencoder_metrics", "layer_statistics"]

_LOG_LINK = ("poisson", "gamma", "tweedie")


class DLScorer:
    """Everything ``predict`` needs (models/predict.py contract): numpy and plain Python only."""

    def __init__(self, layout, kind, datainfo, state, distribution, loss, params, prior=None, model_dist=None):
        self.columns = list(datainfo.columns)
        self.types = {c: layout.types[c] for c in self.columns}
        self.domains = {c: layout.domains[c] for c in self.columns if c in layout.domains}
        self.kind, self.response_domain = kind, layout.response_domain
        self.offset_column = layout.offset_column
        self.response = layout.y
        self.datainfo, self.state = datainfo, state
        self.distribution, self.loss = distribution, loss
        self.params = dict(params)
        self.prior, self.model_dist = prior, model_dist  # balance_classes correction
        self.varimp = None
        self.training_samples = 0

    # ------------------------------------------------------------- core passes
    def inputs(self, X):
        return self.datainfo.expand(X, training=False)

    def network_offset(self, offset):
        if offset is None:
            return None
        return LT.network_offset(np.nan_to_num(offset, nan=0.0), self.datainfo.resp_sub, self.datainfo.resp_mul)

    def outputs_to_predictions(self, out):
        """Network outputs -> probabilities (n, K) or regression predictions (n,)."""
        if self.kind in ("binomial", "multinomial"):
            probs = np.asarray(out, np.float64)
            if self.prior is not None:
                probs = probs * (self.prior / self.model_dist)[None, :]
                probs /= probs.sum(axis=1, keepdims=True)
            return probs
        f = self.datainfo.response_inverse(out[:, 0])
        if self.distribution in _LOG_LINK:
            f = np.minimum(np.exp(f), 1e19)
        if np.isnan(f).any():
            raise LT.DeepLearningInstabilityError()
        return f

    def predict_raw(self, X, offset=None):
        out = LT.predict(self.state, self.inputs(X), self.network_offset(offset))
        return self.outputs_to_predictions(out)

    def reconstruct(self, X):
        """Reconstruction in the original units: numerics un-normalised, categoricals raw."""
        Xe = self.inputs(X)
        rec = LT.predict(self.state, Xe)
        di = self.datainfo
        pos = di.num_pos
        rec[:, pos] = rec[:, pos] / di.num_mul[None, :] + di.num_sub[None, :]
        return rec

    # ------------------------------------------------------------- display
    def summary_table(self):
        return summary_table(self)


def layer_statistics(state, params):
    """Per weight layer: (mean_rate, rate_rms, momentum, mean_w, w_rms, mean_b, b_rms) (spec §10.5);
    the rms columns are standard deviations, as H2O reports them."""
    spec = state.spec
    rows = []
    eps = params.get("epsilon", 1e-8)
    for l in range(spec.n_layers):
        o, ob = spec.w_offsets, spec.b_offsets
        W = state.weights[o[l]:o[l + 1]].astype(np.float64)
        b = state.biases[ob[l]:ob[l + 1]]
        if params.get("adaptive_rate", True):
            eg2 = state.w_eg2[o[l]:o[l + 1]].astype(np.float64)
            edx2 = state.w_edx2[o[l]:o[l + 1]].astype(np.float64)
            rate = np.sqrt((edx2 + eps) / (eg2 + eps))
            mean_rate, rate_rms, mom = rate.mean(), rate.std(), 0.0
        else:
            n = state.samples
            mean_rate = params["rate"] * params["rate_decay"] ** l / (1.0 + params["rate_annealing"] * n)
            rate_rms = 0.0
            ramp = params["momentum_ramp"]
            mom = (params["momentum_start"] + (params["momentum_stable"] - params["momentum_start"]) * n / ramp
                   if n < ramp else params["momentum_stable"])
        # H2O's "*_rms" columns are the spread around the mean (standard deviations)
        rows.append((mean_rate, rate_rms, mom, W.mean(), W.std(), b.mean(), b.std()))
    return rows


def _layer_type(spec, l):
    names = {0: "Tanh", 1: "Rectifier", 2: "Maxout"}
    if l == spec.n_layers:
        return "Softmax" if spec.output == OUT_SOFTMAX else ("Linear" if spec.output == 1 else names[spec.activation])
    return names[spec.activation] + ("Dropout" if spec.dropout else "")


def summary_table(scorer):
    """H2O's "Status of Neuron Layers" table."""
    state, spec, p = scorer.state, scorer.state.spec, scorer.params
    stats = layer_statistics(state, p)
    rows = [[1, spec.units[0], "Input", spec.input_dropout_ratio * 100, None, None, None, None, None, None,
             None, None, None]]
    for l in range(spec.n_layers):
        drop = spec.hidden_dropout_ratios[l] * 100 if l < spec.n_hidden else None
        mr, rr, mom, mw, wr, mb, br = stats[l]
        rows.append([l + 2, spec.units[l + 1], _layer_type(spec, l + 1) if l < spec.n_hidden else
                     _layer_type(spec, spec.n_layers), drop, p.get("l1", 0.0), p.get("l2", 0.0), mr, rr, mom,
                     mw, wr, mb, br])
    n_params = spec.n_weights + spec.n_biases
    what = {"binomial": f"{len(scorer.response_domain or [])}-class classification",
            "multinomial": f"{len(scorer.response_domain or [])}-class classification",
            "regression": "regression", "unsupervised": "auto-encoder"}[scorer.kind]
    head = "" if scorer.response is None else f"predicting {scorer.response}, "
    size = n_params * 4 + spec.n_weights * 8
    desc = (f"{head}{what}, {scorer.distribution} distribution, {scorer.loss} loss, {n_params:,} weights/biases, "
            f"{size / 1024:.1f} KB, {scorer.training_samples:,} training samples, mini-batch size 1")
    return H2OTwoDimTable(table_header="Status of Neuron Layers", table_description=desc,
                          col_header=["layer", "units", "type", "dropout", "l1", "l2", "mean_rate", "rate_rms",
                                      "momentum", "mean_weight", "weight_rms", "mean_bias", "bias_rms"],
                          cell_values=rows)


# ------------------------------------------------------------------ frames

def _adapted(pdf, scorer):
    from daskml_h2o.models.predict import adapt_partition
    return adapt_partition(pdf, scorer)


def _check(scorer, frame):
    from daskml_h2o.models.predict import check_test_frame
    from daskml_h2o.models.validation import _frame_check
    frame = _frame_check(frame, "test_data")
    check_test_frame(scorer, frame)
    return frame


def _numeric_frame(ddf_meta, ddf):
    from daskml_h2o.frame import H2OFrame
    return H2OFrame._from_dask(ddf, {c: "real" for c in ddf_meta.columns})


def _reconstruct_part(pdf, scorer, names):
    return pd.DataFrame(scorer.reconstruct(_adapted(pdf, scorer)), columns=names, index=pdf.index)


def reconstruction_frame(scorer, frame):
    """Autoencoder ``predict``: one ``reconstr_<coef>`` column per expanded input."""
    frame = _check(scorer, frame)
    names = [f"reconstr_{c}" for c in scorer.datainfo.coef_names]
    meta = pd.DataFrame({n: pd.Series([], dtype="float64") for n in names})
    return _numeric_frame(meta, frame._ddf.map_partitions(_reconstruct_part, scorer, names, meta=meta))


def _anomaly_part(pdf, scorer, per_feature, names):
    Xe = scorer.inputs(_adapted(pdf, scorer))
    if per_feature:
        rec = LT.predict(scorer.state, Xe)
        return pd.DataFrame((rec - Xe) ** 2, columns=names, index=pdf.index)
    return pd.DataFrame({names[0]: LT.reconstruction_errors(scorer.state, Xe)}, index=pdf.index)


def anomaly_frame(scorer, frame, per_feature=False):
    """``Reconstruction.MSE`` per row, or ``reconstr_<coef>.SE`` per expanded input."""
    frame = _check(scorer, frame)
    names = ([f"reconstr_{c}.SE" for c in scorer.datainfo.coef_names] if per_feature else ["Reconstruction.MSE"])
    meta = pd.DataFrame({n: pd.Series([], dtype="float64") for n in names})
    return _numeric_frame(meta, frame._ddf.map_partitions(_anomaly_part, scorer, bool(per_feature), names, meta=meta))


def _features_part(pdf, scorer, layer, names):
    Xe = scorer.inputs(_adapted(pdf, scorer))
    return pd.DataFrame(LT.deep_features(scorer.state, Xe, layer), columns=names, index=pdf.index)


def deepfeatures_frame(scorer, frame, layer):
    spec = scorer.state.spec
    if not isinstance(layer, (int, np.integer)) or not 0 <= layer < spec.n_hidden:
        raise ValueError(f"layer={layer!r} must be a hidden layer index in [0, {spec.n_hidden}) "
                         f"(the model has hidden={list(spec.units[1:-1])})")
    frame = _check(scorer, frame)
    names = [f"DF.L{layer + 1}.C{j + 1}" for j in range(spec.units[layer + 1])]
    meta = pd.DataFrame({n: pd.Series([], dtype="float64") for n in names})
    return _numeric_frame(meta, frame._ddf.map_partitions(_features_part, scorer, int(layer), names, meta=meta))


def matrix_frame(scorer, index, biases=False):
    """``weights(i)`` / ``biases(i)`` as small H2OFrames (H2O's export_weights_and_biases)."""
    spec = scorer.state.spec
    if not isinstance(index, (int, np.integer)) or not 0 <= index < spec.n_layers:
        raise ValueError(f"matrix index {index!r} must be in [0, {spec.n_layers})")
    if biases:
        return small_frame(pd.DataFrame({"C1": scorer.state.b(index).astype(np.float64)}))
    W = scorer.state.W(index).astype(np.float64)
    cols = list(scorer.datainfo.coef_names) if index == 0 else [f"C{j + 1}" for j in range(W.shape[1])]
    return small_frame(pd.DataFrame(W, columns=cols))


def small_frame(pdf):
    """A one-partition H2OFrame of real columns from a small pandas table."""
    import dask.dataframe as dd
    from daskml_h2o.frame import H2OFrame
    return H2OFrame._from_dask(dd.from_pandas(pdf, npartitions=1), {c: "real" for c in pdf.columns})


def autoencoder_metrics(scorer, frame):
    """``model_performance(test_data)`` of an autoencoder: mean per-row reconstruction MSE."""
    from daskml_h2o.models.metrics import compute_metrics
    err = anomaly_frame(scorer, frame)._ddf["Reconstruction.MSE"].to_dask_array(lengths=True)
    return compute_metrics("autoencoder", None, err, algo="deeplearning", on="test")

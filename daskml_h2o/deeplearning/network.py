"""Network layout (`NetworkSpec`) and parameter container (`NetworkState`) of H2O's Deep Learning.

Both hold numpy arrays and plain Python only, so a state pickles cheaply to dask workers and back.
Weights of every layer live in one flat float32 buffer in H2O's row-major order (row = receiving
neuron; for Maxout the two channels are interleaved: flat index 2*(j*cols+i)+k), biases in one flat
float64 buffer; the optimiser buffers (ADADELTA Eg2/Edx2, momentum) mirror those two buffers.
Initialisation follows spec deeplearning.md §5.
"""
import re
from dataclasses import dataclass

import numpy as np

ACT_TANH, ACT_RECTIFIER, ACT_MAXOUT = 0, 1, 2
OUT_SOFTMAX, OUT_LINEAR, OUT_AUTOENCODER = 0, 1, 2

_ACTIVATIONS = {
    "tanh": (ACT_TANH, False), "tanhwithdropout": (ACT_TANH, True),
    "rectifier": (ACT_RECTIFIER, False), "rectifierwithdropout": (ACT_RECTIFIER, True),
    "maxout": (ACT_MAXOUT, False), "maxoutwithdropout": (ACT_MAXOUT, True),
}
_OUTPUTS = {"softmax": OUT_SOFTMAX, "linear": OUT_LINEAR, "autoencoder": OUT_AUTOENCODER}
_ACT_NAMES = {ACT_TANH: "Tanh", ACT_RECTIFIER: "Rectifier", ACT_MAXOUT: "Maxout"}
MAXOUT_CHANNELS = 2


def mangle(name):
    """H2O's enum matching: lower case with every non-letter removed."""
    return re.sub(r"[^a-z]", "", str(name).lower())


@dataclass(frozen=True)
class NetworkSpec:
    """Shape of the network: units = (inputs, *hidden, outputs) and what each layer computes."""
    units: tuple
    activation: int
    dropout: bool
    output: int
    input_dropout_ratio: float
    hidden_dropout_ratios: tuple

    @property
    def n_layers(self):
        """Number of weight matrices (hidden layers + output layer)."""
        return len(self.units) - 1

    @property
    def n_hidden(self):
        return len(self.units) - 2

    @property
    def activation_name(self):
        return _ACT_NAMES[self.activation] + ("WithDropout" if self.dropout else "")

    @property
    def mults(self):
        """Channels per receiving unit for each weight layer (2 for Maxout hidden layers)."""
        m = MAXOUT_CHANNELS if self.activation == ACT_MAXOUT else 1
        return tuple([m] * self.n_hidden + [1])

    @property
    def weight_shapes(self):
        """H2O's matrix shapes (mult*units[l+1], units[l]) per layer."""
        return tuple((m * self.units[l + 1], self.units[l]) for l, m in enumerate(self.mults))

    @property
    def w_offsets(self):
        return np.concatenate([[0], np.cumsum([r * c for r, c in self.weight_shapes])]).astype(np.int64)

    @property
    def b_offsets(self):
        return np.concatenate([[0], np.cumsum([r for r, _ in self.weight_shapes])]).astype(np.int64)

    @property
    def hidden_offsets(self):
        """Offsets of each hidden layer's units inside a flat per-hidden-unit vector."""
        return np.concatenate([[0], np.cumsum(self.units[1:-1])]).astype(np.int64)

    @property
    def n_weights(self):
        return int(self.w_offsets[-1])

    @property
    def n_biases(self):
        return int(self.b_offsets[-1])

    def layout(self):
        """Arrays the numba kernels take to walk the flat buffers:
        (units, mults, w_off, b_off, drop, activation, output)."""
        drop = np.zeros(self.n_layers, dtype=np.float64)
        drop[: self.n_hidden] = self.hidden_dropout_ratios
        return (np.asarray(self.units, dtype=np.int64), np.asarray(self.mults, dtype=np.int64),
                self.w_offsets, self.b_offsets, drop, self.activation, self.output)


def make_spec(n_inputs, hidden, n_outputs, activation="Rectifier", output="softmax",
              input_dropout_ratio=0.0, hidden_dropout_ratios=None, maxout_k=MAXOUT_CHANNELS):
    """Validate a network description and return its `NetworkSpec`.

    `activation` is matched as H2O does (case and non-letters ignored); `output` is one of
    "softmax" (classification), "linear" (regression) or "autoencoder". With a *WithDropout
    activation and no ratios every hidden layer drops 0.5 (H2O's default).
    """
    key = mangle(activation)
    if key not in _ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not one of Tanh, TanhWithDropout, Rectifier, "
                         "RectifierWithDropout, Maxout, MaxoutWithDropout")
    act, dropout = _ACTIVATIONS[key]
    out_key = mangle(output)
    if out_key not in _OUTPUTS:
        raise ValueError(f"output={output!r} must be 'softmax', 'linear' or 'autoencoder'")
    out = _OUTPUTS[out_key]
    if maxout_k != MAXOUT_CHANNELS:
        raise ValueError(f"Maxout with k={maxout_k} channels is not supported: H2O fixes k=2")
    hidden = tuple(int(h) for h in hidden)
    units = (int(n_inputs),) + hidden + (int(n_outputs),)
    for pos, u in enumerate(units):
        if u <= 0:
            what = "input" if pos == 0 else ("output" if pos == len(units) - 1 else f"hidden[{pos - 1}]")
            raise ValueError(f"layer size {what}={u} must be > 0")
    if out == OUT_SOFTMAX and units[-1] < 2:
        raise ValueError(f"softmax output needs at least 2 units (classes), got {units[-1]}")
    if out == OUT_LINEAR and units[-1] != 1:
        raise ValueError(f"a regression (linear) output has 1 unit, got {units[-1]}")
    if out == OUT_AUTOENCODER:
        if units[-1] != units[0]:
            raise ValueError(f"an autoencoder reconstructs its {units[0]} inputs: n_outputs must equal "
                             f"n_inputs, got {units[-1]}")
        if act == ACT_MAXOUT:
            raise ValueError("Maxout activations are not supported yet for autoencoders; use Tanh or Rectifier")
    input_dropout_ratio = float(input_dropout_ratio)
    if not 0.0 <= input_dropout_ratio < 1.0:
        raise ValueError(f"input_dropout_ratio={input_dropout_ratio} must be in [0, 1)")
    ratios = _hidden_ratios(hidden, dropout, hidden_dropout_ratios)
    return NetworkSpec(units, act, dropout, out, input_dropout_ratio, ratios)


def _hidden_ratios(hidden, dropout, ratios):
    if ratios is None:
        return tuple([0.5 if dropout else 0.0] * len(hidden))
    ratios = tuple(float(r) for r in ratios)
    if not dropout and any(r != 0.0 for r in ratios):
        raise ValueError("hidden_dropout_ratios need a *WithDropout activation "
                         "(e.g. RectifierWithDropout); drop them or change the activation")
    if len(ratios) != len(hidden):
        raise ValueError(f"hidden_dropout_ratios has {len(ratios)} values but there are {len(hidden)} "
                         "hidden layers; give one ratio per hidden layer")
    for r in ratios:
        if not 0.0 <= r < 1.0:
            raise ValueError(f"hidden_dropout_ratios value {r} must be in [0, 1)")
    return ratios


class NetworkState:
    """Weights, biases and optimiser buffers of one network copy, as flat numpy arrays.

    `samples` is the global count of training samples processed before this copy was made
    (drives rate annealing, momentum ramp and per-row random streams).
    """
    _ARRAYS = ("weights", "biases", "w_eg2", "w_edx2", "b_eg2", "b_edx2", "w_mom", "b_mom", "avg_act")

    def __init__(self, spec, weights, biases, w_eg2=None, w_edx2=None, b_eg2=None, b_edx2=None,
                 w_mom=None, b_mom=None, avg_act=None, samples=0):
        self.spec = spec
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.biases = np.ascontiguousarray(biases, dtype=np.float64)
        if self.weights.shape != (spec.n_weights,) or self.biases.shape != (spec.n_biases,):
            raise ValueError(f"weights/biases of length {self.weights.size}/{self.biases.size} do not fit "
                             f"the layout ({spec.n_weights}/{spec.n_biases})")
        zw = lambda a: np.zeros(spec.n_weights, np.float32) if a is None else np.ascontiguousarray(a, np.float32)
        zb = lambda a: np.zeros(spec.n_biases, np.float64) if a is None else np.ascontiguousarray(a, np.float64)
        self.w_eg2, self.w_edx2, self.w_mom = zw(w_eg2), zw(w_edx2), zw(w_mom)
        self.b_eg2, self.b_edx2, self.b_mom = zb(b_eg2), zb(b_edx2), zb(b_mom)
        n_hid = int(spec.hidden_offsets[-1])
        self.avg_act = np.zeros(n_hid, np.float64) if avg_act is None else np.ascontiguousarray(avg_act, np.float64)
        self.samples = int(samples)

    def W(self, layer):
        """View of layer `layer`'s weights as H2O's (mult*units[l+1], units[l]) matrix."""
        o = self.spec.w_offsets
        return self.weights[o[layer]:o[layer + 1]].reshape(self.spec.weight_shapes[layer])

    def b(self, layer):
        o = self.spec.b_offsets
        return self.biases[o[layer]:o[layer + 1]]

    def arrays(self):
        """The buffers in the order the training kernel takes them."""
        return tuple(getattr(self, name) for name in self._ARRAYS)

    def copy(self):
        return NetworkState(self.spec, *[a.copy() for a in self.arrays()], samples=self.samples)

    def __getstate__(self):
        return {"spec": self.spec, "samples": self.samples, **{k: getattr(self, k) for k in self._ARRAYS}}

    def __setstate__(self, d):
        self.__dict__.update(d)


def init_state(spec, seed, initial_weight_distribution="UniformAdaptive", initial_weight_scale=1.0):
    """Fresh state with H2O's initialisation (spec §5.2-5.3), reproducible from `seed`."""
    dist = mangle(initial_weight_distribution)
    if dist not in ("uniformadaptive", "uniform", "normal"):
        raise ValueError(f"initial_weight_distribution={initial_weight_distribution!r} must be "
                         "UniformAdaptive, Uniform or Normal")
    weights = np.empty(spec.n_weights, np.float32)
    for l, (rows, cols) in enumerate(spec.weight_shapes):
        # one independent stream per matrix, as H2O seeds seed + 0xBAD5EED + l + 1
        rng = np.random.default_rng((int(seed) + 0xBAD5EED + l + 1) % (1 << 64))
        n = rows * cols
        if dist == "uniformadaptive":
            r = np.sqrt(6.0 / (spec.units[l] + spec.units[l + 1]))
            w = -r + rng.random(n) * (2 * r)
            if l == spec.n_layers - 1 and spec.output == OUT_SOFTMAX:
                w *= 4.0
        elif dist == "uniform":
            s = float(initial_weight_scale)
            w = -s + rng.random(n) * (2 * s)
        else:
            w = rng.standard_normal(n) * float(initial_weight_scale)
        weights[spec.w_offsets[l]:spec.w_offsets[l + 1]] = w
    biases = np.zeros(spec.n_biases, np.float64)
    if spec.activation in (ACT_RECTIFIER, ACT_MAXOUT):
        for l in range(spec.n_hidden):
            # positive biases keep rectifiers alive at the start
            biases[spec.b_offsets[l]:spec.b_offsets[l + 1]] = 0.5 if l == 0 else 1.0
    return NetworkState(spec, weights, biases)


UNSTABLE_MESSAGE = (
    "Trying to predict with an unstable model.\n"
    "Job was aborted due to observed numerical instability (exponential growth).\n"
    "Either the weights or the bias values are unreasonably large or lead to large activation values.\n"
    "Try a different initial distribution, a bounded activation function (Tanh), adding regularization\n"
    "(via max_w2, l1, l2, dropout) or learning rate (either enable adaptive_rate or use a smaller learning "
    "rate or faster annealing).")


class DeepLearningInstabilityError(ValueError):
    """Raised when weights or biases blew up (H2O's "unstable model", spec §8.7)."""

    def __init__(self, message=UNSTABLE_MESSAGE):
        super().__init__(message)

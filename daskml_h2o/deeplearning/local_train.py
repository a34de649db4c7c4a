"""What one worker does with one chunk in one Deep Learning iteration, and how copies are combined.

`train_chunk` picks the rows of the iteration (spec deeplearning.md §9.2-9.3), trains a copy of the
network on them with the numba kernel and returns it with its sample count; `average_states`
combines the copies; `gedeon_importance` is H2O's variable importance (§12). Scoring wrappers check
the §8.7 stability guard first. Numpy + numba only: the dask side lives in training.py.
"""
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import kernels as K
from .network import OUT_SOFTMAX, DeepLearningInstabilityError, NetworkState, mangle

_REGRESSION_DISTRIBUTIONS = {
    "gaussian": K.GRAD_GAUSSIAN, "laplace": K.GRAD_LAPLACE, "quantile": K.GRAD_QUANTILE,
    "huber": K.GRAD_HUBER, "poisson": K.GRAD_POISSON, "gamma": K.GRAD_GAMMA, "tweedie": K.GRAD_TWEEDIE,
}
_LOSS_TO_DISTRIBUTION = {"automatic": "gaussian", "quadratic": "gaussian", "absolute": "laplace",
                         "quantile": "quantile", "huber": "huber"}


def output_gradient_code(output, distribution="AUTO", loss="Automatic"):
    """Kernel code of the output error for an output kind and H2O's (distribution, loss) (spec §2.1, §7)."""
    dist, loss_key = mangle(distribution), mangle(loss)
    if output == OUT_SOFTMAX:
        if dist not in ("auto", "bernoulli", "multinomial"):
            raise ValueError(f"distribution={distribution!r} is a regression family; a classifier needs "
                             "AUTO, bernoulli or multinomial")
        if loss_key in ("automatic", "crossentropy"):
            return K.GRAD_CROSS_ENTROPY
        if loss_key == "quadratic":
            return K.GRAD_SOFTMAX_QUADRATIC
        raise ValueError(f"loss={loss!r} is not allowed for classification; use CrossEntropy or Quadratic")
    if loss_key == "crossentropy":
        raise ValueError("loss='CrossEntropy' is only for classification (and not for autoencoders)")
    if dist == "auto":
        if loss_key not in _LOSS_TO_DISTRIBUTION:
            raise ValueError(f"loss={loss!r} must be Automatic, Quadratic, Absolute, Quantile or Huber")
        dist = _LOSS_TO_DISTRIBUTION[loss_key]
    if dist not in _REGRESSION_DISTRIBUTIONS:
        raise ValueError(f"distribution={distribution!r} is not a regression distribution supported by Deep "
                         "Learning (gaussian, laplace, quantile, huber, poisson, gamma, tweedie)")
    return _REGRESSION_DISTRIBUTIONS[dist]


@dataclass
class TrainParams:
    """Optimiser and loss settings of H2O's Deep Learning (names and defaults as H2O's)."""
    output_gradient: int = K.GRAD_CROSS_ENTROPY
    adaptive_rate: bool = True
    rho: float = 0.99
    epsilon: float = 1e-8
    rate: float = 0.005
    rate_annealing: float = 1e-6
    rate_decay: float = 1.0
    momentum_start: float = 0.0
    momentum_ramp: float = 1e6
    momentum_stable: float = 0.0
    nesterov_accelerated_gradient: bool = True
    l1: float = 0.0
    l2: float = 0.0
    max_w2: float = 3.4028235e38
    fast_mode: bool = True
    sparse: bool = False
    quantile_alpha: float = 0.5
    tweedie_power: float = 1.5
    huber_delta: float = 1.0  # H2O trains Huber with delta fixed at 1 (spec §7)
    sparsity_beta: float = 0.0
    average_activation: float = 0.0
    shuffle_training_data: bool = False
    h2o_momentum_quirk: bool = False  # True: momentum fixed near momentum_start as H2O 3.46 trains

    @property
    def has_momentum(self):
        return not self.adaptive_rate and (self.momentum_start != 0.0 or self.momentum_stable != 0.0)

    def kernel_config(self):
        """(icfg int64, fcfg float64) as `kernels.train_rows` reads them."""
        if self.l1 < 0 or self.l2 < 0:
            raise ValueError(f"l1={self.l1}, l2={self.l2} must be >= 0")
        if not self.max_w2 > 0:
            raise ValueError(f"max_w2={self.max_w2} must be > 0")
        if self.output_gradient == K.GRAD_TWEEDIE and not 1.0 < self.tweedie_power < 2.0:
            raise ValueError(f"tweedie_power={self.tweedie_power} must be in (1, 2)")
        shortcut = self.fast_mode or (not self.adaptive_rate and not self.has_momentum
                                      and self.l1 == 0.0 and self.l2 == 0.0)
        icfg = np.zeros(K.N_ICFG, np.int64)
        icfg[K.I_GRAD] = self.output_gradient
        icfg[K.I_ADAPTIVE] = bool(self.adaptive_rate)
        icfg[K.I_NESTEROV] = bool(self.nesterov_accelerated_gradient)
        icfg[K.I_FAST_MODE] = bool(self.fast_mode)
        icfg[K.I_SPARSE] = bool(self.sparse)
        icfg[K.I_SHORTCUT] = shortcut
        icfg[K.I_HAS_MOMENTUM] = self.has_momentum
        icfg[K.I_MOMENTUM_QUIRK] = bool(self.h2o_momentum_quirk)
        fcfg = np.zeros(K.N_FCFG, np.float64)
        fcfg[K.F_RHO], fcfg[K.F_EPSILON] = self.rho, self.epsilon
        fcfg[K.F_RATE], fcfg[K.F_RATE_ANNEALING], fcfg[K.F_RATE_DECAY] = self.rate, self.rate_annealing, self.rate_decay
        fcfg[K.F_MOMENTUM_START] = self.momentum_start
        fcfg[K.F_MOMENTUM_RAMP] = self.momentum_ramp
        fcfg[K.F_MOMENTUM_STABLE] = self.momentum_stable
        fcfg[K.F_L1], fcfg[K.F_L2], fcfg[K.F_MAX_W2] = self.l1, self.l2, self.max_w2
        fcfg[K.F_QUANTILE_ALPHA], fcfg[K.F_TWEEDIE_POWER] = self.quantile_alpha, self.tweedie_power
        fcfg[K.F_HUBER_DELTA] = self.huber_delta
        fcfg[K.F_SPARSITY_BETA], fcfg[K.F_AVERAGE_ACTIVATION] = self.sparsity_beta, self.average_activation
        return icfg, fcfg


def _seed_sequence(seed, iteration):
    return np.random.SeedSequence([int(seed) % (1 << 64), int(iteration) % (1 << 64)])


def sample_rows(n_rows, n_samples, seed, iteration, weights=None, shuffle=False):
    """Row indices one chunk trains on in one iteration (spec §9.2-9.3).

    The fraction f = n_samples/n_rows is split into ceil(f) passes; a pass keeps each row of a random
    permutation with probability f/ceil(f) when sampling (fraction < 0.999, weights, or shuffle), else
    visits rows in storage order. With weights, every other row is drawn by importance sampling and
    zero-weight rows are never used.
    """
    if n_rows == 0 or n_samples <= 0:
        return np.zeros(0, np.int64)
    if weights is not None:
        weights = np.asarray(weights, np.float64)
        if weights.shape != (n_rows,):
            raise ValueError(f"weights has shape {weights.shape}, expected ({n_rows},)")
        if np.any(weights < 0) or np.any(np.isnan(weights)):
            raise ValueError("observation weights must be >= 0 and not NA; fix the weights column")
        if not np.any(weights > 0):
            return np.zeros(0, np.int64)
    frac = n_samples / n_rows
    repeats = max(1, math.ceil(frac))
    per = frac / repeats
    sampling = per < 0.999 or weights is not None or shuffle
    rng = np.random.default_rng(_seed_sequence(seed, iteration))
    passes = []
    for _ in range(repeats):
        if not sampling:
            passes.append(np.arange(n_rows, dtype=np.int64))
            continue
        perm = rng.permutation(n_rows)
        rows = perm[rng.random(n_rows) <= per]
        if weights is not None:
            rows = _importance_rows(rows, weights, rng)
        passes.append(rows.astype(np.int64))
    return np.concatenate(passes)


def _importance_rows(rows, weights, rng):
    rows = rows.copy()
    cum = np.cumsum(weights)
    odd = rows[1::2]
    rows[1::2] = np.minimum(np.searchsorted(cum, rng.random(len(odd)) * cum[-1], side="right"), len(weights) - 1)
    nonzero = np.flatnonzero(weights > 0)
    zero = weights[rows] <= 0
    rows[zero] = nonzero[rng.integers(0, len(nonzero), int(zero.sum()))]
    return rows


def network_offset(offset, resp_sub=0.0, resp_mul=1.0):
    """Offsets in the network's output space; H2O ignores offsets <= 0 (spec §6.5)."""
    offset = np.asarray(offset, np.float64)
    return np.where(offset > 0, (offset - resp_sub) * resp_mul, 0.0)


def _dropout_seed(seed, iteration):
    return int(_seed_sequence(seed, iteration).generate_state(1, np.uint64)[0] >> np.uint64(1))


def train_chunk(state, X, y, w, n_samples, seed, iteration, params, offset=None, threads=1):
    """Train a copy of `state` on about `n_samples` rows of this chunk; returns (new_state, n_processed).

    X: float32 (n x units[0]) prepared inputs; y: class index / network-space target (None for an
    autoencoder); w: observation weights or None; offset: network-space offsets (see `network_offset`)
    or None. `seed` must differ per chunk (derive it from the model seed and the chunk index). The
    returned state keeps `samples` of the input state; `average_states` adds the counts.
    threads > 1 runs H2O's Hogwild: that many threads share the copy and update it without locks
    (the kernel releases the GIL); results then depend on thread timing, so keep 1 for reproducible.
    """
    spec = state.spec
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != spec.units[0]:
        raise ValueError(f"X has shape {X.shape}; the network expects {spec.units[0]} input columns")
    n = X.shape[0]
    y = np.zeros(n, np.float64) if y is None else np.ascontiguousarray(y, dtype=np.float64)
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape}, expected ({n},)")
    if spec.output == OUT_SOFTMAX and np.any((y[~np.isnan(y)] < 0) | (y[~np.isnan(y)] >= spec.units[-1])):
        raise ValueError(f"class indices in y must be in [0, {spec.units[-1]})")
    off = np.zeros(0) if offset is None else np.ascontiguousarray(offset, dtype=np.float64)
    rows = sample_rows(n, n_samples, seed, iteration, w, params.shuffle_training_data)
    icfg, fcfg = params.kernel_config()
    new = state.copy()
    args = spec.layout() + (spec.input_dropout_ratio,) + new.arrays() + (X, y, off)
    dseed = _dropout_seed(seed, iteration)
    if threads <= 1 or len(rows) < 2 * threads:
        return new, int(K.train_rows(*args, rows, new.samples, dseed, icfg, fcfg))
    parts = np.array_split(rows, threads)
    with ThreadPoolExecutor(threads) as pool:
        # each thread gets its own dropout stream; all write the same buffers (Hogwild)
        done = pool.map(lambda t: K.train_rows(*args, parts[t], new.samples, dseed + 7919 * t, icfg, fcfg),
                        range(threads))
        return new, int(sum(done))


def train_group(state, parts, n_samples, seeds, iteration, params, threads=1, in_place=False):
    """Train one copy of `state` on several chunks of one worker; returns (new_state, n_processed).

    parts: [(X float32 C-order, y float64, w or None, offset or None)], with `n_samples` rows to
    draw from each and one seed each (chunk-specific). With threads > 1 every chunk's sampled rows
    are split among the threads, which share the copy (Hogwild); threads=1 visits the chunks in
    order, so the result is a pure function of the arguments. in_place=True trains `state` itself
    (a copy other processes share, see shared.py) and returns it.
    """
    spec = state.spec
    icfg, fcfg = params.kernel_config()
    new = state if in_place else state.copy()
    head = spec.layout() + (spec.input_dropout_ratio,) + new.arrays()
    items = []
    for (X, y, w, off), ns, sd in zip(parts, n_samples, seeds):
        rows = sample_rows(X.shape[0], ns, sd, iteration, w, params.shuffle_training_data)
        if len(rows):
            y = np.zeros(X.shape[0]) if y is None else y
            off = np.zeros(0) if off is None else off
            items.append((X, y, off, rows, _dropout_seed(sd, iteration)))

    if threads <= 1 or sum(len(it[3]) for it in items) < 2 * threads:
        return new, _run_all(items, head, new, icfg, fcfg)
    blocks = _hogwild_blocks(items, threads, new.samples)
    taken = itertools.count()

    def run(_):
        done = 0
        for k in taken:  # the next untaken block (count() is atomic under the GIL)
            if k >= len(blocks):
                return done
            X, y, off, rows, start, dseed = blocks[k]
            done += int(K.train_rows(*head, X, y, off, rows, start, dseed + 7919 * k, icfg, fcfg))

    with ThreadPoolExecutor(threads) as pool:
        return new, int(sum(pool.map(run, range(threads))))


# Rows a Hogwild thread takes at a time. Threads pull blocks until none are left, so a thread
# slowed by another process (a busy core) trains fewer rows instead of holding up the
# iteration, as a fixed 1/threads share did (fits ran up to 2x slower on a loaded machine).
HOGWILD_BLOCK_ROWS = 2048


def _hogwild_blocks(items, threads, samples):
    """The iteration's sampled rows cut into blocks, in order: (X, y, offset, rows, sample count
    at the block's start as seen by one of ``threads`` threads sharing the work, dropout seed)."""
    blocks, position = [], 0
    for X, y, off, rows, dseed in items:
        for s in range(0, len(rows), HOGWILD_BLOCK_ROWS):
            block = rows[s:s + HOGWILD_BLOCK_ROWS]
            blocks.append((X, y, off, block, samples + position // threads, dseed))
            position += len(block)
    return blocks


def _run_all(items, head, new, icfg, fcfg):
    return sum(int(K.train_rows(*head, X, y, off, rows, new.samples, dseed, icfg, fcfg))
               for X, y, off, rows, dseed in items)


def average_states(pairs, weighting="samples"):
    """Combine trained copies [(state, n_processed), ...] in the given order, in float64.

    weighting="samples" weights each copy by its sample count; "uniform" is H2O's per-node mean.
    Copies with no samples are left out. The result's `samples` = first copy's + all counts.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("average_states needs at least one (state, n) pair")
    if weighting not in ("samples", "uniform"):
        raise ValueError(f"weighting={weighting!r} must be 'samples' or 'uniform'")
    spec = pairs[0][0].spec
    for s, _ in pairs:
        if s.spec != spec:
            raise ValueError("cannot average network copies with different layouts")
    base = pairs[0][0].samples
    total_n = sum(int(n) for _, n in pairs)
    live = [(s, int(n)) for s, n in pairs if n > 0]
    if len(live) <= 1:
        out = (live[0][0] if live else pairs[0][0]).copy()
        out.samples = base + total_n
        return out
    coef = [float(n) if weighting == "samples" else 1.0 for _, n in live]
    denom = sum(coef)
    arrays = []
    for k, name in enumerate(NetworkState._ARRAYS):
        acc = np.zeros(getattr(live[0][0], name).shape, np.float64)
        for (s, _), c in zip(live, coef):
            acc += c * getattr(s, name).astype(np.float64)
        arrays.append((acc / denom).astype(getattr(live[0][0], name).dtype))
    return NetworkState(spec, *arrays, samples=base + total_n)


def gedeon_importance(state, spec=None):
    """Gedeon (1997) input importances, scaled so the largest is 1 (spec §12, float32 like H2O)."""
    spec = state.spec if spec is None else spec
    w1 = np.abs(state.W(0)[: spec.units[1]]).astype(np.float32)  # Maxout: first `units` rows only
    if spec.n_hidden == 0:
        vi = w1.sum(axis=0)
    else:
        w2 = np.abs(state.W(1)[: spec.units[2]]).astype(np.float32)
        q = (w1 / w1.sum(axis=1, keepdims=True)).T @ (w2 / w2.sum(axis=1, keepdims=True)).T  # (in, next)
        vi = (q / q.sum(axis=0, keepdims=True)).sum(axis=1)
    mx = vi.max()
    return (vi / mx if mx > 0 else vi).astype(np.float32)


UNSTABLE_LIMIT_WEIGHT, UNSTABLE_LIMIT_BIAS = 1e10, 1e5


def is_unstable(state):
    """H2O's instability test (spec §8.7): NaN, or a layer's mean/RMS weight > 1e10 or bias > 1e5."""
    for l in range(state.spec.n_layers):
        for arr, lim in ((state.W(l).astype(np.float64), UNSTABLE_LIMIT_WEIGHT), (state.b(l), UNSTABLE_LIMIT_BIAS)):
            mean, rms = arr.mean(), np.sqrt(np.mean(arr * arr))
            if np.isnan(mean) or np.isnan(rms) or abs(mean) > lim or rms > lim:
                return True
    return False


def check_stability(state):
    if is_unstable(state):
        raise DeepLearningInstabilityError()


def _scoring_args(state, X):
    check_stability(state)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != state.spec.units[0]:
        raise ValueError(f"X has shape {X.shape}; the network expects {state.spec.units[0]} input columns")
    return state.spec.layout() + (state.weights, state.biases, X)


def predict(state, X, offset=None):
    """Network outputs (softmax probabilities / link-space value / reconstruction), n x units[-1]."""
    off = np.zeros(0) if offset is None else np.ascontiguousarray(offset, dtype=np.float64)
    return K.predict_batch(*_scoring_args(state, X), off)


def deep_features(state, X, layer):
    """Hidden layer `layer` (0-based) activations with test-time dropout scaling (deepfeatures())."""
    if not 0 <= layer < state.spec.n_hidden:
        raise ValueError(f"layer={layer} must be in [0, {state.spec.n_hidden}) (0-based hidden layer index)")
    return K.hidden_activations(*_scoring_args(state, X), int(layer))


def reconstruction_errors(state, X):
    """Per-row reconstruction MSE of an autoencoder (anomaly())."""
    return K.reconstruction_error(*_scoring_args(state, X))

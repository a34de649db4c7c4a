"""Numba kernels of H2O's Deep Learning: per-row online SGD and the scoring forward pass.

Everything works on the flat buffers of `network.NetworkState` and the layout arrays of
`NetworkSpec.layout()`: units, mults, w_off, b_off, drop, act, out. Activations and errors of all
layers of one row sit in one flat float64 work vector (offsets `a_off`). The update order is H2O's
(spec deeplearning.md §6-§8): forward all layers, output error, then from the last layer to the first,
for each receiving neuron: propagate its error (with the weight value just before its update),
update its incoming weights, apply the max_w2 constraint, update its bias.
Optimiser settings arrive packed in `icfg` (int64) and `fcfg` (float64); the index constants below
name their slots, `local_train.TrainParams` fills them.
"""
import numpy as np
from numba import njit

from .network import ACT_RECTIFIER, ACT_TANH, OUT_AUTOENCODER, OUT_LINEAR, OUT_SOFTMAX

# output-gradient codes (spec §7)
GRAD_CROSS_ENTROPY, GRAD_SOFTMAX_QUADRATIC = 0, 1
GRAD_GAUSSIAN, GRAD_LAPLACE, GRAD_QUANTILE, GRAD_HUBER = 2, 3, 4, 5
GRAD_POISSON, GRAD_GAMMA, GRAD_TWEEDIE = 6, 7, 8

# icfg slots
I_GRAD, I_ADAPTIVE, I_NESTEROV, I_FAST_MODE, I_SPARSE, I_SHORTCUT, I_HAS_MOMENTUM, I_MOMENTUM_QUIRK = range(8)
N_ICFG = 8
# fcfg slots
(F_RHO, F_EPSILON, F_RATE, F_RATE_ANNEALING, F_RATE_DECAY, F_MOMENTUM_START, F_MOMENTUM_RAMP,
 F_MOMENTUM_STABLE, F_L1, F_L2, F_MAX_W2, F_QUANTILE_ALPHA, F_TWEEDIE_POWER, F_HUBER_DELTA,
 F_SPARSITY_BETA, F_AVERAGE_ACTIVATION) = range(16)
N_FCFG = 16

_ROW_SEED_MASK = 0xFFFFFFFF


@njit(nogil=True, cache=True)
def row_seed(seed, sample_index):
    """32-bit seed of one training row's dropout stream. Only +, *, ^ and masked shifts, so the
    value is the same with and without JIT (int64 wrap-around keeps the low 32 bits)."""
    h = ((seed & _ROW_SEED_MASK) * 0x9E3779B1 + (sample_index & _ROW_SEED_MASK) * 0x85EBCA77
         + ((seed >> 32) & _ROW_SEED_MASK) * 0xC2B2AE3D + 0x27D4EB2F) & _ROW_SEED_MASK
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & _ROW_SEED_MASK
    h = ((h ^ (h >> 12)) * 0x297A2D39) & _ROW_SEED_MASK
    return h ^ (h >> 15)


@njit(nogil=True, cache=True)
def _sexp(x):
    """H2O's sanitised exp: capped at 1e19."""
    return min(1e19, np.exp(x))


@njit(nogil=True, cache=True)
def neg_half_gradient(code, t, f, alpha, power, delta):
    """H2O's negHalfGradient(t, f) of a regression distribution, f in link space (spec §7)."""
    if code == GRAD_GAUSSIAN:
        return t - f
    if code == GRAD_LAPLACE:
        return -0.5 if f > t else 0.5
    if code == GRAD_QUANTILE:
        return 0.5 * alpha if t > f else 0.5 * (alpha - 1.0)
    if code == GRAD_HUBER:
        if abs(t - f) <= delta:
            return t - f
        return -delta if f >= t else delta
    if code == GRAD_POISSON:
        return t - _sexp(f)
    if code == GRAD_GAMMA:
        return t * _sexp(-f) - 1.0
    if code == GRAD_TWEEDIE:
        return t * _sexp(f * (1.0 - power)) - _sexp(f * (2.0 - power))
    return np.nan


@njit(nogil=True, cache=True)
def _activate(act, z):
    if act == ACT_TANH:
        return 1.0 - 2.0 / (1.0 + np.exp(2.0 * z))
    if act == ACT_RECTIFIER:
        return 0.5 * (z + abs(z))
    return z


@njit(nogil=True, cache=True)
def _dot(weights, base, stride, a, ai, n, sparse):
    s = 0.0
    if sparse:
        for i in range(n):
            x = a[ai + i]
            if x != 0.0:
                s += weights[base + stride * i] * x
    else:
        for i in range(n):
            s += weights[base + stride * i] * a[ai + i]
    return s


@njit(nogil=True, cache=True)
def _layer_forward(l, units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep,
                   training, sparse):
    """Fill layer l+1's activations from layer l's (dropped units: 0; Maxout: remember the winner)."""
    n_in, n_out, m = units[l], units[l + 1], mults[l]
    ai, ao, wo, bo = a_off[l], a_off[l + 1], w_off[l], b_off[l]
    last = l == len(units) - 2
    for j in range(n_out):
        win[ao + j] = 0
        if training and not last and drop[l] > 0.0 and keep[ao + j] == 0:
            a[ao + j] = 0.0
            continue
        best = 0.0
        for k in range(m):
            s = _dot(weights, wo + m * j * n_in + k, m, a, ai, n_in, sparse) + biases[bo + m * j + k]
            if k == 0 or s > best:  # ties keep channel 0
                best = s
                win[ao + j] = k
        a[ao + j] = best
    if last:
        if out == OUT_SOFTMAX:
            mx = a[ao]
            for j in range(1, n_out):
                mx = max(mx, a[ao + j])
            tot = 0.0
            for j in range(n_out):
                a[ao + j] = np.exp(a[ao + j] - mx)
                tot += a[ao + j]
            for j in range(n_out):
                a[ao + j] /= tot
        elif out == OUT_AUTOENCODER:
            for j in range(n_out):
                a[ao + j] = _activate(act, a[ao + j])
        return
    for j in range(n_out):
        a[ao + j] = _activate(act, a[ao + j])
        if not training:
            # the only dropout compensation in H2O: scale hidden activations at test time
            a[ao + j] *= 1.0 - drop[l]


@njit(nogil=True, cache=True)
def _forward(units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep, training,
             sparse, offset):
    for l in range(len(units) - 1):
        _layer_forward(l, units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep,
                       training, sparse)
    if out == OUT_LINEAR and offset > 0.0:
        # H2O adds an offset only when it is > 0 (spec §6.5); `offset` is already in network space
        a[a_off[len(units) - 1]] += offset


@njit(nogil=True, cache=True)
def _offsets(units):
    a_off = np.zeros(len(units) + 1, np.int64)
    for l in range(len(units)):
        a_off[l + 1] = a_off[l] + units[l]
    return a_off


@njit(nogil=True, cache=True)
def _draw_masks(units, drop, input_ratio, a, a_off, keep, seed):
    """Input dropout (zero the unit when u < ratio) and hidden keep-bits from one per-row stream."""
    np.random.seed(seed)
    if input_ratio > 0.0:
        for i in range(units[0]):
            if np.random.random() < input_ratio:
                a[i] = 0.0
    for l in range(len(units) - 2):
        if drop[l] > 0.0:
            for j in range(units[l + 1]):
                keep[a_off[l + 1] + j] = 1 if np.random.random() >= drop[l] else 0


@njit(nogil=True, cache=True)
def _output_error(out, code, a, a_off, units, target, x0, e, alpha, power, delta):
    L = len(units) - 1
    ao, n_out = a_off[L], units[L]
    if out == OUT_SOFTMAX:
        cls = int(target)
        for k in range(n_out):
            y = a[ao + k]
            t = 1.0 if k == cls else 0.0
            if code == GRAD_CROSS_ENTROPY:
                e[ao + k] = y - t
            else:
                e[ao + k] = (y - t) * (1.0 - y) * y
    elif out == OUT_LINEAR:
        e[ao] = -2.0 * neg_half_gradient(code, target, a[ao], alpha, power, delta)
    else:
        # autoencoder: the output activation's derivative is never applied (H2O quirk, §7)
        for k in range(n_out):
            e[ao + k] = -2.0 * neg_half_gradient(code, x0[k], a[ao + k], alpha, power, delta)


@njit(nogil=True, cache=True)
def _update(value, grad, acc1, acc2, mom, idx, adaptive, nesterov, has_mom, rho, eps, r, m):
    """One parameter step. ADADELTA: acc1=Eg2, acc2=Edx2; manual: mom=momentum buffer.
    Returns (new value, rate used)."""
    if adaptive:
        eg2 = rho * acc1[idx] + (1.0 - rho) * grad * grad
        rate = np.sqrt((acc2[idx] + eps) / (eg2 + eps))
        acc2[idx] = rho * acc2[idx] + (1.0 - rho) * rate * rate * grad * grad
        acc1[idx] = eg2
        return value - rate * grad, rate
    if nesterov:
        if has_mom:
            mom[idx] = m * mom[idx] - grad
            return value + r * mom[idx], r
        return value - r * grad, r
    delta = -r * grad
    value += delta
    if has_mom:
        value += m * mom[idx]
        mom[idx] = delta
    return value, r


@njit(nogil=True, cache=True)
def _adadelta_row(weights, eg2s, edx2s, e, a, ai, base, stride, n_in, g, propagate, fast, l1, l2, rho, eps):
    """ADADELTA step of one neuron's incoming weights (spec §8.3); returns the sum of squared gradients."""
    sum_g2 = 0.0
    for i in range(n_in):
        widx = base + stride * i
        w = np.float64(weights[widx])
        if propagate:
            e[ai + i] += g * w
        x = a[ai + i]
        if fast and x == 0.0:
            continue
        grad = g * x
        if l1 != 0.0:
            grad += l1 * _sign(w)
        if l2 != 0.0:
            grad += l2 * w
        g2 = grad * grad
        eg2 = rho * eg2s[widx] + (1.0 - rho) * g2
        edx2 = np.float64(edx2s[widx])
        rate2 = (edx2 + eps) / (eg2 + eps)
        edx2s[widx] = rho * edx2 + (1.0 - rho) * rate2 * g2
        eg2s[widx] = eg2
        weights[widx] = w - np.sqrt(rate2) * grad
        sum_g2 += g2
    return sum_g2


@njit(nogil=True, cache=True)
def _manual_row(weights, moms, e, a, ai, base, stride, n_in, g, propagate, fast, l1, l2, nesterov, has_mom, r, m):
    """Manual-rate step (momentum, Nesterov) of one neuron's incoming weights (spec §8.4)."""
    for i in range(n_in):
        widx = base + stride * i
        w = np.float64(weights[widx])
        if propagate:
            e[ai + i] += g * w
        x = a[ai + i]
        if fast and x == 0.0:
            continue
        grad = g * x + l1 * _sign(w) + l2 * w
        weights[widx], _ = _update(w, grad, moms, moms, moms, widx, False, nesterov, has_mom, 0.0, 0.0, r, m)


@njit(nogil=True, cache=True)
def _sign(x):
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


@njit(nogil=True, cache=True)
def _backprop(units, mults, w_off, b_off, act, weights, biases, w_eg2, w_edx2, b_eg2, b_edx2, w_mom, b_mom,
              avg_act, h_off, a, a_off, win, e, icfg, fcfg, rates, m):
    adaptive, nesterov, has_mom = icfg[I_ADAPTIVE] != 0, icfg[I_NESTEROV] != 0, icfg[I_HAS_MOMENTUM] != 0
    fast, shortcut = icfg[I_FAST_MODE] != 0, icfg[I_SHORTCUT] != 0
    rho, eps, l1, l2, max_w2 = fcfg[F_RHO], fcfg[F_EPSILON], fcfg[F_L1], fcfg[F_L2], fcfg[F_MAX_W2]
    beta, target_act = fcfg[F_SPARSITY_BETA], fcfg[F_AVERAGE_ACTIVATION]
    L = len(units) - 1
    for l in range(L - 1, -1, -1):
        n_in, n_out, mult = units[l], units[l + 1], mults[l]
        ai, ao, wo, bo = a_off[l], a_off[l + 1], w_off[l], b_off[l]
        last = l == L - 1
        r = rates[l]
        if l > 0:
            for i in range(n_in):
                e[ai + i] = 0.0
        for j in range(n_out):
            g = e[ao + j]
            if not last:
                if act == ACT_TANH:
                    g *= 1.0 - a[ao + j] * a[ao + j]
                elif act == ACT_RECTIFIER and not a[ao + j] > 0.0:
                    g = 0.0
            if shortcut and g == 0.0:
                continue
            k = win[ao + j]
            base = wo + mult * j * n_in + k
            if adaptive:
                sum_g2 = _adadelta_row(weights, w_eg2, w_edx2, e, a, ai, base, mult, n_in, g, l > 0, fast,
                                       l1, l2, rho, eps)
            else:
                _manual_row(weights, w_mom, e, a, ai, base, mult, n_in, g, l > 0, fast, l1, l2,
                            nesterov, has_mom, r, m)
                sum_g2 = 0.0
            if max_w2 < np.inf:
                s = np.float32(0.0)
                for i in range(n_in):
                    wv = weights[wo + mult * (j * n_in + i) + k]
                    s += wv * wv
                if s > max_w2:
                    scale = np.sqrt(max_w2 / s)
                    for i in range(n_in):
                        widx = wo + mult * (j * n_in + i) + k
                        weights[widx] = weights[widx] * scale
            bidx = bo + mult * j + k
            bv = biases[bidx]
            gb = g + l1 * _sign(bv) + l2 * bv
            if adaptive:
                # H2O drives the bias's ADADELTA statistics by the neuron's mean squared weight gradient
                avg_g2 = sum_g2 / n_in
                eg2 = rho * b_eg2[bidx] + (1.0 - rho) * avg_g2
                rb = np.sqrt((b_edx2[bidx] + eps) / (eg2 + eps))
                b_edx2[bidx] = rho * b_edx2[bidx] + (1.0 - rho) * rb * rb * avg_g2
                b_eg2[bidx] = eg2
                bv -= rb * gb
            else:
                bv, rb = _update(bv, gb, b_eg2, b_edx2, b_mom, bidx, False, nesterov, has_mom, rho, eps, r, m)
            if beta != 0.0 and not last:
                bv -= rb * beta * (avg_act[h_off[l] + j] - target_act)
            biases[bidx] = bv


@njit(nogil=True, cache=True)
def momentum_at(fcfg, n):
    """Momentum after n samples: linear ramp momentum_start -> momentum_stable (the documented rule)."""
    start, ramp, stable = fcfg[F_MOMENTUM_START], fcfg[F_MOMENTUM_RAMP], fcfg[F_MOMENTUM_STABLE]
    if ramp > 0.0 and n < ramp:
        return start + (stable - start) * n / ramp
    return stable


@njit(nogil=True, cache=True)
def layer_rates(n_layers, fcfg, n, m):
    """Manual-mode step size per weight layer: rate*decay^k/(1+annealing*n)*(1-momentum)."""
    rates = np.empty(n_layers, np.float64)
    base = fcfg[F_RATE] / (1.0 + fcfg[F_RATE_ANNEALING] * n)
    for k in range(n_layers):
        rates[k] = base * fcfg[F_RATE_DECAY] ** k * (1.0 - m)
    return rates


@njit(nogil=True, cache=True)
def train_rows(units, mults, w_off, b_off, drop, act, out, input_ratio,
               weights, biases, w_eg2, w_edx2, b_eg2, b_edx2, w_mom, b_mom, avg_act,
               X, y, offset, row_order, start_sample_count, seed, icfg, fcfg):
    """Online SGD over X[row_order] in that order, updating the buffers in place (H2O's per-row loop).

    y: class index (softmax) or target in network space (linear); ignored for autoencoders.
    offset: per-row offset already in network space (length 0 = none). Rows with NaN y are skipped.
    Rate, momentum are fixed for the call from `start_sample_count`; each row's dropout stream is
    seeded from (seed, start_sample_count + rows done). Returns the number of rows trained on.
    """
    L = len(units) - 1
    a_off = _offsets(units)
    total = a_off[L + 1]
    a = np.zeros(total, np.float64)
    e = np.zeros(total, np.float64)
    win = np.zeros(total, np.int64)
    keep = np.ones(total, np.uint8)
    x0 = np.zeros(units[0], np.float64)
    h_off = np.zeros(L, np.int64)
    for l in range(L - 1):
        h_off[l + 1] = h_off[l] + units[l + 1]
    adaptive = icfg[I_ADAPTIVE] != 0
    # H2O 3.46 evaluates the ramp at n = -1 in training (spec §8.4); the flag reproduces that
    m_at = -1 if icfg[I_MOMENTUM_QUIRK] != 0 else start_sample_count
    m = 0.0 if adaptive or icfg[I_HAS_MOMENTUM] == 0 else momentum_at(fcfg, m_at)
    rates = layer_rates(L, fcfg, start_sample_count, m)
    any_drop = input_ratio > 0.0
    for l in range(L - 1):
        any_drop = any_drop or drop[l] > 0.0
    beta = fcfg[F_SPARSITY_BETA]
    sparse = icfg[I_SPARSE] != 0
    has_offset = len(offset) > 0
    done = 0
    for pos in range(len(row_order)):
        r = row_order[pos]
        if out != OUT_AUTOENCODER and np.isnan(y[r]):
            continue
        for i in range(units[0]):
            x0[i] = X[r, i]
            a[i] = x0[i]
        if any_drop:
            _draw_masks(units, drop, input_ratio, a, a_off, keep, row_seed(seed, start_sample_count + done))
        off = offset[r] if has_offset else 0.0
        _forward(units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep, True,
                 sparse, off)
        if beta != 0.0:
            for l in range(L - 1):
                for j in range(units[l + 1]):
                    h = h_off[l] + j
                    avg_act[h] = 0.999 * avg_act[h] + 0.001 * a[a_off[l + 1] + j]
        _output_error(out, icfg[I_GRAD], a, a_off, units, y[r], x0, e, fcfg[F_QUANTILE_ALPHA],
                      fcfg[F_TWEEDIE_POWER], fcfg[F_HUBER_DELTA])
        _backprop(units, mults, w_off, b_off, act, weights, biases, w_eg2, w_edx2, b_eg2, b_edx2, w_mom, b_mom,
                  avg_act, h_off, a, a_off, win, e, icfg, fcfg, rates, m)
        done += 1
    return done


@njit(nogil=True, cache=True)
def predict_batch(units, mults, w_off, b_off, drop, act, out, weights, biases, X, offset):
    """Scoring forward pass (no dropout, test-time scaling): n x units[-1] outputs in network space."""
    L = len(units) - 1
    a_off = _offsets(units)
    a = np.zeros(a_off[L + 1], np.float64)
    win = np.zeros(a_off[L + 1], np.int64)
    keep = np.ones(a_off[L + 1], np.uint8)
    n = X.shape[0]
    res = np.empty((n, units[L]), np.float64)
    has_offset = len(offset) > 0
    for r in range(n):
        for i in range(units[0]):
            a[i] = X[r, i]
        _forward(units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep, False,
                 False, offset[r] if has_offset else 0.0)
        for k in range(units[L]):
            res[r, k] = a[a_off[L] + k]
    return res


@njit(nogil=True, cache=True)
def hidden_activations(units, mults, w_off, b_off, drop, act, out, weights, biases, X, layer):
    """Activations of hidden layer `layer` (0-based) at scoring time, as deepfeatures() reports them."""
    a_off = _offsets(units)
    a = np.zeros(a_off[-1], np.float64)
    win = np.zeros(a_off[-1], np.int64)
    keep = np.ones(a_off[-1], np.uint8)
    n = X.shape[0]
    res = np.empty((n, units[layer + 1]), np.float64)
    for r in range(n):
        for i in range(units[0]):
            a[i] = X[r, i]
        for l in range(layer + 1):
            _layer_forward(l, units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep,
                           False, False)
        for j in range(units[layer + 1]):
            res[r, j] = a[a_off[layer + 1] + j]
    return res


@njit(nogil=True, cache=True)
def reconstruction_error(units, mults, w_off, b_off, drop, act, out, weights, biases, X):
    """Per-row mean squared reconstruction error of an autoencoder, in the normalised input space."""
    rec = predict_batch(units, mults, w_off, b_off, drop, act, out, weights, biases, X, np.zeros(0))
    n, p = X.shape
    res = np.empty(n, np.float64)
    for r in range(n):
        s = 0.0
        for i in range(p):
            d = rec[r, i] - X[r, i]
            s += d * d
        res[r] = s / p
    return res

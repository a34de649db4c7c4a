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


# Row loops run with fastmath: sums may be reassociated (rounding-level differences only); no
# NaN/inf tricks are relied on, the stability guard looks at the stored buffers instead.
# error_model="numpy" drops Python's zero-division checks, which would block SIMD.
_FAST = dict(nogil=True, cache=True, fastmath=True, error_model="numpy")
# A numba call passing arrays pays reference counting per array, per call: per-neuron helpers are
# inlined (inline="always") into kernels that loop over a whole layer, so a row makes a few calls
# per layer instead of a few per neuron.
_FLOAT_MAX = 3.4028235e38


@njit(nogil=True, cache=True)
def uniform_stream(seed, n):
    """n uniforms in [0, 1) of a splitmix64 stream started at `seed` (the per-row dropout draws)."""
    out = np.empty(n, np.float64)
    state = np.uint64(seed)
    for i in range(n):
        state, out[i] = _splitmix_next(state)
    return out


@njit(nogil=True, cache=True)
def _splitmix_next(state):
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return state, np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(nogil=True, cache=True)
def _activate(act, z):
    if act == ACT_TANH:
        return 1.0 - 2.0 / (1.0 + np.exp(2.0 * z))
    if act == ACT_RECTIFIER:
        return 0.5 * (z + abs(z))
    return z


# Hot loops index with unsigned integers: numba then drops its negative-index wrap-around
# code, which otherwise keeps LLVM from vectorising (and array views cost a refcount each).

@njit(inline="always", **_FAST)
def _dot_dense(w, base, stride, a, ai, n):
    """sum_i w[base + stride*i] * a[ai + i] (float64 sum of float32 weights)."""
    s = 0.0
    b, c = np.uint64(base), np.uint64(ai)
    if stride == 1:
        for i in range(np.uint64(n)):
            s += w[b + i] * a[c + i]
    else:
        st = np.uint64(stride)
        for i in range(np.uint64(n)):
            s += w[b + st * i] * a[c + i]
    return s


@njit(inline="always", **_FAST)
def _dot_active(w, base, stride, ids, vals, io, n_act):
    """The same sum over the listed non-zero inputs only (indices ids[io:], values vals[io:])."""
    s = 0.0
    b, st, o = np.uint64(base), np.uint64(stride), np.uint64(io)
    for t in range(np.uint64(n_act)):
        s += w[b + st * np.uint64(ids[o + t])] * vals[o + t]
    return s


@njit(nogil=True, cache=True)
def _collect_active(a, ai, n, idx, io, xs):
    """Number of non-zero entries of a[ai:ai+n]; when they are few enough for the sparse
    forward pass (see _layer_forward), also their indices (idx[io:]) and values (xs[io:])."""
    k = _count_nonzero(a, ai, n)
    if 4 * k > n:
        return k
    k = 0
    for i in range(n):
        v = a[ai + i]
        # branch-free append: always write, advance only past non-zeros
        idx[io + k] = i
        xs[io + k] = v
        k += v != 0.0
    return k


@njit(**_FAST)
def _count_nonzero(a, ai, n):
    k = 0
    c = np.uint64(ai)
    for i in range(np.uint64(n)):
        k += a[c + i] != 0.0
    return k


@njit(**_FAST)
def _layer_sums(weights, biases, a, win, keep, idx, xs, io, n_act, n_in, n_out, m, ai, ao, wo, bo, dropping):
    """Pre-activations a[ao + j] of one layer (dropped units: 0; Maxout: the best channel, its
    index in win)."""
    dense = 4 * n_act > n_in
    for j in range(n_out):
        win[ao + j] = 0
        if dropping and keep[ao + j] == 0:
            a[ao + j] = 0.0
            continue
        best = 0.0
        for k in range(m):
            base = wo + m * j * n_in + k
            if dense:
                s = _dot_dense(weights, base, m, a, ai, n_in)
            else:
                s = _dot_active(weights, base, m, idx, xs, io, n_act)
            s += biases[bo + m * j + k]
            if k == 0 or s > best:  # ties keep channel 0
                best = s
                win[ao + j] = k
        a[ao + j] = best


@njit(nogil=True, cache=True)
def _layer_forward(l, units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep,
                   training, idx, xs, io, n_act):
    """Fill layer l+1 from layer l (dropped units: 0; Maxout: remember the winner). The inputs'
    non-zero entries are idx/xs[io:io+n_act]; zero inputs contribute nothing, so they are skipped
    unless the layer is dense anyway."""
    n_in, n_out, m = units[l], units[l + 1], mults[l]
    ai, ao, wo, bo = a_off[l], a_off[l + 1], w_off[l], b_off[l]
    last = l == len(units) - 2
    _layer_sums(weights, biases, a, win, keep, idx, xs, io, n_act, n_in, n_out, m, ai, ao, wo, bo,
                training and not last and drop[l] > 0.0)
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
             offset, idx, xs, io, n_act):
    """All layers; io/n_act receive each layer's active input lists (used again by back-prop)."""
    L = len(units) - 1
    for l in range(L):
        n_act[l] = _collect_active(a, a_off[l], units[l], idx, io[l], xs)
        _layer_forward(l, units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep,
                       training, idx, xs, io[l], n_act[l])
    if out == OUT_LINEAR and offset > 0.0:
        # H2O adds an offset only when it is > 0 (spec §6.5); `offset` is already in network space
        a[a_off[L]] += offset


@njit(nogil=True, cache=True)
def _offsets(units):
    a_off = np.zeros(len(units) + 1, np.int64)
    for l in range(len(units)):
        a_off[l + 1] = a_off[l] + units[l]
    return a_off


@njit(nogil=True, cache=True)
def _draw_masks(units, drop, input_ratio, a, a_off, keep, seed):
    """Input dropout (zero the unit when u < ratio) and hidden keep-bits from one per-row stream.

    Every hidden layer restarts the same hidden stream, as H2O seeds each layer's dropout with
    the same per-row seed: layers of equal size drop the same units. This correlation matters
    for how fast dropout nets learn (H2O's MNIST trial run reaches its error only with it)."""
    state = np.uint64(seed)
    if input_ratio > 0.0:
        for i in range(units[0]):
            state, u = _splitmix_next(state)
            if u < input_ratio:
                a[i] = 0.0
    hidden_start = state
    for l in range(len(units) - 2):
        if drop[l] > 0.0:
            state = hidden_start
            for j in range(units[l + 1]):
                state, u = _splitmix_next(state)
                keep[a_off[l + 1] + j] = 1 if u >= drop[l] else 0


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


@njit(inline="always", **_FAST)
def _adadelta_row(w, eg2s, edx2s, base, x, ai, n, g, fast, l1, l2, rho, eps):
    """ADADELTA step of one neuron's incoming weights w[base + i] (spec §8.3) in float32 (H2O
    keeps weights and accumulators in float); inputs x[ai + i]. Returns the sum of grad^2 of the
    updated weights; fast_mode leaves weights of zero inputs untouched. Branch-free, so it runs
    as SIMD."""
    rho32, eps32, omr = np.float32(rho), np.float32(eps), np.float32(1.0 - rho)
    l1_32, l2_32, g32 = np.float32(l1), np.float32(l2), np.float32(g)
    one, zero = np.float32(1.0), np.float32(0.0)
    sum_g2 = np.float32(0.0)
    b, c = np.uint64(base), np.uint64(ai)
    for i in range(np.uint64(n)):
        k = b + i
        wi = w[k]
        xi = x[c + i]
        grad = g32 * xi + l1_32 * ((one if wi > zero else zero) - (one if wi < zero else zero)) + l2_32 * wi
        g2 = grad * grad
        eg2 = rho32 * eg2s[k] + omr * g2
        rate2 = (edx2s[k] + eps32) / (eg2 + eps32)
        edx2 = rho32 * edx2s[k] + omr * rate2 * g2
        neww = wi - np.sqrt(rate2) * grad
        upd = (not fast) or xi != zero
        eg2s[k] = eg2 if upd else eg2s[k]
        edx2s[k] = edx2 if upd else edx2s[k]
        w[k] = neww if upd else wi
        sum_g2 += g2 if upd else zero
    return np.float64(sum_g2)


@njit(inline="always", **_FAST)
def _adadelta_row_plain(w, eg2s, edx2s, base, x, ai, n, g, fast, rho, eps):
    """_adadelta_row without L1/L2 terms (the default): half the work per weight."""
    rho32, eps32, omr = np.float32(rho), np.float32(eps), np.float32(1.0 - rho)
    g32 = np.float32(g)
    zero = np.float32(0.0)
    sum_g2 = np.float32(0.0)
    b, c = np.uint64(base), np.uint64(ai)
    for i in range(np.uint64(n)):
        k = b + i
        wi = w[k]
        xi = x[c + i]
        grad = g32 * xi
        g2 = grad * grad
        eg2 = rho32 * eg2s[k] + omr * g2
        rate2 = (edx2s[k] + eps32) / (eg2 + eps32)
        edx2 = rho32 * edx2s[k] + omr * rate2 * g2
        neww = wi - np.sqrt(rate2) * grad
        upd = (not fast) or xi != zero
        eg2s[k] = eg2 if upd else eg2s[k]
        edx2s[k] = edx2 if upd else edx2s[k]
        w[k] = neww if upd else wi
        sum_g2 += g2 if upd else zero
    return np.float64(sum_g2)


@njit(nogil=True, cache=True)
def _adadelta_strided(w, eg2s, edx2s, base, stride, x, ai, n, g, fast, l1, l2, rho, eps):
    """The same step for Maxout's interleaved channels (weights w[base + stride*i])."""
    sum_g2 = 0.0
    for i in range(n):
        k = base + stride * i
        wi = np.float32(w[k])
        xi = np.float32(x[ai + i])
        if fast and xi == 0.0:
            continue
        grad = np.float32(g) * xi + np.float32(l1) * np.float32(_sign(wi)) + np.float32(l2) * wi
        g2 = grad * grad
        eg2 = np.float32(rho) * eg2s[k] + np.float32(1.0 - rho) * g2
        rate2 = (edx2s[k] + np.float32(eps)) / (eg2 + np.float32(eps))
        edx2s[k] = np.float32(rho) * edx2s[k] + np.float32(1.0 - rho) * rate2 * g2
        eg2s[k] = eg2
        w[k] = wi - np.sqrt(rate2) * grad
        sum_g2 += g2
    return sum_g2


@njit(inline="always", **_FAST)
def _adadelta_neuron(weights, eg2s, edx2s, e, a32, ai, base, mult, n_in, g, propagate, fast, l1, l2, rho, eps):
    """Error propagation to the inputs (weights before their update), then the update."""
    if propagate:
        _propagate(e, ai, weights, base, mult, n_in, g)
    if mult == 1:
        if l1 == 0.0 and l2 == 0.0:
            return _adadelta_row_plain(weights, eg2s, edx2s, base, a32, ai, n_in, g, fast, rho, eps)
        return _adadelta_row(weights, eg2s, edx2s, base, a32, ai, n_in, g, fast, l1, l2, rho, eps)
    return _adadelta_strided(weights, eg2s, edx2s, base, mult, a32, ai, n_in, g, fast, l1, l2, rho, eps)


@njit(**_FAST)
def _adadelta_layer(weights, eg2s, edx2s, e, a32, gs, win, sg2, ai, ao, wo, mult, n_in, n_out, propagate, fast,
                    shortcut, l1, l2, rho, eps):
    """ADADELTA steps of one layer's neurons in order (errors gs[ao + j] after the activation
    derivative); each neuron's sum of squared weight gradients goes to sg2[ao + j]."""
    for j in range(n_out):
        g = gs[ao + j]
        if shortcut and g == 0.0:
            continue
        base = wo + mult * j * n_in + win[ao + j]
        sg2[ao + j] = _adadelta_neuron(weights, eg2s, edx2s, e, a32, ai, base, mult, n_in, g, propagate, fast,
                                       l1, l2, rho, eps)


@njit(inline="always", **_FAST)
def _propagate(e, ai, w, base, stride, n, g):
    """e[ai + i] += g * w[base + stride*i]: a neuron's error share for its inputs."""
    b, st, c = np.uint64(base), np.uint64(stride), np.uint64(ai)
    if stride == 1:
        for i in range(np.uint64(n)):
            e[c + i] += g * w[b + i]
    else:
        for i in range(np.uint64(n)):
            e[c + i] += g * w[b + st * i]


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


@njit(**_FAST)
def _row_norm2(w, base, stride, n):
    s = np.float32(0.0)
    b, st = np.uint64(base), np.uint64(stride)
    for i in range(np.uint64(n)):
        s += w[b + st * i] * w[b + st * i]
    return s


@njit(nogil=True, cache=True)
def _backprop(units, mults, w_off, b_off, act, weights, biases, w_eg2, w_edx2, b_eg2, b_edx2, w_mom, b_mom,
              avg_act, h_off, a, a32, a_off, win, e, gs, sg2, icfg, fcfg, rates, m):
    adaptive, nesterov, has_mom = icfg[I_ADAPTIVE] != 0, icfg[I_NESTEROV] != 0, icfg[I_HAS_MOMENTUM] != 0
    fast, shortcut = icfg[I_FAST_MODE] != 0, icfg[I_SHORTCUT] != 0
    rho, eps, l1, l2, max_w2 = fcfg[F_RHO], fcfg[F_EPSILON], fcfg[F_L1], fcfg[F_L2], fcfg[F_MAX_W2]
    beta, target_act = fcfg[F_SPARSITY_BETA], fcfg[F_AVERAGE_ACTIVATION]
    # the default max_w2 (Float.MAX_VALUE) can only bind once a row norm overflows float32, i.e.
    # on a model the stability guard rejects anyway: skip the norm pass then
    check_w2 = max_w2 < _FLOAT_MAX
    L = len(units) - 1
    for l in range(L - 1, -1, -1):
        n_in, n_out, mult = units[l], units[l + 1], mults[l]
        ai, ao, wo, bo = a_off[l], a_off[l + 1], w_off[l], b_off[l]
        last = l == L - 1
        r = rates[l]
        propagate = l > 0
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
            gs[ao + j] = g
        if adaptive:
            # a neuron's update touches only its own weight row: all rows first, then each row's
            # max_w2 constraint and bias, give the same result as neuron by neuron
            _adadelta_layer(weights, w_eg2, w_edx2, e, a32, gs, win, sg2, ai, ao, wo, mult, n_in, n_out, propagate,
                            fast, shortcut, l1, l2, rho, eps)
        for j in range(n_out):
            g = gs[ao + j]
            if shortcut and g == 0.0:
                continue
            k = win[ao + j]
            base = wo + mult * j * n_in + k
            if adaptive:
                sum_g2 = sg2[ao + j]
            else:
                _manual_row(weights, w_mom, e, a, ai, base, mult, n_in, g, propagate, fast, l1, l2, nesterov,
                            has_mom, r, m)
                sum_g2 = 0.0
            if check_w2:
                s = _row_norm2(weights, base, mult, n_in)
                if s > max_w2:
                    scale = np.float32(np.sqrt(max_w2 / s))
                    for i in range(n_in):
                        widx = base + mult * i
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
    a32 = np.zeros(total, np.float32)
    e = np.zeros(total, np.float64)
    gs = np.zeros(total, np.float64)  # errors after the activation derivative
    sg2 = np.zeros(total, np.float64)  # per neuron: sum of squared weight gradients
    win = np.zeros(total, np.int64)
    keep = np.ones(total, np.uint8)
    x0 = np.zeros(units[0], np.float64)
    h_off = np.zeros(L, np.int64)
    for l in range(L - 1):
        h_off[l + 1] = h_off[l] + units[l + 1]
    # non-zero inputs of every layer (indices and values), for sparse forward passes
    idx = np.zeros(a_off[L], np.int64)
    xs = np.zeros(a_off[L], np.float64)
    io = a_off[:L].copy()
    n_act = np.zeros(L, np.int64)
    adaptive = icfg[I_ADAPTIVE] != 0
    # H2O 3.46 evaluates the ramp at n = -1 in training (spec §8.4); the flag reproduces that
    m_at = -1 if icfg[I_MOMENTUM_QUIRK] != 0 else start_sample_count
    m = 0.0 if adaptive or icfg[I_HAS_MOMENTUM] == 0 else momentum_at(fcfg, m_at)
    rates = layer_rates(L, fcfg, start_sample_count, m)
    any_drop = input_ratio > 0.0
    for l in range(L - 1):
        any_drop = any_drop or drop[l] > 0.0
    beta = fcfg[F_SPARSITY_BETA]
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
                 off, idx, xs, io, n_act)
        if beta != 0.0:
            for l in range(L - 1):
                for j in range(units[l + 1]):
                    h = h_off[l] + j
                    avg_act[h] = 0.999 * avg_act[h] + 0.001 * a[a_off[l + 1] + j]
        _output_error(out, icfg[I_GRAD], a, a_off, units, y[r], x0, e, fcfg[F_QUANTILE_ALPHA],
                      fcfg[F_TWEEDIE_POWER], fcfg[F_HUBER_DELTA])
        for i in range(a_off[L]):
            a32[i] = a[i]
        _backprop(units, mults, w_off, b_off, act, weights, biases, w_eg2, w_edx2, b_eg2, b_edx2, w_mom, b_mom,
                  avg_act, h_off, a, a32, a_off, win, e, gs, sg2, icfg, fcfg, rates, m)
        done += 1
    return done


@njit(nogil=True, cache=True)
def _score_row(units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep, idx, xs, io,
               n_act, upto, offset):
    for l in range(upto):
        n_act[l] = _collect_active(a, a_off[l], units[l], idx, io[l], xs)
        _layer_forward(l, units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep,
                       False, idx, xs, io[l], n_act[l])
    if upto == len(units) - 1 and out == OUT_LINEAR and offset > 0.0:
        a[a_off[upto]] += offset


@njit(nogil=True, cache=True)
def _scoring_outputs(units, mults, w_off, b_off, drop, act, out, weights, biases, X, offset, upto):
    """Scoring forward pass up to layer `upto` (no dropout, test-time scaling)."""
    L = len(units) - 1
    a_off = _offsets(units)
    a = np.zeros(a_off[L + 1], np.float64)
    win = np.zeros(a_off[L + 1], np.int64)
    keep = np.ones(a_off[L + 1], np.uint8)
    idx = np.zeros(a_off[L], np.int64)
    xs = np.zeros(a_off[L], np.float64)
    io = a_off[:L].copy()
    n_act = np.zeros(L, np.int64)
    n = X.shape[0]
    res = np.empty((n, units[upto]), np.float64)
    has_offset = len(offset) > 0
    for r in range(n):
        for i in range(units[0]):
            a[i] = X[r, i]
        _score_row(units, mults, w_off, b_off, drop, act, out, weights, biases, a, a_off, win, keep, idx, xs, io,
                   n_act, upto, offset[r] if has_offset else 0.0)
        for k in range(units[upto]):
            res[r, k] = a[a_off[upto] + k]
    return res


@njit(nogil=True, cache=True)
def predict_batch(units, mults, w_off, b_off, drop, act, out, weights, biases, X, offset):
    """Scoring forward pass (no dropout, test-time scaling): n x units[-1] outputs in network space."""
    return _scoring_outputs(units, mults, w_off, b_off, drop, act, out, weights, biases, X, offset,
                            len(units) - 1)


@njit(nogil=True, cache=True)
def hidden_activations(units, mults, w_off, b_off, drop, act, out, weights, biases, X, layer):
    """Activations of hidden layer `layer` (0-based) at scoring time, as deepfeatures() reports them."""
    return _scoring_outputs(units, mults, w_off, b_off, drop, act, out, weights, biases, X, np.zeros(0),
                            layer + 1)


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

"""Deep Learning kernels against a plain numpy reference network (spec deeplearning.md §5-§9, §12)."""
import pickle

import numpy as np
import pytest

from daskml_h2o.deeplearning import kernels as K
from daskml_h2o.deeplearning import local_train as LT
from daskml_h2o.deeplearning import network as N

ACTS = ["Tanh", "Rectifier", "Maxout"]
REG_CODES = {"gaussian": K.GRAD_GAUSSIAN, "laplace": K.GRAD_LAPLACE, "quantile": K.GRAD_QUANTILE,
             "huber": K.GRAD_HUBER, "poisson": K.GRAD_POISSON, "gamma": K.GRAD_GAMMA, "tweedie": K.GRAD_TWEEDIE}
ALPHA, POWER, DELTA = 0.3, 1.4, 1.0


# ----------------------------------------------------------------------------- numpy reference network

def ref_params(state):
    """Per-layer float64 weights (H2O shapes) and biases."""
    spec = state.spec
    return ([state.W(l).astype(np.float64) for l in range(spec.n_layers)],
            [state.b(l).copy() for l in range(spec.n_layers)])


def _act(spec, z):
    if spec.activation == N.ACT_TANH:
        return np.tanh(z)
    if spec.activation == N.ACT_RECTIFIER:
        return np.maximum(z, 0.0)
    return z


def ref_forward(spec, Ws, bs, x, training=False, keep=None, offset=0.0):
    """Activations of every layer for one row; Maxout winners per hidden layer."""
    acts, wins = [np.asarray(x, np.float64)], []
    L = spec.n_layers
    for l in range(L):
        a = acts[-1]
        n_out = spec.units[l + 1]
        if spec.mults[l] == 2:
            z2 = np.einsum("jik,i->jk", Ws[l].reshape(n_out, spec.units[l], 2), a) + bs[l].reshape(n_out, 2)
            win = np.argmax(z2, axis=1)
            z = z2[np.arange(n_out), win]
        else:
            z = Ws[l] @ a + bs[l]
            win = np.zeros(n_out, int)
        if l == L - 1:
            if spec.output == N.OUT_SOFTMAX:
                p = np.exp(z - z.max())
                a = p / p.sum()
            elif spec.output == N.OUT_LINEAR:
                a = z + (offset if offset > 0 else 0.0)
            else:
                a = _act(spec, z)
        else:
            a = _act(spec, z)
            if training and keep is not None:
                a = np.where(keep[l], a, 0.0)
                win = np.where(keep[l], win, 0)
            elif not training:
                a = a * (1.0 - spec.hidden_dropout_ratios[l])
        acts.append(a)
        wins.append(win)
    return acts, wins


def ref_loss(code, t, f):
    """Loss whose derivative in f is H2O's output error (spec §7)."""
    d = f - t
    return {
        K.GRAD_GAUSSIAN: d * d,
        K.GRAD_LAPLACE: abs(d),
        K.GRAD_QUANTILE: (ALPHA * (t - f) if t > f else (1 - ALPHA) * (f - t)),
        K.GRAD_HUBER: d * d if abs(d) <= DELTA else 2 * DELTA * abs(d) - DELTA ** 2,
        K.GRAD_POISSON: 2 * (np.exp(f) - t * f),
        K.GRAD_GAMMA: 2 * (t * np.exp(-f) + f),
        K.GRAD_TWEEDIE: 2 * (-t * np.exp(f * (1 - POWER)) / (1 - POWER) + np.exp(f * (2 - POWER)) / (2 - POWER)),
    }[code]


def ref_output_error(spec, code, out, target, x0):
    if spec.output == N.OUT_SOFTMAX:
        t = np.zeros_like(out)
        t[int(target)] = 1.0
        return out - t if code == K.GRAD_CROSS_ENTROPY else (out - t) * (1 - out) * out
    ts = [target] if spec.output == N.OUT_LINEAR else list(x0)
    e = []
    for t, f in zip(ts, out):
        h = 1e-7
        e.append((ref_loss(code, t, f + h) - ref_loss(code, t, f - h)) / (2 * h))
    return np.array(e)


def ref_grads(spec, Ws, bs, x, target, code, keep=None, offset=0.0):
    """Back-prop by whole-layer numpy algebra, following H2O's rules (§7, §8.1)."""
    x_in = np.asarray(x, np.float64)
    acts, wins = ref_forward(spec, Ws, bs, x_in, training=True, keep=keep, offset=offset)
    L = spec.n_layers
    e = ref_output_error(spec, code, acts[-1], target, x_in)
    gW, gb = [None] * L, [None] * L
    for l in reversed(range(L)):
        a_prev, a_cur, n_out, n_in = acts[l], acts[l + 1], spec.units[l + 1], spec.units[l]
        if l == L - 1:
            g = e
        elif spec.activation == N.ACT_TANH:
            g = e * (1 - a_cur ** 2)
        elif spec.activation == N.ACT_RECTIFIER:
            g = e * (a_cur > 0)
        else:
            g = e
        if spec.mults[l] == 2:
            W3 = Ws[l].reshape(n_out, n_in, 2)
            g3 = np.zeros((n_out, n_in, 2))
            gb2 = np.zeros((n_out, 2))
            g3[np.arange(n_out), :, wins[l]] = np.outer(g, a_prev)
            gb2[np.arange(n_out), wins[l]] = g
            gW[l], gb[l] = g3.reshape(Ws[l].shape), gb2.ravel()
            e = np.einsum("j,ji->i", g, W3[np.arange(n_out), :, wins[l]])
        else:
            gW[l], gb[l] = np.outer(g, a_prev), g.copy()
            e = Ws[l].T @ g
    return gW, gb


def total_loss(spec, Ws, bs, x, target, code):
    out = ref_forward(spec, Ws, bs, x, training=True)[0][-1]
    if spec.output == N.OUT_SOFTMAX:
        return -np.log(out[int(target)])
    return ref_loss(code, target, out[0])


# ----------------------------------------------------------------------------- helpers

def f32(values):
    """Float64 values that are exact in float32, as the kernels read X."""
    return np.asarray(values, np.float32).astype(np.float64)


def make(act="Tanh", hidden=(4, 3), n_in=3, out="softmax", n_out=3, seed=1, **kw):
    spec = N.make_spec(n_in, hidden, n_out, act, out, **kw)
    state = N.init_state(spec, seed)
    rng = np.random.default_rng(seed + 100)
    # random biases so that Maxout channels and Rectifier units are all in play
    state.biases[:] = rng.uniform(-0.5, 0.5, state.biases.size)
    return spec, state


def run_rows(state, X, y, params, start=0, seed=7, offset=None, rows=None):
    """Run the training kernel on a copy; returns (copy, processed)."""
    s = state.copy()
    spec = s.spec
    X = np.ascontiguousarray(X, np.float32)
    y = np.zeros(len(X)) if y is None else np.asarray(y, np.float64)
    rows = np.arange(len(X), dtype=np.int64) if rows is None else rows
    off = np.zeros(0) if offset is None else np.asarray(offset, np.float64)
    icfg, fcfg = params.kernel_config()
    n = K.train_rows(*spec.layout()[:7], spec.input_dropout_ratio, *s.arrays(), X, y, off, rows, start, seed,
                     icfg, fcfg)
    return s, n


def sgd(code=K.GRAD_CROSS_ENTROPY, **kw):
    """Plain SGD with rate 1 and nothing else, so that W_old - W_new is the gradient."""
    base = dict(output_gradient=code, adaptive_rate=False, rate=1.0, rate_annealing=0.0, fast_mode=False,
                quantile_alpha=ALPHA, tweedie_power=POWER, huber_delta=DELTA)
    base.update(kw)
    return LT.TrainParams(**base)


def kernel_grads(state, x, y, code, **kw):
    new, n = run_rows(state, x[None, :], [y], sgd(code, **kw))
    assert n == 1
    L = state.spec.n_layers
    return ([state.W(l).astype(np.float64) - new.W(l).astype(np.float64) for l in range(L)],
            [state.b(l) - new.b(l) for l in range(L)])


def splitmix_uniforms(seed, n):
    """Reference splitmix64 stream (pure Python integers): the kernel's per-row uniforms."""
    mask, state, out = (1 << 64) - 1, int(seed) & ((1 << 64) - 1), []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out.append((z >> 11) / 2.0 ** 53)
    return np.array(out)


def row_masks(spec, seed, sample_index):
    """The per-row dropout draws the kernel makes: the input's first, then one hidden stream that
    every hidden layer starts again from (H2O seeds all hidden layers alike)."""
    n_in = spec.units[0] if spec.input_dropout_ratio > 0 else 0
    u = splitmix_uniforms(K.row_seed(seed, sample_index), n_in + max(spec.units[1:-1], default=0))
    in_drop = u[:n_in] < spec.input_dropout_ratio if n_in else None
    keep = [u[n_in:n_in + spec.units[l + 1]] >= r if r > 0 else np.ones(spec.units[l + 1], bool)
            for l, r in enumerate(spec.hidden_dropout_ratios)]
    return in_drop, keep


# ----------------------------------------------------------------------------- layout and initialisation

def test_spec_validation_errors():
    with pytest.raises(ValueError, match="hidden\\[1\\]=0"):
        N.make_spec(3, [4, 0], 2)
    with pytest.raises(ValueError, match="input=0"):
        N.make_spec(0, [4], 2)
    with pytest.raises(ValueError, match="one ratio per hidden layer"):
        N.make_spec(3, [4, 4], 2, "TanhWithDropout", hidden_dropout_ratios=[0.5])
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        N.make_spec(3, [4], 2, "TanhWithDropout", hidden_dropout_ratios=[1.0])
    with pytest.raises(ValueError, match="WithDropout"):
        N.make_spec(3, [4], 2, "Tanh", hidden_dropout_ratios=[0.2])
    with pytest.raises(ValueError, match="input_dropout_ratio"):
        N.make_spec(3, [4], 2, input_dropout_ratio=-0.1)
    with pytest.raises(ValueError, match="k=3"):
        N.make_spec(3, [4], 2, "Maxout", maxout_k=3)
    with pytest.raises(ValueError, match="activation"):
        N.make_spec(3, [4], 2, "Sigmoid")
    with pytest.raises(ValueError, match="n_outputs must equal"):
        N.make_spec(3, [4], 2, "Tanh", "autoencoder")


def test_spec_names_mangled_and_default_dropout():
    spec = N.make_spec(3, [4, 5], 2, "rectifier_with_dropout")
    assert spec.activation == N.ACT_RECTIFIER and spec.dropout
    assert spec.hidden_dropout_ratios == (0.5, 0.5)
    assert spec.activation_name == "RectifierWithDropout"
    m = N.make_spec(3, [4], 2, "Maxout")
    assert m.weight_shapes == ((8, 3), (2, 4))
    assert m.n_biases == 10


def test_uniform_adaptive_init_and_biases():
    spec = N.make_spec(5, [7, 6], 3, "Rectifier")
    st = N.init_state(spec, 3)
    r0, r2 = np.sqrt(6 / 12), np.sqrt(6 / 9) * 4  # output layer of a classifier is x4
    assert np.abs(st.W(0)).max() <= r0 and np.abs(st.W(0)).max() > 0.8 * r0
    assert np.abs(st.W(2)).max() <= r2 and np.abs(st.W(2)).max() > r2 / 4
    assert np.all(st.b(0) == 0.5) and np.all(st.b(1) == 1.0) and np.all(st.b(2) == 0.0)
    tanh = N.init_state(N.make_spec(5, [7], 1, "Tanh", "linear"), 3)
    assert np.all(tanh.biases == 0) and np.abs(tanh.W(1)).max() <= np.sqrt(6 / 8)
    normal = N.init_state(N.make_spec(50, [40], 1, "Tanh", "linear"), 3, "Normal", 0.1)
    assert abs(normal.W(0).std() - 0.1) < 0.01
    uni = N.init_state(N.make_spec(50, [40], 1, "Tanh", "linear"), 3, "Uniform", 0.2)
    assert np.abs(uni.W(0)).max() <= 0.2 and np.abs(uni.W(0)).max() > 0.19
    assert st.weights.dtype == np.float32 and st.biases.dtype == np.float64


def test_init_seeded_and_picklable():
    spec = N.make_spec(4, [5], 2, "Tanh")
    a, b, c = N.init_state(spec, 11), N.init_state(spec, 11), N.init_state(spec, 12)
    assert np.array_equal(a.weights, b.weights) and not np.array_equal(a.weights, c.weights)
    d = pickle.loads(pickle.dumps(a))
    assert d.spec == spec and np.array_equal(d.weights, a.weights) and np.shares_memory(d.W(0), d.weights)


# ----------------------------------------------------------------------------- forward pass

# Maxout autoencoders are rejected before training (tests/test_deeplearning.py), so they have no case here.
@pytest.mark.parametrize("act, out", [
    (a, o) for a in ACTS + ["TanhWithDropout", "RectifierWithDropout", "MaxoutWithDropout"]
    for o in ("softmax", "linear", "autoencoder") if not (o == "autoencoder" and a.startswith("Maxout"))])
def test_forward_matches_reference(act, out):
    n_out = {"softmax": 3, "linear": 1, "autoencoder": 4}[out]
    ratios = [0.2, 0.4] if "Dropout" in act else None
    spec, st = make(act, (5, 3), n_in=4, out=out, n_out=n_out, hidden_dropout_ratios=ratios)
    X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    Ws, bs = ref_params(st)
    got = LT.predict(st, X)
    exp = np.array([ref_forward(spec, Ws, bs, x)[0][-1] for x in X.astype(np.float64)])
    np.testing.assert_allclose(got, exp, rtol=1e-10, atol=1e-12)
    for layer in range(2):
        feats = LT.deep_features(st, X, layer)
        exp_f = np.array([ref_forward(spec, Ws, bs, x)[0][layer + 1] for x in X.astype(np.float64)])
        np.testing.assert_allclose(feats, exp_f, rtol=1e-10, atol=1e-12)


def test_scoring_scales_hidden_by_keep_probability():
    spec, st = make("RectifierWithDropout", (4,), n_in=3, out="linear", n_out=1, hidden_dropout_ratios=[0.3])
    X = np.ones((1, 3), np.float32)
    plain = np.maximum(st.W(0).astype(np.float64) @ np.ones(3) + st.b(0), 0)
    np.testing.assert_allclose(LT.deep_features(st, X, 0)[0], plain * 0.7, rtol=1e-12)


def test_offset_added_only_when_positive():
    spec, st = make("Tanh", (3,), n_in=2, out="linear", n_out=1)
    X = np.zeros((3, 2), np.float32)
    base = LT.predict(st, X)[:, 0]
    got = LT.predict(st, X, offset=f32([0.7, 0.0, -2.0]))[:, 0]
    np.testing.assert_allclose(got - base, [0.7, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(LT.network_offset([2.0, -1.0], 1.0, 0.5), [0.5, 0.0])


def test_reconstruction_error_and_deep_features_layer_check():
    spec, st = make("Tanh", (3,), n_in=4, out="autoencoder", n_out=4)
    X = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    rec = LT.predict(st, X)
    np.testing.assert_allclose(LT.reconstruction_errors(st, X), ((rec - X) ** 2).mean(axis=1), rtol=1e-12)
    with pytest.raises(ValueError, match="layer=1"):
        LT.deep_features(st, X, 1)


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("act", ACTS)
def test_reference_gradient_is_finite_difference_cross_entropy(act):
    spec, st = make(act, (4, 3), n_in=3, out="softmax", n_out=3)
    Ws, bs = ref_params(st)
    x, t = f32([0.3, -0.8, 1.1]), 2
    gW, gb = ref_grads(spec, Ws, bs, x, t, K.GRAD_CROSS_ENTROPY)
    _check_fd(spec, Ws, bs, x, t, K.GRAD_CROSS_ENTROPY, gW, gb)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dist", list(REG_CODES))
def test_reference_gradient_is_finite_difference_regression(act, dist):
    spec, st = make(act, (4, 3), n_in=3, out="linear", n_out=1)
    Ws, bs = ref_params(st)
    x = f32([0.3, -0.8, 1.1])
    f = ref_forward(spec, Ws, bs, x)[0][-1][0]
    code = REG_CODES[dist]
    for t in ([f + 0.4, f - 2.5] if dist == "huber" else [abs(f) + 0.7]):  # both Huber regimes
        gW, gb = ref_grads(spec, Ws, bs, x, t, code)
        _check_fd(spec, Ws, bs, x, t, code, gW, gb)


def _check_fd(spec, Ws, bs, x, t, code, gW, gb, h=1e-6):
    for l in range(spec.n_layers):
        for P, G in ((Ws[l], gW[l]), (bs[l], gb[l])):
            flat, gflat = P.reshape(-1), G.reshape(-1)
            for idx in range(flat.size):
                old = flat[idx]
                flat[idx] = old + h
                up = total_loss(spec, Ws, bs, x, t, code)
                flat[idx] = old - h
                down = total_loss(spec, Ws, bs, x, t, code)
                flat[idx] = old
                assert abs((up - down) / (2 * h) - gflat[idx]) < 1e-5 * max(1.0, abs(gflat[idx])), (l, idx)


LOSS_CASES = ([("softmax", K.GRAD_CROSS_ENTROPY), ("softmax", K.GRAD_SOFTMAX_QUADRATIC)]
              + [("linear", c) for c in REG_CODES.values()]
              + [("autoencoder", K.GRAD_GAUSSIAN), ("autoencoder", K.GRAD_LAPLACE), ("autoencoder", K.GRAD_HUBER)])


@pytest.mark.parametrize("act, out, code", [
    (a, o, c) for a in ACTS for o, c in LOSS_CASES if not (o == "autoencoder" and a == "Maxout")])
def test_kernel_gradient_matches_reference(act, out, code):
    n_out = {"softmax": 3, "linear": 1, "autoencoder": 3}[out]
    spec, st = make(act, (4, 3), n_in=3, out=out, n_out=n_out)
    Ws, bs = ref_params(st)
    x = f32([0.3, -0.8, 1.1])
    t = 1 if out == "softmax" else 0.9
    gW, gb = ref_grads(spec, Ws, bs, x, t, code)
    kW, kb = kernel_grads(st, x, t, code)
    for l in range(spec.n_layers):
        np.testing.assert_allclose(kW[l], gW[l], rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(kb[l], gb[l], rtol=1e-5, atol=2e-6)


def test_softmax_quadratic_error_is_diagonal_formula():
    spec, st = make("Tanh", (), n_in=2, out="softmax", n_out=3)
    x = f32([0.5, -0.25])
    p = ref_forward(spec, *ref_params(st), x)[0][-1]
    kW, kb = kernel_grads(st, x, 0, K.GRAD_SOFTMAX_QUADRATIC)
    t = f32([1.0, 0, 0])
    np.testing.assert_allclose(kb[0], (p - t) * (1 - p) * p, rtol=1e-10)


def test_autoencoder_output_derivative_not_applied():
    """H2O feeds 2(y - x) straight into the Tanh output layer (no 1 - y^2)."""
    spec, st = make("Tanh", (), n_in=3, out="autoencoder", n_out=3)
    x = f32([0.5, -0.25, 0.125])
    y = ref_forward(spec, *ref_params(st), x)[0][-1]
    _, kb = kernel_grads(st, x, 0, K.GRAD_GAUSSIAN)
    np.testing.assert_allclose(kb[0], 2 * (y - x), rtol=1e-10)


# ----------------------------------------------------------------------------- optimiser

def test_adadelta_step_by_hand():
    spec, st = make("Tanh", (3,), n_in=3, out="softmax", n_out=2)
    rho, eps = 0.95, 1e-6
    st.w_eg2[:] = np.linspace(0.01, 0.2, st.weights.size)
    st.w_edx2[:] = np.linspace(0.001, 0.02, st.weights.size)
    st.b_eg2[:] = 0.03
    st.b_edx2[:] = 0.002
    x, t = f32([0.3, -0.8, 1.1]), 1
    Ws, bs = ref_params(st)
    gW, gb = ref_grads(spec, Ws, bs, x, t, K.GRAD_CROSS_ENTROPY)
    params = LT.TrainParams(rho=rho, epsilon=eps, fast_mode=False)
    new, _ = run_rows(st, x[None, :], [t], params)
    for l in range(spec.n_layers):
        o0, o1 = spec.w_offsets[l], spec.w_offsets[l + 1]
        g = gW[l].ravel()
        eg2 = rho * st.w_eg2[o0:o1].astype(np.float64) + (1 - rho) * g * g
        rate = np.sqrt((st.w_edx2[o0:o1] + eps) / (eg2 + eps))
        edx2 = rho * st.w_edx2[o0:o1] + (1 - rho) * rate * rate * g * g
        np.testing.assert_allclose(new.W(l).ravel(), Ws[l].ravel() - rate * g, rtol=2e-6, atol=1e-7)
        np.testing.assert_allclose(new.w_eg2[o0:o1], eg2, rtol=2e-6)
        np.testing.assert_allclose(new.w_edx2[o0:o1], edx2, rtol=2e-6)
        # bias statistics are fed with the neuron's mean squared weight gradient
        avg_g2 = (gW[l] ** 2).mean(axis=1)
        b0, b1 = spec.b_offsets[l], spec.b_offsets[l + 1]
        beg2 = rho * st.b_eg2[b0:b1] + (1 - rho) * avg_g2
        rb = np.sqrt((st.b_edx2[b0:b1] + eps) / (beg2 + eps))
        np.testing.assert_allclose(new.b(l), bs[l] - rb * gb[l], rtol=1e-6)
        np.testing.assert_allclose(new.b_edx2[b0:b1], 0.95 * st.b_edx2[b0:b1] + 0.05 * rb * rb * avg_g2, rtol=1e-6)


@pytest.mark.parametrize("nesterov", [True, False])
def test_momentum_two_steps_by_hand(nesterov):
    spec, st = make("Tanh", (3,), n_in=3, out="linear", n_out=1)
    rate, m0, m1, ramp = 0.1, 0.2, 0.8, 100.0
    params = LT.TrainParams(output_gradient=K.GRAD_GAUSSIAN, adaptive_rate=False, rate=rate, rate_annealing=0.0,
                            momentum_start=m0, momentum_stable=m1, momentum_ramp=ramp, fast_mode=False,
                            nesterov_accelerated_gradient=nesterov)
    xs, ts = np.array([[0.3, -0.8, 1.1], [-0.5, 0.2, 0.4]]), [0.5, -0.3]
    Ws, bs = ref_params(st)
    MW = [np.zeros_like(w) for w in Ws]
    Mb = [np.zeros_like(b) for b in bs]
    cur = st
    for step, start in enumerate([0, 50]):
        m = m0 + (m1 - m0) * start / ramp
        r = rate * (1 - m)
        gW, gb = ref_grads(spec, Ws, bs, xs[step], ts[step], K.GRAD_GAUSSIAN)
        for l in range(spec.n_layers):
            for P, M, G in ((Ws, MW, gW), (bs, Mb, gb)):
                if nesterov:
                    M[l] = m * M[l] - G[l]
                    P[l] = P[l] + r * M[l]
                else:
                    d = -r * G[l]
                    P[l] = P[l] + d + m * M[l]
                    M[l] = d
        cur, _ = run_rows(cur, xs[step][None, :], [ts[step]], params, start=start)
        for l in range(spec.n_layers):
            np.testing.assert_allclose(cur.W(l), Ws[l], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(cur.b(l), bs[l], rtol=1e-6, atol=1e-7)
        Ws = [cur.W(l).astype(np.float64) for l in range(spec.n_layers)]  # continue from the float32 weights


def test_momentum_quirk_uses_minus_one_samples():
    spec, st = make("Tanh", (), n_in=3, out="linear", n_out=1)
    x, t = f32([0.3, -0.8, 1.1]), 0.5
    gW, _ = ref_grads(spec, *ref_params(st), x, t, K.GRAD_GAUSSIAN)
    params = LT.TrainParams(output_gradient=K.GRAD_GAUSSIAN, adaptive_rate=False, rate=0.1, rate_annealing=0.0,
                            momentum_start=0.2, momentum_stable=0.8, momentum_ramp=10.0, fast_mode=False,
                            nesterov_accelerated_gradient=False, h2o_momentum_quirk=True)
    new, _ = run_rows(st, x[None, :], [t], params, start=5)
    m = 0.2 - (0.8 - 0.2) / 10.0
    np.testing.assert_allclose(st.W(0) - new.W(0).astype(np.float64), 0.1 * (1 - m) * gW[0], rtol=1e-5)


def test_rate_annealing_and_decay():
    spec, st = make("Tanh", (3,), n_in=3, out="linear", n_out=1)
    x, t = f32([0.3, -0.8, 1.1]), 0.5
    gW, _ = ref_grads(spec, *ref_params(st), x, t, K.GRAD_GAUSSIAN)
    params = sgd(K.GRAD_GAUSSIAN, rate=0.5, rate_annealing=1e-3, rate_decay=0.5)
    new, _ = run_rows(st, x[None, :], [t], params, start=1000)
    for l in range(2):
        r = 0.5 * 0.5 ** l / (1 + 1e-3 * 1000)
        np.testing.assert_allclose(st.W(l) - new.W(l).astype(np.float64), r * gW[l], rtol=1e-4, atol=1e-7)


def test_l1_l2_added_to_gradients():
    spec, st = make("Tanh", (), n_in=3, out="linear", n_out=1)
    x, t = f32([0.3, -0.8, 1.1]), 0.5
    gW, gb = ref_grads(spec, *ref_params(st), x, t, K.GRAD_GAUSSIAN)
    kW, kb = kernel_grads(st, x, t, K.GRAD_GAUSSIAN, l1=0.01, l2=0.1)
    w, b = st.W(0).astype(np.float64), st.b(0)
    np.testing.assert_allclose(kW[0], gW[0] + 0.01 * np.sign(w) + 0.1 * w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kb[0], gb[0] + 0.01 * np.sign(b) + 0.1 * b, rtol=1e-10)


def test_fast_mode_skips_weights_of_zero_inputs():
    spec, st = make("Tanh", (2,), n_in=3, out="linear", n_out=1)
    x = f32([0.3, 0.0, 1.1])
    fast, _ = run_rows(st, x[None, :], [0.5], sgd(K.GRAD_GAUSSIAN, l2=0.1, fast_mode=True))
    slow, _ = run_rows(st, x[None, :], [0.5], sgd(K.GRAD_GAUSSIAN, l2=0.1, fast_mode=False))
    assert np.array_equal(fast.W(0)[:, 1], st.W(0)[:, 1])  # no update, not even L2 decay
    np.testing.assert_allclose(slow.W(0)[:, 1], st.W(0)[:, 1] * 0.9, rtol=1e-6)
    assert not np.array_equal(fast.W(0)[:, 0], st.W(0)[:, 0])


def test_max_w2_rescales_rows():
    spec, st = make("Rectifier", (3,), n_in=4, out="linear", n_out=1)
    x, t = f32([0.3, -0.8, 1.1, 0.6]), 3.0
    gW, _ = ref_grads(spec, *ref_params(st), x, t, K.GRAD_GAUSSIAN)
    new, _ = run_rows(st, x[None, :], [t], sgd(K.GRAD_GAUSSIAN, rate=0.1, max_w2=0.3))
    for l in range(2):
        upd = st.W(l).astype(np.float64) - 0.1 * gW[l]
        s = (upd ** 2).sum(axis=1, keepdims=True)
        exp = np.where(s > 0.3, upd * np.sqrt(0.3 / s), upd)
        # a neuron with zero gradient is skipped whole (shortcut), the constraint included
        idle = np.all(gW[l] == 0, axis=1)
        exp[idle] = st.W(l)[idle]
        np.testing.assert_allclose(new.W(l), exp, rtol=1e-5, atol=1e-7)
        assert np.all((new.W(l)[~idle].astype(np.float64) ** 2).sum(axis=1) <= 0.3 * (1 + 1e-5))
    upd0 = st.W(0).astype(np.float64) - 0.1 * gW[0]
    assert np.any(((upd0 ** 2).sum(axis=1) > 0.3) & ~np.all(gW[0] == 0, axis=1))  # the cap did act


def test_sparsity_penalty_moves_hidden_biases():
    spec, st = make("Tanh", (3,), n_in=3, out="autoencoder", n_out=3)
    st.avg_act[:] = [0.1, -0.2, 0.3]
    x = f32([0.3, -0.8, 1.1])
    kw = dict(output_gradient=K.GRAD_GAUSSIAN, adaptive_rate=False, rate=0.05, rate_annealing=0.0)
    plain, _ = run_rows(st, x[None, :], None, LT.TrainParams(**kw))
    sparse, _ = run_rows(st, x[None, :], None, LT.TrainParams(sparsity_beta=0.5, average_activation=0.05, **kw))
    a = ref_forward(spec, *ref_params(st), x, training=True)[0][1]
    avg = 0.999 * st.avg_act + 0.001 * a
    np.testing.assert_allclose(sparse.avg_act, avg, rtol=1e-12)
    np.testing.assert_allclose(sparse.b(0) - plain.b(0), -0.05 * 0.5 * (avg - 0.05), rtol=1e-9)
    assert np.array_equal(sparse.weights, plain.weights)


# ----------------------------------------------------------------------------- dropout

@pytest.mark.parametrize("act", ["TanhWithDropout", "RectifierWithDropout", "MaxoutWithDropout"])
def test_dropout_masks_follow_the_row_stream(act):
    spec, st = make(act, (6, 5), n_in=5, out="softmax", n_out=2, input_dropout_ratio=0.4,
                    hidden_dropout_ratios=[0.5, 0.3])
    x, t, seed, start = f32([0.3, -0.8, 1.1, 0.6, -0.2]), 1, 123, 40
    in_drop, keep = row_masks(spec, seed, start)
    assert in_drop.any() and not in_drop.all() and not keep[0].all()
    xd = np.where(in_drop, 0.0, x)
    gW, gb = ref_grads(spec, *ref_params(st), xd, t, K.GRAD_CROSS_ENTROPY, keep=keep)
    new, _ = run_rows(st, x[None, :], [t], sgd(), start=start, seed=seed)
    for l in range(spec.n_layers):
        np.testing.assert_allclose(st.W(l) - new.W(l).astype(np.float64), gW[l], rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(st.b(l) - new.b(l), gb[l], rtol=1e-5, atol=2e-6)
    if act == "TanhWithDropout":  # dropped Tanh units still learn (a=0 -> g=e)
        dropped = ~keep[0]
        assert np.all(np.abs(gb[0][dropped]) > 0)


def test_equal_hidden_layers_share_their_dropout_mask():
    spec = N.make_spec(3, [16, 16, 8], 2, "RectifierWithDropout")
    _, keep = row_masks(spec, 9, 4)
    assert np.array_equal(keep[0], keep[1]) and np.array_equal(keep[2], keep[0][:8])


def test_dropout_rates_statistics():
    spec = N.make_spec(200, [300], 2, "TanhWithDropout", input_dropout_ratio=0.2, hidden_dropout_ratios=[0.6])
    drops_in, drops_h = [], []
    for k in range(20):
        i, h = row_masks(spec, 5, k)
        drops_in.append(i.mean())
        drops_h.append(1 - h[0].mean())
    assert abs(np.mean(drops_in) - 0.2) < 0.02 and abs(np.mean(drops_h) - 0.6) < 0.02


def test_uniform_stream_matches_reference():
    np.testing.assert_array_equal(K.uniform_stream(12345, 50), splitmix_uniforms(12345, 50))


def test_row_seed_same_without_jit():
    for seed, idx in [(0, 0), (-5, 3), (2 ** 62 + 17, 10 ** 12)]:
        assert K.row_seed(seed, idx) == getattr(K.row_seed, "py_func", K.row_seed)(seed, idx)


# ----------------------------------------------------------------------------- chunks, averaging, importance

def test_sample_rows_rules():
    full = LT.sample_rows(10, 10, 1, 0)
    assert np.array_equal(full, np.arange(10))
    assert np.array_equal(LT.sample_rows(10, 20, 1, 0), np.tile(np.arange(10), 2))
    sh = LT.sample_rows(50, 50, 1, 0, shuffle=True)
    assert len(sh) <= 50 and len(set(sh)) == len(sh)
    counts = [len(LT.sample_rows(1000, 300, 9, it)) for it in range(20)]
    assert abs(np.mean(counts) - 300) < 15 and len(set(counts)) > 1
    w = np.zeros(100)
    w[[3, 7]] = [1.0, 3.0]
    rows = LT.sample_rows(100, 400, 2, 0, weights=w)
    assert set(rows) <= {3, 7} and np.mean(rows == 7) > 0.6
    assert np.array_equal(LT.sample_rows(10, 10, 4, 2, shuffle=True), LT.sample_rows(10, 10, 4, 2, shuffle=True))
    with pytest.raises(ValueError, match="weights"):
        LT.sample_rows(3, 3, 1, 0, weights=[1, -1, 1])


def test_average_one_copy_is_that_copy_and_two_are_weighted():
    spec, st = make("Tanh", (3,), n_in=2, out="softmax", n_out=2)
    X = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(float)
    a, na = LT.train_chunk(st, X, y, None, 20, 1, 0, LT.TrainParams())
    b, nb = LT.train_chunk(st, X[:10], y[:10], None, 10, 2, 0, LT.TrainParams())
    one = LT.average_states([(a, na)])
    for name in N.NetworkState._ARRAYS:
        assert np.array_equal(getattr(one, name), getattr(a, name))
    assert one.samples == st.samples + na == 20
    two = LT.average_states([(a, na), (b, nb), (st, 0)])
    np.testing.assert_allclose(two.weights, (na * a.weights.astype(float) + nb * b.weights) / (na + nb), rtol=1e-6)
    np.testing.assert_allclose(two.b_eg2, (na * a.b_eg2 + nb * b.b_eg2) / (na + nb), rtol=1e-12)
    uni = LT.average_states([(a, na), (b, nb)], weighting="uniform")
    np.testing.assert_allclose(uni.biases, (a.biases + b.biases) / 2, rtol=1e-12)
    assert two.samples == 30


def test_gedeon_importance_matches_loops():
    spec, st = make("Tanh", (4, 3), n_in=5, out="softmax", n_out=2)
    W1, W2 = np.abs(st.W(0)).astype(float), np.abs(st.W(1)).astype(float)
    vi = np.zeros(5)
    Q = np.zeros((5, 3))
    for i in range(5):
        for k in range(3):
            Q[i, k] = sum(W1[j, i] / W1[j].sum() * W2[k, j] / W2[k].sum() for j in range(4))
    vi = (Q / Q.sum(axis=0)).sum(axis=1)
    np.testing.assert_allclose(LT.gedeon_importance(st), vi / vi.max(), rtol=1e-5)
    spec0, st0 = make("Tanh", (), n_in=3, out="linear", n_out=1)
    v0 = np.abs(st0.W(0)).sum(axis=0)
    np.testing.assert_allclose(LT.gedeon_importance(st0), v0 / v0.max(), rtol=1e-6)


def test_instability_guard():
    spec, st = make("Tanh", (3,), n_in=2, out="linear", n_out=1)
    assert not LT.is_unstable(st)
    bad = st.copy()
    bad.biases[0] = 1e6 * 3
    with pytest.raises(N.DeepLearningInstabilityError, match="Trying to predict with an unstable model"):
        LT.predict(bad, np.zeros((1, 2)))
    bad = st.copy()
    bad.weights[0] = np.nan
    assert LT.is_unstable(bad)


def test_train_chunk_input_checks():
    spec, st = make("Tanh", (3,), n_in=2, out="softmax", n_out=2)
    with pytest.raises(ValueError, match="2 input columns"):
        LT.train_chunk(st, np.zeros((4, 3)), np.zeros(4), None, 4, 1, 0, LT.TrainParams())
    with pytest.raises(ValueError, match="class indices"):
        LT.train_chunk(st, np.zeros((4, 2)), np.full(4, 2.0), None, 4, 1, 0, LT.TrainParams())
    with pytest.raises(ValueError, match="classification"):
        LT.output_gradient_code(N.OUT_SOFTMAX, "AUTO", "Huber")
    with pytest.raises(ValueError, match="regression family"):
        LT.output_gradient_code(N.OUT_SOFTMAX, "poisson")
    assert LT.output_gradient_code(N.OUT_LINEAR, "AUTO", "Absolute") == K.GRAD_LAPLACE
    assert LT.output_gradient_code(N.OUT_LINEAR, "tweedie") == K.GRAD_TWEEDIE


def test_nan_response_rows_are_skipped():
    spec, st = make("Tanh", (3,), n_in=2, out="linear", n_out=1)
    X = np.ones((3, 2), np.float32)
    _, n = run_rows(st, X, [0.1, np.nan, 0.2], LT.TrainParams(output_gradient=K.GRAD_GAUSSIAN))
    assert n == 2


# ----------------------------------------------------------------------------- end to end on one chunk

def _xor(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    return X, ((X[:, 0] * X[:, 1]) > 0).astype(np.float64)


def _logloss(state, X, y):
    p = LT.predict(state, X)
    return -np.mean(np.log(np.maximum(p[np.arange(len(y)), y.astype(int)], 1e-15)))


@pytest.mark.parametrize("act", ACTS + ["RectifierWithDropout"])
def test_training_on_xor_reduces_loss(act):
    X, y = _xor()
    spec = N.make_spec(2, [16], 2, act, "softmax")
    st = N.init_state(spec, 3)
    before = _logloss(st, X, y)
    params = LT.TrainParams()
    for it in range(25):
        st = LT.average_states([LT.train_chunk(st, X, y, None, len(X), 5, it, params)])
    after = _logloss(st, X, y)
    assert after < 0.6 * before
    assert np.mean(LT.predict(st, X).argmax(1) == y) > 0.85


def test_regression_and_autoencoder_training_reduce_loss():
    X, _ = _xor(300)
    yr = (np.sin(2 * X[:, 0]) + X[:, 1] ** 2).astype(np.float64)
    spec = N.make_spec(2, [10], 1, "Tanh", "linear")
    st = N.init_state(spec, 4)
    mse = lambda s: np.mean((LT.predict(s, X)[:, 0] - yr) ** 2)
    before = mse(st)
    params = LT.TrainParams(output_gradient=K.GRAD_GAUSSIAN)
    for it in range(15):
        st = LT.average_states([LT.train_chunk(st, X, yr, None, len(X), 1, it, params)])
    assert mse(st) < 0.5 * before
    ae = N.init_state(N.make_spec(2, [3], 2, "Tanh", "autoencoder"), 4)
    before = LT.reconstruction_errors(ae, X).mean()
    for it in range(10):
        ae = LT.average_states([LT.train_chunk(ae, X, None, None, len(X), 1, it, params)])
    assert LT.reconstruction_errors(ae, X).mean() < 0.5 * before


def test_hogwild_threads_train_all_rows():
    X, y = _xor(400)
    spec = N.make_spec(2, [16], 2, "Tanh", "softmax")
    st = N.init_state(spec, 3)
    before = _logloss(st, X, y)
    for it in range(10):
        st2, n = LT.train_chunk(st, X, y, None, len(X), 5, it, LT.TrainParams(), threads=4)
        assert n == len(X)
        st = LT.average_states([(st2, n)])
    assert _logloss(st, X, y) < 0.8 * before


def test_sparse_input_skipping_gives_same_result():
    X, y = _xor(50)
    X[::3, 0] = 0.0
    spec = N.make_spec(2, [5], 2, "Rectifier", "softmax")
    st = N.init_state(spec, 3)
    a, _ = LT.train_chunk(st, X, y, None, 50, 1, 0, LT.TrainParams(sparse=True))
    b, _ = LT.train_chunk(st, X, y, None, 50, 1, 0, LT.TrainParams(sparse=False))
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-6, atol=1e-7)
    assert not np.array_equal(a.weights, st.weights)


def test_reproducible_with_same_seed():
    X, y = _xor(200)
    spec = N.make_spec(2, [8, 4], 2, "MaxoutWithDropout", "softmax", input_dropout_ratio=0.1)
    params = LT.TrainParams(shuffle_training_data=True)

    def fit(seed):
        st = N.init_state(spec, seed)
        for it in range(3):
            parts = [LT.train_chunk(st, X[c::2], y[c::2], None, 60, seed * 10 + c, it, params) for c in range(2)]
            st = LT.average_states(parts)
        return st

    a, b, c = fit(1), fit(1), fit(2)
    for name in N.NetworkState._ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.weights, c.weights)
    assert a.samples == b.samples > 0


def test_hogwild_blocks_cover_every_sampled_row_once_in_order():
    from daskml_h2o.deeplearning.local_train import HOGWILD_BLOCK_ROWS, _hogwild_blocks
    X1, X2 = np.zeros((5000, 2)), np.zeros((100, 2))
    items = [(X1, None, None, np.arange(4500), 11), (X2, None, None, np.arange(100)[::-1], 22)]
    blocks = _hogwild_blocks(items, threads=2, samples=1000)
    assert [len(b[3]) for b in blocks] == [HOGWILD_BLOCK_ROWS, HOGWILD_BLOCK_ROWS, 4500 - 2 * HOGWILD_BLOCK_ROWS, 100]
    np.testing.assert_array_equal(np.concatenate([b[3] for b in blocks[:3]]), np.arange(4500))
    np.testing.assert_array_equal(blocks[3][3], np.arange(100)[::-1])
    assert [b[0] is X1 for b in blocks] == [True, True, True, False]
    # each block's sample count: where one of two threads sharing the rows would be
    assert [b[4] for b in blocks] == [1000, 1000 + 1024, 1000 + 2048, 1000 + 2250]
    assert [b[5] for b in blocks] == [11, 11, 11, 22]

"""The distributed Deep Learning driver (spec deeplearning.md §9-§11).

Data: the frame's columns are persisted once as raw chunks, one reduction pass gives the
DataInfo (``data/datainfo.py``), and every chunk is expanded once into float32 network inputs
(rows skipped / class-balanced here). Loop: per iteration the chunks are grouped by the worker
holding them; one task per worker trains on its chunks' sampled rows (Hogwild over the worker's
threads). The workers of one host are one H2O node: they train one copy shared through a
memory-mapped file (shared.py), Hogwild across processes; copies of different hosts (or of
replicated data) are averaged weighted by rows processed in an ordered tree reduction. The
driver scores on H2O's schedule, applies the stopping rules and keeps the best model. A lost
worker only costs a retry of the iteration: every chunk can be rebuilt from the frame.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time

import numpy as np

from daskml_h2o import parallel
from daskml_h2o._pcg import runif
from daskml_h2o.cluster import get_client
from daskml_h2o.data.chunks import layout_of, persist_training_chunks, row_starts
from daskml_h2o.data.datainfo import column_moments, constant_columns, make_datainfo
from daskml_h2o.deeplearning import local_train as LT
from daskml_h2o.deeplearning import shared
from daskml_h2o.deeplearning.checkpoint import check_inputs, continued_state, dl_restart
from daskml_h2o.deeplearning.dl_scoring import ScoringSchedule
from daskml_h2o.deeplearning.network import init_state, make_spec
from daskml_h2o.deeplearning.scorer import DLScorer
from daskml_h2o.models.checkpoint import continued_history, in_checkpoint_order
from daskml_h2o.models.scoring import mangle
from daskml_h2o.progress import ProgressBar

__all__ = ["train_deeplearning", "effective_params", "samples_per_iteration"]

_LOSS_NAMES = {"automatic": "Automatic", "crossentropy": "CrossEntropy", "quadratic": "Quadratic",
               "absolute": "Absolute", "huber": "Huber", "quantile": "Quantile"}
_LOSS_TO_DIST = {"automatic": "gaussian", "quadratic": "gaussian", "absolute": "laplace", "quantile": "quantile",
                 "huber": "huber"}
_DIST_TO_LOSS = {"gaussian": "quadratic", "quantile": "quantile", "laplace": "absolute", "huber": "huber",
                 "bernoulli": "crossentropy", "multinomial": "crossentropy"}
_IDENTITY = ("gaussian", "laplace", "quantile", "huber")
_MAX_PARAMETERS = 1e8
_TARGET_ITERATION_SECONDS = 10.0
_ESTIMATED_SECONDS_PER_WEIGHT = 2e-9


# ------------------------------------------------------------------ parameters

def effective_params(est, spec, restart=None) -> dict:
    """H2O's sanitised parameters (spec §2.1) with enum values mangled; without a seed a restart
    keeps its checkpoint's."""
    p = dict(est._parms)
    auto = bool(p["autoencoder"])
    p["activation_key"] = mangle(p["activation"])
    loss, dist = mangle(p["loss"]), mangle(p["distribution"])
    if dist == "auto":
        if spec.kind == "binomial":
            dist = "bernoulli"
        elif spec.kind == "multinomial":
            dist = "multinomial"
        else:
            dist = _LOSS_TO_DIST.get(loss, "gaussian")
    if loss == "automatic" and dist in _DIST_TO_LOSS:
        loss = _DIST_TO_LOSS[dist]
    p["distribution_key"], p["loss_key"] = dist, loss
    if p["seed"] in (None, -1):
        p["seed"] = restart.seed if restart is not None else int(np.random.default_rng().integers(0, 2**62))
    if auto:
        p["use_all_factor_levels"] = True
    if p["adaptive_rate"]:
        for name in ("rate", "rate_decay", "rate_annealing", "momentum_start", "momentum_ramp", "momentum_stable"):
            p[name] = 0.0 if name != "momentum_ramp" else 1.0
        p["rate_decay"] = 1.0
    if p["reproducible"]:
        p["force_load_balance"] = True
        p["score_each_iteration"] = True
        p["replicate_training_data"] = False
        if p["train_samples_per_iteration"] == -2:
            p["train_samples_per_iteration"] = -1
    enc = mangle(p["categorical_encoding"])
    p["encoding_key"] = {"auto": "onehot", "onehotinternal": "onehot"}.get(enc, enc)
    return p


def _train_params(p, output_code):
    return LT.TrainParams(
        output_gradient=output_code, adaptive_rate=bool(p["adaptive_rate"]), rho=float(p["rho"]),
        epsilon=float(p["epsilon"]), rate=float(p["rate"]), rate_annealing=float(p["rate_annealing"]),
        rate_decay=float(p["rate_decay"]), momentum_start=float(p["momentum_start"]),
        momentum_ramp=float(p["momentum_ramp"]), momentum_stable=float(p["momentum_stable"]),
        nesterov_accelerated_gradient=bool(p["nesterov_accelerated_gradient"]), l1=float(p["l1"]),
        l2=float(p["l2"]), max_w2=float(p["max_w2"]), fast_mode=bool(p["fast_mode"]), sparse=bool(p["sparse"]),
        quantile_alpha=float(p["quantile_alpha"]), tweedie_power=float(p["tweedie_power"]),
        sparsity_beta=float(p["sparsity_beta"]), average_activation=float(p["average_activation"]),
        shuffle_training_data=bool(p["shuffle_training_data"]))


def samples_per_iteration(p, N, P, seconds_per_row, replicated=False):
    """Rows per iteration for train_samples_per_iteration (spec §9.1); P = training workers,
    `replicated`: every worker holds all rows."""
    tspi, epochs = int(p["train_samples_per_iteration"]), float(p["epochs"])
    replicated = replicated and P > 1
    if tspi == 0 or (tspi == -1 and not replicated):
        return N
    if tspi == -1:
        return P * N
    if tspi > 0:
        return int(max(1, min(tspi, epochs * N)))
    cap = max(1, math.floor(epochs * N / 10.0))
    return int(max(1, min(cap, _TARGET_ITERATION_SECONDS / max(seconds_per_row, 1e-12), 100000 * P)))


def _retune(tspi, p, N, P, n, wall, compute):
    """Auto-tuning after an iteration: one worker aims at ~10 s iterations; several workers at
    communication / computation = target_ratio_comm_to_comp, from the measured times."""
    if compute <= 0 or n <= 0:
        return tspi
    seconds_per_row = compute / n
    if P <= 1 or p["single_node_mode"]:
        return samples_per_iteration(p, N, 1, seconds_per_row)
    comm = max(wall - compute, 1e-3)
    target = n * (comm / p["target_ratio_comm_to_comp"]) / compute
    correction = target / tspi
    if 0.8 <= correction <= 1.2:
        return tspi
    new = tspi * min(2.0, max(0.5, correction))
    cap = max(1, math.floor(p["epochs"] * N / 10.0))
    return int(max(1, min(new, cap, 100000 * P)))


# ------------------------------------------------------------------ per-chunk preparation

def _class_factors(p, counts):
    counts = np.asarray(counts, np.float64)
    K = len(counts)
    N = counts.sum()
    if p["class_sampling_factors"] is not None:
        s = np.asarray(p["class_sampling_factors"], np.float64)
    else:
        s = np.where(counts > 0, (N / K) / np.maximum(counts, 1), 0.0)
        s = s / s[counts > 0].min()
    total = (s * counts).sum()
    cap = p["max_after_balance_size"] * N
    if total > cap:
        s = s * cap / total
    return s


def _prepare_chunk(chunk, row_start, dinfo, keep_cols, kind, skip_na, factors, seed, use_weights):
    X, y, w = chunk["X"][:, keep_cols], chunk["y"], chunk["w"]
    keep = w > 0
    if skip_na:
        keep &= ~dinfo.has_na(X)
    idx = np.flatnonzero(keep)
    if factors is not None:
        s = factors[y[idx].astype(np.int64)]
        u = runif(seed, row_start, chunk["n"])[idx]
        reps = np.floor(s).astype(np.int64) + (u < s - np.floor(s))
        idx = np.repeat(idx, reps)
    Xe = np.ascontiguousarray(dinfo.expand(X[idx], training=True))
    if kind == "unsupervised":
        yn = None
    elif kind == "regression":
        yn = dinfo.response(y[idx])
    else:
        yn = y[idx].astype(np.float64)
    off = None
    if chunk["offset"] is not None:
        off = LT.network_offset(chunk["offset"][idx], dinfo.resp_sub, dinfo.resp_mul)
    return {"X": Xe, "y": yn, "w": w[idx] if use_weights else None, "offset": off, "n": int(len(idx))}


def _scoring_chunk(chunk, row_start, dinfo, keep_cols, rate, seed):
    """Rows kept with probability `rate` -- one number, or one per class (stratified) -- at
    least one per non-empty chunk; scoring transform."""
    n = chunk["n"]
    if np.ndim(rate) == 0 and rate >= 1.0:
        idx = np.arange(n)
    else:
        u = runif(seed, row_start, n)
        idx = np.flatnonzero(u < (rate if np.ndim(rate) == 0 else _class_rates(chunk["y"], rate)))
        if len(idx) == 0 and n:
            idx = np.array([int(np.argmin(u))])
    off = None if chunk["offset"] is None else chunk["offset"][idx]
    return {"X": dinfo.expand(chunk["X"][idx][:, keep_cols], training=False), "y": chunk["y"][idx], "w": chunk["w"][idx],
            "offset": off, "n": int(len(idx))}


def _class_rates(y, rates):
    codes = np.where(np.isnan(y), -1, y).astype(np.int64)
    return np.where(codes >= 0, rates[np.clip(codes, 0, len(rates) - 1)], 0.0)


def _class_counts(chunk, K):
    y = chunk["y"]
    return np.bincount(y[~np.isnan(y)].astype(np.int64), minlength=K)[:K].astype(np.float64)


def stratified_rates(counts, target) -> np.ndarray:
    """Per-class keep probabilities giving ``target`` expected rows, as equal per class as the
    class sizes allow and never above 1 (H2O's stratified scoring sample: no oversampling)."""
    counts = np.asarray(counts, np.float64)
    rates = np.zeros(len(counts))
    open_ = counts > 0
    remaining = float(target)
    while open_.any():
        share = remaining / open_.sum()
        small = open_ & (counts <= share)
        if not small.any():
            rates[open_] = share / counts[open_]
            break
        rates[small] = 1.0
        remaining -= counts[small].sum()
        open_ &= ~small
    return rates


def _validation_rate(p, ex, vraw, kind, nclasses):
    rate = _sample_rate(p["score_validation_samples"], vraw.total_rows)
    if rate >= 1.0 or mangle(p["score_validation_sampling"]) != "stratified" or kind not in ("binomial",
                                                                                             "multinomial"):
        return rate
    parts = ex.gather(ex.map(_class_counts, vraw.futures, args=(nclasses,), name="dl-valid-classes"))
    return stratified_rates(np.sum(parts, axis=0), p["score_validation_samples"])


def _chunk_n(chunk):
    return chunk["n"]


class DLData:
    """Persisted training chunks, what the loop needs to know about them, and the executor
    that holds them (the chunks are values in this process under a LocalExecutor)."""

    def __init__(self, layout, dinfo, chunks, stats, N, scoring, valid, executor):
        self.layout, self.dinfo, self.chunks, self.stats = layout, dinfo, chunks, stats
        self.N, self.scoring, self.valid, self.executor = N, scoring, valid, executor

    def release(self):
        for cs in (self.chunks, self.scoring, self.valid):
            if cs is not None:
                cs.release()
        self.executor.close()


def _sample_rate(wanted, total):
    return 1.0 if wanted <= 0 or wanted >= total else wanted / total


def load_balanced(frame, p):
    """H2O's ``force_load_balance``: a training frame in fewer partitions than the cluster has
    workers is split so that every worker trains on rows and the model average has one
    contribution per worker. Off, the frame's partitions are used as they are. Reproducible
    runs train on one thread over every chunk, so their chunking stays the frame's."""
    if not p["force_load_balance"] or p["reproducible"] or p["single_node_mode"]:
        return frame
    workers = len(get_client().nthreads())
    if workers <= 1 or frame._ddf.npartitions >= workers:
        return frame
    from daskml_h2o.frame import H2OFrame
    return H2OFrame._from_dask(frame._ddf.repartition(npartitions=workers), frame._types)


def _executor():
    """In-process steps when the whole cluster is one worker inside this process (as GBM: no
    scheduler round trip per step); named tasks on the workers otherwise."""
    threads = parallel.in_process_threads()
    return parallel.LocalExecutor(threads) if threads is not None else parallel.DaskExecutor()


def prepare_data(p, spec) -> DLData:
    layout = layout_of(spec)
    ex = _executor()
    try:
        return _prepare(p, spec, layout, ex)
    except BaseException:
        ex.close()
        raise


def _prepare(p, spec, layout, ex) -> DLData:
    raw = persist_training_chunks(load_balanced(spec.frame, p), layout, name="dl-data", executor=ex)
    weighted = spec.weights_column is not None and spec.offset_column is None
    stats = column_moments(raw, layout, weighted=weighted, executor=ex)
    drop = constant_columns(layout, stats) if p["ignore_const_cols"] else \
        [c for j, c in enumerate(layout.columns) if stats["na"][j] == stats["n"]]
    if len(drop) == len(layout.columns):
        raise ValueError(f"every predictor is constant or all missing ({layout.columns}); nothing to train on")
    auto = spec.kind == "unsupervised"
    if not p["standardize"]:
        transform = "none"
    elif auto:
        transform = "normalize"
    else:
        transform = "descale" if p["sparse"] else "standardize"
    dinfo = make_datainfo(layout, stats, transform, bool(p["use_all_factor_levels"]), p["encoding_key"],
                          int(p["max_categorical_features"]), int(p["seed"]), drop,
                          standardize_response=(spec.kind == "regression" and p["standardize"]
                                                and p["distribution_key"] in _IDENTITY))
    factors = None
    if p["balance_classes"]:
        factors = _class_factors(p, spec.response_summary["class_counts"])
    skip = mangle(p["missing_values_handling"]) == "skip"
    starts = row_starts(raw)
    keep_cols = np.array([layout.columns.index(c) for c in dinfo.columns], np.int64)
    chunks = _counted(ex, ex.map(_prepare_chunk, raw.futures, starts,
                                 args=(dinfo, keep_cols, spec.kind, skip, factors, int(p["seed"]),
                                       spec.weights_column is not None), name="dl-expand"), "dl-rows")
    N = chunks.total_rows
    if N == 0:
        raise ValueError("No rows left in the dataset after filtering out rows with missing values. Ignore "
                         "columns with many NAs or set missing_values_handling to 'MeanImputation'.")
    rate = _sample_rate(p["score_training_samples"], raw.total_rows)
    scoring = _scoring_set(ex, raw, starts, dinfo, keep_cols, rate, int(p["seed"]), "dl-score-train")
    valid = None
    if spec.validation_frame is not None:
        vraw = persist_training_chunks(spec.validation_frame, layout, name="dl-valid", executor=ex)
        vrate = _validation_rate(p, ex, vraw, spec.kind, spec.nclasses)
        valid = _scoring_set(ex, vraw, row_starts(vraw), dinfo, keep_cols, vrate, int(p["seed"]) + 1,
                             "dl-score-valid")
        vraw.release()
    if factors is not None:
        stats["balance_factors"] = factors
    raw.release()
    return DLData(layout, dinfo, chunks, stats, N, scoring, valid, ex)


def _counted(ex, items, name) -> parallel.ChunkSet:
    counts = ex.gather(ex.map(_chunk_n, items, name=name))
    return parallel.ChunkSet(items, [int(c) for c in counts])


def _scoring_set(ex, raw, starts, dinfo, keep_cols, rate, seed, name):
    return _counted(ex, ex.map(_scoring_chunk, raw.futures, starts, args=(dinfo, keep_cols, rate, seed), name=name),
                    name + "-rows")


# ------------------------------------------------------------------ network

def build_network(p, spec, dinfo, restart=None):
    """The network to train -- fresh, or the checkpoint's under this build's dropout -- and the
    kernel code of its output error."""
    kind = spec.kind
    act = p["activation_key"]
    if kind == "unsupervised":
        output, nout = "autoencoder", dinfo.n_inputs
    elif kind == "regression":
        output, nout = "linear", 1
    else:
        output, nout = "softmax", spec.nclasses
    netspec = make_spec(dinfo.n_inputs, p["hidden"] or [], nout, act, output, p["input_dropout_ratio"],
                        p["hidden_dropout_ratios"])
    if netspec.n_weights + netspec.n_biases > _MAX_PARAMETERS:
        raise ValueError(f"the network has {netspec.n_weights + netspec.n_biases:,} weights and biases, more than "
                         "H2O's limit of 100,000,000; use fewer or smaller hidden layers or max_categorical_features")
    code = LT.output_gradient_code(netspec.output, p["distribution_key"], p["loss_key"])
    if restart is not None:
        return continued_state(restart, netspec), code
    state = init_state(netspec, p["seed"], p["initial_weight_distribution"], p["initial_weight_scale"])
    _apply_initial(state, p)
    if p["pretrained_autoencoder"] is not None:
        _copy_pretrained(state, p["pretrained_autoencoder"], kind)
    return state, code


def _as_matrix(frame):
    if frame is None:
        return None
    if hasattr(frame, "as_data_frame"):
        return frame.as_data_frame().to_numpy(dtype=np.float64)
    return np.asarray(frame, np.float64)


def _apply_initial(state, p):
    for name, setter in (("initial_weights", "W"), ("initial_biases", "b")):
        entries = p[name]
        if entries is None:
            continue
        for l, entry in enumerate(entries):
            m = _as_matrix(entry)
            if m is None:
                continue
            target = getattr(state, setter)(l)
            if m.size != target.size or (setter == "W" and m.shape != target.shape):
                raise ValueError(f"{name}[{l}] has shape {m.shape}; layer {l} needs {target.shape}")
            target[:] = m.reshape(target.shape)


def _copy_pretrained(state, ref, kind):
    from daskml_h2o import registry
    model = registry.get(ref) if isinstance(ref, str) else ref
    scorer = getattr(model, "_model", None)
    if scorer is None or getattr(scorer, "kind", None) != "unsupervised":
        raise ValueError("pretrained_autoencoder must be a trained autoencoder model (autoencoder=True)")
    if kind == "unsupervised":
        raise ValueError("pretrained_autoencoder initialises a supervised model; this model is an autoencoder")
    src = scorer.state
    for l in range(state.spec.n_layers - 1):
        if l >= src.spec.n_layers - 1 or src.W(l).shape != state.W(l).shape:
            raise ValueError("Mismatch between weights in pretrained model and this model: use the same inputs "
                             "and hidden layer sizes as the autoencoder")
        state.W(l)[:] = src.W(l)
        state.b(l)[:] = src.b(l)
    state.b(state.spec.n_layers - 1)[:] = 0.0


# ------------------------------------------------------------------ one iteration

def _train_task(state, chunks, samples, seeds, iteration, params, threads):
    start = time.perf_counter()
    parts = [(c["X"], c["y"], c["w"], c["offset"]) for c in chunks]
    new, n = LT.train_group(state, parts, samples, seeds, iteration, params, threads)
    return new, n, time.perf_counter() - start


def _share_task(state, tag):
    return shared.share(state, tag)


def _train_shared_task(desc, base_samples, chunks, samples, seeds, iteration, params, threads):
    """Train the host's shared copy in place (FileNotFoundError if run on another host: the
    iteration is then planned again)."""
    start = time.perf_counter()
    parts = [(c["X"], c["y"], c["w"], c["offset"]) for c in chunks]
    state = shared.attach(desc)
    state.samples = base_samples
    _, n = LT.train_group(state, parts, samples, seeds, iteration, params, threads, in_place=True)
    return n, time.perf_counter() - start


def _read_task(desc, base_samples, *done):
    state = shared.attach(desc).copy()
    state.samples = base_samples
    return state, sum(n for n, _ in done), max(t for _, t in done)


def _combine(*results):
    """Average copies weighted by rows processed; the base sample count stays the input's."""
    base = results[0][0].samples
    avg = LT.average_states([(s, n) for s, n, _ in results], "samples")
    avg.samples = base
    return avg, sum(n for _, n, _ in results), max(t for _, _, t in results)


def _host(addr) -> str:
    from urllib.parse import urlparse
    return urlparse(addr).hostname or addr


def _hosts(nthreads) -> int:
    return len({_host(addr) for addr in nthreads})


def _chunk_seed(seed, index):
    return (int(seed) * 1_000_003 + 7 * index + 0x5DEECE66D) % (1 << 62)


def _remove_stale(tag):
    for pattern in shared.stale_pattern(tag):
        shared.remove(pattern)


class Iterations:
    """Plans and runs training iterations over the workers holding the chunks."""

    def __init__(self, p, data, params):
        self.p, self.data, self.params = p, data, params
        self.client = get_client()
        self.replicated = False
        self.tag = parallel._token()
        self.shared_used = False
        # per host: its shared copy's descriptor, valid while the driver passes
        # back the state the last iteration returned (the copy then already holds it)
        self.shared_copies, self.last = {}, None
        self.share_hosts = True

    def groups(self):
        """[(worker or None, [chunk indices], threads)] for this iteration."""
        chunks = self.data.chunks
        n = len(chunks)
        if self.p["reproducible"]:
            return [(None, list(range(n)), 1)]
        nthreads = self.client.nthreads()
        if not nthreads:
            raise RuntimeError("the Dask cluster has no workers")
        if len(nthreads) == 1 or self.p["single_node_mode"]:
            w = next(iter(nthreads))
            return [(w, list(range(n)), nthreads[w])]
        if self.p["replicate_training_data"] and _hosts(nthreads) > 1:
            # H2O replicates per node; worker processes of one host would only multiply memory
            if not self.replicated:
                self.client.replicate(chunks.futures)
                self.replicated = True
            return [(w, list(range(n)), t) for w, t in sorted(nthreads.items())]
        who = self.client.who_has(chunks.futures)
        by_worker = {}
        for i, f in enumerate(chunks.futures):
            holders = sorted(who.get(f.key, ()))
            w = holders[0] if holders else None
            by_worker.setdefault(w, []).append(i)
        return [(w, idx, nthreads.get(w, 1)) for w, idx in sorted(by_worker.items(), key=lambda kv: kv[1][0])]

    def run(self, state, iteration, tspi):
        """One iteration: returns (new state, rows processed, compute seconds, number of copies
        averaged)."""
        if self.data.executor.local:
            return self._run_in_process(state, iteration, tspi)
        last = None
        for attempt in range(3):
            try:
                return self._run_once(state, iteration, tspi)
            except Exception as exc:  # a worker lost mid-iteration: plan again on the live workers
                from distributed import KilledWorker
                from distributed.comm.core import CommClosedError
                if not isinstance(exc, (KilledWorker, CommClosedError, OSError)) or attempt == 2:
                    raise
                last = exc
                self.replicated = False
                self.close()
                if isinstance(exc, FileNotFoundError):
                    # workers that look like one host but do not share a file system: average copies
                    self.share_hosts = False
                time.sleep(0.5)
        raise last

    def _run_once(self, state, iteration, tspi):
        data = self.data
        groups = self.groups()
        P = len(groups)
        N = data.N
        nrows = data.chunks.nrows
        # replicated data: every worker samples its share from all chunks, with its own stream
        share = tspi / N / (P if self.replicated else 1)
        if state is not self.last:
            self.shared_copies = {}
        arg = None
        params = self._params_for(tspi, P)
        tasks = []
        for g, (worker, idx, threads) in enumerate(groups):
            base_seed = self.p["seed"] + (7_777_777 * g if self.replicated else 0)
            tasks.append((worker, [data.chunks.futures[i] for i in idx], [share * nrows[i] for i in idx],
                          [_chunk_seed(base_seed, i) for i in idx], threads))
        submit = functools.partial(self._submit, iteration)
        futures = []
        for node in self._nodes(tasks):
            host = _host(node[0][0]) if len(node) > 1 else None
            if arg is None and (host is None or host not in self.shared_copies):
                arg = parallel.scatter(state) if P > 1 else state
            if host is None:
                worker, chunks, samples, seeds, threads = node[0]
                futures.append(submit(_train_task, arg, chunks, samples, seeds, iteration, params, threads,
                                      worker=worker, tag="train"))
                continue
            # worker processes of one host: one shared copy, trained in place by all (H2O's node)
            self.shared_used = True
            if host not in self.shared_copies:
                # the descriptor itself (not a future) goes to the tasks: the file outlives any
                # one worker process, and a lost future would be recomputed from a stale state
                self.shared_copies[host] = parallel.gather(
                    submit(_share_task, arg, self.tag, worker=node[0][0], tag="share"))
            desc = self.shared_copies[host]
            done = [submit(_train_shared_task, desc, state.samples, chunks, samples, seeds, iteration, params,
                           threads, worker=worker, tag="hogwild")
                    for worker, chunks, samples, seeds, threads in node]
            futures.append(submit(_read_task, desc, state.samples, *done, worker=node[0][0], tag="read"))
        self.nodes = len(futures)
        new, n, secs = parallel.gather(parallel.tree_reduce(_combine, futures, name=f"dl-iter{iteration}-avg"))
        new.samples = state.samples + n
        self.last = new
        return new, n, secs, self.nodes

    def _params_for(self, tspi, P):
        # H2O shuffles on its own when every iteration is one full pass over one chunk (or over
        # every replica), since rows would otherwise come in the same order each time
        params, N = self.params, self.data.N
        if not params.shuffle_training_data and ((tspi == N and len(self.data.chunks) == 1) or
                                                 (self.replicated and tspi == P * N)):
            params = dataclasses.replace(params, shuffle_training_data=True)
        return params

    def _run_in_process(self, state, iteration, tspi):
        """The iteration of ``_run_once`` on the one in-process worker: its train task called
        directly on the chunks this process holds (no scheduler round trip)."""
        data = self.data
        share = tspi / data.N
        threads = 1 if self.p["reproducible"] else data.executor.n_threads
        new, n, secs = _train_task(state, data.chunks.futures, [share * r for r in data.chunks.nrows],
                                   [_chunk_seed(self.p["seed"], i) for i in range(len(data.chunks))], iteration,
                                   self._params_for(tspi, 1), threads)
        new.samples = state.samples + n
        self.nodes, self.last = 1, new
        return new, n, secs, 1

    def _submit(self, iteration, fn, *args, worker=None, tag=""):
        """One named task of the iteration, preferably on ``worker``."""
        where = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
        return self.client.submit(fn, *args, pure=False, key=f"dl-iter{iteration}-{tag}-{parallel._token()}",
                                  **where)

    def _nodes(self, tasks):
        """Tasks grouped into H2O nodes: the workers of one host share a copy, unless the data
        is replicated (then every worker trains on all rows and copies are averaged)."""
        if not self.share_hosts or self.replicated or len(tasks) < 2 or any(t[0] is None for t in tasks):
            return [[t] for t in tasks]
        by_host = {}
        for t in tasks:
            by_host.setdefault(_host(t[0]), []).append(t)
        return list(by_host.values())

    def close(self):
        """Remove the hosts' shared copies."""
        self.shared_copies, self.last = {}, None
        if self.shared_used:
            try:
                self.client.run(_remove_stale, self.tag)
            except Exception:  # best effort: a host that is gone took its files with it
                pass


# ------------------------------------------------------------------ the loop

def train_deeplearning(est, spec) -> None:
    started = time.monotonic()
    restart = dl_restart(est, spec, spec.validation_frame is not None)
    if restart is not None:
        spec = in_checkpoint_order(spec, restart.x)
    p = effective_params(est, spec, restart)
    est._actual = {"distribution": p["distribution_key"], "seed": p["seed"]}
    data = prepare_data(p, spec)
    try:
        if restart is not None:
            check_inputs(restart, data.dinfo)
        _train(est, spec, p, data, started, restart)
    finally:
        data.release()


def _train(est, spec, p, data, started, restart=None):
    state, code = build_network(p, spec, data.dinfo, restart)
    params = _train_params(p, code)
    params.kernel_config()  # parameter errors before any work
    kind = spec.kind
    prior = model_dist = None
    if "balance_factors" in data.stats:
        counts = np.asarray(spec.response_summary["class_counts"], np.float64)
        prior = counts / counts.sum()
        model_dist = prior * data.stats["balance_factors"]
        model_dist = model_dist / model_dist.sum()
    scorer = DLScorer(data.layout, kind, data.dinfo, state, p["distribution_key"],
                      _LOSS_NAMES.get(p["loss_key"], "Automatic"), _scalar_params(p), prior, model_dist)
    est._model = scorer
    loop = Iterations(p, data, params)
    N = data.N
    nthreads = loop.client.nthreads()
    P = 1 if p["reproducible"] or p["single_node_mode"] else max(1, len(nthreads))
    replicated = P > 1 and p["replicate_training_data"] and _hosts(nthreads) > 1
    threads = sum(nthreads.values()) or 1
    model_size = state.spec.n_weights + state.spec.n_biases
    tspi = samples_per_iteration(p, N, P, _ESTIMATED_SECONDS_PER_WEIGHT * model_size / threads, replicated)
    schedule = ScoringSchedule(est, spec, p, data, scorer, started)
    budget = spec.max_runtime_secs or p["max_runtime_secs"]
    try:
        state, tspi = _loop(p, loop, state, tspi, schedule, N, started, budget, restart, est)
    finally:
        loop.close()
    scorer.state = state
    scorer.training_samples = int(state.samples)
    if p["variable_importances"]:
        scorer.varimp = _importances(state, data)
    est._actual["train_samples_per_iteration"] = int(tspi)  # the resolved rows per iteration
    est._actual["stopping_values"] = [float(v) for v in schedule.values]


def _loop(p, loop, state, tspi, schedule, N, started, budget, restart, est):
    """Iterations until the epochs are done, time is out or scoring says stop; returns the
    final (best) state and the last rows per iteration."""
    iteration = 0 if restart is None else restart.iterations
    with ProgressBar("deeplearning Model Build", enabled=None if not p["quiet_mode"] else False) as bar:
        if restart is None:
            schedule.start(state)
        else:
            _continue_scoring(schedule, restart, est)
        while True:
            t0 = time.monotonic()
            state, n, compute, nodes = loop.run(state, iteration, tspi)
            iteration += 1
            wall = time.monotonic() - t0
            schedule.add_training_time(wall)
            epochs = state.samples / N
            bar.update(min(1.0, epochs / p["epochs"]))
            done = epochs >= p["epochs"] or n == 0
            timed_out = bool(budget) and time.monotonic() - started > budget
            verdict = schedule.maybe_score(state, iteration, epochs, final=done or timed_out)
            if done or timed_out or verdict == "stop":
                break
            if p["train_samples_per_iteration"] == -2:
                tspi = _retune(tspi, p, N, nodes, n, wall, compute)
        return schedule.finish(state, iteration), tspi


def _continue_scoring(schedule, restart, est):
    """The checkpoint's scoring history and stopping values go on (H2O appends rows)."""
    schedule.history = est._history = continued_history(restart.history, schedule.history.columns)
    schedule.values = list(restart.stopping_values)
    schedule.epochs = restart.epochs
    schedule.iteration = restart.iterations


def _scalar_params(p):
    """The numeric settings the scorer reports and scores with (no frames or models inside)."""
    return {k: v for k, v in p.items() if isinstance(v, (bool, int, float, str)) or v is None}


def _importances(state, data):
    vi = LT.gedeon_importance(state).astype(np.float64)
    dinfo = data.dinfo
    if dinfo.hash_m:
        return vi
    for c, name in enumerate(dinfo.cat_names):
        if data.stats["levels"][name][-1] == 0:
            vi[dinfo.cat_off[c + 1] - 1] = 0.0  # no NA seen: its missing(NA) input never fired
    return vi

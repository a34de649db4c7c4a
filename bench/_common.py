"""Shared benchmark helpers: run a callable in a fresh process and measure its wall time
and the peak memory of its whole process tree (an H2O JVM child included), print results
as a markdown table, start a private H2O server that is always shut down, and write the
seeded mixed-type CSV data the import benchmark reads.

Benchmarks are scripts (``python3 bench/<name>.py``), not tests; they import this module
as ``_common`` from the ``bench`` directory.
"""
import contextlib
import gzip
import multiprocessing
import os
import shutil
import sys
import threading
import time
import traceback

import numpy as np
import pandas as pd
import psutil

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
# about 72 bytes a row: the default size makes a CSV of a bit over 1 GB
DEFAULT_ROWS = 15_000_000
_GEN_CHUNK = 250_000


# ---------------------------------------------------------------- measuring a process

def _tree_rss(proc):
    """Summed resident memory of a process and all its descendants (bytes)."""
    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _sample_peak(pid, stop, result, interval):
    proc = psutil.Process(pid)
    peak = 0
    while not stop.is_set():
        peak = max(peak, _tree_rss(proc))
        stop.wait(interval)
    result["peak_rss"] = max(peak, _tree_rss(proc))


def _child_main(conn, fn, args, kwargs, cores):
    """Runs in the fresh process: pin the cores, time ``fn``, send back the outcome."""
    # as an installed package would (pip compiles modules at install): a PYTHONDONTWRITEBYTECODE
    # environment would otherwise make every run compile our modules from source again
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # and so do the dask worker processes
    if cores and hasattr(os, "sched_setaffinity"):
        # children (dask workers, the H2O JVM) inherit the affinity: all systems get
        # exactly the same cores
        os.sched_setaffinity(0, list(range(cores)))
    start = time.perf_counter()
    try:
        value = fn(*args, **kwargs)
        conn.send(("ok", time.perf_counter() - start, value))
    except BaseException:  # report any failure of the measured code as a result row
        conn.send(("error", time.perf_counter() - start, traceback.format_exc()))
    finally:
        conn.close()


def run_measured(fn, *args, cores=None, timeout=None, interval=0.05, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a fresh (spawned) Python process.

    ``fn`` must be importable (a module-level function; a function of a script's
    ``__main__`` works when the script guards its entry point). ``cores`` pins the
    process tree to the first ``cores`` CPUs. Returns a dict: ``ok`` (bool), ``seconds``
    (wall time of ``fn`` alone, measured inside the child), ``peak_rss`` (bytes, the
    largest summed RSS of the process and all its descendants, sampled every
    ``interval`` seconds), ``value`` (what ``fn`` returned) or ``error`` (traceback).
    """
    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child_conn, fn, args, kwargs, cores))
    proc.start()
    child_conn.close()
    stop, sampled = threading.Event(), {}
    sampler = threading.Thread(target=_sample_peak, args=(proc.pid, stop, sampled, interval),
                               daemon=True)
    sampler.start()
    outcome = None
    try:
        if parent_conn.poll(timeout):
            outcome = parent_conn.recv()
    except EOFError:
        outcome = None
    finally:
        stop.set()
        sampler.join()
        _end_tree(proc)
    if outcome is None:
        why = "timed out" if proc.exitcode is None or proc.exitcode < 0 else "crashed"
        outcome = ("error", float("nan"), f"child process {why} (exit code {proc.exitcode})")
    status, seconds, payload = outcome
    res = {"ok": status == "ok", "seconds": seconds, "peak_rss": sampled.get("peak_rss", 0)}
    res["value" if status == "ok" else "error"] = payload
    return res


def _end_tree(proc):
    """Stop the measured process and anything it left behind (it started them)."""
    proc.join(timeout=30)
    try:
        leftovers = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        leftovers = []
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout=10)
    for p in leftovers:
        with contextlib.suppress(psutil.Error):
            p.kill()


# ---------------------------------------------------------------- a private H2O

def _mem_bytes(size):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    size = str(size).strip().upper()
    return int(float(size[:-1]) * units[size[-1]]) if size[-1] in units else int(size)


@contextlib.contextmanager
def own_h2o(nthreads=1, max_mem_size="2G"):
    """Start a new local H2O JVM (never attaching to someone else's on port 54321),
    connect the ``h2o`` client to it, and always shut it down afterwards."""
    import h2o
    from h2o.backend import H2OLocalServer

    server = H2OLocalServer.start(nthreads=nthreads, max_mem_size=_mem_bytes(max_mem_size),
                                  enable_assertions=False, port="54321+", verbose=False)
    jvm = psutil.Process(server._process.pid)
    try:
        h2o.connect(server=server, verbose=False)
        yield h2o
    finally:
        with contextlib.suppress(Exception):
            h2o.cluster().shutdown()
        server.shutdown()
        with contextlib.suppress(psutil.Error):
            jvm.wait(timeout=10)
        with contextlib.suppress(psutil.Error):
            jvm.kill()


def first_and_warm(make, fit):
    """Build a fresh model with ``make()`` and time ``fit(model)``, twice in this process.
    Returns the second model and ``{"cold_s": first fit's seconds, "train_s": second's}``: the
    first fit pays the one-time costs (kernels loading or compiling, a JVM's JIT), the second
    is the steady state. Every system in a benchmark is timed this same way."""
    seconds = []
    for _ in range(2):
        model = make()
        start = time.perf_counter()
        fit(model)
        seconds.append(time.perf_counter() - start)
    return model, {"cold_s": seconds[0], "train_s": seconds[1]}


# ---------------------------------------------------------------- reporting

def fmt_seconds(s):
    return "n/a" if s is None or s != s else f"{s:.2f}"


def fmt_gb(nbytes):
    return "n/a" if not nbytes else f"{nbytes / (1 << 30):.2f}"


def markdown_table(rows, columns):
    """A GitHub markdown table of ``rows`` (dicts) with the given column names."""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"
    out = [line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in cells]
    return "\n".join(out)


def emit(text, out=None):
    """Print a results text and, when ``out`` is given, also write it there."""
    print(text)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as fh:
            fh.write(text)


def machine_note(cores):
    """One line describing where the numbers were taken."""
    mem = psutil.virtual_memory().total / (1 << 30)
    return (f"{cores} of {os.cpu_count()} cores, {mem:.0f} GB RAM, Python "
            f"{sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}")


# ---------------------------------------------------------------- data

_FEW = np.array(["red", "green", "blue", "yellow", "black"])
_WORDS = np.array(["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "zeta"])


def _mixed_chunk(rng, first_row, n):
    """One chunk of the mixed table as a DataFrame of ready-to-write cells."""
    def with_na(values, rate, token=""):
        values = values.astype(object)
        values[rng.random(n) < rate] = token
        return values

    real = rng.normal(50.0, 20.0, n).round(4)
    return pd.DataFrame({
        "id": np.arange(first_row, first_row + n),
        "x_real": real,
        "x_real_na": with_na(rng.exponential(3.0, n).round(5), 0.05),
        "x_int": with_na(with_na(rng.integers(-1000, 1000, n), 0.01), 0.01, "NA"),
        "x_bigint": rng.integers(0, 10**12, n),
        "cat_few": with_na(_FEW[rng.integers(0, _FEW.size, n)], 0.01),
        "cat_many": np.char.add("lvl_", rng.integers(0, 20_000, n).astype("U5")),
        "text": np.char.add(np.char.add(_WORDS[rng.integers(0, _WORDS.size, n)], " "),
                            rng.integers(0, 10**9, n).astype("U9")),
        "y": (real + rng.normal(0, 5, n) > 50).astype(np.int8),
    })


def make_mixed_csv(path, n_rows=DEFAULT_ROWS, seed=42):
    """Write a seeded CSV with a header and a row id, real and integer columns (some
    with empty or ``NA`` cells), categoricals with 5 and 20,000 levels, a free-text column
    and a 0/1 response. About 72 bytes a row (the default size is over 1 GB). Returns path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "w", newline="") as fh:
        for k, first in enumerate(range(0, n_rows, _GEN_CHUNK)):
            rng = np.random.default_rng([seed, k])
            chunk = _mixed_chunk(rng, first, min(_GEN_CHUNK, n_rows - first))
            chunk.to_csv(fh, index=False, header=(k == 0))
    os.replace(tmp, path)
    return path


def gzip_copy(src, dst=None, level=6):
    """Gzip ``src`` to ``dst`` (default ``src + '.gz'``); returns dst."""
    dst = dst or src + ".gz"
    tmp = dst + ".part"
    with open(src, "rb") as fin, gzip.open(tmp, "wb", compresslevel=level) as fout:
        shutil.copyfileobj(fin, fout, length=16 << 20)
    os.replace(tmp, dst)
    return dst


def mixed_data(n_rows=DEFAULT_ROWS, seed=42, data_dir=DATA_DIR):
    """Paths ``(csv, csv_gz)`` of the cached mixed data set, made on first use."""
    csv = os.path.join(data_dir, f"mixed_{n_rows}_{seed}.csv")
    if not os.path.exists(csv):
        make_mixed_csv(csv, n_rows, seed)
    gz = csv + ".gz"
    if not os.path.exists(gz):
        gzip_copy(csv, gz)
    return csv, gz

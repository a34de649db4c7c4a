"""The chunk-host executor on a LocalCluster of worker processes: the same results as the
in-process executor (reductions in partition order), values forgotten with their handles,
constants sent once, metrics reduced on the hosts, and a lost worker's chunks replayed from
lineage."""
import gc
import os
import signal
import tempfile
import time

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from daskml_h2o import chunk_hosts, parallel
from daskml_h2o.chunk_hosts import HostExecutor, _balanced_placement

pytestmark = pytest.mark.processes


def _chunk(pdf):
    x = pdf["x"].to_numpy(dtype=np.float64)
    return {"x": x, "n": len(x)}


def _scaled(chunk, factor):
    return chunk["x"] * factor


def _add(a, b, offset):
    return a + b + offset


def _add_x(a, chunk, offset):
    return a + chunk["x"] + offset


def _sum_and_count(v):
    return np.array([v.sum(), float(v.size)])


def _total(*parts):
    out = np.array(parts[0], dtype=np.float64, copy=True)
    for p in parts[1:]:
        out += p
    return out


def _strategy_scale(chunk, strategy):
    return chunk["x"] * strategy["scale"]


def _host_key_count(host_key):
    from distributed import get_worker
    return len(get_worker().state.actors[host_key].values)


@pytest.fixture
def chunks(process_cluster):
    rng = np.random.default_rng(0)
    pdf = pd.DataFrame({"x": rng.normal(size=1000)})
    ddf = dd.from_pandas(pdf, npartitions=5)
    return parallel.persist_chunks(ddf, _chunk, client=process_cluster), pdf["x"].to_numpy()


@pytest.fixture(params=["channel", "actor"])
def ex(process_cluster, request, monkeypatch):
    """Both ways of calling the hosts: the direct channel (hosts on this machine) and the actor."""
    monkeypatch.setattr(chunk_hosts, "DIRECT_CHANNELS", request.param == "channel")
    executor = HostExecutor(process_cluster)
    yield executor
    executor.close()
    chunk_hosts.release_idle_hosts(process_cluster)  # each test starts its own hosts


def _values_per_host(client, ex):
    return {a: client.submit(_host_key_count, ex.hosts[a].key, workers=[a], pure=False).result() for a in ex.hosts}


def test_steps_reduce_in_partition_order_like_the_local_executor(process_cluster, chunks, ex):
    chunk_set, x = chunks
    data = ex.chunks(chunk_set)
    a = ex.map(_scaled, data, args=(2.0,), name="scaled")
    b = ex.map(_add, a, a, args=(1.0,), name="add")
    hosted = ex.reduce(_total, ex.map(_sum_and_count, b, name="s"), name="sum", split_every=2)
    values = np.concatenate(ex.gather(b))
    local = parallel.LocalExecutor(2)
    data = process_cluster.gather(chunk_set.futures)
    b_local = local.map(_add, *[local.map(_scaled, data, args=(2.0,), name="scaled")] * 2, args=(1.0,), name="add")
    expected = local.reduce(_total, local.map(_sum_and_count, b_local, name="s"), name="sum", split_every=2)
    assert np.array_equal(values, 4.0 * x + 1.0)
    assert np.array_equal(hosted, expected)  # bit for bit: same values, same order of additions
    assert len(set(ex.chunk_host.values())) == 2  # five chunks spread over both workers


def test_values_are_forgotten_with_their_handles_and_constants_sent_once(process_cluster, chunks, ex):
    chunk_set, x = chunks
    data = ex.chunks(chunk_set)
    strategy = ex.share({"scale": 3.0})
    kept = ex.map(_strategy_scale, data, args=(strategy,), name="kept")
    ex.wait(kept)
    counts = _values_per_host(process_cluster, ex)
    for _ in range(3):
        temporary = ex.map(_scaled, data, args=(5.0,), name="tmp")
        ex.wait(temporary)
        del temporary
        gc.collect()
    ex.wait([])
    after = _values_per_host(process_cluster, ex)
    assert after == counts  # the temporaries were dropped on the hosts
    assert all(ex.shared_on[a] == {strategy.key} for a in ex.hosts)
    assert np.array_equal(np.concatenate(ex.gather(kept)), 3.0 * x)


def test_a_failing_step_names_its_partition(process_cluster, chunks, ex):
    chunk_set, _ = chunks
    data = ex.chunks(chunk_set)
    bad = ex.map(_scaled, data, args=("not a number",), name="bad")
    with pytest.raises(parallel.PartitionError, match="partition 0: UFuncTypeError"):
        ex.gather(bad)


@pytest.mark.slow
def test_a_lost_worker_is_replayed_from_lineage(process_cluster, chunks, ex):
    chunk_set, x = chunks
    data = ex.chunks(chunk_set)
    state = data
    for i in range(4):
        state = ex.map(_add_x, state if i else ex.map(_scaled, data, args=(1.0,), name="s0"), data,
                       args=(float(i),), name=f"step{i}")
    ex.wait(state)
    victim = next(iter(ex.hosts))
    pid = process_cluster.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    state = ex.map(_add_x, state, data, args=(10.0,), name="after")
    values = np.concatenate(ex.gather(state))
    assert victim not in ex.hosts
    # x, then + x + i for i = 0..3, then + x + 10
    assert np.allclose(values, 6 * x + 16.0)


def test_a_closed_executors_hosts_serve_the_next_one_emptied(process_cluster, chunks, ex):
    chunk_set, x = chunks
    data = ex.chunks(chunk_set)
    ex.wait(ex.map(_strategy_scale, data, args=(ex.share({"scale": 2.0}),), name="s"))
    actors = {a: h.key for a, h in ex.hosts.items()}
    threads = process_cluster.run(_channel_threads)
    ex.close()
    assert set(chunk_hosts._idle_hosts[process_cluster.id]) == set(actors)
    second = HostExecutor(process_cluster)
    try:
        data = second.chunks(chunk_set)
        assert {a: h.key for a, h in second.hosts.items()} == actors  # the same hosts, no new channel
        assert process_cluster.run(_channel_threads) == threads
        assert process_cluster.id not in chunk_hosts._idle_hosts or not chunk_hosts._idle_hosts[process_cluster.id]
        # emptied: the first executor's values (its chunks, step results, shared constant) are gone
        assert sum(_values_per_host(process_cluster, second).values()) == len(chunk_set.futures)
        scaled = second.map(_strategy_scale, data, args=(second.share({"scale": 3.0}),), name="s")
        assert np.array_equal(np.concatenate(second.gather(scaled)), 3.0 * x)
    finally:
        second.close()


def test_a_host_owing_a_reply_is_ended_not_kept(process_cluster, chunks, ex):
    chunk_set, x = chunks
    data = ex.chunks(chunk_set)
    with pytest.raises(parallel.PartitionError):
        ex.gather(ex.map(_scaled, data, args=("not a number",), name="bad"))
    # the first failing reply is raised at once: the other host's reply was never read, and a
    # kept channel would hand it to the next executor's first call
    assert len(ex.unanswered) == 1
    owing = set(ex.unanswered)
    hosts = set(ex.hosts)
    ex.close()
    assert set(chunk_hosts._idle_hosts[process_cluster.id]) == hosts - owing
    second = HostExecutor(process_cluster)
    try:
        data = second.chunks(chunk_set)
        assert np.array_equal(np.concatenate(second.gather(second.map(_scaled, data, args=(2.0,), name="s"))),
                              2.0 * x)
    finally:
        second.close()


@pytest.mark.slow
def test_a_kept_host_whose_worker_died_is_not_reused(process_cluster, chunks, ex):
    chunk_set, x = chunks
    ex.wait(ex.map(_scaled, ex.chunks(chunk_set), args=(2.0,), name="s"))
    victim, survivor = sorted(ex.hosts)
    actors = {a: h.key for a, h in ex.hosts.items()}
    ex.close()
    os.kill(process_cluster.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (victim in process_cluster.scheduler_info()["workers"] or len(process_cluster.scheduler_info()["workers"]) < 2) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    second = HostExecutor(process_cluster)
    try:
        data = second.chunks(chunk_set)
        assert second.hosts[survivor].key == actors[survivor]
        assert victim not in second.hosts and len(second.hosts) == 2  # a new host on the restarted worker
        assert np.array_equal(np.concatenate(second.gather(second.map(_scaled, data, args=(2.0,), name="s"))),
                              2.0 * x)
    finally:
        second.close()


def test_balanced_placement_keeps_chunks_where_they_are_up_to_a_share():
    assert _balanced_placement(["a", "a", "a", "b"], ["a", "b"]) == ["a", "a", "b", "b"]
    # a chunk without a place, or on a worker that left, goes to the least-loaded worker
    assert _balanced_placement([None, "c", "a"], ["a", "b"]) == ["b", "a", "a"]
    assert _balanced_placement(["a"] * 4, ["a", "b"]) == ["a", "a", "b", "b"]


def _metric_chunk(pdf):
    return {"y": pdf["y"].to_numpy(), "p": pdf[["p0", "p1"]].to_numpy(), "w": pdf["w"].to_numpy(),
            "n": len(pdf)}


def _field(chunk, name):
    return chunk[name]


@pytest.mark.parametrize("kind", ["binomial", "regression"])
def test_metrics_reduce_on_the_hosts_like_in_process(process_cluster, ex, kind):
    from daskml_h2o.models.metrics import add_gains_lift, chunk_blocks, compute_metrics_on_chunks
    from tests.test_metrics import same_metrics
    rng = np.random.default_rng(5)
    n = 900
    y = (rng.random(n) < 0.3).astype(float)
    y[::37] = np.nan
    p1 = np.clip(0.3 + 0.4 * (np.nan_to_num(y) - 0.3) + 0.2 * rng.standard_normal(n), 0.01, 0.99)
    pdf = pd.DataFrame({"y": y, "p0": 1 - p1, "p1": p1, "w": rng.integers(0, 3, n).astype(float)})
    chunk_set = parallel.persist_chunks(dd.from_pandas(pdf, npartitions=4), _metric_chunk, client=process_cluster)
    options = {"domain": ["0", "1"], "gains_lift": False} if kind == "binomial" else \
        {"distribution": "huber", "huber_alpha": 0.7}

    def columns(executor, data):
        p = executor.map(_field, data, args=("p",), name="p") if kind == "binomial" else \
            executor.map(_scaled_field, data, args=("y", 1.1), name="p")
        return (executor.map(_field, data, args=("y",), name="y"), p,
                executor.map(_field, data, args=("w",), name="w"))

    local = parallel.LocalExecutor(2)
    local_cols = columns(local, process_cluster.gather(chunk_set.futures))
    host_cols = columns(ex, ex.chunks(chunk_set))
    got = compute_metrics_on_chunks(ex, kind, *host_cols, **options)
    expected = compute_metrics_on_chunks(local, kind, *local_cols, **options)
    same_metrics(got, expected)
    if kind == "binomial":
        add_gains_lift(got, chunk_blocks(ex, *host_cols))
        add_gains_lift(expected, chunk_blocks(local, *local_cols))
        same_metrics(got, expected)


def _scaled_field(chunk, name, factor):
    return chunk[name] * factor


def _channel_threads():
    import threading
    return sum(t.name == "daskml-h2o-host-channel" for t in threading.enumerate())


def test_hosts_on_this_machine_are_called_over_a_channel_only_when_they_prove_it(process_cluster, chunks, ex):
    chunk_set, x = chunks
    data = ex.chunks(chunk_set)
    assert np.array_equal(np.concatenate(ex.gather(ex.map(_scaled, data, args=(2.0,), name="s"))), 2.0 * x)
    if not chunk_hosts.DIRECT_CHANNELS:
        assert ex.channels == {}
        return
    assert sorted(ex.channels) == sorted(ex.hosts)  # a LocalCluster's workers share the machine
    host = next(iter(ex.hosts.values()))
    address = next(iter(ex.hosts))
    # a host that cannot read the driver's token file (another machine) opens no channel
    assert host.open_channel(b"key", "/nonexistent/daskml-h2o-probe", b"token").result() is None
    # one the driver cannot connect to is abandoned: its waiting thread ends, its socket goes
    before = process_cluster.run(_channel_threads, workers=[address])[address]
    probe = os.path.join(tempfile.gettempdir(), "daskml-h2o-probe-test")
    with open(probe, "wb") as fh:
        fh.write(b"token")
    try:
        path, cpus = host.open_channel(b"key", probe, b"token").result()
    finally:
        os.unlink(probe)
    assert cpus == process_cluster.run(lambda: sorted(os.sched_getaffinity(0)), workers=[address])[address]
    assert os.path.exists(path)
    assert process_cluster.run(_channel_threads, workers=[address])[address] == before + 1
    host.abandon_channel(path).result()
    deadline = time.monotonic() + 10
    while process_cluster.run(_channel_threads, workers=[address])[address] != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_cluster.run(_channel_threads, workers=[address])[address] == before
    assert not os.path.exists(path)
    # closing the executor keeps its hosts and their channels for the next; releasing them ends
    # the channels' threads on the hosts
    ex.close()
    assert process_cluster.run(_channel_threads) == {a: 1 for a in process_cluster.scheduler_info()["workers"]}
    chunk_hosts.release_idle_hosts(process_cluster)
    deadline = time.monotonic() + 10
    while sum(process_cluster.run(_channel_threads).values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(process_cluster.run(_channel_threads).values()) == 0


def test_channel_framing_falls_back_to_cloudpickle_only_where_pickle_cannot_stand_in(monkeypatch):
    import functools
    import pickle

    import __main__
    plain = {"a": np.arange(3), "f": np.add, "p": functools.partial(_add, offset=1)}
    with monkeypatch.context() as m:
        m.setattr(chunk_hosts.cloudpickle, "dumps", None)  # plain pickle carries these alone
        got = pickle.loads(chunk_hosts._dumps(plain))
    assert got["f"] is np.add and got["p"](1, 2) == 4 and np.array_equal(got["a"], np.arange(3))
    assert pickle.loads(chunk_hosts._dumps(lambda x: x + 1))(1) == 2

    def twice(x):
        return 2 * x

    # a function of the user's script: pickle would send its name, which a host cannot import
    twice.__module__, twice.__qualname__ = "__main__", "twice_for_the_channel_test"
    monkeypatch.setattr(__main__, "twice_for_the_channel_test", twice, raising=False)
    payload = chunk_hosts._dumps(twice)
    monkeypatch.delattr(__main__, "twice_for_the_channel_test")
    assert pickle.loads(payload)(3) == 6


def test_small_arrays_travel_as_bytes_and_come_back_writable_and_aligned():
    import pickle
    arrays = [np.arange(7, dtype=np.int32), np.zeros((3, 4)), np.array(2.5), np.array([True, False]),
              np.array(["2020-01-01"], dtype="datetime64[ns]"), np.arange(6, dtype=">i8").reshape(2, 3),
              np.zeros(0, np.uint8), np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),  # numpy's way
              np.arange(12.0).reshape(3, 4)[:, 1],  # not contiguous: numpy's way
              np.array([1, "x"], dtype=object)]
    for a in arrays:
        payload = chunk_hosts._dumps(a)
        got = pickle.loads(payload)
        assert got.dtype == a.dtype and got.shape == a.shape and (got == a).all()
        assert got.flags.writeable and got.flags.aligned
        assert (b"_small_array" in payload) == (a.dtype.fields is None and not a.dtype.hasobject
                                                and a.flags.c_contiguous)
    plan = [np.arange(5, dtype=np.int32) for _ in range(15)]
    assert len(chunk_hosts._dumps(plan)) < len(pickle.dumps(plan, protocol=5))


def test_a_channel_carries_large_arrays_out_of_band_and_small_ones_in_band():
    import multiprocessing
    import threading

    a, b = multiprocessing.Pipe()
    sender, receiver = chunk_hosts._Channel(a), chunk_hosts._Channel(b)
    big = np.random.default_rng(0).normal(size=(40, 5000))  # 1.6 MB, out of band
    message = ("ok", [big, np.arange(5), {"small": np.ones(3, np.float32)}])
    out_of_band = []
    chunk_hosts._dumps(message, out_of_band.append)
    assert [buf.raw().nbytes for buf in out_of_band] == [big.nbytes]
    thread = threading.Thread(target=sender.send, args=(message,))
    thread.start()
    status, (got_big, got_small, got_dict) = receiver.receive()
    thread.join()
    np.testing.assert_array_equal(got_big, big)
    np.testing.assert_array_equal(got_small, np.arange(5))
    assert got_dict["small"].dtype == np.float32
    got_big[0, 0] = 1.0  # the received array owns writable memory
    sender.close()
    with pytest.raises(EOFError):
        receiver.receive()
    receiver.close()


def _slow_chunk(i):
    time.sleep(0.5)  # still running when the executor places the chunks
    return {"x": np.full(10, float(i)), "n": 10}


def test_chunks_are_placed_where_their_data_is_once_it_is_computed(process_cluster, ex):
    workers = sorted(process_cluster.scheduler_info()["workers"])
    # partitions 0, 1 on the first worker and 2, 3 on the second: a placement made before they
    # are computed (blind) would interleave them and copy two chunks to the other worker
    futures = [process_cluster.submit(_slow_chunk, i, workers=[workers[i // 2]], pure=False) for i in range(4)]
    data = ex.chunks(parallel.ChunkSet(futures, [10] * 4))
    assert [ex.chunk_host[h.chunk] for h in data] == [workers[0], workers[0], workers[1], workers[1]]
    held = process_cluster.who_has(futures)
    assert [sorted(held[f.key]) for f in futures] == [[w] for w in [workers[0]] * 2 + [workers[1]] * 2]  # no copies
    assert [float(v[0]) for v in ex.gather(ex.map(_scaled_x, data, args=(1.0,), name="x"))] == [0.0, 1.0, 2.0, 3.0]


def _scaled_x(chunk, factor):
    return chunk["x"] * factor


def _task_keys(dask_scheduler, prefix):
    return [str(k) for k in dask_scheduler.tasks if prefix in str(k)]


@pytest.mark.slow
def test_a_persisted_frame_becomes_chunks_on_the_hosts_and_is_replayed_from_its_partitions(process_cluster, ex):
    rng = np.random.default_rng(4)
    pdf = pd.DataFrame({"x": rng.normal(size=1000), "unused": rng.normal(size=1000)})
    ddf = process_cluster.persist(dd.from_pandas(pdf, npartitions=4))
    lazy = parallel.persist_chunks(dd.from_pandas(pdf, npartitions=4), _chunk, name="lazy-built",
                                   client=process_cluster, executor=ex, columns=["x"])
    assert lazy.on_scheduler  # a frame still to compute: the chunks are built as tasks
    built = parallel.persist_chunks(ddf, _chunk, name="host-built", client=process_cluster, executor=ex,
                                    nrows=[250] * 4, columns=["x"])
    assert not built.on_scheduler and built.nrows == [250] * 4
    # built from the partitions the workers hold, by the hosts: no task made any chunk
    assert not process_cluster.run_on_scheduler(_task_keys, prefix="host-built")
    assert np.array_equal(np.concatenate([c["x"] for c in ex.gather(built.futures)]), pdf["x"].to_numpy())
    counted = parallel.persist_chunks(ddf, _chunk, name="counted", client=process_cluster, executor=ex)
    assert counted.nrows == [250] * 4  # row counts unknown: counted on the hosts
    doubled = ex.durable(_scaled, built, args=(2.0,), name="doubled")  # a step: no tasks, no adoption
    built.release()
    gc.collect()
    ex.wait(doubled)
    victim = ex.chunk_host[doubled[0].chunk]
    pid = process_cluster.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    # the lost partitions are recomputed by dask, the chunks and their doubles replayed by the hosts
    assert np.array_equal(np.concatenate(ex.gather(doubled)), 2.0 * pdf["x"].to_numpy())
    assert victim not in ex.hosts

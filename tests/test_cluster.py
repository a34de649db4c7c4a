"""The cluster session: init/connect/shutdown/cluster on Dask, H2O's arguments mapped or refused."""
import os
import warnings

import dask
import distributed
import pytest

import daskml_h2o as h2o
from daskml_h2o.cluster import H2OConnectionError, parse_mem_size


@pytest.fixture(autouse=True)
def _fresh_session():
    h2o.shutdown()
    yield
    h2o.shutdown()


@pytest.mark.parametrize("value, expected", [
    ("8G", 8 * 2**30), ("512m", 512 * 2**20), ("1T", 2**40), (4, 4 * 2**30), ("2g", 2 * 2**30),
    (3 * 2**30, 3 * 2**30), ("1.5G", int(1.5 * 2**30)),
])
def test_parse_mem_size(value, expected):
    assert parse_mem_size(value) == expected


@pytest.mark.parametrize("bad", ["lots", "-1G", 0, True])
def test_parse_mem_size_rejects(bad):
    with pytest.raises(ValueError, match="max_mem_size"):
        parse_mem_size(bad)


def test_init_starts_embedded_cluster_and_is_idempotent(capsys):
    assert h2o.cluster() is None
    h2o.init(nthreads=2, max_mem_size="2G")
    out = capsys.readouterr().out
    assert "Dashboard:" in out and "embedded LocalCluster" in out
    client = distributed.default_client()
    info = client.scheduler_info()["workers"]
    assert sum(w["nthreads"] for w in info.values()) == 2
    assert sum(w["memory_limit"] for w in info.values()) == 2 * 2**30
    h2o.init(verbose=False)  # a second call keeps the same client
    assert distributed.default_client() is client
    status = h2o.cluster()
    status.show_status()
    assert "Total threads:" in capsys.readouterr().out
    assert status.cloud_size == 1
    status.shutdown()
    assert h2o.cluster() is None
    assert client.status in ("closed", "closing")


def test_init_processes_layout():
    h2o.init(nthreads=2, processes=True, verbose=False)
    workers = distributed.default_client().scheduler_info()["workers"]
    assert len(workers) == 2 and all(w["nthreads"] == 1 for w in workers.values())
    # every worker process has built numba's runtime (the warm-up kernel ran there)
    compiled = distributed.default_client().run(_warmup_compiled)
    assert sorted(compiled) == sorted(workers) and all(compiled.values())
    # dask's MALLOC_TRIM_THRESHOLD_ default is dropped (it made every large array page-fault)
    environ = distributed.default_client().run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert sorted(environ) == sorted(workers) and set(environ.values()) == {None}


def test_worker_process_environ_keeps_what_the_user_configured(monkeypatch):
    from daskml_h2o.cluster import _TRIM_KEY, _worker_process_environ

    def inside(config_value, env_value):
        if env_value is None:
            monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
        else:
            monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", env_value)
        with dask.config.set({_TRIM_KEY: config_value}):
            with _worker_process_environ():
                seen = dask.config.get(_TRIM_KEY, None), os.environ.get("MALLOC_TRIM_THRESHOLD_")
            assert os.environ.get("MALLOC_TRIM_THRESHOLD_") == env_value  # restored afterwards
        return seen

    assert inside(65536, None) == (None, None)
    assert inside(65536, "65536") == (None, None)  # left behind by an earlier cluster's nanny
    assert inside(1_000_000, None) == (1_000_000, None)
    assert inside(65536, "1000000") == (65536, "1000000")


def _warmup_compiled():
    import threading
    from daskml_h2o import _numba_warmup
    for thread in threading.enumerate():
        if thread.name == _numba_warmup.THREAD_NAME:
            thread.join()
    return len(_numba_warmup._increment.signatures) == 1


def test_init_builds_numba_runtime_in_the_background(monkeypatch):
    from daskml_h2o import _numba_warmup
    started = []
    real_start = _numba_warmup.start
    monkeypatch.setattr(_numba_warmup, "start", lambda: started.append(1) or real_start())
    h2o.init(nthreads=1, verbose=False)
    assert started == [1]  # once, on the driver: the in-process worker shares its runtime
    assert _warmup_compiled()
    h2o.init(verbose=False)  # already running: nothing new starts
    assert started == [1]


def test_init_adopts_existing_client_and_shutdown_leaves_it_open():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        h2o.init(verbose=False)
        assert h2o.cluster().client is client
        h2o.shutdown()
        assert client.status == "running"


def test_init_connects_to_scheduler_address():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        h2o.init(url=cluster.scheduler_address, verbose=False)
        assert h2o.cluster().client.scheduler.address == cluster.scheduler_address
        assert h2o.cluster().client.submit(lambda v: v + 1, 1).result() == 2
        h2o.shutdown()
        assert cluster.status.name == "running"


def test_connect_to_nothing_is_a_clear_error():
    with pytest.raises(H2OConnectionError, match="could not connect to a Dask scheduler at tcp://127.0.0.1:1"):
        h2o.init(ip="127.0.0.1", port=1, timeout=2, verbose=False)


def test_connect_without_cluster_does_not_start_one():
    with pytest.raises(H2OConnectionError, match="found no running cluster"):
        h2o.connect(verbose=False)


def test_h2o_rest_url_is_explained():
    with pytest.raises(ValueError, match="not an H2O REST endpoint"):
        h2o.init(url="http://localhost:54321")


def test_unsupported_and_unknown_arguments():
    with pytest.raises(ValueError, match="not supported yet"):
        h2o.init(username="u", password="p")
    with pytest.raises(TypeError, match="unexpected keyword"):
        h2o.init(not_an_argument=1)
    with pytest.raises(ValueError, match="nthreads"):
        h2o.init(nthreads=-5)


def test_jvm_only_arguments_warn_and_run():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h2o.init(nthreads=1, jvm_custom_args=["-Xss4m"], processes=False, verbose=False)
    assert any("no effect on a Dask cluster" in str(w.message) for w in caught)
    assert h2o.cluster().is_running()


def test_progress_bar_switch(capsys):
    from daskml_h2o.progress import ProgressBar
    h2o.show_progress()
    with ProgressBar("GBM") as bar:
        bar.update(0.5)
    out = capsys.readouterr().out
    assert out.startswith("GBM progress: |") and out.rstrip().endswith("(done) 100%")
    assert out.count("█") == 60
    h2o.no_progress()
    with ProgressBar("GBM") as bar:
        bar.update(0.5)
    assert capsys.readouterr().out == ""
    h2o.show_progress()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")
def test_embedded_worker_processes_get_cores_of_their_own():
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) % 2:
        pytest.skip("needs an even number of usable cores")

    def cores():
        got = distributed.default_client().run(lambda: sorted(os.sched_getaffinity(0)))
        return sorted(got.values())

    h2o.init(nthreads=len(allowed), processes=True, n_workers=2, verbose=False)
    pinned = cores()
    assert len(pinned) == 2 and pinned[0] + pinned[1] == allowed  # disjoint halves, every core used
    distributed.default_client().restart()  # restarted workers go back to their cores
    assert cores() == pinned
    h2o.shutdown()
    h2o.init(nthreads=len(allowed), processes=True, n_workers=2, pin_workers=False, verbose=False)
    assert cores() == [allowed, allowed]
    h2o.shutdown()
    with pytest.raises(ValueError, match="pin_workers=True: the workers' .* threads need"):
        h2o.init(nthreads=len(allowed) + 2, processes=True, n_workers=2, pin_workers=True, verbose=False)
    assert h2o.cluster() is None  # the refused cluster was shut down
    with pytest.raises(ValueError, match="pin_workers must be None, True or False"):
        h2o.init(pin_workers="yes", verbose=False)

"""Shared fixtures: a session with the embedded cluster, and a process-based LocalCluster."""
import os

import pytest

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))


@pytest.fixture(scope="session")
def _shutdown_at_exit():
    yield
    import daskml_h2o as h2o
    h2o.shutdown()


@pytest.fixture
def h2o_session(_shutdown_at_exit):
    """A running embedded threaded cluster (started once, restarted if a test shut it down)."""
    import daskml_h2o as h2o
    h2o.init(nthreads=2, processes=False, verbose=False)
    h2o.no_progress()
    yield h2o


@pytest.fixture(scope="module")
def process_cluster():
    """A LocalCluster of two worker processes, independent of the global session."""
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit="2GiB") as cluster, Client(cluster, set_as_default=False) as client:
        yield client
        from daskml_h2o.chunk_hosts import release_idle_hosts
        release_idle_hosts(client)

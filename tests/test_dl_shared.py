"""The network copy shared by the worker processes of one host, and how training groups
workers into H2O nodes."""
import os

import numpy as np

from daskml_h2o.deeplearning import shared
from daskml_h2o.deeplearning.network import init_state, make_spec
from daskml_h2o.deeplearning.training import Iterations


def _state():
    st = init_state(make_spec(5, [4, 3], 2, "Tanh", "softmax", 0.0, None), 3)
    st.w_eg2[:] = 0.25
    st.samples = 17
    return st


def test_shared_copy_round_trip_and_writes_reach_every_mapping():
    st = _state()
    desc = shared.share(st, "t1")
    a, b = shared.attach(desc), shared.attach(desc)
    assert a.samples == 17 and a.spec == st.spec
    for name in st._ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(st, name))
        assert getattr(a, name).dtype == getattr(st, name).dtype
    a.weights[2] = 9.5  # one mapping (one process) writes, the other sees it
    b.biases[0] = -4.0
    out = shared.collect(desc)
    assert out.weights[2] == np.float32(9.5) and out.biases[0] == -4.0 and out.w_eg2[0] == np.float32(0.25)
    assert not os.path.exists(desc.path)
    out.weights[0] = 123.0  # the collected state is a private copy
    assert a.weights[0] != np.float32(123.0)


def test_stale_files_of_a_run_are_removed():
    desc = shared.share(_state(), "stale42")
    for pattern in shared.stale_pattern("stale42"):
        shared.remove(pattern)
    assert not os.path.exists(desc.path)


def _nodes(tasks, replicated=False, share_hosts=True):
    it = Iterations.__new__(Iterations)
    it.replicated, it.share_hosts = replicated, share_hosts
    return [[t[0] for t in node] for node in it._nodes(tasks)]


def test_workers_of_one_host_form_one_node_unless_data_is_replicated():
    t = lambda w: (w, [], [], [], 1)
    tasks = [t("tcp://10.0.0.1:1"), t("tcp://10.0.0.2:5"), t("tcp://10.0.0.1:2")]
    assert _nodes(tasks) == [["tcp://10.0.0.1:1", "tcp://10.0.0.1:2"], ["tcp://10.0.0.2:5"]]
    assert _nodes(tasks, replicated=True) == [[w] for w, *_ in tasks]
    assert _nodes(tasks, share_hosts=False) == [[w] for w, *_ in tasks]  # no common file system
    assert _nodes([t("tcp://10.0.0.1:1")]) == [["tcp://10.0.0.1:1"]]

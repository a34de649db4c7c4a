"""One network copy shared by the worker processes of one host (H2O's node-level Hogwild).

H2O trains one model per node: every core of the node updates the same weights without locks,
and only nodes are averaged (spec deeplearning.md §9.4). Dask worker processes of one host are
one H2O node split into processes; averaging their copies would give each epoch only 1/P of the
SGD steps of one process. So the copy lives in a memory-mapped file (in /dev/shm when it fits)
that each process maps and trains in place. `share` writes it, `attach` maps it (to train it,
or to copy it out after an iteration), `collect` copies it out and removes the file, and
`stale_pattern` names what a run leaves for `remove`. Numpy only: the dask side lives in training.py.
"""
import glob
import mmap
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass

import numpy as np

from .network import NetworkState

_PREFIX = "daskml-dl-hogwild-"
_ALIGN = 64


@dataclass(frozen=True)
class SharedState:
    """Where a shared copy lives and how its buffers are laid out in the file."""
    path: str
    spec: object
    samples: int
    fields: tuple  # ((name, dtype str, size, byte offset), ...)
    nbytes: int


def _layout(state):
    fields, offset = [], 0
    for name in NetworkState._ARRAYS:
        a = getattr(state, name)
        fields.append((name, a.dtype.str, int(a.size), offset))
        offset += -(-a.nbytes // _ALIGN) * _ALIGN
    return tuple(fields), max(offset, _ALIGN)


def _directory(nbytes):
    """/dev/shm when it has room (no disk writes), else the temporary directory."""
    shm = "/dev/shm"
    try:
        if os.path.isdir(shm) and shutil.disk_usage(shm).free > 2 * nbytes:
            return shm
    except OSError:
        pass
    return tempfile.gettempdir()


def share(state, tag="") -> SharedState:
    """Write `state` into a new shared file on this host; returns its descriptor."""
    fields, nbytes = _layout(state)
    path = os.path.join(_directory(nbytes), f"{_PREFIX}{tag}{uuid.uuid4().hex[:12]}")
    with open(path, "wb") as fh:
        fh.truncate(nbytes)
    desc = SharedState(path, state.spec, int(state.samples), fields, nbytes)
    view = attach(desc)
    for name, *_ in fields:
        getattr(view, name)[:] = getattr(state, name)
    return desc


def attach(desc) -> NetworkState:
    """A NetworkState whose buffers are the shared file's memory: writes reach every process."""
    with open(desc.path, "r+b") as fh:
        buf = mmap.mmap(fh.fileno(), desc.nbytes)
    arrays = [np.frombuffer(buf, dtype=np.dtype(dt), count=size, offset=off) for _, dt, size, off in desc.fields]
    state = NetworkState.__new__(NetworkState)
    state.__dict__.update(spec=desc.spec, samples=desc.samples, **{f[0]: a for f, a in zip(desc.fields, arrays)})
    return state


def collect(desc) -> NetworkState:
    """A private copy of the shared state; the file is removed."""
    try:
        return attach(desc).copy()
    finally:
        remove(desc.path)


def remove(pattern):
    """Delete shared files matching `pattern` (a path, or a glob under this module's prefix)."""
    for path in glob.glob(pattern):
        try:
            os.unlink(path)
        except OSError:
            pass


def stale_pattern(tag):
    """Glob of every file a training run with this tag may have left on a host."""
    return [os.path.join(d, f"{_PREFIX}{tag}*") for d in ("/dev/shm", tempfile.gettempdir())]

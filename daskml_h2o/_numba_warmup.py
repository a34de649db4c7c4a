"""Start numba's compiler runtime in the background when a cluster starts.

The first numba kernel a process calls first builds numba's CPU target (its typing and lowering
registries, about 0.2 s) before any cached machine code can load. ``init()`` pays that on a
background thread of the driver and of every embedded worker process while the user loads data,
so a session's first fit does not; a kernel called meanwhile simply waits for it.
"""
from __future__ import annotations

import threading

from numba import njit

THREAD_NAME = "daskml-h2o-numba-warmup"


@njit(cache=True, nogil=True)
def _increment(x):
    return x + 1


def start() -> None:
    """Build numba's runtime in this process on a daemon thread (named ``THREAD_NAME``)."""
    threading.Thread(target=_increment, args=(1,), name=THREAD_NAME, daemon=True).start()

"""Several model builds side by side: cross-validation folds and grid members.

Each build is a driver loop that submits small tasks and waits on reductions, so running a few
drivers in threads fills the cluster's idle gaps (H2O builds fold models in parallel too). The
numba kernels release the GIL; each build's progress bar is silenced so bars do not interleave.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from daskml_h2o.progress import quiet

__all__ = ["Outcome", "cluster_threads", "default_parallelism", "run_concurrently"]


@dataclass
class Outcome:
    """One build's result, or the exception it raised (never both)."""

    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def cluster_threads() -> int:
    """Worker threads of the current cluster (1 when there is none yet)."""
    from daskml_h2o.cluster import get_client
    try:
        return max(1, sum(get_client().nthreads().values()))
    except Exception:  # no cluster: the build will start the embedded one
        return 1


def default_parallelism(n_tasks: int) -> int:
    """As many builds at once as the cluster has threads, never more than there are builds."""
    return max(1, min(int(n_tasks), cluster_threads()))


def _run_one(task: Callable[[], Any]) -> Outcome:
    with quiet():
        try:
            return Outcome(value=task())
        except Exception as err:  # one failed build must not stop the others
            return Outcome(error=err)


def run_concurrently(tasks: list[Callable[[], Any]], parallelism: int | None = None) -> list[Outcome]:
    """Run zero-argument callables, at most ``parallelism`` at a time (None: one per cluster
    thread); outcomes come back in the order of ``tasks``."""
    tasks = list(tasks)
    if not tasks:
        return []
    workers = default_parallelism(len(tasks)) if not parallelism else max(1, min(int(parallelism), len(tasks)))
    if workers == 1:
        return [_run_one(task) for task in tasks]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="daskml-h2o-build") as pool:
        return list(pool.map(_run_one, tasks))

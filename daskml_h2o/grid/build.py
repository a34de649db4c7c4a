"""Building a grid's models, one at a time or side by side.

A few builders (threads from ``run_concurrently``) pull the next combination from one shared
walk. A combination's model number and seed are fixed when it is pulled, so the models do not
depend on how many builders run. The stopping rules (max_models, the runtime budget, early
stopping over models) are applied each time a builder asks for work, over the models finished
so far: no new model starts once a rule says stop, and models already running finish.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from daskml_h2o.cluster import get_client
from daskml_h2o.models.concurrent import cluster_threads, run_concurrently

__all__ = ["Job", "Attempt", "BuildPlan", "adaptive_builders", "run_build"]


@dataclass
class Job:
    """One combination to build: its draw index, model number and hyper-parameter values."""

    index: int
    number: int
    combo: tuple
    params: dict
    fingerprint: Any = None  # what makes two builds the same model (skipped on resume)


@dataclass
class Attempt:
    """A finished job: the model, or the error and its traceback."""

    job: Job
    model: Any = None
    error: BaseException | None = None
    trace: str = ""


@dataclass
class BuildPlan:
    """The jobs of one ``train()`` call and the rules that end it."""

    jobs: Iterator[Job]
    build: Callable[[Job], Any]
    max_models: int = 0
    max_runtime_secs: float = 0.0
    stop_rule: Callable[[list], bool] = lambda models: False
    prior_models: list = field(default_factory=list)
    on_done: Callable[[int], None] = lambda n_done: None  # called (under the lock) as builds finish


class _Run:
    def __init__(self, plan: BuildPlan):
        self.plan = plan
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.launched = 0
        self.done: list[Attempt] = []
        self.stopped = False

    def _may_launch(self) -> bool:
        plan = self.plan
        if self.stopped:
            return False
        if plan.max_models and self.launched >= plan.max_models:
            return False
        # the runtime budget always lets the first model start: a budget shorter than one build still gives a model
        if plan.max_runtime_secs and self.launched and time.monotonic() - self.started >= plan.max_runtime_secs:
            return False
        models = plan.prior_models + [a.model for a in self.done if a.model is not None]
        return not plan.stop_rule(models)

    def next_job(self) -> Job | None:
        with self.lock:
            if not self._may_launch():
                self.stopped = True
                return None
            job = next(self.plan.jobs, None)
            if job is None:
                self.stopped = True
                return None
            self.launched += 1
            return job

    def builder(self) -> None:
        while (job := self.next_job()) is not None:
            try:
                attempt = Attempt(job, model=self.plan.build(job))
            except Exception as err:  # a failing combination is recorded; the grid carries on
                attempt = Attempt(job, error=err, trace=traceback.format_exc())
            with self.lock:
                self.done.append(attempt)
                self.plan.on_done(len(self.done))


def adaptive_builders(frame) -> int:
    """``parallelism=0``: one build per cluster thread, fewer when the cluster's memory could not
    hold a copy of the training data per build (every build persists its own training chunks)."""
    threads = cluster_threads()
    try:
        workers = get_client().scheduler_info(n_workers=-1)["workers"].values()
        memory = sum(w.get("memory_limit") or 0 for w in workers)
        data = frame.nrow * frame.ncol * 8
    except Exception:  # no memory limits known (e.g. an adopted client): threads only
        return threads
    if memory <= 0 or data <= 0:
        return threads
    return max(1, min(threads, int(memory * 0.5 // data)))


def run_build(plan: BuildPlan, parallelism: int, frame=None) -> list[Attempt]:
    """Run the plan with ``parallelism`` builders (0: adaptive, see ``adaptive_builders``);
    attempts come back in the order their combinations were drawn."""
    run = _Run(plan)
    workers = adaptive_builders(frame) if parallelism == 0 else max(1, int(parallelism))
    outcomes = run_concurrently([run.builder] * workers, parallelism=workers)
    for outcome in outcomes:
        if not outcome.ok:  # the builder loop itself failed (not a model): surface it
            raise outcome.error
    return sorted(run.done, key=lambda a: a.job.index)

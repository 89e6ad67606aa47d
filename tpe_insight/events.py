"""The event model: what a pool tells its sinks.

A pool is described by one :class:`PoolInfo` and each distinct task label of it by one
:class:`TaskInfo`. Both are small *frozen* records that carry only what a sink may read: names,
ids, the pool's size. The executor's wiring (metric series, clocks, hook tuples, the
done-callback) lives in private objects of :mod:`tpe_insight._hotpath`, so no sink can reach it
and no event changes a record after the fact. Both records are created once (per pool, per task
label) and reused for every event, so the per-task path allocates nothing for the sinks; the
per-event facts (times, the submitting thread, the exception) are the events' arguments.

Times are floats in seconds from the pool's clock (``time.perf_counter`` unless injected), so a
sink can subtract them directly. Every time a sink needs comes with its event: records hold no
clock.

Which sinks get which event, and how a failing sink is kept harmless, is
:mod:`tpe_insight._fanout`'s concern.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from tpe_insight.typing import CpuTime, RejectReason

__all__ = ["EVENTS", "PoolInfo", "Sink", "TaskInfo"]

_pool_ids = itertools.count(1)

#: Names of the events a sink may implement, in the order they happen to a pool.
EVENTS = (
    "pool_created",
    "worker_started",
    "initializer_failed",
    "task_submitted",
    "task_rejected",
    "task_started",
    "task_finished",
    "task_not_run",
    "callback_failed",
    "pool_shutdown",
)


def _next_pool_id() -> int:
    return next(_pool_ids)


@dataclass(frozen=True, eq=False)
class PoolInfo:
    """One executor instance as the sinks see it.

    ``label`` is the metric label and is shared by every instance created at the same place;
    ``pool_id`` is unique per instance in this process (for the profiler's lanes and log lines,
    never a metric label). Compared by identity: two pools with equal fields are still two pools.
    """

    label: str
    max_workers: int
    thread_name_prefix: str
    created_at: float
    cpu_time: CpuTime = "fast"
    pool_id: int = field(default_factory=_next_pool_id)

    def __repr__(self) -> str:
        return f"<PoolInfo {self.label!r} #{self.pool_id} max_workers={self.max_workers}>"


@dataclass(frozen=True, eq=False)
class TaskInfo:
    """One task label of one pool instance: what every event about such a task carries.

    One per label, not per task (the per-task facts are the events' arguments), so the hot path
    allocates no record. Compared by identity.
    """

    pool: PoolInfo
    name: str

    def __repr__(self) -> str:
        return f"<TaskInfo {self.name!r} of {self.pool.label!r}>"


class Sink:
    """Base class for sinks: override the events you need; the others cost nothing.

    Every method runs synchronously in the thread where the event happens (the submitting
    thread, a worker, or the thread that cancels), so it must be quick and must not block.
    Exceptions are caught, counted and logged once by the pool; they never reach the task.
    """

    def pool_created(self, pool: PoolInfo) -> None:
        """A pool instance was constructed."""

    def worker_started(self, pool: PoolInfo, thread_name: str, started_at: float) -> None:
        """A worker thread started (in that thread, before the user's initializer runs)."""

    def initializer_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        """The user's initializer raised: the stdlib marks the pool broken."""

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        """A task was accepted by ``submit`` (called in the submitting thread)."""

    def task_rejected(self, pool: PoolInfo, reason: RejectReason, exc: BaseException) -> None:
        """``submit`` raised: ``reason`` is ``"shutdown"`` or ``"broken"``."""

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        """A worker picked the task up (called in the worker); ``submitter`` is the
        ``threading.get_ident()`` of the thread that submitted it."""

    def task_finished(
        self,
        task: TaskInfo,
        submitted_at: float,
        started_at: float,
        ended_at: float,
        cpu_seconds: float,
        exc: BaseException | None,
        submitter: int,
    ) -> None:
        """The task returned (``exc is None``) or raised ``exc`` (called in the worker).

        Carries the whole life of the task (submit, start, end, the submitting thread), so a
        sink can record a span from this one event without matching it to earlier ones."""

    def task_not_run(
        self, task: TaskInfo, cancelled: bool, exc: BaseException | None, ended_at: float
    ) -> None:
        """The task ended without running: cancelled while queued, or failed by a broken pool.

        The submit time is not known here: the stdlib keeps it inside its private work item."""

    def callback_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        """A done-callback attached by user code raised (the stdlib only logs it)."""

    def pool_shutdown(
        self, pool: PoolInfo, wait: bool, cancel_futures: bool, shutdown_at: float
    ) -> None:
        """``shutdown`` was called on the pool for the first time."""

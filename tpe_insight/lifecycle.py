"""The event model: what a pool tells its sinks, and how a failing sink is kept harmless.

The executor describes each pool with a :class:`PoolInfo` and each distinct task callable with a
:class:`TaskInfo`; both are created once (per pool, per task label) and reused for every event,
so the per-task path allocates nothing for the sinks. Times are floats in seconds from the pool's
clock (``time.perf_counter`` unless injected), so sinks can subtract them directly.

A sink is any object with some of the :class:`Sink` methods. The executor works out once, at
construction, which sinks implement which events, and calls only those. Every call is isolated:
an exception in a sink is counted, reported once per sink class and event through the stdlib
``logging`` logger ``tpe_insight`` (not through structlog, which may be the thing failing), and
never reaches the task, its future or the worker thread.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tpe_insight.metrics import PoolSeries, TaskSeries

__all__ = ["PoolInfo", "Sink", "TaskInfo"]

_log = logging.getLogger("tpe_insight")
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


class PoolInfo:
    """One executor instance as the sinks see it.

    ``label`` is the metric label and is shared by every instance created at the same place;
    ``pool_id`` is unique per instance in this process (for the profiler's lanes and log lines,
    never a metric label).
    """

    __slots__ = (
        "clock",
        "cpu_clock",
        "cpu_mode",
        "created_at",
        "label",
        "max_workers",
        "pool_id",
        "series",
        "thread_name_prefix",
    )

    def __init__(
        self,
        label: str,
        *,
        max_workers: int,
        thread_name_prefix: str,
        clock: Callable[[], float],
        cpu_clock: Callable[[], float],
        series: PoolSeries | None,
    ) -> None:
        self.label = label
        self.max_workers = max_workers
        self.thread_name_prefix = thread_name_prefix
        self.clock = clock
        self.cpu_clock = cpu_clock
        self.series = series
        self.cpu_mode = 1  # 0 off, 1 fast, 2 exact: see ThreadPoolExecutor(cpu_time=...)
        self.pool_id = next(_pool_ids)
        self.created_at = clock()

    def __repr__(self) -> str:
        return f"<PoolInfo {self.label!r} #{self.pool_id} max_workers={self.max_workers}>"


class TaskInfo:
    """One task label of one pool instance: what every event about such a task carries.

    The hooks tuples hold the bound sink methods for each per-task event, already filtered to
    the sinks that implement it, so the hot path is a loop over a (usually empty) tuple.
    """

    __slots__ = (
        "__weakref__",
        "exception_cap",
        "name",
        "on_callback_failed",
        "on_done",
        "on_finished",
        "on_not_run",
        "on_started",
        "pool",
        "series",
    )

    def __init__(self, pool: PoolInfo, name: str, series: TaskSeries | None, hooks: Hooks) -> None:
        self.pool = pool
        self.name = name
        self.series = series
        self.on_started = hooks.task_started
        self.on_finished = hooks.task_finished
        self.on_not_run = hooks.task_not_run
        self.on_callback_failed = hooks.callback_failed
        self.exception_cap = 20
        # The done-callback is bound once here and reused for every future of this task: a bound
        # method made per submit would be one more GC-tracked object per task.
        self.on_done: Callable[[Any], None] = _noop

    def __repr__(self) -> str:
        return f"<TaskInfo {self.name!r} of {self.pool.label!r}>"


def _noop(_: Any) -> None:
    return None


class Sink:
    """Base class for sinks: override the events you need; the others cost nothing.

    Every method runs synchronously in the thread where the event happens (the submitting
    thread, a worker, or the thread that cancels), so it must be quick and must not block.
    Exceptions are caught and reported by the pool (see :func:`report_failure`).
    """

    def pool_created(self, pool: PoolInfo) -> None:
        """A pool instance was constructed."""

    def worker_started(self, pool: PoolInfo, thread_name: str) -> None:
        """A worker thread started (before the user's initializer runs)."""

    def initializer_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        """The user's initializer raised: the stdlib marks the pool broken."""

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        """A task was accepted by ``submit`` (called in the submitting thread)."""

    def task_rejected(self, pool: PoolInfo, reason: str, exc: BaseException) -> None:
        """``submit`` raised: ``reason`` is ``"shutdown"`` or ``"broken"``."""

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        """A worker picked the task up (called in the worker); ``submitter`` is the
        ``threading.get_ident()`` of the thread that submitted it."""

    def task_finished(
        self,
        task: TaskInfo,
        started_at: float,
        ended_at: float,
        cpu_seconds: float,
        exc: BaseException | None,
    ) -> None:
        """The task returned (``exc is None``) or raised ``exc`` (called in the worker)."""

    def task_not_run(self, task: TaskInfo, cancelled: bool, exc: BaseException | None) -> None:
        """The task ended without running: cancelled while queued, or failed by a broken pool."""

    def callback_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        """A done-callback attached by user code raised (the stdlib only logs it)."""

    def pool_shutdown(self, pool: PoolInfo, wait: bool, cancel_futures: bool) -> None:
        """``shutdown`` was called on the pool for the first time."""


class Hooks:
    """For each event, the bound methods of the sinks that implement it; built once per pool."""

    __slots__ = ("pool", *EVENTS)

    pool_created: tuple[Callable[..., None], ...]
    worker_started: tuple[Callable[..., None], ...]
    initializer_failed: tuple[Callable[..., None], ...]
    task_submitted: tuple[Callable[..., None], ...]
    task_rejected: tuple[Callable[..., None], ...]
    task_started: tuple[Callable[..., None], ...]
    task_finished: tuple[Callable[..., None], ...]
    task_not_run: tuple[Callable[..., None], ...]
    callback_failed: tuple[Callable[..., None], ...]
    pool_shutdown: tuple[Callable[..., None], ...]

    def __init__(self, pool: PoolInfo, sinks: Iterable[object]) -> None:
        self.pool = pool
        sinks = tuple(sinks)
        for event in EVENTS:
            found = (_implemented(sink, event) for sink in sinks)
            setattr(self, event, tuple(hook for hook in found if hook is not None))


def _implemented(sink: object, event: str) -> Callable[..., None] | None:
    """The sink's bound method for ``event``, or None when it does not implement it.

    A :class:`Sink` subclass that leaves a method as inherited does not implement it, so the pool
    never pays for calling a no-op.
    """
    method = getattr(sink, event, None)
    if method is None:
        return None
    if not callable(method):
        raise TypeError(f"sinks: {type(sink).__name__}.{event} is not callable")
    if getattr(method, "__func__", None) is getattr(Sink, event):
        return None  # inherited (or deliberately re-bound) no-op: not implemented
    return method  # type: ignore[no-any-return]


def validate_sinks(sinks: object) -> tuple[object, ...]:
    """Check the ``sinks=`` option: an iterable of objects implementing at least one event."""
    if isinstance(sinks, (str, bytes)) or not isinstance(sinks, Iterable):
        raise TypeError(f"sinks must be an iterable of sink objects, not {type(sinks).__name__}")
    result = tuple(sinks)
    for sink in result:
        if not any(callable(getattr(sink, event, None)) for event in EVENTS):
            raise TypeError(
                f"sinks: {sink!r} implements none of the sink events ({', '.join(EVENTS)})"
            )
    return result


# -- isolation --------------------------------------------------------------------------------

_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _reported_lock
    _reported_lock = threading.Lock()  # another thread may have held it during the fork


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_after_fork_in_child)


def report_failure(pool: PoolInfo | None, where: object, exc: BaseException) -> None:
    """Count a failure of the instrumentation itself; log it once per (component class, event).

    Called from ``except`` blocks around sink calls; it must never raise, so it guards itself.
    """
    try:
        component = getattr(where, "__self__", where)
        name = getattr(where, "__name__", "?")
        series = pool.series if pool is not None else None
        if series is not None:
            series.instrumentation_error(type(component).__name__)
        # Keyed by the component's class, not the instance: a program that builds a pool (and
        # its sinks) per request must not log per request, nor grow this set per instance; and
        # an id() could be reused by a later, different component and silence its first report.
        cls = type(component)
        key = (f"{cls.__module__}.{cls.__qualname__}", name)
        with _reported_lock:
            first = key not in _reported
            _reported.add(key)
        if first:
            _log.warning(
                "tpe_insight: %s.%s raised %s; the task is unaffected. Further failures of this"
                " component are counted in tpe_instrumentation_errors_total, not logged.",
                type(component).__name__,
                name,
                type(exc).__name__,
                exc_info=exc,
            )
    except Exception:  # pragma: no cover - last line of defence, nothing left to report to
        pass


def dispatch(pool: PoolInfo, hooks: tuple[Callable[..., None], ...], *args: Any) -> None:
    """Call each hook with ``args``, isolating failures. Used off the per-task hot path."""
    for hook in hooks:
        try:
            hook(*args)
        except Exception as exc:
            report_failure(pool, hook, exc)

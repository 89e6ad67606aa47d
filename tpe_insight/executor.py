"""The instrumented ``ThreadPoolExecutor``: a drop-in subclass that records every task's life.

Only public seams of the stdlib class are used, because its internals change between versions
(3.12 reworked the idle semaphore, 3.14 moved the worker into ``WorkerContext``):

* ``submit`` wraps the callable in :func:`~tpe_insight._hotpath.run_task`, which timestamps start
  and end and counts the outcome *before* the future resolves, so after ``future.result()``
  returns the metrics already include that task;
* the initializer is always wrapped (even when the user gave none): it runs once in every new
  worker thread, which is how worker births and initializer failures are seen;
* one done-callback per future catches the tasks that end without running: cancelled while
  queued (``future.cancel()``, ``shutdown(cancel_futures=True)``) or failed by a broken pool.

This module is the constructor, ``submit`` and ``shutdown``; the per-task functions and the
per-worker state are in :mod:`tpe_insight._hotpath`, the option checks in
:mod:`tpe_insight._options`. Everything the executor adds to the stdlib object lives in one
private attribute, ``self._tpe`` (see :class:`_State`).
"""

from __future__ import annotations

import concurrent.futures.thread as _stdlib_thread
import contextvars
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures.thread import BrokenThreadPool
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry

from tpe_insight import _fanout, _forced, _hotpath, labels
from tpe_insight._fanout import Hooks, dispatch, report_failure
from tpe_insight._hotpath import (
    Pool,
    Task,
    TaskLabels,
    WorkerInit,
    run_task,
    run_task_in_context,
)
from tpe_insight._options import Options
from tpe_insight.events import PoolInfo
from tpe_insight.labels import MAX_EXCEPTION_LABELS, MAX_TASK_LABELS
from tpe_insight.metrics.collector import collector_for
from tpe_insight.metrics.multiprocess import ENV_VAR as MULTIPROC_ENV_VAR
from tpe_insight.metrics.multiprocess import MultiprocessSink, directory_usable
from tpe_insight.metrics.shards import PoolSeries, Shard
from tpe_insight.typing import Clock, CpuTime, RejectReason

if TYPE_CHECKING:  # structlog is imported only when logs are on (see tpe_insight.logs)
    from structlog.typing import BindableLogger

__all__ = ["StdlibThreadPoolExecutor", "ThreadPoolExecutor"]

T = TypeVar("T")
P = ParamSpec("P")

_log = logging.getLogger("tpe_insight")

#: The class we extend (``install()`` instruments this very class in place; see patch.py).
#: (Captured at import time: ``install()`` once replaced the name in
#: ``concurrent.futures``) can never make us inherit from ourselves.
StdlibThreadPoolExecutor = _stdlib_thread.ThreadPoolExecutor

_CPU_MODES = {"off": _hotpath.CPU_OFF, "fast": _hotpath.CPU_FAST, "exact": _hotpath.CPU_EXACT}

_get_ident = threading.get_ident
# The stdlib's own functions, called directly rather than through super(): a super object per
# submit is one more allocation, and install() instruments the stdlib class in place by running
# these methods on plain stdlib instances, where super(ThreadPoolExecutor, self) would fail.
_stdlib_init = StdlibThreadPoolExecutor.__init__
_stdlib_submit = StdlibThreadPoolExecutor.submit
_stdlib_shutdown = StdlibThreadPoolExecutor.shutdown
_STDLIB_SUBMIT_CODE = getattr(_stdlib_submit, "__code__", None)


class _State:
    """What the executor adds to the stdlib object, in one private attribute ``_tpe``: the
    pool's wiring, the options, the task-label cache, and close-once for ``shutdown``."""

    __slots__ = ("close", "is_shut_down", "options", "pool", "shutdown_lock", "tasks")

    def __init__(self, pool: Pool, options: Options, tasks: TaskLabels) -> None:
        self.pool = pool
        self.options = options
        self.tasks = tasks
        self.shutdown_lock = threading.Lock()
        self.is_shut_down = False
        self.close: weakref.finalize[Any, Any] | None = None


class ThreadPoolExecutor(StdlibThreadPoolExecutor):
    """``concurrent.futures.ThreadPoolExecutor`` that records every task's lifecycle.

    The positional arguments, defaults, return values and exceptions are the stdlib's. The
    keyword-only options add the instrumentation:

    name
        The ``pool`` label. Default: ``thread_name_prefix`` if given, else the creating call
        site as ``module:function`` (never a per-instance value, so a pool per request does not
        add time series).
    registry
        The ``prometheus_client.CollectorRegistry`` to export to (default: the global one).
    metrics
        ``False`` turns the Prometheus metrics off (sinks still get events).
    sinks
        Extra event sinks (see :class:`tpe_insight.Sink`), e.g. a profiler or your own.
    logs
        ``True``/``False`` to switch the structlog events on or off; ``None`` (default) logs
        only when structlog has been configured by the program, so a drop-in never starts
        printing on its own.
    logger
        The structlog logger to use (default ``structlog.get_logger("tpe_insight")``); giving
        one turns the logs on unless ``logs=False``.
    log_tasks
        Also log a debug event per task (submitted / started / finished). Off by default.
    log_exception_details
        Include exception messages and tracebacks in ``task_failed`` logs. Off by default:
        messages may hold user data.
    propagate_context
        Run each task inside a copy of the submitter's ``contextvars`` context, so
        ``structlog.contextvars`` bindings (request ids) follow the work into the worker.
    task_labels
        ``False`` labels every task ``all`` instead of by callable.
    max_task_labels, max_exception_labels
        Per-pool caps on distinct ``task`` and ``exception`` label values (default 50 and 20);
        the rest are counted as ``other``.
    cpu_time
        ``"fast"`` (default): at most one thread-CPU clock read per task; a task is charged the
        worker's CPU since its previous task ended (which includes the pool's own few-µs
        bookkeeping), capped at its run time; a task shorter than 100 µs is charged its run
        time without a read. ``"exact"``: two reads per task. ``"off"``: none.
    buckets
        Bounds in seconds of the per-pool histograms (default ``POOL_BUCKETS``: 100 µs to 1 h,
        fine enough for quantiles within 10%); per task there are only count and sum.
    clock, cpu_clock
        Time sources (default ``time.perf_counter`` and ``time.thread_time``); injectable so
        tests and examples can assert exact durations.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        name: str | None = None,
        registry: CollectorRegistry | None = None,
        metrics: bool = True,
        sinks: Iterable[object] = (),
        logs: bool | None = None,
        logger: BindableLogger | None = None,
        log_tasks: bool = False,
        log_exception_details: bool = False,
        propagate_context: bool = False,
        task_labels: bool = True,
        max_task_labels: int = MAX_TASK_LABELS,
        max_exception_labels: int = MAX_EXCEPTION_LABELS,
        cpu_time: CpuTime = "fast",
        buckets: Sequence[float] | None = None,
        clock: Clock | None = None,
        cpu_clock: Clock | None = None,
    ) -> None:
        # The stdlib validates its own arguments first, with its own messages. Our initializer
        # wrapper is always callable, so a bad user initializer is re-validated by the stdlib
        # class itself: the exception (type, message, precedence) is exactly the stdlib's.
        if initializer is not None and not callable(initializer):
            # On a bare instance: constructing the class would recurse while install() is on.
            probe = object.__new__(StdlibThreadPoolExecutor)
            _stdlib_init(probe, max_workers, thread_name_prefix, initializer, initargs)
        label = ThreadPoolExecutor._pool_label(name, thread_name_prefix)
        max_workers = _forced.max_workers_for(label, max_workers)  # tpe-insight sweep
        options = Options(
            metrics=metrics,
            registry=registry,
            sinks=sinks,
            logs=logs,
            logger=logger,
            log_tasks=log_tasks,
            log_exception_details=log_exception_details,
            propagate_context=propagate_context,
            task_labels=task_labels,
            max_task_labels=max_task_labels,
            max_exception_labels=max_exception_labels,
            cpu_time=cpu_time,
            buckets=buckets,
            clock=clock,
            cpu_clock=cpu_clock,
        )
        _hotpath.ensure_process_hooks()
        pool = Pool(options.clock, options.cpu_clock, _CPU_MODES[options.cpu_time])
        # The stdlib may still reject the arguments (max_workers=0): nothing is registered
        # before it has accepted them, so a rejected constructor leaves no series behind.
        # No worker starts before the first submit, so the wiring is completed just below.
        _stdlib_init(
            self, max_workers, thread_name_prefix, WorkerInit(pool, initializer, initargs), ()
        )
        series, mp_sink = _metrics_backend(options, label)
        if series is not None:
            label = series.label  # "other" past the registry's cap on pool labels
        pool.series = series
        pool.info = PoolInfo(
            label,
            max_workers=_max_workers_of(self, max_workers),
            thread_name_prefix=labels.thread_name(thread_name_prefix),
            created_at=options.clock(),
            cpu_time=options.cpu_time,
        )
        all_sinks = [*options.sinks, *_fanout.active()]
        if mp_sink is not None:
            all_sinks.insert(0, mp_sink)
        if options.log_sink is not None:
            all_sinks.insert(0, options.log_sink)
        pool.hooks = Hooks(all_sinks)
        info = pool.info
        self._tpe = state = _State(pool, options, TaskLabels(pool, options.task_labels))
        if series is not None:
            series.pool_opened(info.max_workers)
            # Also closes the gauge if the pool is garbage-collected without shutdown().
            state.close = weakref.finalize(self, series.pool_closed, info.max_workers)
        elif mp_sink is not None:
            state.close = weakref.finalize(self, mp_sink.pool_closed, info)
        if pool.hooks.pool_created:
            dispatch(series, pool.hooks.pool_created, info)

    @staticmethod
    def _pool_label(name: str | None, thread_name_prefix: object) -> str:
        if name is not None:
            return labels.validate_pool_name(name)
        if thread_name_prefix:
            return labels.clean(str(thread_name_prefix))
        # Skip our own frames and any subclass __init__ chain: label the code that asked for
        # the pool.
        frame = sys._getframe(1)
        while frame.f_back is not None and (
            frame.f_code.co_name == "__init__"
            and isinstance(frame.f_locals.get("self"), StdlibThreadPoolExecutor)
        ):
            frame = frame.f_back
        return labels.call_site_label(frame)

    # The methods below are called as ``ThreadPoolExecutor.method(self, ...)``, never through
    # ``self``: install() runs them on plain stdlib instances (and on instances of classes that
    # subclassed the stdlib class), which do not have them.

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Schedule ``fn(*args, **kwargs)``; as the stdlib, plus the lifecycle records."""
        state = self._tpe
        task = state.tasks.task_for(fn, args)
        submitted_at = task.pool.clock()
        # The books must stay exact whatever line a KeyboardInterrupt lands on (see
        # _submit_failed): ``future`` and ``before`` tell the handler how far we got.
        future: Future[T] | None = None
        series = task.series
        shard = None
        before = 0
        if series is not None:
            try:
                shard = series.local.shard
            except AttributeError:
                shard = series.new_shard()
            before = shard.submitted
        try:
            if state.options.propagate_context:
                future = _stdlib_submit(
                    self,
                    run_task_in_context,
                    task,
                    submitted_at,
                    _get_ident(),
                    contextvars.copy_context(),
                    fn,
                    *args,
                    **kwargs,
                )
            else:
                future = _stdlib_submit(
                    self, run_task, task, submitted_at, _get_ident(), fn, *args, **kwargs
                )
            if shard is not None:
                shard.submitted = before + 1
            future.add_done_callback(task.on_done)
        except BaseException as exc:
            ThreadPoolExecutor._submit_failed(self, task, exc, future, shard, before)
            raise
        # Inlined like run_task's hook loops: a dispatch() call per submit is one more frame.
        for hook in task.on_submitted:
            try:
                hook(task.info, submitted_at)
            except Exception as hook_exc:
                report_failure(task.pool.series, hook, hook_exc)
        return future

    def _submit_failed(
        self,
        task: Task,
        exc: BaseException,
        future: Future[Any] | None,
        shard: Shard | None,
        before: int,
    ) -> None:
        """Keep the books exact when ``submit`` raised: refused by the stdlib (shut down,
        broken), or interrupted anywhere (``KeyboardInterrupt`` from a signal handler).

        The question is whether the work item reached the queue. If the stdlib returned, it
        did. If not, its future, when it was already made, is in the stdlib frame of the
        traceback; with no future, nothing was queued. A future made but perhaps not queued
        gets our done-callback (it counts a run, a cancel or a broken pool as usual) and a
        finalizer: a future collected without ever finishing was never queued, and counts as
        cancelled, the one outcome of a task that will never run.
        """
        certain = future is not None
        if future is None:
            future = _future_in_traceback(exc)
        if future is None:  # nothing was queued
            if isinstance(exc, BrokenThreadPool):  # a RuntimeError too: test it first
                ThreadPoolExecutor._rejected(self, "broken", exc)
            elif isinstance(exc, RuntimeError):
                ThreadPoolExecutor._rejected(self, "shutdown", exc)
            return
        if shard is not None and shard.submitted == before:
            shard.submitted = before + 1
        waiting = getattr(future, "_done_callbacks", None)
        if not isinstance(waiting, list) or task.on_done not in waiting:
            future.add_done_callback(task.on_done)  # runs at once if the future is done
        if not certain and not future.done():
            withdrawn = weakref.finalize(future, _never_queued, task)
            withdrawn.atexit = False
            future.add_done_callback(lambda _: withdrawn.detach())

    def _rejected(self, reason: RejectReason, exc: BaseException) -> None:
        pool = self._tpe.pool
        if pool.series is not None:
            pool.series.rejected_one(reason)
        if pool.hooks.task_rejected:
            dispatch(pool.series, pool.hooks.task_rejected, pool.info, reason, exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """As the stdlib; the first call also closes the pool's gauges and logs a summary."""
        try:
            _stdlib_shutdown(self, wait=wait, cancel_futures=cancel_futures)
        finally:
            state = getattr(self, "_tpe", None)  # None: the constructor raised
            if state is not None:
                with state.shutdown_lock:
                    first = not state.is_shut_down
                    state.is_shut_down = True
                if first:
                    if state.close is not None:
                        try:
                            state.close()
                        except Exception as exc:  # shutdown() must never fail because of us
                            report_failure(state.pool.series, state.close, exc)
                    pool = state.pool
                    if pool.hooks.pool_shutdown:
                        dispatch(
                            pool.series,
                            pool.hooks.pool_shutdown,
                            pool.info,
                            wait,
                            cancel_futures,
                            pool.clock(),
                        )

    # -- introspection --

    @property
    def pool_label(self) -> str:
        """The ``pool`` label this executor's metrics carry."""
        return self._tpe.pool.info.label

    @property
    def pool_info(self) -> PoolInfo:
        """The description of this pool that sinks receive."""
        return self._tpe.pool.info


def _future_in_traceback(exc: BaseException) -> Future[Any] | None:
    """The future the stdlib's ``submit`` had made when ``exc`` interrupted it, if any.

    Read from the frame of the stdlib function in the traceback (any ``Future`` local, not a
    variable name: the stdlib may rename it); ``None`` if the interruption came before."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code is _STDLIB_SUBMIT_CODE:
            for value in list(frame.f_locals.values()):
                if isinstance(value, Future):
                    return value
            return None
        tb = tb.tb_next
    return None


def _never_queued(task: Task) -> None:
    """Finalizer of a future an interrupted ``submit`` made but never queued."""
    try:
        if task.series is not None:
            task.series.shard().cancelled += 1
        for hook in task.on_not_run:
            hook(task.info, True, None, task.pool.clock())
    except Exception as exc:  # finalizers must not raise
        report_failure(task.pool.series, _never_queued, exc)


_registries_refusing: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()


def _metrics_backend(
    options: Options, label: str
) -> tuple[PoolSeries | None, MultiprocessSink | None]:
    """The pool's metrics: the shared series of the registry's collector, or, in
    prometheus_client's multiprocess mode (which ignores custom collectors), a sink that feeds
    plain metric objects (see tpe_insight.metrics.multiprocess). Neither when metrics are off.

    A registry that refuses our metric names (another collector already exports one of them)
    must not make the constructor of a drop-in raise: the pool runs without metrics, and the
    clash is logged once per registry.
    """
    if not options.metrics:
        return None, None
    try:
        if MULTIPROC_ENV_VAR in os.environ:
            if not directory_usable():
                return None, None
            sink = MultiprocessSink(
                options.registry,
                buckets=options.buckets,
                max_task_labels=options.max_task_labels,
                max_exception_labels=options.max_exception_labels,
            )
            return None, sink
        collector = collector_for(options.registry)
        series = collector.pool_series(
            label,
            options.buckets,
            max_task_labels=options.max_task_labels,
            max_exception_labels=options.max_exception_labels,
        )
        return series, None
    except ValueError as exc:  # prometheus_client's DuplicateTimeseries
        registry = options.registry if options.registry is not None else REGISTRY
        if registry not in _registries_refusing:
            _registries_refusing.add(registry)
            _log.warning(
                "tpe_insight: the registry refused the tpe_* metrics (%s); pools exporting to it"
                " run without metrics",
                exc,
            )
        return None, None


def _max_workers_of(executor: StdlibThreadPoolExecutor, requested: int | None) -> int:
    """The effective ``max_workers``: the stdlib's value when readable, else its formula."""
    value = getattr(executor, "_max_workers", None)
    if isinstance(value, int):
        return value
    if requested is not None:  # pragma: no cover - only on an unknown future layout
        return requested
    cpus = getattr(os, "process_cpu_count", os.cpu_count)() or 1  # pragma: no cover
    return min(32, cpus + 4)  # pragma: no cover

"""The instrumented ``ThreadPoolExecutor``: a drop-in subclass that records every task's life.

Only public seams of the stdlib class are used, because its internals change between versions
(3.12 reworked the idle semaphore, 3.14 moved the worker into ``WorkerContext``):

* ``submit`` wraps the callable in :func:`_run_task`, which timestamps start and end and counts
  the outcome *before* the future resolves, so after ``future.result()`` returns the metrics
  already include that task;
* the initializer is always wrapped (even when the user gave none): it runs once in every new
  worker thread, which is how worker births and initializer failures are seen;
* one done-callback per future catches the tasks that end without running: cancelled while
  queued (``future.cancel()``, ``shutdown(cancel_futures=True)``) or failed by a broken pool.

The per-task path allocates no container and no closure: the wrapper is a module-level function
that receives a per-task-label :class:`~tpe_insight.lifecycle.TaskInfo` and a float timestamp as
extra positional arguments, and the done-callback is a ``partial`` made once per task label.
Every extra GC-tracked object per task is scanned by the collector while thousands of futures
are alive, which is where a naive wrapper loses most of its time (see DESIGN.md, performance).
"""

from __future__ import annotations

import concurrent.futures.thread as _stdlib_thread
import contextlib
import contextvars
import functools
import math
import os
import sys
import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures.thread import BrokenThreadPool
from types import CodeType, FunctionType, MethodType
from typing import Any, Literal, ParamSpec, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry
from structlog.typing import BindableLogger

from tpe_insight import callbacks, global_sinks, lifecycle, multiprocess, naming
from tpe_insight.lifecycle import Hooks, PoolInfo, TaskInfo, dispatch, report_failure
from tpe_insight.logs import StructlogSink, should_log
from tpe_insight.metrics import DEFAULT_BUCKETS, PoolSeries, Shard, collector_for

__all__ = ["StdlibThreadPoolExecutor", "ThreadPoolExecutor"]

T = TypeVar("T")
P = ParamSpec("P")

#: The class we extend (``install()`` instruments this very class in place; see patch.py).
StdlibThreadPoolExecutor = _stdlib_thread.ThreadPoolExecutor

CpuTime = Literal["fast", "exact", "off"]
_CPU_MODES = {"off": 0, "fast": 1, "exact": 2}

#: Bound on the per-pool cache from code object to task; past it, labels are computed per submit.
_TASK_CACHE_LIMIT = 4096


# -- per-worker state -------------------------------------------------------------------------


class _WorkerState:
    """What a worker thread keeps between tasks, in the thread-local ``_tls.state``.

    ``cpu_mark`` is the thread CPU clock at the end of the previous task (fast mode) or at the
    start of the current one (exact mode). ``ran`` tells the done-callback that runs right after
    a task in this thread that the task ran, so it has nothing left to record.
    """

    __slots__ = ("cpu_mark", "ran")

    def __init__(self, cpu_mark: float) -> None:
        self.cpu_mark = cpu_mark
        self.ran = False


class _WorkerExit:
    """Counts a worker's exit when its thread-local state is freed, i.e. when the thread ends.

    Thread exit is not observable through a public seam of the executor; the thread-local
    storage of a finished thread, though, is always released, so its finalizer is our signal.
    It lives in its own thread-local slot, not on :class:`_WorkerState`: a task's traceback
    keeps the wrapper's frame (and so its ``state`` local) alive, which must not keep a dead
    worker counted.
    """

    __slots__ = ("series",)

    def __init__(self, series: PoolSeries) -> None:
        self.series = series

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter teardown
            self.series.worker_stopped()


_tls = threading.local()
_get_ident = threading.get_ident
# The stdlib's own functions, called directly rather than through super(): a super object per
# submit is one more allocation, and install() instruments the stdlib class in place by running
# these methods on plain stdlib instances, where super(ThreadPoolExecutor, self) would fail.
_stdlib_init = StdlibThreadPoolExecutor.__init__
_stdlib_submit = StdlibThreadPoolExecutor.submit
_stdlib_shutdown = StdlibThreadPoolExecutor.shutdown
_STDLIB_SUBMIT_CODE = getattr(_stdlib_submit, "__code__", None)


class _WorkerInit:
    """The initializer the stdlib runs in every new worker: count the worker, then run the
    user's initializer and count its failure (the stdlib then breaks the pool).

    It holds the pool's description, never the executor: worker threads keep their initializer
    alive, and a reference back to the executor would stop it from being collected (the stdlib's
    workers hold only a weakref to it for that reason).
    """

    __slots__ = ("hooks", "initargs", "initializer", "pool")

    def __init__(
        self,
        pool: PoolInfo,
        hooks: Hooks,
        initializer: Callable[..., object] | None,
        initargs: tuple[Any, ...],
    ) -> None:
        self.pool = pool
        self.hooks = hooks
        self.initializer = initializer
        self.initargs = initargs

    def __call__(self) -> None:
        pool = self.pool
        state = _WorkerState(_cpu_now(pool))
        series = pool.series
        if series is not None:
            series.worker_started()
            _tls.exit_hook = _WorkerExit(series)
        _tls.state = state
        if self.hooks.worker_started:
            dispatch(pool, self.hooks.worker_started, pool, threading.current_thread().name)
        if self.initializer is None:
            return
        try:
            self.initializer(*self.initargs)
        except BaseException as exc:
            if series is not None:
                series.initializer_failed()
            if self.hooks.initializer_failed:
                dispatch(pool, self.hooks.initializer_failed, pool, exc)
            raise


def _cpu_now(pool: PoolInfo) -> float:
    return pool.cpu_clock() if pool.cpu_mode else 0.0


def _adopt_thread(pool: PoolInfo) -> _WorkerState:
    """State for a thread that runs a task without having run our initializer (defensive)."""
    state = _WorkerState(_cpu_now(pool))
    _tls.state = state
    return state


# -- the per-task path ------------------------------------------------------------------------

#: In ``cpu_time="fast"`` mode, tasks that ran for less than this are charged their run time as
#: CPU time instead of reading the thread CPU clock (a syscall of ~0.7-1 µs here, which would be
#: a large share of such a task). Longer tasks read the clock once; the read then costs < 1%.
FAST_CPU_MIN_RUN = 100e-6


def _run_task(
    task: TaskInfo,
    submitted_at: float,
    submitter: int,
    fn: Callable[..., T],
    /,
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run ``fn`` for the stdlib worker, recording start, end and outcome around it.

    Written as one function on purpose: it runs once per task, and each helper call costs
    ~0.1-0.15 µs on the reference machine.
    """
    pool = task.pool
    started_at = pool.clock()
    try:
        state: _WorkerState = _tls.state
    except AttributeError:
        state = _adopt_thread(pool)
    state.ran = False
    series = task.series
    if series is not None:
        try:
            shard = series._local.shard
        except AttributeError:
            shard = series._new_shard()
        wait = started_at - submitted_at
        shard.started += 1
        shard.wait_sum += wait
        shard.wait_counts[bisect_left(series.bounds, wait)] += 1
    for hook in task.on_started:
        try:
            hook(task, submitted_at, started_at, submitter)
        except Exception as hook_exc:
            report_failure(pool, hook, hook_exc)
    cpu_mode = pool.cpu_mode
    if cpu_mode == 2:
        state.cpu_mark = pool.cpu_clock()
    exc: BaseException | None = None
    try:
        return fn(*args, **kwargs)
    except BaseException as raised:
        exc = raised
        # The traceback the future keeps holds this frame: drop the callable and arguments
        # from it, as the stdlib's _WorkItem.run drops itself (bpo-16284), so a failed future
        # keeps them no longer than the stdlib does.
        fn = args = kwargs = None  # type: ignore[assignment]
        raise
    finally:
        ended_at = pool.clock()
        run = ended_at - started_at
        if cpu_mode == 0:
            cpu = 0.0
        elif cpu_mode == 1 and run < FAST_CPU_MIN_RUN:
            cpu = run
            state.cpu_mark += run
        else:
            now = pool.cpu_clock()
            cpu = now - state.cpu_mark
            state.cpu_mark = now
            # Fast mode charges the worker's CPU since its previous task, which includes the
            # pool's own bookkeeping; capping at the run time keeps "CPU share" a share (<= 1).
            if cpu > run:
                cpu = run
            elif cpu < 0.0:
                cpu = 0.0
        if series is not None:
            if exc is None:
                shard.succeeded += 1
            else:
                shard.failed += 1
                _count_exception(task, shard.exceptions, exc)
            shard.run_sum += run
            shard.run_counts[bisect_left(series.bounds, run)] += 1
            shard.cpu_sum += cpu
        for hook in task.on_finished:
            try:
                hook(task, started_at, ended_at, cpu, exc)
            except Exception as hook_exc:
                report_failure(pool, hook, hook_exc)
        if exc is not None:
            if isinstance(exc, BrokenThreadPool):
                _mark_ran(exc)
            # The traceback keeps this frame alive; drop our reference so that the exception
            # and the frame do not form a cycle only the GC could free.
            exc = None
        # Last statement before the stdlib resolves the future: the done-callback it runs next
        # in this thread belongs to this task, which is now fully recorded.
        state.ran = True


def _run_task_in_context(
    task: TaskInfo,
    submitted_at: float,
    submitter: int,
    context: contextvars.Context,
    fn: Callable[..., T],
    /,
    *args: Any,
    **kwargs: Any,
) -> T:
    """Like :func:`_run_task`, inside the submitter's ``contextvars`` context."""
    try:
        result: T = _run_task(task, submitted_at, submitter, context.run, fn, *args, **kwargs)
    except BaseException:
        fn = args = kwargs = context = None  # type: ignore[assignment]  # see _run_task
        raise
    return result


def _code_of(fn: object) -> CodeType | None:
    """The code object of a plain function or bound method, the task-label cache key; ``None``
    for anything else. Reads only the exact built-in types: ``getattr(fn, "__code__")`` would
    run a user ``__getattr__``, which may raise (the attribute-bag pattern) or recurse."""
    kind = type(fn)
    if kind is MethodType:
        fn = fn.__func__  # type: ignore[attr-defined]
        kind = type(fn)
    if kind is FunctionType:
        return fn.__code__  # type: ignore[attr-defined,no-any-return]
    return None


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


def _never_queued(task: TaskInfo) -> None:
    """Finalizer of a future an interrupted ``submit`` made but never queued."""
    try:
        if task.series is not None:
            task.series.shard().cancelled += 1
        for hook in task.on_not_run:
            hook(task, True, None)
    except Exception as exc:  # finalizers must not raise
        report_failure(task.pool, _never_queued, exc)


def _count_exception(task: TaskInfo, exceptions: dict[str, int], exc: BaseException) -> None:
    series = task.series
    assert series is not None
    label = series.pool.exception_label(naming.exception_label(exc), task.exception_cap)
    exceptions[label] = exceptions.get(label, 0) + 1


def _mark_ran(exc: BaseException) -> None:
    """Tag a BrokenThreadPool that a task raised itself, so the done-callback cannot mistake it
    for the stdlib failing a queued task of a broken pool."""
    with contextlib.suppress(Exception):  # an exotic __setattr__
        exc._tpe_ran = True  # type: ignore[attr-defined]


def _task_done(task: TaskInfo, future: Future[Any]) -> None:
    """Done-callback of every future: records the tasks that ended without running."""
    state: _WorkerState | None = getattr(_tls, "state", None)
    if state is not None and state.ran:
        state.ran = False
        return
    try:
        _task_done_slow(task, future)
    except Exception as exc:  # never let our callback pass for a failing user callback
        report_failure(task.pool, _task_done, exc)


def _task_done_slow(task: TaskInfo, future: Future[Any]) -> None:
    # Slow path: cancelled, failed by a broken pool, or a callback added after the task ran.
    # In the last case the stdlib called us without storing us in the future's callback list,
    # so remember the future's task for the callback-failure filter (weakly: no leak).
    callbacks.remember(future, task)
    if future.cancelled():
        exc: BaseException | None = None
        cancelled = True
    else:
        exc = future.exception()
        if exc is None or not isinstance(exc, BrokenThreadPool) or getattr(exc, "_tpe_ran", False):
            return  # it ran, and _run_task recorded it
        cancelled = False
    series = task.series
    if series is not None:
        shard = series.shard()
        if cancelled:
            shard.cancelled += 1
        else:
            shard.not_run_failed += 1
            assert exc is not None
            _count_exception(task, shard.exceptions, exc)
    for hook in task.on_not_run:
        try:
            hook(task, cancelled, exc)
        except Exception as hook_exc:
            report_failure(task.pool, hook, hook_exc)


callbacks.install_filter(_task_done)


# -- the executor -----------------------------------------------------------------------------


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
        Histogram bounds in seconds (default 100 µs to 60 s).
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
        max_task_labels: int = 50,
        max_exception_labels: int = 20,
        cpu_time: CpuTime = "fast",
        buckets: Sequence[float] | None = None,
        clock: Callable[[], float] | None = None,
        cpu_clock: Callable[[], float] | None = None,
    ) -> None:
        # The stdlib validates its own arguments first, with its own messages. Our initializer
        # wrapper is always callable, so a bad user initializer is re-validated by the stdlib
        # class itself: the exception (type, message, precedence) is exactly the stdlib's.
        if initializer is not None and not callable(initializer):
            # On a bare instance: constructing the class would recurse while install() is on.
            probe = object.__new__(StdlibThreadPoolExecutor)
            _stdlib_init(probe, max_workers, thread_name_prefix, initializer, initargs)
        label = ThreadPoolExecutor._pool_label(name, thread_name_prefix)
        options = _Options(
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
        series, mp_sink = _metrics_backend(options, label)
        if series is not None:
            label = series.label  # "other" past the registry's cap on pool labels
        # max_workers is known only once the stdlib has applied its default; set just below.
        pool = PoolInfo(
            label,
            max_workers=0,
            thread_name_prefix=thread_name_prefix,
            clock=options.clock,
            cpu_clock=options.cpu_clock,
            series=series,
        )
        pool.cpu_mode = _CPU_MODES[options.cpu_time]
        all_sinks = [*options.sinks, *global_sinks.active()]
        if mp_sink is not None:
            all_sinks.insert(0, mp_sink)
        if options.log_sink is not None:
            all_sinks.insert(0, options.log_sink)
        hooks = Hooks(pool, all_sinks)
        worker_init = _WorkerInit(pool, hooks, initializer, initargs)
        _stdlib_init(self, max_workers, thread_name_prefix, worker_init, ())
        pool.max_workers = _max_workers_of(self, max_workers)

        self._tpe_pool = pool
        self._tpe_hooks = hooks
        self._tpe_options = options
        self._tpe_tasks: dict[str, TaskInfo] = {}
        self._tpe_code_tasks: dict[int, tuple[object, TaskInfo]] = {}
        self._tpe_tasks_lock = threading.Lock()
        self._tpe_all_tasks: TaskInfo | None = None
        # The last callable submitted and its task (holds a reference to that callable until
        # another one is submitted).
        self._tpe_last: tuple[object, TaskInfo | None] = (None, None)
        self._tpe_shutdown_lock = threading.Lock()
        self._tpe_is_shut_down = False
        self._tpe_close: weakref.finalize[Any, Any] | None = None
        if series is not None:
            series.pool_opened(pool.max_workers)
            # Also closes the gauge if the pool is garbage-collected without shutdown().
            self._tpe_close = weakref.finalize(self, series.pool_closed, pool.max_workers)
        elif mp_sink is not None:
            self._tpe_close = weakref.finalize(self, mp_sink.pool_closed, pool)
        if hooks.pool_created:
            dispatch(pool, hooks.pool_created, pool)

    @staticmethod
    def _pool_label(name: str | None, thread_name_prefix: object) -> str:
        if name is not None:
            return naming.validate_pool_name(name)
        if thread_name_prefix:
            return naming.clean(str(thread_name_prefix))
        # Skip our own frames and any subclass __init__ chain: label the code that asked for
        # the pool.
        frame = sys._getframe(1)
        while frame.f_back is not None and (
            frame.f_code.co_name == "__init__"
            and isinstance(frame.f_locals.get("self"), StdlibThreadPoolExecutor)
        ):
            frame = frame.f_back
        return naming.call_site_label(frame)

    # -- tasks --
    # The methods below are called as ``ThreadPoolExecutor.method(self, ...)``, never through
    # ``self``: install() runs them on plain stdlib instances (and on instances of classes that
    # subclassed the stdlib class), which do not have them.

    def _task_info(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> TaskInfo:
        """The TaskInfo for ``fn``'s label, cached by code object for plain functions."""
        if not self._tpe_options.task_labels:
            task = self._tpe_all_tasks
            if task is None:
                task = self._tpe_all_tasks = ThreadPoolExecutor._new_task_info(
                    self, naming.ALL_TASKS
                )
            return task
        last_fn, last_task = self._tpe_last
        if fn is last_fn and last_task is not None:  # map() and submit loops: same callable
            return last_task
        # Keyed by the code object's identity, not by the code object: code objects compare
        # equal by content (not by file or module), so ``def handler(): ...`` at the same line
        # of two modules would share one entry and one module's label. The entry keeps the code
        # object alive, so its id cannot be reused while cached.
        code = _code_of(fn)
        if code is not None:
            entry = self._tpe_code_tasks.get(id(code))
            if entry is not None and entry[0] is code:
                self._tpe_last = (fn, entry[1])  # one attribute: read and written atomically
                return entry[1]
        label = naming.task_label(fn, args)
        with self._tpe_tasks_lock:
            task = self._tpe_tasks.get(label)
            if task is None:
                task = ThreadPoolExecutor._new_task_info(self, label)
                if len(self._tpe_tasks) < _TASK_CACHE_LIMIT:
                    self._tpe_tasks[label] = task
            if code is not None and len(self._tpe_code_tasks) < _TASK_CACHE_LIMIT:
                self._tpe_code_tasks[id(code)] = (code, task)
        self._tpe_last = (fn, task)
        return task

    def _new_task_info(self, label: str) -> TaskInfo:
        pool = self._tpe_pool
        options = self._tpe_options
        series = None
        if pool.series is not None:
            series = pool.series.task_series(label, options.max_task_labels)
            label = series.task
        task = TaskInfo(pool, label, series, self._tpe_hooks)
        task.exception_cap = options.max_exception_labels
        task.on_done = functools.partial(_task_done, task)
        return task

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Schedule ``fn(*args, **kwargs)``; as the stdlib, plus the lifecycle records."""
        task = ThreadPoolExecutor._task_info(self, fn, args)
        submitted_at = task.pool.clock()
        # The books must stay exact whatever line a KeyboardInterrupt lands on (see
        # _submit_failed): ``future`` and ``before`` tell the handler how far we got.
        future: Future[T] | None = None
        series = task.series
        shard = None
        before = 0
        if series is not None:
            try:
                shard = series._local.shard
            except AttributeError:
                shard = series._new_shard()
            before = shard.submitted
        try:
            if self._tpe_options.propagate_context:
                future = _stdlib_submit(
                    self,
                    _run_task_in_context,
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
                    self, _run_task, task, submitted_at, _get_ident(), fn, *args, **kwargs
                )
            if shard is not None:
                shard.submitted = before + 1
            future.add_done_callback(task.on_done)
        except BaseException as exc:
            ThreadPoolExecutor._submit_failed(self, task, exc, future, shard, before)
            raise
        hooks = self._tpe_hooks.task_submitted
        if hooks:
            dispatch(task.pool, hooks, task, submitted_at)
        return future

    def _submit_failed(
        self,
        task: TaskInfo,
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

    def _rejected(self, reason: str, exc: BaseException) -> None:
        pool = self._tpe_pool
        if pool.series is not None:
            pool.series.rejected_one(reason)
        if self._tpe_hooks.task_rejected:
            dispatch(pool, self._tpe_hooks.task_rejected, pool, reason, exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """As the stdlib; the first call also closes the pool's gauges and logs a summary."""
        try:
            _stdlib_shutdown(self, wait=wait, cancel_futures=cancel_futures)
        finally:
            with self._tpe_shutdown_lock:
                first = not self._tpe_is_shut_down
                self._tpe_is_shut_down = True
            if first:
                if self._tpe_close is not None:
                    try:
                        self._tpe_close()
                    except Exception as exc:  # shutdown() must never fail because of us
                        report_failure(self._tpe_pool, self._tpe_close, exc)
                hooks = self._tpe_hooks.pool_shutdown
                if hooks:
                    dispatch(self._tpe_pool, hooks, self._tpe_pool, wait, cancel_futures)

    # -- introspection --

    @property
    def pool_label(self) -> str:
        """The ``pool`` label this executor's metrics carry."""
        return self._tpe_pool.label

    @property
    def pool_info(self) -> PoolInfo:
        """The description of this pool that sinks receive."""
        return self._tpe_pool


_registries_refusing: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()


def _metrics_backend(
    options: _Options, label: str
) -> tuple[PoolSeries | None, multiprocess.MultiprocessSink | None]:
    """The pool's metrics: the shared series of the registry's collector, or, in
    prometheus_client's multiprocess mode (which ignores custom collectors), a sink that feeds
    plain metric objects (see tpe_insight.multiprocess). Neither when metrics are off.

    A registry that refuses our metric names (another collector already exports one of them)
    must not make the constructor of a drop-in raise: the pool runs without metrics, and the
    clash is logged once per registry.
    """
    if not options.metrics:
        return None, None
    try:
        if multiprocess.ENV_VAR in os.environ:
            if not multiprocess.directory_usable():
                return None, None
            sink = multiprocess.MultiprocessSink(
                options.registry,
                buckets=options.buckets,
                max_task_labels=options.max_task_labels,
                max_exception_labels=options.max_exception_labels,
            )
            return None, sink
        return collector_for(options.registry).pool_series(label, options.buckets), None
    except ValueError as exc:  # prometheus_client's DuplicateTimeseries
        registry = options.registry if options.registry is not None else REGISTRY
        if registry not in _registries_refusing:
            _registries_refusing.add(registry)
            lifecycle._log.warning(
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


class _Options:
    """The keyword-only options, validated once; each error names the option."""

    def __init__(
        self,
        *,
        metrics: object,
        registry: object,
        sinks: object,
        logs: object,
        logger: object,
        log_tasks: object,
        log_exception_details: object,
        propagate_context: object,
        task_labels: object,
        max_task_labels: object,
        max_exception_labels: object,
        cpu_time: object,
        buckets: object,
        clock: object,
        cpu_clock: object,
    ) -> None:
        self.metrics = _flag("metrics", metrics)
        if registry is not None and not isinstance(registry, CollectorRegistry):
            raise TypeError(
                "registry must be a prometheus_client.CollectorRegistry or None, "
                f"not {type(registry).__name__}"
            )
        self.registry: CollectorRegistry | None = registry
        self.sinks = lifecycle.validate_sinks(sinks)
        if logs is not None:
            logs = _flag("logs", logs)
        self.log_tasks = _flag("log_tasks", log_tasks)
        self.log_exception_details = _flag("log_exception_details", log_exception_details)
        self.propagate_context = _flag("propagate_context", propagate_context)
        self.task_labels = _flag("task_labels", task_labels)
        self.max_task_labels = _positive_int("max_task_labels", max_task_labels)
        self.max_exception_labels = _positive_int("max_exception_labels", max_exception_labels)
        if cpu_time not in _CPU_MODES:
            raise ValueError(f"cpu_time must be one of 'fast', 'exact', 'off', not {cpu_time!r}")
        self.cpu_time: CpuTime = cpu_time  # type: ignore[assignment]
        self.buckets = _buckets(buckets)
        self.clock: Callable[[], float] = _clock("clock", clock, time.perf_counter)
        self.cpu_clock: Callable[[], float] = _clock("cpu_clock", cpu_clock, time.thread_time)
        self.log_sink: StructlogSink | None = None
        # A logger given explicitly is a request for logs (unless logs=False says otherwise).
        if should_log(logs) or (logs is None and logger is not None):
            self.log_sink = StructlogSink(
                logger=logger,
                log_tasks=self.log_tasks,
                exception_details=self.log_exception_details,
            )


def _flag(option: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{option} must be True or False, not {value!r}")
    return value


def _positive_int(option: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{option} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{option} must be at least 1, got {value}")
    return value


def _buckets(value: object) -> tuple[float, ...]:
    if value is None:
        return DEFAULT_BUCKETS
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"buckets must be a sequence of numbers, not {type(value).__name__}")
    bounds = tuple(value)
    if not bounds:
        raise ValueError("buckets must not be empty")
    for bound in bounds:
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise TypeError(f"buckets must hold numbers, got {bound!r}")
        if not math.isfinite(bound) or bound <= 0:
            raise ValueError(f"buckets must be positive and finite, got {bound!r}")
    if any(b >= a for a, b in zip(bounds[1:], bounds, strict=False)):
        raise ValueError("buckets must be strictly increasing")
    return tuple(float(b) for b in bounds)


def _clock(option: str, value: object, default: Callable[[], float]) -> Callable[[], float]:
    if value is None:
        return default
    if not callable(value):
        raise TypeError(f"{option} must be a callable returning seconds, not {value!r}")
    return value

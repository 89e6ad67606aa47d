"""The per-task path and the per-worker state, in call order: what every task pays for.

One task's life through this module, top to bottom::

    ThreadPoolExecutor.submit    (executor.py)  TaskLabels.task_for(fn) -> Task, then the stdlib
                                                submit of run_task(task, submitted_at, submitter,
                                                fn, ...) and add_done_callback(task.on_done)
    WorkerInit.__call__          (a new worker) WorkerState in the thread-local, worker_started
    run_task                     (the worker)   start/end times, CPU time, outcome, the shard
    task_done                    (done-callback) nothing if run_task ran; else cancelled / broken

Nothing here allocates a container or a closure per task: :class:`Task` (one per task label of a
pool) carries the wiring the hot path needs, the done-callback is a ``partial`` made once per
task label, and the wrapper receives its context as extra positional arguments. Every extra
GC-tracked object per task is scanned by the collector while thousands of futures are alive,
which is where a naive wrapper loses most of its time (see DESIGN.md, performance budget).

The metric shards are written through their documented API (``series.local.shard``, else
``series.new_shard()``, see :class:`~tpe_insight.metrics.shards.TaskSeries`), inlined: each
helper call costs ~0.1-0.15 µs on the reference machine, a visible share of a no-op task.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures.thread import BrokenThreadPool
from types import BuiltinMethodType, CodeType, FunctionType, MethodType
from typing import Any, TypeVar

from tpe_insight import _callbacks, _fork, labels
from tpe_insight._fanout import Hooks, dispatch, report_failure
from tpe_insight.events import PoolInfo, TaskInfo
from tpe_insight.metrics.shards import PoolSeries, TaskSeries
from tpe_insight.typing import Clock

__all__ = [
    "CPU_EXACT",
    "CPU_FAST",
    "CPU_OFF",
    "FAST_CPU_MIN_RUN",
    "Pool",
    "Task",
    "TaskLabels",
    "WorkerInit",
    "run_task",
    "run_task_in_context",
    "task_done",
]

T = TypeVar("T")

#: In ``cpu_time="fast"`` mode, tasks that ran for less than this are charged their run time as
#: CPU time instead of reading the thread CPU clock (a syscall of ~0.7-1 µs here, which would be
#: a large share of such a task). Longer tasks read the clock once; the read then costs < 1%.
FAST_CPU_MIN_RUN = 100e-6

# cpu_time modes as small ints: the hot path compares ints, not strings.
CPU_OFF, CPU_FAST, CPU_EXACT = 0, 1, 2

#: Bound on the per-pool caches from callable to task; past it, labels are computed per submit.
TASK_CACHE_LIMIT = 4096

_tls = threading.local()
_get_ident = threading.get_ident


class Pool:
    """The executor's wiring for one pool instance, private to the package: the record sinks
    see (``info``), the metric series, the hook tuples, the clocks and the CPU-time mode.

    Filled in two steps (everything but ``info``, then ``info`` once the stdlib has accepted the
    arguments and applied its ``max_workers`` default); no worker can start before that, since
    workers start on the first ``submit``.
    """

    __slots__ = ("clock", "cpu_clock", "cpu_mode", "hooks", "info", "series")

    info: PoolInfo
    hooks: Hooks

    def __init__(self, clock: Clock, cpu_clock: Clock, cpu_mode: int) -> None:
        self.clock = clock
        self.cpu_clock = cpu_clock
        self.cpu_mode = cpu_mode
        self.series: PoolSeries | None = None


class Task:
    """The wiring of one task label of one pool: what :func:`run_task` receives per task.

    The hook tuples hold the bound sink methods for each per-task event, already filtered to the
    sinks that implement it. ``on_done`` is bound once here and reused for every future of this
    label: a bound method made per submit would be one more GC-tracked object per task.
    """

    __slots__ = (
        "info",
        "on_done",
        "on_finished",
        "on_not_run",
        "on_started",
        "on_submitted",
        "pool",
        "series",
    )

    def __init__(self, pool: Pool, info: TaskInfo, series: TaskSeries | None) -> None:
        self.pool = pool
        self.info = info
        self.series = series
        hooks = pool.hooks
        self.on_submitted = hooks.task_submitted
        self.on_started = hooks.task_started
        self.on_finished = hooks.task_finished
        self.on_not_run = hooks.task_not_run
        self.on_done: Callable[[Future[Any]], None] = functools.partial(task_done, self)


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


class TaskLabels:
    """The per-pool cache from callable to :class:`Task`: what ``submit`` asks first.

    Plain functions are cached by code object; ``map()`` and submit loops hit the last-callable
    fast path, which holds the callable only through a weak reference: a strong one would keep
    the last submitted callable (and a bound method's ``self``) alive after its future is done,
    which the stdlib does not (CPython's ``test_no_stale_references``).
    """

    __slots__ = ("_by_code", "_by_label", "_last", "_lock", "_pool", "_single")

    def __init__(self, pool: Pool, by_callable: bool) -> None:
        self._pool = pool
        self._by_label: dict[str, Task] = {}
        self._by_code: dict[int, tuple[object, Task]] = {}
        self._lock = threading.Lock()
        # One attribute, read and written whole: (weak reference to the callable, its task).
        self._last: tuple[Callable[[], object], Task | None] = (_dead_ref, None)
        self._single: Task | None = None if by_callable else self._new(labels.ALL_TASKS)

    def task_for(self, fn: Callable[..., Any], args: tuple[Any, ...] = ()) -> Task:
        """The Task for ``fn``'s label (one per label and pool)."""
        if self._single is not None:
            return self._single
        last_ref, last_task = self._last
        if last_task is not None and last_ref() is fn:
            return last_task
        # Keyed by the code object's identity, not by the code object: code objects compare
        # equal by content (not by file or module), so ``def handler(): ...`` at the same line
        # of two modules would share one entry and one module's label. The entry keeps the code
        # object alive (not the function), so its id cannot be reused while cached.
        code = _code_of(fn)
        task: Task | None = None
        if code is not None:
            entry = self._by_code.get(id(code))
            if entry is not None and entry[0] is code:
                task = entry[1]
        if task is None:
            label = labels.task_label(fn, args)
            with self._lock:
                task = self._by_label.get(label)
                if task is None:
                    task = self._new(label)
                    if len(self._by_label) < TASK_CACHE_LIMIT:
                        self._by_label[label] = task
                if code is not None and len(self._by_code) < TASK_CACHE_LIMIT:
                    self._by_code[id(code)] = (code, task)
        if type(fn) is BuiltinMethodType:
            # A ``Context.run`` (or another C bound method) is labelled by its first argument,
            # which the next submit of the same bound object may change: never the fast path.
            self._last = (_dead_ref, None)
            return task
        try:
            self._last = (weakref.ref(fn), task)
        except TypeError:  # not weakly referenceable: no fast path for it
            self._last = (_dead_ref, None)
        return task

    def cached(self) -> int:
        """How many callables are cached by code object (bounded by ``TASK_CACHE_LIMIT``)."""
        return len(self._by_code)

    def _new(self, label: str) -> Task:
        pool = self._pool
        series = None
        if pool.series is not None:
            series = pool.series.task_series(label)
            label = series.task
        return Task(pool, TaskInfo(pool.info, label), series)


def _dead_ref() -> None:
    return None


# -- per-worker state -------------------------------------------------------------------------


class WorkerState:
    """What a worker thread keeps between tasks, in the thread-local ``_tls.state``.

    ``cpu_mark`` is the thread CPU clock at the end of the previous task (fast mode) or at the
    start of the current one (exact mode). ``ran`` tells the done-callback that runs right after
    a task in this thread that the task ran, so it has nothing left to record.
    """

    __slots__ = ("cpu_mark", "ran")

    def __init__(self, cpu_mark: float) -> None:
        self.cpu_mark = cpu_mark
        self.ran = False


class WorkerExit:
    """Calls ``on_exit`` when its thread-local slot is freed, i.e. when the worker thread ends.

    Thread exit is not observable through a public seam of the executor; the thread-local
    storage of a finished thread, though, is always released, so its finalizer is our signal.
    It lives in its own thread-local slot, not on :class:`WorkerState`: a task's traceback keeps
    the wrapper's frame (and so its ``state`` local) alive, which must not keep a dead worker
    counted. ``only_in`` (a pid) makes a forked child, which frees the parent's workers' storage
    too, leave alone what only the parent counted.
    """

    __slots__ = ("on_exit", "only_in")

    def __init__(self, on_exit: Callable[[], None], only_in: int | None = None) -> None:
        self.on_exit = on_exit
        self.only_in = only_in

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter teardown
            if self.only_in is None or self.only_in == os.getpid():
                self.on_exit()


class WorkerInit:
    """The initializer the stdlib runs in every new worker: count the worker, then run the
    user's initializer and count its failure (the stdlib then breaks the pool).

    It holds the pool's wiring, never the executor: worker threads keep their initializer
    alive, and a reference back to the executor would stop it from being collected (the stdlib's
    workers hold only a weakref to it for that reason).
    """

    __slots__ = ("initargs", "initializer", "pool")

    def __init__(
        self, pool: Pool, initializer: Callable[..., object] | None, initargs: tuple[Any, ...]
    ) -> None:
        self.pool = pool
        self.initializer = initializer
        self.initargs = initargs

    def __call__(self) -> None:
        pool = self.pool
        _tls.state = WorkerState(_cpu_now(pool))
        series = pool.series
        if series is not None:
            series.worker_started()
            _tls.exit_hook = WorkerExit(series.worker_stopped)
        hooks = pool.hooks
        if hooks.worker_started:
            name = labels.thread_name(threading.current_thread().name)
            dispatch(series, hooks.worker_started, pool.info, name, pool.clock())
        if self.initializer is None:
            return
        try:
            self.initializer(*self.initargs)
        except BaseException as exc:
            if series is not None:
                series.initializer_failed()
            if hooks.initializer_failed:
                dispatch(series, hooks.initializer_failed, pool.info, exc)
            raise


def _cpu_now(pool: Pool) -> float:
    return pool.cpu_clock() if pool.cpu_mode else 0.0


def _adopt_thread(pool: Pool) -> WorkerState:
    """State for a thread that runs a task without having run our initializer (defensive)."""
    state = WorkerState(_cpu_now(pool))
    _tls.state = state
    return state


# -- the per-task path ------------------------------------------------------------------------


def run_task(
    task: Task,
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
        state: WorkerState = _tls.state
    except AttributeError:
        state = _adopt_thread(pool)
    state.ran = False
    series = task.series
    if series is not None:
        try:
            shard = series.local.shard
        except AttributeError:
            shard = series.new_shard()
        wait = started_at - submitted_at
        shard.started += 1
        shard.wait_sum += wait
        shard.wait_counts[bisect_left(series.bounds, wait)] += 1
    info = task.info
    for hook in task.on_started:
        try:
            hook(info, submitted_at, started_at, submitter)
        except Exception as hook_exc:
            report_failure(pool.series, hook, hook_exc)
    cpu_mode = pool.cpu_mode
    if cpu_mode == CPU_EXACT:
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
        if cpu_mode == CPU_OFF:
            cpu = 0.0
        elif cpu_mode == CPU_FAST and run < FAST_CPU_MIN_RUN:
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
                _count_exception(series, shard.exceptions, exc)
            shard.run_sum += run
            shard.run_counts[bisect_left(series.bounds, run)] += 1
            shard.cpu_sum += cpu
        for hook in task.on_finished:
            try:
                hook(info, submitted_at, started_at, ended_at, cpu, exc, submitter)
            except Exception as hook_exc:
                report_failure(pool.series, hook, hook_exc)
        if exc is not None:
            if isinstance(exc, BrokenThreadPool):
                _mark_ran(exc)
            # The traceback keeps this frame alive; drop our reference so that the exception
            # and the frame do not form a cycle only the GC could free.
            exc = None
        # Last statement before the stdlib resolves the future: the done-callback it runs next
        # in this thread belongs to this task, which is now fully recorded.
        state.ran = True


def run_task_in_context(
    task: Task,
    submitted_at: float,
    submitter: int,
    context: contextvars.Context,
    fn: Callable[..., T],
    /,
    *args: Any,
    **kwargs: Any,
) -> T:
    """Like :func:`run_task`, inside the submitter's ``contextvars`` context."""
    try:
        result: T = run_task(task, submitted_at, submitter, context.run, fn, *args, **kwargs)
    except BaseException:
        fn = args = kwargs = context = None  # type: ignore[assignment]  # see run_task
        raise
    return result


def task_done(task: Task, future: Future[Any]) -> None:
    """Done-callback of every future: records the tasks that ended without running."""
    state: WorkerState | None = getattr(_tls, "state", None)
    if state is not None and state.ran:
        state.ran = False
        return
    try:
        _task_done_slow(task, future)
    except Exception as exc:  # never let our callback pass for a failing user callback
        report_failure(task.pool.series, task_done, exc)


def _task_done_slow(task: Task, future: Future[Any]) -> None:
    # Slow path: cancelled, failed by a broken pool, or a callback added after the task ran.
    # In the last case the stdlib called us without storing us in the future's callback list,
    # so remember the future's task for the callback-failure filter (weakly: no leak).
    _callbacks.remember(future, task)
    if future.cancelled():
        exc: BaseException | None = None
        cancelled = True
    else:
        exc = future.exception()
        if exc is None or not isinstance(exc, BrokenThreadPool) or getattr(exc, "_tpe_ran", False):
            return  # it ran, and run_task recorded it
        cancelled = False
    series = task.series
    if series is not None:
        shard = series.shard()
        if cancelled:
            shard.cancelled += 1
        else:
            shard.not_run_failed += 1
            assert exc is not None
            _count_exception(series, shard.exceptions, exc)
    if task.on_not_run:
        ended_at = task.pool.clock()
        for hook in task.on_not_run:
            try:
                hook(task.info, cancelled, exc, ended_at)
            except Exception as hook_exc:
                report_failure(task.pool.series, hook, hook_exc)


def _count_exception(series: TaskSeries, exceptions: dict[str, int], exc: BaseException) -> None:
    label = series.pool.exception_label(labels.exception_label(exc))
    exceptions[label] = exceptions.get(label, 0) + 1


def _mark_ran(exc: BaseException) -> None:
    """Tag a BrokenThreadPool that a task raised itself, so the done-callback cannot mistake it
    for the stdlib failing a queued task of a broken pool."""
    with contextlib.suppress(Exception):  # an exotic __setattr__
        exc._tpe_ran = True  # type: ignore[attr-defined]


_process_hooks_installed = False


def ensure_process_hooks() -> None:
    """Install the process-wide hooks (the callback-failure logging filter, the at-fork hook)
    when the first pool is built, not at import: importing tpe_insight changes nothing."""
    global _process_hooks_installed
    if _process_hooks_installed:
        return
    _process_hooks_installed = True
    _fork.ensure_installed()
    _callbacks.install_filter(task_done, Task)

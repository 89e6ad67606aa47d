"""The recorder: a sink that keeps exact totals of every task and the detail of a bounded
sample.

The recorder is the profiler's only contact with the executor, and it only sees the sink events
(see :mod:`tpe_insight.events`). Its hooks run in the program's own threads on every task, so
they do the least that keeps the information: a thread-ident read, a dict store or pop and one
tuple appended to a buffer (``collections.deque``: ``append`` and ``popleft`` are atomic, so
there is no lock on the hot path). ``task_finished`` carries the whole life of a task (submit,
start, end, submitter), so a span is built from that one event. Every :data:`FOLD_EVERY` spans,
the thread whose append fills the buffer folds it, column-wise, into the streaming aggregates
of :mod:`tpe_insight.profiler.aggregate` (counts by outcome, exception classes, sums, log-bucket
histograms for percentiles, time-binned queue depth and busy workers, per pool and task label)
and offers it to the sampler, which keeps per-span detail for a bounded sample (first, last,
slowest, failures, per pool, uniform; :class:`~tpe_insight.profiler.aggregate.SampleRule`).

Why totals plus a sample, and not a ring of the newest spans: a profiled program may run a
million tasks or run for days. Memory, ``trace.json`` and ``report.html`` stay bounded whatever
the task count, and the numbers (``Timeline.counts()``, percentiles, exceptions) still cover
every span, so no pool reads "0 tasks" because its spans fell out of a buffer.
``Timeline.dropped`` counts the spans without detail, and the outputs say which were kept.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from tpe_insight import _fanout, labels
from tpe_insight.events import PoolInfo, Sink, TaskInfo
from tpe_insight.profiler import machine, schedstat
from tpe_insight.profiler.aggregate import (
    PoolActivity,
    SampleRule,
    SpanSampler,
    TaskTotals,
    outcome_kinds,
)
from tpe_insight.profiler.timeline import (
    CANCELLED,
    DEFAULT_CAPACITY,
    DEFAULT_STUCK_AFTER,
    ERROR,
    NOT_RUN,
    SUCCESS,
    MachineWindow,
    PoolRecord,
    RunningTask,
    Span,
    Timeline,
    WorkerRecord,
)
from tpe_insight.typing import Clock

__all__ = [
    "FOLD_EVERY",
    "MAX_ACTIVITY_POOLS",
    "MAX_MESSAGE_LENGTH",
    "MAX_POOL_RECORDS",
    "MAX_TASK_TOTALS",
    "OTHER_TASKS",
    "Recorder",
]

#: Finished spans buffered before they are folded into the totals and the sample. The fold runs
#: in the thread whose append fills the buffer (one worker pays a few ms, once per this many
#: tasks), so nothing runs in the background and memory is bounded by the buffer.
FOLD_EVERY = 4096

#: Bound on (pool, task label) pairs with their own totals (see Recorder._new_totals).
MAX_TASK_TOTALS = 20_000

#: Pools with activity bins (6.4 KB each): past it, a pool's chart is drawn from its sample.
MAX_ACTIVITY_POOLS = 1_000

#: The task label of the totals that collect the pairs past MAX_TASK_TOTALS.
OTHER_TASKS = "(other tasks)"

#: Longest exception message kept per failed span (messages can be huge or hold user data;
#: they are only ever shown escaped, in the HTML report).
MAX_MESSAGE_LENGTH = 300

#: Bound on pool and worker records, which are per pool instance, not per task; a program that
#: opens a pool per request would otherwise grow them without limit.
MAX_POOL_RECORDS = 10_000

_get_ident = threading.get_ident


class Recorder(Sink):
    """A sink that records task spans, worker births and pool shutdowns.

    Attach it to every pool created from now on with :meth:`attach` (what ``profile()`` does),
    or to one pool with ``ThreadPoolExecutor(sinks=[recorder])``. Read it with :meth:`snapshot`
    at any time, from any thread. ``clock`` must be the recorded pools' clock (the default is
    theirs): it tells how long a still-running task has been running when the recorder is read.
    """

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        *,
        stuck_after: float = DEFAULT_STUCK_AFTER,
        clock: Clock = time.perf_counter,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        if not stuck_after >= 0:
            raise ValueError(f"stuck_after must be >= 0 seconds, got {stuck_after!r}")
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, not {clock!r}")
        self.capacity = capacity
        self.stuck_after = float(stuck_after)
        self._clock = clock
        self.sample_rule = SampleRule.for_capacity(capacity)
        # Span tuples: (task, outcome, submitted_at, started_at, ended_at, cpu, worker_id,
        # submitter_ident, exception, message). Tuples, not Span objects: one allocation.
        # Finished spans wait here until a fold moves them into the totals and the sample.
        self._spans: collections.deque[tuple[Any, ...]] = collections.deque()
        self._fold_lock = threading.Lock()
        # Keyed by TaskInfo (one per pool and task label, hashed by identity: cheap), or by a
        # pool id for an overflow entry (see _new_totals).
        self._totals: dict[object, TaskTotals] = {}
        self._activity: dict[int, PoolActivity] = {}
        self._pool_of_totals: dict[int, PoolInfo] = {}
        self._sampler = SpanSampler(self.sample_rule)
        # worker ident -> (task, started_at, submitted_at), while it runs (for stuck tasks).
        self._running: dict[int, tuple[TaskInfo, float, float]] = {}
        self._worker_of: dict[int, int] = {}  # thread ident -> worker_id, current owner
        self._worker_ids = itertools.count(1)
        self._workers: collections.deque[WorkerRecord] = collections.deque(maxlen=MAX_POOL_RECORDS)
        self._thread_names: dict[int, str] = {}
        self._pools: dict[int, PoolInfo] = {}
        self._shutdowns: dict[int, float] = {}
        self._instances: collections.Counter[str] = collections.Counter()
        self._seen_running: collections.deque[RunningTask] = collections.deque(maxlen=1000)
        self._lock = threading.Lock()  # only for the rare, per-pool events
        # worker_id -> run-queue seconds at the worker's last reading (see profiler/schedstat.py)
        self._run_queue_end: dict[int, float] = {}
        self._worker_tls = threading.local()  # holds each worker's _WorkerEndReading
        self._machine = _MachineWatch(clock)
        self._worker_pool: dict[int, int] = {}  # thread ident -> pool_id of the worker
        # (task, submitted_at, submitter ident) of tasks a worker submitted to its own pool:
        # the evidence of the nested-wait lint (rare: only such submits are kept).
        self._nested: collections.deque[tuple[TaskInfo, float, int]] = collections.deque(
            maxlen=10_000
        )
        self._nested_started: collections.deque[tuple[TaskInfo, float]] = collections.deque(
            maxlen=10_000
        )

    # -- attach / detach --

    def attach(self) -> None:
        """Record every pool constructed from now on (until :meth:`detach`)."""
        _fanout.add(self)

    def detach(self) -> None:
        """Stop attaching to new pools; pools that have the recorder keep reporting to it."""
        _fanout.remove(self)

    # -- hooks: per pool --

    def pool_created(self, pool: PoolInfo) -> None:
        """Remember the pool (bounded) and count instances per label for the per-call lint."""
        with self._lock:
            self._pools[pool.pool_id] = pool
            self._instances[pool.label] += 1
            if len(self._pools) > MAX_POOL_RECORDS:
                del self._pools[next(iter(self._pools))]

    def worker_started(self, pool: PoolInfo, thread_name: str, started_at: float) -> None:
        """Runs in the new worker: bind its thread ident to a fresh worker id."""
        worker_id = next(self._worker_ids)
        ident = _get_ident()
        self._worker_of[ident] = worker_id
        self._worker_pool[ident] = pool.pool_id
        # Cleaned once per worker: a lone surrogate or control character in a thread name would
        # otherwise break every output that prints or encodes it.
        name = labels.thread_name(thread_name)
        native_id = threading.get_native_id()
        run_queue = schedstat.read_own_run_queue_seconds()
        self._workers.append(
            WorkerRecord(worker_id, pool.pool_id, name, started_at, native_id, run_queue)
        )
        watched = self._machine.worker_started(pool.pool_id)
        if run_queue is not None or watched:
            self._worker_tls.end_reading = _WorkerEndReading(
                self._run_queue_end,
                worker_id,
                native_id,
                run_queue is not None,
                self._machine if watched else None,
                pool.pool_id,
            )

    def pool_shutdown(
        self, pool: PoolInfo, wait: bool, cancel_futures: bool, shutdown_at: float
    ) -> None:
        """Mark the shutdown; with ``wait=False``, note the pool's tasks still running."""
        with self._lock:
            self._shutdowns[pool.pool_id] = shutdown_at
            # Bounded like the pools themselves: a program that makes a pool per request
            # would otherwise grow this dict by one entry per request, forever.
            if len(self._shutdowns) > MAX_POOL_RECORDS:
                del self._shutdowns[next(iter(self._shutdowns))]
        if not wait:
            self._note_running(pool.pool_id, "shutdown", 0.0, shutdown_at)

    # -- hooks: per task (the hot path) --

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        """Runs in the submitting thread: remember its name, once per thread, and a task a
        worker submits to its own pool (one dict lookup for every other submit)."""
        ident = _get_ident()
        if ident not in self._thread_names:
            self._thread_names[ident] = labels.thread_name(threading.current_thread().name)
        own = self._worker_pool.get(ident)  # None unless a worker submits: no pool_id read
        if own is not None and own == task.pool.pool_id:
            self._nested.append((task, submitted_at, ident))

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        """Runs in the worker: note the running task, for the stuck-task report, and the start
        of a task a worker submitted to its own pool (one dict lookup for the others)."""
        self._running[_get_ident()] = (task, started_at, submitted_at)
        own = self._worker_pool.get(submitter)
        if own is not None and own == task.pool.pool_id:
            self._nested_started.append((task, submitted_at))

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
        """Runs in the worker, right after the task: its span, from this one event."""
        ident = _get_ident()
        self._running.pop(ident, None)
        name = message = None
        if exc is not None:
            name, message = _describe(exc)
        self._spans.append(
            (
                task,
                SUCCESS if exc is None else ERROR,
                submitted_at,
                started_at,
                ended_at,
                cpu_seconds,
                self._worker_of.get(ident),
                submitter,
                name,
                message,
            )
        )
        if len(self._spans) >= FOLD_EVERY:
            self._fold(blocking=False)

    def task_not_run(
        self, task: TaskInfo, cancelled: bool, exc: BaseException | None, ended_at: float
    ) -> None:
        """A task ended without running (cancelled while queued, or its pool broke). Its submit
        time is not known (see :meth:`tpe_insight.Sink.task_not_run`)."""
        name = message = None
        if exc is not None:
            name, message = _describe(exc)
        self._spans.append(
            (
                task,
                CANCELLED if cancelled else NOT_RUN,
                None,
                None,
                ended_at,
                0.0,
                None,
                None,
                name,
                message,
            )
        )
        if len(self._spans) >= FOLD_EVERY:
            self._fold(blocking=False)

    # -- folding: the buffer into the totals and the sample --

    def _fold(self, *, blocking: bool) -> None:
        """Move the buffered spans into the totals, activity and sample.

        Non-blocking from the hot path (if another thread is folding, this one goes back to
        work and the buffer is drained by that fold or the next). Only the folding thread
        touches the totals, under ``_fold_lock``.
        """
        if not self._fold_lock.acquire(blocking=blocking):
            return
        try:
            self._fold_unlocked()
        finally:
            self._fold_lock.release()

    def _fold_unlocked(self) -> None:
        """Fold the buffer, column-wise: ``zip(*rows)`` turns a batch of span tuples into
        columns in C, and the aggregates consume columns with ``map``/``Counter``/``fsum``, so
        much of the per-span work runs in C."""
        pending = self._spans
        count = len(pending)
        if not count:
            return
        batch = [pending.popleft() for _ in range(count)]
        first_seq = self._sampler.seen
        all_columns = list(zip(*batch, strict=True))
        # One pass over the outcomes tells every aggregate below whether a span that never ran
        # (None times) is in the batch: usually not, and each scan for None costs ~40 ns/span.
        kinds = outcome_kinds(all_columns[1])
        self._sampler.add_batch(batch, all_columns, kinds)
        groups: dict[TaskInfo, list[tuple[Any, ...]]]
        head = batch[0][0]
        single = all_columns[0].count(head) == count  # identity first: one C pass
        if single:
            groups = {head: batch}
        else:
            groups = {}
            for raw in batch:
                group = groups.get(raw[0])
                if group is None:
                    groups[raw[0]] = group = []
                group.append(raw)
        totals, activity, sampler = self._totals, self._activity, self._sampler
        seq_of: dict[int, int] | None = None
        for task, rows in groups.items():
            task_totals = totals.get(task)
            if task_totals is None:
                task_totals = self._new_totals(task)
            columns = all_columns if single else list(zip(*rows, strict=True))
            task_totals.add_columns(columns, kinds)
            pool_id = task_totals.pool_id
            pool_activity = activity.get(pool_id)
            if pool_activity is not None:
                pool_activity.add_columns(columns, kinds)
            if sampler.wants_pool(pool_id):
                if seq_of is None:
                    seq_of = dict(
                        zip(map(id, batch), range(first_seq, first_seq + count), strict=True)
                    )
                first_rows = rows[: sampler.rule.per_pool]
                sampler.add_pool_first(pool_id, [(seq_of[id(raw)], raw) for raw in first_rows])

    def _new_totals(self, task: TaskInfo) -> TaskTotals:
        """Totals for a new (pool, task) pair; past :data:`MAX_TASK_TOTALS` pairs, new pairs of
        a pool share one ``(other tasks)`` entry, so a program with unbounded task labels (or
        pools) cannot grow the recorder without limit."""
        pool = task.pool
        pool_id = pool.pool_id
        if pool_id not in self._activity and len(self._activity) < MAX_ACTIVITY_POOLS:
            self._activity[pool_id] = PoolActivity(pool.created_at)
            self._pool_of_totals[pool_id] = pool
        key: object = task
        if len(self._totals) >= MAX_TASK_TOTALS:
            # Per pool while that stays bounded too, then one entry for everything else
            # (pool id -1: no pool record, but the run's totals stay exact).
            key = pool_id if len(self._totals) < 2 * MAX_TASK_TOTALS else -1
            existing = self._totals.get(key)
            if existing is not None:
                return existing
            pool_id = pool_id if key != -1 else -1
        totals = self._totals[key] = TaskTotals(pool_id, task.name if key is task else OTHER_TASKS)
        return totals

    # -- reading --

    @property
    def recorded(self) -> int:
        """Spans recorded since the recorder was created, with or without per-span detail."""
        return self._sampler.seen + len(self._spans)

    def snapshot(self) -> Timeline:
        """A consistent copy of what was recorded, as plain data. Safe while pools run."""
        with self._fold_lock:
            self._fold_unlocked()
            kept = self._sampler.kept()
            recorded = self._sampler.seen
            task_totals = [t.copy() for t in self._totals.values()]
            activity = {pool_id: a.copy() for pool_id, a in self._activity.items()}
        spans_raw = [raw for _seq, raw in kept]
        self._note_running(None, "end of profile", self.stuck_after, self._clock())
        thread_names = dict(self._thread_names)
        # Thread idents are reused after a thread ends, so this is the ident's *current* worker;
        # the model checks that the parent it finds was running on that worker at submit time.
        worker_of = dict(self._worker_of)
        pools: dict[int, PoolInfo] = dict(self._pools)
        for pool_id, info in list(self._pool_of_totals.items()):
            pools.setdefault(pool_id, info)
        spans: list[Span] = []
        for raw in spans_raw:
            task: TaskInfo = raw[0]
            pools.setdefault(task.pool.pool_id, task.pool)
            submitter = raw[7]
            spans.append(
                Span(
                    pool_id=task.pool.pool_id,
                    task=task.name,
                    outcome=raw[1],
                    submitted_at=raw[2],
                    started_at=raw[3],
                    ended_at=raw[4],
                    cpu_seconds=raw[5],
                    worker_id=raw[6],
                    submitter=None if submitter is None else thread_names.get(submitter),
                    exception=raw[8],
                    message=raw[9],
                    submitter_worker=None if submitter is None else worker_of.get(submitter),
                )
            )
        shutdowns = dict(self._shutdowns)
        pool_records = [
            PoolRecord(p.pool_id, p.label, p.max_workers, p.created_at, shutdowns.get(p.pool_id))
            for p in sorted(pools.values(), key=lambda p: p.pool_id)
        ]
        with self._lock:
            instances = dict(self._instances)
        workers = sorted(_copy(self._workers), key=lambda w: w.worker_id)
        run_queue_end = dict(self._run_queue_end)
        for worker in workers:
            # Workers still alive: read now (the ones that exited were read at their exit).
            if (
                worker.native_id is not None
                and worker.run_queue_at_start is not None
                and worker.worker_id not in run_queue_end
            ):
                value = schedstat.read_run_queue_seconds(worker.native_id)
                if value is not None and value >= worker.run_queue_at_start:
                    run_queue_end[worker.worker_id] = value
        return Timeline(
            pools=pool_records,
            workers=workers,
            spans=spans,
            running=_copy(self._seen_running),
            dropped=max(0, recorded - len(spans_raw)),
            capacity=self.capacity,
            stuck_after=self.stuck_after,
            pool_instances=instances,
            cores=schedstat.available_cores(),
            run_queue_at_end=run_queue_end,
            totals=task_totals,
            activity=activity,
            sample_rule=self.sample_rule,
            machine=self._machine.windows(),
        )

    def _note_running(
        self, pool_id: int | None, seen_at: str, older_than: float, now: float
    ) -> None:
        """Record the tasks running now (of one pool, or all) with their workers' stacks.

        A task younger than ``older_than`` is recorded too when it is blocked waiting for a
        future while its pool has no idle worker and a task it submitted to that pool is still
        queued: the nested-wait pattern (see profiler/lints.py), a deadlock in the making.
        """
        running = list(self._running.items())
        if not running:
            return
        frames = sys._current_frames()
        names = {t.ident: t.name for t in threading.enumerate()}
        busy: collections.Counter[int] = collections.Counter(
            entry[0].pool.pool_id for _, entry in running
        )
        queued: dict[int, list[str]] | None = None
        for ident, (task, started_at, _submitted_at) in running:
            if pool_id is not None and task.pool.pool_id != pool_id:
                continue
            running_for = now - started_at
            frame = frames.get(ident)
            blocked_in = _blocked_in(frame) if frame is not None else None
            children: tuple[str, ...] = ()
            pool_running = busy[task.pool.pool_id]
            if blocked_in is not None and pool_running >= task.pool.max_workers:
                if queued is None:
                    queued = self._queued_children()
                children = tuple(queued.get(ident, ()))
            if running_for < older_than and not children:
                continue
            stack = _task_stack(frame) if frame is not None else ""
            self._seen_running.append(
                RunningTask(
                    task.pool.pool_id,
                    task.name,
                    self._worker_of.get(ident),
                    labels.thread_name(names.get(ident, f"thread {ident}")),
                    started_at,
                    running_for,
                    seen_at,
                    stack,
                    blocked_in,
                    pool_running,
                    children,
                )
            )

    def _queued_children(self) -> dict[int, list[str]]:
        """Worker ident -> names of the tasks it submitted to its own pool that have not
        started. Only computed when a blocked task is seen (rare)."""
        started: collections.Counter[tuple[int, float]] = collections.Counter(
            (id(task), submitted_at) for task, submitted_at in _copy(self._nested_started)
        )
        result: dict[int, list[str]] = {}
        for task, submitted_at, ident in _copy(self._nested):
            key = (id(task), submitted_at)
            if started[key] > 0:
                started[key] -= 1
                continue
            result.setdefault(ident, []).append(task.name)
        return result


#: Functions of ``concurrent/futures/_base.py`` that block on futures, as the lint names them.
_WAITS = {
    "result": "Future.result",
    "exception": "Future.exception",
    "wait": "wait",
    "as_completed": "as_completed",
}


def _blocked_in(frame: FrameType) -> str | None:
    """Which ``concurrent.futures`` wait the innermost frames are in (None if not waiting).
    The innermost frames are the lock wait in threading.py; the futures frame is just above."""
    current: FrameType | None = frame
    for _ in range(6):
        if current is None:
            return None
        filename = current.f_code.co_filename.replace("\\", "/")
        if filename.endswith("concurrent/futures/_base.py"):
            return _WAITS.get(current.f_code.co_name)
        if not filename.endswith("threading.py"):
            return None
        current = current.f_back
    return None


class _WorkerEndReading:
    """Reads a worker's run-queue time when its thread ends, and tells the machine watch that
    one of its pool's workers is gone.

    Held in a thread-local of the worker, which CPython frees in the exiting thread itself, so
    ``/proc/thread-self`` is that worker. Must not call ``threading.current_thread()`` there
    (it would make a dummy thread).
    """

    __slots__ = ("machine", "native_id", "pool_id", "readings", "run_queue", "worker_id")

    def __init__(
        self,
        readings: dict[int, float],
        worker_id: int,
        native_id: int,
        run_queue: bool,
        machine: _MachineWatch | None,
        pool_id: int,
    ) -> None:
        self.readings = readings
        self.worker_id = worker_id
        self.native_id = native_id
        self.run_queue = run_queue
        self.machine = machine
        self.pool_id = pool_id

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter teardown
            if self.run_queue:
                if threading.get_native_id() == self.native_id:
                    value = schedstat.read_own_run_queue_seconds()
                else:
                    value = schedstat.read_run_queue_seconds(self.native_id)
                if value is not None:
                    self.readings[self.worker_id] = value
        with contextlib.suppress(Exception):
            if self.machine is not None:
                self.machine.worker_ended(self.pool_id)


class _MachineWatch:
    """Per pool, what the machine's other processes used of our CPUs while the pool had live
    workers (see profiler/machine.py): ``/proc/stat`` is read when a pool's first worker starts
    and when its last one ends, so twice per pool, never per task. Whether the machine says
    anything is decided once, here: elsewhere every hook returns at its first test."""

    def __init__(
        self,
        clock: Clock,
        reader: Callable[[], machine.CpuReading | None] = machine.read_cpu,
    ) -> None:
        self._clock = clock
        self._reader = reader
        self.available = reader() is not None
        self._lock = threading.Lock()
        self._live: dict[int, int] = {}  # pool_id -> live workers
        self._start: dict[int, tuple[float, machine.CpuReading]] = {}
        self._windows: dict[int, MachineWindow] = {}

    def worker_started(self, pool_id: int) -> bool:
        """Count a new worker of ``pool_id`` (reading the machine if it is the pool's first);
        False where the machine says nothing, so the worker need not report its end."""
        if not self.available:
            return False
        with self._lock:
            self._live[pool_id] = self._live.get(pool_id, 0) + 1
            first = pool_id not in self._start and pool_id not in self._windows
        if first:
            reading = self._reader()
            at = self._clock()
            if reading is not None:
                with self._lock:
                    self._start.setdefault(pool_id, (at, reading))
        return True

    def worker_ended(self, pool_id: int) -> None:
        """A worker of ``pool_id`` ended; the pool's last one closes its window."""
        with self._lock:
            live = self._live.get(pool_id, 0) - 1
            if live > 0:
                self._live[pool_id] = live
                return
            self._live.pop(pool_id, None)
            start = self._start.pop(pool_id, None)
        if start is None:
            return
        reading = self._reader()
        at = self._clock()
        if reading is None:
            return
        window = machine.window_between(start[1], reading, start[0], at)
        if window is None:
            return
        with self._lock:
            self._windows[pool_id] = window
            if len(self._windows) > MAX_POOL_RECORDS:
                del self._windows[next(iter(self._windows))]

    def windows(self) -> dict[int, MachineWindow]:
        """Every closed window, and for pools whose workers still live, the window up to now."""
        with self._lock:
            result = dict(self._windows)
            open_windows = list(self._start.items())
        if open_windows:
            reading = self._reader()
            at = self._clock()
            if reading is not None:
                for pool_id, (started_at, start) in open_windows:
                    window = machine.window_between(start, reading, started_at, at)
                    if window is not None:
                        result[pool_id] = window
        return result


def _task_stack(frame: FrameType) -> str:
    """The worker's stack from the task's own code down: the frames above it (threading, the
    stdlib worker loop, our wrapper) are the same for every task and only bury the answer."""
    summary = traceback.extract_stack(frame)
    for index in range(len(summary) - 1, -1, -1):
        entry = summary[index]
        if entry.name.startswith("run_task") and entry.filename.endswith(
            ("tpe_insight/_hotpath.py", "tpe_insight\\_hotpath.py")
        ):
            summary = traceback.StackSummary.from_list(summary[index + 1 :])
            break
    return "".join(summary.format())


def _describe(exc: BaseException) -> tuple[str, str | None]:
    """Class label and a capped, one-line message (failure path only)."""
    try:
        message: str | None = labels.clean(str(exc), MAX_MESSAGE_LENGTH)
    except Exception:  # a hostile __str__ must not cost the span
        message = None
    return labels.exception_label(exc), message


def _copy(items: collections.deque[Any]) -> list[Any]:
    """``list(deque)`` retried if another thread appended mid-copy (it is one C loop under the
    GIL, so a retry is rare insurance, e.g. for free-threaded builds)."""
    for _ in range(100):
        with contextlib.suppress(RuntimeError):
            return list(items)
    return list(items)

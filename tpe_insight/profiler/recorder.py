"""The recorder: a sink that keeps one span per task in a bounded ring buffer.

The recorder is the profiler's only contact with the executor, and it only sees the sink events
(see :mod:`tpe_insight.events`). Its hooks run in the program's own threads on every task, so
they do the least that keeps the information: a thread-ident read, a dict store or pop and one
tuple appended to a ``collections.deque(maxlen=capacity)``. ``task_finished`` carries the whole
life of a task (submit, start, end, submitter), so a span is built from that one event, with no
matching of earlier events. Everything else (names, percentiles, simulation, rendering) happens
in :meth:`Recorder.snapshot` and later, at report time.

Why a ring and not a list: a profiled service may run for days; the newest ``capacity`` spans
are kept, the older ones are dropped and *counted* (``Timeline.dropped``), so a report can always
say how much it does not show. ``deque.append`` with ``maxlen`` is atomic under the GIL and the
count of appends is an ``itertools.count`` (also atomic), which makes the dropped count exact
without a lock on the hot path.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import sys
import threading
import time
import traceback
from types import FrameType
from typing import Any

from tpe_insight import _fanout, labels
from tpe_insight.events import PoolInfo, Sink, TaskInfo
from tpe_insight.profiler.timeline import (
    CANCELLED,
    DEFAULT_CAPACITY,
    DEFAULT_STUCK_AFTER,
    ERROR,
    NOT_RUN,
    SUCCESS,
    PoolRecord,
    RunningTask,
    Span,
    Timeline,
    WorkerRecord,
)
from tpe_insight.typing import Clock

__all__ = ["MAX_MESSAGE_LENGTH", "MAX_POOL_RECORDS", "Recorder"]

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
        # Span tuples: (task, outcome, submitted_at, started_at, ended_at, cpu, worker_id,
        # submitter_ident, exception, message). Tuples, not Span objects: one allocation.
        self._spans: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=capacity)
        self._span_count = itertools.count()
        self._span_count_reads = 0
        # worker ident -> (task, started_at), while it runs (for stuck tasks).
        self._running: dict[int, tuple[TaskInfo, float]] = {}
        self._worker_of: dict[int, int] = {}  # thread ident -> worker_id, current owner
        self._worker_ids = itertools.count(1)
        self._workers: collections.deque[WorkerRecord] = collections.deque(maxlen=MAX_POOL_RECORDS)
        self._thread_names: dict[int, str] = {}
        self._pools: dict[int, PoolInfo] = {}
        self._shutdowns: dict[int, float] = {}
        self._instances: collections.Counter[str] = collections.Counter()
        self._seen_running: collections.deque[RunningTask] = collections.deque(maxlen=1000)
        self._lock = threading.Lock()  # only for the rare, per-pool events

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
        self._worker_of[_get_ident()] = worker_id
        self._workers.append(WorkerRecord(worker_id, pool.pool_id, thread_name, started_at))

    def pool_shutdown(
        self, pool: PoolInfo, wait: bool, cancel_futures: bool, shutdown_at: float
    ) -> None:
        """Mark the shutdown; with ``wait=False``, note the pool's tasks still running."""
        self._shutdowns[pool.pool_id] = shutdown_at
        if not wait:
            self._note_running(pool.pool_id, "shutdown", 0.0, shutdown_at)

    # -- hooks: per task (the hot path) --

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        """Runs in the submitting thread: remember its name, once per thread."""
        ident = _get_ident()
        if ident not in self._thread_names:
            self._thread_names[ident] = labels.thread_name(threading.current_thread().name)

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        """Runs in the worker: note the running task, for the stuck-task report."""
        self._running[_get_ident()] = (task, started_at)

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
        next(self._span_count)

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
        next(self._span_count)

    # -- reading --

    @property
    def recorded(self) -> int:
        """Spans recorded since the recorder was created, including dropped ones."""
        # itertools.count has no peek; reading it advances it, so subtract our own reads.
        with self._lock:
            value = next(self._span_count) - self._span_count_reads
            self._span_count_reads += 1
        return value

    def snapshot(self) -> Timeline:
        """A consistent copy of what was recorded, as plain data. Safe while pools run."""
        spans_raw = _copy(self._spans)
        recorded = self.recorded
        self._note_running(None, "end of profile", self.stuck_after, self._clock())
        thread_names = dict(self._thread_names)
        pools: dict[int, PoolInfo] = dict(self._pools)
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
                )
            )
        shutdowns = dict(self._shutdowns)
        pool_records = [
            PoolRecord(p.pool_id, p.label, p.max_workers, p.created_at, shutdowns.get(p.pool_id))
            for p in sorted(pools.values(), key=lambda p: p.pool_id)
        ]
        with self._lock:
            instances = dict(self._instances)
        return Timeline(
            pools=pool_records,
            workers=sorted(_copy(self._workers), key=lambda w: w.worker_id),
            spans=spans,
            running=_copy(self._seen_running),
            dropped=max(0, recorded - len(spans_raw)),
            capacity=self.capacity,
            stuck_after=self.stuck_after,
            pool_instances=instances,
        )

    def _note_running(
        self, pool_id: int | None, seen_at: str, older_than: float, now: float
    ) -> None:
        """Record the tasks running now (of one pool, or all) with their workers' stacks."""
        running = list(self._running.items())
        if not running:
            return
        frames = sys._current_frames()
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, (task, started_at) in running:
            if pool_id is not None and task.pool.pool_id != pool_id:
                continue
            running_for = now - started_at
            if running_for < older_than:
                continue
            frame = frames.get(ident)
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
                )
            )


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

"""The timeline recorder: a sink that keeps one span per task in a bounded ring buffer.

The recorder is the profiler's only contact with the executor, and it only sees the lifecycle
hooks (see :mod:`tpe_insight.lifecycle`). Its hooks run in the program's own threads on every
task, so they do the least that keeps the information: a thread-ident read, a dict store or pop
and one tuple appended to a ``collections.deque(maxlen=capacity)``. Everything else (names,
percentiles, simulation, rendering) happens in :meth:`Recorder.snapshot` and later, at report
time.

Why a ring and not a list: a profiled service may run for days; the newest ``capacity`` spans
are kept, the older ones are dropped and *counted* (``Timeline.dropped``), so a report can always
say how much it does not show. ``deque.append`` with ``maxlen`` is atomic under the GIL and the
count of appends is an ``itertools.count`` (also atomic), which makes the dropped count exact
without a lock on the hot path.

Usage::

    with tpe_insight.profile() as prof:
        run_the_program()
    print(prof.summary())
    prof.write_report("report.html")

or ``prof = tpe_insight.profile(); prof.start(); ...; prof.stop()``. Only pools constructed
while the profile is active are recorded (a pool reads the global sinks once, at construction);
to record one pool only, pass ``sinks=[recorder]`` to it instead.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from tpe_insight import global_sinks, naming
from tpe_insight.lifecycle import PoolInfo, Sink, TaskInfo
from tpe_insight.patch import install, uninstall

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_STUCK_AFTER",
    "PoolRecord",
    "Profile",
    "Recorder",
    "RunningTask",
    "Span",
    "Timeline",
    "WorkerRecord",
    "profile",
]

#: Spans kept by default: about 20 MB of tuples, hours of a busy pool's recent history.
DEFAULT_CAPACITY = 100_000

#: A task still running this many seconds after it started, when the profile is read, is
#: reported as stuck (with its worker's stack). Long enough that ordinary slow I/O is not flagged.
DEFAULT_STUCK_AFTER = 10.0

#: Longest exception message kept per failed span (messages can be huge or hold user data;
#: they are only ever shown escaped, in the HTML report).
MAX_MESSAGE_LENGTH = 300

#: Bound on pool and worker records, which are per pool instance, not per task; a program that
#: opens a pool per request would otherwise grow them without limit.
MAX_POOL_RECORDS = 10_000

# Outcomes, as the metrics name them, plus "not_run" for a task failed by a broken pool before
# it ran. Module constants so the hot path stores a shared string, not a new one.
SUCCESS = "success"
ERROR = "error"
CANCELLED = "cancelled"
NOT_RUN = "not_run"
OUTCOMES = (SUCCESS, ERROR, CANCELLED, NOT_RUN)

_get_ident = threading.get_ident


# -- the snapshot: plain data, what every output reads ------------------------------------------


@dataclass(frozen=True)
class PoolRecord:
    """One pool instance. ``pool_id`` is unique per instance; ``label`` is shared by instances
    created at the same call site (see DESIGN.md, names)."""

    pool_id: int
    label: str
    max_workers: int
    created_at: float
    shutdown_at: float | None = None


@dataclass(frozen=True)
class WorkerRecord:
    """A worker thread's birth. ``worker_id`` is unique in the timeline (thread idents are
    reused by the OS after a thread ends, names may repeat across pools)."""

    worker_id: int
    pool_id: int
    thread_name: str
    started_at: float


@dataclass(frozen=True)
class Span:
    """One task's life. Times are seconds on the pool's clock.

    ``submitted_at`` is None only when the submit record was dropped by the ring;
    ``started_at`` is None for tasks that never ran (``cancelled`` / ``not_run``), whose
    ``ended_at`` is when they were cancelled or failed.
    """

    pool_id: int
    task: str
    outcome: str
    submitted_at: float | None
    started_at: float | None
    ended_at: float
    cpu_seconds: float
    worker_id: int | None
    submitter: str | None
    exception: str | None = None
    message: str | None = None

    @property
    def queue_wait(self) -> float | None:
        """Submit → start (or → cancel for a task that never ran)."""
        if self.submitted_at is None:
            return None
        end = self.started_at if self.started_at is not None else self.ended_at
        return end - self.submitted_at

    @property
    def run_seconds(self) -> float:
        """Start → end; 0 for a task that never ran."""
        return 0.0 if self.started_at is None else self.ended_at - self.started_at


@dataclass(frozen=True)
class RunningTask:
    """A task that was still running when it was looked at: at ``shutdown(wait=False)`` or when
    the profile was read. ``stack`` is the worker's stack at that moment."""

    pool_id: int
    task: str
    worker_id: int | None
    thread_name: str
    started_at: float
    running_for: float
    seen_at: str  # "shutdown" or "end of profile"
    stack: str


@dataclass
class Timeline:
    """Everything the recorder kept, as plain data: what the trace, report and summary read."""

    pools: list[PoolRecord] = field(default_factory=list)
    workers: list[WorkerRecord] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    running: list[RunningTask] = field(default_factory=list)
    dropped: int = 0
    capacity: int = DEFAULT_CAPACITY
    stuck_after: float = DEFAULT_STUCK_AFTER
    pool_instances: dict[str, int] = field(default_factory=dict)

    def pool(self, pool_id: int) -> PoolRecord:
        """The record of pool ``pool_id`` (KeyError if unknown)."""
        for record in self.pools:
            if record.pool_id == pool_id:
                return record
        raise KeyError(pool_id)

    def counts(self, pool_id: int | None = None) -> dict[str, int]:
        """Number of spans per outcome, every outcome present (0 when none)."""
        result = dict.fromkeys(OUTCOMES, 0)
        for span in self.spans:
            if pool_id is None or span.pool_id == pool_id:
                result[span.outcome] += 1
        return result

    # The trace file carries this dict (see profiler/trace.py), so `tpe-insight report` rebuilds
    # exactly the timeline that was recorded.
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; :meth:`from_dict` inverts it exactly."""
        return {
            "pools": [
                [p.pool_id, p.label, p.max_workers, p.created_at, p.shutdown_at] for p in self.pools
            ],
            "workers": [
                [w.worker_id, w.pool_id, w.thread_name, w.started_at] for w in self.workers
            ],
            "spans": [
                [
                    s.pool_id,
                    s.task,
                    s.outcome,
                    s.submitted_at,
                    s.started_at,
                    s.ended_at,
                    s.cpu_seconds,
                    s.worker_id,
                    s.submitter,
                    s.exception,
                    s.message,
                ]
                for s in self.spans
            ],
            "running": [
                [
                    r.pool_id,
                    r.task,
                    r.worker_id,
                    r.thread_name,
                    r.started_at,
                    r.running_for,
                    r.seen_at,
                    r.stack,
                ]
                for r in self.running
            ],
            "dropped": self.dropped,
            "capacity": self.capacity,
            "stuck_after": self.stuck_after,
            "pool_instances": dict(self.pool_instances),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        """Rebuild a timeline from :meth:`to_dict` output; ValueError if it is malformed."""
        try:
            return cls(
                pools=[
                    PoolRecord(int(p[0]), str(p[1]), int(p[2]), p[3], p[4]) for p in data["pools"]
                ],
                workers=[
                    WorkerRecord(int(w[0]), int(w[1]), str(w[2]), float(w[3]))
                    for w in data["workers"]
                ],
                spans=[Span(*s) for s in data["spans"]],
                running=[RunningTask(*r) for r in data["running"]],
                dropped=int(data["dropped"]),
                capacity=int(data["capacity"]),
                stuck_after=float(data["stuck_after"]),
                pool_instances={str(k): int(v) for k, v in data["pool_instances"].items()},
            )
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise ValueError(f"malformed timeline: {type(exc).__name__}: {exc}") from None


# -- the recorder -------------------------------------------------------------------------------


class Recorder(Sink):
    """A sink that records task spans, worker births and pool shutdowns.

    Attach it to every pool created from now on with :meth:`attach` (what :func:`profile`
    does), or to one pool with ``ThreadPoolExecutor(sinks=[recorder])``. Read it with
    :meth:`snapshot` at any time, from any thread.
    """

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, *, stuck_after: float = DEFAULT_STUCK_AFTER
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        if not stuck_after >= 0:
            raise ValueError(f"stuck_after must be >= 0 seconds, got {stuck_after!r}")
        self.capacity = capacity
        self.stuck_after = float(stuck_after)
        # Span tuples: (task, outcome, submitted_at, started_at, ended_at, cpu, worker_id,
        # submitter_ident, exception, message). Tuples, not Span objects: one allocation.
        self._spans: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=capacity)
        self._span_count = itertools.count()
        self._span_count_reads = 0
        # (task, submitted_at, submitter_ident): for the submitting thread when the core does
        # not pass it to task_started, and for the submit time of tasks that never ran.
        self._submits: collections.deque[tuple[TaskInfo, float, int]] = collections.deque(
            maxlen=capacity
        )
        # worker ident -> (task, submitted_at, started_at, submitter_ident), while it runs.
        self._running: dict[int, tuple[TaskInfo, float, float, int | None]] = {}
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
        global_sinks.add(self)

    def detach(self) -> None:
        """Stop attaching to new pools; pools that have the recorder keep reporting to it."""
        global_sinks.remove(self)

    # -- hooks: per pool --

    def pool_created(self, pool: PoolInfo) -> None:
        """Remember the pool (bounded) and count instances per label for the per-call lint."""
        with self._lock:
            self._pools[pool.pool_id] = pool
            self._instances[pool.label] += 1
            if len(self._pools) > MAX_POOL_RECORDS:
                del self._pools[next(iter(self._pools))]

    def worker_started(self, pool: PoolInfo, thread_name: str) -> None:
        """Runs in the new worker: bind its thread ident to a fresh worker id."""
        worker_id = next(self._worker_ids)
        self._worker_of[_get_ident()] = worker_id
        self._workers.append(WorkerRecord(worker_id, pool.pool_id, thread_name, pool.clock()))

    def pool_shutdown(self, pool: PoolInfo, wait: bool, cancel_futures: bool) -> None:
        """Mark the shutdown; with ``wait=False``, note the pool's tasks still running."""
        with self._lock:
            self._shutdowns[pool.pool_id] = pool.clock()
            # Bounded like the pools themselves: a program that makes a pool per request
            # would otherwise grow this dict by one entry per request, forever.
            if len(self._shutdowns) > MAX_POOL_RECORDS:
                del self._shutdowns[next(iter(self._shutdowns))]
        if not wait:
            self._note_running(pool.pool_id, "shutdown", 0.0)

    # -- hooks: per task (the hot path) --

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        """Runs in the submitting thread: remember who submitted (name resolved lazily)."""
        ident = _get_ident()
        self._submits.append((task, submitted_at, ident))
        if ident not in self._thread_names:
            self._thread_names[ident] = threading.current_thread().name

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int | None = None
    ) -> None:
        """Runs in the worker. ``submitter`` is optional: the first core release did not pass
        it, and the submit record then supplies it at snapshot time."""
        self._running[_get_ident()] = (task, submitted_at, started_at, submitter)

    def task_finished(
        self,
        task: TaskInfo,
        started_at: float,
        ended_at: float,
        cpu_seconds: float,
        exc: BaseException | None,
    ) -> None:
        """Runs in the worker, right after the task: close its span."""
        ident = _get_ident()
        running = self._running.pop(ident, None)
        submitted_at = submitter = None
        if running is not None:
            submitted_at, submitter = running[1], running[3]
        if exc is None:
            self._spans.append(
                (
                    task,
                    SUCCESS,
                    submitted_at,
                    started_at,
                    ended_at,
                    cpu_seconds,
                    self._worker_of.get(ident),
                    submitter,
                    None,
                    None,
                )
            )
        else:
            name, message = _describe(exc)
            self._spans.append(
                (
                    task,
                    ERROR,
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

    def task_not_run(self, task: TaskInfo, cancelled: bool, exc: BaseException | None) -> None:
        """A task ended without running (cancelled while queued, or its pool broke)."""
        name = message = None
        if exc is not None:
            name, message = _describe(exc)
        self._spans.append(
            (
                task,
                CANCELLED if cancelled else NOT_RUN,
                None,
                None,
                task.pool.clock(),
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
        submits = _copy(self._submits)
        self._note_running(None, "end of profile", self.stuck_after)
        thread_names = dict(self._thread_names)

        # Submitter and submit time for spans that lack them: match the submit records of the
        # same task object in order. Exact when the core passes `submitter` (fixed core), a
        # first-in-first-out guess for cancelled tasks (whose hook carries no submit time).
        by_key: dict[tuple[int, float], collections.deque[int]] = {}
        by_task: dict[int, collections.deque[tuple[float, int]]] = {}
        for task, submitted_at, ident in submits:
            by_key.setdefault((id(task), submitted_at), collections.deque()).append(ident)
        pools: dict[int, PoolInfo] = dict(self._pools)
        spans: list[Span] = []
        unmatched: list[tuple[int, tuple[Any, ...]]] = []
        for index, raw in enumerate(spans_raw):
            pool: PoolInfo = raw[0].pool
            pools.setdefault(pool.pool_id, pool)
            submitted_at, submitter = raw[2], raw[7]
            if submitted_at is not None:
                idents = by_key.get((id(raw[0]), submitted_at))
                ident = idents.popleft() if idents else None
                if submitter is None:
                    submitter = ident
            else:
                unmatched.append((index, raw))
            spans.append(_span(raw, submitted_at, thread_names.get(submitter or -1)))
        if unmatched:
            for (task_id, submitted_at), idents in by_key.items():
                for ident in idents:
                    by_task.setdefault(task_id, collections.deque()).append((submitted_at, ident))
            for queue in by_task.values():
                sorted_queue = sorted(queue)
                queue.clear()
                queue.extend(sorted_queue)
            for index, raw in unmatched:
                candidates = by_task.get(id(raw[0]))
                if candidates:
                    submitted_at, ident = candidates.popleft()
                    spans[index] = _span(raw, submitted_at, thread_names.get(ident))

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

    def _note_running(self, pool_id: int | None, seen_at: str, older_than: float) -> None:
        """Record the tasks running now (of one pool, or all) with their workers' stacks."""
        running = list(self._running.items())
        if not running:
            return
        frames = sys._current_frames()
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, (task, _submitted_at, started_at, _submitter) in running:
            if pool_id is not None and task.pool.pool_id != pool_id:
                continue
            running_for = task.pool.clock() - started_at
            if running_for < older_than:
                continue
            frame = frames.get(ident)
            stack = _task_stack(frame) if frame is not None else ""
            self._seen_running.append(
                RunningTask(
                    task.pool.pool_id,
                    task.name,
                    self._worker_of.get(ident),
                    names.get(ident, f"thread {ident}"),
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
        if entry.name.startswith("_run_task") and entry.filename.endswith(
            ("tpe_insight/executor.py", "tpe_insight\\executor.py")
        ):
            summary = traceback.StackSummary.from_list(summary[index + 1 :])
            break
    return "".join(summary.format())


def _describe(exc: BaseException) -> tuple[str, str | None]:
    """Class label and a capped, one-line message (failure path only)."""
    try:
        message: str | None = naming.clean(str(exc), MAX_MESSAGE_LENGTH)
    except Exception:  # a hostile __str__ must not cost the span
        message = None
    return naming.exception_label(exc), message


def _span(raw: tuple[Any, ...], submitted_at: float | None, submitter: str | None) -> Span:
    task: TaskInfo = raw[0]
    return Span(
        pool_id=task.pool.pool_id,
        task=task.name,
        outcome=raw[1],
        submitted_at=submitted_at,
        started_at=raw[3],
        ended_at=raw[4],
        cpu_seconds=raw[5],
        worker_id=raw[6],
        submitter=submitter,
        exception=raw[8],
        message=raw[9],
    )


def _copy(items: collections.deque[Any]) -> list[Any]:
    """``list(deque)`` retried if another thread appended mid-copy (it is one C loop under the
    GIL, so a retry is rare insurance, e.g. for free-threaded builds)."""
    for _ in range(100):
        with contextlib.suppress(RuntimeError):
            return list(items)
    return list(items)


# -- profile(): the user-facing start/stop object -------------------------------------------------


class Profile:
    """Records every instrumented pool created between :meth:`start` and :meth:`stop`.

    ``patch_stdlib=True`` also applies :func:`tpe_insight.install` for the duration, so pools
    created through ``concurrent.futures.ThreadPoolExecutor`` are recorded too (what
    ``tpe-insight run`` does).
    """

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        *,
        stuck_after: float = DEFAULT_STUCK_AFTER,
        patch_stdlib: bool = False,
    ) -> None:
        self.recorder = Recorder(capacity, stuck_after=stuck_after)
        self.patch_stdlib = patch_stdlib
        self._timeline: Timeline | None = None
        self._patched = False
        self._active = False

    def start(self) -> Profile:
        """Begin recording pools created from now on. Returns self."""
        if self._active:
            raise RuntimeError("profile already started")
        if self.patch_stdlib:
            install()  # calls nest: our uninstall() in stop() undoes only this one
            self._patched = True
        self.recorder.attach()
        self._active = True
        self._timeline = None
        return self

    def stop(self) -> Timeline:
        """Stop attaching to new pools and freeze the timeline (pools already recorded keep
        reporting to the recorder, but the frozen timeline no longer changes)."""
        if self._active:
            self.recorder.detach()
            if self._patched:
                uninstall()
                self._patched = False
            self._active = False
            self._timeline = self.recorder.snapshot()
        if self._timeline is None:
            self._timeline = self.recorder.snapshot()
        return self._timeline

    @property
    def timeline(self) -> Timeline:
        """The frozen timeline after :meth:`stop`, a fresh snapshot while running."""
        if self._timeline is not None:
            return self._timeline
        return self.recorder.snapshot()

    def summary(self) -> str:
        """The terminal summary (headline numbers, per-task table, what-if, lints)."""
        # The outputs import this module; importing them lazily avoids the cycle.
        from tpe_insight.profiler.summary import render_summary  # noqa: PLC0415

        return render_summary(self.timeline)

    def write_trace(self, path: str | Path) -> Path:
        """Write the Chrome/Perfetto trace JSON; return the path."""
        # The outputs import this module; importing them lazily avoids the cycle.
        from tpe_insight.profiler.trace import write_trace  # noqa: PLC0415

        return write_trace(self.timeline, Path(path))

    def write_report(self, path: str | Path) -> Path:
        """Write the self-contained HTML report; return the path."""
        # The outputs import this module; importing them lazily avoids the cycle.
        from tpe_insight.profiler.report import write_report  # noqa: PLC0415

        return write_report(self.timeline, Path(path))

    def __enter__(self) -> Profile:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def profile(
    capacity: int = DEFAULT_CAPACITY,
    *,
    stuck_after: float = DEFAULT_STUCK_AFTER,
    patch_stdlib: bool = False,
) -> Profile:
    """Record the pools created in a ``with`` block (or between ``start()`` and ``stop()``).

    ``capacity`` bounds the spans kept (the oldest are dropped and counted);
    ``stuck_after`` is the age in seconds past which a still-running task is reported as stuck.
    """
    return Profile(capacity, stuck_after=stuck_after, patch_stdlib=patch_stdlib)


def iter_pool_spans(timeline: Timeline, pool_id: int) -> Iterator[Span]:
    """The spans of one pool instance, in recorded order."""
    return (s for s in timeline.spans if s.pool_id == pool_id)

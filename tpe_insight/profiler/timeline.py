"""The profiler's data model: what a recorded run is, as plain frozen data.

A :class:`Timeline` holds pool records, worker births, one :class:`Span` per task and the tasks
still running when it was read. Everything the profiler outputs (trace, report, summary,
what-if, lints) reads a timeline, and nothing else: the recorder
(:mod:`tpe_insight.profiler.recorder`) builds one, :func:`Timeline.from_dict` rebuilds one from a
trace file, tests make one by hand. It imports no other part of the profiler but the plain-data
aggregates (:mod:`tpe_insight.profiler.aggregate`: the exact totals a timeline carries beside
its sample of spans).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tpe_insight.profiler.aggregate import PoolActivity, SampleRule, TaskTotals
from tpe_insight.typing import ALL_OUTCOMES, CANCELLED, ERROR, NOT_RUN, SUCCESS, SpanOutcome

__all__ = [
    "ALL_OUTCOMES",
    "CANCELLED",
    "DEFAULT_CAPACITY",
    "DEFAULT_STUCK_AFTER",
    "ERROR",
    "NOT_RUN",
    "SUCCESS",
    "MachineWindow",
    "PoolRecord",
    "RunningTask",
    "Span",
    "Timeline",
    "WorkerRecord",
    "span_tuple",
]

#: Spans kept with per-span detail by default (the sample, see
#: :class:`~tpe_insight.profiler.aggregate.SampleRule`): about 1 KB each in trace.json (a few
#: MB), and post-processing stays well under a second. Totals and percentiles cover every span
#: whatever the capacity.
DEFAULT_CAPACITY = 6_000

#: A task still running this many seconds after it started, when the profile is read, is
#: reported as stuck (with its worker's stack). Long enough that ordinary slow I/O is not flagged.
DEFAULT_STUCK_AFTER = 10.0

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
    #: The OS thread id (``threading.get_native_id``) and the seconds the thread had waited on
    #: a run queue when it started (Linux schedstat; None elsewhere): see profiler/schedstat.py.
    native_id: int | None = None
    run_queue_at_start: float | None = None


@dataclass(frozen=True)
class MachineWindow:
    """What the machine's other processes used of the process's CPUs while one pool was active:
    from its first worker's start to its last worker's end (or the profile's end), on the pool's
    clock. Linux only (``/proc/stat``, see profiler/machine.py); the model reads it as the CPU a
    server on this machine may have spent on the pool's tasks."""

    started_at: float
    ended_at: float
    #: CPU seconds the machine's other processes used of our CPUs in the window (machine busy
    #: time on the affinity CPUs minus this process's own CPU time).
    other_cpu_seconds: float
    #: This process's CPU seconds in the window (every thread, not only the pool's).
    own_cpu_seconds: float
    #: CPUs counted (the affinity CPUs) and seconds per clock tick (each CPU's busy time is
    #: known to one tick per reading).
    cpus: int
    resolution: float

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


@dataclass(frozen=True)
class Span:
    """One task's life. Times are seconds on the pool's clock.

    ``submitted_at`` is None only when the submit record was dropped by the ring;
    ``started_at`` is None for tasks that never ran (``cancelled`` / ``not_run``), whose
    ``ended_at`` is when they were cancelled or failed.
    """

    pool_id: int
    task: str
    outcome: SpanOutcome
    submitted_at: float | None
    started_at: float | None
    ended_at: float
    cpu_seconds: float
    worker_id: int | None
    submitter: str | None
    exception: str | None = None
    message: str | None = None
    #: The worker (``WorkerRecord.worker_id``) whose thread submitted the task, when a pool's
    #: worker did (a task submitted from inside a task); None for other threads. The model
    #: replays such a task after its parent (see profiler/model.py).
    submitter_worker: int | None = None

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
    #: ``"Future.result"`` / ``"wait"`` / ``"as_completed"`` when the task's innermost frames
    #: are blocked in ``concurrent.futures`` waiting for a future; None otherwise.
    blocked_in: str | None = None
    #: Tasks of the same pool running at that moment (including this one).
    pool_running: int = 0
    #: Tasks of the same pool submitted from this task's thread and still queued.
    queued_children: tuple[str, ...] = ()


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
    #: CPU cores available to the process when the timeline was read (affinity mask).
    cores: int | None = None
    #: worker_id -> seconds waited on a run queue at the worker's last reading (its thread's
    #: exit, or the end of the profile). With ``WorkerRecord.run_queue_at_start`` it gives each
    #: worker's run-queue delay over its life; absent where the OS does not say.
    run_queue_at_end: dict[int, float] = field(default_factory=dict)
    #: Exact totals per (pool, task) over every span recorded, including those without
    #: per-span detail. None for a timeline made by hand: the totals are then those of ``spans``.
    totals: list[TaskTotals] | None = None
    #: Per pool: binned queue depth / busy workers over every span (None: derive from spans).
    activity: dict[int, PoolActivity] | None = None
    #: Which spans kept their detail (None: all of them).
    sample_rule: SampleRule | None = None
    #: pool_id -> what other processes used of our CPUs while the pool was active (Linux
    #: ``/proc/stat``); absent where the OS does not say.
    machine: dict[int, MachineWindow] = field(default_factory=dict)

    def pool(self, pool_id: int) -> PoolRecord:
        """The record of pool ``pool_id`` (KeyError if unknown)."""
        for record in self.pools:
            if record.pool_id == pool_id:
                return record
        raise KeyError(pool_id)

    @property
    def recorded(self) -> int:
        """Spans recorded, with or without per-span detail."""
        return len(self.spans) + self.dropped

    def task_totals(self) -> list[TaskTotals]:
        """Exact totals per (pool, task): the recorder's, or computed from ``spans``."""
        if self.totals is not None:
            return self.totals
        by_key: dict[tuple[int, str], TaskTotals] = {}
        for span in self.spans:
            key = (span.pool_id, span.task)
            totals = by_key.get(key)
            if totals is None:
                totals = by_key[key] = TaskTotals(span.pool_id, span.task)
            totals.add(span_tuple(span))
        return list(by_key.values())

    def pool_activity(self, pool_id: int) -> PoolActivity | None:
        """The recorder's activity bins of one pool, or None (hand-made timeline, or a pool
        with no span)."""
        return None if self.activity is None else self.activity.get(pool_id)

    def counts(self, pool_id: int | None = None) -> dict[str, int]:
        """Number of tasks per outcome over every span recorded, every outcome present."""
        result: dict[str, int] = dict.fromkeys(ALL_OUTCOMES, 0)
        for totals in self.task_totals():
            if pool_id is None or totals.pool_id == pool_id:
                for outcome, n in totals.counts.items():
                    result[outcome] = result.get(outcome, 0) + n
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
                [
                    w.worker_id,
                    w.pool_id,
                    w.thread_name,
                    w.started_at,
                    w.native_id,
                    w.run_queue_at_start,
                ]
                for w in self.workers
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
                    s.submitter_worker,
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
                    r.blocked_in,
                    r.pool_running,
                    list(r.queued_children),
                ]
                for r in self.running
            ],
            "dropped": self.dropped,
            "capacity": self.capacity,
            "stuck_after": self.stuck_after,
            "pool_instances": dict(self.pool_instances),
            "cores": self.cores,
            "run_queue_at_end": {str(k): v for k, v in self.run_queue_at_end.items()},
            "totals": None if self.totals is None else [t.to_dict() for t in self.totals],
            "activity": None
            if self.activity is None
            else [[pool_id, a.to_dict()] for pool_id, a in self.activity.items()],
            "sample_rule": None if self.sample_rule is None else self.sample_rule.to_dict(),
            "machine": [
                [
                    pool_id,
                    m.started_at,
                    m.ended_at,
                    m.other_cpu_seconds,
                    m.own_cpu_seconds,
                    m.cpus,
                    m.resolution,
                ]
                for pool_id, m in self.machine.items()
            ],
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
                    WorkerRecord(
                        int(w[0]),
                        int(w[1]),
                        str(w[2]),
                        float(w[3]),
                        *_optional_numbers(w[4:6], (int, float)),
                    )
                    for w in data["workers"]
                ],
                spans=[Span(*s) for s in data["spans"]],
                running=[_running_from_list(r) for r in data["running"]],
                dropped=int(data["dropped"]),
                capacity=int(data["capacity"]),
                stuck_after=float(data["stuck_after"]),
                pool_instances={str(k): int(v) for k, v in data["pool_instances"].items()},
                cores=None if data.get("cores") is None else int(data["cores"]),
                run_queue_at_end={
                    int(k): float(v) for k, v in data.get("run_queue_at_end", {}).items()
                },
                totals=None
                if data.get("totals") is None
                else [TaskTotals.from_dict(t) for t in data["totals"]],
                activity=None
                if data.get("activity") is None
                else {int(p): PoolActivity.from_dict(a) for p, a in data["activity"]},
                sample_rule=None
                if data.get("sample_rule") is None
                else SampleRule.from_dict(data["sample_rule"]),
                machine={
                    int(m[0]): MachineWindow(
                        float(m[1]), float(m[2]), float(m[3]), float(m[4]), int(m[5]), float(m[6])
                    )
                    for m in data.get("machine", [])
                },
            )
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise ValueError(f"malformed timeline: {type(exc).__name__}: {exc}") from None


def _optional_numbers(values: list[Any], kinds: tuple[type, type]) -> list[Any]:
    """The optional trailing worker fields (older traces lack them): int id, float seconds."""
    result: list[Any] = []
    for value, kind in zip(values, kinds, strict=False):
        result.append(None if value is None else kind(value))
    return result


def _running_from_list(row: list[Any]) -> RunningTask:
    """A RunningTask from its list form; the nested-wait fields are optional (older traces)."""
    extra = row[8:]
    return RunningTask(
        int(row[0]),
        str(row[1]),
        None if row[2] is None else int(row[2]),
        str(row[3]),
        float(row[4]),
        float(row[5]),
        str(row[6]),
        str(row[7]),
        extra[0] if len(extra) > 0 else None,
        int(extra[1]) if len(extra) > 1 else 0,
        tuple(str(c) for c in extra[2]) if len(extra) > 2 else (),
    )


def span_tuple(span: Span) -> tuple[Any, ...]:
    """A span in the recorder's raw tuple layout (what the aggregates fold)."""
    return (
        None,
        span.outcome,
        span.submitted_at,
        span.started_at,
        span.ended_at,
        span.cpu_seconds,
        span.worker_id,
        span.submitter,
        span.exception,
        span.message,
    )

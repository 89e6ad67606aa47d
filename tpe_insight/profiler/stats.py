"""The numbers every output shows, computed once from a recorded
:class:`~tpe_insight.profiler.timeline.Timeline`.

Summary, HTML report and lints all read an :class:`Analysis`, so the terminal and the report can
never disagree. Everything here is exact (computed from the spans, not from histogram buckets).

Definitions (per pool instance):

* **wall**: first submit to last end of the tasks that ran;
* **Σ run**: the sum of the run times (never divided by the wall for a "speedup": for work that
  competes for the CPU that double-counts the waits; the speedup is the model's);
* **utilisation**: Σ run ÷ (``max_workers`` x wall);
* **CPU share**: thread CPU seconds ÷ run seconds; near 1 the tasks computed, near 0 they waited.
* **core load**: thread CPU seconds ÷ the time at least one task was running: how many CPU cores
  the pool kept busy while it had work.

Why both: when several threads run pure-Python code, each task's run time includes the time it
waits for the GIL, so its CPU share falls to about 1/k on k busy workers and the work *looks*
I/O-bound. The pool as a whole still keeps about one core busy, and that is what core load
shows. The verdict is CPU-bound when either measure says so.

Every claim the outputs show (work type, serial time, speedup vs serial, what-if) comes from the
model, ``PoolStats.model`` (:mod:`tpe_insight.profiler.model`), for every pool: a sampled one is
modelled from its exact totals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tpe_insight.profiler.aggregate import LogHistogram, TaskTotals
from tpe_insight.profiler.model import PoolModel, model_pool
from tpe_insight.profiler.timeline import ALL_OUTCOMES, PoolRecord, Span, Timeline
from tpe_insight.typing import CPU_BOUND, IO_BOUND, MIXED, NO_VERDICT

__all__ = [
    "CPU_BOUND_SHARE",
    "IO_BOUND_SHARE",
    "VERDICT_MIN_RUN_SECONDS",
    "Analysis",
    "Distribution",
    "PoolStats",
    "TaskStats",
    "analyse",
    "busy_seconds",
    "counter_series",
    "measured_wall",
    "percentile",
    "verdict",
]

#: CPU share at or above which work is called CPU-bound: the GIL lets one thread run Python
#: bytecode at a time, so threads cannot speed such work up (the talk's first lesson).
CPU_BOUND_SHARE = 0.7

#: CPU share at or below which work is called I/O-bound: threads overlap the waits.
IO_BOUND_SHARE = 0.3

#: Least total run time (seconds) for a verdict: the thread-CPU clock is coarse, and a few
#: microsecond tasks are mostly the interpreter's own overhead, whatever the work is.
VERDICT_MIN_RUN_SECONDS = 0.01


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between closest ranks; NaN if empty."""
    if not sorted_values:
        return math.nan
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass(frozen=True)
class Distribution:
    """Percentiles of a set of durations (seconds)."""

    count: int
    total: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution:
        ordered = sorted(values)
        return cls(
            count=len(ordered),
            total=math.fsum(ordered),
            p50=percentile(ordered, 0.5),
            p95=percentile(ordered, 0.95),
            p99=percentile(ordered, 0.99),
            max=ordered[-1] if ordered else math.nan,
        )

    @classmethod
    def of_histogram(cls, histogram: LogHistogram) -> Distribution:
        """From streaming totals: count, total and max exact, percentiles within
        :data:`~tpe_insight.profiler.aggregate.RELATIVE_ERROR` (used when the timeline kept
        only a sample of the spans)."""
        return cls(
            count=histogram.count,
            total=histogram.total,
            p50=histogram.quantile(0.5),
            p95=histogram.quantile(0.95),
            p99=histogram.quantile(0.99),
            max=histogram.max if histogram.count else math.nan,
        )


def verdict(cpu_share: float, core_load: float = math.nan) -> str:
    """``I/O-bound``, ``CPU-bound``, ``mixed`` or ``-`` (nothing ran).

    CPU-bound when the tasks' CPU share, or the pool's core load (see the module docstring), is
    at least :data:`CPU_BOUND_SHARE`; I/O-bound when both are at most :data:`IO_BOUND_SHARE`.
    """
    if math.isnan(cpu_share):
        return NO_VERDICT
    load = 0.0 if math.isnan(core_load) else core_load
    if cpu_share >= CPU_BOUND_SHARE or load >= CPU_BOUND_SHARE:
        return CPU_BOUND
    if cpu_share <= IO_BOUND_SHARE and load <= IO_BOUND_SHARE:
        return IO_BOUND
    return MIXED


def busy_seconds(spans: Iterable[Span]) -> float:
    """Length of the union of the run intervals: the time at least one task was running."""
    intervals = sorted((s.started_at, s.ended_at) for s in spans if s.started_at is not None)
    total = 0.0
    current_start = current_end = -math.inf
    for start, end in intervals:
        if start > current_end:
            if current_end > current_start:
                total += current_end - current_start
            current_start, current_end = start, end
        elif end > current_end:
            current_end = end
    if current_end > current_start:
        total += current_end - current_start
    return total


@dataclass
class TaskStats:
    """One task label (within one pool label, or one pool instance)."""

    pool: str
    task: str
    counts: dict[str, int]
    wait: Distribution
    run: Distribution
    cpu_seconds: float
    #: Exception class -> number of failures, over every recorded span.
    exceptions: dict[str, int] = field(default_factory=dict)

    @property
    def cpu_share(self) -> float:
        return self.cpu_seconds / self.run.total if self.run.total > 0 else math.nan


class _Shares:
    """CPU share, core load and the verdict, for anything with run, CPU and busy totals."""

    run_total: float
    cpu_total: float
    busy: float

    @property
    def cpu_share(self) -> float:
        return self.cpu_total / self.run_total if self.run_total > 0 else math.nan

    @property
    def core_load(self) -> float:
        """CPU cores kept busy while at least one task ran."""
        return self.cpu_total / self.busy if self.busy > 0 else math.nan

    @property
    def verdict(self) -> str:
        if self.run_total < VERDICT_MIN_RUN_SECONDS:
            return "-"
        return verdict(self.cpu_share, self.core_load)


@dataclass
class PoolStats(_Shares):
    """One pool instance."""

    record: PoolRecord
    counts: dict[str, int]
    wall: float
    run_total: float
    cpu_total: float
    wait: Distribution
    run: Distribution
    workers_started: int
    peak_busy: int
    peak_queued: int
    tasks: list[TaskStats] = field(default_factory=list)
    busy: float = 0.0
    #: True when the timeline kept only a sample of this pool's spans: the totals and
    #: percentiles are still over every span, peaks come from the activity bins, and the model
    #: reads the totals (it cannot replay a sample: its what-if is a range).
    sampled: bool = False
    #: The model's claims (work type, serial time, speedup, what-if): profiler/model.py, the
    #: one source of every claim and prediction the outputs show. None only for a PoolStats
    #: made by hand.
    model: PoolModel | None = None

    @property
    def tasks_total(self) -> int:
        return sum(self.counts.values())

    @property
    def utilisation(self) -> float:
        if self.wall <= 0 or self.record.max_workers <= 0:
            return math.nan
        return self.run_total / (self.record.max_workers * self.wall)


@dataclass
class Analysis(_Shares):
    """Everything the outputs show."""

    timeline: Timeline
    pools: list[PoolStats]
    tasks: list[TaskStats]
    wall: float
    run_total: float
    cpu_total: float
    busy: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        return self.timeline.counts()


def counter_series(spans: Iterable[Span]) -> list[tuple[float, int, int]]:
    """``(time, queued, busy)`` after each change, for one pool's spans, in time order.

    At equal times, departures are applied before arrivals, so a task that starts the instant
    another ends does not count as a second busy worker.
    """
    deltas: list[tuple[float, int, int, int]] = []  # (time, order, d_queued, d_busy)
    for span in spans:
        if span.submitted_at is not None:
            deltas.append((span.submitted_at, 1, 1, 0))
        if span.started_at is not None:
            if span.submitted_at is not None:
                deltas.append((span.started_at, 0, -1, 0))
            deltas.append((span.started_at, 1, 0, 1))
            deltas.append((span.ended_at, 0, 0, -1))
        elif span.submitted_at is not None:
            deltas.append((span.ended_at, 0, -1, 0))
    deltas.sort(key=lambda d: (d[0], d[1]))
    series: list[tuple[float, int, int]] = []
    queued = busy = 0
    for time, _order, d_queued, d_busy in deltas:
        queued += d_queued
        busy += d_busy
        if series and series[-1][0] == time:
            series[-1] = (time, queued, busy)
        else:
            series.append((time, queued, busy))
    return series


def _merged(totals: Iterable[TaskTotals], pool_id: int, task: str) -> TaskTotals:
    merged = TaskTotals(pool_id, task)
    for item in totals:
        merged.merge(item)
    return merged


def _task_stats(pool: str, totals: TaskTotals, spans: list[Span] | None) -> TaskStats:
    """One task label's numbers: exact from ``spans`` when the timeline kept every one of them
    (``spans`` given), else from the streaming totals."""
    if spans is not None:
        ran = [s for s in spans if s.started_at is not None]
        wait = Distribution.of(w for s in ran if (w := s.queue_wait) is not None)
        run = Distribution.of(s.run_seconds for s in ran)
        cpu = math.fsum(s.cpu_seconds for s in ran)
    else:
        wait = Distribution.of_histogram(totals.wait)
        run = Distribution.of_histogram(totals.run)
        cpu = totals.cpu_seconds
    counts: dict[str, int] = dict.fromkeys(ALL_OUTCOMES, 0)
    counts.update(totals.counts)
    return TaskStats(
        pool=pool,
        task=totals.task,
        counts=counts,
        wait=wait,
        run=run,
        cpu_seconds=cpu,
        exceptions=dict(sorted(totals.exceptions.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def measured_wall(spans: Iterable[Span]) -> float:
    """The recorded wall time of the tasks that ran: first submit to last end."""
    jobs = [s for s in spans if s.started_at is not None]
    if not jobs:
        return 0.0
    first = min(s.submitted_at if s.submitted_at is not None else s.ended_at for s in jobs)
    return max(s.ended_at for s in jobs) - first


def analyse(timeline: Timeline) -> Analysis:
    """Compute every number the summary, report and lints show.

    Counts, sums, exception classes and percentiles cover every recorded span (the recorder's
    streaming totals); where the timeline holds every span of a pool or task, the percentiles,
    busy time and peaks are computed exactly from the spans instead.
    """
    by_pool: dict[int, list[Span]] = {}
    for span in timeline.spans:
        by_pool.setdefault(span.pool_id, []).append(span)
    totals_by_pool: dict[int, dict[str, TaskTotals]] = {}
    for totals in timeline.task_totals():
        per_task = totals_by_pool.setdefault(totals.pool_id, {})
        if totals.task in per_task:  # cannot happen from the recorder; merge to be safe
            per_task[totals.task].merge(totals)
        else:
            per_task[totals.task] = totals.copy()
    workers_per_pool: dict[int, int] = {}
    for worker in timeline.workers:
        workers_per_pool[worker.pool_id] = workers_per_pool.get(worker.pool_id, 0) + 1
    labels = {p.pool_id: p.label for p in timeline.pools}

    pools: list[PoolStats] = []
    for record in timeline.pools:
        spans = by_pool.get(record.pool_id, [])
        per_task = totals_by_pool.get(record.pool_id, {})
        pool_totals = _merged(per_task.values(), record.pool_id, "")
        complete = pool_totals.total == len(spans)
        task_groups: dict[str, list[Span]] = {}
        for span in spans:
            task_groups.setdefault(span.task, []).append(span)
        task_stats = []
        for name, totals in sorted(per_task.items()):
            group = task_groups.get(name, [])
            task_stats.append(
                _task_stats(record.label, totals, group if totals.total == len(group) else None)
            )
        counts: dict[str, int] = dict.fromkeys(ALL_OUTCOMES, 0)
        counts.update(pool_totals.counts)
        ran = [s for s in spans if s.started_at is not None]
        activity = timeline.pool_activity(record.pool_id)
        if complete or activity is None:
            series = counter_series(spans)
            peak_queued = max((q for _, q, _ in series), default=0)
            peak_busy = max((b for _, _, b in series), default=0)
            wall = measured_wall(ran)
            run_total = math.fsum(s.run_seconds for s in ran)
            cpu_total = math.fsum(s.cpu_seconds for s in ran)
            wait = Distribution.of(w for s in ran if (w := s.queue_wait) is not None)
            run = Distribution.of(s.run_seconds for s in ran)
            busy = busy_seconds(ran)
        else:
            binned = activity.series()
            peak_queued = math.ceil(max((q for _, q, _ in binned), default=0.0) - 1e-9)
            peak_busy = math.ceil(max((b for _, _, b in binned), default=0.0) - 1e-9)
            wall = max(0.0, pool_totals.last_end - pool_totals.first_submit)
            run_total = pool_totals.run.total
            cpu_total = pool_totals.cpu_seconds
            wait = Distribution.of_histogram(pool_totals.wait)
            run = Distribution.of_histogram(pool_totals.run)
            busy = activity.busy_seconds
        pools.append(
            PoolStats(
                record=record,
                counts=counts,
                wall=wall,
                run_total=run_total,
                cpu_total=cpu_total,
                wait=wait,
                run=run,
                workers_started=workers_per_pool.get(record.pool_id, 0),
                peak_busy=peak_busy,
                peak_queued=peak_queued,
                tasks=task_stats,
                busy=busy,
                sampled=not complete,
                model=model_pool(timeline, record, spans),
            )
        )

    label_task: dict[tuple[str, str], list[TaskTotals]] = {}
    for pool_id, per_task in totals_by_pool.items():
        for name, totals in per_task.items():
            label_task.setdefault((labels.get(pool_id, "?"), name), []).append(totals)
    label_spans: dict[tuple[str, str], list[Span]] = {}
    for span in timeline.spans:
        label_spans.setdefault((labels.get(span.pool_id, "?"), span.task), []).append(span)
    tasks = []
    for (pool, task), same_label in sorted(label_task.items()):
        merged = _merged(same_label, -1, task)
        spans_of = label_spans.get((pool, task), [])
        tasks.append(_task_stats(pool, merged, spans_of if merged.total == len(spans_of) else None))

    ran_all = [s for s in timeline.spans if s.started_at is not None]
    if timeline.dropped == 0:
        wall_all = measured_wall(ran_all)
        run_all = math.fsum(s.run_seconds for s in ran_all)
        cpu_all = math.fsum(s.cpu_seconds for s in ran_all)
        busy_all = busy_seconds(ran_all)
    else:
        everything = _merged(timeline.task_totals(), -1, "")
        wall_all = max(0.0, everything.last_end - everything.first_submit)
        run_all = everything.run.total
        cpu_all = everything.cpu_seconds
        # Pools overlap in time, and only each pool's own union is known: cap at the wall.
        busy_all = min(wall_all, sum(p.busy for p in pools))
    return Analysis(
        timeline=timeline,
        pools=pools,
        tasks=tasks,
        wall=wall_all,
        run_total=run_all,
        cpu_total=cpu_all,
        busy=busy_all,
    )

"""A model of one pool's run: what the work is, what it would cost serially, what more or fewer
workers would do. The profiler's *claims* come from here; ``docs/profiler-model.md`` documents
it (definition, assumptions, when it fails, a worked example the tests check).

The physics. Under concurrency a task's run time is

    run = its own CPU + waiting for a core + waiting for the GIL + real waiting (I/O, sleeps)

Thread CPU time gives the first term. Linux schedstat gives the second (per worker, spread over
its tasks in proportion to their CPU: the tasks that compute are the ones that queue for a
core). The last two both look like sleep to the OS; what tells them apart is the *pool's* CPU
rate: waiting for the GIL is only possible while another thread holds it, so a task's GIL wait
is at most the CPU the pool's other tasks used while it ran, and Python holding the GIL keeps
the pool at about one core however many tasks run. Hence three kinds of work:

* ``io``: CPU ≪ run; threads overlap the waits, nothing caps them but the pool;
* ``gil``: the pool sits at ~1 core while several tasks run and sleep, with cores to spare:
  the sleeping is GIL wait, the serial time is the CPU time, threads cannot help;
* ``cpu_parallel``: CPU in code that releases the GIL (SQLite, hashlib, zlib, numpy): the
  threads were on a core or runnable (waiting for one), not asleep, or they kept more than one
  core busy; threads help up to the cores available;
* ``mixed``: a real share of both CPU and waiting; ``unknown``: too little run time, or the
  recording cannot separate the explanations (one task at a time shows CPU but never whether it
  holds the GIL).

A server on this machine that the tasks wait on (a localhost database) is CPU on the same
cores that the spans do not show: from ``/proc/stat`` the model sees what the other processes
used while the pool ran and bounds how much of the waiting may have been that server queueing
for a core (:func:`local_peer`), widening the serial time's low end.

A loaded machine (another process on the cores) shows as run-queue delay, so it does not turn
CPU work into "I/O": the delay is core contention, removed from the serial estimate, and the
what-if gives the pool the share of the cores it got (Linux shares CPU per cgroup/autogroup
first, so more threads would not get more).

Everything here is a pure function of a :class:`~tpe_insight.profiler.timeline.Timeline`: tests
feed it hand-made spans and fake numbers.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from tpe_insight.profiler.aggregate import TaskTotals
from tpe_insight.profiler.timeline import MachineWindow, PoolRecord, Span, Timeline
from tpe_insight.typing import WorkType

__all__ = [
    "AFTER_WINDOW",
    "CLOSED_LOOP_SHARE",
    "MIN_RUN_SECONDS",
    "MODEL_STATEMENT",
    "RANGE_TOLERANCE",
    "Dependency",
    "Estimate",
    "LocalPeer",
    "PoolModel",
    "TaskWork",
    "WhatIf",
    "find_dependencies",
    "local_peer",
    "model_pool",
    "model_timeline",
    "simulate",
]

#: One line, printed with every claim (DESIGN.md, "What we tell a person", rule 1).
MODEL_STATEMENT = (
    "model: run = CPU + core wait (schedstat) + GIL wait (<= the pool's other CPU) + I/O; "
    "serial = CPU + I/O; GIL-bound CPU capped at 1 core, GIL-free at the cores available, "
    "I/O not capped; tasks submitted from a task or right after one ended replay after it"
)

#: Least total run time (seconds) for any claim: the thread-CPU clock is coarse and a few
#: microsecond tasks are mostly interpreter overhead.
MIN_RUN_SECONDS = 0.01

#: A claim's value is given only when its range is within ±this of it; otherwise "cannot tell".
RANGE_TOLERANCE = 0.15

#: A task submitted by a non-worker thread within this many seconds after a task of the same
#: pool ended is a candidate follow-up of that task (asyncio.to_thread phases, dask).
AFTER_WINDOW = 0.005

#: ... and the pool is replayed closed-loop only when at least this share of its submissions
#: made after its first completion are such candidates (an open-loop producer submits at its
#: own pace, and only some submissions land near a completion by chance).
CLOSED_LOOP_SHARE = 0.8

#: A burst member follows its head's parent only within this many seconds of that parent's end.
BURST_SPAN = 0.02

#: Least share of the busy time with two or more tasks running before the pool's concurrent
#: CPU rate is trusted as evidence.
MIN_CONCURRENT_SHARE = 0.25

#: Most tasks the what-if replays one by one; longer recordings are replayed in groups.
MAX_REPLAY_TASKS = 4000

#: Largest calibration factor (or its inverse) for which the what-if still gives values.
MAX_CALIBRATION = 1.5

#: For awake threads (see AWAKE_SHARE), the CPU share of the serial time from which the work
#: is GIL-free CPU (their remaining sleep is GIL hand-off or a little I/O).
AWAKE_CPU_SHARE = 0.5

#: Share of the running tasks that wanted a core (on one or queued for one) at or above which
#: the threads were awake: computing, not waiting for the GIL (its waiters sleep) nor for I/O.
AWAKE_SHARE = 0.7

#: Pool CPU rate (cores) band read as "held at one core" (the GIL signature).
GIL_RATE_LOW = 0.75
GIL_RATE_HIGH = 1.15

#: With schedstat, least pool CPU rate (cores) for the GIL reading: the GIL holder computes
#: (a busy machine may deschedule it while it holds the GIL, hence below GIL_RATE_LOW).
GIL_MIN_RATE = 0.4

#: With schedstat, threads wanting a core (CPU + run-queue rate) read as "one at a time" up to
#: 1 + this x (running - 1): the GIL holder, plus waiters woken at each hand-off that queue for a
#: core on a busy machine before they find the GIL taken again.
GIL_RUNNABLE_EXTRA = 0.5

#: Share of a sleep the pool's other CPU must explain for the GIL reading.
GIL_EXPLAINED_SHARE = 0.85

#: CPU share of the serial time at or above which work is CPU work, at or below which I/O.
CPU_SHARE = 0.7
IO_SHARE = 0.3


@dataclass(frozen=True)
class Estimate:
    """A claim with its range. ``value`` is None when the model cannot tell (the range is
    wider than ±:data:`RANGE_TOLERANCE`); ``low``/``high`` are always given."""

    value: float | None
    low: float
    high: float

    @classmethod
    def of(cls, point: float, low: float, high: float) -> Estimate:
        low, high = min(low, high, point), max(low, high, point)
        if point > 0 and (high - low) > 2 * RANGE_TOLERANCE * point:
            return cls(None, low, high)
        if point <= 0 and high - low > 1e-9:
            return cls(None, low, high)
        return cls(point, low, high)


@dataclass(frozen=True)
class WhatIf:
    """Predicted wall time (first submit to last end) on ``max_workers`` workers."""

    max_workers: int
    predicted_wall_seconds: float | None
    low: float
    high: float
    recorded: bool


@dataclass(frozen=True)
class Dependency:
    """Why task ``child`` (an index into the pool's ran spans) waits for task ``parent``:
    ``"nested"`` (submitted from inside it, at ``offset`` = the share of the parent's run that
    had passed) or ``"after"`` (submitted ``offset`` seconds after it ended)."""

    child: int
    parent: int
    kind: Literal["nested", "after"]
    offset: float


@dataclass(frozen=True)
class TaskWork:
    """One task as the what-if replays it: seconds of CPU and of waiting it needs alone."""

    ready_at: float
    cpu: float
    io: float


@dataclass(frozen=True)
class LocalPeer:
    """What the machine's other processes used of our cores while an I/O (or mixed) pool ran,
    and how much of the pool's waiting that CPU may have inflated (docs/profiler-model.md,
    "A server on this machine"). The model assumes the other CPU may be the work of what the
    tasks wait on (a database on this machine) and bounds the worst case."""

    #: Cores the other processes used on average over the window (0..``cores``).
    other_cores: float
    #: Cores counted: the affinity CPUs, clamped to the cores available.
    cores: int
    #: Other processes' CPU seconds over the pool's wall (clamped to ``cores`` x wall).
    other_cpu_seconds: float
    #: Most seconds of the pool's waiting that were the peer's queueing for a core (time that
    #: a serial run would not spend): removed from the serial time's low end.
    excess_seconds: float
    #: Whether that turned a point claim (serial time or speedup) into "cannot tell": what the
    #: ``local-peer`` lint and the reason report.
    changed_claim: bool = False


@dataclass
class PoolModel:
    """The model's reading of one pool instance (see the module docstring)."""

    pool_id: int
    label: str
    max_workers: int
    work_type: WorkType
    reason: str
    wall_seconds: float
    run_seconds: float
    cpu_seconds: float
    run_queue_seconds: float | None
    sleep_seconds: float
    contention_seconds: Estimate
    serial_seconds: Estimate
    speedup: Estimate
    cores: int
    #: Cores the pool's threads could get: ``cores``, or on a loaded machine the share they got
    #: while they queued for cores.
    effective_cores: float
    #: Cores another run may get (low, high): ``(effective_cores, effective_cores)`` unless the
    #: profile saw a loaded machine hold GIL-free CPU work back (see docs/profiler-model.md,
    #: "A machine whose load changes"); the what-if and the speedup are read at both ends.
    core_band: tuple[float, float]
    concurrent_cpu_rate: float | None
    mean_concurrency: float | None
    gil_share: tuple[float, float]
    peak_running: int
    peak_demand: int
    dependencies: int
    what_if: list[WhatIf] = field(default_factory=list)
    #: measured wall ÷ the replay's wall at the recorded max_workers (1.0: the replay matches).
    calibration: float = 1.0
    statement: str = MODEL_STATEMENT
    #: The machine's other CPU while the pool ran, for an I/O or mixed pool (None: not read,
    #: not Linux, or another kind of work): see :func:`local_peer`.
    local_peer: LocalPeer | None = None

    @property
    def cannot_tell(self) -> bool:
        return self.serial_seconds.value is None


# -- the sweep over a pool's run intervals -------------------------------------------------------


@dataclass
class _Sweep:
    """Integrals over time of how many tasks ran and how fast they used CPU."""

    busy: float = 0.0
    concurrent: float = 0.0  # time with >= 2 tasks running
    concurrent_cpu: float = 0.0
    concurrent_demand: float = 0.0  # CPU + run-queue rate, same periods
    concurrent_tasks: float = 0.0  # ∫ n dt over those periods
    peak: int = 0
    times: list[float] = field(default_factory=list)
    cumulative_demand: list[float] = field(default_factory=list)
    cumulative_cpu: list[float] = field(default_factory=list)

    def demand_between(self, start: float, end: float) -> float:
        """CPU + run-queue seconds of the pool's tasks between two instants."""
        return self._at(self.cumulative_demand, end) - self._at(self.cumulative_demand, start)

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds of the pool's tasks between two instants."""
        return self._at(self.cumulative_cpu, end) - self._at(self.cumulative_cpu, start)

    def _at(self, cumulative: list[float], t: float) -> float:
        index = bisect.bisect_right(self.times, t) - 1
        if index < 0:
            return 0.0
        if index >= len(self.times) - 1:
            return cumulative[-1]
        t0, t1 = self.times[index], self.times[index + 1]
        c0, c1 = cumulative[index], cumulative[index + 1]
        return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c0


def _sweep(spans: Sequence[Span], run_queue: Sequence[float]) -> _Sweep:
    """Spread each task's CPU (and run-queue delay) evenly over its run interval and integrate."""
    events: list[tuple[float, int, float, float]] = []
    for span, queued in zip(spans, run_queue, strict=True):
        assert span.started_at is not None
        run = span.run_seconds
        rate = span.cpu_seconds / run if run > 0 else 0.0
        demand = (span.cpu_seconds + queued) / run if run > 0 else 0.0
        events.append((span.started_at, 1, rate, demand))
        events.append((span.ended_at, -1, -rate, -demand))
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at the same instant
    result = _Sweep()
    n = 0
    rate = demand = 0.0
    last = events[0][0] if events else 0.0
    cumulative = cumulative_cpu = 0.0
    for time, dn, drate, ddemand in events:
        dt = time - last
        if dt > 0:
            if n >= 1:
                result.busy += dt
            if n >= 2:
                result.concurrent += dt
                result.concurrent_cpu += rate * dt
                result.concurrent_demand += demand * dt
                result.concurrent_tasks += n * dt
            cumulative += demand * dt
            cumulative_cpu += rate * dt
        if not result.times or time > result.times[-1]:
            result.times.append(time)
            result.cumulative_demand.append(cumulative)
            result.cumulative_cpu.append(cumulative_cpu)
        else:
            result.cumulative_demand[-1] = cumulative
            result.cumulative_cpu[-1] = cumulative_cpu
        n += dn
        rate = max(0.0, rate + drate)
        demand = max(0.0, demand + ddemand)
        result.peak = max(result.peak, n)
        last = time
    return result


def _run_queue_per_task(
    spans: Sequence[Span], timeline: Timeline
) -> tuple[list[float], float | None]:
    """Each task's share of its worker's run-queue delay (in proportion to its CPU), and the
    pool's total; the total is None when some worker that ran a task has no readings."""
    start = {w.worker_id: w.run_queue_at_start for w in timeline.workers}
    per_worker_cpu: dict[int, float] = {}
    per_worker_run: dict[int, float] = {}
    for span in spans:
        if span.worker_id is not None:
            per_worker_cpu[span.worker_id] = per_worker_cpu.get(span.worker_id, 0.0)
            per_worker_cpu[span.worker_id] += span.cpu_seconds
            per_worker_run[span.worker_id] = per_worker_run.get(span.worker_id, 0.0)
            per_worker_run[span.worker_id] += span.run_seconds
    delay: dict[int, float] = {}
    known = bool(spans)
    for worker_id in per_worker_cpu:
        begin = start.get(worker_id)
        end = timeline.run_queue_at_end.get(worker_id)
        if begin is None or end is None:
            known = False
            continue
        delay[worker_id] = max(0.0, end - begin)
    shares: list[float] = []
    for span in spans:
        worker = span.worker_id
        if worker is None or worker not in delay:
            shares.append(0.0)
            continue
        cpu_total, run_total = per_worker_cpu[worker], per_worker_run[worker]
        if cpu_total > 0:
            share = delay[worker] * span.cpu_seconds / cpu_total
        elif run_total > 0:
            share = delay[worker] * span.run_seconds / run_total
        else:
            share = 0.0
        shares.append(min(share, max(0.0, span.run_seconds - span.cpu_seconds)))
    return shares, (math.fsum(shares) if known else None)


# -- dependencies -------------------------------------------------------------------------------


def find_dependencies(spans: Sequence[Span], max_workers: int) -> list[Dependency]:
    """Which of a pool's tasks (ran spans, any order) must wait for another in a replay.

    ``nested``: the submitter was a worker (``Span.submitter_worker``) and a span of this pool
    was running on that worker at the submit time. ``after``: submitted by another thread within
    :data:`AFTER_WINDOW` after the pool's latest completion while the pool had an idle worker
    and an empty queue, by a thread that submitted nothing while that task ran (a submitter that
    waited for results, not one the GIL or a loaded machine held back), with the rest of that
    thread's burst of submits (gaps within the window, at most :data:`BURST_SPAN` after the
    completion), when the pool is closed-loop (see :data:`CLOSED_LOOP_SHARE`).
    """
    starts = sorted(s.started_at for s in spans if s.started_at is not None)
    submits = sorted(s.submitted_at for s in spans if s.submitted_at is not None)
    by_worker: dict[int, list[int]] = {}
    for index, span in enumerate(spans):
        if span.worker_id is not None:
            by_worker.setdefault(span.worker_id, []).append(index)
    for indices in by_worker.values():
        indices.sort(key=lambda i: spans[i].started_at or 0.0)
    ends = sorted((span.ended_at, index) for index, span in enumerate(spans))
    end_times = [e[0] for e in ends]
    result: list[Dependency] = []
    candidates: list[Dependency] = []
    later_submits = 0
    first_end = end_times[0] if end_times else math.inf
    # Per submitting thread: (time of its last submit, the parent its current burst follows).
    bursts: dict[str | None, tuple[float, int | None]] = {}
    last_submit: dict[str | None, float] = {}  # per submitting thread, any submit
    order = sorted(
        (i for i, s in enumerate(spans) if s.submitted_at is not None),
        key=lambda i: spans[i].submitted_at or 0.0,
    )
    for index in order:
        span = spans[index]
        submitted = span.submitted_at
        assert submitted is not None
        if span.submitter_worker is not None:
            parent = _running_on(spans, by_worker.get(span.submitter_worker, []), submitted)
            if parent is not None and parent != index:
                started = spans[parent].started_at or 0.0
                run = spans[parent].run_seconds
                offset = (submitted - started) / run if run > 0 else 1.0
                result.append(Dependency(index, parent, "nested", min(1.0, max(0.0, offset))))
                continue
        quiet_since = last_submit.get(span.submitter, -math.inf)
        last_submit[span.submitter] = submitted
        if submitted <= first_end:
            continue
        later_submits += 1
        previous = bursts.get(span.submitter)
        if previous is not None and submitted - previous[0] <= AFTER_WINDOW:
            # The rest of a burst (e.g. one asyncio.gather's to_thread calls) follows its head,
            # if it is still close to the parent's end (a slow submit loop is a producer).
            parent_of_burst = previous[1]
            if (
                parent_of_burst is not None
                and submitted - spans[parent_of_burst].ended_at > BURST_SPAN
            ):
                parent_of_burst = None
        else:
            parent_of_burst = None
            position = bisect.bisect_right(end_times, submitted) - 1
            running = bisect.bisect_left(starts, submitted) - (position + 1)
            queued = bisect.bisect_left(submits, submitted) - bisect.bisect_left(starts, submitted)
            idle = running < max_workers and queued <= 0
            # The submitter must have been quiet while the parent ran (it was waiting for it);
            # a submit loop that the machine slowed down submits all along.
            if (
                position >= 0
                and idle
                and submitted - end_times[position] <= AFTER_WINDOW
                and quiet_since <= (spans[ends[position][1]].started_at or 0.0)
            ):
                parent_of_burst = ends[position][1]
        bursts[span.submitter] = (submitted, parent_of_burst)
        if parent_of_burst is not None and parent_of_burst != index:
            offset = submitted - spans[parent_of_burst].ended_at
            candidates.append(Dependency(index, parent_of_burst, "after", max(0.0, offset)))
    if later_submits and len(candidates) >= CLOSED_LOOP_SHARE * later_submits:
        result.extend(candidates)
    return result


def _running_on(spans: Sequence[Span], indices: list[int], at: float) -> int | None:
    for index in indices:
        span = spans[index]
        if span.started_at is not None and span.started_at <= at <= span.ended_at:
            return index
    return None


# -- the what-if simulation ---------------------------------------------------------------------


def _cpu_capacity(cores: float, competing: float, runnable: float) -> float:
    """Cores our ``runnable`` CPU-hungry threads get beside ``competing`` threads of other
    processes, shared fairly (Linux CFS), never more than they can use."""
    if runnable <= 0:
        return cores
    if runnable + competing <= cores:
        return min(runnable, cores)
    return min(cores * runnable / (runnable + competing), runnable, cores)


def simulate(
    work: Sequence[TaskWork],
    dependencies: Sequence[Dependency],
    workers: int,
    *,
    cores: float,
    gil_share: float,
    competing: float = 0.0,
) -> float:
    """Wall time (first ready to last end) of ``work`` on ``workers`` FIFO workers.

    A fluid model: the running tasks progress at one common rate ``v`` <= 1 (serial seconds per
    second), the largest that keeps their CPU within the cores they get
    (:func:`_cpu_capacity`) and their GIL-holding CPU (``gil_share`` of it) within one core.
    Tasks with a ``nested`` parent become ready when the parent reaches that share of its run;
    ``after`` children ``offset`` seconds after it ends; the others at ``ready_at``.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not work:
        return 0.0
    nested: dict[int, list[tuple[float, int]]] = {}
    after: dict[int, list[tuple[float, int]]] = {}
    dependent: set[int] = set()
    for dep in dependencies:
        dependent.add(dep.child)
        target = nested if dep.kind == "nested" else after
        target.setdefault(dep.parent, []).append((dep.offset, dep.child))
    duration = [w.cpu + w.io for w in work]
    cpu_rate = [w.cpu / d if d > 0 else 0.0 for w, d in zip(work, duration, strict=True)]
    arrivals: list[tuple[float, int]] = [
        (w.ready_at, i) for i, w in enumerate(work) if i not in dependent
    ]
    heapq.heapify(arrivals)
    first = min(w.ready_at for i, w in enumerate(work) if i not in dependent) if arrivals else 0.0
    queue: deque[int] = deque()
    finishing: list[tuple[float, int]] = []  # (virtual finish, task)
    spawning: list[tuple[float, int]] = []  # (virtual time, child)
    now = first
    virtual = 0.0
    running = 0
    demand = 0.0
    last_end = first
    done = 0
    total = len(work)

    def start(task: int) -> None:
        nonlocal running, demand
        running += 1
        demand += cpu_rate[task]
        heapq.heappush(finishing, (virtual + duration[task], task))
        for share, child in nested.get(task, ()):
            heapq.heappush(spawning, (virtual + share * duration[task], child))

    while done < total:
        while arrivals and arrivals[0][0] <= now:
            queue.append(heapq.heappop(arrivals)[1])
        while queue and running < workers:
            start(queue.popleft())
        rate = 1.0
        if demand > 0:
            rate = min(1.0, _cpu_capacity(cores, competing, demand) / demand)
            if gil_share > 0:
                # One thread at a time holds the GIL: a single runnable thread's share of a core.
                rate = min(rate, _cpu_capacity(cores, competing, 1.0) / (gil_share * demand))
        next_times = []
        if finishing:
            next_times.append(now + max(0.0, finishing[0][0] - virtual) / rate)
        if spawning:
            next_times.append(now + max(0.0, spawning[0][0] - virtual) / rate)
        if arrivals:
            next_times.append(arrivals[0][0])
        if not next_times:  # a dependency cycle or a lost parent: nothing can progress
            break
        step_to = min(next_times)
        virtual += (step_to - now) * rate
        now = step_to
        while spawning and spawning[0][0] <= virtual + 1e-12:
            _, child = heapq.heappop(spawning)
            heapq.heappush(arrivals, (now, child))
        while finishing and finishing[0][0] <= virtual + 1e-12:
            _, task = heapq.heappop(finishing)
            running -= 1
            demand = max(0.0, demand - cpu_rate[task])
            done += 1
            last_end = max(last_end, now)
            for offset, child in after.get(task, ()):
                heapq.heappush(arrivals, (now + offset, child))
    return last_end - first


# -- the model ----------------------------------------------------------------------------------


def model_timeline(timeline: Timeline) -> list[PoolModel]:
    """:func:`model_pool` for every pool of the timeline, in pool order."""
    by_pool: dict[int, list[Span]] = {}
    for span in timeline.spans:
        by_pool.setdefault(span.pool_id, []).append(span)
    return [
        model_pool(timeline, record, by_pool.get(record.pool_id, [])) for record in timeline.pools
    ]


def model_pool(
    timeline: Timeline,
    record: PoolRecord,
    spans: Sequence[Span] | None = None,
    workers: Sequence[int] | None = None,
) -> PoolModel:
    """The model of one pool (``spans``: its spans, default: looked up in ``timeline``);
    ``workers``: the what-if's worker counts (default: 1, 2, 4, ... past the demand).

    When the timeline kept only a sample of the pool's spans (past the recorder's capacity),
    the claims come from the exact totals instead (:func:`_model_from_totals`)."""
    if spans is None:
        spans = [s for s in timeline.spans if s.pool_id == record.pool_id]
    totals = [t for t in timeline.task_totals() if t.pool_id == record.pool_id]
    # Sampled: the totals count more spans than the timeline kept (``spans`` may be a caller's
    # selection, e.g. only the tasks that ran, so the timeline's own spans are counted).
    kept = sum(1 for s in timeline.spans if s.pool_id == record.pool_id)
    if sum(t.total for t in totals) > kept:
        return _model_from_totals(timeline, record, spans, totals, workers)
    ran = sorted((s for s in spans if s.started_at is not None), key=lambda s: s.started_at or 0.0)
    cores = max(1, timeline.cores or 1)
    run_total = math.fsum(s.run_seconds for s in ran)
    cpu_total = math.fsum(s.cpu_seconds for s in ran)
    wall = _wall(ran)
    run_queue, run_queue_total = _run_queue_per_task(ran, timeline)
    sweep = _sweep(ran, run_queue)
    peak_demand = _peak_demand(spans)
    deps = find_dependencies(ran, record.max_workers)

    sleeps = [
        max(0.0, s.run_seconds - s.cpu_seconds - q) for s, q in zip(ran, run_queue, strict=True)
    ]
    # Upper bound on each task's GIL (or, without schedstat, core) wait: the time the pool's
    # other tasks spent on a core or queued for one while it ran (a GIL holder descheduled by a
    # busy machine keeps the GIL).
    others_demand = [
        max(0.0, sweep.demand_between(s.started_at or 0.0, s.ended_at) - s.cpu_seconds - q)
        for s, q in zip(ran, run_queue, strict=True)
    ]
    # The same with CPU only: outside the GIL reading and awake (GIL-free CPU) threads, the
    # queueing of threads woken from I/O on a busy machine holds no GIL and must not "explain"
    # anyone's sleep.
    others_cpu = [
        max(0.0, sweep.cpu_between(s.started_at or 0.0, s.ended_at) - s.cpu_seconds) for s in ran
    ]
    evidence = sweep.busy > 0 and sweep.concurrent >= MIN_CONCURRENT_SHARE * sweep.busy
    inputs = _Inputs(
        cores=cores,
        run_total=run_total,
        cpu_total=cpu_total,
        run_queue_total=run_queue_total,
        sleep_total=math.fsum(sleeps),
        wall=wall,
        rho=sweep.concurrent_cpu / sweep.concurrent if evidence else None,
        mean_n=sweep.concurrent_tasks / sweep.concurrent if evidence else None,
        demand_rate=sweep.concurrent_demand / sweep.concurrent if evidence else None,
        evidence=evidence,
        explain_demand=[min(a, b) for a, b in zip(sleeps, others_demand, strict=True)],
        explain_cpu=[min(a, b) for a, b in zip(sleeps, others_cpu, strict=True)],
        ran=bool(ran),
        machine=timeline.machine.get(record.pool_id),
    )
    model, claims = _claims(
        record, inputs, peak_running=sweep.peak, peak_demand=peak_demand, dependencies=len(deps)
    )
    if ran:
        counts = (
            list(workers) if workers is not None else _candidates(record.max_workers, peak_demand)
        )
        model.what_if = _what_if(
            ran=ran,
            sleeps=sleeps,
            explainable=claims.explainable,
            contention=claims.contention,
            gil=claims.gil,
            deps=deps,
            counts=counts,
            model=model,
            run_total=run_total,
        )
    return model


@dataclass(frozen=True)
class _Inputs:
    """What the claims are made from: totals, the pool's rates while several tasks ran (None
    without that evidence), and per task the part of its sleep the pool's other demand / CPU
    can explain (one entry per task, or one entry for the whole pool from the totals)."""

    cores: int
    run_total: float
    cpu_total: float
    run_queue_total: float | None
    sleep_total: float
    wall: float
    rho: float | None
    mean_n: float | None
    demand_rate: float | None
    evidence: bool
    explain_demand: list[float]
    explain_cpu: list[float]
    ran: bool
    #: What other processes used of our CPUs while the pool was active (None: not observed).
    machine: MachineWindow | None = None


@dataclass(frozen=True)
class _Claims:
    """The attribution the what-if replays: the explainable sleep it scales, the contention
    (point, low, high seconds) and the GIL share (point, low, high)."""

    explainable: list[float]
    contention: tuple[float, float, float]
    gil: tuple[float, float, float]


def _claims(
    record: PoolRecord,
    inputs: _Inputs,
    *,
    peak_running: int,
    peak_demand: int,
    dependencies: int,
) -> tuple[PoolModel, _Claims]:
    """Work type, serial time and speedup from :class:`_Inputs`: the one reading shared by the
    span path and the totals path (a sampled pool), so both give the same claims."""
    cores = inputs.cores
    run_total, cpu_total, wall = inputs.run_total, inputs.cpu_total, inputs.wall
    run_queue_total, sleep_total = inputs.run_queue_total, inputs.sleep_total
    rho, mean_n, demand_rate, evidence = (
        inputs.rho,
        inputs.mean_n,
        inputs.demand_rate,
        inputs.evidence,
    )
    explain_demand, explain_cpu = inputs.explain_demand, inputs.explain_cpu
    demand_explained = math.fsum(explain_demand)
    explainable = explain_cpu
    explainable_total = math.fsum(explain_cpu)

    effective = float(cores)
    loaded = (
        rho is not None
        and demand_rate is not None
        and run_queue_total is not None
        and demand_rate - rho > max(0.1, 0.1 * rho)
        and rho > 0
    )
    # The share of the core time they wanted (CPU + run-queue wait) that the load left them.
    left = 1.0
    if loaded:
        assert rho is not None
        assert demand_rate is not None
        # Our threads queued for cores: of the `wanted` cores they wanted they got `rho`. A pool
        # that wanted all the cores would have got that share of them: the process's share of
        # a loaded machine (Linux shares CPU between cgroups / autogroups first, so more
        # threads of ours would not get more), and what a lone thread could use at most. For
        # CPU-hungry threads (wanted = the cores) it is `rho` itself; for threads that mostly
        # slept (I/O), `rho` is what they asked for, not what they could get: capping them at
        # it would turn their wake-up latency into a CPU limit (and a lone thread gets at least
        # the share `left` of a core, which cores x left is never below).
        left = rho / min(float(cores), demand_rate)
        effective = min(float(cores), cores * left)

    # Attribution of the sleep: (point, low, high) seconds of contention, and the GIL share.
    # `runnable` is the pool's rate of CPU plus run-queue wait while several tasks ran: how many
    # of its threads wanted a core. GIL waiters sleep (a condition variable), so GIL-bound work
    # keeps it near one; GIL-free CPU keeps it near the number running; I/O keeps it low.
    contention = (0.0, 0.0, 0.0)
    gil: tuple[float, float, float] = (0.0, 0.0, 1.0)  # point, low, high
    reason: str
    known_queue = run_queue_total is not None
    awake = False
    if run_total < MIN_RUN_SECONDS or not inputs.ran:
        reason = f"less than {MIN_RUN_SECONDS * 1e3:g} ms of run time: too little to tell"
        contention = (0.0, 0.0, explainable_total)
        gil = (0.5, 0.0, 1.0)
    elif rho is None or mean_n is None or demand_rate is None:
        reason = "tasks mostly ran one at a time, so there was no contention to remove"
        gil = (0.5, 0.0, 1.0)
    else:
        runnable = demand_rate
        spare = min(effective, mean_n) - rho
        held_at_one = rho <= GIL_RATE_HIGH and (
            rho >= GIL_MIN_RATE
            and GIL_RATE_LOW <= runnable <= 1.0 + GIL_RUNNABLE_EXTRA * (mean_n - 1.0)
            if known_queue
            else rho >= GIL_RATE_LOW and spare >= 0.5
        )
        if known_queue and runnable >= AWAKE_SHARE * mean_n:
            awake = True
            reason = (
                f"its threads wanted a core {runnable / mean_n:.0%} of the time with "
                f"{mean_n:.1f} running (GIL waiters sleep instead) and got {rho:.2f} core(s): "
                "GIL-free CPU"
            )
            # Threads that wanted a core almost all the time: what sleep they have left is
            # waiting for the GIL while another thread held it, on a core or queued for one (a
            # GIL holder the machine descheduled keeps the GIL: the others' core wait counts),
            # unless it is I/O. The others' CPU + core wait bounds it; the point takes it as
            # contention (it vanishes with one worker, where nobody else holds the GIL), the
            # range runs to "all of it I/O". The replay's GIL share: at most one thread holds
            # the GIL, and `runnable` threads wanted a core at once, so at most 1/runnable of
            # the CPU held it.
            explainable, explainable_total = explain_demand, demand_explained
            contention = (explainable_total, 0.0, explainable_total)
            gil = (0.0, 0.0, min(1.0, 1.0 / max(runnable, 1.0)))
        elif (
            held_at_one and mean_n >= 1.5 and demand_explained >= GIL_EXPLAINED_SHARE * sleep_total
        ):
            explainable, explainable_total = explain_demand, demand_explained
            reason = (
                f"{mean_n:.1f} tasks ran but only {runnable:.2f} thread(s) at a time wanted a "
                f"core ({rho:.2f} core(s) used), and the pool's other CPU explains their "
                "sleep: Python holding the GIL"
            )
            contention = (explainable_total, 0.9 * explainable_total, explainable_total)
            gil = (1.0, 0.9, 1.0)
            # One thread at a time wanted the core the GIL lets it use, and got `rho` of it (the
            # woken waiters' queueing is not the load).
            effective = float(cores) if rho >= 1.0 or not known_queue else max(rho, 1e-3)
        elif rho > GIL_RATE_HIGH and not known_queue and rho >= 0.85 * min(mean_n, float(cores)):
            reason = (
                f"the pool kept {rho:.2f} of {cores} core(s) busy with {mean_n:.1f} running: "
                "GIL-free CPU saturating the cores; the sleep its CPU explains is core wait"
            )
            contention = (explainable_total, explainable_total, explainable_total)
            gil = (0.0, 0.0, min(1.0, 1.0 / rho))
        elif rho > GIL_RATE_HIGH:
            reason = (
                f"the pool kept {rho:.2f} core(s) busy (more than one: GIL-free CPU) while "
                "its tasks also slept; how much of the sleep is GIL wait cannot be told"
            )
            gil_bound = math.fsum(e / rho for e in explainable)
            contention = (0.0, 0.0, gil_bound)
            gil = (0.0, 0.0, min(1.0, 1.0 / rho))
        elif rho <= IO_SHARE * mean_n:
            reason = (
                f"mostly waiting: {mean_n:.1f} tasks ran but {runnable:.2f} thread(s) at a "
                f"time wanted a core ({rho:.2f} core(s) used)"
            )
            contention = (0.0, 0.0, explainable_total)
            gil = (0.5 if rho > 0.5 else 0.0, 0.0, 1.0)
        else:
            reason = (
                f"{mean_n:.1f} tasks ran, {runnable:.2f} thread(s) at a time wanted a core "
                f"({rho:.2f} used): neither the GIL's one-thread signature nor GIL-free CPU"
            )
            contention = (0.0, 0.0, explainable_total)
            gil = (0.5 if rho > 0.5 else 0.0, 0.0, 1.0)

    def serial_for(attributed: float) -> float:
        return cpu_total + max(0.0, sleep_total - attributed)

    serial = Estimate.of(
        serial_for(contention[0]), serial_for(contention[2]), serial_for(contention[1])
    )
    if run_total < MIN_RUN_SECONDS:
        serial = Estimate(None, serial.low, serial.high)
    work_type = _work_type(
        serial,
        point=serial_for(contention[0]),
        cpu_total=cpu_total,
        gil=gil,
        run_total=run_total,
        evidence=evidence,
        awake=awake,
    )
    peer: LocalPeer | None = None
    unaware = serial  # the serial claim without the observation of the machine
    if inputs.machine is not None and work_type in ("io", "mixed") and wall > 0:
        peer = local_peer(
            inputs.machine,
            wall=wall,
            cores=cores,
            concurrency=max(1, peak_running),
            waiting=max(0.0, sleep_total - contention[2]),
        )
        if peer.excess_seconds > 0:
            # The waits may be a server on this machine queueing for our cores: the serial
            # run would not spend that queueing. The high end and the point stay (the waits
            # may as well be real I/O, or a server whose cores were to spare).
            peer_low = cpu_total + max(0.0, sleep_total - contention[2] - peer.excess_seconds)
            serial = Estimate.of(serial_for(contention[0]), min(serial.low, peer_low), serial.high)
            if run_total < MIN_RUN_SECONDS:
                serial = Estimate(None, serial.low, serial.high)
    # Between runs the load on a shared machine changes, and with it the cores a run gets.
    # The profile saw how far the load held its threads back: it left them the share `left` of
    # the core time they wanted. The band of cores another run may get is that observation both
    # ways, from "as much more held back" (effective x left) to "not held back" (the cores).
    # GIL-bound work: the same reading for the one core the GIL lets the pool use; its holder
    # got `effective` (= rho) of it: from rho² to the whole core.
    band = (effective, effective)
    if loaded and work_type == "cpu_parallel":
        band = (max(1e-3, min(effective, effective * left)), float(cores))
    elif loaded and work_type == "gil" and effective < 1.0:
        band = (max(1e-3, effective * effective), 1.0)
    # The serial run and the pool's run are two runs, which may meet different loads: the
    # speedup is read at independent ends of the band (GIL-bound work too: under load, four
    # GIL-bound threads lose to one, as a GIL holder that loses its core holds up every waiter).
    speedup = _speedup(serial, cpu_total, wall, effective, band, mean_n, rho)
    if peer is not None and serial is not unaware:
        before = _speedup(unaware, cpu_total, wall, effective, band, mean_n, rho)
        changed = (unaware.value is not None and serial.value is None) or (
            before.value is not None and speedup.value is None
        )
        peer = replace(peer, changed_claim=changed)
        if changed:
            # Said in words only where it turned a point claim into "cannot tell": elsewhere
            # the claim was a range already, or the machine was quiet enough not to matter.
            reason += (
                f"; other processes on this machine used {peer.other_cores:.1f} of "
                f"{peer.cores} core(s) while it ran: if its tasks wait on them (a server on "
                f"this machine), up to {peer.excess_seconds:.2f} s of the waiting was that "
                "server queueing for a core"
            )

    model = PoolModel(
        pool_id=record.pool_id,
        label=record.label,
        max_workers=record.max_workers,
        work_type=work_type,
        reason=reason,
        wall_seconds=wall,
        run_seconds=run_total,
        cpu_seconds=cpu_total,
        run_queue_seconds=run_queue_total,
        sleep_seconds=sleep_total,
        contention_seconds=Estimate.of(contention[0], contention[1], contention[2]),
        serial_seconds=serial,
        speedup=speedup,
        cores=cores,
        effective_cores=effective,
        core_band=band,
        concurrent_cpu_rate=rho,
        mean_concurrency=mean_n,
        gil_share=(gil[1], gil[2]),
        peak_running=peak_running,
        peak_demand=peak_demand,
        dependencies=dependencies,
        local_peer=peer,
    )
    return model, _Claims(list(explainable), contention, gil)


def local_peer(
    window: MachineWindow,
    *,
    wall: float,
    cores: int,
    concurrency: int,
    waiting: float,
) -> LocalPeer:
    """How much of a pool's waiting may be a server on this machine queueing for a core.

    ``window``: what the other processes used of our CPUs (C seconds) while the pool's workers
    lived; ``wall``: the pool's active time W (first submit to last end); ``concurrency``: the
    most tasks that ran at once, k; ``waiting``: the pool's sleep that is not GIL or core
    contention (the time its threads waited on something).

    Suppose the other CPU is the server's work for these tasks, one request in flight per
    running task. At an instant t, m(t) <= k requests are in flight and the server runs them on
    b(t) cores; the rest, m(t) - b(t), wait for a core (or for I/O, which a serial run pays
    too). A runnable process waits for a core only while all A cores are busy, with our own
    process's CPU (O) and the others' (C); that saturated time is at most T = min(W, (O + C)/A).
    The waiting a serial run would not spend is then at most
    ``∫_sat (m - b) dt <= k T - C_sat``, where the others' CPU inside the saturated time is at
    least ``C_sat >= C - A (W - T)`` (outside it they used fewer than A cores); and never more
    than the waiting itself. Each reading of ``/proc/stat`` is exact to a clock tick per CPU, and
    the window may run past the pool's active time (a pool that idles before its shutdown): both
    are taken the way that widens the bound. Others' CPU within that tick error of zero is no
    server at all: no excess.
    """
    available = max(1, min(cores, window.cpus))
    seconds = window.seconds
    if seconds <= 0 or wall <= 0:
        return LocalPeer(0.0, available, 0.0, 0.0)
    error = 2.0 * window.cpus * window.resolution
    outside = max(0.0, seconds - wall)
    observed = min(window.other_cpu_seconds, available * seconds)
    other_high = min(observed + error, available * wall)
    other_low = max(0.0, observed - error - available * outside)
    own = min(window.own_cpu_seconds, available * seconds)
    saturated = min(wall, (own + other_high) / available)
    other_saturated = max(0.0, other_low - available * (wall - saturated))
    excess = max(0.0, min(waiting, concurrency * saturated - other_saturated))
    if observed <= error:
        # The others' CPU is within the readings' tick error of none: no server on this machine
        # did these tasks' work (every request costs its server some CPU), so none queued for a
        # core on their behalf. Without this, our own CPU alone (a SQLite pool saturating the
        # cores) would make room for a server that the readings show did nothing.
        excess = 0.0
    other_in_wall = min(observed, available * wall)
    return LocalPeer(
        other_cores=min(float(available), observed / seconds),
        cores=available,
        other_cpu_seconds=other_in_wall,
        excess_seconds=excess,
    )


def _speedup(
    serial: Estimate,
    cpu_total: float,
    wall: float,
    effective: float,
    band: tuple[float, float],
    mean_n: float | None,
    rho: float | None,
) -> Estimate:
    """Speedup vs serial on this machine, with its range.

    The serial run's CPU part runs on one thread, which gets at most one of the cores (less if
    the process's share is under one core). With a core band (a loaded machine, GIL-free CPU)
    the serial run and the pool's run are two runs that may meet different loads: each is read
    at both ends of the band, independently. A CPU-dominated pool's wall scales with the cores
    it gets (up to its concurrency), and so does the serial run's CPU part."""
    if wall <= 0:
        return Estimate(None, math.nan, math.nan)

    def serial_at(seconds: float, cores: float) -> float:
        return seconds + cpu_total * (1.0 / min(1.0, cores) - 1.0)

    def wall_at(cores: float) -> float:
        used = rho if rho else effective
        reachable = min(cores, mean_n) if mean_n else cores
        return wall * used / reachable if cores != effective and reachable > 0 else wall

    point = None if serial.value is None else serial_at(serial.value, effective) / wall
    cores = {effective, *band}
    corners = [
        serial_at(s, c_serial) / wall_at(c_pool)
        for s in (serial.low, serial.high)
        for c_serial in cores
        for c_pool in cores
    ]
    low, high = min(corners), max(corners)
    if point is None:
        return Estimate(None, low, high)
    return Estimate.of(point, low, high)


def _work_type(
    serial: Estimate,
    *,
    point: float,
    cpu_total: float,
    gil: tuple[float, float, float],
    run_total: float,
    evidence: bool,
    awake: bool,
) -> WorkType:
    """The kind of work, from the CPU share of the serial time (at the model's point) and the
    GIL share: "unknown" wherever the evidence does not decide."""
    low_share = cpu_total / serial.high if serial.high > 0 else 0.0
    high_share = cpu_total / serial.low if serial.low > 0 else 1.0
    share = cpu_total / point if point > 0 else 0.0
    result: WorkType = "unknown"
    if run_total < MIN_RUN_SECONDS or (low_share <= IO_SHARE and high_share >= CPU_SHARE):
        result = "unknown"
    elif share <= IO_SHARE:
        result = "io"
    elif awake and share >= AWAKE_CPU_SHARE:
        result = "cpu_parallel"
    elif share >= CPU_SHARE:
        # CPU: which kind only if the pool ran tasks side by side and the GIL share is decided.
        if evidence and gil[1] >= 0.5:
            result = "gil"
        elif evidence and gil[0] <= 0.1 and gil[2] < 0.75:
            result = "cpu_parallel"
    elif serial.value is not None:
        result = "mixed"
    return result


def _what_if(
    *,
    ran: Sequence[Span],
    sleeps: Sequence[float],
    explainable: Sequence[float],
    contention: tuple[float, float, float],
    gil: tuple[float, float, float],
    deps: Sequence[Dependency],
    counts: Sequence[int],
    model: PoolModel,
    run_total: float,
) -> list[WhatIf]:
    explainable_total = math.fsum(explainable)
    first = min(
        (s.submitted_at if s.submitted_at is not None else s.started_at or 0.0) for s in ran
    )

    # Long recordings are replayed in groups of `stride` consecutive tasks (summed work, the
    # first one's ready time): the simulation is pure Python, and with thousands of tasks per
    # worker the grouping changes the wall by a tail of one group.
    stride = max(1, math.ceil(len(ran) / MAX_REPLAY_TASKS))
    group_deps = _group_dependencies(deps, stride)

    def work_for(attributed: float) -> list[TaskWork]:
        scale = attributed / explainable_total if explainable_total > 0 else 0.0
        result: list[TaskWork] = []
        for index, (span, sleep, explain) in enumerate(zip(ran, sleeps, explainable, strict=True)):
            ready = span.submitted_at if span.submitted_at is not None else span.started_at or 0.0
            io = max(0.0, sleep - scale * explain)
            if index % stride == 0:
                result.append(TaskWork(ready - first, span.cpu_seconds, io))
            else:
                last = result[-1]
                result[-1] = TaskWork(last.ready_at, last.cpu + span.cpu_seconds, last.io + io)
        return result

    attributions = sorted({contention[0], contention[1], contention[2]})
    gil_shares = sorted({gil[0], gil[1], gil[2]})
    # The corners of the range: least/most contention x least/most GIL share, and the point.
    corners_of = sorted(
        {
            (attributions[0], gil_shares[0]),
            (attributions[0], gil_shares[-1]),
            (attributions[-1], gil_shares[0]),
            (attributions[-1], gil_shares[-1]),
        }
    )
    works = {a: work_for(a) for a in attributions}
    cache: dict[tuple[float, float, int, float], float] = {}
    band = sorted({model.effective_cores, *model.core_band})

    def run(attributed: float, share: float, k: int, cores: float | None = None) -> float:
        got = model.effective_cores if cores is None else cores
        key = (attributed, share, k, got)
        if key not in cache:
            cache[key] = simulate(
                works[attributed], group_deps, k, cores=got, gil_share=share, competing=0.0
            )
        return cache[key]

    # A server on this machine (see local_peer): two more corners. "Queueing": the waits shrink
    # by the server's queueing for a core, nothing else changes (the serial time's low end).
    # "CPU-bound server": that too, and the other processes' CPU is the server's work for these
    # tasks, which needs our cores (GIL-free, one core per request): more workers cannot make
    # it go faster than the cores allow.
    peer_works: list[tuple[list[TaskWork], float]] = []
    peer = model.local_peer
    if peer is not None and peer.excess_seconds > 0:
        base = works[attributions[-1]]  # the serial time's low end: the most contention
        waiting = math.fsum(w.io for w in base)
        if waiting > 0:
            removed = min(1.0, peer.excess_seconds / waiting)
            queueing = [TaskWork(w.ready_at, w.cpu, w.io * (1.0 - removed)) for w in base]
            left = waiting * (1.0 - removed)
            served = min(1.0, peer.other_cpu_seconds / left) if left > 0 else 0.0
            cpu_bound = [
                TaskWork(w.ready_at, w.cpu + w.io * served, w.io * (1.0 - served)) for w in queueing
            ]
            own_cpu = math.fsum(w.cpu for w in base)
            total_cpu = math.fsum(w.cpu for w in cpu_bound)
            # The GIL share applies to our own CPU only; the server's holds no GIL of ours.
            ends = sorted({gil_shares[0], gil_shares[-1]})
            shares = [g * own_cpu / total_cpu if total_cpu > 0 else 0.0 for g in ends]
            peer_works = [(queueing, g) for g in ends] + [(cpu_bound, g) for g in shares]

    def run_peer(k: int) -> list[float]:
        return [
            simulate(work, group_deps, k, cores=float(peer.cores), gil_share=g, competing=0.0)
            for work, g in peer_works
            if peer is not None
        ]

    observed = max(1, model.peak_running)
    critical_paths: dict[float, float] = {}

    def lower_bound(k: int, attributed: float) -> float:
        """A wall no run of the recorded work (with ``attributed`` contention removed) on ``k``
        workers can beat: each worker does at most one second of work per second (Σ work ÷ k),
        the CPU fits at most min(k, cores) of the machine's cores whatever the load, its
        GIL-holding share one core, and no chain of dependencies is shortened (the replay on
        as many workers as tasks, with no core or GIL to share: the critical path)."""
        work = works[attributed]
        cpu = math.fsum(w.cpu for w in work)
        if attributed not in critical_paths:
            critical_paths[attributed] = simulate(
                work, group_deps, max(1, len(work)), cores=math.inf, gil_share=0.0, competing=0.0
            )
        critical_path = critical_paths[attributed]
        return max(
            critical_path,
            math.fsum(w.cpu + w.io for w in work) / k,
            cpu / min(float(k), float(model.cores)),
            cpu * gil_shares[0],
        )

    # Calibration: the replay of the recorded max_workers should reproduce the measured wall;
    # its ratio to it scales every prediction (what the model gets wrong at the recorded size,
    # e.g. the competitors' pull or the GIL's hand-off cost, it likely gets wrong elsewhere).
    # A replay that is far off says the model does not explain this run: no values, wide ranges.
    replayed = run(contention[0], gil[0], model.max_workers)
    factor = model.wall_seconds / replayed if replayed > 0 and model.wall_seconds > 0 else 1.0
    model.calibration = factor
    trusted = 1 / MAX_CALIBRATION <= factor <= MAX_CALIBRATION
    results = []
    for k in counts:
        point = run(contention[0], gil[0], k)
        # ... and at both ends of the core band (the cores another run may get).
        corners = [run(a, g, k, c) for a, g in corners_of for c in band]
        corners += run_peer(k)
        low, high = min(corners), max(corners)
        floor = None
        if k > observed:
            # More workers than ever ran at once: how the waits behave there was never seen;
            # the range runs from a bound no run can beat to "no better than the observed peak".
            high = max(high, *(run(a, g, observed, c) for a, g in corners_of for c in band))
            high = max([high, *run_peer(observed)])
            floor = lower_bound(k, attributions[-1])  # the least work: the most contention
        if trusted:
            estimate = Estimate.of(point * factor, low * factor, high * factor)
        else:
            estimate = Estimate(None, min(low, low * factor), max(high, high * factor))
        if floor is not None:
            # The simulation's low end scaled by the calibration is one more guess of the
            # waits (a slow profiled run scales it up, and a faster run beats it); the floor is
            # not a guess. Only a replay longer than the run (calibration < 1: the recorded
            # work overstates it) lowers it.
            floor *= min(1.0, factor)
            if floor < estimate.low:
                value = estimate.value
                estimate = (
                    Estimate.of(value, floor, estimate.high)
                    if value is not None
                    else Estimate(None, floor, estimate.high)
                )
        if run_total < MIN_RUN_SECONDS:
            estimate = Estimate(None, estimate.low, estimate.high)
        results.append(
            WhatIf(k, estimate.value, estimate.low, estimate.high, k == model.max_workers)
        )
    speedup = model.speedup
    if speedup.value is None and model.wall_seconds > 0:
        # A speedup that is a range divides by one profiled run's wall, which carries that
        # run's delays (its load, the recorder's own cost); a run of the same work beats it
        # but not the floor. The high end: the serial time at each end of its range, as slow as
        # the band allows, over the floor of the same work on the recorded workers.
        lone = 1.0 / min(1.0, max(1e-3, min(band)))
        serial_ends = (
            (model.serial_seconds.high, lower_bound(model.max_workers, attributions[0])),
            (model.serial_seconds.low, lower_bound(model.max_workers, attributions[-1])),
        )
        best = max(
            (
                (serial_end + model.cpu_seconds * (lone - 1.0)) / fastest
                for serial_end, fastest in serial_ends
                if fastest > 0
            ),
            default=0.0,
        )
        if best > speedup.high:
            model.speedup = Estimate(None, speedup.low, best)
    return results


def _group_dependencies(deps: Sequence[Dependency], stride: int) -> list[Dependency]:
    """Dependencies between groups of ``stride`` tasks (see :func:`_what_if`): one per child
    group, the first; a dependency inside one group is the group's own order."""
    if stride == 1:
        return list(deps)
    result: dict[int, Dependency] = {}
    for dep in deps:
        child, parent = dep.child // stride, dep.parent // stride
        if child != parent and child not in result:
            result[child] = Dependency(child, parent, dep.kind, dep.offset)
    return list(result.values())


def _candidates(recorded: int, peak_demand: int) -> list[int]:
    """Worker counts worth showing: 1, powers of two up to past the demand, the recorded."""
    ceiling = max(recorded * 2, 2, min(peak_demand, 64))
    values = {1, recorded}
    k = 2
    while k <= ceiling and k <= 64:
        values.add(k)
        k *= 2
    return sorted(values)


def _wall(ran: Sequence[Span]) -> float:
    if not ran:
        return 0.0
    first = min(s.submitted_at if s.submitted_at is not None else s.started_at or 0.0 for s in ran)
    return max(s.ended_at for s in ran) - first


def _peak_demand(spans: Sequence[Span]) -> int:
    """Most tasks submitted and not yet finished at once (running + queued)."""
    events: list[tuple[float, int]] = []
    for span in spans:
        begin = span.submitted_at if span.submitted_at is not None else span.started_at
        if begin is None:
            continue
        events.append((begin, 1))
        events.append((span.ended_at, -1))
    events.sort()
    peak = current = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


# -- a sampled pool: the claims from the exact totals ---------------------------------------------

#: Average number of running tasks in an activity bin from which the totals path counts the bin
#: as "several tasks ran" (the span path's n >= 2, read from the bins' time-weighted averages).
CONCURRENT_BIN = 1.5


def _model_from_totals(
    timeline: Timeline,
    record: PoolRecord,
    spans: Sequence[Span],
    totals: Sequence[TaskTotals],
    workers: Sequence[int] | None,
) -> PoolModel:
    """The model of a pool whose spans the recorder kept only a sample of.

    Every claim but the replay needs only sums: Σ run, Σ CPU, the workers' run-queue delay
    (read per worker, so exact), and the pool's concurrency over time, which the activity bins
    hold exactly as time-weighted averages. Per bin ``i`` (task-seconds ``b_i``, busy time
    ``min(width, b_i)``, ``n_i = b_i / busy``), CPU and run-queue delay are spread in proportion
    to task-seconds (each task's CPU share is the pool's), so:

    * the rates while several tasks ran (``n_i >= CONCURRENT_BIN``) are the span path's ``rho``,
      ``mean_n`` and demand rate;
    * the other tasks' CPU seen while a task ran, summed over tasks, is
      ``cpu_share * Σ (n_i - 1) b_i`` (the span path's Σ others' CPU), and the explainable sleep
      is at most that and at most the sleep.

    These go through the same :func:`_claims` as the span path. The what-if cannot replay a
    sample (the missing tasks' arrival times are unknown): it gives the recording at the recorded
    ``max_workers`` and "cannot tell" elsewhere, with a range from the totals (see
    :func:`_bounds_what_if`). The documented tolerance against the unsampled model is in
    docs/profiler-model.md ("A sampled pool").
    """
    merged = TaskTotals(record.pool_id, "")
    for item in totals:
        merged.merge(item)
    cores = max(1, timeline.cores or 1)
    run_total = merged.run.total
    cpu_total = merged.cpu_seconds
    ran = merged.run.count > 0
    wall = max(0.0, merged.last_end - merged.first_submit) if ran else 0.0
    run_queue_total = _run_queue_of_pool(timeline, record.pool_id)
    if run_queue_total is not None:
        run_queue_total = min(run_queue_total, max(0.0, run_total - cpu_total))
    sleep_total = max(0.0, run_total - cpu_total - (run_queue_total or 0.0))

    activity = timeline.pool_activity(record.pool_id)
    if activity is not None:
        width = activity.width
        bins = [(q * width, b * width) for _, q, b in activity.series()]
    else:  # totals without bins (a hand-made timeline): one bin, the whole wall
        width = wall
        bins = [(0.0, run_total)]
    busy_time = conc_time = conc_tasks = overlap = 0.0
    peak_running = peak_demand = 0
    for queued, task_seconds in bins:
        busy = min(width, task_seconds)
        if busy <= 0:
            continue
        n = task_seconds / busy
        busy_time += busy
        overlap += max(0.0, n - 1.0) * task_seconds
        if n >= CONCURRENT_BIN:
            conc_time += busy
            conc_tasks += task_seconds
        if width > 0:
            peak_running = max(peak_running, math.ceil(task_seconds / width - 1e-9))
            peak_demand = max(peak_demand, math.ceil((queued + task_seconds) / width - 1e-9))
    cpu_share = cpu_total / run_total if run_total > 0 else 0.0
    demand_share = (cpu_total + (run_queue_total or 0.0)) / run_total if run_total > 0 else 0.0
    evidence = busy_time > 0 and conc_time >= MIN_CONCURRENT_SHARE * busy_time
    mean_n = conc_tasks / conc_time if evidence else None
    inputs = _Inputs(
        cores=cores,
        run_total=run_total,
        cpu_total=cpu_total,
        run_queue_total=run_queue_total,
        sleep_total=sleep_total,
        wall=wall,
        rho=cpu_share * mean_n if mean_n is not None else None,
        mean_n=mean_n,
        demand_rate=demand_share * mean_n if mean_n is not None else None,
        evidence=evidence,
        explain_demand=[min(sleep_total, demand_share * overlap)],
        explain_cpu=[min(sleep_total, cpu_share * overlap)],
        ran=ran,
        machine=timeline.machine.get(record.pool_id),
    )
    model, claims = _claims(
        record,
        inputs,
        peak_running=max(1, peak_running) if ran else 0,
        peak_demand=peak_demand,
        dependencies=0,
    )
    model.reason += (
        f" (from the exact totals: {len(spans)} of {merged.total} spans kept their detail)"
    )
    if ran:
        counts = (
            list(workers)
            if workers is not None
            else _candidates(record.max_workers, max(peak_demand, peak_running))
        )
        model.what_if = _bounds_what_if(model, claims, counts)
    return model


def _run_queue_of_pool(timeline: Timeline, pool_id: int) -> float | None:
    """Σ run-queue delay of the pool's workers over their lives; None unless every worker of
    the pool has both readings (schedstat is read per worker, never per task: exact)."""
    total = 0.0
    found = False
    for worker in timeline.workers:
        if worker.pool_id != pool_id:
            continue
        end = timeline.run_queue_at_end.get(worker.worker_id)
        if worker.run_queue_at_start is None or end is None:
            return None
        total += max(0.0, end - worker.run_queue_at_start)
        found = True
    return total if found else None


def _bounds_what_if(model: PoolModel, claims: _Claims, counts: Sequence[int]) -> list[WhatIf]:
    """The what-if of a sampled pool: the recording itself at the recorded ``max_workers``, and
    elsewhere "cannot tell" with bounds that need no replay (all of them read at both ends of
    the core band: the cores another run may get).

    Low: ``k`` workers do at most ``k`` serial-seconds per second, the CPU part at most
    ``min(k, cores)`` cores' worth (the band's high end), the GIL-holding CPU one core's worth.
    High, fewer workers than recorded: everything run one after another after the recorded
    wall (on one thread of this machine: the CPU part at ``min(1, cores)``); more workers: the
    recorded wall (a FIFO pool given more workers never starts a task later; GIL hand-offs
    among more threads may cost a few percent more, inside the documented tolerance)."""
    wall = model.wall_seconds
    serial = model.serial_seconds
    cpu = model.cpu_seconds
    gil_low = model.gil_share[0]
    band_low, band_high = model.core_band
    lone = 1.0 / min(1.0, band_low)
    # Another run may get fewer cores (the band's low end): a CPU-dominated wall stretches by
    # effective / band_low, and shrinks by effective / band_high with more.
    slower = max(1.0, model.effective_cores / max(band_low, 1e-3))
    faster = min(1.0, model.effective_cores / max(band_high, 1e-3))
    results: list[WhatIf] = []
    for k in counts:
        if k == model.max_workers:
            recorded = Estimate.of(wall, wall * faster, wall * slower)
            results.append(WhatIf(k, recorded.value, recorded.low, recorded.high, True))
            continue
        low = max(
            serial.low / k,
            cpu / max(1e-3, min(float(k), band_high)),
            cpu * gil_low,
        )
        high = wall * slower if k > model.max_workers else wall + serial.high + cpu * (lone - 1.0)
        results.append(WhatIf(k, None, min(low, high), max(low, high), False))
    return results

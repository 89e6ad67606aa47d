"""Streaming aggregates and the span sample: what keeps the profiler bounded at any task count.

The recorder folds every finished span into these structures (in batches, see
:class:`~tpe_insight.profiler.recorder.Recorder`), so a run of a million tasks costs the same
memory as a run of ten thousand, and the totals stay exact:

* :class:`TaskTotals`, per pool instance and task label: counts by outcome, exception classes
  with counts, sums of run, queue-wait and CPU time, first submit and last end, and a
  :class:`LogHistogram` of run and of queue-wait times for percentiles;
* :class:`PoolActivity`, per pool instance: a fixed number of time bins holding the
  *time-weighted average* queue depth and busy-worker count (exact integrals, whatever the task
  count), and from them a bound on the time at least one task was running;
* :class:`SpanSampler`: which spans keep their per-span detail (lanes, trace slices, lifecycle
  rows). The rule is :class:`SampleRule`, and its text is written into every trace and report.

Why a fixed log-bucket histogram and not t-digest or DDSketch (``ddsketch`` on PyPI): the fold
runs on a worker thread while the program runs, so the per-value cost is one ``math.log`` and
one dict update; the buckets are plain ints (``{index: count}``) that merge by addition (pool
totals from task totals, pools of one label) and round-trip through the trace's JSON exactly; and
the guarantee is the one a reader needs: every quantile is the value of the observation at that
rank to within :data:`RELATIVE_ERROR` (1%), with no dependency. This is DDSketch's mapping
(buckets ``(gamma^(i-1), gamma^i]``, estimate ``2 gamma^i / (gamma+1)``) without its
collapsing, which we do not need because the index range of durations between 1 ns and a day
is fixed (about 1,600 buckets at most, usually a few dozen per task label).
"""

from __future__ import annotations

import bisect
import collections
import heapq
import itertools
import math
import operator
import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tpe_insight.typing import CANCELLED, NOT_RUN

__all__ = [
    "ACTIVITY_BINS",
    "GAMMA",
    "RELATIVE_ERROR",
    "LogHistogram",
    "PoolActivity",
    "SampleRule",
    "SpanSampler",
    "TaskTotals",
    "outcome_kinds",
]

#: Bucket ratio of :class:`LogHistogram`.
GAMMA = 1.02

#: Largest relative error of a percentile read from a :class:`LogHistogram`: (gamma-1)/(gamma+1).
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)

#: Durations at or below this (seconds), zero and clock steps backwards included, are counted in
#: the bucket of this value: below the resolution of every clock the pools use. (A quantile that
#: falls there reads about 1 ns, or the exact minimum at rank 0.)
ZERO_BELOW = 1e-9

_INV_LOG_GAMMA = 1.0 / math.log(GAMMA)


#: Time bins per pool in :class:`PoolActivity` (the queue-depth / busy-workers chart and trace
#: counters). Bins double in width (pairs merge) when the pool runs past the last one.
ACTIVITY_BINS = 400

#: First bin width (seconds); doubles as needed, so a pool of any duration ends with 200-400
#: bins in use. (The bins are allocated in full per pool: 6.4 KB; see MAX_ACTIVITY_POOLS in the
#: recorder.)
FIRST_BIN_WIDTH = 1e-3


# Raw span tuples, as the recorder stores them (see Recorder.task_finished):
# (task, outcome, submitted_at, started_at, ended_at, cpu, worker_id, submitter, exception,
#  message). Indices used here:
_OUTCOME, _SUBMITTED, _STARTED, _ENDED, _CPU, _EXCEPTION = 1, 2, 3, 4, 5, 8


#: Outcomes of spans that never ran (no start time; no submit time either).
_NOT_RUN_KINDS = frozenset((CANCELLED, NOT_RUN))


def outcome_kinds(outcomes: Iterable[str]) -> frozenset[str]:
    """The distinct outcomes of a batch (one C pass), for the ``kinds`` shortcut of the
    ``add_columns`` / ``add_batch`` methods."""
    return frozenset(outcomes)


def _all_ran(kinds: Collection[str] | None) -> bool:
    """Whether ``kinds`` proves that every span started (so no column holds ``None``)."""
    return kinds is not None and _NOT_RUN_KINDS.isdisjoint(kinds)


class LogHistogram:
    """Counts of durations in logarithmic buckets; percentiles within :data:`RELATIVE_ERROR`.

    ``count``, ``total``, ``min`` and ``max`` are exact; :meth:`quantile` is the bucket estimate
    of the observation at rank ``round(q * (count - 1))``, clamped to [min, max].
    """

    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        # A Counter: its update() from an iterable counts in C (the batch fold's fast path).
        self.buckets: collections.Counter[int] = collections.Counter()
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        """Count one duration (seconds; negative clock steps count as 0)."""
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.buckets[math.ceil(math.log(max(value, ZERO_BELOW)) * _INV_LOG_GAMMA)] += 1

    def add_many(self, values: Sequence[float]) -> None:
        """Count many durations at once: the same result as :meth:`add` for each, with the
        per-value work in C (``map`` over ``math.log``, ``Counter.update``)."""
        if not values:
            return
        self.count += len(values)
        self.total += math.fsum(values)
        low, high = min(values), max(values)
        self.min = min(self.min, low)
        self.max = max(self.max, high)
        # The clamp to ZERO_BELOW is one more C pass over the batch: skipped when no value needs
        # it (the usual case), with the same buckets.
        floored = values if low >= ZERO_BELOW else map(max, values, itertools.repeat(ZERO_BELOW))
        self.buckets.update(map(math.ceil, map(_INV_LOG_GAMMA.__mul__, map(math.log, floored))))

    def merge(self, other: LogHistogram) -> None:
        """Add ``other``'s counts to this one (exact: buckets are shared by every histogram)."""
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1); NaN when empty."""
        if self.count == 0:
            return math.nan
        rank = round(q * (self.count - 1))
        if rank <= 0:
            return self.min  # the extremes are known exactly
        if rank >= self.count - 1:
            return self.max
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen > rank:
                estimate = 2.0 * GAMMA**index / (GAMMA + 1.0)
                return min(max(estimate, self.min), self.max)
        return self.max  # pragma: no cover - the counts add up to count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogHistogram):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def copy(self) -> LogHistogram:
        clone = LogHistogram()
        clone.merge(self)
        return clone

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "total": self.total,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "buckets": sorted(self.buckets.items()),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogHistogram:
        histogram = cls()
        histogram.count = int(data["count"])
        histogram.total = float(data["total"])
        if histogram.count:
            histogram.min = float(data["min"])
            histogram.max = float(data["max"])
        histogram.buckets = collections.Counter({int(i): int(n) for i, n in data["buckets"]})
        return histogram


_OUTCOMES = ("success", "error", "cancelled", "not_run")


@dataclass
class TaskTotals:
    """Exact totals of one task label of one pool instance, over every span recorded."""

    pool_id: int
    task: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_OUTCOMES, 0))
    exceptions: dict[str, int] = field(default_factory=dict)
    run: LogHistogram = field(default_factory=LogHistogram)
    wait: LogHistogram = field(default_factory=LogHistogram)
    cpu_seconds: float = 0.0
    first_submit: float = math.inf  # of the tasks that ran (their start when the submit is lost)
    last_end: float = -math.inf  # of the tasks that ran

    def add(self, raw: tuple[Any, ...]) -> None:
        """Fold one raw span tuple in."""
        self.counts[raw[_OUTCOME]] += 1
        exception = raw[_EXCEPTION]
        if exception is not None:
            self.exceptions[exception] = self.exceptions.get(exception, 0) + 1
        started = raw[_STARTED]
        if started is None:
            return
        ended = raw[_ENDED]
        self.run.add(ended - started)
        submitted = raw[_SUBMITTED]
        if submitted is not None:
            self.wait.add(started - submitted)
        else:
            submitted = started
        self.cpu_seconds += raw[_CPU]
        self.first_submit = min(self.first_submit, submitted)
        self.last_end = max(self.last_end, ended)

    def add_columns(
        self, columns: Sequence[Sequence[Any]], kinds: Collection[str] | None = None
    ) -> None:
        """Fold many raw spans at once, given as columns (``list(zip(*raws))``): what the
        recorder's batch fold calls. Same result as :meth:`add` on each span.

        ``kinds``, when given, holds every outcome of the columns (or of a batch they were cut
        from, see :func:`outcome_kinds`): with one kind, or none of the not-run ones, the
        counting and the scans for ``None`` (each ~40 ns per span) are skipped."""
        outcomes, submitted, started, ended = (
            columns[_OUTCOME],
            columns[_SUBMITTED],
            columns[_STARTED],
            columns[_ENDED],
        )
        counts = self.counts
        if kinds is not None and len(kinds) == 1:
            (outcome,) = kinds
            counts[outcome] = counts.get(outcome, 0) + len(outcomes)
        else:
            for outcome, n in collections.Counter(outcomes).items():
                counts[outcome] = counts.get(outcome, 0) + n
        exceptions = columns[_EXCEPTION]
        if exceptions.count(None) != len(exceptions):
            for name, n in collections.Counter(e for e in exceptions if e is not None).items():
                self.exceptions[name] = self.exceptions.get(name, 0) + n
        cpu = columns[_CPU]
        if not _all_ran(kinds) and None in started:  # tasks that never ran: the rare path
            ran = [i for i, value in enumerate(started) if value is not None]
            submitted = [submitted[i] for i in ran]
            started = [started[i] for i in ran]
            ended = [ended[i] for i in ran]
            cpu = [cpu[i] for i in ran]
            if not ran:
                return
        self.run.add_many(list(map(operator.sub, ended, started)))
        if not _all_ran(kinds) and None in submitted:
            self.wait.add_many(
                [b - a for a, b in zip(submitted, started, strict=True) if a is not None]
            )
            first = min(a if a is not None else b for a, b in zip(submitted, started, strict=True))
        else:
            self.wait.add_many(list(map(operator.sub, started, submitted)))
            first = min(submitted)
        self.cpu_seconds += math.fsum(cpu)
        self.first_submit = min(self.first_submit, first)
        last = max(ended)
        self.last_end = max(self.last_end, last)

    def merge(self, other: TaskTotals) -> None:
        for name, n in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        for name, n in other.exceptions.items():
            self.exceptions[name] = self.exceptions.get(name, 0) + n
        self.run.merge(other.run)
        self.wait.merge(other.wait)
        self.cpu_seconds += other.cpu_seconds
        self.first_submit = min(self.first_submit, other.first_submit)
        self.last_end = max(self.last_end, other.last_end)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def copy(self) -> TaskTotals:
        clone = TaskTotals(self.pool_id, self.task)
        clone.merge(self)
        return clone

    def to_dict(self) -> dict[str, Any]:
        return {
            "pool_id": self.pool_id,
            "task": self.task,
            "counts": dict(self.counts),
            "exceptions": dict(self.exceptions),
            "run": self.run.to_dict(),
            "wait": self.wait.to_dict(),
            "cpu_seconds": self.cpu_seconds,
            "first_submit": None if math.isinf(self.first_submit) else self.first_submit,
            "last_end": None if math.isinf(self.last_end) else self.last_end,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskTotals:
        first, last = data["first_submit"], data["last_end"]
        return cls(
            pool_id=int(data["pool_id"]),
            task=str(data["task"]),
            counts={str(k): int(v) for k, v in data["counts"].items()},
            exceptions={str(k): int(v) for k, v in data["exceptions"].items()},
            run=LogHistogram.from_dict(data["run"]),
            wait=LogHistogram.from_dict(data["wait"]),
            cpu_seconds=float(data["cpu_seconds"]),
            first_submit=math.inf if first is None else float(first),
            last_end=-math.inf if last is None else float(last),
        )


class PoolActivity:
    """Busy time and binned queue depth / busy workers of one pool instance, over every span.

    ``queued[i]`` and ``busy[i]`` (after :meth:`series` or :meth:`to_dict`) are integrals
    (task-seconds) over bin ``i`` of width ``width`` starting at ``origin + i * width``; divided
    by the width they are the exact time-weighted average queue depth and number of running
    tasks in that bin.

    How, in O(1) per span whatever its length: the queue depth is (submits so far) - (starts so
    far). An event at time ``x`` of sign ``s`` (+1 submit / start of run, -1 start / end of run)
    adds ``s * (end of its bin - x)`` to its own bin and a step ``s`` from the next bin on; the
    steps are a difference array (``{bin: sum of signs}``) that :meth:`_settle` turns into
    ``running count * width`` per bin. Events commute, so spans may arrive in any order.
    """

    __slots__ = (
        "_busy_steps",
        "_queued_steps",
        "busy",
        "origin",
        "queued",
        "width",
    )

    def __init__(self, origin: float, width: float = FIRST_BIN_WIDTH) -> None:
        self.origin = origin
        self.width = width
        self.queued: list[float] = [0.0] * ACTIVITY_BINS
        self.busy: list[float] = [0.0] * ACTIVITY_BINS
        self._queued_steps: dict[int, float] = {}
        self._busy_steps: dict[int, float] = {}

    def add(self, raw: tuple[Any, ...]) -> None:
        """Fold one raw span tuple in."""
        self.add_columns([(value,) for value in raw])

    def add_columns(
        self, columns: Sequence[Sequence[Any]], kinds: Collection[str] | None = None
    ) -> None:
        """Fold many raw spans at once, given as columns (``list(zip(*raws))``); ``kinds`` as
        in :meth:`TaskTotals.add_columns`."""
        submitted, started, ended = columns[_SUBMITTED], columns[_STARTED], columns[_ENDED]
        if not ended:
            return
        latest = max(ended)
        while latest >= self.origin + ACTIVITY_BINS * self.width:
            self._widen()
        if not _all_ran(kinds) and (None in started or None in submitted):  # the rare path
            queue_in = [q for q in submitted if q is not None]
            queue_out = [
                b if b is not None else e
                for q, b, e in zip(submitted, started, ended, strict=True)
                if q is not None
            ]
            run_in = [b for b in started if b is not None]
            run_out = [e for b, e in zip(started, ended, strict=True) if b is not None]
        else:
            # Every span ran: its start leaves the queue and enters the run at the same time, so
            # those events are sorted and binned once for both (same additions per bin, in the
            # same order, as two separate passes).
            queued, busy = (self.queued, self._queued_steps), (self.busy, self._busy_steps)
            self._events(submitted, ((*queued, 1.0),))
            self._events(started, ((*queued, -1.0), (*busy, 1.0)))
            self._events(ended, ((*busy, -1.0),))
            return
        self._events(queue_in, ((self.queued, self._queued_steps, 1.0),))
        self._events(queue_out, ((self.queued, self._queued_steps, -1.0),))
        self._events(run_in, ((self.busy, self._busy_steps, 1.0),))
        self._events(run_out, ((self.busy, self._busy_steps, -1.0),))

    def _events(
        self,
        times: Sequence[float],
        targets: Sequence[tuple[list[float], dict[int, float], float]],
    ) -> None:
        """Add events at ``times`` to each ``(bins, steps, sign)`` target, column-wise: bin
        indices through ``map`` (in C), then one update per distinct bin (a batch of short tasks
        touches a handful of bins): the bin gets ``sign * sum(end of bin - time)`` and a step of
        ``sign * count`` after it."""
        if not times:
            return
        origin, width = self.origin, self.width
        # Sorted first: a list of floats sorts with CPython's float-specialised comparison, in
        # near-linear time on spans that arrive nearly in time order, and the bin index is
        # monotonic in the time, so the indices come out sorted too. fsum is correctly
        # rounded, so the order inside a bin does not change its sum.
        times = sorted(times)
        if times[0] < origin:  # a clock that is not the pool's: clamp to its creation
            times = [max(time, origin) for time in times]
        indices = list(
            map(int, map((1.0 / width).__mul__, map(operator.sub, times, itertools.repeat(origin))))
        )
        last = ACTIVITY_BINS - 1
        if indices[-1] > last:
            indices = [min(index, last) for index in indices]
        # One run of equal indices per bin: found by bisection, summed by slices (in C), so the
        # Python work is per distinct bin (a batch of short tasks touches a handful), not per
        # event.
        position, size = 0, len(indices)
        while position < size:
            index = indices[position]
            end = size if indices[-1] == index else bisect.bisect_right(indices, index, position)
            count = end - position
            members = times[position:end]
            value = count * (origin + (index + 1) * width) - math.fsum(members)
            for bins, steps, sign in targets:
                bins[index] += sign * value
                steps[index + 1] = steps.get(index + 1, 0.0) + sign * count
            position = end

    def _settle(self) -> None:
        """Turn the steps into bin integrals; steps past the last bin are kept (a later
        widening brings them into range)."""
        width = self.width
        for bins, steps in ((self.queued, self._queued_steps), (self.busy, self._busy_steps)):
            if not steps:
                continue
            running = 0.0
            for index in range(ACTIVITY_BINS):
                running += steps.pop(index, 0.0)
                if running:
                    bins[index] += running * width
            if running:
                steps[ACTIVITY_BINS] = steps.get(ACTIVITY_BINS, 0.0) + running

    def _widen(self) -> None:
        """Double the bin width: bin i becomes the sum of old bins 2i and 2i+1."""
        self._settle()
        old_width = self.width
        for bins, steps in ((self.queued, self._queued_steps), (self.busy, self._busy_steps)):
            merged = [bins[i] + bins[i + 1] for i in range(0, ACTIVITY_BINS, 2)]
            bins[:] = merged + [0.0] * (ACTIVITY_BINS - len(merged))
            moved: dict[int, float] = {}
            for index, value in steps.items():  # all at or past the old last bin
                if index % 2:  # starts mid new bin: its second half, then whole bins
                    bins[index // 2] += value * old_width
                moved[(index + 1) // 2] = moved.get((index + 1) // 2, 0.0) + value
            steps.clear()
            steps.update(moved)
        self.width = old_width * 2

    @property
    def busy_seconds(self) -> float:
        """Time at least one task was running, as an upper bound: per bin, the smaller of the
        bin's width and its busy integral (exact when, within each bin, tasks do not overlap or
        keep it fully busy; an overestimate by at most the overlap inside partly idle bins).
        The union of the run intervals would cost a sort per batch; this costs nothing."""
        self._settle()
        width = self.width
        return math.fsum(min(width, value) for value in self.busy)

    def _used(self) -> int:
        """Bins up to the last one with anything in it."""
        self._settle()
        for index in range(ACTIVITY_BINS - 1, -1, -1):
            if self.busy[index] or self.queued[index]:
                return index + 1
        return 0

    def series(self) -> list[tuple[float, float, float]]:
        """``(bin start, average queued, average busy)`` per bin up to the last one used."""
        width = self.width
        return [
            (self.origin + i * width, self.queued[i] / width, self.busy[i] / width)
            for i in range(self._used())
        ]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PoolActivity):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def copy(self) -> PoolActivity:
        self._settle()
        clone = PoolActivity(self.origin, self.width)
        clone.queued = list(self.queued)
        clone.busy = list(self.busy)
        clone._queued_steps = dict(self._queued_steps)
        clone._busy_steps = dict(self._busy_steps)
        return clone

    def to_dict(self) -> dict[str, Any]:
        used = self._used()
        return {
            "origin": self.origin,
            "width": self.width,
            "queued": self.queued[:used],
            "busy": self.busy[:used],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PoolActivity:
        activity = cls(float(data["origin"]), float(data["width"]))
        queued = [float(v) for v in data["queued"]][:ACTIVITY_BINS]
        busy = [float(v) for v in data["busy"]][:ACTIVITY_BINS]
        if len(queued) != len(busy):
            raise ValueError("activity bins: queued and busy differ in length")
        activity.queued[: len(queued)] = queued
        activity.busy[: len(busy)] = busy
        return activity


@dataclass(frozen=True)
class SampleRule:
    """Which spans keep their per-span detail. Every span is in the totals either way.

    A span is kept when it is among the first ``first`` recorded, the last ``last``, the
    ``slowest`` longest-running, the first ``failures`` failures, the first ``per_pool`` of its
    pool (for the first ``pools`` pools), or in a uniform random sample of ``uniform`` spans
    (reservoir sampling, Algorithm L, fixed seed: the same run gives the same sample). While a
    run has recorded no more than ``first`` spans, every span is kept.
    """

    first: int
    last: int
    slowest: int
    failures: int
    uniform: int
    per_pool: int
    pools: int

    @classmethod
    def for_capacity(cls, capacity: int) -> SampleRule:
        """Split a budget of ``capacity`` spans among the parts of the rule."""
        return cls(
            first=max(1, capacity * 3 // 10),
            last=max(1, capacity // 5),
            slowest=max(1, capacity // 50),
            failures=max(1, capacity // 10),
            uniform=max(1, capacity * 18 // 100),
            per_pool=10,
            pools=max(1, capacity // 50),
        )

    @property
    def bound(self) -> int:
        """Most spans the rule can keep."""
        return (
            self.first
            + self.last
            + self.slowest
            + self.failures
            + self.uniform
            + self.per_pool * self.pools
        )

    def describe(self) -> str:
        """The rule in one sentence, as written into the trace and the report."""
        return (
            f"per-span detail is kept for the first {self.first} spans recorded, the last "
            f"{self.last}, the {self.slowest} slowest (run time), every failure up to "
            f"{self.failures}, the first {self.per_pool} of each of the first {self.pools} "
            f"pools, and {self.uniform} chosen uniformly at random (reservoir sampling, fixed "
            "seed); counts, sums and percentiles cover every span"
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "first": self.first,
            "last": self.last,
            "slowest": self.slowest,
            "failures": self.failures,
            "uniform": self.uniform,
            "per_pool": self.per_pool,
            "pools": self.pools,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SampleRule:
        return cls(**{name: int(data[name]) for name in cls.__dataclass_fields__})


#: Seed of the reservoir's random generator: a fixed seed makes the sample reproducible.
RESERVOIR_SEED = 20_241_201


class SpanSampler:
    """Applies a :class:`SampleRule` to the stream of spans; :meth:`kept` returns the sample.

    Spans are identified by their sequence number (the order the recorder folded them in), so a
    span picked by several parts of the rule is kept once.
    """

    def __init__(self, rule: SampleRule) -> None:
        self.rule = rule
        self.seen = 0
        self._first: list[tuple[int, tuple[Any, ...]]] = []
        self._last: collections.deque[tuple[int, tuple[Any, ...]]] = collections.deque(
            maxlen=rule.last
        )
        self._slowest: list[tuple[float, int, tuple[Any, ...]]] = []  # a min-heap by run time
        self._failures: list[tuple[int, tuple[Any, ...]]] = []
        self._uniform: list[tuple[int, tuple[Any, ...]]] = []
        self._per_pool: dict[int, list[tuple[int, tuple[Any, ...]]]] = {}
        self._random = random.Random(RESERVOIR_SEED)
        # Algorithm L (Li, 1994): instead of a random draw per span (Algorithm R), draw how many
        # spans to skip before the next replacement. Same uniform sample, a few draws in total.
        self._weight = 1.0
        self._next_pick = rule.uniform - 1
        self._skip()

    def _skip(self) -> None:
        k = self.rule.uniform
        self._weight *= math.exp(math.log(1.0 - self._random.random()) / k)
        gap = math.log(1.0 - self._random.random()) / math.log1p(-self._weight)
        # gap is finite unless weight rounds to 1 (k in the millions); cap it to stay an int.
        self._next_pick += int(min(gap, 1e15)) + 1

    def add(self, raw: tuple[Any, ...], pool_id: int) -> None:
        """Offer one raw span tuple (in recorded order)."""
        rule = self.rule
        seq = self.seen
        self.seen = seq + 1
        item = (seq, raw)
        if seq < rule.first:
            self._first.append(item)
        self._last.append(item)
        if raw[_EXCEPTION] is not None and len(self._failures) < rule.failures:
            self._failures.append(item)
        started = raw[_STARTED]
        if started is not None:
            run = raw[_ENDED] - started
            if len(self._slowest) < rule.slowest:
                heapq.heappush(self._slowest, (run, seq, raw))
            elif run > self._slowest[0][0]:
                heapq.heapreplace(self._slowest, (run, seq, raw))
        mine = self._per_pool.get(pool_id)
        if mine is None:
            if len(self._per_pool) < rule.pools:
                self._per_pool[pool_id] = [item]
        elif len(mine) < rule.per_pool:
            mine.append(item)
        if seq < rule.uniform:
            self._uniform.append(item)
        elif seq == self._next_pick:
            self._uniform[self._random.randrange(rule.uniform)] = item
            self._skip()

    def add_batch(
        self,
        batch: Sequence[tuple[Any, ...]],
        columns: Sequence[Sequence[Any]],
        kinds: Collection[str] | None = None,
    ) -> None:
        """Offer many raw spans (in recorded order) with their columns; the same sample as
        :meth:`add` on each, except the per-pool part, which the caller offers per pool with
        :meth:`add_pool_first` (it groups by pool anyway). ``kinds`` as in
        :meth:`TaskTotals.add_columns`.

        A ``(seq, raw)`` item is built only for a span that some part of the rule keeps (the
        batch's head while under ``first``/``uniform``, its tail for ``last``, the failures,
        the slow ones, the uniform picks), not for every span: the fold runs while the
        program's futures are alive, and every object it allocates makes the collector run
        over them sooner."""
        rule = self.rule
        first_seq = self.seen
        count = len(batch)
        end_seq = first_seq + count
        self.seen = end_seq
        if first_seq < rule.first:
            take = min(count, rule.first - first_seq)
            self._first.extend(zip(range(first_seq, first_seq + take), batch[:take], strict=True))
        tail = min(count, rule.last)
        self._last.extend(zip(range(end_seq - tail, end_seq), batch[count - tail :], strict=True))
        exceptions = columns[_EXCEPTION]
        if len(self._failures) < rule.failures and exceptions.count(None) != count:
            room = rule.failures - len(self._failures)
            failed = (
                (first_seq + i, raw) for i, raw in enumerate(batch) if raw[_EXCEPTION] is not None
            )
            self._failures.extend(itertools.islice(failed, room))
        started, ended = columns[_STARTED], columns[_ENDED]
        if not _all_ran(kinds) and None in started:
            runs = [
                e - s if s is not None else -math.inf for s, e in zip(started, ended, strict=True)
            ]
        else:
            runs = list(map(operator.sub, ended, started))
        slowest = self._slowest
        candidates: Iterable[int] = range(count)
        threshold = -math.inf
        if len(slowest) >= rule.slowest:
            threshold = slowest[0][0]
            # Only the runs longer than the heap's shortest can enter it: picked out in C.
            candidates = itertools.compress(range(count), map(threshold.__lt__, runs))
        for index in candidates:
            run = runs[index]
            if run > threshold and run != -math.inf:
                entry = (run, first_seq + index, batch[index])
                if len(slowest) < rule.slowest:
                    heapq.heappush(slowest, entry)
                else:
                    heapq.heapreplace(slowest, entry)
                if len(slowest) >= rule.slowest:
                    threshold = slowest[0][0]
        if first_seq < rule.uniform:
            take = min(count, rule.uniform - first_seq)
            self._uniform.extend(zip(range(first_seq, first_seq + take), batch[:take], strict=True))
        while self._next_pick < end_seq:
            if self._next_pick >= rule.uniform:
                slot = self._random.randrange(rule.uniform)
                self._uniform[slot] = (self._next_pick, batch[self._next_pick - first_seq])
            self._skip()

    def wants_pool(self, pool_id: int) -> bool:
        """Whether :meth:`add_pool_first` would keep anything of this pool."""
        mine = self._per_pool.get(pool_id)
        if mine is None:
            return len(self._per_pool) < self.rule.pools
        return len(mine) < self.rule.per_pool

    def add_pool_first(self, pool_id: int, items: Sequence[tuple[int, tuple[Any, ...]]]) -> None:
        """The per-pool part of the rule for a batch: ``items`` are ``(seq, raw)`` of one pool,
        in order."""
        mine = self._per_pool.get(pool_id)
        if mine is None:
            if len(self._per_pool) >= self.rule.pools:
                return
            mine = self._per_pool[pool_id] = []
        mine.extend(items[: self.rule.per_pool - len(mine)])

    def kept(self) -> list[tuple[int, tuple[Any, ...]]]:
        """The sample, each span once, in recorded order."""
        chosen: dict[int, tuple[Any, ...]] = {}
        for seq, raw in self._first:
            chosen[seq] = raw
        for seq, raw in self._last:
            chosen[seq] = raw
        for seq, raw in self._failures:
            chosen[seq] = raw
        for seq, raw in self._uniform:
            chosen[seq] = raw
        for _run, seq, raw in self._slowest:
            chosen[seq] = raw
        for items in self._per_pool.values():
            for seq, raw in items:
                chosen[seq] = raw
        return sorted(chosen.items(), key=lambda item: item[0])

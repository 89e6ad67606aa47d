"""The metric catalogue, the per-thread counters behind it, and its Prometheus exposition.

Why not prometheus_client's ``Counter`` and ``Histogram``? Their ``inc``/``observe`` take a lock
and allocate per call; two of them per task made a pool ~1.5x slower than the stdlib. Here the
hot path touches only plain integers and floats in a *shard* owned by the current thread, and
all aggregation (summing shards, cumulative buckets, gauges) happens at scrape time in
:class:`MetricsCollector`, the way ``Histogram.observe`` already defers cumulative sums.

Atomicity assumptions (documented because free-threaded CPython removes the GIL):

* a shard is written by exactly one thread, the one that owns it, so ``shard.x += 1`` can never
  lose an update, with or without the GIL;
* a scrape reads shard fields from another thread; a single attribute load is atomic in CPython
  (the GIL build and the free-threaded build alike), so it sees either the old or the new value;
* a scrape sums a series' shards while holding that series' lock, because retiring a dead
  thread's shard adds it into the ``retired`` total in place (a sum taken meanwhile could count
  it twice, and the next scrape would go backwards); only shard creation and scrapes take it;
* float sums (``_sum``, CPU seconds) are never exported lower than by the previous scrape:
  retiring changes their summation order, hence their rounding, and Prometheus reads any
  decrease of a counter as a reset;
* dict and set lookups done without a lock (label caches, ``exception_labels``) only race with
  insertions made under a lock; both builds make single dict/set operations atomic;
* the scrape sums "downstream" counters (finished, started) before "upstream" ones (submitted),
  so gauges derived from differences are never negative, even mid-flight;
* everything shared between threads (the shard lists, pool-level counters that any thread may
  bump) is guarded by a lock; those paths run per pool or per worker, not per task.

Dead threads' shards are folded into a ``retired`` total so the number of shards stays bounded by
the number of live threads, even when a program creates a pool (and its threads) per request.

After ``os.fork()`` the child starts with empty metrics (see :func:`_after_fork_in_child`): the
parent's workers and in-flight tasks do not exist there, and would otherwise show as tasks
running forever; prometheus_client's multiprocess mode likewise starts each process at zero.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tpe_insight.naming import MAX_POOL_LABELS, OTHER, capped

__all__ = [
    "DEFAULT_BUCKETS",
    "METRICS",
    "MetricsCollector",
    "PoolSeries",
    "TaskSeries",
    "collector_for",
]

#: Histogram bounds in seconds: 100 µs to 60 s, roughly x2.5 per step, so both a 200 µs cache
#: hit and a 20 s report query land in a bucket that distinguishes them.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

#: The metric contract: exported name -> (type, labels, help). ``docs/metrics.md`` and the tests
#: are checked against this table.
METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "tpe_tasks_submitted_total": ("counter", ("pool",), "Tasks accepted by submit()."),
    "tpe_tasks_rejected_total": (
        "counter",
        ("pool", "reason"),
        "Calls to submit() that raised: reason=shutdown (pool or interpreter shut down) or"
        " broken (an initializer failed).",
    ),
    "tpe_tasks_finished_total": (
        "counter",
        ("pool", "task", "outcome"),
        "Tasks that reached a terminal state: outcome=success, error (raised, or failed by a"
        " broken pool) or cancelled (cancelled while queued).",
    ),
    "tpe_task_exceptions_total": (
        "counter",
        ("pool", "task", "exception"),
        "Exceptions that ended a task, by exception class (capped per pool; extra classes are"
        " counted as 'other').",
    ),
    "tpe_task_queue_wait_seconds": (
        "histogram",
        ("pool", "task"),
        "Time from submit() to the task starting on a worker, for tasks that started.",
    ),
    "tpe_task_run_seconds": (
        "histogram",
        ("pool", "task"),
        "Time from the task starting on a worker to it returning or raising.",
    ),
    "tpe_task_cpu_seconds_total": (
        "counter",
        ("pool", "task"),
        "Thread CPU time spent by workers running tasks; compare with the run time to tell"
        " I/O-bound from CPU-bound work.",
    ),
    "tpe_tasks_queued": ("gauge", ("pool",), "Tasks submitted and not yet started or cancelled."),
    "tpe_tasks_running": ("gauge", ("pool",), "Tasks running on a worker now."),
    "tpe_workers": ("gauge", ("pool",), "Live worker threads."),
    "tpe_workers_max": (
        "gauge",
        ("pool",),
        "max_workers, summed over the live (not shut down) pools with this label.",
    ),
    "tpe_workers_started_total": ("counter", ("pool",), "Worker threads created."),
    "tpe_initializer_failures_total": (
        "counter",
        ("pool",),
        "Worker initializers that raised; each one breaks its pool (BrokenThreadPool).",
    ),
    "tpe_callback_failures_total": (
        "counter",
        ("pool",),
        "Done-callbacks that raised (the stdlib logs and swallows them).",
    ),
    "tpe_instrumentation_errors_total": (
        "counter",
        ("pool", "component"),
        "Failures inside tpe_insight's own sinks; tasks are never affected by them.",
    ),
}

_log = logging.getLogger("tpe_insight")

REJECT_REASONS = ("shutdown", "broken")
OUTCOMES = ("success", "error", "cancelled")


class _OwnerToken:
    """Lives only in its thread's ``threading.local`` slot of one series.

    CPython frees a thread's thread-local values when the thread's state is cleared, whatever
    started the thread (``threading``, ``_thread.start_new_thread``, a C extension's
    ``PyGILState_Ensure``), so "the token is gone" means "the owner can never write again".
    """

    __slots__ = ("__weakref__",)


class Shard:
    """One thread's counts for one (pool, task) series. Only its owner thread writes it."""

    __slots__ = (
        "cancelled",
        "cpu_sum",
        "exceptions",
        "failed",
        "not_run_failed",
        "owner",
        "run_counts",
        "run_sum",
        "started",
        "submitted",
        "succeeded",
        "wait_counts",
        "wait_sum",
    )

    def __init__(self, n_buckets: int, owner: weakref.ref[_OwnerToken] | None) -> None:
        # A weak reference to a token kept in the owner thread's thread-local slot, never the
        # Thread object: holding the Thread kept every stopped worker alive until the next
        # retire (CPython's own tests saw them as dangling threads), and threads not started
        # by ``threading`` have no Thread object that ever reports them dead.
        self.owner = owner
        self.submitted = 0
        self.started = 0
        self.succeeded = 0
        self.failed = 0
        self.cancelled = 0
        self.not_run_failed = 0
        self.wait_counts = [0] * n_buckets
        self.wait_sum = 0.0
        self.run_counts = [0] * n_buckets
        self.run_sum = 0.0
        self.cpu_sum = 0.0
        self.exceptions: dict[str, int] = {}

    def add(self, other: Shard) -> None:
        """Add ``other``'s counts into this shard (used for totals and for retiring)."""
        self.submitted += other.submitted
        self.started += other.started
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.not_run_failed += other.not_run_failed
        for i, n in enumerate(other.wait_counts):
            self.wait_counts[i] += n
        for i, n in enumerate(other.run_counts):
            self.run_counts[i] += n
        self.wait_sum += other.wait_sum
        self.run_sum += other.run_sum
        self.cpu_sum += other.cpu_sum
        for name, n in list(other.exceptions.items()):
            self.exceptions[name] = self.exceptions.get(name, 0) + n


class TaskSnapshot:
    """A read of one (pool, task) series taken at scrape time, with the derived gauges."""

    __slots__ = (
        "cancelled",
        "cpu_sum",
        "exceptions",
        "failed",
        "not_run_failed",
        "run_counts",
        "run_sum",
        "started",
        "submitted",
        "succeeded",
        "wait_counts",
        "wait_sum",
    )

    def __init__(self, n_buckets: int) -> None:
        self.submitted = self.started = self.succeeded = self.failed = 0
        self.cancelled = self.not_run_failed = 0
        self.wait_counts = [0] * n_buckets
        self.run_counts = [0] * n_buckets
        self.wait_sum = self.run_sum = self.cpu_sum = 0.0
        self.exceptions: dict[str, int] = {}

    @property
    def errors(self) -> int:
        """outcome="error": tasks that raised plus tasks failed by a broken pool before running."""
        return self.failed + self.not_run_failed

    @property
    def running(self) -> int:
        return max(0, self.started - self.succeeded - self.failed)

    @property
    def queued(self) -> int:
        return max(0, self.submitted - self.started - self.cancelled - self.not_run_failed)


class TaskSeries:
    """The counters of one (registry, pool label, task label), sharded per thread.

    The executor's hot path does ``series.shard()`` and bumps fields of the returned object; the
    fast path is one ``threading.local`` attribute read.
    """

    __slots__ = (
        "_exported",
        "_local",
        "_lock",
        "_retired",
        "_shards",
        "bounds",
        "pool",
        "task",
    )

    def __init__(self, pool: PoolSeries, task: str) -> None:
        self.pool = pool
        self.task = task
        self.bounds = pool.bounds
        self._local = threading.local()
        self._lock = threading.Lock()
        self._shards: list[Shard] = []
        self._retired = Shard(len(self.bounds) + 1, None)
        self._exported = (0.0, 0.0, 0.0)  # last wait_sum, run_sum, cpu_sum a snapshot returned

    def shard(self) -> Shard:
        """This thread's shard, created on the thread's first use of this series."""
        try:
            return self._local.shard  # type: ignore[no-any-return]
        except AttributeError:
            return self._new_shard()

    def _new_shard(self) -> Shard:
        token = _OwnerToken()
        shard = Shard(len(self.bounds) + 1, weakref.ref(token))
        with self._lock:
            self._retire_dead()
            self._shards.append(shard)
        self._local.token = token
        self._local.shard = shard
        return shard

    def _retire_dead(self) -> None:
        """Fold shards of finished threads into ``_retired``; caller holds ``_lock``.

        A finished thread never writes again, so reading its shard here is race-free.
        """
        alive: list[Shard] = []
        for shard in self._shards:
            owner = shard.owner
            if owner is not None and owner() is None:
                self._retired.add(shard)
            else:
                alive.append(shard)
        self._shards = alive

    def snapshot(self) -> TaskSnapshot:
        """Sum the shards. Downstream counters are read before upstream ones (see module doc).

        The whole sum runs under ``_lock``: retiring updates ``_retired`` in place, and a sum
        taken concurrently could count a dead thread's shard twice (once in ``_retired``, once
        on its own), so that the next scrape would see the counters go back. Only shard
        creation and other snapshots take this lock, never the per-task path.
        """
        with self._lock:
            self._retire_dead()
            snap = self._sum([self._retired, *self._shards])
            # Retiring changes the order of the float sums, which can lower them by a rounding
            # error; Prometheus reads any decrease of a counter (or a histogram _sum) as a
            # reset. The true values only grow, so never export less than last time.
            wait_sum, run_sum, cpu_sum = self._exported
            snap.wait_sum = max(snap.wait_sum, wait_sum)
            snap.run_sum = max(snap.run_sum, run_sum)
            snap.cpu_sum = max(snap.cpu_sum, cpu_sum)
            self._exported = (snap.wait_sum, snap.run_sum, snap.cpu_sum)
        return snap

    def _sum(self, shards: list[Shard]) -> TaskSnapshot:
        snap = TaskSnapshot(len(self.bounds) + 1)
        # Order matters: finished -> started -> not-run -> submitted, so that
        # queued = submitted - started - not_run and running = started - finished are >= 0.
        for s in shards:
            snap.succeeded += s.succeeded
            snap.failed += s.failed
        for s in shards:
            snap.started += s.started
        for s in shards:
            snap.cancelled += s.cancelled
            snap.not_run_failed += s.not_run_failed
        for s in shards:
            snap.submitted += s.submitted
        for s in shards:
            for i, n in enumerate(s.wait_counts):
                snap.wait_counts[i] += n
            for i, n in enumerate(s.run_counts):
                snap.run_counts[i] += n
            snap.wait_sum += s.wait_sum
            snap.run_sum += s.run_sum
            snap.cpu_sum += s.cpu_sum
            for name, n in list(s.exceptions.items()):
                snap.exceptions[name] = snap.exceptions.get(name, 0) + n
        return snap


class PoolSeries:
    """Counters of one (registry, pool label): shared by every pool instance with that label.

    Pool-level events (workers, rejections, failures) are rare, so they take a lock; gauges that
    several live instances contribute to move by increments, never by assignment.
    """

    def __init__(self, label: str, bounds: tuple[float, ...]) -> None:
        self.label = label
        self.bounds = bounds
        self.lock = threading.RLock()  # RLock: worker_stopped may run from a finalizer
        self.tasks: dict[str, TaskSeries] = {}
        self.exception_labels: set[str] = set()
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.workers_started = 0
        self.workers_stopped = 0
        self.workers_max = 0
        self.initializer_failures = 0
        self.callback_failures = 0
        self.instrumentation_errors: dict[str, int] = {}
        self.task_cap_logged = False

    def task_series(self, task: str, cap: int) -> TaskSeries:
        """The series for ``task``; past ``cap`` distinct tasks, the shared ``other`` series."""
        series = self.tasks.get(task)
        if series is not None:
            return series
        with self.lock:
            wanted = task
            task = capped(task, self.tasks, cap)
            if task == OTHER and wanted != OTHER and not self.task_cap_logged:
                # Once per pool label: folding tasks into "other" silently would hide why a
                # dashboard's per-task panels stopped growing.
                self.task_cap_logged = True
                _log.warning(
                    "tpe_insight: pool %r has %d task labels (max_task_labels); further tasks"
                    " such as %r are counted as 'other'",
                    self.label,
                    cap,
                    wanted,
                )
            series = self.tasks.get(task)
            if series is None:
                series = self.tasks[task] = TaskSeries(self, task)
            return series

    def exception_label(self, name: str, cap: int) -> str:
        """``name`` if this pool has seen it or has room for it, else ``other``."""
        if name in self.exception_labels:
            return name
        with self.lock:
            name = capped(name, self.exception_labels, cap)
            if name != OTHER:
                self.exception_labels.add(name)
            return name

    def rejected_one(self, reason: str) -> None:
        with self.lock:
            self.rejected[reason] += 1

    def worker_started(self) -> None:
        with self.lock:
            self.workers_started += 1

    def worker_stopped(self) -> None:
        with self.lock:
            self.workers_stopped += 1

    def pool_opened(self, max_workers: int) -> None:
        with self.lock:
            self.workers_max += max_workers

    def pool_closed(self, max_workers: int) -> None:
        with self.lock:
            self.workers_max -= max_workers

    def initializer_failed(self) -> None:
        with self.lock:
            self.initializer_failures += 1

    def callback_failed(self) -> None:
        with self.lock:
            self.callback_failures += 1

    def instrumentation_error(self, component: str) -> None:
        with self.lock:
            self.instrumentation_errors[component] = (
                self.instrumentation_errors.get(component, 0) + 1
            )


class MetricsCollector(Collector):
    """All pool series of one registry, exposed as the ``tpe_*`` metric families.

    Registered once per registry; pools with the same label share a :class:`PoolSeries`, so
    creating pools in a loop adds no series.
    """

    def __init__(self, bounds: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self._pools: dict[str, PoolSeries] = {}
        self._lock = threading.Lock()

    def pool_series(self, label: str, bounds: tuple[float, ...] | None = None) -> PoolSeries:
        """The shared series for a pool label (bucket bounds are fixed by its first pool);
        past :data:`~tpe_insight.naming.MAX_POOL_LABELS` labels, the shared ``other`` series."""
        series = self._pools.get(label)
        if series is None:
            with self._lock:
                label = capped(label, self._pools, MAX_POOL_LABELS)
                series = self._pools.get(label)
                if series is None:
                    series = self._pools[label] = PoolSeries(label, bounds or self.bounds)
        return series

    def _forget_pools(self) -> None:
        """Drop every series (forked child only; see :func:`_after_fork_in_child`)."""
        self._lock = threading.Lock()
        self._pools = {}

    def pools(self) -> list[PoolSeries]:
        with self._lock:
            return list(self._pools.values())

    def describe(self) -> Iterable[Metric]:
        # Returning the (empty) families lets the registry detect name clashes at register time
        # without collecting live data.
        return list(_families().values())

    def collect(self) -> Iterator[Metric]:
        fam = _families()
        for pool in self.pools():
            _collect_pool(pool, fam)
        return iter(fam.values())


def _families() -> dict[str, Any]:
    fam: dict[str, Any] = {}
    for name, (kind, labels, doc) in METRICS.items():
        if kind == "counter":
            fam[name] = CounterMetricFamily(name.removesuffix("_total"), doc, labels=labels)
        elif kind == "gauge":
            fam[name] = GaugeMetricFamily(name, doc, labels=labels)
        else:
            fam[name] = HistogramMetricFamily(name, doc, labels=labels)
    return fam


def _cumulative(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    return [
        (le, float(total))
        for le, total in zip(_le_labels(bounds), itertools.accumulate(counts), strict=False)
    ]


@functools.lru_cache(maxsize=64)
def _le_labels(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """The ``le`` label values of ``bounds`` plus ``+Inf``, formatted once per bucket layout
    instead of once per bucket, series and scrape."""
    return tuple(_le(bound) for bound in (*bounds, math.inf))


def _le(bound: float) -> str:
    if bound == math.inf:
        return "+Inf"
    return repr(float(bound))


def _collect_pool(pool: PoolSeries, fam: dict[str, Any]) -> None:
    p = pool.label
    with pool.lock:
        tasks = list(pool.tasks.values())
        rejected = dict(pool.rejected)
        started_workers = pool.workers_started
        stopped_workers = pool.workers_stopped
        workers_max = pool.workers_max
        init_failures = pool.initializer_failures
        cb_failures = pool.callback_failures
        instr = dict(pool.instrumentation_errors)
    submitted = queued = running = 0
    for series in tasks:
        snap = series.snapshot()
        t = series.task
        queued += snap.queued
        running += snap.running
        submitted += snap.submitted
        fam["tpe_tasks_finished_total"].add_metric([p, t, "success"], snap.succeeded)
        fam["tpe_tasks_finished_total"].add_metric([p, t, "error"], snap.errors)
        fam["tpe_tasks_finished_total"].add_metric([p, t, "cancelled"], snap.cancelled)
        for exc_name, n in sorted(snap.exceptions.items()):
            fam["tpe_task_exceptions_total"].add_metric([p, t, exc_name], n)
        fam["tpe_task_queue_wait_seconds"].add_metric(
            [p, t], _cumulative(series.bounds, snap.wait_counts), snap.wait_sum
        )
        fam["tpe_task_run_seconds"].add_metric(
            [p, t], _cumulative(series.bounds, snap.run_counts), snap.run_sum
        )
        fam["tpe_task_cpu_seconds_total"].add_metric([p, t], snap.cpu_sum)
    fam["tpe_tasks_submitted_total"].add_metric([p], submitted)
    for reason in REJECT_REASONS:
        fam["tpe_tasks_rejected_total"].add_metric([p, reason], rejected[reason])
    fam["tpe_tasks_queued"].add_metric([p], queued)
    fam["tpe_tasks_running"].add_metric([p], running)
    fam["tpe_workers"].add_metric([p], max(0, started_workers - stopped_workers))
    fam["tpe_workers_max"].add_metric([p], max(0, workers_max))
    fam["tpe_workers_started_total"].add_metric([p], started_workers)
    fam["tpe_initializer_failures_total"].add_metric([p], init_failures)
    fam["tpe_callback_failures_total"].add_metric([p], cb_failures)
    for component, n in sorted(instr.items()):
        fam["tpe_instrumentation_errors_total"].add_metric([p, component], n)


# -- one collector per registry ---------------------------------------------------------------

_collectors: weakref.WeakKeyDictionary[CollectorRegistry, MetricsCollector] = (
    weakref.WeakKeyDictionary()
)
_collectors_lock = threading.Lock()


def collector_for(registry: CollectorRegistry | None = None) -> MetricsCollector:
    """The :class:`MetricsCollector` of ``registry`` (the global one by default), registering it
    on first use."""
    if registry is None:
        registry = REGISTRY
    if not isinstance(registry, CollectorRegistry):
        raise TypeError(
            f"registry must be a prometheus_client.CollectorRegistry, not {type(registry).__name__}"
        )
    with _collectors_lock:
        collector = _collectors.get(registry)
        if collector is None:
            collector = MetricsCollector()
            registry.register(collector)
            _collectors[registry] = collector
        return collector


def _after_fork_in_child() -> None:
    """Start the forked child's metrics from zero, with fresh locks.

    The child has only the thread that forked: the parent's workers, their shards and the tasks
    they were running are gone, so the copied series would report queued and running tasks that
    can never finish. A lock held by another thread at the moment of the fork would also stay
    held forever in the child. Executors copied from the parent keep their old series, which no
    collector exports any more (the stdlib cannot run their tasks in the child either).
    """
    global _collectors_lock
    _collectors_lock = threading.Lock()
    for collector in list(_collectors.values()):
        collector._forget_pools()


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_after_fork_in_child)

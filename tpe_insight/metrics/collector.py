"""Scrape-time aggregation: the ``tpe_*`` metric families of one registry.

All aggregation (summing shards, cumulative buckets, gauges derived from differences) happens
here, when Prometheus scrapes, the way prometheus_client's ``Histogram`` defers its cumulative
sums: the per-task path only bumps plain numbers in a shard (:mod:`tpe_insight.metrics.shards`).
One :class:`MetricsCollector` per registry, registered on first use.

After ``os.fork()`` the child starts with empty metrics: the parent's workers and in-flight
tasks do not exist there, and would otherwise show as tasks running forever; prometheus_client's
multiprocess mode likewise starts each process at zero.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from tpe_insight import _fork
from tpe_insight.labels import (
    MAX_EXCEPTION_LABELS,
    MAX_POOL_LABELS,
    MAX_TASK_LABELS,
    CappedLabels,
)
from tpe_insight.metrics import _scrape
from tpe_insight.metrics._scrape import SeriesLabels
from tpe_insight.metrics.catalogue import DEFAULT_BUCKETS, MetricKind, build
from tpe_insight.metrics.shards import PoolSeries
from tpe_insight.typing import OUTCOMES, REJECT_REASONS

__all__ = ["MetricsCollector", "collector_for"]


class MetricsCollector(Collector):
    """All pool series of one registry, exposed as the ``tpe_*`` metric families.

    Registered once per registry; pools with the same label share a :class:`PoolSeries`, so
    creating pools in a loop adds no series.
    """

    def __init__(self, bounds: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self._pools: dict[str, PoolSeries] = {}
        self._pool_labels = CappedLabels(MAX_POOL_LABELS)
        self._lock = threading.Lock()

    def pool_series(
        self,
        label: str,
        bounds: tuple[float, ...] | None = None,
        *,
        max_task_labels: int = MAX_TASK_LABELS,
        max_exception_labels: int = MAX_EXCEPTION_LABELS,
    ) -> PoolSeries:
        """The shared series for a pool label (bucket bounds and label caps are fixed by its
        first pool); past :data:`~tpe_insight.labels.MAX_POOL_LABELS` labels, the shared
        ``other`` series."""
        series = self._pools.get(label)
        if series is None:
            label = self._pool_labels.get(label)
            with self._lock:
                series = self._pools.get(label)
                if series is None:
                    series = self._pools[label] = PoolSeries(
                        label, bounds or self.bounds, max_task_labels, max_exception_labels
                    )
        return series

    def _forget_pools(self) -> None:
        """Drop every series (forked child only; see :func:`_renew_in_child`)."""
        self._lock = threading.Lock()
        self._pools = {}
        self._pool_labels = CappedLabels(MAX_POOL_LABELS)

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


_FAMILY_OF: dict[MetricKind, Callable[[str, tuple[str, ...], str], Metric]] = {
    "counter": lambda name, labels, doc: CounterMetricFamily(
        name.removesuffix("_total"), doc, labels=labels
    ),
    "gauge": lambda name, labels, doc: GaugeMetricFamily(name, doc, labels=labels),
    "histogram": lambda name, labels, doc: HistogramMetricFamily(name, doc, labels=labels),
    "summary": lambda name, labels, doc: SummaryMetricFamily(name, doc, labels=labels),
}


def _families() -> dict[str, Any]:
    return build(_FAMILY_OF)


@functools.lru_cache(maxsize=64)
def _le_labels(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """The ``le`` label values of ``bounds`` plus ``+Inf``, formatted once per bucket layout
    instead of once per bucket, series and scrape."""
    return tuple(_le(bound) for bound in (*bounds, math.inf))


def _le(bound: float) -> str:
    if bound == math.inf:
        return "+Inf"
    return repr(float(bound))


class _TaskLabels:
    """The label dicts of one (pool, task) series' samples (see :mod:`tpe_insight._scrape`)."""

    __slots__ = ("base", "exceptions", "outcomes")

    def __init__(self, pool: str, task: str) -> None:
        self.base = {"pool": pool, "task": task}
        self.outcomes = tuple({**self.base, "outcome": o} for o in OUTCOMES)
        self.exceptions: dict[str, dict[str, str]] = {}

    def exception(self, name: str) -> dict[str, str]:
        labels = self.exceptions.get(name)
        if labels is None:
            labels = self.exceptions[name] = {**self.base, "exception": name}
        return labels


class _PoolLabels:
    __slots__ = ("base", "components", "rejected", "run", "wait")

    def __init__(self, pool: str, les: tuple[str, ...]) -> None:
        self.base = {"pool": pool}
        self.rejected = {r: {"pool": pool, "reason": r} for r in REJECT_REASONS}
        self.wait = SeriesLabels(("pool",), (pool,), les)
        self.run = SeriesLabels(("pool",), (pool,), les)
        self.components: dict[str, dict[str, str]] = {}

    def component(self, name: str) -> dict[str, str]:
        labels = self.components.get(name)
        if labels is None:
            labels = self.components[name] = {"pool": self.base["pool"], "component": name}
        return labels


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
    labels = pool.export
    if not isinstance(labels, _PoolLabels):
        labels = pool.export = _PoolLabels(p, _le_labels(pool.bounds))
    submitted = queued = running = 0
    empty = [0] * (len(pool.bounds) + 1)
    wait_rows: list[list[int]] = [empty]
    run_rows: list[list[int]] = [empty]
    pool_wait_sum = pool_run_sum = 0.0
    finished = fam["tpe_tasks_finished_total"]
    exceptions = fam["tpe_task_exceptions_total"]
    wait_family = fam["tpe_task_queue_wait_seconds"]
    run_family = fam["tpe_task_run_seconds"]
    cpu_family = fam["tpe_task_cpu_seconds_total"]
    for series in tasks:
        snap = series.snapshot(columns=False)
        queued += snap.queued
        running += snap.running
        submitted += snap.submitted
        task_labels = series.export
        if not isinstance(task_labels, _TaskLabels):
            task_labels = series.export = _TaskLabels(p, series.task)
        success, error, cancelled = task_labels.outcomes
        _scrape.counter(finished, success, snap.succeeded)
        _scrape.counter(finished, error, snap.errors)
        _scrape.counter(finished, cancelled, snap.cancelled)
        for exc_name, n in sorted(snap.exceptions.items()):
            _scrape.counter(exceptions, task_labels.exception(exc_name), n)
        # Per task, the exact mean (_count, _sum); the quantiles come from the pool's histograms.
        _scrape.summary(wait_family, task_labels.base, snap.wait_count, snap.wait_sum)
        _scrape.summary(run_family, task_labels.base, snap.run_count, snap.run_sum)
        _scrape.counter(cpu_family, task_labels.base, snap.cpu_sum)
        wait_rows.extend(snap.wait_rows)
        run_rows.extend(snap.run_rows)
        pool_wait_sum += snap.wait_sum
        pool_run_sum += snap.run_sum
    _scrape.histogram(
        fam["tpe_pool_queue_wait_seconds"],
        labels.wait,
        list(itertools.accumulate(_scrape.sum_columns(wait_rows))),
        pool_wait_sum,
    )
    _scrape.histogram(
        fam["tpe_pool_run_seconds"],
        labels.run,
        list(itertools.accumulate(_scrape.sum_columns(run_rows))),
        pool_run_sum,
    )
    base = labels.base
    _scrape.counter(fam["tpe_tasks_submitted_total"], base, submitted)
    for reason in REJECT_REASONS:
        _scrape.counter(fam["tpe_tasks_rejected_total"], labels.rejected[reason], rejected[reason])
    _scrape.gauge(fam["tpe_tasks_queued"], base, queued)
    _scrape.gauge(fam["tpe_tasks_running"], base, running)
    _scrape.gauge(fam["tpe_workers"], base, max(0, started_workers - stopped_workers))
    _scrape.gauge(fam["tpe_workers_max"], base, max(0, workers_max))
    _scrape.counter(fam["tpe_workers_started_total"], base, started_workers)
    _scrape.counter(fam["tpe_initializer_failures_total"], base, init_failures)
    _scrape.counter(fam["tpe_callback_failures_total"], base, cb_failures)
    for component, n in sorted(instr.items()):
        _scrape.counter(fam["tpe_instrumentation_errors_total"], labels.component(component), n)


# -- one collector per registry ---------------------------------------------------------------

_collectors: weakref.WeakKeyDictionary[CollectorRegistry, MetricsCollector] = (
    weakref.WeakKeyDictionary()
)
_collectors_lock = threading.Lock()


def collector_for(registry: CollectorRegistry | None = None) -> MetricsCollector:
    """The :class:`MetricsCollector` of ``registry`` (the global one by default), registering it
    on first use."""
    _fork.ensure_installed()
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


@_fork.on_fork_in_child
def _renew_in_child() -> None:
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

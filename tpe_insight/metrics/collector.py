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
)
from prometheus_client.registry import Collector

from tpe_insight import _fork
from tpe_insight.labels import (
    MAX_EXCEPTION_LABELS,
    MAX_POOL_LABELS,
    MAX_TASK_LABELS,
    CappedLabels,
)
from tpe_insight.metrics.catalogue import DEFAULT_BUCKETS, MetricKind, build
from tpe_insight.metrics.shards import PoolSeries
from tpe_insight.typing import REJECT_REASONS

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
}


def _families() -> dict[str, Any]:
    return build(_FAMILY_OF)


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

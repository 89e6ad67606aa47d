"""Metrics for prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, gunicorn).

In multiprocess mode every process writes its metric values to memory-mapped files and the
scrape handler aggregates them with ``prometheus_client.multiprocess.MultiProcessCollector``.
That collector only reads those files: custom collectors, such as the sharded
:class:`~tpe_insight.metrics.collector.MetricsCollector`, are invisible to it. So in this
mode the pool feeds :class:`MultiprocessSink` instead, which updates plain ``Counter``,
``Histogram``, ``Summary`` and ``Gauge`` objects with the *same* names, labels and help as
:data:`tpe_insight.metrics.catalogue.METRICS` (dashboards and alerts work unchanged). Gauges
use ``multiprocess_mode="livesum"``: the scrape sums the live processes and drops a dead one once
``multiprocess.mark_process_dead(pid)`` has run (gunicorn's ``child_exit`` hook is the usual place).

:class:`~tpe_insight.ThreadPoolExecutor` switches to this sink by itself when
``PROMETHEUS_MULTIPROC_DIR`` is set at construction. prometheus_client reads that variable when
it is first imported, so set it before anything imports prometheus_client (as gunicorn's
documentation already requires).

Differences from the in-process collector, all inherent to the mode:

* every update takes prometheus_client's per-process lock and writes a mmap (slower per task
  than the sharded counters, as for any multiprocess metric);
* ``tpe_tasks_queued`` is set, under a per-pool-label lock, from this process's own count: the
  ``task_submitted`` event arrives after ``submit()`` has queued the task, so a worker may start
  it first, and a plain ``dec()`` could then publish ``-1`` for a moment. Each process owns its
  own value and ``livesum`` adds them, so setting it is exact;
* instrumentation errors are logged (once per component) but not counted, since the count lives
  on the in-process series.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Summary

from tpe_insight import _fork
from tpe_insight._hotpath import WorkerExit
from tpe_insight.events import PoolInfo, Sink, TaskInfo
from tpe_insight.labels import (
    MAX_EXCEPTION_LABELS,
    MAX_POOL_LABELS,
    MAX_TASK_LABELS,
    CappedLabels,
    exception_label,
)
from tpe_insight.metrics.catalogue import DEFAULT_BUCKETS, build
from tpe_insight.typing import OUTCOMES, REJECT_REASONS, RejectReason

__all__ = ["ENV_VAR", "MultiprocessSink"]

#: The environment variable that puts prometheus_client (and the executor) in multiprocess mode.
ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"

Metric = Counter | Gauge | Histogram | Summary

_log = logging.getLogger("tpe_insight")
_dir_warned: set[str] = set()
_dir_warned_lock = threading.Lock()


def directory_usable() -> bool:
    """Whether ``PROMETHEUS_MULTIPROC_DIR`` names a writable directory; warn once if not.

    prometheus_client opens its mmap files in that directory on the first metric update, so a
    missing directory, a path under a file or a read-only one made every pool raise (from
    ``shutdown()`` among others) where the stdlib class ignores the variable. A drop-in must
    not: pools then run without metrics, and the problem is logged once per path.
    """
    path = os.environ.get(ENV_VAR, "")
    if path and os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK):
        return True
    with _dir_warned_lock:
        first = path not in _dir_warned
        _dir_warned.add(path)
    if first:
        _log.warning(
            "tpe_insight: %s=%r is not a writable directory; pools run without metrics"
            " (prometheus_client cannot write its multiprocess files there)",
            ENV_VAR,
            path,
        )
    return False


class _Metrics:
    """The metric objects of one registry in this process, built once from ``METRICS``."""

    def __init__(self, registry: CollectorRegistry, buckets: Sequence[float]) -> None:
        self.by_name: dict[str, Metric] = build(
            {
                "counter": lambda name, labels, doc: Counter(name, doc, labels, registry=registry),
                "gauge": lambda name, labels, doc: Gauge(
                    name, doc, labels, registry=registry, multiprocess_mode="livesum"
                ),
                # The per-pool histograms; per task, summaries (count and sum), as in the
                # in-process collector.
                "histogram": lambda name, labels, doc: Histogram(
                    name, doc, labels, registry=registry, buckets=tuple(buckets)
                ),
                "summary": lambda name, labels, doc: Summary(name, doc, labels, registry=registry),
            }
        )
        self.pools: dict[str, _PoolChildren] = {}
        self.pool_labels = CappedLabels(MAX_POOL_LABELS)
        self.lock = threading.Lock()

    def counter(self, name: str) -> Counter:
        metric = self.by_name[name]
        assert isinstance(metric, Counter)
        return metric

    def gauge(self, name: str) -> Gauge:
        metric = self.by_name[name]
        assert isinstance(metric, Gauge)
        return metric

    def histogram(self, name: str) -> Histogram:
        metric = self.by_name[name]
        assert isinstance(metric, Histogram)
        return metric

    def summary(self, name: str) -> Summary:
        metric = self.by_name[name]
        assert isinstance(metric, Summary)
        return metric

    def pool(self, label: str, max_task_labels: int, max_exception_labels: int) -> _PoolChildren:
        children = self.pools.get(label)
        if children is None:
            label = self.pool_labels.get(label)
            with self.lock:
                children = self.pools.get(label)
                if children is None:
                    children = self.pools[label] = _PoolChildren(
                        self, label, max_task_labels, max_exception_labels
                    )
        return children


class _PoolChildren:
    """The label children of one pool label (cached: ``labels()`` is never called per task),
    with the per-label caps on task and exception labels."""

    def __init__(
        self, metrics: _Metrics, label: str, max_task_labels: int, max_exception_labels: int
    ) -> None:
        self.metrics = metrics
        self.label = label
        self.lock = threading.Lock()
        self.submitted = metrics.counter("tpe_tasks_submitted_total").labels(label)
        self.rejected = {
            reason: metrics.counter("tpe_tasks_rejected_total").labels(label, reason)
            for reason in REJECT_REASONS
        }
        self.queued = metrics.gauge("tpe_tasks_queued").labels(label)
        self.running = metrics.gauge("tpe_tasks_running").labels(label)
        self.workers = metrics.gauge("tpe_workers").labels(label)
        self.workers_max = metrics.gauge("tpe_workers_max").labels(label)
        self.workers_started = metrics.counter("tpe_workers_started_total").labels(label)
        self.initializer_failures = metrics.counter("tpe_initializer_failures_total").labels(label)
        self.callback_failures = metrics.counter("tpe_callback_failures_total").labels(label)
        self.queue_wait = metrics.histogram("tpe_pool_queue_wait_seconds").labels(label)
        self.run = metrics.histogram("tpe_pool_run_seconds").labels(label)
        self.queued_now = 0  # this process's queued tasks for this label; guarded by ``lock``
        self.tasks: dict[str, _TaskChildren] = {}
        # Fixed by the first pool with this label, as in the in-process collector.
        self.task_labels = CappedLabels(max_task_labels)
        self.exception_labels = CappedLabels(max_exception_labels)

    def move_queued(self, delta: int) -> None:
        with self.lock:
            self.queued_now += delta
            self.queued.set(max(0, self.queued_now))

    def task(self, name: str) -> _TaskChildren:
        children = self.tasks.get(name)
        if children is not None:
            return children
        name = self.task_labels.get(name)
        with self.lock:
            children = self.tasks.get(name)
            if children is None:
                children = self.tasks[name] = _TaskChildren(self, name)
            return children


class _TaskChildren:
    """The label children of one (pool label, task label)."""

    def __init__(self, pool: _PoolChildren, task: str) -> None:
        metrics = pool.metrics
        self.pool = pool
        self.task = task
        finished = metrics.counter("tpe_tasks_finished_total")
        self.finished = {o: finished.labels(pool.label, task, o) for o in OUTCOMES}
        self.queue_wait = metrics.summary("tpe_task_queue_wait_seconds").labels(pool.label, task)
        self.run = metrics.summary("tpe_task_run_seconds").labels(pool.label, task)
        self.cpu = metrics.counter("tpe_task_cpu_seconds_total").labels(pool.label, task)
        self.exceptions: dict[str, Counter] = {}

    def exception(self, exc: BaseException) -> None:
        label = self.pool.exception_labels.get(exception_label(exc))
        child = self.exceptions.get(label)
        if child is None:
            child = self.exceptions.setdefault(
                label,
                self.pool.metrics.counter("tpe_task_exceptions_total").labels(
                    self.pool.label, self.task, label
                ),
            )
        child.inc()


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()
_by_registry_lock = threading.Lock()


def _metrics_for(registry: CollectorRegistry, buckets: Sequence[float]) -> _Metrics:
    with _by_registry_lock:
        metrics = _by_registry.get(registry)
        if metrics is None:
            metrics = _by_registry[registry] = _Metrics(registry, buckets)
        return metrics


_worker_tls = threading.local()


class MultiprocessSink(Sink):
    """Feeds the ``tpe_*`` metrics as plain prometheus_client objects (multiprocess mode).

    ``registry`` is where the metric objects are registered in this process (default: the
    global one, as prometheus_client's own multiprocess examples do); the scrape handler reads
    the files with its own registry holding a ``MultiProcessCollector``. ``buckets`` are fixed by
    the first sink of a registry. The caps have the executor's meaning and defaults.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        max_task_labels: int = MAX_TASK_LABELS,
        max_exception_labels: int = MAX_EXCEPTION_LABELS,
    ) -> None:
        _fork.ensure_installed()
        self.metrics = _metrics_for(registry if registry is not None else REGISTRY, buckets)
        self.max_task_labels = max_task_labels
        self.max_exception_labels = max_exception_labels
        self._tasks: weakref.WeakKeyDictionary[TaskInfo, _TaskChildren] = (
            weakref.WeakKeyDictionary()
        )
        self._open: set[int] = set()
        self._lock = threading.Lock()
        _sinks.add(self)

    def _task(self, task: TaskInfo) -> _TaskChildren:
        children = self._tasks.get(task)
        if children is None:
            children = self._pool(task.pool).task(task.name)
            self._tasks[task] = children
        return children

    def _pool(self, pool: PoolInfo) -> _PoolChildren:
        return self.metrics.pool(pool.label, self.max_task_labels, self.max_exception_labels)

    # -- pool events --

    def pool_created(self, pool: PoolInfo) -> None:
        with self._lock:
            if pool.pool_id in self._open:
                return
            self._open.add(pool.pool_id)
        self._pool(pool).workers_max.inc(pool.max_workers)

    def pool_closed(self, pool: PoolInfo) -> None:
        """Take the pool's ``max_workers`` out of ``tpe_workers_max``; idempotent per pool, so
        both ``shutdown()`` and the executor's garbage-collection finalizer may call it."""
        with self._lock:
            if pool.pool_id not in self._open:
                return
            self._open.discard(pool.pool_id)
        self._pool(pool).workers_max.dec(pool.max_workers)

    def pool_shutdown(
        self, pool: PoolInfo, wait: bool, cancel_futures: bool, shutdown_at: float
    ) -> None:
        self.pool_closed(pool)

    def worker_started(self, pool: PoolInfo, thread_name: str, started_at: float) -> None:
        children = self._pool(pool)
        children.workers_started.inc()
        children.workers.inc()
        # Lowers tpe_workers when the worker thread ends (the in-process collector's signal);
        # only in this process: a forked child frees the parent's workers' storage too, and
        # never counted them in its own files.
        _worker_tls.gone = WorkerExit(children.workers.dec, only_in=os.getpid())

    def initializer_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        self._pool(pool).initializer_failures.inc()

    def task_rejected(self, pool: PoolInfo, reason: RejectReason, exc: BaseException) -> None:
        self._pool(pool).rejected[reason].inc()

    def callback_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        self._pool(pool).callback_failures.inc()

    # -- task events --

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        children = self._task(task)
        children.pool.submitted.inc()
        children.pool.move_queued(1)

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        children = self._task(task)
        children.pool.move_queued(-1)
        children.pool.running.inc()
        children.queue_wait.observe(started_at - submitted_at)
        children.pool.queue_wait.observe(started_at - submitted_at)

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
        children = self._task(task)
        children.run.observe(ended_at - started_at)
        children.pool.run.observe(ended_at - started_at)
        if cpu_seconds > 0.0:
            children.cpu.inc(cpu_seconds)
        if exc is None:
            children.finished["success"].inc()
        else:
            children.exception(exc)
            children.finished["error"].inc()
        children.pool.running.dec()

    def task_not_run(
        self, task: TaskInfo, cancelled: bool, exc: BaseException | None, ended_at: float
    ) -> None:
        children = self._task(task)
        if cancelled:
            children.finished["cancelled"].inc()
        else:
            if exc is not None:
                children.exception(exc)
            children.finished["error"].inc()
        children.pool.move_queued(-1)


_sinks: weakref.WeakSet[MultiprocessSink] = weakref.WeakSet()


@_fork.on_fork_in_child
def _renew_in_child() -> None:
    """Forget what the parent process counted, and renew the locks.

    prometheus_client gives the child its own files, starting from zero; our own per-process
    state must start over with it, or the child would publish the parent's queued tasks again
    and, when the copied pools are collected, subtract the parent's ``max_workers``.
    """
    global _by_registry_lock
    _by_registry_lock = threading.Lock()
    for metrics in list(_by_registry.values()):
        metrics.lock = threading.Lock()
        for pool in list(metrics.pools.values()):
            pool.lock = threading.Lock()
            pool.queued_now = 0
            pool.task_labels.renew_lock()
            pool.exception_labels.renew_lock()
        metrics.pool_labels.renew_lock()
    for sink in list(_sinks):
        sink._lock = threading.Lock()
        sink._open.clear()

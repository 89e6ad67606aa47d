"""The metric contract: every exported ``tpe_*`` metric with its type, labels and help.

``docs/metrics.md``, the dashboards, the alerts and the tests are checked against
:data:`METRICS`; the in-process collector and the multiprocess metrics both build their
families from it through :func:`build`, so the two exports cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, TypeVar

from tpe_insight.metrics.buckets import DEFAULT_BUCKETS, POOL_BUCKETS

__all__ = ["DEFAULT_BUCKETS", "METRICS", "POOL_BUCKETS", "MetricKind", "build"]

MetricKind = Literal["counter", "gauge", "histogram", "summary"]
T = TypeVar("T")

#: The metric contract: exported name -> (type, labels, help). ``docs/metrics.md`` and the tests
#: are checked against this table.
METRICS: dict[str, tuple[MetricKind, tuple[str, ...], str]] = {
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
        "summary",
        ("pool", "task"),
        "Time from submit() to the task starting on a worker, for tasks that started; per task,"
        " count and sum only (the exact mean); quantiles from tpe_pool_queue_wait_seconds.",
    ),
    "tpe_task_run_seconds": (
        "summary",
        ("pool", "task"),
        "Time from the task starting on a worker to it returning or raising; per task, count and"
        " sum only (the exact mean); quantiles from tpe_pool_run_seconds.",
    ),
    "tpe_pool_queue_wait_seconds": (
        "histogram",
        ("pool",),
        "Time from submit() to the task starting on a worker, for tasks that started; per pool,"
        " with fine buckets (100 us to 1 h) for accurate quantiles.",
    ),
    "tpe_pool_run_seconds": (
        "histogram",
        ("pool",),
        "Time from the task starting on a worker to it returning or raising; per pool, with fine"
        " buckets (100 us to 1 h) for accurate quantiles.",
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


def build(make: Mapping[MetricKind, Callable[[str, tuple[str, ...], str], T]]) -> dict[str, T]:
    """One object per metric of :data:`METRICS`, made by ``make[kind](name, labels, help)``.

    The one family builder: the scrape-time collector makes ``*MetricFamily`` objects with it,
    the multiprocess mode makes prometheus_client ``Counter`` / ``Gauge`` / ``Histogram`` /
    ``Summary``.
    """
    return {name: make[kind](name, labels, doc) for name, (kind, labels, doc) in METRICS.items()}

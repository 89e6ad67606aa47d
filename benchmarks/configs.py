"""The configurations every workload compares.

Each configuration is a factory ``max_workers -> executor``. The tpe_insight ones get a fresh
``CollectorRegistry`` and an explicit pool name, so that no run touches the global registry and
no construction pays for the call-site lookup. ``logs=False`` is passed explicitly wherever
structlog is not the point: the benchmark process configures structlog (for the ``structlog``
configuration), and with ``logs=None`` (the default) every pool would then log too; ``logs=False``
is what the default means in a program that has not configured structlog.

``seams`` records nothing (``metrics=False``, ``cpu_time="off"``, no sink): it is the cost of
the public seams alone (the wrapper around ``fn``, its extra arguments in the work item, and the
done-callback on every future), i.e. the floor any configuration starts from.

The optional layers (``profiler``, ``structlog``, ``context``) are each added *on top of the
default options*, one at a time, so each column shows the price of that one feature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry

from tpe_insight import Recorder, StdlibThreadPoolExecutor, ThreadPoolExecutor

__all__ = [
    "ALL_CONFIGS",
    "BASELINE",
    "Config",
    "by_name",
    "configure_structlog",
]

#: Ring-buffer bound of the profiler's recorder in the benchmarks (spans kept; older dropped).
RECORDER_MAXLEN = 65_536

_structlog_configured = False


def configure_structlog() -> None:
    """structlog at INFO, rendering JSON into a logger that returns the line (in memory).

    The per-task path only reaches the sink's ``task_finished`` (a no-op for a success when
    ``log_tasks`` is off); pool events do go through the whole processor chain.
    """
    global _structlog_configured
    if _structlog_configured:
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    _structlog_configured = True


@dataclass(frozen=True)
class Config:
    """One column of the table: a name, a one-line description, and how to build its pool."""

    name: str
    description: str
    make: Callable[[int], Executor]

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE


BASELINE = "stdlib"


def _stdlib(workers: int) -> Executor:
    return StdlibThreadPoolExecutor(workers)


def _seams(workers: int) -> Executor:
    return ThreadPoolExecutor(
        workers,
        name="bench",
        registry=CollectorRegistry(),
        metrics=False,
        cpu_time="off",
        logs=False,
    )


def _metrics_only(workers: int) -> Executor:
    return ThreadPoolExecutor(
        workers,
        name="bench",
        registry=CollectorRegistry(),
        task_labels=False,
        cpu_time="off",
        logs=False,
    )


def _default(workers: int) -> Executor:
    return ThreadPoolExecutor(workers, name="bench", registry=CollectorRegistry(), logs=False)


def _profiler(workers: int) -> Executor:
    return ThreadPoolExecutor(
        workers,
        name="bench",
        registry=CollectorRegistry(),
        logs=False,
        sinks=[Recorder(capacity=RECORDER_MAXLEN)],
    )


def _structlog(workers: int) -> Executor:
    configure_structlog()
    return ThreadPoolExecutor(workers, name="bench", registry=CollectorRegistry(), logs=True)


def _context(workers: int) -> Executor:
    return ThreadPoolExecutor(
        workers, name="bench", registry=CollectorRegistry(), logs=False, propagate_context=True
    )


ALL_CONFIGS: tuple[Config, ...] = (
    Config(BASELINE, "concurrent.futures.ThreadPoolExecutor", _stdlib),
    Config("seams", "floor: metrics=False, cpu_time='off' (wrapper + done-callback only)", _seams),
    Config("metrics", "metrics only: task_labels=False, cpu_time='off'", _metrics_only),
    Config("default", "default options: metrics + task labels + cpu_time='fast'", _default),
    Config("profiler", "default + the profiler's Recorder (tpe_insight.profile)", _profiler),
    Config("structlog", "default + structlog at INFO (logs=True)", _structlog),
    Config("context", "default + propagate_context=True", _context),
)


def by_name(*names: str) -> tuple[Config, ...]:
    """The configurations called ``names``, in that order."""
    table = {config.name: config for config in ALL_CONFIGS}
    return tuple(table[name] for name in names)

"""Validation of the executor's keyword-only options: once, at construction, each error naming
the option, so a bad value fails where it is written and never on the per-task path."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry

from tpe_insight._fanout import validate_sinks
from tpe_insight.logs import StructlogSink, should_log
from tpe_insight.metrics.catalogue import DEFAULT_BUCKETS
from tpe_insight.typing import CPU_TIMES, CpuTime

__all__ = ["Options"]


class Options:
    """The keyword-only options, validated once; each error names the option."""

    def __init__(
        self,
        *,
        metrics: object,
        registry: object,
        sinks: object,
        logs: object,
        logger: object = None,
        log_tasks: object,
        log_exception_details: object,
        propagate_context: object,
        task_labels: object,
        max_task_labels: object,
        max_exception_labels: object,
        cpu_time: object,
        buckets: object,
        clock: object,
        cpu_clock: object,
    ) -> None:
        self.metrics = _flag("metrics", metrics)
        if registry is not None and not isinstance(registry, CollectorRegistry):
            raise TypeError(
                "registry must be a prometheus_client.CollectorRegistry or None, "
                f"not {type(registry).__name__}"
            )
        self.registry: CollectorRegistry | None = registry
        self.sinks = validate_sinks(sinks)
        if logs is not None:
            logs = _flag("logs", logs)
        self.log_tasks = _flag("log_tasks", log_tasks)
        self.log_exception_details = _flag("log_exception_details", log_exception_details)
        self.propagate_context = _flag("propagate_context", propagate_context)
        self.task_labels = _flag("task_labels", task_labels)
        self.max_task_labels = _positive_int("max_task_labels", max_task_labels)
        self.max_exception_labels = _positive_int("max_exception_labels", max_exception_labels)
        if cpu_time not in CPU_TIMES:
            raise ValueError(f"cpu_time must be one of 'fast', 'exact', 'off', not {cpu_time!r}")
        self.cpu_time: CpuTime = cpu_time
        self.buckets = _buckets(buckets)
        self.clock: Callable[[], float] = _clock("clock", clock, time.perf_counter)
        self.cpu_clock: Callable[[], float] = _clock("cpu_clock", cpu_clock, time.thread_time)
        self.log_sink: StructlogSink | None = None
        # A logger given explicitly is a request for logs (unless logs=False says otherwise).
        if should_log(logs) or (logs is None and logger is not None):
            self.log_sink = StructlogSink(
                logger=logger,
                log_tasks=self.log_tasks,
                exception_details=self.log_exception_details,
            )


def _flag(option: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{option} must be True or False, not {value!r}")
    return value


def _positive_int(option: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{option} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{option} must be at least 1, got {value}")
    return value


def _buckets(value: object) -> tuple[float, ...]:
    if value is None:
        return DEFAULT_BUCKETS
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"buckets must be a sequence of numbers, not {type(value).__name__}")
    bounds = tuple(value)
    if not bounds:
        raise ValueError("buckets must not be empty")
    for bound in bounds:
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise TypeError(f"buckets must hold numbers, got {bound!r}")
        if not math.isfinite(bound) or bound <= 0:
            raise ValueError(f"buckets must be positive and finite, got {bound!r}")
    if any(b >= a for a, b in zip(bounds[1:], bounds, strict=False)):
        raise ValueError("buckets must be strictly increasing")
    return tuple(float(b) for b in bounds)


def _clock(option: str, value: object, default: Callable[[], float]) -> Callable[[], float]:
    if value is None:
        return default
    if not callable(value):
        raise TypeError(f"{option} must be a callable returning seconds, not {value!r}")
    return value

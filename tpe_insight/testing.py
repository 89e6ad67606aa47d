"""Helpers for testing code that uses tpe_insight, as ``structlog.testing`` does for structlog.

``capture_events()`` records every lifecycle event of the pools created inside the ``with``
block as plain dicts, so a test can assert what its pools did without a Prometheus registry::

    with capture_events() as events:
        with ThreadPoolExecutor(2, name="jobs") as pool:
            pool.submit(job).result()
    assert [e["event"] for e in events if e["event"].startswith("task")] == [...]
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tpe_insight import global_sinks
from tpe_insight.lifecycle import PoolInfo, Sink, TaskInfo
from tpe_insight.naming import exception_label

__all__ = ["CaptureSink", "capture_events"]


class CaptureSink(Sink):
    """A sink that keeps every event as a dict (``event``, ``pool``, and the event's fields).

    Exceptions are recorded by class name only, like the metrics. Thread-safe.
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _add(self, event: str, pool: PoolInfo, **fields: Any) -> None:
        with self._lock:
            self.events.append({"event": event, "pool": pool.label, **fields})

    def pool_created(self, pool: PoolInfo) -> None:
        self._add("pool_created", pool, max_workers=pool.max_workers)

    def worker_started(self, pool: PoolInfo, thread_name: str) -> None:
        self._add("worker_started", pool, thread=thread_name)

    def initializer_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        self._add("initializer_failed", pool, exception=exception_label(exc))

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        self._add("task_submitted", task.pool, task=task.name)

    def task_rejected(self, pool: PoolInfo, reason: str, exc: BaseException) -> None:
        self._add("task_rejected", pool, reason=reason)

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        self._add("task_started", task.pool, task=task.name, queue_wait=started_at - submitted_at)

    def task_finished(
        self,
        task: TaskInfo,
        started_at: float,
        ended_at: float,
        cpu_seconds: float,
        exc: BaseException | None,
    ) -> None:
        self._add(
            "task_finished",
            task.pool,
            task=task.name,
            outcome="success" if exc is None else "error",
            exception=None if exc is None else exception_label(exc),
            run=ended_at - started_at,
        )

    def task_not_run(self, task: TaskInfo, cancelled: bool, exc: BaseException | None) -> None:
        self._add(
            "task_finished",
            task.pool,
            task=task.name,
            outcome="cancelled" if cancelled else "error",
            exception=None if exc is None else exception_label(exc),
            run=None,
        )

    def callback_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        self._add("callback_failed", pool, exception=exception_label(exc))

    def pool_shutdown(self, pool: PoolInfo, wait: bool, cancel_futures: bool) -> None:
        self._add("pool_shutdown", pool, wait=wait, cancel_futures=cancel_futures)


@contextmanager
def capture_events() -> Iterator[list[dict[str, Any]]]:
    """Record the events of every pool constructed inside the block (see the module doc)."""
    sink = CaptureSink()
    global_sinks.add(sink)
    try:
        yield sink.events
    finally:
        global_sinks.remove(sink)

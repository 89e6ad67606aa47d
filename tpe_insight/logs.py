"""The structlog sink: pool and failure events on the logger ``tpe_insight``.

Events (``event`` key) and their levels:

======================  =======  ==========================================================
pool_created            info     pool, pool_id, max_workers
pool_shutdown           info     pool, pool_id, wait, cancel_futures, lifetime_seconds
worker_started          debug    pool, pool_id, thread
initializer_failed      error    pool, pool_id, exception
task_rejected           warning  pool, pool_id, reason, exception
task_failed             warning  pool, task, exception, queue-less run_seconds
task_cancelled          info     pool, task
callback_failed         error    pool, exception
task_submitted/started/ debug    only with ``log_tasks=True``
finished
======================  =======  ==========================================================

Exception *classes* are logged; messages and tracebacks only with
``log_exception_details=True``, because they may carry user data (SQL, keys, e-mails).
Task arguments and results are never logged.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from tpe_insight.events import PoolInfo, Sink, TaskInfo
from tpe_insight.labels import exception_label
from tpe_insight.typing import RejectReason

__all__ = ["StructlogSink", "should_log"]

LOGGER_NAME = "tpe_insight"


def should_log(logs: bool | None) -> bool:
    """Resolve ``logs=None`` (auto): log only if the program configured structlog itself.

    A drop-in replacement must not start printing to stdout in a program that never asked for
    structlog output; a program that configured structlog gets the events where it sends logs.

    Read without importing structlog: a program that never imported it cannot have configured
    it, and importing it costs ~0.08 s of CPU at start-up (``tpe-insight run``, every pool's
    first import) for nothing.
    """
    if logs is None:
        module = sys.modules.get("structlog")
        return module is not None and bool(module.is_configured())
    return logs


class StructlogSink(Sink):
    """Turns lifecycle events into structlog events. Per-task events only when asked."""

    def __init__(
        self,
        logger: Any = None,
        *,
        log_tasks: bool = False,
        exception_details: bool = False,
    ) -> None:
        if logger is None:
            # Imported here, when logs are wanted, not at import (see should_log).
            logger = importlib.import_module("structlog").get_logger(LOGGER_NAME)
        self.logger = logger
        self.exception_details = exception_details
        if not log_tasks:
            # Shadow the per-task debug hooks with the inherited no-ops, so the pool sees them
            # as not implemented and never calls them: off means free, not "cheap".
            self.task_submitted = Sink.task_submitted.__get__(self)  # type: ignore[method-assign]
            self.task_started = Sink.task_started.__get__(self)  # type: ignore[method-assign]
        self.log_tasks = log_tasks

    def _exc(self, exc: BaseException) -> dict[str, Any]:
        fields: dict[str, Any] = {"exception_class": exception_label(exc)}
        if self.exception_details:
            fields["exc_info"] = exc
        return fields

    def pool_created(self, pool: PoolInfo) -> None:
        self.logger.info(
            "pool_created", pool=pool.label, pool_id=pool.pool_id, max_workers=pool.max_workers
        )

    def pool_shutdown(
        self, pool: PoolInfo, wait: bool, cancel_futures: bool, shutdown_at: float
    ) -> None:
        self.logger.info(
            "pool_shutdown",
            pool=pool.label,
            pool_id=pool.pool_id,
            wait=wait,
            cancel_futures=cancel_futures,
            lifetime_seconds=round(shutdown_at - pool.created_at, 6),
        )

    def worker_started(self, pool: PoolInfo, thread_name: str, started_at: float) -> None:
        self.logger.debug(
            "worker_started", pool=pool.label, pool_id=pool.pool_id, thread=thread_name
        )

    def initializer_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        self.logger.error(
            "initializer_failed", pool=pool.label, pool_id=pool.pool_id, **self._exc(exc)
        )

    def task_rejected(self, pool: PoolInfo, reason: RejectReason, exc: BaseException) -> None:
        self.logger.warning(
            "task_rejected",
            pool=pool.label,
            pool_id=pool.pool_id,
            reason=reason,
            **self._exc(exc),
        )

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        self.logger.debug("task_submitted", pool=task.pool.label, task=task.name)

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        self.logger.debug(
            "task_started",
            pool=task.pool.label,
            task=task.name,
            queue_wait_seconds=round(started_at - submitted_at, 6),
        )

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
        if exc is not None:
            self.logger.warning(
                "task_failed",
                pool=task.pool.label,
                task=task.name,
                run_seconds=round(ended_at - started_at, 6),
                **self._exc(exc),
            )
        elif self.log_tasks:
            self.logger.debug(
                "task_finished",
                pool=task.pool.label,
                task=task.name,
                run_seconds=round(ended_at - started_at, 6),
                cpu_seconds=round(cpu_seconds, 6),
            )

    def task_not_run(
        self, task: TaskInfo, cancelled: bool, exc: BaseException | None, ended_at: float
    ) -> None:
        if cancelled:
            self.logger.info("task_cancelled", pool=task.pool.label, task=task.name)
        else:
            fields = self._exc(exc) if exc is not None else {}
            self.logger.warning(
                "task_failed", pool=task.pool.label, task=task.name, started=False, **fields
            )

    def callback_failed(self, pool: PoolInfo, exc: BaseException) -> None:
        self.logger.error(
            "callback_failed", pool=pool.label, pool_id=pool.pool_id, **self._exc(exc)
        )

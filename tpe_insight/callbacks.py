"""Counting done-callbacks that raise.

The stdlib catches an exception raised by a done-callback and only logs it, on the logger
``concurrent.futures``, with the future as the record's argument. A filter on that logger is the
one public place where such a failure can be seen. It finds the pool through the
:class:`~tpe_insight.lifecycle.TaskInfo` that :class:`~tpe_insight.ThreadPoolExecutor` stores on
each future it returns (``_tpe_task``), or else through the callback it attached (a ``partial``
of ``_task_done``), reading the future's callback list behind a guard. The attribute is needed
because a task that finishes before ``submit`` attaches that callback has it called at once and
never stored. The filter never drops a record.

Limitation: if the program disables that logger (level above ERROR, ``logging.disable``), the
stdlib does not create the record and the failure cannot be counted.
"""

from __future__ import annotations

import functools
import logging
from concurrent.futures import Future
from typing import Any

from tpe_insight.lifecycle import TaskInfo, dispatch

__all__ = ["install_filter"]

_STDLIB_MESSAGE = "exception calling callback for %r"
_installed = False


class CallbackFailureFilter(logging.Filter):
    """Counts 'exception calling callback' records that concern an instrumented future."""

    def __init__(self, done_callback: Any) -> None:
        super().__init__()
        self._done_callback = done_callback

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if record.msg == _STDLIB_MESSAGE and isinstance(record.args, tuple) and record.args:
                task = self._task_of(record.args[0])
                if task is not None:
                    exc = record.exc_info[1] if record.exc_info else None
                    pool = task.pool
                    if pool.series is not None:
                        pool.series.callback_failed()
                    hooks = task.on_callback_failed
                    if hooks and exc is not None:
                        dispatch(pool, hooks, pool, exc)
        except Exception:  # pragma: no cover - never break the stdlib's own logging
            pass
        return True

    def _task_of(self, future: object) -> TaskInfo | None:
        if not isinstance(future, Future):
            return None
        task = getattr(future, "_tpe_task", None)  # set by ThreadPoolExecutor.submit
        if isinstance(task, TaskInfo):
            return task
        callbacks = getattr(future, "_done_callbacks", None)  # private: guarded, read-only
        if not isinstance(callbacks, list):
            return None
        for callback in callbacks:
            if isinstance(callback, functools.partial) and callback.func is self._done_callback:
                task = callback.args[0] if callback.args else None
                if isinstance(task, TaskInfo):
                    return task
        return None


def install_filter(done_callback: Any) -> None:
    """Attach the filter to ``concurrent.futures``'s logger, once per process."""
    global _installed
    if _installed:
        return
    _installed = True
    logging.getLogger("concurrent.futures").addFilter(CallbackFailureFilter(done_callback))

"""Counting done-callbacks that raise.

The stdlib catches an exception raised by a done-callback and only logs it, on the logger
``concurrent.futures``, with the future as the record's argument. A filter on that logger is the
one public place where such a failure can be seen. It finds the pool through the callback that
:class:`~tpe_insight.ThreadPoolExecutor` attached to the future (a ``partial`` of the
done-callback holding the task's wiring), reading the future's callback list behind a guard. A
task that finished before ``submit`` attached that callback has it called at once and never
stored; the callback's slow path then records the future in a weak map (:func:`remember`), which
the filter reads instead. Nothing is added to the per-task path. The filter never drops a record.

The filter is installed when the first pool is built (``import tpe_insight`` installs nothing).
It is given the done-callback and the wiring class by :mod:`tpe_insight._hotpath`, so this module
does not import that one (which imports this one for :func:`remember`).

Limitation: if the program disables that logger (level above ERROR, ``logging.disable``), the
stdlib does not create the record and the failure cannot be counted.
"""

from __future__ import annotations

import functools
import logging
import weakref
from concurrent.futures import Future
from typing import Any

from tpe_insight._fanout import dispatch

__all__ = ["install_filter", "remember"]

_STDLIB_MESSAGE = "exception calling callback for %r"
_installed = False

# Futures whose done-callback ran outside the normal path (see _hotpath._task_done_slow): the
# callback is then not in the future's list, so the filter looks here.
_late: weakref.WeakKeyDictionary[Future[Any], Any] = weakref.WeakKeyDictionary()


def remember(future: Future[Any], task: object) -> None:
    """Map ``future`` to its task wiring for the filter, for as long as the future lives."""
    _late[future] = task


class CallbackFailureFilter(logging.Filter):
    """Counts 'exception calling callback' records that concern an instrumented future."""

    def __init__(self, done_callback: Any, task_type: type) -> None:
        super().__init__()
        self._done_callback = done_callback
        self._task_type = task_type

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if record.msg == _STDLIB_MESSAGE and isinstance(record.args, tuple) and record.args:
                task = self._task_of(record.args[0])
                if task is not None:
                    exc = record.exc_info[1] if record.exc_info else None
                    pool = task.pool
                    if pool.series is not None:
                        pool.series.callback_failed()
                    hooks = pool.hooks.callback_failed
                    if hooks and exc is not None:
                        dispatch(pool.series, hooks, pool.info, exc)
        except Exception:  # pragma: no cover - never break the stdlib's own logging
            pass
        return True

    def _task_of(self, future: object) -> Any:
        if not isinstance(future, Future):
            return None
        callbacks = getattr(future, "_done_callbacks", None)  # private: guarded, read-only
        if isinstance(callbacks, list):
            for callback in callbacks:
                if (
                    isinstance(callback, functools.partial)
                    and callback.func is self._done_callback
                    and callback.args
                    and isinstance(callback.args[0], self._task_type)
                ):
                    return callback.args[0]
        return _late.get(future)


def install_filter(done_callback: Any, task_type: type) -> None:
    """Attach the filter to ``concurrent.futures``'s logger, once per process."""
    global _installed
    if _installed:
        return
    _installed = True
    logging.getLogger("concurrent.futures").addFilter(
        CallbackFailureFilter(done_callback, task_type)
    )

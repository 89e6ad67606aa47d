"""Helpers for the futures a pool returns: ``fail_fast()`` and ``named()``.

The motivating case (a data job running independent queries to build a model's variables) needs
every result, so the first failure should stop the job at once: cancel what has not started and
re-raise. The talk's version cancels in an ``except`` inside the ``as_completed`` loop; this one
also cancels when the consumer stops early or the wait times out, and never hides the original
exception.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, as_completed
from typing import Any, TypeVar

__all__ = ["fail_fast", "named"]

T = TypeVar("T")


def fail_fast(futures: Iterable[Future[T]], timeout: float | None = None) -> Iterator[T]:
    """Yield results as their futures complete; on the first failure, cancel the rest and raise.

    * A task that raised: every future not yet started is cancelled (running ones cannot be,
      and finish on their own), then that exception is re-raised unchanged.
    * A future that was cancelled by someone else counts as a failure (``CancelledError``),
      reported, as ``as_completed`` does, once the pool has dequeued it.
    * ``timeout`` is the total wait, as in ``as_completed``; on ``TimeoutError`` the pending
      futures are cancelled too.
    * If the consumer stops iterating early (``break``, an exception in its loop body), the
      pending futures are cancelled when the generator is closed.

    With ``tpe_insight.ThreadPoolExecutor`` the cancelled tasks are counted as
    ``tpe_tasks_finished_total{outcome="cancelled"}``.
    """
    pending = list(futures)
    if not pending:
        return
    try:
        for future in as_completed(pending, timeout=timeout):
            yield future.result()  # raises the task's exception, or CancelledError
    finally:
        # Runs on failure, timeout and early close; a no-op when everything succeeded.
        for future in pending:
            future.cancel()


def named(
    name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> functools.partial[Any]:
    """Return ``fn`` (with optional bound arguments) carrying an explicit task label.

    Use it when one callable does several jobs worth telling apart, e.g. one query runner for
    eight model-variable queries: ``pool.submit(named("recency", run_query), sql)``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"named: name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"named: fn must be callable, not {type(fn).__name__}")
    task = functools.partial(fn, *args, **kwargs)
    task.__tpe_task__ = name  # type: ignore[attr-defined]
    return task

"""Helpers for the futures a pool returns: ``fail_fast()`` and ``named()``.

The motivating case (a data job running independent queries to build a model's variables) needs
every result, so the first failure should stop the job at once: cancel what has not started and
re-raise. The talk's version cancels in an ``except`` inside the ``as_completed`` loop, i.e. when
the *consumer* gets round to the failed future; by then the worker that ran it has usually taken
the next queued task, so one more query starts after the failure. This one cancels from the
failing future's done-callback, which the stdlib runs in the worker thread right after the task
ends and before that worker dequeues anything else. It also cancels when the consumer stops early
or the wait times out, and never hides the original exception.

Tasks already running cannot be cancelled by the executor: Python has no safe way to interrupt
arbitrary code in another thread. Code that *can* be interrupted (a query on a database server,
an HTTP request with a cancel token) says how through the ``on_failure`` hook; the demo's
PostgreSQL runner uses it to send the server a cancel request for every query still running.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Future, as_completed
from typing import Any, Generic, TypeVar

__all__ = ["fail_fast", "named"]

T = TypeVar("T")

_log = logging.getLogger("tpe_insight.futures")

#: What ``on_failure`` receives: the exception that stopped the run.
OnFailure = Callable[[BaseException], object]


class _Stopper(Generic[T]):
    """The done-callback shared by every future of one ``fail_fast`` call (one object, not one
    closure per future): the first failure cancels the rest, then runs the hook, once."""

    __slots__ = ("_lock", "failure", "futures", "on_failure")

    def __init__(self, futures: list[Future[T]], on_failure: OnFailure | None) -> None:
        self.futures = futures
        self.on_failure = on_failure
        #: The exception that stopped the run (a task's, CancelledError, TimeoutError, ...).
        self.failure: BaseException | None = None
        # Reentrant: cancel() runs the cancelled future's callbacks (ours) in this thread.
        self._lock = threading.RLock()

    def __call__(self, future: Future[T]) -> None:
        if future.cancelled():
            if self.failure is not None:
                return  # one of ours (or cancelled after the run stopped): nothing new
            self.stop(CancelledError())  # cancelled by someone else: the run cannot complete
            return
        exc = future.exception()
        if exc is not None:
            self.stop(exc)

    def stop(self, exc: BaseException) -> None:
        """Cancel every future that has not started, then call the hook; only the first call
        does anything. Safe from any thread."""
        with self._lock:
            if self.failure is not None:
                return
            self.failure = exc
            # Under the lock, so that a second thread seeing the same failure (the consumer,
            # or the failing worker's own callback) waits until nothing queued can start.
            for other in self.futures:
                other.cancel()
        if self.on_failure is not None:
            try:
                self.on_failure(exc)
            except Exception:  # a broken hook must not hide the failure it reacts to
                _log.exception("fail_fast: on_failure hook raised")


def fail_fast(
    futures: Iterable[Future[T]],
    timeout: float | None = None,
    *,
    on_failure: OnFailure | None = None,
) -> Iterator[T]:
    """Yield results as their futures complete; on the first failure, cancel the rest and raise.

    * A task that raised: at that moment, from the failed future's done-callback (in the worker
      thread, before that worker takes another task), every future not yet started is
      cancelled, so no further task starts; then ``on_failure(exc)`` is called. The consumer
      gets that exception re-raised unchanged, even if other tasks fail afterwards.
    * Running tasks cannot be cancelled (Python cannot interrupt arbitrary code in another
      thread): they finish on their own, unless ``on_failure`` makes them stop, e.g. by
      cancelling their database query on the server. The hook runs once, in the thread that saw
      the failure (a worker, or the consumer for a timeout or an early stop); it must be quick
      and thread-safe; an exception it raises is logged on ``tpe_insight.futures`` and otherwise
      ignored.
    * A future that was cancelled by someone else counts as a failure (``CancelledError``),
      reported, as ``as_completed`` does, once the pool has dequeued it.
    * ``timeout`` is the total wait, as in ``as_completed``; on ``TimeoutError`` the pending
      futures are cancelled too (and the hook called with that error).
    * If the consumer stops iterating early (``break``, an exception in its loop body), the
      pending futures are cancelled (and the hook called with ``GeneratorExit`` or that
      exception) when the generator is closed.
    * Another worker that dequeued a task in the microseconds between the failure and the
      cancel still runs it; what is guaranteed is that the failing worker does not.

    Results are yielded as they are: ``fail_fast`` adds nothing to them. To know which task a
    result belongs to, have the task return it (``return name, rows``).

    With ``tpe_insight.ThreadPoolExecutor`` the cancelled tasks are counted as
    ``tpe_tasks_finished_total{outcome="cancelled"}``.
    """
    pending = list(futures)
    if not pending:
        return
    stopper: _Stopper[T] = _Stopper(pending, on_failure)
    try:
        for future in pending:
            future.add_done_callback(stopper)  # runs at once for a future already done
        for future in as_completed(pending, timeout=timeout):
            if future.cancelled() or future.exception() is not None:
                first = stopper.failure
                if first is not None and not isinstance(first, CancelledError):
                    # The first failure in time, not whichever as_completed yields first (its
                    # initial batch is a set, and later failures may be cancel errors).
                    raise first
            yield future.result()  # raises the task's exception, or CancelledError
    except BaseException as exc:  # a failure, TimeoutError, or GeneratorExit on early close
        stopper.stop(exc)  # a no-op when a task's failure already stopped the run
        raise
    finally:
        stopper.futures = []  # the futures hold the stopper: do not hold them back


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

"""Item 6: a KeyboardInterrupt on any line of ``submit`` keeps the books exact.

A trace function raises ``KeyboardInterrupt`` at the N-th line event inside ``submit`` (at any
depth: our code, the stdlib's ``submit``, ``Future()``, ``_adjust_thread_count``), for every N
until ``submit`` completes untouched. At each point the pool must survive (a later submit runs,
shutdown returns) and, at quiescence, ``submitted == finished`` exactly, with nothing queued or
running.

Two kinds of points are ones where CPython itself does not guarantee cleanup, so the stdlib
class does not survive them either, and they are left out: inside ``threading``'s primitives (an
interrupt there can leave a lock, condition or semaphore held, and the pool hangs on it; the
trace does not enter them), and the line event of a ``with`` statement's exit, where ``__exit__``
has not run yet (bpo-29988): at the exit of the stdlib's ``with self._shutdown_lock,
_global_shutdown_lock:`` one of the locks stays held and every later submit of every pool in
the process hangs. The test checks that it did walk through the stdlib's ``submit`` as well as
ours.
"""

from __future__ import annotations

import concurrent.futures.thread as stdlib_thread
import functools
import gc
import linecache
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor

Where = tuple[str, int]


def _is_with_exit(frame: FrameType, seen: set[tuple[int, int]]) -> bool:
    """A second line event on a ``with`` line of the same frame: its exit, before __exit__."""
    key = (id(frame), frame.f_lineno)
    again = key in seen
    seen.add(key)
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).lstrip()
    return again and line.startswith(("with ", "async with "))


def interrupt_at(n: int, call: Callable[[], Any]) -> Where | None:
    """Run ``call`` with a KeyboardInterrupt raised at its ``n``-th line event; return where
    (file, line), or None if ``call`` has fewer line events."""
    events = 0
    where: Where | None = None
    seen: set[tuple[int, int]] = set()

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal events, where
        if event == "call" and frame.f_code.co_filename == threading.__file__:
            return None
        if event == "line" and where is None and not _is_with_exit(frame, seen):
            events += 1
            if events == n:
                where = (frame.f_code.co_filename, frame.f_lineno)
                raise KeyboardInterrupt
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        call()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(previous)
    return where


def value(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name, {"pool": "p"}) or 0.0


def finished(registry: CollectorRegistry) -> float:
    return sum(
        s.value
        for f in registry.collect()
        if f.name == "tpe_tasks_finished"
        for s in f.samples
        if s.labels["pool"] == "p"
    )


def hold(started: threading.Event, gate: threading.Event) -> bool:
    started.set()
    return gate.wait(30)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("cancel", [False, True], ids=["run", "cancel-queued"])
def test_books_stay_exact_whatever_line_a_keyboard_interrupt_hits(cancel: bool) -> None:
    checked = 0
    in_stdlib = 0
    for n in range(1, 1000):
        registry = CollectorRegistry()
        pool = ThreadPoolExecutor(1, name="p", registry=registry)
        gate, started = threading.Event(), threading.Event()
        # Holds the only worker, so the interrupted task stays queued until the gate opens.
        blocker = pool.submit(hold, started, gate)
        assert started.wait(30)
        where = interrupt_at(n, functools.partial(pool.submit, pow, 2, 3))
        if cancel:
            pool.shutdown(wait=False, cancel_futures=True)
        gate.set()
        assert blocker.result(timeout=30) is True
        if not cancel:
            assert pool.submit(abs, -1).result(timeout=30) == 1
        pool.shutdown(wait=True)
        if where is None:
            break
        del pool
        gc.collect()  # a future the interrupted submit made but never queued is freed here
        submitted = value(registry, "tpe_tasks_submitted_total")
        assert (where, submitted) == (where, finished(registry))
        assert (where, value(registry, "tpe_tasks_queued")) == (where, 0.0)
        assert (where, value(registry, "tpe_tasks_running")) == (where, 0.0)
        checked += 1
        in_stdlib += where[0] == stdlib_thread.__file__
    else:
        pytest.fail("submit() never completed without an interrupt within 1000 line events")
    assert checked > 50  # the trace really walked through submit's lines
    assert in_stdlib > 5  # ... including the stdlib's own submit

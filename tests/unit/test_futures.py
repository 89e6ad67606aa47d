"""fail_fast: results as they complete; the first failure cancels what has not started."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, TimeoutError

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor, fail_fast
from tpe_insight.labels import task_label


def gated(gate: threading.Event, value: int) -> int:
    assert gate.wait(10)
    return value


def explode() -> int:
    raise ZeroDivisionError("query failed")


def test_all_results_when_nothing_fails(registry: CollectorRegistry) -> None:
    with ThreadPoolExecutor(3, name="ff", registry=registry) as executor:
        futures = [executor.submit(pow, i, 2) for i in range(10)]
        assert sorted(fail_fast(futures)) == [i * i for i in range(10)]


def test_first_failure_cancels_the_rest_and_is_re_raised(registry: CollectorRegistry) -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(2, name="ff", registry=registry) as executor:
        running = executor.submit(gated, gate, 1)
        failing = executor.submit(explode)
        queued = [executor.submit(gated, gate, i) for i in range(5)]
        with pytest.raises(ZeroDivisionError, match="query failed") as info:
            list(fail_fast([running, failing, *queued]))
        assert info.value is failing.exception()
        gate.set()
    cancelled = sum(f.cancelled() for f in queued)
    assert cancelled >= 4  # one of them may have started on the freed worker
    assert running.result() == 1
    value = registry.get_sample_value(
        "tpe_tasks_finished_total",
        {"pool": "ff", "task": task_label(gated), "outcome": "cancelled"},
    )
    assert value == cancelled


def test_consumer_stopping_early_cancels_pending(registry: CollectorRegistry) -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(1, name="ff", registry=registry) as executor:
        first = executor.submit(pow, 2, 3)
        rest = [executor.submit(gated, gate, i) for i in range(4)]
        results = fail_fast([first, *rest])
        assert next(results) == 8
        results.close()
        gate.set()
    assert sum(f.cancelled() for f in rest) >= 3


def test_timeout_cancels_pending(registry: CollectorRegistry) -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(1, name="ff", registry=registry) as executor:
        futures = [executor.submit(gated, gate, i) for i in range(3)]
        with pytest.raises(TimeoutError):
            list(fail_fast(futures, timeout=0.05))
        gate.set()
    assert [f.cancelled() for f in futures] == [False, True, True]


def test_externally_cancelled_future_counts_as_failure(registry: CollectorRegistry) -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(1, name="ff", registry=registry) as executor:
        blocker = executor.submit(gated, gate, 0)
        victim = executor.submit(pow, 2, 2)
        victim.cancel()
        # As with as_completed, a cancelled future is seen once the pool dequeues it.
        threading.Timer(0.05, gate.set).start()
        with pytest.raises(CancelledError):
            list(fail_fast([victim, blocker]))


def test_empty_input() -> None:
    assert list(fail_fast([])) == []

"""fail_fast: results as they complete; the first failure cancels what has not started."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import CancelledError, Future, TimeoutError

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor, fail_fast
from tpe_insight.labels import task_label
from tpe_insight.testing import capture_events


def gated(gate: threading.Event, value: int) -> int:
    assert gate.wait(10)
    return value


def explode() -> int:
    raise ZeroDivisionError("query failed")


def explode_when(go: threading.Event) -> int:
    assert go.wait(10)
    raise ZeroDivisionError("query failed")


def done(value: int) -> Future[int]:
    """A future that is already done: the first result, so that the test knows ``fail_fast``
    has registered its callbacks (they are added before the first result is yielded)."""
    future: Future[int] = Future()
    future.set_result(value)
    return future


def test_all_results_when_nothing_fails(registry: CollectorRegistry) -> None:
    with ThreadPoolExecutor(3, name="ff", registry=registry) as executor:
        futures = [executor.submit(pow, i, 2) for i in range(10)]
        assert sorted(fail_fast(futures)) == [i * i for i in range(10)]


def test_first_failure_cancels_the_rest_and_is_re_raised(registry: CollectorRegistry) -> None:
    gate, go = threading.Event(), threading.Event()
    with ThreadPoolExecutor(2, name="ff", registry=registry) as executor:
        running = executor.submit(gated, gate, 1)
        failing = executor.submit(explode_when, go)
        queued = [executor.submit(gated, gate, i) for i in range(5)]
        results = fail_fast([done(0), running, failing, *queued])
        assert next(results) == 0
        go.set()
        with pytest.raises(ZeroDivisionError, match="query failed") as info:
            list(results)
        assert info.value is failing.exception()
        gate.set()
    cancelled = sum(f.cancelled() for f in queued)
    # Cancelled from the failed future's callback, before its worker could take the next one.
    assert cancelled == 5
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


def test_no_task_starts_after_the_failing_task_ends(registry: CollectorRegistry) -> None:
    gate, go = threading.Event(), threading.Event()
    with capture_events() as events, ThreadPoolExecutor(2, name="ff", registry=registry) as pool:
        running = pool.submit(gated, gate, 1)
        failing = pool.submit(explode_when, go)
        queued = [pool.submit(gated, gate, i) for i in range(6)]
        results = fail_fast([done(0), running, failing, *queued])
        assert next(results) == 0
        go.set()
        with pytest.raises(ZeroDivisionError):
            list(results)
        gate.set()
    assert [f.cancelled() for f in queued] == [True] * 6
    kinds = [(e["event"], e.get("task"), e.get("outcome")) for e in events]
    failed_at = kinds.index(("task_finished", task_label(explode_when), "error"))
    assert not [k for k in kinds[failed_at:] if k[0] == "task_started"]
    assert (
        registry.get_sample_value(
            "tpe_tasks_finished_total",
            {"pool": "ff", "task": task_label(gated), "outcome": "cancelled"},
        )
        == 6
    )


def test_on_failure_runs_once_in_the_worker_with_the_task_exception(
    registry: CollectorRegistry,
) -> None:
    gate, go = threading.Event(), threading.Event()
    calls: list[tuple[BaseException, str]] = []

    def hook(exc: BaseException) -> None:
        calls.append((exc, threading.current_thread().name))
        gate.set()  # what a real hook does: make the running tasks stop (here: release them)

    def explode_twice() -> int:
        assert gate.wait(10)  # running when the first one fails; fails after it
        raise ZeroDivisionError("second failure")

    with ThreadPoolExecutor(3, thread_name_prefix="ffw", registry=registry) as pool:
        running = pool.submit(gated, gate, 1)
        failing = pool.submit(explode_when, go)
        later = pool.submit(explode_twice)
        results = fail_fast([done(0), running, failing, later], on_failure=hook)
        assert next(results) == 0
        go.set()
        with pytest.raises(ZeroDivisionError, match="query failed") as info:
            list(results)
        assert running.result(timeout=10) == 1  # released by the hook, not by the test
        assert isinstance(later.exception(timeout=10), ZeroDivisionError)
    assert info.value is failing.exception()
    assert len(calls) == 1
    assert calls[0][0] is failing.exception()
    assert calls[0][1].startswith("ffw")  # the failing worker, not the consumer


def test_on_failure_is_not_called_when_everything_succeeds(registry: CollectorRegistry) -> None:
    calls: list[BaseException] = []
    with ThreadPoolExecutor(2, name="ff", registry=registry) as pool:
        futures = [pool.submit(pow, i, 2) for i in range(6)]
        assert sorted(fail_fast(futures, on_failure=calls.append)) == [i * i for i in range(6)]
    assert calls == []


def test_on_failure_gets_the_early_close(registry: CollectorRegistry) -> None:
    gate, started = threading.Event(), threading.Event()
    calls: list[BaseException] = []

    def first_of_rest() -> int:
        started.set()
        return gated(gate, -1)

    with ThreadPoolExecutor(1, name="ff", registry=registry) as pool:
        first = pool.submit(pow, 2, 3)
        rest = [pool.submit(first_of_rest), *(pool.submit(gated, gate, i) for i in range(2))]
        results = fail_fast([first, *rest], on_failure=calls.append)
        assert next(results) == 8
        assert started.wait(10)
        results.close()
        gate.set()
    assert len(calls) == 1 and isinstance(calls[0], GeneratorExit)
    assert [f.cancelled() for f in rest] == [False, True, True]


def test_a_raising_hook_is_logged_and_the_task_exception_still_raised(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_hook(exc: BaseException) -> None:
        raise RuntimeError("hook broke")

    with ThreadPoolExecutor(1, name="ff", registry=registry) as pool:
        failing = pool.submit(explode)
        with (
            caplog.at_level(logging.ERROR, logger="tpe_insight.futures"),
            pytest.raises(ZeroDivisionError) as info,
        ):
            list(fail_fast([failing], on_failure=broken_hook))
    assert info.value is failing.exception()
    assert any("on_failure hook raised" in r.getMessage() for r in caplog.records)


def test_the_first_failure_is_raised_even_if_a_later_one_completes_first_in_iteration(
    registry: CollectorRegistry,
) -> None:
    """as_completed yields already-done futures in set order; the first failure in time wins."""
    with ThreadPoolExecutor(1, name="ff", registry=registry) as pool:
        first = pool.submit(explode)
        first.exception(timeout=10)
        second = pool.submit(explode)
        second.exception(timeout=10)
    for order in ([first, second], [second, first]):
        with pytest.raises(ZeroDivisionError) as info:
            list(fail_fast(order))
        assert info.value is order[0].exception()

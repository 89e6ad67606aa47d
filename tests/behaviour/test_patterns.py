"""The usage patterns of the talk behave as the stdlib does and produce exact metric values."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import (
    FIRST_COMPLETED,
    CancelledError,
    Future,
    TimeoutError,
    as_completed,
    wait,
)
from concurrent.futures.thread import BrokenThreadPool
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.helpers import Metrics
from tpe_insight import StdlibThreadPoolExecutor, ThreadPoolExecutor
from tpe_insight.labels import task_label


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad value {x}")
    return x


def wait_for(gate: threading.Event, value: int = 0) -> int:
    assert gate.wait(10), "test gate never opened"
    return value


SQUARE = task_label(square)
FAIL = task_label(fail_on_three)
WAIT = task_label(wait_for)


def pool(registry: CollectorRegistry, workers: int = 2, **options: Any) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, registry=registry, name="p", **options)


def assert_quiescent(metrics: Metrics) -> None:
    assert metrics("tpe_tasks_queued") == 0
    assert metrics("tpe_tasks_running") == 0


def test_context_manager_shuts_down_and_counts_every_task(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    gate = threading.Event()
    with pool(registry, workers=3) as executor:
        futures = [executor.submit(wait_for, gate, i) for i in range(7)]
        # All three workers are busy on gated tasks: the pool had to start every one of them.
        assert metrics("tpe_workers_max") == 3
        gate.set()
    assert [f.result() for f in futures] == list(range(7))
    assert metrics("tpe_tasks_submitted_total") == 7
    assert metrics.outcomes(WAIT) == {"success": 7, "error": 0, "cancelled": 0}
    assert metrics("tpe_task_run_seconds_count", task=WAIT) == 7
    assert metrics("tpe_task_queue_wait_seconds_count", task=WAIT) == 7
    assert metrics("tpe_workers_started_total") == 3
    assert metrics("tpe_workers") == 0  # joined by shutdown(wait=True)
    assert metrics("tpe_workers_max") == 0  # shut down: no longer counted
    assert_quiescent(metrics)


def test_map_keeps_order_and_matches_the_stdlib(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    with pool(registry, workers=4) as executor:
        ours = list(executor.map(square, range(50)))
    with StdlibThreadPoolExecutor(4) as stdlib:
        theirs = list(stdlib.map(square, range(50)))
    assert ours == theirs == [x * x for x in range(50)]
    assert metrics.outcomes(SQUARE) == {"success": 50, "error": 0, "cancelled": 0}
    assert metrics("tpe_tasks_submitted_total") == 50


def test_map_raises_on_iteration_at_the_failing_item(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    got: list[int] = []
    with pool(registry, workers=1) as executor:
        results = executor.map(fail_on_three, range(6))
        with pytest.raises(ValueError, match="bad value 3"):
            for value in results:
                got.append(value)
    assert got == [0, 1, 2]
    finished = metrics.outcomes(FAIL)
    # The stdlib's map cancels what has not started when iteration stops; with one worker some of
    # 4 and 5 may already have run. Whatever happened, every task is accounted for exactly once.
    assert finished["error"] == 1
    assert finished["success"] is not None
    assert finished["success"] + finished["error"] + finished["cancelled"] == 6  # type: ignore[operator]
    assert metrics("tpe_task_exceptions_total", task=FAIL, exception="ValueError") == 1
    assert_quiescent(metrics)


def test_map_timeout_cancels_queued_tasks(registry: CollectorRegistry, metrics: Metrics) -> None:
    gate = threading.Event()
    with pool(registry, workers=1) as executor:
        results = executor.map(wait_for, [gate] * 5, range(5), timeout=0.05)
        with pytest.raises(TimeoutError):
            next(results)
        results.close()  # what a for loop does when the exception leaves it
        gate.set()
    # One task was running (it cannot be cancelled and succeeds); the four queued were cancelled.
    assert metrics.outcomes(WAIT) == {"success": 1, "error": 0, "cancelled": 4}
    assert metrics("tpe_task_run_seconds_count", task=WAIT) == 1
    assert_quiescent(metrics)


def test_submit_and_as_completed(registry: CollectorRegistry, metrics: Metrics) -> None:
    with pool(registry, workers=3) as executor:
        futures = [executor.submit(square, i) for i in range(20)]
        results = {f.result() for f in as_completed(futures)}
    assert results == {i * i for i in range(20)}
    assert metrics.outcomes(SQUARE) == {"success": 20, "error": 0, "cancelled": 0}


def test_submit_in_order(registry: CollectorRegistry, metrics: Metrics) -> None:
    with pool(registry, workers=3) as executor:
        futures = [executor.submit(square, i) for i in range(10)]
        assert [f.result() for f in futures] == [i * i for i in range(10)]
        # Recorded before the future resolves: the metric is exact as soon as result() returns.
        assert metrics("tpe_task_run_seconds_count", task=SQUARE) == 10
        assert metrics.finished(SQUARE, "success") == 10


def test_wait_first_completed_then_shutdown_cancel_futures(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    gate = threading.Event()
    executor = pool(registry, workers=2)
    first = executor.submit(square, 7)
    futures = [first, *(executor.submit(wait_for, gate, i) for i in range(9))]
    done, _not_done = wait(futures, return_when=FIRST_COMPLETED)
    assert done.pop().result() == 49
    executor.shutdown(wait=False, cancel_futures=True)
    gate.set()
    wait([f for f in futures if not f.cancelled()], timeout=10)
    cancelled = sum(f.cancelled() for f in futures)
    assert 1 <= cancelled <= 8  # at most two gated tasks were already running
    assert metrics.outcomes(WAIT) == {"success": 9 - cancelled, "error": 0, "cancelled": cancelled}
    assert metrics.outcomes(SQUARE) == {"success": 1, "error": 0, "cancelled": 0}
    assert_quiescent(metrics)
    with pytest.raises(CancelledError):
        next(f for f in futures if f.cancelled()).result()


def test_future_cancel_while_queued(registry: CollectorRegistry, metrics: Metrics) -> None:
    gate = threading.Event()
    with pool(registry, workers=1) as executor:
        running = executor.submit(wait_for, gate)
        queued = [executor.submit(square, i) for i in range(3)]
        assert metrics("tpe_tasks_queued") == 3
        assert [f.cancel() for f in queued] == [True, True, True]
        assert running.cancel() is False or running.cancelled()
        assert metrics("tpe_tasks_queued") == 0
        gate.set()
    assert metrics.outcomes(SQUARE) == {"success": 0, "error": 0, "cancelled": 3}
    assert metrics("tpe_task_run_seconds_count", task=SQUARE) == 0
    assert metrics("tpe_task_queue_wait_seconds_count", task=SQUARE) == 0


def test_task_exception_is_kept_in_the_future_unchanged(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    raised: list[BaseException] = []

    def boom() -> None:
        exc = KeyError("the key")
        raised.append(exc)
        raise exc

    with pool(registry) as executor:
        future = executor.submit(boom)
        assert future.exception() is raised[0]
        with pytest.raises(KeyError) as info:
            future.result()
        assert info.value is raised[0]
    label = task_label(boom)
    assert metrics.outcomes(label) == {"success": 0, "error": 1, "cancelled": 0}
    assert metrics("tpe_task_exceptions_total", task=label, exception="KeyError") == 1


def failing_initializer() -> None:
    raise OSError("cannot open the connection")


def test_initializer_failure_breaks_the_pool_like_the_stdlib(
    registry: CollectorRegistry, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    def run(cls: Any, **options: Any) -> tuple[str, str, str]:
        executor = cls(1, initializer=failing_initializer, **options)
        future = executor.submit(square, 2)
        exc = future.exception(timeout=10)
        with pytest.raises(BrokenThreadPool) as rejected:
            executor.submit(square, 3)
        executor.shutdown()
        return type(exc).__name__, str(exc), str(rejected.value)

    with caplog.at_level(logging.CRITICAL, logger="concurrent.futures"):
        ours = run(ThreadPoolExecutor, registry=registry, name="p")
        theirs = run(StdlibThreadPoolExecutor)
    assert ours == theirs
    assert metrics("tpe_initializer_failures_total") == 1
    assert metrics("tpe_tasks_rejected_total", reason="broken") == 1
    assert metrics("tpe_tasks_rejected_total", reason="shutdown") == 0
    assert metrics("tpe_tasks_submitted_total") == 1
    assert metrics.outcomes(SQUARE) == {"success": 0, "error": 1, "cancelled": 0}
    exc_label = "concurrent.futures.thread.BrokenThreadPool"
    assert metrics("tpe_task_exceptions_total", task=SQUARE, exception=exc_label) == 1
    assert_quiescent(metrics)


def test_a_task_raising_broken_thread_pool_itself_is_counted_once(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    def raises_broken() -> None:
        raise BrokenThreadPool("from another pool")

    with pool(registry) as executor:
        assert isinstance(executor.submit(raises_broken).exception(), BrokenThreadPool)
    assert metrics.outcomes(task_label(raises_broken)) == {
        "success": 0,
        "error": 1,
        "cancelled": 0,
    }
    assert metrics("tpe_task_run_seconds_count", task=task_label(raises_broken)) == 1


def test_raising_done_callback_does_not_affect_others_and_is_counted(
    registry: CollectorRegistry, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    gate = threading.Event()

    def bad_callback(_: Future[int]) -> None:
        raise RuntimeError("callback bug")

    # The stdlib logs the failures at ERROR; that record is what the count is based on.
    with caplog.at_level(logging.ERROR, logger="concurrent.futures"), pool(registry) as executor:
        pending = executor.submit(wait_for, gate, 1)
        pending.add_done_callback(bad_callback)
        pending.add_done_callback(lambda f: seen.append(f"pending:{f.result()}"))
        gate.set()
        assert pending.result() == 1
        done = executor.submit(square, 3)
        done.result()
        # Added after completion: the stdlib calls it at once, in this thread.
        done.add_done_callback(bad_callback)
        done.add_done_callback(lambda f: seen.append(f"done:{f.result()}"))
    assert seen == ["pending:1", "done:9"]
    assert metrics("tpe_callback_failures_total") == 2
    assert sum("exception calling callback" in r.getMessage() for r in caplog.records) == 2
    assert metrics.outcomes(WAIT)["success"] == 1


def test_submit_after_shutdown_is_rejected_with_the_stdlib_error(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    ours = pool(registry)
    ours.shutdown()
    theirs = StdlibThreadPoolExecutor(2)
    theirs.shutdown()
    with pytest.raises(RuntimeError) as ours_error:
        ours.submit(square, 1)
    with pytest.raises(RuntimeError) as theirs_error:
        theirs.submit(square, 1)
    assert str(ours_error.value) == str(theirs_error.value)
    assert type(ours_error.value) is type(theirs_error.value)
    assert metrics("tpe_tasks_rejected_total", reason="shutdown") == 1
    assert metrics("tpe_tasks_submitted_total") == 0


def test_queue_wait_and_run_time_are_exact_under_an_injected_clock(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    """With a fake clock the recorded durations are exactly what the clock says."""
    now = [100.0]

    def clock() -> float:
        return now[0]

    gate = threading.Event()

    def task() -> None:
        now[0] += 0.25  # the task "runs" for 250 ms
        gate.set()

    executor = pool(registry, workers=1, clock=clock, cpu_clock=lambda: 0.0)
    blocker = threading.Event()
    executor.submit(blocker.wait)  # keeps the only worker busy
    future = executor.submit(task)
    now[0] += 2.0  # the task waits 2 s in the queue
    blocker.set()
    future.result(timeout=10)
    executor.shutdown()
    label = task_label(task)
    assert metrics("tpe_task_queue_wait_seconds_sum", task=label) == 2.0
    assert metrics("tpe_task_run_seconds_sum", task=label) == 0.25
    assert metrics("tpe_task_queue_wait_seconds_count", task=label) == 1
    assert metrics("tpe_task_run_seconds_count", task=label) == 1
    # The quantiles are per pool: the task's 0.25 s lands in the pool's bucket (0.222, 0.25]
    # (le is inclusive); the blocker ran 0 s or 2 s, depending on when its worker read the clock.
    upper = metrics("tpe_pool_run_seconds_bucket", le="0.25")
    lower = metrics("tpe_pool_run_seconds_bucket", le="0.222")
    assert upper is not None and lower is not None and upper - lower == 1
    assert metrics("tpe_pool_queue_wait_seconds_count") == 2


def test_exact_cpu_time_under_an_injected_cpu_clock(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    cpu = [5.0]
    wall = [0.0]

    def task() -> None:
        cpu[0] += 0.125
        wall[0] += 0.5

    with pool(
        registry,
        workers=1,
        cpu_time="exact",
        clock=lambda: wall[0],
        cpu_clock=lambda: cpu[0],
    ) as executor:
        executor.submit(task).result()
        executor.submit(task).result()
    label = task_label(task)
    assert metrics("tpe_task_cpu_seconds_total", task=label) == 0.25
    assert metrics("tpe_task_run_seconds_sum", task=label) == 1.0


def test_fast_cpu_time_is_capped_at_the_run_time(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    """Fast mode charges CPU since the worker's previous task, never more than the run time.

    Injected clocks make it exact: the first task's CPU since the worker started (2 s, which
    includes the pool's own work) exceeds its 0.5 s run and is capped; the second used none.
    (The same claim on the real clocks is ``benchmarks/test_accuracy.py``.)
    """
    wall = [0.0]
    cpu = [0.0]

    def burn() -> None:
        wall[0] += 0.5
        cpu[0] += 2.0

    def sleep() -> None:
        wall[0] += 0.25

    with pool(registry, workers=1, clock=lambda: wall[0], cpu_clock=lambda: cpu[0]) as executor:
        executor.submit(burn).result()
        executor.submit(sleep).result()
    assert metrics("tpe_task_cpu_seconds_total", task=task_label(burn)) == 0.5
    assert metrics("tpe_task_run_seconds_sum", task=task_label(burn)) == 0.5
    assert metrics("tpe_task_cpu_seconds_total", task=task_label(sleep)) == 0.0


def test_cpu_time_off_records_zero(registry: CollectorRegistry, metrics: Metrics) -> None:
    with pool(registry, cpu_time="off") as executor:
        executor.submit(square, 2).result()
    assert metrics("tpe_task_cpu_seconds_total", task=SQUARE) == 0

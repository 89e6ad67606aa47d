"""Faults: whatever breaks in the instrumentation or in the tasks, results are the stdlib's,
the instrumentation reports its own failure once, and nothing hangs.

Behaviour is compared side by side with ``concurrent.futures.thread.ThreadPoolExecutor`` in the
same process rather than against hand-written expectations, so the tests follow the stdlib of
whichever Python runs them.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from concurrent.futures.thread import BrokenThreadPool
from concurrent.futures.thread import ThreadPoolExecutor as StdlibPool
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry, Counter, generate_latest

from tpe_insight import Sink, StructlogSink, ThreadPoolExecutor, _fanout
from tpe_insight.events import EVENTS

POOL = "p"


def outcome(future: Future[Any]) -> tuple[str, Any]:
    """What a caller can observe of a finished future, comparable across pools."""
    if future.cancelled():
        return ("cancelled", None)
    exc = future.exception()
    if exc is None:
        return ("result", future.result())
    return ("exception", (type(exc), exc.args))


def value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    return reg.get_sample_value(name, {"pool": POOL, **labels}) or 0.0


def finished(reg: CollectorRegistry) -> dict[str, float]:
    totals = dict.fromkeys(("success", "error", "cancelled"), 0.0)
    for family in reg.collect():
        if family.name == "tpe_tasks_finished":
            for sample in family.samples:
                if sample.labels["pool"] == POOL:
                    totals[sample.labels["outcome"]] += sample.value
    return totals


def assert_quiescent(reg: CollectorRegistry) -> None:
    """The invariant at rest, exactly: submitted = finished + queued + running, gauges zero."""
    submitted = value(reg, "tpe_tasks_submitted_total")
    assert submitted == sum(finished(reg).values())
    assert value(reg, "tpe_tasks_queued") == 0
    assert value(reg, "tpe_tasks_running") == 0


@pytest.fixture(autouse=True)
def _fresh_reports() -> Iterator[None]:
    """Failure reports are deduplicated per process; each test starts with none seen."""
    with _fanout._reported_lock:
        saved = set(_fanout._reported)
        _fanout._reported.clear()
    yield
    with _fanout._reported_lock:
        _fanout._reported.clear()
        _fanout._reported.update(saved)
    structlog.reset_defaults()


def side_by_side(
    scenario: Callable[[Any], list[Future[Any]]], **options: Any
) -> tuple[list[tuple[str, Any]], CollectorRegistry]:
    """Run ``scenario`` on a stdlib pool and an instrumented one; return the instrumented
    outcomes (asserted equal to the stdlib's) and its registry."""
    with StdlibPool(2) as std:
        expected = [outcome(f) for f in scenario(std)]
    reg = CollectorRegistry()
    with ThreadPoolExecutor(2, name=POOL, registry=reg, **options) as ours:
        actual = [outcome(f) for f in scenario(ours)]
    assert actual == expected
    return actual, reg


# -- tasks that raise BaseException -------------------------------------------------------------


class CustomBase(BaseException):
    pass


def raise_(exc: BaseException) -> None:
    raise exc


BASE_EXCEPTIONS = [
    SystemExit(3),
    SystemExit("bye"),
    KeyboardInterrupt(),
    GeneratorExit(),
    CustomBase("x"),
    ValueError("plain"),
]


@pytest.mark.timeout(60)
def test_base_exceptions_reach_the_future_as_in_the_stdlib() -> None:
    """SystemExit, KeyboardInterrupt, GeneratorExit end the task, not the worker or the pool."""

    def scenario(pool: Any) -> list[Future[Any]]:
        futures = [pool.submit(raise_, exc) for exc in BASE_EXCEPTIONS]
        wait(futures)
        futures.append(pool.submit(pow, 2, 10))  # the workers survived
        return futures

    results, reg = side_by_side(scenario)
    assert results[-1] == ("result", 1024)
    assert finished(reg) == {"success": 1, "error": len(BASE_EXCEPTIONS), "cancelled": 0}
    task = f"{__name__}.raise_"
    for name, count in [
        ("SystemExit", 2),
        ("KeyboardInterrupt", 1),
        ("GeneratorExit", 1),
        (f"{__name__}.CustomBase", 1),
        ("ValueError", 1),
    ]:
        assert value(reg, "tpe_task_exceptions_total", task=task, exception=name) == count
    assert value(reg, "tpe_workers_started_total") <= 2
    assert_quiescent(reg)


@pytest.mark.timeout(60)
def test_base_exceptions_with_structlog_and_a_recording_sink() -> None:
    """The same with every built-in sink attached: they see the BaseException, nothing leaks."""
    seen: list[type[BaseException] | None] = []

    class Recorder(Sink):
        def task_finished(
            self, task: Any, q: float, s: float, e: float, c: float, exc: Any, t: int
        ) -> None:
            seen.append(type(exc) if exc is not None else None)

    def scenario(pool: Any) -> list[Future[Any]]:
        futures = [pool.submit(raise_, exc) for exc in BASE_EXCEPTIONS]
        wait(futures)
        return futures

    structlog.configure(processors=[structlog.processors.JSONRenderer()])
    _, reg = side_by_side(scenario, sinks=[Recorder(), StructlogSink(log_tasks=True)], logs=True)
    assert sorted(t.__name__ for t in seen if t) == sorted(
        type(e).__name__ for e in BASE_EXCEPTIONS
    )
    assert value(reg, "tpe_instrumentation_errors_total", component="Recorder") == 0
    assert value(reg, "tpe_instrumentation_errors_total", component="StructlogSink") == 0


# -- sinks that raise or block ------------------------------------------------------------------


class Broken(Exception):
    pass


class RaisingSink(Sink):
    """Raises from every event."""


def _raiser(event: str) -> Callable[..., None]:
    def method(self: object, *args: object) -> None:
        raise Broken("sink bug")

    method.__name__ = event
    return method


for _event in EVENTS:
    setattr(RaisingSink, _event, _raiser(_event))


def mixed(pool: Any) -> list[Future[Any]]:
    """Successes, failures, a cancelled task and a raising done-callback."""
    gate = threading.Event()
    blockers = [pool.submit(gate.wait) for _ in range(2)]
    queued = pool.submit(pow, 2, 2)
    assert queued.cancel()
    gate.set()
    futures = [pool.submit(pow, 2, i) for i in range(20)]
    futures += [pool.submit(raise_, ValueError(i)) for i in range(5)]
    wait(blockers + futures)
    return [*blockers, queued, *futures]


@pytest.mark.timeout(60)
def test_a_raising_sink_changes_no_result_and_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="tpe_insight")
    _, reg = side_by_side(mixed, sinks=[RaisingSink()])
    # The core's own metrics are intact.
    assert finished(reg) == {"success": 22, "error": 5, "cancelled": 1}
    assert_quiescent(reg)
    reports = [r for r in caplog.records if r.name == "tpe_insight" and "RaisingSink" in r.message]
    events = [r.getMessage().split("RaisingSink.")[1].split(" ")[0] for r in reports]
    assert len(events) == len(set(events)), "each failing event is logged once"
    assert {"pool_created", "task_submitted", "task_started", "task_finished"} <= set(events)
    assert value(reg, "tpe_instrumentation_errors_total", component="RaisingSink") >= 28 * 3


@pytest.mark.timeout(60)
def test_a_pool_per_request_with_a_raising_sink_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Reports are per sink class and event, not per instance: no log flood, no growth."""
    caplog.set_level(logging.WARNING, logger="tpe_insight")
    reg = CollectorRegistry()
    for _ in range(50):
        with ThreadPoolExecutor(1, name=POOL, registry=reg, sinks=[RaisingSink()]) as pool:
            assert pool.submit(pow, 3, 2).result() == 9
    reports = [r for r in caplog.records if "RaisingSink.task_finished" in r.getMessage()]
    assert len(reports) == 1
    assert len(_fanout._reported) <= len(EVENTS)
    assert value(reg, "tpe_tasks_submitted_total") == 50


@pytest.mark.timeout(60)
def test_a_blocking_sink_blocks_only_its_own_thread() -> None:
    """Sinks run synchronously by design: a sink blocking in a worker holds that worker (and
    that task's future), while the other worker keeps running tasks."""
    release, blocked = threading.Event(), threading.Event()

    class BlockingSink(Sink):
        def task_finished(
            self, task: Any, q: float, s: float, e: float, c: float, exc: Any, t: int
        ) -> None:
            if task.name.endswith("slow_marker"):
                blocked.set()
                release.wait()

    reg = CollectorRegistry()
    with ThreadPoolExecutor(2, name=POOL, registry=reg, sinks=[BlockingSink()]) as pool:
        held = pool.submit(slow_marker)
        blocked.wait()
        others = [pool.submit(pow, 2, i) for i in range(50)]
        assert [f.result() for f in others] == [2**i for i in range(50)]
        assert not held.done()  # the sink runs before the future resolves
        release.set()
        assert held.result() == "marker"
    assert_quiescent(reg)
    assert finished(reg)["success"] == 51


def slow_marker() -> str:
    return "marker"


@pytest.mark.timeout(60)
def test_a_raising_log_renderer_changes_no_result(caplog: pytest.LogCaptureFixture) -> None:
    """structlog itself failing (a processor or renderer raising) is isolated like a sink."""
    caplog.set_level(logging.WARNING, logger="tpe_insight")

    def bad_renderer(logger: Any, method: str, event: Any) -> str:
        raise Broken("renderer bug")

    structlog.configure(processors=[bad_renderer])
    _, reg = side_by_side(mixed, logs=True, log_tasks=True)
    assert finished(reg) == {"success": 22, "error": 5, "cancelled": 1}
    assert_quiescent(reg)
    reports = [r.getMessage() for r in caplog.records if "StructlogSink." in r.getMessage()]
    assert len(reports) == len(set(reports)) > 0
    assert value(reg, "tpe_instrumentation_errors_total", component="StructlogSink") > 0


@pytest.mark.timeout(60)
def test_a_registry_that_refuses_our_metrics_leaves_the_pool_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A name clash in the registry must not make the drop-in's constructor raise."""
    caplog.set_level(logging.WARNING, logger="tpe_insight")
    reg = CollectorRegistry()
    Counter("tpe_tasks_submitted", "somebody else's metric", registry=reg)
    for _ in range(3):
        with ThreadPoolExecutor(2, name=POOL, registry=reg) as pool:
            assert pool.submit(pow, 2, 8).result() == 256
    reports = [
        r for r in caplog.records if "Duplicated" in r.getMessage() or "registry" in r.getMessage()
    ]
    assert len(reports) == 1
    assert reg.get_sample_value("tpe_tasks_submitted_total") == 0  # theirs, untouched


# -- the pool's own failure modes ----------------------------------------------------------------


@pytest.mark.timeout(60)
def test_initializer_failing_in_the_second_worker_only() -> None:
    """Worker 1 initializes and runs a task; worker 2's initializer fails and breaks the pool:
    the queued task fails with BrokenThreadPool and later submits are rejected, as in the
    stdlib, while the running task still returns its result."""

    def scenario(pool_class: Callable[..., Any], **options: Any) -> list[tuple[str, Any]]:
        calls: list[int] = []
        lock = threading.Lock()
        gate, running = threading.Event(), threading.Event()

        def init() -> None:
            with lock:
                calls.append(1)
                if len(calls) == 2:
                    raise Broken("second worker")

        def first() -> str:
            running.set()
            gate.wait()
            return "first"

        pool = pool_class(2, initializer=init, **options)
        try:
            f1 = pool.submit(first)
            running.wait()
            f2 = pool.submit(pow, 2, 2)  # starts worker 2, whose initializer fails
            wait([f2])
            with pytest.raises(BrokenThreadPool):
                pool.submit(pow, 2, 3)
            gate.set()
            return [outcome(f1), ("exception", type(f2.exception()))]
        finally:
            gate.set()
            pool.shutdown()

    expected = scenario(StdlibPool)
    reg = CollectorRegistry()
    assert scenario(ThreadPoolExecutor, name=POOL, registry=reg) == expected
    assert expected == [("result", "first"), ("exception", BrokenThreadPool)]
    assert value(reg, "tpe_initializer_failures_total") == 1
    assert value(reg, "tpe_tasks_rejected_total", reason="broken") == 1
    assert value(reg, "tpe_tasks_submitted_total") == 2
    assert finished(reg) == {"success": 1, "error": 1, "cancelled": 0}
    assert (
        value(
            reg,
            "tpe_task_exceptions_total",
            task="builtins.pow",
            exception="concurrent.futures.thread.BrokenThreadPool",
        )
        == 1
    )
    assert_quiescent(reg)


@pytest.mark.timeout(60)
def test_a_raising_done_callback_is_counted_and_changes_nothing() -> None:
    def scenario(pool: Any) -> list[Future[Any]]:
        # Many tiny tasks: some finish before submit() has attached its own done-callback,
        # which must not hide them from the count.
        futures = [pool.submit(pow, 2, i) for i in range(50)]
        wait(futures)
        for future in futures[:30]:
            future.add_done_callback(lambda f: raise_(Broken("callback")))  # runs at once
        return futures

    results, reg = side_by_side(scenario)
    assert results == [("result", 2**i) for i in range(50)]
    assert value(reg, "tpe_callback_failures_total") == 30
    assert_quiescent(reg)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cancel_futures", [False, True])
def test_shutdown_without_wait_with_tasks_in_flight(cancel_futures: bool) -> None:
    """shutdown(wait=False) returns at once; running tasks finish, queued ones run or are
    cancelled exactly as in the stdlib, and the books balance once they are done."""

    def scenario(pool: Any) -> list[tuple[str, Any]]:
        gate, started = threading.Event(), threading.Barrier(3)

        def hold(i: int) -> int:
            started.wait()
            gate.wait()
            return i

        running = [pool.submit(hold, i) for i in range(2)]
        started.wait()
        queued = [pool.submit(pow, 2, i) for i in range(6)]
        pool.shutdown(wait=False, cancel_futures=cancel_futures)
        with pytest.raises(RuntimeError):
            pool.submit(pow, 1, 1)
        gate.set()
        # Not wait(queued): the stdlib never notifies waiters of futures that
        # shutdown(cancel_futures=True) cancelled, so wait() on them blocks forever.
        wait(running)
        for future in queued:
            if not future.cancelled():
                future.result()
        return [outcome(f) for f in running + queued]

    expected = scenario(StdlibPool(2))
    reg = CollectorRegistry()
    pool = ThreadPoolExecutor(2, name=POOL, registry=reg)
    assert scenario(pool) == expected
    pool.shutdown()  # join the workers
    n_cancelled = 6 if cancel_futures else 0
    assert finished(reg) == {"success": 8 - n_cancelled, "error": 0, "cancelled": n_cancelled}
    assert value(reg, "tpe_tasks_rejected_total", reason="shutdown") == 1
    assert value(reg, "tpe_workers_max") == 0
    assert_quiescent(reg)


# -- interpreter exit ------------------------------------------------------------------------------

EXIT_SCRIPT = r"""
import os, sys, threading
how, kind = sys.argv[1], sys.argv[2]
if kind == "stdlib":
    from concurrent.futures.thread import ThreadPoolExecutor
else:
    import structlog
    from tpe_insight import ThreadPoolExecutor, start_metrics_server
    structlog.configure(processors=[structlog.processors.JSONRenderer()])
    start_metrics_server(0)

gate = threading.Event()

def work(i):
    gate.wait()
    os.write(1, f"task {i}\n".encode())  # one write: lines from threads never interleave
    return i

pools = [ThreadPoolExecutor(2) for _ in range(3)]
for pool in pools:
    for i in range(6):  # 2 running (blocked on the gate) and 4 queued per pool
        pool.submit(work, i)
# The gate opens at interpreter shutdown, just before the executors' exit hook (registered
# earlier, so called later) joins their workers: all that work is still queued at exit.
threading._register_atexit(gate.set)
if how == "exit":
    sys.exit(3)
if how == "raise":
    raise RuntimeError("boom")
"""


def _run_exit(how: str, kind: str, tmp_path: Path) -> tuple[int, list[str], str]:
    script = tmp_path / "exit_scenario.py"
    script.write_text(EXIT_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), how, kind],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # A search, not a line filter: structlog's JSON lines share stdout with the task writes.
    lines = sorted(re.findall(r"task \d+", proc.stdout))
    return proc.returncode, lines, proc.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["end", "exit", "raise"])
def test_interpreter_exit_with_live_pools_and_queued_work(how: str, tmp_path: Path) -> None:
    """No hang; the same queued work runs and the exit code is the stdlib's, with a structlog
    renderer and a metrics server alive at exit."""
    std_code, std_lines, std_err = _run_exit(how, "stdlib", tmp_path)
    our_code, our_lines, our_err = _run_exit(how, "tpe", tmp_path)
    assert (our_code, our_lines) == (std_code, std_lines)
    assert std_code == {"end": 0, "exit": 3, "raise": 1}[how]
    assert len(std_lines) == 18
    assert ("Traceback" in our_err) == ("Traceback" in std_err)
    assert "Exception ignored" not in our_err


@pytest.mark.timeout(60)
def test_a_scrape_blocked_in_another_collector_does_not_hold_up_tasks() -> None:
    """A registry whose collection blocks (a slow custom collector) stalls that scrape only:
    tasks, including those on newly started workers, keep running to completion."""
    entered, release = threading.Event(), threading.Event()

    class Stuck:
        def collect(self) -> list[Any]:
            entered.set()
            release.wait()
            return []

    reg = CollectorRegistry()
    pool = ThreadPoolExecutor(8, name=POOL, registry=reg)
    reg.register(Stuck())  # type: ignore[arg-type]
    scrape = threading.Thread(target=generate_latest, args=(reg,))
    scrape.start()
    try:
        entered.wait()
        futures = [pool.submit(pow, 2, i) for i in range(200)]
        assert [f.result() for f in futures] == [2**i for i in range(200)]
    finally:
        release.set()
        scrape.join()
        pool.shutdown()
    assert finished(reg)["success"] == 200
    assert_quiescent(reg)

"""Sinks get the lifecycle in order; a failing sink is harmless and reported once."""

from __future__ import annotations

import logging
import threading

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import PoolInfo, Sink, TaskInfo, ThreadPoolExecutor


class Recorder(Sink):
    """Records events (and the facts a test checks afterwards): no assert in a callback, where
    the pool's isolation would swallow it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self.started: list[tuple[float, float, int]] = []
        self.lock = threading.Lock()

    def _add(self, *event: str) -> None:
        with self.lock:
            self.events.append(event)

    def pool_created(self, pool: PoolInfo) -> None:
        self._add("created", pool.label)

    def worker_started(self, pool: PoolInfo, thread_name: str, started_at: float) -> None:
        self._add("worker", thread_name.split("_", maxsplit=1)[0])

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        self._add("submitted", task.name)

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        with self.lock:
            self.started.append((submitted_at, started_at, submitter))
        self._add("started", task.name)

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
        self._add("finished", task.name, type(exc).__name__ if exc else "ok")

    def pool_shutdown(
        self, pool: PoolInfo, wait: bool, cancel_futures: bool, shutdown_at: float
    ) -> None:
        self._add("shutdown", str(wait))


MAIN = threading.get_ident()


def ok() -> int:
    return 1


def test_sink_sees_the_lifecycle_in_order() -> None:
    sink = Recorder()
    with ThreadPoolExecutor(
        1, name="s", thread_name_prefix="w", sinks=[sink], registry=CollectorRegistry()
    ) as executor:
        executor.submit(ok).result()
    label = f"{__name__}.ok"
    events = sink.events
    # submit() may return before or after the worker runs the task, so only the causal order
    # is fixed: created first, worker before start, start before finish, shutdown last.
    assert events[0] == ("created", "s")
    assert events[-1] == ("shutdown", "True")
    assert sorted(events[1:-1]) == sorted(
        [("submitted", label), ("worker", "w"), ("started", label), ("finished", label, "ok")]
    )
    assert events.index(("worker", "w")) < events.index(("started", label))
    assert events.index(("started", label)) < events.index(("finished", label, "ok"))
    ((submitted_at, started_at, submitter),) = sink.started
    assert started_at >= submitted_at
    assert submitter == MAIN


class Exploding(Sink):
    def __init__(self) -> None:
        self.calls = 0

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        self.calls += 1
        raise RuntimeError("sink bug")

    def task_finished(self, *args: object) -> None:
        raise ZeroDivisionError("sink bug")

    def task_submitted(self, task: TaskInfo, submitted_at: float) -> None:
        raise LookupError("sink bug")


def test_a_raising_sink_never_changes_results_and_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    sink = Exploding()
    with (
        caplog.at_level(logging.WARNING, logger="tpe_insight"),
        ThreadPoolExecutor(2, name="x", sinks=[sink], registry=registry) as executor,
    ):
        results = [executor.submit(pow, i, 2).result() for i in range(30)]
        failing = executor.submit(int, "not a number")
        with pytest.raises(ValueError, match="invalid literal"):
            failing.result()
        # The workers survived 31 failing sink calls each way: the pool still works.
        assert executor.submit(sum, [1, 2, 3]).result() == 6
    assert results == [i * i for i in range(30)]
    assert sink.calls == 32
    reports = [r for r in caplog.records if r.name == "tpe_insight"]
    # One report per failing event of the sink, not one per task.
    assert len(reports) == 3, [r.getMessage() for r in reports]
    assert (
        registry.get_sample_value(
            "tpe_instrumentation_errors_total", {"pool": "x", "component": "Exploding"}
        )
        == 32 * 3
    )
    assert (
        registry.get_sample_value(
            "tpe_tasks_finished_total", {"pool": "x", "task": "builtins.pow", "outcome": "success"}
        )
        == 30
    )


def test_duck_typed_sink_with_one_event() -> None:
    seen: list[str] = []

    class OnlyShutdown:
        def pool_shutdown(
            self, pool: PoolInfo, wait: bool, cancel_futures: bool, shutdown_at: float
        ) -> None:
            seen.append(pool.label)

    with ThreadPoolExecutor(1, name="duck", sinks=[OnlyShutdown()], registry=CollectorRegistry()):
        pass
    assert seen == ["duck"]


def test_metrics_off_still_feeds_sinks() -> None:
    sink = Recorder()
    with ThreadPoolExecutor(1, name="m", metrics=False, sinks=[sink]) as executor:
        assert executor.submit(ok).result() == 1
    assert ("finished", f"{__name__}.ok", "ok") in sink.events

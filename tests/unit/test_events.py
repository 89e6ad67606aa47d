"""Sinks receive every event with the arguments that ``tpe_insight.Sink`` documents."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from tpe_insight import Sink, StructlogSink, TaskInfo, ThreadPoolExecutor
from tpe_insight.events import EVENTS


class Recorder(Sink):
    """Overrides every event with the documented signature and records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.lock = threading.Lock()

    def _record(self, event: str, *args: object) -> None:
        with self.lock:
            self.calls.append((event, args))

    def task_started(
        self, task: TaskInfo, submitted_at: float, started_at: float, submitter: int
    ) -> None:
        self._record("task_started", task, submitted_at, started_at, submitter)

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
        self._record(
            "task_finished", task, submitted_at, started_at, ended_at, cpu_seconds, exc, submitter
        )


@pytest.mark.timeout(30)
def test_task_started_receives_the_submitting_thread() -> None:
    """task_started gets ``submitter`` (the documented 4th argument), and no sink error."""
    reg = CollectorRegistry()
    sink = Recorder()
    with ThreadPoolExecutor(2, name="p", registry=reg, sinks=[sink]) as ex:
        assert ex.submit(pow, 2, 5).result() == 32
    started = [args for event, args in sink.calls if event == "task_started"]
    assert len(started) == 1
    assert started[0][3] == threading.get_ident()
    assert (
        reg.get_sample_value(
            "tpe_instrumentation_errors_total", {"pool": "p", "component": "Recorder"}
        )
        is None
    )


@pytest.mark.timeout(30)
def test_structlog_sink_with_log_tasks_logs_task_started() -> None:
    """StructlogSink(log_tasks=True) implements task_started with the 4-argument signature."""
    reg = CollectorRegistry()
    with (
        capture_logs() as logs,
        ThreadPoolExecutor(1, name="p", registry=reg, sinks=[StructlogSink(log_tasks=True)]) as ex,
    ):
        ex.submit(pow, 2, 5).result()
    assert "task_started" in [entry["event"] for entry in logs]
    assert (
        reg.get_sample_value(
            "tpe_instrumentation_errors_total", {"pool": "p", "component": "StructlogSink"}
        )
        is None
    )


def test_every_event_is_named_in_the_sink_base_class() -> None:
    assert all(callable(getattr(Sink, event)) for event in EVENTS)

"""structlog events on logger tpe_insight, and contextvars propagation into tasks."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry
from structlog.testing import LogCapture

from tpe_insight import ThreadPoolExecutor


@pytest.fixture
def logs() -> LogCapture:
    capture = LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    return capture


def events(capture: LogCapture, name: str) -> list[dict[str, Any]]:
    return [e for e in capture.entries if e["event"] == name]


def fail() -> None:
    raise ValueError("secret customer data in the message")


def broken_init() -> None:
    raise OSError("no db")


def test_pool_and_failure_events(logs: LogCapture, caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(1, name="lg", registry=CollectorRegistry()) as executor:
        executor.submit(fail).exception()
        blocker = executor.submit(gate.wait, 5)
        queued = executor.submit(fail)
        assert queued.cancel()
        gate.set()
        blocker.result()
    assert events(logs, "pool_created")[0]["max_workers"] == 1
    failed = events(logs, "task_failed")
    assert len(failed) == 1
    assert failed[0]["exception_class"] == "ValueError"
    assert failed[0]["task"].endswith("test_logs.fail")
    # Messages (which may hold user data) are not logged by default.
    assert "secret" not in repr(logs.entries)
    assert len(events(logs, "task_cancelled")) == 1
    shutdown = events(logs, "pool_shutdown")
    assert shutdown[0]["pool"] == "lg" and shutdown[0]["wait"] is True
    per_task = {"task_submitted", "task_started", "task_finished"}
    assert not [e for e in logs.entries if e["event"] in per_task]  # off by default

    with (
        caplog.at_level(logging.CRITICAL, logger="concurrent.futures"),
        ThreadPoolExecutor(
            1, name="lg2", initializer=broken_init, registry=CollectorRegistry()
        ) as executor,
    ):
        executor.submit(int).exception()
    assert events(logs, "initializer_failed")[0]["exception_class"] == "OSError"


def test_exception_details_only_when_asked(logs: LogCapture) -> None:
    with ThreadPoolExecutor(
        1, name="lg", log_exception_details=True, registry=CollectorRegistry()
    ) as executor:
        executor.submit(fail).exception()
    failed = events(logs, "task_failed")[0]
    assert isinstance(failed["exc_info"], ValueError)


def test_per_task_debug_events_when_asked(logs: LogCapture) -> None:
    with ThreadPoolExecutor(1, name="lg", log_tasks=True, registry=CollectorRegistry()) as ex:
        ex.submit(int, "3").result()
    names = [e["event"] for e in logs.entries]
    for name in ("task_submitted", "task_started", "task_finished", "worker_started"):
        assert name in names


def test_logs_off_by_default_when_structlog_is_not_configured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    structlog.reset_defaults()
    with ThreadPoolExecutor(1, name="quiet", registry=CollectorRegistry()) as executor:
        executor.submit(fail).exception()
    assert capsys.readouterr().out == ""


def log_in_task(tag: str) -> None:
    structlog.get_logger("app").info("inside_task", tag=tag)


def test_propagate_context_carries_contextvars_bindings(logs: LogCapture) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-42")
    try:
        with ThreadPoolExecutor(
            1, name="ctx", propagate_context=True, registry=CollectorRegistry()
        ) as executor:
            executor.submit(log_in_task, "with").result()
        with ThreadPoolExecutor(1, name="noctx", registry=CollectorRegistry()) as executor:
            executor.submit(log_in_task, "without").result()
    finally:
        structlog.contextvars.clear_contextvars()
    inside = {e["tag"]: e for e in events(logs, "inside_task")}
    assert inside["with"]["request_id"] == "req-42"
    assert "request_id" not in inside["without"]  # the worker's own context is empty

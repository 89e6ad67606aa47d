"""A raising done-callback is counted for its pool, whether added before or after the task ran."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor


def _raise(_: Future[Any]) -> None:
    raise RuntimeError("callback bug")


def test_callback_failures_are_counted_before_and_after_completion(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    gate = threading.Event()
    with (
        caplog.at_level(logging.ERROR, "concurrent.futures"),
        ThreadPoolExecutor(1, name="cb", registry=registry) as pool,
    ):
        pending = pool.submit(gate.wait, 10)
        pending.add_done_callback(_raise)  # stored, called when the task ends
        gate.set()
        pending.result()
        pool.submit(int).result()
        done = pool.submit(int)
        done.result()
        done.add_done_callback(_raise)  # called at once, never stored
    value = registry.get_sample_value("tpe_callback_failures_total", {"pool": "cb"})
    assert value == 2
    # The stdlib's own log records are kept (the filter never drops one).
    assert sum("exception calling callback" in r.getMessage() for r in caplog.records) == 2

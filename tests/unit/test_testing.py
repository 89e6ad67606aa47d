"""tpe_insight.testing: event capture for users' own tests."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor
from tpe_insight.testing import capture_events


def fails() -> None:
    raise ValueError("no")


def test_capture_events_records_the_pools_created_inside() -> None:
    gate = threading.Event()
    with (
        capture_events() as events,
        ThreadPoolExecutor(1, name="cap", registry=CollectorRegistry()) as pool,
    ):
        pool.submit(fails).exception()
        blocker = pool.submit(gate.wait, 5)
        pool.submit(fails).cancel()
        gate.set()
        blocker.result()
    outcomes = sorted(
        (e["outcome"], e["exception"])
        for e in events
        if e["event"] in ("task_finished", "task_not_run")
    )
    assert outcomes == [("cancelled", None), ("error", "ValueError"), ("success", None)]
    assert events[0] == {"event": "pool_created", "pool": "cap", "max_workers": 1}
    assert events[-1]["event"] == "pool_shutdown"
    # Pools created after the block are not captured.
    with ThreadPoolExecutor(1, name="after", registry=CollectorRegistry()) as pool:
        pool.submit(int).result()
    assert all(e["pool"] == "cap" for e in events)

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


def test_reset_detaches_global_sinks_and_uninstalls() -> None:
    """reset() puts the process back as after import: a capture or profile left open and
    install() are undone, so one test cannot leak into the next."""
    import concurrent.futures

    import tpe_insight
    from tpe_insight import _fanout
    from tpe_insight.testing import reset

    stdlib_class = concurrent.futures.ThreadPoolExecutor
    left_open = capture_events()  # never exited, as a failing test might leave it
    leaked = left_open.__enter__()
    tpe_insight.install()
    assert _fanout.active() and tpe_insight.installed()
    reset()
    assert _fanout.active() == ()
    assert not tpe_insight.installed()
    assert concurrent.futures.ThreadPoolExecutor is stdlib_class
    with ThreadPoolExecutor(1, name="after-reset", registry=CollectorRegistry()) as pool:
        pool.submit(int).result()
    assert leaked == []

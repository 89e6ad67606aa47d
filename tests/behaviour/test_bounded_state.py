"""Items 7 and 10: per-thread and per-pool structures stay bounded.

Threads not started by ``threading`` (``_thread.start_new_thread``, C extensions) have no
``Thread`` object that ever reports them dead; their shards must be retired anyway. The
profiler's record of shut-down pools is capped like its other records.
"""

from __future__ import annotations

import _thread
import threading

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor, profile
from tpe_insight.metrics.collector import collector_for
from tpe_insight.profiler import recorder


def test_7_shards_of_threads_not_started_by_threading_are_retired() -> None:
    registry = CollectorRegistry()
    pool = ThreadPoolExecutor(2, name="p", registry=registry)
    threads = 200
    for _ in range(threads):
        done = threading.Event()

        def submitter(done: threading.Event = done) -> None:
            try:
                pool.submit(abs, -1).result()
            finally:
                done.set()

        _thread.start_new_thread(submitter, ())
        assert done.wait(30)
    pool.shutdown()
    series = collector_for(registry).pool_series("p").tasks["builtins.abs"]
    series.snapshot()  # retires the shards of finished threads
    # Only threads still alive keep a shard of their own (a raw thread may not have finished
    # its last bytecodes when done.set() returns: allow the last few).
    assert len(series._shards) <= 4
    assert registry.get_sample_value("tpe_tasks_submitted_total", {"pool": "p"}) == threads
    assert (
        registry.get_sample_value(
            "tpe_tasks_finished_total", {"pool": "p", "task": "builtins.abs", "outcome": "success"}
        )
        == threads
    )


def test_10_shut_down_pools_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder, "MAX_POOL_RECORDS", 5)
    with profile() as prof:
        for _ in range(20):
            with ThreadPoolExecutor(1, name="many", registry=CollectorRegistry()) as pool:
                pool.submit(abs, 1).result()
    assert len(prof.recorder._shutdowns) <= 5
    assert len(prof.recorder._pools) <= 5

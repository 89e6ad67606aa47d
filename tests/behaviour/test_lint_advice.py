"""Lints that follow the model (profiler/lints.py): each fires on its case and not on its
healthy twin; the nested-wait lint on real pools."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import CancelledError, Future, as_completed, wait
from concurrent.futures import TimeoutError as FuturesTimeout  # not builtin before 3.11

import pytest

from tests.helpers import lanes
from tpe_insight.executor import ThreadPoolExecutor
from tpe_insight.profiler import lints
from tpe_insight.profiler.recorder import Recorder
from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.timeline import PoolRecord, Span, Timeline, WorkerRecord

#: Bound on every wait in these tests: they must fail, never hang.
TIMEOUT = 30.0


def _timeline(spans: list[Span], *, max_workers: int = 4, cores: int = 2) -> Timeline:
    lanes = sorted({s.worker_id for s in spans if s.worker_id is not None})
    return Timeline(
        pools=[PoolRecord(1, "p", max_workers, 0.0, None)],
        workers=[WorkerRecord(w, 1, f"w_{w}", 0.0, 100 + w, 0.0) for w in lanes],
        spans=spans,
        cores=cores,
        run_queue_at_end={w: queue for w, queue in zip(lanes, [0.2] * len(lanes), strict=True)},
    )


def _codes(timeline: Timeline) -> list[str]:
    return [lint.code for lint in lints.check(analyse(timeline))]


def test_gil_free_cpu_gets_the_cores_advice_not_the_processes_advice() -> None:
    """GIL-free CPU on 4 workers and 2 cores: "threads scale to 2 cores", no cpu-bound lint;
    on a pool no wider than the cores, nothing to say."""
    spans = lanes(
        8, lanes=4, run=0.2, cpu=0.1, submit_all_at=None
    )  # each half on a core, half queued for one
    found = list(lints.check(analyse(_timeline(spans))))
    assert [lint.code for lint in found] == ["cpu-parallel"]
    assert "threads scale to 2 core(s) here; more workers than cores will not help" in (
        found[0].message
    )
    two = lanes(8, lanes=2, run=0.1, cpu=0.1, submit_all_at=None)
    narrow = _timeline(two, max_workers=2)
    narrow.run_queue_at_end = {1: 0.0, 2: 0.0}
    assert "cpu-parallel" not in _codes(narrow)
    assert "cpu-bound" not in _codes(narrow)


def test_saturated_needs_a_real_wait_not_a_ratio_over_microseconds() -> None:
    """Ten 1 µs tasks each queued 30 µs have a 30:1 ratio and no problem; ten 0.1 s tasks
    queued 0.1 s each are a saturated pool."""
    tiny = lanes(10, lanes=1, run=1e-6, cpu=1e-6, wait=30e-6, submit_all_at=None)
    assert "saturated" not in _codes(_timeline(tiny, max_workers=1))
    real = lanes(10, lanes=1, run=0.1, cpu=0.001, wait=0.2, submit_all_at=None)
    found = list(lints.check(analyse(_timeline(real, max_workers=1))))
    assert "saturated" in [lint.code for lint in found]


def _nested(workers: int, stuck_after: float = 3600.0) -> tuple[Timeline, ThreadPoolExecutor]:
    """A task that submits a child to its own pool and waits for it. Returns the timeline read
    while the parent waits, and the pool (shut down)."""
    recorder = Recorder(stuck_after=stuck_after)
    pool = ThreadPoolExecutor(workers, sinks=[recorder], metrics=False, logs=False)
    waiting = threading.Event()
    release = threading.Event()
    child_started = threading.Event()

    def child() -> str:
        child_started.set()
        release.wait(TIMEOUT)
        return "child"

    def parent() -> str:
        future = pool.submit(child)
        waiting.set()
        return future.result(timeout=TIMEOUT)

    parent_future = pool.submit(parent)
    assert waiting.wait(TIMEOUT)
    if workers > 1:
        assert child_started.wait(TIMEOUT)
    # The parent calls result() right after setting the event; look until it is in there
    # (bounded: the loop ends with a timeline either way and the test then reports it).
    deadline = time.monotonic() + TIMEOUT
    timeline = recorder.snapshot()
    while time.monotonic() < deadline and not any(r.blocked_in for r in timeline.running):
        time.sleep(0.001)
        timeline = recorder.snapshot()
    release.set()
    pool.shutdown(wait=False, cancel_futures=True)
    # With one worker the child is cancelled (it was queued), so the parent's wait ends.
    with contextlib.suppress(CancelledError):
        parent_future.result(timeout=TIMEOUT)
    pool.shutdown(wait=True)
    return timeline, pool


def test_nested_wait_on_a_full_pool_is_a_deadlock_in_the_making() -> None:
    """One worker; its task submits a child to the same pool and blocks in Future.result():
    the child can never start. The lint names both tasks and shows the stack."""
    timeline, _pool = _nested(1)
    found = [lint for lint in lints.check(analyse(timeline)) if lint.code == "nested-wait"]
    assert len(found) == 1
    (lint,) = found
    assert "parent" in lint.message and "child" in lint.message
    assert "Future.result()" in lint.message
    assert "future.result(timeout=TIMEOUT)" in lint.detail
    assert "stuck" not in _codes(timeline)  # young: shown for the nested wait only


def test_nested_wait_with_a_free_worker_is_fine() -> None:
    """Two workers: the child runs on the second while the parent waits: no lint. (Every
    running task is recorded here, stuck_after=0, to show the parent was seen waiting.)"""
    timeline, _pool = _nested(2, stuck_after=0.0)
    (parent,) = [r for r in timeline.running if r.task.endswith("parent")]
    assert parent.blocked_in == "Future.result"
    assert parent.pool_running == 2
    assert parent.queued_children == ()
    assert "nested-wait" not in _codes(timeline)


@pytest.mark.parametrize("how", ["wait", "as_completed"])
def test_nested_wait_sees_wait_and_as_completed(how: str) -> None:
    """concurrent.futures.wait() and as_completed() on the pool's own future count too."""
    recorder = Recorder(stuck_after=3600.0)
    pool = ThreadPoolExecutor(1, sinks=[recorder], metrics=False, logs=False)
    waiting = threading.Event()
    stop = threading.Event()

    def child() -> None:
        return None

    def parent() -> None:
        # wait()/as_completed() are not woken by a cancel, so block in short rounds until told.
        future: Future[None] = pool.submit(child)
        waiting.set()
        while not stop.is_set():
            if how == "wait":
                wait([future], timeout=0.05)
            else:
                try:
                    for _ in as_completed([future], timeout=0.05):
                        pass
                except FuturesTimeout:
                    pass

    parent_future = pool.submit(parent)
    assert waiting.wait(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    timeline = recorder.snapshot()
    while time.monotonic() < deadline and not any(r.blocked_in for r in timeline.running):
        time.sleep(0.001)
        timeline = recorder.snapshot()
    stop.set()
    pool.shutdown(wait=False, cancel_futures=True)
    parent_future.result(timeout=TIMEOUT)
    pool.shutdown(wait=True)
    assert any(r.blocked_in == how for r in timeline.running)
    assert "nested-wait" in _codes(timeline)

"""The timeline recorder: spans match what happened, the ring bound and dropped count are exact."""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from collections.abc import Callable

import pytest

import tpe_insight
from tpe_insight import ThreadPoolExecutor, _fanout, named
from tpe_insight.events import PoolInfo, TaskInfo
from tpe_insight.profiler import lints
from tpe_insight.profiler.recorder import Recorder
from tpe_insight.profiler.session import profile
from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.timeline import CANCELLED, ERROR, SUCCESS, Timeline


class ManualClock:
    """A clock that only moves when told to: tasks advance it, so durations are exact."""

    def __init__(self) -> None:
        self.now = 0.0
        self.cpu = 0.0

    def __call__(self) -> float:
        return self.now

    def cpu_clock(self) -> float:
        return self.cpu

    def work(self, seconds: float, cpu_seconds: float = 0.0) -> Callable[[], None]:
        def task() -> None:
            self.now += seconds
            self.cpu += cpu_seconds

        return task


def _fail(clock: ManualClock, seconds: float) -> Callable[[], None]:
    def task() -> None:
        clock.now += seconds
        raise ValueError("boom")

    return task


def test_spans_are_exact_under_an_injected_clock() -> None:
    """One worker, a gate holding it, then three tasks and a cancel: every time is exact."""
    clock = ManualClock()
    recorder = Recorder()
    gate = threading.Event()

    def gated() -> None:
        gate.wait(10)
        clock.now += 1.0

    with ThreadPoolExecutor(
        1,
        name="exact",
        metrics=False,
        sinks=[recorder],
        clock=clock,
        cpu_clock=clock.cpu_clock,
        cpu_time="exact",
    ) as pool:
        futures = [
            pool.submit(named("gate", gated)),
            pool.submit(named("a", clock.work(0.25, 0.125))),
            pool.submit(named("b", clock.work(0.5, 0.5))),
            pool.submit(named("c", _fail(clock, 0.125))),
        ]
        doomed = pool.submit(named("d", clock.work(9.0)))
        assert doomed.cancel()
        gate.set()
        concurrent.futures.wait(futures)

    timeline = recorder.snapshot()
    assert timeline.counts() == {SUCCESS: 3, ERROR: 1, CANCELLED: 1, "not_run": 0}
    spans = {span.task: span for span in timeline.spans}
    expected = {  # task: (submitted, started, ended, cpu)
        "gate": (0.0, 0.0, 1.0, 0.0),
        "a": (0.0, 1.0, 1.25, 0.125),
        "b": (0.0, 1.25, 1.75, 0.5),
        "c": (0.0, 1.75, 1.875, 0.0),
    }
    for name, (submitted, started, ended, cpu) in expected.items():
        span = spans[name]
        assert (span.submitted_at, span.started_at, span.ended_at, span.cpu_seconds) == (
            submitted,
            started,
            ended,
            cpu,
        ), name
    assert spans["a"].queue_wait == 1.0
    assert spans["b"].run_seconds == 0.5
    assert spans["c"].outcome == ERROR
    assert spans["c"].exception == "ValueError"
    assert spans["c"].message == "boom"
    assert spans["d"].outcome == CANCELLED
    assert spans["d"].started_at is None
    assert spans["d"].submitted_at is None  # never ran: the submit time stays with the stdlib
    assert spans["d"].ended_at == 0.0  # cancelled before the clock moved
    # One worker ran everything, and the main thread submitted it.
    (worker,) = timeline.workers
    ran = [s for s in timeline.spans if s.started_at is not None]
    assert {s.worker_id for s in ran} == {worker.worker_id}
    assert {s.submitter for s in ran} == {threading.current_thread().name}
    (pool_record,) = timeline.pools
    assert (pool_record.label, pool_record.max_workers) == ("exact", 1)
    assert pool_record.shutdown_at == 1.875


def test_counts_ordering_and_workers_with_a_real_clock() -> None:
    """Exact outcome counts, submit <= start <= end, and at most max_workers worker threads."""
    recorder = Recorder()
    gate = threading.Event()

    def ok(x: int) -> int:
        gate.wait(10)
        return x

    def bad(x: int) -> int:
        gate.wait(10)
        raise KeyError(x)

    with ThreadPoolExecutor(3, name="counts", metrics=False, sinks=[recorder]) as pool:
        running = [pool.submit(ok, i) for i in range(3)]  # occupy the three workers
        queued_ok = [pool.submit(ok, i) for i in range(20)]
        queued_bad = [pool.submit(bad, i) for i in range(7)]
        to_cancel = [pool.submit(ok, i) for i in range(5)]
        assert all(f.cancel() for f in to_cancel)
        gate.set()
        concurrent.futures.wait(running + queued_ok + queued_bad)

    timeline = recorder.snapshot()
    assert timeline.counts() == {SUCCESS: 23, ERROR: 7, CANCELLED: 5, "not_run": 0}
    assert timeline.dropped == 0
    pool_id = timeline.pools[0].pool_id
    workers = [w for w in timeline.workers if w.pool_id == pool_id]
    assert 1 <= len(workers) <= 3
    assert len({w.thread_name for w in workers}) == len(workers)
    worker_ids = {w.worker_id for w in workers}
    for span in timeline.spans:
        if span.started_at is None:
            assert span.submitted_at is None
            assert span.worker_id is None
            continue
        assert span.submitted_at <= span.started_at <= span.ended_at
        assert span.worker_id in worker_ids
        assert span.cpu_seconds <= span.run_seconds
    # A worker runs one task at a time: its spans never overlap.
    for worker_id in worker_ids:
        mine = sorted(
            (s.started_at, s.ended_at)
            for s in timeline.spans
            if s.worker_id == worker_id and s.started_at is not None
        )
        for (_, end), (start, _) in itertools.pairwise(mine):
            assert end <= start


def test_sample_keeps_first_last_and_slowest_and_the_totals_stay_exact() -> None:
    """Capacity 50 over 1000 tasks on one worker: the first and last spans of the rule keep
    their detail, the rest are counted, and the totals cover all 1000."""
    recorder = Recorder(capacity=50)
    with ThreadPoolExecutor(1, name="ring", metrics=False, sinks=[recorder]) as pool:
        for i in range(1000):
            pool.submit(named(f"t{i:04}", int))
    timeline = recorder.snapshot()
    rule = recorder.sample_rule
    assert timeline.sample_rule == rule
    assert len(timeline.spans) <= rule.bound < 1000
    assert timeline.dropped == 1000 - len(timeline.spans)
    kept = [s.task for s in timeline.spans]
    assert kept[: rule.first] == [f"t{i:04}" for i in range(rule.first)]
    assert kept[-rule.last :] == [f"t{i:04}" for i in range(1000 - rule.last, 1000)]
    assert kept == sorted(kept)  # recorded order
    assert recorder.recorded == 1000
    assert recorder.recorded == 1000  # reading the count does not change it
    assert timeline.counts() == {SUCCESS: 1000, ERROR: 0, CANCELLED: 0, "not_run": 0}
    totals = timeline.task_totals()
    assert sum(t.run.count for t in totals) == 1000
    assert max(s.run_seconds for s in timeline.spans) == max(t.run.max for t in totals)
    assert any(lint.code == "dropped" for lint in lints.check(analyse(timeline)))


def test_sample_bound_holds_with_many_workers_and_outcomes() -> None:
    """Several workers and submitting threads, failures included: the bound holds and the
    counts and exception classes are exact."""
    recorder = Recorder(capacity=100)

    def maybe_fail(i: int) -> int:
        if i % 7 == 0:
            raise ValueError(i)
        return i

    with ThreadPoolExecutor(4, name="ring-many", metrics=False, sinks=[recorder]) as pool:

        def submitter(offset: int) -> None:
            for i in range(offset, offset + 1000):
                pool.submit(maybe_fail, i)

        threads = [threading.Thread(target=submitter, args=(k * 1000,)) for k in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    timeline = recorder.snapshot()
    assert len(timeline.spans) <= recorder.sample_rule.bound
    assert timeline.dropped == 5000 - len(timeline.spans)
    assert recorder.recorded == 5000
    failures = sum(1 for i in range(5000) if i % 7 == 0)
    assert timeline.counts() == {
        SUCCESS: 5000 - failures,
        ERROR: failures,
        CANCELLED: 0,
        "not_run": 0,
    }
    (totals,) = timeline.task_totals()
    assert totals.exceptions == {"ValueError": failures}


def test_profile_records_pools_created_inside_only() -> None:
    """profile() attaches to pools constructed while active, and detaches on exit."""
    before = ThreadPoolExecutor(1, name="before", metrics=False)
    with profile() as prof:
        assert prof.recorder in _fanout.active()
        with ThreadPoolExecutor(2, name="inside", metrics=False) as pool:
            list(pool.map(abs, range(10)))
        before.submit(abs, 1).result()
    assert prof.recorder not in _fanout.active()
    with ThreadPoolExecutor(1, name="after", metrics=False) as pool:
        pool.submit(abs, 1).result()
    before.shutdown()
    timeline = prof.timeline
    assert [p.label for p in timeline.pools] == ["inside"]
    assert timeline.counts()[SUCCESS] == 10
    assert prof.timeline is timeline  # frozen after stop()
    assert "inside" in prof.summary()


def test_profile_start_stop_object_and_stdlib_patch() -> None:
    """The start/stop form, with patch_stdlib recording a concurrent.futures pool."""
    prof = tpe_insight.profile(patch_stdlib=True)
    prof.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(abs, range(6)))
    finally:
        timeline = prof.stop()
    assert not tpe_insight.installed()
    assert concurrent.futures.ThreadPoolExecutor is tpe_insight.StdlibThreadPoolExecutor
    assert timeline.counts()[SUCCESS] == 6
    assert len(timeline.pools) == 1
    with pytest.raises(RuntimeError):
        prof.start().start()
    prof.stop()


def test_stuck_task_is_reported_with_its_stack() -> None:
    """A task still running when the profile is read is reported with its worker's stack."""
    recorder = Recorder(stuck_after=0.0)
    release = threading.Event()
    started = threading.Event()

    def hangs_in_here() -> None:
        started.set()
        release.wait(10)

    with ThreadPoolExecutor(1, name="stuck", metrics=False, sinks=[recorder]) as pool:
        future = pool.submit(hangs_in_here)
        assert started.wait(10)
        timeline = recorder.snapshot()
        release.set()
        future.result()
    (running,) = timeline.running
    assert running.seen_at == "end of profile"
    assert running.task.endswith("hangs_in_here")
    assert "hangs_in_here" in running.stack
    assert "release.wait" in running.stack
    found = [lint for lint in lints.check(analyse(timeline)) if lint.code == "stuck"]
    assert len(found) == 1
    assert "hangs_in_here" in found[0].detail


def test_tasks_running_at_shutdown_without_wait_are_reported() -> None:
    """shutdown(wait=False) with a task running: noted at shutdown, whatever its age."""
    recorder = Recorder()  # default stuck_after: only the shutdown path can report it
    release = threading.Event()
    started = threading.Event()

    def slow() -> None:
        started.set()
        release.wait(10)

    pool = ThreadPoolExecutor(1, name="nowait", metrics=False, sinks=[recorder])
    future = pool.submit(slow)
    assert started.wait(10)
    pool.shutdown(wait=False)
    release.set()
    future.result()
    timeline = recorder.snapshot()
    (running,) = timeline.running
    assert running.seen_at == "shutdown"
    assert "release.wait" in running.stack


def test_a_task_shorter_than_stuck_after_is_not_reported() -> None:
    """The stuck threshold is honoured: a young running task is not flagged."""
    recorder = Recorder(stuck_after=3600.0)
    release = threading.Event()
    started = threading.Event()

    def young() -> None:
        started.set()
        release.wait(10)

    with ThreadPoolExecutor(1, name="young", metrics=False, sinks=[recorder]) as pool:
        future = pool.submit(young)
        assert started.wait(10)
        timeline = recorder.snapshot()
        release.set()
        future.result()
    assert timeline.running == []


def test_recorder_validates_its_options() -> None:
    """Bad capacity and threshold are rejected at construction, naming the option."""
    with pytest.raises(ValueError, match="capacity"):
        Recorder(capacity=0)
    with pytest.raises(ValueError, match="stuck_after"):
        Recorder(stuck_after=-1.0)


def test_timeline_dict_round_trip() -> None:
    """to_dict/from_dict is exact, and malformed input is a ValueError."""
    recorder = Recorder()
    with ThreadPoolExecutor(2, name="dict", metrics=False, sinks=[recorder]) as pool:
        pool.submit(time.sleep, 0.001)
        pool.submit(int, "x")
    timeline = recorder.snapshot()
    assert Timeline.from_dict(timeline.to_dict()) == timeline
    with pytest.raises(ValueError, match="malformed"):
        Timeline.from_dict({"pools": "nope"})


def test_a_span_is_built_from_the_task_finished_event_alone() -> None:
    """task_finished carries submit time and submitter, so the span needs no earlier event:
    even when the submit is reported after the task ran (the core reports it after the stdlib
    queued the task), the span is exact, and the submitter's name comes from its thread."""
    recorder = Recorder()
    pool = PoolInfo("direct", max_workers=1, thread_name_prefix="", created_at=0.0)
    task = TaskInfo(pool, "job")
    recorder.pool_created(pool)
    recorder.worker_started(pool, "worker-0", 0.5)  # this thread plays the worker
    idents: list[int] = []

    def submit() -> None:
        idents.append(threading.get_ident())
        recorder.task_submitted(task, 1.0)

    other = threading.Thread(target=submit, name="late-submitter")
    other.start()
    other.join()
    recorder.task_finished(task, 1.0, 2.0, 3.0, 0.5, None, idents[0])
    recorder.task_finished(task, 2.5, 3.0, 4.0, 0.25, ValueError("late"), idents[0])

    first, second = recorder.snapshot().spans
    assert (first.submitted_at, first.started_at, first.ended_at) == (1.0, 2.0, 3.0)
    assert first.submitter == second.submitter == "late-submitter"
    assert (second.outcome, second.exception, second.message) == (ERROR, "ValueError", "late")
    assert first.worker_id == second.worker_id == recorder.snapshot().workers[0].worker_id

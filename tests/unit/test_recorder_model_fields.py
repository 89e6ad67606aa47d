"""The recorder's plain fields for the model: run-queue readings per worker, the cores, the
submitting worker of a task submitted from a task; they survive the trace round trip."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from tpe_insight import ThreadPoolExecutor
from tpe_insight.profiler import machine, schedstat
from tpe_insight.profiler.recorder import Recorder, _MachineWatch
from tpe_insight.profiler.timeline import RunningTask, Timeline, WorkerRecord

TIMEOUT = 30.0


def test_workers_carry_run_queue_readings_from_start_to_end() -> None:
    """On Linux every worker has a start reading, and an end reading taken at its exit (the
    pool was shut down before the snapshot), never below the start."""
    if not sys.platform.startswith("linux"):
        pytest.fail("this test needs Linux schedstat (/proc/thread-self/schedstat)")
    recorder = Recorder()
    with ThreadPoolExecutor(2, sinks=[recorder], metrics=False, logs=False) as pool:
        list(pool.map(abs, range(10)))
    timeline = recorder.snapshot()
    assert timeline.cores == schedstat.available_cores() >= 1
    assert timeline.workers
    for worker in timeline.workers:
        assert worker.native_id is not None
        assert worker.run_queue_at_start is not None
        assert timeline.run_queue_at_end[worker.worker_id] >= worker.run_queue_at_start


def test_a_task_submitted_from_a_task_names_its_worker() -> None:
    """The child's span says which worker submitted it; the parent's says none."""
    recorder = Recorder()
    with ThreadPoolExecutor(2, sinks=[recorder], metrics=False, logs=False) as pool:

        def child() -> int:
            return 1

        def parent() -> int:
            return pool.submit(child).result(timeout=TIMEOUT)

        assert pool.submit(parent).result(timeout=TIMEOUT) == 1
    timeline = recorder.snapshot()
    spans = {span.task.rsplit(".", 1)[-1]: span for span in timeline.spans}
    assert spans["parent"].submitter_worker is None
    assert spans["child"].submitter_worker == spans["parent"].worker_id


def test_the_new_fields_survive_the_trace_round_trip_and_old_traces_still_load() -> None:
    """to_dict/from_dict keep the fields; a dict without them (an older trace) loads with
    the defaults."""
    timeline = Timeline(
        workers=[WorkerRecord(1, 1, "w", 0.0, 4242, 0.5)],
        running=[RunningTask(1, "t", 1, "w", 0.0, 1.0, "end of profile", "", "wait", 2, ("c",))],
        cores=2,
        run_queue_at_end={1: 0.75},
    )
    assert Timeline.from_dict(timeline.to_dict()) == timeline
    old = timeline.to_dict()
    old["workers"] = [row[:4] for row in old["workers"]]
    old["running"] = [row[:8] for row in old["running"]]
    del old["cores"], old["run_queue_at_end"]
    loaded = Timeline.from_dict(old)
    assert loaded.workers[0].run_queue_at_start is None
    assert loaded.running[0].blocked_in is None and loaded.running[0].queued_children == ()
    assert loaded.cores is None and loaded.run_queue_at_end == {}


def test_schedstat_readers_say_none_for_a_thread_that_is_not_there() -> None:
    """A thread id that does not exist reads as None, not an error."""
    assert schedstat.read_run_queue_seconds(2**31 - 1) is None
    value = schedstat.read_own_run_queue_seconds()
    assert value is None or value >= 0.0
    assert threading.get_native_id() > 0


class _FakeMachine:
    """A /proc/stat stand-in: each reading 1 s more busy time on 2 CPUs, 0.25 s more of ours."""

    def __init__(self, available: bool = True) -> None:
        self.calls = 0
        self.available = available

    def __call__(self) -> machine.CpuReading | None:
        self.calls += 1
        if not self.available:
            return None
        return machine.CpuReading(self.calls * 1.0, self.calls * 0.25, 2, 0.01)


def _watched(fake: _FakeMachine) -> Recorder:
    recorder = Recorder()
    recorder._machine = _MachineWatch(time.perf_counter, reader=fake)
    return recorder


def test_the_machine_is_read_at_a_pools_first_worker_and_at_its_last_workers_end() -> None:
    """Twice per pool whatever its task and worker counts (plus once to see whether the OS
    says anything): never per task."""
    fake = _FakeMachine()
    recorder = _watched(fake)
    with ThreadPoolExecutor(2, sinks=[recorder], metrics=False, logs=False) as pool:
        list(pool.map(abs, range(50)))
    assert fake.calls == 3
    timeline = recorder.snapshot()
    assert fake.calls == 3  # the window was closed at the last worker's end
    (pool_id,) = [p.pool_id for p in timeline.pools]
    window = timeline.machine[pool_id]
    # Readings 2 and 3: 1 s more busy time, 0.25 s of it ours.
    assert window.other_cpu_seconds == pytest.approx(0.75)
    assert window.own_cpu_seconds == pytest.approx(0.25)
    assert window.started_at <= window.ended_at


def test_a_pool_still_alive_is_read_up_to_the_snapshot() -> None:
    """Workers alive when the profile is read: the window ends now, and stays open."""
    fake = _FakeMachine()
    recorder = _watched(fake)
    pool = ThreadPoolExecutor(1, sinks=[recorder], metrics=False, logs=False)
    try:
        pool.submit(abs, 1).result(timeout=TIMEOUT)
        first = recorder.snapshot()
        second = recorder.snapshot()
        assert fake.calls == 4  # init, first worker, one per snapshot
        (pool_id,) = first.machine
        assert second.machine[pool_id].ended_at >= first.machine[pool_id].ended_at
    finally:
        pool.shutdown(wait=True)


def test_no_proc_stat_no_window() -> None:
    """Where the OS does not say, the recorder asks once and records nothing."""
    fake = _FakeMachine(available=False)
    recorder = _watched(fake)
    with ThreadPoolExecutor(2, sinks=[recorder], metrics=False, logs=False) as pool:
        list(pool.map(abs, range(10)))
    assert recorder.snapshot().machine == {}
    assert fake.calls == 1

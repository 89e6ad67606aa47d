"""The profiler's model on hand-made timelines: each kind of work gives the known answer."""

from __future__ import annotations

import pytest

from tests.helpers import lanes
from tpe_insight.profiler import model as m
from tpe_insight.profiler.model import Dependency, TaskWork, find_dependencies, model_timeline
from tpe_insight.profiler.timeline import MachineWindow, PoolRecord, Span, Timeline, WorkerRecord


def _timeline(
    spans: list[Span],
    *,
    max_workers: int = 4,
    cores: int = 2,
    run_queue: dict[int, float] | None = None,
) -> Timeline:
    """One pool; one worker record per lane; ``run_queue``: worker -> run-queue seconds over
    its life (None: the OS did not say, as off Linux)."""
    lanes = sorted({s.worker_id for s in spans if s.worker_id is not None})
    known = run_queue is not None
    workers = [WorkerRecord(w, 1, f"w_{w}", 0.0, 100 + w, 0.0 if known else None) for w in lanes]
    return Timeline(
        pools=[PoolRecord(1, "p", max_workers, 0.0, None)],
        workers=workers,
        spans=spans,
        cores=cores,
        run_queue_at_end=dict(run_queue or {}),
    )


def _what_if(model: m.PoolModel) -> dict[int, m.WhatIf]:
    return {w.max_workers: w for w in model.what_if}


def test_io_work_is_io_and_scales_up_to_what_was_seen() -> None:
    """Tasks that sleep: serial = Σ run, speedup = workers; more workers than ever ran at
    once is "cannot tell", with a range from the model's answer to no gain."""
    spans = lanes(8, lanes=4, run=0.1, cpu=0.001)
    (model,) = model_timeline(_timeline(spans, run_queue={1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}))
    assert model.work_type == "io"
    assert model.serial_seconds.value == pytest.approx(0.8)
    assert model.speedup.value == pytest.approx(4.0)
    what_if = _what_if(model)
    assert what_if[1].predicted_wall_seconds == pytest.approx(0.8)
    assert what_if[2].predicted_wall_seconds == pytest.approx(0.4)
    assert what_if[4].recorded and what_if[4].predicted_wall_seconds == pytest.approx(0.2)
    assert what_if[8].predicted_wall_seconds is None
    # Low end: 8 at once, each 0.1 s less the 0.003 s its neighbours' CPU could explain.
    assert (what_if[8].low, what_if[8].high) == pytest.approx((0.097, 0.2))


def test_gil_bound_work_serial_is_its_cpu_and_threads_do_not_help() -> None:
    """Four tasks at a time, each 25% on CPU, the pool at exactly one core, nobody queued for
    a core: the sleep is GIL wait. Serial = Σ CPU, speedup x1, every what-if the same."""
    spans = lanes(8, lanes=4, run=0.4, cpu=0.1)
    (model,) = model_timeline(_timeline(spans, run_queue={1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}))
    assert model.work_type == "gil"
    assert model.concurrent_cpu_rate == pytest.approx(1.0)
    assert model.serial_seconds.value == pytest.approx(0.8)
    assert model.speedup.value == pytest.approx(1.0)
    for k in (1, 2, 8):
        assert _what_if(model)[k].predicted_wall_seconds == pytest.approx(0.8)


def test_gil_free_cpu_scales_to_the_cores_and_no_further() -> None:
    """Four workers on two cores, each task half on a core, half queued for one (schedstat):
    GIL-free CPU. Serial = Σ CPU; 1 worker takes it all, 2 use both cores, 8 gain nothing."""
    spans = lanes(8, lanes=4, run=0.2, cpu=0.1)
    queue = {w: 0.2 for w in (1, 2, 3, 4)}  # 0.1 s per task, two tasks per worker
    (model,) = model_timeline(_timeline(spans, run_queue=queue))
    assert model.work_type == "cpu_parallel"
    assert model.run_queue_seconds == pytest.approx(0.8)
    assert model.serial_seconds.value == pytest.approx(0.8)
    assert model.speedup.value == pytest.approx(2.0)
    what_if = _what_if(model)
    assert what_if[1].predicted_wall_seconds == pytest.approx(0.8)
    assert what_if[2].predicted_wall_seconds == pytest.approx(0.4)
    assert what_if[8].predicted_wall_seconds == pytest.approx(0.4)


def test_gil_free_cpu_without_schedstat_reads_saturated_cores() -> None:
    """Off Linux there is no run-queue reading: two cores kept busy by four tasks is GIL-free
    CPU saturating the cores, and the waiting it explains is core wait, not I/O."""
    spans = lanes(8, lanes=4, run=0.2, cpu=0.1)
    (model,) = model_timeline(_timeline(spans, run_queue=None))
    assert model.run_queue_seconds is None
    assert model.work_type == "cpu_parallel"
    assert model.serial_seconds.value == pytest.approx(0.8)


def test_a_loaded_machine_does_not_turn_cpu_work_into_io() -> None:
    """Another process takes cores: each task gets 0.1 s of CPU in 0.25 s, queued for a core
    the rest. Without the run queue that would look like 60% waiting; with it, it is CPU work
    whose serial time is its CPU, run on a machine where a lone thread also competes."""
    spans = lanes(8, lanes=4, run=0.25, cpu=0.1)
    queue = {w: 0.3 for w in (1, 2, 3, 4)}
    (model,) = model_timeline(_timeline(spans, run_queue=queue))
    assert model.work_type == "cpu_parallel"
    assert model.serial_seconds.value == pytest.approx(0.8)
    # 4 runnable threads got 1.6 cores of 2: the process's share of the loaded machine.
    assert model.concurrent_cpu_rate == pytest.approx(1.6)
    assert model.effective_cores == pytest.approx(1.6)
    # The load held back 0.4 of the 2 cores the threads wanted: another run may get from
    # 1.6² / 2 = 1.28 cores (as much more held back) to 2 (not held back). A serial run gets one
    # core either way (0.8 s); the pool's 0.5 s scales to 0.625 s / 0.4 s: x1.28 to x2.0, wider
    # than ±15% of this run's x1.6, so the speedup is "cannot tell" with that range.
    assert model.core_band == pytest.approx((1.28, 2.0))
    assert model.speedup.value is None
    assert model.speedup.low == pytest.approx(0.8 / 0.625)
    assert model.speedup.high == pytest.approx(2.0)
    what_if = _what_if(model)
    # One worker needs one core of any of those shares: the band does not change it.
    assert what_if[1].predicted_wall_seconds == pytest.approx(0.8)
    # Two and more workers need the band's cores: 0.8 s / 1.28 to 0.8 s / 2.
    for k in (2, 8):
        assert what_if[k].predicted_wall_seconds is None
        assert what_if[k].low == pytest.approx(0.4)
        assert what_if[k].high == pytest.approx(0.8 / 1.28)


def test_one_task_at_a_time_cannot_tell_what_more_workers_would_do_to_cpu_work() -> None:
    """One worker, all CPU: the serial time is exact, but whether the code holds the GIL was
    never tested, so the kind is unknown and two workers are a range, not a number."""
    spans = lanes(4, lanes=1, run=0.1, cpu=0.1)
    (model,) = model_timeline(_timeline(spans, max_workers=1, run_queue={1: 0.0}))
    assert model.work_type == "unknown"
    assert model.serial_seconds.value == pytest.approx(0.4)
    two = _what_if(model)[2]
    assert two.predicted_wall_seconds is None
    assert (two.low, two.high) == pytest.approx((0.2, 0.4))


def test_too_little_run_time_makes_no_claim() -> None:
    """Ten microsecond tasks: every claim is null, with its range."""
    spans = lanes(10, lanes=2, run=10e-6, cpu=10e-6)
    (model,) = model_timeline(_timeline(spans, run_queue={1: 0.0, 2: 0.0}))
    assert model.work_type == "unknown"
    assert model.serial_seconds.value is None
    assert model.speedup.value is None
    assert all(w.predicted_wall_seconds is None for w in model.what_if)


def test_a_pool_that_ran_nothing_makes_no_claim() -> None:
    """No spans: unknown, no what-if."""
    (model,) = model_timeline(_timeline([], run_queue={}))
    assert model.work_type == "unknown"
    assert model.serial_seconds.value is None
    assert model.what_if == []


# -- dependencies --------------------------------------------------------------------------------


def _span(
    task: str,
    submitted: float,
    started: float,
    ended: float,
    worker: int,
    *,
    submitter_worker: int | None = None,
    cpu: float = 0.0,
) -> Span:
    submitter = "MainThread" if submitter_worker is None else f"w_{submitter_worker}"
    return Span(
        1,
        task,
        "success",
        submitted,
        started,
        ended,
        cpu,
        worker,
        submitter,
        submitter_worker=submitter_worker,
    )


def test_find_dependencies_sees_tasks_submitted_from_tasks() -> None:
    """A child submitted from a worker while its parent ran there is ``nested`` at the share
    of the parent's run that had passed."""
    spans = [
        _span("parent", 0.0, 0.0, 0.2, 1),
        _span("child", 0.05, 0.05, 0.15, 2, submitter_worker=1),
    ]
    assert find_dependencies(spans, 4) == [Dependency(1, 0, "nested", pytest.approx(0.25))]


def test_find_dependencies_sees_phases_submitted_after_completions() -> None:
    """Phases like asyncio.gather(to_thread...): each submitted right after the previous
    phase's last task ended, with workers idle: ``after`` that task. An open-loop producer
    whose submits only sometimes follow a completion is left alone."""
    phases = []
    for phase in range(3):
        start = phase * 0.101
        for lane in range(2):
            submitted = 0.0 if phase == 0 else start
            phases.append(_span(f"p{phase}", submitted, start, start + 0.1, lane + 1))
    deps = find_dependencies(phases, 4)
    assert {(d.child, d.kind) for d in deps} == {
        (2, "after"),
        (3, "after"),
        (4, "after"),
        (5, "after"),
    }
    assert all(d.offset == pytest.approx(0.001) for d in deps)

    open_loop = [_span("t", i * 0.037, i * 0.037, i * 0.037 + 0.1, i % 3 + 1) for i in range(10)]
    assert find_dependencies(open_loop, 4) == []


def test_find_dependencies_ignores_submits_while_the_pool_is_full() -> None:
    """A submitter held back by the GIL lands right after completions too, but while the pool
    is full and tasks are queued: that is not waiting for results."""
    spans = []
    for i in range(12):
        lane, slot = i % 2, i // 2
        start = slot * 0.1
        submitted = max(0.0, start - 0.1 + 0.001) if slot else 0.0
        spans.append(_span("t", submitted, start, start + 0.1, lane + 1))
    assert find_dependencies(spans, 2) == []


def test_simulate_replays_children_after_their_parents() -> None:
    """A chain a -> b -> c (each submitted right after the previous ended) takes 0.3 s on any
    number of workers; replayed at recorded submit times it would look parallel."""
    work = [TaskWork(0.0, 0.0, 0.1), TaskWork(0.0, 0.0, 0.1), TaskWork(0.0, 0.0, 0.1)]
    chain = [Dependency(1, 0, "after", 0.0), Dependency(2, 1, "after", 0.0)]
    assert m.simulate(work, chain, 4, cores=2, gil_share=0.0) == pytest.approx(0.3)
    assert m.simulate(work, [], 4, cores=2, gil_share=0.0) == pytest.approx(0.1)
    nested = [Dependency(1, 0, "nested", 0.5)]
    assert m.simulate(work[:2], nested, 2, cores=2, gil_share=0.0) == pytest.approx(0.15)


def test_simulate_caps_cpu_at_the_gil_and_at_the_cores() -> None:
    """Four 0.1 s CPU tasks: GIL-bound they take 0.4 s whatever the workers; GIL-free they use
    the two cores; with one competitor on the cores, four threads get 2 x 4 / 5 of them."""
    work = [TaskWork(0.0, 0.1, 0.0)] * 4
    assert m.simulate(work, [], 4, cores=2, gil_share=1.0) == pytest.approx(0.4)
    assert m.simulate(work, [], 4, cores=2, gil_share=0.0) == pytest.approx(0.2)
    assert m.simulate(work, [], 4, cores=2, gil_share=0.0, competing=1.0) == pytest.approx(
        0.4 / 1.6
    )
    io = [TaskWork(0.0, 0.0, 0.1)] * 4
    assert m.simulate(io, [], 4, cores=1, gil_share=1.0) == pytest.approx(0.1)


def test_dependent_phases_what_if_low_bound_is_dependency_aware() -> None:
    """Four phases of 8 sleeps on 4 workers, each phase submitted right after the last ended.
    With 8 workers each phase takes one sleep: the range's low end is 4 x 0.1 s (+ the gaps),
    not the open-loop replay's answer (phases at their recorded times: 0.7 s)."""
    spans = []
    gap = 0.001
    for phase in range(4):
        phase_start = phase * (0.2 + gap)
        for i in range(8):
            lane, slot = i % 4, i // 4
            start = phase_start + slot * 0.1
            spans.append(_span(f"p{phase}", phase_start, start, start + 0.1, lane + 1))
    (model,) = model_timeline(_timeline(spans, run_queue={w: 0.0 for w in (1, 2, 3, 4)}))
    assert model.dependencies == 24
    assert model.work_type == "io"
    eight = _what_if(model)[8]
    assert eight.predicted_wall_seconds is None
    assert eight.low == pytest.approx(4 * 0.1 + 3 * gap)
    assert _what_if(model)[2].predicted_wall_seconds == pytest.approx(4 * 0.4 + 3 * gap)


def test_worked_example_of_the_docs() -> None:
    """docs/profiler-model.md, "A worked example": the numbers printed there."""
    spans = lanes(8, lanes=4, run=0.4, cpu=0.1)
    (model,) = model_timeline(_timeline(spans, run_queue={1: 0.02, 2: 0.02, 3: 0.02, 4: 0.02}))
    assert model.run_seconds == pytest.approx(3.2)
    assert model.cpu_seconds == pytest.approx(0.8)
    assert model.run_queue_seconds == pytest.approx(0.08)
    assert model.sleep_seconds == pytest.approx(2.32)
    assert model.concurrent_cpu_rate == pytest.approx(1.0)
    assert model.work_type == "gil"
    assert model.serial_seconds.value == pytest.approx(0.8)
    assert (model.serial_seconds.low, model.serial_seconds.high) == pytest.approx((0.8, 1.032))
    assert model.speedup.value == pytest.approx(1.0)
    assert [(w.max_workers, w.predicted_wall_seconds) for w in model.what_if] == [
        (1, pytest.approx(0.8)),
        (2, pytest.approx(0.8)),
        (4, pytest.approx(0.8)),
        (8, pytest.approx(0.8)),
    ]


def test_a_burst_of_submits_into_a_full_pool_follows_its_head() -> None:
    """asyncio.gather of 8 to_thread calls on 4 workers: the burst's first submit finds the
    pool idle right after the last phase ended; the other seven land in a full pool but belong
    to the same burst, so the whole phase replays after the previous one."""
    spans = []
    for phase in range(3):
        phase_start = phase * 0.201
        for i in range(8):
            lane, slot = i % 4, i // 4
            submitted = 0.0 if phase == 0 else phase_start + i * 1e-4
            start = max(submitted, phase_start + slot * 0.1)
            spans.append(_span(f"p{phase}", submitted, start, start + 0.1, lane + 1))
    deps = find_dependencies(spans, 4)
    assert sorted(d.child for d in deps) == list(range(8, 24))
    assert all(d.kind == "after" for d in deps)


def test_a_long_recording_is_replayed_in_groups_with_the_same_answer() -> None:
    """10,000 I/O tasks (more than MAX_REPLAY_TASKS) on 4 workers: grouped replay still says
    1 worker takes 4x as long and 2 workers twice as long."""
    spans = lanes(10_000, lanes=4, run=0.01, cpu=0.0001)
    (model,) = model_timeline(_timeline(spans, run_queue=dict.fromkeys((1, 2, 3, 4), 0.0)))
    what_if = _what_if(model)
    assert what_if[1].predicted_wall_seconds == pytest.approx(100.0, rel=0.01)
    assert what_if[2].predicted_wall_seconds == pytest.approx(50.0, rel=0.01)


def test_io_on_a_loaded_machine_is_not_capped_at_the_cpu_it_asked_for() -> None:
    """Four sleepers on two cores of a busy machine: each task 5 ms of CPU in 0.1 s, and 15 ms
    queued for a core when it woke. They used rho = 0.2 cores of the 0.8 they wanted (CPU +
    run-queue wait): the load left them a quarter of the core time they asked for, so a pool
    that wanted both cores would get 0.5, not the 0.2 these sleepers happened to use. Capped at
    0.2, the replay would make the CPU the bottleneck: 8 workers "no better than 4"."""
    spans = lanes(8, lanes=4, run=0.1, cpu=0.005)
    (model,) = model_timeline(_timeline(spans, run_queue=dict.fromkeys((1, 2, 3, 4), 0.03)))
    assert model.work_type == "io"
    assert model.concurrent_cpu_rate == pytest.approx(0.2)
    assert model.effective_cores == pytest.approx(2 * 0.2 / 0.8)
    assert model.core_band == pytest.approx((0.5, 0.5))
    serial = model.serial_seconds.value
    assert serial == pytest.approx(8 * (0.1 - 0.015))
    # A lone thread's CPU (0.04 s) at half a core: 0.04 s more, not 0.04 x (1 / 0.2 - 1).
    assert model.speedup.value == pytest.approx((serial + 0.04) / 0.2)
    # The replay runs the work without the wake-up queueing (0.17 s for the recorded 0.2 s);
    # the calibration puts it back in every prediction, CPU uncapped.
    assert model.calibration == pytest.approx(0.2 / 0.17)
    what_if = _what_if(model)
    assert what_if[1].predicted_wall_seconds == pytest.approx(0.8)
    assert what_if[2].predicted_wall_seconds == pytest.approx(0.4)
    eight = what_if[8]
    assert eight.predicted_wall_seconds is None
    # Low end: each task's 0.07 s of work at least (0.1 s less its queueing and the 0.015 s of
    # neighbours' CPU that could explain its sleep), eight at once.
    assert eight.low == pytest.approx(0.07)
    assert eight.high == pytest.approx(0.2)


def test_gil_bound_work_on_a_loaded_machine_gives_the_walls_as_a_range() -> None:
    """GIL-bound tasks (rho = 0.75: the GIL holder got three quarters of its core, queued for it
    the rest) on a busy machine, three workers. The work is 0.45 s of CPU on one core; this
    run took 0.6 s because of the load, and the next run's load is unknown: from as much more
    held back (0.75² of a core: 0.8 s) to none (0.45 s). The walls are that range, "cannot
    tell", at every worker count; so is the speedup, whose serial run and pooled run may meet
    different loads (x0.5625, a quick serial run against a held-back pool, to past x2)."""
    spans = lanes(6, lanes=3, run=0.3, cpu=0.075)
    queue = dict.fromkeys((1, 2, 3), 0.1)  # 0.05 s per task
    (model,) = model_timeline(_timeline(spans, max_workers=3, run_queue=queue))
    assert model.work_type == "gil"
    assert model.concurrent_cpu_rate == pytest.approx(0.75)
    assert model.effective_cores == pytest.approx(0.75)
    assert model.core_band == pytest.approx((0.75**2, 1.0))
    assert model.serial_seconds.value == pytest.approx(0.45)
    assert model.speedup.value is None
    # Low: the serial run's 0.45 s on a whole core over the pool's 0.6 s held back to 0.5625
    # of a core (0.8 s). Above: this run's x1.0 at the same load, and more.
    assert model.speedup.low == pytest.approx(0.45 / 0.8)
    assert model.speedup.high > 2.0
    assert model.calibration == pytest.approx(1.0)
    what_if = _what_if(model)
    assert what_if[3].recorded
    for k in (1, 2, 3, 4):
        assert what_if[k].predicted_wall_seconds is None
        assert what_if[k].high == pytest.approx(0.45 / 0.75**2)
    assert [what_if[k].low for k in (1, 2, 3)] == pytest.approx([0.45] * 3)
    # Four workers were never seen: the floor is the GIL-holding share of the CPU (at least
    # 90%, "gil") on one core.
    assert what_if[4].low == pytest.approx(0.9 * 0.45)


def _fifo(
    jobs: list[tuple[float, int | None]], workers: int, pick: float
) -> list[tuple[float, float, float, int]]:
    """A FIFO pool that takes ``pick`` seconds to start each task (a slow machine). Jobs are
    (seconds, the parent whose end submits it, or None: submitted at 0); returns (submitted,
    started, ended, worker) per job."""
    free = [0.0] * workers
    ready = {i: 0.0 for i, (_, parent) in enumerate(jobs) if parent is None}
    queue = sorted(ready)
    done: dict[int, tuple[float, float, float, int]] = {}
    while queue:
        i = queue.pop(0)
        worker = min(range(workers), key=lambda w: free[w])
        start = max(free[worker], ready[i]) + pick
        free[worker] = start + jobs[i][0]
        done[i] = (ready[i], start, free[worker], worker + 1)
        for child, (_, parent) in enumerate(jobs):
            if parent == i:
                ready[child] = free[worker]
                queue.append(child)
        queue.sort(key=lambda j: ready[j])
    return [done[i] for i in range(len(jobs))]


def test_the_low_end_beyond_the_recorded_concurrency_is_a_bound_no_run_beats() -> None:
    """12 parents that wait 10 ms and then submit 3 children of 10 ms each, recorded on 4
    workers of a slow machine (1 ms to start each task): the measured wall is longer than the
    replay, and the calibration scales every prediction up. At 8 workers (more than ever ran at
    once) the low end is not the scaled replay, which a run on a quieter machine beats, but
    what no run can beat: 48 x 10 ms of waiting on 8 workers (and the 20 ms chain)."""
    jobs: list[tuple[float, int | None]] = [(0.01, None)] * 12
    jobs += [(0.01, parent) for parent in range(12) for _ in range(3)]
    recorded = _fifo(jobs, 4, 0.001)
    spans = []
    for (submitted, started, ended, worker), (_, parent) in zip(recorded, jobs, strict=True):
        # A child is submitted by its parent's worker as the parent ends (nested, offset 1).
        by = None if parent is None else recorded[parent][3]
        spans.append(_span("t", submitted, started, ended, worker, submitter_worker=by))
    (model,) = model_timeline(_timeline(spans, run_queue=dict.fromkeys((1, 2, 3, 4), 0.0)))
    assert model.dependencies == 36
    assert model.work_type == "io"
    assert model.calibration > 1.05  # the replay starts tasks without the 1 ms
    eight = _what_if(model)[8]
    assert eight.predicted_wall_seconds is None
    assert eight.low == pytest.approx(48 * 0.01 / 8)
    # A quiet machine's run of the same work on 8 workers (no pick time) is inside the range.
    quiet = max(ended for _, _, ended, _ in _fifo(jobs, 8, 0.0))
    assert eight.low <= quiet <= eight.high


def test_gil_free_cpu_threads_sleep_left_is_contention_at_the_point() -> None:
    """Four GIL-free CPU threads on two busy cores: each task 0.1 s of CPU, 0.13 s queued for
    a core and 0.02 s asleep in 0.25 s. The threads wanted a core 92% of the time, so the
    little sleep left is waiting for the GIL while another thread held it (running or queued:
    their 0.69 s of CPU + core wait per task explains it), or I/O. The point takes it as
    contention (one worker alone runs 0.8 s of CPU); the range runs to all of it I/O. A bound
    of 1/runnable of the others' CPU would call most of it I/O: 0.94 s serial."""
    spans = lanes(8, lanes=4, run=0.25, cpu=0.1)
    (model,) = model_timeline(_timeline(spans, run_queue=dict.fromkeys((1, 2, 3, 4), 0.26)))
    assert model.work_type == "cpu_parallel"
    assert model.sleep_seconds == pytest.approx(8 * 0.02)
    assert model.serial_seconds.value == pytest.approx(0.8)
    assert (model.serial_seconds.low, model.serial_seconds.high) == pytest.approx((0.8, 0.96))
    one = _what_if(model)[1]
    assert one.predicted_wall_seconds == pytest.approx(0.8)
    assert (one.low, one.high) == pytest.approx((0.8, 0.96))


def test_a_speedup_range_reaches_what_the_work_allows_not_one_runs_wall() -> None:
    """Eight sleeps of 0.1 s on 4 workers whose first tasks started 20 ms late (the profiled
    run's own start-up), on a machine whose other processes used 1.9 of its 2 cores: the
    serial time is a range (the waits may be a local server queueing for a core), so the
    speedup is one too. Its high end is not 0.8 s over this run's 0.22 s (x3.64): a run of the
    same work on 4 workers takes at least 0.8 s ÷ 4, so up to x4.0, which is what a run
    without those 20 ms measures."""
    spans = []
    for i in range(8):
        lane, slot = i % 4, i // 4
        start = 0.02 + slot * 0.1
        spans.append(_span("t", 0.0, start, start + 0.1, lane + 1, cpu=0.001))
    timeline = _timeline(spans, run_queue=dict.fromkeys((1, 2, 3, 4), 0.0))
    timeline.machine = {1: MachineWindow(0.0, 0.22, 0.42, 0.01, 2, 0.01)}
    (model,) = model_timeline(timeline)
    assert model.work_type == "io"
    assert model.serial_seconds.value is None
    assert model.serial_seconds.high == pytest.approx(0.8)
    assert model.speedup.value is None
    assert model.speedup.high == pytest.approx(4.0)
    assert model.speedup.low < 0.8 / 0.22


def test_instant_tasks_on_a_busy_machine_make_no_division_by_zero() -> None:
    """Tasks whose start and end readings coincide (a coarse clock), after 10 ms in the queue:
    a wall, but no work to bound it with. The speedup range keeps its own ends instead of
    dividing by a zero floor."""
    spans = [_span("t", 0.0, 0.01, 0.01, lane + 1) for lane in range(4)]
    (model,) = model_timeline(_timeline(spans, run_queue=dict.fromkeys((1, 2, 3, 4), 0.0)))
    assert model.wall_seconds == pytest.approx(0.01)
    assert model.speedup.value is None
    assert all(w.predicted_wall_seconds is None for w in model.what_if)

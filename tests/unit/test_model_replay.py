"""The model's replay (``profiler/model.py``: :func:`simulate`, the what-if) on hand-made cases
and list-scheduled runs: exact where nothing contends. These replace the tests of the old
Σ-run replay (``profiler/whatif.py``, removed: every prediction now comes from the model). The
comparison with real runs is a benchmark: ``benchmarks/test_accuracy.py``, ``make bench-truth``.
"""

from __future__ import annotations

import pytest

from tpe_insight.profiler.model import TaskWork, simulate
from tpe_insight.profiler.stats import analyse, measured_wall
from tpe_insight.profiler.timeline import PoolRecord, Span, Timeline

# Task lengths (seconds) of the I/O-bound workload: varied, so the packing onto workers matters.
SLEEPS = [0.02, 0.04, 0.03, 0.02, 0.04, 0.03, 0.02, 0.04] * 5


def _work(jobs: list[tuple[float, float]]) -> list[TaskWork]:
    """(ready at, seconds of waiting): I/O, which nothing caps."""
    return [TaskWork(ready, 0.0, seconds) for ready, seconds in jobs]


@pytest.mark.parametrize(
    ("jobs", "workers", "expected"),
    [
        ([], 3, 0.0),
        ([(0.0, 1.0)] * 4, 1, 4.0),
        ([(0.0, 1.0)] * 4, 2, 2.0),
        ([(0.0, 1.0)] * 4, 8, 1.0),
        # FIFO: the long task submitted first holds a worker; the rest share the other one.
        ([(0.0, 3.0), (0.0, 1.0), (0.0, 1.0), (0.0, 1.0)], 2, 3.0),
        ([(0.0, 1.0), (0.0, 1.0), (0.0, 3.0)], 2, 4.0),
        # Arrivals after an idle gap: the gap is part of the wall time.
        ([(0.0, 1.0), (5.0, 1.0)], 1, 6.0),
        ([(0.0, 2.0), (1.0, 2.0)], 1, 4.0),
    ],
)
def test_simulation_on_hand_made_cases(
    jobs: list[tuple[float, float]], workers: int, expected: float
) -> None:
    """Waiting work: list scheduling in submit order onto the earliest free worker, exactly."""
    assert simulate(_work(jobs), [], workers, cores=2, gil_share=0.0) == pytest.approx(expected)


def test_simulation_rejects_zero_workers() -> None:
    """k must be at least 1."""
    with pytest.raises(ValueError, match="at least 1"):
        simulate(_work([(0.0, 1.0)]), [], 0, cores=2, gil_share=0.0)


def test_measured_wall_skips_tasks_that_never_ran() -> None:
    """First submit to last end of the tasks that ran; a cancelled one does not count."""
    spans = [
        Span(1, "t", "success", 0.0, 1.0, 2.0, 0.0, 1, "MainThread"),
        Span(1, "t", "success", 0.0, 0.0, 1.0, 0.0, 1, "MainThread"),
        Span(1, "t", "cancelled", 0.0, None, 5.0, 0.0, None, "MainThread"),
    ]
    assert measured_wall(spans) == 2.0


def _list_scheduled(sleeps: list[float], workers: int) -> tuple[Timeline, float]:
    """A timeline of ``sleeps`` all submitted at 0 and run in order on ``workers`` workers (each
    task on the first worker free), as a pool without overhead runs them; and its wall time."""
    free = [0.0] * workers
    spans = []
    for seconds in sleeps:
        worker = min(range(workers), key=lambda w: free[w])
        start = free[worker]
        free[worker] = start + seconds
        spans.append(Span(1, "sleep", "success", 0.0, start, start + seconds, 0.0, worker + 1, "M"))
    timeline = Timeline(pools=[PoolRecord(1, "io", workers, 0.0, max(free))], spans=spans, cores=2)
    return timeline, max(free)


def _what_if(timeline: Timeline) -> dict[int, tuple[float | None, float, float]]:
    (pool,) = analyse(timeline).pools
    assert pool.model is not None
    return {w.max_workers: (w.predicted_wall_seconds, w.low, w.high) for w in pool.model.what_if}


def test_the_replay_of_the_recorded_max_workers_is_the_recorded_wall() -> None:
    """Replaying a pool that ran waiting tasks in order on 4 workers gives its wall time, with
    no calibration needed."""
    timeline, wall = _list_scheduled(SLEEPS, 4)
    (pool,) = analyse(timeline).pools
    assert pool.model is not None
    assert pool.model.calibration == pytest.approx(1.0)
    assert _what_if(timeline)[4][0] == pytest.approx(wall)


def test_other_max_workers_match_their_list_scheduled_runs() -> None:
    """From the 4-worker recording: 2 workers is what 2 workers do; 8 (more than ever ran at
    once) is "cannot tell" with a range from a bound no run can beat (Σ work ÷ 8: eight
    workers do at most eight seconds of waiting per second) to the observed 4, a range that
    holds what 8 workers do."""
    timeline, wall_4 = _list_scheduled(SLEEPS, 4)
    what_if = _what_if(timeline)
    assert what_if[2][0] == pytest.approx(_list_scheduled(SLEEPS, 2)[1])
    value_8, low_8, high_8 = what_if[8]
    assert value_8 is None
    assert low_8 == pytest.approx(sum(SLEEPS) / 8)
    assert high_8 == pytest.approx(wall_4)
    assert low_8 <= _list_scheduled(SLEEPS, 8)[1] <= high_8

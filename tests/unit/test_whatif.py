"""The sizing what-if: exact on hand-made cases and on list-scheduled runs (the comparison
with real runs of sleeping tasks is a benchmark: ``benchmarks/test_accuracy.py``)."""

from __future__ import annotations

import pytest

from tpe_insight.profiler import whatif
from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.timeline import PoolRecord, Span, Timeline

# Task lengths (seconds) of the I/O-bound workload: varied, so the packing onto workers matters.
SLEEPS = [0.02, 0.04, 0.03, 0.02, 0.04, 0.03, 0.02, 0.04] * 5


def _span(submitted: float, started: float, ended: float) -> Span:
    return Span(1, "t", "success", submitted, started, ended, 0.0, 1, "MainThread")


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
    """List scheduling in submit order onto the earliest free worker, exactly."""
    assert whatif.simulate(jobs, workers) == expected


def test_simulation_rejects_zero_workers() -> None:
    """k must be at least 1."""
    with pytest.raises(ValueError, match="at least 1"):
        whatif.simulate([(0.0, 1.0)], 0)


def test_predict_replays_recorded_spans_and_skips_tasks_that_never_ran() -> None:
    """Spans in any order are replayed in submit order; cancelled ones are ignored."""
    spans = [
        _span(0.0, 1.0, 2.0),
        _span(0.0, 0.0, 1.0),
        Span(1, "t", "cancelled", 0.0, None, 0.5, 0.0, None, "MainThread"),
    ]
    predictions = whatif.predict(spans, 1, [1, 2])
    assert [(p.workers, p.wall_seconds, p.recorded) for p in predictions] == [
        (1, 2.0, True),
        (2, 1.0, False),
    ]
    assert whatif.measured_wall(spans) == 2.0


def test_candidate_workers_include_the_recorded_value() -> None:
    """The table always has 1 and the recorded max_workers, and powers of two in between."""
    assert whatif.candidate_workers(6, 3) == [1, 2, 4, 6, 8, 16]
    assert whatif.candidate_workers(1, 0) == [1, 2, 4]


def _list_scheduled(sleeps: list[float], workers: int) -> tuple[Timeline, float]:
    """A timeline of ``sleeps`` all submitted at 0 and run in order on ``workers`` workers (each
    task on the first worker free), as a pool without overhead runs them; and its wall time.
    Deterministic stand-in for a recorded run: the real-clock comparison is in
    ``benchmarks/test_accuracy.py``."""
    free = [0.0] * workers
    spans = []
    for seconds in sleeps:
        worker = min(range(workers), key=lambda w: free[w])
        start = free[worker]
        free[worker] = start + seconds
        spans.append(Span(1, "sleep", "success", 0.0, start, start + seconds, 0.0, worker + 1, "M"))
    timeline = Timeline(pools=[PoolRecord(1, "io", workers, 0.0, max(free))], spans=spans)
    return timeline, max(free)


def test_simulation_replays_a_list_scheduled_run_exactly() -> None:
    """Replaying the spans of a pool that ran them in order on 4 workers gives its wall time."""
    timeline, wall = _list_scheduled(SLEEPS, 4)
    (pool,) = analyse(timeline).pools
    assert pool.predicted_recorded == pytest.approx(wall)


def test_prediction_for_other_max_workers_matches_their_list_scheduled_runs() -> None:
    """Predicting 2 and 8 workers from the 4-worker timeline gives what 2 and 8 workers do."""
    timeline, _ = _list_scheduled(SLEEPS, 4)
    (predicted_8,) = whatif.predict(timeline.spans, 4, [8])
    (predicted_2,) = whatif.predict(timeline.spans, 4, [2])
    assert predicted_8.wall_seconds == pytest.approx(_list_scheduled(SLEEPS, 8)[1])
    assert predicted_2.wall_seconds == pytest.approx(_list_scheduled(SLEEPS, 2)[1])

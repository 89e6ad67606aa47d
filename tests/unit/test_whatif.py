"""The sizing what-if: exact on hand-made cases, and close to real runs of sleeping tasks."""

from __future__ import annotations

import statistics
import time

import pytest

from tpe_insight import ThreadPoolExecutor, named
from tpe_insight.profiler import whatif
from tpe_insight.profiler.recorder import Recorder
from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.timeline import Span, Timeline

# Sleep lengths (seconds) of the I/O-bound workload: varied, so the packing onto workers matters,
# and short, so the file runs in about a second. 40 tasks, 1.2 s of sleeping in total.
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


def _recorded_run(workers: int) -> tuple[Timeline, float]:
    """Run the sleeping workload on ``workers`` and return its timeline and wall time."""
    recorder = Recorder()
    with ThreadPoolExecutor(workers, name=f"io{workers}", metrics=False, sinks=[recorder]) as pool:
        start = time.perf_counter()
        futures = [pool.submit(named("sleep", time.sleep, s)) for s in SLEEPS]
        for future in futures:
            future.result()
        wall = time.perf_counter() - start
    return recorder.snapshot(), wall


def test_simulation_reproduces_the_recorded_run_within_10_percent() -> None:
    """Replaying the recorded spans on the recorded max_workers gives the measured wall."""
    timeline, wall = _recorded_run(4)
    (pool,) = analyse(timeline).pools
    predicted = pool.predicted_recorded
    assert abs(predicted - wall) / wall < 0.10, (predicted, wall)
    assert abs(predicted - pool.wall) / pool.wall < 0.10, (predicted, pool.wall)


def test_prediction_for_another_max_workers_matches_a_real_run_within_15_percent() -> None:
    """Predict 8 workers from a 4-worker recording, run with 8, compare."""
    timeline, _ = _recorded_run(4)
    spans = timeline.spans
    (predicted_8,) = whatif.predict(spans, 4, [8])
    (predicted_2,) = whatif.predict(spans, 4, [2])
    # The median of three runs: one run can be delayed by an unrelated process on a busy CI
    # machine, which is noise the simulation does not (and should not) model.
    measured_8 = statistics.median(_recorded_run(8)[1] for _ in range(3))
    measured_2 = statistics.median(_recorded_run(2)[1] for _ in range(3))
    assert abs(predicted_8.wall_seconds - measured_8) / measured_8 < 0.15, (
        predicted_8,
        measured_8,
    )
    assert abs(predicted_2.wall_seconds - measured_2) / measured_2 < 0.15, (
        predicted_2,
        measured_2,
    )

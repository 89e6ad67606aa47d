"""A pool past the recorder's capacity: the model reads its exact totals and gives the same
claims as on the whole timeline (docs/profiler-model.md, "A sampled pool"). The timelines are
hand-made (injected times, no clock); the sampled twin goes through the recorder's own
aggregates (``TaskTotals``, ``PoolActivity``, ``SpanSampler``) exactly as the recorder folds."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tpe_insight.profiler.aggregate import PoolActivity, SampleRule, SpanSampler, TaskTotals
from tpe_insight.profiler.model import PoolModel, model_timeline
from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.timeline import (
    DEFAULT_CAPACITY,
    PoolRecord,
    Span,
    Timeline,
    WorkerRecord,
    span_tuple,
)

#: Tasks per workload: past the default capacity, so the sample is a sample.
TASKS = 8_000

#: The documented tolerance of the totals path against the span path (docs/profiler-model.md).
TOLERANCE = 0.02


@dataclass(frozen=True)
class Work:
    """``TASKS`` tasks back to back on ``lanes`` workers (all submitted at 0), each ``run``
    seconds with ``cpu`` of CPU and ``queued`` seconds on a run queue (schedstat)."""

    run: float
    cpu: float
    queued: float
    lanes: int = 4
    cores: int = 2


WORKLOADS = {
    "io": Work(run=0.01, cpu=0.0001, queued=0.0),
    "gil": Work(run=0.03, cpu=0.01, queued=0.0, lanes=3),
    "cpu_parallel": Work(run=0.02, cpu=0.01, queued=0.01),
    # Another process held 0.4 of the 2 cores the threads wanted: the core band widens.
    "cpu_parallel_loaded": Work(run=0.025, cpu=0.01, queued=0.015),
    "mixed": Work(run=0.02, cpu=0.01, queued=0.0, lanes=1),
}


def _full(work: Work) -> Timeline:
    spans = []
    for i in range(TASKS):
        lane, slot = i % work.lanes, i // work.lanes
        start = slot * work.run
        spans.append(
            Span(1, f"t{i % 3}", "success", 0.0, start, start + work.run, work.cpu, lane + 1, "M")
        )
    per_worker = TASKS // work.lanes * work.queued
    return Timeline(
        pools=[PoolRecord(1, "p", work.lanes, 0.0, None)],
        workers=[WorkerRecord(w, 1, f"w_{w}", 0.0, 100 + w, 0.0) for w in range(1, work.lanes + 1)],
        spans=spans,
        cores=work.cores,
        run_queue_at_end={w: per_worker for w in range(1, work.lanes + 1)},
    )


def _sampled(full: Timeline) -> Timeline:
    """The same run as the recorder keeps it past its capacity: exact totals and activity
    bins over every span, per-span detail for the sample its rule picks."""
    rule = SampleRule.for_capacity(DEFAULT_CAPACITY)
    sampler = SpanSampler(rule)
    totals: dict[tuple[int, str], TaskTotals] = {}
    activity = {p.pool_id: PoolActivity(p.created_at) for p in full.pools}
    for index, span in enumerate(full.spans):
        raw = (index, *span_tuple(span)[1:])
        key = (span.pool_id, span.task)
        totals.setdefault(key, TaskTotals(*key)).add(raw)
        activity[span.pool_id].add(raw)
        sampler.add(raw, span.pool_id)
    kept = [full.spans[raw[0]] for _seq, raw in sampler.kept()]
    return Timeline(
        pools=full.pools,
        workers=full.workers,
        spans=kept,
        dropped=len(full.spans) - len(kept),
        cores=full.cores,
        run_queue_at_end=full.run_queue_at_end,
        totals=list(totals.values()),
        activity=activity,
        sample_rule=rule,
    )


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))


@pytest.fixture(scope="module", params=sorted(WORKLOADS))
def twins(request: pytest.FixtureRequest) -> tuple[str, PoolModel, PoolModel]:
    full = _full(WORKLOADS[request.param])
    sampled = _sampled(full)
    assert len(sampled.spans) < TASKS  # a sample indeed
    (whole,) = model_timeline(full)
    (from_totals,) = model_timeline(sampled)
    return request.param, whole, from_totals


def test_the_kind_of_work_is_the_same(twins: tuple[str, PoolModel, PoolModel]) -> None:
    name, whole, from_totals = twins
    expected = name.removesuffix("_loaded") if name != "mixed" else whole.work_type
    assert whole.work_type == expected
    assert from_totals.work_type == whole.work_type
    assert "from the exact totals" in from_totals.reason


def test_serial_time_and_speedup_agree_within_the_tolerance(
    twins: tuple[str, PoolModel, PoolModel],
) -> None:
    """Value (or "cannot tell") and both ends of the range, within TOLERANCE."""
    _name, whole, from_totals = twins
    assert from_totals.run_seconds == pytest.approx(whole.run_seconds)
    assert from_totals.cpu_seconds == pytest.approx(whole.cpu_seconds)
    assert from_totals.wall_seconds == pytest.approx(whole.wall_seconds)
    # The cores the band allows (GIL-bound work uses one of them: there the band is moot).
    if whole.work_type != "gil":
        assert from_totals.core_band == pytest.approx(whole.core_band, rel=TOLERANCE)
    for claim in ("serial_seconds", "speedup"):
        a, b = getattr(whole, claim), getattr(from_totals, claim)
        assert _close(a.value, b.value), (claim, a, b)
        assert _close(a.low, b.low), (claim, a, b)
        assert _close(a.high, b.high), (claim, a, b)


def test_the_what_if_gives_the_recording_and_ranges_that_hold_the_replay(
    twins: tuple[str, PoolModel, PoolModel],
) -> None:
    """No replay of a sample: the recorded max_workers is the recorded wall (a range when the
    core band says another run may get other cores), every other count "cannot tell", with a
    range holding the unsampled model's answer (value or range) to within TOLERANCE."""
    _name, whole, from_totals = twins
    replayed = {w.max_workers: w for w in whole.what_if}
    assert from_totals.what_if
    for row in from_totals.what_if:
        twin = replayed[row.max_workers]
        if row.recorded:
            assert row.predicted_wall_seconds is None or row.predicted_wall_seconds == (
                pytest.approx(whole.wall_seconds)
            )
            assert (row.predicted_wall_seconds is None) == (twin.predicted_wall_seconds is None)
        else:
            assert row.predicted_wall_seconds is None
        inner = (
            (twin.predicted_wall_seconds,) * 2
            if twin.predicted_wall_seconds is not None
            else (twin.low, twin.high)
        )
        assert row.low <= inner[0] * (1 + TOLERANCE), (row, twin)
        assert inner[1] <= row.high * (1 + TOLERANCE), (row, twin)


def test_analyse_and_the_summary_carry_the_claims_of_a_sampled_pool() -> None:
    """The outputs read the model for a sampled pool too: no more all-null claims."""
    from tpe_insight.profiler.jsonout import summary_dict

    sampled = _sampled(_full(WORKLOADS["cpu_parallel"]))
    (pool,) = analyse(sampled).pools
    assert pool.sampled
    assert pool.model is not None
    (summary,) = summary_dict(sampled)["pools"]
    assert summary["work_type"] == "cpu_parallel"
    assert summary["speedup"]["value"] == pytest.approx(2.0, rel=TOLERANCE)
    assert summary["serial_seconds"]["value"] == pytest.approx(TASKS * 0.01, rel=TOLERANCE)


def test_a_caller_s_selection_of_spans_is_not_taken_for_a_sample() -> None:
    """``model_pool`` given only the tasks that ran (as ``sweep`` passes them) of a pool with a
    cancelled task reads the spans, not the totals: the timeline kept every span."""
    from tpe_insight.profiler.model import model_pool

    full = _full(Work(run=0.01, cpu=0.0001, queued=0.0))
    full.spans = [*full.spans[:40], Span(1, "t0", "cancelled", 0.0, None, 0.1, 0.0, None, "M")]
    ran = [s for s in full.spans if s.started_at is not None]
    model = model_pool(full, full.pools[0], ran)
    assert "from the exact totals" not in model.reason
    assert model.work_type == "io"

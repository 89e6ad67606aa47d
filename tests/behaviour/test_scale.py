"""The profiler at scale: a recorder fed many spans under an injected clock stays bounded (memory,
trace.json, report.html), keeps exact totals for every pool, and keeps the sample its rule
promises. No timing is measured here (that is ``make bench-profiler``)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from tpe_insight.cli import Progress
from tpe_insight.events import PoolInfo, TaskInfo
from tpe_insight.profiler.aggregate import (
    RELATIVE_ERROR,
    LogHistogram,
    PoolActivity,
    SampleRule,
    SpanSampler,
)
from tpe_insight.profiler.recorder import Recorder
from tpe_insight.profiler.report import render_report
from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.timeline import ERROR, SUCCESS
from tpe_insight.profiler.trace import read_trace, write_trace
from tpe_insight.testing import validate_trace

#: The size caps of issue 9 (bytes).
TRACE_CAP = 20 * 1024 * 1024
REPORT_CAP = 5 * 1024 * 1024


def _pool(label: str, max_workers: int) -> PoolInfo:
    return PoolInfo(label, max_workers=max_workers, thread_name_prefix="", created_at=0.0)


def _run_time(i: int) -> float:
    """Deterministic, varied run times: mostly 1-9 ms, every 1000th task 0.5 s."""
    return 0.5 if i % 1000 == 999 else 0.001 * (1 + i % 9)


def _feed(recorder: Recorder, count: int) -> tuple[PoolInfo, PoolInfo, list[float]]:
    """Two pools: ``count`` spans on a busy one (every 131st fails), none on an idle one; the
    clock is injected by passing the times to the hooks. Returns the run times in order."""
    busy = _pool("busy", 4)
    idle = _pool("idle", 2)
    for pool in (busy, idle):
        recorder.pool_created(pool)
    recorder.worker_started(busy, "busy_0", 0.0)
    tasks = [TaskInfo(busy, f"job{k}") for k in range(3)]
    now = 0.0
    runs = []
    for i in range(count):
        task = tasks[i % 3]
        recorder.task_submitted(task, now)
        run = _run_time(i)
        recorder.task_started(task, now, now + 0.0005, 1)
        error = ValueError(f"secret {i}") if i % 131 == 0 else None
        recorder.task_finished(task, now, now + 0.0005, now + 0.0005 + run, run / 2, error, 1)
        runs.append(run)
        now += 0.0005 + run
    recorder.pool_shutdown(busy, True, False, now)
    recorder.pool_shutdown(idle, True, False, now)
    return busy, idle, runs


@pytest.fixture(scope="module")
def fed() -> tuple[Recorder, list[float]]:
    recorder = Recorder()
    _busy, _idle, runs = _feed(recorder, 60_000)
    return recorder, runs


def test_totals_are_exact_for_every_pool_past_the_sample(fed: tuple[Recorder, list[float]]) -> None:
    """60,000 spans, a 6,000-span budget: counts, failures, run sums and max are exact."""
    recorder, runs = fed
    timeline = recorder.snapshot()
    assert len(timeline.spans) <= recorder.sample_rule.bound < 60_000
    assert timeline.recorded == 60_000
    failures = sum(1 for i in range(60_000) if i % 131 == 0)
    assert timeline.counts() == {
        SUCCESS: 60_000 - failures,
        ERROR: failures,
        "cancelled": 0,
        "not_run": 0,
    }
    analysis = analyse(timeline)
    busy, idle = analysis.pools
    assert busy.sampled
    assert busy.tasks_total == 60_000
    assert busy.run.count == 60_000
    assert busy.run.max == 0.5
    # Sums of floats in another order differ in the last bits; the count above is exact.
    assert math.isclose(busy.run_total, math.fsum(runs), rel_tol=1e-12)
    assert sum(sum(t.exceptions.values()) for t in busy.tasks) == failures
    assert {name for t in busy.tasks for name in t.exceptions} == {"ValueError"}
    assert idle.tasks_total == 0
    # The model reads a sampled pool from its totals: its run and CPU are the exact sums, and
    # its what-if cannot replay a sample: the recording at 4 workers, ranges elsewhere.
    assert busy.model is not None
    assert busy.model.run_seconds == busy.run_total
    assert busy.model.cpu_seconds == busy.cpu_total
    assert [w.predicted_wall_seconds is None for w in busy.model.what_if] == [
        w.max_workers != busy.record.max_workers for w in busy.model.what_if
    ]


def test_percentiles_are_within_the_documented_error(fed: tuple[Recorder, list[float]]) -> None:
    """p50/p95/p99 from the log-bucket histograms vs the exact order statistics."""
    recorder, runs = fed
    pool = analyse(recorder.snapshot()).pools[0]
    ordered = sorted(runs)
    for q, value in ((0.5, pool.run.p50), (0.95, pool.run.p95), (0.99, pool.run.p99)):
        exact = ordered[round(q * (len(ordered) - 1))]
        assert abs(value - exact) <= RELATIVE_ERROR * exact + 1e-12, (q, value, exact)


def test_the_sample_rule_holds(fed: tuple[Recorder, list[float]]) -> None:
    """Every failure (under the cap), the first and last spans, and the slowest are kept."""
    recorder, _runs = fed
    rule = recorder.sample_rule
    timeline = recorder.snapshot()
    failures = sum(1 for i in range(60_000) if i % 131 == 0)
    assert failures <= rule.failures
    kept_failures = [s for s in timeline.spans if s.outcome == ERROR]
    assert len(kept_failures) == failures
    starts = [s.started_at for s in timeline.spans]
    assert starts == sorted(starts)  # recorded order
    # The spans' start times identify them: reconstruct the expected first/last/slowest.
    all_starts = []
    now = 0.0
    for i in range(60_000):
        all_starts.append(now + 0.0005)
        now += 0.0005 + _run_time(i)
    kept = set(starts)
    assert set(all_starts[: rule.first]) <= kept
    assert set(all_starts[-rule.last :]) <= kept
    slowest = sorted(range(60_000), key=lambda i: -_run_time(i))[: min(rule.slowest, 60)]
    assert {all_starts[i] for i in slowest} <= kept
    assert timeline.sample_rule is not None
    assert "uniformly at random" in timeline.sample_rule.describe()


def test_trace_and_report_stay_under_their_caps_and_validate(
    fed: tuple[Recorder, list[float]], tmp_path: Path
) -> None:
    """trace.json <= 20 MB and report.html <= 5 MB, the trace validates and round-trips the
    exact totals, and both say how the sample was chosen."""
    recorder, _runs = fed
    timeline = recorder.snapshot()
    path = write_trace(timeline, tmp_path / "trace.json")
    assert path.stat().st_size <= TRACE_CAP
    data = json.loads(path.read_text())
    assert validate_trace(data) == []
    assert "uniformly at random" in data["otherData"]["tpe_insight"]["sample"]
    loaded = read_trace(path)
    assert loaded.counts() == timeline.counts()
    assert analyse(loaded).pools[0].run_total == analyse(timeline).pools[0].run_total
    page = render_report(timeline)
    assert len(page.encode("utf-8")) <= REPORT_CAP
    assert "Sampled detail" in page
    assert "How these rows were chosen" in page
    assert "secret" not in page  # messages only when asked for
    assert "ValueError <strong>&#215;" in page
    assert "This pool ran no tasks" in page


def test_the_recorder_keeps_a_bounded_number_of_spans() -> None:
    """Fed 4x the rule's bound, the spans with detail never exceed the bound."""
    recorder = Recorder(capacity=200)
    _feed(recorder, 4 * recorder.sample_rule.bound)
    assert len(recorder.snapshot().spans) <= recorder.sample_rule.bound
    assert len(recorder._spans) == 0  # the buffer was folded (snapshot drains it)


def test_log_histogram_merges_and_round_trips() -> None:
    """Merging two histograms equals one fed both halves; to_dict/from_dict is exact."""
    values = [0.0, 1e-7, 3e-4, 0.002, 0.002, 1.5, 42.0]
    whole, left, right = LogHistogram(), LogHistogram(), LogHistogram()
    for i, value in enumerate(values):
        whole.add(value)
        (left if i % 2 else right).add(value)
    left.merge(right)
    assert (left.buckets, left.count, left.min, left.max) == (
        whole.buckets,
        whole.count,
        whole.min,
        whole.max,
    )
    assert math.isclose(left.total, whole.total)
    assert LogHistogram.from_dict(json.loads(json.dumps(whole.to_dict()))) == whole
    assert whole.quantile(0.0) == 0.0
    assert whole.quantile(1.0) == 42.0
    assert math.isnan(LogHistogram().quantile(0.5))


def test_activity_bins_integrate_exactly_whatever_the_duration() -> None:
    """Busy-worker bins sum to the total run time and queue bins to the total wait, across bin
    widening; busy time is the union of run intervals."""
    activity = PoolActivity(origin=0.0)
    total_run = total_wait = 0.0
    for i in range(2_000):
        submitted = i * 0.01
        started = submitted + 0.004
        ended = started + 0.003 + (i % 5) * 0.001
        activity.add((None, SUCCESS, submitted, started, ended, 0.0, 1, 1, None, None))
        total_run += ended - started
        total_wait += started - submitted
    bins = activity.to_dict()
    assert math.isclose(sum(bins["busy"]), total_run, rel_tol=1e-9)
    assert math.isclose(sum(bins["queued"]), total_wait, rel_tol=1e-9)
    assert len(bins["busy"]) <= 400
    assert math.isclose(activity.busy_seconds, total_run, rel_tol=1e-9)  # no overlap here
    # Overlapping runs: the union counts once.
    overlap = PoolActivity(origin=0.0)
    for start, end in ((0.0, 1.0), (0.5, 1.5), (3.0, 4.0), (0.2, 3.5)):
        overlap.add((None, SUCCESS, None, start, end, 0.0, 1, 1, None, None))
    assert math.isclose(overlap.busy_seconds, 4.0)


def test_sampler_keeps_each_span_once_and_is_reproducible() -> None:
    """A span chosen by several parts of the rule appears once; the same input, same sample."""
    rule = SampleRule(first=3, last=3, slowest=2, failures=2, uniform=4, per_pool=1, pools=2)

    def sample() -> list[int]:
        sampler = SpanSampler(rule)
        for i in range(500):
            raw = (None, SUCCESS, 0.0, float(i), float(i) + (i % 7), 0.0, 1, 1, None, None)
            sampler.add(raw, pool_id=i % 3)
        return [seq for seq, _raw in sampler.kept()]

    first, second = sample(), sample()
    assert first == second
    assert len(first) == len(set(first)) <= rule.bound
    assert first[:3] == [0, 1, 2]
    assert first[-3:] == [497, 498, 499]


def test_progress_speaks_only_after_its_delay() -> None:
    """No output for quick post-processing; once the delay passed, each step is announced."""
    quiet = io.StringIO()
    with Progress(10, quiet, after=3600) as progress:
        progress.step("analysing")
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    with Progress(1_000_000, loud, after=0.0) as progress:
        progress.step("analysing")
        assert progress.spoke.wait(10)
        progress.step("writing trace.json")
    text = loud.getvalue()
    assert "1,000,000 recorded task(s)" in text
    assert "writing trace.json" in text
    assert "done in" in text

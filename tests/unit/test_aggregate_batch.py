"""The recorder's batch fold gives the answers of the one-span-at-a-time definitions.

The fold (``PoolActivity.add_columns``, ``SpanSampler.add_batch``) takes shortcuts for speed:
bins found by bisection over sorted bin indices (sorted first when spans arrive out of order),
and slowest-span candidates filtered in C against a threshold that only rises. These tests feed
the same spans both ways, in time order and shuffled, and compare. No timing.
"""

from __future__ import annotations

import math
import random
from typing import Any

from tpe_insight.profiler.aggregate import (
    ACTIVITY_BINS,
    FIRST_BIN_WIDTH,
    ZERO_BELOW,
    LogHistogram,
    PoolActivity,
    SampleRule,
    SpanSampler,
    TaskTotals,
    outcome_kinds,
)
from tpe_insight.profiler.timeline import CANCELLED, ERROR, SUCCESS


def _spans(count: int, seed: int) -> list[tuple[Any, ...]]:
    """Raw span tuples over many bins (all within the first ACTIVITY_BINS bins, so no
    widening), with varied waits and runs, every 17th a failure."""
    rng = random.Random(seed)
    horizon = ACTIVITY_BINS * FIRST_BIN_WIDTH * 0.9
    spans = []
    for i in range(count):
        submitted = rng.uniform(0.0, horizon * 0.8)
        started = submitted + rng.choice((0.0, rng.uniform(0.0, 0.02)))
        ended = min(started + rng.expovariate(1 / 0.003), horizon)
        failed = i % 17 == 0
        spans.append(
            (
                None,
                ERROR if failed else SUCCESS,
                submitted,
                started,
                ended,
                0.0,
                1,
                1,
                "ValueError" if failed else None,
                None,
            )
        )
    return spans


def _overlap(start: float, end: float, low: float, high: float) -> float:
    return max(0.0, min(end, high) - max(start, low))


def _reference_bins(spans: list[tuple[Any, ...]]) -> tuple[list[float], list[float]]:
    """Queue-depth and busy integrals per bin, by brute force over each interval."""
    queued = [0.0] * ACTIVITY_BINS
    busy = [0.0] * ACTIVITY_BINS
    for raw in spans:
        submitted, started, ended = raw[2], raw[3], raw[4]
        for index in range(ACTIVITY_BINS):
            low, high = index * FIRST_BIN_WIDTH, (index + 1) * FIRST_BIN_WIDTH
            queued[index] += _overlap(submitted, started, low, high)
            busy[index] += _overlap(started, ended, low, high)
    return queued, busy


def _columns(spans: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return list(zip(*spans, strict=True))


def test_activity_batch_matches_the_integral_in_order_and_shuffled() -> None:
    spans = _spans(3_000, seed=1)
    in_order = sorted(spans, key=lambda raw: raw[4])
    shuffled = spans[:]
    random.Random(2).shuffle(shuffled)
    queued, busy = _reference_bins(spans)
    results = []
    for feed in (in_order, shuffled):
        activity = PoolActivity(origin=0.0)
        for start in range(0, len(feed), 512):  # several batches, as the recorder folds
            activity.add_columns(_columns(feed[start : start + 512]))
        data = activity.to_dict()
        assert data["width"] == FIRST_BIN_WIDTH  # no widening: the bins compare one to one
        results.append(data)
        for got, want in ((data["queued"], queued), (data["busy"], busy)):
            assert len(got) <= ACTIVITY_BINS
            padded = list(got) + [0.0] * (ACTIVITY_BINS - len(got))
            for index, (value, expected) in enumerate(zip(padded, want, strict=True)):
                assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12), index
    # The same spans in one batch, sorted or not, give the very same bins (fsum per bin).
    one_in_order, one_shuffled = PoolActivity(origin=0.0), PoolActivity(origin=0.0)
    one_in_order.add_columns(_columns(in_order))
    one_shuffled.add_columns(_columns(shuffled))
    assert one_in_order.to_dict() == one_shuffled.to_dict()


def test_activity_batch_of_one_bin_matches_span_by_span() -> None:
    """The single-bin shortcut: every event of the batch in one bin."""
    spans = [
        (
            None,
            SUCCESS,
            0.0101 + i * 1e-6,
            0.0102 + i * 1e-6,
            0.0103 + i * 1e-6,
            0.0,
            1,
            1,
            None,
            None,
        )
        for i in range(50)
    ]
    batch, single = PoolActivity(origin=0.0), PoolActivity(origin=0.0)
    batch.add_columns(_columns(spans))
    for raw in spans:
        single.add(raw)
    got, want = batch.to_dict(), single.to_dict()
    for key in ("queued", "busy"):
        assert len(got[key]) == len(want[key]) == 11
        for value, expected in zip(got[key], want[key], strict=True):
            assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-15)


def test_sampler_batch_keeps_the_spans_of_the_one_by_one_rule() -> None:
    """Slowest, failures, first, last and uniform: the batch path keeps exactly the spans the
    per-span path keeps, including when the slowest set changes batch after batch."""
    rule = SampleRule(first=20, last=15, slowest=12, failures=9, uniform=25, per_pool=5, pools=1)
    spans = _spans(4_000, seed=3)
    # Runs that grow now and then, so later batches displace earlier slowest spans.
    spans = [
        (*raw[:4], raw[3] + (raw[4] - raw[3]) * (1 + i // 700), *raw[5:])
        for i, raw in enumerate(spans)
    ]
    one = SpanSampler(rule)
    for raw in spans:
        one.add(raw, pool_id=7)
    batched = SpanSampler(rule)
    for start in range(0, len(spans), 333):
        batch = spans[start : start + 333]
        first_seq = batched.seen
        batched.add_batch(batch, _columns(batch))
        if batched.wants_pool(7):
            items = list(zip(range(first_seq, first_seq + len(batch)), batch, strict=True))
            batched.add_pool_first(7, items[: rule.per_pool])
    assert [seq for seq, _ in batched.kept()] == [seq for seq, _ in one.kept()]
    slowest = sorted(range(len(spans)), key=lambda i: spans[i][4] - spans[i][3])[-12:]
    kept = {seq for seq, _ in batched.kept()}
    assert set(slowest) <= kept


def test_histogram_batch_buckets_like_one_by_one_with_and_without_zeros() -> None:
    """``add_many`` skips the clamp to ZERO_BELOW when no value needs it; with or without such
    values (zero waits, a clock step backwards), the buckets are those of ``add``."""
    rng = random.Random(4)
    positive = [rng.expovariate(1 / 0.002) + ZERO_BELOW for _ in range(2_000)]
    with_zeros = [*positive[:1_000], 0.0, -1e-6, ZERO_BELOW / 2, *positive[1_000:]]
    for values in (positive, with_zeros):
        batch, single = LogHistogram(), LogHistogram()
        batch.add_many(values)
        for value in values:
            single.add(value)
        assert batch.buckets == single.buckets
        assert (batch.count, batch.min, batch.max) == (single.count, single.min, single.max)
        assert math.isclose(batch.total, single.total, rel_tol=1e-12)


def _with_cancelled(spans: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Every 50th span cancelled while queued: no submit or start time, as the recorder
    stores a task that never ran."""
    return [
        (raw[0], CANCELLED, None, None, raw[4], 0.0, None, None, None, None) if i % 50 == 7 else raw
        for i, raw in enumerate(spans)
    ]


def test_the_outcome_kinds_shortcut_gives_the_answers_of_the_full_scan() -> None:
    """The fold passes the batch's distinct outcomes so that the aggregates skip their scans
    for ``None``: with spans that never ran in the batch, or none, or a single kind, totals,
    activity and sample are those of the one-by-one definitions."""
    rule = SampleRule(first=20, last=15, slowest=12, failures=9, uniform=25, per_pool=5, pools=1)
    plain = _spans(2_000, seed=5)
    only_success = [raw for raw in plain if raw[1] == SUCCESS]
    for spans in (plain, _with_cancelled(plain), only_success):
        one_totals, one_activity = TaskTotals(1, "t"), PoolActivity(0.0)
        one_sampler = SpanSampler(rule)
        for raw in spans:
            one_totals.add(raw)
            one_activity.add(raw)
            one_sampler.add(raw, pool_id=1)
        totals, activity, sampler = TaskTotals(1, "t"), PoolActivity(0.0), SpanSampler(rule)
        for start in range(0, len(spans), 300):
            batch = spans[start : start + 300]
            columns = _columns(batch)
            kinds = outcome_kinds(columns[1])
            totals.add_columns(columns, kinds)
            activity.add_columns(columns, kinds)
            first_seq = sampler.seen
            sampler.add_batch(batch, columns, kinds)
            if sampler.wants_pool(1):  # the per-pool part, offered as the recorder does
                items = list(zip(range(first_seq, first_seq + len(batch)), batch, strict=True))
                sampler.add_pool_first(1, items[: rule.per_pool])
        got, want = totals.to_dict(), one_totals.to_dict()
        assert got["counts"] == want["counts"]
        assert got["run"]["buckets"] == want["run"]["buckets"]
        assert got["wait"]["buckets"] == want["wait"]["buckets"]
        assert got["run"]["count"] == want["run"]["count"]
        assert math.isclose(got["run"]["total"], want["run"]["total"], rel_tol=1e-9)
        assert got["first_submit"] == want["first_submit"]
        assert got["last_end"] == want["last_end"]
        for key in ("queued", "busy"):
            for value, expected in zip(
                activity.to_dict()[key], one_activity.to_dict()[key], strict=True
            ):
                assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12)
        assert [seq for seq, _ in sampler.kept()] == [seq for seq, _ in one_sampler.kept()]

"""The bucket bounds against synthetic distributions whose true quantiles are known.

``histogram_quantile`` interpolates linearly within a bucket, so a bound layout is only as
accurate as its widest bucket where the mass sits. These tests feed the per-pool bounds (the
only histograms since the per-task queue wait and run time are summaries) the distributions
that broke the old coarse ones (a "50 ms" task that takes 50.2 ms, the skewed spreads of
real tasks, a queue wait growing for half an hour) and hold every p50/p95/p99 to 10%.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random

import pytest

from tpe_insight.metrics.buckets import (
    DEFAULT_BUCKETS,
    POOL_BUCKETS,
    ROUND_SECONDS,
    fine_bounds,
    histogram_quantile,
)

QUANTILES = (0.5, 0.95, 0.99)
TOLERANCE = 0.10
#: The per-(pool, task) histogram bounds before they became summaries: 1-2.5-5 steps, 100 µs to
#: 60 s (the layout that read a 50 ms task's p99 as 133 ms).
COARSE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
#: Round run times of the issue and around them (1 ms to 1000 s).
ROUND_RUN_TIMES = tuple(r for r in ROUND_SECONDS if 0.001 <= r <= 1000)


def counts(bounds: tuple[float, ...], values: list[float]) -> list[int]:
    out = [0] * (len(bounds) + 1)
    for value in values:
        out[bisect.bisect_left(bounds, value)] += 1  # le is inclusive
    return out


def true_quantile(q: float, values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def shaped(scale: float, points: list[tuple[float, float]], n: int = 4000) -> list[float]:
    """n values whose quantile function is piecewise linear through ``points`` (u, x/scale)."""
    out = []
    for i in range(n):
        u = (i + 0.5) / n
        for (u0, x0), (u1, x1) in itertools.pairwise(points):
            if u0 <= u <= u1:
                out.append(scale * (x0 + (x1 - x0) * (u - u0) / (u1 - u0)))
                break
    return out


def run_time_distributions() -> dict[str, list[float]]:
    rng = random.Random(11)
    out: dict[str, list[float]] = {}
    for r in ROUND_RUN_TIMES:
        for overhead in (0.0, 0.001, 0.004, 0.01, 0.02, 0.04):
            out[f"constant {r} s + {overhead:.1%}"] = [r * (1 + overhead)] * 100
        out[f"{r} s + up to 5%"] = [r * (1 + rng.uniform(0, 0.05)) for _ in range(2000)]
        # The measured spreads: 50 ms tasks 50.4/63.4/86.0, 100 ms tasks 100/118/146.
        out[f"{r} s spread like 50 ms"] = shaped(
            r, [(0, 1.0), (0.5, 50.4 / 50), (0.95, 63.4 / 50), (0.99, 86.0 / 50), (1, 2.0)]
        )
        out[f"{r} s spread like 100 ms"] = shaped(
            r, [(0, 1.0), (0.5, 1.0), (0.95, 1.18), (0.99, 1.46), (1, 1.7)]
        )
        for sigma in (0.1, 0.25, 0.5):
            out[f"{r} s lognormal sigma {sigma}"] = [
                r * math.exp(rng.gauss(0, sigma)) for _ in range(4000)
            ]
    return out


def queue_wait_distributions() -> dict[str, list[float]]:
    """A saturated pool: the wait grows by 0.4 s per second; a rate window of W seconds at time
    T sees the waits of the tasks that started in it, spread evenly over [w(T - W), w(T)]."""
    out: dict[str, list[float]] = {}
    for t in (30, 60, 150, 300, 480, 600, 900, 1250, 1800, 3000):
        for window in (60, 300):
            low, high = 0.4 * max(0, t - window), 0.4 * t
            out[f"saturated for {t} s, window {window} s"] = [
                low + (high - low) * (i + 0.5) / 3000 for i in range(3000)
            ]
    rng = random.Random(12)
    for mean in (0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 600.0):
        out[f"exponential, mean {mean} s"] = [rng.expovariate(1 / mean) for _ in range(4000)]
    return out


def errors(bounds: tuple[float, ...], dists: dict[str, list[float]]) -> list[tuple[float, str]]:
    found = []
    for name, values in dists.items():
        c = counts(bounds, values)
        for q in QUANTILES:
            truth = true_quantile(q, values)
            got = histogram_quantile(q, bounds, c)
            found.append((abs(got - truth) / truth, f"{name} p{round(q * 100)}: {truth} -> {got}"))
    return sorted(found, reverse=True)


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    """Hand-checked cases of Prometheus's rules: linear within a bucket, 0 as the first lower
    bound, the highest finite bound for a rank in +Inf."""
    bounds = (1.0, 2.0, 4.0)
    assert histogram_quantile(0.5, bounds, [0, 10, 0, 0]) == 1.5
    assert histogram_quantile(0.25, bounds, [10, 10, 0, 0]) == 0.5
    assert histogram_quantile(0.75, bounds, [0, 0, 10, 0]) == 3.5
    assert histogram_quantile(0.99, bounds, [0, 0, 1, 9]) == 4.0
    assert math.isnan(histogram_quantile(0.5, bounds, [0, 0, 0, 0]))
    with pytest.raises(ValueError, match="need 4 counts"):
        histogram_quantile(0.5, bounds, [1, 2, 3])


def test_pool_buckets_read_round_run_times_within_10_percent() -> None:
    worst = errors(POOL_BUCKETS, run_time_distributions())
    assert worst[0][0] <= TOLERANCE, worst[:5]


def test_pool_buckets_read_queue_waits_to_an_hour_within_10_percent() -> None:
    worst = errors(POOL_BUCKETS, queue_wait_distributions())
    assert worst[0][0] <= TOLERANCE, worst[:5]


def test_the_coarse_buckets_do_not_and_that_is_why_the_bounds_are_fine() -> None:
    """The old per-task bounds: a 50.2 ms task reads far above 10%."""
    worst = errors(COARSE_BUCKETS, run_time_distributions())
    assert worst[0][0] > 0.5


@pytest.mark.parametrize("max_ratio", [1.2, 1.25])
def test_wider_buckets_fail_so_the_bound_count_is_the_price_of_accuracy(max_ratio: float) -> None:
    """Fewer bounds would make the scrape cheaper (it costs per sample), but no bucket may be
    wider than x1.15: at x1.2 or x1.25 some p50/p95/p99 of these distributions reads >10% off."""
    wider = fine_bounds(max_ratio=max_ratio)
    assert len(wider) < len(POOL_BUCKETS)
    worst = max(
        errors(wider, run_time_distributions())[0][0],
        errors(wider, queue_wait_distributions())[0][0],
    )
    assert worst > TOLERANCE


def test_bound_layout() -> None:
    """Sorted, the default of ``buckets=``, the old coarse bounds among them, a bound at and 8%
    above every round value, and no bucket wider than x1.15 from 0.5 ms to 1 h."""
    assert list(POOL_BUCKETS) == sorted(set(POOL_BUCKETS))
    assert DEFAULT_BUCKETS == POOL_BUCKETS
    assert set(COARSE_BUCKETS) <= set(POOL_BUCKETS)
    assert POOL_BUCKETS[0] == 0.0001 and POOL_BUCKETS[-1] == 3600.0
    for r in ROUND_SECONDS:
        assert float(f"{r:.3g}") in POOL_BUCKETS
        assert float(f"{r * 1.08:.3g}") in POOL_BUCKETS or r * 1.08 > 3600
    wide = [
        (a, b) for a, b in itertools.pairwise(POOL_BUCKETS) if a >= 0.0005 if b / a > 1.15 * 1.01
    ]
    assert wide == []
    assert len(POOL_BUCKETS) < 160  # ~300 samples per pool: the scrape budget

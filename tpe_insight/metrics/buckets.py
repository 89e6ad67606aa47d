"""Histogram bucket bounds, and Prometheus's ``histogram_quantile`` to check them against.

One bound set, for the two per-pool histograms (``tpe_pool_queue_wait_seconds``,
``tpe_pool_run_seconds``), the only histograms exported: per (pool, task) the queue wait and the
run time are summaries (``_count`` and ``_sum``: an exact mean in 2 samples; see
``docs/design-notes.md`` entry 27 for why, and the scrape it buys).

:data:`POOL_BUCKETS` is fine: ``histogram_quantile`` interpolates linearly inside a bucket, so its
error on a narrow distribution is up to the bucket's width. A real "50 ms" task takes 50.2 ms,
just above a bound at 0.05, and with the next bound at 0.1 its p99 reads ~100 ms. So every round
duration ``r`` (1, 2.5, 5 x 10^k, and 30 s, 1, 2, 5, 10, 15, 20, 30, 60 min) has bounds at ``r``
and ``1.08 r`` (a task at r or slightly above reads within 8%), and every other gap from 0.5 ms to
1 h is split geometrically so that no bucket is wider than x1.15. 148 bounds, ~300 samples per
pool. Wider buckets do not pass the tests below: at x1.2 a queue wait growing for 8 minutes reads
its p99 10.2% high, at x1.25 a 120 s task spread like the issue's 100 ms tasks reads 12% high.
:data:`DEFAULT_BUCKETS` (the default of ``buckets=``) is this layout.

``tests/unit/test_buckets.py`` runs :func:`histogram_quantile` on synthetic distributions (constant
durations just above a bound, the skewed spreads real tasks show, a queue wait growing for 30
minutes) and holds :data:`POOL_BUCKETS` to 10% of the true p50/p95/p99.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

__all__ = [
    "DEFAULT_BUCKETS",
    "POOL_BUCKETS",
    "fine_bounds",
    "histogram_quantile",
]

#: Round durations that get a bound of their own and one 8% above it.
ROUND_SECONDS: tuple[float, ...] = (
    *(m * 10.0**k for k in range(-4, 4) for m in (1.0, 2.5, 5.0) if m * 10.0**k <= 1000),
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1200.0,
    1800.0,
    3600.0,
)


def fine_bounds(
    rounds: Sequence[float] = ROUND_SECONDS,
    *,
    above: float = 1.08,
    max_ratio: float = 1.15,
    split_from: float = 0.0005,
    top: float = 3600.0,
) -> tuple[float, ...]:
    """Bounds at every round value ``r`` and at ``above * r``, with gaps wider than
    ``max_ratio`` (from ``split_from`` up) split geometrically; 3 significant digits."""
    anchors = sorted({float(f"{x:.3g}") for r in rounds for x in (r, r * above) if x <= top})
    out = [anchors[0]]
    for low, high in itertools.pairwise(anchors):
        if low >= split_from and high / low > max_ratio * 1.0001:
            steps = math.ceil(math.log(high / low) / math.log(max_ratio))
            out.extend(float(f"{low * (high / low) ** (i / steps):.3g}") for i in range(1, steps))
        out.append(high)
    return tuple(sorted(set(out)))


#: Per-pool bounds in seconds: 100 µs to 1 h, fine (see the module docstring).
POOL_BUCKETS: tuple[float, ...] = fine_bounds()


#: The default of ``buckets=``: the bounds of the per-pool histograms.
DEFAULT_BUCKETS: tuple[float, ...] = POOL_BUCKETS


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float:
    """What Prometheus's ``histogram_quantile(q, …)`` returns for one histogram.

    ``counts`` are per bucket (not cumulative), one per bound plus the ``+Inf`` bucket. Same
    rules as Prometheus: the rank ``q * total`` is found in the cumulative counts, the value is
    interpolated linearly between the bucket's lower bound (0 for the first bucket) and its
    upper bound, and a rank in ``+Inf`` returns the highest finite bound.
    """
    if len(counts) != len(bounds) + 1:
        raise ValueError(f"need {len(bounds) + 1} counts for {len(bounds)} bounds")
    cumulative: list[float] = []
    total = 0.0
    for count in counts:
        total += count
        cumulative.append(total)
    if total == 0:
        return math.nan
    rank = q * total
    index = bisect.bisect_left(cumulative, rank)
    if index >= len(bounds):
        return float(bounds[-1])
    start = 0.0 if index == 0 else float(bounds[index - 1])
    below = 0.0 if index == 0 else cumulative[index - 1]
    in_bucket = cumulative[index] - below
    return start + (float(bounds[index]) - start) * (rank - below) / in_bucket

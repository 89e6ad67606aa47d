"""Reading a registry back: what a scrape sees, grouped by pool and task."""

from __future__ import annotations

import math
import threading

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import POOL_BUCKETS, ThreadPoolExecutor
from tpe_insight.metrics.readback import bucket_quantile, read_metrics


def ok() -> int:
    return 1


def fails() -> None:
    raise KeyError("k")


def test_read_metrics_groups_samples_by_pool_and_task() -> None:
    registry = CollectorRegistry()
    gate = threading.Event()
    with ThreadPoolExecutor(1, name="rb", registry=registry) as pool:
        blocker = pool.submit(gate.wait, 10)
        doomed = pool.submit(ok)
        assert doomed.cancel()
        gate.set()
        blocker.result()
        pool.submit(ok).result()
        pool.submit(fails).exception()
    stats = read_metrics(registry)["rb"]
    ok_stats = stats.tasks[f"{__name__}.ok"]
    assert ok_stats.finished == {"success": 1.0, "error": 0.0, "cancelled": 1.0}
    assert ok_stats.count == 2 and ok_stats.started == 1
    assert stats.tasks[f"{__name__}.fails"].exceptions == {"KeyError": 1.0}
    assert stats.outcome("success") == 2  # ok and gate.wait
    assert stats.rejected == {"shutdown": 0.0, "broken": 0.0}
    assert stats.values["tpe_tasks_submitted_total"] == 4.0
    # Per task, exact means (summaries); the quantiles come from the per-pool histograms.
    assert ok_stats.wait_count == 1.0 and ok_stats.run_count == 1.0
    assert ok_stats.run_mean == ok_stats.run_sum
    assert len(stats.wait_buckets) == len(stats.run_buckets) == len(POOL_BUCKETS) + 1
    assert stats.run_buckets[-1] == (math.inf, 3.0)  # gate.wait, ok and fails ran
    assert stats.wait_buckets[-1] == (math.inf, 3.0)
    assert 0 <= stats.run_quantile(0.5) <= stats.run_quantile(0.99)


def test_bucket_quantile_interpolates_like_promql() -> None:
    buckets = [(0.1, 0.0), (0.2, 10.0), (math.inf, 10.0)]
    assert bucket_quantile(0.5, buckets) == pytest.approx(0.15)
    assert bucket_quantile(1.0, [(0.1, 5.0), (math.inf, 10.0)]) == 0.1  # highest finite bound
    assert math.isnan(bucket_quantile(0.5, []))
    assert math.isnan(bucket_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))

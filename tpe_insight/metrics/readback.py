"""Read the exported ``tpe_*`` metrics back into per-pool, per-task numbers.

This reads what a scrape would see (``registry.collect()``), not the executor's internals, so the
demo and users' own reports show exactly what Prometheus gets. Per task there are exact means
(the per-task queue wait and run time are summaries: count and sum); quantiles are per pool,
estimated from the per-pool histograms' buckets the way PromQL's ``histogram_quantile`` does
(linear within a bucket), so they are as fine as the buckets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

__all__ = ["PoolStats", "TaskStats", "bucket_quantile", "read_metrics"]


@dataclass
class TaskStats:
    """One (pool, task) series."""

    pool: str
    task: str
    finished: dict[str, float] = field(default_factory=dict)
    exceptions: dict[str, float] = field(default_factory=dict)
    wait_count: float = 0.0
    wait_sum: float = 0.0
    run_count: float = 0.0
    run_sum: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def count(self) -> int:
        return int(sum(self.finished.values()))

    @property
    def started(self) -> int:
        """Tasks that ran to the end (returned or raised): the run time's count."""
        return int(self.run_count)

    @property
    def wait_mean(self) -> float:
        return self.wait_sum / self.wait_count if self.wait_count else math.nan

    @property
    def run_mean(self) -> float:
        return self.run_sum / self.run_count if self.run_count else math.nan

    @property
    def cpu_share(self) -> float:
        """CPU seconds / run seconds: near 1 means CPU-bound, near 0 means waiting (I/O)."""
        return self.cpu_seconds / self.run_sum if self.run_sum > 0 else math.nan


@dataclass
class PoolStats:
    """One pool label: its tasks plus the pool-level series."""

    pool: str
    tasks: dict[str, TaskStats] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, float] = field(default_factory=dict)
    #: Cumulative ``(le, count)`` buckets of ``tpe_pool_queue_wait_seconds`` and
    #: ``tpe_pool_run_seconds``, ``+Inf`` last.
    wait_buckets: list[tuple[float, float]] = field(default_factory=list)
    run_buckets: list[tuple[float, float]] = field(default_factory=list)

    def wait_quantile(self, q: float) -> float:
        return bucket_quantile(q, self.wait_buckets)

    def run_quantile(self, q: float) -> float:
        return bucket_quantile(q, self.run_buckets)

    def outcome(self, outcome: str) -> int:
        return int(sum(t.finished.get(outcome, 0.0) for t in self.tasks.values()))


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Estimate the ``q`` quantile from cumulative ``(le, count)`` buckets, as PromQL does."""
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound  # PromQL returns the highest finite bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound  # pragma: no cover - rank <= total always matches


def read_metrics(registry: CollectorRegistry) -> dict[str, PoolStats]:
    """Collect ``registry`` and group the ``tpe_*`` samples by pool and task."""
    pools: dict[str, PoolStats] = {}

    def pool_of(labels: dict[str, str]) -> PoolStats:
        return pools.setdefault(labels["pool"], PoolStats(labels["pool"]))

    def task_of(labels: dict[str, str]) -> TaskStats:
        pool = pool_of(labels)
        return pool.tasks.setdefault(labels["task"], TaskStats(labels["pool"], labels["task"]))

    for family in registry.collect():
        if not family.name.startswith("tpe_"):
            continue
        for sample in family.samples:
            labels = sample.labels
            if "pool" not in labels:
                continue
            name = sample.name
            if name == "tpe_tasks_finished_total":
                task_of(labels).finished[labels["outcome"]] = sample.value
            elif name == "tpe_task_exceptions_total":
                task_of(labels).exceptions[labels["exception"]] = sample.value
            elif name == "tpe_task_cpu_seconds_total":
                task_of(labels).cpu_seconds = sample.value
            elif name == "tpe_pool_queue_wait_seconds_bucket":
                pool_of(labels).wait_buckets.append((float(labels["le"]), sample.value))
            elif name == "tpe_pool_run_seconds_bucket":
                pool_of(labels).run_buckets.append((float(labels["le"]), sample.value))
            elif name == "tpe_task_queue_wait_seconds_count":
                task_of(labels).wait_count = sample.value
            elif name == "tpe_task_queue_wait_seconds_sum":
                task_of(labels).wait_sum = sample.value
            elif name == "tpe_task_run_seconds_count":
                task_of(labels).run_count = sample.value
            elif name == "tpe_task_run_seconds_sum":
                task_of(labels).run_sum = sample.value
            elif name.startswith("tpe_pool_") or name.endswith("_created"):
                continue  # the per-pool _count and _sum repeat the per-task ones
            else:
                pool = pool_of(labels)
                if name == "tpe_tasks_rejected_total":
                    pool.rejected[labels["reason"]] = sample.value
                elif "component" not in labels:
                    pool.values[name] = sample.value
    return pools

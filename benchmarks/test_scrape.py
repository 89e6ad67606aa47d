"""Many pools: 20 pools x 50 task names in one registry, then the cost and size of a scrape.

Every (pool, task) series has run tasks on the submitting thread and on the workers, so each
series holds several live shards, as in a long-running service; the scrape sums them and renders
three outcome counters, two summaries (queue wait, run time) and the CPU counter per series, and
the two fine histograms per pool.

The recorded value is the scrape's *thread CPU* time (``time.thread_time``): the scrape holds
the GIL, so its CPU time is what the application loses, and unlike wall time it does not grow
with the other processes of a shared, loaded machine. Wall time is in ``extra``; compare the
minimum over rounds.
"""

from __future__ import annotations

import time
from concurrent.futures import Future

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from benchmarks.conftest import RunWorkload
from benchmarks.harness import Record, env_int, interleave, record, rounds
from tpe_insight import ThreadPoolExecutor, named


def noop() -> None:
    return None


@pytest.mark.parametrize(
    ("size", "pools_default", "names_default"), [("many", 20, 50), ("typical", 5, 10)]
)
def test_scrape_many_pools(
    run_workload: RunWorkload, size: str, pools_default: int, names_default: int
) -> None:
    """``many``: 20 pools x 50 task names (the issue's worst case); ``typical``: 5 x 10. The
    record carries the sample count: the encoder's cost is per sample."""
    n_pools = env_int("TPE_BENCH_POOLS", pools_default, 3) if size == "many" else pools_default
    n_names = env_int("TPE_BENCH_TASK_NAMES", names_default, 5) if size == "many" else names_default
    per_name = 4

    def workload() -> Record:
        registry = CollectorRegistry()
        pools = [
            ThreadPoolExecutor(2, name=f"pool_{i:02d}", registry=registry, logs=False)
            for i in range(n_pools)
        ]
        try:
            tasks = [named(f"task_{j:02d}", noop) for j in range(n_names)]
            futures: list[Future[None]] = [
                pool.submit(task) for pool in pools for task in tasks for _ in range(per_name)
            ]
            for future in futures:
                future.result()

            walls: list[float] = []

            def scrape_once(_: str) -> float:
                cpu_start, wall_start = time.thread_time(), time.perf_counter()
                generate_latest(registry)
                walls.append((time.perf_counter() - wall_start) * 1e3)
                return (time.thread_time() - cpu_start) * 1e3

            values = interleave(["scrape"], scrape_once, rounds())
            walls = walls[-len(values["scrape"]) :]  # the measured rounds, without the warmup
            body = generate_latest(registry)
        finally:
            for pool in pools:
                pool.shutdown()
        samples = [line for line in body.splitlines() if line and not line.startswith(b"#")]
        expected_series = n_pools * n_names
        finished = [line for line in samples if line.startswith(b"tpe_tasks_finished_total{")]
        assert len(finished) == expected_series * 3, len(finished)
        return record(
            f"scrape_{size}",
            f"scrape: generate_latest() of {n_pools} pools x {n_names} task names"
            " (default options), thread CPU, budget < 50 ms",
            "ms/scrape (thread CPU)",
            values,
            baseline=None,
            params={"pools": n_pools, "task_names": n_names, "tasks_per_name": per_name},
            extra={
                "bytes": len(body),
                "samples": len(samples),
                "series": expected_series,
                "wall_ms_min": min(walls),
                "wall_ms_median": sorted(walls)[len(walls) // 2],
            },
        )

    run_workload(workload)

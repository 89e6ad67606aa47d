"""The pool workloads: latency, throughput and ``map`` of no-op tasks, stdlib vs each config.

A no-op task makes the pool's own cost the whole measurement: these are the worst case for the
instrumentation's relative price (any real task dilutes it).
"""

from __future__ import annotations

import time
from concurrent.futures import Future

from benchmarks.configs import ALL_CONFIGS, Config
from benchmarks.conftest import RunWorkload
from benchmarks.harness import Record, env_int, interleave_configs, record, rounds

WORKERS = 4


def noop() -> None:
    return None


def identity(item: int) -> int:
    return item


def throughput_once(config: Config, n_tasks: int) -> float:
    """µs per task to submit ``n_tasks`` no-ops, then wait for all of them."""
    pool = config.make(WORKERS)
    try:
        submit = pool.submit
        start = time.perf_counter()
        futures: list[Future[None]] = [submit(noop) for _ in range(n_tasks)]
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - start
    finally:
        pool.shutdown()
    return elapsed / n_tasks * 1e6


def map_once(config: Config, n_items: int) -> float:
    """µs per item of ``list(pool.map(identity, range(n_items)))``."""
    pool = config.make(WORKERS)
    try:
        start = time.perf_counter()
        results = list(pool.map(identity, range(n_items)))
        elapsed = time.perf_counter() - start
    finally:
        pool.shutdown()
    assert len(results) == n_items
    return elapsed / n_items * 1e6


def latency_once(config: Config, n_tasks: int) -> float:
    """µs per lone ``submit(noop).result()``: the pool is idle at every submit."""
    pool = config.make(WORKERS)
    try:
        submit = pool.submit
        for _ in range(10):  # start a worker; the measured submits then find it idle
            submit(noop).result()
        start = time.perf_counter()
        for _ in range(n_tasks):
            submit(noop).result()
        elapsed = time.perf_counter() - start
    finally:
        pool.shutdown()
    return elapsed / n_tasks * 1e6


def test_throughput(run_workload: RunWorkload) -> None:
    n_tasks = env_int("TPE_BENCH_TASKS", 50_000, 200)

    def workload() -> Record:
        values = interleave_configs(
            ALL_CONFIGS, lambda config: throughput_once(config, n_tasks), rounds()
        )
        return record(
            "throughput",
            f"throughput: submit {n_tasks:,} no-ops, {WORKERS} workers, then wait for all",
            "µs/task",
            values,
            params={"tasks": n_tasks, "workers": WORKERS},
        )

    run_workload(workload)


def test_map(run_workload: RunWorkload) -> None:
    n_items = env_int("TPE_BENCH_TASKS", 50_000, 200)

    def workload() -> Record:
        values = interleave_configs(ALL_CONFIGS, lambda config: map_once(config, n_items), rounds())
        return record(
            "map",
            f"map: list(pool.map(identity, range({n_items:,}))), {WORKERS} workers",
            "µs/task",
            values,
            params={"items": n_items, "workers": WORKERS},
        )

    run_workload(workload)


def test_latency(run_workload: RunWorkload) -> None:
    n_tasks = env_int("TPE_BENCH_LATENCY_TASKS", 2_000, 20)

    def workload() -> Record:
        values = interleave_configs(
            ALL_CONFIGS, lambda config: latency_once(config, n_tasks), rounds()
        )
        return record(
            "latency",
            f"latency: submit(noop).result() one at a time, x{n_tasks:,}",
            "µs/task",
            values,
            params={"tasks": n_tasks, "workers": WORKERS},
        )

    run_workload(workload)

"""Claims checked against the real clock: the what-if against measured runs of sleeping tasks,
and the fast CPU-time rule against a task that really burns CPU.

These compare a model with wall-clock or CPU-clock measurements, so they depend on how busy the
machine is: they live here, not in ``make test`` (whose versions of these checks use injected
clocks and are exact). ``make bench ARGS="-k accuracy"`` runs them; the table shows the relative
errors per round and the run fails if the median error passes the bound.
"""

from __future__ import annotations

import statistics
import time

from prometheus_client import CollectorRegistry

from benchmarks.conftest import RunWorkload
from benchmarks.harness import Record, record, rounds, smoke
from tpe_insight import ThreadPoolExecutor, named
from tpe_insight.labels import task_label
from tpe_insight.profiler.model import WhatIf, model_pool
from tpe_insight.profiler.recorder import Recorder
from tpe_insight.profiler.timeline import Timeline

# Sleep lengths (seconds): varied, so the packing onto workers matters; 40 tasks, 1.2 s in all.
SLEEPS = [0.02, 0.04, 0.03, 0.02, 0.04, 0.03, 0.02, 0.04] * 5


def _recorded_run(workers: int, sleeps: list[float]) -> tuple[Timeline, float]:
    recorder = Recorder()
    with ThreadPoolExecutor(workers, name=f"io{workers}", metrics=False, sinks=[recorder]) as pool:
        start = time.perf_counter()
        futures = [pool.submit(named("sleep", time.sleep, s)) for s in sleeps]
        for future in futures:
            future.result()
        wall = time.perf_counter() - start
    return recorder.snapshot(), wall


def _error(row: WhatIf, measured: float) -> float:
    """Relative error of a what-if row: of its value, or for "cannot tell" the distance from
    its range (0 inside it)."""
    if row.predicted_wall_seconds is not None:
        return abs(row.predicted_wall_seconds - measured) / measured
    outside = max(row.low - measured, measured - row.high, 0.0)
    return outside / measured


def _whatif_errors(sleeps: list[float]) -> dict[str, float]:
    """Relative errors of the model's replay (recorded max_workers, before its calibration to
    the recorded wall) and of its what-if for 2 and 8 workers."""
    timeline, wall = _recorded_run(4, sleeps)
    model = model_pool(timeline, timeline.pools[0], workers=[2, 4, 8])
    by_workers = {row.max_workers: row for row in model.what_if}
    replayed = model.wall_seconds / model.calibration
    measured_8 = _recorded_run(8, sleeps)[1]
    measured_2 = _recorded_run(2, sleeps)[1]
    return {
        "replay_4": abs(replayed - wall) / wall,
        "predict_8": _error(by_workers[8], measured_8),
        "predict_2": _error(by_workers[2], measured_2),
    }


def test_whatif_accuracy(run_workload: RunWorkload) -> None:
    sleeps = SLEEPS[:8] if smoke() else SLEEPS
    bounds = {"replay_4": 0.10, "predict_8": 0.15, "predict_2": 0.15}

    def workload() -> Record:
        values: dict[str, list[float]] = {name: [] for name in bounds}
        for _ in range(rounds(5)):
            for name, error in _whatif_errors(sleeps).items():
                values[name].append(error)
        return record(
            "whatif_accuracy",
            "what-if vs measured wall, 40 sleeping tasks recorded on 4 workers: relative error",
            "ratio",
            values,
            baseline=None,
            notes="bounds: replay 10%, predictions 15% (median over rounds)",
        )

    result = run_workload(workload)
    if not smoke():
        medians = {name: statistics.median(v) for name, v in result["values"].items()}
        assert all(medians[name] < bound for name, bound in bounds.items()), medians


def _fast_cpu_once() -> tuple[float, float, float]:
    """(CPU charged to a 20 ms CPU burn, its run time, CPU charged to a 50 ms sleep)."""

    def burn() -> None:
        end = time.thread_time() + 0.02
        while time.thread_time() < end:
            pass

    def sleep() -> None:
        time.sleep(0.05)

    registry = CollectorRegistry()
    with ThreadPoolExecutor(1, name="cpu", registry=registry) as pool:
        pool.submit(burn).result()
        pool.submit(sleep).result()

    def value(name: str, fn: object) -> float:
        labels = {"pool": "cpu", "task": task_label(fn)}  # type: ignore[arg-type]
        return float(registry.get_sample_value(name, labels) or 0.0)

    return (
        value("tpe_task_cpu_seconds_total", burn),
        value("tpe_task_run_seconds_sum", burn),
        value("tpe_task_cpu_seconds_total", sleep),
    )


def test_fast_cpu_time_on_real_work(run_workload: RunWorkload) -> None:
    """Fast mode charges a CPU burn about its CPU (never more than its run time) and a sleep
    about nothing, on the real clocks."""

    def workload() -> Record:
        values: dict[str, list[float]] = {"burn_cpu": [], "burn_run": [], "sleep_cpu": []}
        for _ in range(rounds()):
            burn_cpu, burn_run, sleep_cpu = _fast_cpu_once()
            values["burn_cpu"].append(burn_cpu)
            values["burn_run"].append(burn_run)
            values["sleep_cpu"].append(sleep_cpu)
        return record(
            "fast_cpu_accuracy",
            "cpu_time='fast' on a 20 ms CPU burn and a 50 ms sleep: seconds charged",
            "s",
            values,
            baseline=None,
        )

    result = run_workload(workload)
    values = result["values"]
    assert all(c <= r for c, r in zip(values["burn_cpu"], values["burn_run"], strict=True))
    if not smoke():
        assert statistics.median(values["burn_cpu"]) >= 0.015, values
        assert statistics.median(values["sleep_cpu"]) < 0.01, values

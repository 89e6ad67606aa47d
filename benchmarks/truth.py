"""``make bench-truth``: does the profiler's model tell the truth? Predictions against runs.

Each workload of the corpus is measured with the stdlib ``ThreadPoolExecutor`` at 1, 2, 4 and 8
workers (``--repeat`` rounds, interleaved: one round runs every worker count once, so a drift of
the machine hits every column alike), then profiled once at 4 workers with tpe_insight's
recorder. The model (``tpe_insight/profiler/model.py``) reads that one recording and predicts:

* the speedup of 4 workers over serial, compared with the measured ``wall(1) / wall(4)``;
* the what-if wall at 1, 2 and 8 workers, compared with the measured median there.

The profiled run is made in the middle round, between measurements, so that it meets the same
machine; the spread (min-max) of each measurement is saved beside it, and it is the honest
yardstick on a shared machine: an error smaller than the spread is noise.

The target is an error within 15%, or "cannot tell" with a range that contains the measurement.
Nothing here is asserted: it is a measurement, printed and saved (``.benchmarks/truth.json``).
This machine is shared, so the "quiet" rows are whatever the other users' load was; the
``loaded`` row adds a CPU-hog process of our own for its whole duration.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures as cf
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpe_insight.executor import ThreadPoolExecutor
from tpe_insight.profiler.model import PoolModel, model_timeline
from tpe_insight.profiler.recorder import Recorder

WORKERS = (1, 2, 4, 8)
PROFILED = 4
TARGET = 0.15

Executor = Callable[[int], cf.ThreadPoolExecutor]


# -- the corpus -----------------------------------------------------------------------------------


def io_sleep(make: Executor, workers: int) -> None:
    """48 tasks that sleep 10 ms: I/O, threads overlap the waits."""
    with make(workers) as pool:
        for future in [pool.submit(time.sleep, 0.01) for _ in range(48)]:
            future.result()


def _python_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def gil_python(make: Executor, workers: int) -> None:
    """24 pure-Python loops: the GIL serialises them."""
    with make(workers) as pool:
        for future in [pool.submit(_python_loop, 150_000) for _ in range(24)]:
            future.result()


_BUFFER = os.urandom(1 << 20) * 16


def gil_free_sha(make: Executor, workers: int) -> None:
    """24 sha256 over 16 MB: hashlib releases the GIL, threads use the cores."""
    with make(workers) as pool:
        for future in [pool.submit(hashlib.sha256, _BUFFER) for _ in range(24)]:
            future.result()


def gil_free_zlib(make: Executor, workers: int) -> None:
    """16 zlib compressions of 2 MB: zlib releases the GIL."""
    data = _BUFFER[: 2 << 20]
    with make(workers) as pool:
        for future in [pool.submit(zlib.compress, data, 6) for _ in range(16)]:
            future.result()


_DB: Path | None = None


def _database() -> Path:
    global _DB
    if _DB is None:
        from tpe_insight.demo import ensure_database

        path = Path(tempfile.gettempdir()) / "tpe_insight_truth_v1.sqlite"
        ensure_database(path, 2_000, 150_000)
        _DB = path
    return _DB


def sqlite_queries(make: Executor, workers: int) -> None:
    """The demo's eight SQLite queries (sqlite3 releases the GIL while it steps)."""
    from tpe_insight.demo import QUERIES, VariableRunner

    runner = VariableRunner(_database(), 0.0)
    with make(workers) as pool:
        for future in [pool.submit(runner, q) for q in QUERIES]:
            future.result()


def dependent(make: Executor, workers: int) -> None:
    """12 parents that sleep 10 ms, then each submits 3 children that sleep 10 ms."""
    with make(workers) as pool:
        children: list[cf.Future[None]] = []

        def parent() -> None:
            time.sleep(0.01)
            children.extend(pool.submit(time.sleep, 0.01) for _ in range(3))

        for future in [pool.submit(parent) for _ in range(12)]:
            future.result()
        for child in list(children):
            child.result()


def asyncio_phases(make: Executor, workers: int) -> None:
    """asyncio.to_thread in 4 phases of 16 sleeps of 10 ms, each phase after the last."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pool = make(workers)
        loop.set_default_executor(pool)
        for _ in range(4):
            await asyncio.gather(*(asyncio.to_thread(time.sleep, 0.01) for _ in range(16)))

    asyncio.run(main())


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Executor, int], None]
    loaded: bool = False


CORPUS = (
    Workload("io_sleep", io_sleep),
    Workload("gil_python", gil_python),
    Workload("gil_free_sha", gil_free_sha),
    Workload("gil_free_zlib", gil_free_zlib),
    Workload("sqlite_demo", sqlite_queries),
    Workload("dependent", dependent),
    Workload("asyncio_phases", asyncio_phases),
    Workload("sha_loaded", gil_free_sha, loaded=True),
)


# -- measuring ------------------------------------------------------------------------------------


def _stdlib(workers: int) -> cf.ThreadPoolExecutor:
    return cf.ThreadPoolExecutor(workers)


def measure(workload: Workload, repeat: int) -> tuple[dict[int, list[float]], PoolModel]:
    """The measured walls per worker count, and the model of one profiled run made in the
    middle round (so it meets the same machine as the measurements around it)."""
    walls: dict[int, list[float]] = {k: [] for k in WORKERS}
    workload.run(_stdlib, 2)  # warm-up: imports, the database, caches
    model: PoolModel | None = None
    for round_ in range(repeat):
        order = WORKERS[round_ % len(WORKERS) :] + WORKERS[: round_ % len(WORKERS)]
        for k in order:
            start = time.perf_counter()
            workload.run(_stdlib, k)
            walls[k].append(time.perf_counter() - start)
        if round_ == repeat // 2:
            model = profile_once(workload)
    assert model is not None
    return walls, model


def profile_once(workload: Workload) -> PoolModel:
    recorder = Recorder()

    def make(workers: int) -> cf.ThreadPoolExecutor:
        return ThreadPoolExecutor(workers, sinks=[recorder], metrics=False, logs=False)

    workload.run(make, PROFILED)
    models = [m for m in model_timeline(recorder.snapshot()) if m.run_seconds > 0]
    if len(models) != 1:
        raise RuntimeError(f"{workload.name}: expected one pool with tasks, got {len(models)}")
    return models[0]


class Hog:
    """A CPU-bound child process for the loaded rows (ended by its own handle)."""

    def __enter__(self) -> Hog:
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


# -- comparing ------------------------------------------------------------------------------------


def _verdict(predicted: float | None, low: float, high: float, measured: float) -> dict[str, Any]:
    if predicted is not None:
        error = predicted / measured - 1
        return {
            "predicted": predicted,
            "low": low,
            "high": high,
            "measured": measured,
            "error": error,
            "ok": abs(error) <= TARGET,
        }
    inside = low * (1 - 0.02) <= measured <= high * (1 + 0.02)
    return {
        "predicted": None,
        "low": low,
        "high": high,
        "measured": measured,
        "error": None,
        "ok": inside,
    }


def compare(model: PoolModel, walls: dict[int, list[float]]) -> dict[str, Any]:
    median = {k: statistics.median(v) for k, v in walls.items()}
    rows: dict[str, Any] = {
        "work_type": model.work_type,
        "reason": model.reason,
        "profiled_wall": model.wall_seconds,
        "calibration": model.calibration,
        # What the claims were made from (docs/profiler-model.md), to tell a model bias from
        # the load of the one profiled run.
        "observed": {
            "run_seconds": model.run_seconds,
            "cpu_seconds": model.cpu_seconds,
            "run_queue_seconds": model.run_queue_seconds,
            "concurrent_cpu_rate": model.concurrent_cpu_rate,
            "mean_concurrency": model.mean_concurrency,
            "effective_cores": model.effective_cores,
            "core_band": list(model.core_band),
            "serial_seconds": [
                model.serial_seconds.value,
                model.serial_seconds.low,
                model.serial_seconds.high,
            ],
            "dependencies": model.dependencies,
            "load_average": list(os.getloadavg()),
        },
        "measured": {str(k): v for k, v in walls.items()},
    }
    rows["spread"] = {str(k): [min(v), max(v)] for k, v in walls.items()}
    speed = model.speedup
    rows["speedup"] = _verdict(speed.value, speed.low, speed.high, median[1] / median[PROFILED])
    what_if = {w.max_workers: w for w in model.what_if}
    for k in WORKERS:
        if k == PROFILED or k not in what_if:
            continue
        w = what_if[k]
        rows[f"what_if_{k}"] = _verdict(w.predicted_wall_seconds, w.low, w.high, median[k])
    return rows


def _cell(verdict: dict[str, Any], unit: str) -> str:
    mark = "ok" if verdict["ok"] else "MISS"
    if verdict["predicted"] is None:
        low, high = verdict["low"], verdict["high"]
        if unit == "x":
            return f"? [x{low:.2f}-x{high:.2f}] vs x{verdict['measured']:.2f} {mark}"
        return f"? [{low * 1e3:.0f}-{high * 1e3:.0f}] vs {verdict['measured'] * 1e3:.0f} {mark}"
    if unit == "x":
        return (
            f"x{verdict['predicted']:.2f} vs x{verdict['measured']:.2f} "
            f"({verdict['error']:+.0%}) {mark}"
        )
    return (
        f"{verdict['predicted'] * 1e3:.0f} vs {verdict['measured'] * 1e3:.0f} ms "
        f"({verdict['error']:+.0%}) {mark}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--json", default=".benchmarks/truth.json")
    args = parser.parse_args(argv)
    chosen = [w for w in CORPUS if not args.only or w.name in args.only.split(",")]
    started_load = os.getloadavg()
    results: dict[str, Any] = {}
    for workload in chosen:
        print(f"... {workload.name}", file=sys.stderr, flush=True)
        if workload.loaded:
            with Hog():
                walls, model = measure(workload, args.repeat)
        else:
            walls, model = measure(workload, args.repeat)
        results[workload.name] = compare(model, walls)
    lines = [
        f"{'workload':15} {'type':13} {'speedup (4 vs 1)':34} {'what-if 1 (ms)':30} "
        f"{'what-if 2 (ms)':30} {'what-if 8 (ms)':30} {'profiled':9} "
        "measured ms min-max at 1/2/4/8"
    ]
    for name, row in results.items():
        cells = [_cell(row["speedup"], "x")] + [
            _cell(row[f"what_if_{k}"], "ms") for k in (1, 2, 8) if f"what_if_{k}" in row
        ]
        spread = " ".join(f"{lo * 1e3:.0f}-{hi * 1e3:.0f}" for lo, hi in row["spread"].values())
        profiled = f"{row['profiled_wall'] * 1e3:.0f} ms"
        lines.append(
            f"{name:15} {row['work_type']:13} {cells[0]:34} "
            + " ".join(f"{c:30}" for c in cells[1:])
            + f" {profiled:9} "
            + spread
        )
    print("\n".join(lines))
    hits = sum(
        1
        for row in results.values()
        for key, value in row.items()
        if isinstance(value, dict) and "ok" in value and value["ok"]
    )
    total = sum(
        1
        for row in results.values()
        for value in row.values()
        if isinstance(value, dict) and "ok" in value
    )
    print(
        f"\n{hits}/{total} claims within {TARGET:.0%} or inside their range "
        f"(cores available: {os.cpu_count()}, repeats: {args.repeat}, load average at the "
        f"start {started_load[0]:.2f}, at the end {os.getloadavg()[0]:.2f})"
    )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Memory over many tasks: RSS and tracemalloc, which must stay flat once warm.

Tasks run in batches (submit a batch, wait for it, drop the futures). After each batch we read
the process RSS and tracemalloc's current size. "Warm" is the first batch after the
recorder's ring buffer has filled (from then on every span it records evicts one); from there to
the end, neither number may keep growing with the number of tasks, and the ring buffer must
hold at most its bound. The default size is quick; ``make bench-memory`` runs 1M tasks.
"""

from __future__ import annotations

import math
import os
import tracemalloc
from concurrent.futures import Future

from benchmarks.configs import RECORDER_MAXLEN, by_name
from benchmarks.conftest import RunWorkload
from benchmarks.harness import Record, env_int, record
from tpe_insight import Recorder, ThreadPoolExecutor

WORKERS = 4


def noop() -> None:
    return None


def rss_kib() -> float:
    """Resident set size now (Linux ``/proc``), in KiB; NaN elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return math.nan
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024


def recorder_of(pool: object) -> Recorder | None:
    if not isinstance(pool, ThreadPoolExecutor):
        return None
    for hook in pool._tpe.pool.hooks.task_finished:
        sink = getattr(hook, "__self__", None)
        if isinstance(sink, Recorder):
            return sink
    return None


def test_memory(run_workload: RunWorkload) -> None:
    n_tasks = env_int("TPE_BENCH_MEMORY_TASKS", 200_000, 400)
    batch = env_int("TPE_BENCH_MEMORY_BATCH", 10_000, 100)
    n_batches = max(2, n_tasks // batch)
    warm_batch = min(n_batches - 1, math.ceil(RECORDER_MAXLEN / batch))

    def run(config_name: str) -> dict[str, float]:
        (config,) = by_name(config_name)
        pool = config.make(WORKERS)
        recorder = recorder_of(pool)
        rss: list[float] = []
        traced: list[float] = []
        tracemalloc.start()
        try:
            for _ in range(n_batches):
                futures: list[Future[None]] = [pool.submit(noop) for _ in range(batch)]
                for future in futures:
                    future.result()
                del futures
                rss.append(rss_kib())
                traced.append(tracemalloc.get_traced_memory()[0] / 1024)
            peak = tracemalloc.get_traced_memory()[1] / 1024
        finally:
            tracemalloc.stop()
            pool.shutdown()
        out = {
            "rss_warm_kib": rss[warm_batch],
            "rss_end_kib": rss[-1],
            "rss_growth_kib": rss[-1] - rss[warm_batch],
            "traced_warm_kib": traced[warm_batch],
            "traced_end_kib": traced[-1],
            "traced_growth_kib": traced[-1] - traced[warm_batch],
            "traced_peak_kib": peak,
        }
        # Flat once warm: a leak of even one small object per task would be >= 16 bytes/task.
        tasks_after_warm = (n_batches - 1 - warm_batch) * batch
        assert out["traced_growth_kib"] * 1024 <= tasks_after_warm * 1.0 + 64 * 1024, out
        if recorder is not None:
            timeline = recorder.snapshot()
            assert len(timeline.spans) <= RECORDER_MAXLEN
            assert timeline.dropped == n_batches * batch - len(timeline.spans)
            out["ring_len"] = len(timeline.spans)
            out["ring_maxlen"] = RECORDER_MAXLEN
        return out

    def workload() -> Record:
        results = {name: run(name) for name in ("stdlib", "default", "profiler")}
        return record(
            "memory",
            f"memory: {n_batches * batch:,} no-op tasks in batches of {batch:,}, {WORKERS}"
            f" workers, tracemalloc on; warm = after batch {warm_batch + 1}"
            f" (ring of {RECORDER_MAXLEN:,} spans full)",
            "KiB traced growth warm→end",
            {name: [r["traced_growth_kib"]] for name, r in results.items()},
            baseline=None,
            params={"tasks": n_batches * batch, "batch": batch, "workers": WORKERS},
            extra=results,
            compare="none",
        )

    run_workload(workload)

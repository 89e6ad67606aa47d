"""Lints: patterns in a recorded timeline that usually mean the pool is misused or mis-sized.

Each lint has a code, a documented threshold (the module constants below) and a message that
says what to do. They are heuristics over one recording: a lint is a reason to look, not proof.

========================  ======================================================================
code                      fires when
========================  ======================================================================
``saturated``             queue wait ≥ ``SATURATED_WAIT_RATIO`` x run time in total, over at least
                          ``MIN_TASKS`` started tasks: tasks spend longer waiting for a worker
                          than working, so the pool is the bottleneck.
``cpu-bound``             the pool's verdict is CPU-bound (CPU share or core load ≥
                          ``stats.CPU_BOUND_SHARE``, 0.7; see :mod:`stats`) over at least
                          ``MIN_CPU_BOUND_RUN_SECONDS`` of run time on a pool with more than one
                          worker: the GIL lets one thread compute at a time, so threads add
                          overhead, not speed.
``stuck``                 a task was still running at ``shutdown(wait=False)`` (any age) or when
                          the profile was read, ``stuck_after`` seconds (default 10) after it
                          started; shown with its worker's stack (``sys._current_frames()``).
``oversized``             ``max_workers`` ≥ ``OVERSIZED_FACTOR`` x the peak number of tasks that
                          ever ran at once, and exceeds it by at least ``OVERSIZED_MIN_GAP``, over
                          at least ``MIN_TASKS`` tasks.
``pool-per-call``         at least ``POOL_PER_CALL_INSTANCES`` pool instances share a label: a pool
                          created and shut down per call pays thread start-up each time and
                          bounds nothing globally.
``dropped``               spans past the recorder's capacity kept no per-span detail (the totals
                          still cover them; the pictures and the replay see only the sample).
========================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tpe_insight.profiler.stats import CPU_BOUND_SHARE
from tpe_insight.typing import CPU_BOUND, IO_BOUND

if TYPE_CHECKING:
    from tpe_insight.profiler.stats import Analysis

__all__ = [
    "MIN_CPU_BOUND_RUN_SECONDS",
    "MIN_TASKS",
    "OVERSIZED_FACTOR",
    "OVERSIZED_MIN_GAP",
    "POOL_PER_CALL_INSTANCES",
    "SATURATED_WAIT_RATIO",
    "Lint",
    "check",
]

#: Total queue wait ÷ total run time at or above which a pool is called saturated.
SATURATED_WAIT_RATIO = 1.0

#: Fewest started tasks for the saturation and sizing lints (a handful proves nothing).
MIN_TASKS = 10

#: Least total run time (seconds) before CPU share is trusted for the CPU-bound lint: the
#: thread-CPU clock is coarse and a few short tasks are mostly interpreter noise.
MIN_CPU_BOUND_RUN_SECONDS = 0.05

#: ``max_workers`` at least this many times the peak concurrency is called oversized...
OVERSIZED_FACTOR = 4

#: ... provided it also exceeds the peak by at least this many workers.
OVERSIZED_MIN_GAP = 4

#: Instances of one pool label from which we suspect a pool per call.
POOL_PER_CALL_INSTANCES = 5


@dataclass(frozen=True)
class Lint:
    """One finding. ``detail`` holds extra text (a stack) shown verbatim, escaped in HTML."""

    code: str
    pool: str
    message: str
    detail: str = ""


def check(analysis: Analysis) -> Iterator[Lint]:
    """Every lint that fires on ``analysis``, in a stable order."""
    timeline = analysis.timeline
    if timeline.dropped:
        yield Lint(
            "dropped",
            "*",
            f"{timeline.dropped} of {timeline.recorded} spans kept no per-span detail "
            f"(capacity {timeline.capacity}): counts, sums and percentiles cover every span, but "
            "lanes, lifecycles, trace slices and the what-if replay see only the sample. Raise "
            "profile(capacity=...) or --capacity for more detail.",
        )
    for pool in analysis.pools:
        label = f"{pool.record.label} #{pool.record.pool_id}"
        started = pool.run.count
        if (
            started >= MIN_TASKS
            and pool.run_total > 0
            and pool.wait.total >= SATURATED_WAIT_RATIO * pool.run_total
        ):
            yield Lint(
                "saturated",
                label,
                f"tasks waited {pool.wait.total / pool.run_total:.1f} s in the queue for every "
                f"1 s of running (p95 wait {pool.wait.p95 * 1000:.0f} ms): the pool is the "
                f"bottleneck. {_saturated_advice(pool.verdict)}",
            )
        if (
            pool.record.max_workers > 1
            and pool.run_total >= MIN_CPU_BOUND_RUN_SECONDS
            and pool.verdict == CPU_BOUND
        ):
            yield Lint(
                "cpu-bound",
                label,
                f"tasks spent {pool.cpu_share:.0%} of their run time on the CPU and the pool "
                f"kept {pool.core_load:.1f} CPU core(s) busy while it had work (>= "
                f"{CPU_BOUND_SHARE:.1f} is CPU-bound). Threads do not run Python code in "
                "parallel (the GIL), so for such work they add overhead, not speed, and the "
                "run times (and the what-if) include waiting for the GIL. Use a "
                "ProcessPoolExecutor, or code that releases the GIL.",
            )
        if (
            started >= MIN_TASKS
            and pool.peak_busy > 0
            and pool.record.max_workers >= OVERSIZED_FACTOR * pool.peak_busy
            and pool.record.max_workers - pool.peak_busy >= OVERSIZED_MIN_GAP
        ):
            yield Lint(
                "oversized",
                label,
                f"max_workers={pool.record.max_workers} but at most {pool.peak_busy} task(s) "
                "ever ran at once: the extra capacity is unused (and would let a burst "
                "overload what the tasks call). Size it to the concurrency you want.",
            )
    for running in timeline.running:
        try:
            label = f"{timeline.pool(running.pool_id).label} #{running.pool_id}"
        except KeyError:
            label = f"#{running.pool_id}"
        when = (
            "still running at shutdown(wait=False)"
            if running.seen_at == "shutdown"
            else f"still running when the profile ended, {running.running_for:.1f} s after it "
            f"started (threshold {timeline.stuck_after:g} s)"
        )
        yield Lint(
            "stuck",
            label,
            f"task {running.task} on {running.thread_name} was {when}. Its stack:",
            running.stack,
        )
    for label, instances in sorted(timeline.pool_instances.items()):
        if instances >= POOL_PER_CALL_INSTANCES:
            yield Lint(
                "pool-per-call",
                label,
                f"{instances} pool instances were created with this label: a pool per call "
                "starts new threads every time and bounds nothing across calls. Create one "
                "pool at start-up and share it.",
            )


def _saturated_advice(verdict: str) -> str:
    if verdict == IO_BOUND:
        return (
            "The tasks mostly wait (I/O-bound): more workers would help, if what they call "
            "can take the load."
        )
    if verdict == CPU_BOUND:
        return "The tasks are CPU-bound: more threads will not help; use processes."
    return "See the what-if table for the effect of more workers."

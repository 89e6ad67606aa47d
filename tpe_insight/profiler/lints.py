"""Lints: patterns in a recorded timeline that usually mean the pool is misused or mis-sized.

Each lint has a code, a documented threshold (the module constants below) and a message that
says what to do. They are heuristics over one recording: a lint is a reason to look, not proof.

========================  ======================================================================
code                      fires when
========================  ======================================================================
``saturated``             queue wait ≥ ``SATURATED_WAIT_RATIO`` x run time in total, at least
                          ``SATURATED_MIN_WAIT_SECONDS`` of it, over at least ``MIN_TASKS``
                          started tasks: tasks spend longer waiting for a worker than working,
                          so the pool is the bottleneck (a ratio over microseconds is not).
                          The advice follows the model's work type.
``cpu-bound``             the model (:mod:`model`) calls the work GIL-bound (``gil``) over at
                          least ``MIN_CPU_BOUND_RUN_SECONDS`` of run time on a pool with more
                          than one worker: Python holds the GIL, threads cannot run it in
                          parallel.
``cpu-parallel``          the model calls the work GIL-free CPU (``cpu_parallel``) and
                          ``max_workers`` exceeds the cores available: threads scale to the
                          cores, no further.
``local-peer``            the model calls the work I/O (or mixed) and other processes on this
                          machine used the cores while the pool ran enough that, if they are
                          what its tasks wait on (a database on this machine), the speedup
                          turns from a point into "cannot tell" (``LocalPeer.changed_claim``):
                          says how many cores they used and the speedup's range.
``nested-wait``           a running task was blocked in ``Future.result()`` / ``wait()`` /
                          ``as_completed()`` while every worker of its pool was busy and a task
                          it submitted to that same pool was still queued: the child needs a
                          worker the parent holds, a deadlock in the making (the stdlib docs
                          warn about it). Seen where the recorder looks at running tasks (at
                          ``shutdown(wait=False)`` and when the profile is read).
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
                          still cover them, and the model reads them; the pictures see only the
                          sample, and the what-if is a range from the totals).
========================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tpe_insight.profiler.model import PoolModel

if TYPE_CHECKING:
    from tpe_insight.profiler.stats import Analysis
    from tpe_insight.profiler.timeline import Timeline

__all__ = [
    "MIN_CPU_BOUND_RUN_SECONDS",
    "MIN_TASKS",
    "OVERSIZED_FACTOR",
    "OVERSIZED_MIN_GAP",
    "POOL_PER_CALL_INSTANCES",
    "SATURATED_MIN_WAIT_SECONDS",
    "SATURATED_WAIT_RATIO",
    "Lint",
    "check",
]

#: Total queue wait ÷ total run time at or above which a pool is called saturated.
SATURATED_WAIT_RATIO = 1.0

#: Least total queue wait (seconds) for the saturation lint: ten microsecond tasks queued behind
#: each other have a huge wait/run ratio and no problem at all.
SATURATED_MIN_WAIT_SECONDS = 0.1

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
            "lanes, lifecycles and trace slices show only the sample, and the model, which reads "
            "the totals, cannot replay it (its what-if is a range). Raise "
            "profile(capacity=...) or --capacity for more detail.",
        )
    for pool in analysis.pools:
        label = f"{pool.record.label} #{pool.record.pool_id}"
        started = pool.run.count
        model = pool.model
        work_type = model.work_type if model is not None else "unknown"
        if (
            started >= MIN_TASKS
            and pool.run_total > 0
            and pool.wait.total >= SATURATED_MIN_WAIT_SECONDS
            and pool.wait.total >= SATURATED_WAIT_RATIO * pool.run_total
        ):
            yield Lint(
                "saturated",
                label,
                f"tasks waited {pool.wait.total / pool.run_total:.1f} s in the queue for every "
                f"1 s of running ({pool.wait.total:.2f} s in all, p95 wait "
                f"{pool.wait.p95 * 1000:.0f} ms): the pool is the bottleneck. "
                f"{_saturated_advice(model)}",
            )
        if (
            model is not None
            and pool.record.max_workers > 1
            and pool.run_total >= MIN_CPU_BOUND_RUN_SECONDS
            and work_type == "gil"
        ):
            rate = model.concurrent_cpu_rate or 0.0
            yield Lint(
                "cpu-bound",
                label,
                f"GIL-bound: the pool kept {rate:.2f} core(s) busy while "
                f"{model.mean_concurrency or 0:.1f} tasks ran, on {model.cores} core(s) "
                "available. Python code holding the GIL runs one thread at a time, so threads "
                "add overhead, not speed. Use a ProcessPoolExecutor, or code that releases "
                "the GIL (C extensions such as hashlib, zlib, sqlite3, numpy).",
            )
        if (
            model is not None
            and work_type == "cpu_parallel"
            and pool.run_total >= MIN_CPU_BOUND_RUN_SECONDS
            and pool.record.max_workers > model.cores
        ):
            yield Lint(
                "cpu-parallel",
                label,
                f"CPU in code that releases the GIL: threads scale to {model.cores} core(s) "
                f"here; more workers than cores will not help (max_workers="
                f"{pool.record.max_workers}).",
            )
        peer = model.local_peer if model is not None else None
        if (
            model is not None
            and peer is not None
            and peer.changed_claim
            and model.speedup.value is None
        ):
            yield Lint(
                "local-peer",
                label,
                f"other processes on this machine used {peer.other_cores:.1f} of {peer.cores} "
                "core(s) while this pool ran; if they are what its tasks wait on (a database or "
                "server on this machine), threads gain less than the waits suggest: speedup "
                f"x{model.speedup.low:.2f}-x{model.speedup.high:.2f}, and more workers will not "
                "help once those cores are full. tpe-insight sweep measures it.",
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
    yield from _nested_waits(timeline)
    for running in timeline.running:
        if running.seen_at != "shutdown" and running.running_for < timeline.stuck_after:
            continue  # recorded for the nested-wait lint only
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


def _nested_waits(timeline: Timeline) -> Iterator[Lint]:
    """One lint per (pool, blocked task), from the recorder's look at running tasks."""
    seen: set[tuple[int, str, int | None]] = set()
    for running in timeline.running:
        if running.blocked_in is None or not running.queued_children:
            continue
        try:
            record = timeline.pool(running.pool_id)
        except KeyError:
            continue
        if running.pool_running < record.max_workers:
            continue
        key = (running.pool_id, running.task, running.worker_id)
        if key in seen:
            continue
        seen.add(key)
        children = ", ".join(sorted(set(running.queued_children)))
        yield Lint(
            "nested-wait",
            f"{record.label} #{record.pool_id}",
            f"task {running.task} on {running.thread_name} was blocked in "
            f"{running.blocked_in}() while all {record.max_workers} worker(s) of its pool were "
            f"busy and the task(s) it submitted to that pool ({children}) were still queued: "
            "they need a worker it holds, a deadlock in the making. Submit them to another "
            "pool, or do not wait for them inside a task (return them, or chain with "
            "add_done_callback). Its stack:",
            running.stack,
        )


def _saturated_advice(model: PoolModel | None) -> str:
    work_type = model.work_type if model is not None else "unknown"
    if work_type == "io":
        return (
            "The tasks mostly wait (I/O): more workers would help, if what they call can take "
            "the load."
        )
    if work_type == "gil":
        return "The tasks are GIL-bound: more threads will not help; use processes."
    if work_type == "cpu_parallel" and model is not None:
        return (
            f"The tasks are GIL-free CPU: more workers help up to the {model.cores} core(s) "
            "available, no further."
        )
    return "See the what-if table for the effect of more workers."

"""What the OS says about a thread's waiting for a CPU core, and how many cores we may use.

The model (:mod:`tpe_insight.profiler.model`) must tell a thread that waited for a *core* (a
loaded machine: runnable, not running) from one that waited for the GIL or for I/O (asleep).
Thread CPU time cannot: both look like "run time minus CPU time". Linux keeps, per thread, the
nanoseconds it spent runnable on a run queue: the second field of
``/proc/self/task/<tid>/schedstat`` (``Documentation/scheduler/sched-stats.rst``). Reading it
is a file open and read (~10 µs), so the recorder reads it per *worker*, at the worker's start
and at its end (thread exit, or the end of the profile), never per task.

Everywhere else (macOS, Windows, a kernel without schedstats) the readers return None and the
model widens its ranges instead.
"""

from __future__ import annotations

import os

__all__ = ["available_cores", "read_own_run_queue_seconds", "read_run_queue_seconds"]


def available_cores() -> int:
    """CPU cores this process may run on: the affinity mask where the OS has one (a container
    or ``taskset`` limits it), else ``os.process_cpu_count`` (3.13) or ``os.cpu_count``."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return max(1, len(affinity(0)))
        except OSError:  # pragma: no cover - platform without a usable mask
            pass
    count = getattr(os, "process_cpu_count", os.cpu_count)()  # pragma: no cover
    return max(1, count or 1)  # pragma: no cover


def _parse(path: str) -> float | None:
    try:
        with open(path, "rb") as handle:
            fields = handle.read().split()
        return int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def read_run_queue_seconds(native_id: int) -> float | None:
    """Seconds thread ``native_id`` of this process has spent waiting on a run queue since it
    started, or None where the OS does not say (not Linux, thread gone, no schedstats)."""
    return _parse(f"/proc/self/task/{native_id}/schedstat")


def read_own_run_queue_seconds() -> float | None:
    """The same for the calling thread (``/proc/thread-self``: no thread id needed)."""
    return _parse("/proc/thread-self/schedstat")

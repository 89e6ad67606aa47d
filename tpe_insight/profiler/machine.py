"""What the machine's *other* processes did with our cores while a pool ran.

A task that waits on a socket looks like I/O to the model (:mod:`tpe_insight.profiler.model`):
the thread sleeps. When the other end is a server on this machine (a PostgreSQL on localhost),
that wait is the server's CPU work on the *same* cores, and at more workers each request waits
longer, not because the work grew but because the server's processes queue for a core. The
process cannot see the server's CPU, but on Linux it can see the machine's: ``/proc/stat`` has
per-CPU busy time, and the machine's busy time on our CPUs minus our own process's CPU time is
what every other process used of them. The model turns that into a bound
(docs/profiler-model.md, "A server on this machine").

Read cheaply: once at a pool's first worker start and once when its last worker ends (or when
the profile is read), never per task. Where ``/proc/stat`` is missing or unreadable (not Linux,
a sandbox) the reader returns None and the model says nothing new.

Only the CPUs this process may run on (``os.sched_getaffinity``) are counted: on a host with 64
CPUs and a container pinned to 2, the other 62 are someone else's and say nothing about ours.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from tpe_insight.profiler.timeline import MachineWindow

__all__ = [
    "PROC_STAT",
    "CpuReading",
    "affinity_cpus",
    "parse_proc_stat",
    "read_cpu",
    "window_between",
]

#: Where Linux keeps per-CPU time (``Documentation/filesystems/proc.rst``, "1.7 Miscellaneous
#: kernel statistics in /proc/stat").
PROC_STAT = "/proc/stat"

#: Fields of a ``cpuN`` line, in order: user nice system idle iowait irq softirq steal guest
#: guest_nice. Busy = user + nice + system + irq + softirq: what a process (or the kernel on its
#: behalf) ran. Idle and iowait are not work; steal is the hypervisor's, nobody's here; guest
#: time is already counted in user.
_BUSY_FIELDS = (0, 1, 2, 5, 6)


@dataclass(frozen=True)
class CpuReading:
    """One look at the machine: busy CPU seconds on our CPUs, and our own process's CPU."""

    #: Σ busy seconds since boot over the counted CPUs (``/proc/stat``, in clock ticks).
    busy_seconds: float
    #: This process's CPU seconds (all its threads: ``time.process_time``).
    own_seconds: float
    #: CPUs counted: the affinity CPUs that ``/proc/stat`` lists.
    cpus: int
    #: Seconds per clock tick: each CPU's busy time is known to one tick per reading.
    resolution: float


def parse_proc_stat(text: str, cpus: Collection[int] | None) -> tuple[float, int] | None:
    """Σ busy ticks over the ``cpuN`` lines of ``text`` whose N is in ``cpus`` (all if None),
    and how many lines were counted; None if no such line parses."""
    busy = 0
    counted = 0
    seen_cpu = False
    for line in text.splitlines():
        if not line.startswith("cpu"):
            if seen_cpu:
                break  # the cpu lines come first, together; the rest (intr, ...) is long
            continue
        seen_cpu = True
        if line.startswith("cpu "):
            continue  # the aggregate "cpu" line covers every CPU, ours or not
        name, _, rest = line.partition(" ")
        try:
            index = int(name[3:])
            if cpus is not None and index not in cpus:
                continue
            fields = rest.split()
            busy += sum(int(fields[i]) for i in _BUSY_FIELDS if i < len(fields))
        except ValueError:
            continue
        counted += 1
    return (float(busy), counted) if counted else None


def affinity_cpus() -> frozenset[int] | None:
    """The CPUs the calling thread may run on, or None where the OS has no affinity mask."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return frozenset(getter(0))
    except OSError:  # pragma: no cover - a platform without a usable mask
        return None


def _ticks_per_second() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        return 100.0


def read_cpu(
    *,
    path: str = PROC_STAT,
    cpus: Collection[int] | None = None,
    own: Callable[[], float] = time.process_time,
    opener: Callable[[str], str] | None = None,
) -> CpuReading | None:
    """Read the machine's busy time on our CPUs and our own CPU time; None where the OS does not
    say (no ``/proc/stat``, unreadable, no line for our CPUs). ``opener`` (a path to its text)
    and ``cpus`` let tests feed fixture text."""
    try:
        text = opener(path) if opener is not None else _read_text(path)
    except (OSError, UnicodeDecodeError):
        return None
    counted = parse_proc_stat(text, cpus if cpus is not None else affinity_cpus())
    if counted is None:
        return None
    ticks, count = counted
    tick = 1.0 / _ticks_per_second()
    return CpuReading(ticks * tick, own(), count, tick)


def _read_text(path: str) -> str:
    """The file's text through a raw descriptor: a third of the cost of ``open()`` in text mode
    (~15 µs here), which matters to a program that makes a pool per call."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("ascii", errors="replace")


def window_between(
    start: CpuReading, end: CpuReading, started_at: float, ended_at: float
) -> MachineWindow | None:
    """What the other processes used of our CPUs between two readings (taken at ``started_at``
    and ``ended_at`` on the pool's clock); None if the readings do not compare (the affinity
    changed in between, or the clock went backwards)."""
    if start.cpus != end.cpus or ended_at < started_at:
        return None
    busy = max(0.0, end.busy_seconds - start.busy_seconds)
    own = max(0.0, end.own_seconds - start.own_seconds)
    return MachineWindow(
        started_at=started_at,
        ended_at=ended_at,
        other_cpu_seconds=max(0.0, busy - own),
        own_cpu_seconds=own,
        cpus=start.cpus,
        resolution=start.resolution,
    )

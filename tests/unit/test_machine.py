"""The machine's CPU as /proc/stat tells it: parsing fixture text, affinity, "unavailable"."""

from __future__ import annotations

import pytest

from tpe_insight.profiler import machine
from tpe_insight.profiler.machine import CpuReading, parse_proc_stat, read_cpu, window_between

#: /proc/stat of a 4-CPU machine (fields: user nice system idle iowait irq softirq steal ...).
PROC_STAT = """\
cpu  4000 40 2000 90000 500 100 50 30 0 0
cpu0 1000 10 500 22500 125 25 15 5 0 0
cpu1 1100 10 400 22500 125 25 10 10 0 0
cpu2 900 10 600 22500 125 25 15 10 0 0
cpu3 1000 10 500 22500 125 25 10 5 0 0
intr 123456 0 0
ctxt 987654
btime 1700000000
processes 4242
procs_running 3
"""


def test_busy_counts_user_nice_system_irq_softirq_of_the_listed_cpus() -> None:
    """Idle, iowait and steal are not work; the aggregate "cpu" line is not a CPU of ours."""
    assert parse_proc_stat(PROC_STAT, None) == (
        (1000 + 10 + 500 + 25 + 15)
        + (1100 + 10 + 400 + 25 + 10)
        + (900 + 10 + 600 + 25 + 15)
        + (1000 + 10 + 500 + 25 + 10),
        4,
    )


def test_only_the_affinity_cpus_count() -> None:
    """A process pinned to CPUs 1 and 3 (a container on a bigger host) counts those two."""
    busy = (1100 + 10 + 400 + 25 + 10) + (1000 + 10 + 500 + 25 + 10)
    assert parse_proc_stat(PROC_STAT, {1, 3}) == (busy, 2)
    assert parse_proc_stat(PROC_STAT, {7}) is None


def test_short_and_garbled_lines() -> None:
    """An old kernel's shorter lines still parse; a garbled one is skipped, not fatal."""
    text = "cpu0 10 0 5 100\ncpuX 1 2 3\ncpu1 7 0 3 100 0 1 1\n"
    assert parse_proc_stat(text, None) == (10 + 5 + 7 + 3 + 1 + 1, 2)
    assert parse_proc_stat("intr 1 2 3\n", None) is None


def test_read_cpu_from_fixture_text() -> None:
    """Busy ticks become seconds (1/CLK_TCK); own CPU comes from the injected clock."""
    reading = read_cpu(cpus={0, 1}, own=lambda: 1.25, opener=lambda path: PROC_STAT)
    assert reading is not None
    ticks = (1000 + 10 + 500 + 25 + 15) + (1100 + 10 + 400 + 25 + 10)
    assert reading.busy_seconds == pytest.approx(ticks * reading.resolution)
    assert reading.own_seconds == 1.25
    assert reading.cpus == 2


def _missing(path: str) -> str:
    raise FileNotFoundError(path)


def test_unavailable_is_none() -> None:
    """No /proc (not Linux, a sandbox), or no line for our CPUs: None, never an error."""
    assert read_cpu(opener=_missing) is None
    assert read_cpu(path="/nonexistent/proc/stat") is None
    assert read_cpu(cpus={9}, opener=lambda path: PROC_STAT) is None


def test_window_is_the_machine_minus_this_process() -> None:
    """Over a window the other processes used the machine's busy time minus ours."""
    start = CpuReading(busy_seconds=100.0, own_seconds=2.0, cpus=2, resolution=0.01)
    end = CpuReading(busy_seconds=103.0, own_seconds=2.2, cpus=2, resolution=0.01)
    window = window_between(start, end, 10.0, 11.5)
    assert window is not None
    assert window.other_cpu_seconds == pytest.approx(2.8)
    assert window.own_cpu_seconds == pytest.approx(0.2)
    assert window.seconds == pytest.approx(1.5)
    # Our own CPU above the machine's tick-rounded busy time: never a negative "other".
    ours = CpuReading(busy_seconds=100.1, own_seconds=2.3, cpus=2, resolution=0.01)
    low = window_between(start, ours, 10.0, 10.5)
    assert low is not None
    assert low.other_cpu_seconds == 0.0
    # The affinity changed in between, or the clock went backwards: no window.
    assert window_between(start, CpuReading(103.0, 2.2, 3, 0.01), 10.0, 11.0) is None
    assert window_between(start, end, 11.0, 10.0) is None


def test_this_machine_reads_or_says_nothing() -> None:
    """On the test machine itself: a reading with at least one CPU, or None off Linux."""
    reading = machine.read_cpu()
    if reading is not None:
        assert reading.cpus >= 1
        assert reading.busy_seconds >= 0

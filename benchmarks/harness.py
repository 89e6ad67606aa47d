"""Interleaved rounds, sizes and result records shared by the benchmark modules.

pytest-benchmark times one call of each workload; inside that call :func:`interleave` runs every
configuration once per round, in an order that rotates from round to round, so slow drifts of
the machine (frequency, other processes, heap growth) hit every configuration alike. The
per-round values go into ``benchmark.extra_info["tpe"]``, which ``--benchmark-json`` saves and
``benchmarks/report.py`` turns into the table.

The garbage collector stays ON (it is a real part of the per-task cost, see DESIGN.md); each
timed section starts after a ``gc.collect()`` so that one configuration's garbage is not
collected on another's clock.

Sizes come from the environment so that ``make test`` can run every benchmark once, tiny:
``TPE_BENCH_SMOKE=1`` shrinks everything; ``TPE_BENCH_ROUNDS``, ``TPE_BENCH_TASKS``,
``TPE_BENCH_MEMORY_TASKS`` override single sizes.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.configs import BASELINE, Config

__all__ = [
    "Record",
    "env_int",
    "interleave",
    "interleave_configs",
    "record",
    "smoke",
    "summarise",
]

Record = dict[str, Any]


def smoke() -> bool:
    """True when the suite runs as a smoke test (tiny sizes, one round)."""
    return os.environ.get("TPE_BENCH_SMOKE", "") not in ("", "0")


def env_int(name: str, full: int, tiny: int) -> int:
    """``$name`` if set, else ``tiny`` in smoke mode, else ``full``."""
    value = os.environ.get(name)
    if value:
        return int(value)
    return tiny if smoke() else full


def rounds(full: int = 15) -> int:
    """Measured rounds per configuration (at least 15 for the budget figures)."""
    return env_int("TPE_BENCH_ROUNDS", full, 1)


def warmup_rounds() -> int:
    """Unrecorded rounds first: imports, thread creation, caches and allocator arenas."""
    return 0 if smoke() else 1


def interleave(
    names: Sequence[str],
    run_once: Callable[[str], float],
    n_rounds: int,
    *,
    warmup: int | None = None,
) -> dict[str, list[float]]:
    """Run ``run_once(name)`` for every name, ``n_rounds`` times, interleaved.

    Round ``r`` starts at name ``r mod len(names)``, so no configuration always runs first
    (right after a ``gc.collect()`` of the previous one's pool) or last.
    """
    if warmup is None:
        warmup = warmup_rounds()
    values: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + n_rounds):
        shift = r % len(names)
        for name in (*names[shift:], *names[:shift]):
            gc.collect()
            value = run_once(name)
            if r >= warmup:
                values[name].append(value)
    return values


def interleave_configs(
    configs: Sequence[Config],
    run_once: Callable[[Config], float],
    n_rounds: int,
) -> dict[str, list[float]]:
    """:func:`interleave` over configurations."""
    table = {config.name: config for config in configs}
    return interleave(list(table), lambda name: run_once(table[name]), n_rounds)


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(q1, median, q3) of ``values`` (inclusive method; a single value is its own spread)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def summarise(values: dict[str, list[float]], baseline: str | None = BASELINE) -> Record:
    """Median, IQR, min/max per config, and the ratio to the baseline's median.

    ``paired_ratio`` is the median over rounds of (config / baseline in the same round), a
    second estimate that is less sensitive to drifts slower than a round.
    """
    out: Record = {}
    base = values.get(baseline) if baseline else None
    base_median = statistics.median(base) if base else None
    for name, series in values.items():
        q1, median, q3 = quartiles(series)
        entry: Record = {
            "median": median,
            "q1": q1,
            "q3": q3,
            "min": min(series),
            "max": max(series),
            "rounds": len(series),
        }
        if base and base_median:
            entry["ratio"] = median / base_median
            entry["paired_ratio"] = statistics.median(
                v / b for v, b in zip(series, base, strict=False)
            )
        out[name] = entry
    return out


def record(
    workload: str,
    title: str,
    unit: str,
    values: dict[str, list[float]],
    *,
    baseline: str | None = BASELINE,
    params: dict[str, Any] | None = None,
    notes: str = "",
    extra: dict[str, Any] | None = None,
    compare: str = "ratio",
) -> Record:
    """The JSON-able result of one workload, as ``report.py`` reads it.

    ``compare`` tells the report what to show against the baseline: ``"ratio"`` (pool
    workloads) or ``"delta"`` (added time per task, for the hook micro-benchmark, whose
    baseline is a bare call).
    """
    return {
        "workload": workload,
        "title": title,
        "unit": unit,
        "baseline": baseline,
        "params": params or {},
        "values": values,
        "summary": summarise(values, baseline),
        "notes": notes,
        "compare": compare,
        "extra": extra or {},
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "gc_enabled": gc.isenabled(),
    }

"""The vocabulary: the names every room uses for the same things, defined once.

As ``structlog.typing`` does for structlog: the outcomes, rejection reasons, CPU-time modes and
work-type verdicts are ``Literal`` types (so mypy checks a misspelt ``"sucess"``) and module
constants (so the per-task path stores one shared string, never a new one). ``Clock`` and
``SinkLike`` are the two seams a user plugs into. This module imports nothing from the package,
so any module may import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal, Protocol, TypeAlias

__all__ = [
    "ALL_OUTCOMES",
    "CANCELLED",
    "CPU_BOUND",
    "CPU_TIMES",
    "ERROR",
    "IO_BOUND",
    "MIXED",
    "NOT_RUN",
    "NO_VERDICT",
    "OUTCOMES",
    "REJECT_REASONS",
    "SUCCESS",
    "WORK_TYPES",
    "Clock",
    "CpuTime",
    "Outcome",
    "RejectReason",
    "SinkLike",
    "SpanOutcome",
    "Verdict",
    "WorkType",
]

#: How a task ended, as the ``outcome`` label of ``tpe_tasks_finished_total`` names it.
Outcome: TypeAlias = Literal["success", "error", "cancelled"]
#: How a recorded span ended: an :data:`Outcome`, or ``not_run`` for a task that a broken pool
#: failed before it ran (the metrics count it as ``error``; the profiler tells them apart).
SpanOutcome: TypeAlias = Literal["success", "error", "cancelled", "not_run"]
#: Why ``submit`` raised (the ``reason`` label of ``tpe_tasks_rejected_total``).
RejectReason: TypeAlias = Literal["shutdown", "broken"]
#: The ``cpu_time=`` option of the executor.
CpuTime: TypeAlias = Literal["fast", "exact", "off"]
#: The CPU-share verdict on a pool's or a task's work ("-" when nothing ran): the report's
#: badges; the profiler's claims use :data:`WorkType` (profiler/model.py).
Verdict: TypeAlias = Literal["I/O-bound", "CPU-bound", "mixed", "-"]
#: The profiler model's kind of work (docs/profiler-model.md): I/O-bound, GIL-bound CPU, CPU in
#: GIL-free code, mixed, or cannot tell.
WorkType: TypeAlias = Literal["io", "gil", "cpu_parallel", "mixed", "unknown"]

SUCCESS: Final = "success"
ERROR: Final = "error"
CANCELLED: Final = "cancelled"
NOT_RUN: Final = "not_run"

#: The metric outcomes, in exposition order.
OUTCOMES: Final[tuple[Outcome, ...]] = (SUCCESS, ERROR, CANCELLED)
#: The span outcomes, in the order summaries list them.
ALL_OUTCOMES: Final[tuple[SpanOutcome, ...]] = (SUCCESS, ERROR, CANCELLED, NOT_RUN)
REJECT_REASONS: Final[tuple[RejectReason, ...]] = ("shutdown", "broken")
CPU_TIMES: Final[tuple[CpuTime, ...]] = ("fast", "exact", "off")
WORK_TYPES: Final[tuple[WorkType, ...]] = ("io", "gil", "cpu_parallel", "mixed", "unknown")

IO_BOUND: Final = "I/O-bound"
CPU_BOUND: Final = "CPU-bound"
MIXED: Final = "mixed"
NO_VERDICT: Final = "-"

#: A time source in seconds (``time.perf_counter``, ``time.thread_time``, or a test's fake).
Clock: TypeAlias = Callable[[], float]


class SinkLike(Protocol):
    """What ``sinks=`` accepts: any object with at least one of the event methods of
    :class:`tpe_insight.Sink` (checked at construction; see ``tpe_insight.events.EVENTS``).

    A Protocol with no required member cannot express "at least one of", so this is the
    documented shape rather than a structural check; ``object`` would say even less.
    """

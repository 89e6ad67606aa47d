"""The vocabulary: each Literal and its constants name the same values, used across rooms."""

from __future__ import annotations

from typing import get_args

from tpe_insight import typing as t
from tpe_insight.metrics.catalogue import METRICS
from tpe_insight.profiler.stats import verdict
from tpe_insight.profiler.timeline import Timeline


def test_literals_and_constants_agree() -> None:
    """A value added to a Literal but not to its tuple (or the reverse) fails here."""
    assert get_args(t.Outcome) == t.OUTCOMES == ("success", "error", "cancelled")
    assert get_args(t.SpanOutcome) == t.ALL_OUTCOMES == (*t.OUTCOMES, "not_run")
    assert get_args(t.RejectReason) == t.REJECT_REASONS == ("shutdown", "broken")
    assert get_args(t.CpuTime) == t.CPU_TIMES == ("fast", "exact", "off")
    assert set(get_args(t.Verdict)) == {t.IO_BOUND, t.CPU_BOUND, t.MIXED, t.NO_VERDICT}
    assert get_args(t.WorkType) == t.WORK_TYPES


def test_the_rooms_use_the_vocabulary() -> None:
    """The profiler's span outcomes and the metric help texts name the same outcomes."""
    assert tuple(Timeline().counts()) == t.ALL_OUTCOMES
    help_text = METRICS["tpe_tasks_finished_total"][2]
    assert all(f"{outcome}" in help_text for outcome in t.OUTCOMES)
    assert all(reason in METRICS["tpe_tasks_rejected_total"][2] for reason in t.REJECT_REASONS)


def test_verdicts_are_verdict_values() -> None:
    """Every verdict the profiler gives is one of the Verdict values."""
    seen = {verdict(share, load) for share in (0.0, 0.5, 0.9) for load in (0.0, 0.5, 0.9)}
    seen.add(verdict(float("nan")))
    assert seen == set(get_args(t.Verdict))

"""The profiler's data model: spans' derived times, counts per outcome, the dict round trip."""

from __future__ import annotations

import pytest

from tpe_insight.profiler.timeline import (
    CANCELLED,
    ERROR,
    NOT_RUN,
    SUCCESS,
    PoolRecord,
    Span,
    Timeline,
)


def _span(outcome: str, submitted: float | None, started: float | None, ended: float) -> Span:
    return Span(1, "t", outcome, submitted, started, ended, 0.0, None, None)  # type: ignore[arg-type]


def test_span_times() -> None:
    ran = _span(SUCCESS, 1.0, 1.5, 3.0)
    assert (ran.queue_wait, ran.run_seconds) == (0.5, 1.5)
    never_ran = _span(CANCELLED, None, None, 4.0)
    assert (never_ran.queue_wait, never_ran.run_seconds) == (None, 0.0)
    cancelled_with_submit = _span(CANCELLED, 1.0, None, 4.0)
    assert cancelled_with_submit.queue_wait == 3.0


def test_counts_have_every_outcome() -> None:
    timeline = Timeline(
        [PoolRecord(1, "p", 1, 0.0), PoolRecord(2, "q", 1, 0.0)],
        spans=[_span(SUCCESS, 0, 0, 1), _span(ERROR, 0, 0, 1), _span(NOT_RUN, None, None, 1)],
    )
    assert timeline.counts() == {SUCCESS: 1, ERROR: 1, CANCELLED: 0, NOT_RUN: 1}
    assert timeline.counts(2) == dict.fromkeys((SUCCESS, ERROR, CANCELLED, NOT_RUN), 0)
    assert timeline.pool(2).label == "q"
    with pytest.raises(KeyError):
        timeline.pool(3)


def test_dict_round_trip_and_malformed_input() -> None:
    timeline = Timeline([PoolRecord(1, "p", 2, 0.0, 5.0)], spans=[_span(SUCCESS, 0, 1, 2)])
    assert Timeline.from_dict(timeline.to_dict()) == timeline
    with pytest.raises(ValueError, match="malformed timeline"):
        Timeline.from_dict({"pools": [[1]]})

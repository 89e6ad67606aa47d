"""The terminal summary and the shared number formats."""

from __future__ import annotations

import math

from tpe_insight.profiler._format import format_ms, format_seconds
from tpe_insight.profiler.text import render_summary
from tpe_insight.profiler.timeline import PoolRecord, Span, Timeline


def test_format_seconds_and_ms() -> None:
    assert [format_seconds(v) for v in (2.5, 0.0456, 0.000789, math.nan)] == [
        "2.50 s",
        "45.6 ms",
        "789 µs",
        "-",
    ]
    assert [format_ms(v) for v in (0.25, 0.0025, 0.000025, math.nan)] == [
        "250",
        "2.5",
        "0.025",
        "-",
    ]


def test_summary_headline_counts_and_pool() -> None:
    spans = [
        Span(1, "job", "success", 0.0, 0.0, 1.0, 0.0, 1, "M"),
        Span(1, "job", "error", 0.0, 1.0, 2.0, 0.0, 1, "M", "ValueError", "x"),
    ]
    text = render_summary(Timeline([PoolRecord(1, "pool-a", 1, 0.0, 2.0)], spans=spans))
    first = text.splitlines()[0]
    assert first.startswith("tpe-insight: 1 pool(s), 2 task(s)")
    assert "pool-a" in text and "job" in text


def test_summary_of_nothing() -> None:
    assert render_summary(Timeline()).startswith("tpe-insight: 0 pool(s), 0 task(s)")

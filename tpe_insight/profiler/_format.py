"""Number formatting shared by the terminal summary and the HTML report (one room, so the two
outputs cannot disagree on how a duration reads, and neither borrows from the other)."""

from __future__ import annotations

import math

__all__ = ["format_ms", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``1.23 s``, ``45.6 ms``, ``789 µs`` or ``-`` for NaN."""
    if math.isnan(seconds):
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def format_ms(seconds: float) -> str:
    """Milliseconds with adaptive precision, ``-`` for NaN (table cells)."""
    if math.isnan(seconds):
        return "-"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 1:
        return f"{ms:.1f}"
    return f"{ms:.3f}"

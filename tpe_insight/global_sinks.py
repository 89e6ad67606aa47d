"""Sinks attached to every pool created from now on (the profiler uses this).

A pool reads this list once, when it is constructed, so the per-task path never looks here.
"""

from __future__ import annotations

import os
import threading

__all__ = ["active", "add", "remove"]

_sinks: tuple[object, ...] = ()
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it during the fork


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_after_fork_in_child)


def add(sink: object) -> None:
    """Attach ``sink`` to every pool constructed after this call."""
    global _sinks
    with _lock:
        if sink not in _sinks:
            _sinks = (*_sinks, sink)


def remove(sink: object) -> None:
    """Stop attaching ``sink`` to new pools (pools that already have it keep it)."""
    global _sinks
    with _lock:
        _sinks = tuple(s for s in _sinks if s is not sink)


def active() -> tuple[object, ...]:
    """The sinks to attach to a pool being constructed now."""
    return _sinks

"""The one at-fork registry: what each module must renew in a child process after ``os.fork()``.

The child of a fork has only the thread that forked. A lock that another thread held at that
moment stays held forever in the child, and state describing the parent's workers (queued and
running tasks, live gauges) describes threads that do not exist there. Each module that owns
such state registers a function here; one ``os.register_at_fork`` hook runs them in
registration order.

The hook is installed lazily, by the first pool (or ``install()``, or a global sink), not at
import: ``import tpe_insight`` (e.g. for ``tpe-insight report``) has no side effect on the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

__all__ = ["ensure_installed", "on_fork_in_child"]

_renewals: list[Callable[[], None]] = []
_installed = False
_install_lock = threading.Lock()


def on_fork_in_child(renew: Callable[[], None]) -> Callable[[], None]:
    """Register ``renew`` to run in the child after a fork; usable as a decorator."""
    _renewals.append(renew)
    return renew


def ensure_installed() -> None:
    """Install the one at-fork hook, once per process (POSIX only; a no-op elsewhere)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed or not hasattr(os, "register_at_fork"):
            return
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _installed = True


def _after_fork_in_child() -> None:
    global _install_lock
    _install_lock = threading.Lock()
    for renew in _renewals:
        renew()

"""Which sinks get which event, decided once per pool; isolation of failing sinks; global sinks.

A pool works out at construction which of its sinks implement which events (:class:`Hooks`), so
the per-task path is a loop over a tuple that is usually empty, and a :class:`Sink` method left
as inherited costs nothing. Every call is isolated: an exception in a sink is counted in
``tpe_instrumentation_errors_total``, reported once per sink class and event through the stdlib
``logging`` logger ``tpe_insight`` (not through structlog, which may be the thing failing), and
never reaches the task, its future or the worker thread.

Global sinks are attached to every pool constructed while they are registered (the profiler and
``tpe_insight.testing`` use them). A pool reads them once, when it is constructed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from tpe_insight import _fork
from tpe_insight.events import EVENTS, Sink

__all__ = [
    "Hooks",
    "active",
    "add",
    "dispatch",
    "remove",
    "report_failure",
    "validate_sinks",
]

_log = logging.getLogger("tpe_insight")

Hook = Callable[..., None]


class ErrorCounter(Protocol):
    """Where a pool counts its instrumentation errors (its metric series)."""

    def instrumentation_error(self, component: str) -> None: ...


class Hooks:
    """For each event, the bound methods of the sinks that implement it; built once per pool."""

    __slots__ = EVENTS

    pool_created: tuple[Hook, ...]
    worker_started: tuple[Hook, ...]
    initializer_failed: tuple[Hook, ...]
    task_submitted: tuple[Hook, ...]
    task_rejected: tuple[Hook, ...]
    task_started: tuple[Hook, ...]
    task_finished: tuple[Hook, ...]
    task_not_run: tuple[Hook, ...]
    callback_failed: tuple[Hook, ...]
    pool_shutdown: tuple[Hook, ...]

    def __init__(self, sinks: Iterable[object]) -> None:
        sinks = tuple(sinks)
        for event in EVENTS:
            found = (_implemented(sink, event) for sink in sinks)
            setattr(self, event, tuple(hook for hook in found if hook is not None))


def _implemented(sink: object, event: str) -> Hook | None:
    """The sink's bound method for ``event``, or None when it does not implement it.

    A :class:`Sink` subclass that leaves a method as inherited does not implement it, so the pool
    never pays for calling a no-op.
    """
    method = getattr(sink, event, None)
    if method is None:
        return None
    if not callable(method):
        raise TypeError(f"sinks: {type(sink).__name__}.{event} is not callable")
    if getattr(method, "__func__", None) is getattr(Sink, event):
        return None  # inherited (or deliberately re-bound) no-op: not implemented
    return method  # type: ignore[no-any-return]


def validate_sinks(sinks: object) -> tuple[object, ...]:
    """Check the ``sinks=`` option: an iterable of objects implementing at least one event."""
    if isinstance(sinks, (str, bytes)) or not isinstance(sinks, Iterable):
        raise TypeError(f"sinks must be an iterable of sink objects, not {type(sinks).__name__}")
    result = tuple(sinks)
    for sink in result:
        if not any(callable(getattr(sink, event, None)) for event in EVENTS):
            raise TypeError(
                f"sinks: {sink!r} implements none of the sink events ({', '.join(EVENTS)})"
            )
    return result


# -- isolation --------------------------------------------------------------------------------

_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()


def report_failure(counter: ErrorCounter | None, where: object, exc: BaseException) -> None:
    """Count a failure of the instrumentation itself; log it once per (component class, event).

    Called from ``except`` blocks around sink calls; it must never raise, so it guards itself.
    """
    try:
        component = getattr(where, "__self__", where)
        name = getattr(where, "__name__", "?")
        if counter is not None:
            counter.instrumentation_error(type(component).__name__)
        # Keyed by the component's class, not the instance: a program that builds a pool (and
        # its sinks) per request must not log per request, nor grow this set per instance; and
        # an id() could be reused by a later, different component and silence its first report.
        cls = type(component)
        key = (f"{cls.__module__}.{cls.__qualname__}", name)
        with _reported_lock:
            first = key not in _reported
            _reported.add(key)
        if first:
            _log.warning(
                "tpe_insight: %s.%s raised %s; the task is unaffected. Further failures of this"
                " component are counted in tpe_instrumentation_errors_total, not logged.",
                type(component).__name__,
                name,
                type(exc).__name__,
                exc_info=exc,
            )
    except Exception:  # pragma: no cover - last line of defence, nothing left to report to
        pass


def dispatch(counter: ErrorCounter | None, hooks: tuple[Hook, ...], *args: Any) -> None:
    """Call each hook with ``args``, isolating failures. Used off the per-task hot path."""
    for hook in hooks:
        try:
            hook(*args)
        except Exception as exc:
            report_failure(counter, hook, exc)


def forget_reported() -> None:
    """Log the next failure of every component again (``tpe_insight.testing.reset()``)."""
    with _reported_lock:
        _reported.clear()


# -- global sinks -----------------------------------------------------------------------------

_sinks: tuple[object, ...] = ()
_sinks_lock = threading.Lock()


def add(sink: object) -> None:
    """Attach ``sink`` to every pool constructed after this call."""
    global _sinks
    _fork.ensure_installed()
    with _sinks_lock:
        if sink not in _sinks:
            _sinks = (*_sinks, sink)


def remove(sink: object) -> None:
    """Stop attaching ``sink`` to new pools (pools that already have it keep it)."""
    global _sinks
    with _sinks_lock:
        _sinks = tuple(s for s in _sinks if s is not sink)


def active() -> tuple[object, ...]:
    """The sinks to attach to a pool being constructed now."""
    return _sinks


def clear() -> None:
    """Detach every global sink (``tpe_insight.testing.reset()``)."""
    global _sinks
    with _sinks_lock:
        _sinks = ()


@_fork.on_fork_in_child
def _renew_locks() -> None:
    global _reported_lock, _sinks_lock
    _reported_lock = threading.Lock()
    _sinks_lock = threading.Lock()

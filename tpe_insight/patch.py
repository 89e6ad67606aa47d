"""``install()`` / ``uninstall()``: instrument code that never imports tpe_insight.

``install()`` instruments ``concurrent.futures.ThreadPoolExecutor`` **in place**: it replaces
the class's own ``__init__``, ``submit`` and ``shutdown`` with instrumented ones, and
``uninstall()`` puts back the exact original function objects. Why in place rather than
replacing the name ``concurrent.futures.ThreadPoolExecutor`` with our subclass:

* classes that subclassed the stdlib class *before* ``install()`` (dask's, s3transfer's, a
  user's own) are covered: their ``__init__``/``submit`` reach the stdlib methods through
  ``super()``, which are now the instrumented ones;
* ``isinstance(x, concurrent.futures.ThreadPoolExecutor)`` stays true for every pool, whenever
  it was made, and ``loop.set_default_executor()`` (which checks exactly that) keeps working;
* ``from concurrent.futures import ThreadPoolExecutor`` done before ``install()`` still gets
  instrumented pools.

Rules:

* Pools created *before* ``install()`` run untouched: the instrumented ``submit`` and
  ``shutdown`` pass straight through to the originals for a pool that was not instrumented at
  construction.
* ``tpe_insight.ThreadPoolExecutor`` calls the original stdlib functions itself, so its tasks are
  recorded once, installed or not.
* Pools created while installed keep their instrumentation state after ``uninstall()``, but
  their ``submit`` is the stdlib's again: new tasks are not recorded; the pool's gauges close
  when it is collected.
* **Calls nest**: each ``install()`` needs one ``uninstall()``; the class is restored when the
  last one runs, so a library (or ``profile(patch_stdlib=True)``) that installs and uninstalls
  around its own work never switches off an ``install()`` the program made. ``installed()`` is
  true while at least one ``install()`` is in effect. An ``uninstall()`` without a matching
  ``install()`` is a no-op.
* ``install(metrics=False)`` instruments without the Prometheus metrics (the pools still feed
  every sink: the profiler, ``tpe_insight.testing``). What ``tpe-insight run`` uses by default,
  since nothing scrapes a short profiled run (design note 36). Pools get metrics when **any**
  ``install()`` in effect asked for them (a program that calls ``install()`` itself under
  ``tpe-insight run`` keeps its metrics); an ``uninstall()`` undoes the most recent ``install()``
  still in effect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from tpe_insight import _fork
from tpe_insight.executor import StdlibThreadPoolExecutor, ThreadPoolExecutor

__all__ = ["install", "installed", "uninstall"]

T = TypeVar("T")

_lock = threading.Lock()
_depth = 0
#: The ``metrics`` option of each install() in effect, innermost last (len == _depth).
_metrics_stack: list[bool] = []
#: Whether pools constructed now through the stdlib get metrics: any install() in effect asked.
_metrics = True
#: The stdlib class's own functions, captured at install time, restored by the last uninstall.
_saved: dict[str, Any] = {}
_PATCHED = ("__init__", "submit", "shutdown")


@_fork.on_fork_in_child
def _renew_lock() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it during the fork


# The replacements. Each one passes through to the original for our own class (which calls the
# originals itself: no double records) and, for submit/shutdown, for pools made before install.
# The names stay ``__init__`` etc. on purpose: the pool-label lookup skips ``__init__`` frames
# of executors to find the code that created the pool.


def __init__(self: StdlibThreadPoolExecutor, *args: Any, **kwargs: Any) -> None:
    if isinstance(self, ThreadPoolExecutor):
        _saved["__init__"](self, *args, **kwargs)
    else:
        ThreadPoolExecutor.__init__(self, *args, metrics=_metrics, **kwargs)  # type: ignore[arg-type]


def submit(
    self: StdlibThreadPoolExecutor, fn: Callable[..., T], /, *args: Any, **kwargs: Any
) -> Future[T]:
    if isinstance(self, ThreadPoolExecutor) or "_tpe" not in vars(self):
        result: Future[T] = _saved["submit"](self, fn, *args, **kwargs)
        return result
    return ThreadPoolExecutor.submit(self, fn, *args, **kwargs)  # type: ignore[arg-type]


def shutdown(
    self: StdlibThreadPoolExecutor, wait: bool = True, *, cancel_futures: bool = False
) -> None:
    if isinstance(self, ThreadPoolExecutor) or "_tpe" not in vars(self):
        _saved["shutdown"](self, wait, cancel_futures=cancel_futures)
    else:
        ThreadPoolExecutor.shutdown(self, wait, cancel_futures=cancel_futures)  # type: ignore[arg-type]


_REPLACEMENTS: dict[str, Callable[..., Any]] = {
    "__init__": __init__,
    "submit": submit,
    "shutdown": shutdown,
}


def install(*, metrics: bool = True) -> None:
    """Instrument ``concurrent.futures.ThreadPoolExecutor`` (and every subclass) in place.

    Calls nest: each ``install()`` is undone by one :func:`uninstall`. ``metrics=False``: pools
    constructed through the stdlib while only such installs are in effect export no Prometheus
    metrics (their events still reach every sink).
    """
    global _depth, _metrics
    if not isinstance(metrics, bool):
        raise TypeError(f"metrics must be True or False, not {metrics!r}")
    _fork.ensure_installed()
    with _lock:
        _depth += 1
        _metrics_stack.append(metrics)
        _metrics = any(_metrics_stack)
        if _depth > 1:
            return
        for name in _PATCHED:
            original = vars(StdlibThreadPoolExecutor)[name]
            _saved[name] = original
            replacement = _REPLACEMENTS[name]
            replacement.__doc__ = original.__doc__
            replacement.__qualname__ = original.__qualname__
            replacement.__wrapped__ = original  # type: ignore[attr-defined]
            setattr(StdlibThreadPoolExecutor, name, replacement)


def uninstall() -> None:
    """Undo one :func:`install`; the last one restores the original functions exactly.

    A no-op when not installed.
    """
    global _depth, _metrics
    with _lock:
        if _depth == 0:
            return
        _depth -= 1
        _metrics_stack.pop()
        _metrics = any(_metrics_stack) or not _metrics_stack
        if _depth:
            return
        for name in _PATCHED:
            setattr(StdlibThreadPoolExecutor, name, _saved[name])


def installed() -> bool:
    """Whether at least one ``install()`` is in effect."""
    return _depth > 0

"""``install()`` / ``uninstall()``: instrument code that never imports tpe_insight.

``install()`` replaces the name ``ThreadPoolExecutor`` in ``concurrent.futures`` and in
``concurrent.futures.thread``. Code that looks the class up at call time, as asyncio's default
executor does (``loop.run_in_executor(None, ...)``, ``asyncio.to_thread``), gets the instrumented
one. Code that did ``from concurrent.futures import ThreadPoolExecutor`` *before* ``install()``
keeps the class it imported; run ``install()`` first (``tpe-insight run`` does).

``uninstall()`` puts back exactly what was there, including the absence of the attribute
(``concurrent.futures`` resolves the name lazily, through a module ``__getattr__``).
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread
import threading
from types import ModuleType
from typing import Any

from tpe_insight import _fork
from tpe_insight.executor import StdlibThreadPoolExecutor, ThreadPoolExecutor

__all__ = ["install", "installed", "uninstall"]

_MISSING = object()
_lock = threading.Lock()
_saved: dict[str, Any] | None = None
_MODULES: tuple[ModuleType, ...] = (concurrent.futures, concurrent.futures.thread)


@_fork.on_fork_in_child
def _renew_lock() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it during the fork


def install(executor_class: type[StdlibThreadPoolExecutor] = ThreadPoolExecutor) -> None:
    """Make ``concurrent.futures.ThreadPoolExecutor`` the instrumented class. Idempotent."""
    global _saved
    if not (isinstance(executor_class, type) and issubclass(executor_class, ThreadPoolExecutor)):
        raise TypeError(
            "install() takes tpe_insight.ThreadPoolExecutor or a subclass of it, "
            f"not {executor_class!r}"
        )
    _fork.ensure_installed()
    with _lock:
        if _saved is None:
            _saved = {m.__name__: vars(m).get("ThreadPoolExecutor", _MISSING) for m in _MODULES}
        for module in _MODULES:
            module.ThreadPoolExecutor = executor_class  # type: ignore[attr-defined]


def uninstall() -> None:
    """Restore what ``install()`` replaced. A no-op when not installed."""
    global _saved
    with _lock:
        if _saved is None:
            return
        for module in _MODULES:
            original = _saved[module.__name__]
            if original is _MISSING:
                vars(module).pop("ThreadPoolExecutor", None)
            else:
                module.ThreadPoolExecutor = original  # type: ignore[attr-defined]
        _saved = None


def installed() -> bool:
    """Whether ``install()`` is in effect."""
    return _saved is not None

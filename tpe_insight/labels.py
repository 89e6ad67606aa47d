"""Label values: cleaning user strings, capping label sets, the pool, task and exception labels.

Labels are the cardinality of every metric, so each rule here exists to keep the number of time
series bounded whatever the program does: pools are named by *where* they are created (never by
instance), tasks by *what* they run (capped per pool), exceptions by class (capped per pool).

Every user string (pool, task, exception, thread name, exception message) is cleaned once, here:
control characters, ANSI escapes, bidi overrides and lone surrogates replaced, length capped, so
that no name can break the exposition format, a JSON log line, a terminal, a trace file or an
HTML report, nor reorder what a reader sees (U+202E). :class:`CappedLabels` is the one rule for
"at most N distinct values, the rest are ``other``" that the collector, the multiprocess metrics
and the executor share.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

__all__ = [
    "ALL_TASKS",
    "MAX_EXCEPTION_LABELS",
    "MAX_LABEL_LENGTH",
    "MAX_POOL_LABELS",
    "MAX_TASK_LABELS",
    "OTHER",
    "UNKNOWN_POOL",
    "CappedLabels",
    "call_site_label",
    "clean",
    "exception_label",
    "task_label",
    "thread_name",
    "validate_pool_name",
]

#: Longest label value we emit; longer values are cut and marked with "…".
MAX_LABEL_LENGTH = 120

#: The task label for tasks beyond the per-pool cap (and the pool label beyond the registry's).
OTHER = "other"

#: Distinct pool labels per registry; pools with further labels are counted as ``other``. Call
#: sites bound the labels of unnamed pools, but a ``thread_name_prefix`` (or ``name``) holding a
#: request or job id would otherwise add series per request.
MAX_POOL_LABELS = 100

#: Default per-pool caps on distinct ``task`` and ``exception`` label values (the executor's
#: ``max_task_labels`` / ``max_exception_labels``): the one place these defaults live.
MAX_TASK_LABELS = 50
MAX_EXCEPTION_LABELS = 20

#: The task label used for every task when task labels are switched off.
ALL_TASKS = "all"

#: The pool label when even the call site cannot be found (e.g. created from C code).
UNKNOWN_POOL = "unknown"

# Modules whose frames are skipped when looking for the code that created a pool: our own and the
# stdlib's executor plumbing, so the label names the user's call site.
_SKIPPED_MODULE_PREFIXES = ("tpe_insight.", "concurrent.futures")
_SKIPPED_MODULES = frozenset({"tpe_insight", "contextlib", "functools"})

# C0 and C1 control characters plus DEL become "?" so labels stay on one line everywhere (ESC is
# a C0 control, so no ANSI escape sequence survives); so do the bidi embedding, override and
# isolate controls and the implicit marks, which can make a label read backwards in a terminal
# or a report (U+202E), and the line / paragraph separators, which break lines in viewers.
_REPLACED = [
    *range(0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    *range(0x2028, 0x202F),
    *range(0x2066, 0x206A),
]
_CONTROL_TABLE = dict.fromkeys(_REPLACED, "?")


def clean(value: str, limit: int = MAX_LABEL_LENGTH) -> str:
    """Return ``value`` safe to use as a label: one line, valid UTF-8, at most ``limit`` chars.

    Lone surrogates (possible in ``str`` but not encodable as UTF-8) are replaced, so a hostile
    name cannot make the exposition or a JSON writer raise. Printable ASCII, the usual case, is
    returned after two C-level checks.
    """
    if not value.isascii() or not value.isprintable():
        value = value.translate(_CONTROL_TABLE)
        value = value.encode("utf-8", "replace").decode("utf-8")
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


def thread_name(name: object) -> str:
    """A thread's name, cleaned like any label: it comes from ``thread_name_prefix`` or user code
    and ends up in logs, traces and reports."""
    return clean(name if isinstance(name, str) else repr(name))


class CappedLabels:
    """At most ``cap`` distinct label values; past it, every new value reads as :data:`OTHER`.

    The one implementation of "cap a label under a lock" (pool labels per registry, task and
    exception labels per pool, in-process and multiprocess alike). :meth:`get` is lock-free for
    a value already admitted (a dict lookup: atomic in both CPython builds); only a new value
    takes the lock. ``other`` itself never counts against the cap.
    """

    __slots__ = ("_lock", "_values", "cap")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._values: dict[str, None] = {}
        self._lock = threading.Lock()

    def get(self, label: str) -> str:
        """``label`` if it is known or there is room for it, else :data:`OTHER`."""
        if label in self._values or label == OTHER:
            return label
        with self._lock:
            if label in self._values:
                return label
            if len(self._values) >= self.cap:
                return OTHER
            self._values[label] = None
            return label

    def __contains__(self, label: object) -> bool:
        return label in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def renew_lock(self) -> None:
        """A fresh lock, for a forked child (another thread may have held the old one)."""
        self._lock = threading.Lock()


def validate_pool_name(name: object) -> str:
    """Check a user-given ``name=`` and return it; raise naming the option if it is unusable.

    The explicit name is the one label a user chooses, so we reject rather than silently mangle
    it: an empty, over-long or multi-line name is almost certainly a bug in the caller.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name or not name.strip():
        raise ValueError("name must be a non-empty string")
    if len(name) > MAX_LABEL_LENGTH:
        raise ValueError(f"name must be at most {MAX_LABEL_LENGTH} characters, got {len(name)}")
    if not name.isprintable():
        raise ValueError(f"name must not contain control characters: {name!r}")
    return name


def call_site_label(start: FrameType | None = None) -> str:
    """Name the code that created a pool as ``module:function``.

    This is what makes ``with ThreadPoolExecutor():`` inside a request handler produce one time
    series per handler instead of one per request.
    """
    frame: FrameType | None = start if start is not None else sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not isinstance(module, str):
            module = ""
        if module in _SKIPPED_MODULES or module.startswith(_SKIPPED_MODULE_PREFIXES):
            frame = frame.f_back
            continue
        return clean(f"{module or '?'}:{frame.f_code.co_name}")
    return UNKNOWN_POOL


def task_label(fn: Callable[..., Any]) -> str:
    """Name a callable as ``module.qualname``, looking through ``partial`` and bound methods.

    Only the callable's *definition* is used: arguments, ids and addresses never are, so the
    label is stable across calls and carries no user data.
    """
    explicit = getattr(fn, "__tpe_task__", None)
    if isinstance(explicit, str):
        return clean(explicit)
    target: Any = fn
    for _ in range(10):  # partial(partial(f)) is legal; bound the unwrap anyway
        if isinstance(target, functools.partial):
            target = target.func
        else:
            break
    target = getattr(target, "__func__", target)  # bound and class methods
    qualname = getattr(target, "__qualname__", None)
    module = getattr(target, "__module__", None)
    if not isinstance(qualname, str):  # a callable instance: name its class
        cls = type(target)
        qualname, module = cls.__qualname__, cls.__module__
    if not isinstance(module, str) or not module:
        module = "?"
    return clean(f"{module}.{qualname}")


def exception_label(exc: BaseException) -> str:
    """Name an exception by its class only (``ValueError``, ``sqlite3.OperationalError``).

    Messages may hold user data (SQL, keys, e-mails); classes do not.
    """
    cls = type(exc)
    module = cls.__module__
    if module == "builtins":
        return clean(cls.__qualname__)
    return clean(f"{module}.{cls.__qualname__}")

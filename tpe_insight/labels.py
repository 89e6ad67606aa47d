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

import contextvars
import functools
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import BuiltinMethodType, FrameType, FunctionType, MethodType
from typing import cast

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

_log = logging.getLogger("tpe_insight")

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

#: The task (or exception) label when a name cannot be read at all.
UNKNOWN_TASK = "?"

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

    __slots__ = ("_lock", "_values", "cap", "logged", "what")

    def __init__(self, cap: int, what: str | None = None) -> None:
        self.cap = cap
        self._values: dict[str, None] = {}
        self._lock = threading.Lock()
        # Named caps log the first overflow once: folding values into "other" silently would
        # hide why a dashboard's panels stopped growing.
        self.what = what
        self.logged = False

    def get(self, label: str) -> str:
        """``label`` if it is known or there is room for it, else :data:`OTHER`."""
        if label in self._values or label == OTHER:
            return label
        with self._lock:
            if label in self._values:
                return label
            if len(self._values) >= self.cap:
                if self.what is not None and not self.logged:
                    self.logged = True
                    _log.warning(
                        "tpe_insight: %s reached its cap of %d labels; further values such as"
                        " %r are counted as 'other'",
                        self.what,
                        self.cap,
                        label,
                    )
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
    """Name the code that created a pool as ``module:qualname``.

    This is what makes ``with ThreadPoolExecutor():`` inside a request handler produce one time
    series per handler instead of one per request. The qualified name tells apart the
    ``__init__`` of every class that wraps a pool (``s3transfer.futures:BoundedExecutor.__init__``
    rather than ``...:__init__``).
    """
    try:
        frame: FrameType | None = start if start is not None else sys._getframe(1)
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if not isinstance(module, str):
                module = ""
            if module in _SKIPPED_MODULES or module.startswith(_SKIPPED_MODULE_PREFIXES):
                frame = frame.f_back
                continue
            return clean(f"{module or '?'}:{_code_qualname(frame)}")
    except Exception:  # a frame we cannot read must not fail a pool's constructor
        return UNKNOWN_POOL
    return UNKNOWN_POOL


def _code_qualname(frame: FrameType) -> str:
    """The frame's function as ``Class.method``: ``co_qualname`` (3.11+), else found through
    the ``self``/``cls`` argument's class (only C-level reads, no user code runs)."""
    code = frame.f_code
    qualname = getattr(code, "co_qualname", None)
    if isinstance(qualname, str):
        return qualname
    name = code.co_name
    if code.co_argcount and code.co_varnames:
        first = frame.f_locals.get(code.co_varnames[0])
        owner = first if isinstance(first, type) else type(first)
        for cls in _TYPE_MRO(owner):
            candidate = _TYPE_DICT(cls).get(name)
            candidate = getattr(candidate, "__func__", candidate)  # classmethod, staticmethod
            if type(candidate) is FunctionType and candidate.__code__ is code:
                return f"{_TYPE_QUALNAME(cls)}.{name}"
    return name


# C-level readers of a class's names: they bypass the metaclass, so neither a property nor a
# ``__getattribute__`` defined there can run (and raise, or invent a per-process value).
_TYPE_QUALNAME: Callable[[type], str] = type.__dict__["__qualname__"].__get__
_TYPE_MODULE: Callable[[type], object] = type.__dict__["__module__"].__get__
_TYPE_MRO: Callable[[type], tuple[type, ...]] = type.__dict__["__mro__"].__get__
_TYPE_DICT: Callable[[type], Mapping[str, object]] = type.__dict__["__dict__"].__get__
_TYPE_FLAGS: Callable[[type], int] = type.__dict__["__flags__"].__get__
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made by a class statement (user code)


def _class_name(cls: type) -> tuple[str, str]:
    module = _TYPE_MODULE(cls)
    return (module if isinstance(module, str) and module else "?"), _TYPE_QUALNAME(cls)


def _explicit(fn: object) -> str | None:
    """The ``named()`` label of a partial or a function, read from its own ``__dict__``."""
    kind = type(fn)
    if kind is functools.partial or kind is FunctionType:
        value = vars(fn).get("__tpe_task__")
        if isinstance(value, str):
            return value
    return None


def task_target(fn: object, args: Sequence[object] = ()) -> object:
    """The callable that does the work: looks through ``functools.partial``, bound methods and
    ``contextvars.Context.run`` (how ``asyncio.to_thread`` and dask submit), whose real
    function is its first argument. Reads only C-level attributes of those exact types; a
    user object is returned as it is, never asked anything."""
    target = fn
    for _ in range(10):  # partial(partial(f)) is legal; bound the unwrap anyway
        kind = type(target)
        if _explicit(target) is not None:
            break
        if kind is functools.partial:
            args = target.args  # type: ignore[attr-defined]
            target = target.func  # type: ignore[attr-defined]
        elif kind is MethodType:
            target = target.__func__  # type: ignore[attr-defined]
        elif (
            kind is BuiltinMethodType
            and type(target.__self__) is contextvars.Context  # type: ignore[attr-defined]
            and target.__name__ == "run"  # type: ignore[attr-defined]
            and args
        ):
            target, args = args[0], args[1:]
        else:
            break
    return target


def task_label(fn: object, args: Sequence[object] = ()) -> str:
    """Name a callable as ``module.qualname`` (see :func:`task_target` for what is looked
    through). Never raises and never runs user code: a callable instance is named by its
    class, read at the C level, so ``__getattr__``, properties and metaclasses cannot fail the
    submit or put a per-process value (an address) into the label.

    Only the callable's *definition* is used: arguments, ids and addresses never are, so the
    label is stable across calls and carries no user data.
    """
    try:
        target = task_target(fn, args)
        explicit = _explicit(target)
        if explicit is not None:
            return clean(explicit)
        kind = type(target)
        if kind is FunctionType:
            module: object = target.__module__
            qualname: object = target.__qualname__  # type: ignore[attr-defined]
        elif issubclass(kind, type):  # a class: its own name
            module, qualname = _class_name(cast("type", target))
        elif not _TYPE_FLAGS(kind) & _HEAPTYPE:  # builtins, method descriptors: C code only
            module = getattr(target, "__module__", None)
            qualname = getattr(target, "__qualname__", None)
            if not isinstance(qualname, str):
                module, qualname = _class_name(kind)
        else:  # a callable instance: name its class
            module, qualname = _class_name(kind)
        if not isinstance(module, str) or not module:
            module = "?"
        if not isinstance(qualname, str) or not qualname:
            qualname = "?"
        return clean(f"{module}.{qualname}")
    except Exception:  # defence in depth: a label must never fail a task
        return UNKNOWN_TASK


def exception_label(exc: BaseException) -> str:
    """Name an exception by its class only (``ValueError``, ``sqlite3.OperationalError``).

    Messages may hold user data (SQL, keys, e-mails); classes do not. The names are read at the
    C level: a metaclass whose ``__qualname__``/``__module__`` raises or is a property cannot
    replace the task's exception or invent a label per process.
    """
    try:
        module, qualname = _class_name(type(exc))
        if module == "builtins":
            return clean(qualname)
        return clean(f"{module}.{qualname}")
    except Exception:  # pragma: no cover - defence in depth
        return UNKNOWN_TASK

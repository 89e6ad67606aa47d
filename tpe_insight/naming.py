"""Label values: the pool label, the task label and the exception label.

Labels are the cardinality of every metric, so each rule here exists to keep the number of time
series bounded whatever the program does: pools are named by *where* they are created (never by
instance), tasks by *what* they run (capped per pool), exceptions by class (capped per pool).
User-provided strings are cleaned (control characters replaced, length capped) so that no name
can break the exposition format, a JSON log line, a trace file or an HTML report.
"""

from __future__ import annotations

import contextvars
import functools
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from types import BuiltinMethodType, FrameType, FunctionType, MethodType
from typing import Any, TypeVar, cast

T = TypeVar("T")

#: Longest label value we emit; longer values are cut and marked with "…".
MAX_LABEL_LENGTH = 120

#: The task label for tasks beyond the per-pool cap (and the pool label beyond the registry's).
OTHER = "other"

#: Distinct pool labels per registry; pools with further labels are counted as ``other``. Call
#: sites bound the labels of unnamed pools, but a ``thread_name_prefix`` (or ``name``) holding a
#: request or job id would otherwise add series per request.
MAX_POOL_LABELS = 100

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

# C0 and C1 control characters plus DEL become "?" so labels stay on one line everywhere.
_CONTROL_TABLE = {c: "?" for c in [*range(0x20), *range(0x7F, 0xA0)]}


def clean(value: str, limit: int = MAX_LABEL_LENGTH) -> str:
    """Return ``value`` safe to use as a label: one line, valid UTF-8, at most ``limit`` chars.

    Lone surrogates (possible in ``str`` but not encodable as UTF-8) are replaced, so a hostile
    name cannot make the exposition or a JSON writer raise.
    """
    if not value.isascii() or not value.isprintable():
        value = value.translate(_CONTROL_TABLE)
        value = value.encode("utf-8", "replace").decode("utf-8")
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


def capped(label: str, known: Collection[str], cap: int) -> str:
    """``label`` if it is already known or there is room for it, else :data:`OTHER`.

    ``known`` holds the label values in use (``other`` among them or not); at most ``cap`` of
    them are names. The caller holds the lock that guards ``known``.
    """
    if label == OTHER or label in known:
        return label
    named = sum(1 for name in known if name != OTHER)
    return label if named < cap else OTHER


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


def named(name: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> functools.partial[T]:
    """Return ``fn`` (with optional bound arguments) carrying an explicit task label.

    Use it when one callable does several jobs worth telling apart, e.g. one query runner for
    eight model-variable queries: ``pool.submit(named("recency", run_query), sql)``.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"named: name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"named: fn must be callable, not {type(fn).__name__}")
    task = functools.partial(fn, *args, **kwargs)
    task.__tpe_task__ = name  # type: ignore[attr-defined]
    return task

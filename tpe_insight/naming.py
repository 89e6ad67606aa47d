"""Label values: the pool label, the task label and the exception label.

Labels are the cardinality of every metric, so each rule here exists to keep the number of time
series bounded whatever the program does: pools are named by *where* they are created (never by
instance), tasks by *what* they run (capped per pool), exceptions by class (capped per pool).
User-provided strings are cleaned (control characters replaced, length capped) so that no name
can break the exposition format, a JSON log line, a trace file or an HTML report.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Collection
from types import FrameType
from typing import Any

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


def named(
    name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> functools.partial[Any]:
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

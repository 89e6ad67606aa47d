"""Differential suite, in process: the same scenario with the stdlib class and with ours.

Each test runs a scenario twice and compares what a caller observes: results, exception types
and messages, future states, liveness of objects. Numbers in the test names refer to the
differences listed in issue 10; the rest are cases that already matched and must keep matching.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import copy
import functools
import gc
import logging
import pickle
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from concurrent.futures.thread import ThreadPoolExecutor as StdlibPool
from typing import Any

import pytest
import structlog
import structlog.testing
from prometheus_client import CollectorRegistry

from tests.behaviour.differential import (
    PoolFactory,
    differential,
    observe,
    ours,
    outcome_of,
)
from tpe_insight import ThreadPoolExecutor, named
from tpe_insight.testing import capture_events

# -- 2. callables whose dunders raise ----------------------------------------------------------


class AttributeBag:
    """The attribute-bag pattern: every missing attribute is a key lookup."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return self.__dict__["data"][name]  # KeyError, not AttributeError

    def __call__(self, x: int) -> int:
        return x * 2


class Recursing:
    def __getattr__(self, name: str) -> Any:
        return getattr(self, name)  # RecursionError

    def __call__(self, x: int) -> int:
        return x + 1


class RefusesDunders:
    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__") and name not in {"__call__", "__class__"}:
            raise PermissionError(name)
        return object.__getattribute__(self, name)

    def __call__(self, x: int) -> int:
        return x - 1


def _raising_property(name: str) -> type:
    """A callable whose ``name`` attribute raises (a property would do for most names, but
    ``__qualname__`` and ``__module__`` cannot be properties of a plain class)."""

    def getattribute(self: object, attr: str) -> Any:
        if attr == name:
            raise RuntimeError(f"no {name} here")
        return object.__getattribute__(self, attr)

    def call(self: object, x: int) -> int:
        return x * 3

    return type(
        f"Raising_{name.strip('_')}", (), {"__getattribute__": getattribute, "__call__": call}
    )


ODD_CALLABLES: list[Callable[[], Callable[[int], int]]] = [
    AttributeBag,
    Recursing,
    RefusesDunders,
    *[
        _raising_property(n)
        for n in ("__qualname__", "__module__", "__name__", "__code__", "__tpe_task__")
    ],
]


@pytest.mark.parametrize("make", ODD_CALLABLES, ids=lambda m: m.__name__)
def test_2_callables_whose_dunders_raise_run_as_with_the_stdlib(
    make: Callable[[], Callable[[int], int]],
) -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        with pool_class(1) as pool:
            return observe(pool.submit(make(), 5)), outcome_of(
                lambda: list(pool.map(make(), [1, 2]))
            )

    differential(scenario)


@pytest.mark.parametrize("make", ODD_CALLABLES, ids=lambda m: m.__name__)
def test_2_their_label_is_safe(make: Callable[[], Callable[[int], int]]) -> None:
    with capture_events() as events, ours()(1, name="p") as pool:
        pool.submit(make(), 5).result()
    labels = {e["task"] for e in events if e["event"] == "task_finished"}
    assert len(labels) == 1
    (label,) = labels
    assert "0x" not in label
    assert label.isprintable()


# -- 3. exception classes whose dunders raise --------------------------------------------------


class RaisingMeta(type):
    def __getattribute__(cls, name: str) -> Any:
        if name in {"__qualname__", "__module__"}:
            raise RuntimeError(f"metaclass refuses {name}")
        return super().__getattribute__(name)


class MetaError(Exception, metaclass=RaisingMeta):
    pass


class ModulePropertyMeta(type):
    @property
    def __module__(cls) -> str:  # type: ignore[override]
        return f"generated_{id(cls):x}"


class PropertyModuleError(Exception, metaclass=ModulePropertyMeta):
    pass


class StrRaises(Exception):
    def __str__(self) -> str:
        raise ValueError("no message for you")


def raiser(exc_class: type[BaseException]) -> Callable[[], None]:
    def fail() -> None:
        raise exc_class("boom")

    return fail


@pytest.mark.parametrize("exc_class", [MetaError, PropertyModuleError, StrRaises])
def test_3_the_future_holds_the_tasks_own_exception(exc_class: type[BaseException]) -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        with pool_class(1) as pool:
            future = pool.submit(raiser(exc_class))
            wait([future])
            return type(future.exception()), observe(future)

    assert differential(scenario)[0] is exc_class


@pytest.mark.parametrize("exc_class", [MetaError, PropertyModuleError])
def test_3_exception_labels_carry_no_address(exc_class: type[BaseException]) -> None:
    registry = CollectorRegistry()
    with ours(registry)(1, name="p") as pool:
        wait([pool.submit(raiser(exc_class))])
    labels = [
        s.labels["exception"]
        for family in registry.collect()
        if family.name == "tpe_task_exceptions"
        for s in family.samples
    ]
    assert len(labels) == 1
    assert not re.search(r"[0-9a-f]{6,}", labels[0]), labels


# -- 5. references held no longer than the stdlib holds them ----------------------------------


class Payload:
    """An argument or callable whose lifetime we watch."""

    def __call__(self, arg: object) -> None:
        raise ValueError("failed on purpose")


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Only reference counting frees objects: a cycle would show as a leak."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Items(list):  # type: ignore[type-arg]
    """A list we can watch: its bound ``index`` raises from C code, so no frame of the task
    itself holds the callable or the argument (only the pool's frames could)."""


def test_5_a_failed_future_keeps_neither_callable_nor_arguments(no_gc: None) -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        with pool_class(1) as pool:
            owner, arg = Items(), Payload()
            refs = weakref.ref(owner), weakref.ref(arg)
            future = pool.submit(owner.index, arg)
            wait([future])
            pool.submit(abs, 1).result()  # the pool's last callable is another one now
            del owner, arg
            alive = [r() is not None for r in refs]
            return alive, type(future.exception())

    assert differential(scenario) == ([False, False], ValueError)


class Owner:
    """An object that owns a pool and submits its own bound method."""

    def __init__(self, pool_class: PoolFactory) -> None:
        self.pool = pool_class(1)

    def work(self) -> int:
        return 1


class Holder:
    def method(self) -> int:
        return 1


def test_5_no_stale_reference_to_the_last_callable(no_gc: None) -> None:
    """CPython's test_no_stale_references (bpo-16284), with the stdlib beside us."""

    def scenario(pool_class: PoolFactory) -> Any:
        with pool_class(1) as pool:
            obj = Holder()
            ref = weakref.ref(obj)
            pool.submit(obj.method).result()
            del obj
            return ref() is None

    assert differential(scenario) is True


def test_5_an_object_owning_its_pool_is_freed_on_del(no_gc: None) -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        owner = Owner(pool_class)
        owner.pool.submit(owner.work).result()
        ref = weakref.ref(owner)
        pool = owner.pool
        del owner
        freed = ref() is None
        pool.shutdown()
        return freed

    assert differential(scenario) is True


# -- 8. constructors the stdlib rejects --------------------------------------------------------


@pytest.mark.parametrize(
    "args", [(0,), (-1,), ("x",), (1.5,), (1, "", 42), (1, "", None, 5)], ids=repr
)
def test_8_rejected_constructors_raise_the_same_and_leave_no_series(args: tuple[Any, ...]) -> None:
    registry = CollectorRegistry()
    expected = outcome_of(lambda: StdlibPool(*args).shutdown())
    actual = outcome_of(lambda: ThreadPoolExecutor(*args, registry=registry).shutdown())
    assert actual == expected
    if expected[0] == "raised":
        assert [s for f in registry.collect() for s in f.samples] == []


# -- re-entrancy, map, shutdown from a task or a callback --------------------------------------


def test_reentrant_submit_from_a_task_and_from_a_callback() -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        seen: list[Any] = []
        with pool_class(2) as pool:

            def outer(x: int) -> int:
                return pool.submit(pow, x, 2).result() + 1

            def callback(future: Future[int]) -> None:
                seen.append(pool.submit(abs, -future.result()).result())

            first = pool.submit(outer, 3)
            first.add_done_callback(callback)
            result = first.result()
        return result, seen

    assert differential(scenario) == (10, [10])


def _fails_on(bad: int) -> Callable[[int], int]:
    def fn(x: int) -> int:
        if x == bad:
            raise KeyError(x)
        return x * 10

    return fn


@pytest.mark.parametrize(
    "call",
    [
        lambda pool: list(pool.map(pow, [1, 2, 3], [2, 2, 2])),
        lambda pool: list(pool.map(pow, [1, 2, 3], [2, 2])),  # uneven iterables
        lambda pool: list(pool.map(abs, [-1, -2], chunksize=5)),  # chunksize ignored
        lambda pool: list(pool.map(abs, [], timeout=1)),
        lambda pool: list(pool.map(_fails_on(2), [1, 2, 3])),
        lambda pool: next(pool.map(abs, [-1, -2, -3])),  # closed early
        lambda pool: list(pool.map(abs, [-1], timeout=-1)),  # already timed out
        lambda pool: list(pool.map(abs, 5)),  # not iterable
        lambda pool: list(pool.map(5, [1])),  # not callable: raised by the task
    ],
    ids=[
        "two-iterables",
        "uneven",
        "chunksize",
        "empty",
        "raises",
        "early-close",
        "timeout",
        "not-iterable",
        "not-callable",
    ],
)
def test_map_variants(call: Callable[[StdlibPool], Any]) -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        with pool_class(2) as pool:
            return outcome_of(lambda: call(pool))

    differential(scenario)


def test_shutdown_from_a_task_and_from_a_callback() -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        pool = pool_class(2)
        from_task = pool.submit(pool.shutdown, False)
        from_task.result()
        after = outcome_of(lambda: pool.submit(abs, -1))
        pool.shutdown()
        other = pool_class(1)
        first = other.submit(abs, -2)
        first.add_done_callback(lambda f: other.shutdown(wait=False))
        first.result()
        other.shutdown()
        return observe(from_task), after, outcome_of(lambda: other.submit(abs, 1))

    differential(scenario)


def test_shutdown_cancel_futures_cancels_the_queue() -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        gate = threading.Event()
        pool = pool_class(1)
        blocker = pool.submit(gate.wait, 30)
        queued = [pool.submit(abs, -i) for i in range(5)]
        pool.shutdown(wait=False, cancel_futures=True)
        gate.set()
        pool.shutdown()
        return observe(blocker), [f.cancelled() for f in queued]

    assert differential(scenario) == (("result", True), [True] * 5)


# -- odd callables and exceptions that already matched -----------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        len,  # a builtin
        functools.partial(pow, 2),
        str.upper,  # a method descriptor
        "abc".upper,  # a bound builtin method
        type,  # a class
        lambda *a: a,
        contextvars.copy_context().run,  # how asyncio.to_thread submits
        named("job", pow, 2),
    ],
    ids=[
        "builtin",
        "partial",
        "descriptor",
        "bound-builtin",
        "class",
        "lambda",
        "ctx-run",
        "named",
    ],
)
def test_odd_callables(fn: Callable[..., Any]) -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        with pool_class(1) as pool:
            if fn is type or fn is len or getattr(fn, "__self__", None) == "abc":
                return observe(pool.submit(fn, "xyz"))
            if isinstance(fn, functools.partial):
                return observe(pool.submit(fn, 3))
            if getattr(fn, "__name__", "") == "run":
                return observe(pool.submit(fn, pow, 2, 5))
            return observe(pool.submit(fn, "a"))

    differential(scenario)


class Exit(SystemExit):
    pass


@pytest.mark.parametrize(
    "exc",
    [SystemExit(3), KeyboardInterrupt(), GeneratorExit(), Exit("x"), StopIteration(1)],
    ids=lambda e: type(e).__name__,
)
def test_base_exceptions_raised_by_tasks(exc: BaseException) -> None:
    def raise_it() -> None:
        raise exc

    def scenario(pool_class: PoolFactory) -> Any:
        with pool_class(1) as pool:
            future = pool.submit(raise_it)
            wait([future])
            return observe(future), observe(pool.submit(abs, -1))

    differential(scenario)


def test_submit_argument_errors() -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        with pool_class(1) as pool:
            return (
                outcome_of(pool.submit),
                outcome_of(lambda: pool.submit(fn=abs)),  # type: ignore[call-arg]
                observe(pool.submit(abs)),  # the task raises TypeError
                observe(pool.submit(dict, fn=1, self=2)),  # names that shadow submit's own
            )

    differential(scenario)


# -- pickling, copy, weakref, subclassing ------------------------------------------------------


def test_pickling_copy_and_weakref() -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        pools = [pool_class(1)]
        pools[0].submit(abs, 1).result()
        pickled = outcome_of(lambda: pickle.dumps(pools[0]))
        deep = outcome_of(lambda: copy.deepcopy(pools[0]))
        shallow = copy.copy(pools[0])
        same_queue = shallow._work_queue is pools[0]._work_queue  # type: ignore[attr-defined]
        ref = weakref.ref(pools[0])
        pools[0].shutdown()
        del shallow
        pools.clear()
        gc.collect()
        return pickled, deep, same_queue, ref() is None

    differential(scenario)


def test_subclassing() -> None:
    def scenario(pool_class: PoolFactory) -> Any:
        base: Any = pool_class.func if isinstance(pool_class, functools.partial) else pool_class
        kwargs = pool_class.keywords if isinstance(pool_class, functools.partial) else {}

        class Counting(base):  # type: ignore[misc,valid-type]
            def __init__(self, n: int) -> None:
                self.calls = 0
                super().__init__(n, **kwargs)

            def submit(self, fn: Callable[..., Any], /, *args: Any, **kw: Any) -> Future[Any]:
                self.calls += 1
                return super().submit(fn, *args, **kw)

        with Counting(2) as pool:
            results = list(pool.map(abs, [-1, -2, -3]))
            return results, pool.calls, isinstance(pool, concurrent.futures.ThreadPoolExecutor)

    assert differential(scenario) == ([1, 2, 3], 3, True)


# -- 12. labels that look through wrappers -----------------------------------------------------


def real_work(x: int) -> int:
    return x + 1


@pytest.mark.parametrize(
    "wrap",
    [
        lambda: contextvars.copy_context().run,
        lambda: functools.partial(contextvars.copy_context().run, real_work),
        lambda: functools.partial(functools.partial(real_work)),
    ],
    ids=["context-run", "partial-of-context-run", "nested-partial"],
)
def test_12_task_labels_look_through_context_run_and_partial(wrap: Callable[[], Any]) -> None:
    fn = wrap()
    args = (real_work, 1) if not isinstance(fn, functools.partial) else (1,)
    with capture_events() as events, ours()(1, name="p") as pool:
        assert pool.submit(fn, *args).result() == 2
    labels = {e["task"] for e in events if e["event"] == "task_finished"}
    assert labels == {f"{__name__}.real_work"}


def test_12_logger_is_honoured() -> None:
    captured = structlog.testing.CapturingLogger()
    logger = structlog.wrap_logger(captured, processors=[])
    with ours()(1, name="p", logger=logger) as pool:
        pool.submit(abs, -1).result()
    events = [call.args[0] if call.args else call.kwargs.get("event") for call in captured.calls]
    assert "pool_created" in events
    assert "pool_shutdown" in events


def test_12_the_task_label_cap_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="tpe_insight"),
        ours()(1, name="capped-pool", max_task_labels=2) as pool,
    ):
        for i in range(6):
            pool.submit(named(f"job-{i}", abs, -i)).result()
    messages = [r.getMessage() for r in caplog.records if "max_task_labels" in r.getMessage()]
    assert len(messages) == 1
    assert "'capped-pool'" in messages[0]


class Wrapper:
    """A class that builds its pool in ``__init__`` (s3transfer's BoundedExecutor does)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pool = ThreadPoolExecutor(1, registry=registry)


def test_12_pool_label_is_the_qualified_name_of_the_creating_code() -> None:
    wrapper = Wrapper(CollectorRegistry())
    try:
        assert wrapper.pool.pool_label == f"{__name__}:Wrapper.__init__"
    finally:
        wrapper.pool.shutdown()


# -- 9. thread names are cleaned ---------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["a\nb", "x\x1b[31my", "evil\u202eexe", "\ud800lone"])
def test_9_pool_labels_from_thread_names_are_cleaned(prefix: str) -> None:
    with ours()(1, thread_name_prefix=prefix) as pool:
        label = pool.pool_label
        assert pool.submit(abs, -1).result() == 1
    assert label.isprintable()
    assert "\u202e" not in label
    label.encode("utf-8")  # no lone surrogate

"""Pool and task labels: shared labels add up, pools per call add no series, caps hold."""

from __future__ import annotations

import functools
import threading

from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor, named
from tpe_insight.labels import (
    OTHER,
    CappedLabels,
    call_site_label,
    clean,
    exception_label,
    task_label,
    thread_name,
)


def job(x: int) -> int:
    return x


class Service:
    def handle(self, x: int) -> int:
        return x

    def __call__(self, x: int) -> int:
        return x


def pools_in(registry: CollectorRegistry, metric: str = "tpe_tasks_submitted_total") -> set[str]:
    return {
        s.labels["pool"]
        for family in registry.collect()
        for s in family.samples
        if s.name == metric
    }


def test_two_live_pools_sharing_a_label_add_up(registry: CollectorRegistry) -> None:
    gate = threading.Event()
    a = ThreadPoolExecutor(2, name="shared", registry=registry)
    b = ThreadPoolExecutor(3, name="shared", registry=registry)
    futures = [a.submit(gate.wait, 10) for _ in range(4)] + [
        b.submit(gate.wait, 10) for _ in range(5)
    ]

    def value(name: str) -> float | None:
        return registry.get_sample_value(name, {"pool": "shared"})

    assert value("tpe_workers_max") == 5
    assert value("tpe_tasks_submitted_total") == 9
    assert value("tpe_tasks_running") == 5  # 2 + 3 workers busy
    assert value("tpe_tasks_queued") == 4
    gate.set()
    a.shutdown()
    assert value("tpe_workers_max") == 3  # b is still alive
    b.shutdown()
    assert all(f.result() for f in futures)
    assert value("tpe_workers_max") == 0
    assert value("tpe_workers_started_total") == 5
    assert value("tpe_tasks_queued") == value("tpe_tasks_running") == 0


def make_pool_per_call(registry: CollectorRegistry, x: int) -> int:
    with ThreadPoolExecutor(registry=registry) as executor:
        return executor.submit(job, x).result()


def test_a_pool_per_call_adds_no_series(registry: CollectorRegistry) -> None:
    for i in range(25):
        assert make_pool_per_call(registry, i) == i
    assert pools_in(registry) == {f"{__name__}:make_pool_per_call"}
    label = f"{__name__}:make_pool_per_call"
    assert registry.get_sample_value("tpe_tasks_submitted_total", {"pool": label}) == 25
    assert registry.get_sample_value("tpe_workers_max", {"pool": label}) == 0


def test_pool_label_rules(registry: CollectorRegistry) -> None:
    with ThreadPoolExecutor(name="explicit", thread_name_prefix="px", registry=registry) as a:
        assert a.pool_label == "explicit"
    with ThreadPoolExecutor(thread_name_prefix="px", registry=registry) as b:
        assert b.pool_label == "px"
    with ThreadPoolExecutor(registry=registry) as c:
        assert c.pool_label == f"{__name__}:test_pool_label_rules"

    class Sub(ThreadPoolExecutor):
        def __init__(self) -> None:
            super().__init__(2, registry=registry)

    with Sub() as d:  # a subclass's __init__ is not the call site; this test is
        assert d.pool_label == f"{__name__}:test_pool_label_rules"


def test_task_labels_unwrap_partials_and_methods() -> None:
    service = Service()
    assert task_label(job) == f"{__name__}.job"
    assert task_label(functools.partial(functools.partial(job, 1))) == f"{__name__}.job"
    assert task_label(service.handle) == f"{__name__}.Service.handle"
    assert task_label(service) == f"{__name__}.Service"
    assert task_label(print) == "builtins.print"
    assert task_label(named("nightly", job, 1)) == "nightly"


def test_task_label_cap_holds(registry: CollectorRegistry) -> None:
    functions = []
    for i in range(8):
        exec(f"def f{i}(): return {i}", (ns := {"__name__": "gen"}))
        functions.append(ns[f"f{i}"])
    with ThreadPoolExecutor(2, name="capped", max_task_labels=3, registry=registry) as executor:
        assert [executor.submit(f).result() for f in functions] == list(range(8))
    tasks = {
        s.labels["task"]
        for family in registry.collect()
        for s in family.samples
        if s.name == "tpe_tasks_finished_total"
    }
    assert tasks == {"gen.f0", "gen.f1", "gen.f2", OTHER}
    other = registry.get_sample_value(
        "tpe_tasks_finished_total", {"pool": "capped", "task": OTHER, "outcome": "success"}
    )
    assert other == 5


def test_lambdas_from_one_place_share_one_label(registry: CollectorRegistry) -> None:
    with ThreadPoolExecutor(2, name="lam", registry=registry) as executor:
        for i in range(100):
            executor.submit(lambda i=i: i)  # a new function object each time, same code
    tasks = {
        s.labels["task"]
        for family in registry.collect()
        for s in family.samples
        if s.name == "tpe_tasks_finished_total"
    }
    assert tasks == {f"{__name__}.test_lambdas_from_one_place_share_one_label.<locals>.<lambda>"}


def test_task_labels_off(registry: CollectorRegistry) -> None:
    with ThreadPoolExecutor(2, name="off", task_labels=False, registry=registry) as executor:
        executor.submit(job, 1)
        executor.submit(Service().handle, 2)
    value = registry.get_sample_value(
        "tpe_tasks_finished_total", {"pool": "off", "task": "all", "outcome": "success"}
    )
    assert value == 2


def test_exception_label_cap(registry: CollectorRegistry) -> None:
    errors = [type(f"E{i}", (Exception,), {}) for i in range(5)]

    def raise_it(cls: type[Exception]) -> None:
        raise cls()

    with ThreadPoolExecutor(1, name="exc", max_exception_labels=2, registry=registry) as executor:
        for cls in errors:
            executor.submit(raise_it, cls)
    labels = {
        s.labels["exception"]: s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == "tpe_task_exceptions_total"
    }
    assert labels == {f"{__name__}.E0": 1, f"{__name__}.E1": 1, OTHER: 3}


def test_clean_makes_hostile_names_safe() -> None:
    assert clean("a\nb\x00c") == "a?b?c"
    assert clean("x" * 500) == "x" * 119 + "…"
    assert clean("\ud800bad") == "?bad"
    assert clean("ok name") == "ok name"
    assert exception_label(ValueError()) == "ValueError"
    assert call_site_label() == f"{__name__}:test_clean_makes_hostile_names_safe"


def test_clean_neutralises_escapes_bidi_and_surrogates() -> None:
    """ANSI escapes, bidi overrides (U+202E), line separators and lone surrogates become "?",
    so a label can neither recolour a terminal nor read backwards in a report."""
    assert clean("\x1b[31mred\x1b[0m") == "?[31mred?[0m"
    assert clean("abc\u202edcba") == "abc?dcba"
    assert clean("a\u2066b\u2069c\u200fd") == "a?b?c?d"
    assert clean("one\u2028two") == "one?two"
    assert clean("x\ud800y") == "x?y"
    assert clean("plain ascii") == "plain ascii"


def test_thread_names_are_cleaned_like_labels() -> None:
    """Worker and submitter thread names reach logs, traces and reports through thread_name()."""
    assert thread_name("worker\u202e_0\n") == "worker?_0?"
    assert thread_name("w" * 500).endswith("…")
    assert len(thread_name("w" * 500)) == 120
    assert thread_name(42) == "42"


def test_capped_labels_admit_up_to_the_cap_then_other() -> None:
    """The one cap rule: known values pass, new ones until the cap, then ``other``."""
    capped = CappedLabels(2)
    assert [capped.get(v) for v in ("a", "b", "c", "a", OTHER)] == ["a", "b", OTHER, "a", OTHER]
    assert list(capped) == ["a", "b"]
    assert "c" not in capped
    assert len(capped) == 2


def test_capped_labels_hold_under_concurrent_first_uses() -> None:
    """Many threads offering new values at once never admit more than the cap."""
    capped = CappedLabels(10)
    barrier = threading.Barrier(8)

    def offer(start: int) -> None:
        barrier.wait()
        for i in range(start, start + 50):
            capped.get(f"v{i}")

    threads = [threading.Thread(target=offer, args=(i * 50,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(capped) == 10

"""The executor object: one private attribute, frozen records, and a rejected constructor that
leaves nothing behind."""

from __future__ import annotations

import dataclasses
import gc
import weakref

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import PoolInfo, StdlibThreadPoolExecutor, ThreadPoolExecutor
from tpe_insight.testing import capture_events


def test_everything_added_lives_in_one_private_attribute() -> None:
    """The stdlib object plus ``_tpe``: no ``_tpe_*`` attributes spread over the instance."""
    with ThreadPoolExecutor(1, name="one", registry=CollectorRegistry()) as pool:
        stdlib = StdlibThreadPoolExecutor(1)
        stdlib.shutdown()
        added = set(vars(pool)) - set(vars(stdlib))
    assert added == {"_tpe"}


def test_pool_info_is_frozen_and_describes_the_pool() -> None:
    """Sinks get a read-only record: no series, no clocks, no hooks to reach into."""
    with ThreadPoolExecutor(3, name="frozen", registry=CollectorRegistry()) as pool:
        info = pool.pool_info
    assert isinstance(info, PoolInfo)
    assert (info.label, info.max_workers, info.cpu_time) == ("frozen", 3, "fast")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.label = "changed"  # type: ignore[misc]
    fields = {f.name for f in dataclasses.fields(info)}
    assert fields.isdisjoint({"series", "clock", "cpu_clock", "hooks"})


def test_a_constructor_the_stdlib_rejects_leaves_no_pool_series() -> None:
    """``max_workers=0`` raises the stdlib's ValueError, and no ``tpe_*`` series is created."""
    registry = CollectorRegistry()
    with capture_events() as events, pytest.raises(ValueError, match="max_workers"):
        ThreadPoolExecutor(0, name="rejected", registry=registry)
    assert registry.get_sample_value("tpe_workers_max", {"pool": "rejected"}) is None
    assert events == []


class _Owner:
    def method(self) -> int:
        return 1


def test_the_last_submitted_callable_is_not_kept_alive() -> None:
    """After its future is done, a bound method's ``self`` is collectable, as with the stdlib
    (CPython's test_no_stale_references)."""
    with ThreadPoolExecutor(1, name="stale", registry=CollectorRegistry()) as pool:
        owner = _Owner()
        ref = weakref.ref(owner)
        assert pool.submit(owner.method).result() == 1
        del owner
        gc.collect()
        assert ref() is None

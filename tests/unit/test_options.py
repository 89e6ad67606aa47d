"""Bad input: the stdlib's exceptions and messages for stdlib arguments; clear errors naming the
option for ours."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import StdlibThreadPoolExecutor, ThreadPoolExecutor, named, start_metrics_server


def stdlib_error(*args: Any, **kwargs: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        StdlibThreadPoolExecutor(*args, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0,), {}),
        ((-3,), {}),
        ((2,), {"initializer": 5}),
        ((0,), {"initializer": "not callable"}),  # both wrong: the stdlib reports max_workers
        (("4",), {}),
    ],
)
def test_stdlib_arguments_get_the_stdlib_errors(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    expected = stdlib_error(*args, **kwargs)
    with pytest.raises(type(expected)) as info:
        ThreadPoolExecutor(*args, registry=CollectorRegistry(), **kwargs)
    assert str(info.value) == str(expected)


def test_defaults_match_the_stdlib() -> None:
    ours = ThreadPoolExecutor(registry=CollectorRegistry())
    theirs = StdlibThreadPoolExecutor()
    assert ours.pool_info.max_workers == theirs._max_workers
    ours.shutdown()
    theirs.shutdown()
    assert isinstance(ours, StdlibThreadPoolExecutor)


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"max_task_labels": 0}, ValueError, "max_task_labels"),
        ({"max_task_labels": -1}, ValueError, "max_task_labels"),
        ({"max_task_labels": 2.5}, TypeError, "max_task_labels"),
        ({"max_exception_labels": 0}, ValueError, "max_exception_labels"),
        ({"name": ""}, ValueError, "name"),
        ({"name": "  "}, ValueError, "name"),
        ({"name": "a\nb"}, ValueError, "name"),
        ({"name": "x" * 200}, ValueError, "name"),
        ({"name": 42}, TypeError, "name"),
        ({"cpu_time": "sometimes"}, ValueError, "cpu_time"),
        ({"buckets": []}, ValueError, "buckets"),
        ({"buckets": [1, 0.5]}, ValueError, "buckets"),
        ({"buckets": [0, 1]}, ValueError, "buckets"),
        ({"buckets": "1,2"}, TypeError, "buckets"),
        ({"registry": "global"}, TypeError, "registry"),
        ({"sinks": 5}, TypeError, "sinks"),
        ({"sinks": [object()]}, TypeError, "sinks"),
        ({"propagate_context": "yes"}, TypeError, "propagate_context"),
        ({"logs": 1}, TypeError, "logs"),
        ({"clock": 3.0}, TypeError, "clock"),
    ],
)
def test_bad_options_name_the_option(
    options: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        ThreadPoolExecutor(2, registry=CollectorRegistry(), **options)


@pytest.mark.parametrize(
    ("port", "error"), [(-1, ValueError), (70000, ValueError), ("80", TypeError), (True, TypeError)]
)
def test_bad_port(port: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="port"):
        start_metrics_server(port, registry=CollectorRegistry())


def test_bad_tls_options() -> None:
    with pytest.raises(ValueError, match="certfile and keyfile"):
        start_metrics_server(0, registry=CollectorRegistry(), certfile="cert.pem")
    with pytest.raises(ValueError, match="client_auth_required"):
        start_metrics_server(0, registry=CollectorRegistry(), client_auth_required=True)


def test_named_validates() -> None:
    with pytest.raises(ValueError, match="name"):
        named("", print)
    with pytest.raises(TypeError, match="callable"):
        named("x", 5)  # type: ignore[arg-type]


def test_a_bad_option_does_not_leave_a_pool_behind() -> None:
    registry = CollectorRegistry()
    with pytest.raises(ValueError):
        ThreadPoolExecutor(2, name="", registry=registry)
    # Still usable afterwards, and nothing half-registered.
    with ThreadPoolExecutor(2, name="fine", registry=registry) as executor:
        assert executor.submit(int, "7").result() == 7

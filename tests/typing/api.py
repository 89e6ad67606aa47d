"""Ordinary user code, type-checked with ``mypy --strict`` in ``make test`` (``typing-api``).

It is never run by pytest (no ``test_`` prefix): its job is to fail the build when an API change
makes the public surface less pleasant to type-check than the stdlib class it replaces.
"""

from __future__ import annotations

import concurrent.futures
from concurrent.futures import Future

import structlog
from prometheus_client import CollectorRegistry

import tpe_insight
from tpe_insight import Sink, TaskInfo, ThreadPoolExecutor, fail_fast, named, profile


def fetch(url: str, *, retries: int = 3) -> bytes:
    return url.encode() * retries


def parse(data: bytes) -> int:
    return len(data)


class CountingSink(Sink):
    """A custom sink: counts finished tasks."""

    def __init__(self) -> None:
        self.finished = 0

    def task_finished(
        self,
        task: TaskInfo,
        submitted_at: float,
        started_at: float,
        ended_at: float,
        cpu_seconds: float,
        exc: BaseException | None,
        submitter: int,
    ) -> None:
        self.finished += 1


def main() -> int:
    sink = CountingSink()
    logger = structlog.get_logger("app")
    registry = CollectorRegistry()
    with (
        profile() as prof,
        ThreadPoolExecutor(
            4, thread_name_prefix="io", name="io", registry=registry, sinks=[sink], logger=logger
        ) as pool,
    ):
        future: Future[bytes] = pool.submit(fetch, "https://example.org", retries=1)
        body: bytes = future.result()
        sizes: list[int] = list(pool.map(parse, [body, body]))
        labelled: Future[bytes] = pool.submit(named("fetch-home", fetch, "https://example.org"))
        results: list[bytes] = list(fail_fast([labelled, pool.submit(fetch, "x")]))
    stdlib_typed: concurrent.futures.ThreadPoolExecutor = pool  # still the stdlib type
    assert stdlib_typed is pool
    tpe_insight.install()
    tpe_insight.uninstall()
    print(prof.timeline, sizes, results)
    return sink.finished

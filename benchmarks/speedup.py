"""The demo's speedup curve, for any backend: serially, then the stdlib pool and tpe_insight's
(default options) on 1, 2, 4 and 8 workers, interleaved; every run's result is checked against
the serial one, so a faster wrong answer cannot pass as a speedup.

Shared by ``test_sqlite.py`` and ``test_postgres.py``: only the runner (which database, which
connection) differs between them.
"""

from __future__ import annotations

import time

from benchmarks.configs import by_name
from benchmarks.harness import interleave
from tpe_insight.demo import build_concurrently, build_serially
from tpe_insight.demo_data import QUERIES, Runner, Variables

WORKER_COUNTS = (1, 2, 4, 8)


def speedup_values(runner: Runner, n_rounds: int) -> dict[str, list[float]]:
    """ms per run of the eight queries, per configuration ("serial", "stdlib w=4", ...)."""
    expected = build_serially(runner, QUERIES)
    configs = by_name("stdlib", "default")
    names = ["serial"] + [f"{c.name} w={w}" for w in WORKER_COUNTS for c in configs]
    makers = {f"{c.name} w={w}": (c, w) for w in WORKER_COUNTS for c in configs}

    def run_once(name: str) -> float:
        result: Variables
        if name == "serial":
            start = time.perf_counter()
            result = build_serially(runner, QUERIES)
            elapsed = time.perf_counter() - start
        else:
            config, workers = makers[name]
            pool = config.make(workers)
            try:
                start = time.perf_counter()
                # build_concurrently is typed for our class; the stdlib pool is duck-compatible
                result = build_concurrently(pool, runner, QUERIES)  # type: ignore[arg-type]
                elapsed = time.perf_counter() - start
            finally:
                pool.shutdown()
        assert result == expected
        return elapsed * 1e3

    return interleave(names, run_once, n_rounds)

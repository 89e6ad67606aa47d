"""Every pool-level counter exists at 0 from the moment its pool exists.

``increase()`` and ``rate()`` need a sample before the first event: a series born at 1 reads 0 for
its first failure (the issue's invisible first initializer failure). Exception classes cannot be
known in advance; docs/metrics.md says how to read the first one.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor

ZERO_AT_BIRTH = (
    ("tpe_tasks_submitted_total", {}),
    ("tpe_tasks_rejected_total", {"reason": "shutdown"}),
    ("tpe_tasks_rejected_total", {"reason": "broken"}),
    ("tpe_initializer_failures_total", {}),
    ("tpe_callback_failures_total", {}),
    ("tpe_workers_started_total", {}),
    ("tpe_pool_queue_wait_seconds_count", {}),
    ("tpe_pool_run_seconds_count", {}),
    ("tpe_pool_run_seconds_bucket", {"le": "+Inf"}),
)


def test_a_new_pool_exports_its_counters_at_zero_before_any_event() -> None:
    registry = CollectorRegistry()
    pool = ThreadPoolExecutor(2, name="fresh", registry=registry)
    try:
        values = {
            (name, tuple(labels.items())): registry.get_sample_value(
                name, {"pool": "fresh", **labels}
            )
            for name, labels in ZERO_AT_BIRTH
        }
    finally:
        pool.shutdown()
    assert values == {key: 0.0 for key in values}

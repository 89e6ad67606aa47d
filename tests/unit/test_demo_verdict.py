"""demo_verdict: the profiler's conclusion about the demo's pool, printed beside the measured
speedup, in one place."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor, Timeline, profile
from tpe_insight.demo_verdict import profiler_conclusion


def recorded_run(registry: CollectorRegistry) -> Timeline:
    gate = threading.Event()
    with profile() as prof, ThreadPoolExecutor(2, name="vars", registry=registry) as pool:
        futures = [pool.submit(gate.wait, 10) for _ in range(4)]
        gate.set()
        assert all(f.result() for f in futures)
    return prof.timeline


def test_it_names_the_model_and_the_work_type(registry: CollectorRegistry) -> None:
    timeline = recorded_run(registry)
    lines = profiler_conclusion(timeline, "vars", measured_speedup=1.0)
    assert lines[0].startswith("profiler: speedup vs serial ")
    assert "inferred from the spans, work: " in lines[0]
    assert "docs/profiler-model.md" in lines[1]


def test_it_says_why_when_the_inference_overstates_the_measurement(
    registry: CollectorRegistry,
) -> None:
    timeline = recorded_run(registry)
    lines = profiler_conclusion(timeline, "vars", measured_speedup=1e-6)
    assert "it differs from the measured x0.00" in lines[2]
    assert len(profiler_conclusion(timeline, "vars", measured_speedup=1e9)) == 3


def test_an_unknown_pool_is_said_so(registry: CollectorRegistry) -> None:
    timeline = recorded_run(registry)
    assert profiler_conclusion(timeline, "other", 1.0) == ["profiler: no recorded pool 'other'"]

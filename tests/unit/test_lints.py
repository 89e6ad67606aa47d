"""Lints name their pool and say why; a healthy run has none (more cases: test_report.py)."""

from __future__ import annotations

from tpe_insight.profiler import lints
from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.timeline import PoolRecord, Span, Timeline


def test_pool_per_call_names_the_label_and_count() -> None:
    n = lints.POOL_PER_CALL_INSTANCES
    pools = [PoolRecord(i, "handler", 2, 0.0, 1.0) for i in range(1, n + 1)]
    timeline = Timeline(pools, pool_instances={"handler": n})
    found = [lint for lint in lints.check(analyse(timeline)) if lint.code == "pool-per-call"]
    assert len(found) == 1
    assert found[0].pool == "handler"
    assert str(n) in found[0].message


def test_a_healthy_pool_has_no_lint() -> None:
    spans = [Span(1, "t", "success", 0.0, 0.0, 0.1, 0.0, 1, "M") for _ in range(lints.MIN_TASKS)]
    timeline = Timeline([PoolRecord(1, "ok", 1, 0.0, 1.0)], spans=spans)
    assert list(lints.check(analyse(timeline))) == []

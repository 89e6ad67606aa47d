"""The exposition: promtool-clean, parseable, served on loopback, the whole contract present."""

from __future__ import annotations

import shutil
import subprocess
import threading
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tpe_insight import METRICS, ThreadPoolExecutor, start_metrics_server


def busy_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    gate = threading.Event()
    with ThreadPoolExecutor(2, name="expo", registry=registry) as executor:
        executor.submit(pow, 2, 8).result()
        executor.submit(int, "x").exception()
        executor.submit(gate.wait, 5)
        executor.submit(gate.wait, 5)
        executor.submit(pow, 1, 1).cancel()
        gate.set()
    return registry


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:  # a missing tool is a failure, never a skip
        pytest.fail(
            "promtool not found: install Debian's 'prometheus' package "
            "(apt-get install prometheus); .ci/run does this in CI"
        )
    return path


def test_promtool_check_metrics_is_clean() -> None:
    text = generate_latest(busy_registry())
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""


def test_every_contract_metric_is_exported_with_its_labels() -> None:
    text = generate_latest(busy_registry()).decode()
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            base = sample.name
            for suffix in ("_bucket", "_count", "_sum"):
                if family.type in ("histogram", "summary") and base.endswith(suffix):
                    base = base.removesuffix(suffix)
            exported.setdefault(base, set()).update(set(sample.labels) - {"le"})
    for name, (_kind, labels, _doc) in METRICS.items():
        if name == "tpe_instrumentation_errors_total":
            continue  # only present once a sink has failed (tested in test_sinks)
        assert name in exported, name
        assert exported[name] == set(labels), name


def test_metrics_server_binds_loopback_and_serves() -> None:
    registry = busy_registry()
    server, _thread = start_metrics_server(0, registry=registry)
    try:
        assert server.server_address[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
        assert 'tpe_tasks_submitted_total{pool="expo"} 5.0' in body
    finally:
        server.shutdown()


# -- counters at 0 from the moment a pool exists -----------------------------------------------
# increase() and rate() need a sample before the first event: a series born at 1 reads 0 for its
# first failure. Exception classes cannot be known in advance; docs/metrics.md says how to read
# the first one.

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


# -- the scrape budget: per task label, count and sum only ------------------------------------


def _samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for f in registry.collect() for s in f.samples]


def test_a_task_label_costs_eight_samples_and_no_bucket() -> None:
    """The scrape costs per sample (the encoder), so the per-task series are the budget: 3
    outcomes, queue wait and run time as summaries (``_count``, ``_sum``) and the CPU counter.
    The buckets are per pool only, and the per-pool histograms hold every task's observations."""
    registry = CollectorRegistry()
    with ThreadPoolExecutor(2, name="budget", registry=registry) as executor:
        executor.submit(pow, 2, 8).result()
        before = _samples(registry)
        for _ in range(3):
            executor.submit(divmod, 7, 2).result()
        after = _samples(registry)
    added = [s for s in after if s[1].get("task") == "builtins.divmod"]
    assert len(after) - len(before) == len(added) == 8, added
    assert not [s for s in after if s[0].endswith("_bucket") and "task" in s[1]]
    value = {(name, labels.get("task")): v for name, labels, v in after if "le" not in labels}
    for metric in ("queue_wait", "run"):
        per_task = [
            value[(f"tpe_task_{metric}_seconds_count", t)]
            for t in ("builtins.pow", "builtins.divmod")
        ]
        assert per_task == [1.0, 3.0]
        assert value[(f"tpe_pool_{metric}_seconds_count", None)] == 4.0
        inf = [
            v
            for n, labels, v in after
            if n == f"tpe_pool_{metric}_seconds_bucket" and labels["le"] == "+Inf"
        ]
        assert inf == [4.0]

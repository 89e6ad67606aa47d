"""docs/metrics.md against the code: the catalogue, the live exposition and the dashboards.

No metric may be exported without a section in docs/metrics.md, and no section may describe a
metric that is not exported; types and labels must agree. The worked example in the page is
executed, and the panel titles the docs point readers to must exist on a dashboard.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import BrokenExecutor, Future

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.prom_harness import ROOT, dashboards, panels
from tpe_insight import METRICS, Sink, ThreadPoolExecutor

METRICS_DOC = ROOT / "docs" / "metrics.md"
DOCS_WITH_PANEL_REFERENCES = ("metrics.md", "alerts.md", "prometheus.md")
SECTION = re.compile(r"^### `(?P<name>[a-z_]+)`\n(?P<body>.*?)(?=^##)", re.S | re.M)


def documented() -> dict[str, str]:
    """Metric name -> the text of its section in docs/metrics.md."""
    text = METRICS_DOC.read_text(encoding="utf-8") + "\n##"
    return {m["name"]: m["body"] for m in SECTION.finditer(text)}


def documented_type_and_labels(body: str) -> tuple[str, tuple[str, ...]]:
    kind = re.search(r"^- \*\*Type:\*\* (\w+)$", body, re.M)
    labels = re.search(r"^- \*\*Labels:\*\* (.+)$", body, re.M)
    assert kind, "a section needs a '- **Type:** …' line"
    assert labels, "a section needs a '- **Labels:** …' line"
    return kind.group(1), tuple(re.findall(r"`(\w+)`", labels.group(1)))


# -- a workload that makes every metric family carry samples ------------------------------------


class RaisingSink(Sink):
    def task_finished(self, *args: object) -> None:
        raise RuntimeError("sink bug")


def fail(message: str) -> None:
    raise ValueError(message)


def raise_in_callback(future: Future[object]) -> None:
    raise RuntimeError("callback bug")


def initializer_that_fails() -> None:
    raise ConnectionError("no database")


@pytest.fixture(scope="module")
def exposition() -> dict[str, tuple[str, set[str], int]]:
    """Family name as exported -> (type, label names, number of samples)."""
    registry = CollectorRegistry()
    gate = threading.Event()
    with ThreadPoolExecutor(1, name="docs", registry=registry, sinks=[RaisingSink()]) as pool:
        blocked = pool.submit(gate.wait)
        queued = pool.submit(fail, "queued")
        cancelled = pool.submit(fail, "never runs")
        assert cancelled.cancel()
        queued.add_done_callback(raise_in_callback)
        gate.set()
        blocked.result()
        with pytest.raises(ValueError, match="queued"):
            queued.result()
    broken = ThreadPoolExecutor(
        1, name="broken", registry=registry, initializer=initializer_that_fails
    )
    with pytest.raises(BrokenExecutor):
        broken.submit(gate.wait).result()
    with pytest.raises(BrokenExecutor):
        broken.submit(gate.wait)
    broken.shutdown()

    families = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = {label for s in family.samples for label in s.labels if label != "le"}
        families[name] = (family.type, labels, len(family.samples))
    return families


def test_every_catalogued_metric_has_a_section() -> None:
    """No metric of tpe_insight.METRICS is left undocumented."""
    assert sorted(set(METRICS) - set(documented())) == []


def test_every_section_documents_a_catalogued_metric() -> None:
    """No section describes a metric the code does not have."""
    assert sorted(set(documented()) - set(METRICS)) == []


def test_sections_state_the_catalogue_s_type_and_labels() -> None:
    """Type and labels of each section match METRICS exactly (labels in order)."""
    mismatches = {
        name: (documented_type_and_labels(body), METRICS[name][:2])
        for name, body in documented().items()
        if name in METRICS and documented_type_and_labels(body) != METRICS[name][:2]
    }
    assert mismatches == {}


def test_sections_have_definition_derived_metrics_and_interpretation() -> None:
    """Each section is written in the tokio-metrics form, with PromQL for derived metrics."""
    incomplete = {}
    for name, body in documented().items():
        missing = [
            part
            for part in ("**Definition.**", "**Derived metrics.**", "**Interpretation.**")
            if part not in body
        ]
        if name not in body.split("**Derived metrics.**")[-1]:
            missing.append("a derived metric that uses it")
        if "not necessarily" not in body and "does not" not in body:
            missing.append("what it does not imply")
        if missing:
            incomplete[name] = missing
    assert incomplete == {}


def test_the_exposition_matches_the_docs(exposition: dict[str, tuple[str, set[str], int]]) -> None:
    """What a live registry exports is exactly what the page documents, samples included."""
    docs = documented()
    assert sorted(exposition) == sorted(docs)
    for name, (kind, labels, samples) in exposition.items():
        doc_kind, doc_labels = documented_type_and_labels(docs[name])
        assert (name, kind, labels) == (name, doc_kind, set(doc_labels))
        assert samples > 0, f"{name} exported no sample in a workload meant to touch it"


def test_the_worked_example_runs() -> None:
    """The python block of docs/metrics.md runs and its exact assertions hold."""
    text = METRICS_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(METRICS_DOC), "exec"), {"__name__": "__main__"})


def test_the_slow_pool_guide_exists() -> None:
    """A 'Why is my pool slow?' guide walks from symptoms to panels."""
    text = METRICS_DOC.read_text(encoding="utf-8")
    guide = text.split("## Why is my pool slow?", 1)
    assert len(guide) == 2
    assert len(re.findall(r"^\d+\. \*\*", guide[1], re.M)) >= 4


def test_panels_named_in_the_docs_exist() -> None:
    """Every *italic* name in the docs is a panel or dashboard title, so links cannot rot."""
    titles = set()
    for dashboard in dashboards().values():
        titles.add(dashboard["title"].split(" / ", 1)[-1])
        titles.update(p["title"] for p in panels(dashboard))
    unknown = []
    for doc in DOCS_WITH_PANEL_REFERENCES:
        text = re.sub(
            r"^```.*?^```", "", (ROOT / "docs" / doc).read_text(encoding="utf-8"), flags=re.S | re.M
        )
        for name in re.findall(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])", text):
            if name not in titles:
                unknown.append(f"{doc}: *{name}*")
    assert unknown == []

"""The alert rules: promtool accepts them, their unit tests pass, and those tests can fail.

``promtool test rules prometheus/alerts_test.yml`` must pass; then each alert is mutated twice,
to never fire and to fire whenever its real expression is empty, and the unit tests must fail
for that alert both times: proof that every alert has a test where it fires and one where it
stays silent. The rules are read back through a real Prometheus's ``/api/v1/rules`` (no YAML
library needed), which also proves Prometheus itself loads the file.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.prom_harness import ROOT, RULES_FILE, RULES_TEST_FILE, Prometheus, promtool

ALERT_DOCS = ROOT / "docs" / "alerts.md"
SEVERITIES = {"info", "warning", "critical"}


@pytest.fixture(scope="module")
def rule_groups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """The rule groups as a real Prometheus parsed them from prometheus/alerts.yml."""
    workdir = tmp_path_factory.mktemp("rules")
    config = f"rule_files:\n  - {RULES_FILE.name}\n"
    prometheus = Prometheus(workdir, config, rule_files=(RULES_FILE,))
    prometheus.start()
    try:
        yield prometheus.api("rules")["groups"]
    finally:
        prometheus.stop()


@pytest.fixture
def alerts(rule_groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        rule["name"]: rule
        for group in rule_groups
        for rule in group["rules"]
        if rule["type"] == "alerting"
    }


def test_promtool_check_rules_passes() -> None:
    """promtool finds the rule file valid (syntax, PromQL, templates)."""
    result = promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    """prometheus/alerts_test.yml passes: each alert fires on its synthetic series only."""
    result = promtool("test", "rules", RULES_TEST_FILE.name, cwd=RULES_TEST_FILE.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_issue_s_alerts_exist(alerts: dict[str, dict[str, Any]]) -> None:
    """Saturation, error ratio, broken pool, stuck tasks and CPU-bound work are covered."""
    assert set(alerts) == {
        "TpePoolSaturated",
        "TpeTaskErrorRatioHigh",
        "TpePoolBroken",
        "TpeTasksStuck",
        "TpePoolCpuBound",
    }


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes for the headings of a markdown file."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        text = heading.strip().lower().replace("`", "")
        anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def test_every_alert_has_annotations_labels_and_a_runbook(
    alerts: dict[str, dict[str, Any]],
) -> None:
    """summary, description and a runbook link that resolves to a section of docs/alerts.md."""
    anchors = github_anchors(ALERT_DOCS.read_text(encoding="utf-8"))
    problems = []
    for name, rule in alerts.items():
        annotations = rule["annotations"]
        for key in ("summary", "description", "runbook"):
            if not annotations.get(key, "").strip():
                problems.append(f"{name}: no {key} annotation")
        if "{{ $labels.pool }}" not in annotations.get("summary", ""):
            problems.append(f"{name}: the summary does not name the pool")
        if rule["labels"].get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity label not in {sorted(SEVERITIES)}")
        expected = f"docs/alerts.md#{name.lower()}"
        if annotations.get("runbook") != expected:
            problems.append(f"{name}: runbook should be {expected}")
        elif name.lower() not in anchors:
            problems.append(f"{name}: docs/alerts.md has no section #{name.lower()}")
    assert problems == []


# -- mutations: each alert has a test that sees it fire and one that sees it silent -------------


def rules_file(groups: list[dict[str, Any]], mutate: dict[str, str] | None = None) -> str:
    """Rebuild a rule file (as JSON, which is YAML) from the API's view of the groups,
    replacing the expressions of the alerts named in ``mutate``."""
    mutate = mutate or {}
    out = []
    for group in groups:
        rules = []
        for rule in group["rules"]:
            entry: dict[str, Any] = {
                "alert": rule["name"],
                "expr": mutate.get(rule["name"], rule["query"]),
                "labels": rule["labels"],
                "annotations": rule["annotations"],
            }
            if rule["duration"]:
                entry["for"] = f"{int(rule['duration'])}s"
            rules.append(entry)
        out.append({"name": group["name"], "rules": rules})
    return json.dumps({"groups": out}, indent=1)


def run_unit_tests(workdir: Path, rules_text: str) -> tuple[int, str]:
    shutil.copy(RULES_TEST_FILE, workdir / RULES_TEST_FILE.name)
    (workdir / RULES_FILE.name).write_text(rules_text, encoding="utf-8")
    result = promtool("test", "rules", RULES_TEST_FILE.name, cwd=workdir)
    return result.returncode, result.stdout + result.stderr


def test_rebuilt_rule_file_still_passes(rule_groups: list[dict[str, Any]], tmp_path: Path) -> None:
    """The rebuilt (unmutated) file passes, so a failing mutant fails because of its mutation."""
    code, output = run_unit_tests(tmp_path, rules_file(rule_groups))
    assert code == 0, output


@pytest.mark.parametrize(
    ("mutation", "template"),
    [
        ("never fires", "({expr}) unless on() vector(1)"),
        ("fires when healthy", "({expr}) or on() vector(1)"),
    ],
)
def test_unit_tests_catch_a_broken_alert(
    rule_groups: list[dict[str, Any]],
    alerts: dict[str, dict[str, Any]],
    tmp_path: Path,
    mutation: str,
    template: str,
) -> None:
    """Mutate one alert at a time: the unit tests must fail, and name that alert."""
    survivors = []
    for name, rule in sorted(alerts.items()):
        workdir = tmp_path / name
        workdir.mkdir()
        mutant = template.format(expr=rule["query"])
        code, output = run_unit_tests(workdir, rules_file(rule_groups, {name: mutant}))
        if code == 0 or f"alertname: {name}" not in output:
            survivors.append(name)
    assert survivors == [], f"alerts whose unit tests miss a rule that {mutation}"
